// tools/testing/selftests/mm/vm_util.c: the helpers soft-dirty.c and
// madv_populate.c use, with the C names in camelCase. Each pagemap reading
// is cross-checked against PAGEMAP_SCAN where the target has it, and a
// failure ends the program with the C's own message.

import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PAGE_IS_FILE,
  PAGE_IS_HUGE,
  PAGE_IS_PFNZERO,
  PAGE_IS_PRESENT,
  PAGE_IS_SOFT_DIRTY,
  PAGE_IS_SWAPPED,
  PAGE_IS_WPALLOWED,
  PAGE_IS_WRITTEN,
  PM_PRESENT,
  PM_SOFT_DIRTY,
  PM_SWAP,
  PROT_READ,
  PROT_WRITE,
  UFFDIO_REGISTER_MODE_MINOR,
  UFFDIO_REGISTER_MODE_MISSING,
  UFFDIO_REGISTER_MODE_WP,
  isErr,
  type Errno,
  type Ret,
} from '../uapi/linux.ts';
import { inOrder, READ_AHEAD_WINDOW, ReadAhead } from './in-order.ts';
import { load } from './user-memory.ts';
import { strerror } from './strerror.ts';
import type { Selftest } from './suite.ts';
import type { PageReading, PmScanArg, PmScanResult, Proc } from './target.ts';

const PMD_SIZE_FILE_PATH = '/sys/kernel/mm/transparent_hugepage/hpage_pmd_size';
const SMAP_FILE_PATH = '/proc/self/smaps';

/** uint64_t -1: what __check_huge compares when no entry was found, and -1ul */
const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** pagemap_get_entry()'s reading: the entry, or the failure it ends the program over. */
function judgeEntry(t: Selftest, entries: Ret<BigUint64Array>): bigint {
  const entry = isErr(entries) ? undefined : entries[0];
  if (entry === undefined) t.ksft.exitFailMsg('reading pagemap failed');
  return entry;
}

export async function pagemapGetEntry(t: Selftest, start: bigint): Promise<bigint> {
  return judgeEntry(t, await t.proc.pagemap(start, 1));
}

/** PAGEMAP_SCAN over one page, every category; `badVec` passes an unmapped vec (~0UL). */
/** __pagemap_scan_get_categories()'s struct pm_scan_arg, but its range */
function categoriesScan(badVec = false): Omit<PmScanArg, 'start' | 'end'> {
  const categoryAnyofMask =
    PAGE_IS_WPALLOWED |
    PAGE_IS_WRITTEN |
    PAGE_IS_FILE |
    PAGE_IS_PRESENT |
    PAGE_IS_SWAPPED |
    PAGE_IS_PFNZERO |
    PAGE_IS_HUGE |
    PAGE_IS_SOFT_DIRTY;
  return { vecLen: 1, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask, returnMask: categoryAnyofMask, ...(badVec ? { badVec } : {}) };
}

function __pagemapScanGetCategories(t: Selftest, start: bigint, badVec = false): Promise<PmScanResult | Errno> {
  return t.proc.pagemapScan({ start, end: start + t.pagesize, ...categoriesScan(badVec) });
}

/** pagemap_scan_get_categories()'s reading: the categories, or the failure it ends the program over. */
function judgeCategories(t: Selftest, ret: PmScanResult | Errno): number {
  if (isErr(ret)) t.ksft.exitFailMsg(`PAGEMAP_SCAN failed: ${strerror(ret)}`);
  if (ret.ret === 0) return 0;
  const r = ret.regions[0];
  if (r === undefined) throw new Error(`PAGEMAP_SCAN returned ${ret.ret} but no region`);
  return r.categories;
}

/** C keeps the answer in a static: once per program, so once per process. */
const scanSupported = new WeakMap<Proc, boolean>();

/** `start` is any valid address. */
async function pagemapScanSupported(t: Selftest, start: bigint): Promise<boolean> {
  const cached = scanSupported.get(t.proc);
  if (cached !== undefined) return cached;

  /* Provide an invalid address in order to trigger EFAULT. */
  const ret = await __pagemapScanGetCategories(t, start, true);
  if (!isErr(ret) && ret.ret === 0) t.ksft.exitFailMsg('PAGEMAP_SCAN succeeded unexpectedly');

  const supported = isErr(ret) && ret.name === 'EFAULT';
  scanSupported.set(t.proc, supported);
  return supported;
}

/**
 * Sends page_entry_is()'s reads of one page and judges none of them: a
 * loop over a range reads ahead with these (ReadAhead). Once the C's static
 * is known, every read goes out before this returns.
 */
export function readPageEntry(t: Selftest, start: bigint): Promise<PageReading> {
  const entry = t.proc.pagemap(start, 1);
  const known = scanSupported.get(t.proc);
  if (known !== undefined) return inOrder(entry, known ? __pagemapScanGetCategories(t, start) : Promise.resolve(null)).then(([e, scan]) => ({ entry: e, scan }));
  entry.catch(() => {}); // judged below, after the probe
  return pagemapScanSupported(t, start).then(async (supported) => ({
    entry: await entry,
    scan: supported ? await __pagemapScanGetCategories(t, start) : null,
  }));
}

/**
 * A range loop's reading of each page, sent ahead (ReadAhead over
 * readPageEntry()): a window's pages in one Proc.pageReadings() where the
 * target has it, once the C's static is known.
 */
export function readEntriesAhead(t: Selftest, start: bigint, size: bigint): ReadAhead<PageReading> {
  const readMany = (addr: bigint, n: number): Promise<PageReading>[] | null => {
    const known = scanSupported.get(t.proc);
    if (!t.proc.pageReadings || known === undefined) return null;
    const readings = t.proc.pageReadings(addr, n, known ? categoriesScan() : null);
    return Array.from({ length: n }, (_, i) => readings.then((r) => r[i]!));
  };
  return new ReadAhead((addr) => readPageEntry(t, addr), start, start + size, t.pagesize, READ_AHEAD_WINDOW, readMany);
}

async function pageEntryIs(
  t: Selftest,
  reading: Promise<PageReading>,
  desc: string,
  pagemapFlags: bigint,
  pagescanFlags: number,
): Promise<boolean> {
  const { entry, scan } = await reading;
  const m = (judgeEntry(t, entry) & pagemapFlags) !== 0n;

  if (scan !== null) {
    const s = (judgeCategories(t, scan) & pagescanFlags) !== 0;

    if (m === s) return m;

    // The C format has no "\n" here: the counts follow on the same line.
    t.ksft.exitFailMsg(`read and ioctl return unmatched results for ${desc}: ${Number(m)} ${Number(s)}`, {
      newline: false,
    });
  }
  return m;
}

/** `reading`: the page's reads, if sent already (a range loop's ReadAhead). */
export function pagemapIsSoftdirty(t: Selftest, start: bigint, reading = readPageEntry(t, start)): Promise<boolean> {
  return pageEntryIs(t, reading, 'soft-dirty', PM_SOFT_DIRTY, PAGE_IS_SOFT_DIRTY);
}

export function pagemapIsSwapped(t: Selftest, start: bigint, reading = readPageEntry(t, start)): Promise<boolean> {
  return pageEntryIs(t, reading, 'swap', PM_SWAP, PAGE_IS_SWAPPED);
}

export function pagemapIsPopulated(t: Selftest, start: bigint, reading = readPageEntry(t, start)): Promise<boolean> {
  return pageEntryIs(t, reading, 'populated', PM_PRESENT | PM_SWAP, PAGE_IS_PRESENT | PAGE_IS_SWAPPED);
}

export async function pagemapGetPfn(t: Selftest, start: bigint): Promise<bigint> {
  const entry = await pagemapGetEntry(t, start);

  /* If present (63th bit), PFN is at bit 0 -- 54. */
  if (entry & PM_PRESENT) return entry & 0x007fffffffffffffn;
  return U64_MAX;
}

export async function clearSoftdirty(t: Selftest): Promise<void> {
  const ctrl = '4';
  // writeFile() is the C's open() and write() in one: ENOENT and EACCES are open()'s failures.
  const ret = await t.proc.writeFile('/proc/self/clear_refs', ctrl);
  if (isErr(ret) && (ret.name === 'ENOENT' || ret.name === 'EACCES')) t.ksft.exitFailMsg('opening clear_refs failed');
  if (ret !== ctrl.length) t.ksft.exitFailMsg('writing clear_refs failed');
}

/** strtoul(buf, NULL, 10), for the decimal numbers sysfs prints. */
function strtoul(buf: string): bigint {
  const digits = /^\s*\+?(\d+)/.exec(buf)?.[1];
  return digits === undefined ? 0n : BigInt(digits);
}

export async function readPmdPagesize(t: Selftest): Promise<bigint> {
  const buf = await t.proc.readFile(PMD_SIZE_FILE_PATH);
  if (isErr(buf) || buf.length < 1) return 0n;
  return strtoul(buf.slice(0, 19));
}

/**
 * The text after `pattern` on the first line starting with it that follows
 * the smaps line starting with addr as "%08lx-" (C searches on past that
 * VMA's block, and so does this); null when either line is missing.
 */
async function __getSmapEntry(t: Selftest, addr: bigint, pattern: string): Promise<string | null> {
  const addrPattern = `${addr.toString(16).padStart(8, '0')}-`;

  const text = await t.proc.readFile(SMAP_FILE_PATH);
  if (isErr(text)) t.ksft.exitFailMsg(`__get_smap_entry: Failed to open file ${SMAP_FILE_PATH}`);
  const lines = text.split('\n');

  const block = lines.findIndex((line) => line.startsWith(addrPattern));
  if (block < 0) return null;

  /* Fetch the pattern in the same block */
  const entry = lines.slice(block + 1).find((line) => line.startsWith(pattern));
  if (entry === undefined) return null;

  return entry.slice(pattern.length);
}

async function __checkHuge(t: Selftest, addr: bigint, pattern: string, nrHpages: number, hpageSize: bigint): Promise<boolean> {
  let thp = U64_MAX;

  const entry = await __getSmapEntry(t, addr, pattern);
  if (entry !== null) {
    // sscanf(entry, "%9" SCNu64 " kB", &thp)
    const digits = /^\s*\+?(\d{1,9})/.exec(entry)?.[1];
    if (digits === undefined) t.ksft.exitFailMsg('Reading smap error');
    thp = BigInt(digits);
  }

  return thp === BigInt(nrHpages) * (hpageSize >> 10n);
}

export function checkHugeAnon(t: Selftest, addr: bigint, nrHpages: number, hpageSize: bigint): Promise<boolean> {
  return __checkHuge(t, addr, 'AnonHugePages: ', nrHpages, hpageSize);
}

export function checkHugeFile(t: Selftest, addr: bigint, nrHpages: number, hpageSize: bigint): Promise<boolean> {
  return __checkHuge(t, addr, 'FilePmdMapped:', nrHpages, hpageSize);
}

export function checkHugeShmem(t: Selftest, addr: bigint, nrHpages: number, hpageSize: bigint): Promise<boolean> {
  return __checkHuge(t, addr, 'ShmemPmdMapped:', nrHpages, hpageSize);
}

/** Whether the VmFlags line of the VMA starting at addr holds `flag` as a word. */
export async function checkVmflag(t: Selftest, addr: bigint, flag: string): Promise<boolean> {
  const flags = await __getSmapEntry(t, addr, 'VmFlags:');
  if (flags === null) t.ksft.exitFailMsg(`check_vmflag: No VmFlags for 0x${addr.toString(16)}`);

  return flags.split(' ').includes(flag);
}

export async function softdirtySupported(t: Selftest): Promise<boolean> {
  /* New mappings are expected to be marked with VM_SOFTDIRTY (sd). */
  const addr = await t.proc.mmap(0n, t.pagesize, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, 0, 0n);
  if (isErr(addr)) t.ksft.exitFailMsg('mmap failed');

  const supported = await checkVmflag(t, addr, 'sd');
  await t.proc.munmap(addr, t.pagesize);
  return supported;
}

/** `FORCE_READ(addr[i * pagesize])` for each page: a load of the pages, in order (the same faults). */
export async function forceReadPages(t: Selftest, addr: bigint, nrPages: number, pagesize: bigint): Promise<void> {
  await load(t.proc, addr, nrPages * Number(pagesize));
}

export async function detectHugeZeropage(t: Selftest): Promise<boolean> {
  // pread(fd, buf, 15, 0): a longer answer (never seen) would not count
  const buf = await t.proc.readFile('/sys/kernel/mm/transparent_hugepage/use_zero_page');
  if (isErr(buf) || buf.length < 1 || buf.length >= 15) return false;
  return strtoul(buf) === 1n;
}

/**
 * read_file(path, buf, buflen): the text read (at most buflen - 1 bytes), or
 * the C's 0 with the errno of the call that failed (null: an empty read, errno untouched).
 */
export async function readFile(t: Selftest, path: string, buflen: number): Promise<string | Errno | null> {
  const buf = await t.proc.readFile(path);
  if (isErr(buf)) return buf;
  if (buf.length < 1) return null;
  return buf.slice(0, buflen - 1);
}

export async function readNum(t: Selftest, path: string): Promise<bigint> {
  const buf = await readFile(t, path, 21);
  if (typeof buf !== 'string') t.ksft.exitFailPerror('read_file()', buf);
  return strtoul(buf);
}

/** __write_file(): buf is written without its final NUL, as the C's buflen - 1 bytes. */
async function __writeFile(t: Selftest, path: string, buf: string, ignoreEinval: boolean): Promise<void> {
  const ret = await t.proc.writeFile(path, buf);
  if (isErr(ret)) {
    if (ret.call === 'open') t.ksft.exitFailMsg(`${path} open failed: ${strerror(ret)}`);
    if (ignoreEinval && ret.name === 'EINVAL') return;
    t.ksft.exitFailMsg(`${path} write(${buf}) failed: ${strerror(ret)}`);
  }
  if (ret !== buf.length)
    t.ksft.exitFailMsg(`${path} write(${buf}) is truncated, expected ${buf.length} bytes, got ${ret} bytes`);
}

export function writeNum(t: Selftest, path: string, num: bigint): Promise<void> {
  return __writeFile(t, path, num.toString(), false);
}

export function writeNumIgnoreEinval(t: Selftest, path: string, num: bigint): Promise<void> {
  return __writeFile(t, path, num.toString(), true);
}

// The userfaultfd helpers (vm_util.c's uffd_register() and friends): the C's
// int return, 0 or -errno.

/** uffd_register_with_ioctls(): ioctls is the C's out parameter, left at 0 when the ioctl fails. */
export async function uffdRegisterWithIoctls(
  t: Selftest,
  uffd: number,
  addr: bigint,
  len: bigint,
  miss: boolean,
  wp: boolean,
  minor: boolean,
): Promise<{ ret: number; ioctls: bigint }> {
  let mode = 0n;

  if (miss) mode |= UFFDIO_REGISTER_MODE_MISSING;
  if (wp) mode |= UFFDIO_REGISTER_MODE_WP;
  if (minor) mode |= UFFDIO_REGISTER_MODE_MINOR;

  const r = await t.proc.uffdioRegister(uffd, addr, len, mode);
  if (isErr(r)) return { ret: -r.code, ioctls: 0n };
  return { ret: 0, ioctls: r.ioctls };
}

export async function uffdRegister(t: Selftest, uffd: number, addr: bigint, len: bigint, miss: boolean, wp: boolean, minor: boolean): Promise<number> {
  return (await uffdRegisterWithIoctls(t, uffd, addr, len, miss, wp, minor)).ret;
}

export async function uffdUnregister(t: Selftest, uffd: number, addr: bigint, len: bigint): Promise<number> {
  const r = await t.proc.uffdioUnregister(uffd, addr, len);
  return isErr(r) ? -r.code : 0;
}
