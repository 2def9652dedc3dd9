import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { AGENT } from '../harness/testing/agent.ts';
import { linuxHostTarget } from '../harness/targets/linux-host.ts';
import { callSequence } from '../suites/fuzz/calls.ts';
import { runSequence } from '../suites/fuzz/sequence.ts';
import { cReproducer } from './c-reproducer.ts';

const run = promisify(execFile);

describe('the C reproducer', () => {
  // The C program and the agent make the same calls on this kernel: the same log, line for line.
  test('prints on the host what the call log of the same sequence on linux-host holds', async (ctx) => {
    if (AGENT.path === null) return ctx.skip(AGENT.skip);
    const dir = await mkdtemp(join(tmpdir(), 'mmconform-repro-'));
    const host = await linuxHostTarget();
    try {
      for (const [i, calls] of fc.sample(callSequence({ hugetlb: false, uffdWp: true }), { seed: 11, numRuns: 8 }).entries()) {
        const src = join(dir, `r${i}.c`);
        await writeFile(src, cReproducer({ calls, target: 'reference', against: 'linux-host', seed: 11, difference: { line: 0, target: null, against: null } }));
        await run('cc', ['-O0', '-Wall', '-Werror', '-o', join(dir, `r${i}`), src]);
        const { stdout } = await run(join(dir, `r${i}`), [], { maxBuffer: 64 << 20 });
        const log = await runSequence(host, calls);
        expect(stdout).toBe(log.map((l) => `${l.call} = ${l.outcome}\n`).join(''));
      }
    } finally {
      await host.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
