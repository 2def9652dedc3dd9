// The differences between two targets' call logs that are not the model's
// to fix: each is a kernel version or an architecture behaving otherwise,
// measured, named here with the kernels it holds for. Nothing else is ever
// passed over: every other difference is a disagreement.

import type { CallLine } from './record.ts';
import type { TargetInfo } from '../target.ts';

export interface KnownDifference {
  readonly name: string;
  /** what differs, on which kernels or architectures, and how it was measured */
  readonly why: string;
  readonly matches: (a: CallLine, b: CallLine, infoA: TargetInfo, infoB: TargetInfo) => boolean;
}

/** Whether the two sides run different architectures. */
const crossArch = (x: TargetInfo, y: TargetInfo) => x.arch !== y.arch;

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    name: 'x86-protection-key',
    why: 'smaps prints "ProtectionKey:" on x86_64 CPUs with protection keys (arch_show_smap()); arm64 has no such line',
    matches: (a, b, x, y) =>
      crossArch(x, y) && a.call === b.call && a.outcome.split('\n').filter((l) => !l.startsWith('ProtectionKey:')).join('\n') === b.outcome.split('\n').filter((l) => !l.startsWith('ProtectionKey:')).join('\n'),
  },
];

/** The name of the known difference two lines show, or null. */
export function namedDifference(a: CallLine, b: CallLine, infoA: TargetInfo, infoB: TargetInfo): string | null {
  return KNOWN_DIFFERENCES.find((k) => k.matches(a, b, infoA, infoB))?.name ?? null;
}
