// tools/testing/selftests/mm/madv_populate.c, ported line for line: one
// function per C function, the same result names and plan. The C's
// `static size_t pagesize` is t.pagesize; the pagemap fds it opens and
// closes around each range check have no counterpart (Proc.pagemap()
// reads the process's own pagemap). `ksft` is declared with its type so
// that TypeScript knows the exit calls do not return. The range checks
// send their pages' reads ahead (ReadAhead): one round trip a window.

import {
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
  isErr,
  type ErrnoName,
  type Ret,
} from '../../uapi/linux.ts';
import type { Ksft } from '../../harness/ksft.ts';
import type { Selftest, Suite } from '../../harness/suite.ts';
import { clearSoftdirty, pagemapIsPopulated, pagemapIsSoftdirty, readEntriesAhead, softdirtySupported } from '../../harness/vm-util.ts';

/*
 * For now, we're using 2 MiB of private anonymous memory for all tests.
 */
const SIZE = 2n * 1024n * 1024n;

/** `ret == -1 && errno == name` */
function failedWith(ret: Ret<0>, name: ErrnoName): boolean {
  return isErr(ret) && ret.name === name;
}

async function senseSupport(t: Selftest): Promise<void> {
  const { proc, pagesize } = t;
  const ksft: Ksft = t.ksft;

  const addr = await proc.mmap(0n, pagesize, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, 0, 0n);
  if (isErr(addr)) ksft.exitFailMsg('mmap failed');

  let ret = await proc.madvise(addr, pagesize, MADV_POPULATE_READ);
  if (isErr(ret)) ksft.exitSkip('MADV_POPULATE_READ is not available');

  ret = await proc.madvise(addr, pagesize, MADV_POPULATE_WRITE);
  if (isErr(ret)) ksft.exitSkip('MADV_POPULATE_WRITE is not available');

  await proc.munmap(addr, pagesize);
}

async function testProtRead(t: Selftest): Promise<void> {
  const { proc } = t;
  const ksft: Ksft = t.ksft;

  ksft.printMsg('[RUN] test_prot_read');

  const addr = await proc.mmap(0n, SIZE, PROT_READ, MAP_ANONYMOUS | MAP_PRIVATE, 0, 0n);
  if (isErr(addr)) ksft.exitFailMsg('mmap failed');

  let ret = await proc.madvise(addr, SIZE, MADV_POPULATE_READ);
  ksft.testResult(!isErr(ret), 'MADV_POPULATE_READ with PROT_READ');

  ret = await proc.madvise(addr, SIZE, MADV_POPULATE_WRITE);
  ksft.testResult(failedWith(ret, 'EINVAL'), 'MADV_POPULATE_WRITE with PROT_READ');

  await proc.munmap(addr, SIZE);
}

async function testProtWrite(t: Selftest): Promise<void> {
  const { proc } = t;
  const ksft: Ksft = t.ksft;

  ksft.printMsg('[RUN] test_prot_write');

  const addr = await proc.mmap(0n, SIZE, PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, 0, 0n);
  if (isErr(addr)) ksft.exitFailMsg('mmap failed');

  let ret = await proc.madvise(addr, SIZE, MADV_POPULATE_READ);
  ksft.testResult(failedWith(ret, 'EINVAL'), 'MADV_POPULATE_READ with PROT_WRITE');

  ret = await proc.madvise(addr, SIZE, MADV_POPULATE_WRITE);
  ksft.testResult(!isErr(ret), 'MADV_POPULATE_WRITE with PROT_WRITE');

  await proc.munmap(addr, SIZE);
}

async function testHoles(t: Selftest): Promise<void> {
  const { proc, pagesize } = t;
  const ksft: Ksft = t.ksft;

  ksft.printMsg('[RUN] test_holes');

  const addr = await proc.mmap(0n, SIZE, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, 0, 0n);
  if (isErr(addr)) ksft.exitFailMsg('mmap failed');
  let ret = await proc.munmap(addr + pagesize, pagesize);
  if (isErr(ret)) ksft.exitFailMsg('munmap failed');

  /* Hole in the middle */
  ret = await proc.madvise(addr, SIZE, MADV_POPULATE_READ);
  ksft.testResult(failedWith(ret, 'ENOMEM'), 'MADV_POPULATE_READ with holes in the middle');
  ret = await proc.madvise(addr, SIZE, MADV_POPULATE_WRITE);
  ksft.testResult(failedWith(ret, 'ENOMEM'), 'MADV_POPULATE_WRITE with holes in the middle');

  /* Hole at end */
  ret = await proc.madvise(addr, 2n * pagesize, MADV_POPULATE_READ);
  ksft.testResult(failedWith(ret, 'ENOMEM'), 'MADV_POPULATE_READ with holes at the end');
  ret = await proc.madvise(addr, 2n * pagesize, MADV_POPULATE_WRITE);
  ksft.testResult(failedWith(ret, 'ENOMEM'), 'MADV_POPULATE_WRITE with holes at the end');

  /* Hole at beginning */
  ret = await proc.madvise(addr + pagesize, pagesize, MADV_POPULATE_READ);
  ksft.testResult(failedWith(ret, 'ENOMEM'), 'MADV_POPULATE_READ with holes at the beginning');
  ret = await proc.madvise(addr + pagesize, pagesize, MADV_POPULATE_WRITE);
  ksft.testResult(failedWith(ret, 'ENOMEM'), 'MADV_POPULATE_WRITE with holes at the beginning');

  await proc.munmap(addr, SIZE);
}

async function rangeIsPopulated(t: Selftest, start: bigint, size: bigint): Promise<boolean> {
  let ret = true;
  const reads = readEntriesAhead(t, start, size);

  for (; size > 0n && ret; size -= t.pagesize, start += t.pagesize)
    if (!(await pagemapIsPopulated(t, start, reads.at(start)))) ret = false;
  return ret;
}

async function rangeIsNotPopulated(t: Selftest, start: bigint, size: bigint): Promise<boolean> {
  let ret = true;
  const reads = readEntriesAhead(t, start, size);

  for (; size > 0n && ret; size -= t.pagesize, start += t.pagesize)
    if (await pagemapIsPopulated(t, start, reads.at(start))) ret = false;
  return ret;
}

async function testPopulateRead(t: Selftest): Promise<void> {
  const { proc } = t;
  const ksft: Ksft = t.ksft;

  ksft.printMsg('[RUN] test_populate_read');

  const addr = await proc.mmap(0n, SIZE, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, 0, 0n);
  if (isErr(addr)) ksft.exitFailMsg('mmap failed');
  ksft.testResult(await rangeIsNotPopulated(t, addr, SIZE), 'read range initially not populated');

  const ret = await proc.madvise(addr, SIZE, MADV_POPULATE_READ);
  ksft.testResult(!isErr(ret), 'MADV_POPULATE_READ');
  ksft.testResult(await rangeIsPopulated(t, addr, SIZE), 'read range is populated');

  await proc.munmap(addr, SIZE);
}

async function testPopulateWrite(t: Selftest): Promise<void> {
  const { proc } = t;
  const ksft: Ksft = t.ksft;

  ksft.printMsg('[RUN] test_populate_write');

  const addr = await proc.mmap(0n, SIZE, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, 0, 0n);
  if (isErr(addr)) ksft.exitFailMsg('mmap failed');
  ksft.testResult(await rangeIsNotPopulated(t, addr, SIZE), 'write range initially not populated');

  const ret = await proc.madvise(addr, SIZE, MADV_POPULATE_WRITE);
  ksft.testResult(!isErr(ret), 'MADV_POPULATE_WRITE');
  ksft.testResult(await rangeIsPopulated(t, addr, SIZE), 'write range is populated');

  await proc.munmap(addr, SIZE);
}

async function rangeIsSoftdirty(t: Selftest, start: bigint, size: bigint): Promise<boolean> {
  let ret = true;
  const reads = readEntriesAhead(t, start, size);

  for (; size > 0n && ret; size -= t.pagesize, start += t.pagesize)
    if (!(await pagemapIsSoftdirty(t, start, reads.at(start)))) ret = false;
  return ret;
}

async function rangeIsNotSoftdirty(t: Selftest, start: bigint, size: bigint): Promise<boolean> {
  let ret = true;
  const reads = readEntriesAhead(t, start, size);

  for (; size > 0n && ret; size -= t.pagesize, start += t.pagesize)
    if (await pagemapIsSoftdirty(t, start, reads.at(start))) ret = false;
  return ret;
}

async function testSoftdirty(t: Selftest): Promise<void> {
  const { proc } = t;
  const ksft: Ksft = t.ksft;

  ksft.printMsg('[RUN] test_softdirty');

  const addr = await proc.mmap(0n, SIZE, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, 0, 0n);
  if (isErr(addr)) ksft.exitFailMsg('mmap failed');

  /* Clear any softdirty bits. */
  await clearSoftdirty(t);
  ksft.testResult(await rangeIsNotSoftdirty(t, addr, SIZE), 'cleared range is not softdirty');

  /* Populating READ should set softdirty. */
  let ret = await proc.madvise(addr, SIZE, MADV_POPULATE_READ);
  ksft.testResult(!isErr(ret), 'softdirty MADV_POPULATE_READ');
  ksft.testResult(await rangeIsNotSoftdirty(t, addr, SIZE), 'range is not softdirty after MADV_POPULATE_READ');

  /* Populating WRITE should set softdirty. */
  ret = await proc.madvise(addr, SIZE, MADV_POPULATE_WRITE);
  ksft.testResult(!isErr(ret), 'softdirty MADV_POPULATE_WRITE');
  ksft.testResult(await rangeIsSoftdirty(t, addr, SIZE), 'range is softdirty after MADV_POPULATE_WRITE ');

  await proc.munmap(addr, SIZE);
}

async function main(t: Selftest): Promise<void> {
  const ksft: Ksft = t.ksft;
  let nrTests = 16;

  if (await softdirtySupported(t)) nrTests += 5;

  ksft.printHeader();
  ksft.setPlan(nrTests);

  await senseSupport(t);
  await testProtRead(t);
  await testProtWrite(t);
  await testHoles(t);
  await testPopulateRead(t);
  await testPopulateWrite(t);
  if (await softdirtySupported(t)) await testSoftdirty(t);

  const err = ksft.getFailCnt();
  if (err) ksft.exitFailMsg(`${err} out of ${ksft.testNum()} tests failed`);
  ksft.exitPass();
}

export const madvPopulate: Suite = {
  name: 'madv_populate',
  source: 'tools/testing/selftests/mm/madv_populate.c',
  tests: [
    'MADV_POPULATE_READ with PROT_READ',
    'MADV_POPULATE_WRITE with PROT_READ',
    'MADV_POPULATE_READ with PROT_WRITE',
    'MADV_POPULATE_WRITE with PROT_WRITE',
    'MADV_POPULATE_READ with holes in the middle',
    'MADV_POPULATE_WRITE with holes in the middle',
    'MADV_POPULATE_READ with holes at the end',
    'MADV_POPULATE_WRITE with holes at the end',
    'MADV_POPULATE_READ with holes at the beginning',
    'MADV_POPULATE_WRITE with holes at the beginning',
    'read range initially not populated',
    'MADV_POPULATE_READ',
    'read range is populated',
    'write range initially not populated',
    'MADV_POPULATE_WRITE',
    'write range is populated',
    // only where softdirty_supported()
    'cleared range is not softdirty',
    'softdirty MADV_POPULATE_READ',
    'range is not softdirty after MADV_POPULATE_READ',
    'softdirty MADV_POPULATE_WRITE',
    'range is softdirty after MADV_POPULATE_WRITE ',
  ],
  run: main,
};
