// The native agent itself, line by line over its stdin and stdout: the
// protocol of protocol.schema.json, the answers to bad requests (after each
// of which it must go on serving), faults reported instead of dying, a Proc
// that dies, and --init. Skips, saying why, where there is no C compiler.

import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, opendir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { machine, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  F_GETFL,
  F_SETFL,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  O_CLOEXEC,
  O_NONBLOCK,
  POLLIN,
  POLLNVAL,
  UFFD_FEATURE_EVENT_FORK,
  UFFD_FEATURE_EVENT_REMOVE,
  UFFD_FEATURE_MINOR_SHMEM,
  UFFD_FEATURE_MOVE,
  UFFD_FEATURE_POISON,
  PM_SOFT_DIRTY,
  PM_UFFD_WP,
  IPC_CREAT,
  IPC_RMID,
  O_CREAT,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  UFFD_FEATURE_SIGBUS,
  UFFD_FEATURE_WP_ASYNC,
  UFFD_FEATURE_WP_UNPOPULATED,
} from '../../uapi/linux.ts';
import { AGENT, RawAgent, hexBytes, type Json } from '../testing/agent.ts';

const PAGE = 4096;
const MAP_ANON_PRIVATE = MAP_PRIVATE | MAP_ANONYMOUS;

interface OpSchema {
  readonly request: { readonly properties: Readonly<Record<string, { readonly $ref?: string; readonly type?: string }>>; readonly required: readonly string[] };
}
const schema = JSON.parse(await readFile(new URL('./protocol.schema.json', import.meta.url), 'utf8')) as {
  readonly $defs: { readonly ops: Readonly<Record<string, OpSchema>> };
};

let agent: RawAgent;
let proc: number;

beforeEach(async (ctx) => {
  if (AGENT.path === null) return ctx.skip(AGENT.skip);
  agent = new RawAgent(AGENT.path);
  proc = await agent.spawnProc();
});

afterEach(async () => {
  if (AGENT.path !== null) await agent.close();
});

/** Whether the agent still answers, and correctly. */
async function serving(): Promise<void> {
  expect(await agent.ask({ op: 'hello' })).toMatchObject({ ok: true });
  expect(await agent.ask({ op: 'mmap', proc, addr: '0x0', len: '0x1000', prot: PROT_READ, flags: MAP_ANON_PRIVATE, fd: -1, offset: '0x0' })).toMatchObject({
    ok: true,
  });
}

async function mapAnon(len: number, prot: number, flags = MAP_ANON_PRIVATE): Promise<string> {
  const reply = await agent.ask({ op: 'mmap', proc, addr: '0x0', len: `0x${len.toString(16)}`, prot, flags, fd: -1, offset: '0x0' });
  expect(reply).toMatchObject({ ok: true });
  return reply['addr'] as string;
}

const plus = (addr: string, n: number): string => `0x${(BigInt(addr) + BigInt(n)).toString(16)}`;

/** A reply's fields but its id. */
const withoutId = ({ id: _id, ...fields }: Json): Json => fields;

/** PAGEMAP_SCAN's regions as a reply packs them: start, end and categories in 16 hex digits each. */
const packed = (...regions: { start: string; end: string; categories: number }[]): string =>
  regions.map((r) => [BigInt(r.start), BigInt(r.end), BigInt(r.categories)].map((v) => v.toString(16).padStart(16, '0')).join('')).join('');

/** A new thread of the proc: its tid. */
async function newThread(): Promise<number> {
  const reply = await agent.ask({ op: 'thread_create', proc });
  expect(reply).toMatchObject({ ok: true, thread: expect.any(Number) });
  return reply['thread'] as number;
}

let nextId = 5000;
/** Sends requests together, for replies that may come out of order: their ids. */
function send(...requests: Readonly<Record<string, unknown>>[]): number[] {
  return requests.map((r) => {
    const id = nextId++;
    agent.send(JSON.stringify({ id, ...r }));
    return id;
  });
}

/** The next n replies, in the order they came. */
async function replies(n: number): Promise<Json[]> {
  const got: Json[] = [];
  while (got.length < n) got.push(await agent.next());
  return got;
}

describe('hello', () => {
  test('names the kernel, the machine, the page size and every op the schema describes', async () => {
    const reply = await agent.ask({ op: 'hello' });
    expect(reply).toMatchObject({ ok: true, protocol: 1, release: release(), machine: machine(), page_size: PAGE });
    expect([...(reply['ops'] as string[])].sort()).toEqual(Object.keys(schema.$defs.ops).sort());
  });
});

describe('the schema and the agent agree on every field', () => {
  let thread: number;
  beforeEach(async () => {
    thread = await newThread();
  });

  /** a value of the field's type that no op turns into a crash of its process (nor into removing a segment someone else has: shmid -1) */
  function sample(key: string, field: { readonly $ref?: string; readonly type?: string }): unknown {
    if (key === 'shmid') return -1;
    if (key === 'page_size' || key === 'move_len') return '0x1000'; // powers of two
    if (field.$ref === '#/$defs/thread') return thread;
    if (field.$ref === '#/$defs/hex64') return '0x0';
    if (field.$ref === '#/$defs/bytes') return '';
    if (field.$ref === '#/$defs/string') return '/nonexistent';
    if (field.$ref === '#/$defs/proc') return proc;
    if ('enum' in field && Array.isArray(field.enum)) return field.enum[0];
    if (field.type === 'boolean') return false;
    if (field.type === 'array') return [];
    return 0;
  }

  /** A request for op with a sample value for each of `fields` (all of them, or the required ones) but `omit`. */
  function requestFor(op: string, fields: 'all' | 'required', omit?: string): Record<string, unknown> {
    const { properties, required } = schema.$defs.ops[op]!.request;
    const names = Object.keys(properties).filter((k) => k !== 'id' && k !== 'op' && k !== omit && (fields === 'all' || required.includes(k)));
    return { op, ...Object.fromEntries(names.map((k) => [k, sample(k, properties[k]!)])) };
  }

  const ops = Object.keys(schema.$defs.ops);

  test.each(ops.filter((op) => op !== 'exit'))('%s: every field it lists is taken', async (op) => {
    const reply = await agent.ask(requestFor(op, 'all'));
    expect(reply['error']).toBeUndefined();
    expect(typeof reply['ok']).toBe('boolean');
  });

  test.each(ops)('%s: each required field is required (an op that requires none is answered without any)', async (op) => {
    const required = schema.$defs.ops[op]!.request.required.filter((k) => k !== 'id' && k !== 'op');
    for (const missing of required) expect((await agent.ask(requestFor(op, 'required', missing)))['error']).toBe(`missing field "${missing}"`);
    // hello and spawn: nothing but the op, and no error (the loop above has nothing to check for them)
    if (required.length === 0) expect(await agent.ask({ op })).toMatchObject({ ok: true });
  });
});

describe('bad requests get an error reply, and the agent serves on', () => {
  test.each([
    ['an unknown op', () => ({ op: 'frobnicate' }), 'unknown op "frobnicate"'],
    ['no op', () => ({}), 'missing field "op"'],
    ['a missing field', () => ({ op: 'munmap', proc, addr: '0x1000' }), 'missing field "len"'],
    ['an unknown field', () => ({ op: 'hello', verbose: true }), 'unknown field "verbose"'],
    ['a number where a hex string goes', () => ({ op: 'munmap', proc, addr: 4096, len: '0x1000' }), 'field "addr": expected a hex string "0x..." of at most 16 digits'],
    ['a 17-digit hex string', () => ({ op: 'munmap', proc, addr: '0x10000000000000000', len: '0x1000' }), 'field "addr": expected a hex string'],
    ['a fraction where an integer goes', () => ({ op: 'mprotect', proc, addr: '0x0', len: '0x0', prot: 1.5 }), 'field "prot": expected an integer'],
    ['odd hex bytes', () => ({ op: 'write', proc, addr: '0x0', data: 'abc' }), 'field "data": expected bytes as a hex string'],
    ['a fill byte over 255', () => ({ op: 'fill', proc, addr: '0x0', len: '0x1', byte: 256 }), 'field "byte": 256 out of range [0, 255]'],
    ['a negative fill byte', () => ({ op: 'fill', proc, addr: '0x0', len: '0x1', byte: -1 }), 'field "byte": -1 out of range [0, 255]'],
    ['a fill length as a number', () => ({ op: 'fill', proc, addr: '0x0', len: 4096, byte: 0 }), 'field "len": expected a hex string'],
    ['a fill that wraps around', () => ({ op: 'fill', proc, addr: '0xfffffffffffff000', len: '0x1000', byte: 0 }), 'the range wraps around the address space'],
    ['increment addresses that are not a list', () => ({ op: 'increment', proc, addrs: '0x1000' }), 'field "addrs": expected a list of hex strings'],
    ['increment addresses as numbers', () => ({ op: 'increment', proc, addrs: [4096] }), 'field "addrs": expected a list of hex strings'],
    ['an increment address of 17 digits', () => ({ op: 'increment', proc, addrs: ['0x1000', '0x10000000000000000'] }), 'field "addrs": expected a list of hex strings'],
    ['an increment address without 0x', () => ({ op: 'increment', proc, addrs: ['1000'] }), 'field "addrs": expected a list of hex strings'],
    ['an escaped increment address', () => ({ op: 'increment', proc, addrs: ['\\x1000'] }), 'field "addrs": expected a list of hex strings'],
    ['a list nested in the increment list', () => ({ op: 'increment', proc, addrs: [['0x1000']] }), 'field "addrs": expected a list of hex strings'],
    ['more than 65536 increment addresses', () => ({ op: 'increment', proc, addrs: Array<string>(65537).fill('0x0') }), 'field "addrs": more than 65536 values'],
    ['more than 65536 descriptors_of addresses', () => ({ op: 'descriptors_of', proc, addrs: Array<string>(65537).fill('0x0') }), 'field "addrs": more than 65536 values'],
    ['a NUL in a path', () => ({ op: 'unlink', proc, path: 'a\u0000b' }), 'field "path": contains a NUL character'],
    ['odd hex bytes to write(2)', () => ({ op: 'write_fd', proc, fd: 1, data: '0' }), 'field "data": expected bytes as a hex string'],
    ['a write(2) to a descriptor beyond an int', () => ({ op: 'write_fd', proc, fd: 2 ** 31, data: '' }), 'field "fd": 2147483648 out of range'],
    ['a NUL in a path to stat', () => ({ op: 'stat', proc, path: '/tmp\u0000x' }), 'field "path": contains a NUL character'],
    ['a directory that is not a string', () => ({ op: 'list_dir', proc, path: 1 }), 'field "path": expected a string'],
    ['a segment size as a number', () => ({ op: 'shmget', proc, key: 0, size: 4096, shmflg: 0 }), 'field "size": expected a hex string'],
    ['a key beyond key_t', () => ({ op: 'shmget', proc, key: 2 ** 31, size: '0x1000', shmflg: 0 }), 'field "key": 2147483648 out of range'],
    ['shmat at an address without 0x', () => ({ op: 'shmat', proc, shmid: -1, addr: '1000', shmflg: 0 }), 'field "addr": expected a hex string'],
    ['shmdt of an address as a number', () => ({ op: 'shmdt', proc, addr: 0 }), 'field "addr": expected a hex string'],
    ['shmctl IPC_STAT, which takes a buffer', () => ({ op: 'shmctl', proc, shmid: -1, cmd: 2 }), 'field "cmd": 2 is not IPC_RMID (0), the one command served'],
    ['shmctl IPC_SET', () => ({ op: 'shmctl', proc, shmid: -1, cmd: 1 }), 'field "cmd": 1 is not IPC_RMID (0)'],
    ['a thread_create naming a thread', () => ({ op: 'thread_create', proc, thread: 1 }), 'unknown field "thread"'],
    ['an atomic add naming no thread', () => ({ op: 'atomic_add', proc, addrs: [], delta: 1 }), 'missing field "thread"'],
    ['an atomic add on a thread that never was', () => ({ op: 'atomic_add', proc, thread: 1, addrs: [], delta: 1 }), () => `no thread 1 in proc ${proc}`],
    ['minflt of the process itself, which is no thread of its own', () => ({ op: 'minflt', proc, thread: proc }), () => `no thread ${proc} in proc ${proc}`],
    ['minflt of thread 0', () => ({ op: 'minflt', proc, thread: 0 }), 'field "thread": 0 out of range'],
    ['no proc', () => ({ op: 'munmap', addr: '0x0', len: '0x0' }), 'missing field "proc"'],
    ['a proc that never was', () => ({ op: 'munmap', proc: 1, addr: '0x0', len: '0x0' }), 'no proc 1'],
    ['poll with more descriptors than event masks', () => ({ op: 'poll', proc, fds: [0, 1], events: [1], timeout: 0 }), 'fields "fds" and "events": one event mask a descriptor'],
    ['poll descriptors as hex strings', () => ({ op: 'poll', proc, fds: ['0x0'], events: [1], timeout: 0 }), 'field "fds": expected a list of integers'],
    ['a poll event mask beyond a short', () => ({ op: 'poll', proc, fds: [0], events: [65536], timeout: 0 }), 'field "events": 65536 out of range'],
    ['a fractional poll descriptor', () => ({ op: 'poll', proc, fds: [0.5], events: [1], timeout: 0 }), 'field "fds": expected a list of integers'],
    ['fcntl F_GETLK, which takes a pointer', () => ({ op: 'fcntl', proc, fd: 0, cmd: 5, arg: 0 }), 'field "cmd": 5 is not a command whose argument is an int'],
    ['a read_fd count over 32 MiB', () => ({ op: 'read_fd', proc, fd: 0, count: 2 ** 25 + 1 }), 'field "count": 33554433 out of range'],
    ['a thread_madvise on the process itself', () => ({ op: 'thread_madvise', proc, thread: proc, addr: '0x0', len: '0x0', advice: 0 }), () => `no thread ${proc} in proc ${proc}`],
    ['a fork with arguments', () => ({ op: 'fork', proc, flags: 0 }), 'unknown field "flags"'],
    [
      'a PAGEMAP_SCAN vec both bad and NULL',
      () => {
        const zero = { flags: '0x0', max_pages: '0x0', category_inverted: '0x0', category_mask: '0x0', category_anyof_mask: '0x0', return_mask: '0x0' };
        return { op: 'pagemap_scan', proc, start: '0x0', end: '0x0', ...zero, vec_len: 0, bad_vec: true, null_vec: true };
      },
      'fields "bad_vec" and "null_vec": at most one of them',
    ],
  ])('%s', async (_what, request, message: string | (() => string)) => {
    const reply = await agent.ask(request());
    expect(reply['error']).toContain(typeof message === 'string' ? message : message());
    expect(reply['ok']).toBeUndefined();
    await serving();
  });

  test.each([
    ['malformed JSON', '{"id": 1, "op": "hello"', 'malformed JSON at byte 23: expected \',\' or \'}\''],
    ['not an object', '[1, 2]', 'a request must be a JSON object'],
    ['no id', '{"op": "hello"}', 'missing field "id"'],
    ['a negative id', '{"id": -1, "op": "hello"}', 'field "id": -1 out of range'],
    ['text after the object', '{"id": 1, "op": "hello"} x', 'text after the object'],
    ['a control character in a string', '{"id": 1, "op": "hel\tlo"}', 'control character in a string'],
  ])('%s: answered with id null', async (_what, line, message) => {
    agent.send(line);
    const reply = await agent.next();
    expect(reply).toEqual({ id: null, error: expect.stringContaining(message) });
    await serving();
  });

  test('a line over 64 MiB is skipped up to its newline', async () => {
    agent.send(`{"id": 1, "op": "write", "data": "${'00'.repeat(32 << 20)}"}`);
    expect(await agent.next()).toEqual({ id: null, error: 'request line over 64 MiB' });
    await serving();
  });

  test('a blank line is answered, as a bad request (its sender would wait for ever otherwise)', async () => {
    agent.send('');
    expect(await agent.next()).toEqual({ id: null, error: 'empty request line' });
    agent.send(' \t ');
    expect(await agent.next()).toEqual({ id: null, error: 'empty request line' });
    await serving();
  });

  test('a last request the input ends without a newline is answered, and then the agent exits', async () => {
    const own = new RawAgent(AGENT.path!);
    own.send('{"id": 1, "op": "hello"}');
    expect(await own.next()).toMatchObject({ id: 1, ok: true });
    own.sendLast('{"id": 2, "op": "spawn"}');
    expect(await own.next()).toMatchObject({ id: 2, ok: true, proc: expect.any(Number) });
    expect(await own.close()).toEqual({ code: 0, signal: null });
  });
});

describe("bad requests to a thread's ops: an error reply, the thread serves on", () => {
  test.each([
    ['an address that is not an int\'s', (t: number) => ({ op: 'atomic_add', proc, thread: t, addrs: ['0x1000', '0x1002'], delta: 1 }), 'field "addrs": 0x1002 is not the address of an int (4-byte aligned)'],
    ['an odd address', (t: number) => ({ op: 'atomic_add', proc, thread: t, addrs: ['0x1'], delta: 1 }), 'field "addrs": 0x1 is not the address of an int'],
    ['addresses that are not a list', (t: number) => ({ op: 'atomic_add', proc, thread: t, addrs: '0x1000', delta: 1 }), 'field "addrs": expected a list of hex strings'],
    ['addresses as numbers', (t: number) => ({ op: 'atomic_add', proc, thread: t, addrs: [4096], delta: 1 }), 'field "addrs": expected a list of hex strings'],
    ['more than 65536 addresses', (t: number) => ({ op: 'atomic_add', proc, thread: t, addrs: Array<string>(65537).fill('0x0'), delta: 1 }), 'field "addrs": more than 65536 values'],
    ['a delta beyond an int', (t: number) => ({ op: 'atomic_add', proc, thread: t, addrs: [], delta: 2 ** 31 }), 'field "delta": 2147483648 out of range'],
    ['a fractional delta', (t: number) => ({ op: 'atomic_add', proc, thread: t, addrs: [], delta: 0.5 }), 'field "delta": expected an integer'],
    ['no delta', (t: number) => ({ op: 'atomic_add', proc, thread: t, addrs: [] }), 'missing field "delta"'],
    ['a field minflt does not take', (t: number) => ({ op: 'minflt', proc, thread: t, addrs: [] }), 'unknown field "addrs"'],
  ])('%s', async (_what, request, message) => {
    const thread = await newThread();
    const reply = await agent.ask(request(thread));
    expect(reply['error']).toContain(message);
    expect(reply['ok']).toBeUndefined();
    expect(await agent.ask({ op: 'minflt', proc, thread })).toMatchObject({ ok: true, minflt: expect.stringMatching(/^0x[0-9a-f]+$/) });
  });
});

describe('system calls', () => {
  test('a failed call is its errno, named, with the call that failed', async () => {
    expect(await agent.ask({ op: 'munmap', proc, addr: '0x1', len: '0x1000' })).toMatchObject({ ok: false, errno: 'EINVAL', call: 'munmap' });
    expect(await agent.ask({ op: 'read_file', proc, path: '/nonexistent' })).toMatchObject({ ok: false, errno: 'ENOENT', call: 'open' });
    expect(await agent.ask({ op: 'close', proc, fd: 12345 })).toMatchObject({ ok: false, errno: 'EBADF', call: 'close' });
  });

  test("the agent's own descriptors behave as closed (EBADF), so a test cannot cut the agent's line", async () => {
    await serving(); // the process has set itself up once it has answered
    // a fresh process has stdin, stdout, stderr, and the agent's socket, pagemap and clear_refs out of the way of the test's
    const fds = (await readdir(`/proc/${proc}/fd`)).map(Number).filter((fd) => fd > 2);
    expect(fds).toHaveLength(3);
    for (const fd of fds) {
      expect(fd).toBeGreaterThan(100);
      expect(await agent.ask({ op: 'close', proc, fd })).toMatchObject({ ok: false, errno: 'EBADF', call: 'close' });
      expect(await agent.ask({ op: 'ftruncate', proc, fd, len: '0x0' })).toMatchObject({ ok: false, errno: 'EBADF' });
    }
    await serving();
  });

  test('mmap, a store, pagemap and clear_refs round trip', async () => {
    const addr = await mapAnon(2 * PAGE, PROT_READ | PROT_WRITE);
    expect(await agent.ask({ op: 'write', proc, addr, data: '2a' })).toEqual(expect.objectContaining({ ok: true }));
    const pagemap = await agent.ask({ op: 'pagemap', proc, addr, pages: 2 });
    const [first, second] = (pagemap['entries'] as string[]).map((e) => BigInt(e));
    expect(first! >> 63n).toBe(1n); // present
    expect(second! & ~PM_SOFT_DIRTY).toBe(0n); // never touched (soft-dirty where the kernel has it: a new area)
    expect(await agent.ask({ op: 'write_file', proc, path: '/proc/self/clear_refs', data: Buffer.from('4').toString('hex') })).toMatchObject({
      ok: true,
      written: 1,
    });
    expect(await agent.ask({ op: 'read', proc, addr, len: 2 })).toMatchObject({ ok: true, data: '2a00' });
  });

  test('PAGEMAP_SCAN: regions of the scanned range, and EFAULT for an unmapped vector', async () => {
    const addr = await mapAnon(2 * PAGE, PROT_READ | PROT_WRITE);
    await agent.ask({ op: 'write', proc, addr, data: '01' });
    const scan = { op: 'pagemap_scan', proc, start: addr, end: plus(addr, 2 * PAGE), flags: '0x0', max_pages: '0x0' };
    const masks = { category_inverted: '0x0', category_mask: '0x0', category_anyof_mask: '0x8', return_mask: '0x8' };
    expect(await agent.ask({ ...scan, ...masks, vec_len: 4 })).toEqual(
      expect.objectContaining({ ok: true, ret: 1, walk_end: plus(addr, 2 * PAGE), regions: packed({ start: addr, end: plus(addr, PAGE), categories: 8 }) }),
    );
    expect(await agent.ask({ ...scan, ...masks, vec_len: 1, bad_vec: true })).toMatchObject({ ok: false, errno: 'EFAULT', call: 'ioctl' });
  });

  test("page_readings: each page's pagemap entry, then PAGEMAP_SCAN of the page alone, as pagemap and pagemap_scan answer them", async () => {
    const addr = await mapAnon(2 * PAGE, PROT_READ | PROT_WRITE);
    await agent.ask({ op: 'write', proc, addr, data: '01' });
    const masks = { flags: '0x0', max_pages: '0x0', category_inverted: '0x0', category_mask: '0x0', category_anyof_mask: '0x8', return_mask: '0x8', vec_len: 1 };
    const one = async (at: string) => ({
      pagemap: withoutId(await agent.ask({ op: 'pagemap', proc, addr: at, pages: 1 })),
      scan: withoutId(await agent.ask({ op: 'pagemap_scan', proc, start: at, end: plus(at, PAGE), ...masks })),
    });
    const expected = [await one(addr), await one(plus(addr, PAGE))];
    expect(expected[0]!.scan).toMatchObject({ ret: 1 });
    expect(expected[1]!.scan).toMatchObject({ ret: 0 });
    expect(await agent.ask({ op: 'page_readings', proc, addr, pages: 2, scan: true, ...masks })).toEqual({ id: expect.any(Number), ok: true, readings: expected });
    expect(await agent.ask({ op: 'page_readings', proc, addr, pages: 2 })).toEqual({ id: expect.any(Number), ok: true, readings: expected.map(({ pagemap }) => ({ pagemap })) });
  });

  test('PAGEMAP_SCAN: null_vec passes NULL (EINVAL with a vec_len, none without), flags and masks are whole u64s', async () => {
    const addr = await mapAnon(2 * PAGE, PROT_READ | PROT_WRITE);
    const scan = { op: 'pagemap_scan', proc, start: addr, end: plus(addr, 2 * PAGE), flags: '0x0', max_pages: '0xffffffffffffffff' };
    const masks = { category_inverted: '0x0', category_mask: '0x0', category_anyof_mask: '0x8', return_mask: '0x8' };
    expect(await agent.ask({ ...scan, ...masks, vec_len: 500, null_vec: true })).toMatchObject({ ok: false, errno: 'EINVAL', call: 'ioctl' });
    expect(await agent.ask({ ...scan, ...masks, vec_len: 0, null_vec: true })).toEqual(expect.objectContaining({ ok: true, ret: 0, walk_end: plus(addr, 2 * PAGE), regions: '' }));
    // ~0 and a bit above the 32 a C int holds reach the kernel whole: EINVAL (PM_SCAN_FLAGS, PM_SCAN_CATEGORIES)
    expect(await agent.ask({ ...scan, ...masks, flags: '0xffffffffffffffff', vec_len: 1 })).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(await agent.ask({ ...scan, ...masks, category_inverted: '0x10000000000', vec_len: 1 })).toMatchObject({ ok: false, errno: 'EINVAL' });
  });

  test('pagemap_scan_until: an ioctl from each walk_end until the regions add up to the pages asked for; a failing one ends it', async () => {
    // pages 0, 2, 4 and 6 of eight present: one region a page, two an ioctl
    const addr = await mapAnon(8 * PAGE, PROT_READ | PROT_WRITE);
    await agent.ask({ op: 'increment', proc, addrs: [0, 2, 4, 6].map((p) => plus(addr, p * PAGE)) });
    const scan = { op: 'pagemap_scan_until', proc, start: addr, end: plus(addr, 8 * PAGE), flags: '0x0', max_pages: '0x0', vec_len: 2 };
    const masks = { category_inverted: '0x0', category_mask: '0x8', category_anyof_mask: '0x0', return_mask: '0x8' };
    const region = (p: number) => ({ start: plus(addr, p * PAGE), end: plus(addr, (p + 1) * PAGE), categories: 8 });
    const reply = await agent.ask({ ...scan, ...masks, pages: '0x3' });
    expect(reply['scans']).toEqual([
      // a full vector: the walk ends where the next region starts
      { ok: true, ret: 2, walk_end: plus(addr, 4 * PAGE), regions: packed(region(0), region(2)) },
      { ok: true, ret: 2, walk_end: plus(addr, 8 * PAGE), regions: packed(region(4), region(6)) },
    ]);
    // an ioctl that ends at end ends the loop, found or not; so does a count of 0
    expect(((await agent.ask({ ...scan, ...masks, pages: '0x64' }))['scans'] as unknown[]).length).toBe(2);
    expect(await agent.ask({ ...scan, ...masks, pages: '0x0' })).toMatchObject({ scans: [] });
    expect(await agent.ask({ ...scan, ...masks, flags: '0xffffffffffffffff', pages: '0x1' })).toMatchObject({
      scans: [{ ok: false, errno: 'EINVAL', call: 'ioctl' }],
    });
  });

  test('descriptors where the kernel has no mmconform_pgwalk module (this machine): ENOTTY, and the agent serves on', async (ctx) => {
    if (existsSync('/dev/mmconform_pgwalk')) return ctx.skip('this kernel has the module loaded');
    const addr = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    expect(await agent.ask({ op: 'descriptors', proc, addr })).toEqual({ id: expect.any(Number), ok: false, errno: 'ENOTTY', call: 'ioctl' });
    await serving();
  });

  test('descriptors_of without the module: ENOTTY for the request as a whole, and the agent serves on', async (ctx) => {
    if (existsSync('/dev/mmconform_pgwalk')) return ctx.skip('this kernel has the module loaded');
    const addr = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    expect(await agent.ask({ op: 'descriptors_of', proc, addrs: [addr, plus(addr, PAGE)] })).toEqual({ id: expect.any(Number), ok: false, errno: 'ENOTTY', call: 'ioctl' });
    await serving();
  });

  test('aligned_alloc maps a block of its own, aligned, even a small one; free unmaps it whole', async () => {
    const readSelfMaps = async () => hexBytes((await agent.ask({ op: 'read_file', proc, path: '/proc/self/maps' }))['data']).toString().trim().split('\n');
    const holds = (l: string, addr: bigint) => {
      const [lo, hi] = l.split(/[- ]/);
      return BigInt(`0x${lo}`) <= addr && addr < BigInt(`0x${hi}`);
    };
    for (const [alignment, size] of [['0x200000', '0x200000'], ['0x1000', '0x1000'], ['0x1000', '0x10']] as const) {
      const reply = await agent.ask({ op: 'aligned_alloc', proc, alignment, size });
      const addr = BigInt(reply['addr'] as string);
      expect(addr % BigInt(alignment)).toBe(0n);
      expect((await readSelfMaps()).some((l) => holds(l, addr)), `a mapping holds ${reply['addr']}`).toBe(true);
      expect(await agent.ask({ op: 'free', proc, addr: reply['addr'] })).toMatchObject({ ok: true });
      expect((await readSelfMaps()).some((l) => holds(l, addr))).toBe(false);
    }
    expect(await agent.ask({ op: 'free', proc, addr: '0x1000' })).toMatchObject({ ok: false, errno: 'EINVAL' });
  });

  test("the agent's own buffers never merge with the test's mappings (smaps blocks start where the test's do)", async () => {
    const small = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    const big = await mapAnon(4 << 20, PROT_READ | PROT_WRITE);
    // a 4 MiB store and a 4 MiB load make the agent map buffers of its own
    expect(await agent.ask({ op: 'write', proc, addr: big, data: '11'.repeat(4 << 20) })).toMatchObject({ ok: true });
    expect(await agent.ask({ op: 'read', proc, addr: big, len: 4 << 20 })).toMatchObject({ ok: true });
    const after = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    const smaps = hexBytes((await agent.ask({ op: 'read_file', proc, path: '/proc/self/smaps' }))['data']).toString();
    const ours = [small, big, after].map((a) => BigInt(a));
    const blocks = [...smaps.matchAll(/^([0-9a-f]+)-([0-9a-f]+) [^\n]*\n(?:[^\n]*\n)*?VmFlags: ([^\n]*)/gm)].map((m) => ({
      start: BigInt(`0x${m[1]}`),
      end: BigInt(`0x${m[2]}`),
      flags: m[3]!.trim().split(' '),
    }));
    for (const addr of ours) {
      const block = blocks.find((b) => b.start <= addr && addr < b.end);
      expect(block?.flags).not.toContain('dd'); // the agent marks its own with MADV_DONTDUMP
      // merging among the test's own areas is the kernel's business; the block starts at one of them
      expect(ours).toContain(block?.start);
    }
    expect(blocks.some((b) => b.flags.includes('dd'))).toBe(true);
  });
});

describe('loads and stores that fault are reported, and the process goes on', () => {
  test('a store to a PROT_READ page: SIGSEGV at its address', async () => {
    const addr = await mapAnon(PAGE, PROT_READ);
    expect(await agent.ask({ op: 'write', proc, addr: plus(addr, 5), data: '01' })).toEqual({ id: expect.any(Number), ok: true, signal: 'SIGSEGV', addr: plus(addr, 5) });
    expect(await agent.ask({ op: 'read', proc, addr, len: 1 })).toMatchObject({ ok: true, data: '00' });
    expect(await agent.ask({ op: 'mprotect', proc, addr, len: '0x1000', prot: PROT_READ | PROT_WRITE })).toMatchObject({ ok: true });
    expect(await agent.ask({ op: 'write', proc, addr, data: '07' })).toEqual({ id: expect.any(Number), ok: true });
    expect(await agent.ask({ op: 'read', proc, addr, len: 1 })).toMatchObject({ ok: true, data: '07' });
  });

  test('a load of an unmapped address: SIGSEGV', async () => {
    expect(await agent.ask({ op: 'read', proc, addr: '0x10', len: 4 })).toMatchObject({ ok: true, signal: 'SIGSEGV', addr: '0x10' });
    await serving();
  });

  test('a store that faults part way: the bytes before it are stored, in order', async () => {
    const addr = await mapAnon(2 * PAGE, PROT_READ | PROT_WRITE);
    await agent.ask({ op: 'mprotect', proc, addr: plus(addr, PAGE), len: '0x1000', prot: PROT_READ });
    const reply = await agent.ask({ op: 'write', proc, addr: plus(addr, PAGE - 2), data: '01020304' });
    expect(reply).toMatchObject({ signal: 'SIGSEGV', addr: plus(addr, PAGE) });
    expect(await agent.ask({ op: 'read', proc, addr: plus(addr, PAGE - 2), len: 4 })).toMatchObject({ data: '01020000' });
  });

  test('a load beyond the end of a file: SIGBUS', async () => {
    const fd = (await agent.ask({ op: 'memfd_create', proc, name: 'sigbus', flags: 0 }))['fd'];
    const reply = await agent.ask({ op: 'mmap', proc, addr: '0x0', len: '0x1000', prot: PROT_READ, flags: MAP_SHARED, fd, offset: '0x0' });
    expect(await agent.ask({ op: 'read', proc, addr: reply['addr'], len: 1 })).toMatchObject({ ok: true, signal: 'SIGBUS', addr: reply['addr'] });
    await serving();
  });
});

describe('fill and increment: memset() and p[0]++ in the process', () => {
  test('fill: every byte of the range, none beyond; white space in the lists the JSON allows', async () => {
    const addr = await mapAnon(3 * PAGE, PROT_READ | PROT_WRITE);
    expect(await agent.ask({ op: 'fill', proc, addr: plus(addr, 5), len: `0x${(2 * PAGE).toString(16)}`, byte: 0xab })).toEqual({ id: expect.any(Number), ok: true });
    const data = hexBytes((await agent.ask({ op: 'read', proc, addr, len: 3 * PAGE }))['data']);
    expect([data[4], data[5], data[2 * PAGE + 4], data[2 * PAGE + 5]]).toEqual([0, 0xab, 0xab, 0]);
    expect(data.subarray(5, 2 * PAGE + 5).every((b) => b === 0xab)).toBe(true);
    expect(await agent.ask({ op: 'fill', proc, addr, len: '0x0', byte: 1 })).toEqual({ id: expect.any(Number), ok: true });
    agent.send(`{"id": 7, "op": "increment", "proc": ${proc}, "addrs": [ "${addr}" ,\t"${addr}" ] }`);
    expect(await agent.next()).toEqual({ id: 7, ok: true });
    expect(await agent.ask({ op: 'read', proc, addr, len: 1 })).toMatchObject({ data: '02' });
  });

  test('fill that faults part way: the pages before are filled, the fault named at the first byte of its page', async () => {
    const addr = await mapAnon(2 * PAGE, PROT_READ | PROT_WRITE);
    await agent.ask({ op: 'mprotect', proc, addr: plus(addr, PAGE), len: '0x1000', prot: PROT_READ });
    const reply = await agent.ask({ op: 'fill', proc, addr: plus(addr, 8), len: '0x2000', byte: 7 });
    expect(reply).toEqual({ id: expect.any(Number), ok: true, signal: 'SIGSEGV', addr: plus(addr, PAGE) });
    expect(await agent.ask({ op: 'read', proc, addr: plus(addr, PAGE - 2), len: 4 })).toMatchObject({ data: '07070000' });
    // the first byte faulting: the fill's own address
    expect(await agent.ask({ op: 'fill', proc, addr: plus(addr, PAGE + 3), len: '0x10', byte: 7 })).toMatchObject({ signal: 'SIGSEGV', addr: plus(addr, PAGE + 3) });
  });

  test('increment: a load then a store at each address in turn, 0xff wrapping to 0, a repeated address counted twice', async () => {
    const addr = await mapAnon(2 * PAGE, PROT_READ | PROT_WRITE);
    await agent.ask({ op: 'write', proc, addr, data: 'ff' });
    const addrs = [addr, plus(addr, 1), plus(addr, PAGE), plus(addr, 1)];
    expect(await agent.ask({ op: 'increment', proc, addrs })).toEqual({ id: expect.any(Number), ok: true });
    expect(await agent.ask({ op: 'read', proc, addr, len: 2 })).toMatchObject({ data: '0002' });
    expect(await agent.ask({ op: 'read', proc, addr: plus(addr, PAGE), len: 1 })).toMatchObject({ data: '01' });
    expect(await agent.ask({ op: 'increment', proc, addrs: [] })).toEqual({ id: expect.any(Number), ok: true });
  });

  test('increment stops at the first fault: a PROT_READ page faults on the store, an unmapped one on the load; nothing after is touched', async () => {
    const addr = await mapAnon(2 * PAGE, PROT_READ | PROT_WRITE);
    await agent.ask({ op: 'mprotect', proc, addr: plus(addr, PAGE), len: '0x1000', prot: PROT_READ });
    expect(await agent.ask({ op: 'increment', proc, addrs: [addr, plus(addr, PAGE + 9), plus(addr, 1)] })).toEqual({
      id: expect.any(Number),
      ok: true,
      signal: 'SIGSEGV',
      addr: plus(addr, PAGE + 9),
    });
    expect(await agent.ask({ op: 'increment', proc, addrs: [plus(addr, 2), '0x10', plus(addr, 1)] })).toMatchObject({ signal: 'SIGSEGV', addr: '0x10' });
    expect(await agent.ask({ op: 'read', proc, addr, len: 3 })).toMatchObject({ data: '010001' });
    expect(await agent.ask({ op: 'read', proc, addr: plus(addr, PAGE + 9), len: 1 })).toMatchObject({ data: '00' });
  });

  test('on worker threads once the process has a userfaultfd: under async uffd-wp each resolves what it stores to, and faults are still reported', async (ctx) => {
    const fd = (await agent.ask({ op: 'userfaultfd', proc, flags: O_CLOEXEC | O_NONBLOCK }))['fd'];
    if (typeof fd !== 'number') return ctx.skip('userfaultfd(2) is not permitted here');
    const features = `0x${(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED).toString(16)}`;
    if ((await agent.ask({ op: 'uffdio_api', proc, fd, api: '0xaa', features }))['ok'] !== true) return ctx.skip('no async uffd-wp on this kernel');
    const addr = await mapAnon(4 * PAGE, PROT_READ | PROT_WRITE);
    const range = { proc, fd, start: addr, len: '0x4000' };
    expect(await agent.ask({ op: 'uffdio_register', ...range, mode: '0x2' })).toMatchObject({ ok: true });
    expect(await agent.ask({ op: 'uffdio_writeprotect', ...range, mode: '0x1' })).toMatchObject({ ok: true });
    expect(await agent.ask({ op: 'fill', proc, addr: plus(addr, PAGE - 1), len: '0x2', byte: 1 })).toEqual({ id: expect.any(Number), ok: true });
    expect(await agent.ask({ op: 'increment', proc, addrs: [plus(addr, 3 * PAGE)] })).toEqual({ id: expect.any(Number), ok: true });
    const entries = ((await agent.ask({ op: 'pagemap', proc, addr, pages: 4 }))['entries'] as string[]).map((e) => (BigInt(e) & PM_UFFD_WP) !== 0n);
    expect(entries).toEqual([false, false, true, false]);
    await agent.ask({ op: 'mprotect', proc, addr, len: '0x1000', prot: PROT_READ });
    expect(await agent.ask({ op: 'fill', proc, addr, len: '0x1000', byte: 1 })).toMatchObject({ signal: 'SIGSEGV', addr });
    expect(await agent.ask({ op: 'increment', proc, addrs: [plus(addr, 2)] })).toMatchObject({ signal: 'SIGSEGV', addr: plus(addr, 2) });
    expect(await agent.ask({ op: 'read', proc, addr: plus(addr, PAGE - 1), len: 2 })).toMatchObject({ data: '0101' });
  });
});

describe('bytes with runs: "*XXcount;" for a run of equal bytes, both ways', () => {
  test('a write takes runs; a read writes a run of four or more equal bytes so; a run past 32 MiB, or of none, is a bad request', async () => {
    const addr = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    expect(await agent.ask({ op: 'write', proc, addr, data: '01*ab3;02*cd5;' })).toEqual({ id: expect.any(Number), ok: true });
    expect(await agent.ask({ op: 'read', proc, addr, len: 12 })).toEqual({ id: expect.any(Number), ok: true, data: '01ababab02*cd5;0000' });
    expect((await agent.ask({ op: 'write', proc, addr, data: '*0033554433;' }))['error']).toBe('field "data": more than 33554432 bytes');
    expect((await agent.ask({ op: 'write', proc, addr, data: '*000;' }))['error']).toMatch(/^field "data": expected bytes as a hex string/);
  });
});

describe('write_each: a loop of the program\'s stores in one request', () => {
  test('the bytes at each address in turn, then the first fault, which names its address and ends the loop', async () => {
    const addr = await mapAnon(3 * PAGE, PROT_READ | PROT_WRITE);
    expect(await agent.ask({ op: 'mprotect', proc, addr: plus(addr, 2 * PAGE), len: '0x1000', prot: PROT_READ })).toMatchObject({ ok: true });
    const each = { op: 'write_each', proc, addrs: [plus(addr, 5), plus(addr, PAGE + 5)], data: 'a1b2' };
    expect(await agent.ask(each)).toEqual({ id: expect.any(Number), ok: true });
    const read = async (at: string) => (await agent.ask({ op: 'read', proc, addr: at, len: 2 }))['data'];
    expect([await read(plus(addr, 5)), await read(plus(addr, PAGE + 5))]).toEqual(['a1b2', 'a1b2']);
    const faulting = { ...each, addrs: [plus(addr, 9), plus(addr, 2 * PAGE + 1), plus(addr, PAGE + 9)], data: 'c3' };
    expect(await agent.ask(faulting)).toEqual({ id: expect.any(Number), ok: true, signal: 'SIGSEGV', addr: plus(addr, 2 * PAGE + 1) });
    expect([await read(plus(addr, 8)), await read(plus(addr, PAGE + 8))]).toEqual(['00c3', '0000']);
  });
});

describe('check_each: a loop of checks of a u64, and its write back, in one request', () => {
  test('each address in turn while its value is the one expected; a value other than expected, or a fault, ends it there', async () => {
    const addr = await mapAnon(3 * PAGE, PROT_READ | PROT_WRITE);
    expect(await agent.ask({ op: 'write', proc, addr: plus(addr, PAGE), data: '0700000000000000' })).toMatchObject({ ok: true });
    const each = (addrs: string[], expect: string[]) => agent.ask({ op: 'check_each', proc, addrs, expect });
    expect(await each([addr, plus(addr, PAGE)], ['0x0', '0x7'])).toEqual({ id: expect.any(Number), ok: true, done: 2 });
    expect(await each([addr, plus(addr, PAGE), plus(addr, 2 * PAGE)], ['0x0', '0x8', '0x0'])).toEqual({ id: expect.any(Number), ok: true, done: 1, value: '0x7' });
    // the store back is a write: a read-only page faults there, its load made
    expect(await agent.ask({ op: 'mprotect', proc, addr: plus(addr, 2 * PAGE), len: '0x1000', prot: PROT_READ })).toMatchObject({ ok: true });
    expect(await each([addr, plus(addr, 2 * PAGE + 8)], ['0x0', '0x0'])).toEqual({ id: expect.any(Number), ok: true, done: 1, signal: 'SIGSEGV', addr: plus(addr, 2 * PAGE + 8) });
    expect((await each([addr], []))['error']).toBe('fields "addrs" and "expect": one value an address');
    // without store_back, loads alone: the read-only page gives its value
    expect(await agent.ask({ op: 'check_each', proc, addrs: [plus(addr, 2 * PAGE + 8)], expect: ['0x0'], store_back: false })).toEqual({ id: expect.any(Number), ok: true, done: 1 });
  });
});

describe("fill_each and check_fill: a loop of memsets, each address its byte, and the byte loop that checks them", () => {
  test('each address filled in turn, then checked: the first other byte (its offset, the value), or a fault at its page, ends the check there', async () => {
    const addr = await mapAnon(3 * PAGE, PROT_READ | PROT_WRITE);
    const pages = [addr, plus(addr, PAGE), plus(addr, 2 * PAGE)];
    expect(await agent.ask({ op: 'fill_each', proc, addrs: pages.slice(0, 2), len: '0x1000', bytes: '0a0b' })).toEqual({ id: expect.any(Number), ok: true });
    const check = (addrs: string[], bytes: string) => agent.ask({ op: 'check_fill', proc, addrs, len: '0x1000', bytes });
    expect(await check(pages.slice(0, 2), '0a0b')).toEqual({ id: expect.any(Number), ok: true, done: 2 });
    expect(await agent.ask({ op: 'write', proc, addr: plus(addr, PAGE + 0x123), data: '07' })).toMatchObject({ ok: true });
    expect(await check(pages, '0a0b00')).toEqual({ id: expect.any(Number), ok: true, done: 1, offset: '0x123', value: 7 });
    expect(await agent.ask({ op: 'mprotect', proc, addr: pages[2], len: '0x1000', prot: 0 })).toMatchObject({ ok: true });
    expect(await check([pages[0]!, pages[2]!], '0a00')).toEqual({ id: expect.any(Number), ok: true, done: 1, signal: 'SIGSEGV', addr: pages[2] });
    // a fill that faults names its page's first byte; the pages before it are filled
    expect(await agent.ask({ op: 'fill_each', proc, addrs: [pages[0], plus(addr, 2 * PAGE + 8)], len: '0x10', bytes: '0c0d' })).toEqual({
      id: expect.any(Number),
      ok: true,
      signal: 'SIGSEGV',
      addr: plus(addr, 2 * PAGE + 8),
    });
    expect(await agent.ask({ op: 'read', proc, addr, len: 17 })).toMatchObject({ data: '*0c16;0a' });
    expect((await check(pages, '0a'))['error']).toBe('fields "addrs" and "bytes": one byte an address');
  });
});

describe('invert: the byte loop `p[b] = ~p[b]` over a range', () => {
  test('each byte inverted in place, unaligned ends too; a read-only page faults at its first byte, the pages before it inverted', async () => {
    const addr = await mapAnon(2 * PAGE, PROT_READ | PROT_WRITE);
    expect(await agent.ask({ op: 'write', proc, addr: plus(addr, 1), data: '00ff0f' })).toMatchObject({ ok: true });
    expect(await agent.ask({ op: 'invert', proc, addr: plus(addr, 1), len: '0x3' })).toEqual({ id: expect.any(Number), ok: true });
    expect(await agent.ask({ op: 'read', proc, addr, len: 5 })).toMatchObject({ data: '00ff00f000' });
    expect(await agent.ask({ op: 'mprotect', proc, addr: plus(addr, PAGE), len: '0x1000', prot: PROT_READ })).toMatchObject({ ok: true });
    expect(await agent.ask({ op: 'invert', proc, addr: plus(addr, 3), len: '0x1000' })).toEqual({ id: expect.any(Number), ok: true, signal: 'SIGSEGV', addr: plus(addr, PAGE) });
    expect(await agent.ask({ op: 'read', proc, addr, len: 5 })).toMatchObject({ data: '00ff000fff' });
    expect(await agent.ask({ op: 'read', proc, addr: plus(addr, PAGE - 1), len: 2 })).toMatchObject({ data: 'ff00' });
  });
});

describe("workers: a process with a userfaultfd does not grow without end", () => {
  /** mappings in the agent's own region (buf.c's AGENT_REGION) of at least `min` bytes */
  const agentMappings = async (min: number) =>
    (await readFile(`/proc/${proc}/maps`, 'utf8'))
      .split('\n')
      .map((l) => l.split(' ')[0]!.split('-').map((a) => BigInt(`0x${a || '0'}`)))
      .filter(([s = 0n, e = 0n]) => s >= 0x600000000000n && s < 0x700000000000n && e - s >= BigInt(min));

  test('a burst of stores runs on the workers it finds free, not on a new thread each', async (ctx) => {
    if (typeof (await agent.ask({ op: 'userfaultfd', proc, flags: O_CLOEXEC | O_NONBLOCK }))['fd'] !== 'number') return ctx.skip('userfaultfd(2) is not permitted here');
    const addr = await mapAnon(256 * PAGE, PROT_READ | PROT_WRITE);
    const ids = send(...Array.from({ length: 256 }, (_, i) => ({ op: 'write', proc, addr: plus(addr, i * PAGE), data: '01' })));
    expect(await replies(ids.length)).toHaveLength(256);
    // The serving thread, the two workers it starts with, and one more each time every worker was
    // mid-store at once (how often is the scheduler's: 3 to 6 threads in all, measured idle and on
    // loaded cores). A new thread for each store queued beyond the idle workers made 17 to 36.
    expect((await readdir(`/proc/${proc}/task`)).length).toBeLessThanOrEqual(8);
  });

  test('a worker gives back the buffer a large reply grew', async (ctx) => {
    if (typeof (await agent.ask({ op: 'userfaultfd', proc, flags: O_CLOEXEC | O_NONBLOCK }))['fd'] !== 'number') return ctx.skip('userfaultfd(2) is not permitted here');
    const addr = await mapAnon(1024 * PAGE, PROT_READ | PROT_WRITE);
    // bytes no two alike in a row, so the reply is all hex digits, not runs
    const bytes = Buffer.from(Array.from({ length: 16 * PAGE }, (_, i) => (i * 7) & 0xff)).toString('hex');
    for (let at = 0; at < 1024; at += 16) expect(await agent.ask({ op: 'write', proc, addr: plus(addr, at * PAGE), data: bytes })).toMatchObject({ ok: true });
    expect(((await agent.ask({ op: 'read', proc, addr, len: 1024 * PAGE }))['data'] as string).length).toBe(2 * 1024 * PAGE);
    expect(await agentMappings(1 << 20)).toEqual([]);
  });
});

describe('userfaultfd: missing faults, resolved by the process itself', () => {
  /** A userfaultfd with `flags`, past UFFDIO_API (no features), and two private anonymous pages registered MISSING; null where userfaultfd(2) is refused. */
  async function missing(flags: number): Promise<{ fd: number; addr: string } | null> {
    const fd = (await agent.ask({ op: 'userfaultfd', proc, flags }))['fd'];
    if (typeof fd !== 'number') return null;
    expect(await agent.ask({ op: 'uffdio_api', proc, fd, api: '0xaa', features: '0x0' })).toMatchObject({ ok: true });
    const addr = await mapAnon(2 * PAGE, PROT_READ | PROT_WRITE);
    expect(await agent.ask({ op: 'uffdio_register', proc, fd, start: addr, len: '0x2000', mode: '0x1' })).toMatchObject({ ok: true });
    return { fd, addr };
  }

  test("uffdio_zeropage and uffdio_copy: the argument's progress field whether or not the ioctl failed, -EEXIST in two's complement", async (ctx) => {
    const uffd = await missing(O_CLOEXEC | O_NONBLOCK);
    if (!uffd) return ctx.skip('userfaultfd(2) is not permitted here');
    const { fd, addr } = uffd;
    const zeropage = { op: 'uffdio_zeropage', proc, fd, start: addr, len: '0x1000', mode: '0x0' };
    expect(await agent.ask(zeropage)).toEqual({ id: expect.any(Number), ok: true, zeropage: '0x1000' });
    expect(await agent.ask(zeropage)).toEqual({ id: expect.any(Number), ok: false, errno: 'EEXIST', call: 'ioctl', zeropage: '0xffffffffffffffef' });
    const src = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    const copy = { op: 'uffdio_copy', proc, fd, src, len: '0x1000', mode: '0x0' };
    expect(await agent.ask({ ...copy, dst: plus(addr, PAGE) })).toEqual({ id: expect.any(Number), ok: true, copy: '0x1000' });
    expect(await agent.ask({ ...copy, dst: addr })).toMatchObject({ ok: false, errno: 'EEXIST', copy: '0xffffffffffffffef' });
    // a range the ioctl refuses before it copies: the kernel never wrote the field, so the reply has none
    expect(await agent.ask({ ...copy, dst: plus(addr, 1) })).toEqual({ id: expect.any(Number), ok: false, errno: 'EINVAL', call: 'ioctl' });
    expect(await agent.ask({ ...copy, dst: addr, fd: 12345 })).toEqual({ id: expect.any(Number), ok: false, errno: 'EBADF', call: 'ioctl' });
    expect(await agent.ask({ op: 'uffdio_wake', proc, fd, start: addr, len: '0x2000' })).toEqual({ id: expect.any(Number), ok: true });
  });

  test('uffd_read: EAGAIN with nothing pending on an O_NONBLOCK descriptor; EINVAL for one that gives less than a message; EBADF for none', async (ctx) => {
    const uffd = await missing(O_CLOEXEC | O_NONBLOCK);
    if (!uffd) return ctx.skip('userfaultfd(2) is not permitted here');
    expect(await agent.ask({ op: 'uffd_read', proc, fd: uffd.fd })).toEqual({ id: expect.any(Number), ok: false, errno: 'EAGAIN', call: 'read' });
    const devnull = (await agent.ask({ op: 'open', proc, path: '/dev/null', flags: O_RDWR }))['fd'];
    expect(await agent.ask({ op: 'uffd_read', proc, fd: devnull })).toMatchObject({ ok: false, errno: 'EINVAL', call: 'read' });
    expect(await agent.ask({ op: 'uffd_read', proc, fd: 12345 })).toMatchObject({ ok: false, errno: 'EBADF', call: 'read' });
  });

  test('a blocking uffd_read is answered once a fault comes, the requests after it served meanwhile; uffdio_copy resolves the fault', async (ctx) => {
    const uffd = await missing(O_CLOEXEC);
    if (!uffd) return ctx.skip('userfaultfd(2) is not permitted here');
    const { fd, addr } = uffd;
    const src = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    const [message, store] = send({ op: 'uffd_read', proc, fd }, { op: 'write', proc, addr: plus(src, 7), data: '5a' });
    expect(await agent.next()).toEqual({ id: store, ok: true });
    // a load of the missing page waits in its fault, which the read reports
    const [load] = send({ op: 'read', proc, addr: plus(addr, PAGE + 7), len: 1 });
    expect(await agent.next()).toEqual({ id: message, ok: true, event: 'PAGEFAULT', flags: '0x0', address: plus(addr, PAGE), ptid: 0 });
    const [copy] = send({ op: 'uffdio_copy', proc, fd, dst: plus(addr, PAGE), src, len: '0x1000', mode: '0x0' });
    expect(await replies(2)).toEqual(expect.arrayContaining([{ id: copy, ok: true, copy: '0x1000' }, { id: load, ok: true, data: '5a' }]));
  });

  test('uffd_serve: the handler thread in the proc resolves each fault as the port would, writes each call down as a step, and stops at the pipe', async (ctx) => {
    const uffd = await missing(O_CLOEXEC | O_NONBLOCK);
    if (!uffd) return ctx.skip('userfaultfd(2) is not permitted here');
    const { fd, addr } = uffd;
    const src = await mapAnon(2 * PAGE, PROT_READ | PROT_WRITE);
    expect(await agent.ask({ op: 'write', proc, addr: plus(src, PAGE + 3), data: '77' })).toEqual({ id: expect.any(Number), ok: true });
    const [pipe, wr] = (await agent.ask({ op: 'pipe2', proc, flags: O_CLOEXEC | O_NONBLOCK }))['fds'] as [number, number];
    const serve = { op: 'uffd_serve', proc, fd, pipe, page_size: '0x1000', dst: addr, src, dst_alias: '0x0', size: '0x2000', missing: 'copy', move_len: '0x1000' };
    expect(await agent.ask(serve)).toEqual({ id: expect.any(Number), ok: true });
    expect(await agent.ask(serve)).toMatchObject({ ok: false, errno: 'EBUSY', call: 'uffd_serve' });
    // a load of the missing page waits in its fault until the handler has copied the page in
    expect(await agent.ask({ op: 'read', proc, addr: plus(addr, PAGE + 3), len: 1 })).toEqual({ id: expect.any(Number), ok: true, data: '77' });
    expect(await agent.ask({ op: 'write_fd', proc, fd: wr, data: '01' })).toMatchObject({ ok: true });
    const steps: Json[] = [];
    for (let ended = false; !ended; ) {
      const reply = await agent.ask({ op: 'uffd_serve_steps', proc });
      steps.push(...(reply['steps'] as Json[]));
      ended = reply['ended'] === true;
    }
    const poll = { req: { op: 'poll', fds: [fd, pipe], events: [1, 1], timeout: -1 } };
    expect(steps).toEqual([
      { ...poll, rep: { ok: true, revents: [1, 0] } },
      { req: { op: 'uffd_read', fd }, rep: { ok: true, event: 'PAGEFAULT', flags: '0x0', address: plus(addr, PAGE), ptid: 0 } },
      { req: { op: 'uffdio_copy', fd, dst: plus(addr, PAGE), src: plus(src, PAGE), len: '0x1000', mode: '0x0' }, rep: { ok: true, copy: '0x1000' } },
      { ...poll, rep: { ok: true, revents: [0, 1] } },
      { req: { op: 'read_fd', fd: pipe, count: 1 }, rep: { ok: true, data: '01' } },
    ]);
    // stopped and told: another may start
    expect(await agent.ask({ op: 'uffd_serve_steps', proc })).toEqual({ id: expect.any(Number), ok: true, ended: true, steps: [] });
  });

  test('uffd_serve stops after a reply the port is to judge: a fault past the area is left to it', async (ctx) => {
    const uffd = await missing(O_CLOEXEC | O_NONBLOCK);
    if (!uffd) return ctx.skip('userfaultfd(2) is not permitted here');
    const { fd, addr } = uffd;
    const [pipe] = (await agent.ask({ op: 'pipe2', proc, flags: O_CLOEXEC | O_NONBLOCK }))['fds'] as [number, number];
    const serve = { op: 'uffd_serve', proc, fd, pipe, page_size: '0x1000', dst: addr, src: addr, dst_alias: '0x0', size: '0x1000', missing: 'copy', move_len: '0x1000' };
    expect(await agent.ask(serve)).toEqual({ id: expect.any(Number), ok: true });
    const [load] = send({ op: 'read', proc, addr: plus(addr, PAGE), len: 1 });
    const steps: Json[] = [];
    for (let ended = false; !ended; ) {
      const reply = await agent.ask({ op: 'uffd_serve_steps', proc });
      steps.push(...(reply['steps'] as Json[]));
      ended = reply['ended'] === true;
    }
    expect(steps.map((s) => (s['req'] as Json)['op'])).toEqual(['poll', 'uffd_read']);
    expect(steps[1]!['rep']).toMatchObject({ event: 'PAGEFAULT', address: plus(addr, PAGE) });
    // the load waits on: the port's own code resolves it
    const [zeropage] = send({ op: 'uffdio_zeropage', proc, fd, start: plus(addr, PAGE), len: '0x1000', mode: '0x0' });
    expect(await replies(2)).toEqual(expect.arrayContaining([{ id: zeropage, ok: true, zeropage: '0x1000' }, { id: load, ok: true, data: '00' }]));
  });

  test("check_each's on_signal: a SIGBUS handled as the test's handler says, its calls strided by address; skipped; past the actions, or after a call short of its len, the loop stops", async (ctx) => {
    const fd = (await agent.ask({ op: 'userfaultfd', proc, flags: O_CLOEXEC | O_NONBLOCK }))['fd'];
    if (typeof fd !== 'number') return ctx.skip('userfaultfd(2) is not permitted here');
    expect(await agent.ask({ op: 'uffdio_api', proc, fd, api: '0xaa', features: `0x${UFFD_FEATURE_SIGBUS.toString(16)}` })).toMatchObject({ ok: true });
    const addr = await mapAnon(4 * PAGE, PROT_READ | PROT_WRITE);
    expect(await agent.ask({ op: 'uffdio_register', proc, fd, start: addr, len: '0x4000', mode: '0x1' })).toMatchObject({ ok: true });
    const src = await mapAnon(4 * PAGE, PROT_READ | PROT_WRITE);
    for (let i = 0; i < 4; i++) expect(await agent.ask({ op: 'write', proc, addr: plus(src, i * PAGE + 8), data: '07' })).toMatchObject({ ok: true });
    const count = (i: number) => plus(addr, i * PAGE + 8);
    const copy = (dst: string, from: string, stride: string) => ({ op: 'uffdio_copy', fd, dst, src: from, len: '0x1000', mode: '0x0', stride: { dst: stride, src: stride } });
    const each = (first: number, n: number, onSignal: Json[]) =>
      agent.ask({ op: 'check_each', proc, addrs: Array.from({ length: n }, (_, i) => count(first + i)), expect: Array(n).fill('0x7'), on_signal: onSignal });
    const copied = (i: number, dst: string, rep: Json) => ({ req: { op: 'uffdio_copy', fd, dst, src: plus(src, i * PAGE), len: '0x1000', mode: '0x0' }, rep });
    // pages 0 and 1: each copied in at its SIGBUS, then checked (and stored back)
    expect(await each(0, 2, [{ calls: [copy(addr, src, '0x1000')] }])).toEqual({
      id: expect.any(Number),
      ok: true,
      done: 2,
      events: [0, 1].map((i) => ({ i, signal: 'SIGBUS', addr: count(i), steps: [copied(i, plus(addr, i * PAGE), { ok: true, copy: '0x1000' })] })),
    });
    // skipped: on to the next address, here the end
    expect(await each(2, 1, [{ skip: true }])).toEqual({ id: expect.any(Number), ok: true, done: 1, events: [{ i: 0, signal: 'SIGBUS', addr: count(2), skip: true }] });
    // a copy elsewhere leaves page 2 missing: its second SIGBUS is past the actions, and ends the loop there
    const elsewhere = [{ calls: [copy(plus(addr, 3 * PAGE), plus(src, 2 * PAGE), '0x0')] }];
    const once = { i: 0, signal: 'SIGBUS', addr: count(2) };
    expect(await each(2, 1, elsewhere)).toEqual({
      id: expect.any(Number),
      ok: true,
      done: 0,
      signal: 'SIGBUS',
      addr: count(2),
      events: [{ ...once, steps: [copied(2, plus(addr, 3 * PAGE), { ok: true, copy: '0x1000' })] }],
    });
    // the same copy again fails (EEXIST): the loop stops after it, for the port's code to judge
    expect(await each(2, 1, elsewhere)).toEqual({
      id: expect.any(Number),
      ok: true,
      done: 0,
      handler_stop: true,
      events: [{ ...once, steps: [copied(2, plus(addr, 3 * PAGE), { ok: false, errno: 'EEXIST', call: 'ioctl', copy: '0xffffffffffffffef' })] }],
    });
    expect((await each(2, 1, [{ calls: [] }]))['error']).toMatch(/on_signal.*an action/);
    expect((await each(2, 1, [{ calls: [{ op: 'no_such_op' }] }]))['error']).toMatch(/on_signal.*"op"/);
    expect((await each(2, 1, [{ calls: [{ op: 'uffdio_copy', stride: { dst: '0x1000' } }] }]))['error']).toMatch(/on_signal.*stride of "dst"/);
  });

  test('none of them can be repeated', async (ctx) => {
    const uffd = await missing(O_CLOEXEC | O_NONBLOCK);
    if (!uffd) return ctx.skip('userfaultfd(2) is not permitted here');
    const { fd, addr } = uffd;
    for (const body of [
      { op: 'uffdio_copy', fd, dst: addr, src: addr, len: '0x1000', mode: '0x0' },
      { op: 'uffdio_zeropage', fd, start: addr, len: '0x1000', mode: '0x0' },
      { op: 'uffdio_wake', fd, start: addr, len: '0x1000' },
      { op: 'uffd_read', fd },
    ]) {
      agent.send(`{"id":97,"op":"repeat","proc":${proc},"times":2,"body":[${JSON.stringify({ id: 0, proc, ...body })}],"expect":[{"ok":true}]}`);
      expect(await agent.next()).toEqual({ id: 97, ok: true, done: 0, step: 0, reply: { id: 0, error: `${body.op} cannot be repeated` } });
    }
  });
});

describe('repeat: a loop of requests run in the proc', () => {
  /** The request line of a repeat: `expect` as the raw reply texts, so they compare as the agent compares them. */
  function repeatLine(id: number, times: number, body: readonly Record<string, unknown>[], expect: readonly string[]): string {
    const steps = body.map((b) => JSON.stringify({ id: 0, proc, ...b }));
    return `{"id":${id},"op":"repeat","proc":${proc},"times":${times},"body":[${steps.join(',')}],"expect":[${expect.join(',')}]}`;
  }

  test('every round while each reply is the one expected; then the first that differs, where it came, and nothing after it', async () => {
    const addr = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    const body = [{ op: 'increment', addrs: [addr] }, { op: 'read', addr, len: 1 }, { op: 'increment', addrs: [plus(addr, 1)] }];
    // the byte read is 1, 2, 3...: the third round reads 3 where 2 was expected
    agent.send(repeatLine(90, 5, body, ['{"ok":true}', '{"ok":true,"data":"01"}', '{"ok":true}']));
    expect(await agent.next()).toEqual({ id: 90, ok: true, done: 1, step: 1, reply: { id: 0, ok: true, data: '02' } });
    // two increments of addr, one of addr + 1: the round stopped before its last request
    expect(await agent.ask({ op: 'read', proc, addr, len: 2 })).toMatchObject({ data: '0201' });
    agent.send(repeatLine(91, 300, [{ op: 'increment', addrs: [addr] }, { op: 'pagemap', addr, pages: 0 }], ['{"ok":true}', '{"ok":true,"entries":[]}']));
    expect(await agent.next()).toEqual({ id: 91, ok: true, done: 300 });
    expect(await agent.ask({ op: 'read', proc, addr, len: 1 })).toMatchObject({ data: '2e' }); // 2 + 300, mod 256
  });

  test('a request a loop may not repeat gets its error reply, which stops the loop; loads and stores once the process has a userfaultfd too', async (ctx) => {
    agent.send(repeatLine(92, 3, [{ op: 'mmap', addr: '0x0', len: '0x1000', prot: PROT_READ, flags: MAP_ANON_PRIVATE, fd: -1, offset: '0x0' }], ['{"ok":true}']));
    expect(await agent.next()).toEqual({ id: 92, ok: true, done: 0, step: 0, reply: { id: 0, error: 'mmap cannot be repeated' } });
    const addr = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    const fd = (await agent.ask({ op: 'userfaultfd', proc, flags: O_CLOEXEC | O_NONBLOCK }))['fd'];
    if (typeof fd !== 'number') return ctx.skip('userfaultfd(2) is not permitted here');
    agent.send(repeatLine(93, 3, [{ op: 'pagemap', addr, pages: 0 }, { op: 'fill', addr, len: '0x1', byte: 1 }], ['{"ok":true,"entries":[]}', '{"ok":true}']));
    expect(await agent.next()).toEqual({
      id: 93,
      ok: true,
      done: 0,
      step: 1,
      reply: { id: 0, error: 'fill cannot be repeated once the process has a userfaultfd' },
    });
    await serving();
  });

  test('a bad repeat is a bad request: one reply a request of the body, each an object, at most 64', async () => {
    const pagemap = { op: 'pagemap', addr: '0x0', pages: 0 };
    agent.send(repeatLine(94, 1, [pagemap], []));
    expect(await agent.next()).toMatchObject({ error: 'fields "body" and "expect": one reply a request' });
    agent.send(repeatLine(95, 1, [pagemap], ['"ok"']));
    expect(await agent.next()).toMatchObject({ error: 'field "expect": expected a list of objects' });
    agent.send(repeatLine(96, 1, Array(65).fill(pagemap), Array<string>(65).fill('{}')));
    expect(await agent.next()).toMatchObject({ error: 'field "body": more than 64 objects' });
    await serving();
  });
});

describe('files, directories and System V shared memory', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mmconform-agent-test-'));
    return () => rm(dir, { recursive: true, force: true });
  });

  test('write_fd: one write(2) at the file position, its count; stat: st_size', async () => {
    const path = join(dir, 'file');
    const fd = (await agent.ask({ op: 'open', proc, path, flags: O_RDWR | O_CREAT, mode: 0o600 }))['fd'];
    expect(await agent.ask({ op: 'write_fd', proc, fd, data: '6363' })).toEqual({ id: expect.any(Number), ok: true, written: 2 });
    expect(await agent.ask({ op: 'write_fd', proc, fd, data: '00'.repeat(3 * PAGE) })).toMatchObject({ written: 3 * PAGE });
    expect(await agent.ask({ op: 'write_fd', proc, fd, data: '' })).toMatchObject({ written: 0 });
    expect(await agent.ask({ op: 'stat', proc, path })).toEqual({ id: expect.any(Number), ok: true, size: `0x${(3 * PAGE + 2).toString(16)}` });
    expect((await readFile(path)).subarray(0, 3)).toEqual(Buffer.from([0x63, 0x63, 0]));
    expect(await agent.ask({ op: 'write_fd', proc, fd: 12345, data: '00' })).toMatchObject({ ok: false, errno: 'EBADF', call: 'write' });
    expect(await agent.ask({ op: 'stat', proc, path: join(dir, 'none') })).toMatchObject({ ok: false, errno: 'ENOENT', call: 'stat' });
  });

  test("write_fd to the agent's own descriptors: EBADF, and the agent's line is intact", async () => {
    await serving();
    for (const fd of (await readdir(`/proc/${proc}/fd`)).map(Number).filter((fd) => fd > 100))
      expect(await agent.ask({ op: 'write_fd', proc, fd, data: '7b7d0a' })).toMatchObject({ ok: false, errno: 'EBADF', call: 'write' });
    await serving();
  });

  test("list_dir: every entry but . and .., in readdir's order, names as bytes, d_type named", async () => {
    await writeFile(join(dir, 'a file'), '');
    await mkdir(join(dir, 'sub'));
    await symlink('/nonexistent', join(dir, 'link'));
    await writeFile(join(dir, 'ünï'), '');
    const names: string[] = [];
    for await (const e of await opendir(dir)) names.push(e.name);
    const reply = await agent.ask({ op: 'list_dir', proc, path: dir });
    const entries = (reply['entries'] as { name: string; type: string }[]).map((e) => ({ name: hexBytes(e.name).toString(), type: e.type }));
    expect(entries.map((e) => e.name)).toEqual(names);
    expect(Object.fromEntries(entries.map((e) => [e.name, e.type]))).toEqual({ 'a file': 'file', sub: 'dir', link: 'symlink', ünï: 'file' });
    const dev = (await agent.ask({ op: 'list_dir', proc, path: '/dev/' }))['entries'] as { name: string; type: string }[];
    expect(dev).toContainEqual({ name: Buffer.from('null').toString('hex'), type: 'other' }); // a character device
    expect(await agent.ask({ op: 'list_dir', proc, path: join(dir, 'sub') })).toMatchObject({ ok: true, entries: [] });
    expect(await agent.ask({ op: 'list_dir', proc, path: join(dir, 'none') })).toMatchObject({ ok: false, errno: 'ENOENT', call: 'opendir' });
    expect(await agent.ask({ op: 'list_dir', proc, path: join(dir, 'a file') })).toMatchObject({ ok: false, errno: 'ENOTDIR', call: 'opendir' });
  });

  test('shmget, shmat, shmdt, shmctl(IPC_RMID): a segment shared by two processes, gone at the last detach', async () => {
    const shmid = (await agent.ask({ op: 'shmget', proc, key: 0, size: '0x2000', shmflg: IPC_CREAT | 0o600 }))['shmid'] as number;
    expect(shmid).toBeGreaterThanOrEqual(0);
    const other = await agent.spawnProc();
    const a = (await agent.ask({ op: 'shmat', proc, shmid, addr: '0x0', shmflg: 0 }))['addr'] as string;
    const b = (await agent.ask({ op: 'shmat', proc: other, shmid, addr: '0x0', shmflg: 0 }))['addr'] as string;
    await agent.ask({ op: 'write', proc, addr: plus(a, PAGE), data: '2a' });
    expect(await agent.ask({ op: 'read', proc: other, addr: plus(b, PAGE), len: 1 })).toMatchObject({ data: '2a' });
    expect(await agent.ask({ op: 'shmctl', proc, shmid, cmd: IPC_RMID })).toEqual({ id: expect.any(Number), ok: true });
    expect(await agent.ask({ op: 'read', proc: other, addr: plus(b, PAGE), len: 1 })).toMatchObject({ data: '2a' });
    expect(await agent.ask({ op: 'shmdt', proc, addr: a })).toEqual({ id: expect.any(Number), ok: true });
    expect(await agent.ask({ op: 'shmdt', proc, addr: a })).toMatchObject({ ok: false, errno: 'EINVAL', call: 'shmdt' });
    expect(await agent.ask({ op: 'shmdt', proc: other, addr: b })).toMatchObject({ ok: true });
    expect(await agent.ask({ op: 'shmctl', proc, shmid, cmd: IPC_RMID })).toMatchObject({ ok: false, errno: 'EINVAL', call: 'shmctl' });
    expect(await agent.ask({ op: 'shmat', proc, shmid, addr: '0x0', shmflg: 0 })).toMatchObject({ ok: false, errno: 'EINVAL', call: 'shmat' });
    expect(await agent.ask({ op: 'shmget', proc, key: 0, size: '0x0', shmflg: IPC_CREAT })).toMatchObject({ ok: false, errno: 'EINVAL', call: 'shmget' });
  });
});

describe("a process's threads", () => {
  test('thread_create: a thread of the process, named by its tid', async () => {
    const [t1, t2] = [await newThread(), await newThread()];
    expect(t1).not.toBe(t2);
    expect(new Set([t1, t2, proc])).toHaveProperty('size', 3);
    const tasks = (await readdir(`/proc/${proc}/task`)).map(Number);
    expect(tasks).toEqual(expect.arrayContaining([proc, t1, t2]));
  });

  test('atomic_add: __atomic_add_fetch on an int at each address in turn, a repeated one twice, wrapping as an int does', async () => {
    const thread = await newThread();
    const addr = await mapAnon(2 * PAGE, PROT_READ | PROT_WRITE);
    await agent.ask({ op: 'write', proc, addr, data: 'ffffff7f' }); // INT_MAX
    const addrs = [addr, plus(addr, 4), plus(addr, PAGE), plus(addr, 4)];
    expect(await agent.ask({ op: 'atomic_add', proc, thread, addrs, delta: 1 })).toEqual({ id: expect.any(Number), ok: true });
    expect(await agent.ask({ op: 'read', proc, addr, len: 8 })).toMatchObject({ data: '0000008002000000' }); // INT_MIN, 2
    expect(await agent.ask({ op: 'atomic_add', proc, thread, addrs: [plus(addr, PAGE)], delta: -3 })).toMatchObject({ ok: true });
    expect(await agent.ask({ op: 'read', proc, addr: plus(addr, PAGE), len: 4 })).toMatchObject({ data: 'feffffff' });
    expect(await agent.ask({ op: 'atomic_add', proc, thread, addrs: [], delta: 1 })).toEqual({ id: expect.any(Number), ok: true });
  });

  test('atomic_add stops at the first fault, named at its int, nothing after it touched; the thread serves on', async () => {
    const thread = await newThread();
    const addr = await mapAnon(2 * PAGE, PROT_READ | PROT_WRITE);
    await agent.ask({ op: 'mprotect', proc, addr: plus(addr, PAGE), len: '0x1000', prot: PROT_READ });
    expect(await agent.ask({ op: 'atomic_add', proc, thread, addrs: [addr, plus(addr, PAGE + 8), plus(addr, 4)], delta: 5 })).toEqual({
      id: expect.any(Number),
      ok: true,
      signal: 'SIGSEGV',
      addr: plus(addr, PAGE + 8),
    });
    expect(await agent.ask({ op: 'atomic_add', proc, thread, addrs: ['0x10'], delta: 1 })).toMatchObject({ signal: 'SIGSEGV', addr: '0x10' });
    expect(hexBytes((await agent.ask({ op: 'read', proc, addr, len: 8 }))['data'])).toEqual(Buffer.from('0500000000000000', 'hex'));
    expect(await agent.ask({ op: 'atomic_add', proc, thread, addrs: [plus(addr, 4)], delta: 1 })).toEqual({ id: expect.any(Number), ok: true });
  });

  test('minflt: the faults of that thread alone, read on it', async () => {
    const [t1, t2] = [await newThread(), await newThread()];
    const addr = await mapAnon(8 * PAGE, PROT_READ | PROT_WRITE);
    const minflt = async (thread: number) => BigInt((await agent.ask({ op: 'minflt', proc, thread }))['minflt'] as string);
    const [before1, before2] = [await minflt(t1), await minflt(t2)];
    await agent.ask({ op: 'atomic_add', proc, thread: t1, addrs: Array.from({ length: 8 }, (_, i) => plus(addr, i * PAGE)), delta: 1 });
    expect((await minflt(t1)) - before1).toBeGreaterThanOrEqual(8n);
    expect((await minflt(t2)) - before2).toBe(0n);
  });

  test('calls on one thread are served in order; a thread waiting in a fault holds up neither the process nor the other threads', async (ctx) => {
    const uffd = (await agent.ask({ op: 'userfaultfd', proc, flags: O_CLOEXEC | O_NONBLOCK }))['fd'];
    if (typeof uffd !== 'number') return ctx.skip('userfaultfd(2) is not permitted here');
    expect(await agent.ask({ op: 'uffdio_api', proc, fd: uffd, api: '0xaa', features: '0x0' })).toMatchObject({ ok: true });
    const [blocked, free] = [await newThread(), await newThread()];
    const addr = await mapAnon(2 * PAGE, PROT_READ | PROT_WRITE);
    await agent.ask({ op: 'fill', proc, addr, len: '0x2000', byte: 0 });
    const range = { proc, fd: uffd, start: addr, len: '0x1000' };
    expect(await agent.ask({ op: 'uffdio_register', ...range, mode: '0x2' })).toMatchObject({ ok: true });
    expect(await agent.ask({ op: 'uffdio_writeprotect', ...range, mode: '0x1' })).toMatchObject({ ok: true });
    // synchronous uffd-wp, and no handler reading the uffd: the add waits until the range is resolved
    const [add, minflt, other, pagemap] = send(
      { op: 'atomic_add', proc, thread: blocked, addrs: [addr], delta: 1 },
      { op: 'minflt', proc, thread: blocked },
      { op: 'atomic_add', proc, thread: free, addrs: [plus(addr, PAGE)], delta: 1 },
      { op: 'pagemap', proc, addr, pages: 1 },
    );
    const meanwhile = await replies(2);
    expect(new Set(meanwhile.map((r) => r['id']))).toEqual(new Set([other, pagemap]));
    expect(meanwhile.every((r) => r['ok'] === true && !('signal' in r))).toBe(true);
    const [resolve] = send({ op: 'uffdio_writeprotect', ...range, mode: '0x0' });
    const after = await replies(3);
    expect(after.every((r) => r['ok'] === true && !('signal' in r))).toBe(true);
    const order = after.map((r) => r['id']);
    expect(new Set(order)).toEqual(new Set([add, minflt, resolve]));
    expect(order.indexOf(minflt)).toBeGreaterThan(order.indexOf(add)); // in its thread's turn
    expect(await agent.ask({ op: 'read', proc, addr, len: 1 })).toMatchObject({ data: '01' });
  });

  test("a thread waiting in a fault does not hold up exit: its pending call is answered with the process's end", async (ctx) => {
    const uffd = (await agent.ask({ op: 'userfaultfd', proc, flags: O_CLOEXEC | O_NONBLOCK }))['fd'];
    if (typeof uffd !== 'number') return ctx.skip('userfaultfd(2) is not permitted here');
    await agent.ask({ op: 'uffdio_api', proc, fd: uffd, api: '0xaa', features: '0x0' });
    const thread = await newThread();
    const addr = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    await agent.ask({ op: 'fill', proc, addr, len: '0x1000', byte: 0 });
    await agent.ask({ op: 'uffdio_register', proc, fd: uffd, start: addr, len: '0x1000', mode: '0x2' });
    await agent.ask({ op: 'uffdio_writeprotect', proc, fd: uffd, start: addr, len: '0x1000', mode: '0x1' });
    const [add, exit] = send({ op: 'atomic_add', proc, thread, addrs: [addr], delta: 1 }, { op: 'exit', proc });
    expect(await replies(2)).toEqual(expect.arrayContaining([{ id: add, error: `proc ${proc} exited with status 0` }, { id: exit, ok: true }]));
  });
});

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** A pipe of the proc's: its read end, then its write end. */
async function pipe(flags = 0): Promise<[number, number]> {
  const reply = await agent.ask({ op: 'pipe2', proc, flags });
  expect(reply).toMatchObject({ ok: true, fds: [expect.any(Number), expect.any(Number)] });
  return reply['fds'] as [number, number];
}

describe('pipes, poll, fcntl, fallocate', () => {
  test('pipe2, write_fd, read_fd: the bytes through; EOF once the write end is closed; EAGAIN on an empty O_NONBLOCK one', async () => {
    const [r, w] = await pipe();
    expect(await agent.ask({ op: 'write_fd', proc, fd: w, data: '0102' })).toMatchObject({ ok: true, written: 2 });
    expect(await agent.ask({ op: 'read_fd', proc, fd: r, count: 10 })).toEqual({ id: expect.any(Number), ok: true, data: '0102' });
    await agent.ask({ op: 'close', proc, fd: w });
    expect(await agent.ask({ op: 'read_fd', proc, fd: r, count: 10 })).toMatchObject({ ok: true, data: '' });
    const [nr] = await pipe(O_NONBLOCK);
    expect(await agent.ask({ op: 'read_fd', proc, fd: nr, count: 1 })).toMatchObject({ ok: false, errno: 'EAGAIN', call: 'read' });
    expect(await agent.ask({ op: 'read_fd', proc, fd: 12345, count: 1 })).toMatchObject({ ok: false, errno: 'EBADF', call: 'read' });
  });

  test('a read_fd of an empty blocking pipe waits on a worker, the requests after it served meanwhile', async () => {
    const [r, w] = await pipe();
    const [read, served] = send({ op: 'read_fd', proc, fd: r, count: 4 }, { op: 'pagemap', proc, addr: '0x0', pages: 1 });
    expect(await agent.next()).toMatchObject({ id: served, ok: true });
    const [write] = send({ op: 'write_fd', proc, fd: w, data: 'aa' });
    expect(await replies(2)).toEqual(expect.arrayContaining([{ id: write, ok: true, written: 1 }, { id: read, ok: true, data: 'aa' }]));
  });

  test('poll: revents in order at once where one is ready or the timeout is 0; a blocking one waits on a worker until a descriptor is ready', async () => {
    const [r, w] = await pipe();
    const POLLOUT = 4;
    expect(await agent.ask({ op: 'poll', proc, fds: [r, w, -1], events: [POLLIN, POLLOUT, POLLIN], timeout: -1 })).toEqual({
      id: expect.any(Number),
      ok: true,
      revents: [0, POLLOUT, 0],
    });
    expect(await agent.ask({ op: 'poll', proc, fds: [r], events: [POLLIN], timeout: 0 })).toMatchObject({ revents: [0] });
    expect(await agent.ask({ op: 'poll', proc, fds: [r], events: [POLLIN], timeout: 30 })).toMatchObject({ revents: [0] });
    expect(await agent.ask({ op: 'poll', proc, fds: [], events: [], timeout: 0 })).toMatchObject({ ok: true, revents: [] });
    const [waits, served] = send({ op: 'poll', proc, fds: [r], events: [POLLIN], timeout: -1 }, { op: 'pagemap', proc, addr: '0x0', pages: 1 });
    expect(await agent.next()).toMatchObject({ id: served, ok: true });
    const [write] = send({ op: 'write_fd', proc, fd: w, data: '00' });
    expect(await replies(2)).toEqual(expect.arrayContaining([{ id: write, ok: true, written: 1 }, { id: waits, ok: true, revents: [POLLIN] }]));
  });

  test("the agent's own descriptors behave as closed: poll finds POLLNVAL there, fcntl and fallocate EBADF", async () => {
    // the agent keeps its own at the top of the first 1024 descriptors: its socket is one of those
    const high = Array.from({ length: 16 }, (_, i) => 1008 + i);
    const polled = await agent.ask({ op: 'poll', proc, fds: high, events: high.map(() => POLLIN), timeout: 0 });
    expect(polled['revents']).toEqual(high.map(() => POLLNVAL));
    for (const fd of high) {
      expect(await agent.ask({ op: 'fcntl', proc, fd, cmd: F_GETFL, arg: 0 })).toMatchObject({ ok: false, errno: 'EBADF', call: 'fcntl' });
      expect(await agent.ask({ op: 'fallocate', proc, fd, mode: 0, offset: '0x0', len: '0x1000' })).toMatchObject({ ok: false, errno: 'EBADF' });
    }
    await serving();
  });

  test('fcntl: F_GETFL and F_SETFL of O_NONBLOCK; fallocate: a memfd grows, a hole is punched, a mode refused', async () => {
    const [r] = await pipe();
    const flags = (await agent.ask({ op: 'fcntl', proc, fd: r, cmd: F_GETFL, arg: 0 }))['ret'] as number;
    expect(flags & O_NONBLOCK).toBe(0);
    expect(await agent.ask({ op: 'fcntl', proc, fd: r, cmd: F_SETFL, arg: flags | O_NONBLOCK })).toEqual({ id: expect.any(Number), ok: true, ret: 0 });
    expect(await agent.ask({ op: 'read_fd', proc, fd: r, count: 1 })).toMatchObject({ ok: false, errno: 'EAGAIN' });
    const fd = (await agent.ask({ op: 'memfd_create', proc, name: 'falloc', flags: 0 }))['fd'] as number;
    expect(await agent.ask({ op: 'fallocate', proc, fd, mode: 0, offset: '0x0', len: '0x2000' })).toEqual({ id: expect.any(Number), ok: true });
    expect(await agent.ask({ op: 'stat', proc, path: `/proc/self/fd/${fd}` })).toMatchObject({ size: '0x2000' });
    expect(await agent.ask({ op: 'fallocate', proc, fd, mode: FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset: '0x0', len: '0x1000' })).toMatchObject({ ok: true });
    // a hole punched must keep the size
    expect(await agent.ask({ op: 'fallocate', proc, fd, mode: FALLOC_FL_PUNCH_HOLE, offset: '0x0', len: '0x1000' })).toMatchObject({
      ok: false,
      errno: 'EOPNOTSUPP',
      call: 'fallocate',
    });
  });
});

/** A userfaultfd of the proc past UFFDIO_API with `features`; null where userfaultfd(2) is refused. */
async function uffdWith(flags: number, features: bigint): Promise<number | null> {
  const fd = (await agent.ask({ op: 'userfaultfd', proc, flags }))['fd'];
  if (typeof fd !== 'number') return null;
  expect(await agent.ask({ op: 'uffdio_api', proc, fd, api: '0xaa', features: hex(features) })).toMatchObject({ ok: true });
  return fd;
}

/** uffd_read until a message comes (a blocking userfaultfd's waits for one, an O_NONBLOCK one's is read again). */
async function nextMessage(fd: number): Promise<Json> {
  for (;;) {
    const reply = await agent.ask({ op: 'uffd_read', proc, fd });
    if (reply['errno'] !== 'EAGAIN') return reply;
  }
}

/**
 * uffd_read of an O_NONBLOCK userfaultfd until one takes a message, while
 * the request `waiting` waits in the kernel for that message to be read:
 * the message, and that request's reply (which may come before the read's).
 */
async function readWhileWaiting(fd: number, waiting: number): Promise<{ message: Json; waited: Json }> {
  let waited: Json | undefined;
  for (;;) {
    const [read] = send({ op: 'uffd_read', proc, fd });
    let reply: Json;
    while ((reply = await agent.next())['id'] !== read) if (reply['id'] === waiting) waited = reply;
    if (reply['errno'] === 'EAGAIN') continue;
    return { message: reply, waited: waited ?? (await agent.next()) };
  }
}

describe('fork', () => {
  test('the child is a proc of its own: a copy of the memory and descriptors, its own threads and forks; exit reaps it', async () => {
    const addr = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    await agent.ask({ op: 'write', proc, addr, data: '41' });
    const [r, w] = await pipe();
    const fork = await agent.ask({ op: 'fork', proc });
    expect(fork).toEqual({ id: expect.any(Number), ok: true, proc: expect.any(Number) });
    const child = fork['proc'] as number;
    const stat = hexBytes((await agent.ask({ op: 'read_file', proc: child, path: '/proc/self/stat' }))['data']).toString();
    // its own process, whose parent is the agent's router, as a spawned proc's is
    expect(stat.split(' ').slice(0, 4)).toEqual([String(child), expect.any(String), expect.any(String), String(agent.child.pid)]);
    expect(await agent.ask({ op: 'write', proc: child, addr, data: '42' })).toMatchObject({ ok: true });
    expect(await agent.ask({ op: 'read', proc, addr, len: 1 })).toMatchObject({ data: '41' });
    expect(await agent.ask({ op: 'read', proc: child, addr, len: 1 })).toMatchObject({ data: '42' });
    // the pipe is the child's too: what it writes, the parent reads
    expect(await agent.ask({ op: 'write_fd', proc: child, fd: w, data: '07' })).toMatchObject({ ok: true });
    expect(await agent.ask({ op: 'read_fd', proc, fd: r, count: 1 })).toMatchObject({ data: '07' });
    // its own pagemap, threads and forks
    expect((await agent.ask({ op: 'pagemap', proc: child, addr, pages: 1 }))['entries']).toEqual([expect.stringMatching(/^0x8/)]);
    const thread = (await agent.ask({ op: 'thread_create', proc: child }))['thread'] as number;
    expect(await agent.ask({ op: 'atomic_add', proc: child, thread, addrs: [addr], delta: 1 })).toEqual({ id: expect.any(Number), ok: true });
    expect(await agent.ask({ op: 'read', proc: child, addr, len: 1 })).toMatchObject({ data: '43' });
    const grandchild = (await agent.ask({ op: 'fork', proc: child }))['proc'] as number;
    expect(await agent.ask({ op: 'read', proc: grandchild, addr, len: 1 })).toMatchObject({ data: '43' });
    expect(await agent.ask({ op: 'exit', proc: child })).toMatchObject({ ok: true });
    expect((await agent.ask({ op: 'read', proc: child, addr, len: 1 }))['error']).toBe(`proc ${child} exited with status 0`);
    expect(existsSync(`/proc/${child}`)).toBe(false); // reaped
    expect(await agent.ask({ op: 'read', proc: grandchild, addr, len: 1 })).toMatchObject({ data: '43' });
    expect(await agent.ask({ op: 'read', proc, addr, len: 1 })).toMatchObject({ data: '41' });
  });

  test('forks while the proc allocates on its other threads: every child serves (a lock held at the copy is not the child\'s)', async (ctx) => {
    // a userfaultfd puts the stores on worker threads, which allocate as they answer
    if ((await uffdWith(O_CLOEXEC | O_NONBLOCK, 0n)) === null) return ctx.skip('userfaultfd(2) is not permitted here');
    const addr = await mapAnon(64 * PAGE, PROT_READ | PROT_WRITE);
    const data = Buffer.from(Array.from({ length: 16 * PAGE }, (_, i) => (i * 7) & 0xff)).toString('hex');
    const children: number[] = [];
    for (let round = 0; round < 40; round++) {
      // the fork first: the serving thread and the workers take the stores (and allocate) while it copies
      const ids = send({ op: 'fork', proc }, ...Array.from({ length: 8 }, (_, i) => ({ op: 'write', proc, addr: plus(addr, (i % 4) * 16 * PAGE), data })));
      const got = await replies(ids.length);
      children.push(got.find((r) => r['id'] === ids[0])!['proc'] as number);
    }
    send(...children.map((child) => ({ op: 'read', proc: child, addr, len: 1 })));
    const late = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), 10_000).unref());
    expect(await Promise.race([replies(children.length), late])).toEqual(children.map(() => expect.objectContaining({ ok: true, data: '00' })));
  });

  test("a child that dies: its pending and later requests are errors that say how; its parent's threads are not its", async () => {
    const thread = await newThread();
    const [r] = await pipe();
    const child = (await agent.ask({ op: 'fork', proc }))['proc'] as number;
    expect((await agent.ask({ op: 'minflt', proc: child, thread }))['error']).toBe(`no thread ${thread} in proc ${child}`);
    const [read] = send({ op: 'read_fd', proc: child, fd: r, count: 1 });
    process.kill(child, 'SIGKILL');
    expect(await agent.next()).toEqual({ id: read, error: `proc ${child} was killed by SIGKILL` });
    expect((await agent.ask({ op: 'pagemap', proc: child, addr: '0x0', pages: 1 }))['error']).toBe(`proc ${child} was killed by SIGKILL`);
    expect(await agent.ask({ op: 'minflt', proc, thread })).toMatchObject({ ok: true });
  });

  test('with UFFD_FEATURE_EVENT_FORK the kernel holds the fork until a read takes its FORK message: a blocking read made before it, or O_NONBLOCK reads made after it', async (ctx) => {
    for (const blocking of [true, false]) {
      const fd = await uffdWith(O_CLOEXEC | (blocking ? 0 : O_NONBLOCK), UFFD_FEATURE_EVENT_FORK);
      if (fd === null) return ctx.skip('userfaultfd(2) is not permitted here');
      const addr = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
      await agent.ask({ op: 'uffdio_register', proc, fd, start: addr, len: '0x1000', mode: '0x1' });
      let message: Json;
      let fork: Json;
      if (blocking) {
        const [read, forking] = send({ op: 'uffd_read', proc, fd }, { op: 'fork', proc });
        const got = await replies(2);
        message = got.find((r) => r['id'] === read)!;
        fork = got.find((r) => r['id'] === forking)!;
      } else {
        const [forking] = send({ op: 'fork', proc });
        ({ message, waited: fork } = await readWhileWaiting(fd, forking!));
        expect(fork['id']).toBe(forking);
      }
      expect(message).toMatchObject({ ok: true, event: 'FORK', ufd: expect.any(Number) });
      expect(fork).toMatchObject({ ok: true, proc: expect.any(Number) });
      const child = fork['proc'] as number;
      // the child's area is registered with the new userfaultfd: its missing fault waits for that one's handler
      const [load] = send({ op: 'read', proc: child, addr, len: 1 });
      const ufd = message['ufd'] as number;
      expect(await nextMessage(ufd)).toMatchObject({ ok: true, event: 'PAGEFAULT', address: addr });
      const [zeropage] = send({ op: 'uffdio_zeropage', proc, fd: ufd, start: addr, len: '0x1000', mode: '0x0' });
      expect(await replies(2)).toEqual(expect.arrayContaining([{ id: zeropage, ok: true, zeropage: '0x1000' }, { id: load, ok: true, data: '00' }]));
      expect(await agent.ask({ op: 'exit', proc: child })).toMatchObject({ ok: true });
      // the next round's fork must not wait for a FORK message of this one's too
      for (const close of [fd, ufd]) await agent.ask({ op: 'close', proc, fd: close });
    }
  });
});

describe('the rest of UFFDIO, and the other way to a userfaultfd', () => {
  test('USERFAULTFD_IOC_NEW on /dev/userfaultfd: a userfaultfd; ENOTTY on another descriptor', async (ctx) => {
    const dev = (await agent.ask({ op: 'open', proc, path: '/dev/userfaultfd', flags: O_RDWR | O_CLOEXEC }))['fd'];
    if (typeof dev !== 'number') return ctx.skip('/dev/userfaultfd cannot be opened here');
    const reply = await agent.ask({ op: 'userfaultfd_ioc_new', proc, fd: dev, flags: O_CLOEXEC | O_NONBLOCK });
    expect(reply).toEqual({ id: expect.any(Number), ok: true, fd: expect.any(Number) });
    expect(await agent.ask({ op: 'uffdio_api', proc, fd: reply['fd'], api: '0xaa', features: '0x0' })).toMatchObject({ ok: true });
    const [r] = await pipe();
    expect(await agent.ask({ op: 'userfaultfd_ioc_new', proc, fd: r, flags: 0 })).toMatchObject({ ok: false, errno: 'ENOTTY', call: 'ioctl' });
  });

  test("uffdio_move: a page moved into a hole, the bytes in move; onto a page that is there, EEXIST; a bad range's failure carries no move", async (ctx) => {
    const fd = await uffdWith(O_CLOEXEC | O_NONBLOCK, UFFD_FEATURE_MOVE);
    if (fd === null) return ctx.skip('userfaultfd(2) is not permitted here');
    const dst = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    const src = await mapAnon(2 * PAGE, PROT_READ | PROT_WRITE);
    await agent.ask({ op: 'fill', proc, addr: src, len: '0x2000', byte: 0x5a });
    await agent.ask({ op: 'uffdio_register', proc, fd, start: dst, len: '0x1000', mode: '0x1' });
    const move = { op: 'uffdio_move', proc, fd, dst, src, len: '0x1000', mode: '0x0' };
    expect(await agent.ask(move)).toEqual({ id: expect.any(Number), ok: true, move: '0x1000' });
    expect(await agent.ask({ op: 'read', proc, addr: dst, len: 1 })).toMatchObject({ data: '5a' });
    expect(await agent.ask({ ...move, src: plus(src, PAGE) })).toMatchObject({ ok: false, errno: 'EEXIST', call: 'ioctl' });
    expect(await agent.ask({ ...move, dst: plus(dst, 1) })).toEqual({ id: expect.any(Number), ok: false, errno: 'EINVAL', call: 'ioctl' });
  });

  test('uffdio_poison: a missing page poisoned (a load of it then SIGBUS), the bytes in updated; again, EEXIST and -EEXIST', async (ctx) => {
    const fd = await uffdWith(O_CLOEXEC | O_NONBLOCK, UFFD_FEATURE_POISON);
    if (fd === null) return ctx.skip('userfaultfd(2) is not permitted here');
    const addr = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    await agent.ask({ op: 'uffdio_register', proc, fd, start: addr, len: '0x1000', mode: '0x1' });
    const poison = { op: 'uffdio_poison', proc, fd, start: addr, len: '0x1000', mode: '0x0' };
    expect(await agent.ask(poison)).toEqual({ id: expect.any(Number), ok: true, updated: '0x1000' });
    expect(await agent.ask({ op: 'read', proc, addr, len: 1 })).toMatchObject({ ok: true, signal: 'SIGBUS', addr });
    expect(await agent.ask(poison)).toEqual({ id: expect.any(Number), ok: false, errno: 'EEXIST', call: 'ioctl', updated: '0xffffffffffffffef' });
  });

  test('uffdio_continue: the page cache page mapped where a MINOR-registered alias had none; again, EEXIST and -EEXIST in mapped', async (ctx) => {
    const fd = await uffdWith(O_CLOEXEC | O_NONBLOCK, UFFD_FEATURE_MINOR_SHMEM);
    if (fd === null) return ctx.skip('userfaultfd(2) is not permitted here');
    const memfd = (await agent.ask({ op: 'memfd_create', proc, name: 'minor', flags: 0 }))['fd'] as number;
    await agent.ask({ op: 'ftruncate', proc, fd: memfd, len: '0x1000' });
    const share = { op: 'mmap', proc, addr: '0x0', len: '0x1000', prot: PROT_READ | PROT_WRITE, flags: MAP_SHARED, fd: memfd, offset: '0x0' };
    const alias = (await agent.ask(share))['addr'] as string;
    const addr = (await agent.ask(share))['addr'] as string;
    await agent.ask({ op: 'write', proc, addr: alias, data: '33' });
    expect(await agent.ask({ op: 'uffdio_register', proc, fd, start: addr, len: '0x1000', mode: '0x4' })).toMatchObject({ ok: true });
    const cont = { op: 'uffdio_continue', proc, fd, start: addr, len: '0x1000', mode: '0x0' };
    expect(await agent.ask(cont)).toEqual({ id: expect.any(Number), ok: true, mapped: '0x1000' });
    expect(await agent.ask({ op: 'read', proc, addr, len: 1 })).toMatchObject({ data: '33' });
    expect(await agent.ask(cont)).toEqual({ id: expect.any(Number), ok: false, errno: 'EEXIST', call: 'ioctl', mapped: '0xffffffffffffffef' });
  });

  test('thread_madvise: MADV_DONTNEED of an area a userfaultfd with EVENT_REMOVE watches waits on that thread until REMOVE is read; the proc serves on', async (ctx) => {
    const fd = await uffdWith(O_CLOEXEC | O_NONBLOCK, UFFD_FEATURE_EVENT_REMOVE);
    if (fd === null) return ctx.skip('userfaultfd(2) is not permitted here');
    const addr = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    await agent.ask({ op: 'uffdio_register', proc, fd, start: addr, len: '0x1000', mode: '0x1' });
    await agent.ask({ op: 'uffdio_zeropage', proc, fd, start: addr, len: '0x1000', mode: '0x0' });
    const thread = await newThread();
    const [madvise] = send({ op: 'thread_madvise', proc, thread, addr, len: '0x1000', advice: MADV_DONTNEED });
    const { message, waited } = await readWhileWaiting(fd, madvise!);
    expect(message).toMatchObject({ ok: true, event: 'REMOVE', start: addr, end: plus(addr, PAGE) });
    expect(waited).toEqual({ id: madvise, ok: true });
    expect(await agent.ask({ op: 'thread_madvise', proc, thread, addr: plus(addr, 1), len: '0x1000', advice: MADV_DONTNEED })).toMatchObject({
      ok: false,
      errno: 'EINVAL',
      call: 'madvise',
    });
  });
});

describe('processes', () => {
  test('each has its own address space', async () => {
    const other = await agent.spawnProc();
    const addr = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    expect((await agent.ask({ op: 'pagemap', proc: other, addr, pages: 1 }))['entries']).toEqual(['0x0']);
  });

  test('exit is answered once the process is gone; later requests to it are errors', async () => {
    expect(await agent.ask({ op: 'exit', proc })).toMatchObject({ ok: true });
    expect((await agent.ask({ op: 'munmap', proc, addr: '0x0', len: '0x0' }))['error']).toBe(`proc ${proc} exited with status 0`);
    expect(await agent.ask({ op: 'hello' })).toMatchObject({ ok: true });
  });

  test('one that dies: its pending request and later ones are errors that say how; the others go on', async () => {
    const other = await agent.spawnProc();
    process.kill(proc, 'SIGKILL');
    const reply = await agent.ask({ op: 'read', proc, addr: '0x0', len: 1 });
    expect(reply['error']).toBe(`proc ${proc} was killed by SIGKILL`);
    expect(await agent.ask({ op: 'pagemap', proc: other, addr: '0x0', pages: 1 })).toMatchObject({ ok: true });
  });

  test('under a low file limit a spawn is ok only for a proc that serves; one that dies setting up is an error', async () => {
    const outcomes = new Set<string>();
    for (let limit = 4; limit <= 14; limit++) {
      const low = new RawAgent('prlimit', [`--nofile=${limit}`, AGENT.path!]);
      for (let i = 0; i < 3; i++) {
        const reply = await low.ask({ op: 'spawn' });
        if (reply['ok'] !== true) {
          outcomes.add('error');
          expect(reply['error'] ?? reply['errno']).toBeDefined();
          continue;
        }
        outcomes.add('ok');
        const served = await low.ask({ op: "pagemap", proc: reply["proc"], addr: "0x0", pages: 1 });
        // it serves: an answer of its own (EMFILE is one, at these limits), not "proc N exited"
        expect(served['error'], `limit ${limit}`).toBeUndefined();
      }
      expect(await low.close()).toEqual({ code: 0, signal: null });
    }
    expect([...outcomes].sort()).toEqual(['error', 'ok']);
  });
});

describe('--proc-port-fd', () => {
  test.each([['99'], ['2'], ['x'], ['']])('%j, not an open descriptor past stderr: usage, exit 2', async (fd) => {
    const raw = new RawAgent(AGENT.path!, ['--proc-port-fd', fd]);
    expect(await raw.close()).toEqual({ code: 2, signal: null });
  });
});

describe('--init, as PID 1', () => {
  test('outside PID 1 it refuses (it would power the machine off)', async () => {
    const raw = new RawAgent(AGENT.path!, ['--init']);
    expect(await raw.close()).toEqual({ code: 2, signal: null });
  });

  test('in a PID namespace of its own: mounts, says it is ready, serves, and "powers off" at end of input', async (ctx) => {
    // reboot(2) in a PID namespace other than the first ends only that namespace, its init killed by SIGINT
    const ns = ['--pid', '--fork', '--mount', '--propagation', 'private'];
    // the namespaces alone first: only their refusal is a skip, an agent that dies in them is a failure
    const allowed = spawnSync('unshare', [...ns, 'true']).status === 0;
    if (!allowed) return ctx.skip('unshare --pid --mount is not permitted here');
    const raw = new RawAgent('unshare', [...ns, AGENT.path!, '--init']);
    expect(await raw.nextLine()).toBe('mmconform-agent ready');
    raw.send('{"id": 1, "op": "spawn"}');
    const { proc: inner } = (await raw.next()) as { proc: number };
    expect(inner).toBe(2); // PID 1 is the agent; /proc is this namespace's
    raw.send(`{"id": 2, "op": "read_file", "proc": ${inner}, "path": "/proc/self/stat"}`);
    const stat = hexBytes((await raw.next())['data']).toString();
    expect(stat).toMatch(/^2 \(/);
    expect(await raw.close()).toMatchObject({ signal: 'SIGINT' });
  });
});
