// The kernel functions a variant of the model may replace (harness/plugin.ts:
// a variant's `functions`), each called through its System's table so that
// the variant's version runs in the model's place. Each is one function of
// the kernel's, at the grain its historical fixes changed it
// (shared/reference/bugs.md): a mutant is that function as it was before
// the fix. The kernel functions an mm holds are MM_FUNCTIONS (mm/mm.ts).

import { copyEntries, copyHugetlbPageRange, copyPteMarker } from './mm/fork.ts';
import { removeMigrationPmd } from './mm/huge-memory.ts';
import { hugetlbChangeProtection } from './mm/hugetlb.ts';
import { fileBackedVmaIsRetractable } from './mm/khugepaged.ts';
import { removeMigrationPte } from './mm/migrate.ts';
import { movePtes } from './mm/mremap.ts';
import { userfaultfdClearVma } from './mm/userfaultfd.ts';
import { pagemapPteHole } from './proc/pagemap.ts';
import { pagemapScanFastWp, pagemapScanPteWp } from './proc/pagemap-scan.ts';

export const KERNEL_FUNCTIONS = {
  // mm/fork.ts: __copy_present_ptes()'s entries, copy_pte_marker(), copy_hugetlb_page_range()
  copyEntries,
  copyPteMarker,
  copyHugetlbPageRange,
  // mm/huge-memory.ts: remove_migration_pmd()
  removeMigrationPmd,
  // mm/migrate.ts: remove_migration_pte()
  removeMigrationPte,
  // mm/hugetlb.ts: hugetlb_change_protection()
  hugetlbChangeProtection,
  // mm/khugepaged.ts: file_backed_vma_is_retractable()
  fileBackedVmaIsRetractable,
  // mm/mremap.ts: move_ptes()
  movePtes,
  // mm/userfaultfd.ts: userfaultfd_clear_vma()
  userfaultfdClearVma,
  // proc/pagemap.ts: pagemap_pte_hole()
  pagemapPteHole,
  // proc/pagemap-scan.ts: the tests pagemap_scan_pmd_entry() makes inline, where H2's and H3's fixes changed it
  pagemapScanFastWp,
  pagemapScanPteWp,
};

export type KernelFunctions = typeof KERNEL_FUNCTIONS;
export type KernelFunction = keyof KernelFunctions;
/** Replacements for some kernel functions: each is made from the model's own. */
export type KernelFunctionOverrides = { readonly [K in KernelFunction]?: (original: KernelFunctions[K]) => KernelFunctions[K] };

/** The table a System calls through: the model's functions, with `overrides` in place of some. */
export function kernelFunctions(overrides: KernelFunctionOverrides | undefined): KernelFunctions {
  if (!overrides) return KERNEL_FUNCTIONS;
  const table: Record<string, unknown> = { ...KERNEL_FUNCTIONS };
  for (const [name, make] of Object.entries(overrides)) if (make) table[name] = (make as (original: unknown) => unknown)(table[name]);
  return table as KernelFunctions;
}
