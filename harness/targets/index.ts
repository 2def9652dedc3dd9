// The target registry: what `--target NAME` may name, and how each is made.
// Adapters load on demand, so a run pays only for the target it uses.

import { BUILTIN_LAYOUTS, DEFAULT_LAYOUT } from '../../model/arm64/layout.ts';
import type { Target } from '../target.ts';

export interface KnownTarget {
  readonly name: string;
  readonly description: string;
}

/** The names --target takes, with a line each (`mmconform targets`). */
export const KNOWN_TARGETS: readonly KnownTarget[] = [
  {
    name: 'reference',
    description: `the reference model of arm64 Linux mm, layout ${DEFAULT_LAYOUT.name}: ${DEFAULT_LAYOUT.description}; @6.12 (layout v6.10, with PTE_DEVMAP) or @7.2 (the default) for the kernel version, +thp=..., +thp_zero=..., +hwaf=..., +hwdbm=..., +epan=..., +swap=SIZE, +hugetlb=N, +mmap_rnd=N (pages of ASLR below mmap_base), +zero_page=0 (read faults allocate, as under pvm_no_zero_page=1)`,
  },
  ...[...BUILTIN_LAYOUTS.values()]
    .filter((layout) => layout !== DEFAULT_LAYOUT)
    .map((layout) => ({ name: `reference:${layout.name}`, description: `the reference model, layout ${layout.name}: ${layout.description}` })),
  { name: 'reference:FILE', description: 'the reference model with the layout a .json/.ts/.js file describes (see mmconform layout)' },
  { name: 'linux-host', description: "this machine's kernel, through the native agent (harness/agent, built with cc on first use)" },
  { name: 'exec:CMD', description: "a program speaking the agent's JSON-lines protocol on stdin and stdout (harness/agent/protocol.schema.json), run with /bin/sh -c CMD: another model, in any language" },
  { name: 'module:PATH', description: 'a TypeScript or JavaScript module whose default export is a variant of the reference, or makes a Target of its own (docs/plugins.md)' },
  { name: 'qemu-arm64', description: "Debian trixie's arm64 cloud kernel (6.12) under QEMU; @current for sid's; +thp=..., +thp_zero=..., +swap=SIZE, +hugetlb=N (npm run setup:kernels)" },
  { name: 'qemu-x86_64', description: "Debian trixie's amd64 cloud kernel (6.12) under QEMU; @current for sid's; +thp=..., +thp_zero=..., +swap=SIZE, +hugetlb=N (npm run setup:kernels)" },
];

/** Throws a one-line Error for a name it does not know (or a spec the adapter rejects). */
export async function resolveTarget(name: string): Promise<Target> {
  if (/^reference($|[:@+])/.test(name)) {
    const { referenceTarget } = await import('./reference.ts');
    return referenceTarget(name.slice('reference'.length));
  }
  if (name === 'linux-host') {
    const { linuxHostTarget } = await import('./linux-host.ts');
    return linuxHostTarget();
  }
  if (name.startsWith('exec:')) {
    const { execTarget } = await import('./exec.ts');
    return execTarget(name.slice('exec:'.length));
  }
  if (name.startsWith('module:')) {
    const { moduleTarget } = await import('./module.ts');
    return moduleTarget(name.slice('module:'.length));
  }
  if (/^qemu-[^@+]*/.test(name)) {
    const { qemuTarget } = await import('./qemu.ts');
    return qemuTarget(name);
  }
  throw new Error(`unknown target "${name}" (known: ${KNOWN_TARGETS.map((t) => t.name).join(', ')})`);
}
