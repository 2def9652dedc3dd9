/*
 * Loads and stores of user memory, as the test program's own `map[i]` would
 * do them; once the process has a userfaultfd, on worker threads: a store
 * that blocks in a fault (a uffd-wp write waiting for its handler) stays
 * pending while the Proc goes on serving. A fault the kernel answers with SIGSEGV or SIGBUS is caught on
 * the faulting thread and reported instead of killing the process.
 */
#include "agent.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* workers started with the process, before the test maps anything (their stacks are mappings too) */
#define INITIAL_WORKERS 2
#define STACK_SIZE ((size_t)256 << 10)

struct job {
	struct job *next;
	bool store;
	bool has_id;
	int64_t id;
	uint64_t addr;
	size_t len;
	struct buf data;
};

/* Set once the process has a userfaultfd: only then can an access block on a handler, so only then do workers take them. */
static bool may_block;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static struct job *head, *tail;
static size_t queued, idle;

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

/* Copies byte by byte in address order, as the C loops do; 0, or the signal a fault raised. */
static int guarded_copy(volatile unsigned char *dst, const volatile unsigned char *src, size_t n)
{
	if (sigsetjmp(fault_env, 1))
		return fault_signal;
	armed = 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i];
	armed = 0;
	return 0;
}

static void run(struct job *j, struct buf *o)
{
	char scratch[16];
	o->len = 0;
	o->oom = false;
	if (!j->store && buf_reserve(&j->data, j->len)) {
		o->oom = true; /* child_send() answers "out of memory" */
		return;
	}
	void *user = (void *)(uintptr_t)j->addr;
	int sig = j->store ? guarded_copy(user, (unsigned char *)j->data.p, j->len)
			   : guarded_copy((unsigned char *)j->data.p, user, j->len);
	buf_printf(o, "{\"id\":%lld,\"ok\":true", (long long)j->id);
	if (sig) {
		jw_str(o, "signal", signal_name(sig, scratch, sizeof scratch));
		jw_hex(o, "addr", (uintptr_t)fault_addr);
	} else if (!j->store) {
		jw_bytes(o, "data", j->data.p, j->len);
	}
	jw_end(o);
}

static void *worker(void *unused)
{
	struct buf out = { 0 };
	(void)unused;
	for (;;) {
		pthread_mutex_lock(&lock);
		idle++;
		while (!head)
			pthread_cond_wait(&more, &lock);
		idle--;
		struct job *j = head;
		head = j->next;
		if (!head)
			tail = NULL;
		queued--;
		pthread_mutex_unlock(&lock);

		run(j, &out);
		child_send(&out, j->has_id, j->id);
		buf_release(&j->data);
		free(j);
	}
	return NULL;
}

/* Stacks come from agent_map(): in the agent's own region, never next to a test's mappings. */
static int start_worker(void)
{
	pthread_attr_t attr;
	pthread_t t;
	void *stack = agent_map(STACK_SIZE);
	if (!stack || pthread_attr_init(&attr))
		return -1;
	int rc = pthread_attr_setstack(&attr, stack, STACK_SIZE) ||
		 pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) || pthread_create(&t, &attr, worker, NULL);
	pthread_attr_destroy(&attr);
	return rc ? -1 : 0;
}

int memory_start(void)
{
	struct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGBUS, &sa, NULL))
		return -1;
	for (int i = 0; i < INITIAL_WORKERS; i++)
		if (start_worker())
			return -1;
	return 0;
}

void memory_may_block(void)
{
	may_block = true;
}

/*
 * Runs a read ("addr", "len") or write ("addr", "data") now, or once the process
 * has a userfaultfd, queues it for a worker, starting one if all are busy.
 */
enum outcome memory_submit(struct request *r, bool store)
{
	struct job *j = calloc(1, sizeof *j);
	int64_t len = 0;
	if (!j) {
		req_bad(r, "out of memory");
		return BAD;
	}
	j->store = store;
	j->has_id = r->has_id;
	j->id = r->id;
	if (req_u64(r, "addr", &j->addr) || (store ? req_bytes(r, "data", &j->data) : req_int(r, "len", 0, (int64_t)MAX_IO, &len))) {
		buf_release(&j->data);
		free(j);
		return BAD;
	}
	j->len = store ? j->data.len : (size_t)len;
	if (!may_block) {
		/* on the serving thread, as the C program's own main() would: a thread handoff less per access */
		static struct buf out;
		run(j, &out);
		child_send(&out, j->has_id, j->id);
		buf_release(&j->data);
		free(j);
		return ASYNC;
	}
	pthread_mutex_lock(&lock);
	if (tail)
		tail->next = j;
	else
		head = j;
	tail = j;
	/* a worker blocked in a fault is not idle: whatever is queued beyond the idle ones gets a new one */
	if (++queued > idle)
		start_worker();
	pthread_cond_signal(&more);
	pthread_mutex_unlock(&lock);
	return ASYNC;
}
