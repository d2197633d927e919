/*
 * udsctl sub: subscribe and print each delivery, one per line.
 *
 * Output goes through a large stdio buffer that is flushed whenever no
 * further message is already waiting, before every wait: a terminal or a
 * pipe (udsctl sub t | grep x) sees each message as it arrives, while a
 * burst costs one write, not one per message.
 */
#include "udsctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

/* Longest -W accepted, in seconds: what a poll() timeout can hold. */
#define MAX_WAIT_S 2000000.0

struct sub {
	struct udsb *c;
	bool verbose;             /* -v: "TOPIC PAYLOAD" */
	unsigned long long count; /* -n: exit after this many, 0 never */
	int wait_ms;              /* -W: exit 27 after this long idle, -1 never */
	const char *wait_arg;     /* -W as given, for the message */
};

/* Pushes buffered output out; returns 0 or EXIT_IOERR. A closed pipe is
 * quiet (ctl_quiet_epipe): `udsctl sub t | head -1` is no error to tell. */
static int
flush_out(void)
{
	return ctl_flush_stdout();
}

/* Prints one delivery; returns 0 or EXIT_IOERR. */
static int
print_msg(const struct sub *s, const struct udsb_event *ev)
{
	if (s->verbose) {
		fwrite(ev->topic, 1, ev->topic_len, stdout);
		putchar(' ');
	}
	fwrite(ev->payload, 1, ev->payload_len, stdout);
	if (putchar('\n') == EOF || ferror(stdout))
		return flush_out();
	return 0;
}

/* Prints deliveries until -n is reached, -W expires or the connection ends. */
static int
run(struct sub *s)
{
	unsigned long long got = 0;
	struct udsb_event ev;
	int rc, status;

	for (;;) {
		rc = udsb_recv(s->c, &ev, 0);
		if (rc == UDSB_ETIMEDOUT) {
			/* Nothing more waiting: show what we have, then wait. */
			status = flush_out();
			if (status != 0)
				return status;
			rc = udsb_recv(s->c, &ev, s->wait_ms);
			if (rc == UDSB_ETIMEDOUT) {
				ctl_warn("no message from %s within %s seconds", udsb_path(s->c),
				         s->wait_arg);
				return EXIT_SUB_TIMEOUT;
			}
		}
		if (rc != UDSB_OK) {
			status = flush_out();
			return status != 0 ? status : ctl_fail(s->c, rc);
		}
		if (ev.type != UDSB_EV_MSG) {
			if (ev.type != UDSB_EV_BYE && (status = flush_out()) != 0)
				return status;
			status = ctl_notice(s->c, &ev);
			if (status != 0)
				return status;
			continue;
		}
		status = print_msg(s, &ev);
		if (status != 0)
			return status;
		if (s->count != 0 && ++got == s->count)
			return flush_out();
	}
}

int
cmd_sub(int argc, char **argv, const char *sock)
{
	struct sub s = { .wait_ms = -1 };
	int opt, rc, status = 0;

	ctl_quiet_epipe = true;
	opterr = 0;
	optind = 0;
	while ((opt = getopt(argc, argv, "+:s:vn:W:")) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'v':
			s.verbose = true;
			break;
		case 'n':
			if (!ctl_parse_count(optarg, &s.count))
				return ctl_usage("sub: -n needs a COUNT of 1 or more, not '%s'",
				                 optarg);
			break;
		case 'W':
			if (parse_seconds_ms(optarg, MAX_WAIT_S, &s.wait_ms) != PARSE_OK)
				return ctl_usage("sub: -W needs SECONDS greater than 0, not '%s'",
				                 optarg);
			s.wait_arg = optarg;
			break;
		case ':':
			return ctl_usage("sub: option -%c needs a value", optopt);
		default:
			return ctl_usage("sub: unknown option -%c", optopt);
		}
	}
	if (optind >= argc)
		return ctl_usage("sub: missing FILTER");

	s.c = ctl_connect(sock, &status);
	if (s.c == NULL)
		return status;
	for (int i = optind; i < argc; i++) {
		rc = udsb_subscribe(s.c, argv[i]);
		if (rc != UDSB_OK) {
			status = ctl_fail(s.c, rc);
			udsb_free(s.c);
			return status;
		}
	}
	if (setvbuf(stdout, NULL, _IOFBF, 64 * 1024) != 0) {
		/* Keep stdio's own buffering then. */
	}
	status = run(&s);
	udsb_free(s.c);
	return status;
}
