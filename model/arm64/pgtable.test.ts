// Known descriptor values, from the kernel headers and from real arm64
// kernels (shared/reference/arm64-pte.md, raw-descriptors.md).
import { describe, expect, test } from 'vitest';
import { builtinLayout } from './layout.ts';
import { pgtable } from './pgtable.ts';
import { protectionMap, userProts, vmGetPageProt, VM_READ, VM_WRITE, VM_EXEC, VM_SHARED } from './prot.ts';
import { kernelByName } from '../kernel.ts';
import * as swp from './swapops.ts';

const v610 = pgtable(builtinLayout('v6.10'), { kernel: kernelByName('6.12') });
const v69 = pgtable(builtinLayout('v6.9'));
const rfc = pgtable(builtinLayout('rfc'));
const PA = 0x4321_5000n;

describe('protections', () => {
  test('PAGE_* values as pgtable-prot.h computes them', () => {
    const p = userProts(builtinLayout('v6.10'));
    expect(p.PAGE_NONE).toBe(0x0060000000000f82n);
    expect(p.PAGE_SHARED).toBe(0x0068000000000fc3n);
    expect(p.PAGE_SHARED_EXEC).toBe(0x0028000000000fc3n);
    expect(p.PAGE_READONLY).toBe(0x0060000000000fc3n);
    expect(p.PAGE_READONLY_EXEC).toBe(0x0020000000000fc3n);
    expect(p.PAGE_EXECONLY).toBe(0x0020000000000f83n);
    expect(userProts(builtinLayout('v6.9')).PAGE_NONE).toBe(0x0460000000000f82n);
    // the RFC's PROT_NONE is UXN, which PAGE_NONE sets anyway
    expect(userProts(builtinLayout('rfc')).PAGE_NONE).toBe(0x0060000000000f82n);
  });

  test('protection_map: private writes are COW read-only, exec-only needs EPAN', () => {
    const epan = protectionMap(builtinLayout('v6.10'), { epan: true });
    const noEpan = protectionMap(builtinLayout('v6.10'), { epan: false });
    expect(vmGetPageProt(epan, VM_READ | VM_WRITE)).toBe(0x0060000000000fc3n);
    expect(vmGetPageProt(epan, VM_SHARED | VM_READ | VM_WRITE)).toBe(0x0068000000000fc3n);
    expect(vmGetPageProt(epan, VM_EXEC)).toBe(0x0020000000000f83n);
    expect(vmGetPageProt(noEpan, VM_EXEC)).toBe(0x0020000000000fc3n);
  });
});

describe('fault-path ptes (do_anonymous_page on arm64, 6.12)', () => {
  const prot = userProts(builtinLayout('v6.10')).PAGE_READONLY;
  test('a written anon page is DIRTY + DBM with RDONLY clear', () => {
    const pte = v610.pteMkwrite(v610.pteMkdirty(v610.pfnPte(PA >> 12n, prot)));
    expect(pte).toBe(0x00e8000000000f43n | PA);
    expect(v610.pteDirty(pte) && v610.pteWrite(pte) && v610.pteHwDirty(pte)).toBe(true);
  });
  test('uffd-wp on it keeps DIRTY, drops DBM, sets RDONLY and bit 58', () => {
    const pte = v610.pteMkuffdWp(v610.pteMkwrite(v610.pteMkdirty(v610.pfnPte(PA >> 12n, prot))));
    expect(pte).toBe(0x04e0000000000fc3n | PA);
  });
  test('the read-fault zero page is special and read-only', () => {
    expect(v610.pteMkspecial(v610.pfnPte(PA >> 12n, prot))).toBe(0x0160000000000fc3n | PA);
  });
  test('pte_mkwrite_novma keeps a clean pte clean (143937ca51cc: in Debian\'s 6.12 by backport, and in 7.2)', () => {
    for (const kernel of ['6.12', '7.2']) {
      const pg = pgtable(builtinLayout('v6.10'), { kernel: kernelByName(kernel) });
      const clean = pg.pteMkwriteNovma(pg.pfnPte(1n, prot));
      expect(pg.pteWrite(clean) && !pg.pteDirty(clean), kernel).toBe(true);
    }
  });
});

describe('present-invalid encodings', () => {
  test('v6.10: PROT_NONE is present-invalid via nG and protnone', () => {
    const p = userProts(builtinLayout('v6.10')).PAGE_NONE | PA;
    expect(v610.ptePresent(p) && !v610.pteValid(p) && v610.pteProtnone(p)).toBe(true);
  });
  test('v6.10: an invalidated THP pmd is present, not protnone, still trans-huge', () => {
    const pmd = v610.pmdMkhuge(v610.pfnPte(PA >> 12n, userProts(builtinLayout('v6.10')).PAGE_READONLY));
    const inv = v610.pmdMkinvalid(pmd);
    expect([v610.pmdPresent(inv), v610.pmdProtnone(inv), v610.pmdTransHuge(inv)]).toEqual([true, false, true]);
  });
  test('v6.9: PMD_PRESENT_INVALID (59) keeps an invalidated pmd present', () => {
    const pmd = v69.pmdMkhuge(v69.pfnPte(PA >> 12n, userProts(builtinLayout('v6.9')).PAGE_READONLY));
    const inv = v69.pmdMkinvalid(pmd);
    expect(inv & (1n << 59n)).not.toBe(0n);
    expect([v69.pmdPresent(inv), v69.ptePresent(inv), v69.pmdProtnone(inv)]).toEqual([true, false, false]);
    expect(v69.pteMkinvalid).toBeNull();
  });
  test('rfc: an invalidated pmd with UXN set reads as pte-protnone but not pmd-protnone', () => {
    const pmd = rfc.pmdMkhuge(rfc.pfnPte(PA >> 12n, userProts(builtinLayout('rfc')).PAGE_READONLY));
    const inv = rfc.pmdMkinvalid(pmd);
    expect([rfc.pteProtnone(inv), rfc.pmdProtnone(inv), rfc.pmdPresent(inv)]).toEqual([true, false, true]);
  });
});

describe('swap entries and markers', () => {
  test('the v6.10 uffd-wp marker is 0x17c0', () => {
    expect(v610.makePteMarker(swp.PTE_MARKER_UFFD_WP)).toBe(0x17c0n);
    expect(v610.makePteMarker(swp.PTE_MARKER_POISONED)).toBe(0x27c0n);
    expect(v610.makePteMarker(swp.PTE_MARKER_GUARD)).toBe(0x47c0n);
    expect(v610.pteMarkerUffdWp(0x17c0n) && v610.pteSwpUffdWpAny(0x17c0n)).toBe(true);
    expect(v610.ptePresent(0x17c0n)).toBe(false);
  });
  test('Debian cloud config special types: no device-private, migration 28-30, marker 31', () => {
    expect([swp.MAX_SWAPFILES, swp.SWP_MIGRATION_READ, swp.SWP_MIGRATION_WRITE, swp.SWP_PTE_MARKER]).toEqual([27, 28, 30, 31]);
  });
  test('a swap pte carries its flags outside type and offset', () => {
    const pte = v610.pteSwpMkuffdWp(v610.pteSwpMkexclusive(v610.swpEntryToPte(swp.swpEntry(1, 0x1234n))));
    expect(pte).toBe((0x1234n << 12n) | (1n << 6n) | 0b1100n);
    expect(v610.pteToSwpEntry(pte)).toBe(swp.swpEntry(1, 0x1234n));
  });
  test('without uffd-wp the swap helpers are the generic stubs', () => {
    const pte = v69.swpEntryToPte(swp.swpEntry(1, 7n));
    expect(v69.pteSwpMkuffdWp(pte)).toBe(pte);
    expect(v69.pteSwpUffdWp(v69.pteSwpMkuffdWp(pte))).toBe(false);
    expect(v69.pteMkuffdWp(0x0060000000000fc3n)).toBe(0x0060000000000fc3n);
  });
  test('migration entries keep young and dirty above the PFN', () => {
    const e = v610.makeMigrationEntryDirty(v610.makeMigrationEntryYoung(swp.makeWritableMigrationEntry(0x12345n)));
    const pte = v610.swpEntryToPte(e);
    // SWP_PFN_BITS is 40 with 52-bit PA: young and dirty sit at offset bits 40 and 41
    expect(pte >> 52n).toBe(0b11n);
    expect(v610.isMigrationEntryYoung(e) && v610.isMigrationEntryDirty(e)).toBe(true);
  });
});

describe('access flags', () => {
  test('ptep_set_access_flags only sets AF/WRITE/DIRTY and clears RDONLY', () => {
    const old = 0x0460000000000fc3n | PA; // uffd-wp, read-only
    const entry = v610.pteMkdirty(v610.pteMkyoung(v610.pteClearUffdWp(old)));
    // clearing uffd-wp in entry does not reach memory
    expect(v610.pteUffdWp(v610.ptepSetAccessFlags(old, entry))).toBe(true);
  });
});

// Descriptors read from a real Debian 6.12 arm64 guest (shared/reference/
// raw-descriptors.md), output address masked, rebuilt through the helpers
// the kernel's paths use.
describe('real arm64 6.12 descriptors', () => {
  const pg = v610;
  const p = userProts(builtinLayout('v6.10'));
  const written = pg.pteMkwrite(pg.pteMkdirty(pg.pfnPte(0n, p.PAGE_READONLY))); // do_anonymous_page(), write
  test('anonymous page written: 00e8...f43', () => expect(written).toBe(0x00e8000000000f43n));
  test('after UFFDIO_WRITEPROTECT: 04e0...fc3', () => expect(pg.pteMkuffdWp(written)).toBe(0x04e0000000000fc3n));
  test('wp page after mprotect(PROT_NONE): 04e0...f82', () =>
    expect(pg.pteModify(pg.pteMkuffdWp(written), p.PAGE_NONE)).toBe(0x04e0000000000f82n));
  test('THP written / after wp / after PROT_NONE: 00e8...f41 / 04e0...fc1 / 04e0...f80', () => {
    const pmd = pg.pmdMkhuge(written);
    expect([pmd, pg.pteMkuffdWp(pmd), pg.pteModify(pg.pteMkuffdWp(pmd), p.PAGE_NONE)]).toEqual([
      0x00e8000000000f41n,
      0x04e0000000000fc1n,
      0x04e0000000000f80n,
    ]);
  });
  test('MADV_PAGEOUT: 0x200004, with uffd-wp 0x20100c', () => {
    expect(pg.pteSwpMkexclusive(pg.swpEntryToPte(swp.swpEntry(0, 0x200n)))).toBe(0x200004n);
    expect(pg.pteSwpMkuffdWp(pg.pteSwpMkexclusive(pg.swpEntryToPte(swp.swpEntry(0, 0x201n))))).toBe(0x20100cn);
  });
  test('swapped back in by a read, uffd-wp kept, clean: 0460...fc3', () =>
    expect(pg.pteMkuffdWp(pg.pfnPte(0n, p.PAGE_READONLY))).toBe(0x0460000000000fc3n));
});
