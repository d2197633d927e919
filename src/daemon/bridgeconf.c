/*
 * [bridge NAME] sections; see bridgeconf.h. One table of keys, as
 * config.c has for the fixed sections: its type, its field and its doc.
 */
#include "bridgeconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buildconf.h"
#include "confvalue.h"
#include "parse.h"
#include "sockpath.h"
#include "topic.h"

#define SECTION_WORD "bridge "

/* Longest password read from a password_file. */
#define PASSWORD_MAX 4096

enum bkey_type {
	BKEY_ADDRESS,  /* mqtt://HOST[:PORT] or unix:PATH */
	BKEY_STRING,   /* any text but control characters */
	BKEY_PASSFILE, /* a file whose first line is read now */
	BKEY_FILE,     /* a file that must be readable now (TLS) */
	BKEY_OUT,      /* a local filter, repeatable */
	BKEY_IN,       /* a remote filter, repeatable */
	BKEY_PREFIX,   /* a topic prefix */
	BKEY_QOS,      /* 0 or 1 */
	BKEY_UINT,     /* unsigned in [min, max] */
	BKEY_SIZE,     /* size with K or M, in [min, max] */
	BKEY_REFUSED,  /* never allowed (a password inline) */
};

struct bkey {
	const char *name;
	enum bkey_type type;
	size_t offset;
	unsigned long long min, max;
	const char *default_value; /* NULL: none */
	const char *doc;           /* one line, as udsbrokerd.conf(5) says it */
};

#define BAT(field) offsetof(struct bridge_conf, field)

/* Every key of a [bridge NAME] section, in the order printed. */
static const struct bkey bkeys[] = {
	{ "address", BKEY_ADDRESS, BAT(address), 0, 0, NULL,
	  "the remote broker: mqtt://HOST:PORT ([IPv6] too; port default 1883) or unix:PATH" },
	{ "client_id", BKEY_STRING, BAT(client_id), 1, 65535, NULL,
	  "MQTT client id; default udsbrokerd-HOSTNAME-NAME" },
	{ "username", BKEY_STRING, BAT(username), 1, 65535, NULL,
	  "MQTT user name, if the remote asks for one" },
	{ "password_file", BKEY_PASSFILE, BAT(password_file), 0, 4095, NULL,
	  "a file whose first line is the password (never the password here)" },
	{ "tls_ca", BKEY_FILE, BAT(tls_ca), 0, 4095, NULL,
	  "CA certificates to check the remote with (TLS)" },
	{ "tls_cert", BKEY_FILE, BAT(tls_cert), 0, 4095, NULL,
	  "client certificate for TLS (with tls_key)" },
	{ "tls_key", BKEY_FILE, BAT(tls_key), 0, 4095, NULL, "private key of tls_cert" },
	{ "out", BKEY_OUT, BAT(out), 0, 0, NULL,
	  "local messages matching this filter go to the remote; repeatable" },
	{ "in", BKEY_IN, BAT(in), 0, 0, NULL,
	  "remote messages matching this filter are published here; repeatable" },
	{ "local_prefix", BKEY_PREFIX, BAT(local_prefix), 0, 0, NULL,
	  "prepended to topics coming in; empty: none" },
	{ "remote_prefix", BKEY_PREFIX, BAT(remote_prefix), 0, 0, NULL,
	  "prepended to topics going out; empty: none" },
	{ "qos", BKEY_QOS, BAT(qos), 0, 1, "1",
	  "MQTT QoS out and of the in subscriptions: 0 or 1" },
	{ "keepalive", BKEY_UINT, BAT(keepalive), 5, 65535, "60", "MQTT keepalive in seconds" },
	{ "queue_limit", BKEY_SIZE, BAT(queue_limit), 1024, (size_t)1 << 30, "8M",
	  "bytes held while the remote cannot take them; the oldest are dropped beyond" },
	{ "password", BKEY_REFUSED, 0, 0, 0, NULL, "refused: the password goes in password_file" },
};
#define NBKEYS (sizeof bkeys / sizeof bkeys[0])
_Static_assert(NBKEYS <= 32, "seen has a bit per key");

static void *
bfield(struct bridge_conf *c, const struct bkey *k)
{
	return (char *)c + k->offset;
}

static const void *
cbfield(const struct bridge_conf *c, const struct bkey *k)
{
	return (const char *)c + k->offset;
}

static int parse_bkey(struct bridge_conf *c, const struct bkey *k, const char *v, char *err,
                      size_t errlen);

bool
bridgeconf_is_section(const char *name, size_t len)
{
	return len > sizeof SECTION_WORD - 1 &&
	       memcmp(name, SECTION_WORD, sizeof SECTION_WORD - 1) == 0;
}

/* May name (len bytes) name a bridge? It goes into $SYS topics, STATS keys
 * and the meta's via=: letters, digits, '-', '_' and '.'. */
static bool
good_name(const char *name, size_t len)
{
	return parse_is_name(name, len, BRIDGECONF_NAME_MAX);
}

/* The bridge named in section ("bridge NAME"), or NULL. */
static struct bridge_conf *
find(struct bridge_confs *bc, const char *section)
{
	const char *name = section + sizeof SECTION_WORD - 1;

	for (size_t i = 0; i < bc->count; i++)
		if (strcmp(bc->v[i].name, name) == 0)
			return &bc->v[i];
	return NULL;
}

int
bridgeconf_open(struct bridge_confs *bc, const char *section, size_t len, int line, char *err,
                size_t errlen)
{
	const char *name = section + sizeof SECTION_WORD - 1;
	size_t nlen = len - (sizeof SECTION_WORD - 1);
	struct bridge_conf *c;

#if !HAVE_MQTT_BRIDGE
	(void)bc;
	(void)line;
	(void)name;
	snprintf(err, errlen,
	         "[%.*s]: this udsbrokerd was built without bridge support (meson feature "
	         "mqtt-bridge needs libmosquitto)",
	         (int)len, section);
	return -1;
#endif
	if (!good_name(name, nlen)) {
		snprintf(err, errlen,
		         "bridge name '%.*s' must be 1 to %d letters, digits, '-', '_' or '.'",
		         (int)(nlen > 64 ? 64 : nlen), name, BRIDGECONF_NAME_MAX);
		return -1;
	}
	if ((nlen == 4 && memcmp(name, "main", 4) == 0) ||
	    (nlen == 6 && memcmp(name, "broker", 6) == 0)) {
		/* The via= of the main socket's clients and of the broker's own
		 * messages: a bridge of that name would take them for its own. */
		snprintf(err, errlen, "bridge name '%.*s' is reserved (main, broker)", (int)nlen,
		         name);
		return -1;
	}
	for (size_t i = 0; i < bc->count; i++) {
		if (strlen(bc->v[i].name) == nlen && memcmp(bc->v[i].name, name, nlen) == 0) {
			snprintf(err, errlen, "duplicate section [bridge %.*s] (first on line %d)",
			         (int)nlen, name, bc->v[i].line);
			return -1;
		}
	}
	if (bc->count == BRIDGECONF_MAX) {
		snprintf(err, errlen, "at most %d [bridge] sections", BRIDGECONF_MAX);
		return -1;
	}
	c = realloc(bc->v, (bc->count + 1) * sizeof *c);
	if (c == NULL)
		goto nomem;
	bc->v = c;
	c = &bc->v[bc->count];
	memset(c, 0, sizeof *c);
	if ((c->name = strndup(name, nlen)) == NULL)
		goto nomem;
	c->line = line;
	bc->count++;
	for (size_t i = 0; i < NBKEYS; i++)
		if (bkeys[i].default_value != NULL &&
		    parse_bkey(c, &bkeys[i], bkeys[i].default_value, err, errlen) < 0)
			abort(); /* a default that does not parse is a bug here */
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* Does s hold a control character (C0 or DEL)? */
static bool
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Parses "mqtt://HOST[:PORT]" (HOST a name, an IPv4 address or [IPv6])
 * or "unix:PATH" into c. */
static int
parse_address(struct bridge_conf *c, const char *v, char *err, size_t errlen)
{
	const char *host, *end, *colon;
	uint64_t port = 1883;
	char *h;

	if (strncmp(v, "unix:", 5) == 0) {
		if (v[5] == '\0' || strlen(v + 5) > SOCKPATH_MAX) {
			snprintf(err, errlen, "'%s': unix: needs a socket path of 1 to %zu bytes",
			         v, (size_t)SOCKPATH_MAX);
			return -1;
		}
		if ((h = strdup(v + 5)) == NULL)
			goto nomem;
		free(c->host);
		c->host = h;
		c->port = 0;
		return 0;
	}
	if (strncmp(v, "mqtt://", 7) != 0) {
		snprintf(err, errlen, "'%s' is not mqtt://HOST:PORT or unix:PATH", v);
		return -1;
	}
	host = v + 7;
	if (*host == '[') {
		host++;
		if ((end = strchr(host, ']')) == NULL) {
			snprintf(err, errlen, "'%s': an IPv6 address needs its closing ']'", v);
			return -1;
		}
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL) {
			snprintf(err, errlen, "'%s': only :PORT may follow ']'", v);
			return -1;
		}
	} else {
		end = host + strcspn(host, ":/?#@[] ");
		colon = *end == ':' ? end : NULL;
		if (*end != '\0' && colon == NULL) {
			snprintf(err, errlen, "'%s': '%c' cannot be in a host name", v, *end);
			return -1;
		}
	}
	if (end == host) {
		snprintf(err, errlen, "'%s' names no host", v);
		return -1;
	}
	if (colon != NULL && parse_u64(colon + 1, 1, 65535, &port) != PARSE_OK) {
		snprintf(err, errlen, "'%s': the port must be a number from 1 to 65535", v);
		return -1;
	}
	if ((h = strndup(host, (size_t)(end - host))) == NULL)
		goto nomem;
	free(c->host);
	c->host = h;
	c->port = (int)port;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* Reads the first line of path, the password, into c. */
static int
read_password(struct bridge_conf *c, const char *path, char *err, size_t errlen)
{
	char buf[PASSWORD_MAX + 2];
	struct stat st;
	ssize_t n;
	size_t len;
	int fd;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	do
		n = read(fd, buf, sizeof buf - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	len = strcspn(buf, "\n");
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (len == 0 || len > PASSWORD_MAX || memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: its first line must be the password (1 to %d bytes)",
		         path, PASSWORD_MAX);
		memset(buf, 0, sizeof buf);
		return -1;
	}
	free(c->password);
	c->password = strdup(buf);
	memset(buf, 0, sizeof buf);
	if (c->password == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Appends a copy of filter f to *list. */
static int
add_filter(char ***list, size_t *n, const char *f, char *err, size_t errlen)
{
	char **l, *copy;

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*list)[i], f) == 0)
			return 0; /* idempotent, as SUB is */
	if (*n == BRIDGECONF_MAX_FILTERS) {
		snprintf(err, errlen, "at most %d filters each way", BRIDGECONF_MAX_FILTERS);
		return -1;
	}
	if ((l = realloc(*list, (*n + 1) * sizeof *l)) == NULL)
		goto nomem;
	*list = l;
	if ((copy = strdup(f)) == NULL)
		goto nomem;
	l[(*n)++] = copy;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* Checks a filter for out (local) or in (remote). */
static int
check_filter(const char *v, bool local, char *err, size_t errlen)
{
	enum topic_error e = topic_check_filter(v, strlen(v), 65535);

	if (e != TOPIC_OK) {
		snprintf(err, errlen, "'%s': filter %s", v, topic_strerror(e));
		return -1;
	}
	if (local && (strncmp(v, "$share/", 7) == 0 || strncmp(v, "$reply", 6) == 0)) {
		snprintf(err, errlen, "'%s': a bridge forwards plain filters, not $share or $reply",
		         v);
		return -1;
	}
	return 0;
}

/* Parses v for key k of bridge c. */
static int
parse_bkey(struct bridge_conf *c, const struct bkey *k, const char *v, char *err, size_t errlen)
{
	void *f = bfield(c, k);
	uint64_t u;

	switch (k->type) {
	case BKEY_ADDRESS:
		if (parse_address(c, v, err, errlen) < 0)
			return -1;
		return confvalue_set_string(f, v, err, errlen);
	case BKEY_STRING:
		/* The reader already refused a line that is not UTF-8. */
		if (strlen(v) > k->max || has_control(v)) {
			snprintf(err, errlen, "must be text of at most %llu bytes", k->max);
			return -1;
		}
		return confvalue_set_string(f, v, err, errlen);
	case BKEY_PASSFILE:
		if (v[0] == '\0') {
			snprintf(err, errlen, "names no file");
			return -1;
		}
		if (read_password(c, v, err, errlen) < 0)
			return -1;
		return confvalue_set_string(f, v, err, errlen);
	case BKEY_FILE:
		if (v[0] != '\0' && access(v, R_OK) < 0) {
			snprintf(err, errlen, "cannot read %s: %s", v, strerror(errno));
			return -1;
		}
		return confvalue_set_string(f, v, err, errlen);
	case BKEY_OUT:
	case BKEY_IN:
		if (check_filter(v, k->type == BKEY_OUT, err, errlen) < 0)
			return -1;
		if (k->type == BKEY_OUT)
			return add_filter(&c->out, &c->nout, v, err, errlen);
		return add_filter(&c->in, &c->nin, v, err, errlen);
	case BKEY_PREFIX:
		if (v[0] != '\0' && topic_check(v, strlen(v), 65535) != TOPIC_OK) {
			snprintf(err, errlen, "'%s' is not the start of a topic (%s)", v,
			         topic_strerror(topic_check(v, strlen(v), 65535)));
			return -1;
		}
		if (k->offset == BAT(local_prefix) && v[0] == '$') {
			snprintf(err, errlen, "'%s': topics starting with $ are the broker's", v);
			return -1;
		}
		return confvalue_set_string(f, v, err, errlen);
	case BKEY_QOS:
	case BKEY_UINT:
		if (parse_u64(v, k->min, k->max, &u) != PARSE_OK) {
			snprintf(err, errlen, "'%s' is not a number from %llu to %llu", v, k->min,
			         k->max);
			return -1;
		}
		if (k->type == BKEY_QOS)
			*(int *)f = (int)u;
		else
			*(unsigned *)f = (unsigned)u;
		return 0;
	case BKEY_SIZE:
		if (parse_size(v, (size_t)k->min, (size_t)k->max, f) != PARSE_OK) {
			snprintf(err, errlen, "'%s' is not a size from %llu to %llu bytes (K, M)",
			         v, k->min, k->max);
			return -1;
		}
		return 0;
	case BKEY_REFUSED:
		snprintf(err, errlen,
		         "a password is never written in the config: put it in a file only "
		         "udsbrokerd can read and name that with password_file");
		return -1;
	}
	abort(); /* every type is handled above */
}

int
bridgeconf_key(struct bridge_confs *bc, const char *section, const char *key, const char *value,
               char *err, size_t errlen)
{
	struct bridge_conf *c = find(bc, section);
	size_t i;

	if (c == NULL) {
		snprintf(err, errlen, "[%s] is not open", section); /* not reached: opened first */
		return -1;
	}
	for (i = 0; i < NBKEYS; i++)
		if (strcmp(key, bkeys[i].name) == 0)
			break;
	if (i == NBKEYS) {
		snprintf(err, errlen, "unknown key '%s' in [%s]", key, section);
		return -1;
	}
	if (bkeys[i].type != BKEY_OUT && bkeys[i].type != BKEY_IN) {
		if (c->seen & (1u << i)) {
			snprintf(err, errlen, "duplicate key '%s' in [%s]", key, section);
			return -1;
		}
		c->seen |= 1u << i;
	}
	if (parse_bkey(c, &bkeys[i], value, err, errlen) < 0) {
		/* Say which key, as config.c does for its own. */
		char why[256];

		snprintf(why, sizeof why, "%s", err);
		snprintf(err, errlen, "%s: %s", key, why);
		return -1;
	}
	return 0;
}

bool
bridgeconf_key_name(size_t i, const char **name, const char **doc)
{
	/* The last key, password, is only there to be refused. */
	if (i + 1 >= NBKEYS)
		return false;
	*name = bkeys[i].name;
	*doc = bkeys[i].doc;
	return true;
}

/* The default client id: "udsbrokerd-HOST-NAME", so two machines' bridges
 * to one remote broker do not take each other's session. */
static int
default_client_id(struct bridge_conf *c)
{
	char host[256] = "localhost";
	size_t len;

	if (gethostname(host, sizeof host) < 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	len = strlen("udsbrokerd--") + strlen(host) + strlen(c->name) + 1;
	if ((c->client_id = malloc(len)) == NULL)
		return -1;
	snprintf(c->client_id, len, "udsbrokerd-%s-%s", host, c->name);
	return 0;
}

int
bridgeconf_check(struct bridge_confs *bc, int *line, char *err, size_t errlen)
{
	for (size_t i = 0; i < bc->count; i++) {
		struct bridge_conf *c = &bc->v[i];
		const char *msg = NULL;

		if (c->address == NULL)
			msg = "needs an address (mqtt://HOST:PORT or unix:PATH)";
		else if (c->nout == 0 && c->nin == 0)
			msg = "needs at least one out or in filter";
		else if ((c->tls_cert == NULL) != (c->tls_key == NULL))
			msg = "tls_cert and tls_key go together";
		else if (c->tls_cert != NULL && c->tls_ca == NULL)
			msg = "tls_cert needs tls_ca";
		else if (c->tls_ca != NULL && c->port == 0)
			msg = "TLS is for mqtt:// addresses, not unix:";
		else if (c->password != NULL && c->username == NULL)
			msg = "password_file needs a username";
		if (msg != NULL) {
			*line = c->line;
			snprintf(err, errlen, "[bridge %s] %s", c->name, msg);
			return -1;
		}
		if (c->client_id == NULL && default_client_id(c) < 0) {
			*line = c->line;
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

/* Writes one key's value(s). */
static void
print_bkey(FILE *out, const struct bridge_conf *c, const struct bkey *k,
           void (*print_string)(FILE *, const char *, const char *))
{
	const void *f = cbfield(c, k);

	switch (k->type) {
	case BKEY_ADDRESS:
	case BKEY_STRING:
	case BKEY_PASSFILE:
	case BKEY_FILE:
	case BKEY_PREFIX:
		if (*(char *const *)f != NULL)
			print_string(out, k->name, *(char *const *)f);
		break;
	case BKEY_OUT:
		for (size_t i = 0; i < c->nout; i++)
			print_string(out, k->name, c->out[i]);
		break;
	case BKEY_IN:
		for (size_t i = 0; i < c->nin; i++)
			print_string(out, k->name, c->in[i]);
		break;
	case BKEY_QOS:
		fprintf(out, "%s = %d\n", k->name, *(const int *)f);
		break;
	case BKEY_UINT:
		fprintf(out, "%s = %u\n", k->name, *(const unsigned *)f);
		break;
	case BKEY_SIZE:
		confvalue_print_size(out, k->name, *(const size_t *)f);
		break;
	case BKEY_REFUSED:
		break; /* never printed: the password is not the config's */
	}
}

void
bridgeconf_print(const struct bridge_confs *bc, FILE *out,
                 void (*print_string)(FILE *, const char *, const char *))
{
	for (size_t i = 0; i < bc->count; i++) {
		fprintf(out, "\n[bridge %s]\n", bc->v[i].name);
		for (size_t k = 0; k < NBKEYS; k++)
			print_bkey(out, &bc->v[i], &bkeys[k], print_string);
	}
}

/* Compares two optional strings. */
static bool
same_str(const char *a, const char *b)
{
	return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

/* Compares two lists of filters. */
static bool
same_list(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

bool
bridgeconf_same(const struct bridge_confs *a, const struct bridge_confs *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++) {
		const struct bridge_conf *x = &a->v[i], *y = &b->v[i];

		if (!same_str(x->name, y->name) || !same_str(x->address, y->address) ||
		    !same_str(x->client_id, y->client_id) || !same_str(x->username, y->username) ||
		    !same_str(x->password, y->password) || !same_str(x->tls_ca, y->tls_ca) ||
		    !same_str(x->tls_cert, y->tls_cert) || !same_str(x->tls_key, y->tls_key) ||
		    !same_list(x->out, x->nout, y->out, y->nout) ||
		    !same_list(x->in, x->nin, y->in, y->nin) ||
		    !same_str(x->local_prefix, y->local_prefix) ||
		    !same_str(x->remote_prefix, y->remote_prefix) || x->qos != y->qos ||
		    x->keepalive != y->keepalive || x->queue_limit != y->queue_limit)
			return false;
	}
	return true;
}

/* Frees a list of filters. */
static void
free_list(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

void
bridgeconf_free(struct bridge_confs *bc)
{
	for (size_t i = 0; i < bc->count; i++) {
		struct bridge_conf *c = &bc->v[i];

		free(c->name);
		free(c->address);
		free(c->host);
		free(c->client_id);
		free(c->username);
		free(c->password_file);
		if (c->password != NULL) {
			memset(c->password, 0, strlen(c->password));
			free(c->password);
		}
		free(c->tls_ca);
		free(c->tls_cert);
		free(c->tls_key);
		free_list(c->out, c->nout);
		free_list(c->in, c->nin);
		free(c->local_prefix);
		free(c->remote_prefix);
	}
	free(bc->v);
	bc->v = NULL;
	bc->count = 0;
}
