// The model against the host kernel on the same work, side by side in one
// run, each driven through the Target API with one call per operation (as
// a test makes them): 1 GiB of anonymous memory (262,144 pages) populated,
// read through pagemap, mprotect()ed, write-protected with async uffd-wp,
// stored to page by page (one async write fault each), scanned with
// PM_SCAN_WP_MATCHING half written, forked, and unmapped; with ptes and
// with THP.
// The model runs it on the merged layout and on the RFC's (soft-dirty in
// bit 63). Each side makes one untimed pass before its timed ones. Then
// clear_refs 4 and a pagemap read of 256 MiB on a soft-dirty layout,
// which the host kernel lacks: against an x86_64 kernel in QEMU when
// MMCONFORM_BENCH_QEMU names one (emulated: a bound, not a peer). And the
// model's memory for a populated GiB. Ratios are each operation's median
// time against the kernel's (five passes; UFFDIO_WRITEPROTECT's sample in a
// pass is the median of nine protections).

import type { Proc } from '../harness/target.ts';
import { resolveTarget } from '../harness/targets/index.ts';
import { referenceConfig } from '../harness/targets/reference.ts';
import { doMadvise } from '../model/mm/madvise.ts';
import { doMmap } from '../model/mm/mmap.ts';
import { System } from '../model/mm/system.ts';
import { Task } from '../model/mm/task.ts';
import * as U from '../uapi/linux.ts';
import { must } from '../uapi/linux.ts';
import { fromSamples, measureMemory, median, procSamples, progress, type BenchResult } from './run.ts';

export const name = 'kernel';

const GIB = 1n << 30n;
const PAGES = Number(GIB >> 12n);
const RUNS = 5;
/** protections of the GiB timed in a pass, their median its sample */
const WP_REPEATS = 9;
/** the most addresses one increment() takes (the agent's MAX_ADDRS) */
const BATCH = 65536;
const WP = U.PM_SCAN_WP_MATCHING | U.PM_SCAN_CHECK_WPASYNC;

const OPS = [
  'MADV_POPULATE_WRITE',
  'pagemap read of the whole GiB',
  'mprotect(PROT_READ) of the GiB',
  'UFFDIO_WRITEPROTECT of the GiB',
  'a store on every protected page (async uffd-wp faults)',
  'PAGEMAP_SCAN(PM_SCAN_WP_MATCHING), half written',
  'fork of the populated GiB',
  'munmap of the GiB',
] as const;
type Op = (typeof OPS)[number];

const scan = (proc: Proc, addr: bigint) =>
  proc.pagemapScan({ start: addr, end: addr + GIB, flags: WP, maxPages: 0n, categoryInverted: 0, categoryMask: U.PAGE_IS_WRITTEN, categoryAnyofMask: 0, returnMask: U.PAGE_IS_WRITTEN, vecLen: 16 });

/** One pass of every operation on a fresh process: each one's wall time. */
async function pass(proc: Proc, thp: boolean): Promise<Record<Op, number>> {
  const t: Partial<Record<Op, number>> = {};
  const timed = async <T>(op: Op, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    t[op] = performance.now() - t0;
    return r;
  };
  // a 2 MiB-aligned GiB, so THP maps it whole
  const raw = must(await proc.mmap(0n, GIB + (2n << 20n), U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n), 'mmap');
  const addr = (raw + (2n << 20n) - 1n) & ~((2n << 20n) - 1n);
  must(await proc.madvise(addr, GIB, thp ? U.MADV_HUGEPAGE : U.MADV_NOHUGEPAGE), 'madvise');
  must(await timed('MADV_POPULATE_WRITE', () => proc.madvise(addr, GIB, U.MADV_POPULATE_WRITE)), 'MADV_POPULATE_WRITE');
  must(await timed('pagemap read of the whole GiB', () => proc.pagemap(addr, PAGES)), 'pagemap');
  must(await timed('mprotect(PROT_READ) of the GiB', () => proc.mprotect(addr, GIB, U.PROT_READ)), 'mprotect');
  must(await proc.mprotect(addr, GIB, U.PROT_READ | U.PROT_WRITE), 'mprotect');
  const uffd = must(await proc.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK | U.UFFD_USER_MODE_ONLY), 'userfaultfd');
  must(await proc.uffdioApi(uffd, U.UFFD_API, U.UFFD_FEATURE_WP_ASYNC | U.UFFD_FEATURE_WP_UNPOPULATED), 'UFFDIO_API');
  must(await proc.uffdioRegister(uffd, addr, GIB, U.UFFDIO_REGISTER_MODE_WP), 'UFFDIO_REGISTER');
  // the median of several protections, each undone untimed: on THP one takes 0.1 ms, where a single
  // sample is mostly timer and scheduler noise (either side swung 2x between runs)
  const wp: number[] = [];
  for (let k = 0; k < WP_REPEATS; k++) {
    if (k > 0) must(await proc.uffdioWriteprotect(uffd, addr, GIB, 0n), 'UFFDIO_WRITEPROTECT');
    must(await timed('UFFDIO_WRITEPROTECT of the GiB', () => proc.uffdioWriteprotect(uffd, addr, GIB, U.UFFDIO_WRITEPROTECT_MODE_WP)), 'UFFDIO_WRITEPROTECT');
    wp.push(t['UFFDIO_WRITEPROTECT of the GiB']!);
  }
  t['UFFDIO_WRITEPROTECT of the GiB'] = median(wp);
  await timed('a store on every protected page (async uffd-wp faults)', async () => {
    for (let i = 0; i < PAGES; i += BATCH) {
      const addrs = Array.from({ length: Math.min(BATCH, PAGES - i) }, (_, k) => addr + BigInt(i + k) * 4096n);
      const r = await proc.increment(addrs);
      if (!r.ok) throw new Error(`store: ${r.signal}`);
    }
  });
  must(await scan(proc, addr), 'PAGEMAP_SCAN');
  const w = await proc.fill(addr, GIB / 2n, 1);
  if (!w.ok) throw new Error(`store: ${w.signal}`);
  const got = must(await timed('PAGEMAP_SCAN(PM_SCAN_WP_MATCHING), half written', () => scan(proc, addr)), 'PAGEMAP_SCAN');
  if (got.ret !== 1 || got.regions[0]?.end !== addr + GIB / 2n) throw new Error(`the scan found ${got.ret} regions, not the written half`);
  must(await proc.close(uffd), 'close');
  // last but the unmap, as it leaves the parent's ptes write-protected for COW; the child's exit is not timed
  const child = must(await timed('fork of the populated GiB', () => proc.fork()), 'fork');
  await child.exit();
  must(await timed('munmap of the GiB', () => proc.munmap(raw, GIB + (2n << 20n))), 'munmap');
  return t as Record<Op, number>;
}

async function samplesOf(targetName: string, thp: boolean): Promise<Record<Op, number[]>> {
  const target = await resolveTarget(targetName);
  const out = Object.fromEntries(OPS.map((op) => [op, [] as number[]])) as Record<Op, number[]>;
  try {
    // one untimed pass first, on each side alike: the model's first compiles its paths (V8), the kernel's warms its caches
    for (let r = 0; r < RUNS + 1; r++) {
      const proc = await target.spawn();
      const t = await pass(proc, thp);
      if (r > 0) for (const op of OPS) out[op].push(t[op]);
      await proc.exit();
    }
  } finally {
    await target.close();
  }
  progress(`${name}: ${targetName}${thp ? ' (THP)' : ''} done`);
  return out;
}

/** Soft-dirty's size: a guest has 1 GiB of RAM in all. */
const SD_BYTES = 256n << 20n;
const SD_PAGES = Number(SD_BYTES >> 12n);

/**
 * clear_refs 4 then a pagemap read of a populated 256 MiB, on a target with
 * soft-dirty: the model on the RFC layout, and an x86_64 kernel in QEMU
 * (the host kernel has none), emulated by TCG, so only a bound.
 */
async function softDirtySamples(targetName: string): Promise<number[]> {
  const samples = await procSamples(
    targetName,
    RUNS,
    async (proc) => {
      const addr = must(await proc.mmap(0n, SD_BYTES, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n), 'mmap');
      must(await proc.madvise(addr, SD_BYTES, U.MADV_NOHUGEPAGE), 'madvise');
      must(await proc.madvise(addr, SD_BYTES, U.MADV_POPULATE_WRITE), 'MADV_POPULATE_WRITE');
      return addr;
    },
    async (proc, addr) => {
      must(await proc.writeFile('/proc/self/clear_refs', '4'), 'clear_refs');
      must(await proc.pagemap(addr, SD_PAGES), 'pagemap');
    },
  );
  progress(`${name}: soft-dirty on ${targetName} done`);
  return samples;
}

/** The model's memory for a GiB populated with ptes, measured in this process: the `reference` target's system. */
async function modelMemory() {
  const cfg = await referenceConfig('');
  return measureMemory(() => {
    const task = new Task(new System(cfg));
    const addr = must(doMmap(task.mm, 0n, GIB, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, null, 0n), 'mmap');
    must(doMadvise(task.mm, addr, GIB, U.MADV_NOHUGEPAGE), 'madvise');
    must(doMadvise(task.mm, addr, GIB, U.MADV_POPULATE_WRITE), 'MADV_POPULATE_WRITE');
    return task;
  }).memory;
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  // the model on the merged layout and on the RFC's, whose soft-dirty bit is 63 (a bigint with bit 63 set slows V8)
  const variants = ['linux-host', 'reference', 'reference:rfc'];
  for (const thp of [false, true]) {
    const samples: Record<Op, number[]>[] = [];
    for (const v of variants) samples.push(await samplesOf(v, thp));
    for (const op of OPS) {
      results.push(...fromSamples(name, `${op}${thp ? ', THP' : ''}`, 'page', PAGES, variants.map((v) => ({ name: v })), samples.map((x) => x[op])));
    }
  }
  // the x86_64 guests, when asked for (MMCONFORM_BENCH_QEMU, as bench/ports.bench.ts), take the host's place
  const guests = (process.env['MMCONFORM_BENCH_QEMU'] ?? '').split(',').filter((t) => t.startsWith('qemu-x86_64'));
  const sd = ['reference:rfc', ...guests];
  const sdSamples: number[][] = [];
  for (const t of sd) sdSamples.push(await softDirtySamples(t));
  results.push(...fromSamples(name, 'clear_refs 4 + pagemap read of a populated 256 MiB (soft-dirty)', 'page', SD_PAGES, sd.map((t) => ({ name: t })), sdSamples));
  const memory = await modelMemory();
  results.push(...fromSamples(name, 'the model with a GiB populated (ptes)', 'GiB', 1, [{ name: 'reference', memory }], [[0]]));
  return results;
}

/** Each operation as the model's time over the kernel's (issue 14's goal: at most 1.0). */
export function summary(results: readonly BenchResult[]): string {
  return results
    .filter((r) => r.variant.startsWith('reference'))
    .flatMap((r) =>
      results
        .filter((k) => k.group === r.group && (k.variant === 'linux-host' || k.variant.startsWith('qemu-')))
        .map((k) => `${r.group}: ${k.variant} ${k.medianMs.toFixed(1)} ms, ${r.variant} ${r.medianMs.toFixed(1)} ms: ${(r.medianMs / k.medianMs).toFixed(2)}x the kernel's time`),
    )
    .join('\n');
}
