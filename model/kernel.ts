// Kernel-version behaviour that changes what the page-table helpers do,
// independent of which bits a layout assigns.

export interface KernelBehaviour {
  /** The kernel version whose helpers the model follows, e.g. "6.12". */
  readonly version: string;
  /**
   * 143937ca51cc (v6.18): pte_mkwrite_novma() clears PTE_RDONLY only when
   * PTE_DIRTY is set; before it, making a pte writable made it hw-dirty.
   */
  readonly mkwriteNeedsSwDirty: boolean;
}

export const KERNELS: Readonly<Record<string, KernelBehaviour>> = {
  '6.12': { version: '6.12', mkwriteNeedsSwDirty: false },
  '7.2': { version: '7.2', mkwriteNeedsSwDirty: true },
};

export function kernelByName(name: string): KernelBehaviour {
  const k = KERNELS[name];
  if (!k) throw new Error(`unknown kernel behaviour "${name}" (known: ${Object.keys(KERNELS).join(', ')})`);
  return k;
}

/** Debian trixie's kernel, the stable oracle, is the model's default. */
export const DEFAULT_KERNEL: KernelBehaviour = kernelByName('6.12');
