/* State that outlives a message, against the real daemon: retained values
 * (RETAIN, RMSG, bounds, persistence), last wills and $SYS. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static struct th_daemon b;

/* Stops the test's broker: a clean exit is part of every test. */
static void
stop(void)
{
	cr_expect_eq(th_stop(&b), 0, "udsbrokerd did not exit cleanly on SIGTERM");
}

TestSuite(retain, .fini = stop, .timeout = 300);

/* Closes fd without QUIT and waits until the broker counts want clients. */
static void
drop_client(int fd, int ctl, long long want)
{
	th_close(fd);
	wait_stat(ctl, "clients", want);
}

Test(retain, replace_clear_and_live_delivery)
{
	int p, s, late;

	xstart(&b, "sys_interval = 0\n");
	p = xconnect(&b);
	s = xconnect(&b);
	xsend(p, "RETAIN a/b one\n");
	quiet(p); /* no reply on success */
	xsub(s, "a/#");
	expect_next(s, "RMSG a/b one");
	xsend(p, "RETAIN a/b two\nPUB a/b live\nRETAIN a/c\n");
	quiet(p);
	expect_next(s, "MSG a/b two");
	expect_next(s, "MSG a/b live");
	expect_next(s, "MSG a/c"); /* clearing a value nobody held is delivered live too */
	quiet(s);

	late = xconnect(&b);
	xsub(late, "a/+");
	expect_next(late, "RMSG a/b two"); /* PUB did not replace it */
	quiet(late);
	xsend(p, "RETAIN a/b\n"); /* clears it */
	quiet(p);
	expect_next(late, "MSG a/b");
	xsub(late, "a/#"); /* a new filter: nothing retained any more */
	quiet(late);
	cr_expect_eq(stat_of(p, "retained"), 0);
}

/* Every RMSG of a SUB comes before any later MSG to that client, and a SUB
 * of a filter already held sends them again. */
Test(retain, rmsg_before_later_messages)
{
	enum { N = 200 };
	static char buf[N * 32];
	size_t n = 0;
	int p, s;

	xstart(&b, "sys_interval = 0\n");
	p = xconnect(&b);
	for (int i = 0; i < N; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "RETAIN r/%d v%d\n", i, i);
	xsend(p, buf);
	quiet(p);
	s = xconnect(&b);
	for (int round = 0; round < 2; round++) {
		bool seen[N] = { false };

		/* The same client publishes right after its SUB: that MSG can
		 * only come after the RMSGs. */
		xsend(s, "SUB r/#\nPUB r/0 live\n");
		expect_next(s, "OK");
		for (int i = 0; i < N; i++) {
			const char *line = xrecv(s, NULL);
			int k;

			cr_assert(sscanf(line, "RMSG r/%d v", &k) == 1 && k >= 0 && k < N &&
			              !seen[k],
			          "round %d: line %d is \"%s\"", round, i, line);
			seen[k] = true;
		}
		expect_next(s, "MSG r/0 live");
		quiet(s);
		/* MSG r/0 live did not replace the retained r/0. */
	}
}

Test(retain, bounds_hold_exactly)
{
	int p, s;

	/* Three values, 20 bytes of topic + payload at most. */
	xstart(&b, "sys_interval = 0\nmax_retained = 3\nmax_retained_bytes = 20\n");
	p = xconnect(&b);
	s = xconnect(&b);
	xsub(s, "#");
	xsend(p, "RETAIN t1 aaaa\nRETAIN t2 bbbb\n"); /* 6 + 6 bytes */
	quiet(p);
	expect_next(s, "MSG t1 aaaa");
	expect_next(s, "MSG t2 bbbb");
	xsend(p, "RETAIN t3 cccccc\n"); /* 8 more: exactly 20 */
	quiet(p);
	expect_next(s, "MSG t3 cccccc");
	cr_expect_eq(stat_of(p, "retained_bytes"), 20);
	xsend(p, "RETAIN t4 d\n"); /* a fourth value */
	expect_err(p, "retained-full");
	xsend(p, "RETAIN t1 aaaaa\n"); /* one byte more */
	expect_err(p, "retained-full");
	quiet(s);                               /* neither was published */
	xsend(p, "RETAIN t1 aaa\nRETAIN t2\n"); /* smaller, and a clear: always fine */
	quiet(p);
	expect_next(s, "MSG t1 aaa");
	expect_next(s, "MSG t2");
	xsend(p, "RETAIN t4 d\n"); /* room again */
	quiet(p);
	expect_next(s, "MSG t4 d");
	cr_expect_eq(stat_of(p, "retained"), 3);
	cr_expect_eq(stat_of(p, "retained_bytes"), 5 + 8 + 3);
}

Test(retain, dollar_topics_are_the_brokers)
{
	int p;

	xstart(&b, "sys_interval = 0\n");
	p = xconnect(&b);
	xsend(p, "RETAIN $SYS/x y\n");
	expect_err(p, "forbidden");
	xsend(p, "RETAIN a+b y\n");
	expect_err(p, "bad-topic");
	xsend(p, "RETAIN\n");
	expect_err(p, "bad-topic");
	quiet(p);
}

/* A file of retained values, in the test's directory. */
static void
retain_config(char *conf, size_t size, const char *extra)
{
	snprintf(conf, size, "sys_interval = 0\n%s[retain]\nfile = %s/retained.db\nsync = 3600\n",
	         extra, b.dir);
}

/* The payload of value i: every byte value but '\n', '\r' and ' ' leading,
 * so a restart that changes one byte shows. */
static size_t
payload_of(int i, char *out)
{
	size_t n = 0;

	out[n++] = 'p';
	for (int k = 0; k < 12; k++) {
		unsigned char c = (unsigned char)(i * 7 + k * 31);

		out[n++] = (char)(c == '\n' || c == '\r' ? 'x' : c);
	}
	return n;
}

Test(retain, restart_keeps_100000_values_byte_for_byte)
{
	enum { MAX = 100000 };
	static char buf[MAX * 48];
	static bool seen[MAX];
	/* Under valgrind a fifth: the same paths, in a bounded time. */
	const size_t N = th_under_valgrind() ? MAX / 5 : MAX;
	char conf[512], payload[32];
	size_t n = 0, got = 0;
	int p, s;

	cr_assert_eq(th_prepare(&b, NULL), 0);
	retain_config(conf, sizeof conf, "max_retained = 200000\n");
	cr_assert_eq(th_write_config(&b, conf), 0);
	cr_assert_eq(th_spawn(&b), 0);
	p = xconnect(&b);
	for (int i = 0; i < (int)N; i++) {
		size_t plen = payload_of(i, payload);

		n += (size_t)snprintf(buf + n, sizeof buf - n, "RETAIN keep/%d/v ", i);
		memcpy(buf + n, payload, plen);
		n += plen;
		buf[n++] = '\n';
	}
	xsend_bytes(p, buf, n);
	quiet(p);
	cr_assert_eq(stat_of(p, "retained"), (long long)N);
	th_close(p);
	cr_assert_eq(th_wait(&b, SIGTERM, TH_TIMEOUT_MS), 0, "no clean exit");
	cr_assert_eq(th_spawn(&b), 0, "no restart");

	s = xconnect(&b);
	xsend(s, "SUB keep/#\n");
	expect_next(s, "OK");
	while (got < N) {
		long len;
		const char *line = xrecv(s, &len);
		char want[64];
		int i, off;

		cr_assert(sscanf(line, "RMSG keep/%d/v %n", &i, &off) == 1 && i >= 0 &&
		              i < (int)N && !seen[i],
		          "line %zu: \"%.40s\"", got, line);
		seen[i] = true;
		cr_assert_eq((size_t)(len - off), payload_of(i, want), "value %d: length", i);
		cr_assert(memcmp(line + off, want, (size_t)(len - off)) == 0, "value %d differs",
		          i);
		got++;
	}
	quiet(s);
	cr_expect_eq(stat_of(s, "retained"), (long long)N);
}

Test(retain, damaged_file_keeps_what_came_before_it)
{
	char conf[512], path[256], corrupt[300];
	struct stat st;
	size_t count = 0;
	int p, s, fd;

	cr_assert_eq(th_prepare(&b, NULL), 0);
	retain_config(conf, sizeof conf, "");
	cr_assert_eq(th_write_config(&b, conf), 0);
	cr_assert_eq(th_spawn(&b), 0);
	p = xconnect(&b);
	for (int i = 0; i < 100; i++) {
		char line[64];

		snprintf(line, sizeof line, "RETAIN cut/%03d value-%03d\n", i, i);
		xsend(p, line);
	}
	quiet(p);
	th_close(p);
	cr_assert_eq(th_wait(&b, SIGTERM, TH_TIMEOUT_MS), 0);
	snprintf(path, sizeof path, "%s/retained.db", b.dir);
	snprintf(corrupt, sizeof corrupt, "%s.corrupt", path);
	cr_assert_eq(stat(path, &st), 0, "no file written at exit");
	fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, st.st_size / 2), 0); /* cut in the middle */
	close(fd);

	cr_assert_eq(th_spawn(&b), 0, "a damaged file must not stop the broker");
	cr_expect(th_log_contains(&b, "damaged at byte"), "the log names no offset");
	cr_expect_eq(stat(corrupt, &st), 0, "the damaged file was not kept as .corrupt");
	s = xconnect(&b);
	xsend(s, "SUB cut/#\n");
	expect_next(s, "OK");
	for (const char *line = barrier(s); (line = strstr(line, "RMSG cut/")) != NULL; line++)
		count++;
	cr_expect(count > 0 && count < 100, "%zu values after a cut in the middle", count);
	cr_expect_eq(stat_of(s, "retained"), (long long)count);
}

Test(retain, will_runs_on_end_of_input_not_after_quit)
{
	int s, a, q, ctl;

	xstart(&b, "sys_interval = 0\n");
	s = xconnect(&b);
	ctl = xconnect(&b);
	xsub(s, "svc/#");
	a = xconnect(&b);
	q = xconnect(&b);
	xsend(a, "WILL PUB svc/a gone\n");
	expect_next(a, "OK");
	xsend(q, "WILL RETAIN svc/q gone\n");
	expect_next(q, "OK");
	xsend(q, "QUIT\n");
	read_to_eof(q, NULL);
	th_close(q);
	wait_stat(ctl, "clients", 3);
	quiet(s); /* QUIT: no will */
	drop_client(a, ctl, 2);
	expect_next(s, "MSG svc/a gone");
	quiet(s);
}

Test(retain, will_retain_replace_and_clear)
{
	int s, a, c, ctl, late;

	xstart(&b, "sys_interval = 0\n");
	s = xconnect(&b);
	ctl = xconnect(&b);
	xsub(s, "st/#");
	a = xconnect(&b);
	xsend(a, "RETAIN st/db up\nWILL PUB st/db x\nWILL RETAIN st/db down\n");
	expect_next(a, "OK");
	expect_next(a, "OK");
	expect_next(s, "MSG st/db up");
	c = xconnect(&b);
	xsend(c, "WILL PUB st/c gone\nWILL\n"); /* set, then cleared */
	expect_next(c, "OK");
	expect_next(c, "OK");
	drop_client(c, ctl, 3);
	quiet(s);
	drop_client(a, ctl, 2);
	expect_next(s, "MSG st/db down"); /* the last WILL given */
	late = xconnect(&b);
	xsub(late, "st/db");
	expect_next(late, "RMSG st/db down");
}

Test(retain, will_checked_when_given)
{
	int a;

	xstart(&b, "sys_interval = 0\n[access]\nrule = deny pub secret/# *\n");
	a = xconnect(&b);
	xsend(a, "WILL PUB $SYS/x y\n");
	expect_err(a, "forbidden");
	xsend(a, "WILL RETAIN secret/x y\n");
	expect_err(a, "forbidden");
	xsend(a, "WILL PUB a+b y\n");
	expect_err(a, "bad-topic");
	xsend(a, "WILL PUB\n");
	expect_err(a, "bad-topic");
	xsend(a, "WILL SUB x\n");
	expect_err(a, "bad-argument");
	quiet(a);
}

/* The rules in force when the will runs decide, not those when it was given. */
Test(retain, will_checked_again_when_it_runs)
{
	int s, a, ctl;

	xstart(&b, "sys_interval = 0\n");
	s = xconnect(&b);
	ctl = xconnect(&b);
	xsub(s, "w/#");
	a = xconnect(&b);
	xsend(a, "WILL PUB w/a gone\n");
	expect_next(a, "OK");
	cr_assert_eq(th_write_config(&b, "sys_interval = 0\n[access]\nrule = deny pub w/# *\n"), 0);
	kill(b.pid, SIGHUP);
	wait_log(&b, "configuration reloaded", 1);
	drop_client(a, ctl, 2);
	quiet(s);
	cr_expect_eq(stat_of(ctl, "denied"), 1);
}

Test(retain, will_not_on_shutdown)
{
	int s, a;

	xstart(&b, "sys_interval = 0\n");
	s = xconnect(&b);
	xsub(s, "w/#");
	a = xconnect(&b);
	xsend(a, "WILL PUB w/a gone\n");
	expect_next(a, "OK");
	quiet(s);
	kill(b.pid, SIGTERM);
	expect_next(s, "BYE shutdown");
	cr_expect_eq(th_recv_eof(s, TH_TIMEOUT_MS), 0, "more than BYE came: the will ran?");
	/* Wait for the exit here: a second SIGTERM from stop() while it is
	 * freeing would find the default action again. */
	cr_expect_eq(th_wait(&b, 0, TH_TIMEOUT_MS), 0, "no clean exit after SIGTERM");
}

/* A slow consumer sent BYE ends abnormally: its will runs. */
Test(retain, will_runs_after_a_slow_consumer_bye)
{
	static char buf[64 * 1024];
	int s, slow, p, ctl;

	xstart(&b, "sys_interval = 0\nslow_consumer = disconnect\nqueue_limit = 64K\n");
	s = xconnect(&b);
	ctl = xconnect(&b);
	xsub(s, "w/#");
	slow = xconnect(&b);
	xsend(slow, "WILL PUB w/slow gone\n");
	expect_next(slow, "OK");
	xsub(slow, "big");
	/* Its socket buffer is small and it never reads. */
	setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &(int){ 4096 }, sizeof(int));
	p = xconnect(&b);
	memset(buf, 'x', sizeof buf);
	memcpy(buf, "PUB big ", 8);
	buf[sizeof buf - 1] = '\n';
	for (int i = 0; i < 64; i++)
		xsend_bytes(p, buf, sizeof buf);
	quiet(p);
	/* BYE, then at most the write timeout until it is closed. */
	expect_next(s, "MSG w/slow gone");
	cr_expect_eq(stat_of(ctl, "slow_disconnects"), 1);
}

Test(retain, sys_values_at_once_and_as_they_move)
{
	int s, extra[3];
	long long n = -1;
	long long deadline = th_now_ms() + TH_TIMEOUT_MS;

	xstart(&b, "sys_interval = 1\n");
	s = xconnect(&b);
	xsub(s, "$SYS/broker/version");
	expect_next(s, "RMSG $SYS/broker/version " UDSB_TEST_VERSION);
	xsub(s, "$SYS/broker/clients/connected");
	cr_assert(sscanf(xrecv(s, NULL), "RMSG $SYS/broker/clients/connected %lld", &n) == 1);
	for (int i = 0; i < 3; i++)
		extra[i] = xconnect(&b);
	/* Within a few intervals the value says 4. */
	while (n != 4 && th_left_ms(deadline) > 0) {
		const char *line = xrecv(s, NULL);

		if (sscanf(line, "MSG $SYS/broker/clients/connected %lld", &n) != 1)
			continue;
	}
	cr_expect_eq(n, 4, "clients/connected never said 4");
	for (int i = 0; i < 3; i++)
		th_close(extra[i]);
}

Test(retain, sys_hidden_from_hash_and_not_a_clients_to_publish)
{
	int s;

	xstart(&b, "sys_interval = 1\n");
	s = xconnect(&b);
	xsub(s, "#"); /* '#' does not reach $ topics */
	xsend(s, "PUB $SYS/broker/uptime 0\n");
	expect_err(s, "forbidden");
	quiet(s);
	cr_expect_eq(stat_of(s, "retained"), 0, "$SYS values are not counted as retained");
}
