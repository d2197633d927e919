/* udsctl's GNU-style option parser (src/ctl/options.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

enum { K_LONG_ONLY = 256, K_LONG_VALUE, K_LONG_OTHER };

static const struct ctl_opt table[] = {
	{ 'v', 'v', NULL, NULL, "be verbose" },
	{ 'n', 'n', NULL, "COUNT", "a count" },
	{ 'W', 'W', NULL, "SECONDS", "a wait\non two lines" },
	{ K_LONG_ONLY, 0, "json", NULL, "long only" },
	{ K_LONG_VALUE, 0, "group", "GROUP", "long with a value" },
	{ K_LONG_OTHER, 0, "no-reconnect", NULL, NULL },
	{ 'h', 'h', "help", NULL, NULL },
	{ 0 },
};

/* How parse_words writes an option: its letter, else its long name. */
static const char *
option_name(int key)
{
	static char letter[2];

	for (const struct ctl_opt *o = table; o->key != 0; o++) {
		if (o->key != key)
			continue;
		if (o->letter == 0)
			return o->name;
		letter[0] = o->letter;
		return letter;
	}
	return "?";
}

/* Parses the words (NULL-terminated) and writes what came out, one item
 * per option ("v", "n=5", "json", "group=g") then "|" and the operands, and
 * "--@N" when there was a "--" after N operands; or "ERR: message". */
static const char *
parse_words(bool in_order, const char *const *words)
{
	static char out[512];
	char *argv[32];
	struct ctl_parse p;
	const char *value;
	size_t n = 0, len = 0;
	int key;

	while (words[n] != NULL) {
		argv[n] = (char *)words[n];
		n++;
	}
	options_init(&p, "t", table, (int)n, argv, in_order);
	out[0] = '\0';
	while ((key = options_next(&p, &value)) != OPT_END) {
		if (key == OPT_ERROR) {
			snprintf(out, sizeof out, "ERR: %s", p.err);
			return out;
		}
		len += (size_t)snprintf(out + len, sizeof out - len, "%s%s%s ", option_name(key),
		                        value ? "=" : "", value ? value : "");
	}
	len += (size_t)snprintf(out + len, sizeof out - len, "|");
	for (int i = 0; i < p.nops; i++)
		len += (size_t)snprintf(out + len, sizeof out - len, " %s", p.argv[i]);
	if (p.dashes >= 0)
		snprintf(out + len, sizeof out - len, " --@%d", p.dashes);
	return out;
}

#define W(...) ((const char *const[]){ __VA_ARGS__, NULL })

struct parse_case {
	const char *const *words;
	const char *want;
};

Test(ctl_options, before_between_and_after_operands)
{
	const struct parse_case cases[] = {
		{ W("a"), "| a" },
		{ W("-v", "a"), "v | a" },
		{ W("a", "-v"), "v | a" },
		{ W("a", "-W", "3"), "W=3 | a" },
		{ W("a", "-n", "2", "b", "-v", "c"), "n=2 v | a b c" },
		{ W("-vn5", "a"), "v n=5 | a" },
		{ W("-vn", "5", "a"), "v n=5 | a" },
		{ W("-W3"), "W=3 |" },
		{ W("-n", "-v"), "n=-v |" }, /* a value may begin with '-' */
		{ W("--json", "a", "--group", "g"), "json group=g | a" },
		{ W("--group=g", "a"), "group=g | a" },
		{ W("--group="), "group= |" },
		{ W("--js", "--gr", "x", "--no"), "json group=x no-reconnect |" }, /* prefixes */
		{ W("-", "-v"), "v | -" }, /* "-" is an operand */
		{ W("a", "--", "-v", "--json"), "| a -v --json --@1" },
		{ W("--", "--"), "| -- --@0" },
		{ W("a", "--"), "| a --@1" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_str_eq(parse_words(false, cases[i].words), cases[i].want, "case %zu", i);
}

Test(ctl_options, in_order_stops_at_the_first_operand)
{
	cr_expect_str_eq(parse_words(true, W("-v", "sub", "-n", "1", "x")), "v | sub -n 1 x");
	cr_expect_str_eq(parse_words(true, W("sub", "-v")), "| sub -v");
	cr_expect_str_eq(parse_words(true, W("-v", "--", "-n")), "v | -n --@0");
	cr_expect_str_eq(parse_words(true, W("-v")), "v |");
}

Test(ctl_options, errors_name_the_option)
{
	const struct parse_case cases[] = {
		{ W("-x"), "ERR: t: unknown option -x" },
		{ W("a", "-vx"), "ERR: t: unknown option -x" },
		{ W("--bogus"), "ERR: t: unknown option --bogus" },
		{ W("--bogus=1"), "ERR: t: unknown option --bogus" },
		{ W("a", "-W"), "ERR: t: option -W needs a SECONDS" },
		{ W("--group"), "ERR: t: option --group needs a GROUP" },
		{ W("--json=1"), "ERR: t: option --json takes no value" },
		{ W("-5"), "ERR: t: unknown option -5" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_str_eq(parse_words(false, cases[i].words), cases[i].want, "case %zu", i);
}

Test(ctl_options, ambiguous_prefix)
{
	static const struct ctl_opt two[] = {
		{ 1, 0, "retained-only", NULL, NULL },
		{ 2, 0, "retain", NULL, NULL },
		{ 3, 0, "reconnect", NULL, NULL },
		{ 0 },
	};
	char *argv[] = { "--re", "--retain", "--retained" };
	struct ctl_parse p;
	const char *value;

	options_init(&p, "t", two, 3, argv, false);
	cr_expect_eq(options_next(&p, &value), OPT_ERROR);
	cr_expect_str_eq(p.err, "t: option --re is ambiguous");
	/* An exact name wins over the longer names it prefixes. */
	cr_expect_eq(options_next(&p, &value), 2);
	cr_expect_eq(options_next(&p, &value), 1);
	cr_expect_eq(options_next(&p, &value), OPT_END);
}

Test(ctl_options, help_lines_come_from_the_table)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	cr_assert_not_null(f);
	options_help(f, table, 2);
	cr_assert_eq(fclose(f), 0);
	cr_expect_str_eq(text, "  -v                      be verbose\n"
	                       "  -n COUNT                a count\n"
	                       "  -W SECONDS              a wait\n"
	                       "                          on two lines\n"
	                       "  --json                  long only\n"
	                       "  --group GROUP           long with a value\n");
	free(text);
}
