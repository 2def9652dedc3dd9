// fput() and iput() for the model's files (fs/file_table.c, fs/inode.c):
// a tmpfs or hugetlbfs inode is evicted, its pages and reservations freed,
// once no name, open file, System V segment or mapping holds it any more.

import { hugetlbEvictInode } from './hugetlb.ts';
import { type Inode, shmemEvict } from './shmem.ts';
import type { System } from './system.ts';

function mapped(sys: System, inode: Inode): boolean {
  for (const mm of sys.mms) if (mm.vmas.all().some((v) => v.file === inode)) return true;
  return false;
}

/** iput_final(): evict the inode if nothing holds it. */
export function iput(sys: System, inode: Inode): void {
  if (inode.nlink > 0 || inode.openFiles > 0 || inode.evicted || mapped(sys, inode)) return;
  inode.evicted = true;
  if (inode.hugetlb) hugetlbEvictInode(sys, inode);
  else shmemEvict(sys, inode);
}

/** fput() of a struct file on the inode: a descriptor closed, a segment destroyed. */
export function fput(sys: System, inode: Inode): void {
  inode.openFiles--;
  iput(sys, inode);
}
