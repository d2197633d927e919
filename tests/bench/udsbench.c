/*
 * udsbench — load generator and correctness checker for udsbrokerd, with
 * the same scenarios against the reference relay (relay.c) and Redis, so
 * one tool gives comparable numbers for all three.
 *
 * One process, one thread, epoll, non-blocking sockets. Single-threaded on
 * purpose: the brokers measured are single-threaded too, so on a two-core
 * machine one core is the broker's and one is ours; a second udsbench thread
 * would only take time from the broker. Whether udsbench keeps up is shown in
 * every result (bench_cpu=100 means it may be the bottleneck).
 *
 * Every payload is S bytes: "PPPPPPPP SSSSSSSSSSSSSSSS TTTTTTTTTTTTTTTT xxx…c"
 * (publisher, sequence number, send time in ns since udsbench started,
 * padding, a check letter derived from the sequence). Fixed-width decimal
 * fields, read 8 digits at a time, keep the checking cheap enough that
 * udsbench can follow the relay. Each subscriber checks that every
 * publisher's sequence advances by exactly one step; a gap is accepted only
 * when the broker announced it with DROPPED, anything else (unannounced
 * loss, duplicate, reorder, corruption, wrong topic) fails the run.
 *
 * Throughput scenarios are closed-loop: each publisher keeps at most W
 * messages in flight (published, not yet received by every subscriber), so
 * broker queues stay far below their limit and nothing is dropped by design.
 * The latency scenario is open-loop at a fixed rate.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "wire.h"

#define PAYLOAD_PUB     0       /* 8 digits: publisher */
#define PAYLOAD_SEQ     9       /* 16 digits: sequence number */
#define PAYLOAD_TS      26      /* 16 digits: send time, ns since start */
#define PAYLOAD_HDR     43      /* the three fields and their spaces */
#define PAYLOAD_MIN     (PAYLOAD_HDR + 1)
#define PAYLOAD_MAX     (16u * 1024 * 1024)
#define WINDOW_BUDGET   (512u * 1024) /* bytes in flight per subscriber queue, default */
#define WINDOW_MAX      4096u
#define IN_BIG          (256u * 1024) /* read buffer when there are few connections */
#define IN_SMALL        (4u * 1024)   /* ... and when there are thousands */
#define IN_MAX          (64u * 1024 * 1024)
#define OUT_BATCH       (128u * 1024) /* publisher output built before a write */
#define PROGRESS_NS     250000000ll
#define GRACE_NS        1000000000ll /* wait for DROPPED after the last message */
#define EXIT_FAIL       1
#define EXIT_OVERLOAD   3 /* open loop: the rate could not be kept */
#define OVERLOAD_NS     1000000000ll /* that far behind schedule is giving up */
#define EXIT_USAGE      64
#define EXIT_SETUP      69

enum scenario { SC_FANOUT, SC_FANIN, SC_TOPICS, SC_LATENCY, SC_IDLE, SC_SHARE, SC_REQREP };
static const char *const scenario_names[] = {"fanout", "fanin",	 "topics", "latency",
					     "idle",   "share", "reqrep"};

enum role { ROLE_SUB, ROLE_PUB, ROLE_TIMER, ROLE_PROBE, ROLE_REQ, ROLE_RESP };

/* One request of the reqrep scenario in flight: sent, waiting for its reply
 * and (uds) for the OK that names its reply topic. */
struct req_slot {
	bool busy, replied, named;
	uint64_t seq;
	char token[80]; /* the reply topic: from the OK, or from the reply itself */
	size_t token_len;
};

/* One connection to the target (or the latency timer). */
struct conn {
	enum role role;
	int fd;
	int id;
	bool pollout;
	bool paused; /* --stall: not reading for now */
	bool meta;   /* OPT meta on: deliveries carry a meta field */
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_off, out_len, out_cap;
	unsigned acks_pending;
	/* subscriber */
	int topic;
	uint64_t *expect; /* per publisher: next sequence number due */
	uint64_t got, want, announced, gaps;
	bool complete; /* everything owed received or announced dropped */
	bool seen_all; /* the last message of every publisher came */
	/* publisher */
	uint64_t next, acked, total;
	uint32_t *ring; /* receipts per in-flight sequence number */
	/* reqrep responder */
	uint64_t served;
};

/* Command line. */
struct opts {
	enum scenario sc;
	enum target target;
	const char *sock;
	const char *prefix;
	int subs, pubs, wild;
	uint64_t msgs;
	size_t size;
	uint64_t window;
	double rate;
	pid_t pid;
	double timeout;
	double wait_ready;
	unsigned stall_ms;
	bool tcp;              /* --listener tcp: sock is HOST:PORT */
	const char *pub_sock;  /* --pub-socket: where publishers connect (else sock) */
	bool pub_tcp;          /* --pub-listener tcp */
	bool pub_lines;        /* --pub-mode lines: plain lines to a lines listener */
	bool meta;             /* --meta: subscribers ask for delivery metadata */
	const char *group;     /* share / reqrep: the shared group's name */
	bool share_responders; /* reqrep: --responders share (else own topics) */
	bool csv, no_header, quiet;
};

/* Everything one run knows. */
struct bench {
	struct opts o;
	int ep;
	struct conn *subs, *pubs;
	struct conn timer, probe;
	int ntopics;
	char **topic;
	size_t *topic_len;
	char **pre; /* per topic: bytes before the payload */
	size_t *pre_len;
	char post[8];
	size_t post_len;
	size_t line_max;
	char *payload; /* template: padding and check letter filled per message */
	uint64_t stride;
	uint32_t receivers; /* subscribers per message */
	uint32_t ring_mask;
	bool open_loop;
	bool running;
	uint64_t acks_left;
	uint64_t subs_left; /* not complete */
	uint64_t subs_open; /* neither complete nor seen_all */
	int64_t grace_end;  /* when subs_open hit 0: wait for late DROPPED until then */
	int64_t last_delivery;
	int64_t stall_until; /* --stall: when subscriber 0 reads again */
	uint64_t published, deliveries, announced, gaps;
	struct hist lat;
	int64_t epoch; /* payload times count from here */
	int64_t t_start, t_end, late_max;
	int64_t last_change, last_progress;
	uint64_t last_count;
	bool progress;
	pid_t pid;
	/* what the meta of our own publishers' messages must start with */
	char meta_want[96];
	size_t meta_want_len;
	/* reqrep */
	struct conn req;
	struct req_slot *slot;
	uint64_t slot_mask, inflight;
	uint64_t *cmds; /* uds: the requester's commands awaiting OK, oldest first */
	uint64_t cmd_head, cmd_tail, cmd_cap;
	char inbox[64]; /* nats: the requester's reply subjects' prefix */
	size_t inbox_len;
};

#define CMD_UNSUB UINT64_MAX /* in cmds: an UNSUB, not a REQ's sequence number */

static struct bench *the_bench; /* for fail() */

/* Nanoseconds on CLOCK_MONOTONIC. */
static int64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Writes up to max bytes of s to f, escaping what is not printable. */
static void
put_escaped(FILE *f, const char *s, size_t n, size_t max)
{
	for (size_t i = 0; i < n && i < max; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			fputc(ch, f);
		else
			fprintf(f, "\\x%02x", ch);
	}
	if (n > max)
		fprintf(f, "...(%zu bytes)", n);
}

/* Clears the progress line, if one is shown. */
static void
progress_clear(void)
{
	if (the_bench != NULL && the_bench->progress)
		fputs("\r\033[K", stderr);
}

/* Reports a setup problem (not a broker correctness failure) and exits. */
__attribute__((format(printf, 1, 2), noreturn)) static void
die(const char *fmt, ...)
{
	progress_clear();
	va_list ap;
	va_start(ap, fmt);
	fputs("udsbench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(EXIT_SETUP);
}

static void report(struct bench *b, const char *status);
static void on_reqrep_frame(struct bench *b, struct conn *c, const struct frame *f, int64_t now);
static void req_pump(struct bench *b);

/* The target broke the contract: says how, loudly, prints the result line
 * marked failed, and exits 1. */
__attribute__((format(printf, 1, 2), noreturn)) static void
fail(const char *fmt, ...)
{
	progress_clear();
	va_list ap;
	va_start(ap, fmt);
	fputs("udsbench: FAIL: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	if (the_bench != NULL) {
		if (the_bench->t_end == 0)
			the_bench->t_end = now_ns();
		report(the_bench, "FAIL");
	}
	exit(EXIT_FAIL);
}

/* The open-loop rate cannot be kept (by the target, or by udsbench on a
 * busy machine): not a contract failure, but the latencies would be those of
 * an ever-growing queue. Says so, reports status=overload, exits 3. */
__attribute__((format(printf, 1, 2), noreturn)) static void
overload(const char *fmt, ...)
{
	progress_clear();
	va_list ap;
	va_start(ap, fmt);
	fputs("udsbench: OVERLOAD: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	the_bench->t_end = now_ns();
	report(the_bench, "overload");
	exit(EXIT_OVERLOAD);
}

/* Names a connection for messages. */
static const char *
role_name(const struct conn *c)
{
	switch (c->role) {
	case ROLE_PUB:
		return "publisher";
	case ROLE_SUB:
		return the_bench->o.sc == SC_SHARE ? "group member" : "subscriber";
	case ROLE_REQ:
		return "requester";
	case ROLE_RESP:
		return "responder";
	default:
		return "connection";
	}
}

/* Fails because of a frame: names the connection and shows the frame. */
__attribute__((noreturn)) static void
fail_frame(const struct conn *c, const char *why, const struct frame *f)
{
	progress_clear();
	fprintf(stderr, "udsbench: FAIL: %s %d: %s: \"", role_name(c), c->id, why);
	put_escaped(stderr, f->text, f->text_len, 200);
	fputs("\"\n", stderr);
	fail("unexpected frame from the %s", wire_target_name(the_bench->o.target));
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		die("out of memory (%zu bytes)", n);
	return p;
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (p == NULL)
		die("out of memory");
	return p;
}

static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL)
		die("out of memory (%zu bytes)", n);
	return p;
}

/* Writes v as exactly width decimal digits (zero-padded; wraps if larger). */
static void
put_dec(char *dst, int width, uint64_t v)
{
	static const char pairs[] = "00010203040506070809101112131415161718192021222324"
				    "25262728293031323334353637383940414243444546474849"
				    "50515253545556575859606162636465666768697071727374"
				    "75767778798081828384858687888990919293949596979899";
	int i = width;
	for (; i >= 2; i -= 2) { /* two digits per division: this is per message */
		memcpy(dst + i - 2, pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (i == 1)
		dst[0] = (char)('0' + v % 10);
}

/* memcmp for the short strings topics are, without a library call per
 * delivery. */
static bool
same_bytes(const char *a, const char *b, size_t n)
{
	uint64_t x, y;
	for (; n >= 8; n -= 8, a += 8, b += 8) {
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		if (x != y)
			return false;
	}
	while (n-- > 0)
		if (*a++ != *b++)
			return false;
	return true;
}

/* Reads exactly 8 decimal digits at once (SWAR, little-endian); false if
 * any byte is not a digit. */
static bool
get_dec8(const char *s, uint64_t *out)
{
	uint64_t v;
	memcpy(&v, s, 8);
	v -= 0x3030303030303030ull;
	if ((v | (v + 0x7676767676767676ull)) & 0x8080808080808080ull)
		return false;
	v = v * 10 + (v >> 8); /* pairs of digits */
	v = (((v & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
	     (((v >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >>
	    32;
	*out = v;
	return true;
}

/* Reads exactly 16 decimal digits. */
static bool
get_dec16(const char *s, uint64_t *out)
{
	uint64_t hi, lo;
	if (!get_dec8(s, &hi) || !get_dec8(s + 8, &lo))
		return false;
	*out = hi * 100000000 + lo;
	return true;
}

/* The check letter of sequence number seq. */
static char
check_letter(uint64_t seq)
{
	return (char)('a' + seq % 26);
}

/* Writes a message payload at d: the template, stamped with publisher
 * pub, sequence number seq, the send time now and seq's check letter. */
static void
put_payload(const struct bench *b, char *d, uint64_t pub, uint64_t seq, int64_t now)
{
	memcpy(d, b->payload, b->o.size);
	put_dec(d + PAYLOAD_PUB, 8, pub);
	put_dec(d + PAYLOAD_SEQ, 16, seq);
	put_dec(d + PAYLOAD_TS, 16, (uint64_t)(now - b->epoch));
	d[b->o.size - 1] = check_letter(seq);
}

/* Reads the stamps of a payload of b->o.size bytes at p; false if one
 * is not digits or the check letter is not seq's. */
static bool
get_payload(const struct bench *b, const char *p, uint64_t *pub, uint64_t *seq, uint64_t *ts)
{
	return get_dec8(p + PAYLOAD_PUB, pub) && get_dec16(p + PAYLOAD_SEQ, seq) &&
	       get_dec16(p + PAYLOAD_TS, ts) && p[b->o.size - 1] == check_letter(*seq);
}

/* Raises RLIMIT_NOFILE to fit need descriptors (the hard limit too, which
 * root may do). */
static void
raise_nofile(uint64_t need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max < need) {
		struct rlimit up = {need, need};
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < need)
		die("need %" PRIu64 " file descriptors, the hard limit is %llu (ulimit -Hn)", need,
		    (unsigned long long)rl.rlim_max);
}

/* Resolves HOST:PORT (numeric or a name; [v6] in brackets). */
static struct addrinfo *
tcp_resolve(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	if (colon == NULL || colon[1] == '\0')
		die("not HOST:PORT: %s", addr);
	char host[256];
	size_t hl = (size_t)(colon - addr);
	if (hl > 1 && addr[0] == '[' && addr[hl - 1] == ']')
		addr++, hl -= 2;
	if (hl == 0 || hl >= sizeof(host))
		die("not HOST:PORT: %s", addr);
	memcpy(host, addr, hl);
	host[hl] = '\0';
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	int err = getaddrinfo(host, colon + 1, &hints, &ai);
	if (err != 0)
		die("cannot resolve %s: %s", addr, gai_strerror(err));
	return ai;
}

/* Opens a blocking connection to addr (a Unix socket path, or HOST:PORT
 * when tcp), then makes it non-blocking; TCP connections get TCP_NODELAY,
 * as every request/reply client sets it. The first connection waits up to
 * --wait-ready for the socket to appear. */
static int
connect_to(struct bench *b, const char *addr, bool tcp)
{
	static bool first = true;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct addrinfo *ai = NULL;
	if (tcp) {
		ai = tcp_resolve(addr);
	} else {
		if (strlen(addr) >= sizeof(sun.sun_path))
			die("socket path longer than %zu bytes: %s", sizeof(sun.sun_path) - 1, addr);
		strcpy(sun.sun_path, addr);
	}
	int64_t give_up = now_ns() + (int64_t)(b->o.wait_ready * 1e9);
	for (;;) {
		int fd = socket(tcp ? ai->ai_family : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket: %s", strerror(errno));
		int r = tcp ? connect(fd, ai->ai_addr, ai->ai_addrlen)
			    : connect(fd, (struct sockaddr *)&sun, sizeof(sun));
		if (r == 0) {
			int fl = fcntl(fd, F_GETFL), one = 1;
			if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
				die("cannot make a socket non-blocking: %s", strerror(errno));
			if (tcp && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
				die("TCP_NODELAY: %s", strerror(errno));
			first = false;
			if (ai != NULL)
				freeaddrinfo(ai);
			return fd;
		}
		int err = errno;
		close(fd);
		if (err == EINTR)
			continue;
		if (!first || (err != ENOENT && err != ECONNREFUSED) || now_ns() > give_up)
			die("cannot connect to %s: %s", addr, strerror(err));
		struct timespec pause = {0, 10000000}; /* bounded start-up wait, not a test sleep */
		nanosleep(&pause, NULL);
	}
}

/* A connection to the target's main address (-s, --listener). */
static int
connect_target(struct bench *b)
{
	return connect_to(b, b->o.sock, b->o.tcp);
}

/* A publisher's connection: --pub-socket if given, else the main address. */
static int
connect_pub(struct bench *b)
{
	if (b->o.pub_sock == NULL)
		return connect_target(b);
	return connect_to(b, b->o.pub_sock, b->o.pub_tcp);
}

/* Registers c with epoll. */
static void
conn_add(struct bench *b, struct conn *c, enum role role, int id, int fd)
{
	c->role = role;
	c->id = id;
	c->fd = fd;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	if (epoll_ctl(b->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

/* Tells epoll what c waits for: input unless paused, output when pending. */
static void
conn_events(struct bench *b, struct conn *c)
{
	struct epoll_event ev = {.events = (c->paused ? 0 : EPOLLIN) | (c->pollout ? EPOLLOUT : 0),
				 .data.ptr = c};
	if (epoll_ctl(b->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

/* Asks epoll to report (or stop reporting) when c can be written. */
static void
conn_want_out(struct bench *b, struct conn *c, bool on)
{
	if (c->pollout == on)
		return;
	c->pollout = on;
	conn_events(b, c);
}

/* Makes room for n more bytes of output. */
static void
conn_reserve(struct conn *c, size_t n)
{
	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + n <= c->out_cap)
		return;
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
		if (c->out_len + n <= c->out_cap)
			return;
	}
	size_t cap = c->out_cap ? c->out_cap : 256;
	while (cap < c->out_len + n)
		cap *= 2;
	c->out = xrealloc(c->out, cap);
	c->out_cap = cap;
}

/* Queues n bytes on c (written by conn_flush). */
static void
conn_queue(struct conn *c, const char *s, size_t n)
{
	conn_reserve(c, n);
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
}

/* Writes c's pending output. Returns true when all of it went out. */
static bool
conn_flush(struct bench *b, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				conn_want_out(b, c, true);
				return false;
			}
			fail("%s %d: write: %s (the %s closed the connection)", role_name(c), c->id,
			     strerror(errno), wire_target_name(b->o.target));
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	conn_want_out(b, c, false);
	return true;
}

/* Counts one receipt of publisher pub's message seq and slides its window
 * once every subscriber has it. */
static void
ring_ack(struct bench *b, uint32_t pub, uint64_t seq)
{
	struct conn *p = &b->pubs[pub];
	p->ring[seq & b->ring_mask]++;
	if (seq != p->acked)
		return;
	while (p->acked < p->next && p->ring[p->acked & b->ring_mask] >= b->receivers) {
		p->ring[p->acked & b->ring_mask] = 0;
		p->acked++;
	}
}

/* Marks a subscriber complete once everything owed to it is accounted for,
 * and notes when it has seen the last message of every publisher (after
 * which only a DROPPED notice can still come). */
static void
sub_progress(struct bench *b, struct conn *c, int64_t now, bool maybe_seen_all)
{
	if (maybe_seen_all && !c->seen_all && !c->complete) {
		bool all = true;
		for (int p = 0; p < b->o.pubs && all; p++)
			all = c->expect[p] >= b->pubs[p].total;
		if (all) {
			c->seen_all = true;
			if (--b->subs_open == 0)
				b->grace_end = now + GRACE_NS;
		}
	}
	if (c->complete || c->got + c->announced < c->want)
		return;
	c->complete = true;
	if (!c->seen_all && --b->subs_open == 0)
		b->grace_end = now + GRACE_NS;
	if (--b->subs_left == 0)
		b->t_end = now;
}

/* Does a delivery's meta say what the broker knows of our publishers?
 * (uid, gid, pid of this process when they connect over a Unix socket, then
 * via=; only via= over TCP.) */
static bool
meta_ok(const struct bench *b, const struct frame *f)
{
	return f->meta_len > b->meta_want_len &&
	       same_bytes(f->meta, b->meta_want, b->meta_want_len);
}

/* One delivery to member c of the shared group: each message must reach
 * exactly one member, each member gets its share in order. */
static void
deliver_shared(struct bench *b, struct conn *c, uint32_t pub, uint64_t seq, uint64_t ts,
	       int64_t now)
{
	struct conn *p = &b->pubs[pub];
	if (seq < c->expect[pub])
		fail("group member %d: publisher %" PRIu32 " seq %" PRIu64 " arrived after seq %" PRIu64
		     " (a member's share must come in order)",
		     c->id, pub, seq, c->expect[pub] - 1);
	if (seq < p->acked || p->ring[seq & b->ring_mask] != 0)
		fail("group member %d: publisher %" PRIu32 " seq %" PRIu64
		     " was already delivered to another member (a shared group gets each "
		     "message once)",
		     c->id, pub, seq);
	c->expect[pub] = seq + 1;
	c->got++;
	b->deliveries++;
	b->last_delivery = now;
	int64_t sent = b->epoch + (int64_t)ts;
	hist_add(&b->lat, now > sent ? (uint64_t)(now - sent) : 0);
	ring_ack(b, pub, seq);
	if (b->deliveries == b->o.msgs) {
		b->subs_left = b->subs_open = 0;
		b->t_end = now;
	}
}

/* Checks one delivery to subscriber c and records its latency. */
static void
deliver(struct bench *b, struct conn *c, const struct frame *f, int64_t now)
{
	if (f->topic_len != b->topic_len[c->topic] ||
	    !same_bytes(f->topic, b->topic[c->topic], f->topic_len))
		fail_frame(c, "delivery on a topic it did not subscribe to", f);
	if (c->meta && !meta_ok(b, f))
		fail_frame(c, "delivery without the meta its publisher's credentials make", f);
	if (f->payload_len != b->o.size)
		fail_frame(c, "payload of the wrong length (truncated or merged)", f);
	const char *p = f->payload;
	uint64_t pub, seq, ts;
	if (!get_payload(b, p, &pub, &seq, &ts) || pub >= (uint64_t)b->o.pubs)
		fail_frame(c, "corrupt payload", f);
	if (seq >= b->pubs[pub].next)
		fail("subscriber %d: got seq %" PRIu64 " of publisher %" PRIu64
		     " which was never published (next is %" PRIu64 ")",
		     c->id, seq, pub, b->pubs[pub].next);
	if (b->o.sc == SC_SHARE) {
		deliver_shared(b, c, (uint32_t)pub, seq, ts, now);
		return;
	}

	uint64_t want = c->expect[pub];
	if (seq < want)
		fail("subscriber %d: publisher %" PRIu64 " seq %" PRIu64 " arrived after seq %" PRIu64
		     " (%s)",
		     c->id, pub, seq, want - b->stride,
		     seq + b->stride == want ? "duplicate" : "out of order");
	if (seq != want) {
		if ((seq - want) % b->stride != 0)
			fail("subscriber %d: publisher %" PRIu64 " seq %" PRIu64
			     " is not one of this topic's messages",
			     c->id, pub, seq);
		uint64_t missing = (seq - want) / b->stride;
		c->gaps += missing;
		b->gaps += missing;
		if (!b->open_loop)
			for (uint64_t s = want; s < seq; s += b->stride)
				ring_ack(b, (uint32_t)pub, s);
	}
	c->expect[pub] = seq + b->stride;
	c->got++;
	b->deliveries++;
	b->last_delivery = now;
	if (b->o.stall_ms > 0 && c->id == 0 && b->stall_until == 0) {
		/* --stall: subscriber 0 stops reading, as a slow consumer would. */
		b->stall_until = now + (int64_t)b->o.stall_ms * 1000000;
		c->paused = true;
		conn_events(b, c);
	}
	int64_t sent = b->epoch + (int64_t)ts;
	hist_add(&b->lat, now > sent ? (uint64_t)(now - sent) : 0);
	if (!b->open_loop)
		ring_ack(b, (uint32_t)pub, seq);
	sub_progress(b, c, now, c->expect[pub] >= b->pubs[pub].total);
}

/* Acts on one frame received on c. */
static void
on_frame(struct bench *b, struct conn *c, const struct frame *f, int64_t now)
{
	switch (f->kind) {
	case FRAME_MSG:
		if (c->role != ROLE_SUB)
			fail_frame(c, "delivery on a connection that subscribed to nothing", f);
		if (!b->running)
			fail_frame(c, "delivery before anything was published", f);
		deliver(b, c, f, now);
		return;
	case FRAME_ACK:
		if (c->acks_pending == 0)
			fail_frame(c, "acknowledgement of nothing", f);
		c->acks_pending--;
		b->acks_left--;
		return;
	case FRAME_DROPPED:
		if (c->role != ROLE_SUB)
			fail_frame(c, "DROPPED on a connection that subscribed to nothing", f);
		if (b->o.sc == SC_SHARE)
			/* Which messages is not said, so the window cannot slide: the
			 * closed loop keeps every queue far below the limit anyway. */
			fail_frame(c, "the broker dropped for a group member though no queue can be "
				      "near queue_limit (closed loop)",
				   f);
		c->announced += f->n;
		b->announced += f->n;
		sub_progress(b, c, now, false);
		return;
	case FRAME_INT:
		/* Redis answers PUBLISH with the number of receivers: check it. */
		if (c->role != ROLE_PUB)
			fail_frame(c, "integer reply to nothing", f);
		if (f->n != b->receivers)
			fail_frame(c, "PUBLISH reached the wrong number of subscribers", f);
		return;
	case FRAME_PONG:
	case FRAME_INFO:
		return;
	case FRAME_PING:
	case FRAME_ERR:
		fail_frame(c, "error reply", f);
	case FRAME_BYE:
		fail_frame(c, "the broker closed the session", f);
	case FRAME_OTHER:
		break;
	}
	fail_frame(c, "unexpected frame", f);
}

/* Reads what arrived on c and handles every complete frame. */
static void
conn_read(struct bench *b, struct conn *c, size_t first_cap)
{
	if (c->in_len == c->in_cap) {
		size_t cap = c->in_cap ? c->in_cap * 2 : first_cap;
		if (cap > IN_MAX)
			fail("%s %d: a frame longer than %u bytes", role_name(c), c->id, IN_MAX);
		c->in = xrealloc(c->in, cap);
		c->in_cap = cap;
	}
	ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		fail("%s %d: read: %s", role_name(c), c->id, strerror(errno));
	}
	if (n == 0)
		fail("%s %d: the %s closed the connection", role_name(c), c->id,
		     wire_target_name(b->o.target));
	int64_t now = now_ns();
	c->in_len += (size_t)n;
	size_t off = 0;
	bool rr = c->role == ROLE_REQ || c->role == ROLE_RESP;
	while (off < c->in_len) {
		struct frame f;
		long used = wire_parse(b->o.target, c->meta, c->in + off, c->in_len - off, &f);
		if (used == 0)
			break;
		if (used < 0) {
			struct frame raw = {.text = c->in + off, .text_len = c->in_len - off};
			fail_frame(c, "bad framing", &raw);
		}
		if (rr)
			on_reqrep_frame(b, c, &f, now);
		else
			on_frame(b, c, &f, now);
		off += (size_t)used;
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	/* A responder's answers to everything this read brought go in one
	 * write; the requester's UNSUBs go with its next requests (req_pump). */
	if (c->role == ROLE_RESP && c->out_off < c->out_len && !c->pollout)
		conn_flush(b, c);
}

/* Appends publisher c's next message to its output. */
static void
append_msg(struct bench *b, struct conn *c, int64_t now)
{
	uint64_t seq = c->next++;
	int t = b->ntopics > 1 ? (int)(seq % (uint64_t)b->ntopics) : 0;
	char *d = c->out + c->out_len;
	memcpy(d, b->pre[t], b->pre_len[t]);
	d += b->pre_len[t];
	put_payload(b, d, (uint64_t)c->id, seq, now);
	d += b->o.size;
	memcpy(d, b->post, b->post_len);
	c->out_len += b->pre_len[t] + b->o.size + b->post_len;
	b->published++;
}

/* Publishes what publisher c may: up to its window (closed loop) or its
 * schedule (open loop), in batches of OUT_BATCH bytes per write. Only an
 * empty output buffer is refilled, so a target that does not read holds
 * the publisher back, and the open loop notices it is late. */
static void
pub_pump(struct bench *b, struct conn *c)
{
	if (b->open_loop && c->next < c->total) {
		int64_t now = now_ns();
		int64_t sched = b->t_start + (int64_t)((double)c->next * 1e9 / b->o.rate);
		if (now - sched > OVERLOAD_NS)
			overload("publisher %d is %.0f ms behind schedule: the %s (or udsbench, on "
				 "a busy machine) cannot keep %.0f msgs/s",
				 c->id, (double)(now - sched) / 1e6, wire_target_name(b->o.target),
				 b->o.rate);
	}
	for (int round = 0; round < 4 && !c->pollout; round++) {
		int64_t now = now_ns();
		uint64_t limit = c->total;
		if (b->open_loop) {
			double since = (double)(now - b->t_start);
			uint64_t due = (uint64_t)(since * b->o.rate / 1e9) + 1;
			if (due < limit)
				limit = due;
		} else if (c->acked + b->o.window < limit) {
			limit = c->acked + b->o.window;
		}
		if (b->open_loop && c->next < limit) {
			int64_t sched = b->t_start + (int64_t)((double)c->next * 1e9 / b->o.rate);
			if (now - sched > b->late_max)
				b->late_max = now - sched;
		}
		conn_reserve(c, OUT_BATCH > b->line_max ? OUT_BATCH : b->line_max);
		while (c->next < limit && c->out_len + b->line_max <= c->out_cap)
			append_msg(b, c, now);
		if (c->out_off == c->out_len || !conn_flush(b, c))
			return;
	}
}

/* Shows the progress line (when stderr is a terminal) and fails the run
 * when nothing has moved for --timeout seconds. */
static void
watch(struct bench *b, int64_t now, const char *doing)
{
	uint64_t count = b->deliveries + b->announced + b->published + (UINT64_MAX - b->acks_left);
	if (count != b->last_count) {
		b->last_count = count;
		b->last_change = now;
	}
	if (now - b->last_change > (int64_t)(b->o.timeout * 1e9)) {
		progress_clear();
		for (int i = 0, shown = 0; i < b->o.subs && shown < 5; i++) {
			struct conn *c = &b->subs[i];
			if (b->running && !c->complete) {
				fprintf(stderr,
					"udsbench: subscriber %d: got %" PRIu64 " of %" PRIu64
					", %" PRIu64 " skipped, %" PRIu64 " announced dropped\n",
					i, c->got, c->want, c->gaps, c->announced);
				shown++;
			}
		}
		fail("no progress for %.0f s while %s (published %" PRIu64 ", delivered %" PRIu64
		     ", acknowledgements missing %" PRIu64 ")%s",
		     b->o.timeout, doing, b->published, b->deliveries, b->acks_left,
		     b->o.sc == SC_SHARE && b->deliveries == 0
			     ? ": a broker without shared subscriptions takes $share/... for a "
			       "plain filter, and delivers nothing"
			     : "");
	}
	if (b->progress && now - b->last_progress > PROGRESS_NS) {
		b->last_progress = now;
		fprintf(stderr, "\r\033[Kudsbench %s %s: %s: published %" PRIu64 " delivered %" PRIu64,
			scenario_names[b->o.sc], wire_target_name(b->o.target), doing, b->published,
			b->deliveries);
		if (b->running)
			fprintf(stderr, " %.1fs", (double)(now - b->t_start) / 1e9);
	}
}

/* Runs the event loop until done(b). */
static void
event_loop(struct bench *b, bool (*done)(const struct bench *), const char *doing, size_t first_cap)
{
	struct epoll_event evs[256];
	b->last_change = now_ns();
	while (!done(b)) {
		int n = epoll_wait(b->ep, evs, 256, 100);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->role == ROLE_TIMER) {
				uint64_t ticks;
				if (read(c->fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					die("timerfd: %s", strerror(errno));
				continue;
			}
			if (evs[i].events & EPOLLOUT)
				conn_flush(b, c);
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				conn_read(b, c, first_cap);
		}
		if (b->running && b->o.sc == SC_REQREP)
			req_pump(b);
		else if (b->running)
			for (int i = 0; i < b->o.pubs; i++)
				pub_pump(b, &b->pubs[i]);
		int64_t now = now_ns();
		if (b->stall_until != 0 && now >= b->stall_until && b->subs[0].paused) {
			b->subs[0].paused = false;
			conn_events(b, &b->subs[0]);
			b->last_change = now; /* the stall was not the target's */
		}
		watch(b, now, doing);
	}
}

static bool
acks_done(const struct bench *b)
{
	return b->acks_left == 0;
}

/* Every subscriber has everything, or has seen the end and the grace for
 * late DROPPED notices is over (the check after the loop then fails). */
static bool
run_done(const struct bench *b)
{
	return b->subs_left == 0 || (b->subs_open == 0 && now_ns() >= b->grace_end);
}

/* key=value pairs of one result line. */
static struct {
	int n;
	char key[40][24];
	char val[40][40];
} kv;

__attribute__((format(printf, 2, 3))) static void
kv_add(const char *key, const char *fmt, ...)
{
	if (kv.n == 40)
		return;
	snprintf(kv.key[kv.n], sizeof(kv.key[0]), "%s", key);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(kv.val[kv.n], sizeof(kv.val[0]), fmt, ap);
	va_end(ap);
	kv.n++;
}

/* Prints the result: one key=value line, or a CSV header and row. */
static void
kv_print(const struct opts *o)
{
	if (o->csv) {
		if (!o->no_header)
			for (int i = 0; i < kv.n; i++)
				printf("%s%s", kv.key[i], i + 1 < kv.n ? "," : "\n");
		for (int i = 0; i < kv.n; i++)
			printf("%s%s", kv.val[i], i + 1 < kv.n ? "," : "\n");
	} else {
		for (int i = 0; i < kv.n; i++)
			printf("%s=%s%s", kv.key[i], kv.val[i], i + 1 < kv.n ? " " : "\n");
	}
	fflush(stdout);
	kv.n = 0;
}

/* The pid that listens on fd's peer socket (SO_PEERCRED), or 0. */
static pid_t
peer_pid(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return 0;
	return cr.pid;
}

/* Resident set size of pid in KiB, or -1. */
static long
rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	long kb = -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* CPU time (user + system) used so far by pid, in seconds; -1 if unknown. */
static double
cpu_secs(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	unsigned long long ut, st;
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
				&st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Our own CPU time so far, in seconds. */
static double
self_cpu_secs(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double bench_cpu0, target_cpu0;

/* The CPU columns: udsbench's and the target's, % of one core over secs,
 * and the target's CPU time per message published (or request answered), in
 * ns: on a shared machine a steadier gauge of its cost than the rate. */
static void
report_cpu(struct bench *b, double secs)
{
	/* CPU time comes in clock ticks: meaningless for very short runs, when
	 * the values stay empty (the columns stay, for CSV). */
	double t = b->pid > 0 ? cpu_secs(b->pid) : -1;
	bool cpu_ok = secs >= 0.1;
	if (cpu_ok)
		kv_add("bench_cpu", "%.0f", 100 * (self_cpu_secs() - bench_cpu0) / secs);
	else
		kv_add("bench_cpu", "%s", "");
	if (cpu_ok && t >= 0 && target_cpu0 >= 0)
		kv_add("target_cpu", "%.0f", 100 * (t - target_cpu0) / secs);
	else
		kv_add("target_cpu", "%s", "");
	uint64_t n = b->o.sc == SC_REQREP ? b->deliveries : b->published;
	if (cpu_ok && t >= 0 && target_cpu0 >= 0 && n > 0)
		kv_add("target_ns_msg", "%.0f", (t - target_cpu0) * 1e9 / (double)n);
	else
		kv_add("target_ns_msg", "%s", "");
	/* Ours too: when the rate is udsbench's limit, this says so. */
	if (cpu_ok && n > 0)
		kv_add("bench_ns_msg", "%.0f", (self_cpu_secs() - bench_cpu0) * 1e9 / (double)n);
	else
		kv_add("bench_ns_msg", "%s", "");
}

/* The percentiles of the latency histogram (publish to delivery, or a
 * request's round trip), in µs. */
static void
report_latency(struct bench *b)
{
	kv_add("p50_us", "%.1f", (double)hist_quantile(&b->lat, 0.50) / 1e3);
	kv_add("p99_us", "%.1f", (double)hist_quantile(&b->lat, 0.99) / 1e3);
	kv_add("p999_us", "%.1f", (double)hist_quantile(&b->lat, 0.999) / 1e3);
	kv_add("max_us", "%.1f", (double)hist_quantile(&b->lat, 1.0) / 1e3);
}

/* The result line of a reqrep run. */
static void
report_reqrep(struct bench *b, double secs, const char *status)
{
	const struct opts *o = &b->o;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (int i = 0; i < o->subs && b->subs != NULL; i++) {
		lo = b->subs[i].served < lo ? b->subs[i].served : lo;
		hi = b->subs[i].served > hi ? b->subs[i].served : hi;
	}
	kv_add("scenario", "reqrep");
	kv_add("target", "%s", wire_target_name(o->target));
	kv_add("listener", "%s", o->tcp ? "tcp" : "unix");
	kv_add("responders", "%d", o->subs);
	kv_add("routing", "%s", o->share_responders ? (o->target == TARGET_NATS ? "queue" : "share")
						    : "own");
	kv_add("window", "%" PRIu64, o->window);
	kv_add("size", "%zu", o->size);
	kv_add("requests", "%" PRIu64, b->deliveries);
	kv_add("secs", "%.3f", secs);
	kv_add("requests_per_s", "%.0f", secs > 0 ? (double)b->deliveries / secs : 0);
	report_latency(b);
	kv_add("served_min", "%" PRIu64, b->subs != NULL ? lo : 0);
	kv_add("served_max", "%" PRIu64, hi);
	report_cpu(b, secs);
	kv_add("status", "%s", status);
	kv_print(o);
}

/* The result line of a publish/subscribe run. */
static void
report(struct bench *b, const char *status)
{
	const struct opts *o = &b->o;
	if (o->sc == SC_IDLE) {
		if (kv.n == 0) {
			kv_add("scenario", "idle");
			kv_add("target", "%s", wire_target_name(o->target));
		}
		kv_add("status", "%s", status);
		kv_print(o);
		return;
	}
	double secs = b->running ? (double)(b->t_end - b->t_start) / 1e9 : 0;
	double per = secs > 0 ? 1 / secs : 0;
	if (o->sc == SC_REQREP) {
		report_reqrep(b, secs, status);
		return;
	}
	kv_add("scenario", "%s", scenario_names[o->sc]);
	kv_add("target", "%s", wire_target_name(o->target));
	kv_add("listener", "%s", o->tcp ? "tcp" : "unix");
	if (o->pub_sock != NULL || o->pub_lines)
		kv_add("pub_via", "%s-%s", o->pub_sock == NULL ? (o->tcp ? "tcp" : "unix")
								: (o->pub_tcp ? "tcp" : "unix"),
		       o->pub_lines ? "lines" : "protocol");
	if (o->meta)
		kv_add("meta", "on");
	kv_add("pubs", "%d", o->pubs);
	kv_add("subs", "%d", o->subs);
	if (o->sc == SC_TOPICS)
		kv_add("wild", "%d", o->wild);
	kv_add("msgs", "%" PRIu64, b->published);
	kv_add("size", "%zu", o->size);
	if (b->open_loop)
		kv_add("rate", "%.0f", o->rate);
	else
		kv_add("window", "%" PRIu64, o->window);
	kv_add("secs", "%.3f", secs);
	kv_add("msgs_per_s", "%.0f", (double)b->published * per);
	kv_add("deliveries_per_s", "%.0f", (double)b->deliveries * per);
	kv_add("bytes_per_s", "%.0f", (double)b->deliveries * (double)o->size * per);
	report_latency(b);
	if (b->open_loop)
		kv_add("late_max_us", "%.1f", (double)b->late_max / 1e3);
	if (o->stall_ms > 0)
		kv_add("stall_ms", "%u", o->stall_ms);
	kv_add("deliveries", "%" PRIu64, b->deliveries);
	kv_add("dropped", "%" PRIu64, b->announced);
	if (o->sc == SC_SHARE) { /* how evenly the group shared the work */
		uint64_t lo = UINT64_MAX, hi = 0;
		for (int i = 0; i < o->subs; i++) {
			lo = b->subs[i].got < lo ? b->subs[i].got : lo;
			hi = b->subs[i].got > hi ? b->subs[i].got : hi;
		}
		kv_add("share_min", "%" PRIu64, lo);
		kv_add("share_max", "%" PRIu64, hi);
	}
	report_cpu(b, secs);
	kv_add("status", "%s", status);
	kv_print(o);
}

/* Builds topic names, their publish framing and the payload template. */
static void
setup_topics(struct bench *b)
{
	const struct opts *o = &b->o;
	b->ntopics = o->sc == SC_TOPICS ? o->subs : 1;
	b->topic = xcalloc((size_t)b->ntopics, sizeof(*b->topic));
	b->topic_len = xcalloc((size_t)b->ntopics, sizeof(*b->topic_len));
	b->pre = xcalloc((size_t)b->ntopics, sizeof(*b->pre));
	b->pre_len = xcalloc((size_t)b->ntopics, sizeof(*b->pre_len));
	size_t pre_max = 0;
	for (int i = 0; i < b->ntopics; i++) {
		char name[512], pre[640];
		if (o->sc == SC_TOPICS)
			snprintf(name, sizeof(name), "%s/t/%d", o->prefix, i);
		else
			snprintf(name, sizeof(name), "%s/all", o->prefix);
		b->topic[i] = strdup(name);
		b->topic_len[i] = strlen(name);
		if (o->pub_lines) { /* the listener's topic = is the topic: just the line */
			b->pre_len[i] = 0;
			b->post[0] = '\n';
			b->post_len = 1;
		} else if (wire_pub_frame(o->target, name, o->size, pre, sizeof(pre),
					  &b->pre_len[i], b->post, sizeof(b->post),
					  &b->post_len) < 0) {
			die("topic prefix too long");
		}
		b->pre[i] = xmalloc(b->pre_len[i]);
		memcpy(b->pre[i], pre, b->pre_len[i]);
		if (b->pre_len[i] > pre_max)
			pre_max = b->pre_len[i];
	}
	b->line_max = pre_max + o->size + b->post_len;
	b->payload = xmalloc(o->size);
	memset(b->payload, 'x', o->size);
	b->payload[PAYLOAD_SEQ - 1] = b->payload[PAYLOAD_TS - 1] = b->payload[PAYLOAD_HDR - 1] = ' ';
}

/* Asks for delivery metadata on c (OPT meta on) and expects its OK. */
static void
opt_meta(struct bench *b, struct conn *c)
{
	conn_queue(c, "OPT meta on\n", 12);
	c->meta = true;
	c->acks_pending++;
	b->acks_left++;
}

/* What the meta of a message from this process must begin with: the
 * credentials the kernel gives the broker for a Unix connection, then via=;
 * over TCP there are none, only via=. */
static void
set_meta_want(struct bench *b, bool tcp)
{
	int n;
	if (tcp)
		n = snprintf(b->meta_want, sizeof(b->meta_want), "via=");
	else
		n = snprintf(b->meta_want, sizeof(b->meta_want), "uid=%u;gid=%u;pid=%d;via=",
			     (unsigned)geteuid(), (unsigned)getegid(), (int)getpid());
	b->meta_want_len = (size_t)n;
}

/* Sends one subscription on c and expects its acknowledgement. */
static void
subscribe(struct bench *b, struct conn *c, const char *filter, bool wildcard)
{
	char cmd[640];
	size_t n = wire_sub(b->o.target, cmd, sizeof(cmd), filter, wildcard);
	if (n == 0)
		die("filter too long: %s", filter);
	conn_queue(c, cmd, n);
	c->acks_pending++;
	b->acks_left++;
}

/* A filter that never matches any topic of the run (the topics scenario's
 * 1,000 wildcards): some share the topics' first level so matching has to
 * look at them, some start with a wildcard level. */
static void
never_filter(const struct bench *b, int k, char *buf, size_t size)
{
	bool redis = b->o.target == TARGET_REDIS;
	if (k % 2 == 0)
		snprintf(buf, size, "%s/%s/%d/never", b->o.prefix, redis ? "*" : "+", k);
	else
		snprintf(buf, size, "%s/never/%d/%s", redis ? "*" : "+", k, redis ? "*" : "#");
}

/* A publish/subscribe scenario: connect, subscribe, publish, check, report. */
static int
run_pubsub(struct bench *b)
{
	struct opts *o = &b->o;
	size_t nconns = (size_t)o->subs + (size_t)o->pubs;
	size_t first_cap = nconns > 1000 ? IN_SMALL : IN_BIG;
	setup_topics(b);
	if (o->window == 0) {
		uint64_t w = WINDOW_BUDGET / (b->line_max * (uint64_t)o->pubs);
		o->window = w < 4 ? 4 : w > WINDOW_MAX ? WINDOW_MAX : w;
	}
	uint32_t ring = 1;
	while (ring < o->window)
		ring *= 2;
	b->ring_mask = ring - 1;
	b->open_loop = o->sc == SC_LATENCY;
	b->stride = o->sc == SC_TOPICS ? (uint64_t)o->subs : 1;
	b->receivers = o->sc == SC_TOPICS || o->sc == SC_SHARE ? 1 : (uint32_t)o->subs;
	set_meta_want(b, o->pub_sock != NULL ? o->pub_tcp : o->tcp);

	b->subs = xcalloc((size_t)o->subs, sizeof(*b->subs));
	b->pubs = xcalloc((size_t)o->pubs, sizeof(*b->pubs));
	for (int i = 0; i < o->pubs; i++) {
		struct conn *c = &b->pubs[i];
		c->total = o->msgs / (uint64_t)o->pubs + ((uint64_t)i < o->msgs % (uint64_t)o->pubs);
		if (!b->open_loop)
			c->ring = xcalloc(ring, sizeof(*c->ring));
	}
	for (int i = 0; i < o->subs; i++) {
		struct conn *c = &b->subs[i];
		c->expect = xcalloc((size_t)o->pubs, sizeof(*c->expect));
		if (o->sc == SC_TOPICS) {
			c->topic = i;
			c->expect[0] = (uint64_t)i;
			c->want = o->msgs / b->stride + ((uint64_t)i < o->msgs % b->stride);
		} else if (o->sc != SC_SHARE) { /* a member's share is not known beforehand */
			c->want = o->msgs;
		}
	}

	/* Subscribers first, each told its filters as soon as it is connected;
	 * publishers only once every subscription is acknowledged. */
	for (int i = 0; i < o->subs; i++) {
		struct conn *c = &b->subs[i];
		conn_add(b, c, ROLE_SUB, i, connect_target(b));
		if (i == 0 && b->pid == 0)
			b->pid = peer_pid(c->fd);
		if (o->meta)
			opt_meta(b, c);
		if (o->sc == SC_SHARE) {
			char filter[640];
			snprintf(filter, sizeof(filter), "$share/%s/%s", o->group, b->topic[0]);
			subscribe(b, c, filter, false);
		} else {
			subscribe(b, c, b->topic[c->topic], false);
		}
		if (o->sc == SC_TOPICS && i < o->wild) {
			char filter[600];
			never_filter(b, i, filter, sizeof(filter));
			subscribe(b, c, filter, true);
		}
		conn_flush(b, c);
	}
	for (int i = o->subs; i < o->wild; i++) { /* more wildcards than subscribers */
		char filter[600];
		never_filter(b, i, filter, sizeof(filter));
		subscribe(b, &b->subs[i % o->subs], filter, true);
		conn_flush(b, &b->subs[i % o->subs]);
	}
	event_loop(b, acks_done, "subscribing", first_cap);
	for (int i = 0; i < o->pubs; i++) {
		struct conn *c = &b->pubs[i];
		conn_add(b, c, ROLE_PUB, i, connect_pub(b));
		c->out_cap = 0;
		conn_reserve(c, OUT_BATCH > 2 * b->line_max ? OUT_BATCH : 2 * b->line_max);
	}
	for (int i = 0; i < o->subs; i++)
		if (b->subs[i].want == 0)
			b->subs[i].complete = true;
		else
			b->subs_left++;
	if (o->sc == SC_SHARE)
		b->subs_left = 1; /* the group as a whole: done when it has every message */
	b->subs_open = b->subs_left;

	if (b->open_loop) {
		int64_t iv = (int64_t)(1e9 / o->rate);
		iv = iv < 50000 ? 50000 : iv > 10000000 ? 10000000 : iv;
		int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (tfd < 0)
			die("timerfd_create: %s", strerror(errno));
		struct itimerspec its = {{iv / 1000000000, iv % 1000000000},
					 {iv / 1000000000, iv % 1000000000}};
		if (timerfd_settime(tfd, 0, &its, NULL) < 0)
			die("timerfd_settime: %s", strerror(errno));
		conn_add(b, &b->timer, ROLE_TIMER, 0, tfd);
	}

	bench_cpu0 = self_cpu_secs();
	target_cpu0 = b->pid > 0 ? cpu_secs(b->pid) : -1;
	b->t_start = now_ns();
	b->running = true;
	for (int i = 0; i < o->pubs; i++)
		pub_pump(b, &b->pubs[i]);
	event_loop(b, run_done, "publishing", first_cap);
	if (b->subs_left > 0)
		b->t_end = b->last_delivery;
	progress_clear();
	b->progress = false;

	/* Every gap must have been announced, and no more than the gaps. */
	for (int i = 0; i < o->subs && o->sc != SC_SHARE; i++) {
		const struct conn *c = &b->subs[i];
		uint64_t missing = c->want - c->got;
		if (missing > c->announced)
			fail("subscriber %d: %" PRIu64 " messages lost, only %" PRIu64
			     " announced with DROPPED",
			     i, missing, c->announced);
		if (c->announced > missing)
			fail("subscriber %d: DROPPED announced %" PRIu64 " but only %" PRIu64
			     " messages are missing",
			     i, c->announced, missing);
	}
	if (b->announced > 0)
		fprintf(stderr,
			"udsbench: note: the %s dropped %" PRIu64 " deliveries and announced them\n",
			wire_target_name(o->target), b->announced);
	report(b, "ok");
	return 0;
}

/* Queues one NATS operation on c. */
__attribute__((format(printf, 2, 3))) static void
nats_send(struct conn *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		die("NATS operation too long");
	conn_queue(c, line, (size_t)n);
}

/* NATS: CONNECT without verbose +OKs and without echo; nats_barrier's
 * PING after the SUBs then acknowledges all of it. */
static void
nats_hello(struct conn *c)
{
	nats_send(c, "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false,"
		     "\"name\":\"udsbench\",\"lang\":\"c\",\"version\":\"1\",\"protocol\":1}\r\n");
}

/* NATS: a PING whose PONG acknowledges what was queued before it. */
static void
nats_barrier(struct bench *b, struct conn *c)
{
	nats_send(c, "PING\r\n");
	c->acks_pending++;
	b->acks_left++;
}

/* Notes a command of the requester that an OK will answer (uds). */
static void
cmd_push(struct bench *b, uint64_t cmd)
{
	if (b->cmd_tail - b->cmd_head == b->cmd_cap) {
		uint64_t cap = b->cmd_cap * 2, *q = xcalloc(cap, sizeof(*q));
		for (uint64_t i = b->cmd_head; i < b->cmd_tail; i++)
			q[i & (cap - 1)] = b->cmds[i & (b->cmd_cap - 1)];
		free(b->cmds);
		b->cmds = q;
		b->cmd_cap = cap;
	}
	b->cmds[b->cmd_tail++ & (b->cmd_cap - 1)] = cmd;
}

/* The request topic (subject) of sequence number seq. */
static int
req_topic(const struct bench *b, uint64_t seq)
{
	return b->o.share_responders ? 0 : (int)(seq % (uint64_t)b->ntopics);
}

/* Sends the requester's next request: REQ (uds) or PUB with a reply inbox
 * (NATS), payload as in the publish scenarios (publisher 0). */
static void
req_send(struct bench *b, int64_t now)
{
	struct conn *c = &b->req;
	uint64_t seq = b->req.next++;
	struct req_slot *sl = &b->slot[seq & b->slot_mask];
	*sl = (struct req_slot){.busy = true, .seq = seq};
	int t = req_topic(b, seq);
	char pre[640];
	int n;
	if (b->o.target == TARGET_NATS)
		n = snprintf(pre, sizeof(pre), "PUB %s %s%" PRIu64 " %zu\r\n", b->topic[t], b->inbox,
			     seq, b->o.size);
	else
		n = snprintf(pre, sizeof(pre), "REQ %s ", b->topic[t]);
	if (n < 0 || (size_t)n >= sizeof(pre))
		die("topic prefix too long");
	conn_reserve(c, (size_t)n + b->o.size + 2);
	char *d = c->out + c->out_len;
	memcpy(d, pre, (size_t)n);
	d += n;
	put_payload(b, d, 0, seq, now);
	d += b->o.size;
	if (b->o.target == TARGET_NATS) {
		memcpy(d, "\r\n", 2);
		c->out_len += (size_t)n + b->o.size + 2;
	} else {
		*d = '\n';
		c->out_len += (size_t)n + b->o.size + 1;
		cmd_push(b, seq);
	}
	b->inflight++;
	b->published++;
}

/* Keeps the window full: a new request for every slot that is free; writes
 * them with the UNSUBs of the requests just answered. */
static void
req_pump(struct bench *b)
{
	struct conn *c = &b->req;
	int64_t now = now_ns();
	while (c->next < c->total && b->inflight < b->o.window &&
	       !b->slot[c->next & b->slot_mask].busy)
		req_send(b, now);
	if (c->out_off < c->out_len && !c->pollout)
		conn_flush(b, c);
}

/* A request is over once its reply came and (uds) its OK named the topic. */
static void
req_finish(struct bench *b, struct req_slot *sl, int64_t now)
{
	if (!sl->replied || !sl->named)
		return;
	sl->busy = false;
	b->inflight--;
	b->req.acked++;
	if (b->req.acked == b->req.total) {
		b->t_end = now;
		b->subs_left = 0;
	}
}

/* The requester's view of a frame. */
static void
on_requester_frame(struct bench *b, struct conn *c, const struct frame *f, int64_t now)
{
	bool nats = b->o.target == TARGET_NATS;
	if (f->kind == FRAME_ACK && !nats) {
		/* OK $reply/<token> answers the oldest REQ, a plain OK an UNSUB. */
		if (b->cmd_head == b->cmd_tail)
			fail_frame(c, "OK to no command", f);
		uint64_t cmd = b->cmds[b->cmd_head++ & (b->cmd_cap - 1)];
		if (cmd == CMD_UNSUB) {
			if (f->topic_len != 0)
				fail_frame(c, "OK with a reply topic for an UNSUB", f);
			return;
		}
		if (f->topic_len < 8 || memcmp(f->topic, "$reply/", 7) != 0 ||
		    f->topic_len >= sizeof(b->slot[0].token))
			fail_frame(c, "REQ answered without a $reply/ topic", f);
		struct req_slot *sl = &b->slot[cmd & b->slot_mask];
		if (!sl->busy || sl->seq != cmd)
			fail_frame(c, "OK for a request not in flight", f);
		if (sl->replied && (sl->token_len != f->topic_len ||
				    !same_bytes(sl->token, f->topic, f->topic_len)))
			fail_frame(c, "the reply came on another topic than the OK named", f);
		memcpy(sl->token, f->topic, f->topic_len);
		sl->token_len = f->topic_len;
		sl->named = true;
		req_finish(b, sl, now);
		return;
	}
	if (f->kind == FRAME_PONG && c->acks_pending > 0) {
		c->acks_pending--;
		b->acks_left--;
		return;
	}
	if (f->kind == FRAME_PING) {
		conn_queue(c, "PONG\r\n", 6);
		return;
	}
	if (f->kind == FRAME_INFO || (f->kind == FRAME_ACK && nats))
		return;
	if (f->kind != FRAME_MSG)
		fail_frame(c, "unexpected frame", f);

	if (f->payload_len != b->o.size)
		fail_frame(c, "reply payload of the wrong length", f);
	const char *p = f->payload;
	uint64_t pub, seq, ts;
	if (!get_payload(b, p, &pub, &seq, &ts) || pub != 0)
		fail_frame(c, "corrupt reply payload", f);
	struct req_slot *sl = &b->slot[seq & b->slot_mask];
	if (seq >= c->next || !sl->busy || sl->seq != seq)
		fail_frame(c, "reply to a request not in flight", f);
	if (sl->replied)
		fail_frame(c, "second reply to one request", f);
	if (nats) {
		char want[96];
		int n = snprintf(want, sizeof(want), "%s%" PRIu64, b->inbox, seq);
		if (f->topic_len != (size_t)n || !same_bytes(f->topic, want, (size_t)n))
			fail_frame(c, "reply on another subject than the request's inbox", f);
		sl->named = true;
	} else {
		if (f->topic_len < 8 || memcmp(f->topic, "$reply/", 7) != 0 ||
		    f->topic_len >= sizeof(sl->token))
			fail_frame(c, "reply not on a $reply/ topic", f);
		if (sl->named && (sl->token_len != f->topic_len ||
				  !same_bytes(sl->token, f->topic, f->topic_len)))
			fail_frame(c, "reply on another topic than its request's", f);
		if (!sl->named) {
			memcpy(sl->token, f->topic, f->topic_len);
			sl->token_len = f->topic_len;
		}
		/* The reply topic counts toward max_subscriptions until UNSUB. */
		conn_reserve(c, f->topic_len + 8);
		memcpy(c->out + c->out_len, "UNSUB ", 6);
		memcpy(c->out + c->out_len + 6, f->topic, f->topic_len);
		c->out[c->out_len + 6 + f->topic_len] = '\n';
		c->out_len += f->topic_len + 7;
		cmd_push(b, CMD_UNSUB);
	}
	sl->replied = true;
	b->deliveries++;
	b->last_delivery = now;
	int64_t sent = b->epoch + (int64_t)ts;
	hist_add(&b->lat, now > sent ? (uint64_t)(now - sent) : 0);
	req_finish(b, sl, now);
}

/* A responder's view of a frame: a request is answered with its own
 * payload, on the reply address it came with. */
static void
on_responder_frame(struct bench *b, struct conn *c, const struct frame *f)
{
	bool nats = b->o.target == TARGET_NATS;
	switch (f->kind) {
	case FRAME_ACK:
		if (nats)
			return;
		/* fall through */
	case FRAME_PONG:
		if (c->acks_pending == 0) {
			if (f->kind == FRAME_PONG)
				return;
			fail_frame(c, "acknowledgement of nothing", f);
		}
		c->acks_pending--;
		b->acks_left--;
		return;
	case FRAME_PING:
		conn_queue(c, "PONG\r\n", 6);
		return;
	case FRAME_INFO:
		return;
	case FRAME_MSG:
		break;
	default:
		fail_frame(c, "unexpected frame", f);
	}
	int t = b->o.share_responders ? 0 : c->topic;
	if (f->topic_len != b->topic_len[t] || !same_bytes(f->topic, b->topic[t], f->topic_len))
		fail_frame(c, "request on a topic it did not subscribe to", f);
	if (!nats && !meta_ok(b, f))
		fail_frame(c, "request without the meta its requester's credentials make", f);
	if (f->reply_len == 0)
		fail_frame(c, "request without a reply address", f);
	if (f->payload_len != b->o.size)
		fail_frame(c, "request payload of the wrong length", f);
	char pre[160];
	int n = nats ? snprintf(pre, sizeof(pre), "PUB %.*s %zu\r\n", (int)f->reply_len, f->reply,
				f->payload_len)
		     : snprintf(pre, sizeof(pre), "PUB %.*s ", (int)f->reply_len, f->reply);
	if (n < 0 || (size_t)n >= sizeof(pre))
		fail_frame(c, "reply address too long", f);
	conn_queue(c, pre, (size_t)n);
	conn_queue(c, f->payload, f->payload_len);
	conn_queue(c, nats ? "\r\n" : "\n", nats ? 2 : 1);
	c->served++;
}

static void
on_reqrep_frame(struct bench *b, struct conn *c, const struct frame *f, int64_t now)
{
	if (f->kind == FRAME_ERR || f->kind == FRAME_BYE)
		fail_frame(c, f->kind == FRAME_ERR ? "error reply" : "the broker closed the session",
			   f);
	if (c->role == ROLE_REQ)
		on_requester_frame(b, c, f, now);
	else
		on_responder_frame(b, c, f);
}

static bool
reqrep_done(const struct bench *b)
{
	return b->subs_left == 0;
}

/* The reqrep scenario: R responders answer one requester, which keeps -w
 * requests in flight (closed loop) and times each round trip. */
static int
run_reqrep(struct bench *b)
{
	struct opts *o = &b->o;
	bool nats = o->target == TARGET_NATS;
	const char *sep = nats ? "." : "/";
	b->ntopics = o->share_responders ? 1 : o->subs;
	b->topic = xcalloc((size_t)b->ntopics, sizeof(*b->topic));
	b->topic_len = xcalloc((size_t)b->ntopics, sizeof(*b->topic_len));
	for (int i = 0; i < b->ntopics; i++) {
		char name[512];
		if (o->share_responders)
			snprintf(name, sizeof(name), "%s%sreq", o->prefix, sep);
		else
			snprintf(name, sizeof(name), "%s%sreq%s%d", o->prefix, sep, sep, i);
		b->topic[i] = strdup(name);
		b->topic_len[i] = strlen(name);
	}
	b->payload = xmalloc(o->size);
	memset(b->payload, 'x', o->size);
	b->payload[PAYLOAD_SEQ - 1] = b->payload[PAYLOAD_TS - 1] = b->payload[PAYLOAD_HDR - 1] = ' ';
	uint64_t ring = 1;
	while (ring < 4 * o->window)
		ring *= 2;
	b->slot = xcalloc(ring, sizeof(*b->slot));
	b->slot_mask = ring - 1;
	b->cmd_cap = ring;
	b->cmds = xcalloc(b->cmd_cap, sizeof(*b->cmds));
	b->inbox_len = (size_t)snprintf(b->inbox, sizeof(b->inbox), "_INBOX.udsbench%d.",
					(int)getpid());
	set_meta_want(b, o->tcp);

	b->subs = xcalloc((size_t)o->subs, sizeof(*b->subs));
	for (int i = 0; i < o->subs; i++) {
		struct conn *c = &b->subs[i];
		conn_add(b, c, ROLE_RESP, i, connect_target(b));
		c->complete = true; /* nothing for watch() to list */
		c->topic = o->share_responders ? 0 : i;
		if (i == 0 && b->pid == 0)
			b->pid = peer_pid(c->fd);
		if (nats) {
			nats_hello(c);
			if (o->share_responders)
				nats_send(c, "SUB %s %s 1\r\n", b->topic[0], o->group);
			else
				nats_send(c, "SUB %s 1\r\n", b->topic[i]);
			nats_barrier(b, c);
		} else {
			opt_meta(b, c);
			char filter[640];
			if (o->share_responders)
				snprintf(filter, sizeof(filter), "$share/%s/%s", o->group, b->topic[0]);
			else
				snprintf(filter, sizeof(filter), "%s", b->topic[i]);
			subscribe(b, c, filter, false);
		}
		conn_flush(b, c);
	}
	struct conn *r = &b->req;
	conn_add(b, r, ROLE_REQ, 0, connect_target(b));
	r->total = o->msgs;
	if (nats) {
		nats_hello(r);
		nats_send(r, "SUB %s* 1\r\n", b->inbox);
		nats_barrier(b, r);
		conn_flush(b, r);
	}
	event_loop(b, acks_done, "subscribing", IN_BIG);

	b->subs_left = 1;
	bench_cpu0 = self_cpu_secs();
	target_cpu0 = b->pid > 0 ? cpu_secs(b->pid) : -1;
	b->t_start = now_ns();
	b->running = true;
	req_pump(b);
	event_loop(b, reqrep_done, "requesting", IN_BIG);
	progress_clear();
	b->progress = false;
	report(b, "ok");
	return 0;
}

/* The idle scenario: N connections with one subscription each, and the
 * target's resident memory before and after. */
static int
run_idle(struct bench *b)
{
	struct opts *o = &b->o;
	conn_add(b, &b->probe, ROLE_PROBE, -1, connect_target(b));
	if (b->pid == 0)
		b->pid = peer_pid(b->probe.fd);
	long before = b->pid > 0 ? rss_kb(b->pid) : -1;
	if (before < 0)
		die("cannot read the RSS of the %s (pid %d): give --pid", wire_target_name(o->target),
		    (int)b->pid);
	b->subs = xcalloc((size_t)o->subs, sizeof(*b->subs));
	int64_t t0 = now_ns();
	for (int i = 0; i < o->subs; i++) {
		struct conn *c = &b->subs[i];
		char name[512];
		conn_add(b, c, ROLE_SUB, i, connect_target(b));
		snprintf(name, sizeof(name), "%s/idle/%d", o->prefix, i);
		subscribe(b, c, name, false);
		conn_flush(b, c);
	}
	event_loop(b, acks_done, "subscribing", 256);
	double secs = (double)(now_ns() - t0) / 1e9;
	long after = rss_kb(b->pid);
	progress_clear();
	b->progress = false;
	kv_add("scenario", "idle");
	kv_add("target", "%s", wire_target_name(o->target));
	kv_add("conns", "%d", o->subs);
	kv_add("secs", "%.3f", secs);
	kv_add("rss_before_kb", "%ld", before);
	kv_add("rss_after_kb", "%ld", after);
	kv_add("rss_growth_kb", "%ld", after - before);
	kv_add("per_conn_b", "%.0f", (double)(after - before) * 1024 / o->subs);
	report(b, "ok");
	return 0;
}

static void
usage(FILE *f)
{
	fputs("usage: udsbench [options] fanout|fanin|topics|latency|idle|share|reqrep\n"
	      "  -t, --target uds|relay|redis|nats  what to measure (default uds; nats:\n"
	      "                         reqrep only, over TCP)\n"
	      "  -s, --socket ADDR      target's Unix socket (uds: default as udsctl), or\n"
	      "                         HOST:PORT with --listener tcp (nats: 127.0.0.1:4222)\n"
	      "      --listener unix|tcp  how -s is reached (default unix)\n"
	      "      --pub-socket ADDR  publishers connect here instead (a lines listener, say)\n"
	      "      --pub-listener unix|tcp  how --pub-socket is reached (default unix)\n"
	      "      --pub-mode protocol|lines  lines: publishers write bare payload lines,\n"
	      "                         for a mode = lines listener whose topic is PREFIX/all\n"
	      "      --meta             subscribers (and responders) send OPT meta on and\n"
	      "                         check the meta of every delivery\n"
	      "  -n, --subs N           subscribers (fanout/latency 10, fanin 1, topics 10000;\n"
	      "                         idle: connections, 10000; share: members of the\n"
	      "                         group, 10; reqrep: responders, 1)\n"
	      "  -p, --pubs N           publishers (fanin 10, others 1)\n"
	      "  -m, --msgs N           messages published in all (200000; latency: 5 s worth)\n"
	      "  -S, --size BYTES       payload size, K/M suffixes (64; at least 40)\n"
	      "  -w, --window N         messages in flight per publisher (default: 512 KiB\n"
	      "                         worth per subscriber queue, 4..4096; reqrep:\n"
	      "                         requests in flight, 1)\n"
	      "  -r, --rate N           latency: messages per second (10000)\n"
	      "      --group NAME       share, reqrep --responders share: the group (bench)\n"
	      "      --responders own|share  reqrep: each responder on its own topic, the\n"
	      "                         requester round-robins (own, default); or one shared\n"
	      "                         group $share/NAME/PREFIX/req (NATS: a queue group)\n"
	      "      --wild N           topics: never-matching wildcard filters (1000)\n"
	      "      --prefix P         first topic level (bench)\n"
	      "      --pid PID          target's pid for RSS/CPU (default: from SO_PEERCRED)\n"
	      "      --timeout SECS     fail when nothing moves for this long (10)\n"
	      "      --wait-ready SECS  wait this long for the socket to accept (5)\n"
	      "      --csv              CSV header and row instead of key=value\n"
	      "      --no-header        with --csv: the row only\n"
	      "      --stall MS         latency: subscriber 0 stops reading for MS ms after\n"
	      "                         its first message (a slow consumer: the broker must\n"
	      "                         drop for it and say so with DROPPED)\n"
	      "  -q, --quiet            no progress line on stderr\n"
	      "Prints one result line; exit 0 ok, 1 the target broke the contract (lost,\n"
	      "duplicated, reordered or corrupted a message), 3 latency: the rate could not\n"
	      "be kept (status=overload), 64 usage, 69 setup error.\n",
	      f);
}

/* A size with an optional K or M suffix. */
static bool
parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *s == '-')
		return false;
	if (*end == 'K' || *end == 'k')
		v *= 1024, end++;
	else if (*end == 'M' || *end == 'm')
		v *= 1024 * 1024, end++;
	if (*end != '\0')
		return false;
	*out = v;
	return true;
}

/* Parses a number option within [lo, hi] or exits with a usage error. */
static uint64_t
opt_num(const char *name, const char *s, uint64_t lo, uint64_t hi)
{
	uint64_t v;
	if (!parse_size(s, &v) || v < lo || v > hi) {
		fprintf(stderr, "udsbench: %s: expected a number in %" PRIu64 "..%" PRIu64 ", got '%s'\n",
			name, lo, hi, s);
		exit(EXIT_USAGE);
	}
	return v;
}

/* The broker's default socket path, as udsctl finds it. */
static const char *
default_socket(void)
{
	static char buf[256];
	const char *env = getenv("UDSBROKER_SOCKET");
	if (env != NULL && *env != '\0')
		return env;
	if (getuid() == 0)
		return "/run/udsbroker.sock";
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg != NULL && *xdg != '\0')
		snprintf(buf, sizeof(buf), "%s/udsbroker.sock", xdg);
	else
		snprintf(buf, sizeof(buf), "/tmp/udsbroker-%u.sock", (unsigned)getuid());
	return buf;
}

/* A usage error: says what is wrong and exits 64. */
__attribute__((format(printf, 1, 2), noreturn)) static void
usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("udsbench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(EXIT_USAGE);
}

/* What the release-2 options need of the scenario and the target. */
static void
check_combinations(struct opts *o, bool have_msgs)
{
	bool uds = o->target == TARGET_UDS;
	if (o->target == TARGET_NATS && o->sc != SC_REQREP)
		usage_error("--target nats is for the reqrep scenario");
	if (o->sc == SC_REQREP && !uds && o->target != TARGET_NATS)
		usage_error("reqrep needs --target uds or nats");
	if (o->sc == SC_SHARE && !uds)
		usage_error("share ($share/GROUP/...) is udsbroker's: --target uds");
	if (o->meta && !uds)
		usage_error("--meta is udsbroker's OPT meta: --target uds");
	if (o->pub_lines && !uds)
		usage_error("--pub-mode lines is for a udsbroker lines listener: --target uds");
	if (o->pub_lines && (o->sc == SC_TOPICS || o->sc == SC_REQREP || o->sc == SC_IDLE))
		usage_error("--pub-mode lines publishes to one topic: fanout, fanin, latency "
			    "or share");
	if ((o->pub_sock != NULL || o->pub_tcp) && (o->sc == SC_REQREP || o->sc == SC_IDLE))
		usage_error("--pub-socket is for the publish scenarios");
	if (o->pub_tcp && o->pub_sock == NULL)
		usage_error("--pub-listener tcp needs --pub-socket HOST:PORT");
	if (o->target == TARGET_RELAY && (o->tcp || o->pub_tcp))
		usage_error("the relay listens on a Unix socket only");
	if (o->sc == SC_REQREP) {
		if (o->pubs != 1)
			usage_error("reqrep has one requester (-n sets the responders)");
		if (o->window == 0)
			o->window = 1;
		if (!have_msgs)
			o->msgs = 100000;
		o->pubs = 0;
	}
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
	enum {
		O_WILD = 256,
		O_PREFIX,
		O_PID,
		O_TIMEOUT,
		O_WAIT,
		O_CSV,
		O_NOHDR,
		O_STALL,
		O_LISTENER,
		O_PUB_SOCKET,
		O_PUB_LISTENER,
		O_PUB_MODE,
		O_META,
		O_GROUP,
		O_RESPONDERS,
	};
	static const struct option longs[] = {
		{"target", required_argument, NULL, 't'}, {"socket", required_argument, NULL, 's'},
		{"subs", required_argument, NULL, 'n'},   {"pubs", required_argument, NULL, 'p'},
		{"msgs", required_argument, NULL, 'm'},   {"size", required_argument, NULL, 'S'},
		{"window", required_argument, NULL, 'w'}, {"rate", required_argument, NULL, 'r'},
		{"wild", required_argument, NULL, O_WILD}, {"prefix", required_argument, NULL, O_PREFIX},
		{"pid", required_argument, NULL, O_PID},  {"timeout", required_argument, NULL, O_TIMEOUT},
		{"wait-ready", required_argument, NULL, O_WAIT}, {"csv", no_argument, NULL, O_CSV},
		{"no-header", no_argument, NULL, O_NOHDR}, {"quiet", no_argument, NULL, 'q'},
		{"stall", required_argument, NULL, O_STALL}, {"help", no_argument, NULL, 'h'},
		{"listener", required_argument, NULL, O_LISTENER},
		{"pub-socket", required_argument, NULL, O_PUB_SOCKET},
		{"pub-listener", required_argument, NULL, O_PUB_LISTENER},
		{"pub-mode", required_argument, NULL, O_PUB_MODE},
		{"meta", no_argument, NULL, O_META}, {"group", required_argument, NULL, O_GROUP},
		{"responders", required_argument, NULL, O_RESPONDERS},
		{NULL, 0, NULL, 0},
	};
	*o = (struct opts){.subs = -1, .pubs = -1, .wild = -1, .prefix = "bench", .timeout = 10,
			   .wait_ready = 5, .group = "bench"};
	bool have_msgs = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "t:s:n:p:m:S:w:r:qh", longs, NULL)) != -1) {
		switch (ch) {
		case 't':
			if (wire_target_parse(optarg, &o->target) < 0) {
				fprintf(stderr, "udsbench: unknown target '%s' (uds, relay, redis)\n",
					optarg);
				exit(EXIT_USAGE);
			}
			break;
		case 's':
			o->sock = optarg;
			break;
		case 'n':
			o->subs = (int)opt_num("--subs", optarg, 1, 1000000);
			break;
		case 'p':
			o->pubs = (int)opt_num("--pubs", optarg, 1, 99999);
			break;
		case 'm':
			o->msgs = opt_num("--msgs", optarg, 1, 999999999999ull);
			have_msgs = true;
			break;
		case 'S':
			o->size = opt_num("--size", optarg, PAYLOAD_MIN, PAYLOAD_MAX);
			break;
		case 'w':
			o->window = opt_num("--window", optarg, 1, 1u << 24);
			break;
		case 'r':
			o->rate = (double)opt_num("--rate", optarg, 1, 100000000);
			break;
		case O_WILD:
			o->wild = (int)opt_num("--wild", optarg, 0, 1000000);
			break;
		case O_PREFIX:
			o->prefix = optarg;
			break;
		case O_PID:
			o->pid = (pid_t)opt_num("--pid", optarg, 1, 1u << 30);
			break;
		case O_TIMEOUT:
			o->timeout = (double)opt_num("--timeout", optarg, 1, 86400);
			break;
		case O_WAIT:
			o->wait_ready = (double)opt_num("--wait-ready", optarg, 0, 3600);
			break;
		case O_CSV:
			o->csv = true;
			break;
		case O_NOHDR:
			o->no_header = true;
			break;
		case O_STALL:
			o->stall_ms = (unsigned)opt_num("--stall", optarg, 1, 3600000);
			break;
		case O_LISTENER:
		case O_PUB_LISTENER:
			if (strcmp(optarg, "unix") != 0 && strcmp(optarg, "tcp") != 0)
				usage_error("--%s takes unix or tcp, not '%s'",
					    ch == O_LISTENER ? "listener" : "pub-listener", optarg);
			*(ch == O_LISTENER ? &o->tcp : &o->pub_tcp) = strcmp(optarg, "tcp") == 0;
			break;
		case O_PUB_SOCKET:
			o->pub_sock = optarg;
			break;
		case O_PUB_MODE:
			if (strcmp(optarg, "protocol") != 0 && strcmp(optarg, "lines") != 0)
				usage_error("--pub-mode takes protocol or lines, not '%s'", optarg);
			o->pub_lines = strcmp(optarg, "lines") == 0;
			break;
		case O_META:
			o->meta = true;
			break;
		case O_GROUP:
			if (*optarg == '\0' || strpbrk(optarg, "/+# ") != NULL)
				usage_error("--group: one topic level without wildcards, not '%s'",
					    optarg);
			o->group = optarg;
			break;
		case O_RESPONDERS:
			if (strcmp(optarg, "own") != 0 && strcmp(optarg, "share") != 0)
				usage_error("--responders takes own or share, not '%s'", optarg);
			o->share_responders = strcmp(optarg, "share") == 0;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(EXIT_USAGE);
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		exit(EXIT_USAGE);
	}
	size_t i;
	for (i = 0; i < sizeof(scenario_names) / sizeof(scenario_names[0]); i++)
		if (strcmp(argv[optind], scenario_names[i]) == 0)
			break;
	if (i == sizeof(scenario_names) / sizeof(scenario_names[0])) {
		fprintf(stderr, "udsbench: unknown scenario '%s'\n", argv[optind]);
		usage(stderr);
		exit(EXIT_USAGE);
	}
	o->sc = (enum scenario)i;

	if (o->sock == NULL && o->target == TARGET_NATS)
		o->sock = "127.0.0.1:4222";
	if (o->target == TARGET_NATS)
		o->tcp = true; /* NATS speaks TCP only */
	if (o->sock == NULL) {
		if (o->target != TARGET_UDS || o->tcp) {
			fprintf(stderr, "udsbench: --target %s needs --socket\n",
				wire_target_name(o->target));
			exit(EXIT_USAGE);
		}
		o->sock = default_socket();
	}
	if (o->size == 0)
		o->size = 64;
	if (o->subs < 0)
		o->subs = o->sc == SC_FANIN || o->sc == SC_REQREP	? 1
			  : o->sc == SC_TOPICS || o->sc == SC_IDLE ? 10000
								   : 10;
	if (o->pubs < 0)
		o->pubs = o->sc == SC_FANIN ? 10 : 1;
	if (o->wild < 0)
		o->wild = o->sc == SC_TOPICS ? 1000 : 0;
	if (o->rate == 0)
		o->rate = 10000;
	if (!have_msgs)
		o->msgs = o->sc == SC_LATENCY ? (uint64_t)(o->rate * 5) : 200000;
	if (o->sc == SC_TOPICS && o->pubs != 1) {
		fprintf(stderr, "udsbench: topics has one publisher\n");
		exit(EXIT_USAGE);
	}
	if (o->sc != SC_LATENCY && o->stall_ms > 0) {
		fprintf(stderr, "udsbench: --stall is for the latency scenario (open loop)\n");
		exit(EXIT_USAGE);
	}
	if (o->sc != SC_TOPICS && o->wild > 0) {
		fprintf(stderr, "udsbench: --wild is for the topics scenario\n");
		exit(EXIT_USAGE);
	}
	check_combinations(o, have_msgs);
}

int
main(int argc, char **argv)
{
	static struct bench b; /* large (histogram): not on the stack */
	parse_opts(argc, argv, &b.o);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile((uint64_t)b.o.subs + (uint64_t)b.o.pubs + 64);
	the_bench = &b;
	b.pid = b.o.pid;
	b.epoch = now_ns();
	b.progress = !b.o.quiet && isatty(STDERR_FILENO);
	b.ep = epoll_create1(EPOLL_CLOEXEC);
	if (b.ep < 0)
		die("epoll_create1: %s", strerror(errno));
	if (b.o.sc == SC_IDLE)
		return run_idle(&b);
	return b.o.sc == SC_REQREP ? run_reqrep(&b) : run_pubsub(&b);
}
