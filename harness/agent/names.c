/* errno and signal names as responses carry them ("EINVAL", "SIGSEGV"). */
#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>

struct name {
	int value;
	const char *name;
};

#define N(x) { x, #x }

/* The errno values a Linux system call can return (asm-generic/errno*.h), by this libc's numbers. */
static const struct name errnos[] = {
	N(EPERM), N(ENOENT), N(ESRCH), N(EINTR), N(EIO), N(ENXIO), N(E2BIG), N(ENOEXEC), N(EBADF),
	N(ECHILD), N(EAGAIN), N(ENOMEM), N(EACCES), N(EFAULT), N(ENOTBLK), N(EBUSY), N(EEXIST), N(EXDEV),
	N(ENODEV), N(ENOTDIR), N(EISDIR), N(EINVAL), N(ENFILE), N(EMFILE), N(ENOTTY), N(ETXTBSY),
	N(EFBIG), N(ENOSPC), N(ESPIPE), N(EROFS), N(EMLINK), N(EPIPE), N(EDOM), N(ERANGE), N(EDEADLK),
	N(ENAMETOOLONG), N(ENOLCK), N(ENOSYS), N(ENOTEMPTY), N(ELOOP), N(ENOMSG), N(EIDRM), N(ENOSTR),
	N(ENODATA), N(ETIME), N(ENOSR), N(ENOLINK), N(EPROTO), N(EBADMSG), N(EOVERFLOW), N(EILSEQ),
	N(EUSERS), N(ENOTSOCK), N(EDESTADDRREQ), N(EMSGSIZE), N(EPROTOTYPE), N(ENOPROTOOPT),
	N(EPROTONOSUPPORT), N(EOPNOTSUPP), N(EAFNOSUPPORT), N(EADDRINUSE), N(EADDRNOTAVAIL),
	N(ENETDOWN), N(ENETUNREACH), N(ECONNABORTED), N(ECONNRESET), N(ENOBUFS), N(EISCONN),
	N(ENOTCONN), N(ETIMEDOUT), N(ECONNREFUSED), N(EHOSTUNREACH), N(EALREADY), N(EINPROGRESS),
	N(ESTALE), N(EDQUOT), N(ECANCELED), N(EOWNERDEAD), N(ENOTRECOVERABLE), N(ERFKILL), N(EHWPOISON),
};

static const struct name signals[] = {
	N(SIGHUP), N(SIGINT), N(SIGQUIT), N(SIGILL), N(SIGTRAP), N(SIGABRT), N(SIGBUS), N(SIGFPE),
	N(SIGKILL), N(SIGUSR1), N(SIGSEGV), N(SIGUSR2), N(SIGPIPE), N(SIGALRM), N(SIGTERM), N(SIGSYS),
};

static const char *lookup(const struct name *t, size_t n, int value, const char *fallback, char *scratch, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].value == value)
			return t[i].name;
	snprintf(scratch, len, fallback, value);
	return scratch;
}

const char *errno_name(int e, char *scratch, size_t len)
{
	return lookup(errnos, sizeof errnos / sizeof *errnos, e, "ERRNO_%d", scratch, len);
}

const char *signal_name(int sig, char *scratch, size_t len)
{
	return lookup(signals, sizeof signals / sizeof *signals, sig, "signal %d", scratch, len);
}
