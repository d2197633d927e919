/*
 * udsctl sub: subscribe and print each delivery, one per line, in the
 * format format.c makes (payload, -v, -F, --json); -T hides topics, -R
 * skips retained values, --retained-only prints only them and exits. A
 * lost connection is re-established (events.c tells it on stderr) unless
 * --no-reconnect; -W keeps counting meanwhile.
 *
 * Output goes through a large stdio buffer that is flushed whenever no
 * further message is already waiting, before every wait: a terminal or a
 * pipe (udsctl sub t | grep x) sees each message as it arrives, while a
 * burst costs one write, not one per message.
 */
#include "udsctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "topic.h"

/* The longest -T FILTER accepted: it is never sent, only matched here. */
#define MAX_HIDE_FILTER 65536

struct sub {
	struct ctl_link link;
	struct fmt fmt;
	bool skip_retained;       /* -R */
	bool retained_only;       /* --retained-only */
	bool no_reconnect;        /* --no-reconnect */
	unsigned long long count; /* -n: exit after this many, 0 never */
	int wait_ms;              /* -W: exit 27 after this long idle, -1 never */
	const char *wait_arg;     /* -W as given, for the message */
	const char **hide;        /* -T filters */
	size_t nhide;
};

enum {
	OPT_VERBOSE = 'v',
	OPT_NO_RETAINED = 'R',
	OPT_COUNT = 'n',
	OPT_WAIT = 'W',
	OPT_HIDE = 'T',
	OPT_FORMAT = 'F',
	OPT_RETAINED_ONLY = 256,
	OPT_JSON,
	OPT_NO_RECONNECT,
};

static const struct ctl_opt sub_options[] = {
	{ OPT_VERBOSE, 'v', NULL, NULL, "print \"TOPIC PAYLOAD\" instead" },
	{ OPT_NO_RETAINED, 'R', NULL, NULL, "skip the retained values: only new messages" },
	{ OPT_RETAINED_ONLY, 0, "retained-only", NULL,
	  "print the retained values the filters match, then\n"
	  "exit (with -W: status 27 if there were none)" },
	{ OPT_COUNT, 'n', NULL, "COUNT", "exit after COUNT messages" },
	{ OPT_WAIT, 'W', NULL, "SECONDS",
	  "exit with status 27 when no message came for SECONDS\n"
	  "(the wait goes on while reconnecting)" },
	{ OPT_HIDE, 'T', NULL, "FILTER",
	  "hide the messages whose topic matches FILTER\n"
	  "(repeatable)" },
	{ OPT_FORMAT, 'F', NULL, "FORMAT",
	  "print FORMAT for each message: %t topic, %p payload,\n"
	  "%u uid, %g gid, %P pid of the sender (empty when\n"
	  "unknown), %r 1 for a retained value else 0, %% '%',\n"
	  "\\n newline, \\t tab, \\\\ '\\'" },
	{ OPT_JSON, 0, "json", NULL,
	  "print one JSON object per message: topic, payload,\n"
	  "retained, and the sender's uid, gid, pid when known" },
	{ OPT_NO_RECONNECT, 0, "no-reconnect", NULL,
	  "exit 69 when the connection is lost, instead of\n"
	  "reconnecting" },
	CTL_COMMON_OPTIONS,
	{ 0 },
};

/* Whether ev is to be printed: -R and -T. */
static bool
shown(const struct sub *s, const struct udsb_event *ev)
{
	if (ev->retained ? s->skip_retained : s->retained_only)
		return false;
	for (size_t i = 0; i < s->nhide; i++)
		if (topic_matches(s->hide[i], strlen(s->hide[i]), ev->topic, ev->topic_len))
			return false;
	return true;
}

/* Prints one delivery; returns 0 or EXIT_IOERR. */
static int
print_msg(const struct sub *s, const struct udsb_event *ev)
{
	const struct fmt_msg m = {
		.topic = ev->topic,
		.topic_len = ev->topic_len,
		.payload = ev->payload,
		.payload_len = ev->payload_len,
		.retained = ev->retained != 0,
		.uid = ev->uid,
		.gid = ev->gid,
		.pid = ev->pid,
	};

	return fmt_write(&s->fmt, &m, stdout) == 0 ? 0 : ctl_flush_stdout();
}

/* An event that is not a delivery: flushed output first, so that stdout
 * and stderr keep their order. Returns 0 or an exit status. */
static int
notice(const struct sub *s, const struct udsb_event *ev)
{
	int status = 0;

	if (ev->type != UDSB_EV_BYE)
		status = ctl_flush_stdout();
	return status != 0 ? status : ctl_notice(s->link.c, ev);
}

/* Handles one event: a notice, or a message printed unless -T or -R hides
 * it (*printed says which). Returns 0 to go on, else the exit status. */
static int
take(struct sub *s, const struct udsb_event *ev, bool *printed)
{
	*printed = false;
	if (ev->type != UDSB_EV_MSG)
		return notice(s, ev);
	if (!shown(s, ev))
		return 0;
	*printed = true;
	return print_msg(s, ev);
}

/* Prints deliveries until -n is reached, -W expires or the connection ends
 * for good. */
static int
run_live(struct sub *s)
{
	long long deadline = ctl_deadline(s->wait_ms);
	unsigned long long got = 0;
	struct udsb_event ev;
	bool printed;
	int status;

	for (;;) {
		switch (ctl_next_event(&s->link, &ev, deadline, &status)) {
		case CTL_TIMEOUT:
			ctl_warn("no message from %s within %s seconds", udsb_path(s->link.c),
			         s->wait_arg);
			return EXIT_SUB_TIMEOUT;
		case CTL_END:
			return status;
		case CTL_EVENT:
			break;
		}
		if ((status = take(s, &ev, &printed)) != 0)
			return status;
		if (!printed)
			continue;
		if (s->count != 0 && ++got == s->count)
			return ctl_flush_stdout();
		deadline = ctl_deadline(s->wait_ms);
	}
}

/* --retained-only: a PING after the SUBs is answered after every retained
 * value they brought (the broker sends them with each SUB's OK), so the
 * values are the retained events queued before the PONG. */
static int
run_retained(struct sub *s)
{
	struct udsb *c = s->link.c;
	unsigned long long got = 0;
	struct udsb_event ev;
	bool printed;
	int rc, status;

	if (s->wait_ms >= 0 && (rc = udsb_set_timeout(c, s->wait_ms)) != UDSB_OK)
		return ctl_fail(c, rc);
	rc = udsb_ping(c, NULL);
	if (rc != UDSB_OK && !(rc == UDSB_ETIMEDOUT && s->wait_ms >= 0))
		return ctl_fail(c, rc);
	while (udsb_recv(c, &ev, 0) == UDSB_OK) {
		if ((status = take(s, &ev, &printed)) != 0)
			return status;
		if (printed && ++got == s->count)
			break;
	}
	status = ctl_flush_stdout();
	if (status == 0 && got == 0 && s->wait_ms >= 0) {
		ctl_warn("no retained value at %s matched within %s seconds", udsb_path(c),
		         s->wait_arg);
		return EXIT_SUB_TIMEOUT;
	}
	return status;
}

/* Takes one option but -v into s. Returns 0 or a usage error's status. */
static int
take_option(const struct ctl_command *cmd, struct sub *s, int key, const char *value)
{
	char err[256];
	enum topic_error te;

	switch (key) {
	case OPT_NO_RETAINED:
		s->skip_retained = true;
		return 0;
	case OPT_RETAINED_ONLY:
		s->retained_only = true;
		return 0;
	case OPT_NO_RECONNECT:
		s->no_reconnect = true;
		return 0;
	case OPT_COUNT:
		if (!ctl_parse_count(value, &s->count))
			return ctl_usage(cmd, "-n needs a COUNT of 1 or more, not '%s'", value);
		return 0;
	case OPT_WAIT:
		if (!ctl_parse_wait(value, &s->wait_ms))
			return ctl_usage(cmd, "-W needs SECONDS greater than 0, not '%s'", value);
		s->wait_arg = value;
		return 0;
	case OPT_HIDE:
		te = topic_check_filter(value, strlen(value), MAX_HIDE_FILTER);
		if (te != TOPIC_OK)
			return ctl_usage(cmd, "-T '%s' is not a filter: %s", value,
			                 topic_strerror(te));
		s->hide[s->nhide++] = value;
		return 0;
	case OPT_FORMAT:
		if (s->fmt.kind == FMT_JSON)
			return ctl_usage(cmd, "-F or --json, not both");
		if (fmt_template(&s->fmt, value, err, sizeof err) != 0)
			return ctl_usage(cmd, "%s", err);
		return 0;
	case OPT_JSON:
		if (s->fmt.kind == FMT_TEMPLATE)
			return ctl_usage(cmd, "-F or --json, not both");
		s->fmt.kind = FMT_JSON;
		return 0;
	}
	return EXIT_USAGE; /* not reached: the table has no other key */
}

/* Parses the options; the filters are then args->argv[0, nops). Returns
 * true to go on, or false with *status the exit status (a usage error, or
 * 0 after --help). */
static bool
parse(const struct ctl_command *cmd, struct sub *s, struct ctl_parse *args, const char **sock,
      int *status)
{
	bool verbose = false;
	const char *value;
	int key;

	while ((key = ctl_option(cmd, args, &value, sock, status)) != OPT_END) {
		if (key == OPT_ERROR)
			return false;
		/* -v after -F/--json must not undo them: remember it apart. */
		if (key == OPT_VERBOSE) {
			verbose = true;
			continue;
		}
		*status = take_option(cmd, s, key, value);
		if (*status != 0)
			return false;
	}
	*status = EXIT_USAGE;
	if (verbose && s->fmt.kind != FMT_PAYLOAD)
		ctl_usage(cmd, "-v or %s, not both", s->fmt.kind == FMT_JSON ? "--json" : "-F");
	else if (s->skip_retained && s->retained_only)
		ctl_usage(cmd, "-R or --retained-only, not both");
	else if (args->nops == 0)
		ctl_usage(cmd, "missing FILTER");
	else
		*status = 0;
	if (verbose)
		s->fmt.kind = FMT_VERBOSE;
	return *status == 0;
}

/* Connects, turns meta on for -F and --json, subscribes to the filters.
 * Returns 0 or an exit status. */
static int
subscribe(struct sub *s, const char *sock, char **filters, int nfilters)
{
	struct udsb *c;
	int rc, status = 0;

	c = ctl_connect(sock, &status);
	if (c == NULL)
		return status;
	ctl_link_init(&s->link, c);
	if (fmt_needs_meta(&s->fmt) && (rc = udsb_set_meta(c, 1)) != UDSB_OK)
		return ctl_fail(c, rc);
	for (int i = 0; i < nfilters; i++)
		if ((rc = udsb_subscribe(c, filters[i])) != UDSB_OK)
			return ctl_fail(c, rc);
	return 0;
}

static int
run_sub(const struct ctl_command *cmd, int argc, char **argv, const char *sock)
{
	struct sub s = { .fmt = { .kind = FMT_PAYLOAD }, .wait_ms = -1 };
	struct ctl_parse args;
	int status;

	s.hide = malloc(sizeof *s.hide * (size_t)argc);
	if (s.hide == NULL) {
		ctl_warn("out of memory");
		return EXIT_OSERR;
	}
	options_init(&args, cmd->name, cmd->options, argc - 1, argv + 1, false);
	if (!parse(cmd, &s, &args, &sock, &status)) {
		free(s.hide);
		return status;
	}
	status = subscribe(&s, sock, args.argv, args.nops);
	if (status == 0) {
		/* From now on a reader that went away is no error to tell (its
		 * --help is still output like any other). */
		ctl_quiet_epipe = true;
		if (setvbuf(stdout, NULL, _IOFBF, 64 * 1024) != 0) {
			/* Keep stdio's own buffering then. */
		}
		if (s.retained_only) {
			status = run_retained(&s);
		} else {
			if (!s.no_reconnect)
				status = ctl_link_reconnect(&s.link);
			if (status == 0)
				status = run_live(&s);
		}
	}
	udsb_free(s.link.c);
	free(s.hide);
	return status;
}

const struct ctl_command ctl_cmd_sub = {
	.name = "sub",
	.usage = "[-v] [-R | --retained-only] [-n COUNT]\n"
	         "[-W SECONDS] [-T FILTER]... [-F FORMAT | --json]\n"
	         "[--no-reconnect] FILTER...",
	.operands = "FILTER...",
	.summary = "print the payload of each message delivered,\n"
	           "retained values first; reconnect when the\n"
	           "connection is lost",
	.options = sub_options,
	.run = run_sub,
};
