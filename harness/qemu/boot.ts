// Boot a Debian kernel under QEMU (TCG) with our program as /init, and hand
// back the channel it serves once it has printed its ready line.
//
// Two channels, kept apart so neither corrupts the other:
// - the kernel log on the board's serial port (ttyAMA0, ttyS0), into a file
//   we follow (file-tail.ts says why not a pipe), so a panic or an init's
//   last words are visible;
// - the protocol on a virtio-serial port (virtio-serial-pci: Debian's cloud
//   kernels build virtio-pci and the virtio console driver in, and
//   virtio-mmio only as a module), which the guest sees as /dev/vport0p1: a
//   plain byte pipe, no tty layer to echo, cook or cut long lines. The host
//   end is a unix socket we listen on and QEMU connects to at start-up.

import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { whichSync } from './exec.ts';
import { tailFile } from './file-tail.ts';
import type { GuestArch } from './kernel-cache.ts';

/** The protocol channel inside the guest; /init must mount devtmpfs on /dev to see it. */
export const GUEST_CHANNEL = '/dev/vport0p1';
/** The line /init prints on the channel when it serves requests. */
export const READY_LINE = 'mmconform-agent ready';

export interface BootOptions {
  readonly arch: GuestArch;
  /** the kernel image (kernel-cache.ts: kernelPath) */
  readonly kernel: string;
  /** the initramfs (initramfs.ts: buildInitramfs) */
  readonly initramfs: Uint8Array;
  /** NUMA nodes the guest's 1 GiB is split over, its CPU on node 0 (default 1) */
  readonly numaNodes?: number;
  /** more kernel command-line parameters (e.g. the agent's mmconform.KEY=VALUE settings) */
  readonly kernelParams?: readonly string[];
  /** arguments for /init (the kernel passes what follows "--" on its command line) */
  readonly initArgs?: readonly string[];
  /** default 60 s */
  readonly readyTimeoutMs?: number;
  /** more virtio-serial ports, /dev/vport0p2 on (guestProcPort), for the agent's procs (default none) */
  readonly procPorts?: number;
  /** a file the guest's console output is appended to as it comes (the kernel's log, the agent's stderr) */
  readonly consoleLog?: string;
}

/** The guest's node for the `index`th (from 0) of BootOptions.procPorts. */
export function guestProcPort(index: number): string {
  return `/dev/vport0p${index + 2}`;
}

export interface GuestExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** the kernel's panic message, when it panicked */
  readonly panic: string | undefined;
}

export interface Guest {
  /** the protocol, from the line after the ready line on */
  readonly channel: Duplex;
  /** the host ends of BootOptions.procPorts, in order */
  readonly procChannels: readonly Duplex[];
  /** QEMU start to ready line, in ms */
  readonly bootMs: number;
  /** the QEMU command line, for reports */
  readonly command: readonly string[];
  /** the kernel log so far (its last MiB) */
  log(): string;
  /** settles when QEMU has exited, for whatever reason */
  readonly exited: Promise<GuestExit>;
  /** stop QEMU now; resolves once it has exited */
  kill(): Promise<void>;
}

interface MachineSpec {
  readonly qemu: string;
  readonly machine: readonly string[];
  readonly console: string;
}

// Pinned CPU models, so the page-table format is the one the model describes:
// arm64 -cpu max less LPA2 (which makes bits 8-9 output-address bits and adds
// a level) and less pointer authentication (its emulation triples boot time);
// x86-64 -cpu max with four levels, not five.
const MACHINES: Readonly<Record<GuestArch, MachineSpec>> = {
  arm64: { qemu: 'qemu-system-aarch64', machine: ['-M', 'virt', '-cpu', 'max,lpa2=off,pauth=off'], console: 'ttyAMA0' },
  x86_64: { qemu: 'qemu-system-x86_64', machine: ['-M', 'q35', '-cpu', 'max,la57=off'], console: 'ttyS0' },
};

/** The QEMU binary a guest of `arch` needs. */
export function qemuBinary(arch: GuestArch): string {
  return MACHINES[arch].qemu;
}

const DEFAULT_READY_TIMEOUT_MS = 60_000;
const LOG_LIMIT = 1 << 20;
const PANIC = /Kernel panic - not syncing: ([^\r\n]*)\r?\n/;

/** The panic message in a kernel log, if the kernel panicked. */
export function kernelPanic(log: string): string | undefined {
  return PANIC.exec(log)?.[1];
}

/** Every QEMU still running, killed when this process exits however it exits normally. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** QEMU's arguments for the guest's RAM split evenly over `nodes` nodes, the CPU on the first. */
function numaArgs(nodes: number): string[] {
  if (nodes === 1) return [];
  const size = `${1024 / nodes}M`;
  return Array.from({ length: nodes }, (_, i) => [
    '-object', `memory-backend-ram,id=mem${i},size=${size}`,
    '-numa', `node,nodeid=${i},memdev=mem${i}${i === 0 ? ',cpus=0' : ''}`,
  ]).flat();
}

/**
 * Boot and wait for the ready line. Rejects with a one-line Error naming the
 * cause (QEMU missing or refusing its arguments, a kernel panic, no ready
 * line in time, garbage before it) and the last kernel log lines.
 */
export async function bootGuest(options: BootOptions): Promise<Guest> {
  const spec = MACHINES[options.arch];
  const qemuPath = whichSync(spec.qemu);
  if (qemuPath === undefined) throw new Error(`${spec.qemu} not installed: run npm run setup:kernels`);

  const dir = mkdtempSync(join(tmpdir(), 'mmconform-qemu-'));
  const socketPath = join(dir, 'channel.sock');
  const procPortPaths = Array.from({ length: options.procPorts ?? 0 }, (_, i) => join(dir, `proc${i}.sock`));
  const initrdPath = join(dir, 'initramfs.cpio');
  writeFileSync(initrdPath, options.initramfs);
  const consolePath = join(dir, 'console.log');
  writeFileSync(consolePath, '');
  const append = [
    `console=${spec.console}`,
    'panic=-1',
    ...(options.kernelParams ?? []),
    ...(options.initArgs !== undefined ? ['--', ...options.initArgs] : []),
  ];
  const command = [
    spec.qemu,
    ...spec.machine,
    '-m', '1G',
    ...numaArgs(options.numaNodes ?? 1),
    // Emulated even where KVM exists, so a guest behaves the same on every host.
    '-accel', 'tcg',
    // Nothing but what we ask for: no NIC, VGA or monitor to emulate or probe.
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-serial', `file:${consolePath}`,
    // A panic (panic=-1) or init's exit reboots, and -no-reboot turns that into QEMU's exit.
    '-no-reboot',
    '-kernel', options.kernel,
    '-initrd', initrdPath,
    '-append', append.join(' '),
    // ioeventfd=off: a guest's kick is served on its vCPU thread, not passed to the main loop
    // through an eventfd: under TCG that hand-off is a host wakeup per reply (7% of a round trip, measured).
    '-device', 'virtio-serial-pci,ioeventfd=off',
    '-chardev', `socket,id=channel,path=${socketPath}`,
    '-device', 'virtserialport,chardev=channel,name=mmconform,nr=1',
    ...procPortPaths.flatMap((path, i) => [
      '-chardev', `socket,id=proc${i},path=${path}`,
      '-device', `virtserialport,chardev=proc${i},name=mmconform.proc${i},nr=${i + 2}`,
    ]),
  ];

  const server = createServer();
  const procServers = procPortPaths.map(() => createServer());
  try {
    await Promise.all([server, ...procServers].map((s, i) => listen(s, i === 0 ? socketPath : procPortPaths[i - 1]!)));
  } catch (e) {
    for (const s of [server, ...procServers]) s.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  // QEMU connects every socket chardev as it starts, long before the guest is up.
  const procChannels = Promise.all(procServers.map(acceptOne));

  const started = Date.now();
  // setpriv's parent-death signal kills QEMU even when this process dies by a
  // signal, which skips the exit handler above.
  const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', qemuPath, ...command.slice(1)], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let log = '';
  let stderr = '';
  let notePanic: (message: string) => void = () => {};
  const panicked = new Promise<string>((resolve) => (notePanic = resolve));
  const consoleTail = tailFile(consolePath, (d) => {
    if (options.consoleLog !== undefined) appendFileSync(options.consoleLog, d);
    log += d;
    if (log.length > LOG_LIMIT) log = log.slice(log.length - LOG_LIMIT);
    // A panic message may straddle chunks: look at this chunk and a little before it.
    const panic = PANIC.exec(log.slice(-(d.length + 200)))?.[1];
    if (panic !== undefined) notePanic(panic);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<GuestExit>((resolve) => {
    child.on('close', (code, signal) => {
      running.delete(child);
      consoleTail.stop();
      server.close(); // in case QEMU never connected
      for (const s of procServers) s.close();
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, signal, panic: kernelPanic(log) });
    });
  });
  const kill = async (): Promise<void> => {
    child.kill('SIGKILL');
    await exited;
  };

  try {
    const channel = await waitForReady(server, child, exited, panicked, options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
    return { channel, procChannels: await procChannels, bootMs: Date.now() - started, command, log: () => (consoleTail.drain(), log), exited, kill };
  } catch (e) {
    await kill();
    const reason = e instanceof ReadyFailure ? e.message : String(e);
    const qemuSaid = lastLines(stderr, 1);
    throw new Error(
      `${options.arch} guest (${options.kernel}) did not come up: ${reason}` +
        (qemuSaid !== '' && !reason.includes(qemuSaid) ? `; QEMU: ${qemuSaid}` : '') +
        `; kernel log: ${lastLines(logBeforePanic(log), 3) || '(empty)'}`,
    );
  }
}

class ReadyFailure extends Error {}

function listen(server: Server, path: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (e: Error) => reject(new Error(`cannot listen on ${path} for a guest channel: ${e.message}`)));
    server.listen(path, resolve);
  });
}

/** The server's first connection; it takes no other. */
function acceptOne(server: Server): Promise<Socket> {
  return new Promise((resolve) =>
    server.once('connection', (socket: Socket) => {
      server.close();
      resolve(socket);
    }),
  );
}

/** The connected channel, once the ready line has come; the bytes after it stay unread in it. */
function waitForReady(
  server: Server,
  child: ChildProcess,
  exited: Promise<GuestExit>,
  panicked: Promise<string>,
  timeoutMs: number,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (reason: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new ReadyFailure(reason));
    };
    const timer = setTimeout(() => fail(`no "${READY_LINE}" line within ${timeoutMs / 1000} s`), timeoutMs);
    // With panic=-1 QEMU exits right after a panic; this also catches a kernel that hangs in one.
    void panicked.then((panic) => fail(`kernel panic: ${panic}`));
    void exited.then((exit) => {
      const how = exit.signal !== null ? `killed by ${exit.signal}` : `exit ${exit.code}`;
      fail(exit.panic !== undefined ? `kernel panic: ${exit.panic}` : `QEMU exited (${how}) before the ready line`);
    });
    child.once('error', (e) => fail(`cannot start QEMU: ${e.message}`));
    server.once('connection', (socket: Socket) => {
      server.close(); // one guest, one connection
      let pending = Buffer.alloc(0);
      // Paused-mode reads ('readable'), never flowing mode: once the listener
      // is gone the socket is back to its initial state, so whoever takes it
      // starts the flow with a 'data' listener or a pipe, and loses nothing.
      const onReadable = (): void => {
        let chunk: Buffer | null;
        while ((chunk = socket.read() as Buffer | null) !== null) {
          pending = Buffer.concat([pending, chunk]);
          const nl = pending.indexOf(0x0a);
          if (nl < 0) {
            if (pending.length > 4096) fail(`no ready line, but ${JSON.stringify(pending.subarray(0, 80).toString())}...`);
            continue;
          }
          socket.off('readable', onReadable);
          const line = pending.subarray(0, nl).toString().replace(/\r$/, '');
          if (line !== READY_LINE) return fail(`expected "${READY_LINE}" first, got ${JSON.stringify(line.slice(0, 200))}`);
          if (nl + 1 < pending.length) socket.unshift(pending.subarray(nl + 1));
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          // After the stream's own tick that forgets the 'readable' listener.
          process.nextTick(() => resolve(socket));
          return;
        }
      };
      // A channel closed early means QEMU is exiting: its exit says why.
      socket.on('readable', onReadable);
    });
  });
}

/** The log up to its panic line, whose cause (init's last words, an oops) sits just above; all of it when no panic. */
function logBeforePanic(log: string): string {
  const at = log.search(PANIC);
  return at < 0 ? log : log.slice(0, log.lastIndexOf('\n', at) + 1);
}

/** The last n lines of a kernel log naming a task by its pid ("Killed process 133", "pid=133", "init:133"), joined with " | ". */
export function linesNamingPid(text: string, pid: number, n: number): string {
  const names = new RegExp(`(?:process |pid=|[\\w.-]:)${pid}\\b`);
  return lastLines(text.split(/\r?\n/).filter((l) => names.test(l)).join('\n'), n);
}

/** The last `n` non-empty lines of `text`, joined into one line. */
export function lastLines(text: string, n: number): string {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(-n)
    .join(' | ');
}
