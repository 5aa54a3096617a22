// wgctrl-go's own integration suite (golang.zx2c4.com/wireguard/wgctrl, `TestIntegration*`,
// pinned in scripts/wgctrl-suite.sh) against a wgkit-userspace device, each run in a network
// and mount namespace of its own. First against Debian's wireguard-go, which passes it whole:
// that proves the harness (the suite saw exactly one device and ran every test), so a failure
// in the second run is wgkit's.
import { describe, expect, it } from 'vitest';
import { buildSuite, expectedTests, runSuite, type SuiteRun } from './helpers/wgctrl-suite.js';
import { uniqueName } from './helpers/netns.js';

const WGKIT_USERSPACE = new URL('../bin/wgkit-userspace.js', import.meta.url).pathname;

/** Every expected test ran and passed, and nothing else ran. */
function expectAllPassed(run: SuiteRun, device: string): void {
  const expected = expectedTests(device);
  const failed = [...run.verdicts].filter(([, v]) => v !== 'PASS').map(([name, v]) => `${v} ${name}`);
  const context = `\n--- suite output ---\n${run.output}\n--- daemon stderr ---\n${run.daemonLog}`;
  expect(failed, `tests that did not pass${context}`).toEqual([]);
  expect([...run.verdicts.keys()].sort(), `tests that ran${context}`).toEqual([...expected].sort());
  expect(run.verdicts.size).toBe(14);
  expect(run.output).toMatch(/^PASS$/m);
}

describe('wgctrl-go integration suite', () => {
  let binary = '';

  it('builds from the Go module proxy', { timeout: 600_000 }, () => {
    binary = buildSuite();
  });

  it("passes whole against Debian's wireguard-go (the harness check)", { timeout: 300_000 }, async () => {
    expect(binary).not.toBe('');
    const device = uniqueName('wgcf');
    const run = await runSuite(binary, device, ['wireguard-go', '-f', device], uniqueName('wgcf-ns'));
    expectAllPassed(run, device);
  });

  it('passes whole against wgkit-userspace', { timeout: 300_000 }, async () => {
    expect(binary).not.toBe('');
    const device = uniqueName('wgcf');
    const run = await runSuite(binary, device, [process.execPath, WGKIT_USERSPACE, '-f', device], uniqueName('wgcf-ns'));
    expectAllPassed(run, device);
  });
});
