/* The listening socket; see listener.h. */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

#define LISTEN_BACKLOG     4096
#define EMFILE_BACKOFF_SEC 1

/* How long the liveness check waits for a connect to complete, and how
 * long a start waits for another one to finish its check and bind. */
#define PROBE_TIMEOUT_MS 2000
#define LOCK_TIMEOUT_MS  10000

/* Connections accepted per loop pass at most: a flood of connects must not
 * keep the loop from the clients' own events (their EOFs among them). */
#define ACCEPT_BATCH 64

/* Whether something listens on sun: 1 alive, 0 stale (refused, or gone),
 * -1 when it cannot tell (errno set). Never blocks: a full backlog
 * (EAGAIN) means a live broker too busy to take one more, and a connect
 * still in progress is waited for only PROBE_TIMEOUT_MS. */
static int
probe(const struct sockaddr_un *sun, socklen_t sunlen)
{
	struct pollfd pfd;
	socklen_t elen = sizeof(int);
	int fd, rc, e = 0;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return -1;
	while ((rc = connect(fd, (const struct sockaddr *)sun, sunlen)) < 0 && errno == EINTR)
		;
	if (rc < 0 && errno == EINPROGRESS) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		rc = poll(&pfd, 1, PROBE_TIMEOUT_MS);
		if (rc == 0)
			e = EAGAIN; /* still pending: someone is there */
		else if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
			e = errno;
		rc = e == 0 ? 0 : -1;
		errno = e;
	}
	e = errno;
	close(fd);
	if (rc == 0 || e == EAGAIN || e == EWOULDBLOCK)
		return 1;
	if (e == ECONNREFUSED || e == ENOENT)
		return 0;
	errno = e;
	return -1;
}

/* Takes the exclusive lock PATH.lock that makes the check of path and the
 * bind one step: of two daemons started at once, the second sees the
 * first one's socket alive. Waits at most LOCK_TIMEOUT_MS for another
 * start to finish. The file is never removed (removing a lock file lets
 * two holders in). Returns the descriptor, or -1 with err. */
static int
lock_path(const char *path, char *err, size_t errlen)
{
	struct timespec pause = { 0, 10 * 1000 * 1000 };
	char lock[PATH_MAX];
	int fd, n;

	n = snprintf(lock, sizeof lock, "%s.lock", path);
	if (n < 0 || (size_t)n >= sizeof lock) {
		snprintf(err, errlen, "cannot lock %s: path too long", path);
		return -1;
	}
	fd = open(lock, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open the lock file %s: %s", lock, strerror(errno));
		return -1;
	}
	for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; waited += 10) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			snprintf(err, errlen, "cannot lock %s: %s", lock, strerror(errno));
			close(fd);
			return -1;
		}
		if (waited >= LOCK_TIMEOUT_MS) {
			snprintf(err, errlen,
			         "%s is held by another process: another broker is "
			         "starting on %s",
			         lock, path);
			close(fd);
			return -1;
		}
		nanosleep(&pause, NULL);
	}
	return fd;
}

/* Checks what is at path before we bind there: nothing, or a stale socket
 * (removed), is fine; a live socket or anything else is an error. */
static int
clear_path(const char *path, const struct sockaddr_un *sun, socklen_t sunlen, char *err,
           size_t errlen)
{
	struct stat st;
	int rc;

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
	if ((rc = probe(sun, sunlen)) > 0) {
		snprintf(err, errlen, "another broker is listening on %s", path);
		return -1;
	}
	if (rc < 0) {
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
	int fd, rc, lock;

	if (sockpath_addr(path, &sun, &sunlen) < 0) {
		snprintf(err, errlen,
		         "socket path %s is %zu bytes long; the limit is %zu (sun_path)", path,
		         strlen(path), (size_t)SOCKPATH_MAX);
		return -1;
	}
	if ((lock = lock_path(path, err, errlen)) < 0)
		return -1;
	if (clear_path(path, &sun, sunlen, err, errlen) < 0) {
		close(lock);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		close(lock);
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
	/* Listening: whoever takes the lock next finds us alive. */
	close(lock);
	return fd;
fail:
	close(fd);
	if (l->owns_path)
		unlink(path);
	l->owns_path = false;
	close(lock);
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
			if (l->tcp) /* replies and deliveries go out as they come */
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
			l->accept_cb(l, fd, l->arg);
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

/* Creates, binds and listens on a TCP address; returns the fd or -1. */
static int
bind_tcp(struct listener *l, const struct sockaddr_storage *addr, socklen_t addrlen, char *err,
         size_t errlen)
{
	int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0) {
		snprintf(err, errlen, "socket for %s: %s", l->path, strerror(errno));
		return -1;
	}
	/* A restart must not wait for the old connections' TIME_WAIT. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
	if (addr->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){ 1 }, sizeof(int));
	if (bind(fd, (const struct sockaddr *)addr, addrlen) < 0) {
		snprintf(err, errlen, "cannot bind %s: %s", l->path, strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", l->path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Names an inherited socket by the address it is bound to. */
static void
name_inherited(struct listener *l, int fd)
{
	struct sockaddr_storage ss;
	struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
	socklen_t len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_UNIX && len > offsetof(struct sockaddr_un, sun_path) &&
	    sun->sun_path[0] != '\0')
		snprintf(l->path, sizeof l->path, "%.*s",
		         (int)(len - offsetof(struct sockaddr_un, sun_path)), sun->sun_path);
	else if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
		listenconf_addr_text(&ss, l->path, sizeof l->path);
}

int
listener_open(struct listener *l, struct event_base *base, const struct listener_spec *spec,
              listener_accept_cb *cb, void *arg, char *err, size_t errlen)
{
	int fd = spec->fd;

	memset(l, 0, sizeof *l);
	l->fd = -1;
	l->accept_cb = cb;
	l->arg = arg;
	l->tcp = spec->addr != NULL;
	l->mode = spec->mode;
	snprintf(l->name, sizeof l->name, "%s", spec->name);
	if (l->tcp)
		listenconf_addr_text(spec->addr, l->path, sizeof l->path);
	else
		snprintf(l->path, sizeof l->path, "%s", spec->path);
	if (spec->topic != NULL) {
		l->topic_len = strlen(spec->topic);
		if ((l->topic = strdup(spec->topic)) == NULL) {
			snprintf(err, errlen, "out of memory");
			if (fd >= 0)
				close(fd);
			return -1;
		}
	}

	if (fd >= 0) {
		/* systemd owns the socket: no unlink, chmod or chown here. */
		name_inherited(l, fd);
		evutil_make_socket_nonblocking(fd);
		log_info("using the socket passed by systemd: %s", l->path);
	} else if (l->tcp) {
		fd = bind_tcp(l, spec->addr, spec->addrlen, err, errlen);
	} else {
		fd = bind_path(l, spec->path, spec->socket_mode, spec->socket_group, err, errlen);
	}
	if (fd < 0) {
		free(l->topic);
		l->topic = NULL;
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
	free(l->topic);
	l->topic = NULL;
}
