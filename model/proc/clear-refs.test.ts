import { describe, expect, test } from 'vitest';
import { referenceTarget } from '../../harness/targets/reference.ts';

// Measured on the host's 6.18 through the agent (write(2) of exactly these bytes); the parse
// (kstrtoint(strstrip(buffer)) of at most PROC_NUMBUF - 1 bytes) is the same in 6.12 and 7.2.
const MEASURED: readonly (readonly [string, number | string])[] = [
  ['4\0', 2], // a checkpoint tool writes the C string's NUL too
  ['1\0', 2],
  ['5\0', 2],
  ['4\n', 2],
  ['  4  ', 5],
  ['+4', 2],
  ['0004', 4],
  ['4           x', 12], // cut at 12 bytes, before the x
  ['4\0garbage', 9],
  ['\t5\v', 3],
  ['-4', 'EINVAL'],
  ['4x', 'EINVAL'],
  ['+-4', 'EINVAL'],
  ['0x4', 'EINVAL'],
  ['', 'EINVAL'],
  ['6', 'EINVAL'],
  ['99999999999', 'ERANGE'],
];

describe('clear_refs_write()', () => {
  test.each(MEASURED)('write(%j) answers %s, as the kernel does', async (data, want) => {
    const proc = await (await referenceTarget('')).spawn();
    const r = await proc.writeFile('/proc/self/clear_refs', data);
    expect(typeof r === 'number' ? r : r.name).toBe(want);
  });
});

// The RFC's arm64 soft-dirty (shared/reference/arm64-pte.md 4.1) gathers young and dirty in its
// contpte helpers with __pte_mkdirty(), so the unfold and refold that clear_soft_dirty() sets off in
// a THP split into 64 KiB blocks leave every pte clean. Found by the differential fuzzer against
// qemu-x86_64@current (seed 1725779047): the model's pte_mkdirty() there left 496 of them soft-dirty.
test("reference:rfc: clear_refs 4 over a split THP's contiguous blocks leaves no pte soft-dirty", async () => {
  const U = await import('../../uapi/linux.ts');
  const p = await (await referenceTarget(':rfc+thp=always')).spawn();
  const HPAGE = 2n << 20n;
  const raw = await p.mmap(0n, 2n * HPAGE, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n);
  if (U.isErr(raw)) throw new Error(String(raw));
  const a = (raw + HPAGE - 1n) & ~(HPAGE - 1n);
  expect((await p.fill(a, HPAGE, 1)).ok).toBe(true);
  // a partial munmap splits the huge pmd; the ptes left map the large folio in contiguous blocks
  expect(await p.munmap(a, 8n * 4096n)).toBe(0);
  expect(await p.writeFile('/proc/self/clear_refs', '4')).toBe(1);
  const entries = await p.pagemap(a + 8n * 4096n, 504);
  if (U.isErr(entries)) throw new Error(String(entries));
  expect([...entries].filter((e) => (e & U.PM_PRESENT) !== 0n).length).toBe(504);
  expect([...entries].filter((e) => (e & U.PM_SOFT_DIRTY) !== 0n).length).toBe(0);
});
