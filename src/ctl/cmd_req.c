/*
 * udsctl req: send a request (REQ) and print the payload of the first
 * reply, or of the first COUNT. -W bounds the wait for each reply (5 s by
 * default): status 27 when it passes first, 65 when nobody is subscribed
 * to the topic (ERR no-responders).
 */
#include "udsctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -W when none is given, in milliseconds. */
#define DEFAULT_WAIT_MS 5000

enum { OPT_COUNT = 'n', OPT_WAIT = 'W' };
static const struct ctl_opt req_options[] = {
	{ OPT_WAIT, 'W', NULL, "SECONDS",
	  "wait at most SECONDS for each reply (default 5),\n"
	  "else exit 27" },
	{ OPT_COUNT, 'n', NULL, "COUNT", "print the first COUNT replies (default 1)" },
	CTL_COMMON_OPTIONS,
	{ 0 },
};

/* What one req run waits for. */
struct req {
	struct ctl_link link;
	char *reply;              /* the reply topic */
	unsigned long long count; /* replies to print */
	int wait_ms;
	const char *wait_arg;
};

/* Prints replies until count came; returns the exit status. */
static int
await_replies(struct req *r)
{
	long long deadline = ctl_deadline(r->wait_ms);
	unsigned long long got = 0;
	struct udsb_event ev;
	int status;

	for (;;) {
		switch (ctl_next_event(&r->link, &ev, deadline, &status)) {
		case CTL_TIMEOUT:
			if (got == 0)
				ctl_warn("no reply from %s within %s seconds", udsb_path(r->link.c),
				         r->wait_arg);
			else
				ctl_warn(
				    "%llu of %llu replies from %s, then none within %s seconds",
				    got, r->count, udsb_path(r->link.c), r->wait_arg);
			return EXIT_SUB_TIMEOUT;
		case CTL_END:
			return status;
		case CTL_EVENT:
			break;
		}
		if (ev.type != UDSB_EV_MSG) {
			status = ctl_notice(r->link.c, &ev);
			if (status != 0)
				return status;
			continue;
		}
		if (strcmp(ev.topic, r->reply) != 0)
			continue;
		fwrite(ev.payload, 1, ev.payload_len, stdout);
		if (putchar('\n') == EOF && (status = ctl_flush_stdout()) != 0)
			return status;
		if (++got == r->count)
			return ctl_flush_stdout();
		deadline = ctl_deadline(r->wait_ms);
	}
}

/* Sends the request; returns 0 with r->reply set, or an exit status. */
static int
send_request(struct req *r, const char *topic, const char *payload, size_t len)
{
	struct udsb *c = r->link.c;
	const char *reply;
	int rc = udsb_request(c, topic, payload, len, &reply);

	if (rc == UDSB_ENORESPONDERS) {
		ctl_warn("nobody at %s is subscribed to %s (ERR no-responders)", udsb_path(c),
		         topic);
		return EXIT_BROKER_ERR;
	}
	if (rc != UDSB_OK)
		return ctl_fail_send(c, rc);
	r->reply = strdup(reply);
	if (r->reply == NULL) {
		ctl_warn("out of memory");
		return EXIT_OSERR;
	}
	return 0;
}

static int
run_req(const struct ctl_command *cmd, int argc, char **argv, const char *sock)
{
	struct req r = { .count = 1, .wait_ms = DEFAULT_WAIT_MS, .wait_arg = "5" };
	struct ctl_parse args;
	const char *value;
	struct udsb *c;
	char *payload;
	size_t len = 0;
	int key, status = 0;

	options_init(&args, cmd->name, cmd->options, argc - 1, argv + 1, false);
	while ((key = ctl_option(cmd, &args, &value, &sock, &status)) != OPT_END) {
		switch (key) {
		case OPT_COUNT:
			if (!ctl_parse_count(value, &r.count))
				return ctl_usage(cmd, "-n needs a COUNT of 1 or more, not '%s'",
				                 value);
			break;
		case OPT_WAIT:
			if (!ctl_parse_wait(value, &r.wait_ms))
				return ctl_usage(cmd, "-W needs SECONDS greater than 0, not '%s'",
				                 value);
			r.wait_arg = value;
			break;
		default: /* OPT_ERROR */
			return status;
		}
	}
	if (args.nops == 0)
		return ctl_usage(cmd, "missing TOPIC");

	payload = ctl_join_words(args.nops - 1, args.argv + 1, &len);
	if (payload == NULL) {
		ctl_warn("out of memory");
		return EXIT_OSERR;
	}
	c = ctl_connect(sock, &status);
	if (c != NULL) {
		ctl_link_init(&r.link, c);
		status = send_request(&r, args.argv[0], payload, len);
		if (status == 0)
			status = await_replies(&r);
		udsb_free(c);
	}
	free(payload);
	free(r.reply);
	return status;
}

const struct ctl_command ctl_cmd_req = {
	.name = "req",
	.usage = "[-W SECONDS] [-n COUNT] TOPIC [MESSAGE...]",
	.operands = "TOPIC [MESSAGE...]",
	.summary = "send the MESSAGE words as a request to whoever\n"
	           "serves TOPIC and print the reply",
	.hint = " (put -- before a MESSAGE that begins with '-')",
	.options = req_options,
	.run = run_req,
};
