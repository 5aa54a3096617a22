/**
 * The kernel half of the test matrix: boots Debian's kernel (kernel WireGuard) once under qemu
 * and runs the guest specs (__test__/guest/*.guest.ts, vitest.guest.config.ts) inside it:
 * wgctrl-go's integration cases, setconf/addconf/syncconf, `wg set`, network namespaces,
 * split-message acceptance (130,560 IPs, 10,000 peers, …) and wgkit against Debian's wg.
 *
 * The guest's vitest writes a JSON report into the shared project directory; a failure message
 * names every failing guest test with its error, followed by the tail of the guest's output.
 * Set WGKIT_KERNEL_GUEST_ECHO=1 to stream the guest's output while it runs.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot, runInKernelGuest } from './helpers/kernel-vm.js';

/** The whole guest run, boot included (measured 4–6 min on a loaded 2-core machine). */
const GUEST_TIMEOUT_MS = 720_000;

const dir = join(projectRoot, '.cache', `kernel-guest-${process.pid}`);
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The guest spec files, as the guest config includes them. */
const GUEST_FILES = ['cli-kernel.guest.ts', 'client-kernel.guest.ts', 'interface-kernel.guest.ts', 'split-messages.guest.ts'];

interface JsonAssertion {
  fullName: string;
  status: string;
  failureMessages: string[];
  duration?: number;
}
interface JsonReport {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  success: boolean;
  testResults: { name: string; status: string; message: string; assertionResults: JsonAssertion[] }[];
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

describe('kernel WireGuard test matrix in a guest', () => {
  it(
    'passes every guest spec',
    async () => {
      const report = join(dir, 'report.json');
      const relReport = relative(projectRoot, report);
      const t0 = Date.now();
      const r = await runInKernelGuest(
        `./node_modules/.bin/vitest run --config vitest.guest.config.ts --reporter=verbose --reporter=json --outputFile.json=${relReport}`,
        { timeoutMs: GUEST_TIMEOUT_MS, echo: process.env['WGKIT_KERNEL_GUEST_ECHO'] === '1' },
      );
      const seconds = ((Date.now() - t0) / 1000).toFixed(1);

      let parsed: JsonReport | undefined;
      let problem = '';
      if (existsSync(report)) {
        try {
          parsed = JSON.parse(readFileSync(report, 'utf8')) as JsonReport;
        } catch (e) {
          problem = `unreadable JSON report: ${(e as Error).message}`;
        }
      } else {
        problem = 'the guest wrote no JSON report (vitest did not finish)';
      }
      const failures: string[] = [];
      for (const file of parsed?.testResults ?? []) {
        const name = relative(projectRoot, file.name);
        if (file.status !== 'passed' && file.assertionResults.every((a) => a.status === 'passed')) {
          failures.push(`FILE ${name}: ${file.message}`);
        }
        for (const a of file.assertionResults) {
          if (a.status !== 'passed') failures.push(`${a.status.toUpperCase()} ${name} > ${a.fullName}\n${a.failureMessages.join('\n')}`);
        }
      }
      const explanation = [
        `guest exit ${r.code} after ${seconds} s${problem ? `; ${problem}` : ''}`,
        ...failures,
        '--- guest stdout (tail):',
        tail(r.stdout, 150),
        '--- guest stderr (tail):',
        tail(r.stderr, 80),
      ].join('\n');

      expect(failures.length, explanation).toBe(0);
      expect(r.code, explanation).toBe(0);
      expect(parsed, explanation).toBeDefined();
      const ran = parsed!.testResults.map((f) => relative(join(projectRoot, '__test__', 'guest'), f.name)).sort();
      expect(ran, explanation).toEqual(GUEST_FILES);
      expect(parsed!.numPendingTests + parsed!.numTodoTests, 'no skipped guest tests').toBe(0);
      expect(parsed!.numPassedTests, explanation).toBe(parsed!.numTotalTests);
      expect(parsed!.numTotalTests).toBeGreaterThanOrEqual(25);
      console.log(`kernel guest: ${parsed!.numPassedTests} tests passed in ${seconds} s (boot included)`);
    },
    GUEST_TIMEOUT_MS + 60_000,
  );
});
