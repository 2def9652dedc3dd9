/*
 * Growable buffers: every buffer the agent sizes by a request. Small ones
 * come from malloc (heap.c, itself in the agent's region); large ones get
 * mappings of their own in a region kept for the agent (agent_map()).
 */
#include "agent.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SMALL ((size_t)64 << 10)

/*
 * Where the agent's own mappings go: far from where a test's land (top-down
 * from mmap_base, or the fuzzer's arena at 0x500000000000), each fenced by a
 * PROT_NONE guard page on either side, so that a test's access past the end
 * of a mapping it asked for next to one faults. Next to a test's area, an agent mapping with the same
 * flags would merge with it as it is made: the test's area would then keep
 * what the merge gave it (a sticky VM_SOFTDIRTY, measured on 7.2 x86_64)
 * after the agent's part went, or start elsewhere in smaps. The region is
 * below 2^47, so it is user space on x86_64 and arm64 alike.
 */
#define AGENT_REGION ((uintptr_t)0x600000000000)
static uintptr_t agent_next = AGENT_REGION;

static size_t page_round(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (n + page - 1) / page * page;
}

/* A PROT_NONE page at p: an access through it faults, and no mapping can be made there. */
static int map_guard(void *p, size_t page)
{
	void *g = mmap(p, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (g == MAP_FAILED)
		return -1;
	if (g != p) {
		munmap(g, page);
		errno = EEXIST;
		return -1;
	}
	return 0;
}

/*
 * The next free place in the agent's region for len bytes, fenced by a
 * guard page on each side (a test may have mapped over some of the region:
 * that place is passed over).
 */
static void *agent_place(size_t len, int (*take)(void *, size_t, void *), void *arg)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), span = page_round(len);
	for (int tries = 0; tries < 64; tries++) {
		char *below = (char *)agent_next, *at = below + page, *above = at + span;
		agent_next += span + 2 * page;
		if (map_guard(below, page)) {
			if (errno != EEXIST)
				return NULL;
			continue;
		}
		if (!map_guard(above, page)) {
			if (!take(at, len, arg))
				return at;
			munmap(above, page);
		}
		int e = errno;
		munmap(below, page);
		if (e != EEXIST) {
			errno = e;
			return NULL;
		}
	}
	return NULL;
}

/* Unmaps what agent_place() gave, its guard pages with it. */
void agent_unmap(void *p, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	munmap((char *)p - page, page_round(len) + 2 * page);
}

static int map_at(void *at, size_t len, void *unused)
{
	(void)unused;
	void *p = mmap(at, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (p != at) { /* a kernel before 4.17 takes MAP_FIXED_NOREPLACE as a hint */
		munmap(p, len);
		errno = EEXIST;
		return -1;
	}
	return 0;
}

void *agent_map(size_t len)
{
	return agent_place(len, map_at, NULL);
}

struct move {
	void *from;
	size_t old_len;
};

/*
 * mremap() to a place of the agent's region, mapped first so that nothing of
 * a test's is there to be replaced: the kernel would otherwise pick a place
 * next to a test's areas.
 */
static int move_to(void *at, size_t len, void *arg)
{
	struct move *m = arg;
	if (map_at(at, len, NULL))
		return -1;
	if (mremap(m->from, m->old_len, len, MREMAP_MAYMOVE | MREMAP_FIXED, at) == MAP_FAILED) {
		munmap(at, len);
		return -1;
	}
	return 0;
}

static int grow(struct buf *b, size_t cap)
{
	char *p;
	if (b->borrowed) {
		struct buf heap = { 0 };
		if (grow(&heap, cap))
			return -1;
		memcpy(heap.p, b->p, b->len);
		b->p = heap.p;
		b->cap = heap.cap;
		b->borrowed = false;
		return 0;
	}
	if (cap <= SMALL) {
		p = realloc(b->p, cap);
	} else if (b->cap <= SMALL) {
		cap = page_round(cap);
		p = agent_map(cap);
		if (p && b->len)
			memcpy(p, b->p, b->len);
		if (p)
			free(b->p);
	} else {
		cap = page_round(cap);
		struct move m = { b->p, b->cap };
		p = agent_place(cap, move_to, &m);
		if (p) { /* the old place's guard pages stay behind */
			size_t page = (size_t)sysconf(_SC_PAGESIZE);
			munmap((char *)m.from - page, page);
			munmap((char *)m.from + m.old_len, page);
		}
	}
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

int buf_reserve(struct buf *b, size_t extra)
{
	if (b->oom)
		return -1;
	if (extra <= b->cap - b->len)
		return 0;
	if (extra > SIZE_MAX / 2 - b->len || grow(b, b->len + extra > 2 * b->cap ? b->len + extra : 2 * b->cap)) {
		b->oom = true;
		return -1;
	}
	return 0;
}

void buf_append_grow(struct buf *b, const void *data, size_t n)
{
	if (buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

void buf_hex(struct buf *b, uint64_t v)
{
	char t[18];
	size_t n = sizeof t;
	do {
		t[--n] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	t[--n] = 'x';
	t[--n] = '0';
	buf_append(b, t + n, sizeof t - n);
}

void buf_hex16(struct buf *b, uint64_t v)
{
	char t[16];
	for (int i = 15; i >= 0; i--, v >>= 4)
		t[i] = "0123456789abcdef"[v & 15];
	buf_append(b, t, sizeof t);
}

void buf_dec(struct buf *b, int64_t v)
{
	char t[20];
	size_t n = sizeof t;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	do {
		t[--n] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		t[--n] = '-';
	buf_append(b, t + n, sizeof t - n);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if ((size_t)n < sizeof small) {
		buf_append(b, small, (size_t)n);
		return;
	}
	if (buf_reserve(b, (size_t)n + 1))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_shrink(struct buf *b)
{
	if (!b->borrowed && b->cap > SMALL)
		buf_release(b);
	b->len = 0;
	b->oom = false;
}

void buf_release(struct buf *b)
{
	if (b->borrowed)
		;
	else if (b->cap > SMALL)
		agent_unmap(b->p, b->cap);
	else
		free(b->p);
	*b = (struct buf){ 0 };
}
