/* Delivery metadata (OPT meta) and request/reply (REQ, $reply/...) against
 * the real daemon. */
#include <criterion/criterion.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define NOBODY 65534

static struct th_daemon b;

/* Stops the test's broker: a clean exit is part of every test. */
static void
stop(void)
{
	cr_expect_eq(th_stop(&b), 0, "udsbrokerd did not exit cleanly on SIGTERM");
}

TestSuite(services, .fini = stop, .timeout = 120);

Test(services, meta_off_is_release_1_meta_on_carries_the_kernels_credentials)
{
	char want[256];
	int plain, meta, p;

	xstart(&b, "sys_interval = 0\n");
	plain = xconnect(&b);
	meta = xconnect(&b);
	xsub(plain, "m/#");
	xsend(meta, "OPT meta on\n");
	expect_next(meta, "OK");
	xsub(meta, "m/#");
	p = xconnect(&b);
	/* Meta-looking bytes in a topic or payload are only data. */
	xsend(p, "PUB m/a hello world\nPUB m/e\nPUB m/x uid=0;gid=0;pid=1;via=forged x\n");
	quiet(p);
	expect_next(plain, "MSG m/a hello world");
	expect_next(plain, "MSG m/e");
	expect_next(plain, "MSG m/x uid=0;gid=0;pid=1;via=forged x");
	snprintf(want, sizeof want, "MSG m/a %s hello world", own_meta("main"));
	expect_next(meta, want);
	snprintf(want, sizeof want, "MSG m/e %s", own_meta("main"));
	expect_next(meta, want);
	snprintf(want, sizeof want, "MSG m/x %s uid=0;gid=0;pid=1;via=forged x", own_meta("main"));
	expect_next(meta, want);
	xsend(meta, "OPT meta off\nOPT meta maybe\nOPT\n");
	expect_next(meta, "OK");
	expect_err(meta, "bad-argument");
	expect_err(meta, "bad-argument");
	xsend(p, "PUB m/a again\n");
	quiet(p);
	expect_next(meta, "MSG m/a again");
}

/* Publishes "PUB who/<tag> x" as uid/gid in a child; 0 when it worked. */
static int
publish_as(uid_t uid, gid_t gid, const char *tag, pid_t *child)
{
	int fd[2];
	pid_t pid;
	char line[64];

	if (pipe(fd) < 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		int c;

		close(fd[0]);
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(100);
		if ((c = th_connect(&b)) < 0)
			_exit(101);
		snprintf(line, sizeof line, "PUB who/%s x\nPING\n", tag);
		if (th_send_str(c, line) < 0 ||
		    th_recv_line(c, line, sizeof line, TH_TIMEOUT_MS) < 0)
			_exit(102);
		_exit(0);
	}
	close(fd[1]);
	close(fd[0]);
	*child = pid;
	return 0;
}

Test(services, meta_names_each_publisher_as_the_kernel_saw_it)
{
	char want[256];
	pid_t child;
	int status, meta;

	th_require_root("publishing as another user needs root");
	xstart(&b, "sys_interval = 0\nsocket_mode = 0666\n");
	cr_assert_eq(chmod(b.dir, 0755), 0);
	meta = xconnect(&b);
	xsend(meta, "OPT meta on\n");
	expect_next(meta, "OK");
	xsub(meta, "who/#");
	cr_assert_eq(publish_as(NOBODY, NOBODY, "nobody", &child), 0);
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child as nobody failed: %d",
	          status);
	snprintf(want, sizeof want, "MSG who/nobody uid=%d;gid=%d;pid=%ld;via=main x", NOBODY,
	         NOBODY, (long)child);
	expect_next(meta, want);
	cr_assert_eq(publish_as(0, 0, "root", &child), 0);
	cr_assert_eq(waitpid(child, &status, 0), child);
	snprintf(want, sizeof want, "MSG who/root uid=0;gid=0;pid=%ld;via=main x", (long)child);
	expect_next(meta, want);
}

/* Reads "OK $reply/<16 hex>" into topic (REPLY_TOPIC_LEN + 1 bytes). */
static void
expect_reply_topic(int fd, char *topic)
{
	const char *line = xrecv(fd, NULL);
	size_t n = strlen(line);

	cr_assert(n == 3 + 7 + 16 && strncmp(line, "OK $reply/", 10) == 0, "got \"%s\"", line);
	for (size_t i = 10; i < n; i++)
		cr_assert(strchr("0123456789abcdef", line[i]) != NULL, "token \"%s\"", line + 10);
	strcpy(topic, line + 3);
}

Test(services, request_reply_reaches_the_requester_alone)
{
	char topic[64], topic2[64], want[256], line[256];
	int svc, plain, spy, req;

	xstart(&b, "sys_interval = 0\n");
	svc = xconnect(&b);
	xsend(svc, "OPT meta on\n");
	expect_next(svc, "OK");
	xsub(svc, "time/now");
	plain = xconnect(&b);
	xsub(plain, "time/#");
	req = xconnect(&b);
	xsend(req, "REQ nobody/home x\n");
	expect_err(req, "no-responders");
	spy = xconnect(&b);
	xsub(spy, "#");
	xsend(req, "REQ time/now what\n");
	expect_reply_topic(req, topic);
	snprintf(want, sizeof want, "MSG time/now %s;reply=%s what", own_meta("main"), topic);
	expect_next(svc, want);
	expect_next(plain, "MSG time/now what"); /* without meta: no reply address */
	expect_next(spy, "MSG time/now what");

	snprintf(line, sizeof line, "PUB %s 12:00\n", topic);
	xsend(svc, line);
	quiet(svc);
	snprintf(want, sizeof want, "MSG %s 12:00", topic);
	expect_next(req, want);
	quiet(spy); /* '#' never sees a reply */

	xsend(spy, "SUB $reply/#\n");
	expect_err(spy, "forbidden");
	snprintf(line, sizeof line, "SUB %s\n", topic);
	xsend(spy, line);
	expect_err(spy, "forbidden");

	/* A new token each time; an unknown one reaches nobody. */
	xsend(req, "REQ time/now again\n");
	expect_reply_topic(req, topic2);
	cr_expect_str_neq(topic, topic2);
	xrecv(svc, NULL);
	xsend(svc, "PUB $reply/0123456789abcdef lost\nPUB $reply/x lost\n");
	quiet(svc);
	quiet(req);

	/* UNSUB drops it: later answers reach nobody. */
	snprintf(line, sizeof line, "UNSUB %s\n", topic);
	xsend(req, line);
	expect_next(req, "OK");
	snprintf(line, sizeof line, "PUB %s late\n", topic);
	xsend(svc, line);
	quiet(svc);
	quiet(req);
	/* So does the requester's end. */
	th_close(req);
	wait_stat(svc, "clients", 3);
	snprintf(line, sizeof line, "PUB %s gone\n", topic2);
	xsend(svc, line);
	quiet(svc);
}

Test(services, reply_topics_count_toward_max_subscriptions)
{
	char topic[64], line[128];
	int svc, req;

	xstart(&b, "sys_interval = 0\nmax_subscriptions = 2\n");
	svc = xconnect(&b);
	xsub(svc, "q");
	req = xconnect(&b);
	xsub(req, "mine");
	xsend(req, "REQ q 1\n");
	expect_reply_topic(req, topic);
	xsend(req, "REQ q 2\n");
	expect_err(req, "too-many-subscriptions");
	xsend(req, "SUB other\n");
	expect_err(req, "too-many-subscriptions");
	snprintf(line, sizeof line, "UNSUB %s\n", topic);
	xsend(req, line);
	expect_next(req, "OK");
	xsend(req, "REQ q 3\n");
	expect_reply_topic(req, topic);
}

Test(services, retained_values_carry_the_meta_of_who_retained_them)
{
	char want[256];
	int p, s;

	xstart(&b, "sys_interval = 0\n");
	p = xconnect(&b);
	xsend(p, "RETAIN state/db up\n");
	quiet(p);
	s = xconnect(&b);
	xsend(s, "OPT meta on\n");
	expect_next(s, "OK");
	xsub(s, "state/#");
	snprintf(want, sizeof want, "RMSG state/db %s up", own_meta("main"));
	expect_next(s, want);
}

/* The payload of the i-th message of meta_frames_*: mostly short, every
 * 97th one longer than a meta arena's quarter (a block of its own). */
static size_t
nth_payload(char *buf, int i)
{
	size_t n = i % 97 == 0 ? 20000 : (size_t)(i * 37 % 300);

	for (size_t k = 0; k < n; k++)
		buf[k] = (char)('a' + (i + k) % 26);
	buf[n] = '\0';
	return n;
}

/* Meta frames are made one after another in shared arenas: across many
 * arenas, with long frames between them and a plain subscriber beside, each
 * subscriber still gets every message once, in order, byte for byte. */
Test(services, meta_frames_across_arenas_are_exact)
{
	static char payload[20001], want[20200], line[20300], got[20300];
	int plain, meta, p, count = th_under_valgrind() ? 600 : 3000;

	xstart(&b, "sys_interval = 0\nqueue_limit = 64M\nmax_line = 64K\n");
	plain = xconnect(&b);
	meta = xconnect(&b);
	xsub(plain, "arena/#");
	xsend(meta, "OPT meta on\n");
	expect_next(meta, "OK");
	xsub(meta, "arena/#");
	p = xconnect(&b);
	for (int i = 0; i < count; i++) {
		size_t n = nth_payload(payload, i);
		int len = snprintf(line, sizeof line, "PUB arena/%d%s%s\n", i % 7, n ? " " : "",
		                   payload);
		xsend_bytes(p, line, (size_t)len);
	}
	quiet(p);
	for (int i = 0; i < count; i++) {
		size_t n = nth_payload(payload, i);

		long len;

		snprintf(want, sizeof want, "MSG arena/%d%s%s", i % 7, n ? " " : "", payload);
		len = th_recv_line(plain, got, sizeof got, TH_TIMEOUT_MS);
		cr_assert(len == (long)strlen(want) && strcmp(got, want) == 0,
		          "plain, message %d: got \"%.80s\" (%ld bytes)", i, got, len);
		snprintf(want, sizeof want, "MSG arena/%d %s%s%s", i % 7, own_meta("main"),
		         n ? " " : "", payload);
		len = th_recv_line(meta, got, sizeof got, TH_TIMEOUT_MS);
		cr_assert(len == (long)strlen(want) && strcmp(got, want) == 0,
		          "meta, message %d: got \"%.80s\" (%ld bytes)", i, got, len);
	}
	quiet(plain);
	quiet(meta);
}
