/*
 * Bridges to an MQTT broker, against a real mosquitto started by each test
 * on a loopback port it chooses (skipped, saying why, when mosquitto or
 * its clients are not installed; .ci/run installs them): the [bridge]
 * sections, messages out and in with their prefixes, no echo, retained
 * values both ways, STATS and $SYS, a remote killed and restarted in the
 * middle of 10,000 QoS 1 messages with every message accounted for, and
 * a remote that hangs without stalling local clients.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "remote.h"

static struct th_daemon b;
static struct remote r;
static struct th_proc subp; /* a mosquitto_sub, when one runs */

static void
stop_all(void)
{
	remote_stop(&r);
	if (subp.pid > 0) {
		kill(subp.pid, SIGTERM);
		th_proc_finish(&subp);
	}
	th_proc_free(&subp);
	cr_expect_eq(th_stop(&b), 0, "udsbrokerd did not exit cleanly on SIGTERM");
}

TestSuite(bridge, .fini = stop_all);

#if HAVE_MQTT_BRIDGE

/* "user NAME" for mosquitto, which otherwise leaves root for a user that
 * cannot write its persistence file in our directory. */
static const char *
mosquitto_user(void)
{
	static char line[128];
	struct passwd *pw = getpwuid(geteuid());

	snprintf(line, sizeof line, "user %s\n", pw != NULL ? pw->pw_name : "root");
	return line;
}

/* Starts mosquitto (with extra lines), then udsbrokerd with a [bridge r]
 * to it made of bridge_keys (an address to its TCP port first, unless
 * they hold one). Returns a control connection. */
static int
start_bridged(const char *mosq_extra, const char *bridge_keys)
{
	char extra[512], conf[2048], address[64] = "";
	int ctl;

	remote_require("mosquitto_sub");
	remote_require("mosquitto_pub");
	if (b.dir[0] == '\0') /* else the test made it, to name files in it */
		cr_assert_eq(th_prepare(&b, NULL), 0);
	snprintf(extra, sizeof extra, "%s%s", mosquitto_user(), mosq_extra ? mosq_extra : "");
	remote_mosquitto(&r, b.dir, extra);
	if (strstr(bridge_keys, "address =") == NULL)
		snprintf(address, sizeof address, "address = mqtt://127.0.0.1:%d\n", r.port);
	snprintf(conf, sizeof conf, "sys_interval = 1\n[bridge r]\n%s%s", address, bridge_keys);
	cr_assert_eq(th_write_config(&b, conf), 0);
	th_raise_nofile();
	cr_assert_eq(th_spawn(&b), 0, "udsbrokerd did not start");
	ctl = xconnect(&b);
	return ctl;
}

/* The value of key in a STATS reply on fd (a static buffer), or NULL. */
static const char *
stat_text(int fd, const char *key)
{
	static char value[128];
	char pat[128];
	const char *line, *p;
	size_t n;

	xsend(fd, "STATS\n");
	line = xrecv(fd, NULL);
	cr_assert(strncmp(line, "STATS ", 6) == 0, "not a STATS line: \"%.200s\"", line);
	snprintf(pat, sizeof pat, " %s=", key);
	if ((p = strstr(line, pat)) == NULL)
		return NULL;
	p += strlen(pat);
	n = strcspn(p, " ");
	snprintf(value, sizeof value, "%.*s", (int)n, p);
	return value;
}

/* Waits (bounded) until STATS says bridge r is in state want. */
static void
wait_state(int fd, const char *want)
{
	long long deadline = th_now_ms() + TH_TIMEOUT_MS;
	int delay = 1;
	const char *v;

	while ((v = stat_text(fd, "bridge.r.state")) == NULL || strcmp(v, want) != 0) {
		if (th_left_ms(deadline) == 0) {
			th_dump_log(&b);
			cr_assert_fail("bridge.r.state stayed %s, want %s", v ? v : "(none)", want);
		}
		th_backoff(&delay);
	}
}

/* A numeric bridge.r.KEY. */
static long long
bstat(int fd, const char *key)
{
	char k[64];

	snprintf(k, sizeof k, "bridge.r.%s", key);
	return stat_of(fd, k);
}

/* Starts mosquitto_sub -v on filter (extra options before -t). */
static void
start_sub(const char *filter, const char *opt1, const char *opt2, const char *opt3)
{
	char port[16];
	const char *path = remote_find("mosquitto_sub");
	char *argv[16];
	int n = 0;

	snprintf(port, sizeof port, "%d", r.port);
	argv[n++] = (char *)path;
	argv[n++] = "-h";
	argv[n++] = "127.0.0.1";
	argv[n++] = "-p";
	argv[n++] = port;
	argv[n++] = "-v";
	argv[n++] = "-q";
	argv[n++] = "1";
	if (opt1 != NULL)
		argv[n++] = (char *)opt1;
	if (opt2 != NULL)
		argv[n++] = (char *)opt2;
	if (opt3 != NULL)
		argv[n++] = (char *)opt3;
	argv[n++] = "-t";
	argv[n++] = (char *)filter;
	argv[n] = NULL;
	cr_assert_eq(th_proc_start(&subp, argv, NULL, NULL, false), 0);
}

/* mosquitto_pub -t topic -m payload (with opt, e.g. "-r"), to its end. */
static void
mqtt_pub(const char *topic, const char *payload, const char *opt)
{
	char port[16], out[1024];
	char *argv[] = { (char *)remote_find("mosquitto_pub"),
		         "-h",
		         "127.0.0.1",
		         "-p",
		         port,
		         "-q",
		         "1",
		         "-t",
		         (char *)topic,
		         "-m",
		         (char *)payload,
		         (char *)opt,
		         NULL };

	snprintf(port, sizeof port, "%d", r.port);
	cr_assert_eq(th_run(argv, out, sizeof out, TH_TIMEOUT_MS), 0, "mosquitto_pub: %s", out);
}

/* Waits (bounded) until the mosquitto_sub has printed line (with its
 * newline). */
static void
sub_wait_line(const char *line)
{
	long long deadline = th_now_ms() + TH_TIMEOUT_MS;

	while (subp.out_buf == NULL || strstr(subp.out_buf, line) == NULL) {
		cr_assert(th_left_ms(deadline) > 0 &&
		              th_proc_read_more(&subp, th_left_ms(deadline)),
		          "mosquitto_sub never printed \"%s\"; it printed:\n%s", line,
		          subp.out_buf ? subp.out_buf : "");
	}
}

/* Lines of the mosquitto_sub's output that start with prefix. */
static size_t
sub_count(const char *prefix)
{
	size_t n = 0, plen = strlen(prefix);

	for (const char *p = subp.out_buf; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n');

		if (nl == NULL)
			break;
		n += strncmp(p, prefix, plen) == 0;
		p = nl + 1;
	}
	return n;
}

/* Publishes PUB topic on pub until the mosquitto_sub prints it: it is
 * subscribed and the bridge forwards. Then a last probe, once it came, so
 * no probe is still on its way; the output so far is forgotten. */
static void
probe_out(int pub, const char *topic)
{
	long long deadline = th_now_ms() + TH_TIMEOUT_MS;
	char line[256];

	snprintf(line, sizeof line, "PUB %s probe\n", topic);
	while (th_count_lines(subp.out_buf) == 0) {
		cr_assert_gt(th_left_ms(deadline), 0, "no probe reached mosquitto_sub: %s",
		             subp.err_buf ? subp.err_buf : "");
		xsend(pub, line);
		th_proc_read(&subp, 1, 200);
	}
	snprintf(line, sizeof line, "PUB %s last-probe\n", topic);
	xsend(pub, line);
	snprintf(line, sizeof line, "%s last-probe\n", topic);
	sub_wait_line(line);
	subp.out_len = 0;
	subp.out_buf[0] = '\0';
}

/* mosquitto_pub's topic until fd (subscribed, meta off) gets it: the
 * bridge has subscribed to its in filters. Then a last probe, once it
 * came, so no probe is still on its way. */
static void
probe_in(int fd, const char *topic)
{
	long long deadline = th_now_ms() + TH_TIMEOUT_MS;
	char got[LINE_MAX_TEST], want[256];

	for (;;) {
		cr_assert_gt(th_left_ms(deadline), 0, "no probe came in");
		mqtt_pub(topic, "probe", NULL);
		if (th_recv_line(fd, got, sizeof got, 300) >= 0)
			break;
	}
	mqtt_pub(topic, "last-probe", NULL);
	snprintf(want, sizeof want, "%s last-probe", topic);
	for (;;) {
		cr_assert_geq(th_recv_line(fd, got, sizeof got, TH_TIMEOUT_MS), 0,
		              "the last probe did not come in");
		if (strlen(got) >= strlen(want) &&
		    strcmp(got + strlen(got) - strlen(want), want) == 0)
			break;
	}
}

Test(bridge, out_and_in_with_prefixes)
{
	int ctl = start_bridged(NULL, "out = sensors/#\nin = remote/#\nremote_prefix = hostA/\n"
	                              "local_prefix = from/\n");
	int loc = xconnect(&b);

	wait_state(ctl, "connected");
	/* out: a local PUB reaches mosquitto_sub, under remote_prefix */
	start_sub("#", NULL, NULL, NULL);
	probe_out(ctl, "sensors/probe");
	xsend(ctl, "PUB sensors/kitchen/temp 21.5 C\nPUB other/topic not bridged\n"
	           "PUB sensors/end x\n");
	sub_wait_line("hostA/sensors/end x\n");
	cr_expect_str_eq(subp.out_buf, "hostA/sensors/kitchen/temp 21.5 C\nhostA/sensors/end x\n");

	/* in: mosquitto_pub reaches a local subscriber, under local_prefix,
	 * with the bridge's name as via= */
	xsub(loc, "from/#");
	probe_in(loc, "remote/probe");
	xsend(loc, "OPT meta on\n");
	expect_next(loc, "OK");
	mqtt_pub("remote/door", "open now", NULL);
	expect_next(loc, "MSG from/remote/door via=r open now");
	mqtt_pub("elsewhere", "no", NULL); /* no in filter matches it */
	mqtt_pub("remote/end", "x", NULL);
	expect_next(loc, "MSG from/remote/end via=r x");
	quiet(loc);
	cr_expect_geq(bstat(ctl, "messages_out"), 2);
	cr_expect_geq(bstat(ctl, "messages_in"), 2);
	cr_expect_eq(bstat(ctl, "dropped"), 0);
}

/* A reload (SIGHUP) keeps the bridges as they run: changed sections are
 * logged, and take effect at the next start. */
Test(bridge, reload_keeps_the_bridge)
{
	char conf[512];
	int ctl = start_bridged(NULL, "out = k/#\n");

	wait_state(ctl, "connected");
	start_sub("#", NULL, NULL, NULL);
	probe_out(ctl, "k/probe");
	snprintf(conf, sizeof conf,
	         "sys_interval = 1\n[bridge r]\naddress = mqtt://127.0.0.1:%d\nout = other/#\n",
	         r.port);
	cr_assert_eq(th_write_config(&b, conf), 0);
	kill(b.pid, SIGHUP);
	wait_log(&b, "[bridge] sections changed", 1);
	xsend(ctl, "PUB other/x no\nPUB k/x yes\n");
	sub_wait_line("k/x yes\n");
	cr_expect_eq(sub_count("other/"), 0, "the new out filter took effect: %s", subp.out_buf);
	cr_expect_str_eq(stat_text(ctl, "bridge.r.state"), "connected");
	cr_expect_eq(bstat(ctl, "reconnects"), 0);
}

/* address = unix:PATH: mosquitto's Unix socket listener. */
Test(bridge, unix_socket_address)
{
	char extra[256], keys[256];
	int ctl;

	remote_require("mosquitto");
	cr_assert_eq(th_prepare(&b, NULL), 0); /* for its directory */
	snprintf(extra, sizeof extra, "listener 0 %s/mqtt.sock\n", b.dir);
	snprintf(keys, sizeof keys, "address = unix:%s/mqtt.sock\nout = u/#\n", b.dir);
	ctl = start_bridged(extra, keys);
	wait_state(ctl, "connected");
	start_sub("u/#", NULL, NULL, NULL);
	probe_out(ctl, "u/probe");
	xsend(ctl, "PUB u/x over a unix socket\n");
	sub_wait_line("u/x over a unix socket\n");
}

/* The same filter both ways: what goes out does not come back in, and what
 * comes in does not go back out. */
Test(bridge, no_echo_no_loop)
{
	enum { N = 50 };
	int ctl = start_bridged(NULL, "out = loop/#\nin = loop/#\n");
	int loc = xconnect(&b);
	char line[128];

	wait_state(ctl, "connected");
	start_sub("loop/#", NULL, NULL, NULL);
	probe_out(ctl, "loop/probe");
	xsub(loc, "loop/#");
	for (int i = 0; i < N; i++) {
		snprintf(line, sizeof line, "PUB loop/local %d\n", i);
		xsend(ctl, line);
	}
	xsend(ctl, "PUB loop/local end\n");
	sub_wait_line("loop/local end\n");
	for (int i = 0; i < N; i++) {
		char want[64];

		snprintf(want, sizeof want, "MSG loop/local %d", i);
		expect_next(loc, want); /* once: no echo from the remote */
	}
	expect_next(loc, "MSG loop/local end");
	/* one from the remote: once here, and once there (not sent back) */
	mqtt_pub("loop/remote", "hello", NULL);
	expect_next(loc, "MSG loop/remote hello");
	/* barrier: a new local message reaches mosquitto_sub after any copy
	 * of "hello" the bridge might have sent back */
	xsend(ctl, "PUB loop/end x\n");
	sub_wait_line("loop/end x\n");
	expect_next(loc, "MSG loop/end x");
	quiet(loc);
	cr_expect_eq(sub_count("loop/local "), N + 1, "%s", subp.out_buf);
	cr_expect_eq(sub_count("loop/remote hello"), 1, "the bridge sent it back: %s",
	             subp.out_buf);
	cr_expect_eq(bstat(ctl, "messages_in"), 1, "echoes came in");
}

/* Local retained values go out retained; a remote retained value comes in
 * as a local retained one. */
Test(bridge, retained_both_ways)
{
	char port[16], out[1024];
	int ctl, late;

	ctl = start_bridged(NULL, "out = state/#\nin = rstate/#\nqos = 1\n");
	wait_state(ctl, "connected");
	start_sub("state/#", NULL, NULL, NULL);
	probe_out(ctl, "state/probe");
	xsend(ctl, "RETAIN state/door closed\n");
	cr_assert(th_proc_read(&subp, 1, TH_TIMEOUT_MS));
	/* a late MQTT subscriber gets it as the remote's retained value */
	snprintf(port, sizeof port, "%d", r.port);
	{
		char *argv[] = { (char *)remote_find("mosquitto_sub"),
			         "-h",
			         "127.0.0.1",
			         "-p",
			         port,
			         "-v",
			         "--retained-only",
			         "-W",
			         "5",
			         "-t",
			         "state/door",
			         NULL };

		th_run(argv, out, sizeof out, TH_TIMEOUT_MS);
		cr_expect(strncmp(out, "state/door closed\n", 18) == 0, "%s", out);
	}
	/* in: a value retained on the remote before the bridge subscribed... */
	mqtt_pub("rstate/lamp", "on", "-r");
	/* ...comes in when it subscribes again: restart the remote's side by
	 * making the bridge reconnect (the remote persists it) */
	remote_signal(&r, SIGTERM);
	wait_state(ctl, "down");
	remote_restart(&r);
	wait_state(ctl, "connected");
	late = xconnect(&b);
	{
		long long deadline = th_now_ms() + TH_TIMEOUT_MS;
		char line[256];

		for (;;) {
			xsub(late, "rstate/#");
			if (th_recv_line(late, line, sizeof line, 200) >= 0)
				break;
			cr_assert_gt(th_left_ms(deadline), 0, "no RMSG for rstate/lamp");
		}
		cr_expect_str_eq(line, "RMSG rstate/lamp on");
	}
	cr_expect_geq(bstat(ctl, "reconnects"), 1);
}

/* STATS, udsctl stats and $SYS/broker/bridge/r/... */
Test(bridge, stats_and_sys)
{
	static const char *const keys[] = { "queued_bytes", "messages/out", "messages/in",
		                            "dropped", "reconnects" };
	int ctl = start_bridged(NULL, "out = s/#\n");
	int s = xconnect(&b);
	struct th_proc p = { 0 };
	char line[256];
	const char *args[] = { "-s", b.sock, "stats", NULL };
	char *argv[8] = { (char *)ct_udsctl() };

	wait_state(ctl, "connected");
	xsub(s, "$SYS/broker/bridge/r/#");
	for (unsigned seen = 0; seen != 63;) {
		cr_assert_geq(th_recv_line(s, line, sizeof line, TH_TIMEOUT_MS), 0);
		if (strcmp(line, "RMSG $SYS/broker/bridge/r/state connected") == 0 ||
		    strncmp(line, "MSG $SYS/broker/bridge/r/state", 30) == 0) {
			seen |= 1;
		}
		for (size_t k = 0; k < 5; k++) {
			char want[96];

			snprintf(want, sizeof want, "RMSG $SYS/broker/bridge/r/%s ", keys[k]);
			if (strncmp(line, want, strlen(want)) == 0)
				seen |= 2u << k;
		}
	}
	for (int i = 0; args[i] != NULL; i++)
		argv[i + 1] = (char *)args[i];
	cr_assert_eq(th_proc_start(&p, argv, NULL, NULL, false), 0);
	cr_assert_eq(th_proc_finish(&p), 0, "udsctl stats: %s", p.err_buf);
	cr_expect(strstr(p.out_buf, "\nbridge.r.state connected\n") != NULL, "%s", p.out_buf);
	cr_expect(strstr(p.out_buf, "\nbridge.r.queued_bytes 0\n") != NULL, "%s", p.out_buf);
	cr_expect(strstr(p.out_buf, "\nbridge.r.dropped 0\n") != NULL, "%s", p.out_buf);
	cr_expect(strstr(p.out_buf, "\nbridge.r.messages_out ") != NULL, "%s", p.out_buf);
	cr_expect(strstr(p.out_buf, "\nbridge.r.messages_in ") != NULL, "%s", p.out_buf);
	cr_expect(strstr(p.out_buf, "\nbridge.r.reconnects 0\n") != NULL, "%s", p.out_buf);
	th_proc_free(&p);
}

/* Reads what the mosquitto_sub printed ("f/n I" lines) into counts of
 * each I. Returns the number of distinct I seen. */
static size_t
tally(unsigned char *seen, size_t n, size_t *dups)
{
	size_t distinct = 0;

	memset(seen, 0, n);
	*dups = 0;
	for (const char *p = subp.out_buf; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n'), *sp = strchr(p, ' ');
		long i;

		if (nl == NULL)
			break;
		if (strncmp(p, "f/n ", 4) == 0 && sp != NULL && sp < nl &&
		    (i = strtol(sp + 1, NULL, 10)) >= 0 && (size_t)i < n) {
			if (seen[i]++ == 0)
				distinct++;
			else
				(*dups)++;
		}
		p = nl + 1;
	}
	return distinct;
}

/* Publishes f/n I for I in [from, to) on fd, then a PING barrier. */
static void
publish_range(int fd, int from, int to)
{
	static char buf[1 << 16];
	size_t len = 0;

	for (int i = from; i < to; i++) {
		len += (size_t)snprintf(buf + len, sizeof buf - len, "PUB f/n %d\n", i);
		if (len > sizeof buf - 64 || i == to - 1) {
			xsend_bytes(fd, buf, len);
			len = 0;
		}
	}
	cr_assert_eq(th_ping_barrier(fd, "published", NULL, 0), 0);
}

/* The remote stopped and started again in the middle of N QoS 1 messages:
 * every message reaches the remote subscriber (a persistent session, so
 * the remote keeps what it owes it across its restart), or is counted in
 * bridge.r.dropped. Returns what it measured. */
static void
restart_midstream(const char *queue_limit, size_t *distinct, size_t *dups, long long *dropped)
{
	enum { N = 10000 };
	static unsigned char seen[N];
	char keys[256];
	long long deadline;
	int ctl, pub;

	snprintf(keys, sizeof keys, "out = f/#\nqos = 1\nkeepalive = 5\nqueue_limit = %s\n",
	         queue_limit);
	ctl = start_bridged(NULL, keys);
	pub = xconnect(&b);
	wait_state(ctl, "connected");
	start_sub("f/#", "-c", "-i", "fsub");
	probe_out(pub, "f/probe");
	publish_range(pub, 0, N / 2);
	/* some went through, the rest are queued or in flight */
	cr_assert(th_proc_read(&subp, 100, TH_TIMEOUT_MS));
	remote_signal(&r, SIGTERM);
	publish_range(pub, N / 2, N); /* while the remote is away */
	remote_restart(&r);
	wait_state(ctl, "connected");
	deadline = th_now_ms() + 60000;
	for (;;) {
		*distinct = tally(seen, N, dups);
		*dropped = bstat(ctl, "dropped");
		if (*distinct + (size_t)*dropped >= N && bstat(ctl, "queued_bytes") == 0)
			break;
		if (th_left_ms(deadline) == 0)
			break;
		th_proc_read_more(&subp, 500);
	}
	fprintf(stderr,
	        "bridge::restart (queue_limit %s): sent %d, received %zu distinct (+%zu "
	        "duplicates), dropped %lld, unaccounted %lld, out %lld, reconnects %lld\n",
	        queue_limit, N, *distinct, *dups, *dropped,
	        (long long)N - (long long)*distinct - *dropped > 0
	            ? (long long)N - (long long)*distinct - *dropped
	            : 0,
	        bstat(ctl, "messages_out"), bstat(ctl, "reconnects"));
	cr_expect_geq(bstat(ctl, "reconnects"), 1);
	cr_expect_geq((long long)*distinct + *dropped, N,
	              "%lld messages neither arrived nor were counted as dropped",
	              (long long)N - (long long)*distinct - *dropped);
}

Test(bridge, remote_restart_nothing_lost)
{
	size_t distinct, dups;
	long long dropped;

	restart_midstream("8M", &distinct, &dups, &dropped);
	cr_expect_eq(dropped, 0, "8M holds every message");
	cr_expect_eq(distinct, 10000);
}

Test(bridge, remote_restart_over_queue_limit_counted)
{
	size_t distinct, dups;
	long long dropped;

	/* "f/n 1234" counts some 40 bytes with its bookkeeping: 4K holds
	 * about 100 of the 5,000 sent while the remote is away */
	restart_midstream("4K", &distinct, &dups, &dropped);
	cr_expect_gt(dropped, 0, "4K cannot hold 5,000 messages");
	/* a message dropped may still have arrived: one in flight when the
	 * remote went, its PUBACK lost with it, held again, then dropped */
	cr_expect_leq((long long)distinct + dropped, 10000 + 256,
	              "more dropped than ever were in flight");
}

/* A remote that stops answering (SIGSTOP: its socket fills) never stalls
 * local clients: PING is answered while the bridge's queue fills. */
Test(bridge, hung_remote_does_not_stall)
{
	enum { N = 40000, PINGS = 50 };
	int ctl = start_bridged(NULL, "out = h/#\nqos = 0\nkeepalive = 60\nqueue_limit = 64M\n");
	int pub = xconnect(&b), ping = xconnect(&b);
	static char buf[1 << 16];
	long long worst = 0, total = 0;
	char payload[200];

	wait_state(ctl, "connected");
	start_sub("h/#", NULL, NULL, NULL);
	probe_out(pub, "h/probe");
	remote_signal(&r, SIGSTOP);
	memset(payload, 'x', sizeof payload - 1);
	payload[sizeof payload - 1] = '\0';
	for (int round = 0; round < PINGS; round++) {
		size_t len = 0;
		long long t0;
		char tag[32];

		for (int i = 0; i < N / PINGS; i++) {
			len +=
			    (size_t)snprintf(buf + len, sizeof buf - len, "PUB h/x %s\n", payload);
			if (len > sizeof buf - sizeof payload - 16) {
				xsend_bytes(pub, buf, len);
				len = 0;
			}
		}
		xsend_bytes(pub, buf, len);
		snprintf(tag, sizeof tag, "p%d", round);
		t0 = th_now_ms();
		cr_assert_eq(th_ping_barrier(ping, tag, NULL, 0), 0,
		             "PING not answered while the remote hangs");
		t0 = th_now_ms() - t0;
		total += t0;
		if (t0 > worst)
			worst = t0;
	}
	cr_assert_eq(th_ping_barrier(pub, "pub", NULL, 0), 0);
	fprintf(stderr,
	        "bridge::hung_remote: %d PINGs while %d messages of %zu bytes queued for a "
	        "stopped remote: worst %lld ms, mean %.1f ms; queued_bytes %lld\n",
	        PINGS, N, sizeof payload, worst, (double)total / PINGS, bstat(ctl, "queued_bytes"));
	cr_expect_gt(bstat(ctl, "queued_bytes"), 0, "nothing waited: the remote took it all");
	remote_signal(&r, SIGCONT);
}

#endif /* HAVE_MQTT_BRIDGE */

/* ---- the sections (no remote needed) ---- */

/* Runs udsbrokerd -t on config text; returns its status, output in out. */
static int
check_config(const char *text, char *out, size_t size)
{
	cr_assert_eq(th_prepare(&b, text), 0);
	return th_run_daemon(out, size, 10000, "-t", "-c", b.conf, NULL);
}

#if HAVE_MQTT_BRIDGE
Test(bridge, config_sections_printed_without_password)
{
	char out[8192], pw[256], text[1024];
	FILE *f;

	cr_assert_eq(th_prepare(&b, NULL), 0);
	snprintf(pw, sizeof pw, "%s/pw", b.dir);
	f = fopen(pw, "w");
	cr_assert_not_null(f);
	fputs("s3cret-word\n", f);
	fclose(f);
	snprintf(text, sizeof text,
	         "[bridge one]\naddress = mqtt://[::1]:1884\nusername = u\npassword_file = %s\n"
	         "out = a/#\nout = b/+\nin = c/#\nqos = 0\n"
	         "[bridge two]\naddress = unix:/run/mqtt.sock\nin = x\nremote_prefix = p/\n"
	         "queue_limit = 64K\n",
	         pw);
	cr_assert_eq(th_write_config(&b, text), 0);
	cr_assert_eq(th_run_daemon(out, sizeof out, 10000, "-t", "-c", b.conf, NULL), 0, "%s", out);
	cr_expect(strstr(out, "[bridge one]\naddress = mqtt://[::1]:1884\n") != NULL, "%s", out);
	cr_expect(strstr(out, "password_file = ") != NULL, "%s", out);
	cr_expect(strstr(out, "s3cret") == NULL, "-t printed the password: %s", out);
	cr_expect(strstr(out, "out = a/#\nout = b/+\nin = c/#\n") != NULL, "%s", out);
	cr_expect(strstr(out, "[bridge two]\naddress = unix:/run/mqtt.sock\n") != NULL, "%s", out);
	cr_expect(strstr(out, "queue_limit = 64K\n") != NULL, "%s", out);
	cr_expect(strstr(out, "keepalive = 60\n") != NULL, "%s", out);
}

Test(bridge, config_errors_name_the_line)
{
	static const struct {
		const char *text; /* after "[broker]\n": line 2 on */
		int line;
		const char *why;
	} cases[] = {
		{ "[bridge x]\naddress = mqtt://h:1\npassword = hunter2\n", 4, "never written" },
		{ "[bridge x]\naddress = http://h:1\n", 3, "not mqtt://" },
		{ "[bridge x]\naddress = mqtt://h:99999\n", 3, "port" },
		{ "[bridge x]\naddress = mqtt://:1883\n", 3, "no host" },
		{ "[bridge x]\naddress = mqtt://h\npassword_file = /nonexistent/pw\n", 4,
		  "cannot read /nonexistent/pw" },
		{ "[bridge x]\naddress = mqtt://h\ntls_ca = /nonexistent/ca\n", 4, "cannot read" },
		{ "[bridge x]\naddress = mqtt://h\nout = a/#/b\n", 4, "filter" },
		{ "[bridge x]\naddress = mqtt://h\nqos = 2\n", 4, "qos" },
		{ "[bridge x]\naddress = mqtt://h\nlocal_prefix = $SYS/\n", 4, "broker's" },
		{ "[bridge x]\nout = a\n", 2, "needs an address" },
		{ "[bridge x]\naddress = mqtt://h\n", 2, "at least one out or in" },
		{ "[bridge x]\naddress = mqtt://h\nin = a\n[bridge x]\n", 5, "duplicate" },
		{ "[bridge a/b]\n", 2, "bridge name" },
		{ "[bridge main]\naddress = mqtt://h\nin = a\n", 2, "reserved" },
		{ "[bridge x]\naddress = mqtt://h\nin = a\nnope = 1\n", 5, "unknown key" },
		{ "[listener x]\ntcp = 127.0.0.1:1\n[bridge x]\naddress = mqtt://h\nin = a\n", 4,
		  "names of their own" },
	};
	char out[4096], where[256];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cr_expect_eq(check_config(cases[i].text, out, sizeof out), 1, "case %zu: %s", i,
		             out);
		snprintf(where, sizeof where, "%s:%d: ", b.conf, cases[i].line);
		cr_expect(strstr(out, where) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, out,
		          where);
		cr_expect(strstr(out, cases[i].why) != NULL, "case %zu: \"%s\" lacks \"%s\"", i,
		          out, cases[i].why);
		cr_expect(strstr(out, "hunter2") == NULL, "case %zu: printed the password", i);
		th_stop(&b);
	}
}
#else
Test(bridge, config_refused_without_bridge_support)
{
	char out[4096], where[256];

	cr_expect_eq(check_config("[bridge x]\naddress = mqtt://h\nin = a\n", out, sizeof out), 1);
	snprintf(where, sizeof where, "%s:2: ", b.conf);
	cr_expect(strstr(out, where) != NULL, "\"%s\" lacks \"%s\"", out, where);
	cr_expect(strstr(out, "without bridge support") != NULL, "%s", out);
}
#endif
