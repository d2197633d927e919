/*
 * udsctl: publish, subscribe, ping and query the local udsbrokerd from the
 * command line. Global options and the table of subcommands live here; each
 * subcommand is in its own file. Only the public libudsbroker API is used.
 */
#include "udsctl.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buildconf.h"
#include "parse.h"

static const struct {
	const char *name;
	ctl_cmd_fn *fn;
} commands[] = {
	{ "pub", cmd_pub },
	{ "sub", cmd_sub },
	{ "ping", cmd_ping },
	{ "stats", cmd_stats },
};

static const char help_text[] =
    "usage: udsctl [-s SOCKET] pub TOPIC [MESSAGE...]\n"
    "       udsctl [-s SOCKET] sub [-v] [-n COUNT] [-W SECONDS] FILTER...\n"
    "       udsctl [-s SOCKET] ping [-c COUNT]\n"
    "       udsctl [-s SOCKET] stats\n"
    "       udsctl --help | --version\n"
    "\n"
    "Publish, subscribe and query the local udsbroker broker.\n"
    "\n"
    "  pub TOPIC [MESSAGE...]  publish the MESSAGE words, joined by spaces; without\n"
    "                          MESSAGE, publish each line of standard input\n"
    "  sub FILTER...           print the payload of each message delivered\n"
    "      -v                  print \"TOPIC PAYLOAD\" instead\n"
    "      -n COUNT            exit after COUNT messages\n"
    "      -W SECONDS          exit with status 27 when no message came for SECONDS\n"
    "  ping                    print the round-trip time in microseconds\n"
    "      -c COUNT            measure COUNT round trips\n"
    "  stats                   print the broker's counters, one \"key value\" a line\n"
    "\n"
    "  -s SOCKET               the broker's socket; default: $UDSBROKER_SOCKET, else\n"
    "                          $XDG_RUNTIME_DIR/udsbroker.sock if it is your own socket,\n"
    "                          else /run/udsbroker.sock\n"
    "  --help                  print this help\n"
    "  --version               print the version\n"
    "\n"
    "Exit status: 0 success, 64 usage error, 65 the broker answered ERR,\n"
    "69 broker unreachable or connection lost, 27 no message within sub -W,\n"
    "74 reading standard input or writing standard output or error failed.\n";

bool ctl_quiet_epipe;

/* Whether stdout failed and was reported; whether stderr failed. */
static bool stdout_failed, stderr_failed;

/* Notes a failure of stderr after writing to it. */
static void
check_stderr(void)
{
	if (fflush(stderr) != 0 || ferror(stderr))
		stderr_failed = true;
}

int
ctl_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("udsctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'udsctl --help' for more information.\n", stderr);
	check_stderr();
	return EXIT_USAGE;
}

void
ctl_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("udsctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	check_stderr();
}

int
ctl_flush_stdout(void)
{
	int err;

	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	err = errno;
	if (!stdout_failed && !(ctl_quiet_epipe && err == EPIPE))
		ctl_warn("cannot write to standard output: %s", strerror(err));
	stdout_failed = true;
	return EXIT_IOERR;
}

/* The exit status once the subcommand is done: what stdout still holds
 * must go out, and a failure of either stream is EXIT_IOERR. */
static int
finish(int status)
{
	if (ctl_flush_stdout() != 0)
		status = EXIT_IOERR;
	check_stderr();
	return stderr_failed ? EXIT_IOERR : status;
}

int
ctl_fail(struct udsb *c, int rc)
{
	ctl_warn("%s", udsb_errmsg(c));
	switch (rc) {
	case UDSB_EINVAL:
	case UDSB_EPATH:
		return EXIT_USAGE;
	case UDSB_ETOPIC:
	case UDSB_EBROKER:
		return EXIT_BROKER_ERR;
	case UDSB_ENOMEM:
		return EXIT_OSERR;
	default: /* cannot connect, connection lost, no answer */
		return EXIT_UNAVAILABLE;
	}
}

struct udsb *
ctl_connect(const char *sock, int *status)
{
	struct udsb *c = udsb_new();
	int rc;

	if (c == NULL) {
		ctl_warn("out of memory");
		*status = EXIT_OSERR;
		return NULL;
	}
	rc = udsb_set_max_line(c, CTL_MAX_LINE);
	if (rc == UDSB_OK)
		rc = udsb_connect(c, sock);
	if (rc != UDSB_OK) {
		*status = ctl_fail(c, rc);
		udsb_free(c);
		return NULL;
	}
	return c;
}

int
ctl_notice(struct udsb *c, const struct udsb_event *ev)
{
	switch (ev->type) {
	case UDSB_EV_ERROR:
		ctl_warn("the broker at %s answered ERR %s %s", udsb_path(c), ev->code, ev->text);
		return EXIT_BROKER_ERR;
	case UDSB_EV_DROPPED:
		ctl_warn("DROPPED %llu: the broker at %s dropped %llu messages for this "
		         "subscriber, which read too slowly",
		         ev->count, udsb_path(c), ev->count);
		return 0;
	case UDSB_EV_OVERLONG:
		ctl_warn("skipped a line of %llu bytes from the broker at %s: longer than %d",
		         ev->count, udsb_path(c), CTL_MAX_LINE);
		return 0;
	case UDSB_EV_UNKNOWN:
		ctl_warn("ignored a line from the broker at %s: %s", udsb_path(c), ev->text);
		return 0;
	case UDSB_EV_BYE: /* the loss of the connection that follows says it */
	case UDSB_EV_MSG:
	case UDSB_EV_RECONNECTED: /* never without udsb_set_reconnect() */
		return 0;
	}
	return 0;
}

/* Parses a COUNT option: a decimal of 1 or more. */
bool
ctl_parse_count(const char *s, unsigned long long *out)
{
	uint64_t v;

	if (parse_u64(s, 1, UINT64_MAX, &v) != PARSE_OK)
		return false;
	*out = v;
	return true;
}

/* The options and the subcommand; main() adds the checks of the streams. */
static int
run(int argc, char **argv)
{
	const char *sock = NULL;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *opt = argv[i];

		if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
			fputs(help_text, stdout);
			return ctl_flush_stdout();
		} else if (strcmp(opt, "--version") == 0 || strcmp(opt, "-V") == 0) {
			printf("udsctl %s (libudsbroker %s)\n", UDSB_VERSION, udsb_version());
			return ctl_flush_stdout();
		} else if (strcmp(opt, "-s") == 0) {
			if (++i == argc)
				return ctl_usage("option -s needs a SOCKET");
			sock = argv[i];
		} else if (strncmp(opt, "-s", 2) == 0) {
			sock = opt + 2;
		} else if (strcmp(opt, "--") == 0) {
			i++;
			break;
		} else {
			return ctl_usage("unknown option %s", opt);
		}
	}
	if (sock != NULL && sock[0] == '\0')
		return ctl_usage("option -s needs a SOCKET, not an empty string");
	if (i == argc)
		return ctl_usage("missing subcommand: pub, sub, ping or stats");
	for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			return commands[k].fn(argc - i, argv + i, sock);
	return ctl_usage("unknown subcommand '%s': pub, sub, ping or stats", argv[i]);
}

int
main(int argc, char **argv)
{
	/* A closed stdout or stderr is an error to report and an exit status
	 * (EPIPE), never a silent death by SIGPIPE. The library itself never
	 * raises SIGPIPE on its socket (MSG_NOSIGNAL). */
	signal(SIGPIPE, SIG_IGN);
	return finish(run(argc, argv));
}
