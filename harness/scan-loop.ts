// A loop of PAGEMAP_SCAN ioctls, each from the walk_end of the one before,
// until the regions found add up to a count of pages (pagemap_ioctl's
// "Smaller vec"): `while (total_reads < total_writes) { ret =
// pagemap_ioc(walk_end, ...); ... }`. The port's loop stays as the C
// writes it, its scans made through scanLoop().proc; on a target with
// Proc.pagemapScanUntil they are made there, as many as the C's loop
// makes, in one round trip, and answered one by one as the loop asks.

import { isErr, type Ret } from '../uapi/linux.ts';
import type { PmScanArg, PmScanResult, Proc } from './target.ts';

export interface ScanLoop {
  /** the loop's process: its pagemapScan() is the loop's next ioctl */
  readonly proc: Proc;
  /** The loop has ended: it asked for every ioctl that was made. */
  end(): void;
}

const sameScan = (a: PmScanArg, b: PmScanArg): boolean =>
  a.end === b.end &&
  a.flags === b.flags &&
  a.maxPages === b.maxPages &&
  a.categoryInverted === b.categoryInverted &&
  a.categoryMask === b.categoryMask &&
  a.categoryAnyofMask === b.categoryAnyofMask &&
  a.returnMask === b.returnMask &&
  a.vecLen === b.vecLen &&
  !a.badVec &&
  !a.nullVec &&
  !b.badVec &&
  !b.nullVec;

/** The loop's ioctls on `proc`, until `pages` pages of `pageSize` are found. */
export function scanLoop(proc: Proc, pages: bigint, pageSize: bigint): ScanLoop {
  let ahead: Ret<PmScanResult>[] = [];
  /** the ioctl the loop asks for next, while `ahead` holds its result */
  let next: PmScanArg | null = null;
  let found = 0n;
  const scan = async (arg: PmScanArg): Promise<Ret<PmScanResult>> => {
    if (!proc.pagemapScanUntil) return proc.pagemapScan(arg);
    if (ahead.length === 0) {
      ahead = [...(await proc.pagemapScanUntil(arg, pages - found))];
      next = arg;
    }
    if (next === null || arg.start !== next.start || !sameScan(arg, next))
      throw new Error('scanLoop: the loop asked for an ioctl other than the one made for it: it is not the loop scanLoop makes');
    const r = ahead.shift()!;
    if (!isErr(r)) {
      for (const region of r.regions) found += (region.end - region.start) / pageSize;
      next = { ...arg, start: r.walkEnd };
    }
    return r;
  };
  return {
    proc: new Proxy(proc, { get: (target, key) => (key === 'pagemapScan' ? scan : Reflect.get(target, key)) }),
    end() {
      if (ahead.length > 0) throw new Error(`scanLoop: the loop ended with ${ahead.length} ioctl(s) made for it that it did not ask for`);
    },
  };
}
