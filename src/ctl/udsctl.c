/*
 * udsctl: publish, subscribe, ask, serve, ping and query the local
 * udsbrokerd from the command line. Global options, the table of
 * subcommands, the help and what every subcommand shares (messages, exit
 * statuses, connecting) live here; each subcommand is in its own file, the
 * option parser in options.c, waiting for events in events.c. Only the
 * public libudsbroker API is used.
 */
#include "udsctl.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buildconf.h"
#include "parse.h"

/* The subcommands, in the order --help lists them. */
static const struct ctl_command *const commands[] = {
	&ctl_cmd_pub, &ctl_cmd_sub, &ctl_cmd_req, &ctl_cmd_serve, &ctl_cmd_ping, &ctl_cmd_stats,
};

/* udsctl's own options, before the subcommand. */
enum { OPT_VERSION = 'V' };
static const struct ctl_opt global_options[] = {
	{ CTL_OPT_SOCKET, 's', NULL, "SOCKET",
	  "the broker's socket; default: $UDSBROKER_SOCKET,\n"
	  "else $XDG_RUNTIME_DIR/udsbroker.sock if it is your\n"
	  "own socket, else /run/udsbroker.sock" },
	{ CTL_OPT_HELP, 0, "help", NULL, "print this help; udsctl COMMAND --help: its own" },
	{ OPT_VERSION, 0, "version", NULL, "print the version" },
	{ CTL_OPT_HELP, 'h', NULL, NULL, NULL }, /* as release 1 took them */
	{ OPT_VERSION, 'V', NULL, NULL, NULL },
	{ 0 },
};

static const char help_intro[] =
    "Publish, subscribe, ask and serve on the local udsbroker broker.\n"
    "Options may come before or after the operands; -- ends them.\n";

static const char help_exit[] =
    "Exit status: 0 success, 64 usage error, 65 the broker answered ERR,\n"
    "69 broker unreachable or connection lost, 27 no message within -W,\n"
    "71 out of memory or a system call failed, 74 reading standard input or\n"
    "writing standard output or error failed.\n";

/* Writes text, its continuation lines indented by indent. */
static void
print_wrapped(const char *text, int indent)
{
	for (const char *t = text; *t != '\0'; t++) {
		putchar(*t);
		if (*t == '\n')
			printf("%*s", indent, "");
	}
	putchar('\n');
}

/* Writes "udsctl [-s SOCKET] NAME USAGE" with its continuation lines lined
 * up under the first operand. */
static void
print_usage_line(const char *lead, const struct ctl_command *cmd)
{
	int col = printf("%sudsctl [-s SOCKET] %s%s", lead, cmd->name, cmd->usage[0] ? " " : "");

	print_wrapped(cmd->usage, col);
}

/* udsctl --help: every subcommand with its options. */
static int
print_help(void)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		print_usage_line(i == 0 ? "usage: " : "       ", commands[i]);
	printf("       udsctl --help | --version\n\n%s\n", help_intro);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		const struct ctl_command *cmd = commands[i];
		int col = printf("  %s%s%s", cmd->name, cmd->operands[0] ? " " : "", cmd->operands);

		if (col > 24) {
			putchar('\n');
			col = 0;
		}
		printf("%*s", 26 - col, "");
		print_wrapped(cmd->summary, 26);
		options_help(stdout, cmd->options, 6);
	}
	putchar('\n');
	options_help(stdout, global_options, 2);
	printf("\n%s", help_exit);
	return ctl_flush_stdout();
}

/* udsctl NAME --help: that subcommand alone. */
static int
print_command_help(const struct ctl_command *cmd)
{
	print_usage_line("usage: ", cmd);
	printf("\n%c", toupper((unsigned char)cmd->summary[0]));
	fputs(cmd->summary + 1, stdout);
	printf(".\n\nOptions may come before or after the operands; -- ends them.\n\n");
	options_help(stdout, cmd->options, 2);
	printf("  -s SOCKET               the broker's socket (see udsctl --help)\n"
	       "  -h, --help              print this help\n\n%s",
	       help_exit);
	return ctl_flush_stdout();
}

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
ctl_usage(const struct ctl_command *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("udsctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'udsctl %s%s--help' for more information.\n",
	        cmd != NULL ? cmd->name : "", cmd != NULL ? " " : "");
	check_stderr();
	return EXIT_USAGE;
}

int
ctl_option(const struct ctl_command *cmd, struct ctl_parse *p, const char **value,
           const char **sock, int *status)
{
	for (;;) {
		int key = options_next(p, value);

		switch (key) {
		case CTL_OPT_SOCKET:
			*sock = *value;
			continue;
		case CTL_OPT_HELP:
			*status = print_command_help(cmd);
			return OPT_ERROR;
		case OPT_ERROR:
			*status =
			    ctl_usage(cmd, "%s%s", p->err, cmd->hint != NULL ? cmd->hint : "");
			return OPT_ERROR;
		default:
			return key;
		}
	}
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
	case UDSB_ENORESPONDERS:
		return EXIT_BROKER_ERR;
	case UDSB_ENOMEM:
		return EXIT_OSERR;
	default: /* cannot connect, connection lost or down, no answer */
		return EXIT_UNAVAILABLE;
	}
}

int
ctl_fail_send(struct udsb *c, int rc)
{
	if (rc != UDSB_EINVAL)
		return ctl_fail(c, rc);
	ctl_warn("%s", udsb_errmsg(c));
	return EXIT_BROKER_ERR;
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

char *
ctl_join_words(int argc, char **argv, size_t *len)
{
	size_t size = 1;
	char *msg;

	*len = 0;
	for (int i = 0; i < argc; i++)
		size += strlen(argv[i]) + 1;
	msg = malloc(size);
	if (msg == NULL)
		return NULL;
	for (int i = 0; i < argc; i++) {
		size_t w = strlen(argv[i]);

		if (i > 0)
			msg[(*len)++] = ' ';
		memcpy(msg + *len, argv[i], w);
		*len += w;
	}
	msg[*len] = '\0';
	return msg;
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

bool
ctl_parse_wait(const char *s, int *ms)
{
	return parse_seconds_ms(s, CTL_MAX_WAIT_S, ms) == PARSE_OK;
}

/* The list of subcommands, for messages: "pub, sub, ..., or stats". */
static const char *
command_names(void)
{
	static char buf[128];
	size_t n = 0, count = sizeof commands / sizeof commands[0];

	for (size_t i = 0; i < count && n < sizeof buf; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s",
		                      i == 0           ? ""
		                      : i + 1 == count ? " or "
		                                       : ", ",
		                      commands[i]->name);
	return buf;
}

/* The options and the subcommand; main() adds the checks of the streams. */
static int
run(int argc, char **argv)
{
	const char *sock = NULL, *value;
	struct ctl_parse p;
	int key;

	/* udsctl's own options stop at the subcommand: what follows is its. */
	options_init(&p, NULL, global_options, argc - 1, argv + 1, true);
	while ((key = options_next(&p, &value)) != OPT_END) {
		switch (key) {
		case CTL_OPT_SOCKET:
			sock = value;
			break;
		case CTL_OPT_HELP:
			return print_help();
		case OPT_VERSION:
			printf("udsctl %s (libudsbroker %s)\n", UDSB_VERSION, udsb_version());
			return ctl_flush_stdout();
		default:
			return ctl_usage(NULL, "%s", p.err);
		}
	}
	if (sock != NULL && sock[0] == '\0')
		return ctl_usage(NULL, "option -s needs a SOCKET, not an empty string");
	if (p.nops == 0)
		return ctl_usage(NULL, "missing subcommand: %s", command_names());
	for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
		if (strcmp(p.argv[0], commands[k]->name) == 0)
			return commands[k]->run(commands[k], p.nops, p.argv, sock);
	return ctl_usage(NULL, "unknown subcommand '%s': %s", p.argv[0], command_names());
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
