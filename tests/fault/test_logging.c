/*
 * Logging never stalls the loop and never leaks: with stderr a pipe nobody
 * reads, or in daemon mode a syslog socket nobody reads, clients are still
 * served (lines are dropped, and their number logged once it drains); started with descriptors 0-2
 * closed, the daemon holds them with /dev/null, so no log line lands in one of its own sockets; and
 * every byte of every log line is printable ASCII, whatever bytes clients send.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"

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

	if (th_under_valgrind())
		cr_skip_test("valgrind takes a low descriptor for its own log");
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

/* In a child: a mount namespace whose /dev is a tmpfs holding null, zero,
 * random, urandom and a /dev/log leading to logsock, then execs the daemon
 * in daemon mode (its log goes to syslog, that is /dev/log). */
static _Noreturn void
exec_with_own_dev_log(const char *logsock, const char *olddev, char *const argv[], int out)
{
	static const char *const devs[] = { "null", "zero", "random", "urandom" };
	char from[256], to[64];

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("/dev", olddev, NULL, MS_BIND | MS_REC, NULL) < 0 ||
	    mount("tmpfs", "/dev", "tmpfs", 0, "mode=0755") < 0) {
		dprintf(out, "namespace: %s\n", strerror(errno));
		_exit(126);
	}
	for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) {
		int fd;

		snprintf(from, sizeof from, "%s/%s", olddev, devs[i]);
		snprintf(to, sizeof to, "/dev/%s", devs[i]);
		if ((fd = open(to, O_CREAT | O_WRONLY, 0666)) < 0 || close(fd) < 0 ||
		    mount(from, to, NULL, MS_BIND, NULL) < 0) {
			dprintf(out, "bind %s: %s\n", to, strerror(errno));
			_exit(126);
		}
	}
	if (symlink(logsock, "/dev/log") < 0) {
		dprintf(out, "symlink /dev/log: %s\n", strerror(errno));
		_exit(126);
	}
	dup2(out, 1);
	dup2(out, 2);
	execv(argv[0], argv);
	dprintf(out, "exec: %s\n", strerror(errno));
	_exit(127);
}

/* The pid of the process whose environment holds entry, or -1. */
static pid_t
find_by_env(const char *entry)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = -1;

	cr_assert_not_null(d);
	while (found < 0 && (de = readdir(d)) != NULL) {
		static char buf[65536];
		char path[300];
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

/* Reads the datagrams waiting on fd; true if one holds text. */
static bool
read_datagrams(int fd, const char *text)
{
	char buf[2048];
	bool found = false;
	ssize_t n;

	while ((n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT)) >= 0) {
		buf[n] = '\0';
		if (strstr(buf, text) != NULL)
			found = true;
	}
	return found;
}

Test(logging, unread_syslog_does_not_stall)
{
	static char tag[160];
	char *argv[] = { (char *)th_daemon_path(), "-v", "-c", b.conf, "-s", b.sock, NULL };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char logsock[160], olddev[160];
	long long deadline;
	int lfd, out, c, status, delay = 1;
	bool found = false;
	pid_t child, pid;

	th_require_root("make a mount namespace with its own /dev/log");
	cr_assert_eq(th_prepare(&b, NULL), 0);
	snprintf(logsock, sizeof logsock, "%s/log.sock", b.dir);
	snprintf(olddev, sizeof olddev, "%s/olddev", b.dir);
	cr_assert_eq(mkdir(olddev, 0755), 0);
	/* A syslog daemon that never reads. */
	lfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memcpy(sun.sun_path, logsock, strlen(logsock) + 1);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sun, sizeof sun), 0);
	out = open(b.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	cr_assert_geq(out, 0);
	snprintf(tag, sizeof tag, "UDSB_TEST_DAEMON=%s", b.dir);
	cr_assert_eq(putenv(tag), 0);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0)
		exec_with_own_dev_log(logsock, olddev, argv, out);
	close(out);
	cr_assert_eq(th_reap(child, T, &status), 0);
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		th_dump_log(&b);
		cr_assert_fail("udsbrokerd in daemon mode: status 0x%x", status);
	}
	detached = pid = find_by_env(tag);
	cr_assert_gt(pid, 0, "cannot find the daemon");
	c = th_connect_retry(b.sock, NULL, T);
	cr_assert_geq(c, 0, "the daemon does not accept");

	/* Far more lines than the unread socket's queue holds. */
	churn((int)fault_scaled(400, 100));
	cr_assert_eq(th_ping_barrier(c, "full", NULL, 0), 0, "no PONG: the daemon waits on syslog");
	/* Read the log now: the count of dropped lines comes through. */
	deadline = th_now_ms() + T;
	while (!found && th_left_ms(deadline) > 0) {
		found = read_datagrams(lfd, "log lines dropped: syslog was not read");
		if (!found) {
			th_backoff(&delay);
			churn(1);
		}
	}
	cr_expect(found, "the number of dropped lines was never logged");
	th_close(c);
	kill(pid, SIGTERM);
	cr_assert(gone(pid, T), "the daemon did not stop on SIGTERM");
	detached = 0;
	close(lfd);
}
