// The linux-host target: what it says about this machine, the selftests on
// it end to end, and how the harness survives an agent that dies or stops
// answering (that suite errors with the reason; the next spawn() gets a
// fresh agent). Skips, saying why, where there is no C compiler.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readlink, stat } from 'node:fs/promises';
import { machine, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  O_CLOEXEC,
  O_CREAT,
  O_NONBLOCK,
  O_RDWR,
  PAGE_IS_WRITTEN,
  PM_PRESENT,
  PM_SWAP,
  PM_SCAN_CHECK_WPASYNC,
  PM_SCAN_WP_MATCHING,
  PM_UFFD_WP,
  PROT_READ,
  PROT_WRITE,
  UFFD_API,
  UFFD_FEATURE_WP_ASYNC,
  UFFD_FEATURE_WP_UNPOPULATED,
  UFFDIO_REGISTER_MODE_WP,
  UFFDIO_WRITEPROTECT_MODE_WP,
  isErr,
} from '../../uapi/linux.ts';
import type { AgentProc } from '../agent/client.ts';
import { runSuites } from '../runner.ts';
import type { Suite } from '../suite.ts';
import type { Proc, Target } from '../target.ts';
import { AGENT } from '../testing/agent.ts';
import { madvPopulate } from '../../suites/selftests/madv_populate.ts';
import { linuxHostTarget } from './linux-host.ts';
import { resolveTarget } from './index.ts';

const run = promisify(execFile);
const CLI = new URL('../../bin/mmconform.js', import.meta.url).pathname;

/** Whether this machine's kernel has soft-dirty: new areas carry "sd", and nothing cleared this process's. */
const hostSoftDirty = /^VmFlags:.* sd\b/m.test(await readFile('/proc/self/smaps', 'utf8'));

/** The agent a Proc runs under: its parent. */
async function agentPid(proc: Proc): Promise<number> {
  const stat = await readFile(`/proc/${proc.pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Whether `pid` is gone or a zombie: it answers nothing any more. */
async function dead(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] === 'Z';
  } catch {
    return true;
  }
}

/**
 * SIGKILLs the agent a Proc runs under and waits for the proc to die too
 * (PR_SET_PDEATHSIG, delivered a little later): a proc still alive answers
 * a call on its own port, and the call would not see the agent's death.
 */
async function killAgent(proc: Proc): Promise<number> {
  const agent = await agentPid(proc);
  process.kill(agent, 'SIGKILL');
  await vi.waitFor(async () => expect(await dead(proc.pid)).toBe(true), { timeout: 5000, interval: 5 });
  return agent;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const mmapPage = (proc: Proc): Promise<unknown> => proc.mmap(0n, 4096n, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);

let target: Target;

beforeEach(async (ctx) => {
  if (AGENT.path === null) return ctx.skip(AGENT.skip);
  target = await linuxHostTarget();
});

afterEach(async () => {
  await target?.close();
});

describe('what it says about this machine', { timeout: 30_000 }, () => {
  test('info: the running kernel, uname -m as the arch name, no layout', async () => {
    expect(await target.info()).toEqual({
      name: 'linux-host',
      arch: machine() === 'aarch64' ? 'arm64' : machine(),
      layout: null,
      kernel: release(),
      pageSize: 4096,
    });
  });

  test('capabilities, probed as the selftests probe them, agree with what this process sees', async () => {
    const [major = 0, minor = 0] = release().split('.').map(Number);
    expect(await target.capabilities()).toEqual({
      softDirty: hostSoftDirty,
      uffdWp: expect.any(Boolean),
      pagemapScan: major > 6 || (major === 6 && minor >= 7),
      thp: existsSync('/sys/kernel/mm/transparent_hugepage/enabled'),
      hugetlb: existsSync('/proc/sys/vm/nr_hugepages'),
      swap: (await readFile('/proc/swaps', 'utf8')).trim().split('\n').length > 1,
      introspect: false,
    });
  });

  test('the registry knows it', async () => {
    const resolved = await resolveTarget('linux-host');
    expect((await resolved.info()).name).toBe('linux-host');
    await resolved.close();
  });
});

test('a proc after exit(): each call fails at once with one line, and the agent serves on', { timeout: 30_000 }, async () => {
  const proc = await target.spawn();
  await proc.exit();
  await expect(mmapPage(proc)).rejects.toThrow(`agent: mmap: proc ${proc.pid} has exited`);
  expect(isErr(await mmapPage(await target.spawn()))).toBe(false);
});

test('userfaultfd write-protect (async) on this kernel: a written page protected, an empty one given a marker, a store resolving it, unregistering resetting both', { timeout: 30_000 }, async () => {
  const proc = (await target.spawn()) as AgentProc;
  const fd = await proc.userfaultfd(O_CLOEXEC | O_NONBLOCK);
  if (isErr(fd)) throw new Error(`userfaultfd: ${fd}`);
  const api = await proc.uffdioApi(fd, UFFD_API, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED);
  expect(isErr(api) ? String(api) : api.features & UFFD_FEATURE_WP_ASYNC).toBe(UFFD_FEATURE_WP_ASYNC);
  const map = (await proc.mmap(0n, 2n * 4096n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n)) as bigint;
  expect((await proc.write(map, new Uint8Array([1]))).ok).toBe(true);
  expect(isErr(await proc.uffdioRegister(fd, map, 2n * 4096n, UFFDIO_REGISTER_MODE_WP))).toBe(false);
  expect(await proc.uffdioWriteprotect(fd, map, 2n * 4096n, UFFDIO_WRITEPROTECT_MODE_WP)).toBe(0);
  const flags = async () => Array.from((await proc.pagemap(map, 2)) as BigUint64Array, (e) => e & (PM_PRESENT | PM_SWAP | PM_UFFD_WP));
  // the unpopulated page holds a uffd-wp marker, which pagemap shows as a swapped entry
  expect(await flags()).toEqual([PM_PRESENT | PM_UFFD_WP, PM_SWAP | PM_UFFD_WP]);
  expect((await proc.write(map, new Uint8Array([2]))).ok).toBe(true); // async: resolved in the kernel
  expect((await flags())[0]).toBe(PM_PRESENT);
  expect(String(await proc.uffdioWriteprotect(fd + 1000, map, 4096n, 0n))).toBe('ioctl: EBADF');
  // unregistering resets the protection (and the marker goes)
  expect(await proc.uffdioWriteprotect(fd, map, 2n * 4096n, UFFDIO_WRITEPROTECT_MODE_WP)).toBe(0);
  expect(await proc.uffdioUnregister(fd, map, 2n * 4096n)).toBe(0);
  expect(await flags()).toEqual([PM_PRESENT, 0n]);
  expect(String(await proc.uffdioUnregister(fd, map + 1n, 4096n))).toBe('ioctl: EINVAL');
});

test('the agent runs in a private temporary directory of its own: a file a test makes by a relative name lands there, and goes with it', { timeout: 30_000 }, async () => {
  const proc = await target.spawn();
  const cwd = await readlink(`/proc/${proc.pid}/cwd`);
  expect(cwd.startsWith(join(tmpdir(), 'mmconform-agent-'))).toBe(true);
  expect((await stat(cwd)).mode & 0o777).toBe(0o700);
  expect(isErr(await proc.open('pagemap_ioctl.c.tmp0', O_RDWR | O_CREAT, 0o600))).toBe(false);
  expect(existsSync(join(cwd, 'pagemap_ioctl.c.tmp0'))).toBe(true);
  expect(existsSync('pagemap_ioctl.c.tmp0')).toBe(false);
  // an agent that dies takes its directory with it; the next one gets another
  await killAgent(proc);
  await expect(mmapPage(proc)).rejects.toThrow('connection closed');
  await vi.waitFor(() => expect(existsSync(cwd)).toBe(false));
  const fresh = await target.spawn();
  const next = await readlink(`/proc/${fresh.pid}/cwd`);
  expect(next).not.toBe(cwd);
  await target.close();
  expect(existsSync(next)).toBe(false);
});

test('threads: six add to their pages under async uffd-wp while the process scans them with PM_SCAN_WP_MATCHING; each page is reported written, no other', { timeout: 30_000 }, async (ctx) => {
  const PAGE = 4096n;
  const [nthreads, pagesPerThread, adds] = [6, 32n, 8];
  const proc = await target.spawn();
  const uffd = await proc.userfaultfd(O_CLOEXEC | O_NONBLOCK);
  if (isErr(uffd)) return ctx.skip(`userfaultfd: ${uffd}`);
  const api = await proc.uffdioApi(uffd, UFFD_API, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED);
  if (isErr(api)) return ctx.skip(`no async uffd-wp: ${api}`);
  const len = BigInt(nthreads) * pagesPerThread * PAGE;
  const mem = (await proc.mmap(0n, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n)) as bigint;
  expect(isErr(await proc.uffdioRegister(uffd, mem, len, UFFDIO_REGISTER_MODE_WP))).toBe(false);
  expect(await proc.uffdioWriteprotect(uffd, mem, len, UFFDIO_WRITEPROTECT_MODE_WP)).toBe(0);
  const threads = await Promise.all(
    Array.from({ length: nthreads }, async () => {
      const th = await proc.threadCreate();
      if (isErr(th)) throw new Error(String(th));
      return th;
    }),
  );
  const before = await Promise.all(threads.map((th) => th.minflt()));
  const scan = () =>
    proc.pagemapScan({
      start: mem,
      end: mem + len,
      flags: PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
      maxPages: 0n,
      categoryInverted: 0,
      categoryMask: PAGE_IS_WRITTEN,
      categoryAnyofMask: 0,
      returnMask: PAGE_IS_WRITTEN,
      vecLen: nthreads * adds,
    });
  /** the pages a scan reported, each region's pages in turn */
  const pages = (r: Awaited<ReturnType<typeof scan>>): bigint[] => {
    if (isErr(r)) throw new Error(String(r));
    return r.regions.flatMap((x) => Array.from({ length: Number((x.end - x.start) / PAGE) }, (_, k) => x.start + BigInt(k) * PAGE));
  };
  // the adds and the scans all in flight at once: the scans are served on the process's own thread meanwhile
  const [added, ...scanned] = await Promise.all([
    Promise.all(threads.map((th, i) => th.atomicAdd(Array.from({ length: adds }, (_, p) => mem + (BigInt(i) * pagesPerThread + BigInt(p)) * PAGE), 1))),
    scan(),
    scan(),
  ]);
  expect(added).toEqual(threads.map(() => ({ ok: true, data: new Uint8Array(0) })));
  const after = await Promise.all(threads.map((th) => th.minflt()));
  for (const [i, n] of after.entries()) expect(isErr(n) ? n : n - (before[i] as bigint)).toBeGreaterThanOrEqual(BigInt(adds));
  // A page may be reported twice: a scan can protect it again after its fault made it writable and
  // before the store was retried, which then faults again (pagemap_ioctl.c's transact_test counts
  // these as "extra pages"). No update is lost, and nothing unwritten is reported.
  const reported = [...scanned.flatMap(pages), ...pages(await scan())];
  const written = threads.flatMap((_, i) => Array.from({ length: adds }, (_, p) => mem + (BigInt(i) * pagesPerThread + BigInt(p)) * PAGE));
  expect([...new Set(reported)].sort((a, b) => (a < b ? -1 : 1))).toEqual(written);
  expect(reported.length).toBeGreaterThanOrEqual(written.length);
  expect(await proc.read(mem + pagesPerThread * PAGE, 4)).toEqual({ ok: true, data: Uint8Array.of(1, 0, 0, 0) });
  await proc.exit();
});

test("the agent's own mappings stay in their region, never next to a test's areas", { timeout: 30_000 }, async () => {
  const proc = await target.spawn();
  const a = await proc.mmap(0n, 5n * 4096n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(a)) throw new Error(String(a));
  // replies and worker stacks large enough for mappings of their own (agent_map(), buffers grown by mremap())
  expect(isErr(await proc.pagemap(a, 1 << 20))).toBe(false);
  expect(isErr(await proc.pagemap(a, 1 << 21))).toBe(false);
  await proc.read(a, 1);
  const maps = await proc.readFile('/proc/self/maps');
  if (isErr(maps)) throw new Error(String(maps));
  const areas = maps.trim().split('\n').map((l) => ({ start: BigInt(`0x${l.split('-')[0]}`), name: l.split(/\s+/)[5] ?? '' }));
  // the test's area sits right under the kernel's own pages, the agent's anonymous ones are all in its region
  const next = areas[areas.findIndex((x) => x.start === a) + 1];
  expect(next?.name).toMatch(/^\[vvar/);
  const anon = areas.filter((x) => x.name === '' && x.start !== a && x.start > 0x1_0000_0000n);
  expect(anon.length).toBeGreaterThan(0);
  for (const x of anon) expect(x.start >= 0x6000_0000_0000n && x.start < 0x6100_0000_0000n).toBe(true);
  await proc.exit();
});

test('a proc answers on its own port, past the agent: its calls go on while the agent is stopped', async () => {
  const proc = await target.spawn();
  const agent = await agentPid(proc);
  process.kill(agent, 'SIGSTOP');
  try {
    expect(isErr(await mmapPage(proc))).toBe(false);
  } finally {
    process.kill(agent, 'SIGCONT');
  }
  await proc.exit();
});

describe('an agent that dies or stops answering', { timeout: 30_000 }, () => {
  test('killed: every call on it rejects with why; the next spawn() starts a fresh agent', async () => {
    const proc = await target.spawn();
    const first = await killAgent(proc);
    await expect(mmapPage(proc)).rejects.toThrow(/^agent: connection closed: the agent was killed by SIGKILL$/);
    await expect(proc.exit()).rejects.toThrow('connection closed');

    const fresh = await target.spawn();
    expect(await agentPid(fresh)).not.toBe(first);
    expect(isErr(await mmapPage(fresh))).toBe(false);
  });

  test('stuck: the call times out, and the next spawn() replaces the agent (killed at once)', async () => {
    await target.close();
    target = await linuxHostTarget({ timeoutMs: 1000 });
    const proc = await target.spawn();
    const stuck = await agentPid(proc);
    // the proc answers its calls itself (on its own port): the agent is stuck when it is
    process.kill(proc.pid, 'SIGSTOP');
    await expect(mmapPage(proc)).rejects.toThrow(/^agent: no reply to mmap in 1 s; the agent is not used again$/);

    const fresh = await target.spawn();
    expect(alive(stuck)).toBe(false);
    expect(await agentPid(fresh)).not.toBe(stuck);
    expect(isErr(await mmapPage(fresh))).toBe(false);
  });

  test('the runner reports that suite as an error with the reason, and the next suite runs on a fresh agent', async () => {
    const killer: Suite = {
      name: 'killer',
      source: 'harness/targets/linux-host.test.ts',
      tests: [],
      async run(t) {
        t.ksft.printHeader();
        t.ksft.setPlan(1);
        await killAgent(t.proc);
        await mmapPage(t.proc);
      },
    };
    let ktap = '';
    const report = await runSuites(target, 'linux-host', [killer, madvPopulate], { stdout: (s) => void (ktap += s), stderr: () => {} });
    expect(report.suites.map((s) => s.exit)).toEqual([
      { status: 'error', code: null, reason: 'agent: connection closed: the agent was killed by SIGKILL' },
      { status: 'pass', code: 0, reason: null },
    ]);
    expect(ktap).toContain('# mmconform: error: agent: connection closed: the agent was killed by SIGKILL\nnot ok 1 selftests: mmconform: killer # ERROR\n');
  });
});

describe('mmconform run --target linux-host', () => {
  test('madv_populate and soft-dirty, as KTAP', { timeout: 60_000 }, async () => {
    const args = ['run', '--suite', 'madv_populate', '--suite', 'soft-dirty', '--target'];
    const host = await run(process.execPath, [CLI, ...args, 'linux-host']);
    // madv_populate runs 5 more with soft-dirty
    const passes = hostSoftDirty ? 21 : 16;
    expect(host.stdout).toMatch(new RegExp(`^# # Totals: pass:${passes} fail:0 xfail:0 xpass:0 skip:0 error:0\\nok 1 selftests: mm: madv_populate$`, 'm'));
    if (!hostSoftDirty) expect(host.stdout).toContain('# 1..0 # SKIP soft-dirty is not support\nok 2 selftests: mm: soft-dirty # SKIP\n');
    // the kernel gives, byte for byte, what the reference model with its features gives: v6.10 without
    // soft-dirty, rfc (soft-dirty in bit 63) with it
    const reference = await run(process.execPath, [CLI, ...args, hostSoftDirty ? 'reference:rfc' : 'reference']);
    expect(host.stdout).toBe(reference.stdout);
  });
});
