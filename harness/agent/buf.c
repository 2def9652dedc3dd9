/*
 * Growable buffers: every buffer the agent sizes by a request. Small ones
 * come from malloc (the brk heap, below its mmap threshold); large ones get
 * mappings of their own, marked MADV_DONTDUMP. The mark matters: an
 * agent buffer mapped next to a test's anonymous mapping with the same
 * flags would merge with it, and the test would find its area starting
 * elsewhere in smaps. A flag no test sets keeps the two apart.
 */
#include "agent.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SMALL ((size_t)64 << 10)

void *agent_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (madvise(p, len, MADV_DONTDUMP)) {
		munmap(p, len);
		return NULL;
	}
	return p;
}

static size_t page_round(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (n + page - 1) / page * page;
}

static int grow(struct buf *b, size_t cap)
{
	char *p;
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
		p = mremap(b->p, b->cap, cap, MREMAP_MAYMOVE);
		if (p == MAP_FAILED)
			p = NULL;
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

void buf_append(struct buf *b, const void *data, size_t n)
{
	if (buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
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

void buf_release(struct buf *b)
{
	if (b->cap > SMALL)
		munmap(b->p, b->cap);
	else
		free(b->p);
	*b = (struct buf){ 0 };
}
