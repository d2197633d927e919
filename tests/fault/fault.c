/* Helpers for the fault tests; see fault.h. */
#include "fault.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

long
fault_scaled(long n, long min)
{
	const char *s = getenv("UDSB_FAULT_SCALE");
	double scale = s != NULL && s[0] != '\0' ? strtod(s, NULL) : 1.0;
	long v;

	if (!(scale > 0))
		scale = 1.0;
	v = (long)((double)n * scale);
	return v < min ? min : v;
}

int
proc_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

long
proc_cpu_ms(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long utime, stime;
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* Fields after the command name, which is in parentheses and may
	 * hold anything: state is field 3, utime 14, stime 15. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
	           &stime) != 2)
		return -1;
	return (long)((utime + stime) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

int
settled_fds(const struct th_daemon *d, int ctl, int clients)
{
	int n;

	wait_stat(ctl, "clients", clients);
	n = proc_fd_count(d->pid);
	cr_assert_gt(n, 0, "cannot read /proc/%d/fd", (int)d->pid);
	return n;
}

/* ---- sequenced subscribers ---- */

void
seqsub_init(struct seqsub *s, int fd)
{
	memset(s, 0, sizeof *s);
	s->fd = fd;
}

/* Accounts for one line; returns true if it was a PONG equal to pong. */
static bool
seqsub_line(struct seqsub *s, const char *line, const char *pong)
{
	if (strncmp(line, "MSG ", 4) == 0) {
		const char *sp = strchr(line + 4, ' ');
		char *end;
		long seq = sp != NULL ? strtol(sp + 1, &end, 10) : -1;

		if (sp == NULL || end == sp + 1 || seq < 0) {
			if (s->odd[0] == '\0')
				snprintf(s->odd, sizeof s->odd, "%s", line);
			return false;
		}
		s->got++;
		if (seq < s->next) {
			s->disorder++;
			return false;
		}
		s->missed += seq - s->next;
		s->next = seq + 1;
	} else if (strncmp(line, "DROPPED ", 8) == 0) {
		s->announced += strtol(line + 8, NULL, 10);
	} else if (strncmp(line, "PONG", 4) == 0) {
		s->pongs++;
		return pong != NULL && strcmp(line, pong) == 0;
	} else if (strcmp(line, "OK") == 0) {
		s->oks++;
	} else if (strncmp(line, "BYE ", 4) == 0) {
		s->bye = true;
		snprintf(s->bye_reason, sizeof s->bye_reason, "%s", line + 4);
	} else if (s->odd[0] == '\0') {
		snprintf(s->odd, sizeof s->odd, "%s", line);
	}
	return false;
}

void
seqsub_drain(struct seqsub *s)
{
	char *line;

	while ((line = th_next_line(s->fd, NULL)) != NULL)
		seqsub_line(s, line, NULL);
}

long
seqsub_pump(struct seqsub *s)
{
	long n = th_read_some(s->fd, SIZE_MAX);

	seqsub_drain(s);
	return n;
}

void
seqsub_wait_got(struct seqsub *s, long want)
{
	long long last = th_now_ms();

	while (s->got < want) {
		long before = s->got;

		cr_assert(!th_at_eof(s->fd), "EOF on fd %d after %ld of %ld messages", s->fd, s->got,
		          want);
		cr_assert_lt(th_now_ms() - last, FAULT_STALL_MS,
		             "fd %d: no message for %d ms, %ld of %ld", s->fd, FAULT_STALL_MS,
		             s->got, want);
		th_readable(s->fd, 100);
		cr_assert_geq(seqsub_pump(s), 0, "read: %s", strerror(errno));
		if (s->got > before)
			last = th_now_ms();
	}
}

long
seqsub_barrier(struct seqsub *s, const char *tag)
{
	long long deadline = th_now_ms() + TH_TIMEOUT_MS;
	long before = s->got;
	char want[128], cmd[128];

	snprintf(want, sizeof want, "PONG %s", tag);
	snprintf(cmd, sizeof cmd, "PING %s\n", tag);
	xsend(s->fd, cmd);
	for (;;) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		char *line;

		while ((line = th_next_line(s->fd, NULL)) != NULL)
			if (seqsub_line(s, line, want))
				return s->got - before;
		cr_assert(!th_at_eof(s->fd), "EOF on fd %d before %s", s->fd, want);
		cr_assert_gt(poll(&pfd, 1, th_left_ms(deadline)), 0, "no %s within %d ms", want,
		             TH_TIMEOUT_MS);
		cr_assert_geq(th_read_some(s->fd, SIZE_MAX), 0, "read: %s", strerror(errno));
	}
}

void
seqsub_settle(struct seqsub *s)
{
	static unsigned tags;
	char tag[32];

	for (int round = 0; round < 10; round++) {
		long announced = s->announced;

		snprintf(tag, sizeof tag, "settle-%u", ++tags);
		if (seqsub_barrier(s, tag) == 0 && s->announced == announced)
			return;
	}
	cr_assert_fail("fd %d still receiving after 10 barriers", s->fd);
}

/* ---- the publisher ---- */

/* The lowest next-seq among the fast subscribers (total if none). */
static long
slowest_fast(const struct stream *st)
{
	long min = st->total;

	for (int i = 0; i < st->nfast; i++)
		if (st->fast[i]->next < min)
			min = st->fast[i]->next;
	return min;
}

/* Formats the next messages into st->out, up to the window. */
static void
stream_refill(struct stream *st)
{
	long limit = slowest_fast(st) + st->window;
	size_t payload = st->payload > st->big_payload ? st->payload : st->big_payload;
	size_t need = strlen(st->topic) + payload + 8;
	size_t used = 0;

	if (limit > st->total)
		limit = st->total;
	if (st->out == NULL)
		st->out = malloc(256 * need);
	cr_assert_not_null(st->out);
	for (int i = 0; i < 256 && st->queued < limit; i++, st->queued++) {
		int n = snprintf(st->out + used, need, "PUB %s %ld ", st->topic, st->queued);
		size_t have = (size_t)n - 5 - strlen(st->topic); /* "<seq> " */
		size_t want = st->big_every > 0 && st->queued % st->big_every == st->big_every - 1
		                      ? st->big_payload
		                      : st->payload;

		/* Pad the payload ("<seq> x...") to want bytes. */
		for (size_t k = have; k < want; k++)
			st->out[used + (size_t)n++] = 'x';
		st->out[used + (size_t)n++] = '\n';
		used += (size_t)n;
	}
	st->outlen = used;
	st->outoff = 0;
}

/* Asserts that the fast subscriber s is on track. */
static void
check_fast(const struct stream *st, const struct seqsub *s, int i)
{
	cr_assert_eq(s->missed, 0, "fast subscriber %d missed %ld messages", i, s->missed);
	cr_assert_eq(s->disorder, 0, "fast subscriber %d: %ld out of order", i, s->disorder);
	cr_assert_eq(s->announced, 0, "fast subscriber %d got DROPPED %ld", i, s->announced);
	cr_assert(!s->bye, "fast subscriber %d got BYE %s", i, s->bye_reason);
	cr_assert_str_empty(s->odd, "fast subscriber %d got \"%s\"", i, s->odd);
	cr_assert(!th_at_eof(s->fd), "fast subscriber %d: EOF after %ld of %ld", i, s->got,
	          st->total);
}

/* Bytes the i-th of the others may read now, to keep to others_rate. */
static size_t
others_budget(const struct stream *st, int i)
{
	long long allowed;

	if (st->others_rate <= 0)
		return SIZE_MAX;
	allowed = (th_now_ms() - st->started) * st->others_rate / 1000 - st->others_read[i];
	return allowed > 0 ? (size_t)allowed : 0;
}

void
stream_run(struct stream *st)
{
	int nfds = 1 + st->nfast + st->nothers;
	struct pollfd *pfds = calloc((size_t)nfds, sizeof *pfds);
	long long last_progress = th_now_ms();
	long next_hook = st->hook_every > 0 ? st->hook_every : LONG_MAX;

	cr_assert_not_null(pfds);
	cr_assert_geq(st->payload, 24, "payload too short for a sequence number");
	st->started = th_now_ms();
	st->others_read = calloc((size_t)st->nothers + 1, sizeof *st->others_read);
	cr_assert_not_null(st->others_read);
	for (;;) {
		bool progress = false;

		if (slowest_fast(st) >= st->total && st->sent >= st->total)
			break;
		if (st->outoff == st->outlen && st->queued < st->total)
			stream_refill(st);

		pfds[0] = (struct pollfd){ .fd = st->pub,
			                   .events = st->outoff < st->outlen ? POLLOUT : 0 };
		for (int i = 0; i < st->nfast; i++)
			pfds[1 + i] = (struct pollfd){ .fd = st->fast[i]->fd, .events = POLLIN };
		for (int i = 0; i < st->nothers; i++)
			pfds[1 + st->nfast + i] =
				(struct pollfd){ .fd = st->others[i]->fd,
				                 .events = th_at_eof(st->others[i]->fd) ||
				                                   others_budget(st, i) == 0
				                                   ? 0
				                                   : POLLIN };
		if (poll(pfds, (nfds_t)nfds, 100) < 0 && errno != EINTR)
			cr_assert_fail("poll: %s", strerror(errno));

		if (pfds[0].revents & (POLLOUT | POLLERR | POLLHUP)) {
			ssize_t n = send(st->pub, st->out + st->outoff, st->outlen - st->outoff,
			                 MSG_DONTWAIT | MSG_NOSIGNAL);

			if (n < 0 && errno != EAGAIN && errno != EINTR)
				cr_assert_fail("publisher send: %s (after %ld messages)",
				               strerror(errno), st->sent);
			if (n > 0) {
				for (ssize_t k = 0; k < n; k++)
					if (st->out[st->outoff + (size_t)k] == '\n')
						st->sent++;
				st->outoff += (size_t)n;
				progress = true;
			}
		}
		for (int i = 0; i < st->nfast; i++) {
			if (pfds[1 + i].revents == 0)
				continue;
			cr_assert_geq(seqsub_pump(st->fast[i]), 0, "fast subscriber %d: read: %s", i,
			              strerror(errno));
			check_fast(st, st->fast[i], i);
			progress = true;
		}
		for (int i = 0; i < st->nothers; i++) {
			long n;

			if (pfds[1 + st->nfast + i].revents == 0)
				continue;
			n = th_read_some(st->others[i]->fd, others_budget(st, i));
			seqsub_drain(st->others[i]);
			if (n > 0) {
				st->others_read[i] += n;
				progress = true;
			}
		}

		while (st->hook != NULL && st->sent >= next_hook) {
			st->hook(st, st->hook_arg);
			next_hook += st->hook_every;
			progress = true;
		}
		if (progress)
			last_progress = th_now_ms();
		cr_assert_lt(th_now_ms() - last_progress, FAULT_STALL_MS,
		             "stream stuck for %d ms: sent %ld of %ld, slowest fast subscriber at %ld",
		             FAULT_STALL_MS, st->sent, st->total, slowest_fast(st));
	}
	for (int i = 0; i < st->nfast; i++) {
		check_fast(st, st->fast[i], i);
		cr_assert_eq(st->fast[i]->got, st->total, "fast subscriber %d got %ld of %ld", i,
		             st->fast[i]->got, st->total);
	}
	free(pfds);
	free(st->out);
	free(st->others_read);
	st->out = NULL;
	st->others_read = NULL;
}
