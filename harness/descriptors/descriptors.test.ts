// Descriptor comparison (compare --descriptors): how two recordings are held
// to each other, that a deliberately wrong helper in the model is caught on
// the first step that exercises it, and, where the QEMU kernels are set up,
// that the model matches the real arm64 kernels bit for bit over every suite.

import { describe, expect, test } from 'vitest';
import { builtinLayout } from '../../model/arm64/layout.ts';
import { PTE_DBM } from '../../model/arm64/hwdef.ts';
import { pgtable, type Pgtable } from '../../model/arm64/pgtable.ts';
import { SUITES } from '../../suites/index.ts';
import { MADV_NOHUGEPAGE, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, isErr } from '../../uapi/linux.ts';
import { runSuites, type RunReport } from '../runner.ts';
import type { Target } from '../target.ts';
import { descriptorsUnavailable, parseQemuSpec, qemuTarget } from '../targets/qemu.ts';
import { referenceTarget } from '../targets/reference.ts';
import { bitNamer, compareRecordings, differencesText, type DescriptorDifference } from './compare.ts';
import { DescriptorRecorder, type Observation } from './record.ts';

const BOOT_TIMEOUT_MS = 300_000;
const layout = builtinLayout('v6.10');
const namer = bitNamer(layout, pgtable(layout));

/** Runs suites on a target with a recorder; returns the report and the recording. */
async function recorded(target: Target, suites = SUITES.filter((s) => !s.descriptorsUnread)): Promise<{ report: RunReport; observations: Observation[] }> {
  const recorder = new DescriptorRecorder();
  const report = await runSuites(target, 'target', suites, { stdout: () => {}, stderr: () => {}, wrapProc: recorder.wrap.bind(recorder) });
  return { report, observations: recorder.observations };
}

function differences(a: Awaited<ReturnType<typeof recorded>>, b: Awaited<ReturnType<typeof recorded>>): DescriptorDifference[] {
  return compareRecordings(a.observations, b.observations, namer, (suite, n) => a.report.suites.find((s) => s.name === suite)?.results[n]?.name ?? null);
}

const obs = (step: number, page: number, values: readonly bigint[], call = 'store'): Observation => ({
  suite: 's',
  resultsBefore: 0,
  step,
  call,
  page,
  entries: values.map((value, i) => ({ level: (['pgd', 'pud', 'pmd', 'pte'] as const)[i]!, value })),
});

describe('compareRecordings', () => {
  const table = 0x0800000040001003n;
  const test1 = () => 'test 1';

  test('output addresses are masked; a changed bit is named by the layout', () => {
    const a = [obs(0, 0, [table, table, table, 0x00e8000000001f43n])];
    const b = [obs(0, 0, [table | 0x7000n, table, table, 0x00e0000000002f43n])];
    const d = compareRecordings(a, b, namer, test1);
    expect(d.map((x) => [x.level, x.bits.map((bit) => `${bit.name} ${bit.bit} ${bit.values.join('/')}`)])).toEqual([['pte', ['PTE_DBM (PTE_WRITE) 51 1/0']]]);
    expect(differencesText(d, ['model', 'kernel'])).toContain('s: test 1: step 0 store, page 0, pte: PTE_DBM (PTE_WRITE) (bit 51) 1/0;');
  });

  test('two walks that end at an empty entry agree whatever the level: a real process has tables of its own', () => {
    expect(compareRecordings([obs(0, 0, [0n])], [obs(0, 0, [table, table, 0n])], namer, test1)).toEqual([]);
  });

  test("a leaf the second side's kernel aged (AF cleared) is not a difference; one it made young is", () => {
    const young = [obs(0, 0, [table, table, 0x00e8000000000f41n])];
    const old = [obs(0, 0, [table, table, 0x00e8000000000b41n])];
    expect(compareRecordings(young, old, namer, test1)).toEqual([]);
    expect(compareRecordings(old, young, namer, test1).map((x) => x.bits.map((bit) => bit.name))).toEqual([['PTE_AF']]);
  });

  test('a page changed on one side only is compared with the other side as it stands', () => {
    const a = [obs(0, 0, [table, table, table, 0x00e8000000001f43n]), obs(1, 0, [table, table, table, 0x00e8000000001fc3n])];
    const b = [obs(0, 0, [table, table, table, 0x00e8000000001f43n])];
    expect(compareRecordings(a, b, namer, test1).map((x) => x.bits.map((bit) => bit.bit))).toEqual([[7]]);
  });

  test('recordings that part are reported once, where they part', () => {
    const d = compareRecordings([obs(0, 0, [0n], 'store'), obs(1, 0, [0n])], [obs(0, 0, [0n], 'load'), obs(1, 0, [0n])], namer, test1);
    expect(d.map((x) => x.detail)).toEqual(['the recordings part: store against load']);
  });
});

/** pte_modify() that forgets to drop write permission (PTE_WRITE, the DBM bit) when the new protection has none. */
test('memset and increment are recorded as stores are: each page they reach read after the step, kept where it changed', async () => {
  const recorder = new DescriptorRecorder();
  const proc = recorder.wrap(await (await referenceTarget('')).spawn(), 's', () => 0);
  const a = await proc.mmap(0n, 0x4000n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(a)) throw new Error('setup');
  await proc.madvise(a, 0x4000n, MADV_NOHUGEPAGE);
  await proc.fill(a + 0x10n, 0x1000n, 1); // pages 0 and 1
  await proc.increment([a + 0x3000n, a + 0x1008n, a + 0x3001n]); // pages 3 and 1 (unchanged)
  await proc.increment([a + 0x3000n]); // nothing changes
  expect(recorder.observations.map((o) => `${o.step} ${o.call} page ${o.page}`)).toEqual(['2 memset page 0', '2 memset page 1', '3 increment page 2']);
});

const keepsDbm = (pg: Pgtable): Pgtable => ({ ...pg, pteModify: (p, prot) => pg.pteModify(p, prot) | (p & PTE_DBM) });
const FIRST_WRITE_PROTECT = 'mprotect(PROT_READ): a store faults';

test('a wrong helper in the model is caught at the first step that write-protects a page', async () => {
  const model = await recorded(await referenceTarget('@6.12'));
  const mutant = await recorded(await referenceTarget('@6.12', keepsDbm));
  const first = differences(model, mutant)[0];
  expect(first && { suite: first.suite, test: first.test, call: first.call, level: first.level, bits: first.bits.map((b) => b.name) }).toEqual({
    suite: 'pte-states',
    test: FIRST_WRITE_PROTECT,
    call: 'mprotect(1)',
    level: 'pte',
    bits: ['PTE_DBM (PTE_WRITE)'],
  });
});

/** The issue's own example: pte_wrprotect() that leaves DBM (PTE_WRITE) set, so hardware dirty-bit management lets the next store through. */
const wrprotectKeepsDbm = (pg: Pgtable): Pgtable => ({ ...pg, pteWrprotect: (p) => pg.pteWrprotect(p) | (p & PTE_DBM) });

/** The first result a run gives differently from another, by suite and name. */
function firstDisagreement(a: RunReport, b: RunReport): string | null {
  for (const sa of a.suites) {
    const sb = b.suites.find((s) => s.name === sa.name);
    const r = sa.results.find((x, i) => x.status !== sb?.results[i]?.status);
    if (r) return `${sa.name}: ${r.name}: ${r.status}`;
  }
  return null;
}

const quiet = { stdout: () => {}, stderr: () => {} };

test('pte_wrprotect() leaving DBM set is caught at the first test that write-protects a page: soft-dirty clear_refs in test_simple', { timeout: 60_000 }, async () => {
  const suites = SUITES.filter((s) => s.name === 'soft-dirty');
  const model = await runSuites(await referenceTarget(':rfc@6.12'), 'model', suites, quiet);
  const mutant = await runSuites(await referenceTarget(':rfc@6.12', wrprotectKeepsDbm), 'mutant', suites, quiet);
  expect(firstDisagreement(mutant, model)).toBe('soft-dirty: Test test_simple: fail');
});

const x86 = descriptorsUnavailable(parseQemuSpec('qemu-x86_64'));
test.skipIf(x86 !== undefined)(`... and against the real x86_64 kernel, which passes it${x86 ? ` (skipped: ${x86})` : ''}`, { timeout: BOOT_TIMEOUT_MS }, async () => {
  const suites = SUITES.filter((s) => s.name === 'soft-dirty');
  const target = await qemuTarget('qemu-x86_64');
  try {
    const kernel = await runSuites(target, 'qemu-x86_64', suites, quiet);
    const mutant = await runSuites(await referenceTarget(':rfc@6.12', wrprotectKeepsDbm), 'mutant', suites, quiet);
    expect(firstDisagreement(mutant, kernel)).toBe('soft-dirty: Test test_simple: fail');
  } finally {
    await target.close();
  }
});

for (const [reference, qemu] of [
  ['@6.12', 'qemu-arm64'],
  ['@7.2', 'qemu-arm64@current'],
] as const) {
  const why = descriptorsUnavailable(parseQemuSpec(qemu));
  describe.skipIf(why !== undefined)(`reference${reference} against ${qemu}${why ? ` (skipped: ${why})` : ''}`, () => {
    test('every page every suite touches matches bit for bit at every step, and the wrong helper is caught where it first acts', { timeout: BOOT_TIMEOUT_MS }, async () => {
      const target = await qemuTarget(qemu);
      try {
        const kernel = await recorded(target);
        const model = await recorded(await referenceTarget(reference));
        expect(differencesText(differences(model, kernel), ['model', qemu])).toBe(`descriptors: model and ${qemu} agree at every step\n`);
        const mutant = await recorded(await referenceTarget(reference, keepsDbm));
        const first = differences(mutant, kernel)[0];
        expect(first && [first.test, first.level, first.bits.map((b) => `${b.name} ${b.values.join('/')}`)]).toEqual([FIRST_WRITE_PROTECT, 'pte', ['PTE_DBM (PTE_WRITE) 1/0']]);
      } finally {
        await target.close();
      }
    });
  });
}
