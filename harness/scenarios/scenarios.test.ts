// Each scenario on each reference target against what the real kernel with
// the same features did (harness/fixtures/scenario-NAME-KERNEL.txt, recorded
// from Debian's kernels under QEMU by harness/scenarios/record.ts), and, where the kernels are set up, the
// real kernel again, so a recording that no longer holds shows up.

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parseQemuSpec, qemuTarget, qemuUnavailable } from '../targets/qemu.ts';
import { referenceTarget } from '../targets/reference.ts';
import { recordingLines, SCENARIO_KERNELS, SCENARIOS } from './index.ts';
import { MAP_ANONYMOUS, MAP_HUGETLB, MAP_PRIVATE, PROT_READ } from '../../uapi/linux.ts';

const BOOT_TIMEOUT_MS = 180_000;

const recorded = (scenario: string, kernel: string) => recordingLines(readFileSync(new URL(`../fixtures/scenario-${scenario}-${kernel}.txt`, import.meta.url), 'utf8'));

describe.each(SCENARIO_KERNELS)('$kernel', ({ kernel, reference, qemu }) => {
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

test('every recording says which kernel it came from, when, and the command that made it', () => {
  for (const { kernel } of SCENARIO_KERNELS)
    for (const name of Object.keys(SCENARIOS)) {
      const head = readFileSync(new URL(`../fixtures/scenario-${name}-${kernel}.txt`, import.meta.url), 'utf8').split('\n').slice(0, 2);
      expect(head[0], `${name}-${kernel}`).toBe(`# recorded by: npx tsx harness/scenarios/record.ts --kernel ${kernel}`);
      expect(head[1], `${name}-${kernel}`).toMatch(/^# kernel \S+ \((arm64|x86_64)\), on \d{4}-\d{2}-\d{2}$/);
    }
});
