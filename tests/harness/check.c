/* Criterion assertions over the harness: the daemon and raw connections;
 * see check.h (the libudsbroker and udsctl ones are in check_client.c). */
#include "check.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
th_require_root(const char *why)
{
	if (geteuid() == 0)
		return;
	/* Criterion names a skip only with --verbose, and a cr_log_warn would
	 * make it exit 1: say it on stderr, which the test log keeps. */
	fprintf(stderr, "[SKIP] %s::%s: needs root to %s (uid is %u)\n",
	        criterion_current_test->category, criterion_current_test->name, why,
	        (unsigned)geteuid());
	cr_skip_test("needs root to %s (uid is %u)", why, (unsigned)geteuid());
}

/* ---- the daemon ---- */

void
xstart(struct th_daemon *d, const char *extra_config)
{
	cr_assert_eq(th_start(d, extra_config), 0, "udsbrokerd did not start");
}

int
xstart_ctl(struct th_daemon *d, const char *extra_config)
{
	int ctl;

	/* The daemon raises its own limit, but under valgrind the limit that
	 * counts is the one valgrind started with: start it with the most. */
	th_raise_nofile();
	xstart(d, extra_config);
	ctl = xconnect(d);
	cr_assert_eq(th_ping_barrier(ctl, "start", NULL, 0), 0, "no PONG from a new broker");
	wait_stat(ctl, "clients", 1);
	return ctl;
}

void
xstop(struct th_daemon *d)
{
	int status = th_stop(d);

	cr_assert_eq(status, 0,
	             "udsbrokerd exited with status %d (under valgrind: errors or leaks"
	             " found; see the valgrind log)",
	             status);
}

void
wait_log(const struct th_daemon *d, const char *text, int count)
{
	long long deadline = th_now_ms() + TH_TIMEOUT_MS;
	int n, delay = 1;

	while ((n = th_log_count(d, text)) < count) {
		cr_assert_lt(th_now_ms(), deadline,
		             "the log has \"%s\" %d times, want %d within %d ms", text, n, count,
		             TH_TIMEOUT_MS);
		th_backoff(&delay);
	}
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

void
expect_rss_growth_below(long rss0, long rss_max, long bound_kb, const char *what)
{
	cr_log_info("%s: broker RSS %ld -> max %ld KiB (bound +%ld)", what, rss0, rss_max,
	            bound_kb);
#ifdef UNDER_ASAN
	cr_log_info("%s: RSS bound not checked under AddressSanitizer", what);
#else
	/* Under the valgrind setup the RSS is valgrind's shadow memory as
	 * much as the broker's; the fault tests bound it with a factor. */
	if (th_under_valgrind()) {
		cr_log_info("%s: RSS bound not checked under valgrind", what);
		return;
	}
	cr_assert_gt(rss0, 0, "no RSS for the broker");
	cr_expect_lt(rss_max - rss0, bound_kb,
	             "%s: broker RSS grew from %ld to %ld KiB (bound +%ld)", what, rss0, rss_max,
	             bound_kb);
#endif
}

/* ---- raw connections ---- */

int
xconnect(const struct th_daemon *d)
{
	int fd = th_connect(d);

	cr_assert_geq(fd, 0, "cannot connect to %s: %s", d->sock, strerror(errno));
	return fd;
}

int
xconnect_tcp(int port)
{
	int fd = th_connect_tcp(port);

	cr_assert_geq(fd, 0, "connect to port %d: %s", port, strerror(errno));
	return fd;
}

void
xsend(int fd, const char *s)
{
	cr_assert_eq(th_send_str(fd, s), 0, "send on fd %d of \"%.60s\" failed: %s", fd, s,
	             strerror(errno));
}

void
xsend_bytes(int fd, const void *buf, size_t len)
{
	cr_assert_eq(th_send_all(fd, buf, len), 0, "send of %zu bytes failed: %s", len,
	             strerror(errno));
}

int
xfree_port(void)
{
	int port = th_free_port();

	cr_assert_gt(port, 0, "no free loopback TCP port: %s", strerror(errno));
	return port;
}

const char *
xrecv(int fd, long *len)
{
	static char line[LINE_MAX_TEST];
	long n = th_recv_line(fd, line, sizeof line, TH_TIMEOUT_MS);

	cr_assert_geq(n, 0, "no line on fd %d within %d ms (EOF or timeout)", fd, TH_TIMEOUT_MS);
	if (len != NULL)
		*len = n;
	return line;
}

void
expect_next(int fd, const char *want)
{
	long n;
	const char *line = xrecv(fd, &n);

	cr_assert(strcmp(line, want) == 0 && (size_t)n == strlen(want),
	          "got \"%.200s\", want \"%s\"", line, want);
}

void
expect_err(int fd, const char *code)
{
	const char *line = xrecv(fd, NULL);
	size_t cl = strlen(code);

	cr_assert(strncmp(line, "ERR ", 4) == 0 && strncmp(line + 4, code, cl) == 0 &&
	              (line[4 + cl] == '\0' || line[4 + cl] == ' '),
	          "got \"%.200s\", want \"ERR %s ...\"", line, code);
}

void
xsub(int fd, const char *filter)
{
	char cmd[1024];

	snprintf(cmd, sizeof cmd, "SUB %s\n", filter);
	xsend(fd, cmd);
	expect_next(fd, "OK");
}

const char *
barrier(int fd)
{
	static char other[65536];
	static unsigned seq;
	char tag[32];

	snprintf(tag, sizeof tag, "barrier-%u", ++seq);
	cr_assert_eq(th_ping_barrier(fd, tag, other, sizeof other), 0, "no PONG %s", tag);
	return other;
}

void
quiet(int fd)
{
	const char *other = barrier(fd);

	cr_assert_str_empty(other, "unexpected lines before PONG: \"%.300s\"", other);
}

long long
stat_of(int fd, const char *key)
{
	const char *line;
	char pat[64];
	const char *p;

	xsend(fd, "STATS\n");
	line = xrecv(fd, NULL);
	cr_assert(strncmp(line, "STATS ", 6) == 0, "not a STATS line: \"%.200s\"", line);
	snprintf(pat, sizeof pat, " %s=", key);
	p = strstr(line, pat);
	cr_assert_not_null(p, "no %s= in \"%s\"", key, line);
	p += strlen(pat);
	cr_assert(*p >= '0' && *p <= '9', "%s has no number in \"%s\"", key, line);
	return strtoll(p, NULL, 10);
}

void
wait_stat(int fd, const char *key, long long want)
{
	long long deadline = th_now_ms() + TH_TIMEOUT_MS, v;
	int delay = 1;

	while ((v = stat_of(fd, key)) != want) {
		cr_assert_lt(th_now_ms(), deadline, "STATS %s stayed %lld, want %lld", key, v,
		             want);
		th_backoff(&delay);
	}
}

const char *
own_meta(const char *via)
{
	static char meta[160];

	snprintf(meta, sizeof meta, "uid=%u;gid=%u;pid=%ld;via=%s", (unsigned)getuid(),
	         (unsigned)getgid(), (long)getpid(), via);
	return meta;
}

const char *
read_to_eof(int fd, size_t *count)
{
	static char last[LINE_MAX_TEST];
	char line[LINE_MAX_TEST];
	size_t n = 0;

	last[0] = '\0';
	for (;;) {
		long len = th_recv_line(fd, line, sizeof line, TH_TIMEOUT_MS);

		if (len < 0)
			break;
		memcpy(last, line, (size_t)len + 1);
		n++;
	}
	/* th_recv_line failed: at EOF th_recv_eof answers at once, else it was a timeout. */
	cr_assert_eq(th_recv_eof(fd, 0), 0, "no EOF after %zu lines (last \"%.100s\")", n, last);
	if (count != NULL)
		*count = n;
	return last;
}
