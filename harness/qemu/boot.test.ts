// Boots each cached Debian kernel with the test init (testinit.c) and talks
// to it over the protocol channel. Skips, saying why, where QEMU, a cross
// compiler or the kernels are missing: npm run setup:kernels provides them.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, describe, expect, test } from 'vitest';
import { bootGuest, GUEST_CHANNEL, linesNamingPid, qemuBinary, type Guest } from './boot.ts';
import { whichSync } from './exec.ts';
import { buildInitramfs } from './initramfs.ts';
import { cachedKernel, GENERATIONS, GUEST_ARCHES, kernelPath, missingKernel, SUITE, type CachedKernel, type GuestArch } from './kernel-cache.ts';
import { buildTestInit, TEST_INIT_COMPILER } from './testinit.ts';

const BOOT_TEST_TIMEOUT_MS = 120_000;
const work = mkdtempSync(join(tmpdir(), 'mmconform-boot-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Why a guest of `arch` cannot boot here, or undefined when it can. */
function missingTool(arch: GuestArch): string | undefined {
  if (process.env['MMCONFORM_NO_QEMU']) return 'MMCONFORM_NO_QEMU is set';
  for (const tool of [qemuBinary(arch), TEST_INIT_COMPILER[arch]]) {
    if (whichSync(tool) === undefined) return `${tool} not installed: run npm run setup:kernels`;
  }
  return undefined;
}

const initramfsCache = new Map<GuestArch, Buffer>();
async function testInitramfs(arch: GuestArch): Promise<Buffer> {
  let archive = initramfsCache.get(arch);
  if (archive === undefined) {
    archive = buildInitramfs({ init: readFileSync(await buildTestInit(arch, work)) });
    initramfsCache.set(arch, archive);
  }
  return archive;
}

/** Lines from the channel, one at a time. */
function lineReader(channel: Duplex): () => Promise<string> {
  let buffered = '';
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  channel.setEncoding('utf8');
  channel.on('data', (d: string) => {
    buffered += d;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const waiter = waiters.shift();
      if (waiter !== undefined) waiter(line);
      else lines.push(line);
    }
  });
  return () => {
    const line = lines.shift();
    return line !== undefined ? Promise.resolve(line) : new Promise((resolve) => waiters.push(resolve));
  };
}

describe('booting each kernel with the test init as /init', () => {
  for (const arch of GUEST_ARCHES) {
    for (const generation of GENERATIONS) {
      test(
        `${SUITE[generation]} ${arch}: ready, then lines over ${GUEST_CHANNEL}`,
        async (ctx) => {
          const kernel = cachedKernel(arch, generation);
          const missing = missingTool(arch) ?? (kernel === undefined ? missingKernel(arch, generation) : undefined);
          if (missing !== undefined || kernel === undefined) return ctx.skip(missing);

          const initramfs = await testInitramfs(arch);
          const guest = await bootGuest({
            arch,
            kernel: kernel.vmlinuz,
            initramfs,
            kernelParams: ['mmconform.thp=never'],
            initArgs: ['--console', GUEST_CHANNEL],
          });
          try {
            process.stderr.write(`${SUITE[generation]} ${arch} (${kernel.release}): boot to ready ${guest.bootMs} ms\n`);
            const next = lineReader(guest.channel);
            guest.channel.write('{"id":1,"op":"hello"}\n');
            expect(JSON.parse(await next())).toEqual({ id: 1, release: kernel.release, machine: arch === 'arm64' ? 'aarch64' : 'x86_64' });
            // A plain byte pipe: no echo, no 4096-byte tty line limit, a line split across writes arrives whole.
            const long = 'x'.repeat(20_000);
            guest.channel.write(long);
            guest.channel.write('\n{"a":"b"}\n');
            expect(await next()).toBe(long);
            expect(await next()).toBe('{"a":"b"}');
            expect(guest.log()).toContain(`Linux version ${kernel.release}`);
            expect(guest.log()).toMatch(/Kernel command line: .*panic=-1 mmconform\.thp=never -- --console \/dev\/vport0p1/);
          } finally {
            await guest.kill();
          }
          expect((await guest.exited).signal).toBe('SIGKILL');
        },
        BOOT_TEST_TIMEOUT_MS,
      );
    }
  }
});

test(
  'the kernel log arrives whole, every byte of a 120 KB boot log',
  async (ctx) => {
    // x86's 16550 UART is the one that dropped bytes (file-tail.ts); arm64's PL011 waits.
    const arch: GuestArch = 'x86_64';
    const kernel = GENERATIONS.map((g) => cachedKernel(arch, g)).find((k) => k !== undefined);
    const missing = missingTool(arch) ?? (kernel === undefined ? missingKernel(arch, 'stable') : undefined);
    if (missing !== undefined || kernel === undefined) return ctx.skip(missing);
    const initramfs = await testInitramfs(arch);
    // initcall_debug and ignore_loglevel make the kernel say 120 KB, two lines per initcall.
    const guest = await bootGuest({ arch, kernel: kernel.vmlinuz, initramfs, kernelParams: ['initcall_debug', 'ignore_loglevel'], initArgs: ['--console', GUEST_CHANNEL] });
    try {
      const log = guest.log();
      expect(log).toContain(`Linux version ${kernel.release}`);
      expect(log).toMatch(/Kernel command line: console=ttyS0 panic=-1 initcall_debug ignore_loglevel -- --console \/dev\/vport0p1\r?\n/);
      expect(log).toMatch(/Run \/init as init process\r?\n/);
      // Every line whole: a timestamp, then text, and no second timestamp run into it.
      const lines = log.split(/\r?\n/).filter((l) => l.startsWith('['));
      for (const line of lines) expect(line).toMatch(/^\[ *\d+\.\d{6}\] (?:(?!\[ *\d+\.\d{6}\]).)*$/);
      // initcall_debug names each initcall twice, as it starts and as it returns.
      const called = lines.flatMap((l) => /\] calling {2}(\S+) @ \d+$/.exec(l)?.[1] ?? []);
      const returned = lines.flatMap((l) => /\] initcall (\S+) returned -?\d+ after \d+ usecs$/.exec(l)?.[1] ?? []);
      expect(called.length).toBeGreaterThan(500);
      expect(returned.sort()).toEqual(called.sort());
    } finally {
      await guest.kill();
    }
  },
  BOOT_TEST_TIMEOUT_MS,
);

test('linesNamingPid: the kernel log lines naming a task, not those with the number elsewhere', () => {
  const log = [
    '[  700.1] init invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO), order=0',
    '[  700.2] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/,task=init,pid=133,uid=0',
    '[  700.3] Out of memory: Killed process 133 (init) total-vm:1133kB, anon-rss:133kB',
    '[  701.0] Memory failure: 0x1330: Sending SIGBUS to init:1330 due to hardware memory corruption',
    '[  702.0] MCE: Killing init:133 due to hardware memory corruption fault at 7f0000133000',
  ].join('\n');
  expect(linesNamingPid(log, 133, 5).split(' | ').map((l) => l.slice(0, 10))).toEqual(['[  700.2] ', '[  700.3] ', '[  702.0] ']);
  expect(linesNamingPid(log, 134, 2)).toBe('');
});

describe('boot failures are one line that names the cause', () => {
  /** The first kernel this machine can boot, for the failure cases. */
  const bootable = ((): { arch: GuestArch; kernel: CachedKernel } | undefined => {
    for (const arch of GUEST_ARCHES) {
      if (missingTool(arch) !== undefined) continue;
      for (const generation of GENERATIONS) {
        const kernel = cachedKernel(arch, generation);
        if (kernel !== undefined) return { arch, kernel };
      }
    }
    return undefined;
  })();
  const noKernel = 'no kernel and QEMU to boot it: run npm run setup:kernels';

  test(
    'init exits: the kernel panics, and the error shows the panic and what init said before it',
    async (ctx) => {
      if (bootable === undefined) return ctx.skip(noKernel);
      const failure = bootGuest({ arch: bootable.arch, kernel: bootable.kernel.vmlinuz, initramfs: await testInitramfs(bootable.arch) });
      await expect(failure).rejects.toThrow(/did not come up: kernel panic: Attempted to kill init!.*; kernel log: .*testinit: usage: \/init --console PATH: Invalid argument/);
      await expect(failure).rejects.toThrow(/^[^\n]+$/);
    },
    BOOT_TEST_TIMEOUT_MS,
  );

  test(
    'no ready line on the channel in time',
    async (ctx) => {
      if (bootable === undefined) return ctx.skip(noKernel);
      // The test init greets the console instead of the channel.
      const failure: Promise<Guest> = bootGuest({
        arch: bootable.arch,
        kernel: bootable.kernel.vmlinuz,
        initramfs: await testInitramfs(bootable.arch),
        initArgs: ['--console', '/dev/console'],
        readyTimeoutMs: 3_000,
      });
      await expect(failure).rejects.toThrow(/did not come up: no "mmconform-agent ready" line within 3 s; kernel log: /);
    },
    BOOT_TEST_TIMEOUT_MS,
  );

  test('QEMU missing', async () => {
    const path = process.env['PATH'];
    process.env['PATH'] = '/nonexistent';
    let failure: Promise<Guest>;
    try {
      failure = bootGuest({ arch: 'arm64', kernel: '/nonexistent/vmlinuz', initramfs: new Uint8Array() });
    } finally {
      process.env['PATH'] = path;
    }
    await expect(failure).rejects.toThrow('qemu-system-aarch64 not installed: run npm run setup:kernels');
  });

  test('no cached kernel: kernelPath says how to get one', () => {
    const cache = process.env['MMCONFORM_CACHE'];
    process.env['MMCONFORM_CACHE'] = join(work, 'empty-cache');
    try {
      expect(() => kernelPath('x86_64', 'current')).toThrow(`no sid amd64 kernel in ${join(work, 'empty-cache', 'kernels', 'sid-amd64')}: run npm run setup:kernels`);
    } finally {
      if (cache === undefined) delete process.env['MMCONFORM_CACHE'];
      else process.env['MMCONFORM_CACHE'] = cache;
    }
  });
});

describe('the cached kernels build in what boot.ts relies on', () => {
  // Built in (=y), not modules: the initramfs carries no modules to load.
  const NEEDED: Readonly<Record<GuestArch, readonly string[]>> = {
    arm64: ['BLK_DEV_INITRD', 'DEVTMPFS', 'VIRTIO_PCI', 'PCI_HOST_GENERIC', 'VIRTIO_CONSOLE', 'SERIAL_AMBA_PL011_CONSOLE'],
    x86_64: ['BLK_DEV_INITRD', 'DEVTMPFS', 'VIRTIO_PCI', 'VIRTIO_CONSOLE', 'SERIAL_8250_CONSOLE'],
  };
  for (const arch of GUEST_ARCHES) {
    for (const generation of GENERATIONS) {
      test(`${SUITE[generation]} ${arch}`, (ctx) => {
        const kernel = cachedKernel(arch, generation);
        if (kernel === undefined) return ctx.skip(missingKernel(arch, generation));
        const config = readFileSync(kernel.config, 'utf8');
        for (const option of NEEDED[arch]) expect(config, option).toMatch(new RegExp(`^CONFIG_${option}=y$`, 'm'));
      });
    }
  }
});
