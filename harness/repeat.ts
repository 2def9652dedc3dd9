// A loop of a test's own, for (i = 0; i < times; i++) with a break: on a
// target that runs loops itself (Proc.repeat, harness/target.ts) there,
// else here, round by round.

import type { Proc } from './target.ts';

/** The loop's i when it ended: `times`, or the round whose body returned false (break). */
export async function repeat(proc: Proc, times: number, body: (i: number) => Promise<boolean>): Promise<number> {
  if (proc.repeat) return proc.repeat(times, body);
  let i = 0;
  while (i < times && (await body(i))) i++;
  return i;
}
