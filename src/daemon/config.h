/* The daemon's configuration: udsbrokerd.conf(5), parsed with inih. */
#ifndef UDSB_CONFIG_H
#define UDSB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "access.h"
#include "bridgeconf.h"
#include "buildconf.h"
#include "listenconf.h"
#include "log.h"

#define CONFIG_DEFAULT_PATH UDSB_SYSCONFDIR "/udsbroker/udsbrokerd.conf"

enum slow_consumer {
	SLOW_CONSUMER_DROP,
	SLOW_CONSUMER_DISCONNECT,
};

struct config {
	char *socket; /* NULL: the default path rules */
	mode_t socket_mode;
	char *socket_group; /* NULL: leave the group alone */
	unsigned max_clients;
	size_t max_line; /* bytes, counting the '\n' */
	size_t max_topic;
	unsigned max_subscriptions; /* per client */
	size_t queue_limit;         /* bytes of pending output per client */
	enum slow_consumer slow_consumer;
	unsigned max_clients_per_uid; /* 0: unlimited */
	unsigned max_retained;        /* client values, count */
	size_t max_retained_bytes;    /* client values, topic + payload bytes */
	unsigned sys_interval;        /* seconds; 0: no $SYS */
	enum log_level log_level;
	char *retain_file;               /* NULL: retained values in memory only */
	unsigned retain_sync;            /* seconds between writes when changed */
	struct access access;            /* [access]: default and rules */
	struct listener_confs listeners; /* [listener NAME] sections */
	struct bridge_confs bridges;     /* [bridge NAME] sections (bridgeconf.h) */
};

/* Fills cfg with the defaults of every key. */
void config_defaults(struct config *cfg);

/* Resets cfg to the defaults, then reads the file at path over them.
 * A missing file is fine when missing_ok. Only a regular file is read: a
 * FIFO, a device or a directory is an error at once, never a wait. A NUL
 * byte, invalid UTF-8 or a line longer than the parser's limit is an
 * error naming the line. Returns 0, or -1 with one line "PATH:LINE: what
 * is wrong" (or "PATH: reason") in err. On failure cfg holds the
 * defaults. */
int config_load(struct config *cfg, const char *path, bool missing_ok, char *err, size_t errlen);

/* The same for a stream already open (tests, the fuzz target); name stands
 * for the file in messages. The caller closes fp. */
int config_load_stream(struct config *cfg, FILE *fp, const char *name, char *err, size_t errlen);

/* The same for a string; name stands for the file in messages. */
int config_load_string(struct config *cfg, const char *text, const char *name, char *err,
                       size_t errlen);

/* Frees what cfg owns; cfg may be loaded again afterwards. */
void config_free(struct config *cfg);

/* Prints every key with its effective value, as a valid config file. */
void config_print(const struct config *cfg, FILE *out);

/* The keys the parser knows, in file order, for tests and docs:
 * returns false once i is past the last. */
bool config_key(size_t i, const char **section, const char **name);

/* The one-line description of key i (as config_key counts them), or NULL
 * once i is past the last. */
const char *config_key_doc(size_t i);

/* Parses a size with an optional K or M suffix; -1 if invalid. */
int config_parse_size(const char *s, size_t *out);

#endif
