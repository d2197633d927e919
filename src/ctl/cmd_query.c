/* udsctl ping and udsctl stats: one round trip or a few, printed. */
#include "udsctl.h"

#include <stdio.h>
#include <string.h>

enum { OPT_COUNT = 'c' };
static const struct ctl_opt ping_options[] = {
	{ OPT_COUNT, 'c', NULL, "COUNT", "measure COUNT round trips" },
	CTL_COMMON_OPTIONS,
	{ 0 },
};

static const struct ctl_opt stats_options[] = {
	CTL_COMMON_OPTIONS,
	{ 0 },
};

static int
run_ping(const struct ctl_command *cmd, int argc, char **argv, const char *sock)
{
	unsigned long long count = 1;
	struct ctl_parse args;
	const char *value;
	struct udsb *c;
	int key, rc, status = 0;

	options_init(&args, cmd->name, cmd->options, argc - 1, argv + 1, false);
	while ((key = ctl_option(cmd, &args, &value, &sock, &status)) != OPT_END) {
		switch (key) {
		case OPT_COUNT:
			if (!ctl_parse_count(value, &count))
				return ctl_usage(cmd, "-c needs a COUNT of 1 or more, not '%s'",
				                 value);
			break;
		default: /* OPT_ERROR */
			return status;
		}
	}
	if (args.nops > 0)
		return ctl_usage(cmd, "unexpected argument '%s'", args.argv[0]);

	c = ctl_connect(sock, &status);
	if (c == NULL)
		return status;
	for (unsigned long long i = 0; i < count && status == 0; i++) {
		long rtt;

		rc = udsb_ping(c, &rtt);
		if (rc != UDSB_OK) {
			status = ctl_fail(c, rc);
			break;
		}
		printf("%ld\n", rtt);
		status = ctl_flush_stdout();
	}
	udsb_free(c);
	return status;
}

static int
run_stats(const struct ctl_command *cmd, int argc, char **argv, const char *sock)
{
	const struct udsb_stat *items;
	struct ctl_parse args;
	const char *value;
	size_t n;
	struct udsb *c;
	int rc, status = 0;

	options_init(&args, cmd->name, cmd->options, argc - 1, argv + 1, false);
	if (ctl_option(cmd, &args, &value, &sock, &status) != OPT_END)
		return status; /* the common options are its only ones */
	if (args.nops > 0)
		return ctl_usage(cmd, "unexpected argument '%s'", args.argv[0]);

	c = ctl_connect(sock, &status);
	if (c == NULL)
		return status;
	rc = udsb_stats(c, &items, &n);
	if (rc != UDSB_OK) {
		status = ctl_fail(c, rc);
	} else {
		for (size_t i = 0; i < n; i++)
			printf("%s %s\n", items[i].key, items[i].value);
		status = ctl_flush_stdout();
	}
	udsb_free(c);
	return status;
}

const struct ctl_command ctl_cmd_ping = {
	.name = "ping",
	.usage = "[-c COUNT]",
	.operands = "",
	.summary = "print the round-trip time in microseconds",
	.options = ping_options,
	.run = run_ping,
};

const struct ctl_command ctl_cmd_stats = {
	.name = "stats",
	.usage = "",
	.operands = "",
	.summary = "print the broker's counters, one \"key value\" a line",
	.options = stats_options,
	.run = run_stats,
};
