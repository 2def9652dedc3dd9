// Output files: written whole or not at all, every one tried.

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { UsageError, parseCommandArgs, writeOutputFile, writeOutputFiles } from './command.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmconform-out-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('a report replaces the old one whole, through a temporary file that does not stay', async () => {
  const file = join(dir, 'r.json');
  writeFileSync(file, 'old and longer than the new one');
  await writeOutputFile('run', file, 'new');
  expect(readFileSync(file, 'utf8')).toBe('new');
  expect(readdirSync(dir)).toEqual(['r.json']);
});

test('a report that cannot be written leaves the old one as it was, and no temporary file', async () => {
  const file = join(dir, 'kept.json');
  writeFileSync(file, 'old');
  // a directory where the temporary file would go makes the write fail
  const blocker = join(dir, `.kept.json.${process.pid}.tmp`);
  rmSync(blocker, { force: true });
  mkdirSync(blocker);
  await expect(writeOutputFile('run', file, 'new')).rejects.toThrow(/^run: cannot write .*kept\.json: EISDIR/);
  expect(readFileSync(file, 'utf8')).toBe('old');
  rmSync(blocker, { recursive: true });
});

test('every output is tried; the failures come together, a line each', async () => {
  const good = join(dir, 'good.xml');
  await expect(
    writeOutputFiles('run', [
      ['/dev/full', () => 'x'],
      [good, () => '<ok/>'],
      [join(dir, 'missing', 'r'), () => 'y'],
    ]),
  ).rejects.toThrow(/^run: cannot write \/dev\/full: ENOSPC[^\n]*\nmmconform: run: cannot write [^\n]*missing\/r: ENOENT/);
  expect(readFileSync(good, 'utf8')).toBe('<ok/>');
});

test('a negative number after an option is one line saying how to give it, not node\'s advice', () => {
  expect(() => parseCommandArgs('fuzz', ['--runs', '-1'], { options: { runs: { type: 'string' } }, strict: true, allowPositionals: false })).toThrow(
    new UsageError("fuzz: --runs: a value that starts with '-' is given as --runs=VALUE"),
  );
});
