/*
 * mmconform-agent: the router. It reads request lines from its input (stdin
 * or --console PATH), answers "hello" and "spawn" itself, and forwards every
 * other request to the Proc it names: a child process it forked, reached
 * over a socketpair (proc.c). Responses come back in whatever order the
 * children finish them; the router writes each to its output as a whole
 * line. A child that dies turns its pending and later requests into error
 * responses; the router keeps serving. See protocol.schema.json.
 *
 * A proc's fork() makes a child of the router too (clone(CLONE_PARENT)):
 * the proc sends its socket over with a line naming it, and the router
 * adopts it as a proc it spawned, reaping it likewise.
 *
 * With --proc-port PATH (repeatable), a new Proc gets a console of its own
 * while one is free: it reads its requests from that port and answers there,
 * and the router only watches it end. That saves the router hop, two
 * context switches a request. --proc-port-fd N is such a port already open
 * (a socket the harness made, on this machine).
 *
 * usage: mmconform-agent [--init] [--console PATH] [--proc-port PATH|--proc-port-fd N]...
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* how long requests still pending at the end of input get to finish */
#define DRAIN_MS 5000

struct pending {
	int64_t id;
	bool exit;
};

struct child {
	pid_t pid;
	int fd; /* -1 once it is gone */
	int status; /* its wait status, once gone */
	int port; /* the index of its own console, or -1: routed */
	struct lines in; /* its responses */
	struct buf out; /* requests not yet written to it */
	size_t out_off;
	struct pending *pending;
	size_t npending, cap;
	int passed[4]; /* sockets of its forks, come with their lines */
	size_t npassed;
};

static void child_gone(struct child *c, int err);

static struct child *children;
static size_t nchildren;
static int in_fd = STDIN_FILENO, out_fd = STDOUT_FILENO;
static bool init_mode;
static struct lines input;
static struct buf reply;

#define MAX_PORTS 16
static struct port {
	const char *path;
	int fd;
	pid_t owner; /* 0: free */
} ports[MAX_PORTS];
static size_t nports;

static void stop_children(void)
{
	for (size_t i = 0; i < nchildren; i++) {
		if (children[i].fd < 0)
			continue;
		kill(children[i].pid, SIGKILL);
		while (waitpid(children[i].pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
}

static void __attribute__((noreturn)) fatal(const char *what)
{
	fprintf(stderr, "mmconform-agent: %s: %s\n", what, strerror(errno));
	stop_children();
	if (init_mode)
		power_off();
	exit(1);
}

static void emit(const char *line, size_t len)
{
	if (write_all(out_fd, line, len))
		fatal("writing a response");
}

/* Sends the response built in reply ("out of memory" if it could not be built). */
static void send_reply(const struct request *r)
{
	if (reply.oom) {
		char small[96];
		int n = r && r->has_id ? snprintf(small, sizeof small, "{\"id\":%lld,\"error\":\"out of memory\"}\n", (long long)r->id)
				       : snprintf(small, sizeof small, "{\"id\":null,\"error\":\"out of memory\"}\n");
		emit(small, (size_t)n);
	} else {
		emit(reply.p, reply.len);
	}
	reply.len = 0;
	reply.oom = false;
}

static void answer_error(const struct request *r, const char *msg)
{
	jw_error(&reply, r, msg);
	send_reply(r);
}

static void answer_errno(struct request *r, const char *call)
{
	r->call = call;
	r->errnum = errno;
	jw_errno(&reply, r);
	send_reply(r);
}

static void describe_end(int status, char *out, size_t len)
{
	char scratch[16];
	if (WIFSIGNALED(status))
		snprintf(out, len, "was killed by %s", signal_name(WTERMSIG(status), scratch, sizeof scratch));
	else
		snprintf(out, len, "exited with status %d", WEXITSTATUS(status));
}

static void op_hello(struct request *r)
{
	struct utsname u;
	if (req_check_fields(r, "")) {
		answer_error(r, r->err);
		return;
	}
	if (uname(&u)) {
		answer_errno(r, "uname");
		return;
	}
	jw_begin(&reply, r);
	buf_puts(&reply, ",\"ok\":true");
	jw_int(&reply, "protocol", PROTOCOL_VERSION);
	jw_str(&reply, "release", u.release);
	jw_str(&reply, "machine", u.machine);
	jw_int(&reply, "page_size", sysconf(_SC_PAGESIZE));
	buf_puts(&reply, ",\"ops\":[\"hello\",\"spawn\"");
	for (size_t i = 0; proc_op_name(i); i++)
		buf_printf(&reply, ",\"%s\"", proc_op_name(i));
	buf_puts(&reply, "]");
	jw_end(&reply);
	send_reply(r);
}

/* Closes every descriptor above stderr but keep, keep2 and keep3 (-1: none): the router's, and any the agent inherited. */
static void close_fds_but(int keep, int keep2, int keep3)
{
	DIR *d = opendir("/proc/self/fd");
	int fds[256];
	size_t n = 0;
	bool more = d != NULL;
	while (more) {
		/* reading a directory while closing its entries' files is unspecified: collect, then close */
		struct dirent *e;
		n = 0;
		rewinddir(d);
		while (n < sizeof fds / sizeof *fds && (e = readdir(d))) {
			int fd = atoi(e->d_name);
			if (fd > STDERR_FILENO && fd != keep && fd != keep2 && fd != keep3 && fd != dirfd(d))
				fds[n++] = fd;
		}
		more = n == sizeof fds / sizeof *fds;
		for (size_t i = 0; i < n; i++)
			close(fds[i]);
	}
	if (d)
		closedir(d);
}

/* In a new child: drops the router's state, so the Proc starts as a fresh program would, with stdin, stdout and stderr. */
static void __attribute__((noreturn)) become_proc(int sock, int port, int ready)
{
	for (size_t i = 0; i < nchildren; i++) {
		lines_release(&children[i].in);
		buf_release(&children[i].out);
		free(children[i].pending);
	}
	free(children);
	lines_release(&input);
	buf_release(&reply);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0) {
		perror("mmconform-agent: a new proc's stdin and stdout");
		_exit(1); /* its requests are answered "proc N exited with status 1" */
	}
	close_fds_but(sock, port, ready);
	child_main(sock, port, ready);
}

static void op_spawn(struct request *r)
{
	int sv[2];
	if (req_check_fields(r, "")) {
		answer_error(r, r->err);
		return;
	}
	struct child *grown = realloc(children, (nchildren + 1) * sizeof *children);
	if (!grown) {
		answer_error(r, "out of memory");
		return;
	}
	children = grown;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		answer_errno(r, "socketpair");
		return;
	}
	struct port *port = NULL;
	for (size_t i = 0; i < nports && !port; i++)
		if (!ports[i].owner)
			port = &ports[i];
	/* the new proc says it serves (a byte) or dies trying (end of file): a spawn is ok only for one that serves */
	int ready[2];
	if (pipe2(ready, O_CLOEXEC)) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		errno = e;
		answer_errno(r, "pipe2");
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		close(ready[0]);
		close(ready[1]);
		errno = e;
		answer_errno(r, "fork");
		return;
	}
	if (pid == 0)
		become_proc(sv[1], port ? port->fd : -1, ready[1]);
	close(sv[1]);
	close(ready[1]);
	char byte;
	ssize_t got;
	while ((got = read(ready[0], &byte, 1)) < 0 && errno == EINTR)
		;
	close(ready[0]);
	if (got != 1) {
		int status = 0;
		char end[64], msg[128];
		close(sv[0]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		describe_end(status, end, sizeof end);
		snprintf(msg, sizeof msg, "the new proc %d %s before it could serve", pid, end);
		answer_error(r, msg);
		return;
	}
	children[nchildren++] = (struct child){ .pid = pid, .fd = sv[0], .port = port ? (int)(port - ports) : -1 };
	if (port)
		port->owner = pid;
	/* the router never blocks on one child: what it cannot take now waits for POLLOUT */
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK)) {
		int err = errno;
		answer_errno(r, "fcntl");
		child_gone(&children[nchildren - 1], err);
		return;
	}
	jw_begin(&reply, r);
	buf_puts(&reply, ",\"ok\":true");
	jw_int(&reply, "proc", pid);
	if (port)
		jw_int(&reply, "port", port - ports);
	jw_end(&reply);
	send_reply(r);
}

/* The live child with this pid, or else the last one that had it. */
static struct child *find_child(int64_t pid)
{
	struct child *found = NULL;
	for (size_t i = 0; i < nchildren; i++)
		if (children[i].pid == pid && (!found || children[i].fd >= 0))
			found = &children[i];
	return found;
}

/* Writes what the child can take now; the rest waits for POLLOUT. A child that stopped reading is dying: its EOF follows. */
static void flush_child(struct child *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = write(c->fd, c->out.p + c->out_off, c->out.len - c->out_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		c->out_off += (size_t)n;
	}
	c->out.len = c->out_off = 0;
}

static void route(struct request *r, const char *line, size_t len, bool is_exit)
{
	int64_t pid;
	char end[64], msg[96];
	if (req_int(r, "proc", 1, INT_MAX, &pid)) {
		answer_error(r, r->err);
		return;
	}
	struct child *c = find_child(pid);
	if (!c) {
		snprintf(msg, sizeof msg, "no proc %lld", (long long)pid);
		answer_error(r, msg);
		return;
	}
	if (c->fd < 0) {
		describe_end(c->status, end, sizeof end);
		snprintf(msg, sizeof msg, "proc %lld %s", (long long)pid, end);
		answer_error(r, msg);
		return;
	}
	if (c->port >= 0) {
		snprintf(msg, sizeof msg, "proc %lld is served on port %d", (long long)pid, c->port);
		answer_error(r, msg);
		return;
	}
	if (c->npending == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 8;
		struct pending *p = realloc(c->pending, cap * sizeof *p);
		if (!p) {
			answer_error(r, "out of memory");
			return;
		}
		c->pending = p;
		c->cap = cap;
	}
	buf_append(&c->out, line, len);
	buf_append(&c->out, "\n", 1);
	if (c->out.oom) {
		c->out.len = c->out_off;
		c->out.oom = false;
		answer_error(r, "out of memory");
		return;
	}
	c->pending[c->npending++] = (struct pending){ r->id, is_exit };
	flush_child(c);
}

static void unknown_op(struct request *r, const struct jfield *op)
{
	char msg[80];
	snprintf(msg, sizeof msg, "unknown op \"%.*s\"", op->rawlen > 40 ? 40 : (int)op->rawlen, op->raw);
	answer_error(r, msg);
}

static void handle_request(const char *line, size_t len)
{
	struct request r;
	char name[32] = "";
	if (req_parse(&r, line, len)) {
		answer_error(&r, r.err);
		return;
	}
	const struct jfield *op = req_field(&r, "op");
	if (!op)
		answer_error(&r, "missing field \"op\"");
	else if (op->type != J_STRING)
		answer_error(&r, "field \"op\": expected a string");
	else if (req_is(op, "hello"))
		op_hello(&r);
	else if (req_is(op, "spawn"))
		op_spawn(&r);
	else if (!op->escaped && op->rawlen < sizeof name && (memcpy(name, op->raw, op->rawlen), proc_op_known(name)))
		route(&r, line, len, !strcmp(name, "exit"));
	else
		unknown_op(&r, op);
	req_done(&r);
}

/* The id a child's response starts with: the children write it first. */
static bool response_id(const char *line, size_t len, int64_t *id)
{
	static const char prefix[] = "{\"id\":";
	size_t i = sizeof prefix - 1;
	if (len <= i || memcmp(line, prefix, i) || line[i] < '0' || line[i] > '9')
		return false;
	for (*id = 0; i < len && line[i] >= '0' && line[i] <= '9' && *id <= (INT64_MAX - 9) / 10; i++)
		*id = *id * 10 + (line[i] - '0');
	return true;
}

static void settle(struct child *c, int64_t id)
{
	for (size_t i = 0; i < c->npending; i++) {
		if (c->pending[i].id == id) {
			c->pending[i] = c->pending[--c->npending];
			return;
		}
	}
}

/*
 * Reaps a child whose socket closed (it only closes by exiting: the kill
 * changes no status already decided) or failed (err: the router ends the
 * child, and says so), and answers what it left pending.
 */
static void child_gone(struct child *c, int err)
{
	char end[64], msg[160];
	close(c->fd);
	c->fd = -1;
	kill(c->pid, SIGKILL);
	while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR)
		;
	describe_end(c->status, end, sizeof end);
	if (err)
		snprintf(msg, sizeof msg, "proc %d %s after its socket to the agent failed: %s", c->pid, end, strerror(err));
	else
		snprintf(msg, sizeof msg, "proc %d %s", c->pid, end);
	if (c->port >= 0) {
		/* an exit op answered for itself; any other end leaves requests there unanswered: say why, once */
		if (!WIFEXITED(c->status) || WEXITSTATUS(c->status)) {
			struct buf b = { 0 };
			jw_error(&b, NULL, msg);
			if (!b.oom)
				write_all(ports[c->port].fd, b.p, b.len);
			buf_release(&b);
		}
		ports[c->port].owner = 0;
	}
	for (size_t i = 0; i < c->npending; i++) {
		struct request r = { .has_id = true, .id = c->pending[i].id };
		if (c->pending[i].exit && WIFEXITED(c->status)) {
			jw_begin(&reply, &r);
			buf_puts(&reply, ",\"ok\":true");
			jw_end(&reply);
			send_reply(&r);
		} else {
			answer_error(&r, msg);
		}
	}
	free(c->pending);
	c->pending = NULL;
	c->npending = c->cap = 0;
	while (c->npassed)
		close(c->passed[--c->npassed]);
	lines_release(&c->in);
	buf_release(&c->out);
	c->out_off = 0;
}

/* The pid of a proc's {"forked":PID} line; 0 for any other line. */
static pid_t forked_pid(const char *line, size_t len)
{
	static const char prefix[] = "{\"forked\":";
	size_t i = sizeof prefix - 1;
	int64_t pid = 0;
	if (len <= i || memcmp(line, prefix, i))
		return 0;
	for (; i < len && line[i] >= '0' && line[i] <= '9' && pid <= INT_MAX / 10; i++)
		pid = pid * 10 + (line[i] - '0');
	return i == len - 1 && line[i] == '}' && pid <= INT_MAX ? (pid_t)pid : 0;
}

/*
 * children[i] forked: the child, the router's own (CLONE_PARENT), is served
 * from now on over the socket that came with the line. A proc on a port of
 * its own answers the fork there, once the router says (a byte) it has the
 * child: until then the client could not name it.
 */
static void adopt(size_t i, pid_t pid)
{
	struct child *c = &children[i];
	pid_t parent = c->pid;
	int fd = c->npassed ? c->passed[0] : -1;
	if (c->npassed)
		memmove(c->passed, c->passed + 1, --c->npassed * sizeof *c->passed);
	struct child *grown = fd >= 0 ? realloc(children, (nchildren + 1) * sizeof *children) : NULL;
	if (!grown || fcntl(fd, F_SETFL, O_NONBLOCK)) {
		fprintf(stderr, "mmconform-agent: proc %d forked %d, which cannot be served: %s\n", parent, pid,
			fd < 0 ? "no socket came with it" : strerror(errno));
		if (grown)
			children = grown;
		if (fd >= 0)
			close(fd);
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	} else {
		children = grown;
		children[nchildren++] = (struct child){ .pid = pid, .fd = fd, .port = -1 };
	}
	c = &children[i];
	if (c->port >= 0 && write(c->fd, "", 1) != 1)
		fprintf(stderr, "mmconform-agent: proc %d: telling it of its fork: %s\n", c->pid, strerror(errno));
}

/* Reads what children[i] wrote; adopting a fork may move the array. */
static void read_child(size_t i)
{
	const char *line;
	size_t len;
	enum line_kind k;
	struct child *c = &children[i];
	ssize_t n = lines_recv(&c->in, c->fd, c->passed, sizeof c->passed / sizeof *c->passed, &c->npassed);
	/* ECONNRESET: the child closed its end with our requests unread, as it does when it dies */
	int err = n < 0 && errno != ECONNRESET ? errno : 0;
	if (err == EAGAIN)
		return;
	while ((k = lines_next(&children[i].in, &line, &len)) != LINE_NONE) {
		int64_t id;
		pid_t pid;
		if (k != LINE_OK)
			continue;
		if ((pid = forked_pid(line, len))) {
			adopt(i, pid);
			continue;
		}
		if (response_id(line, len, &id))
			settle(&children[i], id);
		emit(line, len);
		emit("\n", 1);
	}
	if (n <= 0)
		child_gone(&children[i], err);
}

/* Every line gets an answer, a blank one too: a client waiting on it must not wait for ever. */
static void take_line(enum line_kind k, const char *line, size_t len)
{
	if (k == LINE_TOO_LONG)
		answer_error(NULL, "request line over 64 MiB");
	else if (strspn(line, " \t") == len)
		answer_error(NULL, "empty request line");
	else
		handle_request(line, len);
}

static void read_input(bool *eof)
{
	const char *line;
	size_t len;
	enum line_kind k;
	if (lines_fill(&input, in_fd) <= 0)
		*eof = true;
	while ((k = lines_next(&input, &line, &len)) != LINE_NONE)
		take_line(k, line, len);
	/* the last request may end with the input rather than a newline */
	if (*eof && (k = lines_rest(&input, &line, &len)) != LINE_NONE)
		take_line(k, line, len);
}

static bool any_pending(void)
{
	for (size_t i = 0; i < nchildren; i++)
		if (children[i].npending)
			return true;
	return false;
}

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * Serves until the input ends and every request has its answer, or DRAIN_MS
 * more have passed: a store blocked for good must not keep an agent nobody
 * talks to alive.
 */
static void serve(void)
{
	struct pollfd *fds = NULL;
	size_t *which = NULL;
	bool eof = false;
	int64_t deadline = 0;
	while (!eof || (any_pending() && now_ms() < deadline)) {
		size_t n = 0;
		struct pollfd *f = realloc(fds, (nchildren + 1) * sizeof *fds);
		size_t *w = realloc(which, (nchildren + 1) * sizeof *which);
		if (f)
			fds = f;
		if (w)
			which = w;
		if (!f || !w)
			fatal("polling");
		for (size_t i = 0; i < nchildren; i++) {
			struct child *c = &children[i];
			if (c->fd < 0)
				continue;
			which[n] = i;
			fds[n++] = (struct pollfd){ c->fd, (short)(POLLIN | (c->out.len > c->out_off ? POLLOUT : 0)), 0 };
		}
		if (!eof)
			fds[n++] = (struct pollfd){ in_fd, POLLIN, 0 };
		int64_t left = deadline - now_ms();
		if (poll(fds, n, !eof ? -1 : left > 0 ? (int)left : 0) < 0) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		/* children first: handling input may add children and move the array */
		for (size_t i = 0; i < n - !eof; i++) {
			if (fds[i].revents & POLLOUT)
				flush_child(&children[which[i]]);
			if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
				read_child(which[i]);
		}
		if (!eof && fds[n - 1].revents) {
			read_input(&eof);
			deadline = now_ms() + DRAIN_MS;
		}
	}
	free(fds);
	free(which);
}

/* --proc-port-fd's argument: an open descriptor above stderr, else -1 */
static int fd_arg(const char *arg)
{
	char *end;
	long fd = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || fd <= STDERR_FILENO || fd > INT_MAX || fcntl((int)fd, F_GETFD) < 0)
		return -1;
	return (int)fd;
}

static void usage(void)
{
	fputs("usage: mmconform-agent [--init] [--console PATH] [--proc-port PATH|--proc-port-fd N]...\n"
	      "  serves mmconform's Target API as JSON lines (harness/agent/protocol.schema.json)\n"
	      "  --init     run as PID 1 of a guest: mount /proc, /sys, /dev, apply mmconform.KEY=VALUE\n"
	      "             kernel parameters, print \"mmconform-agent ready\", power off at the end\n"
	      "  --console  read requests from and write responses to this device (default stdin/stdout)\n"
	      "  --proc-port  a console a new proc may have to itself (its spawn reply names it by index)\n"
	      "  --proc-port-fd  the same, already open as descriptor N\n",
	      stderr);
}

int main(int argc, char **argv)
{
	const char *console = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--init")) {
			init_mode = true;
		} else if (!strcmp(argv[i], "--console") && i + 1 < argc) {
			console = argv[++i];
		} else if (!strcmp(argv[i], "--proc-port") && i + 1 < argc && nports < MAX_PORTS) {
			ports[nports++].path = argv[++i];
		} else if (!strcmp(argv[i], "--proc-port-fd") && i + 1 < argc && nports < MAX_PORTS && fd_arg(argv[i + 1]) >= 0) {
			ports[nports++].fd = fd_arg(argv[++i]);
		} else {
			usage();
			return 2;
		}
	}
	if (init_mode && getpid() != 1) {
		fputs("mmconform-agent: --init is for PID 1 of a guest (it powers the machine off at the end)\n", stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (init_mode)
		init_system();
	if (console) {
		in_fd = out_fd = open_console(console);
		if (in_fd < 0)
			fatal(console);
	}
	for (size_t i = 0; i < nports; i++)
		if (ports[i].path && (ports[i].fd = open_console(ports[i].path)) < 0)
			fatal(ports[i].path);
	if (init_mode) {
		static const char ready[] = "mmconform-agent ready\n";
		emit(ready, sizeof ready - 1);
	}
	serve();
	stop_children();
	if (init_mode)
		power_off();
	return 0;
}
