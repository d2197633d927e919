/*
 * udsctl pub: publish one message from the command line, or every line of
 * standard input. Standard input is read in large blocks and published
 * through the library's pipelined write buffer, while replies are read in
 * the same poll loop, so an ERR stops it at once. It exits 0 only after a
 * PING/PONG barrier proved the broker processed every line. With -r each
 * message is sent as RETAIN: it also becomes the topic's retained value,
 * and an empty one clears it.
 */
#include "udsctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linescan.h"

/* Standard input is read this many bytes at a time (at least). */
#define IN_BLOCK (256 * 1024)

/* The state of one pub run. */
struct pub {
	struct udsb *c;
	const char *topic;
	bool retain;              /* -r: RETAIN instead of PUB */
	unsigned long long lines; /* published so far, for messages */
	struct linescan scan;     /* splits standard input into lines */
};

/* Takes the events waiting on the connection without blocking; any ERR
 * answer to an earlier line ends the run. Returns 0 or an exit status. */
static int
drain_events(struct pub *p)
{
	struct udsb_event ev;
	int rc;

	while ((rc = udsb_recv(p->c, &ev, 0)) == UDSB_OK) {
		if (ev.type == UDSB_EV_ERROR) {
			ctl_warn("the broker at %s refused to %s %s: %s %s", udsb_path(p->c),
			         p->retain ? "retain a value of" : "publish to", p->topic, ev.code,
			         ev.text);
			return EXIT_BROKER_ERR;
		}
		if (ctl_notice(p->c, &ev) != 0)
			return EXIT_BROKER_ERR;
	}
	return rc == UDSB_ETIMEDOUT ? 0 : ctl_fail(p->c, rc);
}

/* Publishes one payload; returns 0 or an exit status. */
static int
publish(struct pub *p, const char *payload, size_t len)
{
	int rc = p->retain ? udsb_retain(p->c, p->topic, payload, len)
	                   : udsb_publish(p->c, p->topic, payload, len);

	if (rc != UDSB_OK)
		return ctl_fail_send(p->c, rc);
	p->lines++;
	return 0;
}

/* The barrier: every line processed, and none refused. */
static int
finish(struct pub *p)
{
	int rc = udsb_ping(p->c, NULL);

	if (rc != UDSB_OK) {
		/* An ERR may have come before the end: it is the better reason. */
		int status = drain_events(p);

		return status != 0 ? status : ctl_fail(p->c, rc);
	}
	return drain_events(p);
}

/* Publishes the complete lines in buf[0, *len) and keeps the incomplete last
 * one at the front. A line longer than CTL_MAX_LINE ends the run. Returns 0
 * or an exit status. */
static int
publish_lines(struct pub *p, char *buf, size_t *len)
{
	size_t off = 0, n;
	enum linescan_result r;
	int status;

	while ((r = linescan_next(&p->scan, buf + off, *len - off, CTL_MAX_LINE, &n)) ==
	       LINESCAN_READY) {
		status = publish(p, buf + off, n - 1);
		if (status != 0)
			return status;
		off += n;
	}
	if (r != LINESCAN_NONE) {
		ctl_warn("line %llu of standard input is longer than %d bytes, the most "
		         "udsctl sends to %s",
		         p->lines + 1, CTL_MAX_LINE, udsb_path(p->c));
		return EXIT_BROKER_ERR;
	}
	*len -= off;
	memmove(buf, buf + off, *len);
	return 0;
}

/* Streams standard input, one message a line, as fast as the broker takes
 * it; the last line needs no '\n'. Returns 0 or an exit status. */
static int
pub_stdin(struct pub *p)
{
	size_t cap = 2 * IN_BLOCK;
	char *buf = malloc(cap);
	size_t len = 0;
	int status = 0;

	if (buf == NULL) {
		ctl_warn("out of memory");
		return EXIT_OSERR;
	}
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = STDIN_FILENO, .events = POLLIN },
			{ .fd = udsb_fd(p->c), .events = udsb_events(p->c) },
		};
		ssize_t n;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			ctl_warn("poll: %s", strerror(errno));
			status = EXIT_OSERR;
			break;
		}
		if (pfd[1].revents != 0) {
			int rc = udsb_process(p->c);

			status = drain_events(p);
			if (status == 0 && rc != UDSB_OK)
				status = ctl_fail(p->c, rc);
			if (status != 0)
				break;
		}
		if (pfd[0].revents == 0)
			continue;

		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			ctl_warn("cannot read standard input: %s", strerror(errno));
			status = EXIT_IOERR;
			break;
		}
		if (n == 0) {
			if (len > 0)
				status = publish(p, buf, len);
			break;
		}
		len += (size_t)n;
		status = publish_lines(p, buf, &len);
		if (status != 0)
			break;
		if (cap - len < IN_BLOCK) {
			/* One long line fills the buffer: make room for a full block. */
			char *nbuf = realloc(buf, cap * 2);

			if (nbuf == NULL) {
				ctl_warn("out of memory");
				status = EXIT_OSERR;
				break;
			}
			buf = nbuf;
			cap *= 2;
		}
	}
	free(buf);
	return status != 0 ? status : finish(p);
}

enum { OPT_RETAIN = 'r' };
static const struct ctl_opt pub_options[] = {
	{ OPT_RETAIN, 'r', NULL, NULL,
	  "retain: each message also becomes the topic's\n"
	  "current value, which later subscribers get at once;\n"
	  "pub -r TOPIC '' clears it" },
	CTL_COMMON_OPTIONS,
	{ 0 },
};

static int
run_pub(const struct ctl_command *cmd, int argc, char **argv, const char *sock)
{
	struct pub p = { 0 };
	struct ctl_parse args;
	const char *value;
	int key, status = 0;

	options_init(&args, cmd->name, cmd->options, argc - 1, argv + 1, false);
	while ((key = ctl_option(cmd, &args, &value, &sock, &status)) != OPT_END) {
		switch (key) {
		case OPT_RETAIN:
			p.retain = true;
			break;
		default: /* OPT_ERROR */
			return status;
		}
	}
	if (args.nops == 0)
		return ctl_usage(cmd, "missing TOPIC");
	p.topic = args.argv[0];

	p.c = ctl_connect(sock, &status);
	if (p.c == NULL)
		return status;
	if (args.nops > 1) {
		size_t len;
		char *msg = ctl_join_words(args.nops - 1, args.argv + 1, &len);

		if (msg == NULL) {
			ctl_warn("out of memory");
			udsb_free(p.c);
			return EXIT_OSERR;
		}
		status = publish(&p, msg, len);
		free(msg);
		if (status == 0)
			status = finish(&p);
	} else {
		status = pub_stdin(&p);
	}
	udsb_free(p.c);
	return status;
}

const struct ctl_command ctl_cmd_pub = {
	.name = "pub",
	.usage = "[-r] TOPIC [MESSAGE...]",
	.operands = "TOPIC [MESSAGE...]",
	.summary = "publish the MESSAGE words, joined by spaces;\n"
	           "without MESSAGE, each line of standard input\n"
	           "(put -- before a MESSAGE that begins with '-')",
	.hint = " (put -- before a MESSAGE that begins with '-')",
	.options = pub_options,
	.run = run_pub,
};
