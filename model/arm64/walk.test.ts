// The arm64 stage-1 walk and EL0 access checks, as a specification.
// Descriptors are the ones Linux writes (arch/arm64/include/asm/pgtable-prot.h,
// non-LPA2, KPTI on so nG is set), ORed with a page-aligned PA.

import { describe, expect, it } from 'vitest';
import { PTE_AF, PTE_DBM, PTE_RDONLY, PTE_TABLE_BIT, TABLE_AP_NO_EL0, TABLE_AP_RDONLY, TABLE_PXN, TABLE_UXN } from './hwdef.ts';
import { PageTableMemory, TABLE_POOL_BASE } from './tables.ts';
import { access, createRoot, leafSlot, mapPage, translate } from './walk.ts';
import type { HwFeatures } from './walk.ts';

const PAGE_READONLY = 0x0060000000000fc3n;
const PAGE_READONLY_EXEC = 0x0020000000000fc3n;
const PAGE_SHARED = 0x0068000000000fc3n; // writable-clean: DBM=1, RDONLY=1
const PAGE_EXECONLY = 0x0020000000000f83n; // USER=0, RDONLY=1, UXN=0
const PAGE_NONE = 0x0060000000000f82n; // VALID=0, PTE_PRESENT_INVALID (nG)
const WRITTEN_ANON = 0x00e8000000000f43n; // DIRTY, DBM, RDONLY=0

const VA = 0x0000_7fff_b7a3_1234n; // an mmap-range address; non-zero index at every level
const DATA_PA = 0x8_1234_5000n;

const NO_HW: HwFeatures = { hwAF: false, hwDBM: false };
const HW_AF: HwFeatures = { hwAF: true, hwDBM: false };
const HW_AF_DBM: HwFeatures = { hwAF: true, hwDBM: true };

function setup(leaf: bigint, level = 3): { mem: PageTableMemory; root: bigint; slot: bigint } {
  const mem = new PageTableMemory();
  const root = createRoot(mem);
  return { mem, root, slot: mapPage(mem, root, VA, leaf, level) };
}

// The table descriptor one level above the leaf, to set hierarchical attributes on.
function setTableAttr(mem: PageTableMemory, root: bigint, attr: bigint): void {
  const slot = leafSlot(mem, root, VA, 2);
  if (slot === null) throw new Error('no L2 table');
  mem.write(slot, mem.read(slot) | attr);
}

describe('PageTableMemory', () => {
  it('allocates zero-filled, page-aligned tables from a bump allocator', () => {
    const mem = new PageTableMemory();
    const a = mem.allocTable();
    const b = mem.allocTable();
    expect(a).toBe(TABLE_POOL_BASE);
    expect(b - a).toBe(0x1000n);
    expect(mem.read(b + 0xff8n)).toBe(0n);
    expect(mem.tableCount()).toBe(2);
  });

  it('throws on an address outside any table: a model bug, not a fault', () => {
    const mem = new PageTableMemory();
    expect(() => mem.read(TABLE_POOL_BASE)).toThrow(/not inside an allocated table/);
    mem.allocTable();
    expect(() => mem.write(TABLE_POOL_BASE + 0x1000n, 1n)).toThrow();
    expect(() => mem.read(TABLE_POOL_BASE + 4n)).toThrow(/aligned/);
  });

  it('cmpxchg swaps only when the descriptor holds the expected value', () => {
    const mem = new PageTableMemory();
    const slot = mem.allocTable() + 8n;
    expect(mem.cmpxchg(slot, 1n, 2n)).toBe(false);
    expect(mem.read(slot)).toBe(0n);
    expect(mem.cmpxchg(slot, 0n, 2n)).toBe(true);
    expect(mem.read(slot)).toBe(2n);
  });

  it('grows with the tables needed, not with the VA range mapped', () => {
    const { mem, root } = setup(WRITTEN_ANON | DATA_PA);
    expect(mem.tableCount()).toBe(4); // PGD, PUD, PMD, PTE
    mapPage(mem, root, VA + 0x1000n, WRITTEN_ANON | DATA_PA);
    expect(mem.tableCount()).toBe(4);
    mapPage(mem, root, VA + (1n << 39n), WRITTEN_ANON | DATA_PA);
    expect(mem.tableCount()).toBe(7);
  });
});

describe('translate: the walk', () => {
  it.each([
    [0, 0x04],
    [1, 0x05],
    [2, 0x06],
    [3, 0x07],
  ])('an empty entry at level %i is a translation fault with FSC %#x', (level, fsc) => {
    const { mem, root } = setup(0n, level);
    expect(translate(mem, root, VA)).toEqual({ ok: false, fault: { type: 'translation', level, fsc } });
  });

  it('maps a 4K page: PA = OA[47:12] | VA[11:0]', () => {
    const { mem, root, slot } = setup(WRITTEN_ANON | DATA_PA);
    const t = translate(mem, root, VA);
    expect(t).toMatchObject({ ok: true, level: 3, descPa: slot, desc: WRITTEN_ANON | DATA_PA, pa: DATA_PA | 0x234n });
  });

  it('treats bits 1:0 = 0b01 at level 3 as reserved: translation fault', () => {
    const { mem, root } = setup((WRITTEN_ANON & ~PTE_TABLE_BIT) | DATA_PA);
    expect(translate(mem, root, VA)).toMatchObject({ ok: false, fault: { type: 'translation', level: 3, fsc: 0x07 } });
  });

  it('has no level-0 blocks with a 4K granule', () => {
    const { mem, root } = setup((WRITTEN_ANON & ~PTE_TABLE_BIT) | DATA_PA, 0);
    expect(translate(mem, root, VA)).toMatchObject({ ok: false, fault: { type: 'translation', level: 0 } });
  });

  it('maps a 2 MiB block at level 2: PA = OA[47:21] | VA[20:0]', () => {
    const { mem, root } = setup((WRITTEN_ANON & ~PTE_TABLE_BIT) | 0x8020_0000n, 2);
    expect(translate(mem, root, VA)).toMatchObject({ ok: true, level: 2, pa: 0x8020_0000n | (VA & 0x1f_ffffn) });
  });

  it('maps a 1 GiB block at level 1: PA = OA[47:30] | VA[29:0]', () => {
    const { mem, root } = setup((WRITTEN_ANON & ~PTE_TABLE_BIT) | 0xc000_0000n, 1);
    expect(translate(mem, root, VA)).toMatchObject({ ok: true, level: 1, pa: 0xc000_0000n | (VA & 0x3fff_ffffn) });
  });

  it('faults at level 0 on a VA outside TTBR0 (VA[55:48] non-zero)', () => {
    const { mem, root } = setup(WRITTEN_ANON | DATA_PA);
    const fault = { type: 'translation', level: 0, fsc: 0x04 };
    expect(translate(mem, root, VA | (1n << 48n))).toEqual({ ok: false, fault });
    expect(translate(mem, root, VA | (1n << 55n))).toEqual({ ok: false, fault });
  });

  it('ignores the top byte of an EL0 VA (TBI0)', () => {
    const { mem, root } = setup(WRITTEN_ANON | DATA_PA);
    expect(translate(mem, root, VA | (0x5an << 56n))).toMatchObject({ ok: true, pa: DATA_PA | 0x234n });
  });

  it('reports PXNTable, which Linux sets on user tables, and nothing else by default', () => {
    const { mem, root } = setup(WRITTEN_ANON | DATA_PA);
    setTableAttr(mem, root, TABLE_PXN);
    expect(translate(mem, root, VA)).toMatchObject({ table: { uxn: false, pxn: true, noEl0: false, rdonly: false } });
  });
});

describe('access: the leaf checks, in architectural order', () => {
  it('rejects TCR.HD without TCR.HA', () => {
    const { mem, root } = setup(WRITTEN_ANON | DATA_PA);
    expect(() => access(mem, root, VA, 'read', { hwAF: false, hwDBM: true })).toThrow();
  });

  it('passes a translation fault through with the access type', () => {
    const { mem, root } = setup(PAGE_NONE | DATA_PA);
    expect(access(mem, root, VA, 'read', HW_AF_DBM)).toEqual({
      ok: false,
      fault: { type: 'translation', level: 3, fsc: 0x07, access: 'read' },
    });
  });

  it('writes nothing when the descriptor needs no update', () => {
    const { mem, root, slot } = setup(WRITTEN_ANON | DATA_PA);
    expect(access(mem, root, VA, 'write', HW_AF_DBM)).toEqual({
      ok: true,
      pa: DATA_PA | 0x234n,
      level: 3,
      descPa: slot,
      before: WRITTEN_ANON | DATA_PA,
      after: WRITTEN_ANON | DATA_PA,
    });
  });

  describe('access flag', () => {
    it('without hwAF, AF=0 faults before permissions are looked at', () => {
      const { mem, root } = setup((PAGE_READONLY & ~PTE_AF) | DATA_PA);
      expect(access(mem, root, VA, 'write', NO_HW)).toEqual({
        ok: false,
        fault: { type: 'access-flag', level: 3, fsc: 0x0b, access: 'write' },
      });
    });

    it('reports the level of a block leaf', () => {
      const { mem, root } = setup((WRITTEN_ANON & ~PTE_TABLE_BIT & ~PTE_AF) | 0x8020_0000n, 2);
      expect(access(mem, root, VA, 'read', NO_HW)).toMatchObject({ ok: false, fault: { type: 'access-flag', fsc: 0x0a } });
    });

    it('with hwAF, AF=0 is set in memory and the access proceeds', () => {
      const old = (PAGE_READONLY & ~PTE_AF) | DATA_PA;
      const { mem, root, slot } = setup(old);
      expect(access(mem, root, VA, 'read', HW_AF)).toMatchObject({ ok: true, before: old, after: old | PTE_AF });
      expect(mem.read(slot)).toBe(old | PTE_AF);
    });

    it('with hwAF, a permission fault leaves AF clear in memory', () => {
      const old = (PAGE_READONLY & ~PTE_AF) | DATA_PA;
      const { mem, root, slot } = setup(old);
      expect(access(mem, root, VA, 'write', HW_AF)).toMatchObject({ ok: false, fault: { type: 'permission', fsc: 0x0f } });
      expect(mem.read(slot)).toBe(old);
    });
  });

  describe('dirty bit modifier', () => {
    it('with hwDBM, a write to DBM=1 RDONLY=1 succeeds and clears RDONLY in memory', () => {
      const { mem, root, slot } = setup(PAGE_SHARED | DATA_PA);
      const r = access(mem, root, VA, 'write', HW_AF_DBM);
      expect(r).toMatchObject({ ok: true, before: PAGE_SHARED | DATA_PA, after: (PAGE_SHARED & ~PTE_RDONLY) | DATA_PA });
      expect(mem.read(slot)).toBe((PAGE_SHARED & ~PTE_RDONLY) | DATA_PA);
    });

    it('with hwDBM, a read leaves RDONLY set', () => {
      const { mem, root, slot } = setup(PAGE_SHARED | DATA_PA);
      expect(access(mem, root, VA, 'read', HW_AF_DBM)).toMatchObject({ ok: true, after: PAGE_SHARED | DATA_PA });
      expect(mem.read(slot)).toBe(PAGE_SHARED | DATA_PA);
    });

    it('sets AF and clears RDONLY in one update', () => {
      const old = (PAGE_SHARED & ~PTE_AF) | DATA_PA;
      const { mem, root, slot } = setup(old);
      expect(access(mem, root, VA, 'write', HW_AF_DBM)).toMatchObject({ ok: true });
      expect(mem.read(slot)).toBe((old | PTE_AF) & ~PTE_RDONLY);
    });

    it('without hwDBM, the same write is a permission fault and memory is unchanged, AF included', () => {
      const old = (PAGE_SHARED & ~PTE_AF) | DATA_PA;
      const { mem, root, slot } = setup(old);
      expect(access(mem, root, VA, 'write', HW_AF)).toEqual({
        ok: false,
        fault: { type: 'permission', level: 3, fsc: 0x0f, access: 'write' },
      });
      expect(mem.read(slot)).toBe(old);
    });

    it('DBM=0 RDONLY=1 is read-only even with hwDBM', () => {
      const { mem, root, slot } = setup(PAGE_READONLY | DATA_PA);
      expect(access(mem, root, VA, 'write', HW_AF_DBM)).toMatchObject({ ok: false, fault: { type: 'permission' } });
      expect(mem.read(slot)).toBe(PAGE_READONLY | DATA_PA);
    });
  });

  describe('EL0 permissions', () => {
    it('execute-only (USER=0, RDONLY=1, UXN=0): exec succeeds, read and write fault', () => {
      const { mem, root } = setup(PAGE_EXECONLY | DATA_PA);
      expect(access(mem, root, VA, 'exec', HW_AF_DBM)).toMatchObject({ ok: true });
      expect(access(mem, root, VA, 'read', HW_AF_DBM)).toMatchObject({ ok: false, fault: { type: 'permission' } });
      expect(access(mem, root, VA, 'write', HW_AF_DBM)).toMatchObject({ ok: false, fault: { type: 'permission' } });
    });

    it('UXN=1 forbids exec', () => {
      const { mem, root } = setup(PAGE_READONLY | DATA_PA);
      expect(access(mem, root, VA, 'exec', HW_AF_DBM)).toMatchObject({
        ok: false,
        fault: { type: 'permission', fsc: 0x0f, access: 'exec' },
      });
    });

    it('UXNTable forbids exec of a page whose own UXN is clear', () => {
      const { mem, root } = setup(PAGE_READONLY_EXEC | DATA_PA);
      setTableAttr(mem, root, TABLE_UXN);
      expect(access(mem, root, VA, 'exec', NO_HW)).toMatchObject({ ok: false, fault: { type: 'permission', level: 3 } });
      expect(access(mem, root, VA, 'read', NO_HW)).toMatchObject({ ok: true });
    });

    it('APTable[1] forbids write, also when hwDBM would have made the page dirty', () => {
      const { mem, root, slot } = setup(PAGE_SHARED | DATA_PA);
      setTableAttr(mem, root, TABLE_AP_RDONLY);
      expect(access(mem, root, VA, 'write', HW_AF_DBM)).toMatchObject({ ok: false, fault: { type: 'permission' } });
      expect(mem.read(slot)).toBe(PAGE_SHARED | DATA_PA);
      expect(access(mem, root, VA, 'read', HW_AF_DBM)).toMatchObject({ ok: true });
    });

    it('APTable[0] forbids EL0 data access but not exec', () => {
      const { mem, root } = setup(PAGE_READONLY_EXEC | DATA_PA);
      setTableAttr(mem, root, TABLE_AP_NO_EL0);
      expect(access(mem, root, VA, 'read', NO_HW)).toMatchObject({ ok: false, fault: { type: 'permission' } });
      expect(access(mem, root, VA, 'exec', NO_HW)).toMatchObject({ ok: true });
    });

    it('PXNTable does not affect EL0', () => {
      const { mem, root } = setup(WRITTEN_ANON | DATA_PA);
      setTableAttr(mem, root, TABLE_PXN);
      expect(access(mem, root, VA, 'write', NO_HW)).toMatchObject({ ok: true });
    });
  });

  describe('the atomic update', () => {
    // Runs a software update of the descriptor just before the walker's CAS, as another CPU might.
    class RacingMemory extends PageTableMemory {
      races = 0;
      race: (descPa: bigint) => void = () => {};
      override cmpxchg(descPa: bigint, expected: bigint, next: bigint): boolean {
        if (this.races > 0) {
          this.races--;
          this.race(descPa);
        }
        return super.cmpxchg(descPa, expected, next);
      }
    }

    function racingSetup(leaf: bigint): { mem: RacingMemory; root: bigint; slot: bigint } {
      const mem = new RacingMemory();
      const root = createRoot(mem);
      return { mem, root, slot: mapPage(mem, root, VA, leaf) };
    }

    it('walks again when the CAS loses: a racing write-protect makes the DBM write fault', () => {
      const { mem, root, slot } = racingSetup(PAGE_SHARED | DATA_PA);
      mem.races = 1;
      mem.race = (pa) => mem.write(pa, mem.read(pa) & ~PTE_DBM); // ptep_set_wrprotect() of a clean pte
      expect(access(mem, root, VA, 'write', HW_AF_DBM)).toMatchObject({ ok: false, fault: { type: 'permission' } });
      expect(mem.read(slot)).toBe(PAGE_READONLY | DATA_PA);
    });

    it('walks again when the CAS loses: a racing mkyoung leaves only RDONLY to clear', () => {
      const old = (PAGE_SHARED & ~PTE_AF) | DATA_PA;
      const { mem, root, slot } = racingSetup(old);
      mem.races = 1;
      mem.race = (pa) => mem.write(pa, mem.read(pa) | PTE_AF);
      expect(access(mem, root, VA, 'write', HW_AF_DBM)).toMatchObject({ ok: true, before: old | PTE_AF });
      expect(mem.read(slot)).toBe((old | PTE_AF) & ~PTE_RDONLY);
    });

    it('gives up with an Error after a bounded number of lost races', () => {
      const { mem, root } = racingSetup((PAGE_SHARED & ~PTE_AF) | DATA_PA);
      mem.races = Infinity;
      mem.race = (pa) => mem.write(pa, mem.read(pa) ^ (1n << 55n)); // software keeps flipping PTE_DIRTY
      expect(() => access(mem, root, VA, 'read', HW_AF)).toThrow(/lost/);
    });
  });
});

describe('building tables', () => {
  it('leafSlot is null while an intermediate table is missing', () => {
    const mem = new PageTableMemory();
    const root = createRoot(mem);
    expect(leafSlot(mem, root, VA, 0)).not.toBeNull();
    expect(leafSlot(mem, root, VA, 3)).toBeNull();
    const slot = mapPage(mem, root, VA, WRITTEN_ANON | DATA_PA);
    expect(leafSlot(mem, root, VA, 3)).toBe(slot);
  });

  it('mapPage refuses to descend through a leaf', () => {
    const { mem, root } = setup((WRITTEN_ANON & ~PTE_TABLE_BIT) | 0x8020_0000n, 2);
    expect(() => mapPage(mem, root, VA, WRITTEN_ANON | DATA_PA)).toThrow(/not a table/);
    expect(leafSlot(mem, root, VA, 3)).toBeNull();
  });

  it('mapPage rejects a tagged or kernel VA', () => {
    const mem = new PageTableMemory();
    expect(() => mapPage(mem, createRoot(mem), VA | (0x5an << 56n), WRITTEN_ANON)).toThrow(/untagged user VA/);
  });
});
