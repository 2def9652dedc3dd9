/*
 * Loads and stores of user memory, as the test program's own `map[i]`,
 * memset() and `map[i]++` would do them; once the process has a
 * userfaultfd, on worker threads: a store that blocks in a fault (a uffd-wp
 * write waiting for its handler) stays pending while the Proc goes on
 * serving. A test's own threads (thread.c) run their atomic adds here too;
 * the calls that may wait in the kernel wait here: a read(2) of a blocking
 * userfaultfd or pipe, a poll(2), a fork() held until its FORK message is read.
 * A fault the kernel answers with SIGSEGV or SIGBUS is caught on the
 * faulting thread and reported instead of killing the process.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* workers started with the process, before the test maps anything (their stacks are mappings too) */
#define INITIAL_WORKERS 2
#define STACK_SIZE ((size_t)256 << 10)

struct job {
	struct job *next;
	enum access kind;
	bool has_id;
	int64_t id;
	uint64_t addr;
	size_t len; /* bytes; for INCREMENT, ATOMIC_ADD and STORE_EACH, addresses */
	unsigned char byte; /* FILL's */
	uint64_t each; /* FILL_EACH's and CHECK_FILL's bytes an address */
	int delta; /* ATOMIC_ADD's */
	int fd; /* UFFD_READ's, READ_FD's; FORK's: the new process's socket */
	int peer; /* FORK's: the router's end of that socket */
	int timeout; /* POLL's, in ms */
	long nr; /* SYSCALL's: the call, its arguments, its name, and whether it returns an address */
	uint64_t args[6];
	const char *call;
	bool returns_addr;
	/* STORE's bytes, LOAD's result, INCREMENT's, ATOMIC_ADD's and STORE_EACH's addresses (uint64_t), POLL's struct pollfd */
	struct buf data;
	struct buf bytes; /* STORE_EACH's; CHECK_EACH's expected values (uint64_t); FILL_EACH's and CHECK_FILL's byte an address */
	bool store_back; /* CHECK_EACH's, and what its loop does at a signal (NULL: stops) */
	struct on_signal *on_signal;
};

/* the most descriptors one poll takes */
#define MAX_POLL_FDS 1024

/* Set once the process has a userfaultfd: only then can an access block on a handler, so only then do workers take them. */
static bool may_block;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static struct job *head, *tail;
/* workers started, and those running a job (not about to take one) */
static size_t workers, busy;

static _Thread_local sigjmp_buf fault_env;
static _Thread_local volatile sig_atomic_t armed;
static _Thread_local void *volatile fault_addr;
static _Thread_local volatile int fault_signal;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (!armed) {
		/* not a guarded access: a bug in the agent, which dies of it as C would */
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		sigaction(sig, &dfl, NULL);
		return;
	}
	armed = 0;
	fault_addr = si->si_addr;
	fault_signal = sig;
	siglongjmp(fault_env, 1);
}

/*
 * Copies in address order, a page of the user's side at a time (one of dst
 * and src is the agent's own buffer, which never faults): access is
 * granted per page, so a fault in a piece is one its first byte would have
 * taken, and is reported there, where the C's byte loop would take it;
 * 0, or the signal the fault raised.
 */
static int guarded_copy(unsigned char *dst, const unsigned char *src, size_t n, uintptr_t user)
{
	const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	volatile size_t done = 0;
	if (sigsetjmp(fault_env, 0)) {
		fault_addr = (void *)(user + done);
		return fault_signal;
	}
	armed = 1;
	while (done < n) {
		uintptr_t at = user + done, next = (at | (page - 1)) + 1;
		size_t piece = next - at < n - done ? next - at : n - done;
		memcpy(dst + done, src + done, piece);
		done += piece;
	}
	armed = 0;
	return 0;
}

/*
 * piece(p, n, byte) over [addr, addr + len) a page at a time, in address
 * order. Access is granted per page, so a fault in a piece is one its
 * first byte would have taken: the fault is reported there, where the byte
 * loop would report it, whichever byte of the piece took it.
 */
static int guarded_pieces(uintptr_t addr, size_t len, void (*piece)(unsigned char *, size_t, unsigned char), unsigned char byte)
{
	const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), end = addr + len;
	volatile uintptr_t at = addr;
	if (sigsetjmp(fault_env, 0)) {
		fault_addr = (void *)at;
		return fault_signal;
	}
	armed = 1;
	while (at < end) {
		uintptr_t next = (at | (page - 1)) + 1;
		size_t n = (next > at && next < end ? next : end) - at;
		piece((unsigned char *)at, n, byte);
		at += n;
	}
	armed = 0;
	return 0;
}

static void fill_piece(unsigned char *p, size_t n, unsigned char byte)
{
	memset(p, byte, n);
}

/* `p[b] = ~p[b]`: each byte loaded, then stored inverted, a word at a time where aligned */
static void invert_piece(unsigned char *p, size_t n, unsigned char unused)
{
	(void)unused;
	size_t i = 0;
	for (; i < n && ((uintptr_t)(p + i) & 7); i++)
		p[i] = (unsigned char)~p[i];
	for (; i + 8 <= n; i += 8)
		*(uint64_t *)(void *)(p + i) = ~*(uint64_t *)(void *)(p + i);
	for (; i < n; i++)
		p[i] = (unsigned char)~p[i];
}

/* memset() a page at a time, in address order (a fault named as guarded_pieces() names it). */
static int guarded_fill(uintptr_t addr, size_t len, unsigned char byte)
{
	return guarded_pieces(addr, len, fill_piece, byte);
}

/* guarded_fill() of each address's `len` bytes with its byte, in turn; 0, or the signal the first fault raised. */
static int guarded_fill_each(const uint64_t *addrs, size_t n, size_t len, const unsigned char *bytes)
{
	for (size_t i = 0; i < n; i++) {
		int sig = guarded_fill((uintptr_t)addrs[i], len, bytes[i]);
		if (sig)
			return sig;
	}
	return 0;
}

/* The offset of the first of n bytes at p other than `byte` (n if none): a byte loop's answer, a word at a time. */
static size_t first_other(const unsigned char *p, size_t n, unsigned char byte)
{
	const uint64_t all = byte * 0x0101010101010101ull;
	size_t i = 0;
	for (; i < n && ((uintptr_t)(p + i) & 7); i++)
		if (p[i] != byte)
			return i;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, sizeof w);
		if (w != all)
			break;
	}
	for (; i < n; i++)
		if (p[i] != byte)
			return i;
	return n;
}

/*
 * `if (p[k] != byte) break;` for each of the len bytes at addr in turn, a
 * page at a time (a fault named at its page's first byte, as for a load):
 * the offset of the first other byte, len if none; *sig the signal a load
 * raised, at the offset returned.
 */
static size_t guarded_find_other(uintptr_t addr, size_t len, unsigned char byte, int *sig)
{
	const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	volatile size_t done = 0;
	*sig = 0;
	if (sigsetjmp(fault_env, 0)) {
		fault_addr = (void *)(addr + done);
		*sig = fault_signal;
		return done;
	}
	armed = 1;
	while (done < len) {
		uintptr_t at = addr + done, next = (at | (page - 1)) + 1;
		size_t piece = next - at < len - done ? next - at : len - done;
		size_t k = first_other((const unsigned char *)at, piece, byte);
		if (k < piece) {
			armed = 0;
			return done + k;
		}
		done += piece;
	}
	armed = 0;
	return len;
}

/* check_fill: each address's `each` bytes checked against its byte, in turn, until one differs or faults: the whole reply line in o. */
static void check_fill_reply(const struct job *j, struct buf *o)
{
	const uint64_t *addrs = (const uint64_t *)(void *)j->data.p;
	char scratch[16];
	size_t i = 0, at = j->each;
	int sig = 0;
	for (; i < j->len; i++)
		if ((at = guarded_find_other((uintptr_t)addrs[i], j->each, (unsigned char)j->bytes.p[i], &sig)) < j->each)
			break;
	buf_puts(o, "{\"id\":");
	buf_dec(o, j->id);
	buf_puts(o, ",\"ok\":true");
	jw_int(o, "done", (int64_t)i);
	if (sig) {
		jw_str(o, "signal", signal_name(sig, scratch, sizeof scratch));
		jw_hex(o, "addr", (uintptr_t)fault_addr);
	} else if (i < j->len) {
		jw_hex(o, "offset", at);
		jw_int(o, "value", ((const unsigned char *)(uintptr_t)addrs[i])[at]);
	}
	jw_end(o);
}

/* `((volatile char *)a)[0]++` at each address in turn: a load, then a store; 0, or the signal the first fault raised. */
static int guarded_increment(const uint64_t *addrs, size_t n)
{
	if (sigsetjmp(fault_env, 0))
		return fault_signal;
	armed = 1;
	for (size_t i = 0; i < n; i++)
		((volatile unsigned char *)(uintptr_t)addrs[i])[0]++;
	armed = 0;
	return 0;
}

/* The same bytes stored at each address in turn, each as guarded_copy() stores; 0, or the signal the first fault raised. */
static int guarded_store_each(const uint64_t *addrs, size_t n, const unsigned char *bytes, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		int sig = guarded_copy((unsigned char *)(uintptr_t)addrs[i], bytes, len, (uintptr_t)addrs[i]);
		if (sig)
			return sig;
	}
	return 0;
}

/*
 * `v = *(u64 *)a; if (v != expect) break;` and with store_back `*(u64 *)a = v;`
 * at each address in turn: the addresses done; *sig the signal a load or
 * store raised, or 0 with *differs set where a load found another value (in
 * *value).
 */
static size_t guarded_check_each(const uint64_t *addrs, const uint64_t *expect, size_t n, bool store_back, int *sig, bool *differs, uint64_t *value)
{
	volatile size_t i = 0;
	*sig = 0;
	*differs = false;
	if (sigsetjmp(fault_env, 0)) {
		*sig = fault_signal;
		return i;
	}
	armed = 1;
	for (; i < n; i++) {
		uint64_t v = *(volatile uint64_t *)(uintptr_t)addrs[i];
		if (v != expect[i]) {
			*differs = true;
			*value = v;
			break;
		}
		if (store_back)
			*(volatile uint64_t *)(uintptr_t)addrs[i] = v;
	}
	armed = 0;
	return i;
}

/*
 * `__atomic_add_fetch((int *)a, delta, __ATOMIC_SEQ_CST)` at each (aligned)
 * address in turn; 0, or the signal the first fault raised, named at the
 * address of the int it came in.
 */
static int guarded_atomic_add(const uint64_t *addrs, size_t n, int delta)
{
	volatile size_t i = 0;
	if (sigsetjmp(fault_env, 0)) {
		fault_addr = (void *)(uintptr_t)addrs[i];
		return fault_signal;
	}
	armed = 1;
	for (; i < n; i++)
		__atomic_add_fetch((int *)(uintptr_t)addrs[i], delta, __ATOMIC_SEQ_CST);
	armed = 0;
	return 0;
}

/*
 * check_each: guarded_check_each() from the first address, and at each
 * signal what on_signal says (each signal it handled an event of the
 * reply's): the whole reply line in o.
 */
static void check_each_reply(const struct job *j, struct buf *o)
{
	const uint64_t *addrs = (const uint64_t *)(void *)j->data.p, *expect = (const uint64_t *)(void *)j->bytes.p;
	char scratch[16];
	struct buf events = { 0 };
	size_t at = 0, k = 0; /* the address the loop is at, and the signals it has had there */
	int sig;
	bool differs, stopped = false;
	uint64_t value = 0;
	for (;;) {
		size_t done = at + guarded_check_each(addrs + at, expect + at, j->len - at, j->store_back, &sig, &differs, &value);
		if (done != at)
			k = 0;
		at = done;
		enum loop_next next = sig ? on_signal_action(j->on_signal, k) : LOOP_STOP;
		if (next == LOOP_STOP)
			break;
		buf_puts(&events, events.len ? ",{\"i\":" : "{\"i\":");
		buf_dec(&events, (int64_t)at);
		jw_str(&events, "signal", signal_name(sig, scratch, sizeof scratch));
		jw_hex(&events, "addr", (uintptr_t)fault_addr);
		if (next == LOOP_SKIP) {
			buf_puts(&events, ",\"skip\":true}");
			at++;
			k = 0;
			continue;
		}
		buf_puts(&events, ",\"steps\":");
		stopped = !on_signal_calls(j->on_signal, k++, at, &events);
		buf_puts(&events, "}");
		if (stopped)
			break;
	}
	buf_puts(o, "{\"id\":");
	buf_dec(o, j->id);
	buf_puts(o, ",\"ok\":true");
	jw_int(o, "done", (int64_t)at);
	if (stopped) {
		buf_puts(o, ",\"handler_stop\":true");
	} else if (sig) {
		jw_str(o, "signal", signal_name(sig, scratch, sizeof scratch));
		jw_hex(o, "addr", (uintptr_t)fault_addr);
	} else if (differs) {
		jw_hex(o, "value", value);
	}
	if (events.len) {
		buf_puts(o, ",\"events\":[");
		buf_append(o, events.p, events.len);
		buf_puts(o, "]");
	}
	if (events.oom)
		o->oom = true;
	buf_release(&events);
	jw_end(o);
}

static void syscall_reply(const struct job *j, struct buf *o)
{
	struct request r = { .has_id = j->has_id, .id = j->id, .call = j->call };
	long rc = syscall(j->nr, j->args[0], j->args[1], j->args[2], j->args[3], j->args[4], j->args[5]);
	r.errnum = errno;
	if (rc == -1) {
		jw_errno(o, &r);
		return;
	}
	jw_begin(o, &r);
	buf_puts(o, ",\"ok\":true");
	if (j->returns_addr)
		jw_hex(o, "addr", (uint64_t)rc);
	jw_end(o);
}

static void run(struct job *j, struct buf *o)
{
	char scratch[16];
	void *user = (void *)(uintptr_t)j->addr;
	int sig = 0;
	o->len = 0;
	o->oom = false;
	switch (j->kind) {
	case LOAD:
		if (buf_reserve(&j->data, j->len)) {
			o->oom = true; /* child_send() answers "out of memory" */
			return;
		}
		sig = guarded_copy((unsigned char *)j->data.p, user, j->len, (uintptr_t)user);
		break;
	case STORE:
		sig = guarded_copy(user, (unsigned char *)j->data.p, j->len, (uintptr_t)user);
		break;
	case FILL:
		sig = guarded_fill((uintptr_t)j->addr, j->len, j->byte);
		break;
	case INVERT:
		sig = guarded_pieces((uintptr_t)j->addr, j->len, invert_piece, 0);
		break;
	case INCREMENT:
		sig = guarded_increment((const uint64_t *)(void *)j->data.p, j->len);
		break;
	case STORE_EACH:
		sig = guarded_store_each((const uint64_t *)(void *)j->data.p, j->len, (const unsigned char *)j->bytes.p, j->bytes.len);
		break;
	case FILL_EACH:
		sig = guarded_fill_each((const uint64_t *)(void *)j->data.p, j->len, j->each, (const unsigned char *)j->bytes.p);
		break;
	case CHECK_FILL:
		check_fill_reply(j, o);
		return;
	case CHECK_EACH:
		check_each_reply(j, o);
		return;
	case ATOMIC_ADD:
		sig = guarded_atomic_add((const uint64_t *)(void *)j->data.p, j->len, j->delta);
		break;
	case UFFD_READ:
		uffd_read_reply(j->fd, j->has_id, j->id, o);
		return;
	case READ_FD:
		read_fd_reply(j->fd, j->len, j->has_id, j->id, o);
		return;
	case POLL:
		poll_reply(j->data.p, j->len, j->timeout, j->has_id, j->id, o);
		return;
	case FORK:
		fork_reply(j->fd, j->peer, j->has_id, j->id, o);
		return;
	case SYSCALL:
		syscall_reply(j, o);
		return;
	}
	buf_puts(o, "{\"id\":");
	buf_dec(o, j->id);
	buf_puts(o, ",\"ok\":true");
	if (sig) {
		jw_str(o, "signal", signal_name(sig, scratch, sizeof scratch));
		jw_hex(o, "addr", (uintptr_t)fault_addr);
	} else if (j->kind == LOAD) {
		jw_bytes(o, "data", j->data.p, j->len);
	}
	jw_end(o);
}

static int start_worker(void);

/* Sends a job's reply and frees the job; a reply buffer grown past small is given back, not kept by an idle thread. */
static void finish(struct job *j, struct buf *o)
{
	child_send(o, j->has_id, j->id);
	memory_drop(j);
	buf_shrink(o);
}

static void *worker(void *unused)
{
	struct buf out = { 0 };
	(void)unused;
	for (;;) {
		pthread_mutex_lock(&lock);
		while (!head)
			pthread_cond_wait(&more, &lock);
		struct job *j = head;
		head = j->next;
		if (!head)
			tail = NULL;
		busy++;
		/* this job may block in a fault: one behind it (its handler's read) must have a worker free */
		if (head && workers == busy)
			start_worker();
		pthread_mutex_unlock(&lock);

		run(j, &out);
		/* free again before its reply goes: the next request, sent on that reply, must not start a worker */
		pthread_mutex_lock(&lock);
		busy--;
		pthread_mutex_unlock(&lock);
		finish(j, &out);
	}
	return NULL;
}

/*
 * Stacks come from agent_map(): in the agent's own region, never next to a
 * test's mappings. A `prefaulted` one is faulted in here, its TLS with it
 * (glibc puts a given stack's TLS at its top), so that thread's own minor
 * faults (getrusage(RUSAGE_THREAD)) are those of its accesses to the
 * test's memory.
 */
int agent_thread(void *(*fn)(void *), void *arg, bool prefaulted)
{
	pthread_attr_t attr;
	pthread_t t;
	void *stack = agent_map(STACK_SIZE);
	if (!stack)
		return ENOMEM;
	if (prefaulted)
		memset(stack, 0, STACK_SIZE);
	int rc = pthread_attr_init(&attr);
	if (rc)
		return rc;
	if (!(rc = pthread_attr_setstack(&attr, stack, STACK_SIZE)) && !(rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED)))
		rc = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return rc;
}

static int start_worker(void)
{
	if (agent_thread(worker, NULL, false))
		return -1;
	workers++;
	return 0;
}

int memory_start(void)
{
	head = tail = NULL;
	workers = busy = 0;
	/* SA_NODEFER: the jump out of on_fault() leaves the thread's mask as it was, so sigsetjmp() need not save it (a system call an access) */
	struct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_NODEFER };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGBUS, &sa, NULL))
		return -1;
	for (int i = 0; i < INITIAL_WORKERS; i++)
		if (start_worker())
			return -1;
	return 0;
}

/*
 * The parent's workers are not in this process, and its queue was theirs:
 * both start afresh, a lock some worker held at the fork freed.
 */
void memory_forked(void)
{
	pthread_mutex_init(&lock, NULL);
	pthread_cond_init(&more, NULL);
	if (memory_start()) {
		perror("mmconform-agent: starting a forked proc's workers");
		_exit(1);
	}
}

void memory_may_block(void)
{
	may_block = true;
}

bool memory_blocks(void)
{
	return may_block;
}

/*
 * poll's "fds" and "events", one each a descriptor, as struct pollfd, and
 * "timeout". The agent's own descriptors behave as closed: poll finds no
 * file at INT_MAX, so it reports POLLNVAL there, as for any closed one.
 */
static int parse_poll(struct request *r, struct job *j)
{
	struct buf fds = { 0 }, events = { 0 };
	int64_t timeout;
	int rc = -1;
	if (req_int_list(r, "fds", INT_MIN, INT_MAX, MAX_POLL_FDS, &fds) || req_int_list(r, "events", 0, SHRT_MAX, MAX_POLL_FDS, &events) ||
	    req_int(r, "timeout", INT_MIN, INT_MAX, &timeout))
		goto out;
	if (fds.len != events.len) {
		req_bad(r, "fields \"fds\" and \"events\": one event mask a descriptor");
		goto out;
	}
	j->len = fds.len / sizeof(int64_t);
	j->timeout = (int)timeout;
	if (buf_reserve(&j->data, j->len * sizeof(struct pollfd) + 1)) {
		req_bad(r, "out of memory");
		goto out;
	}
	struct pollfd *p = (struct pollfd *)(void *)j->data.p;
	for (size_t i = 0; i < j->len; i++) {
		int64_t fd = ((const int64_t *)(void *)fds.p)[i];
		p[i] = (struct pollfd){ .fd = agent_fd(fd) ? INT_MAX : (int)fd, .events = (short)((const int64_t *)(void *)events.p)[i] };
	}
	rc = 0;
out:
	buf_release(&fds);
	buf_release(&events);
	return rc;
}

/* The job's fields from the request; -1 for a bad request. */
static int parse_job(struct request *r, struct job *j)
{
	int64_t n = 0;
	uint64_t len;
	switch (j->kind) {
	case LOAD:
		if (req_u64(r, "addr", &j->addr) || req_int(r, "len", 0, (int64_t)MAX_IO, &n))
			return -1;
		j->len = (size_t)n;
		return 0;
	case STORE:
		if (req_u64(r, "addr", &j->addr) || req_bytes(r, "data", &j->data))
			return -1;
		j->len = j->data.len;
		return 0;
	case FILL:
	case INVERT:
		if (req_u64(r, "addr", &j->addr) || req_u64(r, "len", &len) || (j->kind == FILL && req_int(r, "byte", 0, 255, &n)))
			return -1;
		if (len && j->addr + len <= j->addr)
			return req_bad(r, "fields \"addr\" and \"len\": the range wraps around the address space");
		j->len = (size_t)len;
		j->byte = (unsigned char)n;
		return 0;
	case INCREMENT:
		if (req_u64_list(r, "addrs", MAX_ADDRS, &j->data))
			return -1;
		j->len = j->data.len / sizeof(uint64_t);
		return 0;
	case CHECK_EACH:
		j->store_back = true;
		if (req_u64_list(r, "addrs", MAX_ADDRS, &j->data) || req_u64_list(r, "expect", MAX_ADDRS, &j->bytes) ||
		    req_bool_opt(r, "store_back", &j->store_back))
			return -1;
		if (j->bytes.len != j->data.len)
			return req_bad(r, "fields \"addrs\" and \"expect\": one value an address");
		j->len = j->data.len / sizeof(uint64_t);
		return on_signal_parse(r, &j->on_signal);
	case STORE_EACH:
		if (req_u64_list(r, "addrs", MAX_ADDRS, &j->data) || req_bytes(r, "data", &j->bytes))
			return -1;
		if (j->bytes.len > MAX_IO)
			return req_bad(r, "field \"data\": more than %zu bytes", MAX_IO);
		j->len = j->data.len / sizeof(uint64_t);
		return 0;
	case FILL_EACH:
	case CHECK_FILL:
		if (req_u64_list(r, "addrs", MAX_ADDRS, &j->data) || req_u64(r, "len", &j->each) || req_bytes(r, "bytes", &j->bytes))
			return -1;
		j->len = j->data.len / sizeof(uint64_t);
		if (j->bytes.len != j->len)
			return req_bad(r, "fields \"addrs\" and \"bytes\": one byte an address");
		for (size_t i = 0; i < j->len; i++) {
			uint64_t a = ((const uint64_t *)(void *)j->data.p)[i];
			if (j->each && a + j->each <= a)
				return req_bad(r, "fields \"addrs\" and \"len\": a range wraps around the address space");
		}
		return 0;
	case ATOMIC_ADD:
		if (req_u64_list(r, "addrs", MAX_ADDRS, &j->data) || req_int(r, "delta", INT_MIN, INT_MAX, &n))
			return -1;
		j->len = j->data.len / sizeof(uint64_t);
		j->delta = (int)n;
		for (size_t i = 0; i < j->len; i++) {
			uint64_t a = ((const uint64_t *)(void *)j->data.p)[i];
			if (a % sizeof(int))
				return req_bad(r, "field \"addrs\": 0x%llx is not the address of an int (4-byte aligned)", (unsigned long long)a);
		}
		return 0;
	case UFFD_READ:
		if (req_int(r, "fd", INT_MIN, INT_MAX, &n))
			return -1;
		j->fd = (int)n;
		return 0;
	case READ_FD:
		if (req_int(r, "fd", INT_MIN, INT_MAX, &n))
			return -1;
		j->fd = (int)n;
		if (req_int(r, "count", 0, (int64_t)MAX_IO, &n))
			return -1;
		j->len = (size_t)n;
		return 0;
	case POLL:
		return parse_poll(r, j);
	case FORK:
	case SYSCALL:
		break;
	}
	return req_bad(r, "unknown access");
}

/*
 * The access a read ("addr", "len"), write ("addr", "data"), fill ("addr",
 * "len", "byte"), increment ("addrs"), atomic add ("addrs", "delta") or
 * uffd read ("fd") asks for; NULL for a bad request.
 */
struct job *memory_job(struct request *r, enum access kind)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j) {
		req_bad(r, "out of memory");
		return NULL;
	}
	j->kind = kind;
	j->has_id = r->has_id;
	j->id = r->id;
	if (parse_job(r, j)) {
		memory_drop(j);
		return NULL;
	}
	return j;
}

void memory_drop(struct job *j)
{
	buf_release(&j->data);
	buf_release(&j->bytes);
	on_signal_free(j->on_signal);
	free(j);
}

void memory_run(struct job *j, struct buf *o)
{
	run(j, o);
	memory_drop(j);
}

/*
 * Runs an access of the process's serving thread now, its reply line in o
 * (ANSWERED: it goes out with the replies around it), or once the process
 * has a userfaultfd, queues it for a worker, starting one if all are busy.
 * A uffd read always goes to a worker: it comes here only when it may wait
 * (op_uffd_read runs one of an O_NONBLOCK descriptor itself).
 */
static enum outcome queue(struct job *j)
{
	pthread_mutex_lock(&lock);
	if (tail)
		tail->next = j;
	else
		head = j;
	tail = j;
	/*
	 * Queued jobs always have a worker free to take them in turn: one is
	 * started when every worker is busy (blocked in a fault, perhaps), here
	 * or as a worker takes a job with others queued behind it. So a burst of
	 * stores runs in order on one worker, not on a thread each: workers
	 * never end, and each costs a stack.
	 */
	if (workers == busy)
		start_worker();
	pthread_mutex_unlock(&lock);
	pthread_cond_signal(&more); /* after the unlock, as thread.c's enqueue() */
	return ASYNC;
}

enum outcome memory_submit(struct request *r, enum access kind, struct buf *o)
{
	if (!may_block && kind != UFFD_READ) {
		/* on the serving thread, as the C program's own main() would: a thread handoff less per access */
		BUF_ON_STACK(data, 256);
		struct job j = { .kind = kind, .has_id = r->has_id, .id = r->id, .data = data };
		enum outcome how = parse_job(r, &j) ? BAD : ANSWERED;
		if (how == ANSWERED)
			run(&j, o);
		buf_release(&j.data);
		buf_release(&j.bytes);
		on_signal_free(j.on_signal);
		return how;
	}
	struct job *j = memory_job(r, kind);
	return j ? queue(j) : BAD;
}

/* Whether the job's read or poll would wait: nothing ready now, and a descriptor or timeout that waits. */
static bool would_wait(const struct job *j)
{
	if (j->kind == POLL)
		return j->timeout != 0 && poll((struct pollfd *)(void *)j->data.p, j->len, 0) == 0;
	int flags = fcntl(j->fd, F_GETFL);
	struct pollfd p = { .fd = j->fd, .events = POLLIN };
	return flags >= 0 && !(flags & O_NONBLOCK) && poll(&p, 1, 0) == 0;
}

/*
 * A read(2) of a descriptor ("fd", "count") or a poll(2) ("fds", "events",
 * "timeout"): answered now, its reply line in o (ANSWERED), where it would
 * not wait; else a worker waits in it while the process serves on.
 */
enum outcome memory_call(struct request *r, enum access kind, struct buf *o)
{
	struct job *j = memory_job(r, kind);
	if (!j)
		return BAD;
	if (kind == READ_FD && agent_fd(j->fd)) {
		memory_drop(j);
		r->call = "read";
		r->errnum = EBADF;
		return FAILED;
	}
	if (would_wait(j))
		return queue(j);
	run(j, o);
	memory_drop(j);
	return ANSWERED;
}

/* A job made whole by its caller (no request to parse), queued for a worker. */
static enum outcome queue_job(struct request *r, struct job job)
{
	struct job *j = malloc(sizeof *j);
	if (!j) {
		req_bad(r, "out of memory");
		return BAD;
	}
	*j = job;
	return queue(j);
}

/* fork() on a worker, which the kernel may hold until the FORK message is read: sock and peer as fork_reply() takes them */
enum outcome memory_fork(struct request *r, int sock, int peer)
{
	return queue_job(r, (struct job){ .kind = FORK, .has_id = r->has_id, .id = r->id, .fd = sock, .peer = peer });
}

/*
 * A call a non-cooperative userfaultfd may hold until its message is read
 * (mremap: REMAP; madvise: REMOVE; munmap, or an mmap or mremap that
 * unmaps: UNMAP), on a worker, so that the process serves the read.
 */
enum outcome memory_syscall(struct request *r, long nr, const uint64_t args[6], const char *call, bool returns_addr)
{
	struct job j = { .kind = SYSCALL, .has_id = r->has_id, .id = r->id, .nr = nr, .call = call, .returns_addr = returns_addr };
	memcpy(j.args, args, sizeof j.args);
	return queue_job(r, j);
}
