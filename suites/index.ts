// The ported selftests, in the order `mmconform run` runs them.

import type { Suite } from '../harness/suite.ts';
import { madvPopulate } from './selftests/madv_populate.ts';
import { softDirty } from './selftests/soft-dirty.ts';

export const SUITES: readonly Suite[] = [softDirty, madvPopulate];
