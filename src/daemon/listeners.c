/* The set of listeners; see listeners.h. */
#include "listeners.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "systemd.h"

/* Is name that of a [listener NAME] of cfg? */
static bool
names_listener(const struct config *cfg, const char *name)
{
	return listenconf_find(&cfg->listeners, name) != NULL;
}

/* Which passed socket is the main one: named "main", else the first not
 * named after a listener; -1 if none. Two candidates without "main" are an
 * error: which one is meant cannot be told. */
static int
main_index(const struct config *cfg, const struct activated *a, size_t n, char *err, size_t errlen)
{
	int found = -1;

	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i].name, LISTENER_MAIN) == 0)
			return (int)i;
	for (size_t i = 0; i < n; i++) {
		if (names_listener(cfg, a[i].name))
			continue;
		if (found >= 0) {
			snprintf(err, errlen,
			         "socket activation: sockets %d ('%s') and %d ('%s') are both "
			         "named after no listener; name the main one \"main\" "
			         "(FileDescriptorName=)",
			         a[found].fd, a[found].name, a[i].fd, a[i].name);
			return -2;
		}
		found = (int)i;
	}
	return found;
}

/* Takes the passed socket named name, checking it is of family: its fd, or
 * -1 if none was passed; -2 with err if it is not a listening socket of
 * that kind. */
static int
take(struct activated *a, size_t n, int index, int family, const char *name, char *err,
     size_t errlen)
{
	int fd;

	if (index < 0)
		for (size_t i = 0; i < n && index < 0; i++)
			if (a[i].fd >= 0 && strcmp(a[i].name, name) == 0)
				index = (int)i;
	if (index < 0 || a[index].fd < 0)
		return -1;
	fd = a[index].fd;
	if (!systemd_is_listener(fd, family) &&
	    !(family == AF_INET && systemd_is_listener(fd, AF_INET6))) {
		snprintf(err, errlen,
		         "socket activation: descriptor %d (for %s) is not a listening %s stream "
		         "socket",
		         fd, name, family == AF_UNIX ? "Unix" : "TCP");
		return -2;
	}
	a[index].fd = -1; /* consumed */
	return fd;
}

/* The spec of the listener c, with the inherited fd. */
static struct listener_spec
spec_of(const struct listener_conf *c, int fd)
{
	return (struct listener_spec){
		.name = c->name,
		.mode = c->mode,
		.topic = c->topic,
		.path = c->socket,
		.socket_mode = c->socket_mode,
		.socket_group = c->socket_group,
		.addr = c->tcp != NULL ? &c->addr : NULL,
		.addrlen = c->addrlen,
		.fd = fd,
	};
}

int
listeners_open(struct listeners *ls, struct event_base *base, const struct config *cfg,
               const char *main_path, listener_accept_cb *cb, void *arg, char *err, size_t errlen)
{
	struct activated *act = NULL;
	size_t nact = systemd_listen_fds(&act);
	struct listener_spec spec, main_spec = {
		.name = LISTENER_MAIN,
		.path = main_path,
		.socket_mode = cfg->socket_mode,
		.socket_group = cfg->socket_group,
	};
	int mi = main_index(cfg, act, nact, err, errlen);

	memset(ls, 0, sizeof *ls);
	if (mi == -2)
		goto fail;
	for (size_t i = 0; i < cfg->listeners.n; i++)
		if (strcmp(cfg->listeners.v[i].socket ? cfg->listeners.v[i].socket : "",
		           main_path) == 0) {
			snprintf(err, errlen, "[listener %s] has the main socket's path %s",
			         cfg->listeners.v[i].name, main_path);
			goto fail;
		}
	if ((ls->v = calloc(cfg->listeners.n + 1, sizeof *ls->v)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* The others first: once the main socket is connectable, they all are. */
	ls->n = 1; /* v[0], the main socket, stays closed until the end */
	ls->v[0].fd = -1;
	for (size_t i = 0; i < cfg->listeners.n; i++) {
		const struct listener_conf *c = &cfg->listeners.v[i];
		int fd = take(act, nact, -1, c->tcp ? AF_INET : AF_UNIX, c->name, err, errlen);

		char abs[PATH_MAX];

		if (fd == -2)
			goto fail;
		spec = spec_of(c, fd);
		/* The daemon leaves its directory: a relative path must still
		 * name the same file when it is removed at exit. */
		if (c->socket != NULL && c->socket[0] != '/' && fd < 0) {
			int rc = sockpath_absolute(c->socket, abs, sizeof abs);

			if (rc < 0 || strlen(abs) > SOCKPATH_MAX) {
				snprintf(err, errlen, "[listener %s]: socket path %s: %s", c->name,
				         c->socket,
				         rc == 0 || errno == ENAMETOOLONG
				             ? "too long once made absolute"
				             : strerror(errno));
				goto fail;
			}
			spec.path = abs;
		}
		if (listener_open(&ls->v[ls->n], base, &spec, cb, arg, err, errlen) < 0) {
			char why[512];

			snprintf(why, sizeof why, "[listener %s]: %s", c->name, err);
			snprintf(err, errlen, "%s", why);
			goto fail;
		}
		ls->n++;
	}
	if ((main_spec.fd = take(act, nact, mi, AF_UNIX, LISTENER_MAIN, err, errlen)) == -2)
		goto fail;
	if (listener_open(&ls->v[0], base, &main_spec, cb, arg, err, errlen) < 0)
		goto fail;
	for (size_t i = 0; i < nact; i++)
		if (act[i].fd >= 0)
			log_warnx("socket activation: descriptor %d ('%s') is for no listener; "
			          "closing it",
			          act[i].fd, act[i].name);
	systemd_free_activated(act, nact);
	return 0;
fail:
	systemd_free_activated(act, nact);
	listeners_close(ls);
	return -1;
}

void
listeners_stop(struct listeners *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		listener_stop(&ls->v[i]);
}

void
listeners_fd_freed(struct listeners *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		listener_fd_freed(&ls->v[i]);
}

void
listeners_close(struct listeners *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		listener_close(&ls->v[i]);
	free(ls->v);
	ls->v = NULL;
	ls->n = 0;
}

void
listeners_log(const struct listeners *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		const struct listener *l = &ls->v[i];

		if (i == 0)
			log_info("listening on %s", l->path);
		else if (l->mode == LISTEN_LINES)
			log_info("listener %s: listening on %s%s, lines to %s", l->name,
			         l->tcp ? "tcp " : "", l->path, l->topic);
		else
			log_info("listener %s: listening on %s%s", l->name, l->tcp ? "tcp " : "",
			         l->path);
	}
}
