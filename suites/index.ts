// The ported selftests and the regression scenarios, in the order `mmconform run` runs them.

import type { Suite } from '../harness/suite.ts';
import { madvPopulate } from './selftests/madv_populate.ts';
import { pagemapIoctlSuite } from './selftests/pagemap_ioctl.ts';
import { softDirty } from './selftests/soft-dirty.ts';
import { uffdUnitTests } from './selftests/uffd-unit-tests.ts';
import { softDirtyRegressions } from './regressions/soft-dirty.ts';
import { uffdWpRegressions } from './regressions/uffd-wp.ts';
import { pteStates } from './scenarios/pte-states.ts';

export const SUITES: readonly Suite[] = [softDirty, madvPopulate, pagemapIoctlSuite, uffdUnitTests, softDirtyRegressions, uffdWpRegressions, pteStates];
