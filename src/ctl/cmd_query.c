/* udsctl ping and udsctl stats: one round trip or a few, printed. */
#include "udsctl.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

int
cmd_ping(int argc, char **argv, const char *sock)
{
	unsigned long long count = 1;
	struct udsb *c;
	int opt, rc, status = 0;

	opterr = 0;
	optind = 0;
	while ((opt = getopt(argc, argv, "+:s:c:")) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			if (!ctl_parse_count(optarg, &count))
				return ctl_usage("ping: -c needs a COUNT of 1 or more, not '%s'",
				                 optarg);
			break;
		case ':':
			return ctl_usage("ping: option -%c needs a value", optopt);
		default:
			return ctl_usage("ping: unknown option -%c", optopt);
		}
	}
	if (optind < argc)
		return ctl_usage("ping: unexpected argument '%s'", argv[optind]);

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

int
cmd_stats(int argc, char **argv, const char *sock)
{
	const struct udsb_stat *items;
	size_t n;
	struct udsb *c;
	int opt, rc, status = 0;

	opterr = 0;
	optind = 0;
	while ((opt = getopt(argc, argv, "+:s:")) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case ':':
			return ctl_usage("stats: option -%c needs a value", optopt);
		default:
			return ctl_usage("stats: unknown option -%c", optopt);
		}
	}
	if (optind < argc)
		return ctl_usage("stats: unexpected argument '%s'", argv[optind]);

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
