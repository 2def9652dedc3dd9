import { describe, expect, test } from 'vitest';
import { referenceTarget } from '../../harness/targets/reference.ts';

// Measured on the host's 6.18 through the agent (write(2) of exactly these bytes); the parse
// (kstrtoint(strstrip(buffer)) of at most PROC_NUMBUF - 1 bytes) is the same in 6.12 and 7.2.
const MEASURED: readonly (readonly [string, number | string])[] = [
  ['4\0', 2], // a checkpoint tool writes the C string's NUL too
  ['1\0', 2],
  ['5\0', 2],
  ['4\n', 2],
  ['  4  ', 5],
  ['+4', 2],
  ['0004', 4],
  ['4           x', 12], // cut at 12 bytes, before the x
  ['4\0garbage', 9],
  ['\t5\v', 3],
  ['-4', 'EINVAL'],
  ['4x', 'EINVAL'],
  ['+-4', 'EINVAL'],
  ['0x4', 'EINVAL'],
  ['', 'EINVAL'],
  ['6', 'EINVAL'],
  ['99999999999', 'ERANGE'],
];

describe('clear_refs_write()', () => {
  test.each(MEASURED)('write(%j) answers %s, as the kernel does', async (data, want) => {
    const proc = await (await referenceTarget('')).spawn();
    const r = await proc.writeFile('/proc/self/clear_refs', data);
    expect(typeof r === 'number' ? r : r.name).toBe(want);
  });
});
