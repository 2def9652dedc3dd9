// What each bit means in each state an entry can be in, which bits are free,
// and where two meanings claim one bit. This is the answer to "is bit 63
// free in this layout, and what collides if soft-dirty takes it?".

import { SOFTWARE_BITS, hardwareLeafBit } from './hwdef.ts';
import { SWP_TYPE_BITS, type Layout } from './layout.ts';
import { SWP_MIG_DIRTY_BIT, SWP_MIG_YOUNG_BIT, SWP_PFN_BITS } from './swapops.ts';

export const STATES = ['present', 'present_invalid', 'swap', 'migration', 'marker'] as const;
export type EntryState = (typeof STATES)[number];

export interface Collision {
  readonly state: EntryState;
  readonly bit: number;
  readonly meanings: readonly string[];
}

export interface LayoutReport {
  readonly layout: string;
  /** state -> bit -> meanings (one unless the bit collides) */
  readonly states: Readonly<Record<EntryState, ReadonlyMap<number, readonly string[]>>>;
  /** bits with no meaning that software may take, per state */
  readonly free: Readonly<Record<EntryState, readonly number[]>>;
  readonly collisions: readonly Collision[];
}

type Claims = Map<number, string[]>;

function claim(m: Claims, bit: number, meaning: string): void {
  const list = m.get(bit);
  if (list) list.push(meaning);
  else m.set(bit, [meaning]);
}

function claimRange(m: Claims, lo: number, count: number, name: (i: number) => string): void {
  for (let i = 0; i < count; i++) claim(m, lo + i, name(i));
}

/** Software bits of a present entry, by the name of the kernel define. */
function softwareFields(l: Layout): [number | null, string][] {
  return [
    [l.dirty, 'PTE_DIRTY'],
    [l.special, 'PTE_SPECIAL'],
    [l.devmap, 'PTE_DEVMAP'],
    [l.uffdWp, 'PTE_UFFD_WP'],
    [l.softDirty, 'PTE_SOFT_DIRTY'],
  ];
}

/** A valid page or block descriptor: the hardware fields plus Linux's software bits. */
function presentClaims(l: Layout): Claims {
  const m = hardwareAndSoftwareClaims(l);
  // A prot-none bit outside the hardware fields is reserved even while VALID is set.
  if (l.invalid.style === 'prot-none' && !l.invalid.protNoneOverlays)
    claim(m, l.invalid.protNone, 'PTE_PROT_NONE (set only while VALID is clear)');
  return m;
}

function hardwareAndSoftwareClaims(l: Layout): Claims {
  const m: Claims = new Map();
  for (let b = 0; b < 64; b++) {
    const hw = hardwareLeafBit(b, l);
    if (hw) claim(m, b, hw);
  }
  for (const [b, name] of softwareFields(l)) if (b !== null) claim(m, b, name);
  return m;
}

/**
 * VALID clear, present to software: every field keeps its hardware-layout
 * meaning for software, and the marker bit says "present". A marker laid on a
 * hardware field replaces that field only where the layout declares the
 * overlay; otherwise the two meanings collide.
 */
function presentInvalidClaims(l: Layout): Claims {
  const m = hardwareAndSoftwareClaims(l);
  m.set(0, ['PTE_VALID (0)']);
  const mark = (b: number, name: string, overlays: boolean): void => {
    const hw = hardwareLeafBit(b, l);
    if (hw && overlays) m.set(b, [...(m.get(b) ?? []).filter((x) => x !== hw), `${name} (overlays ${hw})`]);
    else claim(m, b, name);
  };
  if (l.invalid.style === 'present-invalid') {
    mark(l.invalid.bit, 'PTE_PRESENT_INVALID', l.invalid.overlays);
  } else {
    mark(l.invalid.protNone, 'PTE_PROT_NONE', l.invalid.protNoneOverlays);
    mark(l.invalid.pmdPresentInvalid, 'PMD_PRESENT_INVALID (pmd only)', l.invalid.pmdPresentInvalidOverlays);
  }
  return m;
}

/** The bits pte_present()/pmd_present() read, which every non-present entry keeps clear. */
function presenceBits(l: Layout, m: Claims): void {
  claim(m, 0, 'PTE_VALID (0)');
  claim(m, 1, 'PTE_TABLE_BIT (0)');
  if (l.invalid.style === 'present-invalid') claim(m, l.invalid.bit, 'PTE_PRESENT_INVALID (0)');
  else {
    claim(m, l.invalid.protNone, 'PTE_PROT_NONE (0)');
    claim(m, l.invalid.pmdPresentInvalid, 'PMD_PRESENT_INVALID (0)');
  }
}

function swapFlagClaims(l: Layout, m: Claims): void {
  claim(m, l.swap.exclusive, 'PTE_SWP_EXCLUSIVE');
  if (l.swap.uffdWp !== null) claim(m, l.swap.uffdWp, 'PTE_SWP_UFFD_WP');
  if (l.swap.softDirty !== null) claim(m, l.swap.softDirty, 'PTE_SWP_SOFT_DIRTY');
}

function swapClaims(l: Layout): Claims {
  const m: Claims = new Map();
  presenceBits(l, m);
  swapFlagClaims(l, m);
  claimRange(m, l.swap.typeShift, SWP_TYPE_BITS, (i) => `swap type[${i}]`);
  claimRange(m, l.swap.offsetShift, l.swap.offsetBits, (i) => `swap offset[${i}]`);
  return m;
}

/** Migration entries: a migration type, the PFN, and young/dirty above it (migration_entry_supports_ad). */
function migrationClaims(l: Layout): Claims {
  const m: Claims = new Map();
  presenceBits(l, m);
  swapFlagClaims(l, m);
  claimRange(m, l.swap.typeShift, SWP_TYPE_BITS, (i) => `swap type[${i}] (SWP_MIGRATION_*)`);
  const pfnBits = Math.min(SWP_PFN_BITS, l.swap.offsetBits);
  claimRange(m, l.swap.offsetShift, pfnBits, (i) => `PFN[${i}] (offset[${i}])`);
  if (SWP_MIG_DIRTY_BIT < l.swap.offsetBits) {
    claim(m, l.swap.offsetShift + SWP_MIG_YOUNG_BIT, `SWP_MIG_YOUNG (offset[${SWP_MIG_YOUNG_BIT}])`);
    claim(m, l.swap.offsetShift + SWP_MIG_DIRTY_BIT, `SWP_MIG_DIRTY (offset[${SWP_MIG_DIRTY_BIT}])`);
  }
  return m;
}

/** PTE markers: type SWP_PTE_MARKER, the marker bits in the offset, no swap flags. */
function markerClaims(l: Layout): Claims {
  const m: Claims = new Map();
  presenceBits(l, m);
  claimRange(m, l.swap.typeShift, SWP_TYPE_BITS, (i) => `swap type[${i}] (SWP_PTE_MARKER)`);
  const markers = ['PTE_MARKER_UFFD_WP', 'PTE_MARKER_POISONED', 'PTE_MARKER_GUARD'];
  claimRange(m, l.swap.offsetShift, Math.min(markers.length, l.swap.offsetBits), (i) => `${markers[i]} (offset[${i}])`);
  return m;
}

/**
 * Free bits: in present states, the architecture's software bits that no
 * meaning holds (the hardware fields are never free). Swap, migration and
 * marker entries share one encoding, and a flag must sit in the same bit in
 * all of them, so their free bits are those no swap-format state claims.
 */
function freeBits(state: EntryState, claims: Record<EntryState, Claims>): number[] {
  if (state === 'present' || state === 'present_invalid') return SOFTWARE_BITS.filter((b) => !claims[state].has(b));
  const swapFormat = [claims.swap, claims.migration, claims.marker];
  return [...Array(64).keys()].filter((b) => swapFormat.every((m) => !m.has(b)));
}

export function layoutReport(l: Layout): LayoutReport {
  const claims: Record<EntryState, Claims> = {
    present: presentClaims(l),
    present_invalid: presentInvalidClaims(l),
    swap: swapClaims(l),
    migration: migrationClaims(l),
    marker: markerClaims(l),
  };
  const collisions: Collision[] = [];
  for (const state of STATES) {
    for (const [bit, meanings] of [...claims[state]].sort((a, b) => a[0] - b[0]))
      if (meanings.length > 1) collisions.push({ state, bit, meanings });
  }
  const free = Object.fromEntries(STATES.map((s) => [s, freeBits(s, claims)])) as Record<EntryState, number[]>;
  return { layout: l.name, states: claims, free, collisions };
}

/** The JSON shape the CLI prints: bits as decimal strings, in bit order. */
export function layoutReportJson(r: LayoutReport): unknown {
  const states = Object.fromEntries(
    STATES.map((s) => [
      s,
      Object.fromEntries([...r.states[s]].sort((a, b) => a[0] - b[0]).map(([bit, ms]) => [String(bit), ms.join(' | ')])),
    ]),
  );
  return { layout: r.layout, states, free: r.free, collisions: r.collisions };
}
