/*
 * One listening socket, Unix or TCP: the socket path rules (refuse a live
 * socket, replace a stale one, never touch a non-socket), an inherited
 * (socket-activated) descriptor, accepting in batches, and backing off
 * when the process runs out of descriptors. The set of them is
 * listeners.h.
 */
#ifndef UDSB_LISTENER_H
#define UDSB_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <sys/socket.h>

#include "listenconf.h"
#include "sockpath.h"

struct event_base;
struct event;
struct listener;

/* Called with each accepted, non-blocking, close-on-exec connection. */
typedef void listener_accept_cb(struct listener *l, int fd, void *arg);

struct listener {
	char name[LISTENER_NAME_MAX + 1]; /* "main" for the main socket */
	bool tcp;                         /* TCP: no peer credentials */
	enum listen_mode mode;
	char *topic; /* lines mode: where each line goes */
	size_t topic_len;
	int fd;              /* the listening socket, -1 when closed */
	struct event *ev;    /* readable: connections are waiting */
	struct event *retry; /* re-enables accepting after EMFILE */
	listener_accept_cb *accept_cb;
	void *arg;
	char path[SOCKPATH_MAX + 1]; /* or the TCP address, for messages */
	bool owns_path;              /* we bound it: we remove it on exit */
	dev_t dev;                   /* the file we bound, so we never remove */
	ino_t ino;                   /* one that replaced it */
	bool out_of_fds;             /* paused by EMFILE/ENFILE */
	bool warned;                 /* said so; quiet until an accept works */
	bool stopped;                /* paused for good (shutdown) */
};

/* What a listener is: its name, how its clients speak, and where. */
struct listener_spec {
	const char *name;
	enum listen_mode mode;
	const char *topic; /* lines mode */
	const char *path;  /* Unix: bound with mode and group (may be NULL) */
	mode_t socket_mode;
	const char *socket_group;
	const struct sockaddr_storage *addr; /* TCP, instead of path */
	socklen_t addrlen;
	int fd; /* an inherited listening socket to use as it is, or -1 */
};

/* Opens a listener: spec->fd if it is one, else a new socket bound as
 * spec says. Returns 0, or -1 with a one-line reason in err (spec->fd is
 * closed then too). */
int listener_open(struct listener *l, struct event_base *base, const struct listener_spec *spec,
                  listener_accept_cb *cb, void *arg, char *err, size_t errlen);

/* Stops accepting for good (shutdown). */
void listener_stop(struct listener *l);

/* A descriptor was freed: resume accepting if we had run out. */
void listener_fd_freed(struct listener *l);

/* Closes the socket and removes the path if we created it. */
void listener_close(struct listener *l);

#endif
