/* Line framing: requests in, responses out, each a line. */
#include "agent.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK ((size_t)256 << 10)

/* Room for the next read, the lines already taken dropped: 0, or -1 (ENOMEM). */
static int make_room(struct lines *l)
{
	struct buf *b = &l->b;
	if (l->start) {
		memmove(b->p, b->p + l->start, b->len - l->start);
		b->len -= l->start;
		l->scanned -= l->start;
		l->start = 0;
	}
	if (buf_reserve(b, CHUNK)) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* One read(2) into l: >0 bytes read, 0 at end of file, -1 on error (errno). */
ssize_t lines_fill(struct lines *l, int fd)
{
	struct buf *b = &l->b;
	if (make_room(l))
		return -1;
	ssize_t n;
	do
		n = read(fd, b->p + b->len, b->cap - b->len);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		b->len += (size_t)n;
	return n;
}

/*
 * lines_fill() of a socket by recvmsg(2): the descriptors that came with
 * the bytes (SCM_RIGHTS) are added to fds[*nfds], up to max; any beyond
 * are closed.
 */
ssize_t lines_recv(struct lines *l, int fd, int *fds, size_t max, size_t *nfds)
{
	struct buf *b = &l->b;
	if (make_room(l))
		return -1;
	union {
		struct cmsghdr align;
		char room[CMSG_SPACE(4 * sizeof(int))];
	} control;
	struct iovec iov = { b->p + b->len, b->cap - b->len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.room, .msg_controllen = sizeof control.room };
	ssize_t n;
	do
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return n;
	b->len += (size_t)n;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int passed;
			memcpy(&passed, CMSG_DATA(cm) + i * sizeof(int), sizeof passed);
			if (*nfds < max)
				fds[(*nfds)++] = passed;
			else
				close(passed);
		}
	}
	return n;
}

/*
 * The next complete line, without its newline (or "\r\n": a serial console
 * may send those). LINE_TOO_LONG reports, once, a line over MAX_LINE that
 * was skipped up to its newline.
 */
enum line_kind lines_next(struct lines *l, const char **line, size_t *len)
{
	struct buf *b = &l->b;
	char *nl = l->scanned < b->len ? memchr(b->p + l->scanned, '\n', b->len - l->scanned) : NULL;
	if (!nl) {
		l->scanned = b->len;
		if (l->skipping || b->len - l->start > MAX_LINE) {
			l->skipping = true;
			b->len = l->start = l->scanned = 0;
		}
		return LINE_NONE;
	}
	*line = b->p + l->start;
	*len = (size_t)(nl - *line);
	l->start = l->scanned = (size_t)(nl - b->p) + 1;
	if (l->skipping || *len > MAX_LINE) {
		l->skipping = false;
		return LINE_TOO_LONG;
	}
	if (*len && (*line)[*len - 1] == '\r')
		--*len;
	return LINE_OK;
}

/* At the end of input: the last line, which ended without a newline; LINE_NONE when there is none. */
enum line_kind lines_rest(struct lines *l, const char **line, size_t *len)
{
	struct buf *b = &l->b;
	if (l->skipping) {
		l->skipping = false;
		b->len = l->start = l->scanned = 0;
		return LINE_TOO_LONG;
	}
	if (l->start >= b->len)
		return LINE_NONE;
	*line = b->p + l->start;
	*len = b->len - l->start;
	l->start = l->scanned = b->len;
	if (*len > MAX_LINE)
		return LINE_TOO_LONG;
	if ((*line)[*len - 1] == '\r')
		--*len;
	return LINE_OK;
}

void lines_release(struct lines *l)
{
	buf_release(&l->b);
	*l = (struct lines){ 0 };
}

int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}
