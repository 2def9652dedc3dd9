// The extension API: what the file a `--target module:PATH` names imports.
// Its default export is a Variant of the reference model (some page-table
// helpers, kernel behaviour switches or kernel functions replaced: a few
// lines), or a TargetFactory that makes a Target of its own (a model written
// from scratch behind harness/target.ts's interfaces). docs/plugins.md has
// examples; examples/ has tested ones.

import { DEFAULT_KERNEL, type KernelBehaviour } from '../model/kernel.ts';
import { pgtable, type Pgtable } from '../model/arm64/pgtable.ts';
import { DEFAULT_LAYOUT } from '../model/arm64/layout.ts';
import { KERNEL_FUNCTIONS, type KernelFunctionOverrides } from '../model/kernel-functions.ts';
import { MM_FUNCTIONS, type MmOverrides } from '../model/mm/mm.ts';
import { referenceTarget } from './targets/reference.ts';
import type { Target } from './target.ts';

export type * from './target.ts';
export type { Pgtable, Pte } from '../model/arm64/pgtable.ts';
export type { KernelBehaviour } from '../model/kernel.ts';
export type { Mm, MmFunction, MmOverrides } from '../model/mm/mm.ts';
export type { KernelFunction, KernelFunctionOverrides, KernelFunctions } from '../model/kernel-functions.ts';

/** The page-table helpers (model/arm64/pgtable.ts, the kernel's names in camelCase). */
export type PgtableHelper = { [K in keyof Pgtable]-?: Pgtable[K] extends (...args: never[]) => unknown ? K : never }[keyof Pgtable];

/** Replacements for helpers: each is made from the layout's own and the whole set (as the kernel's callers see them). */
export type HelperOverrides = { readonly [K in PgtableHelper]?: (original: Pgtable[K], pg: Pgtable) => Pgtable[K] };

/** The kernel behaviour switches (model/kernel.ts) but the version. */
export type KernelSwitches = Partial<Omit<KernelBehaviour, 'version'>>;

/** A variant of the reference model. */
export interface Variant {
  /** what it is called in reports (TargetInfo.name); default: the base's name */
  readonly name?: string;
  /** the reference target it starts from, as --target names it: "reference" (the default), "reference:rfc@6.12+thp=never" */
  readonly base?: string;
  /** page-table helpers replaced; the mm code calls these (helpers within pgtable.ts keep calling the layout's own) */
  readonly helpers?: HelperOverrides;
  /** kernel behaviour switches changed */
  readonly kernel?: KernelSwitches;
  /** kernel functions each mm holds, replaced (MM_FUNCTIONS lists them) */
  readonly mm?: MmOverrides;
  /** other kernel functions, replaced (KERNEL_FUNCTIONS lists them) */
  readonly functions?: KernelFunctionOverrides;
}

/** What a module: target's default export may be instead of a Variant: a maker of a Target of its own. */
export type TargetFactory = (context: { readonly name: string }) => Target | Promise<Target>;

const CHANGES = ['helpers', 'kernel', 'mm', 'functions'] as const;
const VARIANT_KEYS = ['name', 'base', ...CHANGES];

/** Checks a variant as a JavaScript author may have written it: one line naming the first thing wrong. */
function checkVariant(v: Variant): void {
  const where = `variant${v.name ? ` "${v.name}"` : ''}`;
  const unknown = (what: string, name: string, known: readonly string[]) => new Error(`${where}: no ${what} "${name}" (known: ${known.join(', ')})`);
  for (const key of Object.keys(v)) if (!VARIANT_KEYS.includes(key)) throw unknown('field', key, VARIANT_KEYS);
  // an empty module (a CommonJS file exporting nothing reads as {}) is a mistake, not the reference
  if (!CHANGES.some((key) => v[key] !== undefined)) throw new Error(`${where}: changes nothing (give ${CHANGES.join(', ')}; the reference itself is --target ${v.base ?? 'reference'})`);
  if (v.base !== undefined && !/^reference($|[:@+])/.test(v.base)) throw new Error(`${where}: base "${v.base}" is not a reference target (reference[:LAYOUT][@KERNEL][+OPTION=VALUE]...)`);
  const sample = pgtable(DEFAULT_LAYOUT) as unknown as Readonly<Record<string, unknown>>;
  const helpers = Object.keys(sample).filter((k) => typeof sample[k] === 'function');
  const kernel = DEFAULT_KERNEL as unknown as Readonly<Record<string, unknown>>;
  const switches = Object.keys(kernel).filter((k) => k !== 'version');
  const tables: [string, object | undefined, readonly string[]][] = [
    ['helper', v.helpers, helpers],
    ['kernel switch', v.kernel, switches],
    ['mm function', v.mm, MM_FUNCTIONS],
    ['kernel function', v.functions, Object.keys(KERNEL_FUNCTIONS)],
  ];
  for (const [what, table, known] of tables) {
    for (const [name, value] of Object.entries(table ?? {})) {
      if (!known.includes(name)) throw unknown(what, name, known);
      const expected = what === 'kernel switch' ? typeof kernel[name] : 'function';
      if (typeof value !== expected) throw new Error(`${where}: ${what} "${name}" is a ${typeof value}, not a ${expected}`);
    }
  }
}

/** The helpers with the variant's replacements in place of the layout's own. */
function replaceHelpers(overrides: HelperOverrides): (pg: Pgtable) => Pgtable {
  return (pg) => {
    const out: Record<string, unknown> = { ...pg };
    for (const [name, make] of Object.entries(overrides)) out[name] = (make as (original: unknown, pg: Pgtable) => unknown)((pg as unknown as Record<string, unknown>)[name], pg);
    return out as unknown as Pgtable;
  };
}

/** The reference model with a variant's changes: a Target like any other, named `name` unless the variant names itself. */
export async function deriveReference(variant: Variant, name?: string): Promise<Target> {
  checkVariant(variant);
  const base = variant.base ?? 'reference';
  return referenceTarget(base.slice('reference'.length), {
    name: variant.name ?? name ?? base,
    ...(variant.helpers ? { mutate: replaceHelpers(variant.helpers) } : {}),
    ...(variant.kernel ? { kernel: variant.kernel } : {}),
    ...(variant.mm ? { mm: variant.mm } : {}),
    ...(variant.functions ? { functions: variant.functions } : {}),
  });
}
