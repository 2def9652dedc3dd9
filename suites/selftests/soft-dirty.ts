// tools/testing/selftests/mm/soft-dirty.c, ported line for line: one
// function per C function, the same result names and plan. The C's
// pagemap_fd argument is the Selftest `t`: Proc.pagemap() reads the
// process's own pagemap, so there is no file to open. `ksft` is declared
// with its type so that TypeScript knows the exit calls do not return.

import {
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  O_CREAT,
  O_RDWR,
  PROT_EXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  isErr,
} from '../../uapi/linux.ts';
import { repeat } from '../../harness/repeat.ts';
import { thpIsEnabled } from '../../harness/hugepage-settings.ts';
import type { Ksft } from '../../harness/ksft.ts';
import type { Selftest, Suite } from '../../harness/suite.ts';
import { increment, store, storeByte } from '../../harness/user-memory.ts';
import {
  checkHugeAnon,
  clearSoftdirty,
  pagemapIsSoftdirty,
  readPmdPagesize,
  softdirtySupported,
} from '../../harness/vm-util.ts';

const TEST_ITERATIONS = 10000;

async function testSimple(t: Selftest, pagesize: bigint): Promise<void> {
  const { proc } = t;
  const ksft: Ksft = t.ksft;
  let i: number;

  const map = await proc.alignedAlloc(pagesize, pagesize);
  if (isErr(map)) ksft.exitFailMsg('mmap failed');

  await clearSoftdirty(t);

  // for (i = 0; i < TEST_ITERATIONS; i++), run where the kernel is (harness/repeat.ts); false is break
  i = await repeat(proc, TEST_ITERATIONS, async (i) => {
    if (await pagemapIsSoftdirty(t, map)) {
      ksft.printMsg(`dirty bit was 1, but should be 0 (i=${i})`);
      return false;
    }

    await clearSoftdirty(t);
    // Write something to the page to get the dirty bit enabled on the page
    await increment(proc, [map]); // map[0]++;

    if (!(await pagemapIsSoftdirty(t, map))) {
      ksft.printMsg(`dirty bit was 0, but should be 1 (i=${i})`);
      return false;
    }

    await clearSoftdirty(t);
    return true;
  });
  await proc.free(map);

  ksft.testResult(i === TEST_ITERATIONS, 'Test test_simple');
}

async function testVmaReuse(t: Selftest, pagesize: bigint): Promise<void> {
  const { proc } = t;
  const ksft: Ksft = t.ksft;

  const map = await proc.mmap(0n, pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(map)) ksft.exitFailMsg('mmap failed', { newline: false });

  // The kernel always marks new regions as soft dirty
  ksft.testResult(await pagemapIsSoftdirty(t, map), 'Test test_vma_reuse dirty bit of allocated page');

  await clearSoftdirty(t);
  await proc.munmap(map, pagesize);

  const map2 = await proc.mmap(0n, pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(map2)) ksft.exitFailMsg('mmap failed', { newline: false });

  // Dirty bit is set for new regions even if they are reused
  if (map === map2)
    ksft.testResult(await pagemapIsSoftdirty(t, map2), 'Test test_vma_reuse dirty bit of reused address page');
  else ksft.testResultSkip('Test test_vma_reuse dirty bit of reused address page');

  await proc.munmap(map2, pagesize);
}

async function testHugepage(t: Selftest): Promise<void> {
  const { proc } = t;
  const ksft: Ksft = t.ksft;
  let i: number;

  if (!(await thpIsEnabled(t))) {
    ksft.printMsg('Transparent Hugepages not available');
    ksft.testResultSkip('Test test_hugepage huge page allocation');
    ksft.testResultSkip('Test test_hugepage huge page dirty bit');
    return;
  }

  const hpageLen = await readPmdPagesize(t);
  if (!hpageLen) ksft.exitFailMsg('Reading PMD pagesize failed', { newline: false });

  const map = await proc.alignedAlloc(hpageLen, hpageLen); // memalign()
  if (isErr(map)) ksft.exitFailMsg('memalign failed');

  const ret = await proc.madvise(map, hpageLen, MADV_HUGEPAGE);
  if (isErr(ret)) ksft.exitFailMsg('madvise failed -1'); // "madvise failed %d\n" with ret == -1

  // for (i = 0; i < hpage_len; i++) map[i] = (char)i; as one store, in the same order
  await store(proc, map, Uint8Array.from({ length: Number(hpageLen) }, (_, i) => i));

  if (await checkHugeAnon(t, map, 1, hpageLen)) {
    ksft.testResultPass('Test test_hugepage huge page allocation');

    await clearSoftdirty(t);
    // as in test_simple
    i = await repeat(proc, TEST_ITERATIONS, async (i) => {
      if (await pagemapIsSoftdirty(t, map)) {
        ksft.printMsg(`dirty bit was 1, but should be 0 (i=${i})`);
        return false;
      }

      await clearSoftdirty(t);
      // Write something to the page to get the dirty bit enabled on the page
      await increment(proc, [map]); // map[0]++;

      if (!(await pagemapIsSoftdirty(t, map))) {
        ksft.printMsg(`dirty bit was 0, but should be 1 (i=${i})`);
        return false;
      }
      await clearSoftdirty(t);
      return true;
    });

    ksft.testResult(i === TEST_ITERATIONS, 'Test test_hugepage huge page dirty bit');
  } else {
    // hugepage allocation failed. skip these tests
    ksft.testResultSkip('Test test_hugepage huge page allocation');
    ksft.testResultSkip('Test test_hugepage huge page dirty bit');
  }
  await proc.free(map);
}

async function testMprotect(t: Selftest, pagesize: bigint, anon: boolean): Promise<void> {
  const { proc } = t;
  const ksft: Ksft = t.ksft;
  const type = ['file', 'anon'] as const;
  const fname = './soft-dirty-test-file';
  let testFd = 0;
  let map: bigint;

  if (anon) {
    const ret = await proc.mmap(0n, pagesize, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0n);
    if (isErr(ret)) ksft.exitFailMsg('anon mmap failed');
    map = ret;
  } else {
    const fd = await proc.open(fname, O_RDWR | O_CREAT, 0o664);
    if (isErr(fd)) {
      ksft.testResultSkip('Test test_mprotect open() file failed');
      return;
    }
    testFd = fd;
    await proc.unlink(fname);
    await proc.ftruncate(testFd, pagesize);
    const ret = await proc.mmap(0n, pagesize, PROT_READ | PROT_WRITE, MAP_SHARED, testFd, 0n);
    if (isErr(ret)) ksft.exitFailMsg('file mmap failed');
    map = ret;
  }
  const kind = type[anon ? 1 : 0];

  await storeByte(proc, map, 1); // *map = 1
  ksft.testResult(await pagemapIsSoftdirty(t, map), `Test test_mprotect-${kind} dirty bit of new written page`);
  await clearSoftdirty(t);
  ksft.testResult(!(await pagemapIsSoftdirty(t, map)), `Test test_mprotect-${kind} soft-dirty clear after clear_refs`);
  await proc.mprotect(map, pagesize, PROT_READ);
  ksft.testResult(!(await pagemapIsSoftdirty(t, map)), `Test test_mprotect-${kind} soft-dirty clear after marking RO`);
  await proc.mprotect(map, pagesize, PROT_READ | PROT_WRITE);
  ksft.testResult(!(await pagemapIsSoftdirty(t, map)), `Test test_mprotect-${kind} soft-dirty clear after marking RW`);
  await storeByte(proc, map, 2); // *map = 2
  ksft.testResult(await pagemapIsSoftdirty(t, map), `Test test_mprotect-${kind} soft-dirty after rewritten`);

  await proc.munmap(map, pagesize);

  if (!anon) await proc.close(testFd);
}

async function testMerge(t: Selftest, pagesize: bigint): Promise<void> {
  const { proc } = t;
  const ksft: Ksft = t.ksft;

  /*
   * Reserve space for tests:
   *
   *   ---padding to ---
   *   |   avoid adj.  |
   *   v     merge     v
   * |---|---|---|---|---|
   * |   | 1 | 2 | 3 |   |
   * |---|---|---|---|---|
   */
  const reserved = await proc.mmap(0n, 5n * pagesize, PROT_NONE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0n);
  if (isErr(reserved)) ksft.exitFailMsg('mmap failed');
  await proc.munmap(reserved, 4n * pagesize);

  /*
   * Establish initial VMA:
   *
   *      S/D
   * |---|---|---|---|---|
   * |   | 1 |   |   |   |
   * |---|---|---|---|---|
   */
  let map = await proc.mmap(reserved + pagesize, pagesize, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED, -1, 0n);
  if (isErr(map)) ksft.exitFailMsg('mmap failed');

  /* This will clear VM_SOFTDIRTY too. */
  await clearSoftdirty(t);

  /*
   * Now place a new mapping which will be marked VM_SOFTDIRTY. Away from
   * map:
   *
   *       -      S/D
   * |---|---|---|---|---|
   * |   | 1 |   | 2 |   |
   * |---|---|---|---|---|
   */
  let map2 = await proc.mmap(reserved + 3n * pagesize, pagesize, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED, -1, 0n);
  if (isErr(map2)) ksft.exitFailMsg('mmap failed');

  /*
   * Now remap it immediately adjacent to map, if the merge correctly
   * propagates VM_SOFTDIRTY, we should then observe the VMA as a whole
   * being marked soft-dirty:
   *
   *       merge
   *        S/D
   * |---|-------|---|---|
   * |   |   1   |   |   |
   * |---|-------|---|---|
   */
  map2 = await proc.mremap(map2, pagesize, pagesize, MREMAP_FIXED | MREMAP_MAYMOVE, reserved + 2n * pagesize);
  if (isErr(map2)) ksft.exitFailMsg('mremap failed');
  ksft.testResult(await pagemapIsSoftdirty(t, map), 'Test test_merge-anon soft-dirty after remap merge 1st pg');
  ksft.testResult(await pagemapIsSoftdirty(t, map2), 'Test test_merge-anon soft-dirty after remap merge 2nd pg');

  await proc.munmap(map, 2n * pagesize);

  /*
   * Now establish another VMA:
   *
   *      S/D
   * |---|---|---|---|---|
   * |   | 1 |   |   |   |
   * |---|---|---|---|---|
   */
  map = await proc.mmap(reserved + pagesize, pagesize, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED, -1, 0n);
  if (isErr(map)) ksft.exitFailMsg('mmap failed');

  /* Clear VM_SOFTDIRTY... */
  await clearSoftdirty(t);
  /* ...and establish incompatible adjacent VMA:
   *
   *       -  S/D
   * |---|---|---|---|---|
   * |   | 1 | 2 |   |   |
   * |---|---|---|---|---|
   */
  map2 = await proc.mmap(
    reserved + 2n * pagesize,
    pagesize,
    PROT_READ | PROT_WRITE | PROT_EXEC,
    MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED,
    -1,
    0n,
  );
  if (isErr(map2)) ksft.exitFailMsg('mmap failed');

  /*
   * Now mprotect() VMA 1 so it's compatible with 2 and therefore merges:
   *
   *       merge
   *        S/D
   * |---|-------|---|---|
   * |   |   1   |   |   |
   * |---|-------|---|---|
   */
  if (isErr(await proc.mprotect(map, pagesize, PROT_READ | PROT_WRITE | PROT_EXEC))) ksft.exitFailMsg('mprotect failed');

  ksft.testResult(await pagemapIsSoftdirty(t, map), 'Test test_merge-anon soft-dirty after mprotect merge 1st pg');
  ksft.testResult(await pagemapIsSoftdirty(t, map2), 'Test test_merge-anon soft-dirty after mprotect merge 2nd pg');

  await proc.munmap(map, 2n * pagesize);
}

async function testMprotectAnon(t: Selftest, pagesize: bigint): Promise<void> {
  await testMprotect(t, pagesize, true);
}

async function testMprotectFile(t: Selftest, pagesize: bigint): Promise<void> {
  await testMprotect(t, pagesize, false);
}

async function main(t: Selftest): Promise<void> {
  const ksft: Ksft = t.ksft;

  ksft.printHeader();

  if (!(await softdirtySupported(t))) ksft.exitSkip('soft-dirty is not support');

  ksft.setPlan(19);

  const pagesize = t.pagesize; // getpagesize()

  await testSimple(t, pagesize);
  await testVmaReuse(t, pagesize);
  await testHugepage(t);
  await testMprotectAnon(t, pagesize);
  await testMprotectFile(t, pagesize);
  await testMerge(t, pagesize);

  ksft.finished();
}

export const softDirty: Suite = {
  name: 'soft-dirty',
  source: 'tools/testing/selftests/mm/soft-dirty.c',
  tests: [
    'Test test_simple',
    'Test test_vma_reuse dirty bit of allocated page',
    'Test test_vma_reuse dirty bit of reused address page',
    'Test test_hugepage huge page allocation',
    'Test test_hugepage huge page dirty bit',
    ...['anon', 'file'].flatMap((kind) => [
      `Test test_mprotect-${kind} dirty bit of new written page`,
      `Test test_mprotect-${kind} soft-dirty clear after clear_refs`,
      `Test test_mprotect-${kind} soft-dirty clear after marking RO`,
      `Test test_mprotect-${kind} soft-dirty clear after marking RW`,
      `Test test_mprotect-${kind} soft-dirty after rewritten`,
    ]),
    'Test test_merge-anon soft-dirty after remap merge 1st pg',
    'Test test_merge-anon soft-dirty after remap merge 2nd pg',
    'Test test_merge-anon soft-dirty after mprotect merge 1st pg',
    'Test test_merge-anon soft-dirty after mprotect merge 2nd pg',
  ],
  run: main,
};
