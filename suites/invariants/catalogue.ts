// Every invariant the suite runs, in the order the kernel file lists them.
import { ARM64_INVARIANTS } from './arm64.ts';
import { DEBUG_VM_PGTABLE } from './debug-vm-pgtable.ts';
import type { Invariant } from './invariant.ts';

export const INVARIANTS: readonly Invariant[] = [...DEBUG_VM_PGTABLE, ...ARM64_INVARIANTS];
