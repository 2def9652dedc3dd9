// SPDX-License-Identifier: GPL-2.0-only
/*
 * A stand-in for the agent's --init mode, to prove the boot pipeline without
 * it: mount what an init needs, open the protocol channel, print the ready
 * line, then answer each line: {"id":1,"op":"hello"} with the running
 * kernel's release and machine, anything else echoed back. When the host
 * closes the channel, power off.
 *
 * Usage (the kernel passes what follows "--" on its command line):
 *   /init --console PATH
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/utsname.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static void fail(const char *what)
{
	/* stderr is /dev/console: the message lands in the kernel log, then
	 * init's exit panics the kernel, which the host sees. */
	dprintf(2, "testinit: %s: %s\n", what, strerror(errno));
	/* the UART sends on after write() returns; a panic now would cut the line short */
	tcdrain(2);
	_exit(1);
}

static void mount_or_fail(const char *fstype, const char *target)
{
	if (mount(fstype, target, fstype, 0, NULL) != 0 && errno != EBUSY)
		fail(target);
}

/* virtio-serial ports appear when the host's port-add message has been
 * handled, which may be just after init starts: wait for the node. */
static int open_channel(const char *path)
{
	const struct timespec tick = { 0, 10 * 1000 * 1000 };
	for (int i = 0; i < 1000; i++) {
		int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT)
			return fd;
		nanosleep(&tick, NULL);
	}
	return -1;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int answer(int fd, const char *line, size_t len)
{
	static const char hello[] = "{\"id\":1,\"op\":\"hello\"}";
	if (len == sizeof(hello) - 1 && memcmp(line, hello, len) == 0) {
		struct utsname u;
		char reply[512];
		uname(&u);
		int n = snprintf(reply, sizeof(reply), "{\"id\":1,\"release\":\"%s\",\"machine\":\"%s\"}\n",
				 u.release, u.machine);
		return write_all(fd, reply, (size_t)n);
	}
	if (write_all(fd, line, len) != 0)
		return -1;
	return write_all(fd, "\n", 1);
}

int main(int argc, char **argv)
{
	const char *console = NULL;
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--console") == 0)
			console = argv[i + 1];
	if (console == NULL) {
		errno = EINVAL;
		fail("usage: /init --console PATH");
	}

	mount_or_fail("proc", "/proc");
	mount_or_fail("sysfs", "/sys");
	mount_or_fail("devtmpfs", "/dev");

	int fd = open_channel(console);
	if (fd < 0)
		fail(console);
	/* A tty channel (hvc, serial) would echo and cook lines: make it a plain byte pipe. */
	struct termios t;
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
	static const char ready[] = "mmconform-agent ready\n";
	if (write_all(fd, ready, sizeof(ready) - 1) != 0)
		fail("write ready line");

	static char buf[1 << 16];
	size_t have = 0;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("read");
		if (n == 0)
			break;
		have += (size_t)n;
		char *start = buf, *nl;
		while ((nl = memchr(start, '\n', have - (size_t)(start - buf))) != NULL) {
			if (answer(fd, start, (size_t)(nl - start)) != 0)
				fail("write");
			start = nl + 1;
		}
		have -= (size_t)(start - buf);
		memmove(buf, start, have);
		if (have == sizeof(buf)) {
			errno = E2BIG;
			fail("line too long");
		}
	}
	sync();
	reboot(RB_POWER_OFF);
	fail("reboot");
}
