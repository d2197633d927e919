/* udsctl's GNU-style option parser; see options.h. */
#include "options.h"

#include <stdarg.h>
#include <string.h>

/* The column where the help texts of options_help start. */
#define HELP_COLUMN 26

void
options_init(struct ctl_parse *p, const char *cmd, const struct ctl_opt *table, int argc,
             char **argv, bool in_order)
{
	*p = (struct ctl_parse){
		.cmd = cmd,
		.table = table,
		.argc = argc,
		.argv = argv,
		.in_order = in_order,
		.dashes = -1,
	};
}

/* Records the error "CMD: MESSAGE" and returns OPT_ERROR. */
__attribute__((format(printf, 2, 3))) static int
fail(struct ctl_parse *p, const char *fmt, ...)
{
	size_t n = 0;
	va_list ap;

	if (p->cmd != NULL && p->cmd[0] != '\0')
		n = (size_t)snprintf(p->err, sizeof p->err, "%s: ", p->cmd);
	if (n >= sizeof p->err)
		n = sizeof p->err - 1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, sizeof p->err - n, fmt, ap);
	va_end(ap);
	return OPT_ERROR;
}

/* Moves argv[from, argc) to the operands and ends the parse. */
static int
take_rest(struct ctl_parse *p, int from)
{
	for (int i = from; i < p->argc; i++)
		p->argv[p->nops++] = p->argv[i];
	p->next = p->argc;
	return OPT_END;
}

/* The value of an option that takes one: inline (attached) if given, else
 * the next word. NULL when there is none. */
static const char *
take_value(struct ctl_parse *p, const char *inline_value)
{
	if (inline_value != NULL)
		return inline_value;
	if (p->next >= p->argc)
		return NULL;
	return p->argv[p->next++];
}

/* The next option of the cluster of short options p->cluster points into. */
static int
short_option(struct ctl_parse *p, const char **value)
{
	char letter = *p->cluster++;
	const struct ctl_opt *o;

	for (o = p->table; o->key != 0; o++)
		if (o->letter != 0 && o->letter == letter)
			break;
	if (o->key == 0) {
		p->cluster = NULL;
		return fail(p, "unknown option -%c", letter);
	}
	*value = NULL;
	if (o->value != NULL) {
		*value = take_value(p, *p->cluster != '\0' ? p->cluster : NULL);
		p->cluster = NULL;
		if (*value == NULL)
			return fail(p, "option -%c needs a %s", letter, o->value);
	}
	if (p->cluster != NULL && *p->cluster == '\0')
		p->cluster = NULL;
	return o->key;
}

/* The long option word ("--name" or "--name=value", without the dashes). */
static int
long_option(struct ctl_parse *p, const char *word, const char **value)
{
	const char *eq = strchr(word, '=');
	size_t len = eq != NULL ? (size_t)(eq - word) : strlen(word);
	const struct ctl_opt *found = NULL;
	int matches = 0;

	for (const struct ctl_opt *o = p->table; o->key != 0; o++) {
		if (o->name == NULL || strncmp(o->name, word, len) != 0)
			continue;
		if (o->name[len] == '\0') { /* exact: wins over any prefix */
			found = o;
			matches = 1;
			break;
		}
		found = o;
		matches++;
	}
	if (matches == 0)
		return fail(p, "unknown option --%.*s", (int)len, word);
	if (matches > 1)
		return fail(p, "option --%.*s is ambiguous", (int)len, word);
	*value = NULL;
	if (found->value == NULL) {
		if (eq != NULL)
			return fail(p, "option --%s takes no value", found->name);
		return found->key;
	}
	*value = take_value(p, eq != NULL ? eq + 1 : NULL);
	if (*value == NULL)
		return fail(p, "option --%s needs a %s", found->name, found->value);
	return found->key;
}

int
options_next(struct ctl_parse *p, const char **value)
{
	*value = NULL;
	if (p->cluster != NULL)
		return short_option(p, value);
	while (p->next < p->argc) {
		char *word = p->argv[p->next];

		if (strcmp(word, "--") == 0) {
			p->dashes = p->nops;
			return take_rest(p, p->next + 1);
		}
		if (word[0] != '-' || word[1] == '\0') { /* an operand, "-" too */
			if (p->in_order)
				return take_rest(p, p->next);
			p->argv[p->nops++] = word;
			p->next++;
			continue;
		}
		p->next++;
		if (word[1] == '-')
			return long_option(p, word + 2, value);
		p->cluster = word + 1;
		return short_option(p, value);
	}
	return OPT_END;
}

void
options_help(FILE *out, const struct ctl_opt *table, int indent)
{
	for (const struct ctl_opt *o = table; o->key != 0; o++) {
		int col;

		if (o->help == NULL)
			continue;
		col = fprintf(out, "%*s", indent, "");
		if (o->letter != 0)
			col += fprintf(out, "-%c%s", o->letter, o->name != NULL ? ", " : "");
		if (o->name != NULL)
			col += fprintf(out, "--%s", o->name);
		if (o->value != NULL)
			col += fprintf(out, " %s", o->value);
		if (col > HELP_COLUMN - 2) {
			fputc('\n', out);
			col = 0;
		}
		fprintf(out, "%*s", HELP_COLUMN - col, "");
		for (const char *h = o->help; *h != '\0'; h++) {
			fputc(*h, out);
			if (*h == '\n')
				fprintf(out, "%*s", HELP_COLUMN, "");
		}
		fputc('\n', out);
	}
}
