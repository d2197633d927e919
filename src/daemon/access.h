/*
 * Access rules ([access] in udsbrokerd.conf(5)): who may publish and
 * subscribe to what, by the peer credentials of each connection and the
 * listener it came in through. TCP clients have no credentials: uid, gid,
 * user and group rules never match them.
 *
 *   rule = allow pub sensors/# group=sensors
 *   rule = deny  all #         user=nobody
 *
 * Rules are tried in order and the first that applies decides; default
 * decides when none does. For PUB a rule applies when its filter matches the
 * topic. For SUB an allow rule applies when its filter covers the whole
 * requested filter, and a deny rule when the two overlap at all, so a wide
 * subscription cannot reach topics a deny rule keeps a client from.
 */
#ifndef UDSB_ACCESS_H
#define UDSB_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum access_op {
	ACCESS_PUB = 1,
	ACCESS_SUB = 2,
	ACCESS_ALL = ACCESS_PUB | ACCESS_SUB,
};

enum principal_kind {
	PRINCIPAL_ANY,
	PRINCIPAL_UID,
	PRINCIPAL_GID,      /* primary or supplementary group */
	PRINCIPAL_LISTENER, /* every client of one listener ("main": the main socket) */
};

struct access_rule {
	bool allow;
	unsigned ops; /* enum access_op bits */
	char *filter;
	size_t filter_len;
	enum principal_kind kind;
	unsigned long id; /* uid or gid */
	char *listener;   /* PRINCIPAL_LISTENER: its name */
	char *text;       /* the rule as written, for -t and logs */
	int line;         /* of the config file, for messages; 0 if unknown */
};

struct access {
	bool default_allow;
	struct access_rule *rules;
	size_t nrules;
};

/* Who is on the other end of a connection (SO_PEERCRED, SO_PEERGROUPS),
 * and where it connected. */
struct peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	/* Bit-fields: every client has a peer, and the 7 bytes a bool would
	 * cost after groups are an idle client's memory (issue 18). */
	signed int ngroups : 31;
	unsigned int has_creds : 1; /* 0 for TCP: pid, uid, gid mean nothing */
	gid_t *groups;              /* supplementary groups, may be NULL */
	const char *listener;       /* its listener's name, "main", or NULL (none) */
};

/* Parses one "ACTION OP FILTER PRINCIPAL" rule and appends it; user and
 * group names are resolved now. Returns 0, or -1 with the reason in err. */
int access_add_rule(struct access *a, const char *text, char *err, size_t errlen);

/* Frees the rules; a is empty (default allow) afterwards. */
void access_free(struct access *a);

/* May p publish to topic / subscribe to filter? */
bool access_can_publish(const struct access *a, const struct peer *p, const char *topic,
                        size_t len);
bool access_can_subscribe(const struct access *a, const struct peer *p, const char *filter,
                          size_t len);

/* Reads the peer's credentials from a connected Unix socket (has_creds
 * set, listener NULL). Returns 0 or -1. */
int peer_from_socket(struct peer *p, int fd);

void peer_free(struct peer *p);

#endif
