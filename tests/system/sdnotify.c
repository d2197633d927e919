/* The notification socket of the system tests; see sdnotify.h. */
#include "sdnotify.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

int
notify_open(struct notify *n, const char *dir)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int on = 1;

	memset(n, 0, sizeof *n);
	n->fd = -1;
	if ((size_t)snprintf(n->path, sizeof n->path, "%s/notify", dir) >= sizeof n->path ||
	    strlen(n->path) >= sizeof sun.sun_path)
		return -1;
	strcpy(sun.sun_path, n->path);
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->fd < 0)
		return -1;
	if (bind(n->fd, (struct sockaddr *)&sun, sizeof sun) < 0 ||
	    setsockopt(n->fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) < 0) {
		close(n->fd);
		n->fd = -1;
		return -1;
	}
	return 0;
}

/* Receives one datagram into buf (NUL-terminated) within timeout_ms and
 * reports its sender's pid. Returns its length, or -1. */
static long
notify_recv(struct notify *n, char *buf, size_t size, pid_t *sender, int timeout_ms)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} control;
	struct iovec iov = {.iov_base = buf, .iov_len = size - 1};
	struct msghdr msg = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = control.buf,
	    .msg_controllen = sizeof control.buf,
	};
	struct pollfd pfd = {.fd = n->fd, .events = POLLIN};
	struct cmsghdr *cmsg;
	ssize_t len;

	if (poll(&pfd, 1, timeout_ms < 0 ? 0 : timeout_ms) <= 0)
		return -1;
	len = recvmsg(n->fd, &msg, MSG_DONTWAIT);
	if (len < 0)
		return -1;
	buf[len] = '\0';
	*sender = 0;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg))
		if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_CREDENTIALS) {
			struct ucred cred;

			memcpy(&cred, CMSG_DATA(cmsg), sizeof cred);
			*sender = cred.pid;
		}
	return (long)len;
}

/* True if text, made of '\n'-separated lines, has the line want. */
static int
has_line(const char *text, const char *want)
{
	size_t wlen = strlen(want);
	const char *p = text;

	for (;;) {
		if (strncmp(p, want, wlen) == 0 && (p[wlen] == '\n' || p[wlen] == '\0'))
			return 1;
		if ((p = strchr(p, '\n')) == NULL)
			return 0;
		p++;
	}
}

int
notify_wait(struct notify *n, const char *want, pid_t pid, char *dgram, size_t size, int timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;
	char buf[1024];
	pid_t sender;

	for (;;) {
		long len = notify_recv(n, buf, sizeof buf, &sender, th_left_ms(deadline));

		if (len < 0) {
			fprintf(stderr, "notify: no %s within %d ms; received so far: %s\n", want,
			        timeout_ms, n->seen[0] ? n->seen : "nothing");
			return -1;
		}
		snprintf(n->seen + strlen(n->seen), sizeof n->seen - strlen(n->seen), "%s%s",
		         n->seen[0] ? "|" : "", buf);
		if (sender != pid) {
			fprintf(stderr, "notify: \"%s\" came from pid %d, not the daemon's %d\n",
			        buf, (int)sender, (int)pid);
			return -1;
		}
		if (has_line(buf, want)) {
			snprintf(dgram, size, "%s", buf);
			return 0;
		}
	}
}

void
notify_close(struct notify *n)
{
	if (n->fd >= 0) {
		close(n->fd);
		unlink(n->path);
	}
	n->fd = -1;
}
