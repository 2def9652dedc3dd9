// The scenarios: each a sequence of system calls and accesses whose every
// observable outcome a model must share with the real kernel.

import type { Target } from '../target.ts';
import { filesScenario } from './files.ts';
import { hugetlbScenario } from './hugetlb.ts';
import { swapScenario } from './swap.ts';

export const SCENARIOS: Readonly<Record<string, (target: Target) => Promise<string[]>>> = {
  swap: swapScenario,
  // before hugetlb, whose mremap leaves a reservation behind on the kernels (and the model)
  files: filesScenario,
  hugetlb: hugetlbScenario,
};
