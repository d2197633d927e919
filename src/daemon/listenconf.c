/* The [listener NAME] sections; see listenconf.h. */
#include "listenconf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "confvalue.h"
#include "parse.h"
#include "sockpath.h"
#include "topic.h"

#define SECTION_PREFIX "listener "

static int set_socket(struct listener_conf *l, const char *v, char *err, size_t errlen);
static int set_tcp(struct listener_conf *l, const char *v, char *err, size_t errlen);
static int set_mode(struct listener_conf *l, const char *v, char *err, size_t errlen);
static int set_topic(struct listener_conf *l, const char *v, char *err, size_t errlen);
static int set_socket_mode(struct listener_conf *l, const char *v, char *err, size_t errlen);
static int set_socket_group(struct listener_conf *l, const char *v, char *err, size_t errlen);
static int set_allow_remote(struct listener_conf *l, const char *v, char *err, size_t errlen);

/* Every key of a [listener NAME] section, in the order -t prints them. */
static const struct {
	const char *name;
	int (*set)(struct listener_conf *l, const char *value, char *err, size_t errlen);
	const char *doc;
} keys[] = {
	{ "socket", set_socket, "a Unix socket to listen on (or tcp)" },
	{ "tcp", set_tcp,
	  "HOST:PORT to listen on over TCP (or socket); loopback unless allow_remote" },
	{ "mode", set_mode, "protocol (the default) or lines: each line is published to topic" },
	{ "topic", set_topic, "lines mode: the topic every line is published to" },
	{ "socket_mode", set_socket_mode, "permissions of the socket file" },
	{ "socket_group", set_socket_group, "group of the socket file; empty: the broker's own" },
	{ "allow_remote", set_allow_remote, "yes: tcp may be an address other machines reach" },
};
#define NKEYS (sizeof keys / sizeof keys[0])
enum { K_SOCKET, K_TCP, K_MODE, K_TOPIC, K_SOCKET_MODE, K_SOCKET_GROUP, K_ALLOW_REMOTE };

static int
set_socket(struct listener_conf *l, const char *v, char *err, size_t errlen)
{
	if (v[0] == '\0') {
		snprintf(err, errlen, "a socket path is needed");
		return -1;
	}
	if (strlen(v) > SOCKPATH_MAX) {
		snprintf(err, errlen, "path is %zu bytes long; the limit is %zu (sun_path)",
		         strlen(v), (size_t)SOCKPATH_MAX);
		return -1;
	}
	return confvalue_set_string(&l->socket, v, err, errlen);
}

/* Is the address in ss one only this machine reaches? */
static bool
is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return false;
}

/* Parses "HOST:PORT": HOST a numeric IPv4 address, an IPv6 one in
 * brackets, or "localhost" (127.0.0.1); names are not looked up, so what
 * the file says is what is bound. */
static int
parse_hostport(struct listener_conf *l, const char *v, char *err, size_t errlen)
{
	char host[64];
	const char *colon, *hs = v;
	size_t hlen;
	uint64_t port;

	if (v[0] == '[') {
		const char *close = strchr(v, ']');

		if (close == NULL || close[1] != ':')
			goto bad;
		hs = v + 1;
		hlen = (size_t)(close - hs);
		colon = close + 1;
	} else {
		if ((colon = strrchr(v, ':')) == NULL || memchr(v, ':', (size_t)(colon - v)))
			goto bad;
		hlen = (size_t)(colon - v);
	}
	if (hlen == 0 || hlen >= sizeof host)
		goto bad;
	memcpy(host, hs, hlen);
	host[hlen] = '\0';
	if (parse_u64(colon + 1, 1, 65535, &port) != PARSE_OK) {
		snprintf(err, errlen, "'%s' is not a port (1..65535)", colon + 1);
		return -1;
	}
	memset(&l->addr, 0, sizeof l->addr);
	if (strcmp(host, "localhost") == 0 && v[0] != '[')
		snprintf(host, sizeof host, "127.0.0.1");
	if (v[0] != '[') {
		struct sockaddr_in *in = (struct sockaddr_in *)&l->addr;

		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			goto bad;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		l->addrlen = sizeof *in;
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&l->addr;

		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			goto bad;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		l->addrlen = sizeof *in6;
	}
	l->loopback = is_loopback(&l->addr);
	return 0;
bad:
	snprintf(err, errlen,
	         "'%s' is not HOST:PORT (HOST a numeric IPv4 address, [IPv6] or localhost)", v);
	return -1;
}

static int
set_tcp(struct listener_conf *l, const char *v, char *err, size_t errlen)
{
	if (parse_hostport(l, v, err, errlen) < 0)
		return -1;
	return confvalue_set_string(&l->tcp, v, err, errlen);
}

static int
set_mode(struct listener_conf *l, const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "protocol") == 0)
		l->mode = LISTEN_PROTOCOL;
	else if (strcmp(v, "lines") == 0)
		l->mode = LISTEN_LINES;
	else {
		snprintf(err, errlen, "'%s' is not one of: protocol, lines", v);
		return -1;
	}
	return 0;
}

static int
set_topic(struct listener_conf *l, const char *v, char *err, size_t errlen)
{
	enum topic_error te = topic_check(v, strlen(v), 65535);

	if (te != TOPIC_OK) {
		snprintf(err, errlen, "'%s' is not a valid topic: %s", v, topic_strerror(te));
		return -1;
	}
	if (topic_is_reserved(v, strlen(v))) {
		snprintf(err, errlen, "topics starting with $ are the broker's");
		return -1;
	}
	return confvalue_set_string(&l->topic, v, err, errlen);
}

static int
set_socket_mode(struct listener_conf *l, const char *v, char *err, size_t errlen)
{
	uint64_t m;

	if (parse_octal(v, 0777, &m) != PARSE_OK) {
		snprintf(err, errlen, "'%s' is not an octal mode (0000..0777)", v);
		return -1;
	}
	l->socket_mode = (mode_t)m;
	return 0;
}

static int
set_socket_group(struct listener_conf *l, const char *v, char *err, size_t errlen)
{
	return confvalue_set_group(&l->socket_group, v, err, errlen);
}

static int
set_allow_remote(struct listener_conf *l, const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0) {
		snprintf(err, errlen, "'%s' is not yes or no", v);
		return -1;
	}
	l->allow_remote = v[0] == 'y';
	return 0;
}

bool
listenconf_is_section(const char *section, size_t len, const char **name, size_t *nlen)
{
	size_t plen = sizeof SECTION_PREFIX - 1;

	if (len < plen || strncmp(section, SECTION_PREFIX, plen) != 0)
		return false;
	*name = section + plen;
	*nlen = len - plen;
	return true;
}

/* Is name (nlen bytes) a listener name: 1..LISTENER_NAME_MAX letters,
 * digits, '_', '-' or '.'? */
static bool
valid_name(const char *name, size_t nlen)
{
	return parse_is_name(name, nlen, LISTENER_NAME_MAX);
}

/* The listener called name (nlen bytes), or NULL. */
static struct listener_conf *
find(const struct listener_confs *ls, const char *name, size_t nlen)
{
	for (size_t i = 0; i < ls->n; i++)
		if (strlen(ls->v[i].name) == nlen && memcmp(ls->v[i].name, name, nlen) == 0)
			return &ls->v[i];
	return NULL;
}

const struct listener_conf *
listenconf_find(const struct listener_confs *ls, const char *name)
{
	return find(ls, name, strlen(name));
}

int
listenconf_section(struct listener_confs *ls, const char *name, size_t nlen, int line, char *err,
                   size_t errlen)
{
	struct listener_conf *v, *l;

	if (!valid_name(name, nlen)) {
		snprintf(err, errlen,
		         "'%.*s' is not a listener name (1..%d letters, digits, '_', '-', '.')",
		         (int)(nlen > 64 ? 64 : nlen), name, LISTENER_NAME_MAX);
		return -1;
	}
	if (nlen == strlen(LISTENER_MAIN) && memcmp(name, LISTENER_MAIN, nlen) == 0) {
		snprintf(err, errlen, "the name '%s' is the [broker] socket's", LISTENER_MAIN);
		return -1;
	}
	if (find(ls, name, nlen) != NULL) {
		snprintf(err, errlen, "duplicate section [listener %.*s]", (int)nlen, name);
		return -1;
	}
	if ((v = realloc(ls->v, (ls->n + 1) * sizeof *v)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ls->v = v;
	l = &v[ls->n];
	memset(l, 0, sizeof *l);
	if ((l->name = strndup(name, nlen)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	l->line = line;
	l->socket_mode = 0660;
	ls->n++;
	return 0;
}

int
listenconf_key(struct listener_confs *ls, const char *name, const char *key, const char *value,
               int line, char *err, size_t errlen)
{
	struct listener_conf *l = find(ls, name, strlen(name));
	size_t i;

	if (l == NULL) { /* its section line was refused */
		snprintf(err, errlen, "unknown section [listener %s]", name);
		return -1;
	}
	for (i = 0; i < NKEYS; i++)
		if (strcmp(key, keys[i].name) == 0)
			break;
	if (i == NKEYS) {
		snprintf(err, errlen, "unknown key '%s' in [listener %s]", key, name);
		return -1;
	}
	if (l->seen & (1u << i)) {
		snprintf(err, errlen, "duplicate key '%s' in [listener %s]", key, name);
		return -1;
	}
	if ((i == K_SOCKET && l->tcp != NULL) || (i == K_TCP && l->socket != NULL)) {
		snprintf(err, errlen, "a listener has socket or tcp, not both");
		return -1;
	}
	if (keys[i].set(l, value, err, errlen) < 0)
		return -1;
	l->seen |= 1u << i;
	if (i == K_TCP)
		l->tcp_line = line;
	if (i == K_TOPIC)
		l->topic_line = line;
	return 0;
}

/* Checks one listener once its section is read. */
static int
check_one(const struct listener_conf *l, size_t max_topic, int *line, char *err, size_t errlen)
{
	*line = l->line;
	if (l->socket == NULL && l->tcp == NULL) {
		snprintf(err, errlen, "[listener %s] needs socket = PATH or tcp = HOST:PORT",
		         l->name);
		return -1;
	}
	if (l->tcp != NULL && (l->seen & (1u << K_SOCKET_MODE | 1u << K_SOCKET_GROUP))) {
		snprintf(err, errlen,
		         "[listener %s]: socket_mode and socket_group are for a Unix socket",
		         l->name);
		return -1;
	}
	if (l->tcp != NULL && !l->loopback && !l->allow_remote) {
		*line = l->tcp_line;
		snprintf(err, errlen,
		         "tcp: %s is not a loopback address: other machines could connect; "
		         "set allow_remote = yes in [listener %s] if that is meant",
		         l->tcp, l->name);
		return -1;
	}
	if (l->mode == LISTEN_LINES && l->topic == NULL) {
		snprintf(err, errlen, "[listener %s]: mode = lines needs topic = TOPIC", l->name);
		return -1;
	}
	if (l->topic != NULL && l->mode != LISTEN_LINES) {
		*line = l->topic_line;
		snprintf(err, errlen, "topic: only a listener with mode = lines has a topic");
		return -1;
	}
	if (l->topic != NULL && strlen(l->topic) > max_topic) {
		*line = l->topic_line;
		snprintf(err, errlen, "topic: longer than max_topic (%zu bytes)", max_topic);
		return -1;
	}
	return 0;
}

int
listenconf_check(const struct listener_confs *ls, size_t max_topic, int *line, char *err,
                 size_t errlen)
{
	for (size_t i = 0; i < ls->n; i++) {
		if (check_one(&ls->v[i], max_topic, line, err, errlen) < 0)
			return -1;
		for (size_t j = 0; j < i; j++) {
			if (ls->v[i].socket != NULL && ls->v[j].socket != NULL &&
			    strcmp(ls->v[i].socket, ls->v[j].socket) == 0) {
				*line = ls->v[i].line;
				snprintf(err, errlen,
				         "[listener %s] has the socket of [listener %s]",
				         ls->v[i].name, ls->v[j].name);
				return -1;
			}
		}
	}
	return 0;
}

/* Are two optional strings the same? */
static bool
same(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

bool
listenconf_equal(const struct listener_confs *a, const struct listener_confs *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct listener_conf *x = &a->v[i], *y = &b->v[i];

		if (!same(x->name, y->name) || !same(x->socket, y->socket) ||
		    !same(x->tcp, y->tcp) || x->socket_mode != y->socket_mode ||
		    !same(x->socket_group, y->socket_group) || x->mode != y->mode ||
		    !same(x->topic, y->topic) || x->allow_remote != y->allow_remote)
			return false;
	}
	return true;
}

void
listenconf_print(const struct listener_confs *ls, FILE *out,
                 void (*print_value)(FILE *out, const char *key, const char *value))
{
	for (size_t i = 0; i < ls->n; i++) {
		const struct listener_conf *l = &ls->v[i];

		fprintf(out, "\n[listener %s]\n", l->name);
		if (l->socket != NULL) {
			print_value(out, "socket", l->socket);
			fprintf(out, "socket_mode = %04o\n", (unsigned)l->socket_mode);
			print_value(out, "socket_group", l->socket_group);
		} else {
			print_value(out, "tcp", l->tcp);
			fprintf(out, "allow_remote = %s\n", l->allow_remote ? "yes" : "no");
		}
		fprintf(out, "mode = %s\n", l->mode == LISTEN_LINES ? "lines" : "protocol");
		if (l->topic != NULL)
			print_value(out, "topic", l->topic);
	}
}

void
listenconf_free(struct listener_confs *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		free(ls->v[i].name);
		free(ls->v[i].socket);
		free(ls->v[i].tcp);
		free(ls->v[i].socket_group);
		free(ls->v[i].topic);
	}
	free(ls->v);
	ls->v = NULL;
	ls->n = 0;
}

bool
listenconf_key_name(size_t i, const char **name, const char **doc)
{
	if (i >= NKEYS)
		return false;
	*name = keys[i].name;
	*doc = keys[i].doc;
	return true;
}

const char *
listenconf_addr_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(buf, size, "%s:%u", host, (unsigned)ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(buf, size, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
	} else {
		snprintf(buf, size, "?");
	}
	return buf;
}
