// Turning names on the command line into suites and targets, with the
// one-line errors bad names get.

import { SUITES } from '../../suites/index.ts';
import { UsageError, oneLineMessage } from '../../harness/command.ts';
import type { Suite } from '../../harness/suite.ts';
import type { Target } from '../../harness/target.ts';
import { resolveTarget } from '../../harness/targets/index.ts';

export function findSuite(command: string, name: string): Suite {
  const suite = SUITES.find((s) => s.name === name);
  if (!suite) throw new UsageError(`${command}: unknown suite "${name}" (known: ${SUITES.map((s) => s.name).join(', ')})`);
  return suite;
}

/**
 * The suites named (every suite when none is), each as its C program runs
 * with `filter` given (uffd-unit-tests' -f): a suite that takes no filter is
 * refused by name.
 */
export function chooseSuites(command: string, names: readonly string[] | undefined, filter: string | undefined): Suite[] {
  const suites = (names ?? SUITES.map((s) => s.name)).map((n) => findSuite(command, n));
  if (filter === undefined) return suites;
  const takers = SUITES.filter((s) => s.filtered).map((s) => s.name).join(', ');
  if (filter === '') throw new UsageError(`${command}: --filter: an empty filter (it would choose every test)`);
  if (names === undefined) throw new UsageError(`${command}: --filter needs --suite, naming suites that take a test filter (${takers})`);
  return suites.map((s) => {
    if (!s.filtered) throw new UsageError(`${command}: --filter: ${s.name} takes no test filter (those that do: ${takers})`);
    return s.filtered(filter);
  });
}

export async function openTarget(command: string, name: string): Promise<Target> {
  try {
    return await resolveTarget(name);
  } catch (e) {
    throw new UsageError(`${command}: --target ${name}: ${oneLineMessage(e)}`);
  }
}
