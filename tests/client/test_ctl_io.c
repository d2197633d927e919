/*
 * udsctl when its own output fails (issue 11.9): stdout or stderr a full
 * device (/dev/full) or a pipe nobody reads any more. Every such failure
 * is one line on stderr, where stderr still works, and exit status 74
 * (EX_IOERR), never a silent status or a death by SIGPIPE; and
 * `udsctl sub t | head -1` ends quietly with 74 once head has gone.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

TestSuite(ctl_io, .fini = ct_stop, .timeout = 120);

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Where udsctl's stdout or stderr goes. */
enum sink {
	SINK_FILE,   /* a file the test reads afterwards */
	SINK_FULL,   /* /dev/full: every write fails with ENOSPC */
	SINK_CLOSED, /* a pipe whose read end is closed: EPIPE (and SIGPIPE) */
};

/* A descriptor for sink; for SINK_FILE, path is the file. */
static int
open_sink(enum sink s, const char *path)
{
	int p[2], fd;

	switch (s) {
	case SINK_FILE:
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		break;
	case SINK_FULL:
		fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
		break;
	default:
		cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
		close(p[0]);
		fd = p[1];
		break;
	}
	cr_assert_geq(fd, 0, "%s", strerror(errno));
	return fd;
}

/* What one run of udsctl gave. */
struct result {
	int status; /* exit status, or 128 + signal */
	char err[4096];
};

/* Runs udsctl (args without argv[0]) with stdout and stderr to the sinks;
 * stderr, when a file, comes back in r->err. */
static void
run(struct result *r, const char *const *args, enum sink out, enum sink err)
{
	char errpath[192], outpath[192];
	const char *argv[24];
	size_t n = 0;
	int ws, ofd, efd;
	pid_t pid;
	FILE *f;

	snprintf(errpath, sizeof errpath, "/tmp/udsb-ctlio-err-%d", (int)getpid());
	snprintf(outpath, sizeof outpath, "/tmp/udsb-ctlio-out-%d", (int)getpid());
	argv[n++] = ct_udsctl();
	for (size_t i = 0; args[i] != NULL; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ofd = open_sink(out, outpath);
	efd = open_sink(err, errpath);
	pid = th_exec((char *const *)argv,
	              &(struct th_exec_opts){ .out_fd = ofd, .err_fd = efd, .env = NULL });
	cr_assert_gt(pid, 0);
	close(ofd);
	close(efd);
	cr_assert_eq(th_reap(pid, TH_TIMEOUT_MS, &ws), 0, "udsctl %s did not exit", args[0]);
	r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	r->err[0] = '\0';
	if (err == SINK_FILE && (f = fopen(errpath, "r")) != NULL) {
		size_t len = fread(r->err, 1, sizeof r->err - 1, f);

		r->err[len] = '\0';
		fclose(f);
	}
	unlink(errpath);
	unlink(outpath);
}

/* Exit 74 and exactly one line on stderr saying stdout failed. */
static void
expect_stdout_failure(const struct result *r, const char *what, const char *reason)
{
	cr_expect_eq(r->status, 74, "%s: status %d (128+13 is death by SIGPIPE); stderr: %s", what,
	             r->status, r->err);
	cr_expect_eq(th_count_lines(r->err), 1, "%s: stderr is not one line: \"%s\"", what, r->err);
	cr_expect(strstr(r->err, "udsctl: cannot write to standard output: ") != NULL &&
	              strstr(r->err, reason) != NULL,
	          "%s: stderr \"%s\" does not say \"%s\"", what, r->err, reason);
}

/* --help (udsctl's and a subcommand's) and --version to a full device and
 * to a closed pipe. */
Test(ctl_io, help_and_version_to_a_failing_stdout)
{
	const char *const *cmds[] = { ARGS("--help"), ARGS("--version"), ARGS("sub", "--help"),
		                      ARGS("serve", "t", "--help") };
	struct result r;

	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		run(&r, cmds[i], SINK_FULL, SINK_FILE);
		expect_stdout_failure(&r, cmds[i][0], strerror(ENOSPC));
		run(&r, cmds[i], SINK_CLOSED, SINK_FILE);
		expect_stdout_failure(&r, cmds[i][0], strerror(EPIPE));
	}
}

/* stats and ping: the same once the broker has answered. */
Test(ctl_io, stats_and_ping_to_a_failing_stdout)
{
	const char *const *cmds[2];
	struct result r;

	ct_start(NULL);
	cmds[0] = ARGS("-s", ct_daemon.sock, "stats");
	cmds[1] = ARGS("-s", ct_daemon.sock, "ping", "-c", "3");
	for (size_t i = 0; i < 2; i++) {
		run(&r, cmds[i], SINK_FULL, SINK_FILE);
		expect_stdout_failure(&r, cmds[i][2], strerror(ENOSPC));
		run(&r, cmds[i], SINK_CLOSED, SINK_FILE);
		expect_stdout_failure(&r, cmds[i][2], strerror(EPIPE));
	}
}

/* sub --retained-only, sub --json and req (answered by a serve): the same
 * once they have something to print. */
Test(ctl_io, retained_only_and_req_to_a_failing_stdout)
{
	const char *const *cmds[3];
	struct th_proc serve;
	struct udsb *svc;
	struct result r;

	ct_start(NULL);
	svc = ct_connect(NULL);
	cr_assert_eq(udsb_retain(svc, "io/kept", "value", 5), UDSB_OK);
	cr_assert_eq(udsb_ping(svc, NULL), UDSB_OK);
	ct_spawn_s(&serve, ARGS("serve", "svc/io", "--", "echo", "answer"), NULL);
	ct_wait_subscriptions(svc, 1);
	cmds[0] = ARGS("-s", ct_daemon.sock, "sub", "--retained-only", "io/#");
	cmds[1] = ARGS("-s", ct_daemon.sock, "sub", "--json", "-n", "1", "io/#");
	cmds[2] = ARGS("-s", ct_daemon.sock, "req", "svc/io");
	for (size_t i = 0; i < 3; i++) {
		run(&r, cmds[i], SINK_FULL, SINK_FILE);
		expect_stdout_failure(&r, cmds[i][2], strerror(ENOSPC));
	}
	kill(serve.pid, SIGTERM);
	th_proc_finish(&serve);
	th_proc_free(&serve);
	udsb_free(svc);
}

/* A failing stderr: the message cannot be told, the status says it. */
Test(ctl_io, failing_stderr_is_74)
{
	struct result r;

	run(&r, ARGS("-s", "/nonexistent/udsb.sock", "ping"), SINK_FILE, SINK_FULL);
	cr_expect_eq(r.status, 74, "unreachable broker, stderr full: %d", r.status);
	run(&r, ARGS("-s", "/nonexistent/udsb.sock", "ping"), SINK_FILE, SINK_CLOSED);
	cr_expect_eq(r.status, 74, "unreachable broker, stderr closed: %d", r.status);
	run(&r, ARGS("no-such-subcommand"), SINK_FILE, SINK_FULL);
	cr_expect_eq(r.status, 74, "usage error, stderr full: %d", r.status);
	/* With stderr working, the statuses are the usual ones. */
	run(&r, ARGS("-s", "/nonexistent/udsb.sock", "ping"), SINK_FILE, SINK_FILE);
	cr_expect_eq(r.status, 69, "%s", r.err);
	run(&r, ARGS("no-such-subcommand"), SINK_FILE, SINK_FILE);
	cr_expect_eq(r.status, 64, "%s", r.err);
}

/* `udsctl sub t | head -1`: the first message is read, the reader goes,
 * and the next one ends udsctl quietly with status 74. */
Test(ctl_io, sub_into_head)
{
	char errpath[192], line[256];
	const char *argv[8];
	int p[2], efd, ws, pub;
	struct udsb *c;
	ssize_t n;
	pid_t pid;
	FILE *f;

	ct_start(NULL);
	snprintf(errpath, sizeof errpath, "%s/sub.err", ct_daemon.dir);
	argv[0] = ct_udsctl();
	argv[1] = "-s";
	argv[2] = ct_daemon.sock;
	argv[3] = "sub";
	argv[4] = "t";
	argv[5] = NULL;
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(efd, 0);
	pid = th_exec((char *const *)argv, &(struct th_exec_opts){ .out_fd = p[1], .err_fd = efd });
	cr_assert_gt(pid, 0);
	close(p[1]);
	close(efd);

	c = ct_connect(NULL);
	ct_wait_subscriptions(c, 1);
	pub = xconnect(&ct_daemon);
	xsend(pub, "PUB t first\n");
	n = read(p[0], line, sizeof line - 1); /* head -1 */
	cr_assert_gt(n, 0);
	line[n] = '\0';
	cr_expect_str_eq(line, "first\n");
	close(p[0]); /* head exits */
	for (int i = 0; i < 3; i++)
		xsend(pub, "PUB t more\n");
	quiet(pub);
	cr_assert_eq(th_reap(pid, TH_TIMEOUT_MS, &ws), 0, "udsctl sub did not exit");
	cr_expect(WIFEXITED(ws), "udsctl sub died of signal %d",
	          WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
	cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 74, "udsctl sub: status %d",
	          WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
	f = fopen(errpath, "r");
	cr_assert_not_null(f);
	n = (ssize_t)fread(line, 1, sizeof line - 1, f);
	fclose(f);
	line[n < 0 ? 0 : n] = '\0';
	cr_expect_str_empty(line, "udsctl sub said on stderr: %s", line);
	udsb_free(c);
}

/* sub into a full device is an error to tell, unlike a reader that went. */
Test(ctl_io, sub_into_a_full_device)
{
	char errpath[192], buf[512];
	const char *argv[8];
	int ofd, efd, ws, pub;
	struct udsb *c;
	pid_t pid;
	size_t n;
	FILE *f;

	ct_start(NULL);
	snprintf(errpath, sizeof errpath, "%s/sub.err", ct_daemon.dir);
	argv[0] = ct_udsctl();
	argv[1] = "-s";
	argv[2] = ct_daemon.sock;
	argv[3] = "sub";
	argv[4] = "t";
	argv[5] = NULL;
	ofd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert(ofd >= 0 && efd >= 0);
	pid = th_exec((char *const *)argv, &(struct th_exec_opts){ .out_fd = ofd, .err_fd = efd });
	cr_assert_gt(pid, 0);
	close(ofd);
	close(efd);
	c = ct_connect(NULL);
	ct_wait_subscriptions(c, 1);
	pub = xconnect(&ct_daemon);
	xsend(pub, "PUB t one\n");
	quiet(pub);
	cr_assert_eq(th_reap(pid, TH_TIMEOUT_MS, &ws), 0, "udsctl sub did not exit");
	cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 74, "udsctl sub: wait status %d", ws);
	f = fopen(errpath, "r");
	cr_assert_not_null(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	cr_expect_eq(th_count_lines(buf), 1, "stderr: \"%s\"", buf);
	cr_expect(strstr(buf, strerror(ENOSPC)) != NULL, "stderr: \"%s\"", buf);
	udsb_free(c);
}
