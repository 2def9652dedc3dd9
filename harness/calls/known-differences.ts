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
  /** whether it can hold between these two targets */
  readonly holds: (x: TargetInfo, y: TargetInfo) => boolean;
  /** the lines of an outcome (smaps) it lets differ */
  readonly lines: RegExp;
  /** calls it lets one side make and the other not, left out of both logs */
  readonly calls?: RegExp;
}

/** Whether the two sides run different architectures. */
const crossArch = (x: TargetInfo, y: TargetInfo) => x.arch !== y.arch;

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    name: 'x86-protection-key',
    why: 'smaps prints "ProtectionKey:" on x86_64 CPUs with protection keys (arch_show_smap()); arm64 has no such line',
    holds: crossArch,
    lines: /^ProtectionKey:/,
  },
  {
    name: 'arm64-old-prefaulted-pte',
    why:
      'arm64 with hardware access flags maps the pages fault-around adds old (arch_wants_old_prefaulted_pte() is cpu_has_hw_af), ' +
      'x86_64 young, so smaps "Referenced:" counts them on x86_64 only (measured on the host against the model)',
    holds: crossArch,
    lines: /^Referenced:/,
  },
  {
    name: 'hstates',
    why:
      'the huge page sizes /sys/kernel/mm/hugepages lists are the architecture\'s: 2 MiB and 1 GiB on x86_64; 2 MiB, 32 MiB, 64 KiB ' +
      'and 1 GiB on arm64 with 4 KiB pages (measured on the Debian kernels and the host); hugetlb_setup_default() reads and restores each',
    holds: crossArch,
    lines: /^hugepages-\d+kB\//,
    calls: /\/sys\/kernel\/mm\/hugepages\/hugepages-(?!2048kB)\d+kB\//,
  },
];

/** The calls the known differences between these targets let one side make alone. */
export function optionalCalls(infoA: TargetInfo, infoB: TargetInfo): readonly { readonly name: string; readonly calls: RegExp }[] {
  return KNOWN_DIFFERENCES.filter((d) => d.calls && d.holds(infoA, infoB)).map((d) => ({ name: d.name, calls: d.calls! }));
}

/** The names of the known differences that account for all that two lines differ in, or null when they do not. */
export function namedDifference(a: CallLine, b: CallLine, infoA: TargetInfo, infoB: TargetInfo): string | null {
  if (a.call !== b.call) return null;
  const known = KNOWN_DIFFERENCES.filter((d) => d.holds(infoA, infoB));
  const [x, y] = [a.outcome.split('\n'), b.outcome.split('\n')];
  const keep = (lines: string[], re: readonly RegExp[]) => lines.filter((l) => !re.some((r) => r.test(l))).join('\n');
  if (keep(x, known.map((k) => k.lines)) !== keep(y, known.map((k) => k.lines))) return null;
  // those whose lines differ
  const names = known.filter((k) => x.filter((l) => k.lines.test(l)).join('\n') !== y.filter((l) => k.lines.test(l)).join('\n')).map((k) => k.name);
  return names.length ? names.join('+') : null;
}
