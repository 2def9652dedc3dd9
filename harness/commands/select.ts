// Turning names on the command line into suites and targets, with the
// one-line errors bad names get.

import { SUITES } from '../../suites/index.ts';
import { UsageError, oneLineMessage } from '../command.ts';
import type { Suite } from '../suite.ts';
import type { Target } from '../target.ts';
import { resolveTarget } from '../targets/index.ts';

export function findSuite(command: string, name: string): Suite {
  const suite = SUITES.find((s) => s.name === name);
  if (!suite) throw new UsageError(`${command}: unknown suite "${name}" (known: ${SUITES.map((s) => s.name).join(', ')})`);
  return suite;
}

export async function openTarget(command: string, name: string): Promise<Target> {
  try {
    return await resolveTarget(name);
  } catch (e) {
    throw new UsageError(`${command}: --target ${name}: ${oneLineMessage(e)}`);
  }
}
