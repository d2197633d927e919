/*
 * Logging never stalls the loop and never leaks: with stderr a pipe nobody
 * reads, clients are still served (lines are dropped, and their number
 * logged once the pipe drains); started with descriptors 0-2 closed, the
 * daemon holds them with /dev/null, so no log line lands in one of its own
 * sockets; and every byte of every log line is printable ASCII, whatever
 * bytes clients send.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"

#define T TH_TIMEOUT_MS

static struct th_daemon b;

/* A clean exit is part of every test. */
static void
stop(void)
{
	cr_expect_eq(th_stop(&b), 0, "udsbrokerd did not exit cleanly on SIGTERM");
}

TestSuite(logging, .fini = stop, .timeout = 300);

/* Connects and disconnects n clients: each is a few lines at debug level. */
static void
churn(int n)
{
	for (int i = 0; i < n; i++) {
		int c = th_connect(&b);

		cr_assert_geq(c, 0, "connect %d: %s", i, strerror(errno));
		th_close(c);
	}
}

/* Reads what is in fd now, appending to buf (NUL-terminated); returns the
 * bytes read. */
static size_t
drain_pipe(int fd, char *buf, size_t size, size_t *used)
{
	size_t got = 0;
	ssize_t n;

	while ((n = read(fd, buf + *used, size - 1 - *used)) > 0) {
		*used += (size_t)n;
		got += (size_t)n;
		if (*used >= size - 1)
			*used = 0; /* keep only the tail: we look for the last lines */
	}
	buf[*used] = '\0';
	return got;
}

Test(logging, unread_stderr_pipe_does_not_stall)
{
	char *argv[] = { (char *)th_daemon_path(), "-f", "-v", "-c", b.conf, "-s", b.sock, NULL };
	struct th_exec_opts o = { 0 };
	static char seen[1 << 20];
	size_t used = 0;
	long long deadline;
	int pipefd[2], c, delay = 1;

	cr_assert_eq(th_prepare(&b, NULL), 0);
	cr_assert_eq(pipe2(pipefd, O_CLOEXEC), 0);
	/* The smallest pipe: a few lines fill it. */
	fcntl(pipefd[1], F_SETPIPE_SZ, 4096);
	o.out_fd = o.err_fd = pipefd[1];
	b.pid = th_exec(argv, &o);
	close(pipefd[1]);
	cr_assert_gt(b.pid, 0);
	c = th_connect_retry(b.sock, &b.pid, T);
	cr_assert_geq(c, 0, "the daemon did not start");

	/* Nobody reads the pipe: far more than it holds is logged. */
	churn((int)fault_scaled(400, 100));
	cr_assert_eq(th_ping_barrier(c, "full", NULL, 0), 0,
	             "no PONG: the daemon waits on its stderr");
	th_close(c);
	c = th_connect(&b);
	cr_assert_geq(c, 0);
	cr_assert_eq(th_ping_barrier(c, "new", NULL, 0), 0, "a new client is not served");

	/* Read the pipe now: the count of dropped lines comes through. */
	cr_assert_eq(fcntl(pipefd[0], F_SETFL, O_NONBLOCK), 0);
	deadline = th_now_ms() + T;
	while (strstr(seen, "log lines dropped") == NULL && th_left_ms(deadline) > 0) {
		if (drain_pipe(pipefd[0], seen, sizeof seen, &used) == 0)
			th_backoff(&delay);
		churn(1); /* a line to log, after which the count is due */
	}
	cr_expect(strstr(seen, "log lines dropped") != NULL,
	          "the number of dropped lines was never logged; the tail:\n%s", seen);
	quiet(c);
	th_close(c);
	cr_expect_eq(th_wait(&b, SIGTERM, T), 0);
	close(pipefd[0]);
}

/* Where /proc says fd of pid leads ("" if nowhere). */
static const char *
fd_target(pid_t pid, int fd)
{
	static char buf[256];
	char path[64];
	ssize_t n;

	snprintf(path, sizeof path, "/proc/%ld/fd/%d", (long)pid, fd);
	n = readlink(path, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

Test(logging, closed_stdio_is_held_by_dev_null)
{
	char script[512];
	char *argv[] = { "/bin/sh", "-c", script, NULL };
	int c;

	cr_assert_eq(th_prepare(&b, NULL), 0);
	snprintf(script, sizeof script, "exec '%s' -f -v -c '%s' -s '%s' <&- >&- 2>&-",
	         th_daemon_path(), b.conf, b.sock);
	cr_assert_eq(th_launch(&b, argv, NULL, 0), 0);
	c = th_connect_retry(b.sock, &b.pid, T);
	cr_assert_geq(c, 0, "the daemon did not start with fds 0-2 closed");
	/* Something logs (at debug, a connection does); the client sees only
	 * the protocol. */
	churn(3);
	quiet(c);
	for (int fd = 0; fd < 3; fd++)
		cr_expect_str_eq(fd_target(b.pid, fd), "/dev/null",
		                 "fd %d of the daemon is %s, not /dev/null", fd,
		                 fd_target(b.pid, fd));
	th_close(c);
}

/* Each byte of the daemon's log is printable ASCII or a newline. */
static void
expect_printable_log(void)
{
	static char buf[1 << 20];
	FILE *f = fopen(b.log, "r");
	size_t n;

	cr_assert_not_null(f);
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	cr_assert_gt(n, 0, "empty log");
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)buf[i];

		if (ch != '\n' && (ch < 0x20 || ch > 0x7e)) {
			size_t from = i > 60 ? i - 60 : 0;

			cr_assert_fail("byte 0x%02x at %zu in the log, after: %.*s", ch, i,
			               (int)(i - from), buf + from);
		}
	}
}

Test(logging, untrusted_bytes_are_escaped)
{
	/* ESC [ (CSI), C1 CSI raw and in UTF-8, a bidi override (U+202E), a
	 * bell, DEL: in topics, filters and command words. */
	static const char *const nasty[] = {
		"\x1b[31mred",
		"c1\x9b"
		"2J",
		"utf8c1\xc2\x9b"
		"2J",
		"bidi\xe2\x80\xae"
		"txt",
		"bell\x07",
		"del\x7f",
		"isolate\xe2\x81\xa6"
		"x",
	};
	char line[512];
	int c;

	xstart(&b, "[access]\ndefault = deny\n");
	c = xconnect(&b);
	for (size_t i = 0; i < sizeof nasty / sizeof nasty[0]; i++) {
		snprintf(line, sizeof line, "PUB ok/%s payload\n", nasty[i]);
		xsend(c, line);
		snprintf(line, sizeof line, "SUB ok/%s\n", nasty[i]);
		xsend(c, line);
		snprintf(line, sizeof line, "%s x\n", nasty[i]);
		xsend(c, line);
	}
	barrier(c);
	/* The denials are rate-limited notices: at least the first one. */
	wait_log(&b, "denied by the access rules", 1);
	th_close(c);
	cr_expect_eq(th_wait(&b, SIGTERM, T), 0);
	expect_printable_log();
}
