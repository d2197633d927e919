/*
 * The [bridge NAME] sections of udsbrokerd.conf(5): one bridge each to an
 * MQTT broker. Parsed here, key by key, as config.c's reader meets them;
 * the password is read from its password_file at load, never written in
 * the config itself, and never printed.
 */
#ifndef UDSB_BRIDGECONF_H
#define UDSB_BRIDGECONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Most [bridge] sections in one config, and most out or in filters in one. */
#define BRIDGECONF_MAX         16
#define BRIDGECONF_MAX_FILTERS 256
/* Longest bridge name: a "via" name in the meta (RETAIN_VIA_MAX). */
#define BRIDGECONF_NAME_MAX 32

/* One [bridge NAME] section. */
struct bridge_conf {
	char *name;
	int line;      /* of its [bridge NAME] line, for messages */
	char *address; /* as written: mqtt://HOST:PORT or unix:PATH */
	char *host;    /* the host, or the socket path for unix: */
	int port;      /* 0 for unix: */
	char *client_id;
	char *username;      /* NULL: none */
	char *password_file; /* NULL: none */
	char *password;      /* read from password_file at load; never printed */
	char *tls_ca, *tls_cert, *tls_key;
	char **out; /* local filters whose messages go to the remote */
	size_t nout;
	char **in; /* remote filters whose messages come in */
	size_t nin;
	char *local_prefix;  /* prepended on the way in; NULL: none */
	char *remote_prefix; /* prepended on the way out; NULL: none */
	int qos;
	unsigned keepalive;
	size_t queue_limit; /* bytes held while the remote cannot take them */
	unsigned seen;      /* single keys given so far, a bit each */
};

struct bridge_confs {
	struct bridge_conf *v;
	size_t count;
};

/* Is the section name (len bytes) a "bridge NAME" one? */
bool bridgeconf_is_section(const char *name, size_t len);

/* Starts the section "bridge NAME" (len bytes) met on line. Returns 0, or
 * -1 with why in err (a bad or duplicate name, too many bridges, a build
 * without bridge support). */
int bridgeconf_open(struct bridge_confs *bc, const char *section, size_t len, int line, char *err,
                    size_t errlen);

/* Takes key = value in the section "bridge NAME". Returns 0, or -1 with
 * why in err. */
int bridgeconf_key(struct bridge_confs *bc, const char *section, const char *key, const char *value,
                   char *err, size_t errlen);

/* Checks what a section needs once it is all read (an address, a filter),
 * and fills in defaults (client_id). Returns 0, or -1 with why in err and
 * the line of the section at fault in *line. */
int bridgeconf_check(struct bridge_confs *bc, int *line, char *err, size_t errlen);

/* The keys of a [bridge NAME] section, for tests and docs: false once i
 * is past the last. */
bool bridgeconf_key_name(size_t i, const char **name, const char **doc);

/* Writes the sections as they would be read back, the password aside;
 * each string value through print_string (config.c's, which knows how inih
 * reads a value back). */
void bridgeconf_print(const struct bridge_confs *bc, FILE *out,
                      void (*print_string)(FILE *, const char *, const char *));

/* Frees them all; bc is then empty. */
void bridgeconf_free(struct bridge_confs *bc);

/* Are a and b the same settings? (A reload keeps the bridges running when
 * they are.) */
bool bridgeconf_same(const struct bridge_confs *a, const struct bridge_confs *b);

#endif
