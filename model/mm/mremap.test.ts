// mremap() as the kernel does it: growing in place or moving, shrinking,
// MREMAP_DONTUNMAP, a zero old_len, the order of its errors, moves of
// several areas, and the page tables a move carries along. Every result
// was measured on qemu-arm64@current (7.2) and, where a test names 6.12,
// on qemu-arm64 (6.12); the two agree unless a test says otherwise.
import { describe, expect, test } from 'vitest';
import type { Proc } from '../../harness/target.ts';
import { referenceTarget } from '../../harness/targets/reference.ts';
import * as U from '../../uapi/linux.ts';

const P = 4096n;
const M = 2n << 20n;
/** PMD- and PUD-aligned, far below mmap_base */
const X = 0x5000_0000_0000n;
const RW = U.PROT_READ | U.PROT_WRITE;
const PRIV = U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED;
const SHARED = U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_FIXED;
const MOVE = U.MREMAP_MAYMOVE;
const FIXED = U.MREMAP_MAYMOVE | U.MREMAP_FIXED;
const DONTUNMAP = U.MREMAP_MAYMOVE | U.MREMAP_DONTUNMAP;

const spawn = async (kernel: '' | '@6.12' = '') => (await referenceTarget(kernel)).spawn();

/** The areas in the 4 GiB from X, from smaps: "start-end perms", addresses relative to X. */
async function areas(p: Proc): Promise<string[]> {
  const text = await p.readFile('/proc/self/smaps');
  if (U.isErr(text)) throw new Error(String(text));
  return text
    .split('\n')
    .filter((l) => /^[0-9a-f]+-[0-9a-f]+ /.test(l))
    .map((l) => {
      const [range, perms] = l.split(' ');
      const [s, e] = range!.split('-').map((h) => BigInt(`0x${h}`) - X);
      return { s: s!, e: e!, perms };
    })
    .filter(({ s }) => s >= 0n && s < 1n << 32n)
    .map(({ s, e, perms }) => `${s.toString(16)}-${e.toString(16)} ${perms}`);
}

/** PAGEMAP_SCAN's WRITTEN pages of [start, end): a none pte in an existing table counts, a hole without one does not. */
async function written(p: Proc, start: bigint, end: bigint): Promise<string[]> {
  const r = await p.pagemapScan({ start, end, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: U.PAGE_IS_WRITTEN, categoryAnyofMask: 0, returnMask: U.PAGE_IS_WRITTEN, vecLen: 64 });
  if (U.isErr(r)) throw new Error(String(r));
  return r.regions.map((g) => `${(g.start - X).toString(16)}-${(g.end - X).toString(16)}`);
}

async function byteAt(p: Proc, addr: bigint): Promise<number | string> {
  const r = await p.read(addr, 1);
  return r.ok ? r.data[0]! : r.signal;
}

async function map(p: Proc, addr: bigint, len: bigint, flags = PRIV, prot = RW, fd = -1): Promise<void> {
  expect(await p.mmap(addr, len, prot, flags, fd, 0n)).toBe(addr);
}

describe('resizing', () => {
  test('grows in place when the room after the area is free, and merges with a matching area it reaches (6.12: not into one never faulted)', async () => {
    for (const [kernel, merged] of [['', true], ['@6.12', false]] as const) {
      const p = await spawn(kernel);
      await map(p, X, 4n * P);
      await p.write(X, new Uint8Array([7]));
      expect(await p.mremap(X, 4n * P, 8n * P, 0)).toBe(X);
      expect(await areas(p)).toEqual(['0-8000 rw-p']);
      await map(p, X + 9n * P, P);
      expect(await p.mremap(X, 8n * P, 9n * P, 0)).toBe(X);
      // is_mergeable_anon_vma(): the written area has an anon_vma, the one it reaches none
      expect(await areas(p)).toEqual(merged ? ['0-a000 rw-p'] : ['0-9000 rw-p', '9000-a000 rw-p']);
    }
  });

  test('blocked growth is ENOMEM without MREMAP_MAYMOVE, a move to a free place with it', async () => {
    const p = await spawn();
    await map(p, X, 4n * P);
    await map(p, X + 4n * P, P, PRIV, U.PROT_READ);
    await p.write(X, new Uint8Array([7]));
    expect(await p.mremap(X, 4n * P, 8n * P, 0)).toEqual(new U.Errno('ENOMEM', 'mremap'));
    const moved = await p.mremap(X, 4n * P, 8n * P, MOVE);
    if (U.isErr(moved)) throw new Error(String(moved));
    expect(await areas(p)).toEqual(['4000-5000 r--p']);
    expect(await byteAt(p, moved)).toBe(7);
  });

  test('a shrink unmaps the tail, across areas and gaps', async () => {
    const p = await spawn();
    await map(p, X, 8n * P);
    await map(p, X + 10n * P, 4n * P);
    expect(await p.mremap(X, 8n * P, 2n * P, 0)).toBe(X);
    expect(await areas(p)).toEqual(['0-2000 rw-p', 'a000-e000 rw-p']);
    expect(await p.mremap(X + P, 0x400000n, 2n * P, MOVE)).toBe(X + P);
    expect(await areas(p)).toEqual(['0-2000 rw-p']);
  });

  test('memfd and shared anonymous mappings grow in place and by a move; past the shared memory size is SIGBUS', async () => {
    const p = await spawn();
    const fd = await p.memfdCreate('mf', 0);
    if (U.isErr(fd)) throw new Error(String(fd));
    await p.ftruncate(fd, 64n * P);
    await map(p, X, 4n * P, U.MAP_SHARED | U.MAP_FIXED, RW, fd);
    expect(await p.mremap(X, 4n * P, 8n * P, 0)).toBe(X);
    await map(p, X + 32n * P, 4n * P, SHARED);
    await p.write(X + 32n * P, new Uint8Array([9]));
    expect(await p.mremap(X + 32n * P, 4n * P, 8n * P, 0)).toBe(X + 32n * P);
    expect(await areas(p)).toEqual(['0-8000 rw-s', '20000-28000 rw-s']);
    expect(await byteAt(p, X + 37n * P)).toBe('SIGBUS');
    await map(p, X + 40n * P, P, PRIV, U.PROT_READ);
    const moved = await p.mremap(X + 32n * P, 8n * P, 16n * P, MOVE);
    if (U.isErr(moved)) throw new Error(String(moved));
    expect(await byteAt(p, moved)).toBe(9);
    expect(await areas(p)).toEqual(['0-8000 rw-s', '28000-29000 r--p']);
  });
});

describe('MREMAP_DONTUNMAP', () => {
  test('moves the pages and leaves the old range mapped, empty, its page table kept', async () => {
    const p = await spawn();
    await map(p, X, 4n * P);
    await p.write(X + P, new Uint8Array([5]));
    expect(await p.mremap(X, 4n * P, 4n * P, DONTUNMAP | U.MREMAP_FIXED, X + 64n * P)).toBe(X + 64n * P);
    expect(await areas(p)).toEqual(['0-4000 rw-p', '40000-44000 rw-p']);
    expect([await byteAt(p, X + P), await byteAt(p, X + 65n * P)]).toEqual([0, 5]);
    expect(await written(p, X, X + 4n * P)).toEqual(['0-4000']);
  });

  test('shared memory: both ranges map the same pages', async () => {
    const p = await spawn();
    await map(p, X, 4n * P, SHARED);
    await p.write(X, new Uint8Array([3]));
    expect(await p.mremap(X, 2n * P, 2n * P, DONTUNMAP | U.MREMAP_FIXED, X + 16n * P)).toBe(X + 16n * P);
    expect(await areas(p)).toEqual(['0-4000 rw-s', '10000-12000 rw-s']);
    expect([await byteAt(p, X), await byteAt(p, X + 16n * P)]).toEqual([3, 3]);
  });

  test('EINVAL: lengths that differ (6.12 compares them before page-aligning), a zero old_len, no MREMAP_MAYMOVE, hugetlb; EFAULT across the end', async () => {
    for (const [kernel, unalignedEqual] of [['', true], ['@6.12', false]] as const) {
      const p = await spawn(kernel);
      await map(p, X, 4n * P);
      const inval = new U.Errno('EINVAL', 'mremap');
      expect(await p.mremap(X, 4n * P, 3n * P, DONTUNMAP)).toEqual(inval);
      expect(await p.mremap(X, 0n, 3n * P, DONTUNMAP)).toEqual(inval);
      expect(await p.mremap(X, P, P, U.MREMAP_DONTUNMAP)).toEqual(inval);
      expect(await p.mremap(X + 2n * P, 4n * P, 4n * P, DONTUNMAP)).toEqual(new U.Errno('EFAULT', 'mremap'));
      const r = await p.mremap(X, P, P - 1n, DONTUNMAP | U.MREMAP_FIXED, X + 64n * P);
      expect(r).toEqual(unalignedEqual ? X + 64n * P : inval);
      await map(p, X + 4n * M, 2n * M, PRIV | U.MAP_HUGETLB);
      expect(await p.mremap(X + 4n * M, 2n * M, 2n * M, DONTUNMAP)).toEqual(inval);
    }
  });
});

describe('a zero old_len', () => {
  test('private: EINVAL; shared: ENOMEM without MREMAP_MAYMOVE, a second mapping of the same pages with it', async () => {
    const p = await spawn();
    await map(p, X, 4n * P);
    expect(await p.mremap(X, 0n, 4n * P, MOVE)).toEqual(new U.Errno('EINVAL', 'mremap'));
    expect(await p.mremap(X, 0n, 4n * P, 0)).toEqual(new U.Errno('EINVAL', 'mremap'));
    await map(p, X + 16n * P, 4n * P, SHARED);
    await p.write(X + 17n * P, new Uint8Array([4]));
    expect(await p.mremap(X + 16n * P, 0n, 4n * P, 0)).toEqual(new U.Errno('ENOMEM', 'mremap'));
    expect(await p.mremap(X + 16n * P, 0n, 4n * P, FIXED, X + 64n * P)).toBe(X + 64n * P);
    expect(await areas(p)).toEqual(['0-4000 rw-p', '10000-14000 rw-s', '40000-44000 rw-s']);
    expect(await byteAt(p, X + 65n * P)).toBe(4);
  });
});

describe('the order of the checks', () => {
  test('a bad new address is EINVAL before an unmapped old one is EFAULT (6.12: EFAULT first)', async () => {
    for (const [kernel, err] of [['', 'EINVAL'], ['@6.12', 'EFAULT']] as const) {
      const p = await spawn(kernel);
      expect(await p.mremap(X, 0x2a3000n, 6n * P, FIXED, X + 4n * P)).toEqual(new U.Errno(err, 'mremap'));
      expect(await p.mremap(X, P, P, FIXED, X + 4n * P + 1n)).toEqual(new U.Errno(err, 'mremap'));
    }
  });

  test('growing across the end of the area is EFAULT before the destination is unmapped (6.12: after)', async () => {
    for (const [kernel, kept] of [['', true], ['@6.12', false]] as const) {
      const p = await spawn(kernel);
      await map(p, X + 32n * P, 4n * P);
      await map(p, X + 64n * P, 4n * P);
      expect(await p.mremap(X + 64n * P, 8n * P, 10n * P, FIXED, X + 32n * P)).toEqual(new U.Errno('EFAULT', 'mremap'));
      expect(await areas(p)).toEqual(kept ? ['20000-24000 rw-p', '40000-44000 rw-p'] : ['40000-44000 rw-p']);
    }
  });
});

describe('moving several areas (7.2; 6.12 is EFAULT within one area)', () => {
  test('a pure move takes every area of the range, the gaps between them kept; a trailing gap is fine, a leading one EFAULT', async () => {
    const p = await spawn();
    await map(p, X, 4n * P);
    await map(p, X + 6n * P, 4n * P, PRIV, U.PROT_READ);
    await p.write(X, new Uint8Array([1]));
    await map(p, X + 64n * P, 16n * P);
    expect(await p.mremap(X, 10n * P, 10n * P, FIXED, X + 64n * P)).toBe(X + 64n * P);
    // the destination's gap keeps what was mapped there
    expect(await areas(p)).toEqual(['40000-44000 rw-p', '44000-46000 rw-p', '46000-4a000 r--p', '4a000-50000 rw-p']);
    expect(await byteAt(p, X + 64n * P)).toBe(1);
    expect(await p.mremap(X + 64n * P, 8n * P, 8n * P, FIXED, X + 128n * P)).toBe(X + 128n * P);
    expect(await areas(p)).toEqual(['48000-4a000 r--p', '4a000-50000 rw-p', '80000-84000 rw-p', '84000-86000 rw-p', '86000-88000 r--p']);
    expect(await p.mremap(X + 127n * P, 8n * P, 8n * P, FIXED, X + 256n * P)).toEqual(new U.Errno('EFAULT', 'mremap'));
  });

  test('6.12: EFAULT, the destination already unmapped', async () => {
    const p = await spawn('@6.12');
    await map(p, X, 4n * P);
    await map(p, X + 6n * P, 4n * P, PRIV, U.PROT_READ);
    await map(p, X + 64n * P, 16n * P);
    expect(await p.mremap(X, 10n * P, 10n * P, FIXED, X + 64n * P)).toEqual(new U.Errno('EFAULT', 'mremap'));
    expect(await areas(p)).toEqual(['0-4000 rw-p', '6000-a000 r--p', '4a000-50000 rw-p']);
  });

  test('an area registered with a userfaultfd moves only alone: EFAULT with another area or a gap after it', async () => {
    const p = await spawn();
    const fd = await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK);
    if (U.isErr(fd)) throw new Error(String(fd));
    await p.uffdioApi(fd, U.UFFD_API, U.UFFD_FEATURE_WP_ASYNC);
    await map(p, X, 4n * P);
    await map(p, X + 6n * P, 4n * P);
    expect(U.isErr(await p.uffdioRegister(fd, X, 4n * P, U.UFFDIO_REGISTER_MODE_WP))).toBe(false);
    expect(await p.mremap(X, 10n * P, 10n * P, FIXED, X + 64n * P)).toEqual(new U.Errno('EFAULT', 'mremap'));
    expect(await p.mremap(X, 5n * P, 5n * P, FIXED, X + 64n * P)).toEqual(new U.Errno('EFAULT', 'mremap'));
    expect(await p.mremap(X + 6n * P, 6n * P, 6n * P, FIXED, X + 128n * P)).toBe(X + 128n * P);
    expect(await areas(p)).toEqual(['0-4000 rw-p', '80000-84000 rw-p']);
  });
});

describe('merging the moved area', () => {
  test('an area never faulted takes the pgoff of its new place and may merge with itself, unless MREMAP_DONTUNMAP keeps it', async () => {
    const p = await spawn();
    await map(p, X, 4n * P);
    expect(await p.mremap(X + 2n * P, 2n * P, 2n * P, FIXED, X + 4n * P)).toBe(X + 4n * P);
    expect(await areas(p)).toEqual(['0-2000 rw-p', '4000-6000 rw-p']);
    await map(p, X + 64n * P, 4n * P);
    expect(await p.mremap(X + 66n * P, 2n * P, 2n * P, DONTUNMAP | U.MREMAP_FIXED, X + 68n * P)).toBe(X + 68n * P);
    expect((await areas(p)).slice(2)).toEqual(['40000-44000 rw-p', '44000-46000 rw-p']);
  });

  test('filling a hole merges with both sides; memfd parts with following offsets merge', async () => {
    const p = await spawn();
    await map(p, X, 2n * P);
    await map(p, X + 4n * P, 2n * P);
    await map(p, X + 128n * P, 2n * P);
    expect(await p.mremap(X + 128n * P, 2n * P, 2n * P, FIXED, X + 2n * P)).toBe(X + 2n * P);
    const fd = await p.memfdCreate('mf', 0);
    if (U.isErr(fd)) throw new Error(String(fd));
    await p.ftruncate(fd, 64n * P);
    expect(await p.mmap(X + 512n * P, 2n * P, RW, U.MAP_SHARED | U.MAP_FIXED, fd, 0n)).toBe(X + 512n * P);
    expect(await p.mmap(X + 600n * P, 2n * P, RW, U.MAP_SHARED | U.MAP_FIXED, fd, 2n * P)).toBe(X + 600n * P);
    expect(await p.mremap(X + 600n * P, 2n * P, 2n * P, FIXED, X + 514n * P)).toBe(X + 514n * P);
    expect(await areas(p)).toEqual(['0-6000 rw-p', '200000-204000 rw-s']);
  });
});

describe('page tables (move_page_tables())', () => {
  test('an emptied pte table moves with the area; an area never touched moves without one', async () => {
    const p = await spawn();
    await map(p, X + 4n * P, 4n * P);
    await p.write(X + 4n * P, new Uint8Array([1]));
    await p.madvise(X + 4n * P, P, U.MADV_DONTNEED);
    const to = X + 8n * M + 8n * P;
    expect(await p.mremap(X + 4n * P, 4n * P, 4n * P, FIXED, to)).toBe(to);
    expect(await written(p, to, to + 4n * P)).toEqual(['1008000-100c000']);
    // grown by the move: the table spans the new part too
    expect(await p.mremap(to, 4n * P, 8n * P, FIXED, X + 16n * M)).toBe(X + 16n * M);
    expect(await written(p, X + 16n * M, X + 16n * M + 8n * P)).toEqual(['2000000-2008000']);
    await map(p, X + 32n * M, 4n * P);
    expect(await p.mremap(X + 32n * M, 4n * P, 4n * P, FIXED, X + 40n * M)).toBe(X + 40n * M);
    expect(await written(p, X + 40n * M, X + 40n * M + 4n * P)).toEqual([]);
  });

  test('tables go only where the old range had them, whatever the new alignment', async () => {
    const p = await spawn();
    await map(p, X, 4n * M);
    await p.madvise(X, 4n * M, U.MADV_NOHUGEPAGE);
    await p.write(X + P, new Uint8Array([1]));
    expect(await p.mremap(X, 4n * M, 4n * M, FIXED, X + 16n * M)).toBe(X + 16n * M);
    expect(await written(p, X + 16n * M, X + 20n * M)).toEqual(['2000000-2200000']);
    const to = X + 32n * M + 8n * P;
    expect(await p.mremap(X + 16n * M, 4n * M, 4n * M, FIXED, to)).toBe(to);
    expect(await written(p, to, to + 4n * M)).toEqual(['4008000-4400000']);
  });

  test('an area from inside a PMD past its boundary moves (realigned, a table at a time) with its data', async () => {
    const p = await spawn();
    const a = X + M - 4n * P;
    await map(p, a, 8n * P);
    await p.write(a, new Uint8Array([1]));
    await p.write(a + 4n * P, new Uint8Array([2]));
    const to = X + 8n * M - 4n * P;
    expect(await p.mremap(a, 8n * P, 8n * P, FIXED, to)).toBe(to);
    expect([await byteAt(p, to), await byteAt(p, to + 4n * P)]).toEqual([1, 2]);
    expect(await written(p, to, to + 8n * P)).toEqual(['ffc000-1004000']);
  });
});

describe('hugetlb', () => {
  test('no growing, no MREMAP_DONTUNMAP; a shrink and a move in whole huge pages', async () => {
    const p = await spawn();
    await map(p, X, 4n * M, PRIV | U.MAP_HUGETLB);
    await p.write(X, new Uint8Array([1]));
    expect(await p.mremap(X, 4n * M, 6n * M, MOVE)).toEqual(new U.Errno('EINVAL', 'mremap'));
    expect(await p.mremap(X, 4n * M, P, 0)).toBe(X);
    expect(await p.mremap(X, 2n * M, 2n * M, FIXED, X + 8n * M)).toBe(X + 8n * M);
    expect(await byteAt(p, X + 8n * M)).toBe(1);
    expect(await p.mremap(X + 8n * M, P, P, FIXED, X + 16n * M)).toBe(X + 16n * M);
    expect(await areas(p)).toEqual(['2000000-2200000 rw-p']);
  });
});
