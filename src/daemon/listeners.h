/*
 * The broker's set of listeners: the main socket ([broker] socket, -s,
 * $UDSBROKER_SOCKET, always first and named "main") and one per
 * [listener NAME] section. Socket activation hands each passed socket to
 * the listener its FileDescriptorName= names; the one named "main", else
 * the first not named after a listener, is the main socket. Listeners not
 * passed are bound here. Each listener backs off on its own when the
 * process runs out of descriptors, and all resume when one is freed.
 */
#ifndef UDSB_LISTENERS_H
#define UDSB_LISTENERS_H

#include <stddef.h>

#include "config.h"
#include "listener.h"

struct event_base;

struct listeners {
	struct listener *v; /* v[0] is the main socket */
	size_t n;
};

/* Opens the main socket on main_path (with cfg's socket_mode and
 * socket_group) and every listener of cfg, each given its socket by
 * activation when one was passed for it. Returns 0, or -1 with the reason
 * in err (then nothing is left open). */
int listeners_open(struct listeners *ls, struct event_base *base, const struct config *cfg,
                   const char *main_path, listener_accept_cb *cb, void *arg, char *err,
                   size_t errlen);

/* Stops accepting on all for good (shutdown). */
void listeners_stop(struct listeners *ls);

/* A descriptor was freed: those that ran out may accept again. */
void listeners_fd_freed(struct listeners *ls);

/* Closes all, removing the socket files they created. */
void listeners_close(struct listeners *ls);

/* Logs one line per listener: its name, address and mode. */
void listeners_log(const struct listeners *ls);

#endif
