// SPDX-License-Identifier: GPL-2.0
/*
 * mmconform_pgwalk: reads the page-table entries that map one user address
 * of a process (pgd, p4d, pud, pmd, pte), with each entry's physical address,
 * which levels are folded, and the VMA's vm_flags and vm_page_prot, so that
 * mmconform can compare a real kernel's descriptors with its model's. It
 * never writes a page table.
 *
 * Locking is the kernel's own for a reader: mmap_read_lock keeps the upper
 * tables; the pmd is read under pmd_lock; the pte as pte_offset_map_lock()
 * would (its core, __pte_offset_map_lock(), is not exported): under RCU, so
 * a table being freed stays readable, with the table's lock held and the pmd
 * checked unchanged. Entries are read with READ_ONCE(), never ptep_get(),
 * which on arm64 merges access and dirty bits across a contiguous range.
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pgtable.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/uaccess.h>

#include "mmconform_pgwalk.h"

static void record(struct mmconform_pgwalk *w, enum mmconform_pglevel level, void *entry, u64 value)
{
	w->entry[level] = value;
	w->phys[level] = virt_to_phys(entry);
	w->levels = level + 1;
}

/* The pmd under its lock, then the pte table it points to, as pte_offset_map_lock() reads it. */
static void walk_pmd(struct mm_struct *mm, pmd_t *pmdp, unsigned long addr, struct mmconform_pgwalk *w)
{
	for (;;) {
		spinlock_t *ptl;
		pmd_t pmd;
		pte_t *ptep;

		/* before the pmd is read: a table it points to is then not freed under us */
		rcu_read_lock();
		ptl = pmd_lock(mm, pmdp);
		pmd = READ_ONCE(*pmdp);
		spin_unlock(ptl);
		record(w, MMCONFORM_PMD, pmdp, pmd_val(pmd));
		if (pmd_none(pmd) || !pmd_present(pmd) || pmd_leaf(pmd) || pmd_bad(pmd)) {
			rcu_read_unlock();
			return;
		}
		/* pte_offset_map() less the kmap, which no 64-bit kernel needs (no HIGHPTE) */
		ptep = pte_offset_kernel(&pmd, addr);
		ptl = pte_lockptr(mm, &pmd);
		spin_lock(ptl);
		if (pmd_same(pmd, READ_ONCE(*pmdp))) {
			record(w, MMCONFORM_PTE, ptep, pte_val(READ_ONCE(*ptep)));
			spin_unlock(ptl);
			rcu_read_unlock();
			return;
		}
		/* the table was replaced (a THP collapse, a reclaimed table): read again */
		spin_unlock(ptl);
		rcu_read_unlock();
	}
}

/* Down from the pgd, stopping where the kernel's own walkers would. Under mmap_read_lock. */
static void walk(struct mm_struct *mm, unsigned long addr, struct mmconform_pgwalk *w)
{
	pgd_t *pgdp = pgd_offset(mm, addr);
	pgd_t pgd = READ_ONCE(*pgdp);
	p4d_t *p4dp;
	p4d_t p4d;
	pud_t *pudp;
	pud_t pud;

	record(w, MMCONFORM_PGD, pgdp, pgd_val(pgd));
	if (pgd_none(pgd) || !pgd_present(pgd) || pgd_leaf(pgd) || pgd_bad(pgd))
		return;
	p4dp = p4d_offset(pgdp, addr);
	p4d = READ_ONCE(*p4dp);
	record(w, MMCONFORM_P4D, p4dp, p4d_val(p4d));
	if (p4d_none(p4d) || !p4d_present(p4d) || p4d_leaf(p4d) || p4d_bad(p4d))
		return;
	pudp = pud_offset(p4dp, addr);
	pud = READ_ONCE(*pudp);
	record(w, MMCONFORM_PUD, pudp, pud_val(pud));
	if (pud_none(pud) || !pud_present(pud) || pud_leaf(pud) || pud_bad(pud))
		return;
	walk_pmd(mm, pmd_offset(pudp, addr), addr, w);
}

static struct mm_struct *pid_mm(pid_t nr)
{
	struct pid *pid = find_get_pid(nr);
	struct task_struct *task = get_pid_task(pid, PIDTYPE_PID);
	struct mm_struct *mm;

	put_pid(pid);
	if (!task)
		return NULL;
	mm = get_task_mm(task);
	put_task_struct(task);
	return mm;
}

static long pgwalk_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct mmconform_pgwalk __user *uw = (void __user *)arg;
	struct mmconform_pgwalk w = {};
	struct vm_area_struct *vma;
	struct mm_struct *mm;
	long ret = 0;

	if (cmd != MMCONFORM_PGWALK)
		return -ENOTTY;
	/* physical addresses are for the administrator only, as pagemap's PFNs are */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (get_user(w.addr, &uw->addr) || get_user(w.pid, &uw->pid))
		return -EFAULT;
	mm = pid_mm(w.pid);
	if (!mm)
		return -ESRCH;
	if (w.addr >= mm->task_size) {
		ret = -EINVAL;
		goto out;
	}
	if (mmap_read_lock_killable(mm)) {
		ret = -EINTR;
		goto out;
	}
	w.folded = (mm_p4d_folded(mm) ? BIT(MMCONFORM_P4D) : 0) | (mm_pud_folded(mm) ? BIT(MMCONFORM_PUD) : 0) |
		   (mm_pmd_folded(mm) ? BIT(MMCONFORM_PMD) : 0);
	vma = vma_lookup(mm, w.addr);
	if (vma) {
		w.flags |= MMCONFORM_PGWALK_VMA;
		w.vm_flags = vma->vm_flags;
		w.page_prot = pgprot_val(vma->vm_page_prot);
	}
	walk(mm, w.addr, &w);
	mmap_read_unlock(mm);
	if (copy_to_user(uw, &w, sizeof(w)))
		ret = -EFAULT;
out:
	mmput(mm);
	return ret;
}

static const struct file_operations pgwalk_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = pgwalk_ioctl,
};

static struct miscdevice pgwalk_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mmconform_pgwalk",
	.fops = &pgwalk_fops,
	.mode = 0600,
};
module_misc_device(pgwalk_dev);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("mmconform: read the page-table entries that map a user address");
