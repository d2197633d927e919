/*
 * The listening socket: the socket path rules (refuse a live socket, replace
 * a stale one, never touch a non-socket), socket activation, accepting, and
 * backing off when the process runs out of descriptors.
 */
#ifndef UDSB_LISTENER_H
#define UDSB_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sockpath.h"

struct event_base;
struct event;

/* Called with each accepted, non-blocking, close-on-exec connection. */
typedef void listener_accept_cb(int fd, void *arg);

struct listener {
	int fd;              /* the listening socket, -1 when closed */
	struct event *ev;    /* readable: connections are waiting */
	struct event *retry; /* re-enables accepting after EMFILE */
	listener_accept_cb *accept_cb;
	void *arg;
	char path[SOCKPATH_MAX + 1];
	bool owns_path;  /* we bound it: we remove it on exit */
	dev_t dev;       /* the file we bound, so we never remove */
	ino_t ino;       /* one that replaced it */
	bool out_of_fds; /* paused by EMFILE/ENFILE */
	bool warned;     /* said so; quiet until an accept works */
	bool stopped;    /* paused for good (shutdown) */
};

/* Opens the listener: the socket passed by systemd if any, else path bound
 * with mode and group (group may be NULL). Returns 0, or -1 with a one-line
 * reason in err. */
int listener_open(struct listener *l, struct event_base *base, const char *path, mode_t mode,
                  const char *group, listener_accept_cb *cb, void *arg, char *err, size_t errlen);

/* Stops accepting for good (shutdown). */
void listener_stop(struct listener *l);

/* A descriptor was freed: resume accepting if we had run out. */
void listener_fd_freed(struct listener *l);

/* Closes the socket and removes the path if we created it. */
void listener_close(struct listener *l);

#endif
