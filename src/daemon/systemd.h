/* The daemon's side of systemd: readiness notification (sd_notify) and
 * socket activation (LISTEN_FDS). Through libsystemd when built with it,
 * else by the documented protocols directly; both are no-ops outside systemd. */
#ifndef UDSB_SYSTEMD_H
#define UDSB_SYSTEMD_H

#include <stdbool.h>
#include <stddef.h>

/* The sockets passed by socket activation, each with its name. */
struct activated {
	int fd;     /* -1 once taken */
	char *name; /* its FileDescriptorName= (LISTEN_FDNAMES), "" if none */
};

/* The sockets passed by socket activation (LISTEN_FDS, LISTEN_FDNAMES):
 * returns how many (0: none, LISTEN_PID not ours or LISTEN_FDS unset), and
 * a malloc'd array of them in *out. Exits with an error on a malformed
 * LISTEN_FDS. Unsets the variables so children do not see them. */
size_t systemd_listen_fds(struct activated **out);

/* Frees what systemd_listen_fds returned, closing the fds not taken. */
void systemd_free_activated(struct activated *a, size_t n);

/* Is fd a listening stream socket of family (AF_UNIX, AF_INET, AF_INET6)? */
bool systemd_is_listener(int fd, int family);

/* Sends a state string ("READY=1", "STATUS=...") to $NOTIFY_SOCKET, if set.
 * Failures are logged at debug level and otherwise ignored. */
void systemd_notify(const char *state);

/* printf-style systemd_notify. */
void systemd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
