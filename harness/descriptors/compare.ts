// Two descriptor recordings of the same suites (a model's and a kernel's)
// held against each other step by step: every bit that differs, named as
// the layout names it, output-address bits masked (they differ from boot to
// boot), and a leaf the second side's kernel aged in the background (AF
// cleared by reclaim, which runs when it will) not counted. Recordings that
// stop lining up (a test took another path) are reported once, where they
// part.

import { layoutReport, type EntryState } from '../../model/arm64/layout-states.ts';
import type { Layout } from '../../model/arm64/layout.ts';
import type { Pgtable } from '../../model/arm64/pgtable.ts';
import type { PgLevel } from '../target.ts';
import type { Observations } from './observations.ts';
import type { Observation } from './record.ts';

/** Output-address bits [49:12] of a 4 KiB-granule descriptor without LPA2 (OA[51:48] in 15:12 never set here). */
export const OA_MASK = ((1n << 50n) - 1n) & ~0xfffn;
/** PTE_AF: a kernel's reclaim ages pages (MGLRU, folio_referenced()) whenever memory runs short */
const AF = 1n << 10n;
const TABLE_BITS: Readonly<Record<number, string>> = { 0: 'VALID', 1: 'TABLE', 10: 'AF (FEAT_HAFT)', 59: 'PXNTable', 60: 'UXNTable', 61: 'APTable[0]', 62: 'APTable[1]', 63: 'NSTable' };

export interface BitDifference {
  readonly bit: number;
  readonly name: string;
  /** the bit in the first recording, then in the second */
  readonly values: readonly [0 | 1, 0 | 1];
}

export interface DescriptorDifference {
  readonly suite: string;
  /** which of the suite's processes (Observation.process) */
  readonly process: string;
  /** the test the step belongs to (the result reported next), or "(after the last result)" */
  readonly test: string;
  readonly step: number;
  readonly call: string;
  readonly page: number;
  /** the level that differs; "walk" when the walks differ in depth or the recordings part */
  readonly level: PgLevel | 'walk';
  readonly bits: readonly BitDifference[];
  /** both raw values, for a level; what parted, for "walk" */
  readonly detail: string;
}

/** Names a bit of an entry by the layout: tables by the table format, leaves by their state. */
export function bitNamer(layout: Layout, pg: Pgtable): (value: bigint, bit: number, leaf: boolean) => string {
  const states = layoutReport(layout).states;
  return (value, bit, leaf) => {
    if (!leaf) return TABLE_BITS[bit] ?? `bit ${bit}`;
    const state: EntryState = value & 1n ? 'present' : pg.ptePresent(value) ? 'present_invalid' : 'swap';
    return states[state].get(bit)?.join(' / ') ?? `bit ${bit}`;
  };
}

const hex = (v: bigint) => `0x${v.toString(16).padStart(16, '0')}`;

/**
 * The differences between recordings a and b (each keeps a page's walk only
 * where it changed): at every step where either side's page changed, both
 * sides' current walks of that page are compared. `testName(suite, n)`
 * names the suite's n-th result (0-based), or returns null past the last.
 */
export function compareRecordings(
  a: Observations,
  b: Observations,
  name: (value: bigint, bit: number, leaf: boolean) => string,
  testName: (suite: string, n: number) => string | null,
): DescriptorDifference[] {
  return [...recordingDifferences(a, b, name, testName)];
}

/** compareRecordings() one difference at a time: a long suite against a kernel of another version gives millions. */
export function* recordingDifferences(
  a: Observations,
  b: Observations,
  name: (value: bigint, bit: number, leaf: boolean) => string,
  testName: (suite: string, n: number) => string | null,
): Generator<DescriptorDifference> {
  const xsByProcess = byProcess(a);
  const ysByProcess = byProcess(b);
  for (const key of new Set([...xsByProcess.keys(), ...ysByProcess.keys()])) {
    const xs = xsByProcess.get(key) ?? [];
    const ys = ysByProcess.get(key) ?? [];
    const [suite = '', process = ''] = key.split(PROCESS_KEY_SEPARATOR);
    // each page's current walk on either side, by its index in the recording
    const nowX = new Map<number, number>();
    const nowY = new Map<number, number>();
    const before = (o: Observation, p: Observation) => o.step < p.step || (o.step === p.step && o.page <= p.page);
    let i = 0;
    let j = 0;
    while (i < xs.length || j < ys.length) {
      const ox = i < xs.length ? a.at(xs[i]!)! : undefined;
      const oy = j < ys.length ? b.at(ys[j]!)! : undefined;
      const x = ox && (!oy || before(ox, oy)) ? ox : undefined;
      const y = oy && (!ox || before(oy, ox)) ? oy : undefined;
      const at = (x ?? y)!;
      const where = { suite, process, test: testName(suite, at.resultsBefore) ?? '(after the last result)', step: at.step, call: at.call, page: at.page };
      if (x && y && x.call !== y.call) {
        yield { ...where, level: 'walk', bits: [], detail: `the recordings part: ${x.call} against ${y.call}` };
        break;
      }
      if (x) nowX.set(x.page, xs[i++]!);
      if (y) nowY.set(y.page, ys[j++]!);
      const px = nowX.get(at.page);
      const py = nowY.get(at.page);
      if (px === undefined || py === undefined) {
        yield { ...where, level: 'walk', bits: [], detail: `the page is first read on one side only (${px !== undefined ? 'first' : 'second'})` };
        continue;
      }
      yield* walkDifferences(x ?? a.at(px)!, y ?? b.at(py)!, where, name);
    }
  }
}

/**
 * Each process's observations, as indices into the recording, in order: a
 * forked child numbers its steps from 0 and runs beside its parent, so the
 * two are compared apart.
 */
const PROCESS_KEY_SEPARATOR = '\u0000';
function byProcess(os: Observations): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (let i = 0; i < os.length; i++) {
    const o = os.at(i)!;
    const key = `${o.suite}${PROCESS_KEY_SEPARATOR}${o.process}`;
    const list = out.get(key) ?? [];
    out.set(key, list);
    list.push(i);
  }
  return out;
}

/** The bits where two walks of one page differ, level by level. */
function walkDifferences(
  x: Observation,
  y: Observation,
  where: Omit<DescriptorDifference, 'level' | 'bits' | 'detail'>,
  name: (value: bigint, bit: number, leaf: boolean) => string,
): DescriptorDifference[] {
  if (!x.entries || !y.entries) {
    return x.error === y.error ? [] : [{ ...where, level: 'walk', bits: [], detail: `${x.error ?? 'read'} against ${y.error ?? 'read'}` }];
  }
  const out: DescriptorDifference[] = [];
  // Walks that both end at an empty entry both say "nothing mapped here", whatever the
  // level: a real process has tables of its own (its stack, its program) a model lacks.
  const bothEmpty = x.entries.at(-1)!.value === 0n && y.entries.at(-1)!.value === 0n;
  const depth = Math.min(x.entries.length, y.entries.length) - (bothEmpty ? 1 : 0);
  for (let l = 0; l < depth; l++) {
    const ex = x.entries[l]!;
    const ey = y.entries[l]!;
    const leaf = l === x.entries.length - 1 && l === y.entries.length - 1;
    // A leaf young on the first side and old on the second is one the second kernel aged in
    // the background, not at a step; the other way round no kernel can explain.
    const aged = leaf && ex.value & AF && !(ey.value & AF) ? AF : 0n;
    const diff = (ex.value ^ ey.value) & ~OA_MASK & ~aged;
    if (diff === 0n) continue;
    const bits: BitDifference[] = [];
    for (let bit = 0; bit < 64; bit++) {
      if (!((diff >> BigInt(bit)) & 1n)) continue;
      bits.push({ bit, name: name(ex.value, bit, leaf), values: [Number((ex.value >> BigInt(bit)) & 1n) as 0 | 1, Number((ey.value >> BigInt(bit)) & 1n) as 0 | 1] });
    }
    out.push({ ...where, level: ex.level, bits, detail: `${hex(ex.value)} against ${hex(ey.value)}` });
  }
  if (x.entries.length !== y.entries.length && !bothEmpty) {
    out.push({ ...where, level: 'walk', bits: [], detail: `the walk ends at the ${x.entries.at(-1)!.level} against the ${y.entries.at(-1)!.level}` });
  }
  return out;
}

/** Differences of one kind: the same level and the same bits the same way (or the same walk detail). */
export interface DifferenceKind {
  readonly level: DescriptorDifference['level'];
  readonly bits: readonly BitDifference[];
  /** for a walk difference, what it says; for an entry, empty */
  readonly walk: string;
  readonly count: number;
  /** where it came first */
  readonly first: DescriptorDifference;
}

const bitsText = (bits: readonly BitDifference[]) => bits.map((b) => `${b.name} (bit ${b.bit}) ${b.values[0]}/${b.values[1]}`).join(', ');

/** How many differences there were, and of which kinds. */
export interface DifferenceSummary {
  readonly count: number;
  readonly kinds: readonly DifferenceKind[];
}

const kindKey = (d: DescriptorDifference): string => `${d.level}\u0000${d.level === 'walk' ? d.detail : bitsText(d.bits)}`;

/** Two summaries as one (shards of one comparison): each kind's counts added, its first place the first summary's. */
export function mergeSummaries(a: DifferenceSummary, b: DifferenceSummary): DifferenceSummary {
  const kinds = new Map<string, DifferenceKind>();
  for (const k of [...a.kinds, ...b.kinds]) {
    const had = kinds.get(kindKey(k.first));
    kinds.set(kindKey(k.first), had ? { ...had, count: had.count + k.count } : k);
  }
  return { count: a.count + b.count, kinds: [...kinds.values()].sort((x, y) => y.count - x.count) };
}

/** The differences grouped by kind, the commonest first (ties in the order they came). */
export function summarizeDifferences(diffs: Iterable<DescriptorDifference>): DifferenceSummary {
  const kinds = new Map<string, { first: DescriptorDifference; count: number }>();
  let count = 0;
  for (const d of diffs) {
    count++;
    const key = kindKey(d);
    const k = kinds.get(key);
    if (k) k.count++;
    else kinds.set(key, { first: d, count: 1 });
  }
  const sorted = [...kinds.values()]
    .map(({ first, count }) => ({ level: first.level, bits: first.bits, walk: first.level === 'walk' ? first.detail : '', count, first }))
    .sort((a, b) => b.count - a.count);
  return { count, kinds: sorted };
}

const whereText = (d: DescriptorDifference) => `${d.suite}: ${d.test}: ${d.process === '' ? '' : `child ${d.process}: `}step ${d.step} ${d.call}, page ${d.page}`;

/** What `compare --descriptors` prints: each kind of difference once, with its count and where it came first. */
export function differencesText(summary: DifferenceSummary, labels: readonly [string, string]): string {
  if (summary.count === 0) return `descriptors: ${labels[0]} and ${labels[1]} agree at every step\n`;
  const { kinds } = summary;
  const lines = kinds.map((k) => {
    const what = k.level === 'walk' ? `walk: ${k.walk}` : `${k.level}: ${bitsText(k.bits)}`;
    const example = k.level === 'walk' ? '' : ` (${k.first.detail})`;
    return `  ${String(k.count).padStart(6)} x ${what}\n           first at ${whereText(k.first)}${example}`;
  });
  return `descriptors: ${summary.count} difference(s) of ${kinds.length} kind(s), ${labels[0]}/${labels[1]}\n${lines.join('\n')}\n`;
}
