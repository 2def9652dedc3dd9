/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * mmconform_pgwalk: the raw page-table entries that map one user address of
 * one process, as the kernel's own tables hold them. One ioctl on
 * /dev/mmconform_pgwalk (root only); read-only. Shared by the module and the
 * mmconform agent (harness/agent), which asks it for its own processes.
 */
#ifndef MMCONFORM_PGWALK_H
#define MMCONFORM_PGWALK_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define MMCONFORM_PGWALK_DEVICE "/dev/mmconform_pgwalk"

/* Levels as Linux names them, from the top. */
enum mmconform_pglevel {
	MMCONFORM_PGD,
	MMCONFORM_P4D,
	MMCONFORM_PUD,
	MMCONFORM_PMD,
	MMCONFORM_PTE,
	MMCONFORM_LEVELS
};

/* flags: the address lies in a VMA (vm_flags and page_prot are its) */
#define MMCONFORM_PGWALK_VMA 0x1

struct mmconform_pgwalk {
	/* in */
	__u64 addr;
	__s32 pid; /* in the caller's pid namespace */
	/* out: entry[0..levels-1] were read, from the pgd down; the walk stops at a
	 * none, non-present, leaf (block) or bad entry, or at the pte */
	__u32 levels;
	/* bit L set: level L is folded into the one above it (mm_p4d_folded() ...);
	 * its entry is read where its pXd_offset() points, which on arm64 (a p4d
	 * folded at run time) is the real top-level entry, and pgd_offset()'s is not */
	__u32 folded;
	__u32 flags;
	__u64 vm_flags;
	__u64 page_prot; /* pgprot_val(vma->vm_page_prot) */
	__u64 entry[MMCONFORM_LEVELS]; /* raw values, as READ_ONCE() reads them */
	__u64 phys[MMCONFORM_LEVELS]; /* physical addresses of the entries */
};

#define MMCONFORM_PGWALK _IOWR('M', 0xa0, struct mmconform_pgwalk)

#endif
