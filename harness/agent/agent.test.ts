// The native agent itself, line by line over its stdin and stdout: the
// protocol of protocol.schema.json, the answers to bad requests (after each
// of which it must go on serving), faults reported instead of dying, a Proc
// that dies, and --init. Skips, saying why, where there is no C compiler.

import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { machine, release } from 'node:os';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PM_SOFT_DIRTY, PROT_READ, PROT_WRITE } from '../../uapi/linux.ts';
import { AGENT, RawAgent } from '../testing/agent.ts';

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

describe('hello', () => {
  test('names the kernel, the machine, the page size and every op the schema describes', async () => {
    const reply = await agent.ask({ op: 'hello' });
    expect(reply).toMatchObject({ ok: true, protocol: 1, release: release(), machine: machine(), page_size: PAGE });
    expect([...(reply['ops'] as string[])].sort()).toEqual(Object.keys(schema.$defs.ops).sort());
  });
});

describe('the schema and the agent agree on every field', () => {
  /** a value of the field's type that no op turns into a crash of its process */
  function sample(field: { readonly $ref?: string; readonly type?: string }): unknown {
    if (field.$ref === '#/$defs/hex64') return '0x0';
    if (field.$ref === '#/$defs/bytes') return '';
    if (field.$ref === '#/$defs/string') return '/nonexistent';
    if (field.$ref === '#/$defs/proc') return proc;
    if (field.type === 'boolean') return false;
    return 0;
  }

  /** A request for op with a sample value for each of `fields` (all of them, or the required ones) but `omit`. */
  function requestFor(op: string, fields: 'all' | 'required', omit?: string): Record<string, unknown> {
    const { properties, required } = schema.$defs.ops[op]!.request;
    const names = Object.keys(properties).filter((k) => k !== 'id' && k !== 'op' && k !== omit && (fields === 'all' || required.includes(k)));
    return { op, ...Object.fromEntries(names.map((k) => [k, sample(properties[k]!)])) };
  }

  const ops = Object.keys(schema.$defs.ops);

  test.each(ops.filter((op) => op !== 'exit'))('%s: every field it lists is taken', async (op) => {
    const reply = await agent.ask(requestFor(op, 'all'));
    expect(reply['error']).toBeUndefined();
    expect(typeof reply['ok']).toBe('boolean');
  });

  test.each(ops)('%s: each required field is required', async (op) => {
    for (const missing of schema.$defs.ops[op]!.request.required.filter((k) => k !== 'id' && k !== 'op'))
      expect((await agent.ask(requestFor(op, 'required', missing)))['error']).toBe(`missing field "${missing}"`);
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
    ['a NUL in a path', () => ({ op: 'unlink', proc, path: 'a\u0000b' }), 'field "path": contains a NUL character'],
    ['no proc', () => ({ op: 'munmap', addr: '0x0', len: '0x0' }), 'missing field "proc"'],
    ['a proc that never was', () => ({ op: 'munmap', proc: 1, addr: '0x0', len: '0x0' }), 'no proc 1'],
    [
      'a PAGEMAP_SCAN vec both bad and NULL',
      () => {
        const zero = { flags: '0x0', max_pages: '0x0', category_inverted: '0x0', category_mask: '0x0', category_anyof_mask: '0x0', return_mask: '0x0' };
        return { op: 'pagemap_scan', proc, start: '0x0', end: '0x0', ...zero, vec_len: 0, bad_vec: true, null_vec: true };
      },
      'fields "bad_vec" and "null_vec": at most one of them',
    ],
  ])('%s', async (_what, request, message) => {
    const reply = await agent.ask(request());
    expect(reply['error']).toContain(message);
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

  test('blank lines are no requests', async () => {
    agent.send('');
    agent.send('   ');
    await serving();
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
      expect.objectContaining({ ok: true, ret: 1, walk_end: plus(addr, 2 * PAGE), regions: [{ start: addr, end: plus(addr, PAGE), categories: 8 }] }),
    );
    expect(await agent.ask({ ...scan, ...masks, vec_len: 1, bad_vec: true })).toMatchObject({ ok: false, errno: 'EFAULT', call: 'ioctl' });
  });

  test('PAGEMAP_SCAN: null_vec passes NULL (EINVAL with a vec_len, none without), flags and masks are whole u64s', async () => {
    const addr = await mapAnon(2 * PAGE, PROT_READ | PROT_WRITE);
    const scan = { op: 'pagemap_scan', proc, start: addr, end: plus(addr, 2 * PAGE), flags: '0x0', max_pages: '0xffffffffffffffff' };
    const masks = { category_inverted: '0x0', category_mask: '0x0', category_anyof_mask: '0x8', return_mask: '0x8' };
    expect(await agent.ask({ ...scan, ...masks, vec_len: 500, null_vec: true })).toMatchObject({ ok: false, errno: 'EINVAL', call: 'ioctl' });
    expect(await agent.ask({ ...scan, ...masks, vec_len: 0, null_vec: true })).toEqual(expect.objectContaining({ ok: true, ret: 0, walk_end: plus(addr, 2 * PAGE), regions: [] }));
    // ~0 and a bit above the 32 a C int holds reach the kernel whole: EINVAL (PM_SCAN_FLAGS, PM_SCAN_CATEGORIES)
    expect(await agent.ask({ ...scan, ...masks, flags: '0xffffffffffffffff', vec_len: 1 })).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(await agent.ask({ ...scan, ...masks, category_inverted: '0x10000000000', vec_len: 1 })).toMatchObject({ ok: false, errno: 'EINVAL' });
  });

  test('descriptors where the kernel has no mmconform_pgwalk module (this machine): ENOTTY, and the agent serves on', async (ctx) => {
    if (existsSync('/dev/mmconform_pgwalk')) return ctx.skip('this kernel has the module loaded');
    const addr = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    expect(await agent.ask({ op: 'descriptors', proc, addr })).toEqual({ id: expect.any(Number), ok: false, errno: 'ENOTTY', call: 'ioctl' });
    await serving();
  });

  test('aligned_alloc is the C library’s (a 2 MiB block is 2 MiB aligned), and free gives it back', async () => {
    const reply = await agent.ask({ op: 'aligned_alloc', proc, alignment: '0x200000', size: '0x200000' });
    expect(BigInt(reply['addr'] as string) % 0x200000n).toBe(0n);
    expect(await agent.ask({ op: 'free', proc, addr: reply['addr'] })).toMatchObject({ ok: true });
  });

  test("the agent's own buffers never merge with the test's mappings (smaps blocks start where the test's do)", async () => {
    const small = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    const big = await mapAnon(4 << 20, PROT_READ | PROT_WRITE);
    // a 4 MiB store and a 4 MiB load make the agent map buffers of its own
    expect(await agent.ask({ op: 'write', proc, addr: big, data: '11'.repeat(4 << 20) })).toMatchObject({ ok: true });
    expect(await agent.ask({ op: 'read', proc, addr: big, len: 4 << 20 })).toMatchObject({ ok: true });
    const after = await mapAnon(PAGE, PROT_READ | PROT_WRITE);
    const smaps = Buffer.from((await agent.ask({ op: 'read_file', proc, path: '/proc/self/smaps' }))['data'] as string, 'hex').toString();
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
});

describe('--init, as PID 1', () => {
  test('outside PID 1 it refuses (it would power the machine off)', async () => {
    const raw = new RawAgent(AGENT.path!, ['--init']);
    expect(await raw.close()).toEqual({ code: 2, signal: null });
  });

  test('in a PID namespace of its own: mounts, says it is ready, serves, and "powers off" at end of input', async (ctx) => {
    // reboot(2) in a PID namespace other than the first ends only that namespace, its init killed by SIGINT
    const raw = new RawAgent('unshare', ['--pid', '--fork', '--mount', '--propagation', 'private', AGENT.path!, '--init']);
    const first = await raw.nextLine();
    if (first === null) return ctx.skip('unshare --pid --mount is not permitted here');
    expect(first).toBe('mmconform-agent ready');
    raw.send('{"id": 1, "op": "spawn"}');
    const { proc: inner } = (await raw.next()) as { proc: number };
    expect(inner).toBe(2); // PID 1 is the agent; /proc is this namespace's
    raw.send(`{"id": 2, "op": "read_file", "proc": ${inner}, "path": "/proc/self/stat"}`);
    const stat = Buffer.from((await raw.next())['data'] as string, 'hex').toString();
    expect(stat).toMatch(/^2 \(/);
    expect(await raw.close()).toMatchObject({ signal: 'SIGINT' });
  });
});
