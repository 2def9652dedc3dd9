// A test's access past either end of any mapping it can make never reaches
// the agent's own memory (its request and reply buffers, its heap, its
// threads' stacks): on linux-host and on both QEMU architectures, after the
// agent has sized large buffers, each kind of mapping is made alone, its
// neighbours in /proc/self/maps must not be the agent's, and a store one
// byte past its end and one byte before its start raises SIGSEGV.

import { describe, expect, test } from 'vitest';
import {
  IPC_CREAT,
  IPC_PRIVATE,
  IPC_RMID,
  isErr,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_MAYMOVE,
  O_CREAT,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  type Ret,
} from '../../uapi/linux.ts';
import { AGENT } from '../testing/agent.ts';
import type { Proc, Target } from '../target.ts';
import { linuxHostTarget } from './linux-host.ts';
import { parseQemuSpec, qemuTarget, qemuUnavailable } from './qemu.ts';

const PAGE = 4096n;
const HPAGE = 2n << 20n;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
/** where the agent keeps its own mappings (harness/agent/buf.c AGENT_REGION), and how far they may reach */
const AGENT_REGION: readonly [bigint, bigint] = [0x6000_0000_0000n, 0x7000_0000_0000n];

function ok<T>(r: Ret<T>, what: string): T {
  if (isErr(r)) throw new Error(`${what}: ${r.name}`);
  return r;
}

/** A mapping a test made: where it is, and how to take it away; null where the system cannot make it. */
type Made = { readonly addr: bigint; readonly len: bigint; readonly undo: () => Promise<unknown> } | null;

const fileMapping = async (proc: Proc, flags: number): Promise<Made> => {
  const path = `overrun-${flags}`;
  const fd = ok(await proc.open(path, O_RDWR | O_CREAT, 0o600), 'open');
  ok(await proc.ftruncate(fd, PAGE), 'ftruncate');
  const addr = ok(await proc.mmap(0n, PAGE, RW, flags, fd, 0n), 'mmap of a file');
  return { addr, len: PAGE, undo: async () => (await proc.munmap(addr, PAGE), await proc.close(fd), proc.unlink(path)) };
};

const KINDS: readonly (readonly [string, (proc: Proc) => Promise<Made>])[] = [
  ['anonymous private', async (proc) => {
    const addr = ok(await proc.mmap(0n, PAGE, RW, ANON, -1, 0n), 'mmap');
    return { addr, len: PAGE, undo: () => proc.munmap(addr, PAGE) };
  }],
  ['anonymous shared', async (proc) => {
    const addr = ok(await proc.mmap(0n, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0n), 'mmap');
    return { addr, len: PAGE, undo: () => proc.munmap(addr, PAGE) };
  }],
  ['a file, shared', (proc) => fileMapping(proc, MAP_SHARED)],
  ['a file, private', (proc) => fileMapping(proc, MAP_PRIVATE)],
  ['a memfd', async (proc) => {
    const fd = ok(await proc.memfdCreate('overrun', 0), 'memfd_create');
    ok(await proc.ftruncate(fd, PAGE), 'ftruncate');
    const addr = ok(await proc.mmap(0n, PAGE, RW, MAP_SHARED, fd, 0n), 'mmap of a memfd');
    return { addr, len: PAGE, undo: async () => (await proc.munmap(addr, PAGE), proc.close(fd)) };
  }],
  ['System V shared memory', async (proc) => {
    const id = ok(await proc.shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0o600), 'shmget');
    const addr = ok(await proc.shmat(id, 0n, 0), 'shmat');
    return { addr, len: PAGE, undo: async () => (await proc.shmdt(addr), proc.shmctl(id, IPC_RMID)) };
  }],
  ['hugetlb', async (proc) => {
    const addr = await proc.mmap(0n, HPAGE, RW, ANON | MAP_HUGETLB, -1, 0n);
    if (isErr(addr)) return null; // no hugetlb pages in the pool here
    ok(await proc.fill(addr, HPAGE, 1).then((r) => (r.ok ? 0 : new Error(`fill: ${r.signal}`))), 'fill');
    return { addr, len: HPAGE, undo: () => proc.munmap(addr, HPAGE) };
  }],
  ['aligned_alloc', async (proc) => {
    const addr = ok(await proc.alignedAlloc(PAGE, PAGE), 'aligned_alloc');
    return { addr, len: PAGE, undo: () => proc.free(addr) };
  }],
  ['a THP', async (proc) => {
    const addr = ok(await proc.alignedAlloc(HPAGE, HPAGE), 'aligned_alloc');
    await proc.madvise(addr, HPAGE, MADV_HUGEPAGE);
    await proc.fill(addr, HPAGE, 1);
    return { addr, len: HPAGE, undo: () => proc.free(addr) };
  }],
  ['an area asked for right below the agent\'s own mappings', async (proc) => {
    const maps = parseMaps(ok(await proc.readFile('/proc/self/maps'), 'maps'));
    const lowest = maps.find((a) => a.start >= AGENT_REGION[0] && a.start < AGENT_REGION[1])!;
    const addr = ok(await proc.mmap(lowest.start - PAGE, PAGE, RW, ANON, -1, 0n), "mmap");
    return { addr, len: PAGE, undo: () => proc.munmap(addr, PAGE) };
  }],
  ['an area mremap() grew and moved', async (proc) => {
    const old = ok(await proc.mmap(0n, PAGE, RW, ANON, -1, 0n), 'mmap');
    const addr = ok(await proc.mremap(old, PAGE, 3n * PAGE, MREMAP_MAYMOVE), 'mremap');
    return { addr, len: 3n * PAGE, undo: () => proc.munmap(addr, 3n * PAGE) };
  }],
];

interface Area {
  readonly start: bigint;
  readonly end: bigint;
  readonly line: string;
}

const parseMaps = (text: string): Area[] =>
  text
    .trim()
    .split('\n')
    .map((line) => {
      const [lo = '0', hi = '0'] = line.split(/[- ]/);
      return { start: BigInt(`0x${lo}`), end: BigInt(`0x${hi}`), line };
    });

/** The agent's: its heap, its program's own segments, or its region for buffers and stacks (not a guard page there: no access reaches through one). */
const agents = (a: Area): boolean =>
  a.line.endsWith('[heap]') || /mmconform-agent|\s\/init$/.test(a.line) || (a.start < AGENT_REGION[1] && a.end > AGENT_REGION[0] && !/ ---p /.test(a.line));

const hex = (a: bigint) => `0x${a.toString(16)}`;

async function overrunEveryKind(target: Target): Promise<void> {
  const proc = await target.spawn();
  // a 4 MiB store and load: the agent's request and reply buffers grow to hold them
  const big = 4n << 20n;
  const warm = ok(await proc.mmap(0n, big, RW, ANON, -1, 0n), 'mmap');
  expect((await proc.write(warm, new Uint8Array(Number(big)).fill(7))).ok).toBe(true);
  expect((await proc.read(warm, Number(big))).ok).toBe(true);
  ok(await proc.munmap(warm, big), 'munmap');
  let made = 0;
  for (const [kind, make] of KINDS) {
    const m = await make(proc);
    if (m === null) continue;
    made++;
    const maps = parseMaps(ok(await proc.readFile('/proc/self/maps'), 'maps'));
    for (const at of [m.addr + m.len, m.addr - 1n]) {
      const there = maps.find((a) => a.start <= at && at < a.end);
      expect(there && agents(there) ? there.line : null, `${kind}: ${hex(at)} is the agent's`).toBeNull();
      expect(await proc.write(at, Uint8Array.of(0x5a)), `${kind}: a store at ${hex(at)} (${there?.line ?? 'nothing mapped'})`).toEqual({ ok: false, signal: 'SIGSEGV', addr: at });
    }
    await m.undo();
  }
  expect(made).toBeGreaterThanOrEqual(KINDS.length - 1); // all but hugetlb where the pool is empty
  // and the agent is whole: it still answers, with what was stored
  const check = ok(await proc.mmap(0n, PAGE, RW, ANON, -1, 0n), 'mmap');
  expect((await proc.write(check, Uint8Array.of(1, 2, 3))).ok).toBe(true);
  expect(await proc.read(check, 3)).toEqual({ ok: true, data: Uint8Array.of(1, 2, 3) });
  await proc.exit();
}

const BOOT_TIMEOUT_MS = 180_000;

describe.skipIf(AGENT.path === null)(`linux-host${AGENT.skip ? ` (skipped: ${AGENT.skip})` : ''}`, () => {
  test('no store past either end of any mapping a test makes reaches the agent', { timeout: 60_000 }, async () => {
    const target = await linuxHostTarget();
    try {
      await overrunEveryKind(target);
    } finally {
      await target.close();
    }
  });
});

for (const name of ['qemu-arm64', 'qemu-x86_64']) {
  const why = qemuUnavailable(parseQemuSpec(name));
  describe.skipIf(why !== undefined)(`${name}${why ? ` (skipped: ${why})` : ''}`, () => {
    test('no store past either end of any mapping a test makes reaches the agent', { timeout: BOOT_TIMEOUT_MS }, async () => {
      const target = await qemuTarget(name);
      try {
        await overrunEveryKind(target);
      } finally {
        await target.close();
      }
    });
  });
}
