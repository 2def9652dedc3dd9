// What a recorder hands back for a call whose record is taken in call order,
// behind the records of the calls made before it. Usually the record's own
// promise: the caller goes on once the call is written down. But a call made
// while an earlier one waits in a fault (a store to a page a userfaultfd
// handles) must not wait for that one's record: the test's own handler
// resolves the fault with the calls that follow, and would wait forever.
// Such a call's result comes back at once, its record still taken in its
// place. Whether it raced with the call it came back before is another
// question, Answers.waiting()'s: calls merely sent together
// (harness/in-order.ts) may answer out of order without racing.

/**
 * Tracks the results of a recorder's calls: whether every call made before
 * one has answered. Kept by the calls' own reactions, registered as each is
 * made, so an earlier call that answered first is seen as answered by the
 * time a later one's answer is looked at.
 *
 * It also tells a call that races with one still waiting from calls merely
 * sent together. Calls made in one turn (no await between them: a loop of
 * stores, harness/in-order.ts) are one flow's, whatever order they answer
 * in (a real kernel's agent runs loads and stores on threads of its own). A
 * call made in a later turn while one that may wait on the test (a fault, a
 * non-cooperative event) has not answered is another flow's reaction to it:
 * a handler's, which the C makes on a thread of its own.
 */
export class Answers {
  private next = 0;
  /** each unanswered call's turn, and whether it may wait on the test */
  private readonly unanswered = new Map<number, { readonly turn: number; readonly mayWait: boolean }>();
  private turn = 0;
  private turnOpen = false;

  /** The turn a call made now belongs to: a new one after every await. */
  private currentTurn(): number {
    if (!this.turnOpen) {
      this.turnOpen = true;
      this.turn++;
      queueMicrotask(() => (this.turnOpen = false));
    }
    return this.turn;
  }

  /** Whether a call made now races with one that may wait: made in an earlier turn, not answered yet. */
  waiting(): boolean {
    const turn = this.currentTurn();
    for (const c of this.unanswered.values()) if (c.mayWait && c.turn < turn) return true;
    return false;
  }

  /** Adds a call's result; returns whether, when asked, a call made before it has not answered yet. */
  add(result: Promise<unknown>, mayWait = false): () => boolean {
    const n = this.next++;
    this.unanswered.set(n, { turn: this.currentTurn(), mayWait });
    const answered = () => void this.unanswered.delete(n);
    result.then(answered, answered);
    return () => {
      for (const m of this.unanswered.keys()) if (m < n) return true;
      return false;
    };
  }
}

/**
 * `recorded`, or `result` itself when it comes while a call made before it
 * has not answered yet (`behind`, from Answers.add()).
 */
export function unlessBehindAWait<T>(behind: () => boolean, result: Promise<T>, recorded: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    recorded.then(resolve, reject);
    const early = (settle: () => void) => {
      if (behind()) settle();
    };
    result.then(
      (r) => early(() => resolve(r)),
      (e: unknown) => early(() => reject(e)),
    );
  });
}
