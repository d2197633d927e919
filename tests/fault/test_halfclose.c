/*
 * A client that writes its lines and then shuts down its writing side
 * (shutdown(SHUT_WR), what `printf ... | socat` does): every complete line
 * is handled, the partial last one is not, and the client still gets what
 * the broker owes it before the broker closes.
 */
#include <criterion/criterion.h>
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
	struct broker b;
	struct seqsub sub;
	long total = fault_scaled(50000, 2000);
	size_t len;
	char *lines = pub_lines("t/hc", total, &len);
	int ctl, pub;

	/* Queues large enough that nothing is dropped while the subscriber
	 * reads only after the publisher is done. */
	ctl = fstart(&b, "queue_limit = 64M\n");
	seqsub_init(&sub, fconnect(&b));
	fsub(sub.in.fd, "t/#");

	pub = fconnect(&b);
	cr_assert_eq(send_all_timeout(pub, lines, len, HARNESS_TIMEOUT_MS * 3), 0,
	             "the broker did not take %zu bytes", len);
	fsend(pub, "PUB t/hc partial last line, never published");
	cr_assert_eq(shutdown(pub, SHUT_WR), 0);

	/* The publisher is owed nothing: just the end of the stream. */
	cr_assert_eq(recv_eof(pub, HARNESS_TIMEOUT_MS), 0, "no clean EOF for the publisher");
	conn_close(pub);

	/* The subscriber gets every line, in order, and nothing else. */
	seqsub_wait_got(&sub, total);
	cr_assert_eq(seqsub_barrier(&sub, "end"), 0, "more messages than lines sent");
	cr_assert_eq(sub.missed, 0);
	cr_assert_eq(sub.disorder, 0);
	cr_assert_eq(sub.announced, 0);
	cr_assert_str_empty(sub.odd, "unexpected line \"%s\"", sub.odd);
	cr_assert_eq(fstat_of(ctl, "published"), total);
	lbuf_free(&sub.in);
	conn_close(sub.in.fd);
	conn_close(ctl);
	free(lines);
	fstop(&b);
}

Test(halfclose, own_messages_and_replies_flushed_before_close, .timeout = 600)
{
	struct broker b;
	struct seqsub self;
	long total = fault_scaled(20000, 1000);
	size_t len;
	char *lines = pub_lines("t/self", total, &len);
	char *line;
	int ctl;

	ctl = fstart(&b, "queue_limit = 64M\n");
	seqsub_init(&self, fconnect(&b));
	fsub(self.in.fd, "t/self");
	cr_assert_eq(send_all_timeout(self.in.fd, lines, len, HARNESS_TIMEOUT_MS * 3), 0);
	fsend(self.in.fd, "PING last\nPUB t/self partial");
	cr_assert_eq(shutdown(self.in.fd, SHUT_WR), 0);

	/* Everything it is owed, PONG last, then the end of the stream. */
	for (long long deadline = harness_now_ms() + HARNESS_TIMEOUT_MS * 3;;) {
		cr_assert_lt(harness_now_ms(), deadline, "got %ld of %ld, no EOF", self.got, total);
		cr_assert_geq(lbuf_fill(&self.in), 0);
		while ((line = lbuf_next(&self.in, NULL)) != NULL) {
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
		if (self.in.eof)
			break;
		poll_fd_readable(self.in.fd, 100);
	}
	cr_assert_eq(self.pongs, 1, "no PONG before EOF");
	cr_assert_eq(self.in.len, 0, "a partial line before EOF");
	fwait_stat(ctl, "clients", 1);
	cr_assert_eq(fstat_of(ctl, "published"), total);
	lbuf_free(&self.in);
	conn_close(self.in.fd);
	conn_close(ctl);
	free(lines);
	fstop(&b);
}
