// Calls made together, awaited one after the other. A target serves a
// proc's calls in the order they were made (harness/target.ts), so a suite
// can send the next call before the previous one has answered: to a real
// kernel the pair is then one round trip, not two. Only for calls the C
// makes unconditionally one after the other, where the later one only
// reads (a load, a pagemap read): if the earlier one ends the program
// (ksft_exit_fail_msg(), a fatal signal), the later one has run on the
// target too, but changed nothing, and its outcome is never looked at.

type Results<T extends readonly unknown[]> = { -readonly [K in keyof T]: Awaited<T[K]> };

/** The results of calls already made, in order; the first failure, in call order, is the one thrown. */
export async function inOrder<T extends readonly Promise<unknown>[]>(...calls: T): Promise<Results<T>> {
  // a later call's failure is no one's to see once an earlier one has failed
  for (const c of calls) c.catch(() => {});
  const results: unknown[] = [];
  for (const c of calls) results.push(await c);
  return results as Results<T>;
}
