/* The listening socket; see listener.h. */
#include "listener.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "systemd.h"

#define LISTEN_BACKLOG     4096
#define EMFILE_BACKOFF_SEC 1

/* Connections accepted per loop pass at most: a flood of connects must not
 * keep the loop from the clients' own events (their EOFs among them). */
#define ACCEPT_BATCH 64

/* Checks what is at path before we bind there: nothing, or a stale socket
 * (removed), is fine; a live socket or anything else is an error. */
static int
clear_path(const char *path, const struct sockaddr_un *sun, socklen_t sunlen, char *err,
           size_t errlen)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot check %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; not touching it", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sunlen);
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "another broker is listening on %s", path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		snprintf(err, errlen, "cannot check %s: %s", path, strerror(errno));
		return -1;
	}
	log_info("removing stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Creates, binds and listens on path; returns the fd or -1. */
static int
bind_path(struct listener *l, const char *path, mode_t mode, const char *group, char *err,
          size_t errlen)
{
	struct sockaddr_un sun;
	socklen_t sunlen;
	struct stat st;
	mode_t old_umask;
	int fd, rc;

	if (sockpath_addr(path, &sun, &sunlen) < 0) {
		snprintf(err, errlen,
		         "socket path %s is %zu bytes long; the limit is %zu (sun_path)", path,
		         strlen(path), (size_t)SOCKPATH_MAX);
		return -1;
	}
	if (clear_path(path, &sun, sunlen, err, errlen) < 0)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* Nobody may connect before the mode is right: bind with no access. */
	old_umask = umask(0777);
	rc = bind(fd, (struct sockaddr *)&sun, sunlen);
	umask(old_umask);
	if (rc < 0) {
		snprintf(err, errlen, "cannot bind %s: %s", path, strerror(errno));
		goto fail;
	}
	l->owns_path = true;
	if (stat(path, &st) == 0) {
		l->dev = st.st_dev;
		l->ino = st.st_ino;
	}
	if (group != NULL) {
		struct group *gr = getgrnam(group);

		if (gr == NULL) {
			snprintf(err, errlen, "socket_group: no group named '%s'", group);
			goto fail;
		}
		if (chown(path, (uid_t)-1, gr->gr_gid) < 0) {
			snprintf(err, errlen, "cannot give %s to group %s: %s", path, group,
			         strerror(errno));
			goto fail;
		}
	}
	if (chmod(path, mode) < 0) {
		snprintf(err, errlen, "cannot chmod %s: %s", path, strerror(errno));
		goto fail;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	if (l->owns_path)
		unlink(path);
	l->owns_path = false;
	return -1;
}

/* Re-enables accepting, unless stopped for good. */
static void
resume(struct listener *l)
{
	if (l->out_of_fds && !l->stopped) {
		l->out_of_fds = false;
		event_add(l->ev, NULL);
		log_debug("accepting connections again");
	}
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	resume(arg);
}

/* Out of descriptors: the pending connection would wake the loop again at
 * once and spin a core, so stop accepting until a client leaves or a
 * second passes. */
static void
pause_out_of_fds(struct listener *l, int err)
{
	struct timeval tv = { EMFILE_BACKOFF_SEC, 0 };

	if (!l->warned)
		log_warnx("accept on %s: %s; pausing new connections", l->path, strerror(err));
	l->warned = true;
	l->out_of_fds = true;
	event_del(l->ev);
	evtimer_add(l->retry, &tv);
}

static void
accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct listener *l = arg;

	for (int i = 0; i < ACCEPT_BATCH && !l->out_of_fds && !l->stopped; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			l->warned = false;
			l->accept_cb(fd, l->arg);
		} else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		           errno == ENOMEM) {
			pause_out_of_fds(l, errno);
		} else if (errno == EINTR || errno == ECONNABORTED) {
			continue;
		} else {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("accept on %s", l->path);
			return;
		}
	}
}

int
listener_open(struct listener *l, struct event_base *base, const char *path, mode_t mode,
              const char *group, listener_accept_cb *cb, void *arg, char *err, size_t errlen)
{
	int fd;

	memset(l, 0, sizeof *l);
	l->fd = -1;
	l->accept_cb = cb;
	l->arg = arg;
	snprintf(l->path, sizeof l->path, "%s", path);

	fd = systemd_listen_fd();
	if (fd >= 0) {
		struct sockaddr_un sun;
		socklen_t len = sizeof sun;

		/* systemd owns the path: no unlink, chmod or chown here. */
		if (getsockname(fd, (struct sockaddr *)&sun, &len) == 0 &&
		    len > offsetof(struct sockaddr_un, sun_path) && sun.sun_path[0] != '\0')
			snprintf(l->path, sizeof l->path, "%.*s",
			         (int)(len - offsetof(struct sockaddr_un, sun_path)), sun.sun_path);
		evutil_make_socket_nonblocking(fd);
		log_info("using the socket passed by systemd: %s", l->path);
	} else if ((fd = bind_path(l, path, mode, group, err, errlen)) < 0) {
		return -1;
	}

	l->fd = fd;
	l->ev = event_new(base, fd, EV_READ | EV_PERSIST, accept_cb, l);
	l->retry = evtimer_new(base, retry_cb, l);
	if (l->ev == NULL || l->retry == NULL || event_add(l->ev, NULL) < 0) {
		snprintf(err, errlen, "cannot listen on %s: out of memory", l->path);
		listener_close(l);
		return -1;
	}
	return 0;
}

void
listener_stop(struct listener *l)
{
	l->stopped = true;
	if (l->ev != NULL)
		event_del(l->ev);
}

void
listener_fd_freed(struct listener *l)
{
	if (l->out_of_fds) {
		evtimer_del(l->retry);
		resume(l);
	}
}

void
listener_close(struct listener *l)
{
	struct stat st;

	if (l->ev != NULL)
		event_free(l->ev);
	if (l->retry != NULL)
		event_free(l->retry);
	if (l->fd >= 0)
		close(l->fd);
	l->ev = NULL;
	l->retry = NULL;
	l->fd = -1;
	/* Remove the file only if it is still the one we bound. */
	if (l->owns_path && stat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
		unlink(l->path);
	l->owns_path = false;
}
