// --shard i/n: one of n machines' part of a run, a comparison or a fuzz
// campaign, as vitest's --shard splits test files. Shard i takes the items
// numbered i-1, i-1+n, i-1+2n, ... of the whole, so the n shards together
// do exactly what the unsharded command does, whatever n is, and their
// results files merge with `mmconform report`.

import { UsageError } from '../harness/command.ts';

export interface Shard {
  /** 1-based, as written */
  readonly index: number;
  readonly count: number;
}

export const SHARD_USAGE = '  --shard i/n    only this shard (1 <= i <= n) of the work: the suites (or sequences) numbered i-1, i-1+n, ...';

export function parseShard(command: string, value: string | undefined): Shard | null {
  if (value === undefined) return null;
  const m = /^(\d+)\/(\d+)$/.exec(value);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index < 1 || index > count || !Number.isSafeInteger(count))
    throw new UsageError(`${command}: --shard takes i/n with 1 <= i <= n (as 2/4), got "${value}"`);
  return { index, count };
}

/** Is item k (0-based) of the whole in this shard? */
export const inShard = (shard: Shard | null, k: number): boolean => shard === null || k % shard.count === shard.index - 1;

/** The items of this shard, in their order in the whole. */
export const shardOf = <T>(shard: Shard | null, items: readonly T[]): T[] => items.filter((_, k) => inShard(shard, k));

/** The stderr line that says what a shard of suites runs. */
export const shardSuitesLine = (command: string, shard: Shard, suites: readonly { readonly name: string }[]): string =>
  `${command}: shard ${shard.index}/${shard.count}: ${suites.length ? suites.map((s) => s.name).join(', ') : 'no suite (more shards than suites)'}\n`;
