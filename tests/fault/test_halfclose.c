/*
 * A client that writes its lines and then shuts down its writing side
 * (shutdown(SHUT_WR), what `printf ... | socat` does): every complete line
 * is handled, the partial last one is not, and the client still gets what
 * the broker owes it before the broker closes.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fault.h"

/* n PUB lines on topic, seq first in each payload, as one buffer. */
static char *
pub_lines(const char *topic, long n, size_t *len)
{
	size_t cap = (size_t)n * (strlen(topic) + 128) + 1, used = 0;
	char *buf = malloc(cap);

	cr_assert_not_null(buf);
	for (long i = 0; i < n; i++)
		used += (size_t)snprintf(buf + used, cap - used,
		                         "PUB %s %ld some payload with spaces, %s\n", topic, i,
		                         i % 2 ? "and a CRLF end\r" : "and a plain end");
	*len = used;
	return buf;
}

Test(halfclose, every_line_before_shut_wr_is_delivered, .timeout = 600)
{
	struct th_daemon b;
	struct seqsub sub;
	long total = fault_scaled(50000, 2000);
	size_t len;
	char *lines = pub_lines("t/hc", total, &len);
	int ctl, pub;

	/* Queues large enough that nothing is dropped while the subscriber
	 * reads only after the publisher is done. */
	ctl = xstart_ctl(&b, "queue_limit = 64M\n");
	seqsub_init(&sub, xconnect(&b));
	xsub(sub.fd, "t/#");

	pub = xconnect(&b);
	cr_assert_eq(th_send_all_timeout(pub, lines, len, TH_TIMEOUT_MS * 3), 0,
	             "the broker did not take %zu bytes", len);
	xsend(pub, "PUB t/hc partial last line, never published");
	cr_assert_eq(shutdown(pub, SHUT_WR), 0);

	/* The publisher is owed nothing: just the end of the stream. */
	cr_assert_eq(th_recv_eof(pub, TH_TIMEOUT_MS), 0, "no clean EOF for the publisher");
	th_close(pub);

	/* The subscriber gets every line, in order, and nothing else. */
	seqsub_wait_got(&sub, total);
	cr_assert_eq(seqsub_barrier(&sub, "end"), 0, "more messages than lines sent");
	cr_assert_eq(sub.missed, 0);
	cr_assert_eq(sub.disorder, 0);
	cr_assert_eq(sub.announced, 0);
	cr_assert_str_empty(sub.odd, "unexpected line \"%s\"", sub.odd);
	cr_assert_eq(stat_of(ctl, "published"), total);
	th_close(sub.fd);
	th_close(ctl);
	free(lines);
	xstop(&b);
}

Test(halfclose, own_messages_and_replies_flushed_before_close, .timeout = 600)
{
	struct th_daemon b;
	struct seqsub self;
	long total = fault_scaled(20000, 1000);
	size_t len;
	char *lines = pub_lines("t/self", total, &len);
	char *line;
	int ctl;

	ctl = xstart_ctl(&b, "queue_limit = 64M\n");
	seqsub_init(&self, xconnect(&b));
	xsub(self.fd, "t/self");
	cr_assert_eq(th_send_all_timeout(self.fd, lines, len, TH_TIMEOUT_MS * 3), 0);
	xsend(self.fd, "PING last\nPUB t/self partial");
	cr_assert_eq(shutdown(self.fd, SHUT_WR), 0);

	/* Everything it is owed, PONG last, then the end of the stream. */
	for (long long deadline = th_now_ms() + TH_TIMEOUT_MS * 3;;) {
		cr_assert_lt(th_now_ms(), deadline, "got %ld of %ld, no EOF", self.got, total);
		cr_assert_geq(th_read_some(self.fd, SIZE_MAX), 0);
		while ((line = th_next_line(self.fd, NULL)) != NULL) {
			if (strcmp(line, "PONG last") == 0) {
				cr_assert_eq(self.got, total, "PONG after %ld of %ld messages",
				             self.got, total);
				self.pongs++;
				continue;
			}
			cr_assert_eq(self.pongs, 0, "\"%.80s\" after the PONG", line);
			cr_assert(strncmp(line, "MSG t/self ", 11) == 0, "got \"%.80s\"", line);
			self.got++;
		}
		if (th_at_eof(self.fd))
			break;
		th_readable(self.fd, 100);
	}
	cr_assert_eq(self.pongs, 1, "no PONG before EOF");
	cr_assert_eq(th_recv_pending(self.fd), 0, "a partial line before EOF");
	wait_stat(ctl, "clients", 1);
	cr_assert_eq(stat_of(ctl, "published"), total);
	th_close(self.fd);
	th_close(ctl);
	free(lines);
	xstop(&b);
}
