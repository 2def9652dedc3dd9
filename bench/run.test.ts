// The benchmark runner's bad input: one line, exit 2 (the benchmarks themselves run under npm run bench).

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

const run = promisify(execFile);
const runner = fileURLToPath(new URL('./run.ts', import.meta.url));

test.each([
  [['nope'], 'bench: no benchmark module matches nope'],
  [['--bogus'], 'bench: unknown option --bogus (usage: run.ts [--json FILE] [NAME...])'],
  [['--json'], 'bench: --json needs a file name'],
])('%j: one line, exit 2', async (args, line) => {
  const err = (await run('npx', ['tsx', runner, ...args]).then(
    () => null,
    (e: unknown) => e,
  )) as { code: number; stderr: string } | null;
  expect(err && [err.code, err.stderr]).toEqual([2, `${line}\n`]);
}, 30_000);
