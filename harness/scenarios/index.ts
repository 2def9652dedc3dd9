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

/** The real kernels the scenarios are recorded on (harness/fixtures/scenario-NAME-KERNEL.txt), and the reference target with their features. */
export const SCENARIO_KERNELS = [
  { kernel: 'trixie-arm64', reference: ':v6.10@6.12', qemu: 'qemu-arm64' },
  { kernel: 'sid-arm64', reference: ':v6.17@7.2', qemu: 'qemu-arm64@current' },
  { kernel: 'trixie-amd64', reference: ':rfc@6.12', qemu: 'qemu-x86_64' },
  { kernel: 'sid-amd64', reference: ':rfc@7.2', qemu: 'qemu-x86_64@current' },
] as const;

/** A recording's lines, its "# " header (kernel, date, command) left out. */
export function recordingLines(text: string): string[] {
  return text
    .trimEnd()
    .split('\n')
    .filter((l) => !l.startsWith('# '));
}
