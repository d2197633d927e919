/* Process and notification helpers of the system tests; see spawn.h. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Milliseconds on the monotonic clock. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

pid_t
spawn_logged(char *const argv[], const char *log, const char *name, const char *value)
{
	pid_t parent = getpid(), pid;
	sigset_t none;
	int log_fd, null_fd;

	log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0)
		return -1;
	pid = fork();
	if (pid != 0) {
		close(log_fd);
		return pid < 0 ? -1 : pid;
	}

	/* The child: a clean signal state, and gone if the test dies. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	null_fd = open("/dev/null", O_RDONLY);
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
		_exit(127);
	closefrom(3);
	if (name != NULL && setenv(name, value, 1) < 0)
		_exit(127);
	execv(argv[0], argv);
	dprintf(2, "spawn: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int
wait_for_socket(const char *path, pid_t pid, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	int delay_ms = 1, status;
	struct stat st;

	for (;;) {
		if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "spawn: process %d exited (status 0x%x) before %s appeared\n",
			        (int)pid, status, path);
			return -1;
		}
		if (now_ms() >= deadline) {
			fprintf(stderr, "spawn: %s did not appear within %d ms\n", path, timeout_ms);
			return -1;
		}
		poll(NULL, 0, delay_ms);
		if (delay_ms < 20)
			delay_ms *= 2;
	}
}

int
connect_retry(const char *path, pid_t pid, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int delay_ms = 1, status;

	if (strlen(path) >= sizeof sun.sun_path)
		return -1;
	strcpy(sun.sun_path, path);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
			return fd;
		close(fd);
		if (errno != ECONNREFUSED && errno != ENOENT) {
			fprintf(stderr, "spawn: connect %s: %s\n", path, strerror(errno));
			return -1;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "spawn: process %d exited (status 0x%x)\n", (int)pid, status);
			return -1;
		}
		if (now_ms() >= deadline) {
			fprintf(stderr, "spawn: %s refused connections for %d ms\n", path, timeout_ms);
			return -1;
		}
		poll(NULL, 0, delay_ms);
		if (delay_ms < 20)
			delay_ms *= 2;
	}
}

int
notify_open(struct notify *n, const char *dir)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
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
	struct iovec iov = { .iov_base = buf, .iov_len = size - 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof control.buf,
	};
	struct pollfd pfd = { .fd = n->fd, .events = POLLIN };
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
notify_wait(struct notify *n, const char *want, pid_t pid, char *dgram, size_t size,
            int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	char buf[1024];
	pid_t sender;

	for (;;) {
		long len = notify_recv(n, buf, sizeof buf, &sender, (int)(deadline - now_ms()));

		if (len < 0) {
			fprintf(stderr, "notify: no %s within %d ms; received so far: %s\n", want,
			        timeout_ms, n->seen[0] ? n->seen : "nothing");
			return -1;
		}
		snprintf(n->seen + strlen(n->seen), sizeof n->seen - strlen(n->seen), "%s%s",
		         n->seen[0] ? "|" : "", buf);
		if (sender != pid) {
			fprintf(stderr, "notify: \"%s\" came from pid %d, not the daemon's %d\n", buf,
			        (int)sender, (int)pid);
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
