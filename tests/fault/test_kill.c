/*
 * Subscribers killed with SIGKILL in the middle of a publish stream: the
 * broker must notice each death (reset connections, unread queues) without
 * disturbing the subscribers that stay, and must release every descriptor.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"

#define NVICTIMS 100
#define NFAST 3

struct victims {
	pid_t pid[NVICTIMS];
	int killed;
	long kill_from; /* the hook call at which killing starts */
	long calls;
};

/* In a child: subscribes, says so on ready_fd, then reads and discards
 * (even i) or never reads (odd i), until killed. */
static _Noreturn void
victim(const struct th_daemon *b, int i, int ready_fd)
{
	char buf[65536];
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Keep no copy of the test's other descriptors. */
	for (int k = 3; k < ready_fd; k++)
		close(k);
	closefrom(ready_fd + 1);
	fd = th_connect(b);
	if (fd < 0 || th_send_str(fd, "SUB t/kill\n") < 0 ||
	    th_expect_line(fd, "OK", TH_TIMEOUT_MS) < 0 || write(ready_fd, "r", 1) != 1)
		_exit(1);
	close(ready_fd);
	if (i % 2 == 1)
		for (;;)
			pause();
	while (read(fd, buf, sizeof buf) > 0)
		;
	_exit(0);
}

/* Kills one victim per hook call once the stream is a quarter through. */
static void
kill_one(struct stream *st, void *arg)
{
	struct victims *v = arg;

	if (v->calls++ < v->kill_from || v->killed == NVICTIMS)
		return;
	cr_assert_eq(kill(v->pid[v->killed], SIGKILL), 0);
	v->killed++;
}

Test(kill, sigkill_100_subscribers_mid_stream, .timeout = 600)
{
	struct th_daemon b;
	struct victims v = { .killed = 0 };
	struct seqsub fast[NFAST], *fastp[NFAST];
	long total = fault_scaled(100000, 4000);
	long long deadline;
	int ctl, pub, ready[2], fds_before, nready = 0;
	char c;

	ctl = xstart_ctl(&b, "queue_limit = 1M\n");
	fds_before = settled_fds(&b, ctl, 1);

	cr_assert_eq(pipe(ready), 0);
	for (int i = 0; i < NVICTIMS; i++) {
		v.pid[i] = fork();
		cr_assert_geq(v.pid[i], 0, "fork: %s", strerror(errno));
		if (v.pid[i] == 0)
			victim(&b, i, ready[1]);
	}
	close(ready[1]);
	deadline = th_now_ms() + TH_TIMEOUT_MS * 3;
	while (nready < NVICTIMS) {
		struct pollfd pfd = { .fd = ready[0], .events = POLLIN };
		long long left = deadline - th_now_ms();

		cr_assert_gt(poll(&pfd, 1, left > 0 ? (int)left : 0), 0,
		             "only %d of %d subscribers ready", nready, NVICTIMS);
		cr_assert_eq(read(ready[0], &c, 1), 1, "a subscriber failed to subscribe");
		nready++;
	}
	close(ready[0]);

	for (int i = 0; i < NFAST; i++) {
		int fd = xconnect(&b);

		xsub(fd, "t/kill");
		seqsub_init(&fast[i], fd);
		fastp[i] = &fast[i];
	}
	pub = xconnect(&b);
	wait_stat(ctl, "clients", 1 + NVICTIMS + NFAST + 1);
	wait_stat(ctl, "subscriptions", NVICTIMS + NFAST);

	/* 200 hook calls over the stream; the kills fall in the middle half. */
	v.kill_from = 50;
	struct stream st = {
		.pub = pub, .topic = "t/kill", .total = total, .window = 4000, .payload = 64,
		.fast = fastp, .nfast = NFAST,
		.hook_every = total / 200 > 0 ? total / 200 : 1, .hook = kill_one, .hook_arg = &v,
	};
	stream_run(&st);
	cr_assert_eq(v.killed, NVICTIMS, "only %d subscribers were killed mid-stream", v.killed);

	for (int i = 0; i < NVICTIMS; i++) {
		int status;

		cr_assert_eq(waitpid(v.pid[i], &status, 0), v.pid[i]);
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		          "subscriber %d ended with status 0x%x, not by SIGKILL", i, status);
	}
	/* Nothing more for the fast ones, and the broker is still whole. */
	for (int i = 0; i < NFAST; i++) {
		cr_assert_eq(seqsub_barrier(&fast[i], "end"), 0, "messages after the last one");
		cr_assert_eq(fast[i].got, total);
	}
	wait_stat(ctl, "clients", 1 + NFAST + 1);
	wait_stat(ctl, "subscriptions", NFAST);
	cr_assert_eq(stat_of(ctl, "published"), total);

	for (int i = 0; i < NFAST; i++) {
		th_close(fast[i].fd);
	}
	th_close(pub);
	cr_assert_eq(settled_fds(&b, ctl, 1), fds_before,
	             "the broker holds other descriptors than before the %d subscribers came",
	             NVICTIMS);
	wait_stat(ctl, "subscriptions", 0);
	th_close(ctl);
	xstop(&b);
}
