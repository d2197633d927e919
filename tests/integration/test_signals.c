/*
 * Signals (SPEC "Signals, release 2" and "udsbrokerd"): SIGUSR1 and SIGUSR2
 * do not stop the broker; a SIGHUP that finds a FIFO or a device where the
 * config was is refused without blocking the loop; and in daemon mode
 * (no -f) relative -c and -s paths still work after the daemon has moved
 * to "/".
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check.h"

#define T TH_TIMEOUT_MS

static struct th_daemon b;
static pid_t detached; /* a daemon-mode broker (no child of ours), if any */

/* A clean exit is part of every test; a daemon-mode broker left by a
 * failed test is killed. */
static void
stop(void)
{
	if (detached > 0)
		kill(detached, SIGKILL);
	cr_expect_eq(th_stop(&b), 0, "udsbrokerd did not exit cleanly on SIGTERM");
}

TestSuite(signals, .fini = stop, .timeout = 120);

/* Asserts the broker still answers on fd and on a new connection. */
static void
still_serving(int fd, const char *tag)
{
	int c;

	cr_assert_eq(th_ping_barrier(fd, tag, NULL, 0), 0, "no PONG after %s", tag);
	c = xconnect(&b);
	quiet(c);
	th_close(c);
}

Test(signals, usr1_logs_the_counters_and_usr2_is_ignored)
{
	int c;

	xstart(&b, NULL);
	c = xconnect(&b);
	xsend(c, "PUB t/x one\n");
	quiet(c);
	cr_assert_eq(kill(b.pid, SIGUSR1), 0);
	/* One line with the counters, from stats_format(). */
	wait_log(&b, "SIGUSR1: clients=1 ", 1);
	cr_expect(th_log_contains(&b, " published=1 "), "the counters are not in the log");
	still_serving(c, "usr1");
	cr_assert_eq(kill(b.pid, SIGUSR2), 0);
	still_serving(c, "usr2");
	cr_assert_eq(kill(b.pid, SIGUSR1), 0);
	wait_log(&b, "SIGUSR1: clients=1 ", 2);
	still_serving(c, "usr1-again");
	th_close(c);
	cr_expect_eq(th_wait(&b, SIGTERM, T), 0, "SIGTERM after SIGUSR1/2: no clean exit");
}

/* Replaces the config with what make() puts there, sends SIGHUP, and checks
 * the reload is refused at once while clients are still served and SIGTERM
 * still stops the broker within its deadline. */
static void
hup_refused(int (*make)(const char *path))
{
	long long t0;
	int c;

	xstart(&b, NULL);
	c = xconnect(&b);
	quiet(c);
	cr_assert_eq(unlink(b.conf), 0);
	cr_assert_eq(make(b.conf), 0, "cannot make %s: %s", b.conf, strerror(errno));
	cr_assert_eq(kill(b.pid, SIGHUP), 0);
	wait_log(&b, "keeping the current configuration", 1);
	cr_expect(th_log_contains(&b, "not a regular file"), "the reason is not logged");
	still_serving(c, "after-hup");
	t0 = th_now_ms();
	cr_expect_eq(th_wait(&b, SIGTERM, T), 0, "SIGTERM after the refused reload");
	cr_expect_lt(th_now_ms() - t0, T, "the stop took too long");
	th_close(c);
}

/* A FIFO nobody writes to: open() for reading would wait for a writer. */
static int
make_fifo(const char *path)
{
	return mkfifo(path, 0600);
}

/* /dev/zero: reading never ends. */
static int
make_zero(const char *path)
{
	return symlink("/dev/zero", path);
}

Test(signals, hup_refuses_a_fifo)
{
	hup_refused(make_fifo);
}

Test(signals, hup_refuses_dev_zero)
{
	hup_refused(make_zero);
}

/* The pid of the process whose environment holds entry, or -1: the
 * daemon after daemon() forked, which is no child of ours (and not the
 * SO_PEERCRED pid either: that is whoever called listen()). */
static pid_t
find_by_env(const char *entry)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = -1;

	cr_assert_not_null(d);
	while (found < 0 && (de = readdir(d)) != NULL) {
		char path[300], buf[65536];
		size_t n;
		FILE *f;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/environ", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = '\0';
		for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
			if (strcmp(buf + i, entry) == 0)
				found = (pid_t)atoi(de->d_name);
	}
	closedir(d);
	return found;
}

/* Waits at most ms for pid (not our child) to exit; true if it did. */
static bool
gone(pid_t pid, int ms)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p = { .fd = pfd, .events = POLLIN };
	bool ok;

	if (pfd < 0)
		return errno == ESRCH;
	ok = poll(&p, 1, ms) == 1;
	close(pfd);
	return ok;
}

Test(signals, daemon_mode_keeps_relative_paths)
{
	static char tag[128];
	char script[512], out[4096];
	char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct stat st;
	pid_t pid;
	int c, rc;

	cr_assert_eq(th_prepare(&b, NULL), 0);
	/* Relative -c and -s, from the daemon's directory; no -f. */
	snprintf(script, sizeof script, "cd '%s' && exec '%s' -c b.conf -s b.sock", b.dir,
	         th_daemon_path());
	/* A mark in the environment, to find the daemon by. */
	snprintf(tag, sizeof tag, "UDSB_TEST_DAEMON=%s", b.dir);
	cr_assert_eq(putenv(tag), 0);
	rc = th_run(argv, out, sizeof out, T);
	cr_assert_eq(rc, 0, "udsbrokerd in daemon mode: status %d: %s", rc, out);
	/* daemon() forked before the parent exited: the daemon is there. */
	detached = pid = find_by_env(tag);
	cr_assert_gt(pid, 0, "cannot find the daemon");
	c = th_connect_retry(b.sock, NULL, T);
	cr_assert_geq(c, 0, "the daemon does not accept on %s", b.sock);
	xsend(c, "PUB t/x before\n");
	quiet(c);
	th_close(c);

	/* Reload a config that denies everything: it must be found. */
	cr_assert_eq(th_write_config(&b, "[access]\ndefault = deny\n"), 0);
	cr_assert_eq(kill(pid, SIGHUP), 0);
	{
		long long deadline = th_now_ms() + T;
		int delay = 1;
		bool denied = false;

		/* Until the reload has happened (bounded): a new client's PUB. */
		while (!denied && th_left_ms(deadline) > 0) {
			char line[256];

			c = xconnect(&b);
			xsend(c, "PUB t/x after\nPING r\n");
			cr_assert_geq(th_recv_line(c, line, sizeof line, T), 0);
			denied = strncmp(line, "ERR", 3) == 0;
			th_close(c);
			if (!denied)
				th_backoff(&delay);
		}
		cr_assert(denied, "the reload of the relative b.conf did not take effect");
	}

	cr_assert_eq(kill(pid, SIGTERM), 0);
	cr_assert(gone(pid, T), "the daemon did not stop on SIGTERM");
	detached = 0;
	cr_expect(lstat(b.sock, &st) < 0 && errno == ENOENT,
	          "the relative socket path was not removed at exit");
}
