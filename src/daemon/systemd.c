/* Socket activation and readiness notification; see systemd.h. */
#include "systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "buildconf.h"
#include "log.h"
#include "parse.h"
#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define LISTEN_FDS_START 3

bool
systemd_is_listener(int fd, int family)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int type = 0, listening = 0;
	socklen_t olen = sizeof type;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) < 0 || type != SOCK_STREAM)
		return false;
	olen = sizeof listening;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) < 0 || !listening)
		return false;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return false;
	return ss.ss_family == family;
}

/* Number of descriptors passed to this process, and their names (a
 * malloc'd vector of n strings, or NULL), from the environment. */
static int
listen_fds(char ***names)
{
#if HAVE_LIBSYSTEMD
	int n = sd_listen_fds_with_names(1, names);

	if (n < 0)
		fatalx("socket activation: %s", strerror(-n));
	return n;
#else
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char *fdnames = getenv("LISTEN_FDNAMES");
	uint64_t owner, n;

	*names = NULL;
	if (pid == NULL || fds == NULL || parse_u64(pid, 0, UINT64_MAX, &owner) != PARSE_OK ||
	    owner != (uint64_t)getpid()) {
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
		return 0;
	}
	/* Strict, as sd_listen_fds() is: an empty or signed count is an error. */
	if (parse_u64(fds, 0, 1024, &n) != PARSE_OK)
		fatalx("socket activation: LISTEN_FDS=%s is not a count", fds);
	if (n > 0 && fdnames != NULL) {
		const char *p = fdnames;

		if ((*names = calloc(n, sizeof **names)) == NULL)
			fatalx("socket activation: out of memory");
		for (uint64_t i = 0; i < n && p != NULL; i++) {
			const char *colon = strchr(p, ':');
			size_t len = colon ? (size_t)(colon - p) : strlen(p);

			if (((*names)[i] = strndup(p, len)) == NULL)
				fatalx("socket activation: out of memory");
			p = colon ? colon + 1 : NULL;
		}
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (int fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + (int)n; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	return (int)n;
#endif
}

size_t
systemd_listen_fds(struct activated **out)
{
	char **names = NULL;
	int n = listen_fds(&names);
	struct activated *a;

	*out = NULL;
	if (n <= 0)
		return 0;
	if ((a = calloc((size_t)n, sizeof *a)) == NULL)
		fatalx("socket activation: out of memory");
	for (int i = 0; i < n; i++) {
		a[i].fd = LISTEN_FDS_START + i;
		/* Each name is malloc'd: a keeps it. */
		a[i].name = names != NULL && names[i] != NULL ? names[i] : strdup("");
		if (a[i].name == NULL)
			fatalx("socket activation: out of memory");
	}
	free(names);
	*out = a;
	return (size_t)n;
}

void
systemd_free_activated(struct activated *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].fd >= 0)
			close(a[i].fd);
		free(a[i].name);
	}
	free(a);
}

void
systemd_notify(const char *state)
{
#if HAVE_LIBSYSTEMD
	int rc = sd_notify(0, state);

	if (rc < 0)
		log_debug("sd_notify(%s): %s", state, strerror(-rc));
#else
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t plen;
	socklen_t alen;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	plen = strlen(path);
	if (plen > sizeof sun.sun_path - 1) {
		log_debug("NOTIFY_SOCKET path too long");
		return;
	}
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0'; /* abstract namespace */
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '/'));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		log_debug("notify socket: %s", strerror(errno));
		return;
	}
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, alen) < 0)
		log_debug("notify %s: %s", path, strerror(errno));
	close(fd);
#endif
}

void
systemd_notifyf(const char *fmt, ...)
{
	char state[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(state, sizeof state, fmt, ap);
	va_end(ap);
	systemd_notify(state);
}
