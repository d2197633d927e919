/*
 * Two daemons started at the same moment on one path (SPEC "Socket path":
 * the check and the bind are one step under PATH.lock): exactly one runs,
 * the other exits with "another broker is listening". And the liveness
 * check never blocks: a live broker whose backlog is full is still seen.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
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

TestSuite(race, .fini = stop, .timeout = 900);

/* A socket file at path that nobody listens on (bound, then closed). */
static void
make_stale(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memcpy(sun.sun_path, path, strlen(path) + 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0, "bind %s", path);
	close(fd);
}

/* Starts udsbrokerd -f on b's config and socket with its output in log;
 * it waits, before exec, until the gate FIFO is opened for writing. */
static pid_t
launch_gated(const char *gate, const char *log)
{
	char *argv[] = { (char *)th_daemon_path(), "-f", "-c", b.conf, "-s", b.sock, NULL };
	struct th_exec_opts o = { .stdin_path = gate };
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	pid_t pid;

	cr_assert_geq(fd, 0);
	o.out_fd = o.err_fd = fd;
	pid = th_exec(argv, &o);
	close(fd);
	cr_assert_gt(pid, 0);
	return pid;
}

/* The start of the file at path (a static buffer; "" if unreadable). */
static const char *
slurp(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* Waits (bounded) until one of pids[2] exits; returns its index, with its
 * status in *status, or -1 when both still run after T. */
static int
first_exit(const pid_t pids[2], int *status)
{
	long long deadline = th_now_ms() + T;
	int delay = 1;

	for (;;) {
		for (int i = 0; i < 2; i++)
			if (waitpid(pids[i], status, WNOHANG) == pids[i])
				return i;
		if (th_left_ms(deadline) == 0)
			return -1;
		th_backoff(&delay);
	}
}

/* One trial: two daemons released at once on the same path (stale socket
 * there or not); fails the test unless exactly one runs. */
static void
trial(long n, const char *gate, const char *logs[2], bool stale)
{
	pid_t pids[2];
	int status, loser, winner, gfd, c;
	struct stat st;

	unlink(b.sock);
	if (stale)
		make_stale(b.sock);
	pids[0] = launch_gated(gate, logs[0]);
	pids[1] = launch_gated(gate, logs[1]);
	/* Opening the FIFO for writing releases both readers together; it
	 * stays open until both are past their open(). */
	gfd = open(gate, O_WRONLY | O_CLOEXEC);
	cr_assert_geq(gfd, 0);

	loser = first_exit(pids, &status);
	if (loser < 0) {
		kill(pids[0], SIGKILL);
		kill(pids[1], SIGKILL);
		waitpid(pids[0], NULL, 0);
		waitpid(pids[1], NULL, 0);
		cr_assert_fail("trial %ld (%s): two brokers running on one path", n,
		               stale ? "stale socket" : "no socket");
	}
	winner = 1 - loser;
	close(gfd);
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 1) ||
	    strstr(slurp(logs[loser]), "another broker is listening") == NULL) {
		kill(pids[winner], SIGKILL);
		waitpid(pids[winner], NULL, 0);
		cr_assert_fail("trial %ld (%s): the second broker exited with status 0x%x, "
		               "without \"another broker is listening\"; its log:\n%s",
		               n, stale ? "stale socket" : "no socket", status, slurp(logs[loser]));
	}
	/* The winner serves on the path, and leaves it clean. */
	b.pid = pids[winner];
	c = th_connect_retry(b.sock, &b.pid, T);
	cr_assert_geq(c, 0, "trial %ld: the running broker does not accept", n);
	th_close(c);
	cr_assert_eq(th_wait(&b, SIGTERM, T), 0, "trial %ld: the winner did not stop cleanly", n);
	cr_assert(lstat(b.sock, &st) < 0 && errno == ENOENT,
	          "trial %ld: the socket was left behind", n);
}

Test(race, two_at_once_exactly_one_runs)
{
	char gate[160], la[160], lb[160];
	const char *logs[2] = { la, lb };
	/* Under valgrind each start takes a second or more; the race is the
	 * kernel's and the lock's, not memory's: a few trials do there. */
	long trials = th_under_valgrind() ? 10 : fault_scaled(500, 20);

	cr_assert_eq(th_prepare(&b, NULL), 0);
	snprintf(gate, sizeof gate, "%s/gate", b.dir);
	snprintf(la, sizeof la, "%s/a.log", b.dir);
	snprintf(lb, sizeof lb, "%s/b.log", b.dir);
	cr_assert_eq(mkfifo(gate, 0600), 0);
	for (long n = 0; n < trials; n++)
		trial(n, gate, logs, n % 2 == 1);
}

Test(race, full_backlog_is_alive)
{
	char *argv[] = { (char *)th_daemon_path(), "-f", "-c", b.conf, "-s", b.sock, NULL };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd, fds[64], nfds = 0, status;
	char out[4096];
	pid_t pid;
	int pipefd[2];
	struct th_exec_opts o = { 0 };
	ssize_t n;
	size_t used = 0;

	cr_assert_eq(th_prepare(&b, NULL), 0);
	/* A "broker" that listens and never accepts, its backlog full. */
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	memcpy(sun.sun_path, b.sock, strlen(b.sock) + 1);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sun, sizeof sun), 0);
	cr_assert_eq(listen(lfd, 0), 0);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

		cr_assert_lt(nfds, 64, "the backlog never filled");
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
			cr_assert_eq(errno, EAGAIN, "connect: %s", strerror(errno));
			close(fd);
			break;
		}
		fds[nfds++] = fd;
	}

	cr_assert_eq(pipe2(pipefd, O_CLOEXEC), 0);
	o.out_fd = o.err_fd = pipefd[1];
	pid = th_exec(argv, &o);
	close(pipefd[1]);
	cr_assert_gt(pid, 0);
	if (th_reap(pid, T, &status) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		cr_assert_fail("udsbrokerd blocked on a live socket with a full backlog");
	}
	while (used < sizeof out - 1 &&
	       (n = read(pipefd[0], out + used, sizeof out - 1 - used)) > 0)
		used += (size_t)n;
	out[used] = '\0';
	close(pipefd[0]);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x", status);
	cr_expect(strstr(out, "another broker is listening") != NULL, "output: %s", out);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	close(lfd);
	unlink(b.sock);
}
