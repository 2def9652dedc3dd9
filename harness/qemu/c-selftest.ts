// The C side of a ported selftest: builds tools/testing/selftests/mm/NAME.c
// from a Linux source tree, static, for a kernel's architecture, and runs it
// there as kselftest's runner would (./NAME, stdout and stderr one stream),
// on this machine or in a QEMU guest booted as the QEMU targets boot theirs
// (same kernel parameters, the agent's own init_system(): swap RAM disk,
// hugetlb pool, THP settings). Its output goes to stdout untouched, so a
// port's KTAP can be held to it line for line (harness/fixtures/c-*.txt).
//
//   npx tsx harness/qemu/c-selftest.ts --kernel KERNEL --test NAME [--tree TREE] [--timeout SEC]
//
// KERNEL: host, or SUITE-DEBARCH[+OPTION=VALUE]... (trixie-arm64, sid-amd64+thp=never;
// the options are the QEMU targets' own). TREE: a version (7.2, 6.12: the
// tree $MMCONFORM_LINUX_SRC/linux-source-VERSION, default /work/src) or a
// tree's path; default the guest kernel's own version, on the host the
// model's (DEFAULT_KERNEL). The summary (exit status, the program's wall
// time, the kernel's log during the run) goes to stderr; the exit status is
// the program's (128+N for signal N), 125 when it could not be run.
//
// The tree's uapi headers (make headers, out of tree) are cached per tree
// and architecture under the mmconform cache (kernel-cache.ts: cacheRoot).

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants, machine as hostMachine, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_KERNEL } from '../../model/kernel.ts';
import { parseQemuSpec, qemuUnavailable, type QemuSpec } from '../targets/qemu.ts';
import { bootGuest, GUEST_CHANNEL, guestProcPort, kernelPanic, lastLines } from './boot.ts';
import { execTool } from './exec.ts';
import { buildInitramfs } from './initramfs.ts';
import { cacheRoot, cachedKernel, DEBIAN_ARCH, GENERATIONS, GUEST_ARCHES, missingKernel, SUITE, type CachedKernel, type GuestArch } from './kernel-cache.ts';
import { TEST_INIT_COMPILER } from './testinit.ts';

const INIT_SOURCES = [fileURLToPath(new URL('c-selftest-init.c', import.meta.url)), fileURLToPath(new URL('../agent/init.c', import.meta.url))];
const AGENT_DIR = fileURLToPath(new URL('../agent/', import.meta.url));
const INIT_FLAGS = ['-static', '-O2', '-std=c11', '-Wall', '-Wextra', '-Werror'];

/** The kernel's ARCH= for `make headers`. */
const KBUILD_ARCH: Readonly<Record<GuestArch, string>> = { arm64: 'arm64', x86_64: 'x86' };
/** Exit status when the program could not be built or run (as git bisect's "cannot test"). */
export const CANNOT_RUN = 125;
/** Long enough for any mm selftest under TCG; kselftest's own timeout (the tree's settings file) is only reported. */
const DEFAULT_TIMEOUT_S = 3600;

/** Where the program runs: this machine, or a cached Debian kernel under QEMU. */
export type Machine =
  | { readonly kind: 'host'; readonly arch: GuestArch; readonly label: string }
  | { readonly kind: 'guest'; readonly arch: GuestArch; readonly label: string; readonly spec: QemuSpec; readonly kernel: CachedKernel };

/** "host", or "SUITE-DEBARCH[+OPTION=VALUE]..." (trixie-arm64, sid-amd64+thp=never); a one-line Error otherwise. */
export function parseMachine(name: string): Machine {
  if (name === 'host') {
    const m = hostMachine();
    const arch = m === 'aarch64' ? 'arm64' : m === 'x86_64' ? 'x86_64' : undefined;
    if (arch === undefined) throw new Error(`this machine is ${m}: only arm64 and x86_64 are built for`);
    return { kind: 'host', arch, label: 'host' };
  }
  const [head = '', ...opts] = name.split('+');
  const known = GENERATIONS.flatMap((g) => GUEST_ARCHES.map((a) => ({ key: `${SUITE[g]}-${DEBIAN_ARCH[a]}`, generation: g, arch: a })));
  const k = known.find((c) => c.key === head);
  if (k === undefined) throw new Error(`unknown kernel "${head}" (known: host, ${known.map((c) => c.key).join(', ')})`);
  const spec = parseQemuSpec([`qemu-${k.arch}@${k.generation}`, ...opts].join('+'));
  const unavailable = qemuUnavailable(spec);
  const kernel = cachedKernel(spec.arch, spec.generation);
  if (unavailable !== undefined || kernel === undefined) throw new Error(unavailable ?? missingKernel(spec.arch, spec.generation));
  return { kind: 'guest', arch: k.arch, label: name, spec, kernel };
}

/** "7.2" from "7.2.13+deb14-cloud-arm64". */
function majorMinor(release: string): string {
  return /^(\d+\.\d+)/.exec(release)?.[1] ?? release;
}

/** The source tree a version names ($MMCONFORM_LINUX_SRC/linux-source-VERSION), or a tree's own path. */
export function linuxTree(tree: string): string {
  const dir = /^\d+\.\d+$/.test(tree) ? join(process.env['MMCONFORM_LINUX_SRC'] || '/work/src', `linux-source-${tree}`) : resolve(tree);
  if (!existsSync(join(dir, 'tools', 'testing', 'selftests', 'mm', 'Makefile'))) throw new Error(`no Linux tree with tools/testing/selftests/mm at ${dir}`);
  return realpathSync(dir);
}

/** The tree a machine runs by default: the guest kernel's own, the model's on the host. */
export function defaultTree(machine: Machine): string {
  return machine.kind === 'guest' ? majorMinor(machine.kernel.release) : DEFAULT_KERNEL.version;
}

/** The tree's uapi headers for `arch` (what lib.mk's KHDR_INCLUDES names), made once with `make headers` out of tree. */
export async function uapiHeaders(tree: string, arch: GuestArch): Promise<string> {
  const id = createHash('sha256').update(tree).digest('hex').slice(0, 8);
  const dir = join(cacheRoot(), 'selftests', `uapi-${basename(tree)}-${KBUILD_ARCH[arch]}-${id}`);
  const include = join(dir, 'usr', 'include');
  if (existsSync(join(dir, 'done'))) return include;
  mkdirSync(join(cacheRoot(), 'selftests'), { recursive: true });
  const work = mkdtempSync(`${dir}.tmp-`);
  try {
    await execTool('make', ['-s', '-C', tree, `O=${work}`, `ARCH=${KBUILD_ARCH[arch]}`, 'headers'], { why: /\berror\b|\*\*\*/i });
    // Only the installed headers; the build's scripts and objects serve no one.
    const kept = mkdtempSync(`${dir}.kept-`);
    mkdirSync(join(kept, 'usr'));
    renameSync(join(work, 'usr', 'include'), join(kept, 'usr', 'include'));
    writeFileSync(join(kept, 'done'), `${tree}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(kept, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return include;
}

export interface BuildInputs {
  /** relative to the mm directory, NAME.c first */
  readonly sources: readonly string[];
  readonly ldlibs: readonly string[];
}

/**
 * What the mm Makefile links into NAME: NAME.c, the sources every test
 * links ($(TEST_GEN_FILES): vm_util.c ...) and any of its own
 * ($(OUTPUT)/NAME: uffd-common.c), with LDLIBS and NAME's own additions;
 * make variables (liburing's, when found) are left out.
 */
export function buildInputs(makefile: string, name: string): BuildInputs {
  const lines = makefile.replace(/\\\n/g, ' ').split('\n');
  const words = (s: string): string[] => s.split(/\s+/).filter((w) => w !== '' && !w.includes('$('));
  const listed = (list: string): boolean => lines.some((l) => new RegExp(`^${list}\\s*\\+?:?=`).test(l) && words(l.replace(/^[^=]*=/, '')).includes(name));
  const sources = [`${name}.c`];
  const ldlibs: string[] = [];
  for (const l of lines) {
    const general = /^\$\((TEST_GEN_PROGS|TEST_GEN_FILES)\):\s*(.*)$/.exec(l);
    if (general !== null && listed(general[1]!)) sources.push(...words(general[2]!));
    const own = new RegExp(`^\\$\\(OUTPUT\\)/${name.replace(/[-.]/g, '\\$&')}:\\s*(.*)$`).exec(l);
    if (own !== null) {
      const libs = /^LDLIBS\s*\+=\s*(.*)$/.exec(own[1]!);
      if (libs !== null) ldlibs.push(...words(libs[1]!));
      else sources.push(...words(own[1]!));
    }
    const base = /^LDLIBS\s*=\s*(.*)$/.exec(l);
    if (base !== null) ldlibs.unshift(...words(base[1]!));
  }
  return { sources: [...new Set(sources)], ldlibs };
}

/**
 * Builds NAME from the tree's mm selftests into outDir/NAME: lib.mk's and
 * the mm Makefile's flags, -static; compiled from the mm directory by
 * relative names, so __FILE__ is "NAME.c" as in a kselftest build.
 */
export async function buildSelftest(tree: string, name: string, arch: GuestArch, outDir: string): Promise<string> {
  const mm = join(tree, 'tools', 'testing', 'selftests', 'mm');
  if (!existsSync(join(mm, `${name}.c`))) throw new Error(`no ${name}.c in ${mm}`);
  const inputs = buildInputs(readFileSync(join(mm, 'Makefile'), 'utf8'), name);
  const include = await uapiHeaders(tree, arch);
  const out = join(outDir, name);
  const cflags = [
    '-Wall', '-O2', '-I', tree, '-isystem', include, '-isystem', join(tree, 'tools', 'include', 'uapi'),
    '-U_FORTIFY_SOURCE', '-D_GNU_SOURCE=', '-I', join(tree, 'tools', 'testing', 'selftests'),
    // the Makefile's, where the compiler can (x86_64)
    ...(arch === 'x86_64' ? ['-no-pie'] : []),
    '-static',
  ];
  await execTool(TEST_INIT_COMPILER[arch], [...cflags, ...inputs.sources, ...inputs.ldlibs, '-o', out], { cwd: mm, why: /\berror\b/ });
  return out;
}

/** The guest's /init (c-selftest-init.c with the agent's init.c) for `arch`, built into outDir. */
async function buildInit(arch: GuestArch, outDir: string): Promise<string> {
  const out = join(outDir, `c-selftest-init-${arch}`);
  await execTool(TEST_INIT_COMPILER[arch], [...INIT_FLAGS, '-I', AGENT_DIR, '-o', out, ...INIT_SOURCES], { why: /\berror\b/ });
  return out;
}

/** How a run ended. */
export interface RunResult {
  /** the exit status, null when a signal ended it or it never ended */
  readonly exit: number | null;
  readonly signal: string | null;
  /** fork to reaping (in the guest: measured there) */
  readonly wallMs: number;
  readonly timedOut: boolean;
  /** a guest's boot, QEMU start to ready line */
  readonly bootMs?: number;
  /** the kernel's log from the ready line on (a guest's) */
  readonly kernelLog?: string;
}

export interface RunOptions {
  readonly timeoutMs: number;
  /** the program's output, chunk by chunk as it comes */
  readonly output: (chunk: Buffer) => void;
}

/** Runs `binary` here as ./NAME from its own directory, stdout and stderr one pipe. */
export function runOnHost(binary: string, options: RunOptions): Promise<RunResult> {
  const cwd = resolve(binary, '..');
  const t0 = performance.now();
  const child = spawn('sh', ['-c', 'exec "$0" "$@" 2>&1', `./${basename(binary)}`], { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.on('data', options.output);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    // SIGTERM first: hugepage_settings.c restores the hugetlb pool on it
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  }, options.timeoutMs);
  return new Promise((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ exit: code, signal, wallMs: performance.now() - t0, timedOut });
    });
  });
}

interface GuestStatus {
  readonly exit: number | null;
  readonly signal: number | null;
  readonly ms: number;
}

/** Boots the guest with NAME at / and its /init running it as ./NAME in /; resolves once QEMU has exited. */
export async function runInGuest(machine: Extract<Machine, { kind: 'guest' }>, binary: string, options: RunOptions): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'mmconform-c-selftest-'));
  try {
    const name = basename(binary);
    const initramfs = buildInitramfs({
      init: readFileSync(await buildInit(machine.arch, dir)),
      files: [
        { path: `/${name}`, mode: 0o755, data: readFileSync(binary) },
        { path: '/lib/modules/brd.ko.xz', mode: 0o644, data: readFileSync(machine.kernel.modules.brd) },
      ],
    });
    const guest = await bootGuest({
      arch: machine.arch,
      kernel: machine.kernel.vmlinuz,
      initramfs,
      kernelParams: machine.spec.kernelParams,
      numaNodes: machine.spec.numaNodes,
      initArgs: ['--console', GUEST_CHANNEL, '--status', guestProcPort(0), '--cwd', '/', `./${name}`],
      procPorts: 1,
    });
    const logFrom = guest.log().length;
    guest.channel.on('data', options.output);
    const statusPort = guest.procChannels[0]!;
    let statusText = '';
    statusPort.setEncoding('utf8').on('data', (d: string) => (statusText += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void guest.kill();
    }, options.timeoutMs);
    const exit = await guest.exited;
    clearTimeout(timer);
    // QEMU wrote everything before it exited; read to the end of what it wrote.
    await Promise.all([finished(guest.channel).catch(() => {}), finished(statusPort).catch(() => {})]);
    const kernelLog = guest.log().slice(logFrom);
    const line = statusText.split('\n')[0] ?? '';
    if (line === '') {
      if (timedOut) return { exit: null, signal: null, wallMs: options.timeoutMs, timedOut, bootMs: guest.bootMs, kernelLog };
      const panic = exit.panic ?? kernelPanic(kernelLog);
      throw new Error(`the guest ended without a status: ${panic !== undefined ? `kernel panic: ${panic}` : `QEMU exit ${exit.code ?? exit.signal}`}; kernel log: ${lastLines(kernelLog, 3) || '(empty)'}`);
    }
    const status = JSON.parse(line) as GuestStatus;
    const signal = status.signal === null ? null : (signalName(status.signal) ?? String(status.signal));
    return { exit: status.exit, signal, wallMs: status.ms, timedOut, bootMs: guest.bootMs, kernelLog };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Signal numbers are this machine's: the ones a test dies of are the same on arm64 and x86_64. */
function signalName(n: number): string | undefined {
  return Object.entries(osConstants.signals).find(([, v]) => v === n)?.[0];
}

/** The status a shell would give: the exit status, or 128+N for signal N. */
function shellStatus(r: RunResult): number {
  if (r.exit !== null) return r.exit;
  const n = r.signal === null ? undefined : osConstants.signals[r.signal as NodeJS.Signals];
  return n !== undefined ? 128 + n : CANNOT_RUN;
}

/** kselftest's timeout for the tree's mm tests (its settings file; 45 s without one). */
export function kselftestTimeoutS(tree: string): number {
  try {
    return Number(/^timeout=(\d+)/m.exec(readFileSync(join(tree, 'tools', 'testing', 'selftests', 'mm', 'settings'), 'utf8'))?.[1] ?? 45);
  } catch {
    return 45;
  }
}

const USAGE = 'usage: c-selftest.ts --kernel host|SUITE-DEBARCH[+OPTION=VALUE]... --test NAME [--tree VERSION|PATH] [--timeout SEC]';

async function main(argv: readonly string[]): Promise<number> {
  const say = (line: string): void => void process.stderr.write(`# c-selftest: ${line}\n`);
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { kernel: { type: 'string' }, test: { type: 'string' }, tree: { type: 'string' }, timeout: { type: 'string' } },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
    return CANNOT_RUN;
  }
  if (values.kernel === undefined || values.test === undefined || !/^[\w-]+$/.test(values.test) || (values.timeout !== undefined && !/^\d+$/.test(values.timeout))) {
    process.stderr.write(`${USAGE}\n`);
    return CANNOT_RUN;
  }
  const dir = mkdtempSync(join(tmpdir(), 'mmconform-c-selftest-'));
  try {
    const machine = parseMachine(values.kernel);
    const tree = linuxTree(values.tree ?? defaultTree(machine));
    const t0 = Date.now();
    const binary = await buildSelftest(tree, values.test, machine.arch, dir);
    const where = machine.kind === 'guest' ? `${machine.label} (${machine.kernel.release}, ${machine.spec.kernelParams.join(' ')})` : `this machine (${hostMachine()})`;
    say(`${values.test} from ${tree}, built in ${((Date.now() - t0) / 1000).toFixed(1)} s; running on ${where}`);
    const options: RunOptions = {
      timeoutMs: Number(values.timeout ?? DEFAULT_TIMEOUT_S) * 1000,
      output: (chunk) => void process.stdout.write(chunk),
    };
    const result = machine.kind === 'guest' ? await runInGuest(machine, binary, options) : await runOnHost(binary, options);
    for (const l of (result.kernelLog ?? '').split(/\r?\n/)) if (l.trim() !== '') say(`kernel: ${l.trimEnd()}`);
    const status = shellStatus(result);
    const how = result.timedOut ? `TIMEOUT after ${options.timeoutMs / 1000} s` : result.exit !== null ? `exit ${result.exit}` : `killed by ${result.signal}`;
    const ksftTimeout = kselftestTimeoutS(tree);
    const beyond = result.wallMs > ksftTimeout * 1000 ? ` (beyond kselftest's timeout=${ksftTimeout})` : '';
    const boot = result.bootMs !== undefined ? `, boot ${(result.bootMs / 1000).toFixed(1)} s` : '';
    say(`${values.test} on ${machine.label}: ${how}; the program ran ${(result.wallMs / 1000).toFixed(2)} s wall${beyond}${boot}, ${((Date.now() - t0) / 1000).toFixed(1)} s in all`);
    return result.timedOut ? CANNOT_RUN : status;
  } catch (e) {
    say(`error: ${e instanceof Error ? e.message : String(e)}`);
    return CANNOT_RUN;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
