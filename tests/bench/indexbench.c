/*
 * indexbench — how the subscription index copes with big and hostile
 * subscription sets, seen from an idle client's PING.
 *
 *   indexbench [-s SOCKET] [-q] [-t SECONDS] [-i USEC] [-S SEED]
 *              unsub   [-n N] [-u U]
 *   indexbench [...]   collide [-n N] [--random | --both]
 *   indexbench [...]   ping
 *
 * It starts nothing: it connects to a running udsbrokerd (-s, else
 * $UDSBROKER_SOCKET) with two clients. Client A does the heavy work,
 * pipelined, reading its OKs as they come (poll loop, non-blocking writes,
 * so the broker never stops reading A for unread replies). Client B is
 * idle and, for the whole measured phase, sends "PING <seq>" and waits for
 * "PONG <seq>", one outstanding at a time, the next one USEC (-i, default
 * 1000; 0: back to back) after the previous was sent. B's round trips say
 * how long the broker left everyone else waiting.
 *
 * unsub: A subscribes N distinct filters (default 500000; the broker needs
 * max_subscriptions >= N), of three shapes: bench/idx/<i>,
 * bench/idx/<i%1000>/<i> and bench/idx/+/<i>. That is the setup. Then A
 * UNSUBs U of them (default 10000), spread evenly over the set, in a
 * shuffled order: the measured phase.
 *
 * collide: A subscribes N single-level names (default 131072 = 2^17) that
 * all have one 32-bit FNV-1a hash, the hash today's tree uses for a level.
 * FNV-1a's state chains: if blocks X != Y lead from state h to one state
 * h', so do X||Z and Y||Z. A birthday search finds a pair of 8-character
 * alphanumeric blocks per step, from the state the previous step reached;
 * name i takes, for step k, block X_k or Y_k after bit k of i. Every name
 * is hashed again and checked before anything is sent. --random: random
 * alphanumeric names of the same length instead. --both: random names,
 * then (A reconnected, so the broker drops the first set) the colliding
 * ones, and the ratio of the two SUB phases.
 *
 * After each measured phase A disconnects and B asks STATS until the
 * broker's subscriptions counter is back where it was before A began
 * (close_ms): the broker dropping A's subscriptions keeps everyone waiting
 * too, and this way the daemon is idle again when indexbench exits.
 *
 * ping: one PING/PONG, nothing printed; exit 0 once the broker answers
 * (index.sh waits for a fresh daemon with it).
 *
 * Output: one line of figures (-q: key=value). Exit 0 once the figures are
 * printed, whatever they are: this measures, it asserts no speed. Exit 1
 * when the broker answered ERR or an unexpected line, 3 on timeout (-t,
 * default 120 s for the whole run), 64 usage, 69 cannot connect.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EXIT_ERR         1
#define EXIT_TIMEOUT     3
#define EXIT_USAGE       64
#define EXIT_UNAVAILABLE 69

#define FNV_OFFSET 2166136261u
#define FNV_PRIME  16777619u

#define BLOCK_LEN          8     /* bytes per colliding block */
#define MAX_BITS           24    /* 2^24 names of 192 bytes at most */
#define FILL_CHUNK         65536 /* bytes of commands generated at a time */
#define READ_CHUNK         65536
#define MAX_READS_PER_WAKE 4 /* so A's replies never hide B's PONG for long */

static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/* One connection with its input and output buffers. */
struct conn {
	int fd;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_off, out_len, out_cap;
};

/* What A sends in a phase: a generator of lines, and the replies seen. */
struct feed {
	const char *verb;                                           /* "SUB" or "UNSUB" */
	size_t total;                                               /* lines to send */
	size_t sent;                                                /* lines generated so far */
	size_t acked;                                               /* OKs received */
	size_t (*name)(size_t k, char *buf, size_t cap, void *arg); /* k-th filter */
	void *arg;
};

/* B's pinger: the round trips of one phase. */
struct pinger {
	uint64_t seq;
	bool outstanding;
	double sent_at;
	double interval; /* seconds between sends */
	double *rtt;     /* seconds */
	size_t n, cap;
};

/* Figures of one measured phase. */
struct result {
	double secs;
	double ping_max_ms, ping_p99_ms, ping_p50_ms;
	size_t pings;
	double close_ms; /* A closed -> B's next PONG */
};

static struct {
	const char *socket;
	bool quiet;
	double deadline; /* monotonic seconds */
	double interval;
	uint64_t seed;
} opt;

static uint64_t rng_state;

/* Prints a message prefixed by the program name and exits with status. */
static void __attribute__((noreturn, format(printf, 2, 3))) die(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("indexbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/* Seconds on the monotonic clock. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Says "timeout" (stdout, as the result line) and where, then exits 3. */
static void __attribute__((noreturn)) timeout(const char *where, size_t done, size_t total)
{
	if (opt.quiet)
		printf("status=timeout phase=%s done=%zu total=%zu\n", where, done, total);
	else
		printf("timeout: %s, %zu of %zu done\n", where, done, total);
	fflush(stdout);
	exit(EXIT_TIMEOUT);
}

/* splitmix64: the next pseudo-random number of the run. */
static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* malloc or die. */
static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		die(EXIT_ERR, "out of memory (%zu bytes)", n);
	return p;
}

/* realloc or die. */
static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		die(EXIT_ERR, "out of memory (%zu bytes)", n);
	return p;
}

/* FNV-1a, 32 bits, continued from state h over s[0..len). */
static uint32_t
fnv1a(uint32_t h, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
	return h;
}

/* Connects to the broker's socket; the descriptor is non-blocking. */
static void
conn_open(struct conn *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(opt.socket) >= sizeof sa.sun_path)
		die(EXIT_USAGE, "socket path %s is longer than %zu bytes", opt.socket,
		    sizeof sa.sun_path - 1);
	strcpy(sa.sun_path, opt.socket);
	memset(c, 0, sizeof *c);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die(EXIT_UNAVAILABLE, "socket: %s", strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die(EXIT_UNAVAILABLE, "cannot connect to %s: %s", opt.socket, strerror(errno));
	if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0)
		die(EXIT_ERR, "fcntl: %s", strerror(errno));
}

/* Closes a connection and frees its buffers. */
static void
conn_close(struct conn *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

/* Appends bytes to a connection's output buffer. */
static void
conn_queue(struct conn *c, const char *s, size_t len)
{
	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + len > c->out_cap) {
		if (c->out_off > 0) /* never on a buffer not made yet (UBSan) */
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
		if (c->out_len + len > c->out_cap) {
			c->out_cap = (c->out_len + len) * 2;
			c->out = xrealloc(c->out, c->out_cap);
		}
	}
	memcpy(c->out + c->out_len, s, len);
	c->out_len += len;
}

/* Bytes still to be written. */
static size_t
conn_pending(const struct conn *c)
{
	return c->out_len - c->out_off;
}

/* Writes what the socket takes now. */
static void
conn_flush(struct conn *c)
{
	while (conn_pending(c) > 0) {
		ssize_t n = write(c->fd, c->out + c->out_off, conn_pending(c));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0)
			die(EXIT_ERR, "write to %s: %s", opt.socket, strerror(errno));
		c->out_off += (size_t)n;
	}
}

/* Reads what has arrived, at most max_reads chunks; false if none. */
static bool
conn_read(struct conn *c, int max_reads)
{
	bool got = false;

	for (int r = 0; r < max_reads; r++) {
		ssize_t n;

		if (c->in_cap - c->in_len < READ_CHUNK) {
			c->in_cap = c->in_len + READ_CHUNK * 2;
			c->in = xrealloc(c->in, c->in_cap);
		}
		n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			die(EXIT_ERR, "read from %s: %s", opt.socket, strerror(errno));
		if (n == 0)
			die(EXIT_ERR, "the broker closed the connection");
		c->in_len += (size_t)n;
		got = true;
	}
	return got;
}

/* Calls fn on each complete line of c's input (without '\n'), then drops
 * them from the buffer. */
static void
conn_lines(struct conn *c, void (*fn)(const char *line, size_t len, void *arg), void *arg)
{
	size_t off = 0;
	char *nl;

	while ((nl = memchr(c->in + off, '\n', c->in_len - off)) != NULL) {
		size_t len = (size_t)(nl - (c->in + off));

		if (len > 0 && c->in[off + len - 1] == '\r')
			len--;
		fn(c->in + off, len, arg);
		off = (size_t)(nl - c->in) + 1;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

/* One reply to A's commands: counts OKs, gives up on anything else. */
static void
feed_line(const char *line, size_t len, void *arg)
{
	struct feed *f = arg;

	if (len == 2 && memcmp(line, "OK", 2) == 0) {
		f->acked++;
		return;
	}
	die(EXIT_ERR, "after %zu OKs to %s, the broker answered: %.*s%s", f->acked, f->verb,
	    (int)(len > 200 ? 200 : len), line,
	    len >= 3 && memcmp(line, "ERR", 3) == 0 ? " (is max_subscriptions big enough?)" : "");
}

/* Queues A's next commands while less than a chunk is waiting. */
static void
feed_fill(struct feed *f, struct conn *a)
{
	char line[512];
	size_t vlen = strlen(f->verb);

	memcpy(line, f->verb, vlen);
	line[vlen] = ' ';
	while (f->sent < f->total && conn_pending(a) < FILL_CHUNK) {
		size_t n = f->name(f->sent, line + vlen + 1, sizeof line - vlen - 2, f->arg);

		line[vlen + 1 + n] = '\n';
		conn_queue(a, line, vlen + 2 + n);
		f->sent++;
	}
}

/* The PONG a pinger waits for: records the round trip. */
static void
ping_line(const char *line, size_t len, void *arg)
{
	struct pinger *p = arg;
	char want[40];
	int n = snprintf(want, sizeof want, "PONG %" PRIu64, p->seq);

	if (!p->outstanding || len != (size_t)n || memcmp(line, want, len) != 0)
		die(EXIT_ERR, "idle client expected \"%s\", got: %.*s", want,
		    (int)(len > 200 ? 200 : len), line);
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 1024;
		p->rtt = xrealloc(p->rtt, p->cap * sizeof *p->rtt);
	}
	p->rtt[p->n++] = now() - p->sent_at;
	p->outstanding = false;
}

/* Sends the next PING if none is outstanding and it is time. */
static void
ping_maybe_send(struct pinger *p, struct conn *b, double t)
{
	char line[40];
	int n;

	if (p->outstanding || t < p->sent_at + p->interval)
		return;
	n = snprintf(line, sizeof line, "PING %" PRIu64 "\n", ++p->seq);
	conn_queue(b, line, (size_t)n);
	p->outstanding = true;
	p->sent_at = now();
	conn_flush(b);
}

/* Orders doubles for qsort. */
static int
cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

/* The q-quantile (0..1) of sorted v[0..n), nearest rank. */
static double
quantile(const double *v, size_t n, double q)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)(q * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	return v[(k > n ? n : k) - 1];
}

/*
 * Runs one phase: A sends f's lines and reads the OKs; if p is not NULL,
 * B pings meanwhile, and the phase ends once the last PONG is in too.
 * Returns the phase's duration in seconds.
 */
static double
run_phase(const char *name, struct conn *a, struct feed *f, struct conn *b, struct pinger *p)
{
	double start = now(), t;

	if (p != NULL)
		ping_maybe_send(p, b, start);
	for (;;) {
		struct pollfd pfd[2];
		int nfd = 0, timeout_ms;
		double wait;

		feed_fill(f, a);
		conn_flush(a);
		t = now();
		if (f->acked == f->total && (p == NULL || !p->outstanding))
			return t - start;
		if (t >= opt.deadline)
			timeout(name, f->acked, f->total);
		if (p != NULL && f->acked < f->total)
			ping_maybe_send(p, b, t);
		wait = opt.deadline - t;
		if (p != NULL && !p->outstanding && f->acked < f->total &&
		    p->sent_at + p->interval - t < wait)
			wait = p->sent_at + p->interval - t;
		timeout_ms = wait <= 0 ? 0 : (int)(wait * 1000) + 1;
		pfd[nfd++] = (struct pollfd){ a->fd, POLLIN | (conn_pending(a) ? POLLOUT : 0), 0 };
		if (p != NULL)
			pfd[nfd++] =
			    (struct pollfd){ b->fd, POLLIN | (conn_pending(b) ? POLLOUT : 0), 0 };
		if (poll(pfd, (nfds_t)nfd, timeout_ms) < 0) {
			if (errno == EINTR)
				continue;
			die(EXIT_ERR, "poll: %s", strerror(errno));
		}
		/* B first, so its PONG is stamped before A's replies are parsed. */
		if (p != NULL && pfd[1].revents) {
			conn_flush(b);
			if (conn_read(b, 1))
				conn_lines(b, ping_line, p);
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (conn_read(a, MAX_READS_PER_WAKE))
				conn_lines(a, feed_line, f);
		}
	}
}

/* The answer to one command sent by request(). */
struct reply {
	bool done;
	long long subs; /* STATS: subscriptions=, or -1 */
};

/* The line after "PING hello": must be its PONG. */
static void
hello_line(const char *line, size_t len, void *arg)
{
	struct reply *r = arg;

	if (len != 10 || memcmp(line, "PONG hello", 10) != 0)
		die(EXIT_ERR, "expected \"PONG hello\", got: %.*s", (int)(len > 200 ? 200 : len),
		    line);
	r->done = true;
}

/* The line after "STATS": takes its subscriptions= counter. */
static void
stats_line(const char *line, size_t len, void *arg)
{
	struct reply *r = arg;
	char buf[1024];
	const char *v;

	if (len >= sizeof buf || len < 6 || memcmp(line, "STATS ", 6) != 0)
		die(EXIT_ERR, "expected a STATS line, got: %.*s", (int)(len > 200 ? 200 : len),
		    line);
	memcpy(buf, line, len);
	buf[len] = '\0';
	v = strstr(buf, " subscriptions=");
	if (v == NULL)
		die(EXIT_ERR, "no subscriptions= in: %s", buf);
	r->subs = strtoll(v + 15, NULL, 10);
	r->done = true;
}

/* Sends cmd (a whole line) on c and waits, bounded, for fn to take the
 * answer. */
static void
request(struct conn *c, const char *cmd, void (*fn)(const char *, size_t, void *), struct reply *r,
        const char *where)
{
	r->done = false;
	r->subs = -1;
	conn_queue(c, cmd, strlen(cmd));
	while (!r->done) {
		struct pollfd pfd = { c->fd, POLLIN | (conn_pending(c) ? POLLOUT : 0), 0 };
		double wait = opt.deadline - now();

		if (wait <= 0)
			timeout(where, 0, 1);
		conn_flush(c);
		if (poll(&pfd, 1, (int)(wait * 1000) + 1) < 0 && errno != EINTR)
			die(EXIT_ERR, "poll: %s", strerror(errno));
		if (conn_read(c, 1))
			conn_lines(c, fn, r);
	}
}

/* One PING/PONG on c: the broker is up and has done all c's work before. */
static void
barrier(struct conn *c, const char *where)
{
	struct reply r;

	request(c, "PING hello\n", hello_line, &r, where);
}

/* The broker's subscriptions counter, asked on c. */
static long long
stats_subs(struct conn *c, const char *where)
{
	struct reply r;

	request(c, "STATS\n", stats_line, &r, where);
	return r.subs;
}

/* Sorts a pinger's round trips into a phase's result. */
static void
summarize(struct pinger *p, double secs, struct result *r)
{
	qsort(p->rtt, p->n, sizeof *p->rtt, cmp_double);
	r->secs = secs;
	r->pings = p->n;
	r->ping_max_ms = p->n ? p->rtt[p->n - 1] * 1e3 : 0;
	r->ping_p99_ms = quantile(p->rtt, p->n, 0.99) * 1e3;
	r->ping_p50_ms = quantile(p->rtt, p->n, 0.50) * 1e3;
	p->n = 0;
}

/* Closes A, then asks STATS on B (every interval) until the broker's
 * subscriptions counter is back to base: how long the broker takes to drop
 * A's subscriptions, during which nobody is served. In milliseconds. */
static double
close_and_time(struct conn *a, struct conn *b, long long base)
{
	double t = now();
	struct timespec gap = { 0, (long)(opt.interval * 1e9) };

	conn_close(a);
	while (stats_subs(b, "after close") > base)
		nanosleep(&gap, NULL);
	return (now() - t) * 1e3;
}

/* ---- unsub ---- */

/* The k-th filter of the unsub set: three shapes, all distinct. */
static size_t
unsub_filter(size_t i, char *buf, size_t cap)
{
	int n;

	switch (i % 3) {
	case 0:
		n = snprintf(buf, cap, "bench/idx/%zu", i);
		break;
	case 1:
		n = snprintf(buf, cap, "bench/idx/%zu/%zu", i % 1000, i);
		break;
	default:
		n = snprintf(buf, cap, "bench/idx/+/%zu", i);
		break;
	}
	return (size_t)n;
}

/* Setup feed: filter k. */
static size_t
unsub_sub_name(size_t k, char *buf, size_t cap, void *arg)
{
	(void)arg;
	return unsub_filter(k, buf, cap);
}

/* Measured feed: the k-th filter of the shuffled list of those to drop. */
static size_t
unsub_unsub_name(size_t k, char *buf, size_t cap, void *arg)
{
	const size_t *order = arg;

	return unsub_filter(order[k], buf, cap);
}

/* The unsub scenario; prints its line. */
static void
scenario_unsub(size_t n, size_t u)
{
	struct conn a, b;
	struct pinger p = { .interval = opt.interval };
	struct feed sub = { "SUB", n, 0, 0, unsub_sub_name, NULL };
	struct feed unsub = { "UNSUB", u, 0, 0, unsub_unsub_name, NULL };
	size_t *order = xmalloc(u * sizeof *order), stride = n / u;
	double setup;
	long long base;
	struct result r;

	for (size_t k = 0; k < u; k++)
		order[k] = k * stride + stride / 2;
	for (size_t k = u; k > 1; k--) {
		size_t j = (size_t)(rng() % k), tmp = order[k - 1];

		order[k - 1] = order[j];
		order[j] = tmp;
	}
	unsub.arg = order;
	conn_open(&a);
	conn_open(&b);
	barrier(&a, "connect");
	barrier(&b, "connect");
	base = stats_subs(&b, "connect");
	setup = run_phase("setup", &a, &sub, NULL, NULL);
	barrier(&b, "after setup");
	summarize(&p, run_phase("unsub", &a, &unsub, &b, &p), &r);
	r.close_ms = close_and_time(&a, &b, base);
	if (opt.quiet)
		printf("scenario=unsub filters=%zu unsubs=%zu setup_s=%.3f unsub_s=%.3f "
		       "ping_max_ms=%.3f ping_p99_ms=%.3f ping_p50_ms=%.3f pings=%zu "
		       "close_ms=%.3f interval_us=%.0f status=ok\n",
		       n, u, setup, r.secs, r.ping_max_ms, r.ping_p99_ms, r.ping_p50_ms, r.pings,
		       r.close_ms, opt.interval * 1e6);
	else
		printf("unsub: %zu filters subscribed in %.3f s; %zu UNSUBs took %.3f s; "
		       "idle client's PING: max %.3f ms, p99 %.3f ms, p50 %.3f ms over %zu pings; "
		       "its PING after the client left: %.3f ms\n",
		       n, setup, u, r.secs, r.ping_max_ms, r.ping_p99_ms, r.ping_p50_ms, r.pings,
		       r.close_ms);
	conn_close(&b);
	free(order);
	free(p.rtt);
}

/* ---- collide ---- */

/* The names of one collide run: count names of len bytes, back to back. */
struct names {
	char *buf;
	size_t count, len;
};

/* A random alphanumeric block of BLOCK_LEN bytes. */
static void
random_block(char *out)
{
	uint64_t r = rng();

	for (int i = 0; i < BLOCK_LEN; i++) {
		out[i] = alnum[r % (sizeof alnum - 1)];
		r /= sizeof alnum - 1;
		if (i == 4)
			r = rng();
	}
}

/*
 * Birthday search: two different blocks that take FNV-1a from state h to
 * one state, written to x and y. Returns that state.
 */
static uint32_t
find_pair(uint32_t h, char *x, char *y)
{
	enum { BITS = 20 };
	size_t cap = (size_t)1 << BITS, max = cap / 2;
	uint32_t *hash = xmalloc(cap * sizeof *hash);
	uint32_t *slot = xmalloc(cap * sizeof *slot); /* 1 + index in blocks; 0 empty */
	char *blocks = xmalloc(max * BLOCK_LEN);

	memset(slot, 0, cap * sizeof *slot);
	for (size_t k = 0; k < max; k++) {
		char *blk = blocks + k * BLOCK_LEN;
		uint32_t v;
		size_t i;

		random_block(blk);
		v = fnv1a(h, blk, BLOCK_LEN);
		for (i = (v * 2654435761u) >> (32 - BITS); slot[i] != 0; i = (i + 1) & (cap - 1)) {
			const char *other = blocks + (size_t)(slot[i] - 1) * BLOCK_LEN;

			if (hash[i] == v && memcmp(other, blk, BLOCK_LEN) != 0) {
				memcpy(x, other, BLOCK_LEN);
				memcpy(y, blk, BLOCK_LEN);
				free(hash);
				free(slot);
				free(blocks);
				return v;
			}
		}
		hash[i] = v;
		slot[i] = (uint32_t)k + 1;
	}
	die(EXIT_ERR, "no FNV-1a collision among %zu blocks (should not happen)", max);
}

/* Builds count names (a power of two, 2^bits) with one FNV-1a hash, and
 * checks each; returns that hash. */
static uint32_t
names_collide(struct names *nm, unsigned bits)
{
	char pairs[MAX_BITS][2][BLOCK_LEN];
	uint32_t h = FNV_OFFSET;

	for (unsigned k = 0; k < bits; k++)
		h = find_pair(h, pairs[k][0], pairs[k][1]);
	nm->count = (size_t)1 << bits;
	nm->len = (size_t)bits * BLOCK_LEN;
	nm->buf = xmalloc(nm->count * nm->len);
	for (size_t i = 0; i < nm->count; i++) {
		char *s = nm->buf + i * nm->len;

		for (unsigned k = 0; k < bits; k++)
			memcpy(s + k * BLOCK_LEN, pairs[k][(i >> k) & 1], BLOCK_LEN);
		if (fnv1a(FNV_OFFSET, s, nm->len) != h)
			die(EXIT_ERR, "name %zu does not have the common hash (bug)", i);
	}
	return h;
}

/* Builds count random alphanumeric names of len bytes. */
static void
names_random(struct names *nm, size_t count, size_t len)
{
	nm->count = count;
	nm->len = len;
	nm->buf = xmalloc(count * len);
	for (size_t i = 0; i < count * len; i++)
		nm->buf[i] = alnum[rng() % (sizeof alnum - 1)];
}

/* Feed of a collide run: name k. */
static size_t
collide_name(size_t k, char *buf, size_t cap, void *arg)
{
	const struct names *nm = arg;

	if (nm->len > cap)
		die(EXIT_ERR, "name of %zu bytes does not fit a line (bug)", nm->len);
	memcpy(buf, nm->buf + k * nm->len, nm->len);
	return nm->len;
}

/* One SUB phase over a fresh client A, B pinging; then A is closed and
 * B's next PING timed. */
static void
collide_run(struct names *nm, struct conn *b, struct result *r)
{
	struct conn a;
	struct pinger p = { .interval = opt.interval };
	struct feed sub = { "SUB", nm->count, 0, 0, collide_name, nm };
	long long base;

	conn_open(&a);
	barrier(&a, "connect");
	barrier(b, "before SUBs"); /* the broker is done with earlier work */
	base = stats_subs(b, "before SUBs");
	summarize(&p, run_phase("sub", &a, &sub, b, &p), r);
	r->close_ms = close_and_time(&a, b, base);
	free(p.rtt);
}

/* Prints one collide run's figures. */
static void
collide_print(const char *kind, size_t count, size_t len, const struct result *r)
{
	if (opt.quiet)
		printf("scenario=collide names=%s count=%zu len=%zu sub_s=%.3f ping_max_ms=%.3f "
		       "ping_p99_ms=%.3f ping_p50_ms=%.3f pings=%zu close_ms=%.3f interval_us=%.0f "
		       "status=ok\n",
		       kind, count, len, r->secs, r->ping_max_ms, r->ping_p99_ms, r->ping_p50_ms,
		       r->pings, r->close_ms, opt.interval * 1e6);
	else
		printf("collide (%s names): %zu SUBs of %zu-byte names took %.3f s; "
		       "idle client's PING: max %.3f ms, p99 %.3f ms, p50 %.3f ms over %zu pings; "
		       "its PING after the client left: %.3f ms\n",
		       kind, count, len, r->secs, r->ping_max_ms, r->ping_p99_ms, r->ping_p50_ms,
		       r->pings, r->close_ms);
	fflush(stdout); /* the next run may be long */
}

/* The collide scenario (mode: 'c' colliding, 'r' random, 'b' both). */
static void
scenario_collide(size_t n, int mode)
{
	unsigned bits = 0;
	struct names col = { 0 }, rnd = { 0 };
	struct result rc, rr;
	struct conn b;
	uint32_t h = 0;

	while (((size_t)1 << bits) < n)
		bits++;
	if (bits < 1 || bits > MAX_BITS || ((size_t)1 << bits) != n)
		die(EXIT_USAGE, "collide: -n must be a power of two from 2 to 2^%d", MAX_BITS);
	if (mode != 'r')
		h = names_collide(&col, bits);
	if (mode != 'c')
		names_random(&rnd, n, (size_t)bits * BLOCK_LEN);
	if (mode != 'r' && !opt.quiet)
		fprintf(stderr,
		        "indexbench: %zu names of %zu bytes, all with FNV-1a 0x%08" PRIx32
		        " (checked)\n",
		        col.count, col.len, h);
	conn_open(&b);
	barrier(&b, "connect");
	if (mode != 'c') {
		collide_run(&rnd, &b, &rr);
		collide_print("random", rnd.count, rnd.len, &rr);
	}
	if (mode != 'r') {
		collide_run(&col, &b, &rc);
		collide_print("colliding", col.count, col.len, &rc);
	}
	if (mode == 'b') {
		if (opt.quiet)
			printf("scenario=collide-ratio ratio=%.3f colliding_s=%.3f random_s=%.3f "
			       "fnv=0x%08" PRIx32 " status=ok\n",
			       rr.secs > 0 ? rc.secs / rr.secs : 0, rc.secs, rr.secs, h);
		else
			printf("collide: colliding/random = %.2f (%.3f s / %.3f s)\n",
			       rr.secs > 0 ? rc.secs / rr.secs : 0, rc.secs, rr.secs);
	}
	conn_close(&b);
	free(col.buf);
	free(rnd.buf);
}

/* ---- main ---- */

/* Prints the usage and exits with status. */
static void __attribute__((noreturn)) usage(int status)
{
	fprintf(status ? stderr : stdout,
	        "usage: indexbench [-s SOCKET] [-q] [-t SECONDS] [-i USEC] [-S SEED] unsub [-n N] "
	        "[-u U]\n"
	        "       indexbench [-s SOCKET] [-q] [-t SECONDS] [-i USEC] [-S SEED] collide [-n N]"
	        " [--random | --both]\n"
	        "       indexbench [-s SOCKET] [-t SECONDS] ping\n");
	exit(status);
}

/* A whole number from an option's argument, or a usage error. */
static unsigned long long
num_arg(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *s == '-')
		die(EXIT_USAGE, "%s: not a number: %s", what, s);
	return v;
}

/* Options, then the scenario. */
int
main(int argc, char **argv)
{
	const char *scenario = NULL;
	size_t n = 0, u = 10000;
	double limit = 120;
	int mode = 'c';

	signal(SIGPIPE, SIG_IGN); /* a closed socket is an error from write() */
	opt.socket = getenv("UDSBROKER_SOCKET");
	opt.interval = 1e-3;
	opt.seed = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = strcmp(a, "-s") == 0 || strcmp(a, "-t") == 0 || strcmp(a, "-i") == 0 ||
		             strcmp(a, "-S") == 0 || strcmp(a, "-n") == 0 || strcmp(a, "-u") == 0;

		if (takes && v == NULL)
			die(EXIT_USAGE, "option %s needs an argument", a);
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			usage(0);
		else if (strcmp(a, "-q") == 0)
			opt.quiet = true;
		else if (strcmp(a, "--random") == 0)
			mode = 'r';
		else if (strcmp(a, "--both") == 0)
			mode = 'b';
		else if (strcmp(a, "-s") == 0)
			opt.socket = v;
		else if (strcmp(a, "-t") == 0)
			limit = (double)num_arg(v, "-t");
		else if (strcmp(a, "-i") == 0)
			opt.interval = (double)num_arg(v, "-i") / 1e6;
		else if (strcmp(a, "-S") == 0)
			opt.seed = num_arg(v, "-S");
		else if (strcmp(a, "-n") == 0)
			n = (size_t)num_arg(v, "-n");
		else if (strcmp(a, "-u") == 0)
			u = (size_t)num_arg(v, "-u");
		else if (a[0] == '-')
			die(EXIT_USAGE, "unknown option %s", a);
		else if (scenario == NULL)
			scenario = a;
		else
			usage(EXIT_USAGE);
		if (takes)
			i++;
	}
	if (scenario == NULL)
		usage(EXIT_USAGE);
	if (opt.socket == NULL || *opt.socket == '\0')
		die(EXIT_USAGE, "no socket: give -s PATH or set UDSBROKER_SOCKET");
	rng_state = opt.seed;
	opt.deadline = now() + limit;
	if (strcmp(scenario, "unsub") == 0) {
		if (n == 0)
			n = 500000;
		if (u == 0 || u > n)
			die(EXIT_USAGE, "unsub: -u must be 1..N");
		scenario_unsub(n, u);
	} else if (strcmp(scenario, "collide") == 0) {
		scenario_collide(n ? n : 131072, mode);
	} else if (strcmp(scenario, "ping") == 0) {
		struct conn c;

		conn_open(&c);
		barrier(&c, "ping");
		conn_close(&c);
	} else {
		die(EXIT_USAGE, "unknown scenario %s (unsub or collide)", scenario);
	}
	return 0;
}
