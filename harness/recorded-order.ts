// What a recorder hands back for a call whose record is taken in call order,
// behind the records of the calls made before it. Usually the record's own
// promise: the caller goes on once the call is written down. But a call made
// while an earlier one waits in a fault (a store to a page a userfaultfd
// handles) must not wait for that one's record: the test's own handler
// resolves the fault with the calls that follow, and would wait forever.
// Such a call's result comes back at once, and its recorder is told.

/**
 * `recorded`, or `result` itself when it comes while `before` (the records
 * of the earlier calls) is still under way; `blocked` is called then.
 */
export function unlessBehindAWait<T>(before: Promise<unknown>, result: Promise<T>, recorded: Promise<T>, blocked: () => void): Promise<T> {
  let beforeDone = false;
  const mark = () => (beforeDone = true);
  before.then(mark, mark);
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
