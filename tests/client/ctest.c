/* Helpers of the client tests; see ctest.h. */
#include "ctest.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct broker ct_broker;

/* Milliseconds on the monotonic clock. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
ct_start(const char *extra_config)
{
	cr_assert_eq(broker_start(&ct_broker, extra_config), 0, "the broker did not start");
}

void
ct_stop(void)
{
	broker_stop(&ct_broker);
}

struct udsb *
ct_connect(const char *path)
{
	struct udsb *c = udsb_new();
	int rc;

	cr_assert_not_null(c);
	rc = udsb_connect(c, path ? path : ct_broker.sock);
	cr_assert_eq(rc, UDSB_OK, "connect: %s: %s", udsb_status_name(rc), udsb_errmsg(c));
	cr_assert_eq(udsb_set_timeout(c, HARNESS_TIMEOUT_MS), UDSB_OK);
	return c;
}

void
ct_next(struct udsb *c, struct udsb_event *ev)
{
	int rc = udsb_recv(c, ev, HARNESS_TIMEOUT_MS);

	cr_assert_eq(rc, UDSB_OK, "recv: %s: %s", udsb_status_name(rc), udsb_errmsg(c));
}

void
ct_expect_msg(struct udsb *c, const char *topic, const char *payload)
{
	struct udsb_event ev;

	ct_next(c, &ev);
	cr_assert_eq(ev.type, UDSB_EV_MSG, "event %d (%s %s), not the MSG %s %s", ev.type, ev.code,
	             ev.text, topic, payload);
	cr_assert_str_eq(ev.topic, topic);
	cr_assert_eq(ev.topic_len, strlen(topic));
	cr_assert_eq(ev.payload_len, strlen(payload), "payload \"%s\", want \"%s\"", ev.payload,
	             payload);
	cr_assert_str_eq(ev.payload, payload);
}

void
ct_expect_quiet(struct udsb *c)
{
	struct udsb_event ev;
	int rc = udsb_ping(c, NULL);

	cr_assert_eq(rc, UDSB_OK, "ping: %s", udsb_errmsg(c));
	rc = udsb_recv(c, &ev, 0);
	cr_assert_eq(rc, UDSB_ETIMEDOUT, "unexpected event %d: %s %s", ev.type, ev.topic,
	             ev.payload);
}

long long
ct_stat(struct udsb *c, const char *key)
{
	const struct udsb_stat *items;
	size_t n;
	int rc = udsb_stats(c, &items, &n);

	cr_assert_eq(rc, UDSB_OK, "stats: %s", udsb_errmsg(c));
	for (size_t i = 0; i < n; i++)
		if (strcmp(items[i].key, key) == 0)
			return atoll(items[i].value);
	return -1;
}

void
ct_wait_subscriptions(struct udsb *c, unsigned long long n)
{
	long long deadline = now_ms() + HARNESS_TIMEOUT_MS;
	long long have;

	while ((have = ct_stat(c, "subscriptions")) != (long long)n) {
		struct timespec nap = {.tv_nsec = 5 * 1000000}; /* back-off only */

		cr_assert_lt(now_ms(), deadline, "the broker counts %lld subscriptions, not %llu",
		             have, n);
		nanosleep(&nap, NULL);
	}
}

const char *
ct_file(const char *name, const char *text, size_t len)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", ct_broker.dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(text, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
	return path;
}

const char *
ct_udsctl(void)
{
	const char *p = getenv("UDSCTL");

	cr_assert(p != NULL && p[0] != '\0', "UDSCTL is not set: run the tests with meson test");
	return p;
}

void
ct_spawn(struct ct_proc *p, const char *const *args, const char *const *env, const char *stdin_path)
{
	const char *argv[40];
	int out[2], err[2];
	size_t n = 0;

	memset(p, 0, sizeof *p);
	p->status = -2;
	if (getenv("UDSB_VALGRIND") != NULL) {
		/* meson test --setup valgrind: udsctl runs under valgrind, and
		 * any error or leak makes it exit 99, which no test expects. */
		argv[n++] = "/usr/bin/valgrind";
		argv[n++] = "-q";
		argv[n++] = "--leak-check=full";
		argv[n++] = "--errors-for-leak-kinds=definite,indirect";
		argv[n++] = "--error-exitcode=99";
	}
	argv[n++] = ct_udsctl();
	for (size_t i = 0; args[i] != NULL; i++) {
		cr_assert_lt(n, sizeof argv / sizeof argv[0] - 1);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(err, O_CLOEXEC), 0);
	p->pid = fork();
	cr_assert_geq(p->pid, 0);
	if (p->pid == 0) {
		int in = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY);

		for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
			if (strchr(env[i], '=') != NULL)
				putenv((char *)env[i]);
			else
				unsetenv(env[i]);
		}
		if (in < 0 || dup2(in, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
			_exit(126);
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	p->out = out[0];
	p->err = err[0];
	p->out_buf = calloc(1, 1);
	p->err_buf = calloc(1, 1);
	cr_assert(p->out_buf && p->err_buf);
}

/* Appends what fd has to *buf; closes it (*fd = -1) at EOF. */
static void
drain(int *fd, char **buf, size_t *len)
{
	char chunk[65536];
	ssize_t n = read(*fd, chunk, sizeof chunk);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(*fd);
		*fd = -1;
		return;
	}
	*buf = realloc(*buf, *len + (size_t)n + 1);
	cr_assert_not_null(*buf);
	memcpy(*buf + *len, chunk, (size_t)n);
	*len += (size_t)n;
	(*buf)[*len] = '\0';
}

size_t
ct_count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

bool
ct_read(struct ct_proc *p, size_t want_lines, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;

	for (;;) {
		struct pollfd pfd[2] = {{.fd = p->out, .events = POLLIN},
		                        {.fd = p->err, .events = POLLIN}};
		long long left;

		if (want_lines > 0 && ct_count_lines(p->out_buf) >= want_lines)
			return true;
		if (p->out < 0 && p->err < 0)
			return want_lines == 0;
		left = deadline - now_ms();
		if (left <= 0)
			return false;
		if (poll(pfd, 2, (int)left) < 0 && errno != EINTR)
			return false;
		if (p->out >= 0 && pfd[0].revents)
			drain(&p->out, &p->out_buf, &p->out_len);
		if (p->err >= 0 && pfd[1].revents)
			drain(&p->err, &p->err_buf, &p->err_len);
	}
}

bool
ct_read_more(struct ct_proc *p, int timeout_ms)
{
	struct pollfd pfd[2] = {{.fd = p->out, .events = POLLIN}, {.fd = p->err, .events = POLLIN}};

	if (p->out < 0 && p->err < 0)
		return false;
	if (poll(pfd, 2, timeout_ms) <= 0)
		return false;
	if (p->out >= 0 && pfd[0].revents)
		drain(&p->out, &p->out_buf, &p->out_len);
	if (p->err >= 0 && pfd[1].revents)
		drain(&p->err, &p->err_buf, &p->err_len);
	return true;
}

int
ct_finish(struct ct_proc *p)
{
	long long deadline;
	int status;

	if (!ct_read(p, 0, HARNESS_TIMEOUT_MS))
		kill(p->pid, SIGKILL);
	deadline = now_ms() + HARNESS_TIMEOUT_MS;
	for (;;) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);
		struct timespec nap = {.tv_nsec = 2 * 1000000};

		if (r == p->pid)
			break;
		cr_assert(r == 0 || errno == EINTR, "waitpid: %s", strerror(errno));
		if (now_ms() > deadline)
			kill(p->pid, SIGKILL);
		nanosleep(&nap, NULL);
	}
	if (p->out >= 0)
		close(p->out);
	if (p->err >= 0)
		close(p->err);
	p->out = p->err = -1;
	p->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return p->status;
}

void
ct_proc_free(struct ct_proc *p)
{
	free(p->out_buf);
	free(p->err_buf);
	p->out_buf = p->err_buf = NULL;
}

int
ct_run(struct ct_proc *p, const char *const *args, const char *const *env, const char *stdin_path)
{
	ct_spawn(p, args, env, stdin_path);
	return ct_finish(p);
}
