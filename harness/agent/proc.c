/*
 * A Proc: a child of the router with its own address space. It reads
 * requests from its socket and answers each on the same socket: system
 * calls in order on this thread, loads and stores of user memory on worker
 * threads (memory.c) so a store that blocks in a fault leaves the process
 * serving, and the calls of the test's own threads on those (thread.c).
 * A Proc's fork() makes another child of the router (CLONE_PARENT), which
 * the router adopts and serves as it serves those it spawned.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "../../kmod/mmconform_pgwalk.h"

/* uapi newer than the build machine's headers (include/uapi/linux/fs.h, v6.7) */
#ifndef PAGEMAP_SCAN
struct page_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};

struct pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

/* uapi newer than the build machine's headers (include/uapi/linux/userfaultfd.h: UFFDIO_POISON v6.6, UFFDIO_MOVE v6.8) */
#ifndef UFFDIO_POISON
struct uffdio_poison {
	struct uffdio_range range;
	uint64_t mode;
	int64_t updated;
};

#define UFFDIO_POISON _IOWR(UFFDIO, 0x08, struct uffdio_poison)
#endif

#ifndef UFFDIO_MOVE
struct uffdio_move {
	uint64_t dst;
	uint64_t src;
	uint64_t len;
	uint64_t mode;
	int64_t move;
};

#define UFFDIO_MOVE _IOWR(UFFDIO, 0x05, struct uffdio_move)
#endif

#define MAX_PAGEMAP_PAGES ((int64_t)1 << 22)
#define MAX_VEC_LEN ((int64_t)1 << 20)
/* the vec the badVec probe passes: never mapped (~0UL, as vm_util does) */
#define BAD_VEC (~(uint64_t)0)

typedef enum outcome op_fn(struct request *r, struct buf *o);

static int sock = -1; /* requests in, responses out */
static int lifeline = -1; /* with a port of its own: the router's socket, held only so the router sees this process end */
static int pagemap_fd = -1, pagemap_errno;
/*
 * vm_util's clear_softdirty() writes clear_refs thousands of times a run:
 * held open like pagemap. Opening a /proc file touches no page table, so
 * the kernel's mm sees the same writes; each saves a path walk (under TCG,
 * 0.9 -> 0.8 ms a call).
 */
static int clear_refs_fd = -1;
static char clear_refs_path[32]; /* "/proc/PID/clear_refs" */
static pthread_mutex_t send_lock = PTHREAD_MUTEX_INITIALIZER;
/* the serving loop's read (gather_round) and the threads' replies owed to it (child_gather()) */
static unsigned gather_round;
static size_t owed;
static pthread_cond_t paid = PTHREAD_COND_INITIALIZER;
static pid_t router; /* the parent, which a forked child has too */

/*
 * The sockets of forks under way, both ends, until the router has one and
 * the child the other: the agent's (a test cannot close them), and closed
 * in any other fork's child, which must hold no end but its own.
 */
#define MAX_FORKS 4
static int forking[2 * MAX_FORKS];
static size_t nforking;
static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;
/* one handover at a time: on a port, each fork waits for the router's word on its own */
static pthread_mutex_t handover_lock = PTHREAD_MUTEX_INITIALIZER;
/* a userfaultfd asked for UFFD_FEATURE_EVENT_FORK: the kernel may hold a fork until its message is read */
static bool fork_events;
/* one asked for REMAP, REMOVE or UNMAP: mmap, munmap, mremap and madvise run on workers (memory_syscall()) */
static bool mm_events;


static struct buf queued;
static void write_queued(void);

static enum outcome failed(struct request *r, const char *call)
{
	r->call = call;
	r->errnum = errno;
	return FAILED;
}

static enum outcome failed_with(struct request *r, const char *call, int e)
{
	errno = e;
	return failed(r, call);
}

/* The agent's own descriptors are not the test's to use: they behave as closed. */
bool agent_fd(int64_t fd)
{
	if (fd < 0)
		return false;
	if (fd == sock || fd == lifeline || fd == pagemap_fd || fd == clear_refs_fd)
		return true;
	bool ours = false;
	pthread_mutex_lock(&fork_lock);
	for (size_t i = 0; i < nforking && !ours; i++)
		ours = forking[i] == fd;
	pthread_mutex_unlock(&fork_lock);
	return ours;
}

#define INT_FIELD(r, key, out) req_int(r, key, INT_MIN, INT_MAX, out)

static void child_flush(void);

/* Routed, the router answers once it has reaped this process; on a port of its own, nobody else can. */
static enum outcome op_exit(struct request *r, struct buf *o)
{
	if (lifeline >= 0) {
		jw_end(o);
		child_send(o, r->has_id, r->id);
	}
	child_flush();
	_exit(0);
}

static enum outcome op_mmap(struct request *r, struct buf *o)
{
	uint64_t addr, len, offset;
	int64_t prot, flags, fd;
	if (req_u64(r, "addr", &addr) || req_u64(r, "len", &len) || INT_FIELD(r, "prot", &prot) ||
	    INT_FIELD(r, "flags", &flags) || INT_FIELD(r, "fd", &fd) || req_u64(r, "offset", &offset))
		return BAD;
	if (!(flags & MAP_ANONYMOUS) && agent_fd(fd))
		return failed_with(r, "mmap", EBADF);
	if (mm_events)
		return memory_syscall(r, SYS_mmap, (uint64_t[6]){ addr, len, (uint64_t)prot, (uint64_t)flags, (uint64_t)fd, offset }, "mmap", true);
	void *p = mmap((void *)(uintptr_t)addr, len, (int)prot, (int)flags, (int)fd, (off_t)offset);
	if (p == MAP_FAILED)
		return failed(r, "mmap");
	jw_hex(o, "addr", (uintptr_t)p);
	return DONE;
}

static enum outcome op_munmap(struct request *r, struct buf *o)
{
	uint64_t addr, len;
	(void)o;
	if (req_u64(r, "addr", &addr) || req_u64(r, "len", &len))
		return BAD;
	if (mm_events)
		return memory_syscall(r, SYS_munmap, (uint64_t[6]){ addr, len }, "munmap", false);
	return munmap((void *)(uintptr_t)addr, len) ? failed(r, "munmap") : DONE;
}

static enum outcome op_mprotect(struct request *r, struct buf *o)
{
	uint64_t addr, len;
	int64_t prot;
	(void)o;
	if (req_u64(r, "addr", &addr) || req_u64(r, "len", &len) || INT_FIELD(r, "prot", &prot))
		return BAD;
	return mprotect((void *)(uintptr_t)addr, len, (int)prot) ? failed(r, "mprotect") : DONE;
}

static enum outcome op_mremap(struct request *r, struct buf *o)
{
	uint64_t old_addr, old_len, new_len, new_addr = 0; /* read by the kernel only with MREMAP_FIXED or MREMAP_DONTUNMAP */
	int64_t flags;
	if (req_u64(r, "old_addr", &old_addr) || req_u64(r, "old_len", &old_len) || req_u64(r, "new_len", &new_len) ||
	    INT_FIELD(r, "flags", &flags) || req_u64_opt(r, "new_addr", &new_addr))
		return BAD;
	if (mm_events)
		return memory_syscall(r, SYS_mremap, (uint64_t[6]){ old_addr, old_len, new_len, (uint64_t)flags, new_addr }, "mremap", true);
	void *p = mremap((void *)(uintptr_t)old_addr, old_len, new_len, (int)flags, (void *)(uintptr_t)new_addr);
	if (p == MAP_FAILED)
		return failed(r, "mremap");
	jw_hex(o, "addr", (uintptr_t)p);
	return DONE;
}

static enum outcome op_madvise(struct request *r, struct buf *o)
{
	uint64_t addr, len;
	int64_t advice;
	(void)o;
	if (req_u64(r, "addr", &addr) || req_u64(r, "len", &len) || INT_FIELD(r, "advice", &advice))
		return BAD;
	if (mm_events)
		return memory_syscall(r, SYS_madvise, (uint64_t[6]){ addr, len, (uint64_t)advice }, "madvise", false);
	return madvise((void *)(uintptr_t)addr, len, (int)advice) ? failed(r, "madvise") : DONE;
}

static enum outcome op_open(struct request *r, struct buf *o)
{
	char *path;
	int64_t flags, mode = 0;
	if (req_string(r, "path", &path) || INT_FIELD(r, "flags", &flags) || req_int_opt(r, "mode", 0, 07777, &mode))
		return BAD;
	int fd = open(path, (int)flags, (mode_t)mode);
	if (fd < 0)
		return failed(r, "open");
	if (!strcmp(path, "/dev/userfaultfd"))
		memory_may_block();
	jw_int(o, "fd", fd);
	return DONE;
}

static enum outcome op_close(struct request *r, struct buf *o)
{
	int64_t fd;
	(void)o;
	if (INT_FIELD(r, "fd", &fd))
		return BAD;
	if (agent_fd(fd))
		return failed_with(r, "close", EBADF);
	return close((int)fd) ? failed(r, "close") : DONE;
}

static enum outcome op_unlink(struct request *r, struct buf *o)
{
	char *path;
	(void)o;
	if (req_string(r, "path", &path))
		return BAD;
	return unlink(path) ? failed(r, "unlink") : DONE;
}

/* swapoff(2) of a swap device or file: every page on it read back first */
static enum outcome op_swapoff(struct request *r, struct buf *o)
{
	char *path;
	(void)o;
	if (req_string(r, "path", &path))
		return BAD;
	return swapoff(path) ? failed(r, "swapoff") : DONE;
}

static enum outcome op_swapon(struct request *r, struct buf *o)
{
	char *path;
	int64_t flags;
	(void)o;
	if (req_string(r, "path", &path) || INT_FIELD(r, "flags", &flags))
		return BAD;
	return swapon(path, (int)flags) ? failed(r, "swapon") : DONE;
}

static enum outcome op_ftruncate(struct request *r, struct buf *o)
{
	int64_t fd;
	uint64_t len;
	(void)o;
	if (INT_FIELD(r, "fd", &fd) || req_u64(r, "len", &len))
		return BAD;
	if (agent_fd(fd))
		return failed_with(r, "ftruncate", EBADF);
	return ftruncate((int)fd, (off_t)len) ? failed(r, "ftruncate") : DONE;
}

static enum outcome op_memfd_create(struct request *r, struct buf *o)
{
	char *name;
	int64_t flags;
	if (req_string(r, "name", &name) || req_int(r, "flags", 0, UINT_MAX, &flags))
		return BAD;
	int fd = memfd_create(name, (unsigned)flags);
	if (fd < 0)
		return failed(r, "memfd_create");
	jw_int(o, "fd", fd);
	return DONE;
}

/* One write(2) of the bytes at the descriptor's file position. */
static enum outcome op_write_fd(struct request *r, struct buf *o)
{
	int64_t fd;
	struct buf data = { 0 };
	if (INT_FIELD(r, "fd", &fd) || req_bytes(r, "data", &data)) {
		buf_release(&data);
		return BAD;
	}
	if (agent_fd(fd)) {
		buf_release(&data);
		return failed_with(r, "write", EBADF);
	}
	ssize_t n = write((int)fd, data.p, data.len);
	int e = errno;
	buf_release(&data);
	if (n < 0)
		return failed_with(r, "write", e);
	jw_int(o, "written", n);
	return DONE;
}

static enum outcome op_stat(struct request *r, struct buf *o)
{
	char *path;
	struct stat st;
	if (req_string(r, "path", &path))
		return BAD;
	if (stat(path, &st))
		return failed(r, "stat");
	jw_hex(o, "size", (uint64_t)st.st_size);
	return DONE;
}

static const char *dirent_type(unsigned char d_type)
{
	switch (d_type) {
	case DT_DIR:
		return "dir";
	case DT_REG:
		return "file";
	case DT_LNK:
		return "symlink";
	default:
		return "other";
	}
}

/* opendir() and readdir() to the end: every entry but . and .., in readdir's order, names as bytes. */
static enum outcome op_list_dir(struct request *r, struct buf *o)
{
	char *path;
	if (req_string(r, "path", &path))
		return BAD;
	DIR *d = opendir(path);
	if (!d)
		return failed(r, "opendir");
	buf_puts(o, ",\"entries\":[");
	bool first = true;
	for (;;) {
		errno = 0;
		const struct dirent *e = readdir(d);
		if (!e)
			break;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		buf_printf(o, "%s{\"type\":\"%s\"", first ? "" : ",", dirent_type(e->d_type));
		jw_bytes(o, "name", e->d_name, strlen(e->d_name));
		buf_puts(o, "}");
		first = false;
	}
	int err = errno;
	closedir(d);
	if (err)
		return failed_with(r, "readdir", err);
	buf_puts(o, "]");
	return DONE;
}

static enum outcome op_shmget(struct request *r, struct buf *o)
{
	int64_t key, flags;
	uint64_t size;
	if (INT_FIELD(r, "key", &key) || req_u64(r, "size", &size) || INT_FIELD(r, "shmflg", &flags))
		return BAD;
	int id = shmget((key_t)key, size, (int)flags);
	if (id < 0)
		return failed(r, "shmget");
	jw_int(o, "shmid", id);
	return DONE;
}

static enum outcome op_shmat(struct request *r, struct buf *o)
{
	int64_t id, flags;
	uint64_t addr;
	if (INT_FIELD(r, "shmid", &id) || req_u64(r, "addr", &addr) || INT_FIELD(r, "shmflg", &flags))
		return BAD;
	void *p = shmat((int)id, (void *)(uintptr_t)addr, (int)flags);
	if (p == (void *)-1)
		return failed(r, "shmat");
	jw_hex(o, "addr", (uintptr_t)p);
	return DONE;
}

static enum outcome op_shmdt(struct request *r, struct buf *o)
{
	uint64_t addr;
	(void)o;
	if (req_u64(r, "addr", &addr))
		return BAD;
	return shmdt((void *)(uintptr_t)addr) ? failed(r, "shmdt") : DONE;
}

/* shmctl(2) with IPC_RMID, the one command that takes no buffer: any other is a bad request. */
static enum outcome op_shmctl(struct request *r, struct buf *o)
{
	int64_t id, cmd;
	(void)o;
	if (INT_FIELD(r, "shmid", &id) || INT_FIELD(r, "cmd", &cmd))
		return BAD;
	if (cmd != IPC_RMID) {
		req_bad(r, "field \"cmd\": %lld is not IPC_RMID (%d), the one command served", (long long)cmd, IPC_RMID);
		return BAD;
	}
	return shmctl((int)id, IPC_RMID, NULL) ? failed(r, "shmctl") : DONE;
}

static enum outcome op_pipe2(struct request *r, struct buf *o)
{
	int64_t flags;
	int fds[2];
	if (INT_FIELD(r, "flags", &flags))
		return BAD;
	if (pipe2(fds, (int)flags))
		return failed(r, "pipe2");
	buf_printf(o, ",\"fds\":[%d,%d]", fds[0], fds[1]);
	return DONE;
}

/* read(2) of a descriptor: at once where it would not wait (a file, a pipe with bytes or O_NONBLOCK), else on a worker */
static enum outcome op_read_fd(struct request *r, struct buf *o)
{
	return memory_call(r, READ_FD, o);
}

void read_fd_reply(int fd, size_t count, bool has_id, int64_t id, struct buf *o)
{
	struct request r = { .has_id = has_id, .id = id, .call = "read" };
	struct buf data = { 0 };
	ssize_t n = -1;
	o->len = 0;
	o->oom = false;
	if (buf_reserve(&data, count + 1))
		errno = ENOMEM;
	else
		n = read(fd, data.p, count);
	r.errnum = errno;
	if (n < 0) {
		jw_errno(o, &r);
	} else {
		jw_begin(o, &r);
		buf_puts(o, ",\"ok\":true");
		jw_bytes(o, "data", data.p, (size_t)n);
		jw_end(o);
	}
	buf_release(&data);
}

/* poll(2): at once where a descriptor is ready or the timeout is 0, else on a worker */
static enum outcome op_poll(struct request *r, struct buf *o)
{
	return memory_call(r, POLL, o);
}

int poll_reply(void *fds, size_t n, int timeout, bool has_id, int64_t id, struct buf *o)
{
	struct request r = { .has_id = has_id, .id = id, .call = "poll" };
	const struct pollfd *p = fds;
	int rc = poll(fds, n, timeout);
	r.errnum = errno;
	o->len = 0;
	o->oom = false;
	if (rc < 0) {
		jw_errno(o, &r);
		return rc;
	}
	jw_begin(o, &r);
	buf_puts(o, ",\"ok\":true,\"revents\":[");
	for (size_t i = 0; i < n; i++) {
		buf_puts(o, i ? "," : "");
		buf_dec(o, (uint16_t)p[i].revents);
	}
	buf_puts(o, "]");
	jw_end(o);
	return rc;
}

/* fcntl(2) with a command whose argument is an int (or none): any other would read or write through a pointer */
static enum outcome op_fcntl(struct request *r, struct buf *o)
{
	static const int served[] = { F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_GETPIPE_SZ, F_SETPIPE_SZ, F_ADD_SEALS, F_GET_SEALS };
	int64_t fd, cmd, arg;
	bool known = false;
	if (INT_FIELD(r, "fd", &fd) || INT_FIELD(r, "cmd", &cmd) || INT_FIELD(r, "arg", &arg))
		return BAD;
	for (size_t i = 0; i < sizeof served / sizeof *served; i++)
		known |= served[i] == cmd;
	if (!known) {
		req_bad(r, "field \"cmd\": %lld is not a command whose argument is an int", (long long)cmd);
		return BAD;
	}
	if (agent_fd(fd))
		return failed_with(r, "fcntl", EBADF);
	int rc = fcntl((int)fd, (int)cmd, (int)arg);
	if (rc < 0)
		return failed(r, "fcntl");
	jw_int(o, "ret", rc);
	return DONE;
}

static enum outcome op_fallocate(struct request *r, struct buf *o)
{
	int64_t fd, mode;
	uint64_t offset, len;
	(void)o;
	if (INT_FIELD(r, "fd", &fd) || INT_FIELD(r, "mode", &mode) || req_u64(r, "offset", &offset) || req_u64(r, "len", &len))
		return BAD;
	if (agent_fd(fd))
		return failed_with(r, "fallocate", EBADF);
	return fallocate((int)fd, (int)mode, (off_t)offset, (off_t)len) ? failed(r, "fallocate") : DONE;
}

static int move_high(int fd);

/* A fork's socket leaves the agent's hands: the router's end once sent, the child's once the child has it. */
static void fork_done_with(int fd)
{
	pthread_mutex_lock(&fork_lock);
	for (size_t i = 0; i < nforking; i++) {
		if (forking[i] == fd) {
			forking[i] = forking[--nforking];
			break;
		}
	}
	pthread_mutex_unlock(&fork_lock);
	close(fd);
}

/*
 * fork(). The child's socket to the router is made here, on the serving
 * thread, so it never takes a descriptor number the test's next call
 * expects. Where no userfaultfd asked for FORK events the fork cannot wait:
 * it runs here, in order with the calls around it. Else it runs on a
 * worker, and the process serves on while the kernel holds it (the read
 * of its FORK message among what it serves).
 */
static enum outcome op_fork(struct request *r, struct buf *o)
{
	int sv[2];
	pthread_mutex_lock(&fork_lock);
	if (nforking == 2 * MAX_FORKS) {
		pthread_mutex_unlock(&fork_lock);
		return failed_with(r, "fork", EAGAIN);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		pthread_mutex_unlock(&fork_lock);
		return failed(r, "socketpair");
	}
	forking[nforking++] = sv[0] = move_high(sv[0]);
	forking[nforking++] = sv[1] = move_high(sv[1]);
	pthread_mutex_unlock(&fork_lock);
	if (!fork_events) {
		fork_reply(sv[1], sv[0], r->has_id, r->id, o);
		return ANSWERED;
	}
	enum outcome how = memory_fork(r, sv[1], sv[0]);
	if (how != ASYNC) {
		fork_done_with(sv[0]);
		fork_done_with(sv[1]);
	}
	return how;
}

/*
 * Gives the router the child's socket (SCM_RIGHTS) on a line that names the
 * child, {"forked":PID}: the router adopts it as a proc. Routed, the fork's
 * reply follows on the same socket, so the router has adopted the child
 * before the client can name it; on a port, the reply goes elsewhere: it
 * waits for the router's word (a byte on the lifeline). 0, or -1 (errno).
 */
static int hand_over(pid_t child, int peer)
{
	char line[32];
	union {
		struct cmsghdr align;
		char room[CMSG_SPACE(sizeof(int))];
	} control = { 0 };
	int n = snprintf(line, sizeof line, "{\"forked\":%d}\n", (int)child);
	struct iovec iov = { line, (size_t)n };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.room, .msg_controllen = sizeof control.room };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &peer, sizeof peer);
	ssize_t sent;
	int rc = 0;
	pthread_mutex_lock(&handover_lock);
	pthread_mutex_lock(&send_lock);
	write_queued(); /* routed: the replies queued before it go first, whole */
	while ((sent = sendmsg(lifeline >= 0 ? lifeline : sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	pthread_mutex_unlock(&send_lock);
	if (sent != n) {
		rc = -1;
		if (sent >= 0)
			errno = EPIPE; /* a line cut short: the router is going */
	} else if (lifeline >= 0) {
		char word;
		ssize_t got;
		while ((got = read(lifeline, &word, 1)) < 0 && errno == EINTR)
			;
		if (got != 1) {
			rc = -1;
			if (got == 0)
				errno = EPIPE;
		}
	}
	pthread_mutex_unlock(&handover_lock);
	return rc;
}

static void serve_requests(void) __attribute__((noreturn));
static void open_own_files(void);

/*
 * The new process, on the thread that forked: a proc of its own, serving
 * its socket. It keeps the parent's memory, the test's descriptors and the
 * parent's record of them (aligned_alloc's blocks, whether a userfaultfd
 * makes accesses block); not the parent's sockets, threads or workers, nor
 * the locks some other thread held at the fork.
 */
static void __attribute__((noreturn)) forked(int fd)
{
	/* it dies with the router, as every proc does; a router gone already is gone for good */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != router)
		_exit(1);
	close(sock);
	if (lifeline >= 0)
		close(lifeline);
	lifeline = -1;
	if (pagemap_fd >= 0)
		close(pagemap_fd);
	if (clear_refs_fd >= 0)
		close(clear_refs_fd);
	for (size_t i = 0; i < nforking; i++)
		if (forking[i] != fd)
			close(forking[i]);
	nforking = 0;
	sock = fd;
	heap_forked();
	pthread_mutex_init(&send_lock, NULL);
	pthread_cond_init(&paid, NULL);
	owed = 0;
	pthread_mutex_init(&fork_lock, NULL);
	pthread_mutex_init(&handover_lock, NULL);
	queued.len = 0; /* the parent's replies */
	queued.oom = false;
	open_own_files();
	thread_forked();
	memory_forked();
	uffd_serve_forked();
	serve_requests();
}

void fork_reply(int fd, int peer, bool has_id, int64_t id, struct buf *o)
{
	struct request r = { .has_id = has_id, .id = id };
	o->len = 0;
	o->oom = false;
	/*
	 * The router the child's parent (CLONE_PARENT), as it is every proc's:
	 * it reaps the child and learns how it ended as it does for the rest.
	 * A raw clone, not fork(3): glibc's fork holds malloc's locks across
	 * the system call, which the kernel may hold until the FORK message is
	 * read, and the serving thread allocates while it serves that read.
	 * The cost: a lock another thread held at the copy stays held in the
	 * child. forked() starts the agent's own afresh, its malloc's
	 * (heap.c) among them.
	 */
	long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		forked(fd);
	r.call = "fork";
	r.errnum = errno;
	fork_done_with(fd);
	if (pid > 0 && hand_over((pid_t)pid, peer)) {
		r.call = "sendmsg";
		r.errnum = errno;
		kill((pid_t)pid, SIGKILL); /* nobody can reach it */
		pid = -1;
	}
	fork_done_with(peer);
	if (pid < 0) {
		jw_errno(o, &r);
		return;
	}
	jw_begin(o, &r);
	buf_puts(o, ",\"ok\":true");
	jw_int(o, "proc", pid);
	jw_end(o);
}

static enum outcome op_thread_madvise(struct request *r, struct buf *o)
{
	(void)o;
	return thread_madvise(r);
}

static enum outcome op_thread_create(struct request *r, struct buf *o)
{
	return thread_create(r, o);
}

static enum outcome op_atomic_add(struct request *r, struct buf *o)
{
	(void)o;
	return thread_atomic_add(r);
}

static enum outcome op_minflt(struct request *r, struct buf *o)
{
	(void)o;
	return thread_minflt(r);
}

/*
 * aligned_alloc() and free() for a test: each block a mapping of its own,
 * aligned by mapping alignment more and trimming, and unmapped whole by
 * free(). That is the reference model's allocator, so both lay a test's
 * memory out alike, and a block is never in the agent's own heap, where
 * its requests live. (glibc serves blocks below its mmap threshold from
 * the brk heap and keeps them mapped after free(): libc's policy, not the
 * kernel's.)
 */
struct block {
	uintptr_t addr;
	size_t len;
};
static struct block *blocks;
static size_t nblocks, blocks_cap;

static enum outcome op_aligned_alloc(struct request *r, struct buf *o)
{
	uint64_t alignment, size;
	if (req_u64(r, "alignment", &alignment) || req_u64(r, "size", &size))
		return BAD;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = (size + page - 1) / page * page;
	if (nblocks == blocks_cap) {
		size_t cap = blocks_cap ? 2 * blocks_cap : 16;
		struct block *b = realloc(blocks, cap * sizeof(*b));
		if (!b)
			return failed_with(r, "aligned_alloc", ENOMEM);
		blocks = b;
		blocks_cap = cap;
	}
	void *raw = mmap(NULL, len + alignment, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return failed_with(r, "aligned_alloc", ENOMEM);
	uintptr_t lo = (uintptr_t)raw, start = (lo + alignment - 1) & ~(uintptr_t)(alignment - 1);
	if (start > lo)
		munmap(raw, start - lo);
	if (lo + len + alignment > start + len)
		munmap((void *)(start + len), lo + len + alignment - (start + len));
	blocks[nblocks++] = (struct block){ start, len };
	jw_hex(o, "addr", start);
	return DONE;
}

static enum outcome op_free(struct request *r, struct buf *o)
{
	uint64_t addr;
	(void)o;
	if (req_u64(r, "addr", &addr))
		return BAD;
	for (size_t i = 0; i < nblocks; i++) {
		if (blocks[i].addr != addr)
			continue;
		munmap((void *)blocks[i].addr, blocks[i].len);
		blocks[i] = blocks[--nblocks];
		return DONE;
	}
	return failed_with(r, "free", EINVAL);
}

static enum outcome op_read(struct request *r, struct buf *o)
{
	return memory_submit(r, LOAD, o);
}

static enum outcome op_write(struct request *r, struct buf *o)
{
	return memory_submit(r, STORE, o);
}

static enum outcome op_fill(struct request *r, struct buf *o)
{
	return memory_submit(r, FILL, o);
}

/* The program's `p[b] = ~p[b]` over a range (uffd's minor fault handler's bit flip), in one request. */
static enum outcome op_invert(struct request *r, struct buf *o)
{
	return memory_submit(r, INVERT, o);
}

static enum outcome op_increment(struct request *r, struct buf *o)
{
	return memory_submit(r, INCREMENT, o);
}

/* A loop of the program's own `*p = v` over many addresses, in one request. */
static enum outcome op_write_each(struct request *r, struct buf *o)
{
	return memory_submit(r, STORE_EACH, o);
}

/* A loop of the program's memset()s, one at each address, with its own byte, in one request. */
static enum outcome op_fill_each(struct request *r, struct buf *o)
{
	return memory_submit(r, FILL_EACH, o);
}

/* A loop of the program's `if (p[k] != byte) ...` over each address's bytes, in one request. */
static enum outcome op_check_fill(struct request *r, struct buf *o)
{
	return memory_submit(r, CHECK_FILL, o);
}

/* A loop of the program's `v = *p; if (v != expect) ...;` (and `*p = v;`) over many addresses, in one request. */
static enum outcome op_check_each(struct request *r, struct buf *o)
{
	return memory_submit(r, CHECK_EACH, o);
}

static enum outcome op_read_file(struct request *r, struct buf *o)
{
	char *path;
	if (req_string(r, "path", &path))
		return BAD;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return failed(r, "open");
	struct buf data = { 0 };
	ssize_t n = 1;
	while (n > 0 && data.len <= MAX_IO && !buf_reserve(&data, 64 << 10)) {
		n = read(fd, data.p + data.len, data.cap - data.len);
		if (n > 0)
			data.len += (size_t)n;
		else if (n < 0 && errno == EINTR)
			n = 1;
	}
	int e = data.oom ? ENOMEM : data.len > MAX_IO ? EFBIG : errno;
	close(fd);
	if (n != 0) {
		buf_release(&data);
		return failed_with(r, "read", e);
	}
	jw_bytes(o, "data", data.p, data.len);
	buf_release(&data);
	return DONE;
}

static enum outcome op_write_file(struct request *r, struct buf *o)
{
	char *path;
	BUF_ON_STACK(data, 64);
	if (req_string(r, "path", &path) || req_bytes(r, "data", &data)) {
		buf_release(&data);
		return BAD;
	}
	bool held = clear_refs_fd >= 0 && (!strcmp(path, "/proc/self/clear_refs") || !strcmp(path, clear_refs_path));
	int fd = held ? clear_refs_fd : open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		buf_release(&data);
		return failed(r, "open");
	}
	ssize_t n = write(fd, data.p, data.len);
	int e = errno;
	if (!held)
		close(fd);
	buf_release(&data);
	if (n < 0)
		return failed_with(r, "write", e);
	jw_int(o, "written", n);
	return DONE;
}

static enum outcome op_pagemap(struct request *r, struct buf *o)
{
	uint64_t addr;
	int64_t pages;
	if (req_u64(r, "addr", &addr) || req_int(r, "pages", 0, MAX_PAGEMAP_PAGES, &pages))
		return BAD;
	if (pagemap_fd < 0)
		return failed_with(r, "open", pagemap_errno);
	BUF_ON_STACK(b, 512);
	if (buf_reserve(&b, (size_t)pages * sizeof(uint64_t) + 1))
		return failed_with(r, "pread", ENOMEM);
	const uint64_t *entries = (const uint64_t *)(void *)b.p;
	off_t offset = (off_t)(addr / (uint64_t)sysconf(_SC_PAGESIZE) * sizeof *entries);
	ssize_t n = pread(pagemap_fd, b.p, (size_t)pages * sizeof *entries, offset);
	if (n < 0) {
		int e = errno;
		buf_release(&b);
		return failed_with(r, "pread", e);
	}
	buf_puts(o, ",\"entries\":[");
	for (size_t i = 0; i < (size_t)n / sizeof *entries; i++) {
		buf_puts(o, i ? ",\"" : "\"");
		buf_hex(o, entries[i]);
		buf_append(o, "\"", 1);
	}
	buf_puts(o, "]");
	buf_release(&b);
	return DONE;
}

/* A request's struct pm_scan_arg but its range and vec: flags, max_pages, the masks and vec_len; -1 for a bad request. */
static int scan_masks(struct request *r, struct pm_scan_arg *arg, int64_t *vec_len)
{
	if (req_u64(r, "flags", &arg->flags) || req_u64(r, "max_pages", &arg->max_pages) || req_u64(r, "category_inverted", &arg->category_inverted) ||
	    req_u64(r, "category_mask", &arg->category_mask) || req_u64(r, "category_anyof_mask", &arg->category_anyof_mask) ||
	    req_u64(r, "return_mask", &arg->return_mask) || req_int(r, "vec_len", 0, MAX_VEC_LEN, vec_len))
		return -1;
	arg->vec_len = (uint64_t)*vec_len;
	return 0;
}

/* A request's struct pm_scan_arg, its vec left for the caller; -1 for a bad request. */
static int scan_arg(struct request *r, struct pm_scan_arg *arg, int64_t *vec_len, bool *bad_vec, bool *null_vec)
{
	*arg = (struct pm_scan_arg){ .size = sizeof *arg };
	*bad_vec = *null_vec = false;
	if (req_u64(r, "start", &arg->start) || req_u64(r, "end", &arg->end) || scan_masks(r, arg, vec_len) ||
	    req_bool_opt(r, "bad_vec", bad_vec) || req_bool_opt(r, "null_vec", null_vec))
		return -1;
	if (*bad_vec && *null_vec)
		return req_bad(r, "fields \"bad_vec\" and \"null_vec\": at most one of them");
	return 0;
}

/* An ioctl's reply fields: "ret", "walk_end" and the regions it filled, each its start, end and categories in 16 hex digits. */
static void put_scan(struct buf *o, int ret, const struct pm_scan_arg *arg, const struct page_region *vec)
{
	jw_int(o, "ret", ret);
	jw_hex(o, "walk_end", arg->walk_end);
	/* packed: a list of objects cost the harness three times as much to read (16 us for 50 regions) */
	buf_puts(o, ",\"regions\":\"");
	for (int i = 0; vec && i < ret && (uint64_t)i < arg->vec_len; i++) {
		buf_hex16(o, vec[i].start);
		buf_hex16(o, vec[i].end);
		buf_hex16(o, vec[i].categories);
	}
	buf_append(o, "\"", 1);
}

static enum outcome op_pagemap_scan(struct request *r, struct buf *o)
{
	struct pm_scan_arg arg;
	int64_t vec_len;
	bool bad_vec, null_vec;
	if (scan_arg(r, &arg, &vec_len, &bad_vec, &null_vec))
		return BAD;
	if (pagemap_fd < 0)
		return failed_with(r, "open", pagemap_errno);
	BUF_ON_STACK(b, 256);
	if (buf_reserve(&b, ((size_t)vec_len + 1) * sizeof(struct page_region)))
		return failed_with(r, "ioctl", ENOMEM);
	const struct page_region *vec = (const struct page_region *)(void *)b.p;
	arg.vec = bad_vec ? BAD_VEC : null_vec ? 0 : (uintptr_t)vec;
	int ret = ioctl(pagemap_fd, PAGEMAP_SCAN, &arg);
	if (ret < 0) {
		int e = errno;
		buf_release(&b);
		return failed_with(r, "ioctl", e);
	}
	put_scan(o, ret, &arg, bad_vec || null_vec ? NULL : vec);
	buf_release(&b);
	return DONE;
}

/*
 * A range loop's reading of each page (vm_util.c's page_entry_is()): for
 * each of "pages" pages from "addr" in turn, a pread() of its pagemap entry,
 * then with "scan" PAGEMAP_SCAN of that page alone (the scan's fields but
 * start and end, as pagemap_scan takes them); each reading as the two
 * requests' replies would say it. The loop judges them in order, as it
 * would have read them, and stops where the C stops: the pages after are
 * read ahead, as reads go ahead in a window.
 */
static enum outcome op_page_readings(struct request *r, struct buf *o)
{
	uint64_t addr, page = (uint64_t)sysconf(_SC_PAGESIZE);
	int64_t pages, vec_len = 0;
	bool scan = false;
	struct pm_scan_arg arg = { .size = sizeof arg };
	char scratch[16];
	if (req_u64(r, "addr", &addr) || req_int(r, "pages", 0, (int64_t)MAX_ADDRS, &pages) || req_bool_opt(r, "scan", &scan))
		return BAD;
	/* the scan's own start and end are each page's */
	if (scan && scan_masks(r, &arg, &vec_len))
		return BAD;
	if (pagemap_fd < 0)
		return failed_with(r, "open", pagemap_errno);
	BUF_ON_STACK(b, 256);
	if (buf_reserve(&b, ((size_t)vec_len + 1) * sizeof(struct page_region)))
		return failed_with(r, "ioctl", ENOMEM);
	const struct page_region *vec = (const struct page_region *)(void *)b.p;
	buf_puts(o, ",\"readings\":[");
	for (int64_t i = 0; i < pages; i++) {
		uint64_t at = addr + (uint64_t)i * page, entry;
		buf_puts(o, i ? ",{\"pagemap\":" : "{\"pagemap\":");
		ssize_t n = pread(pagemap_fd, &entry, sizeof entry, (off_t)(at / page * sizeof entry));
		if (n < 0) {
			buf_puts(o, "{\"ok\":false");
			jw_str(o, "errno", errno_name(errno, scratch, sizeof scratch));
			jw_str(o, "call", "pread");
		} else if (n < (ssize_t)sizeof entry) {
			buf_puts(o, "{\"ok\":true,\"entries\":[]"); /* past the end: pagemap's reply would have none */
		} else {
			buf_puts(o, "{\"ok\":true,\"entries\":[\"");
			buf_hex(o, entry);
			buf_puts(o, "\"]");
		}
		buf_puts(o, "}");
		if (scan) {
			arg.start = at;
			arg.end = at + page;
			arg.vec = (uintptr_t)vec;
			int ret = ioctl(pagemap_fd, PAGEMAP_SCAN, &arg);
			if (ret < 0) {
				buf_puts(o, ",\"scan\":{\"ok\":false");
				jw_str(o, "errno", errno_name(errno, scratch, sizeof scratch));
				jw_str(o, "call", "ioctl");
			} else {
				buf_puts(o, ",\"scan\":{\"ok\":true");
				put_scan(o, ret, &arg, vec);
			}
			buf_puts(o, "}");
		}
		buf_puts(o, "}");
	}
	buf_puts(o, "]");
	buf_release(&b);
	return DONE;
}

/* the most ioctls one pagemap_scan_until makes */
#define MAX_SCANS 1024

/*
 * PAGEMAP_SCAN from start, then from each one's walk_end to the same end,
 * while the regions found add up to fewer than "pages" pages: a loop of
 * the selftests' (and of CRIU's) with no round trip an ioctl. It stops
 * too at an ioctl that fails, returns more than vec_len regions, or ends
 * at end; and after MAX_SCANS ioctls (the caller goes on from there).
 */
static enum outcome op_pagemap_scan_until(struct request *r, struct buf *o)
{
	struct pm_scan_arg arg;
	int64_t vec_len;
	bool bad_vec, null_vec;
	uint64_t pages, found = 0, page = (uint64_t)sysconf(_SC_PAGESIZE);
	if (scan_arg(r, &arg, &vec_len, &bad_vec, &null_vec) || req_u64(r, "pages", &pages))
		return BAD;
	if (pagemap_fd < 0)
		return failed_with(r, "open", pagemap_errno);
	struct buf b = { 0 };
	if (buf_reserve(&b, ((size_t)vec_len + 1) * sizeof(struct page_region)))
		return failed_with(r, "ioctl", ENOMEM);
	const struct page_region *vec = (const struct page_region *)(void *)b.p;
	arg.vec = (uintptr_t)vec;
	buf_puts(o, ",\"scans\":[");
	for (int n = 0; n < MAX_SCANS && found < pages; n++) {
		int ret = ioctl(pagemap_fd, PAGEMAP_SCAN, &arg);
		if (ret < 0) {
			char scratch[16];
			buf_puts(o, n ? ",{\"ok\":false" : "{\"ok\":false");
			jw_str(o, "errno", errno_name(errno, scratch, sizeof scratch));
			jw_str(o, "call", "ioctl");
			buf_append(o, "}", 1);
			break;
		}
		buf_puts(o, n ? ",{\"ok\":true" : "{\"ok\":true");
		put_scan(o, ret, &arg, vec);
		buf_append(o, "}", 1);
		if (ret > vec_len || arg.walk_end == arg.end)
			break;
		for (int i = 0; i < ret; i++)
			found += (vec[i].end - vec[i].start) / page;
		arg.start = arg.walk_end;
	}
	buf_puts(o, "]");
	buf_release(&b);
	return DONE;
}

static enum outcome op_userfaultfd(struct request *r, struct buf *o)
{
	int64_t flags;
	if (INT_FIELD(r, "flags", &flags))
		return BAD;
	long fd = syscall(__NR_userfaultfd, (int)flags);
	if (fd < 0)
		return failed(r, "userfaultfd");
	memory_may_block();
	jw_int(o, "fd", fd);
	return DONE;
}

static enum outcome op_uffdio_api(struct request *r, struct buf *o)
{
	uint64_t version, features;
	int64_t fd;
	if (INT_FIELD(r, "fd", &fd) || req_u64(r, "api", &version) || req_u64(r, "features", &features))
		return BAD;
	struct uffdio_api api = { .api = version, .features = features };
	if (agent_fd(fd))
		return failed_with(r, "ioctl", EBADF);
	if (ioctl((int)fd, UFFDIO_API, &api))
		return failed(r, "ioctl");
	if (features & UFFD_FEATURE_EVENT_FORK)
		fork_events = true;
	if (features & (UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP))
		mm_events = true;
	jw_hex(o, "api", api.api);
	jw_hex(o, "features", api.features);
	jw_hex(o, "ioctls", api.ioctls);
	return DONE;
}

/* The fields the uffd range ioctls share: fd, range, and mode (where `mode` is asked for); false for a bad request. */
static bool uffd_range_request(struct request *r, int64_t *fd, struct uffdio_range *range, uint64_t *mode)
{
	uint64_t start, len;
	if (INT_FIELD(r, "fd", fd) || req_u64(r, "start", &start) || req_u64(r, "len", &len) || (mode && req_u64(r, "mode", mode)))
		return false;
	*range = (struct uffdio_range){ .start = start, .len = len };
	return true;
}

/* UFFDIO_REGISTER: the range's areas take the modes (MISSING, WP, MINOR); the reply names the ioctls they allow */
static enum outcome op_uffdio_register(struct request *r, struct buf *o)
{
	struct uffdio_register reg = { 0 };
	int64_t fd;
	uint64_t mode;
	if (!uffd_range_request(r, &fd, &reg.range, &mode))
		return BAD;
	reg.mode = mode;
	if (agent_fd(fd))
		return failed_with(r, "ioctl", EBADF);
	if (ioctl((int)fd, UFFDIO_REGISTER, &reg))
		return failed(r, "ioctl");
	jw_hex(o, "ioctls", reg.ioctls);
	return DONE;
}

/* UFFDIO_WRITEPROTECT: mode WP write-protects the range, 0 resolves it (DONTWAKE as asked) */
static enum outcome op_uffdio_writeprotect(struct request *r, struct buf *o)
{
	struct uffdio_writeprotect wp = { 0 };
	int64_t fd;
	uint64_t mode;
	(void)o;
	if (!uffd_range_request(r, &fd, &wp.range, &mode))
		return BAD;
	wp.mode = mode;
	if (agent_fd(fd))
		return failed_with(r, "ioctl", EBADF);
	if (ioctl((int)fd, UFFDIO_WRITEPROTECT, &wp))
		return failed(r, "ioctl");
	return DONE;
}

/* A uffd ioctl whose argument is a struct uffdio_range alone. */
static enum outcome uffd_range_ioctl(struct request *r, unsigned long cmd)
{
	struct uffdio_range range;
	int64_t fd;
	if (!uffd_range_request(r, &fd, &range, NULL))
		return BAD;
	if (agent_fd(fd))
		return failed_with(r, "ioctl", EBADF);
	if (ioctl((int)fd, cmd, &range))
		return failed(r, "ioctl");
	return DONE;
}

/* UFFDIO_UNREGISTER: the range's areas leave the context, their write protection reset */
static enum outcome op_uffdio_unregister(struct request *r, struct buf *o)
{
	(void)o;
	return uffd_range_ioctl(r, UFFDIO_UNREGISTER);
}

/* What a progress field holds until the kernel writes it: neither bytes done nor a negative errno. */
#define UNWRITTEN INT64_MIN

/*
 * The reply of a uffd ioctl that reports its progress in its argument
 * (uffdio_copy.copy, uffdio_zeropage.zeropage): the ioctl's errno e (0 for
 * none), and that field where the kernel wrote it, bytes done or a
 * negative errno (absent where it failed before writing it).
 */
static enum outcome uffd_progress(struct request *r, struct buf *o, int e, const char *key, int64_t progress)
{
	if (!e) {
		jw_hex(o, key, (uint64_t)progress);
		return DONE;
	}
	r->call = "ioctl";
	r->errnum = e;
	o->len = 0;
	jw_failed(o, r);
	if (progress != UNWRITTEN)
		jw_hex(o, key, (uint64_t)progress);
	jw_end(o);
	return ANSWERED;
}

/*
 * UFFDIO_COPY and UFFDIO_MOVE take one layout (dst, src, len, mode, then the
 * field the kernel reports its progress in); UFFDIO_ZEROPAGE, _CONTINUE and
 * _POISON another (a range, a mode, the progress field).
 */
struct uffdio_pair_progress {
	uint64_t dst, src, len, mode;
	int64_t progress;
};
struct uffdio_range_progress {
	struct uffdio_range range;
	uint64_t mode;
	int64_t progress;
};
_Static_assert(sizeof(struct uffdio_copy) == sizeof(struct uffdio_pair_progress) &&
		       offsetof(struct uffdio_copy, copy) == offsetof(struct uffdio_pair_progress, progress) &&
		       sizeof(struct uffdio_move) == sizeof(struct uffdio_pair_progress) &&
		       offsetof(struct uffdio_move, move) == offsetof(struct uffdio_pair_progress, progress),
	       "uffdio_copy and uffdio_move share a layout");
_Static_assert(sizeof(struct uffdio_zeropage) == sizeof(struct uffdio_range_progress) &&
		       offsetof(struct uffdio_zeropage, zeropage) == offsetof(struct uffdio_range_progress, progress) &&
		       sizeof(struct uffdio_continue) == sizeof(struct uffdio_range_progress) &&
		       offsetof(struct uffdio_continue, mapped) == offsetof(struct uffdio_range_progress, progress) &&
		       sizeof(struct uffdio_poison) == sizeof(struct uffdio_range_progress) &&
		       offsetof(struct uffdio_poison, updated) == offsetof(struct uffdio_range_progress, progress),
	       "uffdio_zeropage, uffdio_continue and uffdio_poison share a layout");

/* COPY or MOVE ("dst", "src", "len", "mode"): the progress field as `key` */
static enum outcome uffd_pair_progress_ioctl(struct request *r, struct buf *o, unsigned long cmd, const char *key)
{
	struct uffdio_pair_progress arg = { .progress = UNWRITTEN };
	int64_t fd;
	if (INT_FIELD(r, "fd", &fd) || req_u64(r, "dst", &arg.dst) || req_u64(r, "src", &arg.src) || req_u64(r, "len", &arg.len) ||
	    req_u64(r, "mode", &arg.mode))
		return BAD;
	if (agent_fd(fd))
		return uffd_progress(r, o, EBADF, key, UNWRITTEN);
	int rc = ioctl((int)fd, cmd, &arg);
	return uffd_progress(r, o, rc ? errno : 0, key, arg.progress);
}

/* ZEROPAGE, CONTINUE or POISON ("start", "len", "mode"): the progress field as `key` */
static enum outcome uffd_range_progress_ioctl(struct request *r, struct buf *o, unsigned long cmd, const char *key)
{
	struct uffdio_range_progress arg = { .progress = UNWRITTEN };
	int64_t fd;
	if (!uffd_range_request(r, &fd, &arg.range, &arg.mode))
		return BAD;
	if (agent_fd(fd))
		return uffd_progress(r, o, EBADF, key, UNWRITTEN);
	int rc = ioctl((int)fd, cmd, &arg);
	return uffd_progress(r, o, rc ? errno : 0, key, arg.progress);
}

/* UFFDIO_COPY: len bytes from src into the missing pages at dst, waking the faults there unless DONTWAKE (WP: protected) */
static enum outcome op_uffdio_copy(struct request *r, struct buf *o)
{
	return uffd_pair_progress_ioctl(r, o, UFFDIO_COPY, "copy");
}

/* UFFDIO_ZEROPAGE: the zero page mapped at the range's missing pages, waking the faults there unless DONTWAKE */
static enum outcome op_uffdio_zeropage(struct request *r, struct buf *o)
{
	return uffd_range_progress_ioctl(r, o, UFFDIO_ZEROPAGE, "zeropage");
}

/* USERFAULTFD_IOC_NEW on an open /dev/userfaultfd: a new userfaultfd, as userfaultfd(2) makes one */
static enum outcome op_userfaultfd_ioc_new(struct request *r, struct buf *o)
{
	int64_t fd, flags;
	if (INT_FIELD(r, "fd", &fd) || INT_FIELD(r, "flags", &flags))
		return BAD;
	if (agent_fd(fd))
		return failed_with(r, "ioctl", EBADF);
	int uffd = ioctl((int)fd, USERFAULTFD_IOC_NEW, (int)flags);
	if (uffd < 0)
		return failed(r, "ioctl");
	memory_may_block();
	jw_int(o, "fd", uffd);
	return DONE;
}

/* UFFDIO_CONTINUE: the page cache's pages mapped at the range (MINOR faults resolved), waking the faults there unless DONTWAKE */
static enum outcome op_uffdio_continue(struct request *r, struct buf *o)
{
	return uffd_range_progress_ioctl(r, o, UFFDIO_CONTINUE, "mapped");
}

/* UFFDIO_MOVE: len bytes of pages moved from src to dst, waking the faults there unless DONTWAKE */
static enum outcome op_uffdio_move(struct request *r, struct buf *o)
{
	return uffd_pair_progress_ioctl(r, o, UFFDIO_MOVE, "move");
}

/* UFFDIO_POISON: poison markers at the range (a later access SIGBUS), waking the faults there unless DONTWAKE */
static enum outcome op_uffdio_poison(struct request *r, struct buf *o)
{
	return uffd_range_progress_ioctl(r, o, UFFDIO_POISON, "updated");
}

/* UFFDIO_WAKE: the threads waiting in faults in the range retry them */
static enum outcome op_uffdio_wake(struct request *r, struct buf *o)
{
	(void)o;
	return uffd_range_ioctl(r, UFFDIO_WAKE);
}

void uffd_read_reply(int fd, bool has_id, int64_t id, struct buf *o)
{
	struct request r = { .has_id = has_id, .id = id, .call = "read" };
	struct uffd_msg msg;
	ssize_t n = read(fd, &msg, sizeof msg);
	r.errnum = errno;
	o->len = 0;
	o->oom = false;
	if (n != (ssize_t)sizeof msg) {
		/* less than a message: no userfaultfd behind fd (read(2)'s EINVAL, an object unsuitable for reading) */
		if (n >= 0)
			r.errnum = EINVAL;
		jw_errno(o, &r);
		return;
	}
	jw_begin(o, &r);
	buf_puts(o, ",\"ok\":true");
	switch (msg.event) {
	case UFFD_EVENT_PAGEFAULT:
		jw_str(o, "event", "PAGEFAULT");
		jw_hex(o, "flags", msg.arg.pagefault.flags);
		jw_hex(o, "address", msg.arg.pagefault.address);
		jw_int(o, "ptid", msg.arg.pagefault.feat.ptid);
		break;
	case UFFD_EVENT_FORK:
		jw_str(o, "event", "FORK");
		jw_int(o, "ufd", msg.arg.fork.ufd);
		break;
	case UFFD_EVENT_REMAP:
		jw_str(o, "event", "REMAP");
		jw_hex(o, "from", msg.arg.remap.from);
		jw_hex(o, "to", msg.arg.remap.to);
		jw_hex(o, "len", msg.arg.remap.len);
		break;
	case UFFD_EVENT_REMOVE:
	case UFFD_EVENT_UNMAP:
		jw_str(o, "event", msg.event == UFFD_EVENT_REMOVE ? "REMOVE" : "UNMAP");
		jw_hex(o, "start", msg.arg.remove.start);
		jw_hex(o, "end", msg.arg.remove.end);
		break;
	default:
		/* one newer than this agent: named by its number, as an errno it cannot name is ERRNO_N */
		buf_printf(o, ",\"event\":\"EVENT_0x%x\"", msg.event);
	}
	jw_end(o);
}

/*
 * read(2) of one struct uffd_msg. A blocking descriptor's read waits for a
 * message, on a worker (memory.c): the process serves on meanwhile, the
 * call that resolves the fault the message reports among what it serves.
 */
static enum outcome op_uffd_read(struct request *r, struct buf *o)
{
	int64_t fd;
	if (INT_FIELD(r, "fd", &fd))
		return BAD;
	if (agent_fd(fd))
		return failed_with(r, "read", EBADF);
	int flags = fcntl((int)fd, F_GETFL);
	if (flags < 0)
		return failed(r, "read"); /* EBADF, as the read would fail */
	if (!(flags & O_NONBLOCK))
		return memory_submit(r, UFFD_READ, o);
	uffd_read_reply((int)fd, r->has_id, r->id, o);
	return ANSWERED;
}

/* uffd_serve: the test's userfaultfd handler thread, run here (uffd-serve.c) */
static enum outcome op_uffd_serve(struct request *r, struct buf *o)
{
	int64_t proc, fd, pipe;
	(void)o;
	if (INT_FIELD(r, "proc", &proc) || INT_FIELD(r, "fd", &fd) || INT_FIELD(r, "pipe", &pipe))
		return BAD;
	if (agent_fd(fd) || agent_fd(pipe))
		return failed_with(r, "uffd_serve", EBADF);
	return uffd_serve(r, proc);
}

static enum outcome op_uffd_serve_steps(struct request *r, struct buf *o)
{
	(void)o;
	return uffd_serve_steps(r);
}

static const char *const level_names[MMCONFORM_LEVELS] = { "pgd", "p4d", "pud", "pmd", "pte" };

/* The module's device, or -1 with errno ENOTTY where there is none (an ioctl the kernel does not know). */
static int pgwalk_open(void)
{
	int fd = open(MMCONFORM_PGWALK_DEVICE, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		errno = ENOTTY;
	return fd;
}

/* One walk's fields: "levels", "vm_flags" and "page_prot", each after a comma. */
static void put_walk(struct buf *o, const struct mmconform_pgwalk *w)
{
	buf_puts(o, ",\"levels\":[");
	for (uint32_t i = 0; i < w->levels && i < MMCONFORM_LEVELS; i++)
		buf_printf(o, "%s{\"level\":\"%s\",\"value\":\"0x%llx\",\"phys\":\"0x%llx\",\"folded\":%s}", i ? "," : "",
			   level_names[i], (unsigned long long)w->entry[i], (unsigned long long)w->phys[i],
			   w->folded & (1u << i) ? "true" : "false");
	buf_puts(o, "]");
	if (w->flags & MMCONFORM_PGWALK_VMA) {
		jw_hex(o, "vm_flags", w->vm_flags);
		jw_hex(o, "page_prot", w->page_prot);
	} else {
		buf_puts(o, ",\"vm_flags\":null,\"page_prot\":null");
	}
}

/*
 * The raw page-table walk of addr in this process, from the kernel's
 * mmconform_pgwalk module (kmod/). Without the module there is no device:
 * answered as an ioctl the kernel does not know, ENOTTY.
 */
static enum outcome op_descriptors(struct request *r, struct buf *o)
{
	uint64_t addr;
	if (req_u64(r, "addr", &addr))
		return BAD;
	int fd = pgwalk_open();
	if (fd < 0)
		return failed(r, errno == ENOTTY ? "ioctl" : "open");
	struct mmconform_pgwalk w = { .addr = addr, .pid = getpid() };
	int rc = ioctl(fd, MMCONFORM_PGWALK, &w);
	int e = errno;
	close(fd);
	if (rc)
		return failed_with(r, "ioctl", e);
	put_walk(o, &w);
	return DONE;
}

/*
 * move_pages(2) of this process's pages: to nodes[i] each, or, with no
 * "nodes", nodes NULL, which asks where each page is. The syscall itself
 * (glibc has no wrapper; libnuma's is not on the guests): its return and
 * the status it wrote, a node or a negated errno per page.
 */
static enum outcome op_move_pages(struct request *r, struct buf *o)
{
	struct buf addrs = { 0 }, nodes = { 0 };
	int64_t flags;
	bool have_nodes = req_field(r, "nodes") != NULL;
	if (req_u64_list(r, "addrs", MAX_ADDRS, &addrs) || (have_nodes && req_int_list(r, "nodes", INT_MIN, INT_MAX, MAX_ADDRS, &nodes)) ||
	    INT_FIELD(r, "flags", &flags)) {
		buf_release(&addrs);
		buf_release(&nodes);
		return BAD;
	}
	size_t n = addrs.len / sizeof(uint64_t);
	if (have_nodes && nodes.len / sizeof(int64_t) != n) {
		buf_release(&addrs);
		buf_release(&nodes);
		req_bad(r, "field \"nodes\": %zu nodes for %zu addrs", nodes.len / sizeof(int64_t), n);
		return BAD;
	}
	void **pages = calloc(n + 1, sizeof *pages);
	int *node_of = calloc(n + 1, sizeof *node_of), *status = calloc(n + 1, sizeof *status);
	enum outcome out = DONE;
	if (!pages || !node_of || !status) {
		out = failed_with(r, "move_pages", ENOMEM);
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		pages[i] = (void *)(uintptr_t)((const uint64_t *)(void *)addrs.p)[i];
		if (have_nodes)
			node_of[i] = (int)((const int64_t *)(void *)nodes.p)[i];
		status[i] = INT_MIN; /* what the kernel left unwritten reads as such */
	}
	long rc = syscall(SYS_move_pages, 0, (unsigned long)n, pages, have_nodes ? node_of : NULL, status, (int)flags);
	if (rc < 0) {
		out = failed(r, "move_pages");
		goto done;
	}
	jw_int(o, "ret", rc);
	buf_puts(o, ",\"status\":[");
	char num[24];
	for (size_t i = 0; i < n; i++) {
		snprintf(num, sizeof num, i ? ",%d" : "%d", status[i]);
		buf_puts(o, num);
	}
	buf_puts(o, "]");
done:
	free(pages);
	free(node_of);
	free(status);
	buf_release(&addrs);
	buf_release(&nodes);
	return out;
}

/*
 * descriptors of each address in turn, on one open of the device: a list
 * of replies as descriptors gives them (less the id), each walk or the
 * errno its ioctl failed with.
 */
static enum outcome op_descriptors_of(struct request *r, struct buf *o)
{
	struct buf addrs = { 0 };
	if (req_u64_list(r, "addrs", MAX_ADDRS, &addrs)) {
		buf_release(&addrs);
		return BAD;
	}
	int fd = pgwalk_open();
	if (fd < 0) {
		buf_release(&addrs);
		return failed(r, errno == ENOTTY ? "ioctl" : "open");
	}
	char scratch[16];
	buf_puts(o, ",\"walks\":[");
	for (size_t i = 0; i < addrs.len / sizeof(uint64_t); i++) {
		struct mmconform_pgwalk w = { .addr = ((const uint64_t *)(void *)addrs.p)[i], .pid = getpid() };
		int rc = ioctl(fd, MMCONFORM_PGWALK, &w);
		int e = errno;
		buf_puts(o, i ? ",{" : "{");
		if (rc) {
			buf_puts(o, "\"ok\":false");
			jw_str(o, "errno", errno_name(e, scratch, sizeof scratch));
			jw_str(o, "call", "ioctl");
		} else {
			buf_puts(o, "\"ok\":true");
			put_walk(o, &w);
		}
		buf_puts(o, "}");
	}
	buf_puts(o, "]");
	close(fd);
	buf_release(&addrs);
	return DONE;
}

/* What a repeat's body may hold: calls whose reply says all they did, and that leave the process as it was. */
enum repeat { ONCE, REPEATS, REPEATS_UNLESS_BLOCKING };

static enum outcome op_repeat(struct request *r, struct buf *o);

static const struct op {
	const char *name, *fields;
	op_fn *run;
	enum repeat repeat;
} ops[] = {
	{ "exit", "proc", op_exit, ONCE },
	{ "mmap", "proc addr len prot flags fd offset", op_mmap, ONCE },
	{ "munmap", "proc addr len", op_munmap, ONCE },
	{ "mprotect", "proc addr len prot", op_mprotect, REPEATS },
	{ "mremap", "proc old_addr old_len new_len flags new_addr", op_mremap, ONCE },
	{ "madvise", "proc addr len advice", op_madvise, REPEATS },
	{ "open", "proc path flags mode", op_open, ONCE },
	{ "close", "proc fd", op_close, ONCE },
	{ "unlink", "proc path", op_unlink, ONCE },
	{ "swapoff", "proc path", op_swapoff, ONCE },
	{ "swapon", "proc path flags", op_swapon, ONCE },
	{ "ftruncate", "proc fd len", op_ftruncate, ONCE },
	{ "memfd_create", "proc name flags", op_memfd_create, ONCE },
	{ "write_fd", "proc fd data", op_write_fd, ONCE },
	{ "stat", "proc path", op_stat, ONCE },
	{ "list_dir", "proc path", op_list_dir, ONCE },
	{ "shmget", "proc key size shmflg", op_shmget, ONCE },
	{ "shmat", "proc shmid addr shmflg", op_shmat, ONCE },
	{ "shmdt", "proc addr", op_shmdt, ONCE },
	{ "shmctl", "proc shmid cmd", op_shmctl, ONCE },
	{ "fork", "proc", op_fork, ONCE },
	{ "pipe2", "proc flags", op_pipe2, ONCE },
	{ "read_fd", "proc fd count", op_read_fd, ONCE },
	{ "poll", "proc fds events timeout", op_poll, ONCE },
	{ "fcntl", "proc fd cmd arg", op_fcntl, ONCE },
	{ "fallocate", "proc fd mode offset len", op_fallocate, ONCE },
	{ "thread_create", "proc", op_thread_create, ONCE },
	{ "atomic_add", "proc thread addrs delta", op_atomic_add, ONCE },
	{ "minflt", "proc thread", op_minflt, ONCE },
	{ "thread_madvise", "proc thread addr len advice", op_thread_madvise, ONCE },
	{ "aligned_alloc", "proc alignment size", op_aligned_alloc, ONCE },
	{ "free", "proc addr", op_free, ONCE },
	{ "read", "proc addr len", op_read, REPEATS_UNLESS_BLOCKING },
	{ "write", "proc addr data", op_write, REPEATS_UNLESS_BLOCKING },
	{ "fill", "proc addr len byte", op_fill, REPEATS_UNLESS_BLOCKING },
	{ "invert", "proc addr len", op_invert, REPEATS_UNLESS_BLOCKING },
	{ "increment", "proc addrs", op_increment, REPEATS_UNLESS_BLOCKING },
	{ "write_each", "proc addrs data", op_write_each, REPEATS_UNLESS_BLOCKING },
	{ "fill_each", "proc addrs len bytes", op_fill_each, REPEATS_UNLESS_BLOCKING },
	{ "check_fill", "proc addrs len bytes", op_check_fill, REPEATS_UNLESS_BLOCKING },
	{ "check_each", "proc addrs expect store_back on_signal", op_check_each, REPEATS_UNLESS_BLOCKING },
	{ "read_file", "proc path", op_read_file, REPEATS },
	{ "write_file", "proc path data", op_write_file, REPEATS },
	{ "pagemap", "proc addr pages", op_pagemap, REPEATS },
	{ "pagemap_scan",
	  "proc start end flags max_pages category_inverted category_mask category_anyof_mask return_mask vec_len bad_vec null_vec",
	  op_pagemap_scan, REPEATS },
	{ "pagemap_scan_until",
	  "proc start end flags max_pages category_inverted category_mask category_anyof_mask return_mask vec_len pages",
	  op_pagemap_scan_until, ONCE },
	{ "page_readings", "proc addr pages scan flags max_pages category_inverted category_mask category_anyof_mask return_mask vec_len",
	  op_page_readings, REPEATS },
	{ "userfaultfd", "proc flags", op_userfaultfd, ONCE },
	{ "uffdio_api", "proc fd api features", op_uffdio_api, ONCE },
	{ "uffdio_register", "proc fd start len mode", op_uffdio_register, ONCE },
	{ "uffdio_writeprotect", "proc fd start len mode", op_uffdio_writeprotect, REPEATS },
	{ "uffdio_unregister", "proc fd start len", op_uffdio_unregister, ONCE },
	{ "uffdio_copy", "proc fd dst src len mode", op_uffdio_copy, ONCE },
	{ "uffdio_zeropage", "proc fd start len mode", op_uffdio_zeropage, ONCE },
	{ "userfaultfd_ioc_new", "proc fd flags", op_userfaultfd_ioc_new, ONCE },
	{ "uffdio_continue", "proc fd start len mode", op_uffdio_continue, ONCE },
	{ "uffdio_move", "proc fd dst src len mode", op_uffdio_move, ONCE },
	{ "uffdio_poison", "proc fd start len mode", op_uffdio_poison, ONCE },
	{ "uffdio_wake", "proc fd start len", op_uffdio_wake, ONCE },
	{ "uffd_read", "proc fd", op_uffd_read, ONCE },
	{ "move_pages", "proc addrs nodes flags", op_move_pages, ONCE },
	{ "descriptors", "proc addr", op_descriptors, REPEATS },
	{ "descriptors_of", "proc addrs", op_descriptors_of, ONCE },
	{ "repeat", "proc times body expect", op_repeat, ONCE },
	{ "uffd_serve", "proc fd pipe page_size dst src dst_alias size missing move_len apply_wp", op_uffd_serve, ONCE },
	{ "uffd_serve_steps", "proc", op_uffd_serve_steps, ONCE },
};

static const struct op *find_op(const struct jfield *f)
{
	/* the first letter first: a request's op is looked up among a hundred */
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
		if (f && f->rawlen && ops[i].name[0] == f->raw[0] && req_is(f, ops[i].name))
			return &ops[i];
	return NULL;
}

bool proc_op_known(const char *name)
{
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
		if (!strcmp(ops[i].name, name))
			return true;
	return false;
}

const char *proc_op_name(size_t i)
{
	return i < sizeof ops / sizeof *ops ? ops[i].name : NULL;
}

/*
 * The replies to the requests of one read, which the serving loop writes
 * together once it has served them all: one write, not one a request
 * (under send_lock, as every write is).
 */
#define QUEUED_MAX ((size_t)2 << 10)

/* Writes the queued replies; send_lock held. */
static void write_queued(void)
{
	if (queued.len && write_all(sock, queued.p, queued.len))
		_exit(0); /* the router is gone */
	queued.len = 0;
	if (queued.cap > ((size_t)1 << 20))
		buf_release(&queued); /* a huge reply's room goes back */
}

/* A response line as it goes out: b's, or "out of memory" where b ran out. */
static const char *reply_line(struct buf *b, bool has_id, int64_t id, char small[static 96], size_t *n)
{
	*n = b->len;
	if (!b->oom)
		return b->p;
	*n = has_id ? (size_t)snprintf(small, 96, "{\"id\":%lld,\"error\":\"out of memory\"}\n", (long long)id)
		    : (size_t)snprintf(small, 96, "{\"id\":null,\"error\":\"out of memory\"}\n");
	return small;
}

/* Writes a response line now, after any queued ones; one writer at a time, so lines never interleave. */
void child_send(struct buf *b, bool has_id, int64_t id)
{
	char small[96];
	size_t n;
	const char *p = reply_line(b, has_id, id, small, &n);
	pthread_mutex_lock(&send_lock);
	write_queued();
	if (write_all(sock, p, n))
		_exit(0); /* the router is gone */
	pthread_mutex_unlock(&send_lock);
}

/* Queues the serving loop's response line, for child_flush(). */
static void child_queue(struct buf *b, bool has_id, int64_t id)
{
	char small[96];
	size_t n;
	const char *p = reply_line(b, has_id, id, small, &n);
	pthread_mutex_lock(&send_lock);
	buf_append(&queued, p, n);
	/* a few lines' worth go on their way while the loop serves the rest, which the harness reads meanwhile */
	if (queued.len >= QUEUED_MAX)
		write_queued();
	if (queued.oom) {
		/* no room to queue it: what is queued goes now, and this line after it */
		queued.oom = false;
		write_queued();
		if (write_all(sock, p, n))
			_exit(0);
	}
	pthread_mutex_unlock(&send_lock);
}

/* Writes the queued replies (the serving loop, before it waits for more requests, or before the process ends). */
static void child_flush(void)
{
	pthread_mutex_lock(&send_lock);
	write_queued();
	pthread_mutex_unlock(&send_lock);
}

/*
 * A read's calls for the test's threads (a pthread_barrier's worth: each
 * thread's atomic adds and the main thread's scan, say) are answered in the
 * serving loop's one write with the rest: it waits up to GATHER_MS for the
 * threads' replies before it writes, and they queue theirs meanwhile: under
 * TCG each write is a trip through QEMU's device and a wakeup of the
 * harness. A call still running then (one that waits
 * in a fault for a later request) answers alone, as before: the round moves
 * on, so its reply is owed to nobody.
 */
#define GATHER_MS 2

unsigned child_owe(void)
{
	pthread_mutex_lock(&send_lock);
	owed++;
	unsigned r = gather_round;
	pthread_mutex_unlock(&send_lock);
	return r;
}

/*
 * A thread's reply to a call child_owe() counted in round `r`: queued while
 * its round lasts (the serving loop writes it with the rest at its
 * child_gather()), else written now.
 */
void child_pay(struct buf *b, bool has_id, int64_t id, unsigned r)
{
	pthread_mutex_lock(&send_lock);
	bool gathered = r == gather_round;
	bool last = gathered && owed && !--owed;
	if (gathered) {
		char small[96];
		size_t n;
		const char *p = reply_line(b, has_id, id, small, &n);
		buf_append(&queued, p, n);
		gathered = !queued.oom;
		queued.oom = false;
	}
	pthread_mutex_unlock(&send_lock);
	if (last)
		pthread_cond_signal(&paid); /* after the unlock, as thread.c's enqueue() */
	if (!gathered)
		child_send(b, has_id, id);
}

/*
 * child_flush() once the threads' replies owed are in, or GATHER_MS has
 * passed; at once where more requests are waiting (the rest of the round,
 * come in a later read: served first, their replies gathered then).
 */
static void child_gather(void)
{
	pthread_mutex_lock(&send_lock);
	struct pollfd more = { .fd = sock, .events = POLLIN };
	if (owed && poll(&more, 1, 0) == 0) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += GATHER_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (owed && pthread_cond_clockwait(&paid, &send_lock, CLOCK_MONOTONIC, &until) != ETIMEDOUT)
			;
		owed = 0;
		gather_round++;
	}
	write_queued();
	pthread_mutex_unlock(&send_lock);
}

/* A request line parsed and checked: its op, or NULL with r->err saying why. `repeating`: as a step of a repeat. */
static const struct op *prepare(const char *line, size_t len, struct request *r, bool repeating)
{
	if (req_parse(r, line, len))
		return NULL;
	const struct op *op = find_op(req_field(r, "op"));
	if (!op)
		req_bad(r, "unknown op");
	else if (repeating && (op->repeat == ONCE || (op->repeat == REPEATS_UNLESS_BLOCKING && memory_blocks())))
		req_bad(r, "%s cannot be repeated%s", op->name, op->repeat == ONCE ? "" : " once the process has a userfaultfd");
	else if (!req_check_fields(r, op->fields))
		return op;
	return NULL;
}

/* Runs a prepared request (op NULL: a bad one), its whole reply line in o; ASYNC: a worker answers it. */
static enum outcome perform(const struct op *op, struct request *r, struct buf *o)
{
	enum outcome how = BAD;
	o->len = 0;
	o->oom = false;
	if (op) {
		jw_begin(o, r);
		buf_puts(o, ",\"ok\":true");
		how = op->run(r, o);
	}
	if (how == ASYNC || how == ANSWERED)
		return how;
	if (how != DONE)
		o->len = 0;
	if (how == BAD)
		jw_error(o, r, r->err);
	else if (how == FAILED)
		jw_errno(o, r);
	else
		jw_end(o);
	return how;
}

/* Whether op is an access or a wait, which a uffd server's step makes on the server's own thread (as *kind). */
static bool runs_here(const struct op *op, enum access *kind)
{
	static const struct {
		op_fn *run;
		enum access kind;
	} here[] = { { op_poll, POLL }, { op_read_fd, READ_FD }, { op_uffd_read, UFFD_READ }, { op_invert, INVERT } };
	for (size_t i = 0; op && i < sizeof here / sizeof *here; i++)
		if (here[i].run == op->run)
			return (*kind = here[i].kind, true);
	return false;
}

void proc_run_here(const char *line, size_t len, struct buf *o)
{
	struct request r;
	const struct op *op = prepare(line, len, &r, false);
	enum access kind;
	o->len = 0;
	o->oom = false;
	if (runs_here(op, &kind)) {
		struct job *j = memory_job(&r, kind);
		if (j)
			memory_run(j, o);
		else
			jw_error(o, &r, r.err);
	} else if (perform(op, &r, o) == ASYNC) {
		/* a call that would be answered elsewhere is not one a server makes */
		o->len = 0;
		jw_error(o, &r, "not a call a uffd server makes");
	}
	req_done(&r);
}

static void serve(const char *line, size_t len, struct buf *o)
{
	struct request r;
	if (perform(prepare(line, len, &r, false), &r, o) != ASYNC)
		child_queue(o, r.has_id, r.id);
	req_done(&r);
}

/* the most steps a repeat's body holds */
#define MAX_STEPS 64

/* Whether a step's reply line is `expect`, an object with the fields after the reply's id. */
static bool same_reply(const struct buf *reply, struct span expect)
{
	const char *comma = memchr(reply->p, ',', reply->len);
	if (!comma || reply->oom)
		return false;
	size_t n = reply->len - (size_t)(comma + 1 - reply->p) - 1; /* up to its newline */
	return n == expect.len - 1 && !memcmp(comma + 1, expect.p + 1, n);
}

/* A request of a repeat's body: parsed once, run a round at a time. */
struct step {
	struct span expect;
	const struct op *op;
	struct request r;
};

/*
 * The body's requests, `times` rounds, while each answers as `expect`
 * says (the replies the harness had when it made them once): a loop of
 * the test's with no round trip a call. It stops at the first reply that
 * differs, which is the harness's to judge, and says where.
 */
static enum outcome op_repeat(struct request *r, struct buf *o)
{
	int64_t times, done;
	size_t n, nexpect;
	struct span *lines = calloc(2 * MAX_STEPS, sizeof *lines), *expect = lines + MAX_STEPS;
	struct step *steps = NULL;
	enum outcome how = DONE;
	if (!lines)
		return failed_with(r, "repeat", ENOMEM);
	if (req_int(r, "times", 0, INT32_MAX, &times) || req_objects(r, "body", lines, MAX_STEPS, &n) ||
	    req_objects(r, "expect", expect, MAX_STEPS, &nexpect))
		how = BAD;
	else if (n != nexpect)
		how = (req_bad(r, "fields \"body\" and \"expect\": one reply a request"), BAD);
	else if (!(steps = calloc(n ? n : 1, sizeof *steps)))
		how = failed_with(r, "repeat", ENOMEM);
	if (how != DONE) {
		free(lines);
		return how;
	}
	for (size_t k = 0; k < n; k++) {
		steps[k].expect = expect[k];
		steps[k].op = prepare(lines[k].p, lines[k].len, &steps[k].r, true);
	}
	free(lines);
	/*
	 * A round writes to the stack alone, on as few pages as it can: after
	 * the clear_refs of a soft-dirty loop, each page written is a fault.
	 */
	BUF_ON_STACK(reply, 512);
	size_t step = 0;
	for (done = 0; done < times; done++) {
		for (step = 0; step < n; step++) {
			struct request q = steps[step].r;
			enum outcome ran = perform(steps[step].op, &q, &reply);
			req_done(&q);
			if (ran == ASYNC || !same_reply(&reply, steps[step].expect))
				goto stop;
		}
	}
stop:
	free(steps);
	jw_int(o, "done", done);
	if (done < times) {
		jw_int(o, "step", (int64_t)step);
		buf_puts(o, ",\"reply\":");
		if (reply.oom) {
			buf_release(&reply);
			return failed_with(r, "repeat", ENOMEM);
		}
		buf_append(o, reply.p, reply.len - 1);
	}
	buf_release(&reply);
	return DONE;
}

/* Moves one of the agent's descriptors out of the way of the test's, which count up from 3. */
static int move_high(int fd)
{
	struct rlimit lim;
	rlim_t top = getrlimit(RLIMIT_NOFILE, &lim) || lim.rlim_cur > 1024 ? 1024 : lim.rlim_cur;
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, (int)top - 16);
	if (hi < 0)
		return fd;
	close(fd);
	return hi;
}

/* The process's own /proc files, held open (pagemap, clear_refs). */
static void open_own_files(void)
{
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	pagemap_errno = errno;
	if (pagemap_fd >= 0)
		pagemap_fd = move_high(pagemap_fd);
	snprintf(clear_refs_path, sizeof clear_refs_path, "/proc/%d/clear_refs", (int)getpid());
	clear_refs_fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	if (clear_refs_fd >= 0)
		clear_refs_fd = move_high(clear_refs_fd);
}

/* Serves the socket's requests until the router closes it. */
static void serve_requests(void)
{
	struct lines in = { 0 };
	struct buf out = { 0 };
	for (;;) {
		const char *line;
		size_t len;
		enum line_kind k;
		while ((k = lines_next(&in, &line, &len)) != LINE_NONE)
			if (k == LINE_OK)
				serve(line, len, &out);
		child_gather();
		if (lines_fill(&in, sock) <= 0)
			_exit(0); /* the router closed its end: it is gone or stopping */
	}
}

void child_main(int fd, int port, int ready)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	router = getppid();
	if (port >= 0) {
		sock = move_high(port);
		lifeline = move_high(fd);
	} else {
		sock = move_high(fd);
	}
	open_own_files();
	if (memory_start()) {
		perror("mmconform-agent: starting memory workers");
		_exit(1);
	}
	if (write(ready, "", 1) != 1)
		_exit(1);
	close(ready);
	serve_requests();
}
