// Runs many `wgkit` commands in one node process (node starts slowly under TCG): reads one JSON
// request a line from stdin, {argv, env}, runs the CLI's main() (what bin/wgkit.js runs) with
// captured streams, and writes {status, stdout, stderr} as one JSON line. Started with
// `ip netns exec NS node cli-runner.mjs`, so the commands see NS's devices.
import { createInterface } from 'node:readline';
import { main } from '../../dist/cli/wgkit.js';

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const { argv, env } = JSON.parse(line);
  let stdout = '';
  let stderr = '';
  const io = {
    out: (t) => void (stdout += t),
    err: (t) => void (stderr += t),
    readStdin: () => Buffer.alloc(0),
    stdoutIsWorldAccessibleFile: () => false,
    env,
    stdoutIsTTY: false,
  };
  let status;
  try {
    status = await main(argv, io);
  } catch (e) {
    status = 199;
    stderr += `runner: main() threw: ${e?.stack ?? e}\n`;
  }
  process.stdout.write(`${JSON.stringify({ status, stdout, stderr })}\n`);
}
