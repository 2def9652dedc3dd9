/*
 * The agent's malloc, in place of glibc's. A proc's fork() is a raw clone
 * (proc.c: fork_reply()), so the child keeps whatever a lock another thread
 * held at the copy: with glibc's one arena, a thread mid-malloc then (the
 * uffd server starting, a reply growing) left the child's first malloc,
 * pthread_create()'s among them, waiting for ever. Here a child abandons
 * the heap's lists and lock (heap_forked()) and starts afresh; the blocks
 * it inherited stay where they are, each with its header, and one it frees
 * joins its new lists. Memory comes from the agent's own region (buf.c's
 * agent_map()), fenced by guard pages, never next to a test's mappings.
 */
#include "agent.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

/* blocks of 16 << k bytes for k below CLASSES (up to 64 KiB); larger ones map their own pages */
#define CLASSES 13
#define ALIGN 16
#define CHUNK ((size_t)256 << 10)
#define LARGE CLASSES

/* Before each block: its class, or LARGE with the mapping's length (the header at the end of its first page). */
struct header {
	uint32_t class;
	uint32_t unused;
	uint64_t length;
};
_Static_assert(sizeof(struct header) == ALIGN, "a header keeps blocks aligned");

struct free_block {
	struct free_block *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct free_block *lists[CLASSES];
/* what is left of the chunk blocks are cut from */
static char *cut, *cut_end;

static size_t page_size(void)
{
	static size_t page;
	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

static struct header *header_of(void *p)
{
	return (struct header *)p - 1;
}

/* A block of `class`, lock held: from its list, else cut from the chunk (a new chunk when it runs out). */
static void *take(unsigned class)
{
	struct free_block *b = lists[class];
	if (b) {
		lists[class] = b->next;
		return b;
	}
	size_t need = sizeof(struct header) + ((size_t)ALIGN << class);
	if ((size_t)(cut_end - cut) < need) {
		char *chunk = agent_map(CHUNK);
		if (!chunk)
			return NULL;
		cut = chunk;
		cut_end = chunk + CHUNK;
	}
	struct header *h = (struct header *)(void *)cut;
	cut += need;
	*h = (struct header){ .class = class };
	return h + 1;
}

/* A block of its own pages for n bytes, page-aligned: its header at the end of the page mapped before it. */
static void *take_large(size_t n)
{
	size_t page = page_size();
	if (n > SIZE_MAX - 2 * page) {
		errno = ENOMEM;
		return NULL;
	}
	size_t length = page + ((n + page - 1) & ~(page - 1));
	char *base = agent_map(length);
	if (!base) {
		errno = ENOMEM;
		return NULL;
	}
	struct header *h = (struct header *)(void *)(base + page) - 1;
	*h = (struct header){ .class = LARGE, .length = length };
	return base + page;
}

static unsigned class_of(size_t n)
{
	unsigned class = 0;
	while (class < CLASSES && ((size_t)ALIGN << class) < n)
		class++;
	return class;
}

/* malloc() under another name: calloc() calling malloc() then memset() would be made a call of calloc() by the compiler */
static void *allocate(size_t n)
{
	unsigned class = class_of(n);
	if (class == LARGE)
		return take_large(n);
	pthread_mutex_lock(&lock);
	void *p = take(class);
	pthread_mutex_unlock(&lock);
	if (!p)
		errno = ENOMEM;
	return p;
}

void *malloc(size_t n)
{
	return allocate(n);
}

void free(void *p)
{
	if (!p)
		return;
	struct header *h = header_of(p);
	if (h->class == LARGE) {
		agent_unmap((char *)p - page_size(), h->length);
		return;
	}
	struct free_block *b = p;
	pthread_mutex_lock(&lock);
	b->next = lists[h->class];
	lists[h->class] = b;
	pthread_mutex_unlock(&lock);
}

size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	struct header *h = header_of(p);
	return h->class == LARGE ? h->length - page_size() : (size_t)ALIGN << h->class;
}

void *calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = allocate(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void *realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	size_t have = malloc_usable_size(p);
	if (n <= have && (header_of(p)->class == LARGE || class_of(n) == header_of(p)->class))
		return p;
	void *q = malloc(n);
	if (q) {
		memcpy(q, p, have < n ? have : n);
		free(p);
	}
	return q;
}

/* Alignments up to 16 come with every block; up to a page, with a large one. */
void *aligned_alloc(size_t align, size_t n)
{
	if (align <= ALIGN)
		return malloc(n);
	if (align > page_size() || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	return take_large(n);
}

void *memalign(size_t align, size_t n)
{
	return aligned_alloc(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	void *p = aligned_alloc(align, n);
	if (!p)
		return errno;
	*out = p;
	return 0;
}

void *valloc(size_t n)
{
	return aligned_alloc(page_size(), n);
}

void *pvalloc(size_t n)
{
	return aligned_alloc(page_size(), n);
}

void heap_forked(void)
{
	pthread_mutex_init(&lock, NULL);
	memset(lists, 0, sizeof lists);
	cut = cut_end = NULL;
}
