// The QEMU targets: a Debian kernel booted under TCG with the agent as its
// /init, serving the protocol on the guest's virtio-serial port. One boot
// per run (the agent forks a process per spawn()); a guest that panics, hangs
// or loses its channel is replaced by a fresh boot at the next spawn(),
// exactly as linux-host replaces a dead agent.
//
// Spec: "qemu-ARCH[@GENERATION][+OPTION=VALUE]...": ARCH arm64 or x86_64,
// GENERATION stable (trixie, 6.12; the default) or current (sid, 7.x),
// options thp=always|madvise|never and thp_zero=0|1, which the agent's init
// writes to sysfs before it serves (mmconform.KEY=VALUE kernel parameters);
// swap=SIZE (K, M or G; 0 for none; default 64M), a RAM disk (the kernel's
// own brd module) the agent's init swaps to; hugetlb=N (default 16), 2 MiB
// hugetlb pages the kernel reserves at boot (its hugepages=N); numa=N
// (default 2), the 1 GiB split over N nodes, the CPU on node 0, so that
// move_pages() has somewhere to move a page to (automatic NUMA balancing off).
//
// The guest also loads kmod/ (mmconform_pgwalk), built for its kernel
// against the headers setup unpacked, which gives Proc.descriptors(); where
// it cannot be built the guest runs without it, and says so in one line.

import { readFile } from 'node:fs/promises';
import { machine as hostMachine } from 'node:os';
import { buildAgentFor, type AgentMachine } from '../agent/build.ts';
import { agentTarget, type AgentLink } from '../agent/client.ts';
import { readNowFrom } from '../agent/read-now.ts';
import { bootGuest, GUEST_CHANNEL, guestProcPort, kernelPanic, lastLines, linesNamingPid, qemuBinary, type Guest } from '../qemu/boot.ts';
import { whichSync } from '../qemu/exec.ts';
import { buildInitramfs, type InitramfsFile } from '../qemu/initramfs.ts';
import { cachedKernel, missingKernel, SUITE, type CachedKernel, type GuestArch, type KernelGeneration } from '../qemu/kernel-cache.ts';
import { buildPgwalk } from '../qemu/kmod-build.ts';
import { DEFAULT_HUGETLB_PAGES, DEFAULT_NUMA_NODES, DEFAULT_SWAP_KIB, parseHugetlbPages, parseNumaNodes, parseSwapKiB } from '../memory-options.ts';
import type { Target } from '../target.ts';

export const QEMU_ARCHES: Readonly<Record<string, GuestArch>> = { 'qemu-arm64': 'arm64', 'qemu-x86_64': 'x86_64' };
const MACHINE: Readonly<Record<GuestArch, AgentMachine>> = { arm64: 'aarch64', x86_64: 'x86_64' };
const SYSFS_OPTIONS: Readonly<Record<string, readonly string[]>> = { thp: ['always', 'madvise', 'never'], thp_zero: ['0', '1'] };
const OPTION_NAMES = [...Object.keys(SYSFS_OPTIONS), 'swap', 'hugetlb', 'numa', 'khugepaged'];
/** khugepaged=asleep (the default): kept from collapsing at moments no model can follow (harness/agent/init.c) */
const KHUGEPAGED = ['asleep', 'awake'];

/** Consoles of their own for this many procs at a time: a request then skips the router's two context switches. */
const PROC_PORTS = 8;

/** How long a guest gets to power off after its channel closes before QEMU is killed. */
const POWEROFF_GRACE_MS = 5000;

export interface QemuSpec {
  readonly arch: GuestArch;
  readonly generation: KernelGeneration;
  /** mmconform.KEY=VALUE kernel parameters */
  readonly kernelParams: readonly string[];
  readonly numaNodes: number;
}

/** Parses "qemu-ARCH[@GENERATION][+OPTION=VALUE]..."; a one-line Error for anything else. */
export function parseQemuSpec(name: string): QemuSpec {
  const [head = '', ...opts] = name.split('+');
  const [base = '', generation = 'stable', ...rest] = head.split('@');
  const arch = QEMU_ARCHES[base];
  if (arch === undefined) throw new Error(`unknown QEMU target "${base}" (known: ${Object.keys(QEMU_ARCHES).join(', ')})`);
  if (rest.length > 0 || (generation !== 'stable' && generation !== 'current'))
    throw new Error(`bad QEMU target "${name}": the kernel is @stable (${SUITE.stable}) or @current (${SUITE.current})`);
  let swapKiB = DEFAULT_SWAP_KIB;
  let hugetlb = DEFAULT_HUGETLB_PAGES;
  let khugepaged = 'asleep';
  let numaNodes = DEFAULT_NUMA_NODES;
  const kernelParams: string[] = [];
  for (const o of opts) {
    const [key = '', value = ''] = o.split('=');
    if (key === 'swap') swapKiB = parseSwapKiB(value, 'QEMU target');
    else if (key === 'hugetlb') hugetlb = parseHugetlbPages(value, 'QEMU target');
    else if (key === 'numa') numaNodes = parseNumaNodes(value, 'QEMU target');
    else if (key === 'khugepaged') {
      if (!KHUGEPAGED.includes(value)) throw new Error(`QEMU target option khugepaged=${value}: expected one of ${KHUGEPAGED.join(', ')}`);
      khugepaged = value;
    } else {
      const allowed = SYSFS_OPTIONS[key];
      if (allowed === undefined) throw new Error(`unknown QEMU target option "${o}" (known: ${OPTION_NAMES.join(', ')})`);
      if (!allowed.includes(value)) throw new Error(`QEMU target option ${key}=${value}: expected one of ${allowed.join(', ')}`);
      kernelParams.push(`mmconform.${key}=${value}`);
    }
  }
  if (swapKiB > 0) kernelParams.push(`mmconform.swap=${swapKiB}`);
  if (hugetlb > 0) kernelParams.push(`hugepages=${hugetlb}`);
  // after the THP setting: init applies them in order, and khugepaged runs only with THP on
  if (khugepaged === 'asleep') kernelParams.push('mmconform.khugepaged=asleep');
  // automatic NUMA balancing, on by default with two nodes, turns ptes into PROT_NONE hints at moments no model can follow
  if (numaNodes > 1) kernelParams.push('numa_balancing=disable');
  return { arch, generation, kernelParams, numaNodes };
}

/** A booted guest as the link agentTarget talks through. */
function guestLink(guest: Guest): AgentLink {
  let exited: string | null = null;
  void guest.exited.then((exit) => {
    exited = `QEMU exited (${exit.signal !== null ? `killed by ${exit.signal}` : `status ${exit.code}`})`;
  });
  // The channel may close before QEMU has exited: a panic is in the log by then.
  const end = (): string | null => {
    const panic = kernelPanic(guest.log());
    return panic !== undefined ? `the guest kernel panicked: ${panic}` : exited;
  };
  const scratch = Buffer.allocUnsafe(1 << 16);
  return {
    stream: guest.channel,
    procStreams: guest.procChannels,
    // the channels are QEMU's chardev sockets, read directly while a reply is awaited
    readNow: (from) => readNowFrom(from, [from], scratch),
    describeEnd: () => `${end() ?? 'the guest closed its channel'}; kernel log: ${lastLines(guest.log(), 2) || '(empty)'}`,
    describeKill: (pid) => {
      const lines = linesNamingPid(guest.log(), pid, 2);
      return lines !== '' ? `kernel log: ${lines}` : undefined;
    },
    // The agent powers the guest off at the end of its input.
    close: async () => {
      guest.channel.end();
      const timer = setTimeout(() => void guest.kill(), POWEROFF_GRACE_MS);
      await guest.exited;
      clearTimeout(timer);
    },
    kill: () => guest.kill(),
  };
}

/** Why a guest of this spec cannot boot here (QEMU, a cross compiler or the kernel missing), or undefined when it can. */
export function qemuUnavailable(spec: QemuSpec): string | undefined {
  if (process.env['MMCONFORM_NO_QEMU']) return 'MMCONFORM_NO_QEMU is set';
  const tools = [qemuBinary(spec.arch), ...(hostMachine() === MACHINE[spec.arch] ? [] : [`${MACHINE[spec.arch]}-linux-gnu-gcc`])];
  const missing = tools.find((tool) => whichSync(tool) === undefined);
  if (missing !== undefined) return `${missing} not installed: run npm run setup:kernels`;
  return cachedKernel(spec.arch, spec.generation) === undefined ? missingKernel(spec.arch, spec.generation) : undefined;
}

/** Why a spec's guest cannot give raw descriptors on this machine, or undefined. */
export function descriptorsUnavailable(spec: QemuSpec): string | undefined {
  const kernel = cachedKernel(spec.arch, spec.generation);
  if (kernel !== undefined && kernel.headers === undefined) return `no ${SUITE[spec.generation]} kernel headers to build kmod/ with: run npm run setup:kernels`;
  return qemuUnavailable(spec);
}

/** The page-table reader for the guest's /init to load (init.c's PGWALK_MODULE), or nothing, said on stderr, when it cannot be built. */
async function pgwalkFile(name: string, kernel: CachedKernel): Promise<InitramfsFile[]> {
  try {
    const { path } = await buildPgwalk(kernel);
    return [{ path: '/lib/modules/mmconform_pgwalk.ko', mode: 0o644, data: await readFile(path) }];
  } catch (e) {
    process.stderr.write(`# ${name}: no raw descriptors: ${e instanceof Error ? e.message : String(e)}\n`);
    return [];
  }
}

/** Boots the guest a spec names; throws a one-line Error when a tool or the kernel is missing. */
export async function qemuTarget(name: string, options: { readonly timeoutMs?: number } = {}): Promise<Target> {
  const spec = parseQemuSpec(name);
  const unavailable = qemuUnavailable(spec);
  const kernel = cachedKernel(spec.arch, spec.generation);
  if (unavailable !== undefined || kernel === undefined) throw new Error(`${name}: ${unavailable ?? missingKernel(spec.arch, spec.generation)}`);
  const initramfs = buildInitramfs({
    init: await readFile(await buildAgentFor(MACHINE[spec.arch])),
    files: [{ path: '/lib/modules/brd.ko.xz', mode: 0o644, data: await readFile(kernel.modules.brd) }, ...(await pgwalkFile(name, kernel))],
  });
  const consoleLog = process.env['MMCONFORM_QEMU_CONSOLE'];
  const start = async (): Promise<AgentLink> => {
    process.stderr.write(`# ${name}: booting ${SUITE[spec.generation]} ${kernel.release} under QEMU (TCG)\n`);
    const guest = await bootGuest({
      arch: spec.arch,
      kernel: kernel.vmlinuz,
      initramfs,
      kernelParams: spec.kernelParams,
      numaNodes: spec.numaNodes,
      initArgs: ['--init', '--console', GUEST_CHANNEL, ...Array.from({ length: PROC_PORTS }, (_, i) => ['--proc-port', guestProcPort(i)]).flat()],
      procPorts: PROC_PORTS,
      ...(consoleLog ? { consoleLog } : {}),
    });
    process.stderr.write(`# ${name}: ready in ${(guest.bootMs / 1000).toFixed(1)} s\n`);
    return guestLink(guest);
  };
  return agentTarget({ name, start, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) });
}
