// --shard i/n on run, compare and fuzz: the shards together do exactly the
// unsharded command's work, and bad values are one-line errors.

import { describe, expect, test } from 'vitest';
import { expectUsageError, mmconform } from './testing.ts';
import { parseShard, shardOf } from './shard.ts';

describe('--shard i/n', () => {
  test('shard i takes items i-1, i-1+n, ...; the shards cover the whole once', () => {
    const items = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const shards = [1, 2, 3].map((i) => shardOf({ index: i, count: 3 }, items));
    expect(shards).toEqual([['a', 'd', 'g'], ['b', 'e'], ['c', 'f']]);
    expect(shardOf(null, items)).toEqual(items);
    expect(shardOf({ index: 5, count: 9 }, ['a'])).toEqual([]);
  });

  test.each(['0/2', '3/2', '1/0', '1', 'a/b', '1/2/3', '-1/2'])('"%s" is refused in one line', async (v) => {
    expect(() => parseShard('run', v)).toThrow(`run: --shard takes i/n with 1 <= i <= n (as 2/4), got "${v}"`);
    await expectUsageError(['run', `--shard=${v}`], '--shard takes i/n');
  });

  test('fuzz: the shards of a campaign run its sequences, each with its own seed, and no other', async () => {
    const whole = await mmconform('fuzz', '--target', 'reference', '--runs', '7', '--seed', '40');
    const parts = await Promise.all(['1/3', '2/3', '3/3'].map((s) => mmconform('fuzz', '--target', 'reference', '--runs', '7', '--seed', '40', '--shard', s)));
    const lines = (out: string) => out.split('\n').filter((l) => /^(not )?ok /.test(l)).map((l) => l.replace(/^(not ok|ok) \d+ /, '$1 '));
    expect(parts.map((p) => p.code)).toEqual([0, 0, 0]);
    expect(parts.map((p) => p.stdout.split('\n')[1])).toEqual(['1..3', '1..2', '1..2']);
    expect(parts.flatMap((p) => lines(p.stdout)).sort()).toEqual(lines(whole.stdout).sort());
    expect(parts[1]!.stderr).toContain('fuzz: shard 2/3: sequences 1, 4, ... (2 of 7)');
  });

  test('fuzz: a shard without --seed would draw its own campaign: refused', async () => {
    await expectUsageError(['fuzz', '--target', 'reference', '--shard', '1/2'], 'fuzz: --shard needs --seed');
  });
});
