// mprotect() as the kernel does it: area by area, and VM_ACCOUNT given back
// for anonymous areas never written. Measured on qemu-arm64@current (7.2)
// and qemu-arm64 (6.12), which agree.
import { expect, test } from 'vitest';
import type { Proc } from '../../harness/target.ts';
import { referenceTarget } from '../../harness/targets/reference.ts';
import * as U from '../../uapi/linux.ts';

const PAGE = 4096n;
const RW = U.PROT_READ | U.PROT_WRITE;
const BASE = 0x5000_0000_0000n;

/** "[start,end) perms VmFlags" of each area overlapping [lo, hi), offsets from lo. */
async function areas(p: Proc, lo: bigint, hi: bigint): Promise<string[]> {
  const text = await p.readFile('/proc/self/smaps');
  if (U.isErr(text)) throw new Error(String(text));
  const out: string[] = [];
  let cur: string | null = null;
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+)/.exec(line);
    if (m) {
      const [s, e] = [BigInt(`0x${m[1]}`), BigInt(`0x${m[2]}`)];
      cur = s < hi && e > lo ? `[${(s - lo) / PAGE},${(e - lo) / PAGE}) ${m[3]}` : null;
    } else if (cur !== null && line.startsWith('VmFlags:')) out.push(`${cur} ${line.slice(8).trim()}`);
  }
  return out;
}

async function map(p: Proc, page: bigint, pages: bigint, prot: number, flags: number, fd = -1): Promise<void> {
  const a = await p.mmap(BASE + page * PAGE, pages * PAGE, prot, flags | U.MAP_FIXED, fd, 0n);
  if (U.isErr(a)) throw new Error(String(a));
}

// mprotect_fixup(): VM_ACCOUNT is dropped by a change to unwritable only for an anonymous area
// without an anon_vma (vma_is_anonymous() && !vma->anon_vma), and charged again when it turns writable
test('VM_ACCOUNT goes with write permission from an anonymous area never written to, and only from one', async () => {
  const p = await (await referenceTarget('')).spawn();
  await map(p, 0n, 4n, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS);
  expect(await p.mprotect(BASE, 4n * PAGE, U.PROT_READ)).toBe(0);
  expect(await areas(p, BASE, BASE + 4n * PAGE)).toEqual(['[0,4) r--p rd mr mw me']);
  expect(await p.mprotect(BASE, 4n * PAGE, RW)).toBe(0);
  expect(await areas(p, BASE, BASE + 4n * PAGE)).toEqual(['[0,4) rw-p rd wr mr mw me ac']);
  expect(await p.mprotect(BASE, 4n * PAGE, U.PROT_NONE)).toBe(0);
  expect(await areas(p, BASE, BASE + 4n * PAGE)).toEqual(['[0,4) ---p mr mw me']);
  expect(await p.mprotect(BASE, 4n * PAGE, U.PROT_WRITE)).toBe(0);
  expect(await areas(p, BASE, BASE + 4n * PAGE)).toEqual(['[0,4) -w-p wr mr mw me ac']);

  // a read fault maps the zero page and makes no anon_vma: the charge still goes, from the part changed
  expect(await p.mprotect(BASE, 4n * PAGE, RW)).toBe(0);
  expect((await p.read(BASE, 1)).ok).toBe(true);
  expect(await p.mprotect(BASE + PAGE, PAGE, U.PROT_READ)).toBe(0);
  expect(await areas(p, BASE, BASE + 4n * PAGE)).toEqual(['[0,1) rw-p rd wr mr mw me ac', '[1,2) r--p rd mr mw me', '[2,4) rw-p rd wr mr mw me ac']);

  // once written, the area keeps its charge
  await map(p, 0n, 4n, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS);
  expect((await p.write(BASE, new Uint8Array([1]))).ok).toBe(true);
  expect(await p.mprotect(BASE, 4n * PAGE, U.PROT_READ)).toBe(0);
  expect(await areas(p, BASE, BASE + 4n * PAGE)).toEqual(['[0,4) r--p rd mr mw me ac']);

  // a private file area keeps it too; MAP_NORESERVE never gets it
  const fd = await p.memfdCreate('f', 0);
  if (U.isErr(fd)) throw new Error(String(fd));
  expect(await p.ftruncate(fd, 4n * PAGE)).toBe(0);
  await map(p, 0n, 4n, RW, U.MAP_PRIVATE, fd);
  expect(await p.mprotect(BASE, 4n * PAGE, U.PROT_READ)).toBe(0);
  expect(await areas(p, BASE, BASE + 4n * PAGE)).toEqual(['[0,4) r--p rd mr mw me ac']);
  await map(p, 0n, 4n, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_NORESERVE);
  expect(await p.mprotect(BASE, 4n * PAGE, U.PROT_READ)).toBe(0);
  expect(await p.mprotect(BASE, 4n * PAGE, RW)).toBe(0);
  expect(await areas(p, BASE, BASE + 4n * PAGE)).toEqual(['[0,4) rw-p rd wr mr mw me nr']);
});

// do_mprotect_pkey(): each area is changed as the walk reaches it; a hole or a refusal ends the
// walk with the areas before it already changed
test('mprotect over a hole, or onto an area that refuses, changes the areas before it and fails', async () => {
  const p = await (await referenceTarget('')).spawn();
  const fd = await p.memfdCreate('f', 0);
  if (U.isErr(fd)) throw new Error(String(fd));
  expect(await p.ftruncate(fd, 4n * PAGE)).toBe(0);
  await map(p, 0n, 2n, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS);
  await map(p, 3n, 2n, RW, U.MAP_SHARED, fd);
  expect(await p.mprotect(BASE, 5n * PAGE, U.PROT_READ)).toEqual(new U.Errno('ENOMEM', 'mprotect'));
  expect(await areas(p, BASE, BASE + 8n * PAGE)).toEqual(['[0,2) r--p rd mr mw me', '[3,5) rw-s rd wr sh mr mw me ms']);
  // starting in a hole, or running past the last area: the first changes nothing, the second all it reaches
  expect(await p.mprotect(BASE - PAGE, 3n * PAGE, RW)).toEqual(new U.Errno('ENOMEM', 'mprotect'));
  expect(await areas(p, BASE, BASE + 8n * PAGE)).toEqual(['[0,2) r--p rd mr mw me', '[3,5) rw-s rd wr sh mr mw me ms']);
  expect(await p.mprotect(BASE + 3n * PAGE, 4n * PAGE, U.PROT_READ)).toEqual(new U.Errno('ENOMEM', 'mprotect'));
  expect(await areas(p, BASE, BASE + 8n * PAGE)).toEqual(['[0,2) r--p rd mr mw me', '[3,5) r--s rd sh mr mw me ms']);

  // EACCES from the second area (a read-only file shared: no VM_MAYWRITE) after the first was changed
  const w = await p.open('/tmp/ro', U.O_CREAT | U.O_RDWR, 0o600);
  if (U.isErr(w)) throw new Error(String(w));
  expect(await p.ftruncate(w, 2n * PAGE)).toBe(0);
  const ro = await p.open('/tmp/ro', U.O_RDONLY);
  if (U.isErr(ro)) throw new Error(String(ro));
  await map(p, 0n, 2n, U.PROT_READ, U.MAP_PRIVATE | U.MAP_ANONYMOUS);
  await map(p, 2n, 2n, U.PROT_READ, U.MAP_SHARED, ro);
  expect(await p.mprotect(BASE, 4n * PAGE, RW)).toEqual(new U.Errno('EACCES', 'mprotect'));
  expect(await areas(p, BASE, BASE + 4n * PAGE)).toEqual(['[0,2) rw-p rd wr mr mw me ac', '[2,4) r--s rd mr me ms']);
});
