// What the features promise, checked on one target as a sequence runs,
// with no second target to compare with: a plug-in model, or a kernel with
// a bug, is judged by these alone. Each reads the process's pagemap (and
// PAGEMAP_SCAN) through the unrecorded Proc, so the call log stays the one
// a differential run compares.

import type { PmScanResult, Proc } from '../../harness/target.ts';
import * as U from '../../uapi/linux.ts';
import { isErr } from '../../uapi/linux.ts';
import { PAGE, SLOT_PAGES, slotRanges, type Call } from './calls.ts';

export const ORACLES = {
  answers: 'every call is answered: the target neither dies nor fails to say what the call did',
  'soft-dirty-write':
    "a page a store completed on reads soft-dirty; hugetlb excepted, whose soft-dirty pagemap takes from the area's VM_SOFTDIRTY alone, which clear_refs clears and a write to a page already writable does not set again (7.2's pagemap_hugetlb_range())",
  'uffd-wp-write': 'a store that completed left its page without uffd-wp: asynchronous uffd-wp resolved it, recording it as written',
  'pagemap-scan-agree':
    "PAGEMAP_SCAN says of every present or swapped page what pagemap says: present, swapped, written (not uffd-wp); asked all categories, and asked only which pages are written (the question its fast paths answer)",
  'bits-kept':
    "move_pages(), mprotect() and MADV_PAGEOUT/MADV_COLD keep each private anonymous page's uffd-wp, and never clear its soft-dirty: migration entries, swap entries and protection changes carry them (a dirty THP they split may become soft-dirty, as on the kernel)",
  'scan-read-only': 'a PAGEMAP_SCAN without PM_SCAN_WP_MATCHING changes nothing pagemap shows',
  'wp-maps-nothing': 'UFFDIO_WRITEPROTECT, protecting or not, maps no page and unmaps none: what was present is, what was not is not',
  'no-stale-uffd-wp':
    "no page of an area no userfaultfd is registered on (none of uw, um, ui in smaps' VmFlags) reads uffd-wp: unregistering, closing the userfaultfd, mremap() into such an area and fork() into a child that does not keep the registration clear it",
  'soft-dirty-new-area':
    "every page of an area mapped since the last clear_refs 4 reads soft-dirty: a new area has VM_SOFTDIRTY, which pagemap adds to each of its pages, and keeps it through splits and merges",
  'pagemap-hole': 'an address no area maps reads 0 from pagemap',
} as const;
export type OracleName = keyof typeof ORACLES;

/** A promise broken: by which oracle, after which call of the sequence, and what was read. */
export interface Violation {
  readonly oracle: OracleName;
  /** the index of the call after which it was found; the sequence's length for the end */
  readonly call: number;
  readonly detail: string;
}

/** What the target offers the oracles: soft-dirty to read, PAGEMAP_SCAN to compare. */
export interface OracleCaps {
  readonly softDirty: boolean;
  readonly pagemapScan: boolean;
}

const hex = (a: bigint) => `0x${a.toString(16)}`;
const pageOf = (a: bigint) => a & ~(PAGE - 1n);

/** An area of smaps: its range, its VmFlags and whether it is hugetlb (a KernelPageSize other than 4 kB). */
interface Area {
  readonly start: bigint;
  readonly end: bigint;
  readonly flags: readonly string[];
  readonly hugetlb: boolean;
}

async function smapsAreas(proc: Proc): Promise<Area[]> {
  const smaps = await proc.readFile('/proc/self/smaps');
  return isErr(smaps) ? [] : parseAreas(smaps);
}

function parseAreas(smaps: string): Area[] {
  return smaps
    .split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)
    .filter((b) => /^[0-9a-f]+-/.test(b))
    .map((block) => {
      const [start = '', end = ''] = block.slice(0, block.indexOf(' ')).split('-');
      return { start: BigInt(`0x${start}`), end: BigInt(`0x${end}`), flags: (/^VmFlags:(.*)$/m.exec(block)?.[1] ?? '').trim().split(/\s+/), hugetlb: !/^KernelPageSize:\s+4 kB$/m.test(block) };
    });
}

/** Whether addr lies in a hugetlb area. */
const inHugetlb = async (proc: Proc, addr: bigint): Promise<boolean> => (await smapsAreas(proc)).some((a) => a.hugetlb && a.start <= addr && addr < a.end);

/**
 * After call `call` completed stores to `pages`: each reads soft-dirty
 * (where the target has it) and not uffd-wp.
 */
export async function afterWrite(proc: Proc, caps: OracleCaps, call: number, pages: readonly bigint[]): Promise<Violation[]> {
  if (pages.length === 0) return [];
  const sorted = [...new Set(pages.map(pageOf))].sort((a, b) => (a < b ? -1 : 1));
  const first = sorted[0]!;
  const entries = await proc.pagemap(first, Number((sorted.at(-1)! - first) / PAGE) + 1);
  if (isErr(entries)) return [];
  const out: Violation[] = [];
  for (const page of sorted) {
    const e = entries[Number((page - first) / PAGE)] ?? 0n;
    const at = `page ${hex(page)}: pagemap ${hex(e)}`;
    if (caps.softDirty && !(e & U.PM_SOFT_DIRTY) && !(await inHugetlb(proc, page))) out.push({ oracle: 'soft-dirty-write', call, detail: `${at}, not soft-dirty after a store` });
    if (e & U.PM_UFFD_WP) out.push({ oracle: 'uffd-wp-write', call, detail: `${at}, uffd-wp after a store completed` });
  }
  return out;
}

const CATEGORIES = U.PAGE_IS_PRESENT | U.PAGE_IS_SWAPPED | U.PAGE_IS_WRITTEN;

/**
 * PAGEMAP_SCAN of [start, end): every page's categories, by page; with
 * `mask` the pages that have all of it (PAGE_IS_WRITTEN alone takes the
 * kernel's fast paths), else those with any category.
 */
async function scanCategories(proc: Proc, start: bigint, end: bigint, mask: number): Promise<Map<bigint, number> | null> {
  const found = new Map<bigint, number>();
  for (let from = start; from < end; ) {
    const r: U.Ret<PmScanResult> = await proc.pagemapScan({
      start: from,
      end,
      flags: 0,
      maxPages: 0n,
      categoryInverted: 0,
      categoryMask: mask,
      categoryAnyofMask: mask ? 0 : CATEGORIES,
      returnMask: mask || CATEGORIES,
      vecLen: 512,
    });
    if (isErr(r)) return null;
    for (const g of r.regions) for (let a = g.start; a < g.end; a += PAGE) found.set(a, g.categories);
    if (r.walkEnd <= from) return null;
    from = r.walkEnd;
  }
  return found;
}

/** At the end of a sequence: over every slot, PAGEMAP_SCAN's categories against pagemap's bits. */
export async function atEnd(proc: Proc, caps: OracleCaps, call: number): Promise<Violation[]> {
  if (!caps.pagemapScan) return [];
  const out: Violation[] = [];
  for (const [start, end] of slotRanges()) {
    const entries = await proc.pagemap(start, SLOT_PAGES);
    if (isErr(entries)) continue;
    for (const mask of [0, U.PAGE_IS_WRITTEN]) {
      const scanned = await scanCategories(proc, start, end, mask);
      if (scanned === null) continue;
      const asked = mask || CATEGORIES;
      for (const [i, e] of entries.entries()) {
        if (!(e & (U.PM_PRESENT | U.PM_SWAP))) continue;
        const page = start + BigInt(i) * PAGE;
        const want = ((e & U.PM_PRESENT ? U.PAGE_IS_PRESENT : 0) | (e & U.PM_SWAP ? U.PAGE_IS_SWAPPED : 0) | (e & U.PM_UFFD_WP ? 0 : U.PAGE_IS_WRITTEN)) & asked;
        const got = (scanned.get(page) ?? 0) & asked;
        if (got !== want)
          out.push({ oracle: 'pagemap-scan-agree', call, detail: `page ${hex(page)}: pagemap ${hex(e)} says categories ${hex(BigInt(want))}, PAGEMAP_SCAN (asked ${hex(BigInt(asked))}) ${hex(BigInt(got))}` });
      }
    }
  }
  return out;
}

/** the most pages of one area an oracle reads */
const MAX_PAGES = 1024;
const ANON_PRESENT = U.PM_PRESENT | U.PM_SWAP;

/** A call's range, where it has one: its first page and how many. */
export type CallRange = readonly [start: bigint, pages: number] | null;

/**
 * The oracles that watch a sequence call by call: what some calls must
 * keep (bits-kept, scan-read-only), what the areas must read after the
 * calls that end a registration (no-stale-uffd-wp), and, at the end, the
 * new areas' soft-dirty and the holes. Told of each call before and after
 * it runs, of each area a call maps, and of each store.
 */
export class OracleWatch {
  readonly violations: Violation[] = [];
  /** the areas mapped since the last clear_refs 4: [start, end) */
  private fresh: (readonly [bigint, bigint])[] = [];
  /** the areas calls mapped where the target chose (outside the arena): an mremap() moves a registered area there */
  private chosen: (readonly [bigint, bigint])[] = [];
  /** pagemap of the call's range before it ran, for the calls that must keep it */
  private before: BigUint64Array | null = null;

  constructor(
    private readonly proc: Proc,
    private readonly caps: OracleCaps,
  ) {}

  async wrote(call: number, pages: readonly bigint[]): Promise<void> {
    this.violations.push(...(await afterWrite(this.proc, this.caps, call, pages)));
  }

  /** a call mapped [start, start + pages): a new area, or one mremap() moved there (whose soft-dirty is its own) */
  mapped(start: bigint, pages: number, moved: boolean): void {
    const end = start + BigInt(pages) * PAGE;
    this.fresh = this.fresh.filter(([s, e]) => e <= start || s >= end);
    if (!moved) this.fresh.push([start, end]);
    if (start >= ARENA_END || end <= ARENA_START) this.chosen.push([start, end]);
  }

  private static keeps(c: Call): boolean {
    return c.op === 'move_pages' || c.op === 'mprotect' || (c.op === 'madvise' && (c.advice === U.MADV_PAGEOUT || c.advice === U.MADV_COLD));
  }

  private static protects(c: Call): boolean {
    return c.op === 'uffdio_writeprotect';
  }

  private static readOnlyScan(c: Call): boolean {
    return c.op === 'scan' && (c.flags & U.PM_SCAN_WP_MATCHING) === 0;
  }

  async beforeCall(c: Call, range: CallRange): Promise<void> {
    this.before = null;
    if (range === null || range[1] <= 0 || !(OracleWatch.keeps(c) || OracleWatch.readOnlyScan(c) || OracleWatch.protects(c))) return;
    const e = await this.proc.pagemap(range[0], Math.min(range[1], MAX_PAGES));
    if (!isErr(e)) this.before = e;
  }

  async afterCall(c: Call, call: number, range: CallRange): Promise<void> {
    if (c.op === 'clear_refs' && c.data.replace(/[\0\n]/g, '') === '4') this.fresh = [];
    if (this.before && range) await this.kept(c, call, range[0], this.before);
    this.before = null;
    if (c.op === 'close_uffd' || c.op === 'uffdio_unregister' || c.op === 'mremap') await this.noStaleUffdWp(call);
  }

  private async kept(c: Call, call: number, start: bigint, before: BigUint64Array): Promise<void> {
    const after = await this.proc.pagemap(start, before.length);
    if (isErr(after)) return;
    const scan = OracleWatch.readOnlyScan(c);
    // smaps only where bits-kept must tell hugetlb apart
    const hugetlb = OracleWatch.keeps(c) ? (await smapsAreas(this.proc)).filter((a) => a.hugetlb) : [];
    for (const [i, was] of before.entries()) {
      const page = start + BigInt(i) * PAGE;
      const now = after[i] ?? 0n;
      if (OracleWatch.protects(c)) {
        if ((now & U.PM_PRESENT) !== (was & U.PM_PRESENT))
          this.violations.push({ oracle: 'wp-maps-nothing', call, detail: `page ${hex(page)}: pagemap ${hex(was)} before UFFDIO_WRITEPROTECT, ${hex(now)} after` });
        continue;
      }
      if (scan) {
        if (now !== was) this.violations.push({ oracle: 'scan-read-only', call, detail: `page ${hex(page)}: pagemap ${hex(was)} before the scan, ${hex(now)} after` });
        continue;
      }
      // private anonymous pages only: a file page's bits live in the page cache's ptes, which pageout zaps
      if (!(was & ANON_PRESENT) || was & U.PM_FILE || hugetlb.some((a) => a.start <= page && page < a.end)) continue;
      // soft-dirty may be gained (a dirty THP split or migrated after clear_refs is soft-dirty again: pte_mkdirty()
      // sets it on x86 and the RFC's layout), never lost; uffd-wp neither
      const lost = was & U.PM_SOFT_DIRTY && !(now & U.PM_SOFT_DIRTY);
      if (lost || (now & U.PM_UFFD_WP) !== (was & U.PM_UFFD_WP))
        this.violations.push({ oracle: 'bits-kept', call, detail: `page ${hex(page)}: pagemap ${hex(was)} before ${c.op}, ${hex(now)} after: ${lost ? 'soft-dirty lost' : 'uffd-wp changed'}` });
    }
  }

  private async noStaleUffdWp(call: number): Promise<void> {
    for (const a of await smapsAreas(this.proc)) {
      if (registered(a) || !(inArenaRange(a) || this.chosen.some(([s, e]) => a.start < e && a.end > s))) continue;
      const e = await this.proc.pagemap(a.start, Math.min(Number((a.end - a.start) / PAGE), MAX_PAGES));
      if (!isErr(e)) this.staleUffdWp(call, a, a.start, e, '');
    }
  }

  /** the first page of `a` in entries read from `start` that reads uffd-wp, where `a` is not registered for it */
  private staleUffdWp(call: number, a: Area, start: bigint, entries: BigUint64Array, who: string): void {
    if (registered(a)) return;
    const i = entries.findIndex((x, k) => (x & U.PM_UFFD_WP) !== 0n && a.start <= start + BigInt(k) * PAGE && start + BigInt(k) * PAGE < a.end);
    if (i >= 0)
      this.violations.push({ oracle: 'no-stale-uffd-wp', call, detail: `${who}page ${hex(start + BigInt(i) * PAGE)}: pagemap ${hex(entries[i]!)} reads uffd-wp in an area not registered for it (VmFlags: ${a.flags.join(' ')})` });
  }

  /** a fork()'s child read its smaps and each slot's pagemap: its areas (none registered, without UFFD_FEATURE_EVENT_FORK) keep no uffd-wp */
  forked(call: number, smaps: string, slots: readonly (readonly [bigint, BigUint64Array])[]): void {
    for (const a of parseAreas(smaps)) for (const [start, e] of slots) this.staleUffdWp(call, a, start, e, 'the child\'s ');
  }

  /** at the end of the sequence, after call `call` */
  async end(call: number): Promise<void> {
    this.violations.push(...(await atEnd(this.proc, this.caps, call)));
    await this.noStaleUffdWp(call);
    const areas = await smapsAreas(this.proc);
    const mapped = (page: bigint) => areas.some((a) => a.start <= page && page < a.end);
    if (this.caps.softDirty)
      for (const [start, end] of this.fresh) {
        const pages = Math.min(Number((end - start) / PAGE), MAX_PAGES);
        const e = await this.proc.pagemap(start, pages);
        if (isErr(e)) continue;
        const i = e.findIndex((x, k) => !(x & U.PM_SOFT_DIRTY) && mapped(start + BigInt(k) * PAGE));
        if (i >= 0) this.violations.push({ oracle: 'soft-dirty-new-area', call, detail: `page ${hex(start + BigInt(i) * PAGE)}: pagemap ${hex(e[i]!)}, not soft-dirty in an area mapped since the last clear_refs` });
      }
    for (const [start] of slotRanges()) {
      const e = await this.proc.pagemap(start, SLOT_PAGES);
      if (isErr(e)) continue;
      const i = e.findIndex((x, k) => x !== 0n && !mapped(start + BigInt(k) * PAGE));
      if (i >= 0) this.violations.push({ oracle: 'pagemap-hole', call, detail: `page ${hex(start + BigInt(i) * PAGE)}: pagemap ${hex(e[i]!)} where no area maps` });
    }
  }
}

/**
 * Registered with a userfaultfd in any mode (uw, um, ui in VmFlags). Only an
 * area registered with none promises no uffd-wp: registering a protected
 * range again for missing faults alone takes the area's VM_UFFD_WP but
 * leaves its ptes' bits, as userfaultfd_register() does.
 */
const registered = (a: Area) => a.flags.some((f) => f === 'uw' || f === 'um' || f === 'ui');

const [ARENA_START, ARENA_END] = [slotRanges()[0]![0], slotRanges().at(-1)![1]];
/** an area within the fuzzer's arena (not the agent's own) */
const inArenaRange = (a: Area) => a.start < ARENA_END && a.end > ARENA_START;

/** The oracles' verdict on a sequence (sequence.ts: oracleJudge()). */
export type Judge = (calls: readonly Call[]) => Promise<readonly Violation[]>;

/**
 * Delta debugging (ddmin, greedy), as the differential fuzzer shrinks: drops
 * runs of calls, longest first, while the same oracle still fires; at most
 * `budget` runs. The calls kept, and the violation they show.
 */
export async function shrinkViolation(calls: readonly Call[], judge: Judge, oracle: OracleName, budget = 200): Promise<{ calls: Call[]; violation: Violation }> {
  let best: Call[] = [...calls];
  let shown: Violation | undefined;
  let runs = 0;
  for (let chunk = Math.max(1, best.length >> 1); chunk >= 1 && runs < budget; chunk = chunk === 1 ? 0 : Math.max(1, chunk >> 1)) {
    for (let i = 0; i < best.length && runs < budget; ) {
      const candidate = [...best.slice(0, i), ...best.slice(i + chunk)];
      runs++;
      const v = (await judge(candidate)).find((x) => x.oracle === oracle);
      if (v) {
        best = candidate;
        shown = v;
      } else i += chunk;
    }
  }
  shown ??= (await judge(best)).find((x) => x.oracle === oracle)!;
  return { calls: best, violation: shown };
}
