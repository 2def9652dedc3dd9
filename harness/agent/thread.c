/*
 * A test's own threads (pthread_create() in the C program). Each serves a
 * queue of its own, in the order its calls came, concurrently with the
 * process's serving thread and with its other threads: an atomic add that
 * waits in a fault holds up only its own thread. A thread is named by its
 * tid and lives until the process exits.
 */
#include "agent.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* One call queued for a thread: an atomic add, getrusage()'s minor faults, or a madvise(). */
enum call_kind { CALL_ACCESS, CALL_MINFLT, CALL_MADVISE };

struct call {
	struct call *next;
	enum call_kind kind;
	struct job *access; /* CALL_ACCESS's */
	uint64_t addr, len; /* CALL_MADVISE's */
	int advice;
	bool has_id;
	int64_t id;
	unsigned round; /* the serving loop's, which its reply is owed to (child_owe()) */
};

struct thread {
	struct thread *next;
	pid_t tid; /* 0 until the thread has started */
	pthread_mutex_t lock;
	pthread_cond_t more; /* a call queued, or the thread started */
	struct call *head, *tail;
};

/* Only the serving thread walks or grows the list. */
static struct thread *threads;

/* getrusage(RUSAGE_THREAD) on this thread: its minor faults. */
static void answer_minflt(const struct call *c, struct buf *o)
{
	struct request r = { .has_id = c->has_id, .id = c->id };
	struct rusage ru;
	o->len = 0;
	o->oom = false;
	if (getrusage(RUSAGE_THREAD, &ru)) {
		r.call = "getrusage";
		r.errnum = errno;
		jw_errno(o, &r);
	} else {
		jw_begin(o, &r);
		buf_puts(o, ",\"ok\":true");
		jw_hex(o, "minflt", (uint64_t)ru.ru_minflt);
		jw_end(o);
	}
	child_pay(o, c->has_id, c->id, c->round);
}

/*
 * madvise(2) on this thread: a non-cooperative userfaultfd may hold it in
 * the kernel (MADV_REMOVE, MADV_DONTNEED waiting until their event is read)
 * while the process serves on.
 */
static void answer_madvise(const struct call *c, struct buf *o)
{
	struct request r = { .has_id = c->has_id, .id = c->id };
	o->len = 0;
	o->oom = false;
	if (madvise((void *)(uintptr_t)c->addr, c->len, c->advice)) {
		r.call = "madvise";
		r.errnum = errno;
		jw_errno(o, &r);
	} else {
		jw_begin(o, &r);
		buf_puts(o, ",\"ok\":true");
		jw_end(o);
	}
	child_pay(o, c->has_id, c->id, c->round);
}

static void *serve_calls(void *arg)
{
	struct thread *t = arg;
	struct buf out = { 0 };
	/*
	 * Its reply buffer and its malloc state (glibc's per-thread cache) made
	 * and touched before it serves: the minor faults it reports are then the
	 * test's alone, as a C thread's are.
	 */
	if (!buf_reserve(&out, 4096))
		memset(out.p, 0, out.cap);
	free(malloc(1));
	pthread_mutex_lock(&t->lock);
	t->tid = (pid_t)syscall(SYS_gettid);
	pthread_cond_signal(&t->more);
	for (;;) {
		while (!t->head)
			pthread_cond_wait(&t->more, &t->lock);
		struct call *c = t->head;
		t->head = c->next;
		if (!t->head)
			t->tail = NULL;
		pthread_mutex_unlock(&t->lock);
		if (c->kind == CALL_ACCESS) {
			memory_run(c->access, &out);
			child_pay(&out, c->has_id, c->id, c->round);
			buf_shrink(&out);
		} else if (c->kind == CALL_MINFLT)
			answer_minflt(c, &out);
		else
			answer_madvise(c, &out);
		free(c);
		pthread_mutex_lock(&t->lock);
	}
	return NULL;
}

/* pthread_create(): the reply names the new thread by its tid once it runs. */
enum outcome thread_create(struct request *r, struct buf *o)
{
	struct thread *t = calloc(1, sizeof *t);
	if (!t) {
		req_bad(r, "out of memory");
		return BAD;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->more, NULL);
	int rc = agent_thread(serve_calls, t, true);
	if (rc) {
		free(t);
		r->call = "pthread_create";
		r->errnum = rc;
		return FAILED;
	}
	pthread_mutex_lock(&t->lock);
	while (!t->tid)
		pthread_cond_wait(&t->more, &t->lock);
	pthread_mutex_unlock(&t->lock);
	t->next = threads;
	threads = t;
	jw_int(o, "thread", t->tid);
	return DONE;
}

/* The thread the request's "thread" names; NULL for a bad request. */
static struct thread *named_thread(struct request *r)
{
	int64_t tid;
	if (req_int(r, "thread", 1, INT_MAX, &tid))
		return NULL;
	for (struct thread *t = threads; t; t = t->next)
		if (t->tid == tid)
			return t;
	req_bad(r, "no thread %lld in proc %d", (long long)tid, (int)getpid());
	return NULL;
}

/* Queues the call made in c (its kind and arguments) for the thread, as the request's; c is freed once answered. */
static enum outcome enqueue(struct request *r, struct thread *t, struct call c0)
{
	struct call *c = calloc(1, sizeof *c);
	if (!c) {
		req_bad(r, "out of memory");
		return BAD;
	}
	*c = c0;
	c->has_id = r->has_id;
	c->id = r->id;
	c->round = child_owe();
	pthread_mutex_lock(&t->lock);
	if (t->tail)
		t->tail->next = c;
	else
		t->head = c;
	t->tail = c;
	pthread_mutex_unlock(&t->lock);
	/* after the unlock: on one CPU the thread woken may run at once, and would only wait for the lock */
	pthread_cond_signal(&t->more);
	return ASYNC;
}

/* An atomic add ("addrs", "delta") for the thread to run in its turn; it answers. */
enum outcome thread_atomic_add(struct request *r)
{
	struct thread *t = named_thread(r);
	struct job *j = t ? memory_job(r, ATOMIC_ADD) : NULL;
	if (!j)
		return BAD;
	enum outcome how = enqueue(r, t, (struct call){ .kind = CALL_ACCESS, .access = j });
	if (how == BAD)
		memory_drop(j);
	return how;
}

/* getrusage(RUSAGE_THREAD) on the thread, in its turn; it answers. */
enum outcome thread_minflt(struct request *r)
{
	struct thread *t = named_thread(r);
	return t ? enqueue(r, t, (struct call){ .kind = CALL_MINFLT }) : BAD;
}

/* madvise(2) ("addr", "len", "advice") on the thread, in its turn; it answers. */
enum outcome thread_madvise(struct request *r)
{
	struct thread *t = named_thread(r);
	uint64_t addr, len;
	int64_t advice;
	if (!t || req_u64(r, "addr", &addr) || req_u64(r, "len", &len) || req_int(r, "advice", INT_MIN, INT_MAX, &advice))
		return BAD;
	return enqueue(r, t, (struct call){ .kind = CALL_MADVISE, .addr = addr, .len = len, .advice = (int)advice });
}

/* The parent's threads are not in a child of fork(): it starts with none. */
void thread_forked(void)
{
	threads = NULL;
}
