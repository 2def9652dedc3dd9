// swapoff(2) and swapon(2) on the model, as qemu-x86_64@current answers them
// (measured 2026-12-07): swapped pages come back read-only and old, with
// the soft-dirty and uffd-wp bits of their swap entries; a memfd's swapped
// page goes back into the file, not into the page tables; a device swapped
// off is EINVAL to swap off again, a missing path ENOENT (the device too,
// where there is no swap, as on linux-host), a second swapon
// EBUSY, and SWAP_FLAG_PREFER's priority shows in /proc/swaps.
import { describe, expect, test } from 'vitest';
import { referenceTarget } from '../../harness/targets/reference.ts';
import * as U from '../../uapi/linux.ts';
import { must } from '../../uapi/linux.ts';
import { SWAP_DEVICE } from './swapfile.ts';

const PAGE = 0x1000n;
const RW = U.PROT_READ | U.PROT_WRITE;

describe('swapoff', () => {
  test('soft-dirty as the swap entry had it; a memfd page back in its file; the errors and priority', async () => {
    const p = await (await referenceTarget(':rfc')).spawn();
    const a = must(await p.mmap(0n, 2n * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n), 'mmap');
    await p.fill(a, 2n * PAGE, 1);
    must(await p.writeFile('/proc/self/clear_refs', '4'), 'clear_refs');
    await p.fill(a, PAGE, 2);
    const fd = must(await p.memfdCreate('swapoff', 0), 'memfd_create');
    must(await p.ftruncate(fd, PAGE), 'ftruncate');
    const s = must(await p.mmap(0n, PAGE, RW, U.MAP_SHARED, fd, 0n), 'mmap');
    await p.fill(s, PAGE, 5);
    for (const [addr, len] of [[a, 2n * PAGE], [s, PAGE]] as const) must(await p.madvise(addr, len, U.MADV_PAGEOUT), 'MADV_PAGEOUT');
    expect(await p.swapoff(SWAP_DEVICE)).toBe(0);
    const entries = must(await p.pagemap(a, 2), 'pagemap');
    expect([...entries].map((e) => e & (U.PM_PRESENT | U.PM_SOFT_DIRTY | U.PM_MMAP_EXCLUSIVE))).toEqual([
      U.PM_PRESENT | U.PM_SOFT_DIRTY | U.PM_MMAP_EXCLUSIVE,
      U.PM_PRESENT | U.PM_MMAP_EXCLUSIVE,
    ]);
    expect(must(await p.pagemap(s, 1), 'pagemap')[0]! & U.PM_PRESENT).toBe(0n);
    expect(await p.read(s, 1)).toEqual({ ok: true, data: Uint8Array.of(5) });
    expect(await p.swapoff(SWAP_DEVICE)).toEqual(new U.Errno('EINVAL', 'swapoff'));
    expect(await p.swapoff('/nonexistent')).toEqual(new U.Errno('ENOENT', 'swapoff'));
    expect(await p.swapon(SWAP_DEVICE, 0x8000 | 5)).toBe(0);
    expect(await p.swapon(SWAP_DEVICE, 0)).toEqual(new U.Errno('EBUSY', 'swapon'));
    expect(must(await p.readFile('/proc/swaps'), '/proc/swaps').split('\n')[1]).toMatch(/^\/dev\/ram0 +partition\t65532\t\t0\t\t5$/);
  });

  test('without swap there is no RAM disk: ENOENT both ways, as on linux-host', async () => {
    const p = await (await referenceTarget('+swap=0')).spawn();
    expect(await p.swapoff(SWAP_DEVICE)).toEqual(new U.Errno('ENOENT', 'swapoff'));
    expect(await p.swapon(SWAP_DEVICE, 0)).toEqual(new U.Errno('ENOENT', 'swapon'));
  });
});
