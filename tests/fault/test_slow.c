/*
 * Slow consumers against the memory bound: with many subscribers that read
 * far slower than the publisher writes, the broker's resident memory must
 * stay under max_clients × (queue_limit + max_line) above what it used
 * before, under both slow_consumer policies, while a subscriber that keeps
 * up still gets everything. And loss is never silent: under `drop` every
 * message a slow subscriber did not get is counted in a DROPPED line; under
 * `disconnect` it gets a gap-free prefix, then BYE slow-consumer, then EOF.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

#define MAX_CLIENTS 40
#define QUEUE_LIMIT_K 1024
#define MAX_LINE_K 64
#define NSLOW 30

/* Under valgrind every heap byte has shadow state and red zones around it:
 * allow this many times the bound there. */
#define VALGRIND_FACTOR 3

static void
slow_consumers(const char *policy)
{
	struct th_daemon b;
	struct seqsub fast, slow[NSLOW], *fastp = &fast, *slowp[NSLOW];
	long total = fault_scaled(20000, 4000);
	long long bound_kb = (long long)MAX_CLIENTS * (QUEUE_LIMIT_K + MAX_LINE_K);
	long long base_kb, peak_kb, announced = 0;
	char config[256];
	int ctl, pub;

	snprintf(config, sizeof config,
	         "max_clients = %d\nqueue_limit = %dK\nmax_line = %dK\nslow_consumer = %s\n",
	         MAX_CLIENTS, QUEUE_LIMIT_K, MAX_LINE_K, policy);
	ctl = xstart_ctl(&b, config);
	seqsub_init(&fast, xconnect(&b));
	xsub(fast.fd, "t/#");
	for (int i = 0; i < NSLOW; i++) {
		seqsub_init(&slow[i], xconnect(&b));
		xsub(slow[i].fd, i % 2 ? "t/slow" : "t/+");
		slowp[i] = &slow[i];
	}
	pub = xconnect(&b);
	wait_stat(ctl, "clients", 3 + NSLOW);
	base_kb = th_proc_status_kb(b.pid, "VmRSS");
	cr_assert_gt(base_kb, 0);

	/* About 20 MB: mostly small messages (copied to each subscriber),
	 * one in 20 of 16 KiB (shared by reference). The slow ones read
	 * 64 KiB/s each. */
	struct stream st = {
		.pub = pub, .topic = "t/slow", .total = total, .window = 200,
		.payload = 200, .big_payload = 16384, .big_every = 20,
		.fast = &fastp, .nfast = 1, .others = slowp, .nothers = NSLOW,
		.others_rate = 65536,
	};
	stream_run(&st);

	peak_kb = th_proc_status_kb(b.pid, "VmHWM");
	cr_log_info("%s: RSS %lld KiB before, peak %lld KiB; bound %lld KiB above the start",
	            policy, base_kb, peak_kb, bound_kb);
	if (th_under_valgrind())
		bound_kb *= VALGRIND_FACTOR;
	/* Under a sanitizer (see meson.build) memory is not the daemon's to
	 * account for; the loss accounting below still holds. */
	if (getenv("UDSB_SANITIZED") == NULL)
		cr_assert_leq(peak_kb - base_kb, bound_kb,
		              "%s: peak RSS %lld KiB, %lld above the %lld at start; bound %lld",
		              policy, peak_kb, peak_kb - base_kb, base_kb, bound_kb);

	for (int i = 0; i < NSLOW; i++) {
		struct seqsub *s = &slow[i];

		cr_assert_eq(s->disorder, 0, "slow %d: messages out of order", i);
		cr_assert_str_empty(s->odd, "slow %d: unexpected line \"%s\"", i, s->odd);
		if (strcmp(policy, "drop") == 0) {
			seqsub_settle(s);
			cr_assert(!s->bye, "slow %d: BYE %s under drop", i, s->bye_reason);
			cr_assert_gt(s->announced, 0, "slow %d was not slow: nothing dropped", i);
			cr_assert_eq(s->got + s->announced, total,
			             "slow %d: got %ld, DROPPED said %ld, of %ld published", i, s->got,
			             s->announced, total);
			cr_assert_leq(s->missed, s->announced);
			announced += s->announced;
		} else {
			/* Read what is left up to the end of the stream. */
			for (long long deadline = th_now_ms() + TH_TIMEOUT_MS; !th_at_eof(s->fd);) {
				cr_assert_lt(th_now_ms(), deadline, "slow %d: no EOF", i);
				th_readable(s->fd, 100);
				cr_assert_geq(seqsub_pump(s), 0);
			}
			cr_assert(s->bye && strcmp(s->bye_reason, "slow-consumer") == 0,
			          "slow %d: ended without BYE slow-consumer (%ld messages)", i, s->got);
			cr_assert_eq(s->missed, 0, "slow %d: a gap before BYE", i);
			cr_assert_eq(s->announced, 0, "slow %d: DROPPED under disconnect", i);
			cr_assert_lt(s->got, total, "slow %d was not slow: got everything", i);
			cr_assert_eq(th_recv_pending(s->fd), 0, "slow %d: bytes after BYE", i);
		}
	}
	if (strcmp(policy, "drop") == 0)
		cr_assert_eq(stat_of(ctl, "dropped"), announced,
		             "STATS dropped differs from the sum of the DROPPED lines");
	else
		wait_stat(ctl, "clients", 3);

	cr_assert_eq(seqsub_barrier(&fast, "end"), 0);
	for (int i = 0; i < NSLOW; i++) {
		th_close(slow[i].fd);
	}
	th_close(fast.fd);
	th_close(pub);
	th_close(ctl);
	xstop(&b);
}

Test(slow, rss_bounded_with_drop, .timeout = 600)
{
	slow_consumers("drop");
}

Test(slow, rss_bounded_with_disconnect, .timeout = 600)
{
	slow_consumers("disconnect");
}
