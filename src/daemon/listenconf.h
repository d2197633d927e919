/*
 * The [listener NAME] sections of udsbrokerd.conf(5): more sockets besides
 * [broker] socket, each a Unix path or a TCP address, each speaking the
 * protocol or taking plain lines published to one topic.
 *
 *   [listener logs]
 *   socket = /run/udsbroker-logs.sock
 *   mode = lines
 *   topic = logs/legacy
 *
 *   [listener tcp]
 *   tcp = 127.0.0.1:7070
 *
 * One table of keys (listenconf.c) gives parsing, checks, printing and
 * the doc lines; config.c hands these sections here.
 */
#ifndef UDSB_LISTENCONF_H
#define UDSB_LISTENCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Longest listener name: it is the "via" of delivery metadata. */
#define LISTENER_NAME_MAX 32

/* The via name of the main socket, which no listener may take. */
#define LISTENER_MAIN "main"

enum listen_mode {
	LISTEN_PROTOCOL, /* the full protocol */
	LISTEN_LINES,    /* each line published to topic; nothing sent back */
};

struct listener_conf {
	char *name;
	int line;                     /* of its [listener NAME] line, for messages */
	char *socket;                 /* a Unix path, or NULL */
	char *tcp;                    /* "HOST:PORT" as written, or NULL */
	int tcp_line;                 /* of the tcp key */
	struct sockaddr_storage addr; /* tcp, parsed */
	socklen_t addrlen;
	bool loopback; /* addr is a loopback address */
	mode_t socket_mode;
	char *socket_group; /* NULL: leave the group alone */
	enum listen_mode mode;
	char *topic; /* lines mode: where each line goes */
	int topic_line;
	bool allow_remote;
	unsigned seen; /* keys given, one bit per key of the table */
};

struct listener_confs {
	struct listener_conf *v;
	size_t n;
};

/* Is "[section]" one of ours ("listener NAME")? Then *name is NAME. */
bool listenconf_is_section(const char *section, size_t len, const char **name, size_t *nlen);

/* A "[listener NAME]" line at line: adds the listener. Returns 0, or -1
 * with why in err (a bad or duplicate name, out of memory). */
int listenconf_section(struct listener_confs *ls, const char *name, size_t nlen, int line,
                       char *err, size_t errlen);

/* "key = value" in [listener NAME] at line. Returns 0, or -1 with why. */
int listenconf_key(struct listener_confs *ls, const char *name, const char *key, const char *value,
                   int line, char *err, size_t errlen);

/* Checks what ties a section's keys together once the file is read (a
 * listener with neither socket nor tcp, lines without a topic, a remote
 * address without allow_remote). Returns 0, or -1 with the line in *line
 * and why in err. */
int listenconf_check(const struct listener_confs *ls, size_t max_topic, int *line, char *err,
                     size_t errlen);

/* The listener called name, or NULL. */
const struct listener_conf *listenconf_find(const struct listener_confs *ls, const char *name);

/* Do a and b describe the same listeners? */
bool listenconf_equal(const struct listener_confs *a, const struct listener_confs *b);

/* Prints every section, as a valid config file; print_value writes one
 * "key = value" line so that it reads back the same. */
void listenconf_print(const struct listener_confs *ls, FILE *out,
                      void (*print_value)(FILE *out, const char *key, const char *value));

/* Frees every listener; ls is empty afterwards. */
void listenconf_free(struct listener_confs *ls);

/* The keys of a [listener NAME] section, for tests and docs: false once i
 * is past the last. */
bool listenconf_key_name(size_t i, const char **name, const char **doc);

/* "HOST:PORT" of a TCP listener's address, for logs. Returns buf. */
const char *listenconf_addr_text(const struct sockaddr_storage *ss, char *buf, size_t size);

#endif
