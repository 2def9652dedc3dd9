// The Proc a suite sees, wrapped so the runner stays in charge. A model
// target answers every call at once, so a suite on it never lets the event
// loop turn: no timer (the timeout) and no signal handler (SIGINT) could
// run until it ended. The guard yields to the event loop every so many
// calls, and once the runner cuts the suite short, fails every later call
// so the abandoned suite stops instead of running on unobserved. A call made
// while the guard yields waits for the same turn, so calls a suite makes
// together still reach the target in the order it made them. The threads a
// proc creates, and the children it forks, are guarded with it: their calls
// count, wait for the same turn, and fail once the suite is cancelled.

import { isErr } from '../uapi/linux.ts';
import type { Proc, Thread } from './target.ts';

/** Calls between turns of the event loop: rare enough to cost nothing measurable. */
const CALLS_PER_YIELD = 64;

export class SuiteCancelled extends Error {
  override name = 'SuiteCancelled';
}

export interface GuardedProc {
  readonly proc: Proc;
  /** every call from now on rejects with SuiteCancelled */
  cancel(): void;
}

export function guardProc(proc: Proc): GuardedProc {
  let calls = 0;
  let cancelled = false;
  /** the turn of the event loop being waited for, while it lasts */
  let turn: Promise<void> | null = null;
  /** obj with each method guarded; `after` sees what a call returned */
  const guard = <T extends object>(obj: T, after: (key: string | symbol, result: unknown) => unknown = (_, r) => r): T =>
    new Proxy(obj, {
      get(target, key) {
        const value: unknown = Reflect.get(target, key);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]): Promise<unknown> => {
          if (++calls % CALLS_PER_YIELD === 0 && turn === null) {
            turn = new Promise((resolve) => setImmediate(resolve));
            void turn.then(() => (turn = null));
          }
          if (turn !== null) await turn;
          if (cancelled) throw new SuiteCancelled('the runner stopped this suite');
          return after(key, await (value as (...a: unknown[]) => unknown).apply(target, args));
        };
      },
    });
  // a proc's threads and the children it forks are the suite's too
  const guardProcAndKin = (p: Proc): Proc =>
    guard(p, (key, result) => {
      if (isErr(result)) return result;
      if (key === 'threadCreate') return guard(result as Thread);
      return key === 'fork' ? guardProcAndKin(result as Proc) : result;
    });
  return {
    proc: guardProcAndKin(proc),
    cancel() {
      cancelled = true;
    },
  };
}
