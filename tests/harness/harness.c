/* The test harness; see harness.h. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- time ---- */

long long
th_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
th_left_ms(long long deadline)
{
	long long left = deadline - th_now_ms();

	return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

void
th_backoff(int *delay_ms)
{
	struct timespec ts = { .tv_sec = *delay_ms / 1000,
		               .tv_nsec = (long)(*delay_ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	if (*delay_ms < 20)
		*delay_ms = *delay_ms > 0 ? *delay_ms * 2 : 1;
}

/* ---- environment ---- */

const char *
th_daemon_path(void)
{
	const char *path = getenv("UDSBROKERD");

	return path != NULL && path[0] != '\0' ? path : "udsbrokerd";
}

int
th_raise_nofile(void)
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

bool
th_under_valgrind(void)
{
	const char *s = getenv("UDSB_VALGRIND");

	return s != NULL && s[0] != '\0' && strcmp(s, "0") != 0;
}

/* ---- processes ---- */

/* Length of the name in "NAME=value" or "NAME". */
static size_t
env_name_len(const char *s)
{
	const char *eq = strchr(s, '=');

	return eq != NULL ? (size_t)(eq - s) : strlen(s);
}

/* True if entry ("NAME=value") is named by one of changes. */
static bool
env_changed(const char *entry, const char *const *changes)
{
	size_t len = env_name_len(entry);

	for (size_t i = 0; changes[i] != NULL; i++)
		if (env_name_len(changes[i]) == len && strncmp(entry, changes[i], len) == 0)
			return true;
	return false;
}

/* Our environment with changes applied (see th_exec_opts.env), built
 * before fork: the child of a threaded test must not allocate. */
static char **
env_build(const char *const *changes)
{
	size_t n = 0, k = 0, m = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	while (changes[m] != NULL)
		m++;
	if ((env = calloc(n + m + 1, sizeof *env)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!env_changed(environ[i], changes))
			env[k++] = environ[i];
	for (size_t i = 0; i < m; i++)
		if (strchr(changes[i], '=') != NULL)
			env[k++] = (char *)changes[i];
	env[k] = NULL;
	return env;
}

/* In a forked child: the state th_exec promises, then exec. */
static _Noreturn void
exec_child(char *const argv[], char **envp, const struct th_exec_opts *o, pid_t parent)
{
	sigset_t none;
	int in_fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	in_fd = open(o->stdin_path != NULL ? o->stdin_path : "/dev/null", O_RDONLY);
	if (in_fd < 0 || dup2(in_fd, 0) < 0 || dup2(o->out_fd, 1) < 0 || dup2(o->err_fd, 2) < 0)
		_exit(127);
	closefrom(3);
	if (o->nofile > 0) {
		struct rlimit rl = { (rlim_t)o->nofile, (rlim_t)o->nofile };

		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			dprintf(2, "harness: setrlimit(RLIMIT_NOFILE, %d): %s\n", o->nofile,
			        strerror(errno));
			_exit(127);
		}
	}
	execve(argv[0], argv, envp);
	dprintf(2, "harness: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

pid_t
th_exec(char *const argv[], const struct th_exec_opts *o)
{
	pid_t parent = getpid(), pid;
	char **envp = o->env != NULL ? env_build(o->env) : environ;

	if (envp == NULL)
		return -1;
	pid = fork();
	if (pid == 0)
		exec_child(argv, envp, o, parent);
	if (envp != environ)
		free(envp);
	return pid < 0 ? -1 : pid;
}

int
th_reap(pid_t pid, int timeout_ms, int *status)
{
	long long deadline = th_now_ms() + timeout_ms;
	int delay = 1;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		if (th_now_ms() >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		th_backoff(&delay);
	}
}

int
th_proc_start(struct th_proc *p, char *const argv[], const char *const *env, const char *stdin_path,
              bool merge)
{
	int out[2], err[2] = { -1, -1 };
	struct th_exec_opts o = { .env = env, .stdin_path = stdin_path };

	memset(p, 0, sizeof *p);
	p->status = -2;
	p->out = p->err = -1;
	if (pipe2(out, O_CLOEXEC) < 0)
		return -1;
	if (!merge && pipe2(err, O_CLOEXEC) < 0) {
		close(out[0]);
		close(out[1]);
		return -1;
	}
	o.out_fd = out[1];
	o.err_fd = merge ? out[1] : err[1];
	p->pid = th_exec(argv, &o);
	close(out[1]);
	if (!merge)
		close(err[1]);
	p->out = out[0];
	p->err = err[0];
	p->out_buf = calloc(1, 1);
	p->err_buf = calloc(1, 1);
	if (p->pid < 0 || p->out_buf == NULL || p->err_buf == NULL) {
		th_proc_free(p);
		return -1;
	}
	return 0;
}

/* Appends what *fd has to *buf; closes it (*fd = -1) at EOF. */
static void
drain(int *fd, char **buf, size_t *len)
{
	char chunk[65536];
	ssize_t n = read(*fd, chunk, sizeof chunk);
	char *grown;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0 || (grown = realloc(*buf, *len + (size_t)n + 1)) == NULL) {
		close(*fd);
		*fd = -1;
		return;
	}
	*buf = grown;
	memcpy(*buf + *len, chunk, (size_t)n);
	*len += (size_t)n;
	(*buf)[*len] = '\0';
}

/* Reads what is ready on p's pipes, waiting at most ms. False on timeout
 * (or a poll error). */
static bool
proc_poll(struct th_proc *p, int ms)
{
	struct pollfd pfd[2] = { { .fd = p->out, .events = POLLIN },
		                 { .fd = p->err, .events = POLLIN } };
	int r = poll(pfd, 2, ms);

	if (r < 0 && errno == EINTR)
		return true;
	if (r <= 0)
		return false;
	if (p->out >= 0 && pfd[0].revents)
		drain(&p->out, &p->out_buf, &p->out_len);
	if (p->err >= 0 && pfd[1].revents)
		drain(&p->err, &p->err_buf, &p->err_len);
	return true;
}

bool
th_proc_read(struct th_proc *p, size_t want_lines, int timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;

	for (;;) {
		if (want_lines > 0 && th_count_lines(p->out_buf) >= want_lines)
			return true;
		if (p->out < 0 && p->err < 0)
			return want_lines == 0;
		if (th_left_ms(deadline) == 0 || !proc_poll(p, th_left_ms(deadline)))
			return false;
	}
}

bool
th_proc_read_more(struct th_proc *p, int timeout_ms)
{
	if (p->out < 0 && p->err < 0)
		return false;
	return proc_poll(p, timeout_ms);
}

/* th_proc_finish with its bound. */
static int
proc_finish(struct th_proc *p, int timeout_ms)
{
	int status;

	if (!th_proc_read(p, 0, timeout_ms))
		kill(p->pid, SIGKILL);
	if (th_reap(p->pid, timeout_ms, &status) < 0) {
		kill(p->pid, SIGKILL);
		if (waitpid(p->pid, &status, 0) != p->pid)
			status = -1;
	}
	if (p->out >= 0)
		close(p->out);
	if (p->err >= 0)
		close(p->err);
	p->out = p->err = -1;
	p->status = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return p->status;
}

int
th_proc_finish(struct th_proc *p)
{
	return proc_finish(p, TH_TIMEOUT_MS);
}

void
th_proc_free(struct th_proc *p)
{
	if (p->out >= 0)
		close(p->out);
	if (p->err >= 0)
		close(p->err);
	p->out = p->err = -1;
	free(p->out_buf);
	free(p->err_buf);
	p->out_buf = p->err_buf = NULL;
}

int
th_run(char *const argv[], char *out, size_t out_size, int timeout_ms)
{
	struct th_proc p;
	int status;

	if (out != NULL && out_size > 0)
		out[0] = '\0';
	if (th_proc_start(&p, argv, NULL, NULL, true) < 0)
		return -1;
	status = proc_finish(&p, timeout_ms);
	if (out != NULL && out_size > 0)
		snprintf(out, out_size, "%s", p.out_buf);
	th_proc_free(&p);
	return status;
}

size_t
th_count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* ---- /proc ---- */

long
th_proc_status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			kb = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

/* ---- the daemon ---- */

/* Daemons started and not yet stopped, killed at exit if a test failed
 * half-way (criterion ends the test process on a failed assertion). */
#define MAX_LIVE 16
static struct th_daemon *live[MAX_LIVE];

/* Writes len bytes of text to path, creating or truncating it. */
static int
write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	if (th_send_all(fd, text, len) < 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

int
th_write_config(const struct th_daemon *d, const char *extra_config)
{
	size_t extra = extra_config ? strlen(extra_config) : 0;
	char *text = malloc(sizeof "[broker]\n" + extra);
	int rc;

	if (text == NULL)
		return -1;
	memcpy(text, "[broker]\n", sizeof "[broker]\n" - 1);
	memcpy(text + sizeof "[broker]\n" - 1, extra_config ? extra_config : "", extra + 1);
	rc = write_file(d->conf, text, strlen(text));
	free(text);
	return rc;
}

/* Remembers d so that it is killed and cleaned up at exit. */
static void
live_add(struct th_daemon *d)
{
	for (int i = 0; i < MAX_LIVE; i++) {
		if (live[i] == NULL || live[i] == d) {
			live[i] = d;
			return;
		}
	}
}

static void
live_remove(struct th_daemon *d)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i] == d)
			live[i] = NULL;
}

/* Removes the files in dir (the harness creates no subdirectories) and dir. */
static void
remove_dir(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	char path[512];

	if (dp == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(dp);
	rmdir(dir);
}

/* At exit: kill what a failed test left running, remove its files. */
static void
cleanup_at_exit(void)
{
	for (int i = 0; i < MAX_LIVE; i++) {
		struct th_daemon *d = live[i];

		if (d == NULL)
			continue;
		if (d->pid > 0) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
			d->pid = 0;
		}
		if (d->dir[0] != '\0')
			remove_dir(d->dir);
		live[i] = NULL;
	}
}

int
th_prepare(struct th_daemon *d, const char *extra_config)
{
	static bool registered;

	memset(d, 0, sizeof *d);
	snprintf(d->dir, sizeof d->dir, "/tmp/udsb-test-XXXXXX");
	if (mkdtemp(d->dir) == NULL) {
		fprintf(stderr, "harness: mkdtemp: %s\n", strerror(errno));
		d->dir[0] = '\0';
		return -1;
	}
	snprintf(d->sock, sizeof d->sock, "%s/b.sock", d->dir);
	snprintf(d->conf, sizeof d->conf, "%s/b.conf", d->dir);
	snprintf(d->log, sizeof d->log, "%s/b.log", d->dir);
	if (!registered) {
		atexit(cleanup_at_exit);
		registered = true;
	}
	live_add(d);
	if (th_write_config(d, extra_config) < 0) {
		fprintf(stderr, "harness: writing %s: %s\n", d->conf, strerror(errno));
		return -1;
	}
	return 0;
}

void
th_dump_log(const struct th_daemon *d)
{
	char buf[4096];
	int fd = open(d->log, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	fprintf(stderr, "---- %s ----\n", d->log);
	if (fd >= 0) {
		while ((n = read(fd, buf, sizeof buf)) > 0)
			fwrite(buf, 1, (size_t)n, stderr);
		close(fd);
	}
	fprintf(stderr, "---- end of log ----\n");
}

int
th_launch(struct th_daemon *d, char *const argv[], const char *const *env, int nofile)
{
	struct th_exec_opts o = { .env = env, .nofile = nofile };
	int log_fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (log_fd < 0)
		return -1;
	o.out_fd = o.err_fd = log_fd;
	d->pid = th_exec(argv, &o);
	close(log_fd);
	if (d->pid < 0) {
		d->pid = 0;
		return -1;
	}
	return 0;
}

/* Starts argv as d and waits until d->sock accepts a connection. */
static int
spawn_ready(struct th_daemon *d, char *const argv[], int nofile)
{
	int fd;

	if (th_launch(d, argv, NULL, nofile) < 0)
		return -1;
	fd = th_connect_retry(d->sock, &d->pid, TH_TIMEOUT_MS);
	if (fd < 0) {
		th_dump_log(d);
		return -1;
	}
	close(fd);
	return 0;
}

int
th_spawn(struct th_daemon *d)
{
	char *argv[] = { (char *)th_daemon_path(), "-f", "-c", d->conf, "-s", d->sock, NULL };

	return spawn_ready(d, argv, 0);
}

int
th_spawn_nofile(struct th_daemon *d, int nofile)
{
	char *argv[] = { (char *)th_daemon_path(), "-f", "-c", d->conf, "-s", d->sock, NULL };

	return spawn_ready(d, argv, nofile);
}

int
th_spawn_nosock(struct th_daemon *d)
{
	char *argv[] = { (char *)th_daemon_path(), "-f", "-c", d->conf, NULL };

	return spawn_ready(d, argv, 0);
}

int
th_start(struct th_daemon *d, const char *extra_config)
{
	if (th_prepare(d, extra_config) < 0)
		return -1;
	return th_spawn(d);
}

int
th_wait(struct th_daemon *d, int sig, int timeout_ms)
{
	int status;

	if (d->pid <= 0)
		return -1;
	if (sig != 0)
		kill(d->pid, sig);
	if (th_reap(d->pid, timeout_ms, &status) < 0) {
		if (errno == ETIMEDOUT) {
			fprintf(stderr,
			        "harness: udsbrokerd did not exit within %d ms, killing it\n",
			        timeout_ms);
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
			th_dump_log(d);
		}
		d->pid = 0;
		return -1;
	}
	d->pid = 0;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "harness: udsbrokerd died by signal %d\n", WTERMSIG(status));
	th_dump_log(d);
	return -1;
}

int
th_stop(struct th_daemon *d)
{
	int status = 0;

	if (d->pid > 0)
		status = th_wait(d, SIGTERM, TH_TIMEOUT_MS);
	/* A sanitizer that complained without killing the daemon is a failure. */
	if (d->dir[0] != '\0' &&
	    (th_log_contains(d, "runtime error:") || th_log_contains(d, "Sanitizer"))) {
		fprintf(stderr, "harness: sanitizer report in the daemon's log\n");
		th_dump_log(d);
		status = -1;
	}
	if (d->dir[0] != '\0' && getenv("HARNESS_KEEP") != NULL)
		fprintf(stderr, "harness: kept %s\n", d->dir);
	else if (d->dir[0] != '\0')
		remove_dir(d->dir);
	d->dir[0] = '\0';
	live_remove(d);
	return status;
}

int
th_log_count(const struct th_daemon *d, const char *text)
{
	FILE *f = fopen(d->log, "re");
	char *data = NULL;
	size_t cap = 0, tlen = strlen(text);
	int n = 0;

	if (f == NULL)
		return 0;
	/* The whole log as one string: it is small. */
	if (getdelim(&data, &cap, '\0', f) > 0)
		for (const char *p = data; (p = strstr(p, text)) != NULL; p += tlen)
			n++;
	free(data);
	fclose(f);
	return n;
}

bool
th_log_contains(const struct th_daemon *d, const char *text)
{
	return th_log_count(d, text) > 0;
}

/* ---- the line reader's state ---- */

/* Bytes read from a connection but not yet returned as lines. */
struct readahead {
	char *data;
	size_t start; /* first unread byte */
	size_t len;   /* unread bytes from start */
	size_t cap;
	bool eof;
};

/* Indexed by fd, allocated on first use. */
static struct readahead *readaheads[TH_MAX_FDS];

/* The read-ahead of fd, created on first use. */
static struct readahead *
readahead_of(int fd)
{
	if (fd < 0 || fd >= TH_MAX_FDS) {
		errno = EBADF;
		return NULL;
	}
	if (readaheads[fd] == NULL)
		readaheads[fd] = calloc(1, sizeof *readaheads[fd]);
	return readaheads[fd];
}

/* Forgets what a closed descriptor's number had read ahead. */
static void
readahead_reset(int fd)
{
	if (fd >= 0 && fd < TH_MAX_FDS && readaheads[fd] != NULL) {
		readaheads[fd]->start = readaheads[fd]->len = 0;
		readaheads[fd]->eof = false;
	}
}

/* ---- connections ---- */

/* One connect() of a new stream socket of domain to addr: the fd, with
 * its read-ahead reset, or -1 with errno. */
static int
connect_stream(int domain, const struct sockaddr *addr, socklen_t len)
{
	int fd = socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, addr, len) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	readahead_reset(fd);
	return fd;
}

int
th_connect_path(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	return connect_stream(AF_UNIX, (struct sockaddr *)&sun, sizeof sun);
}

int
th_connect_tcp(int port)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return connect_stream(AF_INET, (struct sockaddr *)&in, sizeof in);
}

int
th_connect(const struct th_daemon *d)
{
	return th_connect_path(d->sock);
}

/* True (after reaping it, *pid = 0) if the process *pid has exited. */
static bool
exited(pid_t *pid, const char *waiting_for)
{
	int status;

	if (pid == NULL || *pid <= 0 || waitpid(*pid, &status, WNOHANG) != *pid)
		return false;
	fprintf(stderr, "harness: process %d exited (status 0x%x) before %s\n", (int)*pid, status,
	        waiting_for);
	*pid = 0;
	return true;
}

int
th_connect_retry(const char *path, pid_t *pid, int timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;
	int delay = 1;

	for (;;) {
		int fd = th_connect_path(path);

		if (fd >= 0)
			return fd;
		/* Missing, refusing, full, or not yet given its mode (EACCES for
		 * a moment between bind and chmod): retry. */
		if (errno == ENAMETOOLONG) {
			fprintf(stderr, "harness: connect %s: %s\n", path, strerror(errno));
			return -1;
		}
		if (exited(pid, "its socket accepted"))
			return -1;
		if (th_now_ms() >= deadline) {
			fprintf(stderr, "harness: %s not connectable after %d ms\n", path,
			        timeout_ms);
			return -1;
		}
		th_backoff(&delay);
	}
}

int
th_wait_socket(const char *path, pid_t *pid, int timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;
	int delay = 1;
	struct stat st;

	for (;;) {
		if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
		if (exited(pid, "its socket appeared"))
			return -1;
		if (th_now_ms() >= deadline) {
			fprintf(stderr, "harness: %s did not appear within %d ms\n", path,
			        timeout_ms);
			return -1;
		}
		th_backoff(&delay);
	}
}

int
th_send_all_timeout(int fd, const void *buf, size_t len, int timeout_ms)
{
	const char *p = buf;
	long long deadline = th_now_ms() + timeout_ms;

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
			int left = th_left_ms(deadline);

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
th_send_all(int fd, const void *buf, size_t len)
{
	return th_send_all_timeout(fd, buf, len, TH_TIMEOUT_MS);
}

int
th_send_str(int fd, const char *s)
{
	return th_send_all(fd, s, strlen(s));
}

/* ---- the line reader ---- */

/* One non-blocking read of at most max bytes into ra, with room for 64 KiB
 * made first. Returns the bytes read, 0 at EOF (ra->eof set), or -1 with
 * errno (EAGAIN: nothing there). A reset connection is an end of stream. */
static long
ra_read(int fd, struct readahead *ra, size_t max)
{
	size_t room;
	ssize_t n;

	if (ra->eof)
		return 0;
	if (ra->start > 0 && ra->cap - ra->start - ra->len < 65536) {
		memmove(ra->data, ra->data + ra->start, ra->len);
		ra->start = 0;
	}
	if (ra->cap - ra->start - ra->len < 65536) {
		size_t cap = ra->cap ? ra->cap * 2 : 131072;
		char *data;

		while (cap - ra->start - ra->len < 65536)
			cap *= 2;
		if ((data = realloc(ra->data, cap)) == NULL)
			return -1;
		ra->data = data;
		ra->cap = cap;
	}
	room = ra->cap - ra->start - ra->len;
	if (room > max)
		room = max;
	do {
		n = recv(fd, ra->data + ra->start + ra->len, room, MSG_DONTWAIT);
		if (n < 0 && errno == ENOTSOCK)
			n = read(fd, ra->data + ra->start + ra->len, room);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && errno == ECONNRESET)
		n = 0;
	if (n < 0)
		return -1;
	if (n == 0)
		ra->eof = true;
	ra->len += (size_t)n;
	return (long)n;
}

/* Reads what fd has (waiting until deadline for something) into ra.
 * Returns 1 when bytes came, 0 at EOF, -1 on timeout or error. */
static int
fill(int fd, struct readahead *ra, long long deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long n;
		int r;

		if (ra->eof)
			return 0;
		r = poll(&pfd, 1, th_left_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = ETIMEDOUT;
			return -1;
		}
		n = ra_read(fd, ra, SIZE_MAX);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n <= 0)
			return (int)n;
		return 1;
	}
}

char *
th_next_line(int fd, size_t *len)
{
	struct readahead *ra = readahead_of(fd);
	char *start, *nl;
	size_t n;

	if (ra == NULL || ra->len == 0)
		return NULL;
	start = ra->data + ra->start;
	if ((nl = memchr(start, '\n', ra->len)) == NULL)
		return NULL;
	*nl = '\0';
	n = (size_t)(nl - start);
	ra->start += n + 1;
	ra->len -= n + 1;
	if (len != NULL)
		*len = n;
	return start;
}

long
th_recv_line(int fd, char *buf, size_t size, int timeout_ms)
{
	struct readahead *ra = readahead_of(fd);
	long long deadline = th_now_ms() + timeout_ms;
	size_t searched = 0;

	if (ra == NULL)
		return -1;
	for (;;) {
		char *start = ra->data + ra->start;
		char *nl =
		    ra->len > searched ? memchr(start + searched, '\n', ra->len - searched) : NULL;

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
th_recv_eof(int fd, int timeout_ms)
{
	struct readahead *ra = readahead_of(fd);
	long long deadline = th_now_ms() + timeout_ms;

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
th_recv_pending(int fd)
{
	struct readahead *ra = readahead_of(fd);

	return ra ? ra->len : 0;
}

long
th_read_some(int fd, size_t max)
{
	struct readahead *ra = readahead_of(fd);
	long n;

	if (ra == NULL)
		return -1;
	n = ra_read(fd, ra, max);
	return n < 0 && errno == EAGAIN ? 0 : n;
}

bool
th_at_eof(int fd)
{
	struct readahead *ra = readahead_of(fd);

	return ra != NULL && ra->eof;
}

bool
th_readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) > 0;
}

/* Reads lines until one equals want, the others appended to other (when
 * not NULL) as "line\n", cut short (but terminated) if full. */
static int
read_until(int fd, const char *want, long long deadline, char *other, size_t other_size)
{
	char line[8192];
	size_t used = 0;

	if (other != NULL && other_size > 0)
		other[0] = '\0';
	for (;;) {
		long n = th_recv_line(fd, line, sizeof line, th_left_ms(deadline));

		if (n < 0)
			return -1;
		if (strcmp(line, want) == 0 && (size_t)n == strlen(want))
			return 0;
		if (other != NULL && other_size > 0) {
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

int
th_expect_line(int fd, const char *want, int timeout_ms)
{
	return read_until(fd, want, th_now_ms() + timeout_ms, NULL, 0);
}

int
th_ping_barrier(int fd, const char *tag, char *other, size_t other_size)
{
	long long deadline = th_now_ms() + TH_TIMEOUT_MS;
	char want[512];

	snprintf(want, sizeof want, "PONG %s", tag);
	if (other != NULL && other_size > 0)
		other[0] = '\0';
	if (th_send_str(fd, "PING ") < 0 || th_send_str(fd, tag) < 0 || th_send_str(fd, "\n") < 0)
		return -1;
	return read_until(fd, want, deadline, other, other_size);
}

void
th_close(int fd)
{
	if (fd < 0)
		return;
	if (fd < TH_MAX_FDS && readaheads[fd] != NULL) {
		free(readaheads[fd]->data);
		free(readaheads[fd]);
		readaheads[fd] = NULL;
	}
	close(fd);
}

int
th_run_daemon(char *out, size_t size, int timeout_ms, const char *opt, ...)
{
	char *argv[16];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)th_daemon_path();
	va_start(ap, opt);
	for (const char *a = opt; a != NULL && argc < 15; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	return th_run(argv, out, size, timeout_ms);
}

int
th_free_port(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	socklen_t len = sizeof in;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1, err;

	if (fd < 0)
		return -1;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&in, sizeof in) == 0 &&
	    getsockname(fd, (struct sockaddr *)&in, &len) == 0)
		port = ntohs(in.sin_port);
	err = errno;
	close(fd);
	errno = err;
	return port;
}
