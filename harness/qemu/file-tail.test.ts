import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { tailFile } from './file-tail.ts';

const work = mkdtempSync(join(tmpdir(), 'mmconform-file-tail-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

test('tailFile: every byte appended, in order, a character split across appends whole; nothing after stop', async () => {
  const path = join(work, 'console.log');
  writeFileSync(path, '');
  let seen = '';
  const tail = tailFile(path, (text) => (seen += text), 5);
  const euro = Buffer.from('€');
  appendFileSync(path, Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)]));
  tail.drain();
  expect(seen).toBe('a');
  appendFileSync(path, Buffer.concat([euro.subarray(1), Buffer.from('b'.repeat(200_000))]));
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(seen).toBe(`a€${'b'.repeat(200_000)}`);
  appendFileSync(path, 'c');
  tail.stop();
  appendFileSync(path, 'd');
  tail.drain();
  expect(seen.endsWith('bc')).toBe(true);
});
