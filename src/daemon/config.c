/*
 * udsbrokerd.conf(5): one table of keys, each with its section, default and
 * parser. inih does the INI syntax; a line-counting reader gives every error
 * its line number.
 */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sockpath.h"

/* Longest line inih reads (its INI_MAX_LINE, less the '\n' and NUL). */
#define CONFIG_LINE_MAX (INI_MAX_LINE - 2)

/* How one key is read: parse value into cfg; on error write why into err. */
typedef int key_parser(struct config *cfg, const char *value, char *err, size_t errlen);

struct key {
	const char *section;
	const char *name;
	const char *default_value;
	key_parser *parse;
	bool repeats;             /* may be given more than once (rule) */
};

/* Parses an unsigned decimal in [min, max]. */
static int
parse_uint(const char *s, unsigned long long min, unsigned long long max,
           unsigned long long *out, char *err, size_t errlen)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*s < '0' || *s > '9') {
		snprintf(err, errlen, "'%s' is not a number", s);
		return -1;
	}
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0') {
		snprintf(err, errlen, "'%s' is not a number", s);
		return -1;
	}
	if (v < min || v > max) {
		snprintf(err, errlen, "%llu is out of range (%llu..%llu)", v, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int
config_parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v, mult = 1;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end == 'K' || *end == 'k')
		mult = 1024, end++;
	else if (*end == 'M' || *end == 'm')
		mult = 1024 * 1024, end++;
	if (*end != '\0' || v > SIZE_MAX / mult)
		return -1;
	*out = (size_t)(v * mult);
	return 0;
}

/* Parses a size (K/M suffixes) in [min, max]. */
static int
parse_size_in(const char *s, size_t min, size_t max, size_t *out, char *err, size_t errlen)
{
	size_t v;

	if (config_parse_size(s, &v) < 0) {
		snprintf(err, errlen, "'%s' is not a size (a number with an optional K or M suffix)", s);
		return -1;
	}
	if (v < min || v > max) {
		snprintf(err, errlen, "%s is out of range (%zu..%zu bytes)", s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Replaces *dst with a copy of value, or NULL when value is empty. */
static int
set_string(char **dst, const char *value, char *err, size_t errlen)
{
	char *copy = NULL;

	if (value[0] != '\0' && (copy = strdup(value)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(*dst);
	*dst = copy;
	return 0;
}

static int
parse_socket(struct config *cfg, const char *value, char *err, size_t errlen)
{
	if (strlen(value) > SOCKPATH_MAX) {
		snprintf(err, errlen, "path is %zu bytes long; the limit is %zu (sun_path)",
		         strlen(value), (size_t)SOCKPATH_MAX);
		return -1;
	}
	return set_string(&cfg->socket, value, err, errlen);
}

static int
parse_socket_mode(struct config *cfg, const char *value, char *err, size_t errlen)
{
	char *end;
	long mode;

	errno = 0;
	mode = strtol(value, &end, 8);
	if (value[0] < '0' || value[0] > '7' || errno != 0 || *end != '\0' || mode > 0777) {
		snprintf(err, errlen, "'%s' is not an octal mode (0000..0777)", value);
		return -1;
	}
	cfg->socket_mode = (mode_t)mode;
	return 0;
}

static int
parse_socket_group(struct config *cfg, const char *value, char *err, size_t errlen)
{
	return set_string(&cfg->socket_group, value, err, errlen);
}

static int
parse_max_clients(struct config *cfg, const char *value, char *err, size_t errlen)
{
	unsigned long long v;

	if (parse_uint(value, 1, 1000000, &v, err, errlen) < 0)
		return -1;
	cfg->max_clients = (unsigned)v;
	return 0;
}

static int
parse_max_line(struct config *cfg, const char *value, char *err, size_t errlen)
{
	return parse_size_in(value, 64, 64 << 20, &cfg->max_line, err, errlen);
}

static int
parse_max_topic(struct config *cfg, const char *value, char *err, size_t errlen)
{
	return parse_size_in(value, 1, 65535, &cfg->max_topic, err, errlen);
}

static int
parse_max_subscriptions(struct config *cfg, const char *value, char *err, size_t errlen)
{
	unsigned long long v;

	if (parse_uint(value, 1, 1000000, &v, err, errlen) < 0)
		return -1;
	cfg->max_subscriptions = (unsigned)v;
	return 0;
}

static int
parse_queue_limit(struct config *cfg, const char *value, char *err, size_t errlen)
{
	return parse_size_in(value, 4096, (size_t)1 << 30, &cfg->queue_limit, err, errlen);
}

static int
parse_slow_consumer(struct config *cfg, const char *value, char *err, size_t errlen)
{
	if (strcmp(value, "drop") == 0)
		cfg->slow_consumer = SLOW_CONSUMER_DROP;
	else if (strcmp(value, "disconnect") == 0)
		cfg->slow_consumer = SLOW_CONSUMER_DISCONNECT;
	else {
		snprintf(err, errlen, "'%s' is not one of: drop, disconnect", value);
		return -1;
	}
	return 0;
}

static int
parse_max_clients_per_uid(struct config *cfg, const char *value, char *err, size_t errlen)
{
	unsigned long long v;

	if (parse_uint(value, 0, 1000000, &v, err, errlen) < 0)
		return -1;
	cfg->max_clients_per_uid = (unsigned)v;
	return 0;
}

static int
parse_access_default(struct config *cfg, const char *value, char *err, size_t errlen)
{
	if (strcmp(value, "allow") == 0 || strcmp(value, "deny") == 0) {
		cfg->access.default_allow = value[0] == 'a';
		return 0;
	}
	snprintf(err, errlen, "'%s' is not allow or deny", value);
	return -1;
}

static int
parse_access_rule(struct config *cfg, const char *value, char *err, size_t errlen)
{
	if (value[0] == '\0' && cfg->access.nrules == 0)
		return 0; /* the default: no rules */
	return access_add_rule(&cfg->access, value, err, errlen);
}

static int
parse_log_level(struct config *cfg, const char *value, char *err, size_t errlen)
{
	int level = log_level_parse(value);

	if (level < 0) {
		snprintf(err, errlen, "'%s' is not one of: error, warn, info, debug", value);
		return -1;
	}
	cfg->log_level = (enum log_level)level;
	return 0;
}

/* Every key the file may hold, in the order config_print writes them. */
static const struct key keys[] = {
	{ "broker", "socket", "", parse_socket, false },
	{ "broker", "socket_mode", "0660", parse_socket_mode, false },
	{ "broker", "socket_group", "", parse_socket_group, false },
	{ "broker", "max_clients", "10000", parse_max_clients, false },
	{ "broker", "max_line", "65536", parse_max_line, false },
	{ "broker", "max_topic", "256", parse_max_topic, false },
	{ "broker", "max_subscriptions", "1024", parse_max_subscriptions, false },
	{ "broker", "queue_limit", "8M", parse_queue_limit, false },
	{ "broker", "slow_consumer", "drop", parse_slow_consumer, false },
	{ "broker", "max_clients_per_uid", "0", parse_max_clients_per_uid, false },
	{ "log", "level", "info", parse_log_level, false },
	{ "access", "default", "allow", parse_access_default, false },
	{ "access", "rule", "", parse_access_rule, true },
};
#define NKEYS (sizeof keys / sizeof keys[0])

bool
config_key(size_t i, const char **section, const char **name)
{
	if (i >= NKEYS)
		return false;
	*section = keys[i].section;
	*name = keys[i].name;
	return true;
}

void
config_defaults(struct config *cfg)
{
	char err[128];

	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].parse(cfg, keys[i].default_value, err, sizeof err) < 0)
			abort(); /* a default that does not parse is a bug here */
}

void
config_free(struct config *cfg)
{
	free(cfg->socket);
	free(cfg->socket_group);
	cfg->socket = NULL;
	cfg->socket_group = NULL;
	access_free(&cfg->access);
}

/* State of one parse: the reader counts lines, the handler checks keys. */
struct parse {
	struct config *cfg;
	const char *name;        /* file name for messages */
	FILE *fp;                /* the file, or NULL for a string */
	const char *text;        /* the rest of the string */
	int line;                /* number of the line last read */
	int err_line;            /* line of the first error, 0 if none */
	char err[256];           /* what was wrong on err_line */
	bool seen[NKEYS];
};

/* Records the first error. */
static void __attribute__((format(printf, 2, 3)))
parse_error(struct parse *p, const char *fmt, ...)
{
	va_list ap;

	if (p->err_line != 0)
		return;
	p->err_line = p->line;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof p->err, fmt, ap);
	va_end(ap);
}

/* Is name a section some key lives in? */
static bool
known_section(const char *name, size_t len)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strlen(keys[i].section) == len && strncmp(keys[i].section, name, len) == 0)
			return true;
	return false;
}

/* Checks a "[section]" line here, since inih says nothing of a section
 * without keys. */
static void
check_section_line(struct parse *p, const char *line)
{
	const char *end;

	line += strspn(line, " \t");
	if (*line != '[' || (end = strchr(line, ']')) == NULL)
		return;
	if (!known_section(line + 1, (size_t)(end - line - 1)))
		parse_error(p, "unknown section [%.*s]", (int)(end - line - 1), line + 1);
}

/* inih reader: one line per call, counting them; over-long lines are errors
 * rather than being split in two by inih's fixed buffer. */
static char *
read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	size_t n = 0;
	bool too_long = false;
	int c;

	for (;;) {
		if (p->fp != NULL)
			c = getc(p->fp);
		else
			c = *p->text != '\0' ? (unsigned char)*p->text++ : EOF;
		if (c == EOF) {
			if (n == 0 && !too_long)
				return NULL;
			break;
		}
		if (n < (size_t)num - 1)
			str[n++] = (char)c;
		else if (c != '\n')
			too_long = true;
		if (c == '\n')
			break;
	}
	str[n] = '\0';
	p->line++;
	if (too_long) {
		parse_error(p, "line longer than %d characters", CONFIG_LINE_MAX);
		str[0] = '\0';
	}
	check_section_line(p, str);
	return str;
}

/* inih handler: one key = value in a section. */
static int
handle_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	char why[192];
	size_t i;

	if (section[0] == '\0') {
		parse_error(p, "'%s' is outside a section (start with [broker])", name);
		return 0;
	}
	for (i = 0; i < NKEYS; i++)
		if (strcmp(section, keys[i].section) == 0 && strcmp(name, keys[i].name) == 0)
			break;
	if (i == NKEYS) {
		if (!known_section(section, strlen(section)))
			parse_error(p, "unknown section [%s]", section);
		else
			parse_error(p, "unknown key '%s' in [%s]", name, section);
		return 0;
	}
	if (p->seen[i] && !keys[i].repeats) {
		parse_error(p, "duplicate key '%s' in [%s]", name, section);
		return 0;
	}
	p->seen[i] = true;
	if (keys[i].parse(p->cfg, value, why, sizeof why) < 0) {
		parse_error(p, "%s: %s", name, why);
		return 0;
	}
	return 1;
}

/* Checks rules that tie keys together. */
static int
check_limits(struct parse *p)
{
	const struct config *cfg = p->cfg;
	const char *msg = NULL;

	if (cfg->queue_limit < cfg->max_line)
		msg = "queue_limit must be at least max_line";
	if (msg == NULL)
		return 0;
	snprintf(p->err, sizeof p->err, "%s", msg);
	return -1;
}

/* Runs inih over p and turns its result into 0 or -1 with a message. */
static int
run(struct parse *p, char *err, size_t errlen)
{
	int rc;

	config_defaults(p->cfg);
	rc = ini_parse_stream(read_line, p, handle_key, p);
	if (rc == -2) {
		snprintf(err, errlen, "%s: out of memory", p->name);
		goto fail;
	}
	if (rc > 0 || p->err_line > 0) {
		/* inih reports its own syntax errors by line; ours carry a message. */
		if (p->err_line > 0 && (rc <= 0 || p->err_line <= rc))
			snprintf(err, errlen, "%s:%d: %s", p->name, p->err_line, p->err);
		else
			snprintf(err, errlen, "%s:%d: syntax error (expected [section] or key = value)",
			         p->name, rc);
		goto fail;
	}
	if (check_limits(p) < 0) {
		snprintf(err, errlen, "%s: %s", p->name, p->err);
		goto fail;
	}
	return 0;
fail:
	config_free(p->cfg);
	config_defaults(p->cfg);
	return -1;
}

int
config_load(struct config *cfg, const char *path, bool missing_ok, char *err, size_t errlen)
{
	struct parse p = { .cfg = cfg, .name = path };
	int rc;

	config_free(cfg);
	p.fp = fopen(path, "r");
	if (p.fp == NULL) {
		int saved = errno;

		config_defaults(cfg);
		if (saved == ENOENT && missing_ok)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(saved));
		return -1;
	}
	rc = run(&p, err, errlen);
	if (rc == 0 && ferror(p.fp)) {
		snprintf(err, errlen, "%s: read error", path);
		config_free(cfg);
		config_defaults(cfg);
		rc = -1;
	}
	fclose(p.fp);
	return rc;
}

int
config_load_string(struct config *cfg, const char *text, const char *name, char *err, size_t errlen)
{
	struct parse p = { .cfg = cfg, .name = name, .text = text };

	config_free(cfg);
	return run(&p, err, errlen);
}

/* Writes a size the way a person would: with K or M when exact. */
static void
print_size(FILE *out, const char *name, size_t v)
{
	if (v != 0 && v % (1024 * 1024) == 0)
		fprintf(out, "%s = %zuM\n", name, v / (1024 * 1024));
	else if (v != 0 && v % 1024 == 0)
		fprintf(out, "%s = %zuK\n", name, v / 1024);
	else
		fprintf(out, "%s = %zu\n", name, v);
}

/* Writes a string value so that it reads back the same. inih takes a ';'
 * after a space for a comment, and its lines are short: a value starting
 * with ';', or one that fills a line, goes right after "name=". */
static void
print_string(FILE *out, const char *name, const char *v)
{
	bool tight;

	if (v == NULL)
		v = "";
	tight = v[0] == ';' || strlen(name) + 3 + strlen(v) > CONFIG_LINE_MAX;
	fprintf(out, "%s%s%s\n", name, tight ? "=" : " = ", v);
}

void
config_print(const struct config *cfg, FILE *out)
{
	fprintf(out, "[broker]\n");
	print_string(out, "socket", cfg->socket);
	fprintf(out, "socket_mode = %04o\n", (unsigned)cfg->socket_mode);
	print_string(out, "socket_group", cfg->socket_group);
	fprintf(out, "max_clients = %u\n", cfg->max_clients);
	print_size(out, "max_line", cfg->max_line);
	print_size(out, "max_topic", cfg->max_topic);
	fprintf(out, "max_subscriptions = %u\n", cfg->max_subscriptions);
	print_size(out, "queue_limit", cfg->queue_limit);
	fprintf(out, "slow_consumer = %s\n",
	        cfg->slow_consumer == SLOW_CONSUMER_DROP ? "drop" : "disconnect");
	fprintf(out, "max_clients_per_uid = %u\n", cfg->max_clients_per_uid);
	fprintf(out, "\n[log]\nlevel = %s\n", log_level_name(cfg->log_level));
	fprintf(out, "\n[access]\ndefault = %s\n", cfg->access.default_allow ? "allow" : "deny");
	for (size_t i = 0; i < cfg->access.nrules; i++)
		print_string(out, "rule", cfg->access.rules[i].text);
}
