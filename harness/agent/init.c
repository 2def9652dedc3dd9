/*
 * --init: the agent as PID 1 of a QEMU guest booted from an initramfs. It
 * mounts what the tests read (/proc, /sys) and what a console device needs
 * (/dev), applies the run's settings from the kernel command line, and at
 * the end powers the machine off, so QEMU exits. It loads the harness's
 * page-table reader (kmod/) when one is packed.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static void warn(const char *what, const char *arg)
{
	fprintf(stderr, "mmconform-agent: %s %s: %s\n", what, arg, strerror(errno));
}

static int write_file(const char *path, const char *value, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int rc = fd < 0 || write(fd, value, len) != (ssize_t)len ? -1 : 0;
	if (fd >= 0)
		close(fd);
	return rc;
}

/* A small /proc or /sys file's text, NUL-terminated: its length, or -1 when it cannot be read. */
static ssize_t read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* A number a sysfs file holds; -1 when it cannot be read. */
static long read_long(const char *path)
{
	char buf[32];
	return read_text(path, buf, sizeof buf) <= 0 ? -1 : strtol(buf, NULL, 10);
}

/* THP off: khugepaged does not run */
static int thp_never(void)
{
	char buf[64];
	return read_text("/sys/kernel/mm/transparent_hugepage/enabled", buf, sizeof buf) <= 0 || strstr(buf, "[never]") != NULL;
}

/* open(2), waiting up to ms for a device node devtmpfs has yet to make (its driver probes asynchronously). */
static int open_when_made(const char *path, int flags, int ms)
{
	const struct timespec tick = { 0, 10 * 1000 * 1000 };
	int fd;
	for (int i = 0; (fd = open(path, flags)) < 0 && errno == ENOENT && i < ms / 10; i++)
		nanosleep(&tick, NULL);
	return fd;
}

/* The RAM disk the harness packs (from the guest kernel's own modules) and swaps to. */
#define RAMDISK_MODULE "/lib/modules/brd.ko.xz"
#define RAMDISK "/dev/ram0"
#define MODULE_INIT_COMPRESSED_FILE 4 /* linux/module.h, v6.0 */

/* mkswap's page 0: version 1, the last usable page, no bad pages, the magic at the end (linux/swap.h: union swap_header). */
static int write_swap_header(int fd, uint32_t pages)
{
	static unsigned char page[4096];
	uint32_t info[3] = { 1, pages - 1, 0 };
	memcpy(page + 1024, info, sizeof info);
	memcpy(page + sizeof page - 10, "SWAPSPACE2", 10);
	return pwrite(fd, page, sizeof page, 0) == (ssize_t)sizeof page && !fsync(fd) ? 0 : -1;
}

/* swap=KiB: a brd RAM disk of that size as the swap device (0: none). */
static int enable_swap(const char *value, size_t len)
{
	char params[64];
	unsigned long kib = strtoul(value, NULL, 10);
	if (!len || !kib)
		return 0;
	int mod = open(RAMDISK_MODULE, O_RDONLY | O_CLOEXEC);
	snprintf(params, sizeof params, "rd_nr=1 rd_size=%lu", kib);
	if (mod < 0 || syscall(__NR_finit_module, mod, params, MODULE_INIT_COMPRESSED_FILE)) {
		warn("loading", RAMDISK_MODULE);
		if (mod >= 0)
			close(mod);
		return -1;
	}
	close(mod);
	int fd = open_when_made(RAMDISK, O_RDWR | O_CLOEXEC, 5000);
	if (fd < 0 || write_swap_header(fd, (uint32_t)(kib / 4))) {
		warn("writing a swap header on", RAMDISK);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (swapon(RAMDISK, 0)) {
		warn("swapon", RAMDISK);
		return -1;
	}
	return 0;
}

/*
 * The page-table reader the harness packs when it could build it for this
 * kernel (kmod/); without it the guest serves on, its "descriptors" ENOTTY.
 */
#define PGWALK_MODULE "/lib/modules/mmconform_pgwalk.ko"

static void load_pgwalk(void)
{
	int mod = open(PGWALK_MODULE, O_RDONLY | O_CLOEXEC);
	if (mod < 0) {
		if (errno != ENOENT)
			warn("opening", PGWALK_MODULE);
		return;
	}
	if (syscall(__NR_finit_module, mod, "", 0))
		warn("loading", PGWALK_MODULE);
	close(mod);
}

/*
 * mmconform.khugepaged=asleep: khugepaged kept asleep; its collapses come whenever it wakes, which no
 * model can follow step for step (measured: a 2 MiB block of
 * pagemap_ioctl's collapsed within milliseconds of UFFDIO_UNREGISTER in 7
 * of 9 runs on 7.2). It sleeps scan_sleep_millisecs between passes but
 * wakes at once when a process joins an empty list of mms to scan; a child
 * holding a VM_HUGEPAGE area (with a page in it) keeps that list from ever being empty, and
 * the sleep goes to its maximum (49 days) once the child is on it. The
 * pass that join (and the new sleep) start is waited out, so it cannot
 * reach a test's process.
 */
static int quiet_khugepaged(const char *value, size_t len)
{
	static const char sleep_path[] = "/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs";
	static const char scans_path[] = "/sys/kernel/mm/transparent_hugepage/khugepaged/full_scans";
	const size_t pmd = 2 << 20;
	long scans = read_long(scans_path);
	int ready[2];
	if (len != 6 || memcmp(value, "asleep", 6)) {
		errno = EINVAL;
		warn("khugepaged setting", value);
		return -1;
	}
	if (pipe2(ready, O_CLOEXEC)) {
		warn("pipe", "khugepaged");
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0)
		warn("fork", "khugepaged");
	if (pid == 0) {
		char *p = mmap(NULL, 2 * pmd, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *aligned = (char *)(((uintptr_t)p + pmd - 1) & ~(uintptr_t)(pmd - 1));
		/* a page stored to first: khugepaged takes no area without an anon_vma */
		if (p != MAP_FAILED && (*(volatile char *)aligned = 1) && !madvise(aligned, pmd, MADV_HUGEPAGE))
			(void)!write(ready[1], "", 1);
		close(ready[1]);
		for (;;)
			pause();
	}
	close(ready[1]);
	char c;
	if (pid > 0 && read(ready[0], &c, 1) != 1)
		warn("holding a VM_HUGEPAGE area for", "khugepaged");
	close(ready[0]);
	if (write_file(sleep_path, "4294967295", 10))
		warn("setting", sleep_path);
	if (thp_never())
		return 0; /* no khugepaged thread to wait for */
	const struct timespec tick = { 0, 10 * 1000 * 1000 };
	for (int i = 0; scans >= 0 && read_long(scans_path) == scans && i < 1000; i++)
		nanosleep(&tick, NULL);
	return 0;
}

/* mmconform.KEY=VALUE on the kernel command line: VALUE written to a file, or handed to a function */
static const struct setting {
	const char *key, *path;
	int (*apply)(const char *value, size_t len);
} settings[] = {
	{ "thp", "/sys/kernel/mm/transparent_hugepage/enabled", NULL },
	{ "thp_zero", "/sys/kernel/mm/transparent_hugepage/use_zero_page", NULL },
	{ "swap", NULL, enable_swap },
	{ "khugepaged", NULL, quiet_khugepaged },
};

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
		size_t vlen = eq ? len - (size_t)(eq + 1 - word) : 0;
		char value[64];
		snprintf(value, sizeof value, "%.*s", (int)vlen, eq ? eq + 1 : "");
		if (settings[i].apply)
			settings[i].apply(value, strlen(value));
		else if (write_file(settings[i].path, value, strlen(value)))
			warn("setting", settings[i].path);
		return;
	}
	errno = EINVAL;
	warn("unknown setting", key);
}

static void apply_settings(void)
{
	char cmdline[4096];
	if (read_text("/proc/cmdline", cmdline, sizeof cmdline) < 0) {
		warn("reading", "/proc/cmdline");
		return;
	}
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
	load_pgwalk();
	apply_settings();
}

/*
 * A serial line carries the protocol byte for byte: no echo, no line editing,
 * no CR/LF mapping. A virtio port's node may appear a moment after devtmpfs
 * is mounted, so a missing one gets 10 s.
 */
int open_console(const char *path)
{
	int fd = open_when_made(path, O_RDWR | O_NOCTTY | O_CLOEXEC, 10000);
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
	/* the console's UART sends on after write() returns: let last words out before the machine stops */
	if (isatty(2))
		tcdrain(2);
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause(); /* PID 1 must not exit: that panics the kernel */
}
