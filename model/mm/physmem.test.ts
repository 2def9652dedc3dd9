// Folios as handles on struct page slots: found from any of their pages,
// split into pages that keep what the folio had, and freed.
import { describe, expect, test } from 'vitest';
import { HPAGE_PMD_NR, HPAGE_PMD_ORDER, PhysMem } from './physmem.ts';

describe('PhysMem folios', () => {
  test('any page finds its folio, aligned to its size, and a freed one finds none', () => {
    const phys = new PhysMem();
    const small = phys.alloc(0, true);
    const huge = phys.alloc(HPAGE_PMD_ORDER, true);
    expect(huge.pfnNr % HPAGE_PMD_NR).toBe(0);
    const tail = phys.folioAt(huge.pfnNr + 300)!;
    expect(tail.same(huge)).toBe(true);
    expect(tail.nrPages).toBe(HPAGE_PMD_NR);
    expect(tail.same(small)).toBe(false);
    expect(phys.nrPagesAt(huge.pfnNr + HPAGE_PMD_NR - 1)).toBe(HPAGE_PMD_NR);
    huge.dirty = true;
    phys.free(huge);
    expect(phys.folioAt(huge.pfnNr + 300)).toBeNull();
    expect(phys.nrPagesAt(huge.pfnNr)).toBe(0);
    // a handle kept past the free reads what the folio had
    expect(huge.dirty).toBe(true);
    expect(phys.folioOf(small.pfn)!.anon).toBe(true);
  });

  test('flags and mapcounts are the folio head\'s, wherever the handle came from', () => {
    const phys = new PhysMem();
    const f = phys.alloc(4, true);
    const g = phys.folioAt(f.pfnNr + 3)!;
    expect(g.swapbacked).toBe(true);
    g.referenced = true;
    g.swapbacked = false;
    expect([f.referenced, f.swapbacked, f.dirty]).toEqual([true, false, false]);
    f.addMapcount(2, 1, 3);
    expect(g.mapped()).toBe(true);
    expect(g.mapcountOf(3)).toBe(1);
    f.addMapcount(2, -1, 3);
    expect(g.mapped()).toBe(false);
    g.pmdMapped++;
    expect(f.mapped()).toBe(true);
  });

  test('a split makes each page a folio that keeps its mapcount, exclusivity, flags and index', () => {
    const phys = new PhysMem();
    const mapping = { id: 7, shmem: true };
    const f = phys.alloc(HPAGE_PMD_ORDER, false, mapping, 1024n);
    f.hugetlb = true;
    f.dirty = true;
    f.pmdMapped = 1;
    f.setMapcount(5, 2);
    f.setExclusive(6, true);
    const parts = phys.splitFolio(f);
    expect(parts).toHaveLength(HPAGE_PMD_NR);
    const [p5, p6] = [parts[5]!, parts[6]!];
    expect([p5.nrPages, p5.pfnNr, p5.index, p5.mapping]).toEqual([1, f.pfnNr + 5, 1029n, mapping]);
    expect([p5.mapcountOf(0), p5.pmdMapped, p5.mapped()]).toEqual([3, 0, true]);
    expect([p6.exclusive(0), p6.dirty, p6.hugetlb, p6.anon]).toEqual([true, true, false, false]);
    expect(phys.folioAt(f.pfnNr + 6)!.same(p6)).toBe(true);
    expect(phys.folioAt(f.pfnNr)!.nrPages).toBe(1);
  });
});
