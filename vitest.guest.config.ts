/**
 * Specs that run INSIDE the kernel guest (scripts/kernel-vm/), against kernel WireGuard.
 * The host's `vitest run` (vitest.config.ts: `*.spec.ts`) never collects them; the host spec
 * `__test__/kernel-guest.spec.ts` boots a guest and runs
 * `./node_modules/.bin/vitest run --config vitest.guest.config.ts` there.
 */
import { defineConfig } from 'vitest/config';

if (process.env.KERNEL_VM_GUEST !== '1') {
  throw new Error(
    'vitest.guest.config.ts runs only inside the kernel guest: ' +
      "bash scripts/kernel-vm/run.sh -- ./node_modules/.bin/vitest run --config vitest.guest.config.ts",
  );
}

export default defineConfig({
  test: {
    include: ['__test__/guest/**/*.guest.ts'],
    // Native addons are not safe in worker threads; one process per file, one file at a time
    // (the guest has one emulated CPU, and the files share the guest's root namespace).
    pool: 'forks',
    fileParallelism: false,
    // Everything is 5–30× slower under TCG.
    testTimeout: 240_000,
    hookTimeout: 240_000,
    reporters: ['verbose'],
  },
});
