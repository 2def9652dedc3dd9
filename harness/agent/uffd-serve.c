/*
 * A userfaultfd handler thread run where the kernel is: the selftests'
 * uffd_poll_thread() and the fault handlers it calls (uffd-common.c's
 * uffd_handle_page_fault(), uffd-unit-tests.c's move and poison handlers),
 * as the port's handler thread would make its calls, without a round trip
 * for each. Every call is a request run on this thread through the
 * process's own ops, its request and reply written down as a step; the
 * harness answers the port's thread from the steps (uffd_serve_steps) and
 * checks that each call it asks for is the one made. The server stops
 * where the C stops (the pipe read), and also after any reply the port
 * would judge otherwise than carry on: there the port's own code takes
 * over, live, from the step it has been answered.
 */
#include "agent.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

/* uapi newer than the build machine's headers (include/uapi/linux/userfaultfd.h) */
#ifndef UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((uint64_t)1 << 1)
#endif
#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((uint64_t)1 << 1)
#endif
#ifndef UFFD_PAGEFAULT_FLAG_MINOR
#define UFFD_PAGEFAULT_FLAG_MINOR (1 << 2)
#endif

enum missing { COPY, MOVE, POISON };

struct server {
	int64_t proc;
	int uffd, pipe;
	uint64_t page, dst, src, dst_alias, size, move_len;
	enum missing missing;
	bool apply_wp;
};

/*
 * The steps made and not yet taken, whether the server runs, and a
 * uffd_serve_steps waiting for a step. One thread serves, started with the
 * first server and kept for the next (`next`, `more`): a thread a server
 * would leave its stack behind.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stopped = PTHREAD_COND_INITIALIZER, more = PTHREAD_COND_INITIALIZER;
static struct server *next;
static bool started;
static struct buf steps, answer; /* answer: answer_steps()'s reply */
static bool running;
static bool waiter;
static int64_t waiter_id;

/*
 * Answers uffd_serve_steps (has_id, id): the steps so far, taken, and whether
 * the server has stopped; lock held. The steps and the reply keep their room
 * while the server runs: a batch a fresh mapping, its pages faulted in,
 * cost more than the steps' own work under TCG.
 */
static void answer_steps(bool has_id, int64_t id)
{
	struct buf *o = &answer;
	struct request r = { .has_id = has_id, .id = id };
	o->len = 0;
	o->oom = steps.oom; /* a step lost: child_send() answers "out of memory" */
	jw_begin(o, &r);
	buf_puts(o, ",\"ok\":true,\"ended\":");
	buf_puts(o, running ? "false" : "true");
	buf_puts(o, ",\"steps\":[");
	buf_append(o, steps.p, steps.len);
	buf_puts(o, "]");
	jw_end(o);
	child_send(o, has_id, id);
	steps.len = 0;
	steps.oom = false;
	if (!running) {
		buf_shrink(o);
		buf_shrink(&steps);
	}
}

/*
 * A waiting uffd_serve_steps is answered once the server has had nothing to
 * do for IDLE_MS, or stops, or has BATCH_BYTES written down: not at each
 * step, which would cost the harness a reply to read for each (the faults
 * of a loop come one after the other, each once the last is resolved).
 */
#define BATCH_BYTES ((size_t)256 << 10)
#define IDLE_MS 1

/* A step written down: `body` the request's fields after its id (op first), `reply` its whole line. */
static void record(const struct buf *body, const struct buf *reply)
{
	pthread_mutex_lock(&lock);
	if (steps.len)
		buf_puts(&steps, ",");
	jw_step(&steps, body, reply);
	if (waiter && steps.len >= BATCH_BYTES) {
		waiter = false;
		answer_steps(true, waiter_id);
	}
	pthread_mutex_unlock(&lock);
}

/* The steps so far to a waiting uffd_serve_steps: the server has been idle IDLE_MS. */
static void hand_over_steps(void)
{
	pthread_mutex_lock(&lock);
	if (waiter && steps.len) {
		waiter = false;
		answer_steps(true, waiter_id);
	}
	pthread_mutex_unlock(&lock);
}

/* A step's reply: its line, and the line parsed (its fields point into it). */
struct answer {
	struct request r;
	struct buf line;
};

/* Lets go of the reply (again: a no-op). */
static void done(struct answer *a)
{
	req_done(&a->r);
	buf_release(&a->line);
	*a = (struct answer){ 0 };
}

/* One call: its request run here, written down; its reply in *a, to be done() with (false: it was not even a reply). */
static bool call(const struct server *s, struct buf *body, struct answer *a)
{
	struct buf line = { 0 };
	*a = (struct answer){ 0 };
	buf_puts(&line, "{\"id\":0,\"proc\":");
	buf_dec(&line, s->proc);
	buf_append(&line, ",", 1);
	buf_append(&line, body->p, body->len);
	buf_puts(&line, "}");
	bool ok = !line.oom;
	if (ok) {
		proc_run_here(line.p, line.len, &a->line);
		record(body, &a->line);
		ok = !a->line.oom && a->line.len && !req_parse(&a->r, a->line.p, a->line.len - 1);
	}
	buf_release(&line);
	body->len = 0;
	if (!ok)
		done(a);
	return ok;
}

static void op(struct buf *b, const char *name)
{
	b->len = 0;
	buf_puts(b, "\"op\":\"");
	buf_puts(b, name);
	buf_puts(b, "\"");
}

static void field_int(struct buf *b, const char *key, int64_t v)
{
	buf_puts(b, ",\"");
	buf_puts(b, key);
	buf_puts(b, "\":");
	buf_dec(b, v);
}

static void field_hex(struct buf *b, const char *key, uint64_t v)
{
	buf_puts(b, ",\"");
	buf_puts(b, key);
	buf_puts(b, "\":\"");
	buf_hex(b, v);
	buf_puts(b, "\"");
}

static bool ok_of(struct answer *rep)
{
	const struct jfield *f = req_field(&rep->r, "ok");
	return f && f->type == J_BOOL && f->raw[0] == 't';
}

static bool errno_is(struct answer *rep, const char *name)
{
	return req_is(req_field(&rep->r, "errno"), name);
}

/* A progress field (uffdio_copy.copy, ...) as the kernel wrote it; false where it did not. */
static bool progress_of(struct answer *rep, const char *key, int64_t *v)
{
	uint64_t u;
	if (!req_field(&rep->r, key) || req_u64(&rep->r, key, &u))
		return false;
	*v = (int64_t)u;
	return true;
}

/* A uffd ioctl on [start, start + len) with a mode: true where it did `len` bytes. */
static bool range_ioctl(const struct server *s, struct buf *b, const char *name, uint64_t start, uint64_t len, uint64_t mode,
			const char *key, int64_t *progress, struct answer *rep)
{
	op(b, name);
	field_int(b, "fd", s->uffd);
	field_hex(b, "start", start);
	field_hex(b, "len", len);
	field_hex(b, "mode", mode);
	*progress = 0;
	if (!call(s, b, rep))
		return false;
	return progress_of(rep, key, progress) && ok_of(rep) && *progress == (int64_t)len;
}

/* wake_range(): false where it failed */
static bool wake(const struct server *s, struct buf *b, uint64_t start, uint64_t len, struct answer *rep)
{
	op(b, "uffdio_wake");
	field_int(b, "fd", s->uffd);
	field_hex(b, "start", start);
	field_hex(b, "len", len);
	bool ok = call(s, b, rep) && ok_of(rep);
	done(rep);
	return ok;
}

/* __copy_page() or move_page(): COPY or MOVE of len bytes at offset, an -EEXIST woken; false where the C would not go on */
static bool copy_or_move(const struct server *s, struct buf *b, bool move, uint64_t offset, uint64_t len)
{
	struct answer rep;
	if (offset + len > s->size)
		return false;
	op(b, move ? "uffdio_move" : "uffdio_copy");
	field_int(b, "fd", s->uffd);
	field_hex(b, "dst", s->dst + offset);
	field_hex(b, "src", s->src + offset);
	field_hex(b, "len", len);
	field_hex(b, "mode", move ? UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES : s->apply_wp ? UFFDIO_COPY_MODE_WP : 0);
	if (!call(s, b, &rep))
		return false;
	int64_t progress = 0;
	bool got = progress_of(&rep, move ? "move" : "copy", &progress);
	bool ok = ok_of(&rep);
	done(&rep);
	if (ok)
		return got && progress == (int64_t)len;
	return got && progress == -EEXIST && wake(s, b, s->dst + offset, len, &rep);
}

/* continue_range(): CONTINUE, then again to see it fail with -EEXIST */
static bool continue_range(const struct server *s, struct buf *b, uint64_t start)
{
	struct answer rep;
	int64_t mapped;
	uint64_t mode = s->apply_wp ? UFFDIO_CONTINUE_MODE_WP : 0;
	bool ok = range_ioctl(s, b, "uffdio_continue", start, s->page, mode, "mapped", &mapped, &rep);
	done(&rep);
	if (!ok)
		return false;
	range_ioctl(s, b, "uffdio_continue", start, s->page, mode, "mapped", &mapped, &rep);
	ok = !ok_of(&rep) && mapped == -EEXIST;
	done(&rep);
	return ok;
}

/* The minor fault's bit flip of the page at `area` (`area[b] = ~area[b]`) and its CONTINUE. */
static bool minor(const struct server *s, struct buf *b, uint64_t address)
{
	struct answer rep;
	op(b, "invert");
	field_hex(b, "addr", s->dst + (address - s->dst_alias));
	field_hex(b, "len", s->page);
	bool ok = call(s, b, &rep) && ok_of(&rep) && !req_field(&rep.r, "signal");
	done(&rep);
	return ok && continue_range(s, b, address);
}

/* A PAGEFAULT message handled as the port's handler does: false where the C would not go on as usual. */
static bool fault(const struct server *s, struct buf *b, uint64_t flags, uint64_t address)
{
	struct answer rep;
	uint64_t offset = (address - s->dst) & ~(s->page - 1);
	switch (s->missing) {
	case COPY:
		if (flags & UFFD_PAGEFAULT_FLAG_WP) {
			/* wp_range(): the protection lifted */
			op(b, "uffdio_writeprotect");
			field_int(b, "fd", s->uffd);
			field_hex(b, "start", address);
			field_hex(b, "len", s->page);
			field_hex(b, "mode", 0);
			bool ok = call(s, b, &rep) && ok_of(&rep);
			done(&rep);
			return ok;
		}
		if (flags & UFFD_PAGEFAULT_FLAG_MINOR)
			return minor(s, b, address);
		/* the port errs on a missing fault that writes (its locking threads read first) */
		return !(flags & UFFD_PAGEFAULT_FLAG_WRITE) && copy_or_move(s, b, false, offset, s->page);
	case MOVE:
		if (flags & (UFFD_PAGEFAULT_FLAG_WP | UFFD_PAGEFAULT_FLAG_MINOR | UFFD_PAGEFAULT_FLAG_WRITE))
			return false;
		return copy_or_move(s, b, true, (address - s->dst) & ~(s->move_len - 1), s->move_len);
	case POISON:
		if (flags & (UFFD_PAGEFAULT_FLAG_WP | UFFD_PAGEFAULT_FLAG_MINOR))
			return false;
		/* odd pages are copied (zeroed), even ones poisoned */
		if (offset & s->page)
			return copy_or_move(s, b, false, offset, s->page);
		int64_t updated;
		bool ok = range_ioctl(s, b, "uffdio_poison", s->dst + offset, s->page, 0, "updated", &updated, &rep);
		done(&rep);
		return ok;
	}
	return false;
}

/*
 * The loop's poll (its request in body), where a descriptor is ready within
 * IDLE_MS (a loop's next fault, as a rule): what poll(-1) would answer
 * then, its step written down, in one system call; false where none is,
 * for the call that waits.
 */
static bool poll_ready(const struct server *s, struct buf *body, int64_t *r0, int64_t *r1)
{
	struct pollfd ready[2] = { { .fd = s->uffd, .events = POLLIN }, { .fd = s->pipe, .events = POLLIN } };
	BUF_ON_STACK(line, 128);
	bool now = poll_reply(ready, 2, IDLE_MS, true, 0, &line) > 0;
	if (now) {
		record(body, &line);
		body->len = 0;
		*r0 = ready[0].revents;
		*r1 = ready[1].revents;
	}
	buf_release(&line);
	return now;
}

/* uffd_poll_thread()'s loop, until the pipe has its byte or a step the port is to judge */
static void serve(const struct server *arg)
{
	struct server s = *arg;
	struct buf b = { 0 };
	struct answer rep;
	for (;;) {
		int64_t r0, r1;
		bool ok;
		op(&b, "poll");
		buf_puts(&b, ",\"fds\":[");
		buf_dec(&b, s.uffd);
		buf_append(&b, ",", 1);
		buf_dec(&b, s.pipe);
		buf_puts(&b, "],\"events\":[1,1],\"timeout\":-1");
		if (!poll_ready(&s, &b, &r0, &r1)) {
			/* idle: the steps so far go to the harness before the wait */
			hand_over_steps();
			struct buf revents = { 0 };
			if (!call(&s, &b, &rep))
				break;
			ok = ok_of(&rep) && !req_int_list(&rep.r, "revents", 0, 0xffff, 2, &revents) && revents.len == 2 * sizeof(int64_t);
			r0 = ok ? ((int64_t *)(void *)revents.p)[0] : 0;
			r1 = ok ? ((int64_t *)(void *)revents.p)[1] : 0;
			buf_release(&revents);
			done(&rep);
			if (!ok)
				break;
		}
		if (r1) {
			if (r1 & POLLIN) {
				op(&b, "read_fd");
				field_int(&b, "fd", s.pipe);
				field_int(&b, "count", 1);
				if (call(&s, &b, &rep))
					done(&rep);
			}
			break;
		}
		if (!(r0 & POLLIN))
			break;
		op(&b, "uffd_read");
		field_int(&b, "fd", s.uffd);
		if (!call(&s, &b, &rep))
			break;
		if (!ok_of(&rep)) {
			ok = errno_is(&rep, "EAGAIN") || errno_is(&rep, "EINTR");
			done(&rep);
			if (ok)
				continue;
			break;
		}
		const struct jfield *event = req_field(&rep.r, "event");
		uint64_t flags = 0, address = 0, start = 0, end = 0, to = 0;
		int64_t ufd = -1;
		if (req_is(event, "PAGEFAULT"))
			ok = !req_u64(&rep.r, "flags", &flags) && !req_u64(&rep.r, "address", &address) && fault(&s, &b, flags, address);
		else if (req_is(event, "FORK") && !req_int(&rep.r, "ufd", 0, INT32_MAX, &ufd)) {
			/* the C closes its descriptor and polls the child's from now on */
			op(&b, "close");
			field_int(&b, "fd", s.uffd);
			struct answer closed;
			if ((ok = call(&s, &b, &closed)))
				done(&closed);
			s.uffd = (int)ufd;
		} else if (req_is(event, "REMOVE") && !req_u64(&rep.r, "start", &start) && !req_u64(&rep.r, "end", &end)) {
			struct answer unreg;
			op(&b, "uffdio_unregister");
			field_int(&b, "fd", s.uffd);
			field_hex(&b, "start", start);
			field_hex(&b, "len", end - start);
			ok = call(&s, &b, &unreg) && ok_of(&unreg);
			done(&unreg);
		} else if (req_is(event, "REMAP") && !req_u64(&rep.r, "to", &to))
			s.dst = to; /* the C's area_dst follows the mapping */
		else
			ok = false;
		done(&rep);
		if (!ok)
			break;
	}
	buf_release(&b);
	pthread_mutex_lock(&lock);
	running = false;
	pthread_cond_broadcast(&stopped);
	if (waiter) {
		waiter = false;
		answer_steps(true, waiter_id);
	}
	pthread_mutex_unlock(&lock);
}

static void *server_thread(void *unused)
{
	(void)unused;
	for (;;) {
		pthread_mutex_lock(&lock);
		while (!next)
			pthread_cond_wait(&more, &lock);
		struct server *s = next;
		next = NULL;
		pthread_mutex_unlock(&lock);
		serve(s);
		free(s);
	}
	return NULL;
}

/* Whether fd is a userfaultfd: its /proc/self/fd link names one. */
static bool is_userfaultfd(int fd)
{
	char path[32], link[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof link - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return !strcmp(link, "anon_inode:[userfaultfd]");
}

/*
 * uffd_serve: starts the server ("fd" the userfaultfd, "pipe" the read end
 * that stops it, "page_size", "dst", "src", "dst_alias", "size" as
 * uffd_global_test_opts has them, "missing" copy, move or poison, "move_len",
 * "apply_wp"). One at a time in a process: EBUSY while another serves.
 */
enum outcome uffd_serve(struct request *r, int64_t proc)
{
	struct server *s = calloc(1, sizeof *s);
	int64_t uffd, pipe;
	char *missing;
	if (!s)
		return (req_bad(r, "out of memory"), BAD);
	s->proc = proc;
	if (req_int(r, "fd", 0, INT32_MAX, &uffd) || req_int(r, "pipe", 0, INT32_MAX, &pipe) || req_u64(r, "page_size", &s->page) ||
	    req_u64(r, "dst", &s->dst) || req_u64(r, "src", &s->src) || req_u64(r, "dst_alias", &s->dst_alias) ||
	    req_u64(r, "size", &s->size) || req_u64(r, "move_len", &s->move_len) || req_bool_opt(r, "apply_wp", &s->apply_wp) ||
	    req_string(r, "missing", &missing))
		goto bad;
	if (!strcmp(missing, "copy"))
		s->missing = COPY;
	else if (!strcmp(missing, "move"))
		s->missing = MOVE;
	else if (!strcmp(missing, "poison"))
		s->missing = POISON;
	else {
		req_bad(r, "field \"missing\": expected copy, move or poison");
		goto bad;
	}
	if (!s->page || (s->page & (s->page - 1)) || !s->move_len || (s->move_len & (s->move_len - 1))) {
		req_bad(r, "fields \"page_size\" and \"move_len\": expected powers of two");
		goto bad;
	}
	s->uffd = (int)uffd;
	s->pipe = (int)pipe;
	if (!is_userfaultfd(s->uffd)) {
		free(s);
		r->call = "uffd_serve";
		r->errnum = EINVAL;
		return FAILED;
	}
	pthread_mutex_lock(&lock);
	/*
	 * The last server may still be between the step the port took last
	 * (its pipe read) and its end: it is given a moment. One still serving
	 * after it, or whose steps nobody took, is busy: the port's thread then
	 * makes its own calls.
	 */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	while (running && !pthread_cond_timedwait(&stopped, &lock, &until))
		;
	if (running || steps.len) {
		pthread_mutex_unlock(&lock);
		free(s);
		r->call = "uffd_serve";
		r->errnum = EBUSY;
		return FAILED;
	}
	int rc = started ? 0 : agent_thread(server_thread, NULL, false);
	if (rc) {
		pthread_mutex_unlock(&lock);
		free(s);
		r->call = "pthread_create";
		r->errnum = rc;
		return FAILED;
	}
	started = running = true;
	next = s;
	pthread_cond_signal(&more);
	pthread_mutex_unlock(&lock);
	return DONE;
bad:
	free(s);
	return BAD;
}

/* uffd_serve_steps: the steps made since the last asked, once there is one or the server has stopped ("ended"). */
enum outcome uffd_serve_steps(struct request *r)
{
	pthread_mutex_lock(&lock);
	if (waiter) {
		pthread_mutex_unlock(&lock);
		return (req_bad(r, "uffd_serve_steps is already waiting"), BAD);
	}
	if (steps.len || !running) {
		answer_steps(r->has_id, r->id);
	} else {
		waiter = true;
		waiter_id = r->id;
	}
	pthread_mutex_unlock(&lock);
	return ASYNC;
}

/* A child of fork() has none of its parent's threads: no server runs there. */
void uffd_serve_forked(void)
{
	pthread_mutex_init(&lock, NULL);
	pthread_cond_init(&stopped, NULL);
	pthread_cond_init(&more, NULL);
	steps = answer = (struct buf){ 0 };
	next = NULL;
	running = waiter = started = false;
}
