// PAGEMAP_SCAN as write tracking uses it (Wine's write watches, CRIU):
// PM_SCAN_WP_MATCHING over 1 GiB of async uffd-wp memory, every page
// populated and the first half written since the last scan, on the
// reference model and on the host kernel, side by side through the Target
// API (one call per scan, as a test makes it). Then the pagemap_ioctl port
// on linux-host against the C program built from the same kernel tree and
// run on the same kernel, when a tree is at hand (harness/qemu/c-selftest.ts).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSuites } from '../harness/runner.ts';
import { buildSelftest, linuxTree, runOnHost } from '../harness/qemu/c-selftest.ts';
import type { Proc } from '../harness/target.ts';
import { resolveTarget } from '../harness/targets/index.ts';
import { pagemapIoctlSuite } from '../suites/selftests/pagemap_ioctl.ts';
import * as U from '../uapi/linux.ts';
import { must } from '../uapi/linux.ts';
import { fromSamples, procSamples, progress, type BenchResult } from './run.ts';

export const name = 'pagemap-scan';

const GIB = 1n << 30n;
const PAGES = Number(GIB >> 12n);
const RUNS = 3;
const TARGETS = ['reference', 'linux-host'] as const;
const WP = U.PM_SCAN_WP_MATCHING | U.PM_SCAN_CHECK_WPASYNC;

/** The scan Wine makes to read and reset its write watches: written pages, protected again. */
const scan = (proc: Proc, addr: bigint) =>
  proc.pagemapScan({
    start: addr,
    end: addr + GIB,
    flags: WP,
    maxPages: 0n,
    categoryInverted: 0,
    categoryMask: U.PAGE_IS_WRITTEN,
    categoryAnyofMask: 0,
    returnMask: U.PAGE_IS_WRITTEN,
    vecLen: 16,
  });

/** 1 GiB under async uffd-wp, populated and protected, then its first half written. */
async function prepare(proc: Proc): Promise<bigint> {
  const uffd = must(await proc.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK | U.UFFD_USER_MODE_ONLY), 'userfaultfd');
  must(await proc.uffdioApi(uffd, U.UFFD_API, U.UFFD_FEATURE_WP_ASYNC | U.UFFD_FEATURE_WP_UNPOPULATED), 'UFFDIO_API');
  const addr = must(await proc.mmap(0n, GIB, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n), 'mmap');
  must(await proc.madvise(addr, GIB, U.MADV_NOHUGEPAGE), 'madvise');
  must(await proc.uffdioRegister(uffd, addr, GIB, U.UFFDIO_REGISTER_MODE_WP), 'UFFDIO_REGISTER');
  must(await proc.madvise(addr, GIB, U.MADV_POPULATE_WRITE), 'MADV_POPULATE_WRITE');
  must(await scan(proc, addr), 'PAGEMAP_SCAN');
  const r = await proc.fill(addr, GIB / 2n, 1);
  if (!r.ok) throw new Error(`store: ${r.signal}`);
  return addr;
}

async function scanSamples(targetName: string): Promise<number[]> {
  const samples = await procSamples(targetName, RUNS, prepare, async (proc, addr) => {
    const got = must(await scan(proc, addr), 'PAGEMAP_SCAN');
    if (got.ret !== 1 || got.regions[0]?.end !== addr + GIB / 2n) throw new Error(`${targetName}: the scan found ${got.ret} regions, not the written half`);
  });
  progress(`${name}: ${targetName} done`);
  return samples;
}

async function portSamples(): Promise<number[]> {
  const target = await resolveTarget('linux-host');
  const samples: number[] = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      await runSuites(target, 'linux-host', [pagemapIoctlSuite], { stdout: () => {}, stderr: () => {} });
      samples.push(performance.now() - t0);
    }
  } finally {
    await target.close();
  }
  return samples;
}

/** The C program's wall time, as c-selftest.ts measures it; null when no kernel tree is at hand. */
async function cSamples(): Promise<number[] | null> {
  let tree: string;
  try {
    tree = linuxTree('7.2');
  } catch (e) {
    progress(`${name}: the C program left out: ${e instanceof Error ? e.message : String(e)}`);
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'mmconform-bench-'));
  try {
    const binary = await buildSelftest(tree, 'pagemap_ioctl', process.arch === 'arm64' ? 'arm64' : 'x86_64', dir);
    const samples: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const res = await runOnHost(binary, { timeoutMs: 900_000, output: () => {} });
      if (res.exit !== 0) throw new Error(`the C pagemap_ioctl exited ${res.exit ?? res.signal}`);
      samples.push(res.wallMs);
    }
    return samples;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const scans = [];
  for (const t of TARGETS) scans.push(await scanSamples(t));
  results.push(
    ...fromSamples(name, `PAGEMAP_SCAN WP_MATCHING, 1 GiB populated, half written (${PAGES} pages)`, 'page', PAGES, [{ name: 'linux-host' }, { name: 'reference' }], [scans[1]!, scans[0]!]),
  );
  const c = await cSamples();
  const port = await portSamples();
  progress(`${name}: pagemap_ioctl port done`);
  if (c) results.push(...fromSamples(name, 'pagemap_ioctl on linux-host', 'run', 1, [{ name: 'C program' }, { name: 'port' }], [c, port]));
  else results.push(...fromSamples(name, 'pagemap_ioctl on linux-host', 'run', 1, [{ name: 'port' }], [port]));
  return results;
}

export function summary(results: readonly BenchResult[]): string {
  return results
    .filter((r) => r.variant === 'reference' || r.variant === 'port')
    .map((r) => `${r.group}: ${r.variant} takes ${(1 / r.speedup).toFixed(1)}x ${r.baseline}'s time`)
    .join('\n');
}
