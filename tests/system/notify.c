/*
 * Readiness notification, tested for real: the test owns the datagram
 * socket named by NOTIFY_SOCKET, as systemd would, and checks what udsbrokerd
 * sends there and when.
 *   READY=1 only once the socket accepts connections (one connect() right
 *   after it must succeed: no retry), STATUS= with the client count,
 *   RELOADING=1 then READY=1 around SIGHUP (also for a rejected config),
 *   STOPPING=1 on SIGTERM, and every datagram from the daemon's own pid.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "sdnotify.h"

#define T TH_TIMEOUT_MS

/* Prepares a broker directory and a notification socket in it, and starts
 * udsbrokerd -f with NOTIFY_SOCKET pointing there. */
static void
start(struct th_daemon *b, struct notify *n)
{
	cr_assert_eq(th_prepare(b, NULL), 0, "cannot prepare a broker directory");
	cr_assert_eq(notify_open(n, b->dir), 0, "cannot bind a notification socket in %s", b->dir);
	char *argv[] = { (char *)th_daemon_path(), "-f", "-c", b->conf, "-s", b->sock, NULL };
	char setenv_arg[192];
	const char *env[] = { setenv_arg, NULL };

	snprintf(setenv_arg, sizeof setenv_arg, "NOTIFY_SOCKET=%s", n->path);
	cr_assert_eq(th_launch(b, argv, env, 0), 0, "cannot start %s", argv[0]);
}

/* Fails the test unless the daemon says state (e.g. "READY=1") within T. */
static void
expect_state(struct th_daemon *b, struct notify *n, const char *state, char *dgram, size_t size)
{
	cr_assert_eq(notify_wait(n, state, b->pid, dgram, size, T), 0,
	             "udsbrokerd did not send %s (datagrams: %s)", state, n->seen);
}

Test(notify, ready_only_when_accepting_and_stopping_on_sigterm, .timeout = 120)
{
	struct th_daemon b;
	struct notify n;
	char dgram[1024];
	int fd;

	start(&b, &n);
	expect_state(&b, &n, "READY=1", dgram, sizeof dgram);

	/* Ready means ready: the very first connect() succeeds. */
	fd = th_connect(&b);
	cr_assert_geq(fd, 0, "READY=1 came but %s refused a connection: %s", b.sock, strerror(errno));
	cr_assert_eq(th_ping_barrier(fd, "ready", NULL, 0), 0, "no PONG right after READY=1");
	cr_expect(strstr(n.seen, "STATUS=") != NULL && strstr(n.seen, "client") != NULL,
	          "no STATUS= with a client count by READY=1: %s", n.seen);

	cr_assert_eq(kill(b.pid, SIGTERM), 0);
	expect_state(&b, &n, "STOPPING=1", dgram, sizeof dgram);
	cr_expect_eq(th_expect_line(fd, "BYE shutdown", T), 0, "no BYE shutdown before the close");
	cr_assert_eq(th_wait(&b, 0, T), 0, "udsbrokerd did not exit 0 after SIGTERM");
	th_close(fd);
	notify_close(&n);
	th_stop(&b);
}

Test(notify, reloading_then_ready_around_sighup, .timeout = 120)
{
	struct th_daemon b;
	struct notify n;
	char dgram[1024];
	int c1, c2;

	start(&b, &n);
	expect_state(&b, &n, "READY=1", dgram, sizeof dgram);
	c1 = th_connect(&b);
	c2 = th_connect(&b);
	cr_assert(c1 >= 0 && c2 >= 0, "cannot connect two clients");
	cr_assert_eq(th_ping_barrier(c1, "one", NULL, 0), 0);
	cr_assert_eq(th_ping_barrier(c2, "two", NULL, 0), 0);

	/* A good config: RELOADING=1, then READY=1 with the two clients. */
	cr_assert_eq(th_write_config(&b, "max_clients = 500\n"), 0);
	cr_assert_eq(kill(b.pid, SIGHUP), 0);
	expect_state(&b, &n, "RELOADING=1", dgram, sizeof dgram);
	expect_state(&b, &n, "READY=1", dgram, sizeof dgram);
	cr_expect(strstr(dgram, "STATUS=") != NULL && strstr(dgram, "2 client") != NULL,
	          "READY=1 after the reload does not report 2 clients: \"%s\"", dgram);

	/* A broken config is rejected, and the broker is ready again all the
	 * same, with both clients still connected. */
	cr_assert_eq(th_write_config(&b, "max_clients = none\n"), 0);
	cr_assert_eq(kill(b.pid, SIGHUP), 0);
	expect_state(&b, &n, "RELOADING=1", dgram, sizeof dgram);
	expect_state(&b, &n, "READY=1", dgram, sizeof dgram);
	cr_expect_eq(th_ping_barrier(c1, "after", NULL, 0), 0, "client 1 lost by a failed reload");
	cr_expect_eq(th_ping_barrier(c2, "after", NULL, 0), 0, "client 2 lost by a failed reload");

	cr_assert_eq(kill(b.pid, SIGTERM), 0);
	expect_state(&b, &n, "STOPPING=1", dgram, sizeof dgram);
	cr_assert_eq(th_wait(&b, 0, T), 0, "udsbrokerd did not exit 0 after SIGTERM");
	th_close(c1);
	th_close(c2);
	notify_close(&n);
	th_stop(&b);
}
