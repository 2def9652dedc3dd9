// A layout is data: which descriptor bits Linux gives to each software
// meaning, in present entries and in swap entries. Three built-in ones
// follow the 2024 series (shared/seeds): before it, as posted, as merged;
// the fourth is today's kernels', the merged one without PTE_DEVMAP.

export interface SwapFormat {
  /** PTE_SWP_EXCLUSIVE */
  readonly exclusive: number;
  /** PTE_SWP_UFFD_WP, or null where the arch has no uffd-wp */
  readonly uffdWp: number | null;
  /** PTE_SWP_SOFT_DIRTY, or null without HAVE_ARCH_SOFT_DIRTY */
  readonly softDirty: number | null;
  /** __SWP_TYPE_SHIFT; the type is MAX_SWAPFILES_SHIFT (5) bits wide */
  readonly typeShift: number;
  /** __SWP_OFFSET_SHIFT */
  readonly offsetShift: number;
  /** __SWP_OFFSET_BITS */
  readonly offsetBits: number;
}

/** How an entry that is present to software but invalid to hardware is marked. */
export type InvalidEncoding =
  /** v6.10+: one PTE_PRESENT_INVALID bit for PROT_NONE and pte/pmd_mkinvalid(). */
  | { readonly style: 'present-invalid'; readonly bit: number; readonly overlays: boolean }
  /** <= v6.9 and the RFC: PTE_PROT_NONE for ptes, PMD_PRESENT_INVALID for pmds. */
  | {
      readonly style: 'prot-none';
      readonly protNone: number;
      readonly protNoneOverlays: boolean;
      readonly pmdPresentInvalid: number;
      readonly pmdPresentInvalidOverlays: boolean;
    };

export interface Layout {
  readonly name: string;
  readonly description: string;
  /** PTE_DIRTY */
  readonly dirty: number;
  /** PTE_SPECIAL */
  readonly special: number;
  /** PTE_DEVMAP (removed around v6.17), or null */
  readonly devmap: number | null;
  /** PTE_UFFD_WP, or null without HAVE_ARCH_USERFAULTFD_WP */
  readonly uffdWp: number | null;
  /** PTE_SOFT_DIRTY, or null without HAVE_ARCH_SOFT_DIRTY */
  readonly softDirty: number | null;
  readonly invalid: InvalidEncoding;
  readonly swap: SwapFormat;
  /** FEAT_S1POE pkeys in bits 60-62 (PTE_PO_IDX_MASK, v6.12+) */
  readonly poIndex: boolean;
}

export const SWP_TYPE_BITS = 5; // MAX_SWAPFILES_SHIFT

const v69: Layout = {
  name: 'v6.9',
  description: 'before the series: PTE_PROT_NONE in bit 58, PMD_PRESENT_INVALID in bit 59; no uffd-wp, no soft-dirty',
  dirty: 55,
  special: 56,
  devmap: 57,
  uffdWp: null,
  softDirty: null,
  invalid: { style: 'prot-none', protNone: 58, protNoneOverlays: false, pmdPresentInvalid: 59, pmdPresentInvalidOverlays: true },
  swap: { exclusive: 2, uffdWp: null, softDirty: null, typeShift: 3, offsetShift: 8, offsetBits: 50 },
  poIndex: false,
};

const rfc: Layout = {
  name: 'rfc',
  description:
    'the series as posted on 2024-04-19: PROT_NONE overlays UXN, PMD_PRESENT_INVALID in bit 60, uffd-wp in 58 (swap 3), soft-dirty in 63 (swap 61)',
  dirty: 55,
  special: 56,
  devmap: 57,
  uffdWp: 58,
  softDirty: 63,
  invalid: { style: 'prot-none', protNone: 54, protNoneOverlays: true, pmdPresentInvalid: 60, pmdPresentInvalidOverlays: true },
  swap: { exclusive: 2, uffdWp: 3, softDirty: 61, typeShift: 55, offsetShift: 4, offsetBits: 50 },
  poIndex: false,
};

const v610: Layout = {
  name: 'v6.10',
  description:
    'as merged in v6.10 (and run by 6.12): PTE_PRESENT_INVALID overlays nG, uffd-wp in 58 (swap 3), no soft-dirty; POE pkeys in 60-62',
  dirty: 55,
  special: 56,
  devmap: 57,
  uffdWp: 58,
  softDirty: null,
  invalid: { style: 'present-invalid', bit: 11, overlays: true },
  swap: { exclusive: 2, uffdWp: 3, softDirty: null, typeShift: 6, offsetShift: 12, offsetBits: 50 },
  poIndex: true,
};

const v617: Layout = {
  ...v610,
  name: 'v6.17',
  description:
    "today's kernels (Debian's 7.2; since about v6.17): v6.10's, with PTE_DEVMAP gone, so bits 57 and 63 are free",
  devmap: null,
};

export const BUILTIN_LAYOUTS: ReadonlyMap<string, Layout> = new Map([v69, rfc, v610, v617].map((l) => [l.name, l]));

/**
 * The layout a kernel version runs (KernelBehaviour.version, "6.12"): bit
 * 57 is PTE_DEVMAP until upstream removed the devmap bits, around v6.17;
 * Debian's 6.12 defines it, its 7.2 headers have none (the model's
 * kernels, 6.12, 6.18 and 7.2, all lie clear of the boundary).
 */
export function kernelLayout(version: string): Layout {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 6 || (major === 6 && minor >= 17) ? v617 : v610;
}

/** The layout of the model's default kernel (7.2). */
export const DEFAULT_LAYOUT = v617;

/** A built-in layout by name, or an Error that lists the names. */
export function builtinLayout(name: string): Layout {
  const l = BUILTIN_LAYOUTS.get(name);
  if (!l) throw new LayoutError(`unknown layout "${name}" (built-in: ${[...BUILTIN_LAYOUTS.keys()].join(', ')}; or give a layout file path)`);
  return l;
}

/** Bad layout input: the message is one line, fit to show a user as is. */
export class LayoutError extends Error {
  override name = 'LayoutError';
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads a layout description: a whole layout, or `{"base": NAME, ...}` that
 * overrides some fields of a built-in one. Rejects unknown keys and bad bit
 * numbers with a one-line LayoutError. Overlapping bits are not an error
 * here: they are collisions, which the layout report shows.
 */
export function parseLayout(input: unknown, origin: string): Layout {
  if (!isObject(input)) throw new LayoutError(`${origin}: a layout must be an object`);
  const { base, ...rest } = input;
  let start: JsonObject = {};
  if (base !== undefined) {
    if (typeof base !== 'string') throw new LayoutError(`${origin}: "base" must be a layout name`);
    // a derived layout must not pass for its base in any report
    if (typeof rest['name'] !== 'string') throw new LayoutError(`${origin}: a layout with a "base" needs its own "name"`);
    start = structuredClone(builtinLayout(base)) as unknown as JsonObject;
    start['description'] = rest['description'] ?? `${base} with changes`;
  }
  return checkLayout(mergeInto(start, rest, origin, ''), origin);
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function mergeInto(target: JsonObject, patch: JsonObject, origin: string, path: string): JsonObject {
  const out: JsonObject = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (FORBIDDEN_KEYS.has(k)) throw new LayoutError(`${origin}: unknown key ${path}${k}`);
    const t = Object.hasOwn(out, k) ? out[k] : undefined;
    out[k] = isObject(v) && isObject(t) ? mergeInto(t, v, origin, `${path}${k}.`) : v;
  }
  return out;
}

function checkLayout(o: JsonObject, origin: string): Layout {
  const r = new Reader(o, origin, '');
  const invalidR = r.object('invalid');
  const style = invalidR.string('style');
  let invalid: InvalidEncoding;
  if (style === 'present-invalid') {
    invalid = { style, bit: invalidR.bit('bit'), overlays: invalidR.boolean('overlays') };
  } else if (style === 'prot-none') {
    invalid = {
      style,
      protNone: invalidR.bit('protNone'),
      protNoneOverlays: invalidR.boolean('protNoneOverlays'),
      pmdPresentInvalid: invalidR.bit('pmdPresentInvalid'),
      pmdPresentInvalidOverlays: invalidR.boolean('pmdPresentInvalidOverlays'),
    };
  } else {
    throw new LayoutError(`${origin}: invalid.style must be "present-invalid" or "prot-none", got ${JSON.stringify(style)}`);
  }
  invalidR.done();
  const swapR = r.object('swap');
  const swap: SwapFormat = {
    exclusive: swapR.bit('exclusive'),
    uffdWp: swapR.optionalBit('uffdWp'),
    softDirty: swapR.optionalBit('softDirty'),
    typeShift: swapR.bit('typeShift'),
    offsetShift: swapR.bit('offsetShift'),
    offsetBits: swapR.integer('offsetBits', 1, 64),
  };
  swapR.done();
  if (swap.typeShift + SWP_TYPE_BITS > 64) throw new LayoutError(`${origin}: swap.typeShift ${swap.typeShift} leaves no room for the 5-bit swap type`);
  if (swap.offsetShift + swap.offsetBits > 64)
    throw new LayoutError(`${origin}: swap offset bits ${swap.offsetShift}..${swap.offsetShift + swap.offsetBits - 1} run past bit 63`);
  const layout: Layout = {
    name: printable(r.string('name'), `${origin}: "name"`),
    description: printable(r.optionalString('description') ?? '', `${origin}: "description"`),
    dirty: r.bit('dirty'),
    special: r.bit('special'),
    devmap: r.optionalBit('devmap'),
    uffdWp: r.optionalBit('uffdWp'),
    softDirty: r.optionalBit('softDirty'),
    invalid,
    swap,
    poIndex: r.boolean('poIndex'),
  };
  r.done();
  if ((layout.uffdWp === null) !== (swap.uffdWp === null))
    throw new LayoutError(`${origin}: uffdWp and swap.uffdWp must both be bits or both be null`);
  if ((layout.softDirty === null) !== (swap.softDirty === null))
    throw new LayoutError(`${origin}: softDirty and swap.softDirty must both be bits or both be null`);
  return layout;
}

/** A name or description goes to terminals and reports: printable ASCII only, so it cannot forge a line or move the cursor. */
function printable(text: string, what: string): string {
  const bad = /[^\x20-\x7e]/.exec(text);
  if (bad) throw new LayoutError(`${what} holds a character that is not printable ASCII (U+${bad[0].codePointAt(0)!.toString(16).padStart(4, '0')})`);
  return text;
}

/** Field-by-field reader that names the offending path in its errors. */
class Reader {
  private readonly seen = new Set<string>();
  constructor(
    private readonly o: JsonObject,
    private readonly origin: string,
    private readonly path: string,
  ) {}

  private get(key: string): Json | undefined {
    this.seen.add(key);
    return this.o[key];
  }
  private fail(key: string, want: string, got: Json | undefined): never {
    const shown = got === undefined ? 'nothing' : JSON.stringify(got);
    throw new LayoutError(`${this.origin}: ${this.path}${key} must be ${want}, got ${shown}`);
  }
  string(key: string): string {
    const v = this.get(key);
    return typeof v === 'string' ? v : this.fail(key, 'a string', v);
  }
  optionalString(key: string): string | undefined {
    const v = this.get(key);
    return v === undefined ? undefined : typeof v === 'string' ? v : this.fail(key, 'a string', v);
  }
  boolean(key: string): boolean {
    const v = this.get(key);
    return typeof v === 'boolean' ? v : this.fail(key, 'true or false', v);
  }
  integer(key: string, lo: number, hi: number): number {
    const v = this.get(key);
    return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi ? v : this.fail(key, `an integer ${lo}-${hi}`, v);
  }
  bit(key: string): number {
    return this.integer(key, 0, 63);
  }
  optionalBit(key: string): number | null {
    const v = this.get(key);
    if (v === null) return null;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 63) return v;
    return this.fail(key, 'a bit number 0-63 or null', v);
  }
  object(key: string): Reader {
    const v = this.get(key);
    if (!isObject(v)) return this.fail(key, 'an object', v);
    return new Reader(v, this.origin, `${this.path}${key}.`);
  }
  /** Rejects keys nobody asked for: a typo must not silently keep a default. */
  done(): void {
    const unknown = Object.keys(this.o).filter((k) => !this.seen.has(k));
    if (unknown.length > 0) throw new LayoutError(`${this.origin}: unknown key ${this.path}${unknown[0]}`);
  }
}
