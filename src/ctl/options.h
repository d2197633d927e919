/*
 * udsctl's option parser, GNU style: options may come before, between or
 * after the operands; "--" ends the options (every word after it is an
 * operand, and the parser remembers where it stood); a lone "-" is an
 * operand. Short options cluster ("-vn 5", "-vn5"); a short option's value
 * may be attached ("-W3") or the next word; a long option's value is
 * "--name=VALUE" or the next word; a long option may be abbreviated to any
 * unique prefix. Each subcommand describes its options in one table, which
 * also gives its --help text (options_help).
 *
 * Pure: it prints nothing; an error is a sentence in the parser's err.
 */
#ifndef UDSCTL_OPTIONS_H
#define UDSCTL_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

/* One option of a subcommand's table; the table ends with key 0. */
struct ctl_opt {
	int key;           /* what options_next returns: the letter, or >= 256 */
	char letter;       /* the short name, 0 for a long-only option */
	const char *name;  /* the long name without "--", NULL for none */
	const char *value; /* the value's name ("COUNT"), NULL if it takes none */
	const char *help;  /* one line for --help; NULL: not shown there */
};

/* options_next's results besides an option's key. */
enum {
	OPT_END = 0,    /* no more options: the operands are ready */
	OPT_ERROR = -1, /* a usage error: the parser's err says which */
};

/* The state of one parse. */
struct ctl_parse {
	/* Set by options_init. */
	const char *cmd; /* "sub": prefixes the error messages */
	const struct ctl_opt *table;
	int argc;
	char **argv;
	bool in_order; /* stop at the first operand (udsctl's own options) */

	/* The result, valid once options_next returned OPT_END: the operands
	 * in their order, compacted at the front of argv (argv is reordered). */
	int nops;   /* argv[0, nops) */
	int dashes; /* operands before "--", or -1 if there was no "--" */

	/* Inside the parse. */
	int next;            /* the next word of argv to look at */
	const char *cluster; /* the rest of a cluster of short options */
	char err[256];       /* the last error */
};

/* Starts parsing argv[0, argc), which holds no program or subcommand name. */
void options_init(struct ctl_parse *p, const char *cmd, const struct ctl_opt *table, int argc,
                  char **argv, bool in_order);

/* The next option: its key with *value set to its value (NULL for an option
 * without one), OPT_END when the words are used up, or OPT_ERROR. */
int options_next(struct ctl_parse *p, const char **value);

/* Writes the option lines of --help for table: "  -n COUNT   help...",
 * indented by indent spaces. */
void options_help(FILE *out, const struct ctl_opt *table, int indent);

#endif
