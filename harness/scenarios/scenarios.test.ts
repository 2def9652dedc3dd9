// Each scenario on each reference target against what the real kernel with
// the same features did (harness/fixtures/scenario-NAME-KERNEL.txt, recorded
// from Debian's kernels under QEMU), and, where the kernels are set up, the
// real kernel again, so a recording that no longer holds shows up.

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parseQemuSpec, qemuTarget, qemuUnavailable } from '../targets/qemu.ts';
import { referenceTarget } from '../targets/reference.ts';
import { SCENARIOS } from './index.ts';
import { MAP_ANONYMOUS, MAP_HUGETLB, MAP_PRIVATE, PROT_READ } from '../../uapi/linux.ts';

const BOOT_TIMEOUT_MS = 180_000;

const recorded = (scenario: string, kernel: string) =>
  readFileSync(new URL(`../fixtures/scenario-${scenario}-${kernel}.txt`, import.meta.url), 'utf8').trimEnd().split('\n');

const KERNELS = [
  { kernel: 'trixie-arm64', reference: ':v6.10@6.12', qemu: 'qemu-arm64' },
  { kernel: 'sid-arm64', reference: ':v6.10@7.2', qemu: 'qemu-arm64@current' },
  { kernel: 'trixie-amd64', reference: ':rfc@6.12', qemu: 'qemu-x86_64' },
  { kernel: 'sid-amd64', reference: ':rfc@7.2', qemu: 'qemu-x86_64@current' },
] as const;

describe.each(KERNELS)('$kernel', ({ kernel, reference, qemu }) => {
  test.each(Object.keys(SCENARIOS))(`%s: reference${reference} does what the kernel did`, async (name) => {
    expect(await SCENARIOS[name]!(await referenceTarget(reference))).toEqual(recorded(name, kernel));
  });

  const unavailable = qemuUnavailable(parseQemuSpec(qemu));
  test.skipIf(unavailable !== undefined)(`${qemu} still does${unavailable ? ` (skipped: ${unavailable})` : ''}`, { timeout: BOOT_TIMEOUT_MS }, async () => {
    const target = await qemuTarget(qemu);
    try {
      for (const [name, scenario] of Object.entries(SCENARIOS)) expect(await scenario(target), name).toEqual(recorded(name, kernel));
    } finally {
      await target.close();
    }
  });
});

describe('the memory options', () => {
  test('without swap, MADV_PAGEOUT leaves anonymous memory where it is', async () => {
    const lines = await SCENARIOS['swap']!(await referenceTarget('+swap=0'));
    expect(lines[1]).toBe('anon swapped (written, written, zero page, none): 0x8100000000000000+pfn 0x8100000000000000+pfn 0x8000000000000000+zero 0x0');
  });

  test('without a hugetlb pool, a MAP_HUGETLB mapping cannot reserve its page', async () => {
    const proc = await (await referenceTarget('+hugetlb=0')).spawn();
    expect(String(await proc.mmap(0n, 2n << 20n, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0n))).toBe('mmap: ENOMEM');
  });
});
