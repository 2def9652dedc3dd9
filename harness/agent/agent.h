/*
 * mmconform-agent: serves the Target API (harness/target.ts) on a real
 * kernel over JSON lines, one request per line in, one response line per
 * request out (protocol.schema.json). The process reading requests (the
 * router) forks one child per Proc; each child does the Proc's system calls
 * on its own address space.
 */
#ifndef MMCONFORM_AGENT_H
#define MMCONFORM_AGENT_H

#define _GNU_SOURCE
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define PROTOCOL_VERSION 1
/* the longest request line; a longer one is answered with an error and skipped */
#define MAX_LINE ((size_t)64 << 20)
#define MAX_FIELDS 24
#define MAX_KEY 24
#define MAX_STRINGS 4

/* A growable byte buffer. Large ones live in mappings of their own that
 * never merge with a test's mappings (see buf.c). */
struct buf {
	char *p;
	size_t len, cap;
	bool oom; /* an append failed: the contents are incomplete */
	bool borrowed; /* p is its owner's room (BUF_ON_STACK): never freed, left for the heap when it grows */
};

/*
 * A buffer that starts in `size` bytes on the stack: a page the serving
 * thread writes anyway, where a malloc'd block would be one more page for
 * the process to fault on after each clear_refs.
 */
#define BUF_ON_STACK(name, size)  \
	char name##_room[size];   \
	struct buf name = { .p = name##_room, .cap = (size), .borrowed = true }

int buf_reserve(struct buf *b, size_t extra);
void buf_append_grow(struct buf *b, const void *data, size_t n);
/* Inline, so that the JSON a request's reply is made of costs a copy a piece: most fit, and a literal's length is known. */
static inline void buf_append(struct buf *b, const void *data, size_t n)
{
	if (b->oom || n > b->cap - b->len) {
		buf_append_grow(b, data, n);
		return;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}
static inline void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}
/* "0x" and v in lower-case hex, as printf's "0x%llx" writes it (printf is slow under TCG) */
void buf_hex(struct buf *b, uint64_t v);
/* v in 16 lower-case hex digits, no prefix: a packed field's */
void buf_hex16(struct buf *b, uint64_t v);
/* v in decimal, as printf's "%lld" writes it */
void buf_dec(struct buf *b, int64_t v);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* empties b, giving back its memory if it had grown a mapping of its own */
void buf_shrink(struct buf *b);
void buf_release(struct buf *b);
/* anonymous memory the agent owns, marked so it never merges with a test's; and its unmapping */
void *agent_map(size_t len);
void agent_unmap(void *p, size_t len);
/* The agent's malloc (heap.c) in a child of a proc's fork(): its lists and lock afresh. */
void heap_forked(void);

/* A parsed request: a flat JSON object, values kept as spans of the line. */
enum jtype { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_NESTED };

struct jfield {
	char key[MAX_KEY]; /* decoded; empty when too long to be any known key */
	enum jtype type;
	const char *raw; /* the value's text in the line (a string without quotes) */
	size_t rawlen;
	bool escaped; /* a string holding backslash escapes */
};

struct request {
	struct jfield f[MAX_FIELDS];
	int n;
	bool has_id;
	int64_t id;
	char err[200]; /* the bad-request message */
	char *strings[MAX_STRINGS]; /* decoded strings too long for room, freed by req_done() */
	int nstrings;
	char room[256]; /* decoded strings that fit, in turn */
	size_t room_used;
	/* a failed call: its name and errno */
	const char *call;
	int errnum;
};

int req_parse(struct request *r, const char *line, size_t len);
/* an object within a request (no id): its fields, as req_parse() gives a line's */
int req_parse_object(struct request *r, const char *text, size_t len);
void req_done(struct request *r);
int req_bad(struct request *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const struct jfield *req_field(const struct request *r, const char *key);
bool req_is(const struct jfield *f, const char *s);
int req_check_fields(struct request *r, const char *allowed);
int req_u64(struct request *r, const char *key, uint64_t *out);
int req_u64_opt(struct request *r, const char *key, uint64_t *out);
int req_int(struct request *r, const char *key, int64_t min, int64_t max, int64_t *out);
int req_int_opt(struct request *r, const char *key, int64_t min, int64_t max, int64_t *out);
int req_bool_opt(struct request *r, const char *key, bool *out);
int req_string(struct request *r, const char *key, char **out);
int req_bytes(struct request *r, const char *key, struct buf *out);
int req_u64_list(struct request *r, const char *key, size_t max, struct buf *out);
int req_int_list(struct request *r, const char *key, int64_t min, int64_t max, size_t max_n, struct buf *out);
/* a span of a request line */
struct span {
	const char *p;
	size_t len;
};
int req_objects(struct request *r, const char *key, struct span *out, size_t max, size_t *n);

/* Response lines. */
void jw_begin(struct buf *b, const struct request *r);
void jw_hex(struct buf *b, const char *key, uint64_t v);
void jw_int(struct buf *b, const char *key, int64_t v);
void jw_str(struct buf *b, const char *key, const char *s);
void jw_bytes(struct buf *b, const char *key, const void *data, size_t n);
void jw_end(struct buf *b);
/* A call made for the harness, written down: {"req":{body},"rep":{the reply line's fields after its id}} */
void jw_step(struct buf *b, const struct buf *body, const struct buf *reply);
void jw_error(struct buf *b, const struct request *r, const char *msg);
void jw_errno(struct buf *b, const struct request *r);
/* jw_errno() but the line's end: an op's own fields may follow (a uffd ioctl's progress) */
void jw_failed(struct buf *b, const struct request *r);
const char *errno_name(int e, char *scratch, size_t len);
const char *signal_name(int sig, char *scratch, size_t len);

/* Line framing on a byte stream (lines.c). */
struct lines {
	struct buf b;
	size_t start; /* where the unread lines begin */
	size_t scanned; /* how far the search for a newline got */
	bool skipping; /* discarding the rest of a line over MAX_LINE */
};
enum line_kind { LINE_NONE, LINE_OK, LINE_TOO_LONG };

ssize_t lines_fill(struct lines *l, int fd);
ssize_t lines_recv(struct lines *l, int fd, int *fds, size_t max, size_t *nfds);
enum line_kind lines_next(struct lines *l, const char **line, size_t *len);
enum line_kind lines_rest(struct lines *l, const char **line, size_t *len);
void lines_release(struct lines *l);
int write_all(int fd, const void *p, size_t n);

/* The per-Proc child (proc.c, memory.c). */

/* the largest read or write of user memory, and of a file */
#define MAX_IO ((size_t)32 << 20)
/* the most addresses one increment takes: 64Ki "0x..." strings, at most 1.3 MiB of request */
#define MAX_ADDRS ((size_t)1 << 16)
/* How an op ended: the dispatcher builds the response from it (ASYNC: a worker answers). */
/* DONE: o holds the reply's fields; ANSWERED: o holds the whole reply line; ASYNC: answered elsewhere */
enum outcome { DONE, BAD, FAILED, ASYNC, ANSWERED };
/*
 * The process's own accesses to its memory: read, write, fill (memset), invert (p[b] = ~p[b] over a range), increment
 * (p[0]++ at each address), write_each (the same bytes at each address), check_each (a u64 checked, and stored back, at
 * each address), fill_each (a memset at each address, its byte each), check_fill (a byte loop checking each address's
 * bytes against its byte), a thread's atomic add;
 * and the calls that may wait as an access may wait in a fault: a read(2) of a userfaultfd or of another descriptor
 * (a pipe), poll(2), a fork() the kernel holds until its userfaultfd's FORK message is read, and an mmap(2),
 * munmap(2), mremap(2) or madvise(2) it holds until a REMAP, REMOVE or UNMAP message is read (SYSCALL).
 */
enum access { LOAD, STORE, FILL, INVERT, INCREMENT, STORE_EACH, CHECK_EACH, FILL_EACH, CHECK_FILL, ATOMIC_ADD, UFFD_READ, READ_FD, POLL, FORK, SYSCALL };
struct job;

bool proc_op_known(const char *name);
const char *proc_op_name(size_t i);
/* Serves requests from `port` when it is not -1 (a console of its own), else from the router's socket `sock`. */
/* serves a proc's requests; writes a byte to ready (then closes it) once it can */
void child_main(int sock, int port, int ready) __attribute__((noreturn));
void child_send(struct buf *b, bool has_id, int64_t id);
/* a reply a thread owes the serving loop's current read (its round), and the thread's reply to it */
unsigned child_owe(void);
void child_pay(struct buf *b, bool has_id, int64_t id, unsigned round);
int memory_start(void);
enum outcome memory_submit(struct request *r, enum access kind, struct buf *o);
enum outcome memory_call(struct request *r, enum access kind, struct buf *o);
enum outcome memory_fork(struct request *r, int sock, int peer);
/* syscall(nr, args...) on a worker, answered as `call` fails or with its "addr" (returns_addr) */
enum outcome memory_syscall(struct request *r, long nr, const uint64_t args[6], const char *call, bool returns_addr);
/* one of the agent's own descriptors, which behave as closed to the test */
bool agent_fd(int64_t fd);
/* An access parsed from its request (NULL for a bad one); run on the calling thread and freed; or freed unrun. */
struct job *memory_job(struct request *r, enum access kind);
/* Runs an access on the calling thread, waiting there where it waits: its whole reply line in o; frees it. */
void memory_run(struct job *j, struct buf *o);
void memory_drop(struct job *j);
/* A detached thread on a stack in the agent's own region (faulted in first if `prefaulted`): 0, or pthread_create()'s error. */
int agent_thread(void *(*fn)(void *), void *arg, bool prefaulted);
/* The process has a userfaultfd: from now on an access may block until its handler answers. */
void memory_may_block(void);
/* whether memory_may_block() has been called: a load or store then runs on a worker */
bool memory_blocks(void);
/* read(2) of one struct uffd_msg from fd: the whole reply line to (has_id, id) in o, the message or the errno */
void uffd_read_reply(int fd, bool has_id, int64_t id, struct buf *o);
/* read(2) of up to count bytes from fd: the whole reply line in o */
void read_fd_reply(int fd, size_t count, bool has_id, int64_t id, struct buf *o);
/* poll(2) of the n struct pollfd at fds: the whole reply line in o; poll()'s return */
int poll_reply(void *fds, size_t n, int timeout, bool has_id, int64_t id, struct buf *o);
/* fork() with the new process's end of its socket (sock) and the router's (peer): the parent's whole reply line in o */
void fork_reply(int sock, int peer, bool has_id, int64_t id, struct buf *o);
/* In a new child of fork(): the workers started afresh, the parent's queue and threads left behind. */
void memory_forked(void);
void thread_forked(void);
void uffd_serve_forked(void);

/* A request run on the calling thread, waiting there where it waits: its whole reply line in o (a uffd server's step). */
void proc_run_here(const char *line, size_t len, struct buf *o);
/*
 * A check_each's "on_signal" (on-signal.c): parsed from the request (*out NULL without one; -1 for a bad one); the
 * action for the k-th signal at an address; its calls for address i run here, written down as a list of steps in
 * `steps`: false where one did not go through whole.
 */
struct on_signal;
enum loop_next { LOOP_STOP, LOOP_SKIP, LOOP_CALLS };
int on_signal_parse(struct request *r, struct on_signal **out);
void on_signal_free(struct on_signal *h);
enum loop_next on_signal_action(const struct on_signal *h, size_t k);
bool on_signal_calls(const struct on_signal *h, size_t k, uint64_t i, struct buf *steps);
/* The uffd handler thread run in the agent (uffd-serve.c): uffd_serve starts it for `proc`, uffd_serve_steps takes what it did. */
enum outcome uffd_serve(struct request *r, int64_t proc);
enum outcome uffd_serve_steps(struct request *r);

/* The test's own threads (thread.c): pthread_create(), and the calls queued for one ("thread": its tid). */
enum outcome thread_create(struct request *r, struct buf *o);
enum outcome thread_atomic_add(struct request *r);
enum outcome thread_minflt(struct request *r);
enum outcome thread_madvise(struct request *r);

/* PID 1 in a guest (init.c). */
void init_system(void);
int open_console(const char *path);
void power_off(void) __attribute__((noreturn));

#endif
