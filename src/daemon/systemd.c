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

/* Is fd a listening Unix stream socket? */
static int
is_unix_listener(int fd)
{
#if HAVE_LIBSYSTEMD
	return sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0;
#else
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int type = 0, listening = 0;
	socklen_t olen = sizeof type;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) < 0 || type != SOCK_STREAM)
		return 0;
	olen = sizeof listening;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) < 0 || !listening)
		return 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	return ss.ss_family == AF_UNIX;
#endif
}

/* Number of descriptors passed to this process, from the environment. */
static int
listen_fds(void)
{
#if HAVE_LIBSYSTEMD
	int n = sd_listen_fds(1);

	if (n < 0)
		fatalx("socket activation: %s", strerror(-n));
	return n;
#else
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	uint64_t owner, n;

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
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (int fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + (int)n; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	return (int)n;
#endif
}

int
systemd_listen_fd(void)
{
	int n = listen_fds();

	if (n == 0)
		return -1;
	if (n > 1)
		fatalx("socket activation: %d sockets passed, udsbrokerd takes one", n);
	if (!is_unix_listener(LISTEN_FDS_START))
		fatalx("socket activation: descriptor %d is not a listening Unix stream socket",
		       LISTEN_FDS_START);
	return LISTEN_FDS_START;
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
