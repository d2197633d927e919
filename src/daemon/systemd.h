/* The daemon's side of systemd: readiness notification (sd_notify) and
 * socket activation (LISTEN_FDS). Through libsystemd when built with it,
 * else by the documented protocols directly; both are no-ops outside systemd. */
#ifndef UDSB_SYSTEMD_H
#define UDSB_SYSTEMD_H

/* The listening socket passed by socket activation, or -1 if none was
 * passed (LISTEN_PID not ours, LISTEN_FDS unset). Exits with an error if
 * more than one descriptor, or one that is not a listening Unix stream
 * socket, was passed. Unsets the variables so children do not see them. */
int systemd_listen_fd(void);

/* Sends a state string ("READY=1", "STATUS=...") to $NOTIFY_SOCKET, if set.
 * Failures are logged at debug level and otherwise ignored. */
void systemd_notify(const char *state);

/* printf-style systemd_notify. */
void systemd_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
