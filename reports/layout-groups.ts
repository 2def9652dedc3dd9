// What the layout reporters share: a state's 64 bits folded into fields
// (so OA[12]..OA[47] reads as one OA[12..47]), the kind of each field for
// colouring, and the one-sentence verdict.

import { hardwareLeafBit } from '../model/arm64/hwdef.ts';
import type { Layout } from '../model/arm64/layout.ts';
import type { EntryState, LayoutReport } from '../model/arm64/layout-states.ts';

/** A layout and its report, as the reporters receive them. */
export interface LayoutView {
  readonly layout: Layout;
  readonly report: LayoutReport;
}

export const STATE_TITLES: Readonly<Record<EntryState, string>> = {
  present: 'valid page or block descriptor',
  present_invalid: 'present to Linux, invalid to hardware (PROT_NONE, pmd_mkinvalid)',
  swap: 'swap entry',
  migration: 'migration entry',
  marker: 'PTE marker (uffd-wp, poisoned, guard)',
};

export type BitKind = 'hardware' | 'software' | 'swap-type' | 'swap-offset' | 'zero' | 'free' | 'unused' | 'collision';

export interface BitOwner {
  readonly bit: number;
  /** Empty when the bit is free; more than one when it collides. */
  readonly meanings: readonly string[];
}

/** Consecutive bits of one field, hi >= lo. */
export interface BitGroup {
  readonly hi: number;
  readonly lo: number;
  readonly kind: BitKind;
  /** The field's name with index ranges, e.g. "swap offset[0..49]"; "free"; "A | B" for a collision. */
  readonly label: string;
  /** From hi down to lo. */
  readonly bits: readonly BitOwner[];
}

/** Field indices in a meaning: "OA[12]", "PFN[0] (offset[0])", "PTE_PO_IDX_1". */
const INDEX = /\[(\d+)\]|_(\d+)\b/g;

interface Parsed {
  readonly template: string;
  readonly indices: readonly number[];
}

function parseMeaning(meaning: string): Parsed {
  const indices = [...meaning.matchAll(INDEX)].map((m) => Number(m[1] ?? m[2]));
  return { template: meaning.replace(INDEX, (_, bracket?: string) => (bracket === undefined ? '_#' : '[#]')), indices };
}

/** Bit b-1 continues the field of bit b when every index steps down by one. */
function continues(above: Parsed, below: Parsed): boolean {
  return (
    above.indices.length > 0 &&
    above.template === below.template &&
    above.indices.length === below.indices.length &&
    above.indices.every((i, k) => below.indices[k] === i - 1)
  );
}

/** An unclaimed bit is free only where every entry of the format leaves it alone (LayoutReport.free). */
function kindOf(bit: number, meanings: readonly string[], free: ReadonlySet<number>): BitKind {
  const [m, ...more] = meanings;
  if (m === undefined) return free.has(bit) ? 'free' : 'unused';
  if (more.length > 0) return 'collision';
  if (m === hardwareLeafBit(bit, { poIndex: true }) || m === hardwareLeafBit(bit, { poIndex: false })) return 'hardware';
  if (m.endsWith('(0)')) return 'zero';
  if (m.startsWith('swap type')) return 'swap-type';
  if (m.includes('offset[')) return 'swap-offset';
  return 'software';
}

/** "swap offset[#]" with indices 49 (top bit) and 0 (bottom bit) -> "swap offset[0..49]". */
function rangeLabel(top: Parsed, bottom: Parsed): string {
  let k = 0;
  return top.template.replace(/\[#\]|_#/g, (slot) => {
    const range = `${bottom.indices[k]}..${top.indices[k]}`;
    k++;
    return slot === '_#' ? `_${range}` : `[${range}]`;
  });
}

interface Cell extends BitOwner {
  readonly kind: BitKind;
  /** Set when the bit has exactly one meaning. */
  readonly parsed: Parsed | null;
}

function sameField(above: Cell, below: Cell): boolean {
  if (above.kind !== below.kind) return false;
  if (above.kind === 'free' || above.kind === 'unused') return true;
  return above.parsed !== null && below.parsed !== null && continues(above.parsed, below.parsed);
}

function toGroup(cells: readonly Cell[]): BitGroup {
  const top = cells[0]!;
  const bottom = cells[cells.length - 1]!;
  const label =
    top.kind === 'free' || top.kind === 'unused'
      ? UNCLAIMED_LABEL[top.kind]
      : top !== bottom && top.parsed && bottom.parsed
        ? rangeLabel(top.parsed, bottom.parsed)
        : top.meanings.join(' | ');
  return { hi: top.bit, lo: bottom.bit, kind: top.kind, label, bits: cells.map(({ bit, meanings }) => ({ bit, meanings })) };
}

const UNCLAIMED_LABEL = { free: 'free', unused: 'unused here (claimed by another swap-format entry)' } as const;

/** The state's bits from 63 down to 0, folded into fields. */
export function bitGroups(report: LayoutReport, state: EntryState): BitGroup[] {
  const free = new Set(report.free[state]);
  const runs: Cell[][] = [];
  for (let bit = 63; bit >= 0; bit--) {
    const meanings = report.states[state].get(bit) ?? [];
    const cell: Cell = { bit, meanings, kind: kindOf(bit, meanings, free), parsed: meanings.length === 1 ? parseMeaning(meanings[0]!) : null };
    const run = runs[runs.length - 1];
    const above = run?.[run.length - 1];
    if (run && above && sameField(above, cell)) run.push(cell);
    else runs.push([cell]);
  }
  return runs.map(toGroup);
}

/** "4, 5, 62, 63" or, for runs of three or more, "15..63". */
export function bitList(bits: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < bits.length; ) {
    let j = i;
    while (j + 1 < bits.length && bits[j + 1] === bits[j]! + 1) j++;
    if (j - i >= 2) parts.push(`${bits[i]}..${bits[j]}`);
    else for (let k = i; k <= j; k++) parts.push(String(bits[k]));
    i = j + 1;
  }
  return parts.join(', ');
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** "A", "A and B", "A, B and C" */
function andList(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

const VERDICT_COLLISIONS_SHOWN = 3;

/** One sentence: is the layout clean, and what is left for a new bit or what collides. */
export function verdict(report: LayoutReport): string {
  const { collisions, free } = report;
  if (collisions.length === 0) {
    const present =
      free.present.length === 0
        ? 'no software bit is free in present entries'
        : free.present.length === 1
          ? `bit ${free.present[0]} is free in present entries`
          : `bits ${andList(free.present.map(String))} are free in present entries`;
    const swap = free.swap.length === 0 ? 'swap entries have no free bit' : `swap entries have ${plural(free.swap.length, 'free bit')}`;
    return `${report.layout} is clean: ${present}; ${swap}`;
  }
  const shown = collisions
    .slice(0, VERDICT_COLLISIONS_SHOWN)
    .map((c) => `${c.state} bit ${c.bit} is ${c.meanings.length === 2 ? 'both ' : ''}${andList(c.meanings)}`);
  const more = collisions.length - shown.length;
  return `${plural(collisions.length, 'collision')}: ${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''}`;
}
