/*
 * SIGHUP reloads while a publish stream runs: limits, policy and log level
 * change under the clients' feet, one config in ten is broken, and no
 * subscriber that keeps up may lose a message or see one out of order.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "fault.h"

#define NRELOADS 100
#define NFAST 3

static const char *const good_configs[] = {
	"queue_limit = 2M\nmax_line = 64K\nslow_consumer = drop\n[log]\nlevel = info\n",
	("queue_limit = 3M\nmax_line = 4K\nslow_consumer = disconnect\nmax_clients = 500\n"
	 "[log]\nlevel = info\n"),
	"queue_limit = 1M\nmax_subscriptions = 8\nmax_topic = 64\n[log]\nlevel = info\n",
};
static const char broken_config[] = "queue_limit = plenty\n";

struct reloads {
	struct th_daemon *b;
	int sent;       /* SIGHUPs sent */
	int broken;     /* of which with the broken config */
};

/* The log lines of a reload that took, and of one that was refused. */
static const char reloaded[] = "configuration reloaded";
static const char refused[] = "keeping the current configuration";

/* Waits until every SIGHUP sent so far has been handled: signals sent
 * before the daemon handled the previous one could merge into one. */
static void
wait_reloads(const struct reloads *r)
{
	wait_log(r->b, reloaded, r->sent - r->broken);
	wait_log(r->b, refused, r->broken);
}

/* Called as the stream goes: the previous reload done, the next config
 * written, SIGHUP. */
static void
reload(struct stream *st, void *arg)
{
	struct reloads *r = arg;

	if (r->sent == NRELOADS)
		return;
	wait_reloads(r);
	if (r->sent % 10 == 9) {
		cr_assert_eq(th_write_config(r->b, broken_config), 0);
		r->broken++;
	} else {
		cr_assert_eq(th_write_config(r->b, good_configs[r->sent % 3]), 0);
	}
	cr_assert_eq(kill(r->b->pid, SIGHUP), 0);
	r->sent++;
}

Test(reload, sighup_100_times_during_a_stream, .timeout = 600)
{
	struct th_daemon b;
	struct reloads r = { .b = &b };
	struct seqsub fast[NFAST], *fastp[NFAST];
	long total = fault_scaled(200000, 5000);
	int ctl, pub;

	ctl = xstart_ctl(&b, good_configs[0]);
	for (int i = 0; i < NFAST; i++) {
		int fd = xconnect(&b);

		/* Both a wildcard and an exact filter: one copy each. */
		xsub(fd, i == 0 ? "t/reload" : "t/+");
		if (i == 2)
			xsub(fd, "#");
		seqsub_init(&fast[i], fd);
		fastp[i] = &fast[i];
	}
	pub = xconnect(&b);

	struct stream st = {
		.pub = pub, .topic = "t/reload", .total = total, .window = 2000, .payload = 100,
		.fast = fastp, .nfast = NFAST,
		/* the last reload well before the end of the stream */
		.hook_every = total / (NRELOADS + 10), .hook = reload, .hook_arg = &r,
	};
	stream_run(&st);
	cr_assert_eq(r.sent, NRELOADS, "only %d reloads during the stream", r.sent);
	wait_reloads(&r);

	for (int i = 0; i < NFAST; i++) {
		cr_assert_eq(seqsub_barrier(&fast[i], "end"), 0, "messages after the last one");
		cr_assert_eq(fast[i].got, total);
		th_close(fast[i].fd);
	}
	cr_assert_eq(stat_of(ctl, "published"), total);
	cr_assert_eq(stat_of(ctl, "dropped"), 0);
	th_close(pub);
	th_close(ctl);
	xstop(&b);
}
