/* Unit tests of a bridge's pieces without I/O: its queue (bridgequeue.c),
 * its echo window (bridgeecho.c) and its mapping of messages (bridgemap.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "bridgeecho.h"
#include "bridgemap.h"
#include "bridgequeue.h"

/* Pushes "t/N" with payload "N" (BQ_COST(3, 1) for N < 10). */
static unsigned
push(struct bridge_queue *q, int n)
{
	char t[32], p[32];

	snprintf(t, sizeof t, "t/%d", n);
	snprintf(p, sizeof p, "%d", n);
	return bq_push(q, NULL, 0, t, strlen(t), p, strlen(p), false);
}

Test(bridgequeue, fifo_hand_done)
{
	struct bridge_queue q;
	struct bq_entry *e;

	bq_init(&q, 1024);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(push(&q, i), 0);
	cr_expect_eq(q.count, 5);
	cr_expect_eq(q.bytes, 5 * BQ_COST(3, 1));
	for (int i = 0; i < 3; i++) {
		char want[8];

		snprintf(want, sizeof want, "t/%d", i);
		e = bq_next(&q);
		cr_assert_not_null(e);
		cr_expect_str_eq(bq_topic(e), want);
		bq_handed(&q, e, 100 + i);
	}
	cr_expect_eq(q.handed, 3);
	/* out of order: 101 first stays until 100 is done */
	cr_expect(bq_done(&q, 101));
	cr_expect_eq(q.count, 5);
	cr_expect(bq_done(&q, 100));
	cr_expect_eq(q.count, 3);
	cr_expect(!bq_done(&q, 100), "done twice");
	cr_expect(!bq_done(&q, 999), "never handed");
	/* lost: 102 waits again, first */
	bq_unhand(&q);
	cr_expect_eq(q.handed, 0);
	e = bq_next(&q);
	cr_assert_not_null(e);
	cr_expect_str_eq(bq_topic(e), "t/2");
	cr_expect_eq(e->mid, 0);
	bq_clear(&q);
	cr_expect_eq(q.bytes, 0);
}

Test(bridgequeue, oldest_waiting_dropped_and_counted)
{
	struct bridge_queue q;
	struct bq_entry *e;

	static char big[4096];

	bq_init(&q, 5 * BQ_COST(3, 1)); /* five */
	for (int i = 0; i < 5; i++)
		cr_assert_eq(push(&q, i), 0);
	bq_handed(&q, bq_next(&q), 1); /* t/0 is in flight: never dropped */
	cr_expect_eq(push(&q, 5), 1);
	cr_expect_eq(q.dropped, 1);
	cr_expect_eq(q.bytes, 5 * BQ_COST(3, 1));
	e = q.head;
	cr_expect_str_eq(bq_topic(e), "t/0");
	cr_expect_str_eq(bq_topic(e->next), "t/2", "t/1, the oldest waiting, went");
	/* one that cannot fit at all is dropped itself */
	cr_expect_eq(bq_push(&q, NULL, 0, "big", 3, big, 6 * BQ_COST(3, 1), false), 1);
	cr_expect_eq(q.dropped, 2);
	cr_expect_eq(q.count, 5);
	/* every waiting one dropped to make room for one of four */
	cr_expect_eq(bq_push(&q, NULL, 0, "abcd", 4, big, 4 * BQ_COST(3, 1) - BQ_COST(4, 0), true), 4);
	cr_expect_eq(q.count, 2);
	cr_expect_leq(q.bytes, q.limit);
	bq_clear(&q);
}

Test(bridgequeue, prefix_joined_into_the_entry)
{
	struct bridge_queue q;
	struct bq_entry *e;

	bq_init(&q, 1024);
	cr_assert_eq(bq_push(&q, "hostA/", 6, "t/1", 3, "pay", 3, true), 0);
	cr_assert_eq(bq_push(&q, NULL, 0, "t/2", 3, "", 0, false), 0);
	cr_expect_eq(q.bytes, BQ_COST(9, 3) + BQ_COST(3, 0));
	e = bq_next(&q);
	cr_assert_not_null(e);
	cr_expect_str_eq(bq_topic(e), "hostA/t/1");
	cr_expect_eq(e->tlen, 9);
	cr_expect_eq(e->plen, 3);
	cr_expect(memcmp(bq_payload(e), "pay", 3) == 0);
	cr_expect(e->retain);
	cr_expect_str_eq(bq_topic(e->next), "t/2");
	cr_expect_eq(e->next->plen, 0);
	bq_clear(&q);
}

Test(bridgeecho, taken_once_within_the_window)
{
	struct bridge_echo e;
	char t[16];

	cr_assert_eq(bridge_echo_init(&e, 8), 0);
	cr_expect(!bridge_echo_take(&e, "a", 1, "x", 1));
	bridge_echo_sent(&e, "a", 1, "x", 1);
	cr_expect(!bridge_echo_take(&e, "a", 1, "y", 1), "another payload");
	cr_expect(!bridge_echo_take(&e, "b", 1, "x", 1), "another topic");
	cr_expect(bridge_echo_take(&e, "a", 1, "x", 1));
	cr_expect(!bridge_echo_take(&e, "a", 1, "x", 1), "taken twice");
	bridge_echo_sent(&e, "a", 1, "x", 1);
	for (int i = 0; i < 8; i++) {
		snprintf(t, sizeof t, "t%d", i);
		bridge_echo_sent(&e, t, strlen(t), "", 0);
	}
	cr_expect(!bridge_echo_take(&e, "a", 1, "x", 1), "left the window, still taken");
	cr_expect(bridge_echo_take(&e, "t7", 2, "", 0));
	/* many rounds: the table does not fill with what left the window */
	for (int i = 0; i < 10000; i++) {
		snprintf(t, sizeof t, "r%d", i);
		bridge_echo_sent(&e, t, strlen(t), "p", 1);
		cr_assert(bridge_echo_take(&e, t, strlen(t), "p", 1), "round %d", i);
	}
	bridge_echo_free(&e);
}

Test(bridgemap, local_frames)
{
	struct bridge_local m;
	const char *f1 = "MSG a/b uid=0;gid=0;pid=7;via=main two words\n";
	const char *f2 = "MSG a/b via=r\n";

	cr_assert_eq(bridgemap_parse_local(f1, strlen(f1), &m), 0);
	cr_expect_eq(m.tlen, 3);
	cr_expect_eq(m.plen, 9);
	cr_expect(memcmp(m.payload, "two words", 9) == 0);
	cr_expect(bridgemap_came_via(&m, "main"));
	cr_expect(!bridgemap_came_via(&m, "mai"));
	cr_assert_eq(bridgemap_parse_local(f2, strlen(f2), &m), 0);
	cr_expect_eq(m.plen, 0);
	cr_expect(bridgemap_came_via(&m, "r"));
	cr_expect_eq(bridgemap_parse_local("MSG a/b\n", 8, &m), -1, "no meta");
	cr_expect_eq(bridgemap_parse_local("PUB a b c\n", 10, &m), -1);
	cr_expect_eq(bridgemap_parse_local("MSG a b c", 9, &m), -1, "no newline");
}

Test(bridgemap, remote_messages_in)
{
	char buf[64];
	size_t len;

	cr_expect_eq(bridgemap_in("site/", "a/b", 3, "p", 1, 256, 1024, buf, sizeof buf, &len),
	             BRIDGEMAP_OK);
	cr_expect_str_eq(buf, "site/a/b");
	cr_expect_eq(len, 8);
	cr_expect_eq(bridgemap_in(NULL, "a b", 3, "p", 1, 256, 1024, buf, sizeof buf, &len),
	             BRIDGEMAP_BAD_TOPIC, "a space");
	cr_expect_eq(bridgemap_in(NULL, "$SYS/x", 6, "p", 1, 256, 1024, buf, sizeof buf, &len),
	             BRIDGEMAP_RESERVED);
	cr_expect_eq(bridgemap_in(NULL, "a", 1, "x\ny", 3, 256, 1024, buf, sizeof buf, &len),
	             BRIDGEMAP_BAD_PAYLOAD);
	cr_expect_eq(bridgemap_in(NULL, "a", 1, "0123456789", 10, 256, 12, buf, sizeof buf, &len),
	             BRIDGEMAP_TOO_LONG);
	cr_expect_eq(bridgemap_in("p/", "abcd", 4, "", 0, 5, 1024, buf, sizeof buf, &len),
	             BRIDGEMAP_BAD_TOPIC, "over max_topic with the prefix");
	cr_expect_eq(bridgemap_in(NULL, "a", 1, "ok\r", 3, 256, 1024, buf, sizeof buf, &len),
	             BRIDGEMAP_OK);
}
