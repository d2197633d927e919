/*
 * relay — the reference peer udsbench measures the broker against: how fast
 * this machine's Unix sockets can fan lines out when nothing else is done.
 * One thread, epoll, large reads, memchr line splitting, one write per
 * connection per batch of input. The only parsing:
 *
 *   "SUB <topic>"   the connection now receives lines whose second word is
 *                   exactly <topic> (no wildcards: a filter with + or # is
 *                   stored as a literal and so never matches); answered "OK".
 *   any other line  forwarded verbatim to every connection subscribed to its
 *                   second word, so "PUB t payload" reaches the subscribers
 *                   of t as "PUB t payload".
 *
 * Usage: relay -s SOCKET [-x drop|dup|swap|announce]. Runs until killed. A
 * connection that lets more than RELAY_OUT_MAX bytes pile up is closed, with
 * a line on stderr.
 *
 * -x breaks the 100th forwarded line on purpose, so the tests can prove that
 * udsbench notices: drop (lost), dup (twice), swap (after the next one),
 * announce (lost, and "DROPPED 1" sent after the next line — allowed).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RELAY_READ_SIZE (64 * 1024)      /* input buffer (grows for longer lines) */
#define RELAY_IN_MAX    (16 * 1024 * 1024) /* longest line we hold */
#define RELAY_OUT_MAX   (256 * 1024 * 1024) /* pending output before we give up */
#define RELAY_FAULT_AT  100                 /* which forwarded line -x breaks */

enum fault { FAULT_NONE, FAULT_DROP, FAULT_DUP, FAULT_SWAP, FAULT_ANNOUNCE };

/* One subscriber of a topic; gen tells a reused fd from the original. */
struct sub {
	int fd;
	unsigned gen;
};

/* A topic and its subscribers. */
struct topic {
	char *name;
	size_t len;
	uint64_t hash;
	struct sub *subs;
	size_t nsubs, cap;
};

/* One client connection. */
struct rconn {
	int fd;
	unsigned gen;
	bool pollout;
	bool dirty;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_off, out_len, out_cap;
};

static int ep = -1;
static struct rconn **conns; /* by fd */
static unsigned *gens;       /* by fd: generation of the last connection on it */
static size_t max_fds;
static struct topic **table; /* open addressing by hash */
static size_t table_cap, table_used;
static struct sub *dirty;    /* connections with output to flush */
static size_t ndirty, dirty_cap;
static enum fault fault;
static unsigned long long forwarded; /* lines forwarded, for -x */
static char *held;                   /* -x swap/announce: what to do after the next line */
static size_t held_len;

/* Exits with a message naming errno. */
static void
die(const char *what)
{
	fprintf(stderr, "relay: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* malloc/realloc that never return NULL. */
static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL) {
		fprintf(stderr, "relay: out of memory\n");
		exit(1);
	}
	return p;
}

/* FNV-1a. */
static uint64_t
hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* The table slot holding topic s, or the empty slot where it would go. */
static size_t
table_slot(const char *s, size_t n, uint64_t h)
{
	size_t i = h & (table_cap - 1);
	while (table[i] != NULL &&
	       !(table[i]->hash == h && table[i]->len == n && memcmp(table[i]->name, s, n) == 0))
		i = (i + 1) & (table_cap - 1);
	return i;
}

/* Doubles the topic table. */
static void
table_grow(void)
{
	struct topic **old = table;
	size_t old_cap = table_cap;
	table_cap = table_cap ? table_cap * 2 : 1024;
	table = calloc(table_cap, sizeof(*table));
	if (table == NULL)
		die("calloc");
	for (size_t i = 0; i < old_cap; i++)
		if (old[i] != NULL)
			table[table_slot(old[i]->name, old[i]->len, old[i]->hash)] = old[i];
	free(old);
}

/* The topic named s, created when create is set; NULL otherwise. */
static struct topic *
topic_get(const char *s, size_t n, bool create)
{
	if (table_cap == 0) {
		if (!create)
			return NULL;
		table_grow();
	}
	uint64_t h = hash_bytes(s, n);
	size_t i = table_slot(s, n, h);
	if (table[i] != NULL || !create)
		return table[i];
	if (2 * (table_used + 1) > table_cap) {
		table_grow();
		i = table_slot(s, n, h);
	}
	struct topic *t = calloc(1, sizeof(*t));
	if (t == NULL)
		die("calloc");
	t->name = xrealloc(NULL, n ? n : 1);
	memcpy(t->name, s, n);
	t->len = n;
	t->hash = h;
	table[i] = t;
	table_used++;
	return t;
}

/* Sets the epoll interest of c (output wanted or not). */
static void
conn_want_out(struct rconn *c, bool on)
{
	if (c->pollout == on)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.fd = c->fd};
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl");
	c->pollout = on;
}

/* Forgets a connection; its subscriptions die with its generation. */
static void
conn_close(struct rconn *c)
{
	conns[c->fd] = NULL;
	gens[c->fd]++;
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* Appends n bytes to c's output and remembers to flush it. Returns false
 * when c has too much pending and was closed. */
static bool
conn_append(struct rconn *c, const char *s, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		/* Slide the pending bytes down only when that frees at least half
		 * the buffer, so each byte is moved O(1) times on average. */
		if (c->out_off > 0 && c->out_off >= c->out_cap / 2) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		if (c->out_len - c->out_off + n > RELAY_OUT_MAX) {
			fprintf(stderr, "relay: fd %d: over %d bytes pending, closing\n", c->fd,
				RELAY_OUT_MAX);
			conn_close(c);
			return false;
		}
		if (c->out_len + n > c->out_cap) {
			size_t cap = c->out_cap ? c->out_cap : 64 * 1024;
			while (cap < c->out_len + n)
				cap *= 2;
			c->out = xrealloc(c->out, cap);
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
	if (!c->dirty) {
		c->dirty = true;
		if (ndirty == dirty_cap) {
			dirty_cap = dirty_cap ? dirty_cap * 2 : 1024;
			dirty = xrealloc(dirty, dirty_cap * sizeof(*dirty));
		}
		dirty[ndirty++] = (struct sub){c->fd, gens[c->fd]};
	}
	return true;
}

/* Writes what c has pending. Returns false when c was closed. */
static bool
conn_flush(struct rconn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				conn_want_out(c, true);
				return true;
			}
			conn_close(c);
			return false;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	conn_want_out(c, false);
	return true;
}

/* Flushes every connection that got output during this batch. */
static void
flush_dirty(void)
{
	for (size_t i = 0; i < ndirty; i++) {
		struct rconn *c = conns[dirty[i].fd];
		if (c == NULL || gens[c->fd] != dirty[i].gen)
			continue;
		c->dirty = false;
		conn_flush(c);
	}
	ndirty = 0;
}

/* Sends line (with its '\n') to every subscriber of t. */
static void
forward(struct topic *t, const char *line, size_t n)
{
	for (size_t i = 0; i < t->nsubs;) {
		struct rconn *s = conns[t->subs[i].fd];
		if (s == NULL || gens[s->fd] != t->subs[i].gen) {
			t->subs[i] = t->subs[--t->nsubs]; /* gone: forget it */
			continue;
		}
		conn_append(s, line, n);
		i++;
	}
}

/* The -x test hook: forwards line to t, breaking the RELAY_FAULT_AT-th. */
static void
forward_faulty(struct topic *t, const char *line, size_t n)
{
	unsigned long long nth = ++forwarded;
	if (nth != RELAY_FAULT_AT) {
		forward(t, line, n);
		if (nth == RELAY_FAULT_AT + 1 && held != NULL) {
			forward(t, held, held_len);
			free(held);
			held = NULL;
		}
		return;
	}
	switch (fault) {
	case FAULT_DROP:
		return;
	case FAULT_DUP:
		forward(t, line, n);
		forward(t, line, n);
		return;
	case FAULT_SWAP:
	case FAULT_ANNOUNCE:
		held_len = fault == FAULT_SWAP ? n : strlen("DROPPED 1\n");
		held = xrealloc(NULL, held_len);
		memcpy(held, fault == FAULT_SWAP ? line : "DROPPED 1\n", held_len);
		return;
	case FAULT_NONE:
		break;
	}
	forward(t, line, n);
}

/* Handles one line (with its '\n') from c. */
static void
handle_line(struct rconn *c, const char *line, size_t n)
{
	size_t body = n - 1;
	if (body > 0 && line[body - 1] == '\r')
		body--;
	if (body > 4 && memcmp(line, "SUB ", 4) == 0) {
		struct topic *t = topic_get(line + 4, body - 4, true);
		if (t->nsubs == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 4;
			t->subs = xrealloc(t->subs, t->cap * sizeof(*t->subs));
		}
		t->subs[t->nsubs++] = (struct sub){c->fd, gens[c->fd]};
		conn_append(c, "OK\n", 3);
		return;
	}
	const char *sp = memchr(line, ' ', body);
	if (sp == NULL)
		return;
	const char *name = sp + 1;
	const char *end = memchr(name, ' ', (size_t)(line + body - name));
	if (end == NULL)
		end = line + body;
	struct topic *t = topic_get(name, (size_t)(end - name), false);
	if (t == NULL)
		return;
	if (fault == FAULT_NONE)
		forward(t, line, n);
	else
		forward_faulty(t, line, n);
}

/* Reads what c sent and relays every complete line. Returns false when c
 * was closed. */
static bool
conn_read(struct rconn *c)
{
	if (c->in_len == c->in_cap) {
		if (c->in_cap >= RELAY_IN_MAX) {
			fprintf(stderr, "relay: fd %d: line over %d bytes, closing\n", c->fd,
				RELAY_IN_MAX);
			conn_close(c);
			return false;
		}
		c->in_cap = c->in_cap ? c->in_cap * 2 : RELAY_READ_SIZE;
		c->in = xrealloc(c->in, c->in_cap);
	}
	ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0) {
		conn_close(c);
		return false;
	}
	c->in_len += (size_t)n;

	/* c itself may be closed while relaying (a subscriber to its own
	 * topic that overflowed), so hold on to the buffer by fd+gen. */
	int fd = c->fd;
	unsigned gen = gens[fd];
	size_t off = 0;
	const char *nl;
	while ((nl = memchr(c->in + off, '\n', c->in_len - off)) != NULL) {
		size_t len = (size_t)(nl - (c->in + off)) + 1;
		handle_line(c, c->in + off, len);
		if (conns[fd] != c || gens[fd] != gen)
			return false;
		off += len;
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	return true;
}

/* Accepts every pending connection. */
static void
accept_all(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				fprintf(stderr, "relay: accept: %s\n", strerror(errno));
			return;
		}
		if ((size_t)fd >= max_fds) {
			close(fd);
			continue;
		}
		struct rconn *c = calloc(1, sizeof(*c));
		if (c == NULL)
			die("calloc");
		c->fd = fd;
		conns[fd] = c;
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("epoll_ctl");
	}
}

/* Binds and listens on path, replacing whatever socket file is there. */
static int
listen_on(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "relay: socket path longer than %zu bytes: %s\n",
			sizeof(sun.sun_path) - 1, path);
		exit(1);
	}
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		die(path);
	if (listen(fd, SOMAXCONN) < 0)
		die("listen");
	return fd;
}

int
main(int argc, char **argv)
{
	static const char *const faults[] = {"", "drop", "dup", "swap", "announce"};
	const char *path = NULL;
	bool bad = false;
	int ch;
	while ((ch = getopt(argc, argv, "s:x:")) != -1) {
		if (ch == 's') {
			path = optarg;
		} else if (ch == 'x') {
			for (size_t i = 1; i < sizeof(faults) / sizeof(faults[0]); i++)
				if (strcmp(optarg, faults[i]) == 0)
					fault = (enum fault)i;
			bad |= fault == FAULT_NONE;
		} else {
			bad = true;
		}
	}
	if (bad || path == NULL || optind != argc) {
		fprintf(stderr, "usage: relay -s SOCKET [-x drop|dup|swap|announce]\n");
		return 64;
	}
	signal(SIGPIPE, SIG_IGN);

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit");
	max_fds = rl.rlim_cur > (1u << 20) ? (1u << 20) : (size_t)rl.rlim_cur;
	conns = calloc(max_fds, sizeof(*conns));
	gens = calloc(max_fds, sizeof(*gens));
	if (conns == NULL || gens == NULL)
		die("calloc");

	int lfd = listen_on(path);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll_ctl");

	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				accept_all(lfd);
				continue;
			}
			struct rconn *c = conns[fd];
			if (c == NULL)
				continue;
			if ((evs[i].events & EPOLLOUT) && !conn_flush(c))
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				conn_read(c);
		}
		flush_dirty();
	}
}
