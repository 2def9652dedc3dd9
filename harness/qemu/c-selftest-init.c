// SPDX-License-Identifier: GPL-2.0-only
/*
 * /init for a guest that runs one C selftest (c-selftest.ts), on the machine
 * the agent's guests give the ported tests: the agent's own init_system()
 * (harness/agent/init.c, linked in) mounts /proc, /sys and /dev and applies
 * the mmconform.KEY=VALUE settings (the swap RAM disk, THP); the kernel's
 * hugepages=N reserved the hugetlb pool. Then it prints the ready line on
 * the protocol channel, runs the program as kselftest's runner would (cwd
 * given, stdout and stderr one stream), which goes to the channel byte for
 * byte, reports how it ended on the status port, and powers off.
 *
 * Usage (the kernel passes what follows "--" on its command line):
 *   /init --console PATH --status PATH --cwd DIR PROGRAM [ARG]...
 *
 * Status line: {"exit":N,"signal":null,"ms":WALL} or {"exit":null,"signal":N,"ms":WALL},
 * WALL the program's wall time from fork to reaping, in milliseconds.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* bootGuest's READY_LINE (boot.ts) */
static const char ready[] = "mmconform-agent ready\n";

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "c-selftest-init: %s %s: %s\n", what, arg, strerror(errno));
	power_off();
}

static int send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	const char *console = NULL, *status = NULL, *cwd = "/";
	int i = 1;
	for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (!strcmp(argv[i], "--console"))
			console = argv[i + 1];
		else if (!strcmp(argv[i], "--status"))
			status = argv[i + 1];
		else if (!strcmp(argv[i], "--cwd"))
			cwd = argv[i + 1];
		else
			break;
	}
	if (!console || !status || i >= argc) {
		errno = EINVAL;
		die("usage:", "/init --console PATH --status PATH [--cwd DIR] PROGRAM [ARG]...");
	}

	init_system();
	int out = open_console(console);
	if (out < 0)
		die("opening", console);
	int st = open_console(status);
	if (st < 0)
		die("opening", status);
	if (send_all(out, ready, sizeof ready - 1))
		die("writing the ready line on", console);

	double t0 = now_ms();
	pid_t pid = fork();
	if (pid < 0)
		die("fork", argv[i]);
	if (pid == 0) {
		/* a failure here is the program's: said in its output, status 127 as a shell says it */
		int null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(127);
		if (chdir(cwd))
			fprintf(stderr, "c-selftest-init: chdir %s: %s\n", cwd, strerror(errno));
		else
			execv(argv[i], argv + i);
		fprintf(stderr, "c-selftest-init: exec %s: %s\n", argv[i], strerror(errno));
		_exit(127);
	}
	int ws;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	double ms = now_ms() - t0;

	char line[128];
	int n = WIFEXITED(ws) ? snprintf(line, sizeof line, "{\"exit\":%d,\"signal\":null,\"ms\":%.1f}\n", WEXITSTATUS(ws), ms)
			      : snprintf(line, sizeof line, "{\"exit\":null,\"signal\":%d,\"ms\":%.1f}\n", WTERMSIG(ws), ms);
	if (send_all(st, line, (size_t)n))
		die("writing the status on", status);
	power_off();
}
