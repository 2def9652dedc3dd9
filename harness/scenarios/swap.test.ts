// The swap scenario on each reference target against what the real kernel
// with the same features gave (harness/fixtures/swap-scenario-*.txt, recorded
// from Debian's kernels under QEMU), and, where the kernels are set up, the
// real kernel again, so a fixture that no longer holds shows up.

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parseQemuSpec, qemuTarget, qemuUnavailable } from '../targets/qemu.ts';
import { referenceTarget } from '../targets/reference.ts';
import { swapScenario } from './swap.ts';

const BOOT_TIMEOUT_MS = 180_000;

const recorded = (kernel: string) =>
  readFileSync(new URL(`../fixtures/swap-scenario-${kernel}.txt`, import.meta.url), 'utf8').trimEnd().split('\n');

const CASES = [
  { kernel: 'trixie-arm64', reference: ':v6.10@6.12', qemu: 'qemu-arm64' },
  { kernel: 'sid-arm64', reference: ':v6.10@7.2', qemu: 'qemu-arm64@current' },
  { kernel: 'trixie-amd64', reference: ':rfc@6.12', qemu: 'qemu-x86_64' },
  { kernel: 'sid-amd64', reference: ':rfc@7.2', qemu: 'qemu-x86_64@current' },
] as const;

describe.each(CASES)('$kernel', ({ kernel, reference, qemu }) => {
  test(`reference${reference} swaps as the kernel did`, async () => {
    const target = await referenceTarget(reference);
    expect(await swapScenario(target)).toEqual(recorded(kernel));
  });

  const unavailable = qemuUnavailable(parseQemuSpec(qemu));
  test.skipIf(unavailable !== undefined)(`${qemu} still does${unavailable ? ` (skipped: ${unavailable})` : ''}`, { timeout: BOOT_TIMEOUT_MS }, async () => {
    const target = await qemuTarget(qemu);
    try {
      expect(await swapScenario(target)).toEqual(recorded(kernel));
    } finally {
      await target.close();
    }
  });
});

test('without swap, MADV_PAGEOUT leaves anonymous memory where it is', async () => {
  const lines = await swapScenario(await referenceTarget('+swap=0'));
  expect(lines[1]).toBe('anon swapped (written, written, zero page, none): 0x8100000000000000+pfn 0x8100000000000000+pfn 0x8000000000000000+zero 0x0');
});
