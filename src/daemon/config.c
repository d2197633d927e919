/*
 * udsbrokerd.conf(5): one table of keys (keys[] below), each with its
 * section, type, field, bounds, default and doc line; parsing, bounds
 * checks, defaults, `udsbrokerd -t` printing and config_key() all read it.
 * inih does the INI syntax; a line-counting reader gives every error its
 * line number.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confvalue.h"
#include "parse.h"
#include "sockpath.h"
#include "topic.h"

/* Longest line inih reads (its INI_MAX_LINE, less the '\n' and NUL). */
#define CONFIG_LINE_MAX (INI_MAX_LINE - 2)

/* What a key's value is, and so how it is parsed, bounded and printed. */
enum key_type {
	KEY_PATH,      /* char *: a socket path, at most max bytes; empty is NULL */
	KEY_STRING,    /* char *: any text; empty is NULL */
	KEY_GROUP,     /* char *: the name of a group that exists; empty is NULL */
	KEY_MODE,      /* mode_t: octal, at most max */
	KEY_UINT,      /* unsigned: decimal in [min, max] */
	KEY_SIZE,      /* size_t: decimal with K or M, in [min, max] */
	KEY_KEYWORD,   /* an enum: the index of the value in words */
	KEY_FLAG,      /* bool: words[0] is false, words[1] true */
	KEY_LOG_LEVEL, /* enum log_level, by log_level_parse() */
	KEY_RULES,     /* struct access: each value adds one rule */
};

/* One key of udsbrokerd.conf(5): everything about it is here. */
struct key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t offset;             /* of its field in struct config */
	unsigned long long min;    /* KEY_UINT, KEY_SIZE */
	unsigned long long max;    /* KEY_PATH (bytes), KEY_MODE, KEY_UINT, KEY_SIZE */
	const char *const *words;  /* KEY_KEYWORD, KEY_FLAG */
	const char *default_value; /* parsed as a value in the file would be */
	const char *doc;           /* one line, as udsbrokerd.conf(5) says it */
};

/* Keyword and flag fields are stored as int. */
_Static_assert(sizeof(enum slow_consumer) == sizeof(int), "slow_consumer is an int");
_Static_assert(sizeof(enum log_level) == sizeof(int), "log_level is an int");

static const char *const slow_consumer_words[] = { "drop", "disconnect", NULL };
static const char *const allow_words[] = { "deny", "allow", NULL };

/* The offset of a field of struct config, which must have this type: the
 * compiler refuses a key whose type does not match its field. */
#define AT(field, type) _Generic(((struct config *)0)->field, type : offsetof(struct config, field))

/* A key's type and field, the C type following from the key type. */
#define PATH(f)          KEY_PATH, AT(f, char *)
#define STRING(f)        KEY_STRING, AT(f, char *)
#define GROUP(f)         KEY_GROUP, AT(f, char *)
#define MODE(f)          KEY_MODE, AT(f, mode_t)
#define UINT(f)          KEY_UINT, AT(f, unsigned)
#define SIZE(f)          KEY_SIZE, AT(f, size_t)
#define KEYWORD(f, type) KEY_KEYWORD, AT(f, type)
#define FLAG(f)          KEY_FLAG, AT(f, bool)
#define LEVEL(f)         KEY_LOG_LEVEL, AT(f, enum log_level)
#define RULES(f)         KEY_RULES, AT(f, struct access)

/* Every key the file may hold, in the order config_print writes them. */
static const struct key keys[] = {
	{ "broker", "socket", PATH(socket), 0, SOCKPATH_MAX, NULL, "",
	  "the Unix socket to listen on; empty: the default path" },
	{ "broker", "socket_mode", MODE(socket_mode), 0, 0777, NULL, "0660",
	  "permissions of the socket file" },
	{ "broker", "socket_group", GROUP(socket_group), 0, 0, NULL, "",
	  "group of the socket file; empty: the broker's own" },
	{ "broker", "max_clients", UINT(max_clients), 1, 1000000, NULL, "10000",
	  "most clients connected at once" },
	{ "broker", "max_line", SIZE(max_line), 64, 64 << 20, NULL, "65536",
	  "longest protocol line in bytes, its newline included" },
	{ "broker", "max_topic", SIZE(max_topic), 1, 65535, NULL, "256",
	  "longest topic or filter in bytes" },
	{ "broker", "max_subscriptions", UINT(max_subscriptions), 1, 1000000, NULL, "1024",
	  "most filters one client may hold" },
	{ "broker", "queue_limit", SIZE(queue_limit), 4096, 1 << 30, NULL, "8M",
	  "most bytes of output waiting for one client; at least max_line" },
	{ "broker", "slow_consumer", KEYWORD(slow_consumer, enum slow_consumer), 0, 0,
	  slow_consumer_words, "drop", "what happens to a client whose queue is full" },
	{ "broker", "max_clients_per_uid", UINT(max_clients_per_uid), 0, 1000000, NULL, "0",
	  "most clients of one uid at once; 0: no limit" },
	{ "broker", "max_retained", UINT(max_retained), 0, 100000000, NULL, "100000",
	  "most retained values clients may keep" },
	{ "broker", "max_retained_bytes", SIZE(max_retained_bytes), 0, (size_t)1 << 40, NULL, "64M",
	  "most bytes of topic and payload in retained values" },
	{ "broker", "sys_interval", UINT(sys_interval), 0, 86400, NULL, "10",
	  "seconds between updates of the $SYS topics; 0: none" },
	{ "log", "level", LEVEL(log_level), 0, 0, NULL, "info", "least severe message logged" },
	{ "retain", "file", PATH(retain_file), 0, 4095, NULL, "",
	  "where retained values are kept across restarts; empty: memory only" },
	{ "retain", "sync", UINT(retain_sync), 1, 86400, NULL, "60",
	  "seconds between writes of the retained values, when they changed" },
	{ "access", "default", FLAG(access.default_allow), 0, 0, allow_words, "allow",
	  "what a client may do when no rule applies" },
	{ "access", "rule", RULES(access), 0, 0, NULL, "",
	  "one access rule: action operation filter principal; repeatable" },
};
#define NKEYS (sizeof keys / sizeof keys[0])

/* The field of key k in cfg. */
static void *
field(struct config *cfg, const struct key *k)
{
	return (char *)cfg + k->offset;
}

/* The same, read-only. */
static const void *
cfield(const struct config *cfg, const struct key *k)
{
	return (const char *)cfg + k->offset;
}

/* Parses a decimal for k, within its bounds. */
static int
parse_uint_key(const struct key *k, const char *value, unsigned *out, char *err, size_t errlen)
{
	uint64_t v;

	switch (parse_u64(value, k->min, k->max, &v)) {
	case PARSE_OK:
		*out = (unsigned)v;
		return 0;
	case PARSE_RANGE:
		snprintf(err, errlen, "%llu is out of range (%llu..%llu)", (unsigned long long)v,
		         k->min, k->max);
		return -1;
	default:
		snprintf(err, errlen, "'%s' is not a number", value);
		return -1;
	}
}

/* Parses a size for k, within its bounds. */
static int
parse_size_key(const struct key *k, const char *value, size_t *out, char *err, size_t errlen)
{
	switch (parse_size(value, (size_t)k->min, (size_t)k->max, out)) {
	case PARSE_OK:
		return 0;
	case PARSE_RANGE:
		snprintf(err, errlen, "%s is out of range (%zu..%zu bytes)", value, (size_t)k->min,
		         (size_t)k->max);
		return -1;
	default:
		snprintf(err, errlen,
		         "'%s' is not a size (a number with an optional K or M suffix)", value);
		return -1;
	}
}

/* Parses one of k's words into its index. */
static int
parse_keyword_key(const struct key *k, const char *value, int *out, char *err, size_t errlen)
{
	size_t n = 0;
	int o;

	for (int i = 0; k->words[i] != NULL; i++) {
		if (strcmp(value, k->words[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	o = snprintf(err, errlen, "'%s' is not one of: ", value);
	n = o < 0 ? 0 : (size_t)o;
	for (int i = 0; k->words[i] != NULL && n < errlen; i++) {
		o = snprintf(err + n, errlen - n, "%s%s", i > 0 ? ", " : "", k->words[i]);
		n += o < 0 ? 0 : (size_t)o;
	}
	return -1;
}

/* Parses a log level. */
static int
parse_level_key(const char *value, int *out, char *err, size_t errlen)
{
	int level = log_level_parse(value);

	if (level < 0) {
		snprintf(err, errlen, "'%s' is not one of: %s, %s, %s, %s", value,
		         log_level_name(LOG_LEVEL_ERROR), log_level_name(LOG_LEVEL_WARN),
		         log_level_name(LOG_LEVEL_INFO), log_level_name(LOG_LEVEL_DEBUG));
		return -1;
	}
	*out = level;
	return 0;
}

/* Parses value for key k into its field of cfg; on error writes why. */
static int
parse_key(const struct key *k, struct config *cfg, const char *value, char *err, size_t errlen)
{
	void *f = field(cfg, k);
	uint64_t v;

	switch (k->type) {
	case KEY_PATH:
		if (strlen(value) > k->max) {
			snprintf(err, errlen, "path is %zu bytes long; the limit is %zu%s",
			         strlen(value), (size_t)k->max,
			         k->max == SOCKPATH_MAX ? " (sun_path)" : "");
			return -1;
		}
		return confvalue_set_string(f, value, err, errlen);
	case KEY_STRING:
		return confvalue_set_string(f, value, err, errlen);
	case KEY_GROUP:
		return confvalue_set_group(f, value, err, errlen);
	case KEY_MODE:
		if (parse_octal(value, k->max, &v) != PARSE_OK) {
			snprintf(err, errlen, "'%s' is not an octal mode (0000..%04llo)", value,
			         k->max);
			return -1;
		}
		*(mode_t *)f = (mode_t)v;
		return 0;
	case KEY_UINT:
		return parse_uint_key(k, value, f, err, errlen);
	case KEY_SIZE:
		return parse_size_key(k, value, f, err, errlen);
	case KEY_KEYWORD:
		return parse_keyword_key(k, value, f, err, errlen);
	case KEY_FLAG:
		if (strcmp(value, k->words[0]) == 0 || strcmp(value, k->words[1]) == 0) {
			*(bool *)f = strcmp(value, k->words[1]) == 0;
			return 0;
		}
		snprintf(err, errlen, "'%s' is not %s or %s", value, k->words[1], k->words[0]);
		return -1;
	case KEY_LOG_LEVEL:
		return parse_level_key(value, f, err, errlen);
	case KEY_RULES:
		if (value[0] == '\0' && ((struct access *)f)->nrules == 0)
			return 0; /* the default: no rules */
		return access_add_rule(f, value, err, errlen);
	}
	abort(); /* every type is handled above */
}

/* Parses a size with no bounds but its type's (kept for the tests). */
int
config_parse_size(const char *s, size_t *out)
{
	return parse_size(s, 0, SIZE_MAX, out) == PARSE_OK ? 0 : -1;
}

/* Section and name of key i, for tests and docs. */
bool
config_key(size_t i, const char **section, const char **name)
{
	if (i >= NKEYS)
		return false;
	*section = keys[i].section;
	*name = keys[i].name;
	return true;
}

/* The doc line of key i. */
const char *
config_key_doc(size_t i)
{
	return i < NKEYS ? keys[i].doc : NULL;
}

/* Fills cfg with the default of every key, parsed as a value in the file. */
void
config_defaults(struct config *cfg)
{
	char err[128];

	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < NKEYS; i++)
		if (parse_key(&keys[i], cfg, keys[i].default_value, err, sizeof err) < 0)
			abort(); /* a default that does not parse is a bug here */
}

/* Frees the strings and rules cfg owns. */
void
config_free(struct config *cfg)
{
	free(cfg->socket);
	free(cfg->socket_group);
	free(cfg->retain_file);
	cfg->socket = NULL;
	cfg->socket_group = NULL;
	cfg->retain_file = NULL;
	access_free(&cfg->access);
	listenconf_free(&cfg->listeners);
	bridgeconf_free(&cfg->bridges);
}

/* State of one parse: the reader counts lines, the handler checks keys. */
struct parse {
	struct config *cfg;
	const char *name; /* file name for messages */
	FILE *fp;         /* the file, or NULL for a string */
	const char *text; /* the rest of the string */
	int line;         /* number of the line last read */
	int err_line;     /* line of the first error, 0 if none */
	char err[256];    /* what was wrong on err_line */
	int seen[NKEYS];  /* the line of each key, 0 while not seen */
};

static void parse_error(struct parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records the first error. */
static void
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

	const char *name;
	size_t nlen;
	char why[256];

	line += strspn(line, " \t");
	if (*line != '[' || (end = strchr(line, ']')) == NULL)
		return;
	if (listenconf_is_section(line + 1, (size_t)(end - line - 1), &name, &nlen)) {
		if (listenconf_section(&p->cfg->listeners, name, nlen, p->line, why, sizeof why) <
		    0)
			parse_error(p, "%s", why);
		return;
	}
	if (bridgeconf_is_section(line + 1, (size_t)(end - line - 1))) {
		if (bridgeconf_open(&p->cfg->bridges, line + 1, (size_t)(end - line - 1), p->line,
		                    why, sizeof why) < 0)
			parse_error(p, "%s", why);
		return;
	}
	if (!known_section(line + 1, (size_t)(end - line - 1)))
		parse_error(p, "unknown section [%.*s]", (int)(end - line - 1), line + 1);
}

/* Checks the bytes of one line: no NUL, well-formed UTF-8 (what the file
 * says must be text, not something inih would cut short or pass on to the
 * broker's topics and names unchecked). Records an error and returns false
 * when the line breaks either rule. */
static bool
check_line_bytes(struct parse *p, const char *str, size_t n)
{
	const unsigned char *u = (const unsigned char *)str;

	for (size_t i = 0; i < n;) {
		size_t len;

		if (u[i] == '\0') {
			parse_error(p, "a NUL byte at column %zu: a config file is text", i + 1);
			return false;
		}
		len = utf8_char_len(u + i, n - i);
		if (len == 0) {
			parse_error(p, "invalid UTF-8 (byte 0x%02x at column %zu)", u[i], i + 1);
			return false;
		}
		i += len;
	}
	return true;
}

/* inih reader: one line per call, counting them; over-long lines are errors
 * rather than being split in two by inih's fixed buffer, and a line must be
 * text (check_line_bytes). */
static char *
read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	/* Bytes of a line without its '\n' that fit inih's buffer of num with
	 * the '\n' and the NUL, and that config_print relies on. */
	size_t limit = (size_t)num - 2 < CONFIG_LINE_MAX ? (size_t)num - 2 : CONFIG_LINE_MAX;
	size_t n = 0, len = 0;
	bool too_long = false, eol = false;
	int c;

	for (;;) {
		if (p->fp != NULL)
			c = getc(p->fp);
		else
			c = *p->text != '\0' ? (unsigned char)*p->text++ : EOF;
		if (c == EOF) {
			if (len == 0)
				return NULL;
			break;
		}
		len++;
		if (c == '\n') {
			eol = true;
			break;
		}
		if (n < limit)
			str[n++] = (char)c;
		else
			too_long = true;
	}
	if (eol)
		str[n++] = '\n';
	str[n] = '\0';
	p->line++;
	if (too_long) {
		parse_error(p, "line longer than %zu bytes, the limit of a line", limit);
		str[0] = '\0';
	} else if (!check_line_bytes(p, str, n)) {
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
	const char *lname;
	char why[256];
	size_t i, nlen, nrules = p->cfg->access.nrules;

	if (section[0] == '\0') {
		parse_error(p, "'%s' is outside a section (start with [broker])", name);
		return 0;
	}
	if (listenconf_is_section(section, strlen(section), &lname, &nlen)) {
		if (listenconf_key(&p->cfg->listeners, lname, name, value, p->line, why,
		                   sizeof why) < 0) {
			parse_error(p, "%s", why);
			return 0;
		}
		return 1;
	}
	if (bridgeconf_is_section(section, strlen(section))) {
		if (bridgeconf_key(&p->cfg->bridges, section, name, value, why, sizeof why) < 0) {
			parse_error(p, "%s", why);
			return 0;
		}
		return 1;
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
	if (p->seen[i] && keys[i].type != KEY_RULES) {
		parse_error(p, "duplicate key '%s' in [%s]", name, section);
		return 0;
	}
	p->seen[i] = p->line;
	if (parse_key(&keys[i], p->cfg, value, why, sizeof why) < 0) {
		parse_error(p, "%s: %s", name, why);
		return 0;
	}
	if (p->cfg->access.nrules > nrules) /* for the check of listener=NAME */
		p->cfg->access.rules[p->cfg->access.nrules - 1].line = p->line;
	return 1;
}

/* A listener and a bridge may not share a name: both are the via= of the
 * messages that come in through them, and a bridge never forwards what
 * came in with its own name. Sets p->err_line and p->err. */
static int
check_via_names(struct parse *p)
{
	const struct bridge_confs *bc = &p->cfg->bridges;
	const struct listener_conf *l;

	for (size_t i = 0; i < bc->count; i++)
		if ((l = listenconf_find(&p->cfg->listeners, bc->v[i].name)) != NULL) {
			p->err_line = bc->v[i].line;
			snprintf(
			    p->err, sizeof p->err,
			    "[bridge %s]: the name of [listener %s] (line %d) too; a bridge and a "
			    "listener need names of their own",
			    bc->v[i].name, l->name, l->line);
			return -1;
		}
	return 0;
}

/* Checks the [listener NAME] sections, and that every listener=NAME rule
 * names one; sets p->err_line and p->err. */
static int
check_listeners(struct parse *p)
{
	const struct access *a = &p->cfg->access;

	if (listenconf_check(&p->cfg->listeners, p->cfg->max_topic, &p->err_line, p->err,
	                     sizeof p->err) < 0)
		return -1;
	for (size_t i = 0; i < a->nrules; i++) {
		const struct access_rule *r = &a->rules[i];

		if (r->kind == PRINCIPAL_LISTENER && strcmp(r->listener, LISTENER_MAIN) != 0 &&
		    listenconf_find(&p->cfg->listeners, r->listener) == NULL) {
			p->err_line = r->line;
			snprintf(p->err, sizeof p->err,
			         "rule: listener=%s: there is no [listener %s] (nor is it main)",
			         r->listener, r->listener);
			return -1;
		}
	}
	return 0;
}

/* Checks rules that tie keys together. */
/* The line of [broker] key name, 0 if it was not given. */
static int
key_line(const struct parse *p, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, "broker") == 0 && strcmp(keys[i].name, name) == 0)
			return p->seen[i];
	return 0;
}

static int
check_limits(struct parse *p)
{
	const struct config *cfg = p->cfg;

	if (cfg->queue_limit >= cfg->max_line)
		return 0;
	/* At the later of the two lines (one may be the default). */
	p->err_line = key_line(p, "queue_limit");
	if (key_line(p, "max_line") > p->err_line)
		p->err_line = key_line(p, "max_line");
	snprintf(p->err, sizeof p->err, "queue_limit (%zu bytes) must be at least max_line (%zu)",
	         cfg->queue_limit, cfg->max_line);
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
			snprintf(err, errlen,
			         "%s:%d: syntax error (expected [section] or key = value)", p->name,
			         rc);
		goto fail;
	}
	if (check_limits(p) < 0 || check_listeners(p) < 0 ||
	    bridgeconf_check(&p->cfg->bridges, &p->err_line, p->err, sizeof p->err) < 0 ||
	    check_via_names(p) < 0) {
		snprintf(err, errlen, "%s:%d: %s", p->name, p->err_line, p->err);
		goto fail;
	}
	return 0;
fail:
	config_free(p->cfg);
	config_defaults(p->cfg);
	return -1;
}

/* What kind of file st is, for the message refusing it. */
static const char *
file_kind(const struct stat *st)
{
	if (S_ISDIR(st->st_mode))
		return "a directory";
	if (S_ISFIFO(st->st_mode))
		return "a FIFO";
	if (S_ISCHR(st->st_mode))
		return "a character device";
	if (S_ISBLK(st->st_mode))
		return "a block device";
	if (S_ISSOCK(st->st_mode))
		return "a socket";
	return "not a regular file";
}

/* Opens path for reading if it is a regular file. Opening does not wait
 * (O_NONBLOCK: a FIFO without a writer, a device), the type is checked on
 * what was opened (fstat, no race with a rename), and the file is then
 * read blocking as any file is. Returns the stream, or NULL with errno set
 * (0 for a file that is not regular, with its kind in *kind). */
static FILE *
open_regular(const char *path, const char **kind)
{
	struct stat st;
	int fd, flags, saved;
	FILE *fp;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		*kind = file_kind(&st);
		close(fd);
		errno = 0;
		return NULL;
	}
	if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		goto fail;
	if ((fp = fdopen(fd, "r")) == NULL)
		goto fail;
	return fp;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return NULL;
}

/* Loads the file at path over the defaults. */
int
config_load(struct config *cfg, const char *path, bool missing_ok, char *err, size_t errlen)
{
	const char *kind = NULL;
	FILE *fp;
	int rc;

	config_free(cfg);
	fp = open_regular(path, &kind);
	if (fp == NULL) {
		int saved = errno;

		config_defaults(cfg);
		if (saved == ENOENT && missing_ok)
			return 0;
		if (kind != NULL)
			snprintf(err, errlen, "%s: %s, not a regular file: not read", path, kind);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(saved));
		return -1;
	}
	rc = config_load_stream(cfg, fp, path, err, errlen);
	fclose(fp);
	return rc;
}

/* Loads an open stream over the defaults. */
int
config_load_stream(struct config *cfg, FILE *fp, const char *name, char *err, size_t errlen)
{
	struct parse p = { .cfg = cfg, .name = name, .fp = fp };
	int rc;

	config_free(cfg);
	rc = run(&p, err, errlen);
	if (rc == 0 && ferror(fp)) {
		snprintf(err, errlen, "%s: read error: %s", name, strerror(errno));
		config_free(cfg);
		config_defaults(cfg);
		rc = -1;
	}
	return rc;
}

/* Loads a string over the defaults. */
int
config_load_string(struct config *cfg, const char *text, const char *name, char *err, size_t errlen)
{
	struct parse p = { .cfg = cfg, .name = name, .text = text };

	config_free(cfg);
	return run(&p, err, errlen);
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

/* Does v hold an inline comment for inih: a ';' after a space or tab? */
static bool
has_inline_comment(const char *v)
{
	for (const char *p = v; (p = strchr(p, ';')) != NULL; p++)
		if (p > v && (p[-1] == ' ' || p[-1] == '\t'))
			return true;
	return false;
}

/* Writes one access rule so that it reads back the same. inih cuts a
 * "key = value" line at an inline comment but not a continuation line
 * (one starting with a space, which adds a value to the key above it), so
 * a rule that holds " ;", which only a continuation line could have given,
 * goes on one, after an empty "rule =" when it is the first. */
static void
print_rule(FILE *out, const char *name, const char *v, bool first)
{
	if (!has_inline_comment(v)) {
		print_string(out, name, v);
		return;
	}
	if (first)
		fprintf(out, "%s =\n", name);
	fprintf(out, "\t%s\n", v);
}

/* Writes key k's value in cfg as a line of the file. */
static void
print_key(FILE *out, const struct key *k, const struct config *cfg)
{
	const void *f = cfield(cfg, k);
	const struct access *a = f;

	switch (k->type) {
	case KEY_PATH:
	case KEY_STRING:
	case KEY_GROUP:
		print_string(out, k->name, *(char *const *)f);
		break;
	case KEY_MODE:
		fprintf(out, "%s = %04o\n", k->name, (unsigned)*(const mode_t *)f);
		break;
	case KEY_UINT:
		fprintf(out, "%s = %u\n", k->name, *(const unsigned *)f);
		break;
	case KEY_SIZE:
		confvalue_print_size(out, k->name, *(const size_t *)f);
		break;
	case KEY_KEYWORD:
		fprintf(out, "%s = %s\n", k->name, k->words[*(const int *)f]);
		break;
	case KEY_FLAG:
		fprintf(out, "%s = %s\n", k->name, k->words[*(const bool *)f]);
		break;
	case KEY_LOG_LEVEL:
		fprintf(out, "%s = %s\n", k->name, log_level_name(*(const enum log_level *)f));
		break;
	case KEY_RULES:
		for (size_t i = 0; i < a->nrules; i++)
			print_rule(out, k->name, a->rules[i].text, i == 0);
		break;
	}
}

/* Prints every key, section by section, in the order of the table. */
void
config_print(const struct config *cfg, FILE *out)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (i == 0 || strcmp(keys[i].section, keys[i - 1].section) != 0)
			fprintf(out, "%s[%s]\n", i == 0 ? "" : "\n", keys[i].section);
		print_key(out, &keys[i], cfg);
	}
	listenconf_print(&cfg->listeners, out, print_string);
	bridgeconf_print(&cfg->bridges, out, print_string);
}
