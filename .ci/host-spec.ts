// Prints the reference target set up as this machine's kernel, as the
// fuzzer sets it up (suites/fuzz/settings.ts): its version, THP mode, huge
// zero page, swap, hugetlb pool and read-fault zero page.
import { linuxHostTarget } from '../harness/targets/linux-host.ts';
import { matchingSpec } from '../suites/fuzz/settings.ts';

const host = await linuxHostTarget();
try {
  process.stdout.write(`${await matchingSpec('reference', host)}\n`);
} finally {
  await host.close();
}
