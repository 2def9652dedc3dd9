// What a recorder hands back for a call whose record is taken in call order,
// behind the records of the calls made before it. Usually the record's own
// promise: the caller goes on once the call is written down. But a call made
// while an earlier one waits in a fault (a store to a page a userfaultfd
// handles) must not wait for that one's record: the test's own handler
// resolves the fault with the calls that follow, and would wait forever.
// Such a call's result comes back at once, and its recorder is told. Calls
// merely sent together (harness/in-order.ts) are not behind a wait: their
// results all come, and their records follow.

/** Tracks the results of a recorder's calls: whether every call made before one has answered. */
export class Answers {
  private all: Promise<unknown> = Promise.resolve();
  /** Adds a call's result; returns what settles once every call made before it has answered. */
  add(result: Promise<unknown>): Promise<unknown> {
    const earlier = this.all;
    const ignore = () => {};
    this.all = Promise.all([earlier, result.then(ignore, ignore)]);
    return earlier;
  }
}

/**
 * `recorded`, or `result` itself when it comes while a call made before it
 * has not answered yet (`earlier` from Answers.add()); `blocked` is called then.
 */
export function unlessBehindAWait<T>(earlier: Promise<unknown>, result: Promise<T>, recorded: Promise<T>, blocked: () => void): Promise<T> {
  let beforeDone = false;
  const mark = () => (beforeDone = true);
  earlier.then(mark, mark);
  return new Promise<T>((resolve, reject) => {
    recorded.then(resolve, reject);
    const early = (settle: () => void) => {
      if (beforeDone) return;
      blocked();
      settle();
    };
    result.then(
      (r) => early(() => resolve(r)),
      (e: unknown) => early(() => reject(e)),
    );
  });
}
