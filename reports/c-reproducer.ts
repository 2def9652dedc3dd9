// A fuzzer disagreement as a standalone C program: it makes the shrunk
// sequence's calls on the kernel it runs on and prints each call and its
// outcome in the call log's own text (harness/calls/format.ts), so its
// output can be set line for line beside the model's. Built with any C
// compiler and a C library that has strerrorname_np() (glibc 2.32+).

import type { Call } from '../suites/fuzz/calls.ts';
import { ARENA, MEMFD_PAGES, SLOT_PAGES, SLOTS } from '../suites/fuzz/calls.ts';
import { storeByte } from '../suites/fuzz/sequence.ts';
import { MADV_GUARD_INSTALL } from '../uapi/linux.ts';

export interface Reproducer {
  readonly calls: readonly Call[];
  readonly target: string;
  readonly against: string;
  readonly seed: number;
  /** the first line that differs, as each side wrote it */
  readonly difference: { readonly line: number; readonly target: string | null; readonly against: string | null };
}

// The runtime: the fuzzer's executor (suites/fuzz/sequence.ts) and call recorder in C.
const RUNTIME = String.raw`#define _GNU_SOURCE
#pragma GCC diagnostic ignored "-Wunused-function"
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096ULL
#define ARENA ${ARENA}ULL
#define SLOTS ${SLOTS}
#define SLOT_PAGES ${SLOT_PAGES}
#define MEMFD_PAGES ${MEMFD_PAGES}
#define CHOSEN_PAGES 1024

/* include/uapi/linux/fs.h (6.7+) and userfaultfd.h, for C libraries whose headers are older */
struct page_region_ { uint64_t start, end, categories; };
struct pm_scan_arg_ { uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted, category_mask, category_anyof_mask, return_mask; };
#define PAGEMAP_SCAN_ _IOWR('f', 16, struct pm_scan_arg_)
struct uffdio_api_ { uint64_t api, features, ioctls; };
struct uffdio_range_ { uint64_t start, len; };
struct uffdio_register_ { struct uffdio_range_ range; uint64_t mode, ioctls; };
struct uffdio_writeprotect_ { struct uffdio_range_ range; uint64_t mode; };
#define UFFDIO_API_ _IOWR(0xAA, 0x3F, struct uffdio_api_)
#define UFFDIO_REGISTER_ _IOWR(0xAA, 0x00, struct uffdio_register_)
#define UFFDIO_UNREGISTER_ _IOR(0xAA, 0x01, struct uffdio_range_)
#define UFFDIO_WAKE_ _IOR(0xAA, 0x02, struct uffdio_range_)
#define UFFDIO_WRITEPROTECT_ _IOWR(0xAA, 0x06, struct uffdio_writeprotect_)
/* uffdio_copy and uffdio_move; uffdio_zeropage, uffdio_continue and uffdio_poison: each ends in its progress field */
struct uffdio_pair_ { uint64_t dst, src, len, mode; int64_t progress; };
struct uffdio_rprog_ { struct uffdio_range_ range; uint64_t mode; int64_t progress; };
#define UFFDIO_COPY_ _IOWR(0xAA, 0x03, struct uffdio_pair_)
#define UFFDIO_ZEROPAGE_ _IOWR(0xAA, 0x04, struct uffdio_rprog_)
#define UFFDIO_MOVE_ _IOWR(0xAA, 0x05, struct uffdio_pair_)
#define UFFDIO_CONTINUE_ _IOWR(0xAA, 0x07, struct uffdio_rprog_)
#define UFFDIO_POISON_ _IOWR(0xAA, 0x08, struct uffdio_rprog_)
/* what a progress field holds until the kernel writes it */
#define UNWRITTEN INT64_MIN

struct flag { uint64_t bit; const char *name; };
static const struct flag PROTS[] = { { 1, "PROT_READ" }, { 2, "PROT_WRITE" }, { 4, "PROT_EXEC" }, { 0, 0 } };
static const struct flag MAPS[] = { { 0x01, "MAP_SHARED" }, { 0x02, "MAP_PRIVATE" }, { 0x10, "MAP_FIXED" }, { 0x20, "MAP_ANONYMOUS" },
	{ 0x4000, "MAP_NORESERVE" }, { 0x8000, "MAP_POPULATE" }, { 0x40000, "MAP_HUGETLB" }, { 0x100000, "MAP_FIXED_NOREPLACE" }, { 0, 0 } };
static const struct flag MREMAPS[] = { { 1, "MREMAP_MAYMOVE" }, { 2, "MREMAP_FIXED" }, { 4, "MREMAP_DONTUNMAP" }, { 0, 0 } };
static const struct flag CATEGORIES[] = { { 1, "WPALLOWED" }, { 2, "WRITTEN" }, { 4, "FILE" }, { 8, "PRESENT" }, { 16, "SWAPPED" },
	{ 32, "PFNZERO" }, { 64, "HUGE" }, { 128, "SOFT_DIRTY" }, { 256, "GUARD" }, { 0, 0 } };
static const struct flag MPOLS[] = { { 2, "MPOL_MF_MOVE" }, { 4, "MPOL_MF_MOVE_ALL" }, { 0, 0 } };
static const struct flag SCAN_FLAGS[] = { { 1, "WP_MATCHING" }, { 2, "CHECK_WPASYNC" }, { 0, 0 } };
static const struct flag FEATURES[] = { { 1ULL << 0, "PAGEFAULT_FLAG_WP" }, { 1ULL << 1, "EVENT_REMAP" }, { 1ULL << 7, "SIGBUS" }, { 1ULL << 13, "WP_UNPOPULATED" }, { 1ULL << 15, "WP_ASYNC" }, { 0, 0 } };
static const struct flag ADVICE[] = { { 0, "MADV_NORMAL" }, { 4, "MADV_DONTNEED" }, { 8, "MADV_FREE" }, { 9, "MADV_REMOVE" }, { 14, "MADV_HUGEPAGE" },
	{ 15, "MADV_NOHUGEPAGE" }, { 20, "MADV_COLD" }, { 21, "MADV_PAGEOUT" }, { 22, "MADV_POPULATE_READ" }, { 23, "MADV_POPULATE_WRITE" },
	{ 102, "MADV_GUARD_INSTALL" }, { 103, "MADV_GUARD_REMOVE" }, { 0, 0 } };

static char bufs[16][256];
static int nbuf;
static char *sbuf(void) { return bufs[nbuf++ % 16]; }

static const char *flags(uint64_t v, const struct flag *f, const char *none)
{
	char *s = sbuf();
	s[0] = 0;
	for (; f->name; f++)
		if (f->bit && (v & f->bit) == f->bit) {
			sprintf(s + strlen(s), "%s%s", s[0] ? "|" : "", f->name);
			v &= ~f->bit;
		}
	if (v) sprintf(s + strlen(s), "%s0x%llx", s[0] ? "|" : "", (unsigned long long)v);
	return s[0] ? s : none;
}

static const char *advice(int a)
{
	for (const struct flag *f = ADVICE; f->name; f++)
		if (f->bit == (uint64_t)a) return f->name;
	char *s = sbuf();
	sprintf(s, "%d", a);
	return s;
}

/* harness/calls/names.ts: slots S0.., areas the kernel chose M0.., descriptors fd0.. */
struct base { uint64_t start, end; };
static struct base named[256];
static int nnamed;

static int slot_of(uint64_t a) { return a >= ARENA && a < ARENA + SLOTS * SLOT_PAGES * PAGE ? (int)((a - ARENA) / (SLOT_PAGES * PAGE)) : -1; }

static const char *name_in(uint64_t a, uint64_t probe)
{
	char *s = sbuf();
	int sl = slot_of(probe);
	if (a == 0) return "0";
	if (sl >= 0) {
		sprintf(s, "S%d+0x%llx", sl, (unsigned long long)(a - (ARENA + sl * SLOT_PAGES * PAGE)));
		return s;
	}
	for (int i = nnamed - 1; i >= 0; i--)
		if (probe >= named[i].start && probe < named[i].end) {
			sprintf(s, "M%d+0x%llx", i, (unsigned long long)(a - named[i].start));
			return s;
		}
	sprintf(s, "?+0x%llx", (unsigned long long)(a & (PAGE - 1)));
	return s;
}
static const char *A(uint64_t a) { return name_in(a, a); }
static const char *E(uint64_t a)
{
	const char *s = a ? name_in(a, a - 1) : "0";
	return s[0] == '?' ? A(a) : s;
}
static int known(uint64_t a) { return strncmp(A(a), "?", 1) != 0; }
static const char *chose(uint64_t a, uint64_t len, int fresh)
{
	if (slot_of(a) < 0 && (fresh || !known(a)) && nnamed < 256)
		named[nnamed++] = (struct base){ a, a + (len ? len : PAGE) };
	return A(a);
}

static int fdname[4096];
static int nfds;
static const char *F(int fd)
{
	char *s = sbuf();
	if (fd >= 0 && fd < 4096 && fdname[fd]) sprintf(s, "fd%d", fdname[fd] - 1);
	else if (fd < 0) sprintf(s, "%d", fd);
	else strcpy(s, "fd?");
	return s;
}
static const char *opened(int fd)
{
	if (fd >= 0 && fd < 4096) fdname[fd] = ++nfds;
	return F(fd);
}

static const char *err(void)
{
	char *s = sbuf();
	sprintf(s, "-1 %s", strerrorname_np(errno));
	return s;
}
static const char *ret0(long r) { return r < 0 ? err() : "0"; }

/* Equal neighbours run-length coded: "P x3, - x509" */
static void runs(const char *(*item)(size_t, void *), void *ctx, size_t n)
{
	for (size_t i = 0; i < n;) {
		const char *it = item(i, ctx);
		char cur[64];
		size_t j = i + 1;
		snprintf(cur, sizeof cur, "%s", it);
		while (j < n && strcmp(item(j, ctx), cur) == 0) j++;
		printf("%s%s", i ? ", " : "", cur);
		if (j - i > 1) printf(" x%zu", j - i);
		i = j;
	}
}

static const char *entry(size_t i, void *ctx)
{
	uint64_t e = ((uint64_t *)ctx)[i];
	static const struct { int bit; char c; } L[] = { { 63, 'P' }, { 62, 'S' }, { 61, 'F' }, { 56, 'X' }, { 57, 'W' }, { 55, 'D' }, { 58, 'G' } };
	char *s = sbuf();
	int k = 0;
	uint64_t rest = e & ~((1ULL << 55) - 1);
	for (unsigned l = 0; l < sizeof L / sizeof L[0]; l++)
		if (e >> L[l].bit & 1) {
			s[k++] = L[l].c;
			rest &= ~(1ULL << L[l].bit);
		}
	if (!k) s[k++] = '-';
	s[k] = 0;
	if (rest) sprintf(s + k, "+0x%llx", (unsigned long long)rest);
	return s;
}
static const char *byte(size_t i, void *ctx)
{
	char *s = sbuf();
	sprintf(s, "0x%x", ((unsigned char *)ctx)[i]);
	return s;
}

static int pagemap_fd;
static void pagemap(uint64_t a, size_t n)
{
	uint64_t *v = calloc(n ? n : 1, 8);
	printf("pagemap(%s, %zu) = ", A(a), n);
	if (pread(pagemap_fd, v, n * 8, (off_t)(a / PAGE * 8)) != (ssize_t)(n * 8)) printf("%s", err());
	else runs(entry, v, n);
	printf("\n");
	free(v);
}

struct entry { char kind; long idx; unsigned long long off; char *text; size_t len; };
static int entry_cmp(const void *x, const void *y)
{
	const struct entry *a = x, *b = y;
	if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
	if (a->idx != b->idx) return a->idx < b->idx ? -1 : 1;
	return a->off < b->off ? -1 : a->off > b->off;
}
static void entry_add(struct entry *e, const char *line)
{
	size_t l = strlen(line);
	e->text = realloc(e->text, e->len + l + 2);
	if (e->len) e->text[e->len++] = '\n';
	memcpy(e->text + e->len, line, l + 1);
	e->len += l;
}

/* The entries of the areas the log knows, in the order of their names (where the kernel puts them is its choice) */
static void smaps(void)
{
	static struct entry entries[512];
	int n = 0, keep = 0;
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[4096], out[4096];
	printf("read(\"/proc/self/smaps\") = ");
	while (f && fgets(line, sizeof line, f)) {
		unsigned long long s, e;
		char perms[8], off[32];
		int pos = 0;
		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "%llx-%llx %7s %31s %*s %*d %n", &s, &e, perms, off, &pos) == 4 && pos) {
			keep = known(s) && n < 512;
			if (!keep) continue;
			char *path = line + pos;
			size_t l = strlen(path);
			while (l && path[l - 1] == ' ') path[--l] = 0;
			const char *name = A(s);
			struct entry *en = &entries[n++];
			*en = (struct entry){ 0 };
			if (sscanf(name, "%c%ld+0x%llx", &en->kind, &en->idx, &en->off) != 3) en->kind = '?';
			snprintf(out, sizeof out, "%s-%s %s %s%s%s", name, E(e), perms, off, *path ? " " : "", path);
			entry_add(en, out);
		} else if (keep && *line) {
			/* white space folded to one blank */
			int k = 0, sp = 0;
			for (char *p = line; *p; p++) {
				if (*p == ' ' || *p == '\t') sp = 1;
				else {
					if (sp) out[k++] = ' ';
					sp = 0;
					out[k++] = *p;
				}
			}
			if (sp) out[k++] = ' ';
			out[k] = 0;
			entry_add(&entries[n - 1], out);
		}
	}
	if (f) fclose(f);
	qsort(entries, n, sizeof entries[0], entry_cmp);
	for (int i = 0; i < n; i++) {
		printf("%s%s", i ? "\n" : "", entries[i].text);
		free(entries[i].text);
	}
	printf("\n");
}

/* The executor: slots, the areas the kernel chose (the calls address pages of them) */
static struct { uint64_t start; long pages; } chosen[256];
static int nchosen;
static int memfd = -1, uffd = -1;
/* the userfaultfd was given UFFD_FEATURE_SIGBUS; a range was registered for uffd-wp (MADV_GUARD_INSTALL is not made then) */
static int uffd_sigbus, uffd_wp_registered;
/* the area the last uffd_setup mapped (base REGISTERED, -1), once there is one */
static struct { uint64_t start; long pages; int set; } registered;
static void setup_area(uint64_t start, long pages) { registered.start = start, registered.pages = pages, registered.set = 1; }
/* the area a ref names a page of, where it is not a slot (NULL: a slot, or slot 0 while there is none) */
static void *area(int base)
{
	if (base == -1) return registered.set ? (void *)&registered : NULL;
	return base >= SLOTS && base - SLOTS < nchosen ? (void *)&chosen[base - SLOTS] : NULL;
}
static uint64_t ref(int base, long page)
{
	struct { uint64_t start; long pages; } *a = area(base);
	if (a) return a->start + page % (a->pages > 0 ? a->pages : 1) * PAGE;
	return ARENA + (((base < 0 ? 0 : base) % SLOTS) * SLOT_PAGES + page) * PAGE;
}
/* n units of unit bytes from ref(base, page), fewer where they would run past the end of a chosen or registered area */
static long fit(int base, long page, long n, long unit, long offset)
{
	struct { uint64_t start; long pages; } *a = area(base);
	if (!a) return n;
	long pages = a->pages > 0 ? a->pages : 1;
	long room = (pages - page % pages) * (long)PAGE - offset;
	return n < room / unit ? n : room / unit;
}
static void choose(uint64_t r, long pages)
{
	if (r != (uint64_t)-1 && slot_of(r) < 0 && nchosen < 256) chosen[nchosen++].start = r, chosen[nchosen - 1].pages = pages;
}

static void do_mmap(uint64_t addr, long pages, int prot, int fl, int use_memfd, long off_pages)
{
	int fd = use_memfd ? memfd : -1;
	uint64_t off = use_memfd ? off_pages * PAGE : 0;
	printf("mmap(%s, 0x%llx, %s, %s, %s, 0x%llx) = ", A(addr), (unsigned long long)(pages * PAGE), flags(prot, PROTS, "PROT_NONE"), flags(fl, MAPS, "0"),
	       use_memfd ? F(fd) : "-1", (unsigned long long)off);
	void *r = mmap((void *)addr, pages * PAGE, prot, fl, fd, off);
	/* a hugetlb mapping's length rounds up to the huge page size */
	uint64_t len = fl & MAP_HUGETLB ? (pages * PAGE + (2ULL << 20) - 1) & ~((2ULL << 20) - 1) : pages * PAGE;
	printf("%s\n", r == MAP_FAILED ? err() : chose((uint64_t)r, len, 1));
	choose(r == MAP_FAILED ? (uint64_t)-1 : (uint64_t)r, pages);
}

static void do_mremap(uint64_t old, long old_pages, long new_pages, int fl, uint64_t to)
{
	printf("mremap(%s, 0x%llx, 0x%llx, %s", A(old), (unsigned long long)(old_pages * PAGE), (unsigned long long)(new_pages * PAGE), flags(fl, MREMAPS, "0"));
	if (fl & 2) printf(", %s", A(to));
	void *r = mremap((void *)old, old_pages * PAGE, new_pages * PAGE, fl, (void *)to);
	printf(") = %s\n", r == MAP_FAILED ? err() : chose((uint64_t)r, new_pages * PAGE, (uint64_t)r != old));
	choose(r == MAP_FAILED ? (uint64_t)-1 : (uint64_t)r, new_pages);
}

static void do_range(const char *call, long (*fn)(void *, size_t, int), uint64_t a, long pages, int arg, const char *argname)
{
	printf("%s(%s, 0x%llx, %s) = ", call, A(a), (unsigned long long)(pages * PAGE), argname);
	printf("%s\n", ret0(fn((void *)a, pages * PAGE, arg)));
}
static long mprotect_(void *a, size_t l, int p) { return mprotect(a, l, p); }
static long madvise_(void *a, size_t l, int v) { return madvise(a, l, v); }

static sigjmp_buf fault_env;
static volatile int fault_sig;
static void *volatile fault_addr;
static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	fault_sig = sig;
	fault_addr = si->si_addr;
	siglongjmp(fault_env, 1);
}
/* Byte by byte in address order, as the agent copies */
static void access_(uint64_t a, size_t len, int store, unsigned char value)
{
	static unsigned char data[1 << 16];
	volatile unsigned char *p = (volatile unsigned char *)a;
	if (store) {
		printf("store(%s, [0x%x", A(a), value);
		if (len > 1) printf(" x%zu", len);
		printf("]) = ");
	} else {
		printf("load(%s, %zu) = ", A(a), len);
	}
	fflush(stdout);
	if (sigsetjmp(fault_env, 1)) {
		printf("%s at %s\n", fault_sig == SIGBUS ? "SIGBUS" : "SIGSEGV", A((uint64_t)fault_addr));
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (store) p[i] = value;
		else data[i] = p[i];
	}
	if (store) {
		printf("ok\n");
		return;
	}
	printf("ok [");
	runs(byte, data, len);
	printf("]\n");
}

/* memset() a page at a time; a fault is reported at the first byte of the page it came in, as the agent does */
static void fill(uint64_t a, uint64_t len, unsigned char value)
{
	static volatile uint64_t cur;
	printf("memset(%s, 0x%x, 0x%llx) = ", A(a), value, (unsigned long long)len);
	fflush(stdout);
	if (sigsetjmp(fault_env, 1)) {
		printf("%s at %s\n", fault_sig == SIGBUS ? "SIGBUS" : "SIGSEGV", A(cur));
		return;
	}
	for (cur = a; cur < a + len; cur = (cur | (PAGE - 1)) + 1) {
		uint64_t end = (cur | (PAGE - 1)) + 1;
		memset((void *)cur, value, (end < a + len ? end : a + len) - cur);
	}
	printf("ok\n");
}

/* The call log's list of addresses: whole up to 4, else the first two, how many more, and the last */
static void address_list(const uint64_t *v, size_t n)
{
	if (n <= 4) {
		for (size_t i = 0; i < n; i++) printf("%s%s", i ? ", " : "", A(v[i]));
		return;
	}
	printf("%s, %s, ... %zu more, %s", A(v[0]), A(v[1]), n - 3, A(v[n - 1]));
}

/* (volatile char *)a[0]++ at each address in turn */
static void increment(const uint64_t *v, size_t n)
{
	static volatile size_t i;
	printf("increment([");
	address_list(v, n);
	printf("]) = ");
	fflush(stdout);
	if (sigsetjmp(fault_env, 1)) {
		printf("%s at %s\n", fault_sig == SIGBUS ? "SIGBUS" : "SIGSEGV", A(v[i]));
		return;
	}
	for (i = 0; i < n; i++) (*(volatile unsigned char *)v[i])++;
	printf("ok\n");
}
static void increment_pages(uint64_t a, long n, int step)
{
	size_t k = (size_t)((n + step - 1) / step);
	uint64_t *v = calloc(k ? k : 1, 8);
	for (size_t i = 0; i < k; i++) v[i] = a + i * step * PAGE + i % 8;
	increment(v, k);
	free(v);
}

/* A thread's __atomic_add_fetch: made here, on the main thread (where it runs changes nothing of what memory does) */
static int nthreads;
static void atomic_add(int thread, uint64_t a)
{
	while (nthreads <= thread) printf("pthread_create() = ok\n"), nthreads++;
	printf("th%d: atomic_add([%s], 1) = ", thread, A(a));
	fflush(stdout);
	if (sigsetjmp(fault_env, 1)) {
		printf("%s at %s\n", fault_sig == SIGBUS ? "SIGBUS" : "SIGSEGV", A(a));
		return;
	}
	__atomic_add_fetch((int *)a, 1, __ATOMIC_SEQ_CST);
	printf("ok\n");
}

/* A System V segment attached where the kernel chooses, and removed at once */
static int nshm;
static void shm(long pages, int hugetlb)
{
	uint64_t len = pages * PAGE;
	printf("shmget(0x0, 0x%llx, IPC_CREAT%s|SHM_R|SHM_W) = ", (unsigned long long)len, hugetlb ? "|SHM_HUGETLB" : "");
	int id = shmget(IPC_PRIVATE, len, IPC_CREAT | 0600 | (hugetlb ? SHM_HUGETLB : 0));
	if (id < 0) {
		printf("%s\n", err());
		return;
	}
	int name = nshm++;
	printf("shm%d\n", name);
	void *r = shmat(id, NULL, 0);
	uint64_t size = hugetlb ? (len + (2ULL << 20) - 1) & ~((2ULL << 20) - 1) : len;
	printf("shmat(shm%d, 0, 0x0) = %s\n", name, r == (void *)-1 ? err() : chose((uint64_t)r, size, 1));
	printf("shmctl(shm%d, IPC_RMID) = %s\n", name, ret0(shmctl(id, IPC_RMID, NULL)));
	choose(r == (void *)-1 ? (uint64_t)-1 : (uint64_t)r, (long)(size / PAGE));
}

static void write_fd(size_t len, unsigned char value)
{
	unsigned char *b = malloc(len);
	memset(b, value, len);
	printf("write(%s, [0x%x", F(memfd), value);
	if (len > 1) printf(" x%zu", len);
	ssize_t r = write(memfd, b, len);
	if (r < 0) printf("]) = %s\n", err());
	else printf("]) = %zd\n", r);
	free(b);
}

static void scan(uint64_t start, long pages, uint64_t fl, uint64_t inv, uint64_t mask, uint64_t anyof, uint64_t retm, uint64_t max_pages, uint64_t vec_len, int null_vec)
{
	static struct page_region_ vec[4096];
	struct pm_scan_arg_ arg = { sizeof arg, fl, start, start + pages * PAGE, 0, null_vec ? 0 : (uint64_t)vec, vec_len, max_pages, inv, mask, anyof, retm };
	printf("PAGEMAP_SCAN(%s..%s, flags %s, inverted %s, mask %s, anyof %s, return %s, max_pages %llu, vec_len %llu%s) = ", A(start), E(start + pages * PAGE),
	       flags(fl, SCAN_FLAGS, "0"), flags(inv, CATEGORIES, "0"), flags(mask, CATEGORIES, "0"), flags(anyof, CATEGORIES, "0"), flags(retm, CATEGORIES, "0"),
	       (unsigned long long)max_pages, (unsigned long long)vec_len, null_vec ? ", NULL vec" : "");
	long r = ioctl(pagemap_fd, PAGEMAP_SCAN_, &arg);
	if (r < 0) {
		printf("%s\n", err());
		return;
	}
	printf("%ld [", r);
	for (long i = 0; i < r; i++) printf("%s%s..%s %s", i ? ", " : "", A(vec[i].start), E(vec[i].end), flags(vec[i].categories, CATEGORIES, "0"));
	printf("] walk_end %s\n", E(arg.walk_end));
}

static void clear_refs(const char *data, size_t len, const char *shown)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);
	long r = write(fd, data, len);
	printf("write(\"/proc/self/clear_refs\", %s) = ", shown);
	if (r < 0) printf("%s\n", err());
	else printf("%ld\n", r);
	close(fd);
}

static void uffd_open(int fl)
{
	printf("userfaultfd(0x%x) = ", fl);
	int fd = (int)syscall(__NR_userfaultfd, fl);
	if (fd < 0) {
		printf("%s\n", err());
		return;
	}
	uffd = fd;
	uffd_sigbus = 0;
	printf("%s\n", opened(fd));
}
static void uffd_api(uint64_t features)
{
	struct uffdio_api_ api = { 0xaa, features, 0 };
	printf("UFFDIO_API(%s, 0xaa, %s) = ", F(uffd), flags(features, FEATURES, "0"));
	if (ioctl(uffd, UFFDIO_API_, &api) < 0) {
		printf("%s\n", err());
		return;
	}
	uffd_sigbus = (features & (1ULL << 7)) != 0;
	printf("features %s, ioctls 0x%llx\n", flags(api.features & features, FEATURES, "0"), (unsigned long long)api.ioctls);
}
/* MISSING and MINOR modes only where a fault raises SIGBUS, as the fuzzer registers */
static void uffd_register(uint64_t a, long pages, uint64_t mode)
{
	if (!uffd_sigbus) mode = 2;
	struct uffdio_register_ r = { { a, pages * PAGE }, mode, 0 };
	printf("UFFDIO_REGISTER(%s, %s, 0x%llx, 0x%llx) = ", F(uffd), A(a), (unsigned long long)(pages * PAGE), (unsigned long long)mode);
	if (ioctl(uffd, UFFDIO_REGISTER_, &r) < 0) {
		printf("%s\n", err());
		return;
	}
	uffd_wp_registered |= (mode & 2) != 0;
	printf("ioctls 0x%llx\n", (unsigned long long)r.ioctls);
}
static void uffd_wp(uint64_t a, long pages, int wp)
{
	struct uffdio_writeprotect_ w = { { a, pages * PAGE }, wp ? 1 : 0 };
	printf("UFFDIO_WRITEPROTECT(%s, %s, 0x%llx, 0x%x) = ", F(uffd), A(a), (unsigned long long)(pages * PAGE), wp ? 1 : 0);
	printf("%s\n", ret0(ioctl(uffd, UFFDIO_WRITEPROTECT_, &w)));
}
/* The outcome of an ioctl that reports its progress in its argument */
static void progress(long rc, const char *field, int64_t p)
{
	if (rc < 0) printf("%s, ", err());
	if (p == UNWRITTEN) printf("%s unwritten\n", field);
	else printf("%s %lld\n", field, (long long)p);
}
/* UFFDIO_COPY or UFFDIO_MOVE */
static void uffd_pair(const char *name, unsigned long cmd, const char *field, uint64_t dst, uint64_t src, uint64_t len, uint64_t mode)
{
	struct uffdio_pair_ x = { dst, src, len, mode, UNWRITTEN };
	printf("%s(%s, %s, ", name, F(uffd), A(dst));
	printf("%s, 0x%llx, 0x%llx) = ", A(src), (unsigned long long)len, (unsigned long long)mode);
	long rc = ioctl(uffd, cmd, &x);
	progress(rc, field, x.progress);
}
/* UFFDIO_ZEROPAGE, UFFDIO_CONTINUE or UFFDIO_POISON */
static void uffd_rprog(const char *name, unsigned long cmd, const char *field, uint64_t a, long pages, uint64_t mode)
{
	struct uffdio_rprog_ x = { { a, pages * PAGE }, mode, UNWRITTEN };
	printf("%s(%s, %s, 0x%llx, 0x%llx) = ", name, F(uffd), A(a), (unsigned long long)(pages * PAGE), (unsigned long long)mode);
	long rc = ioctl(uffd, cmd, &x);
	progress(rc, field, x.progress);
}
/* UFFDIO_UNREGISTER or UFFDIO_WAKE: a range alone */
static void uffd_range(const char *name, unsigned long cmd, uint64_t a, long pages)
{
	struct uffdio_range_ r = { a, pages * PAGE };
	printf("%s(%s, %s, 0x%llx) = ", name, F(uffd), A(a), (unsigned long long)(pages * PAGE));
	printf("%s\n", ret0(ioctl(uffd, cmd, &r)));
}
static void uffd_read(void)
{
	char msg[32]; /* struct uffd_msg */
	printf("read(%s, struct uffd_msg) = ", F(uffd));
	if (read(uffd, msg, sizeof msg) < 0) printf("%s\n", err());
	else printf("a message (asynchronous faults queue none)\n");
}
static void uffd_close(void)
{
	if (uffd < 0) return;
	printf("close(%s) = %s\n", F(uffd), ret0(close(uffd)));
	if (uffd < 4096) fdname[uffd] = 0;
	uffd = -1;
}
/* move_pages(2) of n pages from a: each to node, or (stat) where each is */
static void move_pages_(uint64_t a, int n, int node, int fl, int stat)
{
	void *pages[4];
	int nodes[4], status[4];
	printf("move_pages(0, %d, [", n);
	for (int i = 0; i < n; i++) {
		pages[i] = (void *)(a + i * PAGE);
		nodes[i] = node;
		status[i] = INT32_MIN;
		printf("%s%s", i ? ", " : "", A(a + i * PAGE));
	}
	printf("], ");
	if (stat) printf("NULL");
	else
		for (int i = 0; i < n; i++) printf("%s%d%s", i ? ", " : "[", node, i == n - 1 ? "]" : "");
	long r = syscall(SYS_move_pages, 0, (unsigned long)n, pages, stat ? NULL : nodes, status, fl);
	int e = errno;
	printf(", %s) = ", flags(fl, MPOLS, "0"));
	errno = e;
	if (r < 0) printf("%s\n", err());
	else {
		printf("%ld, status [", r);
		for (int i = 0; i < n; i++) printf("%s%d", i ? ", " : "", status[i]);
		printf("]\n");
	}
}
static void truncate_(long pages)
{
	printf("ftruncate(%s, 0x%llx) = %s\n", F(memfd), (unsigned long long)(pages * PAGE), ret0(ftruncate(memfd, pages * PAGE)));
}

static void setup(void)
{
	struct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_NODEFER };
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	printf("memfd_create(\"fuzz\", 0x0) = ");
	memfd = (int)syscall(__NR_memfd_create, "fuzz", 0);
	printf("%s\n", memfd < 0 ? err() : opened(memfd));
	truncate_(MEMFD_PAGES);
}

/* fork(2): the child reads its smaps and every slot's pagemap, then exits */
static void fork_(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		printf("fork() = %s\n", err());
		return;
	}
	if (pid == 0) {
		/* the log names a child's areas and descriptors afresh */
		nnamed = 0;
		nfds = 0;
		memset(fdname, 0, sizeof fdname);
		printf("fork() = child\n");
		close(pagemap_fd);
		pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
		smaps();
		for (int i = 0; i < SLOTS; i++) pagemap(ARENA + (uint64_t)i * SLOT_PAGES * PAGE, SLOT_PAGES);
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
}

/* What every area ends up as */
static void dump(void)
{
	smaps();
	for (int i = 0; i < SLOTS; i++) pagemap(ARENA + (uint64_t)i * SLOT_PAGES * PAGE, SLOT_PAGES);
	for (int i = 0; i < nchosen; i++) pagemap(chosen[i].start, chosen[i].pages < CHOSEN_PAGES ? chosen[i].pages : CHOSEN_PAGES);
}
`;

const cString = (s: string) => `"${[...s].map((ch) => (ch === '"' || ch === '\\' ? `\\${ch}` : ch >= ' ' && ch <= '~' ? ch : `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}""`)).join('')}"`;
const ref = (r: { base: number; page: number }) => `ref(${r.base}, ${r.page})`;
const fit = (r: { base: number; page: number }, n: number, unit: number | 'PAGE', offset = 0) => `fit(${r.base}, ${r.page}, ${n}, ${unit}, ${offset})`;

/** The C statement that makes one call, as suites/fuzz/sequence.ts makes it. */
function statement(c: Call, index: number): string {
  switch (c.op) {
    case 'mmap': {
      const flags =
        `${c.shared ? 'MAP_SHARED' : 'MAP_PRIVATE'}` +
        { fixed: ' | MAP_FIXED', noreplace: ' | MAP_FIXED_NOREPLACE', hint: '', any: '' }[c.place] +
        (c.backing === 'memfd' ? '' : ' | MAP_ANONYMOUS') +
        (c.backing === 'hugetlb' ? ' | MAP_HUGETLB' : '') +
        (c.populate ? ' | MAP_POPULATE' : '') +
        (c.noreserve ? ' | MAP_NORESERVE' : '');
      return `do_mmap(${c.place === 'any' ? '0' : ref(c.at)}, ${c.pages}, ${c.prot}, ${flags}, ${c.backing === 'memfd' ? 1 : 0}, ${c.offPages});`;
    }
    case 'munmap':
      return `printf("munmap(%s, 0x%llx) = %s\\n", A(${ref(c.at)}), ${c.pages}ULL * PAGE, ret0(munmap((void *)${ref(c.at)}, ${c.pages}ULL * PAGE)));`;
    case 'mprotect':
      return `do_range("mprotect", mprotect_, ${ref(c.at)}, ${c.pages}, ${c.prot}, flags(${c.prot}, PROTS, "PROT_NONE"));`;
    case 'mremap':
      return `do_mremap(${ref(c.at)}, ${c.oldPages}, ${c.newPages}, ${c.flags}, ${c.flags & 2 ? ref(c.to) : '0'});`;
    case 'madvise':
      return `${c.advice === MADV_GUARD_INSTALL ? 'if (!uffd_wp_registered) ' : ''}do_range("madvise", madvise_, ${ref(c.at)}, ${c.pages}, ${c.advice}, advice(${c.advice}));`;
    case 'load':
      return `access_(${ref(c.at)} + ${c.offset}, ${fit(c.at, c.len, 1, c.offset)}, 0, 0);`;
    case 'store':
      return `access_(${ref(c.at)} + ${c.offset}, ${fit(c.at, c.len, 1, c.offset)}, 1, ${storeByte(index)});`;
    case 'fill':
      return `fill(${ref(c.at)}, ${fit(c.at, c.pages, 'PAGE')} * PAGE, ${storeByte(index)});`;
    case 'increment':
      return `increment_pages(${ref(c.at)}, ${fit(c.at, c.pages, 'PAGE')}, ${c.step});`;
    case 'atomic_add':
      return `atomic_add(${c.thread}, ${ref(c.at)} + ${4 * (index % 1024)});`;
    case 'shm':
      return `shm(${c.pages}, ${c.hugetlb ? 1 : 0});`;
    case 'write_fd':
      return `write_fd(${c.len}, ${storeByte(index)});`;
    case 'pagemap':
      return `pagemap(${ref(c.at)}, ${fit(c.at, c.pages, 'PAGE')});`;
    case 'move_pages':
      return `move_pages_(${ref(c.at)}, ${c.pages}, ${c.node}, ${c.flags}, ${c.stat ? 1 : 0});`;
    case 'scan':
      return `scan(${ref(c.at)}, ${fit(c.at, c.pages, 'PAGE')}, ${c.flags}, ${c.inverted}, ${c.mask}, ${c.anyof}, ${c.ret}, ${c.maxPages}, ${c.vecLen}, ${c.nullVec ? 1 : 0});`;
    case 'smaps':
      return 'smaps();';
    case 'clear_refs':
      return `clear_refs(${cString(c.data)}, ${new TextEncoder().encode(c.data).length}, ${cString(JSON.stringify(c.data))});`;
    case 'ftruncate':
      return `truncate_(${c.pages});`;
    case 'userfaultfd':
      return `uffd_open(${c.flags});`;
    case 'uffdio_api':
      return `uffd_api(0x${c.features.toString(16)}ULL);`;
    case 'uffdio_register':
      return `uffd_register(${ref(c.at)}, ${c.pages}, ${c.mode ?? 2});`;
    case 'uffdio_writeprotect':
      return `uffd_wp(${ref(c.at)}, ${c.pages}, ${c.wp ? 1 : 0});`;
    case 'uffdio_unregister':
      return `uffd_range("UFFDIO_UNREGISTER", UFFDIO_UNREGISTER_, ${ref(c.at)}, ${c.pages});`;
    case 'uffdio_wake':
      return `uffd_range("UFFDIO_WAKE", UFFDIO_WAKE_, ${ref(c.at)}, ${c.pages});`;
    case 'uffd_read':
      return 'uffd_read();';
    case 'close_uffd':
      return 'uffd_close();';
    case 'uffd_setup':
      return [
        `setup_area(${ref(c.at)}, ${c.pages});`,
        statement({ op: 'mmap', at: c.at, place: 'fixed', pages: c.pages, prot: 3, shared: c.shared, backing: c.backing, populate: false, noreserve: false, offPages: 0 }, index),
        statement({ op: 'userfaultfd', flags: c.flags }, index),
        statement({ op: 'uffdio_api', features: c.features }, index),
        statement({ op: 'uffdio_register', at: c.at, pages: c.pages, mode: c.mode }, index),
      ].join(' ');
    case 'uffdio_copy':
      return `uffd_pair("UFFDIO_COPY", UFFDIO_COPY_, "copy", ${ref(c.at)}, ${ref(c.from)}, ${fit(c.from, c.pages, 'PAGE')} * PAGE, ${c.mode});`;
    case 'uffdio_zeropage':
      return `uffd_rprog("UFFDIO_ZEROPAGE", UFFDIO_ZEROPAGE_, "zeropage", ${ref(c.at)}, ${c.pages}, ${c.mode});`;
    case 'uffdio_continue':
      return `uffd_rprog("UFFDIO_CONTINUE", UFFDIO_CONTINUE_, "mapped", ${ref(c.at)}, ${c.pages}, ${c.mode});`;
    case 'uffdio_poison':
      return `uffd_rprog("UFFDIO_POISON", UFFDIO_POISON_, "updated", ${ref(c.at)}, ${c.pages}, 0);`;
    case 'uffdio_move':
      return `uffd_pair("UFFDIO_MOVE", UFFDIO_MOVE_, "move", ${ref(c.at)}, ${ref(c.from)}, ${c.pages}ULL * PAGE, ${c.mode});`;
    case 'fork':
      return 'fork_();';
  }
}

export function cReproducer(r: Reproducer): string {
  const comment = (s: string | null) => (s ?? '(no line)').split('\n').map((l) => ` *   ${l.replace(/\*\//g, '* /')}`).join('\n');
  return (
    `/*\n * mmconform fuzz: ${r.target} against ${r.against}, seed ${r.seed}.\n` +
    ` * Run on a kernel, it prints each call and its outcome as mmconform's call log does;\n` +
    ` * line ${r.difference.line} of the log is where the two targets differ:\n * ${r.target}:\n${comment(r.difference.target)}\n * ${r.against}:\n${comment(r.difference.against)}\n` +
    ` * Build and run: cc -o repro repro.c && ./repro\n */\n` +
    `${RUNTIME}\nint main(void)\n{\n\tsetup();\n${r.calls.map((c, i) => `\t${statement(c, i)}\n`).join('')}\tdump();\n\treturn 0;\n}\n`
  );
}
