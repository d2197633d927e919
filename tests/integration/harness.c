/* The integration test harness; see harness.h. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Bytes read from a connection but not yet returned as lines. */
struct readahead {
	char *data;
	size_t start; /* first unread byte */
	size_t len;   /* unread bytes from start */
	size_t cap;
	bool eof;
};

/* Indexed by fd, allocated on first use; more than the 1024 the header
 * promises, for the tests that hold a thousand clients and a few more. */
static struct readahead *readaheads[HARNESS_MAX_FDS];

/* Brokers started and not yet stopped, killed at exit if a test failed
 * half-way (criterion ends the test process on a failed assertion). */
#define MAX_LIVE 16
static struct broker *live[MAX_LIVE];

long long
harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
harness_left_ms(long long deadline)
{
	long long left = deadline - harness_now_ms();

	return left < 0 ? 0 : (int)left;
}

/* Sleeps ms milliseconds: only as back-off inside bounded retry loops. */
static void
backoff_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

const char *
harness_daemon(void)
{
	const char *path = getenv("UDSBROKERD");

	return path != NULL && path[0] != '\0' ? path : "udsbrokerd";
}

int
harness_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -1;
	}
	return rl.rlim_cur > (rlim_t)INT32_MAX ? INT32_MAX : (int)rl.rlim_cur;
}

/* Writes len bytes of text to path, creating or truncating it. */
static int
write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t done = 0;

	if (fd < 0)
		return -1;
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	return close(fd);
}

int
broker_write_config(const struct broker *b, const char *extra_config)
{
	size_t extra = extra_config ? strlen(extra_config) : 0;
	char *text = malloc(sizeof "[broker]\n" + extra);
	int rc;

	if (text == NULL)
		return -1;
	memcpy(text, "[broker]\n", sizeof "[broker]\n" - 1);
	memcpy(text + sizeof "[broker]\n" - 1, extra_config ? extra_config : "", extra + 1);
	rc = write_file(b->conf, text, strlen(text));
	free(text);
	return rc;
}

/* Remembers b so that it is killed and cleaned up at exit. */
static void
live_add(struct broker *b)
{
	for (int i = 0; i < MAX_LIVE; i++) {
		if (live[i] == NULL || live[i] == b) {
			live[i] = b;
			return;
		}
	}
}

static void
live_remove(struct broker *b)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i] == b)
			live[i] = NULL;
}

/* Removes the files in dir (the harness creates no subdirectories) and dir. */
static void
remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* At exit: kill what a failed test left running, remove its files. */
static void
cleanup_at_exit(void)
{
	for (int i = 0; i < MAX_LIVE; i++) {
		struct broker *b = live[i];

		if (b == NULL)
			continue;
		if (b->pid > 0) {
			kill(b->pid, SIGKILL);
			waitpid(b->pid, NULL, 0);
			b->pid = 0;
		}
		if (b->dir[0] != '\0')
			remove_dir(b->dir);
		live[i] = NULL;
	}
}

int
broker_prepare(struct broker *b, const char *extra_config)
{
	static bool registered;

	memset(b, 0, sizeof *b);
	snprintf(b->dir, sizeof b->dir, "/tmp/udsb-test-XXXXXX");
	if (mkdtemp(b->dir) == NULL) {
		fprintf(stderr, "harness: mkdtemp: %s\n", strerror(errno));
		b->dir[0] = '\0';
		return -1;
	}
	snprintf(b->sock, sizeof b->sock, "%s/b.sock", b->dir);
	snprintf(b->conf, sizeof b->conf, "%s/b.conf", b->dir);
	snprintf(b->log, sizeof b->log, "%s/b.log", b->dir);
	if (!registered) {
		atexit(cleanup_at_exit);
		registered = true;
	}
	live_add(b);
	if (broker_write_config(b, extra_config) < 0) {
		fprintf(stderr, "harness: writing %s: %s\n", b->conf, strerror(errno));
		return -1;
	}
	return 0;
}

/* In a forked child: a clean signal state, stdin from /dev/null, stdout
 * and stderr to out_fd, no other descriptor inherited, killed if the test
 * process dies, at most nofile descriptors (0: unchanged). Then execs argv;
 * exits 127 if it cannot. */
static _Noreturn void
exec_child(char *const argv[], int out_fd, pid_t parent, int nofile)
{
	sigset_t none;
	int null_fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	null_fd = open("/dev/null", O_RDONLY);
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
		_exit(127);
	closefrom(3);
	if (nofile > 0) {
		struct rlimit rl = { (rlim_t)nofile, (rlim_t)nofile };

		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			dprintf(2, "harness: setrlimit(RLIMIT_NOFILE, %d): %s\n", nofile,
			        strerror(errno));
			_exit(127);
		}
	}
	execv(argv[0], argv);
	dprintf(2, "harness: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Prints the daemon's log to stderr, to explain a failure. */
static void
dump_log(const struct broker *b)
{
	char buf[4096];
	int fd = open(b->log, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	fprintf(stderr, "---- %s ----\n", b->log);
	if (fd >= 0) {
		while ((n = read(fd, buf, sizeof buf)) > 0)
			fwrite(buf, 1, (size_t)n, stderr);
		close(fd);
	}
	fprintf(stderr, "---- end of log ----\n");
}

/* Tries one connect() to path; returns the fd or -1. */
static int
connect_path(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Starts argv as the broker b (limited to nofile descriptors, 0: as we
 * are) and waits until b->sock accepts. */
static int
spawn_argv(struct broker *b, char *const argv[], int nofile)
{
	pid_t parent = getpid();
	long long deadline;
	int log_fd, delay = 1;

	log_fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0)
		return -1;
	b->pid = fork();
	if (b->pid < 0) {
		b->pid = 0;
		close(log_fd);
		return -1;
	}
	if (b->pid == 0)
		exec_child(argv, log_fd, parent, nofile);
	close(log_fd);

	/* Ready once the socket accepts a connection; give up if it exits. */
	deadline = harness_now_ms() + HARNESS_TIMEOUT_MS;
	for (;;) {
		int status, fd = connect_path(b->sock);

		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
			fprintf(stderr, "harness: udsbrokerd exited early (status 0x%x)\n", status);
			b->pid = 0;
			dump_log(b);
			return -1;
		}
		if (harness_now_ms() >= deadline) {
			fprintf(stderr, "harness: udsbrokerd not ready after %d ms\n", HARNESS_TIMEOUT_MS);
			dump_log(b);
			return -1;
		}
		backoff_ms(delay);
		if (delay < 20)
			delay *= 2;
	}
}

int
broker_spawn(struct broker *b)
{
	char *argv[] = { (char *)harness_daemon(), "-f", "-c", b->conf, "-s", b->sock, NULL };

	return spawn_argv(b, argv, 0);
}

int
broker_spawn_nofile(struct broker *b, int nofile)
{
	char *argv[] = { (char *)harness_daemon(), "-f", "-c", b->conf, "-s", b->sock, NULL };

	return spawn_argv(b, argv, nofile);
}

int
broker_spawn_nosock(struct broker *b)
{
	char *argv[] = { (char *)harness_daemon(), "-f", "-c", b->conf, NULL };

	return spawn_argv(b, argv, 0);
}

int
broker_start(struct broker *b, const char *extra_config)
{
	if (broker_prepare(b, extra_config) < 0)
		return -1;
	return broker_spawn(b);
}

int
broker_wait(struct broker *b, int sig, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	int status, delay = 1;

	if (b->pid <= 0)
		return -1;
	if (sig != 0)
		kill(b->pid, sig);
	for (;;) {
		pid_t r = waitpid(b->pid, &status, WNOHANG);

		if (r == b->pid)
			break;
		if (r < 0 && errno != EINTR) {
			b->pid = 0;
			return -1;
		}
		if (harness_now_ms() >= deadline) {
			fprintf(stderr, "harness: udsbrokerd did not exit within %d ms, killing it\n",
			        timeout_ms);
			kill(b->pid, SIGKILL);
			waitpid(b->pid, NULL, 0);
			b->pid = 0;
			dump_log(b);
			return -1;
		}
		backoff_ms(delay);
		if (delay < 20)
			delay *= 2;
	}
	b->pid = 0;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "harness: udsbrokerd died by signal %d\n", WTERMSIG(status));
	dump_log(b);
	return -1;
}

int
broker_stop(struct broker *b)
{
	int status = 0;

	if (b->pid > 0)
		status = broker_wait(b, SIGTERM, HARNESS_TIMEOUT_MS);
	/* A sanitizer that complained without killing the daemon is a failure. */
	if (b->dir[0] != '\0' && (broker_log_contains(b, "runtime error:") ||
	                          broker_log_contains(b, "Sanitizer"))) {
		fprintf(stderr, "harness: sanitizer report in the daemon's log\n");
		dump_log(b);
		status = -1;
	}
	/* HARNESS_KEEP=1 keeps the directory (config, log) to look at. */
	if (b->dir[0] != '\0' && getenv("HARNESS_KEEP") != NULL)
		fprintf(stderr, "harness: kept %s\n", b->dir);
	else if (b->dir[0] != '\0')
		remove_dir(b->dir);
	b->dir[0] = '\0';
	live_remove(b);
	return status;
}

int
broker_connect(const struct broker *b)
{
	int fd = connect_path(b->sock);

	if (fd >= 0 && fd < HARNESS_MAX_FDS && readaheads[fd] != NULL) {
		readaheads[fd]->start = readaheads[fd]->len = 0;
		readaheads[fd]->eof = false;
	}
	return fd;
}

long
broker_rss_kb(const struct broker *b)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)b->pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

bool
broker_log_contains(const struct broker *b, const char *text)
{
	FILE *f = fopen(b->log, "re");
	char *data = NULL;
	size_t cap = 0;
	bool found = false;

	if (f == NULL)
		return false;
	/* The whole log as one string: it is small. */
	if (getdelim(&data, &cap, '\0', f) > 0)
		found = strstr(data, text) != NULL;
	free(data);
	fclose(f);
	return found;
}

int
send_all_timeout(int fd, const void *buf, size_t len, int timeout_ms)
{
	const char *p = buf;
	long long deadline = harness_now_ms() + timeout_ms;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			int left = harness_left_ms(deadline);

			if (left == 0 || poll(&pfd, 1, left) == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			continue;
		}
		return -1;
	}
	return 0;
}

int
send_all(int fd, const void *buf, size_t len)
{
	return send_all_timeout(fd, buf, len, HARNESS_TIMEOUT_MS);
}

int
send_str(int fd, const char *s)
{
	return send_all(fd, s, strlen(s));
}

/* The read-ahead of fd, created on first use. */
static struct readahead *
readahead_of(int fd)
{
	if (fd < 0 || fd >= HARNESS_MAX_FDS) {
		errno = EBADF;
		return NULL;
	}
	if (readaheads[fd] == NULL)
		readaheads[fd] = calloc(1, sizeof *readaheads[fd]);
	return readaheads[fd];
}

/* Reads what fd has (waiting until deadline for something) into ra.
 * Returns 1 when bytes came, 0 at EOF, -1 on timeout or error. */
static int
fill(int fd, struct readahead *ra, long long deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (ra->eof)
		return 0;
	/* Room for at least 64 KiB more, moving unread bytes to the front. */
	if (ra->start > 0) {
		memmove(ra->data, ra->data + ra->start, ra->len);
		ra->start = 0;
	}
	if (ra->cap - ra->len < 65536) {
		size_t cap = ra->cap ? ra->cap * 2 : 65536;
		char *data;

		while (cap - ra->len < 65536)
			cap *= 2;
		data = realloc(ra->data, cap);
		if (data == NULL)
			return -1;
		ra->data = data;
		ra->cap = cap;
	}
	for (;;) {
		int r = poll(&pfd, 1, harness_left_ms(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ETIMEDOUT;
			return -1;
		}
		n = recv(fd, ra->data + ra->len, ra->cap - ra->len, MSG_DONTWAIT);
		if (n < 0 && errno == ENOTSOCK)
			n = read(fd, ra->data + ra->len, ra->cap - ra->len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			/* A reset connection is an end of stream to the tests. */
			if (errno == ECONNRESET) {
				ra->eof = true;
				return 0;
			}
			return -1;
		}
		if (n == 0) {
			ra->eof = true;
			return 0;
		}
		ra->len += (size_t)n;
		return 1;
	}
}

long
recv_line(int fd, char *buf, size_t size, int timeout_ms)
{
	struct readahead *ra = readahead_of(fd);
	long long deadline = harness_now_ms() + timeout_ms;
	size_t searched = 0;

	if (ra == NULL)
		return -1;
	for (;;) {
		char *start = ra->data + ra->start;
		char *nl = ra->len > searched ? memchr(start + searched, '\n', ra->len - searched)
		                              : NULL;

		if (nl != NULL) {
			size_t line_len = (size_t)(nl - start);
			size_t copy = size == 0 ? 0 : (line_len < size - 1 ? line_len : size - 1);

			if (size > 0) {
				memcpy(buf, start, copy);
				buf[copy] = '\0';
			}
			ra->start += line_len + 1;
			ra->len -= line_len + 1;
			return (long)copy;
		}
		searched = ra->len;
		if (fill(fd, ra, deadline) <= 0)
			return -1;
	}
}

int
recv_eof(int fd, int timeout_ms)
{
	struct readahead *ra = readahead_of(fd);
	long long deadline = harness_now_ms() + timeout_ms;

	if (ra == NULL)
		return -1;
	for (;;) {
		int r;

		if (ra->len > 0)
			return -1; /* unread bytes: not at the end */
		r = fill(fd, ra, deadline);
		if (r == 0)
			return 0;
		if (r < 0)
			return -1;
	}
}

size_t
recv_pending(int fd)
{
	struct readahead *ra = readahead_of(fd);

	return ra ? ra->len : 0;
}

int
expect_line(int fd, const char *want, int timeout_ms)
{
	long long deadline = harness_now_ms() + timeout_ms;
	char line[4096];

	for (;;) {
		long n = recv_line(fd, line, sizeof line, harness_left_ms(deadline));

		if (n < 0)
			return -1;
		if (strcmp(line, want) == 0 && (size_t)n == strlen(want))
			return 0;
	}
}

int
ping_barrier(int fd, const char *tag, char *other, size_t other_size)
{
	long long deadline = harness_now_ms() + HARNESS_TIMEOUT_MS;
	char want[512], line[8192];
	size_t used = 0;

	snprintf(want, sizeof want, "PONG %s", tag);
	if (other != NULL && other_size > 0)
		other[0] = '\0';
	if (send_str(fd, "PING ") < 0 || send_str(fd, tag) < 0 || send_str(fd, "\n") < 0)
		return -1;
	for (;;) {
		long n = recv_line(fd, line, sizeof line, harness_left_ms(deadline));

		if (n < 0)
			return -1;
		if (strcmp(line, want) == 0 && (size_t)n == strlen(want))
			return 0;
		if (other != NULL && other_size > 0) {
			/* Append "line\n", cut short (but terminated) if full. */
			size_t room = other_size - 1 - used;
			size_t copy = (size_t)n < room ? (size_t)n : room;

			memcpy(other + used, line, copy);
			used += copy;
			if (used < other_size - 1)
				other[used++] = '\n';
			other[used] = '\0';
		}
	}
}

void
conn_close(int fd)
{
	if (fd < 0)
		return;
	if (fd < HARNESS_MAX_FDS && readaheads[fd] != NULL) {
		free(readaheads[fd]->data);
		free(readaheads[fd]);
		readaheads[fd] = NULL;
	}
	close(fd);
}

int
harness_run(char *const argv[], char *out, size_t out_size, int timeout_ms)
{
	struct broker tmp = { .pid = 0 };
	pid_t parent = getpid();
	int pipefd[2], status = -1;
	long long deadline = harness_now_ms() + timeout_ms;
	size_t used = 0;

	if (out != NULL && out_size > 0)
		out[0] = '\0';
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	tmp.pid = fork();
	if (tmp.pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (tmp.pid == 0)
		exec_child(argv, pipefd[1], parent, 0);
	close(pipefd[1]);

	/* Collect its output until EOF, then its status. */
	for (;;) {
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
		char chunk[4096];
		ssize_t n;
		int left = harness_left_ms(deadline);

		if (left == 0 || poll(&pfd, 1, left) == 0)
			break;
		n = read(pipefd[0], chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out != NULL && out_size > 0) {
			size_t copy = (size_t)n < out_size - 1 - used ? (size_t)n : out_size - 1 - used;

			memcpy(out + used, chunk, copy);
			used += copy;
			out[used] = '\0';
		}
	}
	close(pipefd[0]);
	snprintf(tmp.log, sizeof tmp.log, "/dev/null");
	status = broker_wait(&tmp, 0, harness_left_ms(deadline) + 1000);
	return status;
}
