/*
 * --init: the agent as PID 1 of a QEMU guest booted from an initramfs. It
 * mounts what the tests read (/proc, /sys) and what a console device needs
 * (/dev), applies the run's settings from the kernel command line, and at
 * the end powers the machine off, so QEMU exits.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* mmconform.KEY=VALUE on the kernel command line writes VALUE to the file */
static const struct setting {
	const char *key, *path;
} settings[] = {
	{ "thp", "/sys/kernel/mm/transparent_hugepage/enabled" },
	{ "thp_zero", "/sys/kernel/mm/transparent_hugepage/use_zero_page" },
};

static void warn(const char *what, const char *arg)
{
	fprintf(stderr, "mmconform-agent: %s %s: %s\n", what, arg, strerror(errno));
}

static void mount_fs(const char *source, const char *dir, const char *type, unsigned long flags)
{
	if (mkdir(dir, 0755) && errno != EEXIST)
		warn("mkdir", dir);
	if (mount(source, dir, type, flags, NULL) && errno != EBUSY)
		warn("mount", dir);
}

static void apply_setting(const char *word, size_t len)
{
	static const char prefix[] = "mmconform.";
	char key[32];
	const char *eq = memchr(word, '=', len);
	size_t plen = sizeof prefix - 1;
	if (len <= plen || memcmp(word, prefix, plen))
		return;
	size_t klen = (size_t)((eq ? eq : word + len) - word) - plen;
	snprintf(key, sizeof key, "%.*s", (int)klen, word + plen);
	for (size_t i = 0; i < sizeof settings / sizeof *settings; i++) {
		if (strcmp(settings[i].key, key))
			continue;
		int fd = open(settings[i].path, O_WRONLY | O_CLOEXEC);
		size_t vlen = eq ? len - (size_t)(eq + 1 - word) : 0;
		if (fd < 0 || write(fd, eq + 1, vlen) != (ssize_t)vlen)
			warn("setting", settings[i].path);
		if (fd >= 0)
			close(fd);
		return;
	}
	errno = EINVAL;
	warn("unknown setting", key);
}

static void apply_settings(void)
{
	char cmdline[4096];
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, cmdline, sizeof cmdline - 1);
	if (fd >= 0)
		close(fd);
	if (n < 0) {
		warn("reading", "/proc/cmdline");
		return;
	}
	cmdline[n] = '\0';
	for (char *w = cmdline; *w;) {
		size_t len = strcspn(w, " \t\n");
		apply_setting(w, len);
		w += len;
		w += strspn(w, " \t\n");
	}
}

void init_system(void)
{
	mount_fs("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
	mount_fs("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
	mount_fs("devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC);
	apply_settings();
}

/*
 * A serial line carries the protocol byte for byte: no echo, no line editing,
 * no CR/LF mapping. A virtio port's node may appear a moment after devtmpfs
 * is mounted (the driver probes asynchronously), so a missing one gets 10 s.
 */
int open_console(const char *path)
{
	const struct timespec tick = { 0, 10 * 1000 * 1000 };
	int fd;
	for (int i = 0; (fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0 && errno == ENOENT && i < 1000; i++)
		nanosleep(&tick, NULL);
	struct termios t;
	if (fd >= 0 && isatty(fd) && !tcgetattr(fd, &t)) {
		cfmakeraw(&t);
		if (tcsetattr(fd, TCSANOW, &t))
			warn("raw mode on", path);
	}
	return fd;
}

void power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause(); /* PID 1 must not exit: that panics the kernel */
}
