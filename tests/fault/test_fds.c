/*
 * Descriptors: connection churn must not leak any, and running out of them
 * must neither spin the event loop nor wedge the listener.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fault.h"

/* One connect-then-close cycle, in one of five manners. */
static void
churn_once(const struct th_daemon *b, long i)
{
	int fd = xconnect(b);

	switch (i % 5) {
	case 0: /* nothing said */
		break;
	case 1: /* a command whose reply will find the socket closed */
		xsend(fd, "PING unread\n");
		break;
	case 2: /* a subscription, and a partial line left behind */
		xsend(fd, "SUB churn/#\nPUB churn/x never-finished");
		break;
	case 3: /* half close first */
		shutdown(fd, SHUT_WR);
		break;
	case 4: /* a publish to the subscribers of case 2 that are going away */
		xsend(fd, "PUB churn/x hello\n");
		break;
	}
	th_close(fd);
}

Test(fds, connect_close_cycles_leak_nothing, .timeout = 900)
{
	struct th_daemon b;
	long cycles = fault_scaled(10000, 500);
	long long conns_before;
	int ctl, fresh, fds_before, fds_after;

	ctl = xstart_ctl(&b, NULL);
	fds_before = settled_fds(&b, ctl, 1);
	conns_before = stat_of(ctl, "connections");

	for (long i = 0; i < cycles; i++)
		churn_once(&b, i);

	/* A fresh connection proves the broker is serving; once it is the
	 * only client, every close above has been handled. */
	th_close(ctl);
	fresh = xconnect(&b);
	cr_assert_eq(th_ping_barrier(fresh, "after-churn", NULL, 0), 0);
	fds_after = settled_fds(&b, fresh, 1);
	cr_assert_eq(stat_of(fresh, "connections") - conns_before, cycles + 1,
	             "not every connection was accepted");
	cr_assert_eq(stat_of(fresh, "subscriptions"), 0);
	cr_assert_eq(fds_after, fds_before,
	             "%ld connect/close cycles: %d descriptors before, %d after", cycles,
	             fds_before, fds_after);
	th_close(fresh);
	xstop(&b);
}

#define NOFILE    64
#define MAX_CONNS 256
#define PENDING   4
#define WINDOW_MS 3000

/* Waits for "PONG tag" on fd; asserts it comes. */
static void
expect_pong(int fd, const char *tag)
{
	char want[64];

	snprintf(want, sizeof want, "PONG %s", tag);
	cr_assert_eq(th_expect_line(fd, want, TH_TIMEOUT_MS), 0, "no %s", want);
}

Test(fds, emfile_pauses_without_spinning_and_recovers, .timeout = 600)
{
	static const char emfile[] = "Too many open files";
	struct th_daemon b;

	/* Valgrind keeps descriptors of its own above the limit it shows the
	 * program, and enforces that limit itself: accept() succeeds, then
	 * valgrind closes the new descriptor and returns EMFILE, so the
	 * waiting client is dropped rather than left waiting. Nothing to
	 * learn about the daemon there. */
	if (th_under_valgrind())
		cr_skip_test("valgrind emulates RLIMIT_NOFILE differently");
	int conns[MAX_CONNS], nconns = 0, accepted;
	long long conns0;
	int pending[PENDING];
	char tag[32];
	long cpu0, cpu1;
	long long t0, t1;
	struct pollfd pfds[PENDING];

	cr_assert_eq(th_prepare(&b, NULL), 0);
	cr_assert_eq(th_spawn_nofile(&b, NOFILE), 0, "udsbrokerd did not start with %d fds",
	             NOFILE);

	/* The first client; once it is the only one, no descriptor of the
	 * daemon's will be freed before this test closes one. */
	conns[nconns++] = xconnect(&b);
	cr_assert_eq(th_ping_barrier(conns[0], "c0", NULL, 0), 0);
	wait_stat(conns[0], "clients", 1);
	conns0 = stat_of(conns[0], "connections");

	/* Connect one client at a time until one is not accepted. It is
	 * accepted if it gets its PONG. It is not if the daemon has logged
	 * EMFILE (from then on it holds all its descriptors: nothing frees
	 * one) and the connection counter does not count it. */
	for (;;) {
		int fd;

		cr_assert_lt(nconns, MAX_CONNS, "%d clients accepted with RLIMIT_NOFILE %d", nconns,
		             NOFILE);
		fd = xconnect(&b);
		snprintf(tag, sizeof tag, "c%d", nconns);
		xsend(fd, "PING ");
		xsend(fd, tag);
		xsend(fd, "\n");
		for (long long deadline = th_now_ms() + TH_TIMEOUT_MS;;) {
			char line[64];

			if (th_recv_line(fd, line, sizeof line, 20) >= 0) {
				cr_assert(strncmp(line, "PONG c", 6) == 0, "got \"%s\"", line);
				conns[nconns++] = fd;
				fd = -1;
				break;
			}
			if (th_log_count(&b, emfile) > 0) {
				if (stat_of(conns[0], "connections") == conns0 + nconns - 1)
					break; /* not accepted, and will not be */
				expect_pong(fd, tag);
				conns[nconns++] = fd;
				fd = -1;
				break;
			}
			cr_assert_lt(th_now_ms(), deadline,
			             "client %d: neither PONG nor EMFILE in the log", nconns);
		}
		if (fd >= 0) {
			pending[0] = fd;
			break;
		}
	}
	accepted = nconns;
	cr_assert_gt(accepted, PENDING + 1, "only %d clients fit in %d descriptors", accepted,
	             NOFILE);
	for (int i = 1; i < PENDING; i++) {
		pending[i] = xconnect(&b);
		snprintf(tag, sizeof tag, "p%d", i);
		xsend(pending[i], "PING ");
		xsend(pending[i], tag);
		xsend(pending[i], "\n");
	}

	/* Out of descriptors with clients waiting: the daemon must sleep,
	 * not retry in a loop. Measure its CPU time over a window, during
	 * which none of the waiting clients may be served. */
	for (int i = 0; i < PENDING; i++)
		pfds[i] = (struct pollfd){ .fd = pending[i], .events = POLLIN };
	cpu0 = proc_cpu_ms(b.pid);
	t0 = th_now_ms();
	for (long long end = t0 + WINDOW_MS, now; (now = th_now_ms()) < end;) {
		int r = poll(pfds, PENDING, (int)(end - now));

		cr_assert_geq(r, 0, "poll: %s", strerror(errno));
		for (int i = 0; r > 0 && i < PENDING; i++) {
			char line[64];

			if (pfds[i].revents == 0)
				continue;
			if (th_recv_line(pending[i], line, sizeof line, TH_TIMEOUT_MS) >= 0)
				cr_assert_fail("waiting client %d was served (\"%s\") while the"
				               " daemon had no descriptor",
				               i, line);
			cr_assert_fail("waiting client %d was closed while the daemon had no"
			               " descriptor",
			               i);
		}
	}
	cpu1 = proc_cpu_ms(b.pid);
	t1 = th_now_ms();
	cr_assert(cpu0 >= 0 && cpu1 >= 0, "cannot read /proc/%d/stat", (int)b.pid);
	cr_log_info("out of descriptors: %ld ms of CPU in %lld ms", cpu1 - cpu0, t1 - t0);
	/* An idle daemon uses next to nothing here (a retry a second); one
	 * that retries accept() in a loop used a quarter to all of the window
	 * in trials, depending on the load: a tenth is the line. */
	cr_assert_lt(cpu1 - cpu0, (t1 - t0) / 10,
	             "the daemon used %ld ms of CPU in %lld ms while out of descriptors",
	             cpu1 - cpu0, t1 - t0);

	/* Still out of descriptors: a reload, which opens the config and looks
	 * up a user name, works all the same (from a reserve of descriptors). */
	cr_assert_eq(th_write_config(&b, "max_subscriptions = 999\n[access]\n"
	                                 "rule = deny pub never/# user=nobody\n"),
	             0);
	kill(b.pid, SIGHUP);
	wait_log(&b, "configuration reloaded", 1);
	cr_expect_eq(th_log_count(&b, "reload:"), 0, "the reload failed while out of descriptors");

	/* Free PENDING + 1 descriptors: the waiting clients and one more
	 * must be served. */
	for (int i = 0; i < PENDING + 1; i++)
		th_close(conns[--nconns]);
	snprintf(tag, sizeof tag, "c%d", accepted);
	expect_pong(pending[0], tag);
	for (int i = 1; i < PENDING; i++) {
		snprintf(tag, sizeof tag, "p%d", i);
		expect_pong(pending[i], tag);
	}
	{
		int fd = xconnect(&b);

		cr_assert_eq(th_ping_barrier(fd, "new", NULL, 0), 0, "a new client is not served");
		wait_stat(fd, "clients", nconns + PENDING + 1);
		th_close(fd);
	}
	for (int i = 0; i < PENDING; i++)
		th_close(pending[i]);
	while (nconns > 0)
		th_close(conns[--nconns]);
	xstop(&b);
}

/* Connects to 127.0.0.1:port and sends "PING tag"; asserts it could. */
static int
tcp_ping(int port, const char *tag)
{
	int fd = th_connect_tcp(port);
	char line[64];

	cr_assert_geq(fd, 0, "connect: %s", strerror(errno));
	snprintf(line, sizeof line, "PING %s\n", tag);
	xsend(fd, line);
	return fd;
}

/* Running out of descriptors on a TCP listener: it pauses without
 * spinning, as the main socket does, and both resume when clients leave. */
Test(fds, emfile_pauses_every_listener, .timeout = 600)
{
	static const char emfile[] = "Too many open files";
	int port = xfree_port(), conns[MAX_CONNS], nconns = 0, ctl, waiting[2];
	char config[128], tag[32];
	struct th_daemon b;
	long long conns0;
	long cpu0, cpu1;
	long long t0, t1;

	if (th_under_valgrind())
		cr_skip_test("valgrind emulates RLIMIT_NOFILE differently");
	snprintf(config, sizeof config, "[listener net]\ntcp = 127.0.0.1:%d\n", port);
	cr_assert_eq(th_prepare(&b, config), 0);
	cr_assert_eq(th_spawn_nofile(&b, NOFILE), 0, "udsbrokerd did not start");
	ctl = xconnect(&b);
	cr_assert_eq(th_ping_barrier(ctl, "c", NULL, 0), 0);
	wait_stat(ctl, "clients", 1);
	conns0 = stat_of(ctl, "connections");

	/* TCP clients until one is not accepted: EMFILE logged, not counted. */
	for (;;) {
		int fd;
		char line[64];

		cr_assert_lt(nconns, MAX_CONNS, "%d clients with RLIMIT_NOFILE %d", nconns, NOFILE);
		snprintf(tag, sizeof tag, "t%d", nconns);
		fd = tcp_ping(port, tag);
		for (long long deadline = th_now_ms() + TH_TIMEOUT_MS;;) {
			if (th_recv_line(fd, line, sizeof line, 20) >= 0) {
				conns[nconns++] = fd;
				fd = -1;
				break;
			}
			if (th_log_count(&b, emfile) > 0 &&
			    stat_of(ctl, "connections") == conns0 + nconns)
				break;
			cr_assert_lt(th_now_ms(), deadline, "neither PONG nor EMFILE");
		}
		if (fd >= 0) {
			waiting[0] = fd;
			break;
		}
	}
	waiting[1] = xconnect(&b);
	xsend(waiting[1], "PING main\n");

	/* Both listeners are paused: no CPU spent, nobody served. */
	cpu0 = proc_cpu_ms(b.pid);
	t0 = th_now_ms();
	for (int i = 0; i < 2; i++)
		cr_assert(!th_readable(waiting[i], WINDOW_MS / 2),
		          "waiting client %d was answered while out of descriptors", i);
	cpu1 = proc_cpu_ms(b.pid);
	t1 = th_now_ms();
	cr_assert(cpu0 >= 0 && cpu1 >= 0);
	cr_assert_lt(cpu1 - cpu0, (t1 - t0) / 10,
	             "the daemon used %ld ms of CPU in %lld ms while out of descriptors",
	             cpu1 - cpu0, t1 - t0);

	/* Two leave: each listener takes its waiting client. */
	th_close(conns[--nconns]);
	th_close(conns[--nconns]);
	snprintf(tag, sizeof tag, "t%d", nconns + 2);
	expect_pong(waiting[0], tag);
	expect_pong(waiting[1], "main");
	for (int i = 0; i < 2; i++)
		th_close(waiting[i]);
	while (nconns > 0)
		th_close(conns[--nconns]);
	th_close(ctl);
	xstop(&b);
}
