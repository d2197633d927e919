/*
 * udsb-soak: a mixed load against a udsbrokerd it starts itself, for a
 * given number of seconds, ending with a one-screen report.
 *
 *   udsb-soak -d SECONDS [-D UDSBROKERD] [-k] [-r SEED]
 *
 * The load, on a Unix socket in a fresh temporary directory:
 *   - persistent publishers, each numbering its messages (topic
 *     soak/<publisher>/<k>, payload "<seq> ...");
 *   - short-lived publishers that write a burst, a partial last line, and
 *     shut down their writing side (the partial line must never arrive);
 *   - fast subscribers of soak/# from the start: they must get every
 *     message of every publisher, in order;
 *   - subscribers joining and leaving all the time (QUIT, close, half
 *     close, UNSUB, close with unread data), which read fast: no gap;
 *   - slow subscribers (throttled reads, stalls), from the start or joining
 *     late on one publisher: every message they miss must be announced by
 *     a DROPPED line, counted exactly once the load stops;
 *   - SIGHUP reloads once a second, changing the queue limit; one config
 *     in five is broken and must be refused.
 * Publishers keep a bounded number of messages ahead of the fast
 * subscribers, so those never drop.
 *
 * Exit status: 0 if nothing was lost, nothing arrived out of order or
 * twice, the daemon holds as many descriptors at the end as at the start,
 * its peak RSS is within max_clients × (queue_limit + max_line) of its
 * start, and it exits 0 on SIGTERM; 1 otherwise; 2 on a usage or setup
 * error. Every wait is bounded; the run stops by itself.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NPUB 4            /* persistent publishers: ids 0..NPUB-1 */
#define NFAST 2
#define NSLOW 4
#define MAX_CHURN 24      /* joining-and-leaving subscribers at once */
#define MAX_CONNS 256
#define MAX_PUBS 100000   /* publisher ids, short-lived ones included */
#define WINDOW 400        /* messages ahead of the slowest fast subscriber */
#define BURST 200         /* messages of a short-lived publisher */
#define SLOW_RATE 32768   /* bytes per second a slow subscriber reads */
#define WAIT_MS 30000     /* the bound of every wait for the daemon */
#define PARTIAL_SEQ 999999999L

/* The configs the reloads alternate; the limits are the largest of them. */
#define MAX_CLIENTS 300
#define QUEUE_LIMIT_MAX_K 512
#define MAX_LINE_K 64
static const char *const configs[] = {
	"[broker]\nmax_clients = 300\nqueue_limit = 256K\nmax_line = 64K\n"
	"slow_consumer = drop\n[log]\nlevel = info\n",
	"[broker]\nmax_clients = 300\nqueue_limit = 512K\nmax_line = 64K\n"
	"slow_consumer = drop\n[log]\nlevel = info\n",
};
static const char broken_config[] = "[broker]\nqueue_limit = a-lot\n";

enum kind { K_CTL, K_PUB, K_BURST, K_FAST, K_CHURN, K_SLOW, K_LATE };
static const char *const kind_names[] = { "control", "publisher", "short publisher", "fast",
	                                  "churn", "slow", "late slow" };

/* How a joining-and-leaving subscriber leaves. */
enum leave { L_QUIT, L_CLOSE, L_SHUT_WR, L_UNSUB, L_UNREAD, L_MODES };

struct conn {
	enum kind kind;
	int fd;
	bool used;
	/* input, line by line */
	char *in;
	size_t in_start, in_len, in_cap;
	bool eof;
	/* output */
	char *out;
	size_t out_len, out_off, out_cap;
	/* publisher */
	int pub;                  /* its publisher id */
	long queued;              /* messages formatted */
	bool shut;                /* SHUT_WR done (short-lived publisher) */
	/* subscriber */
	long *next;               /* per publisher: next seq expected, -1 unknown */
	long *count;              /* per publisher: messages received */
	long *first;              /* per publisher: first seq received, -1 none */
	long got, gaps, disorder, announced;
	bool strict;              /* subscribed before any publisher: seqs from 0 */
	bool subscribed;          /* its OK came */
	long long base;           /* messages queued for it when the OK came */
	int only_pub;             /* subscribed to one publisher's topics, or -1 */
	char filter[64];
	enum leave leave;
	bool leaving;             /* QUIT / SHUT_WR sent: reading until EOF */
	long long leave_at, close_at;
	long long started;        /* for the slow ones' read budget */
	long long bytes_read;
	bool unthrottled;
	char pong[64];            /* the PONG awaited, "" if none */
	bool pong_seen;
};

static struct conn conns[MAX_CONNS];
static long pub_sent[MAX_PUBS];     /* complete messages written per publisher */
static long pub_queued[MAX_PUBS];   /* messages formatted per publisher */
static int npubs;                   /* publisher ids handed out */
static long long total_sent;
static long long total_queued;

/* The report. */
static struct {
	long long wind_down_ms, settle_ms;
	long long published, delivered, announced, lost, disorder, extra, partial, errs;
	long long churn_joined, churn_left, bursts, reloads_sent, peak_conns;
	long long broker_published, broker_delivered, broker_dropped;
	long long reloads_applied, reloads_refused;
	long rss_start, rss_peak, rss_bound;
	int fds_before, fds_after;
	int daemon_status;
	bool crashed;
	char problem[256];
} rep;

static struct {
	char dir[64], sock[128], conf[128], log[128];
	pid_t pid;
} d;

static bool keep_dir;

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Records the first problem seen, for the report. */
static void __attribute__((format(printf, 1, 2)))
problem(const char *fmt, ...)
{
	va_list ap;

	if (rep.problem[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(rep.problem, sizeof rep.problem, fmt, ap);
	va_end(ap);
}

static _Noreturn void __attribute__((format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "udsb-soak: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	if (d.pid > 0)
		kill(d.pid, SIGKILL);
	exit(2);
}

/* ---- the daemon ---- */

static int
write_file(const char *path, const char *text)
{
	char tmp[160];
	FILE *f;

	/* Write and rename, so a reload never reads half a file. */
	snprintf(tmp, sizeof tmp, "%s.new", path);
	if ((f = fopen(tmp, "we")) == NULL)
		return -1;
	fputs(text, f);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

static int
connect_sock(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	memcpy(sun.sun_path, d.sock, strlen(d.sock) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
start_daemon(const char *daemon)
{
	long long deadline;
	int log_fd;

	snprintf(d.dir, sizeof d.dir, "/tmp/udsb-soak-XXXXXX");
	if (mkdtemp(d.dir) == NULL)
		die("mkdtemp: %s", strerror(errno));
	snprintf(d.sock, sizeof d.sock, "%s/soak.sock", d.dir);
	snprintf(d.conf, sizeof d.conf, "%s/soak.conf", d.dir);
	snprintf(d.log, sizeof d.log, "%s/udsbrokerd.log", d.dir);
	if (write_file(d.conf, configs[0]) < 0)
		die("writing %s: %s", d.conf, strerror(errno));
	if ((log_fd = open(d.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
		die("%s: %s", d.log, strerror(errno));
	d.pid = fork();
	if (d.pid < 0)
		die("fork: %s", strerror(errno));
	if (d.pid == 0) {
		int null_fd = open("/dev/null", O_RDONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGPIPE, SIG_DFL);
		if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 ||
		    dup2(log_fd, 2) < 0)
			_exit(127);
		closefrom(3);
		execl(daemon, daemon, "-f", "-c", d.conf, "-s", d.sock, (char *)NULL);
		dprintf(2, "udsb-soak: exec %s: %s\n", daemon, strerror(errno));
		_exit(127);
	}
	close(log_fd);
	deadline = now_ms() + WAIT_MS;
	for (;;) {
		int status, fd = connect_sock();

		if (fd >= 0) {
			close(fd);
			return;
		}
		if (waitpid(d.pid, &status, WNOHANG) == d.pid) {
			d.pid = 0;
			die("udsbrokerd exited at start (status 0x%x); see %s", status, d.log);
		}
		if (now_ms() > deadline)
			die("udsbrokerd not listening after %d ms; see %s", WAIT_MS, d.log);
		poll(NULL, 0, 10); /* back-off of a bounded retry loop */
	}
}

/* True while the daemon runs; records a crash. */
static bool
daemon_alive(void)
{
	int status;

	if (d.pid <= 0)
		return false;
	if (waitpid(d.pid, &status, WNOHANG) != d.pid)
		return true;
	d.pid = 0;
	rep.crashed = true;
	if (WIFSIGNALED(status))
		problem("udsbrokerd died by signal %d", WTERMSIG(status));
	else
		problem("udsbrokerd exited on its own, status %d", WEXITSTATUS(status));
	return false;
}

static int
fd_count(void)
{
	char path[64];
	struct dirent *de;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)d.pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static long
status_kb(const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)d.pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			kb = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

static int
log_count(const char *text)
{
	FILE *f = fopen(d.log, "re");
	char *data = NULL;
	size_t cap = 0, tlen = strlen(text);
	int n = 0;

	if (f == NULL)
		return 0;
	if (getdelim(&data, &cap, '\0', f) > 0)
		for (const char *p = data; (p = strstr(p, text)) != NULL; p += tlen)
			n++;
	free(data);
	fclose(f);
	return n;
}

/* ---- connections ---- */

static struct conn *
conn_open(enum kind kind)
{
	struct conn *c = NULL;
	int fd;

	for (int i = 0; i < MAX_CONNS; i++)
		if (!conns[i].used) {
			c = &conns[i];
			break;
		}
	if (c == NULL)
		die("more than %d connections", MAX_CONNS);
	if ((fd = connect_sock()) < 0) {
		problem("cannot connect to %s: %s", d.sock, strerror(errno));
		return NULL;
	}
	memset(c, 0, sizeof *c);
	c->used = true;
	c->kind = kind;
	c->fd = fd;
	c->only_pub = -1;
	c->started = now_ms();
	if (kind >= K_FAST) {
		c->next = malloc(MAX_PUBS * sizeof *c->next);
		c->count = calloc(MAX_PUBS, sizeof *c->count);
		c->first = malloc(MAX_PUBS * sizeof *c->first);
		if (c->next == NULL || c->count == NULL || c->first == NULL)
			die("out of memory");
		for (int p = 0; p < MAX_PUBS; p++)
			c->next[p] = c->first[p] = -1;
	}
	return c;
}

static void
conn_free(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->out);
	free(c->next);
	free(c->count);
	free(c->first);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

static int
live_conns(void)
{
	int n = 0;

	for (int i = 0; i < MAX_CONNS; i++)
		n += conns[i].used;
	return n;
}

/* Appends text to c's output. */
static void
conn_queue(struct conn *c, const char *text, size_t len)
{
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 65536;

		while (cap < c->out_len + len)
			cap *= 2;
		if ((c->out = realloc(c->out, cap)) == NULL)
			die("out of memory");
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, text, len);
	c->out_len += len;
}

static void
conn_queue_str(struct conn *c, const char *s)
{
	conn_queue(c, s, strlen(s));
}

/* Writes what c has pending; counts the publishers' complete lines. */
static void
conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				problem("%s: send: %s", kind_names[c->kind], strerror(errno));
			return;
		}
		if (c->kind == K_PUB || c->kind == K_BURST)
			for (ssize_t k = 0; k < n; k++)
				if (c->out[c->out_off + (size_t)k] == '\n') {
					pub_sent[c->pub]++;
					total_sent++;
				}
		c->out_off += (size_t)n;
	}
}

/* ---- subscribers ---- */

/* Accounts for one line received by subscriber c. */
static void
sub_line(struct conn *c, char *line)
{
	if (strncmp(line, "MSG soak/", 9) == 0) {
		char *end, *sp;
		long p = strtol(line + 9, &end, 10), seq;

		sp = strchr(end, ' ');
		if (end == line + 9 || p < 0 || p >= MAX_PUBS || sp == NULL) {
			rep.errs++;
			problem("%s: odd message \"%.80s\"", kind_names[c->kind], line);
			return;
		}
		seq = strtol(sp + 1, NULL, 10);
		c->got++;
		rep.delivered++;
		if (seq == PARTIAL_SEQ) {
			rep.partial++;
			problem("a partial last line was published: \"%.80s\"", line);
			return;
		}
		c->count[p]++;
		if (c->first[p] < 0)
			c->first[p] = seq;
		if (c->next[p] < 0)
			c->next[p] = c->strict ? 0 : seq;
		if (seq < c->next[p]) {
			c->disorder++;
			return;
		}
		c->gaps += seq - c->next[p];
		c->next[p] = seq + 1;
	} else if (strncmp(line, "DROPPED ", 8) == 0) {
		c->announced += strtol(line + 8, NULL, 10);
	} else if (strncmp(line, "PONG", 4) == 0) {
		if (c->pong[0] != '\0' && strcmp(line, c->pong) == 0)
			c->pong_seen = true;
	} else if (strcmp(line, "OK") == 0) {
		/* SUB (first) / UNSUB: from the SUB's OK on, what publishers
		 * queue is on its way to c. */
		if (!c->subscribed) {
			c->subscribed = true;
			c->base = c->only_pub >= 0 ? pub_queued[c->only_pub] : total_queued;
		}
	} else if (strcmp(line, "BYE shutdown") == 0 && c->kind == K_CTL) {
		/* the end */
	} else {
		rep.errs++;
		problem("%s: unexpected \"%.80s\"", kind_names[c->kind], line);
	}
}

/* Reads at most max bytes from c and handles its complete lines. */
static void
conn_read(struct conn *c, size_t max)
{
	ssize_t n;

	if (c->eof)
		return;
	if (c->in_start > 0 && c->in_cap - c->in_start - c->in_len < 65536) {
		memmove(c->in, c->in + c->in_start, c->in_len);
		c->in_start = 0;
	}
	if (c->in_cap - c->in_start - c->in_len < 65536) {
		size_t cap = c->in_cap ? c->in_cap * 2 : 131072;

		if ((c->in = realloc(c->in, cap)) == NULL)
			die("out of memory");
		c->in_cap = cap;
	}
	if (max > c->in_cap - c->in_start - c->in_len)
		max = c->in_cap - c->in_start - c->in_len;
	n = recv(c->fd, c->in + c->in_start + c->in_len, max, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0 && errno != ECONNRESET)
			problem("%s: recv: %s", kind_names[c->kind], strerror(errno));
		c->eof = true;
		return;
	}
	c->in_len += (size_t)n;
	c->bytes_read += n;
	for (;;) {
		char *start = c->in + c->in_start, *nl = memchr(start, '\n', c->in_len);
		size_t len;

		if (nl == NULL)
			break;
		*nl = '\0';
		len = (size_t)(nl - start);
		c->in_start += len + 1;
		c->in_len -= len + 1;
		if (c->kind >= K_FAST || c->kind == K_CTL)
			sub_line(c, start);
	}
}

/* Bytes a slow subscriber may read now. */
static size_t
read_budget(const struct conn *c, long long now)
{
	long long allowed, t = now - c->started;

	if ((c->kind != K_SLOW && c->kind != K_LATE) || c->unthrottled)
		return 1 << 20;
	/* Stalls: two seconds without reading in every seven. */
	if (t % 7000 >= 5000)
		return 0;
	allowed = t * SLOW_RATE / 1000 - c->bytes_read;
	return allowed > 0 ? (size_t)allowed : 0;
}

static struct conn *
subscribe(enum kind kind, const char *filter, int only_pub)
{
	struct conn *c = conn_open(kind);
	char cmd[96];

	if (c == NULL)
		return NULL;
	snprintf(c->filter, sizeof c->filter, "%s", filter);
	c->only_pub = only_pub;
	snprintf(cmd, sizeof cmd, "SUB %s\n", filter);
	conn_queue_str(c, cmd);
	conn_flush(c);
	return c;
}

/* Accounts for a joining-and-leaving subscriber at its end. */
static void
churn_done(struct conn *c)
{
	rep.announced += c->announced;
	rep.disorder += c->disorder;
	if (c->gaps > c->announced)
		rep.lost += c->gaps - c->announced;
	if (c->gaps > c->announced)
		problem("churn subscriber (%s): %ld missed, %ld announced", c->filter, c->gaps,
		        c->announced);
	rep.churn_left++;
	conn_free(c);
}

/* A new joining-and-leaving subscriber, on all topics or one publisher's. */
static void
churn_join(long long now)
{
	char filter[64];
	int which = rand() % 3, p = rand() % NPUB;
	struct conn *c;

	if (which == 0)
		snprintf(filter, sizeof filter, "soak/#");
	else if (which == 1)
		snprintf(filter, sizeof filter, "soak/%d/#", p);
	else
		snprintf(filter, sizeof filter, "soak/%d/+", p);
	if ((c = subscribe(K_CHURN, filter, which == 0 ? -1 : p)) == NULL)
		return;
	c->leave = (enum leave)(rand() % L_MODES);
	c->leave_at = now + 200 + rand() % 2800;
	rep.churn_joined++;
}

/* Starts a churn subscriber's departure, or ends it. */
static void
churn_leave(struct conn *c, long long now)
{
	char cmd[96];

	switch (c->leave) {
	case L_QUIT:
		conn_queue_str(c, "QUIT\n");
		conn_flush(c);
		c->leaving = true;
		break;
	case L_SHUT_WR:
		shutdown(c->fd, SHUT_WR);
		c->leaving = true;
		break;
	case L_UNSUB:
		snprintf(cmd, sizeof cmd, "UNSUB %s\n", c->filter);
		conn_queue_str(c, cmd);
		conn_flush(c);
		churn_done(c);
		return;
	case L_UNREAD:
		/* Stop reading; close a little later with bytes unread. */
		if (c->close_at == 0) {
			c->close_at = now + 300;
			return;
		}
		churn_done(c);
		return;
	case L_CLOSE:
	case L_MODES:
		churn_done(c);
		return;
	}
	c->close_at = now + WAIT_MS; /* EOF must come by then */
}

/* ---- publishers ---- */

/* How many messages the most lagging reader that must keep up is
 * behind the publishers: the window is measured against it. */
static long long
max_lag(void)
{
	long long max = 0;

	for (int i = 0; i < MAX_CONNS; i++) {
		const struct conn *c = &conns[i];
		long long lag;

		if (!c->used || !c->subscribed || (c->kind != K_FAST && c->kind != K_CHURN) ||
		    (c->kind == K_CHURN && c->leave == L_UNREAD && c->close_at != 0))
			continue;
		lag = (c->only_pub >= 0 ? pub_queued[c->only_pub] : total_queued) - c->base - c->got;
		if (lag > max)
			max = lag;
	}
	return max;
}

static long
slowest_fast(void)
{
	long long min = -1;

	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].used && conns[i].kind == K_FAST && (min < 0 || conns[i].got < min))
			min = conns[i].got;
	return (long)min;
}

/* Formats up to n messages of publisher c. */
static void
pub_fill(struct conn *c, long n)
{
	char line[256];

	for (long i = 0; i < n; i++, c->queued++) {
		/* Mostly short payloads, now and then a long one. */
		int pad = c->queued % 50 == 49 ? 6000 : 40 + (int)(c->queued % 7) * 10;
		int len = snprintf(line, sizeof line, "PUB soak/%d/%ld %ld ", c->pub, c->queued % 4,
		                   c->queued);

		conn_queue(c, line, (size_t)len);
		while (pad > 0) {
			static const char xs[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
			int k = pad < (int)sizeof xs - 1 ? pad : (int)sizeof xs - 1;

			conn_queue(c, xs, (size_t)k);
			pad -= k;
		}
		conn_queue(c, "\n", 1);
		total_queued++;
		pub_queued[c->pub]++;
	}
}

static struct conn *
pub_open(enum kind kind)
{
	struct conn *c;

	if (npubs >= MAX_PUBS)
		return NULL;
	if ((c = conn_open(kind)) == NULL)
		return NULL;
	c->pub = npubs++;
	return c;
}

/* A short-lived publisher: a burst, a partial line, SHUT_WR. */
static void
burst_start(void)
{
	struct conn *c = pub_open(K_BURST);
	char partial[64];

	if (c == NULL)
		return;
	pub_fill(c, BURST);
	snprintf(partial, sizeof partial, "PUB soak/%d/0 %ld never-finished", c->pub, PARTIAL_SEQ);
	conn_queue_str(c, partial);
	rep.bursts++;
}

/* ---- the control connection ---- */

static struct conn *ctl;

/* Sends cmd on the control connection and returns the next line. */
static const char *
ctl_request(const char *cmd)
{
	static char line[1024];
	long long deadline = now_ms() + WAIT_MS;

	if (send(ctl->fd, cmd, strlen(cmd), MSG_NOSIGNAL) != (ssize_t)strlen(cmd))
		return NULL;
	for (;;) {
		char *start = ctl->in + ctl->in_start;
		char *nl = ctl->in_len > 0 ? memchr(start, '\n', ctl->in_len) : NULL;
		struct pollfd pfd = { .fd = ctl->fd, .events = POLLIN };
		long long left = deadline - now_ms();

		if (nl != NULL) {
			size_t len = (size_t)(nl - start);

			snprintf(line, sizeof line, "%.*s", (int)len, start);
			ctl->in_start += len + 1;
			ctl->in_len -= len + 1;
			return line;
		}
		if (ctl->eof || left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return NULL;
		/* Read without parsing: the lines are taken above. */
		if (ctl->in_start > 0) {
			memmove(ctl->in, ctl->in + ctl->in_start, ctl->in_len);
			ctl->in_start = 0;
		}
		if (ctl->in_cap - ctl->in_len < 4096) {
			ctl->in_cap = ctl->in_cap ? ctl->in_cap * 2 : 8192;
			if ((ctl->in = realloc(ctl->in, ctl->in_cap)) == NULL)
				die("out of memory");
		}
		{
			ssize_t n = recv(ctl->fd, ctl->in + ctl->in_len, ctl->in_cap - ctl->in_len, 0);

			if (n <= 0)
				ctl->eof = true;
			else
				ctl->in_len += (size_t)n;
		}
	}
}

static long long
stat_of(const char *key)
{
	const char *line = ctl_request("STATS\n");
	char pat[64];
	const char *p;

	if (line == NULL || strncmp(line, "STATS ", 6) != 0)
		return -1;
	snprintf(pat, sizeof pat, " %s=", key);
	if ((p = strstr(line, pat)) == NULL)
		return -1;
	return strtoll(p + strlen(pat), NULL, 10);
}

/* Waits (bounded) until the broker has exactly n clients. */
static bool
wait_clients(long long n)
{
	long long deadline = now_ms() + WAIT_MS;

	while (stat_of("clients") != n) {
		if (now_ms() > deadline || !daemon_alive())
			return false;
		poll(NULL, 0, 10); /* back-off between polls of a counter */
	}
	return true;
}

/* ---- the run ---- */

/* One round of poll over every connection; handles what is ready. */
static void
pump(long long now, int timeout)
{
	struct pollfd pfds[MAX_CONNS];
	int map[MAX_CONNS], n = 0;

	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &conns[i];
		short ev = 0;

		if (!c->used || c == ctl)
			continue;
		if (c->out_off < c->out_len)
			ev |= POLLOUT;
		if (c->kind >= K_FAST && !c->eof && read_budget(c, now) > 0 &&
		    !(c->kind == K_CHURN && c->leave == L_UNREAD && c->close_at != 0))
			ev |= POLLIN;
		if (c->kind == K_BURST && c->shut)
			ev |= POLLIN;
		pfds[n] = (struct pollfd){ .fd = c->fd, .events = ev };
		map[n++] = i;
	}
	if (poll(pfds, (nfds_t)n, timeout) < 0 && errno != EINTR)
		die("poll: %s", strerror(errno));
	for (int k = 0; k < n; k++) {
		struct conn *c = &conns[map[k]];

		if (pfds[k].revents == 0)
			continue;
		if (pfds[k].revents & POLLOUT)
			conn_flush(c);
		if (pfds[k].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (c->kind == K_BURST) {
				char buf[4096];
				ssize_t r = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);

				if (r > 0) {
					rep.errs++;
					problem("short publisher got \"%.*s\"", (int)(r > 80 ? 80 : r),
					        buf);
				} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
					conn_free(c); /* EOF after SHUT_WR: done */
				}
				continue;
			}
			conn_read(c, read_budget(c, now));
		}
	}
}

/* Housekeeping of the churn subscribers and short-lived publishers. */
static void
tend(long long now, bool stopping)
{
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &conns[i];

		if (!c->used)
			continue;
		if (c->kind == K_BURST && !c->shut && c->out_off == c->out_len) {
			shutdown(c->fd, SHUT_WR);
			c->shut = true;
		}
		if (c->kind != K_CHURN)
			continue;
		if (c->leaving && c->eof) {
			churn_done(c);
		} else if (c->leaving && now > c->close_at) {
			problem("a subscriber that left (%s) got no EOF within %d ms",
			        c->leave == L_QUIT ? "QUIT" : "SHUT_WR", WAIT_MS);
			churn_done(c);
		} else if (c->eof) {
			problem("churn subscriber: EOF before it left");
			churn_done(c);
		} else if (!c->leaving && (stopping || now >= c->leave_at) &&
		           (c->close_at == 0 || now >= c->close_at)) {
			churn_leave(c, now);
		}
	}
}

/* Sends SIGHUP once the previous reload is in the log. */
static void
reload(void)
{
	int applied = log_count("configuration reloaded");
	int refused = log_count("keeping the current configuration");

	if (applied + refused < rep.reloads_sent)
		return; /* not handled yet: another signal could merge with it */
	if (rep.reloads_sent % 5 == 4)
		write_file(d.conf, broken_config);
	else
		write_file(d.conf, configs[rep.reloads_sent % 2]);
	kill(d.pid, SIGHUP);
	rep.reloads_sent++;
}

/* Reads subscriber c unthrottled until a PING barrier comes back with
 * nothing before it: every message and DROPPED owed has arrived. */
static bool
settle(struct conn *c)
{
	static unsigned tags;

	c->unthrottled = true;
	for (int round = 0; round < 20; round++) {
		long got = c->got, announced = c->announced;
		long long deadline = now_ms() + WAIT_MS;
		char cmd[80];

		snprintf(c->pong, sizeof c->pong, "PONG settle-%u", ++tags);
		snprintf(cmd, sizeof cmd, "PING settle-%u\n", tags);
		conn_queue_str(c, cmd);
		c->pong_seen = false;
		while (!c->pong_seen) {
			struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
			long long left = deadline - now_ms();

			conn_flush(c);
			if (c->eof || left <= 0)
				return false;
			if (poll(&pfd, 1, left > 100 ? 100 : (int)left) > 0)
				conn_read(c, 1 << 20);
		}
		if (c->got == got && c->announced == announced)
			return true;
	}
	return false;
}

/* Compares what subscriber c got with what was published: every message
 * from publisher first[p] (0 for strict ones) on was received or
 * announced dropped. */
static void
account_exact(struct conn *c)
{
	long long missing = 0;

	for (int p = 0; p < npubs; p++) {
		long long from;

		if (c->only_pub >= 0 && p != c->only_pub)
			continue;
		from = c->strict ? 0 : c->first[p];
		if (from < 0)
			continue; /* joined late, nothing from p arrived */
		missing += pub_sent[p] - from - c->count[p];
	}
	rep.announced += c->announced;
	rep.disorder += c->disorder;
	if (missing > c->announced) {
		rep.lost += missing - c->announced;
		problem("%s subscriber: %lld missing, %ld announced by DROPPED", kind_names[c->kind],
		        missing, c->announced);
	} else if (missing < c->announced) {
		rep.extra += c->announced - missing;
		problem("%s subscriber: DROPPED announced %ld, only %lld missing",
		        kind_names[c->kind], c->announced, missing);
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: udsb-soak -d SECONDS [-D UDSBROKERD] [-k] [-r SEED]\n");
	exit(2);
}

static void
print_report(int duration, unsigned seed, bool pass)
{
	printf("\n==== udsbroker soak: %d s, seed %u, socket %s ====\n", duration, seed, d.sock);
	printf("clients      peak %lld at once; %lld joined and left; %lld short-lived publishers\n",
	       rep.peak_conns, rep.churn_left, rep.bursts);
	printf("reloads      %lld SIGHUP: %lld applied, %lld refused (broken config)\n",
	       rep.reloads_sent, rep.reloads_applied, rep.reloads_refused);
	printf("published    %lld (broker counted %lld)\n", rep.published, rep.broker_published);
	printf("delivered    %lld received by the soak's subscribers (broker counted %lld)\n",
	       rep.delivered, rep.broker_delivered);
	printf("dropped      %lld (broker, including to clients that left with unread data);"
	       " announced by DROPPED: %lld\n", rep.broker_dropped, rep.announced);
	printf("lost         %lld   (missing and not announced; must be 0)\n", rep.lost);
	printf("misordered   %lld   over-announced %lld   partial lines published %lld   odd lines %lld\n",
	       rep.disorder, rep.extra, rep.partial, rep.errs);
	printf("peak RSS     %ld KiB (start %ld KiB, bound start + %ld KiB)\n", rep.rss_peak,
	       rep.rss_start, rep.rss_bound);
	printf("descriptors  %d before, %d after\n", rep.fds_before, rep.fds_after);
	printf("wind-down    %lld ms to deliver the last messages, %lld ms to settle the accounts\n",
	       rep.wind_down_ms, rep.settle_ms);
	if (rep.crashed)
		printf("daemon       CRASHED\n");
	else
		printf("daemon       exit status %d after SIGTERM\n", rep.daemon_status);
	if (rep.problem[0] != '\0')
		printf("first problem: %s\n", rep.problem);
	printf("RESULT: %s%s%s\n", pass ? "PASS" : "FAIL", keep_dir || !pass ? "  (log: " : "",
	       keep_dir || !pass ? d.log : "");
	if (keep_dir || !pass)
		printf(")\n");
}

int
main(int argc, char **argv)
{
	const char *daemon = getenv("UDSBROKERD");
	unsigned seed = (unsigned)time(NULL);
	int duration = -1, ch;
	long long start, end, next_churn, next_burst, next_reload, next_sample, late_at;
	struct rlimit rl;
	bool pass;

	while ((ch = getopt(argc, argv, "d:D:kr:")) != -1) {
		switch (ch) {
		case 'd':
			duration = atoi(optarg);
			break;
		case 'D':
			daemon = optarg;
			break;
		case 'k':
			keep_dir = true;
			break;
		case 'r':
			seed = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (duration <= 0 || daemon == NULL || daemon[0] == '\0')
		usage();
	srand(seed);
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (int i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;

	start_daemon(daemon);
	if ((ctl = conn_open(K_CTL)) == NULL || !wait_clients(1))
		die("the broker does not answer STATS; see %s", d.log);
	rep.fds_before = fd_count();
	rep.rss_start = status_kb("VmRSS");
	rep.rss_bound = (long)MAX_CLIENTS * (QUEUE_LIMIT_MAX_K + MAX_LINE_K);

	/* Subscribers from the start, then the publishers. */
	for (int i = 0; i < NFAST; i++) {
		struct conn *c = subscribe(K_FAST, "soak/#", -1);

		if (c != NULL)
			c->strict = true;
	}
	for (int i = 0; i < NSLOW; i++) {
		struct conn *c = subscribe(K_SLOW, "soak/#", -1);

		if (c != NULL)
			c->strict = true;
	}
	if (!wait_clients(1 + NFAST + NSLOW))
		die("subscribers not connected; see %s", d.log);
	/* SUB answered for all: "subscriptions" counts them. */
	{
		long long deadline = now_ms() + WAIT_MS;

		while (stat_of("subscriptions") != NFAST + NSLOW) {
			if (now_ms() > deadline)
				die("subscriptions not made; see %s", d.log);
			poll(NULL, 0, 10); /* back-off between polls of a counter */
		}
	}
	for (int i = 0; i < NPUB; i++)
		pub_open(K_PUB);

	start = now_ms();
	end = start + duration * 1000LL;
	next_churn = next_burst = next_reload = next_sample = start;
	late_at = start + duration * 1000LL / 3;
	for (long long now = start; now < end && daemon_alive(); now = now_ms()) {
		long room = WINDOW - (long)max_lag();

		/* Publishers: round-robin within the window. */
		for (int i = 0; i < MAX_CONNS && room > 0; i++) {
			struct conn *c = &conns[i];

			if (c->used && c->kind == K_PUB && c->out_off == c->out_len) {
				long n = room < 64 ? room : 64;

				pub_fill(c, n);
				room -= n;
				conn_flush(c);
			}
		}
		if (now >= next_churn) {
			int churners = 0;

			for (int i = 0; i < MAX_CONNS; i++)
				churners += conns[i].used && conns[i].kind == K_CHURN;
			if (churners < MAX_CHURN)
				churn_join(now);
			next_churn = now + 20 + rand() % 120;
		}
		if (now >= next_burst && room > 0) {
			burst_start();
			next_burst = now + 500 + rand() % 1500;
		}
		if (now >= late_at) {
			struct conn *c = subscribe(K_LATE, "soak/0/#", 0);

			if (c != NULL)
				c->started = now;
			late_at = end + 1;
		}
		if (now >= next_reload) {
			reload();
			next_reload = now + 1000;
		}
		if (now >= next_sample) {
			int n = live_conns();

			if (n > rep.peak_conns)
				rep.peak_conns = n;
			next_sample = now + 250;
		}
		tend(now, false);
		pump(now, 20);
	}

	/* Wind down: no new clients; the churners leave; the publishers'
	 * last bytes go out; the fast subscribers catch up. */
	rep.wind_down_ms = now_ms();
	{
		long long last_progress = now_ms();
		long long last_sent = -1, last_fast = -1;

		while (daemon_alive()) {
			long long now = now_ms();
			bool busy = false;

			tend(now, true);
			for (int i = 0; i < MAX_CONNS; i++) {
				struct conn *c = &conns[i];

				if (c->used && (c->kind == K_CHURN || c->kind == K_BURST ||
				                c->out_off < c->out_len))
					busy = true;
			}
			if (!busy && slowest_fast() >= total_sent)
				break;
			if (total_sent != last_sent || slowest_fast() != last_fast) {
				last_sent = total_sent;
				last_fast = slowest_fast();
				last_progress = now;
			}
			if (now - last_progress > WAIT_MS) {
				problem("wind-down stuck: %lld of %lld sent, slowest fast subscriber at %ld",
				        total_sent, total_queued, slowest_fast());
				break;
			}
			pump(now, 20);
		}
	}

	/* Everything is published: account exactly. */
	rep.settle_ms = now_ms();
	rep.wind_down_ms = rep.settle_ms - rep.wind_down_ms;
	for (int p = 0; p < npubs; p++)
		rep.published += pub_sent[p];
	for (int i = 0; i < MAX_CONNS && daemon_alive(); i++) {
		struct conn *c = &conns[i];

		if (!c->used || c->kind < K_FAST)
			continue;
		if (!settle(c))
			problem("%s subscriber did not settle", kind_names[c->kind]);
		account_exact(c);
	}
	rep.settle_ms = now_ms() - rep.settle_ms;
	if (daemon_alive()) {
		rep.broker_published = stat_of("published");
		if (rep.broker_published != rep.published)
			problem("the broker counted %lld published, the publishers wrote %lld",
			        rep.broker_published, rep.published);
	}
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].used && &conns[i] != ctl)
			conn_free(&conns[i]);
	if (daemon_alive() && wait_clients(1)) {
		rep.fds_after = fd_count();
		rep.broker_delivered = stat_of("delivered");
		rep.broker_dropped = stat_of("dropped");
	} else {
		problem("the broker did not get back to one client");
		rep.fds_after = -1;
	}
	rep.rss_peak = status_kb("VmHWM");
	rep.reloads_applied = log_count("configuration reloaded");
	rep.reloads_refused = log_count("keeping the current configuration");

	/* SIGTERM: BYE shutdown to the control client, then exit 0. */
	if (daemon_alive()) {
		long long deadline = now_ms() + WAIT_MS;
		int status = 0;
		pid_t r;

		kill(d.pid, SIGTERM);
		while ((r = waitpid(d.pid, &status, WNOHANG)) == 0 && now_ms() < deadline)
			poll(NULL, 0, 10); /* back-off of a bounded wait for exit */
		if (r != d.pid) {
			kill(d.pid, SIGKILL);
			waitpid(d.pid, &status, 0);
			problem("udsbrokerd did not exit within %d ms of SIGTERM", WAIT_MS);
			rep.daemon_status = -1;
		} else if (WIFSIGNALED(status)) {
			rep.crashed = true;
			problem("udsbrokerd died by signal %d on SIGTERM", WTERMSIG(status));
		} else {
			rep.daemon_status = WEXITSTATUS(status);
		}
		d.pid = 0;
	}
	conn_free(ctl);

	pass = !rep.crashed && rep.daemon_status == 0 && rep.lost == 0 && rep.disorder == 0 &&
	       rep.extra == 0 && rep.partial == 0 && rep.errs == 0 &&
	       rep.fds_after == rep.fds_before && rep.fds_before > 0 &&
	       rep.broker_published == rep.published &&
	       rep.rss_peak - rep.rss_start <= rep.rss_bound && rep.problem[0] == '\0';
	print_report(duration, seed, pass);
	if (pass && !keep_dir) {
		unlink(d.log);
		unlink(d.conf);
		rmdir(d.dir);
	}
	return pass ? 0 : 1;
}
