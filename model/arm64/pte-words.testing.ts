// Entries to ask the bulk paths' word-level memos about (pte-words.ts),
// for the property tests that hold a remembered answer to its helper.

import fc from 'fast-check';
import { expect } from 'vitest';
import { PTE_ADDR_MASK } from './hwdef.ts';
import type { Pte } from './pgtable.ts';
import { type AttrChange, joinWords } from './pte-words.ts';

export const arbPte = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const arbPage = fc.bigInt({ min: 0n, max: (1n << 36n) - 1n });
export const withPage = (p: Pte, pfn: bigint): Pte => (p & ~PTE_ADDR_MASK) | (pfn << 12n);
const HIGH_ATTRS = 0xffffn << 48n;
const LOW_ATTRS = 0xfffn;
/**
 * Entries asked about one after the other: unrelated ones, and ones like an
 * earlier one but for their page, or for only the high or the low attributes.
 */
export const arbEntries = fc.array(fc.tuple(arbPte, arbPage, fc.nat()), { minLength: 1, maxLength: 24 }).map((xs) =>
  xs.reduce<Pte[]>((out, [p, page, k]) => {
    const earlier = out[k % Math.max(out.length, 1)];
    if (earlier === undefined || k % 4 === 0) return [...out, p];
    if (k % 4 === 1) return [...out, withPage(earlier, page)];
    const mask = k % 4 === 2 ? HIGH_ATTRS : LOW_ATTRS;
    return [...out, (earlier & ~mask) | (p & mask)];
  }, []),
);
export const lo = (p: Pte) => Number(p & 0xffff_ffffn);
export const hi = (p: Pte) => Number(p >> 32n);

/** The entry the change writes over `p`'s words. */
export function changed(change: AttrChange, p: Pte): Pte | null {
  const w = Uint32Array.of(lo(p), hi(p));
  return change.applyTo(w, 0) ? joinWords(w[0]!, w[1]!) : null;
}

/**
 * A change asked about entries one after the other gives for each what `f`
 * gives (null where `f` moves the page, which the bulk paths never keep):
 * the change is then one of the attributes alone.
 */
export function expectKeptPerPattern(make: () => AttrChange, f: (p: Pte) => Pte, present: (p: Pte) => boolean): void {
  fc.assert(
    fc.property(arbEntries, (entries) => {
      const change = make();
      for (const p of entries.filter(present)) {
        const expected = f(p);
        expect(changed(change, p)).toBe((expected ^ p) & PTE_ADDR_MASK ? null : expected);
      }
    }),
    { numRuns: 200 },
  );
}
