// The Target API over the agent's protocol (protocol.schema.json), for any
// agent reachable through a duplex byte stream: a child process on this
// machine (linux-host) or PID 1 of a guest behind a serial console.
// Values the API types as bigint travel as "0x..." strings, bytes as hex,
// a failed system call comes back as an Errno; a reply that does not have
// the promised shape rejects the call with an Error.
//
// An agent that dies or stops answering fails its connection (connection.ts);
// the next spawn() starts a fresh one, so one broken suite does not break
// the next.

import type { Duplex } from 'node:stream';
import {
  ERRNO,
  Errno,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PAGE_IS_FILE,
  PAGE_IS_HUGE,
  PAGE_IS_PFNZERO,
  PAGE_IS_PRESENT,
  PAGE_IS_SWAPPED,
  PAGE_IS_WPALLOWED,
  PAGE_IS_WRITTEN,
  O_CLOEXEC,
  O_NONBLOCK,
  PROT_READ,
  PROT_WRITE,
  UFFD_API,
  UFFD_FEATURE_PAGEFAULT_FLAG_WP,
  UFFD_USER_MODE_ONLY,
  isErr,
  type ErrnoName,
  type Ret,
} from '../../uapi/linux.ts';
import type {
  Caps,
  DescriptorEntry,
  Descriptors,
  DirEntry,
  MemResult,
  MovePages,
  PageRegion,
  PgLevel,
  PmScanArg,
  PmScanResult,
  PollFd,
  Proc,
  CheckResult,
  FillCheck,
  LoopCall,
  OnSignal,
  PageReading,
  Strided,
  Stat,
  Target,
  TargetInfo,
  Thread,
  UffdMsg,
  UffdServer,
  UffdioProgress,
} from '../target.ts';
import { AgentConnection, NotServedError, ParkedRequests, replyError, type Reply, type WireValue } from './connection.ts';
import { repeatOn, type Interceptor, type RoundsHost } from './rounds.ts';

const PROTOCOL_VERSION = 1;
/** The most addresses one increment or atomic_add request carries (the agent's MAX_ADDRS); a longer list goes as several. */
export const INCREMENT_BATCH = 1 << 16;
/** The most addresses one descriptors_of request carries: its reply, some 400 bytes a walk, stays under 2 MiB. */
export const DESCRIPTORS_BATCH = 1 << 12;

/** One running agent. */
export interface AgentLink {
  readonly stream: Duplex;
  /** consoles the agent may give a proc to itself (its --proc-port list, in order); a spawn reply names one by index */
  readonly procStreams?: readonly Duplex[];
  /** why the stream ended, once it has: an exit status, the agent's last words */
  readonly describeEnd?: () => string;
  /** what is known of why one of its procs was killed (ConnectionOptions.describeKill) */
  readonly describeKill?: (pid: number) => string | undefined;
  /** the bytes available now on one of its streams, without waiting (ConnectionOptions.readNow) */
  readonly readNow?: (stream: Duplex) => Buffer | null;
  /** ends the agent's input and waits for it to stop (killing it if it does not, soon) */
  close(): Promise<void>;
  /** stops the agent now (one that stopped answering gets no grace) and waits until it has */
  kill(): Promise<void>;
}

export interface AgentTargetOptions {
  /** TargetInfo.name */
  readonly name: string;
  /** starts an agent; called again whenever the last one died or stopped answering */
  readonly start: () => Promise<AgentLink>;
  /** per request (default: connection.ts's) */
  readonly timeoutMs?: number;
}

/** The agent's "hello": the kernel it runs on. */
interface AgentHello {
  readonly release: string;
  readonly machine: string;
  readonly pageSize: number;
  /** every op it serves */
  readonly ops: ReadonlySet<string>;
}


const THP_ENABLED = '/sys/kernel/mm/transparent_hugepage/enabled';
/** the categories PAGEMAP_SCAN has had since it came (v6.7) */
const SCAN_CATEGORIES =
  PAGE_IS_WPALLOWED | PAGE_IS_WRITTEN | PAGE_IS_FILE | PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO | PAGE_IS_HUGE;

const hex = (v: bigint): string => `0x${BigInt.asUintN(64, v).toString(16)}`;
/** The fewest equal bytes in a row written as a run (json.c's RUN_MIN). */
const RUN_MIN = 4;

/** Bytes as the agent writes them (json.c's jw_bytes()): two hex digits each, a run of RUN_MIN or more equal bytes as "*XXcount;". */
function bytesHex(b: Uint8Array): string {
  const hex = (from: number, to: number) => Buffer.from(b.buffer, b.byteOffset + from, to - from).toString('hex');
  let out = '';
  let plain = 0;
  for (let i = 0; i < b.length; ) {
    let k = i + 1;
    while (k < b.length && b[k] === b[i]) k++;
    if (k - i >= RUN_MIN) {
      out += `${hex(plain, i)}*${hex(i, i + 1)}${k - i};`;
      plain = k;
    }
    i = k;
  }
  return out + hex(plain, b.length);
}

function malformed(op: string, key: string, what: string): Error {
  return new Error(`agent: ${op} reply: "${key}" is not ${what}`);
}

function u64Of(value: unknown, op: string, key: string): bigint {
  if (typeof value !== 'string' || !/^0x[0-9a-f]{1,16}$/.test(value)) throw malformed(op, key, 'a 64-bit hex string');
  return BigInt(value);
}

function u64(reply: Reply, op: string, key: string): bigint {
  return u64Of(reply[key], op, key);
}

function int(reply: Reply, op: string, key: string): number {
  const v = reply[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw malformed(op, key, 'an integer');
  return v;
}

function str(reply: Reply, op: string, key: string): string {
  const v = reply[key];
  if (typeof v !== 'string') throw malformed(op, key, 'a string');
  return v;
}

/** A run of equal bytes in a bytes field: "*", the byte's two hex digits, the count, ";" (json.c's jw_bytes()). */
const RUN = /\*([0-9a-f]{2})([1-9][0-9]*);/y;
const HEX = /(?:[0-9a-f]{2})*/y;

function bytes(reply: Reply, op: string, key: string): Uint8Array {
  const v = reply[key];
  if (typeof v !== 'string') throw malformed(op, key, 'bytes in hex');
  if (!v.includes('*')) {
    if (!/^(?:[0-9a-f]{2})*$/.test(v)) throw malformed(op, key, 'bytes in hex');
    return new Uint8Array(Buffer.from(v, 'hex'));
  }
  // hex with runs: each piece, then the bytes in one buffer
  const pieces: (string | { byte: number; count: number })[] = [];
  let total = 0;
  for (let at = 0; at < v.length; ) {
    RUN.lastIndex = at;
    const run = RUN.exec(v);
    if (run) {
      const count = Number(run[2]);
      if (!Number.isSafeInteger(count)) throw malformed(op, key, 'bytes in hex');
      pieces.push({ byte: parseInt(run[1]!, 16), count });
      total += count;
      at = RUN.lastIndex;
      continue;
    }
    HEX.lastIndex = at;
    const hex = HEX.exec(v)![0];
    if (hex.length === 0) throw malformed(op, key, 'bytes in hex');
    pieces.push(hex);
    total += hex.length / 2;
    at += hex.length;
  }
  const out = new Uint8Array(total);
  let n = 0;
  for (const p of pieces) {
    if (typeof p === 'string') n += Buffer.from(out.buffer, n).write(p, 'hex');
    else {
      out.fill(p.byte, n, n + p.count);
      n += p.count;
    }
  }
  return out;
}

function list(reply: Reply, op: string, key: string): readonly unknown[] {
  const v = reply[key];
  if (!Array.isArray(v)) throw malformed(op, key, 'a list');
  return v;
}

/** A list of `length` integers (any length where none is given). */
function ints(reply: Reply, op: string, key: string, length?: number): number[] {
  const v = list(reply, op, key);
  if ((length !== undefined && v.length !== length) || !v.every((n) => typeof n === 'number' && Number.isSafeInteger(n)))
    throw malformed(op, key, length === undefined ? 'a list of integers' : `a list of ${length} integers`);
  return v as number[];
}

/** A 64-bit hex string, or null. */
function u64OrNull(reply: Reply, op: string, key: string): bigint | null {
  return reply[key] === null ? null : u64(reply, op, key);
}

function isReply(value: unknown): value is Reply {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isErrnoName(name: unknown): name is ErrnoName {
  return typeof name === 'string' && Object.hasOwn(ERRNO, name);
}

/** The Errno of an "ok": false reply. */
function errnoOf(reply: Reply, op: string): Errno {
  const name = reply['errno'];
  const call = typeof reply['call'] === 'string' ? reply['call'] : op;
  if (!isErrnoName(name)) throw new Error(`agent: ${op} failed with ${String(name)}, an errno uapi/linux.ts does not name`);
  return new Errno(name, call);
}

function helloOf(reply: Reply): AgentHello {
  const protocol = int(reply, 'hello', 'protocol');
  if (protocol !== PROTOCOL_VERSION) throw new Error(`agent speaks protocol ${protocol}; this harness speaks ${PROTOCOL_VERSION}`);
  return {
    release: str(reply, 'hello', 'release'),
    machine: str(reply, 'hello', 'machine'),
    pageSize: int(reply, 'hello', 'page_size'),
    ops: opsOf(reply),
  };
}

/** The ops without which there is no process to test. */
const REQUIRED_OPS = ['hello', 'spawn', 'exit'];

function opsOf(reply: Reply): ReadonlySet<string> {
  const ops = list(reply, 'hello', 'ops');
  if (!ops.every((op) => typeof op === 'string')) throw malformed('hello', 'ops', 'a list of op names');
  const served = new Set(ops as readonly string[]);
  const missing = REQUIRED_OPS.filter((op) => !served.has(op));
  if (missing.length) throw new Error(`agent: hello: "ops" lacks ${missing.map((op) => `"${op}"`).join(', ')}`);
  return served;
}

/**
 * The optional Proc calls (accelerators a test asks for before using) and
 * the op each needs: an agent that does not serve the op has no such call,
 * and the test takes its plain path.
 */
const OPTIONAL_CALLS: Readonly<Record<string, string>> = {
  invert: 'invert',
  storeEach: 'write_each',
  checkEach: 'check_each',
  fillEach: 'fill_each',
  checkFill: 'check_fill',
  pageReadings: 'page_readings',
  pagemapScanUntil: 'pagemap_scan_until',
  repeat: 'repeat',
  serveUffd: 'uffd_serve',
  descriptors: 'descriptors',
  descriptorsOf: 'descriptors_of',
};

/** A probe's answer, or `absent` where the agent does not serve the op it needs. */
function unlessUnserved<T>(probe: Promise<T>, absent: T): Promise<T> {
  return probe.catch((e: unknown) => {
    if (e instanceof NotServedError) return absent;
    throw e;
  });
}

/** The levels a "descriptors" reply lists, in its order. */
const PG_LEVELS: readonly PgLevel[] = ['pgd', 'p4d', 'pud', 'pmd', 'pte'];

/**
 * The walk with folded levels merged into the real level above them. The
 * entry a real level gets is the one read at the deepest pointer of its
 * group: folding makes that pointer the real one (on arm64, whose p4d is
 * folded at run time, pgd_offset() points at another entry of the table).
 */
function walkOf(reply: Reply, op = 'descriptors'): Descriptors {
  const entries: DescriptorEntry[] = [];
  for (const [i, item] of list(reply, op, 'levels').entries()) {
    if (!isReply(item) || item['level'] !== PG_LEVELS[i] || typeof item['folded'] !== 'boolean')
      throw malformed(op, 'levels', 'a list of levels from pgd down, each with its value, phys and folded');
    const read = { value: u64(item, op, 'value'), phys: u64(item, op, 'phys') };
    const above = entries.at(-1);
    if (item['folded'] && above !== undefined) entries[entries.length - 1] = { level: above.level, ...read };
    else entries.push({ level: PG_LEVELS[i]!, ...read });
  }
  return { entries, vmFlags: u64OrNull(reply, op, 'vm_flags'), pageProt: u64OrNull(reply, op, 'page_prot') };
}

const DIRENT_TYPES: readonly DirEntry['type'][] = ['dir', 'file', 'symlink', 'other'];

function dirEntriesOf(reply: Reply): readonly DirEntry[] {
  return list(reply, 'list_dir', 'entries').map((item): DirEntry => {
    const type = isReply(item) ? DIRENT_TYPES.find((t) => t === item['type']) : undefined;
    if (!isReply(item) || type === undefined) throw malformed('list_dir', 'entries', 'a list of entries, each with its name and type');
    return { name: new TextDecoder().decode(bytes(item, 'list_dir', 'name')), type };
  });
}

/** A uffd_read reply's struct uffd_msg; an event uapi/linux.ts does not name is a broken reply. */
function uffdMsgOf(reply: Reply): UffdMsg {
  const op = 'uffd_read';
  const event = reply['event'];
  switch (event) {
    case 'PAGEFAULT':
      return { event, flags: u64(reply, op, 'flags'), address: u64(reply, op, 'address'), ptid: int(reply, op, 'ptid') };
    case 'FORK':
      return { event, ufd: int(reply, op, 'ufd') };
    case 'REMAP':
      return { event, from: u64(reply, op, 'from'), to: u64(reply, op, 'to'), len: u64(reply, op, 'len') };
    case 'REMOVE':
    case 'UNMAP':
      return { event, start: u64(reply, op, 'start'), end: u64(reply, op, 'end') };
    default:
      throw malformed(op, 'event', 'an event uapi/linux.ts names (UFFD_EVENT_*)');
  }
}

/** A load or store's reply as a MemResult. */
function memResultOf(reply: Reply, op: string, load: boolean): MemResult {
  if (reply['ok'] !== true) throw new Error(`agent: ${op} reply: "ok" is not true`);
  const signal = reply['signal'];
  if (signal === undefined) return { ok: true, data: load ? bytes(reply, op, 'data') : new Uint8Array(0) };
  if (signal !== 'SIGSEGV' && signal !== 'SIGBUS') throw malformed(op, 'signal', 'SIGSEGV or SIGBUS');
  return { ok: false, signal, addr: u64(reply, op, 'addr') };
}

/**
 * The order calls reach the agent in: the order they were made. A call
 * waits until every call made before it has sent its requests (at once,
 * when none is waiting); a call of several requests (`whole`: a long
 * increment) holds the later calls back until it has settled, any other
 * only until it has sent.
 */
class SendOrder {
  /** set while a call is waiting or holding the later ones back */
  private last: Promise<void> | null = null;

  run<T>(sends: () => Promise<T>, whole = false): Promise<T> {
    if (this.last === null && !whole) return sends();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const before = this.last;
    this.last = mine;
    void mine.then(() => {
      if (this.last === mine) this.last = null;
    });
    const go = (): Promise<T> => {
      const result = sends();
      if (whole) result.then(release, release);
      else release();
      return result;
    };
    return before === null ? go() : before.then(go);
  }
}

/**
 * Sends `addrs` in batches of INCREMENT_BATCH, one after the other, until
 * one faults: that result, or the last one's.
 */
async function inBatches(addrs: readonly bigint[], send: (batch: readonly string[], from: number) => Promise<MemResult>): Promise<MemResult> {
  let r: MemResult = { ok: true, data: new Uint8Array(0) };
  for (let from = 0; from < addrs.length && r.ok; from += INCREMENT_BATCH) r = await send(addrs.slice(from, from + INCREMENT_BATCH).map(hex), from);
  return r;
}

/** struct pm_scan_arg as pagemap_scan's fields. */
function scanFields(arg: PmScanArg): Record<string, WireValue> {
  return {
    start: hex(arg.start),
    end: hex(arg.end),
    flags: hex(BigInt(arg.flags)),
    max_pages: hex(arg.maxPages),
    category_inverted: hex(BigInt(arg.categoryInverted)),
    category_mask: hex(BigInt(arg.categoryMask)),
    category_anyof_mask: hex(BigInt(arg.categoryAnyofMask)),
    return_mask: hex(BigInt(arg.returnMask)),
    vec_len: arg.vecLen,
    ...(arg.badVec ? { bad_vec: true } : {}),
    ...(arg.nullVec ? { null_vec: true } : {}),
  };
}

/** "regions": 48 hex digits a region, its start, end and categories (PAGE_IS_* bits, under 2^53) as big-endian u64s. */
function regionsOf(r: Reply, op: string): PageRegion[] {
  const packed = r['regions'];
  if (typeof packed !== 'string' || packed.length % 48 !== 0 || !/^[0-9a-f]*$/.test(packed))
    throw malformed(op, 'regions', 'regions in hex, 48 digits each');
  const b = Buffer.from(packed, 'hex');
  const regions: PageRegion[] = [];
  for (let i = 0; i < b.length; i += 24)
    regions.push({ start: b.readBigUInt64BE(i), end: b.readBigUInt64BE(i + 8), categories: Number(b.readBigUInt64BE(i + 16)) });
  return regions;
}

/** A pagemap read's reply as its entries. */
function entriesOf(r: Reply, op: string): BigUint64Array {
  return BigUint64Array.from(list(r, op, 'entries'), (e) => u64Of(e, op, 'entries'));
}

/** A PAGEMAP_SCAN ioctl's reply as a PmScanResult. */
function scanResultOf(r: Reply, op: string): PmScanResult {
  return { ret: int(r, op, 'ret'), walkEnd: u64(r, op, 'walk_end'), regions: regionsOf(r, op) };
}

/** uname's machine as TargetInfo.arch names it. */
export function archOf(machine: string): string {
  return machine === 'aarch64' ? 'arm64' : machine;
}

/** A process of the agent's: one child of the agent, with its own address space. */
export class AgentProc implements Proc {
  private exited = false;
  /** where the proc's requests go while repeat() writes a round down or answers one (rounds.ts) */
  private interceptor: Interceptor | null = null;
  /** the proc's calls, its threads' included, reach the agent in the order made */
  private readonly order: SendOrder;
  /** a view of serveUffd()'s: what answers its calls while the agent's handler has answers */
  private readonly served: Interceptor | null;
  /** handlers serveUffd() runs in the agent: while one does, a load or store may wait for it, and parks */
  private serving = 0;
  /** the calls a checkEach() made for its OnSignal, with their replies: the proc's next calls */
  private readonly handled: ServedStep[] = [];

  /**
   * `conn` carries its requests (a port of its own, or the router's);
   * `router` is the router's, which its forks are served on; `mayBlock`,
   * whether its accesses may block (a fork's parent's userfaultfds are its);
   * `view`, for serveUffd(): the proc's turn, and what answers the calls.
   */
  constructor(
    private readonly conn: AgentConnection,
    readonly pid: number,
    private readonly router: AgentConnection = conn,
    private mayBlock = false,
    view?: { readonly order: SendOrder; readonly served: Interceptor },
  ) {
    this.order = view?.order ?? new SendOrder();
    this.served = view?.served ?? null;
    for (const [call, op] of Object.entries(OPTIONAL_CALLS)) if (conn.served && !conn.served.has(op)) Object.defineProperty(this, call, { value: undefined });
  }

  private send(op: string, fields: Readonly<Record<string, WireValue>>): Promise<Reply> {
    // the agent runs loads and stores on workers from then on (memory.c), and repeats none
    if (op === 'userfaultfd' || op === 'userfaultfd_ioc_new' || (op === 'open' && fields['path'] === '/dev/userfaultfd')) this.mayBlock = true;
    if (this.handled.length) return Promise.resolve(this.answerHandled(op, fields));
    if (this.interceptor) return this.interceptor(op, fields);
    if (this.served) return this.served(op, fields);
    return this.conn.request(op, { proc: this.pid, ...fields }, parks(op, fields) || (this.serving > 0 && ACCESSES.has(op)));
  }

  /** A call a checkEach()'s handler made: answered with its reply, once checked to be that call. */
  private answerHandled(op: string, fields: Readonly<Record<string, WireValue>>): Reply {
    const step = this.handled.shift()!;
    if (op === 'check_each' || !isStepOf(step, op, fields)) {
      this.handled.length = 0;
      throw new Error(`agent: check_each: the loop asked for ${op} ${JSON.stringify(fields)} where its on_signal made ${JSON.stringify(step.req)}: the OnSignal does not describe the loop`);
    }
    return answerOf(step, op);
  }

  /** The handler thread run in the agent (uffd-serve.c); where it cannot start, the port's thread runs as usual. */
  async serveUffd(server: UffdServer): Promise<Proc> {
    const started = await this.call(
      'uffd_serve',
      {
        fd: server.uffd,
        pipe: server.pipe,
        page_size: hex(server.pageSize),
        dst: hex(server.dst),
        src: hex(server.src),
        dst_alias: hex(server.dstAlias),
        size: hex(server.size),
        missing: server.missing,
        move_len: hex(server.moveLen),
        apply_wp: server.applyWp,
      },
      () => null,
    );
    if (isErr(started)) return this;
    this.serving++;
    const served = servedSteps(this.conn, this.pid, () => this.serving--);
    const view = new AgentProc(this.conn, this.pid, this.router, this.mayBlock, { order: this.order, served });
    return view;
  }

  /** A loop of the test's, run where the kernel is (rounds.ts). */
  repeat(times: number, body: (i: number) => Promise<boolean>): Promise<number> {
    this.live('repeat');
    const host: RoundsHost = {
      pid: this.pid,
      mayBlock: () => this.mayBlock,
      // a suite cut short by the runner stops here: its exit() is under way
      requestLine: (op, fields, json) => (this.live(op), this.conn.requestLine(op, fields, json)),
      intercept: (to) => void (this.interceptor = to),
    };
    return repeatOn(host, times, body);
  }

  /** Runs `sends` in the proc's turn: see SendOrder. */
  private inTurn<T>(sends: () => Promise<T>, whole = false): Promise<T> {
    return this.order.run(sends, whole);
  }

  /** A proc's own port has nobody reading it once the proc is gone: fail here, not after the timeout. */
  private live(op: string): void {
    if (this.exited) throw new Error(`agent: ${op}: proc ${this.pid} has exited`);
  }

  /** The op's reply, parsed; an errno reply as an Errno. */
  private async call<T>(op: string, fields: Readonly<Record<string, WireValue>>, parse: (reply: Reply) => T): Promise<Ret<T>> {
    this.live(op);
    const reply = await this.inTurn(() => this.send(op, fields));
    return reply['ok'] === false ? errnoOf(reply, op) : parse(reply);
  }

  /**
   * A call of one of the proc's threads: sent in the proc's turn, then in
   * the thread's (a long one, of several requests, holds back only the
   * thread's later calls; the proc's go on).
   */
  async threadCall<T>(thread: ThreadTurn, op: string, sends: (send: ThreadSend) => Promise<T>, whole = false): Promise<T> {
    this.live(op);
    const send: ThreadSend = async (fields) => {
      this.live(op); // sent after its thread's long call, which exit() did not wait for
      return this.send(op, { thread: thread.tid, ...fields });
    };
    return this.inTurn(() => thread.order.run(() => sends(send), whole));
  }

  /** For calls that cannot fail in C (free, exit): an errno is a broken agent. */
  private async must(op: string, fields: Readonly<Record<string, WireValue>> = {}): Promise<void> {
    const r = await this.call(op, fields, () => null);
    if (isErr(r)) throw new Error(`agent: ${op} failed: ${r}`);
  }

  private address(op: string, fields: Readonly<Record<string, WireValue>>): Promise<Ret<bigint>> {
    return this.call(op, fields, (r) => u64(r, op, 'addr'));
  }

  private fd(op: string, fields: Readonly<Record<string, WireValue>>): Promise<Ret<number>> {
    return this.call(op, fields, (r) => int(r, op, 'fd'));
  }

  private zero(op: string, fields: Readonly<Record<string, WireValue>>): Promise<Ret<0>> {
    return this.call(op, fields, () => 0 as const);
  }

  mmap(addr: bigint, length: bigint, prot: number, flags: number, fd: number, offset: bigint): Promise<Ret<bigint>> {
    return this.address('mmap', { addr: hex(addr), len: hex(length), prot, flags, fd, offset: hex(offset) });
  }
  munmap(addr: bigint, length: bigint): Promise<Ret<0>> {
    return this.zero('munmap', { addr: hex(addr), len: hex(length) });
  }
  mprotect(addr: bigint, length: bigint, prot: number): Promise<Ret<0>> {
    return this.zero('mprotect', { addr: hex(addr), len: hex(length), prot });
  }
  mremap(oldAddr: bigint, oldSize: bigint, newSize: bigint, flags: number, newAddr?: bigint): Promise<Ret<bigint>> {
    const fields = { old_addr: hex(oldAddr), old_len: hex(oldSize), new_len: hex(newSize), flags };
    return this.address('mremap', newAddr === undefined ? fields : { ...fields, new_addr: hex(newAddr) });
  }
  madvise(addr: bigint, length: bigint, advice: number): Promise<Ret<0>> {
    return this.zero('madvise', { addr: hex(addr), len: hex(length), advice });
  }
  open(path: string, flags: number, mode?: number): Promise<Ret<number>> {
    return this.fd('open', mode === undefined ? { path, flags } : { path, flags, mode });
  }
  close(fd: number): Promise<Ret<0>> {
    return this.zero('close', { fd });
  }
  unlink(path: string): Promise<Ret<0>> {
    return this.zero('unlink', { path });
  }
  swapoff(path: string): Promise<Ret<0>> {
    return this.zero('swapoff', { path });
  }
  swapon(path: string, flags: number): Promise<Ret<0>> {
    return this.zero('swapon', { path, flags });
  }
  ftruncate(fd: number, length: bigint): Promise<Ret<0>> {
    return this.zero('ftruncate', { fd, len: hex(length) });
  }
  memfdCreate(name: string, flags: number): Promise<Ret<number>> {
    return this.fd('memfd_create', { name, flags });
  }
  writeFd(fd: number, data: Uint8Array): Promise<Ret<number>> {
    return this.call('write_fd', { fd, data: bytesHex(data) }, (r) => int(r, 'write_fd', 'written'));
  }
  stat(path: string): Promise<Ret<Stat>> {
    return this.call('stat', { path }, (r) => ({ size: u64(r, 'stat', 'size') }));
  }
  listDir(path: string): Promise<Ret<readonly DirEntry[]>> {
    return this.call('list_dir', { path }, dirEntriesOf);
  }
  shmget(key: number, size: bigint, shmflg: number): Promise<Ret<number>> {
    return this.call('shmget', { key, size: hex(size), shmflg }, (r) => int(r, 'shmget', 'shmid'));
  }
  shmat(shmid: number, addr: bigint, shmflg: number): Promise<Ret<bigint>> {
    return this.address('shmat', { shmid, addr: hex(addr), shmflg });
  }
  shmdt(addr: bigint): Promise<Ret<0>> {
    return this.zero('shmdt', { addr: hex(addr) });
  }
  /** IPC_RMID only: the agent refuses any other command (a rejected call) */
  shmctl(shmid: number, cmd: number): Promise<Ret<0>> {
    return this.zero('shmctl', { shmid, cmd });
  }
  /** The child is served by the router (never a port of its own), by its pid as any proc. */
  fork(): Promise<Ret<Proc>> {
    return this.call('fork', {}, (r) => new AgentProc(this.router, int(r, 'fork', 'proc'), this.router, this.mayBlock));
  }
  pipe2(flags: number): Promise<Ret<readonly [number, number]>> {
    return this.call('pipe2', { flags }, (r) => {
      const [read, write] = ints(r, 'pipe2', 'fds', 2);
      return [read!, write!] as const;
    });
  }
  /** A blocking descriptor with nothing to read is read on a worker: the proc serves on meanwhile. */
  readFd(fd: number, count: number): Promise<Ret<Uint8Array>> {
    return this.call('read_fd', { fd, count }, (r) => bytes(r, 'read_fd', 'data'));
  }
  poll(fds: readonly PollFd[], timeoutMs: number): Promise<Ret<readonly number[]>> {
    const fields = { fds: fds.map((p) => p.fd), events: fds.map((p) => p.events), timeout: timeoutMs };
    return this.call('poll', fields, (r) => ints(r, 'poll', 'revents', fds.length));
  }
  /** Commands whose argument is an int: the agent refuses any other (a rejected call). */
  fcntl(fd: number, cmd: number, arg: number): Promise<Ret<number>> {
    return this.call('fcntl', { fd, cmd, arg }, (r) => int(r, 'fcntl', 'ret'));
  }
  fallocate(fd: number, mode: number, offset: bigint, len: bigint): Promise<Ret<0>> {
    return this.zero('fallocate', { fd, mode, offset: hex(offset), len: hex(len) });
  }
  movePages(addrs: readonly bigint[], nodes: readonly number[] | null, flags: number): Promise<Ret<MovePages>> {
    if (nodes !== null && nodes.length !== addrs.length) throw new Error(`movePages: ${nodes.length} nodes for ${addrs.length} addresses`);
    return this.call('move_pages', { addrs: addrs.map(hex), ...(nodes === null ? {} : { nodes }), flags }, (r) => ({
      ret: int(r, 'move_pages', 'ret'),
      status: ints(r, 'move_pages', 'status', addrs.length),
    }));
  }
  threadCreate(): Promise<Ret<Thread>> {
    return this.call('thread_create', {}, (r) => new AgentThread(this, int(r, 'thread_create', 'thread')));
  }
  alignedAlloc(alignment: bigint, size: bigint): Promise<Ret<bigint>> {
    return this.address('aligned_alloc', { alignment: hex(alignment), size: hex(size) });
  }
  free(addr: bigint): Promise<void> {
    return this.must('free', { addr: hex(addr) });
  }

  /** A load or store's request, sent now (not in turn: for a call already holding the turn). */
  private async access(op: string, fields: Readonly<Record<string, WireValue>>, load: boolean): Promise<MemResult> {
    return memResultOf(await this.send(op, fields), op, load);
  }
  private memory(op: string, fields: Readonly<Record<string, WireValue>>, load: boolean): Promise<MemResult> {
    return this.inTurn(() => this.access(op, fields, load));
  }
  read(addr: bigint, length: number): Promise<MemResult> {
    return this.memory('read', { addr: hex(addr), len: length }, true);
  }
  write(addr: bigint, data: Uint8Array): Promise<MemResult> {
    return this.memory('write', { addr: hex(addr), data: bytesHex(data) }, false);
  }
  fill(addr: bigint, length: bigint, byte: number): Promise<MemResult> {
    return this.memory('fill', { addr: hex(addr), len: hex(length), byte }, false);
  }
  invert(addr: bigint, length: bigint): Promise<MemResult> {
    return this.memory('invert', { addr: hex(addr), len: hex(length) }, false);
  }
  /** INCREMENT_BATCH addresses a request; a batch that faults ends the call. */
  increment(addrs: readonly bigint[]): Promise<MemResult> {
    if (addrs.length <= INCREMENT_BATCH) return this.memory('increment', { addrs: addrs.map(hex) }, false);
    return this.inTurn(() => inBatches(addrs, (batch) => this.access('increment', { addrs: batch }, false)), true);
  }

  /** INCREMENT_BATCH addresses a request; a batch that faults ends the call. */
  storeEach(addrs: readonly bigint[], data: Uint8Array): Promise<MemResult> {
    const bytes = bytesHex(data);
    if (addrs.length <= INCREMENT_BATCH) return this.memory('write_each', { addrs: addrs.map(hex), data: bytes }, false);
    return this.inTurn(() => inBatches(addrs, (batch) => this.access('write_each', { addrs: batch, data: bytes }, false)), true);
  }

  /** INCREMENT_BATCH addresses a request; a batch that faults ends the call. */
  fillEach(addrs: readonly bigint[], length: bigint, bytes: Uint8Array): Promise<MemResult> {
    if (addrs.length !== bytes.length) throw new Error(`fillEach: ${addrs.length} addresses, ${bytes.length} bytes`);
    const fields = (from: number) => ({ len: hex(length), bytes: bytesHex(bytes.subarray(from, from + INCREMENT_BATCH)) });
    if (addrs.length <= INCREMENT_BATCH) return this.memory('fill_each', { addrs: addrs.map(hex), ...fields(0) }, false);
    return this.inTurn(() => inBatches(addrs, (batch, from) => this.access('fill_each', { addrs: batch, ...fields(from) }, false)), true);
  }

  /** INCREMENT_BATCH addresses a request; a batch that stops ends the call. */
  checkFill(addrs: readonly bigint[], length: bigint, bytes: Uint8Array): Promise<FillCheck> {
    const op = 'check_fill';
    if (addrs.length !== bytes.length) throw new Error(`checkFill: ${addrs.length} addresses, ${bytes.length} bytes`);
    const batch = async (from: number): Promise<FillCheck> => {
      const to = Math.min(addrs.length, from + INCREMENT_BATCH);
      const r = await this.send(op, { addrs: addrs.slice(from, to).map(hex), len: hex(length), bytes: bytesHex(bytes.subarray(from, to)) });
      const done = from + int(r, op, 'done');
      if (done > to) throw malformed(op, 'done', `at most ${to - from}`);
      if (r['signal'] !== undefined) {
        const m = memResultOf(r, op, false);
        if (m.ok) throw malformed(op, 'signal', 'SIGSEGV or SIGBUS');
        return { done, stop: { signal: m.signal, addr: m.addr } };
      }
      if (r['offset'] !== undefined) {
        const offset = u64(r, op, 'offset');
        const value = int(r, op, 'value');
        if (offset >= length || value < 0 || value > 255) throw malformed(op, 'offset', 'within len, with a byte');
        return { done, stop: { offset, value } };
      }
      if (done !== to) throw malformed(op, 'done', `${to - from}, with neither offset nor signal`);
      return to < addrs.length ? batch(to) : { done, stop: null };
    };
    return this.inTurn(() => batch(0), addrs.length > INCREMENT_BATCH);
  }

  /** INCREMENT_BATCH addresses a request; a batch that stops ends the call. */
  checkEach(addrs: readonly bigint[], expect: readonly bigint[], storeBack: boolean, onSignal?: OnSignal): Promise<CheckResult> {
    const op = 'check_each';
    const events: Event[] = [];
    const batch = async (from: number): Promise<CheckResult> => {
      const to = Math.min(addrs.length, from + INCREMENT_BATCH);
      const fields = { addrs: addrs.slice(from, to).map(hex), expect: expect.slice(from, to).map(hex), store_back: storeBack };
      const r = await this.send(op, onSignal ? { ...fields, on_signal: onSignalWire(onSignal, from) } : fields);
      const done = from + int(r, op, 'done');
      if (done > to) throw malformed(op, 'done', `at most ${to - from}`);
      if (r['events'] !== undefined) {
        for (const e of list(r, op, 'events')) {
          const { event, steps } = eventOf(e, from, done);
          events.push(event);
          this.handled.push(...steps);
        }
      }
      const result = (stop: CheckResult['stop']): CheckResult => ({ done, stop, ...(events.length ? { events } : {}) });
      if (r['handler_stop'] === true) {
        if (events.at(-1)?.i !== done || events.at(-1)?.skip) throw malformed(op, 'handler_stop', 'after an event of calls at done');
        return result({ handler: true });
      }
      if (r['signal'] !== undefined) {
        const m = memResultOf(r, op, false);
        if (m.ok) throw malformed(op, 'signal', 'SIGSEGV or SIGBUS');
        return result({ signal: m.signal, addr: m.addr });
      }
      if (r['value'] !== undefined) return result({ value: u64(r, op, 'value') });
      if (done !== to) throw malformed(op, 'done', `${to - from}, with neither value nor signal`);
      return to < addrs.length ? batch(to) : result(null);
    };
    if (addrs.length !== expect.length) throw new Error(`checkEach: ${addrs.length} addresses, ${expect.length} values`);
    return this.inTurn(() => batch(0), addrs.length > INCREMENT_BATCH);
  }

  readFile(path: string): Promise<Ret<string>> {
    return this.call('read_file', { path }, (r) => new TextDecoder().decode(bytes(r, 'read_file', 'data')));
  }
  writeFile(path: string, data: string): Promise<Ret<number>> {
    return this.call('write_file', { path, data: Buffer.from(data, 'utf8').toString('hex') }, (r) => int(r, 'write_file', 'written'));
  }
  pagemap(addr: bigint, nPages: number): Promise<Ret<BigUint64Array>> {
    return this.call('pagemap', { addr: hex(addr), pages: nPages }, (r) => entriesOf(r, 'pagemap'));
  }
  pagemapScan(arg: PmScanArg): Promise<Ret<PmScanResult>> {
    return this.call('pagemap_scan', scanFields(arg), (r) => scanResultOf(r, 'pagemap_scan'));
  }
  /** A failure of the request as a whole (no pagemap to read) is each page's, as each read's would be. */
  async pageReadings(addr: bigint, nPages: number, scan: Omit<PmScanArg, 'start' | 'end'> | null): Promise<readonly PageReading[]> {
    const op = 'page_readings';
    if (scan?.badVec || scan?.nullVec) throw new Error(`${op}: a reading scans into a vector`);
    const { start: _s, end: _e, ...fields } = scan ? scanFields({ ...scan, start: 0n, end: 0n }) : {};
    const readings = await this.call(op, { addr: hex(addr), pages: nPages, ...(scan ? { scan: true, ...fields } : {}) }, (r) =>
      list(r, op, 'readings').map((reading): PageReading => {
        if (!isReply(reading) || !isReply(reading['pagemap'])) throw malformed(op, 'readings', 'a list of readings');
        const pm = reading['pagemap'];
        const s = reading['scan'];
        if (scan && !isReply(s)) throw malformed(op, 'readings', 'readings with their scans');
        return {
          entry: pm['ok'] === false ? errnoOf(pm, op) : entriesOf(pm, op),
          scan: !isReply(s) ? null : s['ok'] === false ? errnoOf(s, op) : scanResultOf(s, op),
        };
      }),
    );
    return isErr(readings) ? Array.from({ length: nPages }, () => ({ entry: readings, scan: scan ? readings : null })) : readings;
  }
  /**
   * The ioctl from arg.start, then from each one's walk_end, while fewer than `pages` pages are
   * found (the agent's pagemap_scan_until); a failure of the request as a whole is the first ioctl's.
   */
  async pagemapScanUntil(arg: PmScanArg, pages: bigint): Promise<readonly Ret<PmScanResult>[]> {
    const op = 'pagemap_scan_until';
    if (arg.badVec || arg.nullVec) throw new Error(`${op}: a loop scans into a vector`);
    const scans = await this.call(op, { ...scanFields(arg), pages: hex(pages) }, (r) =>
      list(r, op, 'scans').map((scan): Ret<PmScanResult> => {
        if (!isReply(scan)) throw malformed(op, 'scans', 'a list of replies');
        return scan['ok'] === false ? errnoOf(scan, op) : scanResultOf(scan, op);
      }),
    );
    return isErr(scans) ? [scans] : scans;
  }

  /** The kernel module's walk (kmod/); ENOTTY where the kernel has none. */
  descriptors(addr: bigint): Promise<Ret<Descriptors>> {
    return this.call('descriptors', { addr: hex(addr) }, (r) => walkOf(r));
  }
  /** The walks of many addresses, DESCRIPTORS_BATCH a request, the requests sent together. */
  async descriptorsOf(addrs: readonly bigint[]): Promise<readonly Ret<Descriptors>[]> {
    const op = 'descriptors_of';
    this.live(op);
    const batches: bigint[][] = [];
    for (let from = 0; from < addrs.length; from += DESCRIPTORS_BATCH) batches.push(addrs.slice(from, from + DESCRIPTORS_BATCH));
    const replies = await this.inTurn(() => Promise.all(batches.map((batch) => this.send(op, { addrs: batch.map(hex) }))));
    return replies.flatMap((reply, i): Ret<Descriptors>[] => {
      const batch = batches[i]!;
      if (reply['ok'] === false) return batch.map(() => errnoOf(reply, op));
      const walks = list(reply, op, 'walks');
      if (walks.length !== batch.length) throw malformed(op, 'walks', `a list of ${batch.length} walks`);
      return walks.map((walk) => {
        if (!isReply(walk)) throw malformed(op, 'walks', 'a list of walks');
        return walk['ok'] === false ? errnoOf(walk, op) : walkOf(walk, op);
      });
    });
  }

  /** userfaultfd(2) */
  userfaultfd(flags: number): Promise<Ret<number>> {
    return this.fd('userfaultfd', { flags });
  }
  /** ioctl(fd, UFFDIO_API, {api, features}): the features and ioctls the kernel offers. */
  uffdioApi(fd: number, api: bigint, features: bigint): Promise<Ret<{ features: bigint; ioctls: bigint }>> {
    return this.call('uffdio_api', { fd, api: hex(api), features: hex(features) }, (r) => ({
      features: u64(r, 'uffdio_api', 'features'),
      ioctls: u64(r, 'uffdio_api', 'ioctls'),
    }));
  }

  /** ioctl(UFFDIO_REGISTER): the ioctls the range now allows */
  uffdioRegister(fd: number, start: bigint, len: bigint, mode: bigint): Promise<Ret<{ ioctls: bigint }>> {
    return this.call('uffdio_register', { fd, start: hex(start), len: hex(len), mode: hex(mode) }, (r) => ({ ioctls: u64(r, 'uffdio_register', 'ioctls') }));
  }

  /** ioctl(UFFDIO_WRITEPROTECT): mode UFFDIO_WRITEPROTECT_MODE_WP protects, 0 resolves */
  uffdioWriteprotect(fd: number, start: bigint, len: bigint, mode: bigint): Promise<Ret<0>> {
    return this.zero('uffdio_writeprotect', rangeFields(fd, start, len, mode));
  }

  uffdioUnregister(fd: number, start: bigint, len: bigint): Promise<Ret<0>> {
    return this.zero('uffdio_unregister', { fd, start: hex(start), len: hex(len) });
  }

  /** A uffd ioctl whose reply, failed or not, carries its argument's progress field `key` (an __s64). */
  private async progress(op: string, fields: Readonly<Record<string, WireValue>>, key: string): Promise<UffdioProgress> {
    this.live(op);
    const reply = await this.inTurn(() => this.send(op, fields));
    const error = reply['ok'] === false ? errnoOf(reply, op) : null;
    // a failure before the kernel wrote the field leaves it out
    const written = error === null || key in reply;
    return { error, progress: written ? BigInt.asIntN(64, u64(reply, op, key)) : null };
  }

  /** ioctl(UFFDIO_COPY): the ioctl's failure, and uffdio_copy.copy either way */
  uffdioCopy(fd: number, dst: bigint, src: bigint, len: bigint, mode: bigint): Promise<UffdioProgress> {
    return this.progress('uffdio_copy', copyFields(fd, dst, src, len, mode), 'copy');
  }

  /** ioctl(UFFDIO_ZEROPAGE): the ioctl's failure, and uffdio_zeropage.zeropage either way */
  uffdioZeropage(fd: number, start: bigint, len: bigint, mode: bigint): Promise<UffdioProgress> {
    return this.progress('uffdio_zeropage', { fd, start: hex(start), len: hex(len), mode: hex(mode) }, 'zeropage');
  }

  userfaultfdIocNew(fd: number, flags: number): Promise<Ret<number>> {
    return this.fd('userfaultfd_ioc_new', { fd, flags });
  }

  /** ioctl(UFFDIO_CONTINUE): the ioctl's failure, and uffdio_continue.mapped either way */
  uffdioContinue(fd: number, start: bigint, len: bigint, mode: bigint): Promise<UffdioProgress> {
    return this.progress('uffdio_continue', { fd, start: hex(start), len: hex(len), mode: hex(mode) }, 'mapped');
  }

  /** ioctl(UFFDIO_MOVE): the ioctl's failure, and uffdio_move.move either way */
  uffdioMove(fd: number, dst: bigint, src: bigint, len: bigint, mode: bigint): Promise<UffdioProgress> {
    return this.progress('uffdio_move', { fd, dst: hex(dst), src: hex(src), len: hex(len), mode: hex(mode) }, 'move');
  }

  /** ioctl(UFFDIO_POISON): the ioctl's failure, and uffdio_poison.updated either way */
  uffdioPoison(fd: number, start: bigint, len: bigint, mode: bigint): Promise<UffdioProgress> {
    return this.progress('uffdio_poison', { fd, start: hex(start), len: hex(len), mode: hex(mode) }, 'updated');
  }

  uffdioWake(fd: number, start: bigint, len: bigint): Promise<Ret<0>> {
    return this.zero('uffdio_wake', { fd, start: hex(start), len: hex(len) });
  }

  /** read(2) of a struct uffd_msg: on a blocking descriptor the agent answers once a message comes, serving the proc's later calls meanwhile */
  uffdRead(fd: number): Promise<Ret<UffdMsg>> {
    return this.call('uffd_read', { fd }, uffdMsgOf);
  }

  /** Calls made once exit() is under way fail at once: the proc reads no request after it. */
  async exit(): Promise<void> {
    const exiting = this.must('exit');
    this.exited = true;
    await exiting;
  }
}

/** Sends one request of a thread's call, naming the thread. */
type ThreadSend = (fields: Readonly<Record<string, WireValue>>) => Promise<Reply>;

/** What a thread's calls queue behind: its own turn, as the agent serves them. */
interface ThreadTurn {
  readonly tid: number;
  readonly order: SendOrder;
}

/** A thread of an AgentProc (thread_create): its calls name it by its tid. */
class AgentThread implements Thread, ThreadTurn {
  readonly order = new SendOrder();

  constructor(
    private readonly proc: AgentProc,
    readonly tid: number,
  ) {}

  /** INCREMENT_BATCH addresses a request; a batch that faults ends the call. */
  atomicAdd(addrs: readonly bigint[], delta: number): Promise<MemResult> {
    const op = 'atomic_add';
    const add = async (send: ThreadSend, batch: readonly string[]) => memResultOf(await send({ addrs: batch, delta }), op, false);
    if (addrs.length <= INCREMENT_BATCH) return this.proc.threadCall(this, op, (send) => add(send, addrs.map(hex)));
    return this.proc.threadCall(this, op, (send) => inBatches(addrs, (batch) => add(send, batch)), true);
  }

  minflt(): Promise<Ret<bigint>> {
    return this.proc.threadCall(this, 'minflt', async (send) => {
      const reply = await send({});
      return reply['ok'] === false ? errnoOf(reply, 'minflt') : u64(reply, 'minflt', 'minflt');
    });
  }

  /** Answered once the kernel returns: a madvise a non-cooperative userfaultfd holds holds up only this thread's later calls. */
  madvise(addr: bigint, length: bigint, advice: number): Promise<Ret<0>> {
    const op = 'thread_madvise';
    return this.proc.threadCall(this, op, async (send) => {
      const reply = await send({ addr: hex(addr), len: hex(length), advice });
      return reply['ok'] === false ? errnoOf(reply, op) : (0 as const);
    });
  }
}

/** The VmFlags of the smaps block for the area starting at addr. */
function vmFlags(smaps: string, addr: bigint): readonly string[] {
  const lines = smaps.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`${addr.toString(16).padStart(8, '0')}-`));
  const flags = start < 0 ? undefined : lines.slice(start + 1).find((l) => l.startsWith('VmFlags:'));
  return flags?.slice('VmFlags:'.length).trim().split(/\s+/) ?? [];
}

async function uffdWpSupported(proc: Proc): Promise<boolean> {
  let fd = await proc.userfaultfd(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
  if (isErr(fd) && fd.name === 'EINVAL') fd = await proc.userfaultfd(O_CLOEXEC | O_NONBLOCK); // before v5.11
  if (isErr(fd)) return false;
  const api = await proc.uffdioApi(fd, UFFD_API, 0n);
  await proc.close(fd);
  return !isErr(api) && (api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP) !== 0n;
}

/** What the kernel offers, probed in a process of its own as the selftests probe it. */
export async function probeCaps(proc: Proc, pageSize: bigint): Promise<Caps> {
  const addr = await proc.mmap(0n, pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(addr)) throw new Error(`capability probe: mmap failed: ${addr}`);
  // a file or ioctl an agent does not serve is one the kernel does not have
  const ENOENT = new Errno('ENOENT', 'open');
  const readFile = (path: string) => unlessUnserved(proc.readFile(path), ENOENT);
  const smaps = await readFile('/proc/self/smaps');
  // New areas carry VM_SOFTDIRTY ("sd") where soft-dirty is supported (vm_util's softdirty_supported()).
  const softDirty = !isErr(smaps) && vmFlags(smaps, addr).includes('sd');
  // Raw descriptors where the guest loaded the harness's module (kmod/).
  const introspect = proc.descriptors !== undefined && !isErr(await proc.descriptors(addr));
  // An unmapped output vector makes a kernel with the ioctl fail with EFAULT (vm_util's probe).
  const scan = await unlessUnserved(proc.pagemapScan({
    start: addr,
    end: addr + pageSize,
    flags: 0,
    maxPages: 0n,
    categoryInverted: 0,
    categoryMask: 0,
    categoryAnyofMask: SCAN_CATEGORIES,
    returnMask: SCAN_CATEGORIES,
    vecLen: 1,
    badVec: true,
  }), new Errno('ENOTTY', 'ioctl'));
  await proc.munmap(addr, pageSize);
  const swaps = await readFile('/proc/swaps');
  return {
    softDirty,
    uffdWp: await unlessUnserved(uffdWpSupported(proc), false),
    pagemapScan: isErr(scan) && scan.name === 'EFAULT',
    thp: !isErr(await readFile(THP_ENABLED)),
    hugetlb: !isErr(await readFile('/proc/sys/vm/nr_hugepages')),
    swap: !isErr(swaps) && swaps.trim().split('\n').length > 1,
    introspect,
  };
}

/** Requests that may wait in the agent for another one: see ParkedRequests. */
function parks(op: string, fields: Readonly<Record<string, WireValue>>): boolean {
  if (op === 'poll') return fields['timeout'] !== 0;
  return op === 'uffd_read' || op === 'read_fd' || op === 'fork' || op === 'thread_madvise' || op === 'uffd_serve_steps';
}

/** The ops of the process's own loads and stores, which may wait in a fault. */
const ACCESSES = new Set(['read', 'write', 'fill', 'invert', 'increment', 'write_each', 'check_each', 'fill_each', 'check_fill']);

/** A call and its reply as the agent's uffd server made them. */
interface ServedStep {
  readonly req: Reply;
  readonly rep: Reply;
}

/** A check_each event, its index in the whole list, and the calls it made. */
type Event = NonNullable<CheckResult['events']>[number];

function eventOf(e: unknown, from: number, done: number): { event: Event; steps: ServedStep[] } {
  const op = 'check_each';
  if (!isReply(e)) throw malformed(op, 'events', 'a list of events');
  const i = from + int(e, op, 'i');
  if (i > done) throw malformed(op, 'events', `events at most at done (${done - from})`);
  const m = memResultOf({ ...e, ok: true }, op, false);
  if (m.ok) throw malformed(op, 'events', 'events of a signal');
  const skip = e['skip'] === true;
  const steps = skip ? [] : list(e, op, 'steps').map((s) => stepOf(s, op));
  return { event: { i, signal: m.signal, addr: m.addr, skip }, steps };
}

/** The fields of ioctl(UFFDIO_COPY)'s request, and of UFFDIO_WRITEPROTECT's (and the other ioctls on a range). */
const copyFields = (fd: number, dst: bigint, src: bigint, len: bigint, mode: bigint) => ({ fd, dst: hex(dst), src: hex(src), len: hex(len), mode: hex(mode) });
const rangeFields = (fd: number, start: bigint, len: bigint, mode: bigint) => ({ fd, start: hex(start), len: hex(len), mode: hex(mode) });

/** check_each's on_signal for the addresses from `from` on: each strided field at address `from`, with its step. */
function onSignalWire(h: OnSignal, from: number): WireValue {
  const at = (s: Strided) => s.base + BigInt(from) * s.stride;
  const wire = (c: LoopCall): Record<string, WireValue> => {
    switch (c.call) {
      case 'uffdioCopy':
        return { op: 'uffdio_copy', ...copyFields(c.fd, at(c.dst), at(c.src), c.len, c.mode), stride: { dst: hex(c.dst.stride), src: hex(c.src.stride) } };
      case 'uffdioWriteprotect':
        return { op: 'uffdio_writeprotect', ...rangeFields(c.fd, at(c.start), c.len, c.mode), stride: { start: hex(c.start.stride) } };
    }
  };
  return h.then.map((a) => (a === 'skip' ? { skip: true } : { calls: a.map(wire) }));
}

/** A step as the agent wrote it down (uffd_serve_steps, check_each's events). */
function stepOf(s: unknown, op: string): ServedStep {
  if (!isReply(s) || !isReply(s['req']) || !isReply(s['rep'])) throw malformed(op, 'steps', 'a list of steps, each its request and reply');
  return { req: s['req'], rep: s['rep'] };
}

/** A step's reply as the answer to its call: an error reply thrown as any call's would be. */
function answerOf(step: ServedStep, call: string): Reply {
  const wrong = replyError(call, step.rep, JSON.stringify(step.rep));
  if (wrong) throw wrong;
  return step.rep;
}

/** Whether the call (op, fields) is the step's request. */
function isStepOf(step: ServedStep, op: string, fields: Readonly<Record<string, WireValue>>): boolean {
  const keys = Object.keys(fields);
  return (
    step.req['op'] === op &&
    Object.keys(step.req).length === keys.length + 1 &&
    keys.every((k) => JSON.stringify(fields[k]) === JSON.stringify(step.req[k]))
  );
}

/**
 * The calls of serveUffd()'s view, answered in turn from the steps of the
 * agent's server (uffd_serve_steps), each checked to be the step's call;
 * once it has stopped and its steps are taken, sent as usual.
 */
function servedSteps(conn: AgentConnection, pid: number, onEnd: () => void): Interceptor {
  const op = 'uffd_serve_steps';
  const steps: ServedStep[] = [];
  let ended = false;
  const next = async (call: string, fields: Readonly<Record<string, WireValue>>): Promise<Reply> => {
    while (steps.length === 0 && !ended) {
      const r = await conn.request(op, { proc: pid }, true);
      ended = r['ended'] === true;
      if (ended) onEnd();
      for (const s of list(r, op, 'steps')) steps.push(stepOf(s, op));
    }
    const step = steps.shift();
    if (step === undefined) return conn.request(call, { proc: pid, ...fields }, parks(call, fields));
    if (!isStepOf(step, call, fields))
      throw new Error(`agent: uffd_serve: the thread asked for ${call} ${JSON.stringify(fields)} where the handler made ${JSON.stringify(step.req)}: the server does not describe the thread`);
    return answerOf(step, call);
  };
  // one call at a time, as the thread makes them
  let last: Promise<unknown> = Promise.resolve();
  return (call, fields) => {
    const answer = last.then(() => next(call, fields));
    last = answer.catch(() => {});
    return answer;
  };
}

interface Session {
  readonly link: AgentLink;
  readonly conn: AgentConnection;
  readonly hello: AgentHello;
  /** connections on link.procStreams, made when a spawn first names the port */
  readonly ports: (AgentConnection | undefined)[];
  /** shared by all its connections */
  readonly parked: ParkedRequests;
}

function connect(stream: Duplex, options: AgentTargetOptions, link: AgentLink, parked: ParkedRequests): AgentConnection {
  return new AgentConnection(stream, {
    parked,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(link.describeEnd ? { describeEnd: link.describeEnd } : {}),
    ...(link.describeKill ? { describeKill: link.describeKill } : {}),
    ...(link.readNow ? { readNow: () => link.readNow!(stream) } : {}),
  });
}

/** Where a proc's requests go: the port its spawn reply names, else the agent's own connection. */
function procConnection(s: Session, options: AgentTargetOptions, reply: Reply): AgentConnection {
  const port = reply['port'];
  if (port === undefined) return s.conn;
  const stream = typeof port === 'number' ? s.link.procStreams?.[port] : undefined;
  if (stream === undefined || typeof port !== 'number') throw malformed('spawn', 'port', 'the index of a proc port');
  if (s.ports[port] === undefined) {
    s.ports[port] = connect(stream, options, s.link, s.parked);
    s.ports[port].served = s.hello.ops;
  }
  return s.ports[port];
}

/** Usable: neither the agent's connection nor any proc port's has failed (a proc that died on its port leaves that port unreadable). */
function healthy(s: Session): boolean {
  return !s.conn.failed && !s.ports.some((p) => p?.failed);
}

/** Connects to an agent and says hello; the link is closed again if that fails. */
async function openSession(options: AgentTargetOptions): Promise<Session> {
  const link = await options.start();
  const parked = new ParkedRequests();
  const conn = connect(link.stream, options, link, parked);
  try {
    const hello = helloOf(await conn.request('hello'));
    conn.served = hello.ops;
    return { link, conn, hello, ports: [], parked };
  } catch (e) {
    conn.close();
    await link.kill();
    throw e;
  }
}

/** A Target served by agents from options.start(): the first is started (and greeted) before this resolves. */
export async function agentTarget(options: AgentTargetOptions): Promise<Target> {
  let session: Promise<Session> = openSession(options);
  const { hello } = await session;
  const info: TargetInfo = { name: options.name, arch: archOf(hello.machine), layout: null, kernel: hello.release, pageSize: hello.pageSize };
  let caps: Promise<Caps> | null = null;

  /** The running agent, or a fresh one in place of one that died, stopped answering or never started. */
  const current = async (): Promise<Session> => {
    const last = session;
    const s = await last.catch(() => null);
    if (s && healthy(s)) return s;
    // concurrent callers share one restart
    if (session === last) session = (s ? s.link.kill() : Promise.resolve()).then(() => openSession(options));
    return session;
  };
  const spawn = async (): Promise<AgentProc> => {
    const s = await current();
    const reply = await s.conn.request('spawn');
    if (reply['ok'] !== true) throw new Error(`agent: spawn failed: ${errnoOf(reply, 'spawn')}`);
    return new AgentProc(procConnection(s, options, reply), int(reply, 'spawn', 'proc'), s.conn);
  };
  const probe = async (): Promise<Caps> => {
    const proc = await spawn();
    try {
      return await probeCaps(proc, BigInt(info.pageSize));
    } finally {
      await proc.exit().catch(() => {}); // a failed probe's own error says more
    }
  };

  return {
    info: async () => info,
    capabilities: () =>
      (caps ??= probe().catch((e: unknown) => {
        caps = null; // probe again next time, on a fresh agent
        throw e;
      })),
    spawn,
    async close() {
      const s = await session.catch(() => null);
      if (!s) return;
      for (const p of s.ports) p?.close();
      s.conn.close();
      await s.link.close();
    },
  };
}
