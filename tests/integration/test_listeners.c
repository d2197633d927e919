/*
 * [listener NAME] sections against the real daemon (issue 14, SPEC "More
 * listeners"): a client that knows no protocol publishes through a lines
 * listener, over a Unix socket and over loopback TCP, and `udsctl sub`
 * prints what it wrote; nc speaks the full protocol to a TCP listener;
 * lines clients are never sent a byte; over-long lines are discarded and
 * counted; access rules see listeners and not the credentials TCP lacks;
 * max_clients counts every listener; SIGHUP leaves listeners as they are.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

#define T TH_TIMEOUT_MS

static struct th_daemon b;

static void
stop(void)
{
	th_stop(&b);
}

TestSuite(listeners, .fini = stop, .timeout = 300);

/* The path of a socket in the daemon's directory (static, one per slot). */
static const char *
path_in(int slot, const char *name)
{
	static char paths[4][160];

	snprintf(paths[slot], sizeof paths[slot], "%s/%s", b.dir, name);
	return paths[slot];
}

/* Starts b with the config printf(fmt, ...) after "[broker]\n"; the
 * listeners' sockets go in b.dir (path_in). Returns a control connection
 * to the main socket that the daemon counts as a client. */
static int __attribute__((format(printf, 1, 2)))
start(const char *fmt, ...)
{
	char config[4096];
	va_list ap;
	int ctl;

	cr_assert_eq(th_prepare(&b, NULL), 0);
	va_start(ap, fmt);
	vsnprintf(config, sizeof config, fmt, ap);
	va_end(ap);
	cr_assert_eq(th_write_config(&b, config), 0);
	th_raise_nofile();
	if (th_spawn(&b) < 0) {
		th_dump_log(&b);
		cr_assert_fail("udsbrokerd did not start with:\n%s", config);
	}
	/* The harness's readiness probe may still count as a client for a
	 * moment (max_clients_per_uid = 1): retry while the broker is busy. */
	long long deadline = th_now_ms() + T;

	for (int delay = 1;; th_backoff(&delay)) {
		char line[256] = "";

		ctl = xconnect(&b);
		if (th_send_str(ctl, "PING start\n") == 0 &&
		    th_recv_line(ctl, line, sizeof line, T) >= 0 && strcmp(line, "PONG start") == 0)
			return ctl;
		cr_assert(line[0] == '\0' || strncmp(line, "ERR server-busy", 15) == 0,
		          "PING answered %s", line);
		cr_assert_lt(th_now_ms(), deadline, "the broker stayed busy");
		th_close(ctl);
	}
}

/* Runs prog (a built client, path from $env) with one argument; asserts it
 * exits 0. */
static void
run_client(const char *env, const char *arg)
{
	const char *prog = getenv(env);
	char out[1024];

	cr_assert(prog != NULL, "%s is not set: run the tests with meson test", env);
	char *argv[] = { (char *)prog, (char *)arg, NULL };
	cr_assert_eq(th_run(argv, out, sizeof out, T), 0, "%s %s failed: %s", prog, arg, out);
}

/* Starts `udsctl -s MAIN sub -n 1 topic` and waits until the broker holds
 * want subscriptions, so what is published next reaches it. */
static void
start_sub(struct th_proc *p, int ctl, const char *topic, long long want)
{
	const char *args[] = { "-s", b.sock, "sub", "-n", "1", topic, NULL };

	ct_spawn(p, args, NULL, NULL);
	wait_stat(ctl, "subscriptions", want);
}

/* Waits for udsctl sub to exit 0 having printed exactly want. */
static void
expect_sub_printed(struct th_proc *p, const char *want)
{
	int status = th_proc_finish(p);

	cr_expect_eq(status, 0, "udsctl sub exited %d: %s %s", status, p->out_buf, p->err_buf);
	cr_expect_str_eq(p->out_buf, want);
	th_proc_free(p);
}

/* The founding document's C client (hello_unix.c: socket, connect, write
 * "Hello, world!\n", close) publishes through a Unix lines listener. */
Test(listeners, hello_world_over_a_unix_lines_listener)
{
	int ctl = start("[listener hello]\nsocket = %s/hello.sock\nmode = lines\ntopic = greetings\n",
	                b.dir);
	struct th_proc sub;

	start_sub(&sub, ctl, "greetings", 1);
	run_client("HELLO_UNIX", path_in(0, "hello.sock"));
	expect_sub_printed(&sub, "Hello, world!\n");
	cr_expect_eq(stat_of(ctl, "published"), 1);
	th_close(ctl);
	xstop(&b);
}

/* The same client over TCP (hello_tcp.c) to a loopback lines listener. */
Test(listeners, hello_world_over_a_tcp_lines_listener)
{
	int port = xfree_port();
	int ctl = start("[listener hello]\ntcp = 127.0.0.1:%d\nmode = lines\ntopic = greetings\n",
	                port);
	struct th_proc sub;
	char arg[16];

	start_sub(&sub, ctl, "greetings", 1);
	snprintf(arg, sizeof arg, "%d", port);
	run_client("HELLO_TCP", arg);
	expect_sub_printed(&sub, "Hello, world!\n");
	th_close(ctl);
	xstop(&b);
}

/* `nc -N 127.0.0.1 PORT` to a protocol listener: SUB, PUB, OPT meta, PING
 * and STATS answered as on the main socket; the end of its input acts as
 * QUIT. Its delivery's meta has no credentials, only via. */
Test(listeners, nc_speaks_the_protocol_over_tcp)
{
	int port = xfree_port();
	int ctl = start("[listener net]\ntcp = 127.0.0.1:%d\n", port);
	const char *script = "SUB a/#\nOPT meta on\nPUB a/b over tcp\nPING one\nUNSUB a/#\n"
	                     "PUB nope\nSTATS\n";
	char port_s[16], path[192];
	struct th_proc nc;
	FILE *f;

	snprintf(path, sizeof path, "%s/nc.in", b.dir);
	cr_assert_not_null(f = fopen(path, "w"));
	fputs(script, f);
	fclose(f);
	snprintf(port_s, sizeof port_s, "%d", port);
	char *argv[] = { access("/usr/bin/nc", X_OK) == 0 ? "/usr/bin/nc" : "/bin/nc", "-N",
		         "127.0.0.1", port_s, NULL };
	cr_assert_eq(th_proc_start(&nc, argv, NULL, path, false), 0);
	cr_assert_eq(th_proc_finish(&nc), 0, "nc failed: %s %s", nc.out_buf, nc.err_buf);
	cr_expect(strncmp(nc.out_buf, "OK\nOK\nMSG a/b via=net over tcp\nPONG one\nOK\nSTATS ", 47) ==
	              0,
	          "nc got:\n%s", nc.out_buf);
	cr_expect(strstr(nc.out_buf, " clients=2 ") != NULL, "nc got:\n%s", nc.out_buf);
	cr_expect(strstr(nc.out_buf, "MSG nope") == NULL, "nc got:\n%s", nc.out_buf);
	th_proc_free(&nc);
	th_close(ctl);
	xstop(&b);
}

/* Every lines client sends commands, an over-long line and text; each
 * line but the long one is published as it is, and none is ever
 * answered, not even with BYE at shutdown. Unix and TCP. */
Test(listeners, lines_clients_are_never_sent_a_byte)
{
	int port = xfree_port();
	int ctl = start("max_line = 64\n"
	                "[listener u]\nsocket = %s/u.sock\nmode = lines\ntopic = t/u\n"
	                "[listener n]\ntcp = 127.0.0.1:%d\nmode = lines\ntopic = t/n\n",
	                b.dir, port);
	const char *topics[2] = { "t/u", "t/n" };
	int fds[2], subs[2];
	char longline[200], want[64];

	memset(longline, 'x', sizeof longline - 1);
	longline[sizeof longline - 1] = '\n';
	fds[0] = th_connect_path(path_in(0, "u.sock"));
	cr_assert_geq(fds[0], 0);
	fds[1] = xconnect_tcp(port);
	for (int i = 0; i < 2; i++) {
		subs[i] = xconnect(&b);
		xsub(subs[i], topics[i]);
	}
	for (int i = 0; i < 2; i++) {
		xsend(fds[i], "PING x\nSUB #\nQUIT\n");
		xsend_bytes(fds[i], longline, sizeof longline);
		xsend(fds[i], "STATS\nlast\n");
	}
	for (int i = 0; i < 2; i++) {
		const char *lines[] = { "PING x", "SUB #", "QUIT", "STATS", "last" };

		for (size_t k = 0; k < 5; k++) {
			snprintf(want, sizeof want, "MSG %s %s", topics[i], lines[k]);
			expect_next(subs[i], want);
		}
		quiet(subs[i]);
	}
	cr_expect_eq(stat_of(ctl, "lines_discarded"), 2);
	cr_expect_eq(stat_of(ctl, "published"), 10);
	cr_expect_eq(th_read_some(fds[0], 1), 0, "the Unix lines client was sent something");
	cr_expect_eq(th_read_some(fds[1], 1), 0, "the TCP lines client was sent something");
	cr_expect(!th_at_eof(fds[0]) && !th_at_eof(fds[1]), "a lines client was closed");
	/* Shutdown: the protocol clients get BYE, the lines clients only EOF. */
	cr_assert_eq(kill(b.pid, SIGTERM), 0);
	expect_next(ctl, "BYE shutdown");
	for (int i = 0; i < 2; i++) {
		cr_expect_eq(th_recv_eof(fds[i], T), 0, "lines client %d got bytes before EOF", i);
		th_close(fds[i]);
		th_close(subs[i]);
	}
	cr_assert_eq(th_wait(&b, 0, T), 0);
	th_close(ctl);
}

/* A long line arriving in pieces is discarded as it streams in, and the
 * line after it is published: the count says how many were lost. */
Test(listeners, over_long_lines_are_discarded_and_counted)
{
	int ctl = start("max_line = 1K\n[listener l]\nsocket = %s/l.sock\nmode = lines\n"
	                "topic = t\n",
	                b.dir);
	char chunk[4096];
	int fd;

	/* The counter is among the $SYS values too (published at start). */
	xsub(ctl, "$SYS/broker/lines/discarded");
	expect_next(ctl, "RMSG $SYS/broker/lines/discarded 0");
	xsend(ctl, "UNSUB $SYS/broker/lines/discarded\n");
	expect_next(ctl, "OK");
	xsub(ctl, "t");
	fd = th_connect_path(path_in(0, "l.sock"));
	cr_assert_geq(fd, 0);
	memset(chunk, 'y', sizeof chunk);
	for (int i = 0; i < 256; i++) /* 1 MiB without a newline */
		xsend_bytes(fd, chunk, sizeof chunk);
	xsend(fd, "\nshort one\n");
	/* Exactly max_line with its newline: kept. */
	memset(chunk, 'z', 1023);
	chunk[1023] = '\n';
	xsend_bytes(fd, chunk, 1024);
	xsend(fd, "after\n");
	expect_next(ctl, "MSG t short one");
	{
		long len;
		const char *line = xrecv(ctl, &len);

		cr_expect_eq(len, 4 + 2 + 1023, "the line of max_line bytes came as %ld bytes", len);
		cr_expect(strncmp(line, "MSG t zzz", 9) == 0);
	}
	expect_next(ctl, "MSG t after");
	/* An empty line is an empty message; "\r\n" ends a line too; a last
	 * line without a newline is dropped at the close. */
	xsend(fd, "\ncrlf\r\nunfinished");
	expect_next(ctl, "MSG t");
	expect_next(ctl, "MSG t crlf");
	th_close(fd);
	fd = -1;
	wait_stat(ctl, "clients", 1);
	quiet(ctl);
	cr_expect_eq(stat_of(ctl, "lines_discarded"), 1);
	th_close(ctl);
	xstop(&b);
}

/* Access rules: listener=NAME matches that listener's clients, Unix or
 * TCP, "main" the main socket's; uid rules never match a TCP client. A
 * refused line is dropped and counted in denied=. */
Test(listeners, access_rules_see_listeners_not_tcp_credentials)
{
	int port = xfree_port();
	int ctl = start("[listener net]\ntcp = 127.0.0.1:%d\n"
	                "[listener logs]\nsocket = %s/logs.sock\nmode = lines\ntopic = logs/app\n"
	                "[access]\n"
	                "rule = deny pub secret/# listener=net\n"
	                "rule = deny pub logs/# listener=logs\n"
	                "rule = deny pub mine/# uid=%u\n"
	                "rule = deny pub onlytcp/# listener=main\n",
	                port, b.dir, (unsigned)getuid());
	int tcp = xconnect_tcp(port), lines, sub = xconnect(&b);

	xsub(sub, "#");
	/* The TCP client: uid rules are not for it; listener=net is. */
	xsend(tcp, "PUB mine/x from tcp\nPUB onlytcp/y from tcp\n");
	expect_next(sub, "MSG mine/x from tcp");
	expect_next(sub, "MSG onlytcp/y from tcp");
	xsend(tcp, "PUB secret/z no\n");
	expect_err(tcp, "forbidden");
	/* The main socket's client: its uid, and main. */
	xsend(ctl, "PUB mine/x from unix\n");
	expect_err(ctl, "forbidden");
	xsend(ctl, "PUB onlytcp/y from unix\n");
	expect_err(ctl, "forbidden");
	xsend(ctl, "PUB secret/z from unix\n");
	expect_next(sub, "MSG secret/z from unix");
	/* The lines client: refused silently, counted. */
	lines = th_connect_path(path_in(0, "logs.sock"));
	cr_assert_geq(lines, 0);
	xsend(lines, "one\ntwo\n");
	wait_stat(ctl, "denied", 5); /* 3 above, and both lines */
	quiet(sub);
	cr_expect_eq(th_read_some(lines, 1), 0, "the lines client was answered");
	th_close(lines);
	th_close(tcp);
	th_close(sub);
	th_close(ctl);
	xstop(&b);
}

/* Delivery metadata: via is the listener's name ("main" for the main
 * socket); a TCP publisher has no uid, gid or pid. */
Test(listeners, meta_names_the_listener)
{
	int port = xfree_port();
	int ctl = start("[listener net]\ntcp = 127.0.0.1:%d\n"
	                "[listener logs]\nsocket = %s/logs.sock\nmode = lines\ntopic = m/l\n",
	                port, b.dir);
	int tcp = xconnect_tcp(port), lines;
	char want[160];

	xsub(ctl, "m/#");
	xsend(ctl, "OPT meta on\n");
	expect_next(ctl, "OK");
	xsend(tcp, "PUB m/t hi\n");
	expect_next(ctl, "MSG m/t via=net hi");
	lines = th_connect_path(path_in(0, "logs.sock"));
	cr_assert_geq(lines, 0);
	xsend(lines, "from lines\n");
	snprintf(want, sizeof want, "MSG m/l %s from lines", own_meta("logs"));
	expect_next(ctl, want);
	xsend(ctl, "PUB m/u self\n");
	snprintf(want, sizeof want, "MSG m/u %s self", own_meta("main"));
	expect_next(ctl, want);
	th_close(lines);
	th_close(tcp);
	th_close(ctl);
	xstop(&b);
}

/* max_clients counts the clients of every listener together; a refused
 * TCP protocol client is told server-busy, a refused lines client nothing.
 * max_clients_per_uid counts Unix clients only. */
Test(listeners, max_clients_counts_every_listener)
{
	int port = xfree_port(), lport = xfree_port();
	int ctl = start("max_clients = 3\nmax_clients_per_uid = 1\n"
	                "[listener net]\ntcp = 127.0.0.1:%d\n"
	                "[listener lines]\ntcp = 127.0.0.1:%d\nmode = lines\ntopic = x\n",
	                port, lport);
	long long refused0 = stat_of(ctl, "refused");
	int t1 = xconnect_tcp(port), t2, t3, l1;

	/* ctl is the uid's one Unix client; TCP clients are not counted for it. */
	t2 = xconnect_tcp(port);
	cr_assert_eq(th_ping_barrier(t1, "1", NULL, 0), 0);
	cr_assert_eq(th_ping_barrier(t2, "2", NULL, 0), 0);
	wait_stat(ctl, "clients", 3);
	t3 = xconnect_tcp(port);
	expect_err(t3, "server-busy");
	cr_expect_eq(th_recv_eof(t3, T), 0);
	l1 = xconnect_tcp(lport);
	cr_expect_eq(th_recv_eof(l1, T), 0, "a refused lines client was sent bytes");
	wait_stat(ctl, "refused", refused0 + 2);
	th_close(t3);
	th_close(l1);
	/* Room again: the lines client is admitted. */
	th_close(t2);
	wait_stat(ctl, "clients", 2);
	l1 = xconnect_tcp(lport);
	wait_stat(ctl, "clients", 3);
	th_close(l1);
	th_close(t1);
	th_close(ctl);
	xstop(&b);
}

/* Per uid: a second Unix client of the same uid is refused, while TCP
 * clients are admitted up to max_clients. */
Test(listeners, max_clients_per_uid_counts_unix_clients)
{
	int port = xfree_port();
	int ctl = start("max_clients_per_uid = 1\n[listener net]\ntcp = 127.0.0.1:%d\n", port);
	int u2 = xconnect(&b), t1 = xconnect_tcp(port), t2 = xconnect_tcp(port);

	expect_err(u2, "server-busy");
	cr_assert_eq(th_ping_barrier(t1, "1", NULL, 0), 0);
	cr_assert_eq(th_ping_barrier(t2, "2", NULL, 0), 0);
	cr_expect_eq(stat_of(ctl, "clients"), 3);
	th_close(u2);
	th_close(t1);
	th_close(t2);
	th_close(ctl);
	xstop(&b);
}

/* A TCP subscriber that never reads is a slow consumer like any other:
 * its messages are dropped and counted, the broker answers everyone else. */
Test(listeners, a_tcp_client_that_never_reads_is_a_slow_consumer)
{
	int port = xfree_port();
	int ctl = start("queue_limit = 64K\n[listener net]\ntcp = 127.0.0.1:%d\n", port);
	int tcp = xconnect_tcp(port), rcv = 4096, pub = xconnect(&b);
	char line[1100];
	int n = snprintf(line, sizeof line, "PUB slow/t ");

	setsockopt(tcp, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
	memset(line + n, 'p', 1000);
	line[n + 1000] = '\n';
	line[n + 1001] = '\0';
	xsub(tcp, "slow/#");
	/* Send until the broker drops for it: the socket buffers fill first. */
	for (int i = 0; i < 200 && stat_of(ctl, "dropped") == 0; i++) {
		for (int k = 0; k < 100; k++)
			xsend(pub, line);
		cr_assert_eq(th_ping_barrier(pub, "p", NULL, 0), 0, "the publisher was stalled");
	}
	cr_expect_gt(stat_of(ctl, "dropped"), 0, "nothing was dropped for a TCP client that never reads");
	cr_assert_eq(th_ping_barrier(ctl, "alive", NULL, 0), 0);
	th_close(tcp);
	th_close(pub);
	th_close(ctl);
	xstop(&b);
}

/* A lines client streaming without end neither stalls the broker nor
 * makes it hold what it sent: others are answered meanwhile, and memory
 * stays flat. */
Test(listeners, a_lines_flood_does_not_stall_the_broker)
{
	int ctl = start("max_line = 4K\n[listener l]\nsocket = %s/l.sock\nmode = lines\n"
	                "topic = flood\n",
	                b.dir);
	int fd = th_connect_path(path_in(0, "l.sock")), sub = xconnect(&b);
	int rounds = th_under_valgrind() ? 4 : 64;
	char chunk[64 * 1024];
	long rss0, rss = 0;

	cr_assert_geq(fd, 0);
	xsub(sub, "flood");
	memset(chunk, 'f', sizeof chunk); /* no newline: one endless line */
	cr_assert_eq(th_ping_barrier(ctl, "warm", NULL, 0), 0);
	rss0 = th_proc_status_kb(b.pid, "VmRSS");
	for (int i = 0; i < rounds; i++) {
		long now;

		xsend_bytes(fd, chunk, sizeof chunk);
		cr_assert_eq(th_ping_barrier(ctl, "r", NULL, 0), 0, "the broker stalled");
		now = th_proc_status_kb(b.pid, "VmRSS");
		rss = now > rss ? now : rss;
	}
	xsend(fd, "\nend\n");
	expect_next(sub, "MSG flood end");
	cr_expect_eq(stat_of(ctl, "lines_discarded"), 1);
	expect_rss_growth_below(rss0, rss, 2048, "a lines client streaming one endless line");
	th_close(fd);
	th_close(sub);
	th_close(ctl);
	xstop(&b);
}

/* SIGHUP with changed listeners: logged as taking effect at restart; the
 * listeners in force stay, their clients stay connected and keep working,
 * and a new listener is not opened. */
Test(listeners, reload_keeps_the_listeners)
{
	int port = xfree_port();
	int ctl = start("[listener l]\nsocket = %s/l.sock\nmode = lines\ntopic = r\n"
	                "[listener net]\ntcp = 127.0.0.1:%d\n",
	                b.dir, port);
	int lines = th_connect_path(path_in(0, "l.sock")), tcp = xconnect_tcp(port);
	char config[1024];

	cr_assert_geq(lines, 0);
	xsub(ctl, "r/#");
	cr_assert_eq(th_ping_barrier(tcp, "before", NULL, 0), 0);
	snprintf(config, sizeof config,
	         "[listener l]\nsocket = %s/l.sock\nmode = lines\ntopic = r/changed\n"
	         "[listener other]\nsocket = %s/other.sock\n",
	         b.dir, b.dir);
	cr_assert_eq(th_write_config(&b, config), 0);
	cr_assert_eq(kill(b.pid, SIGHUP), 0);
	wait_log(&b, "configuration reloaded", 1);
	cr_expect(th_log_contains(&b, "[listener] sections changed: they take effect when "
	                              "udsbrokerd restarts"));
	xsend(lines, "still r\n");
	expect_next(ctl, "MSG r still r");
	cr_assert_eq(th_ping_barrier(tcp, "after", NULL, 0), 0, "the TCP client was dropped");
	cr_expect_eq(access(path_in(1, "other.sock"), F_OK), -1, "a new listener was opened");
	th_close(lines);
	th_close(tcp);
	th_close(ctl);
	xstop(&b);
}

/* The config is checked at load: a TCP address other machines reach needs
 * allow_remote (the error names the tcp line); -t prints the listeners. */
Test(listeners, remote_tcp_needs_allow_remote)
{
	char out[8192], where[192];

	cr_assert_eq(th_prepare(&b, "max_clients = 5\n[listener far]\nmode = protocol\n"
	                            "tcp = 0.0.0.0:7070\n"),
	             0);
	cr_expect_eq(th_run_daemon(out, sizeof out, 10000, "-t", "-c", b.conf, NULL), 1, "%s", out);
	snprintf(where, sizeof where, "%s:5: tcp: 0.0.0.0:7070 is not a loopback address", b.conf);
	cr_expect(strstr(out, where) != NULL, "\"%s\" lacks \"%s\"", out, where);
	cr_expect_eq(th_run_daemon(out, sizeof out, 10000, "-f", "-c", b.conf, "-s", b.sock, NULL),
	             1, "%s", out);
	cr_expect(strstr(out, where) != NULL, "\"%s\" lacks \"%s\"", out, where);

	cr_assert_eq(th_write_config(&b, "[listener far]\ntcp = 0.0.0.0:7070\nallow_remote = yes\n"
	                                 "[listener l]\nsocket = /run/l.sock\nmode = lines\n"
	                                 "topic = a/b\n"),
	             0);
	cr_expect_eq(th_run_daemon(out, sizeof out, 10000, "-t", "-c", b.conf, NULL), 0, "%s", out);
	cr_expect(strstr(out, "\n[listener far]\ntcp = 0.0.0.0:7070\nallow_remote = yes\n"
	                      "mode = protocol\n") != NULL,
	          "-t printed:\n%s", out);
	cr_expect(strstr(out, "\n[listener l]\nsocket = /run/l.sock\nsocket_mode = 0660\n"
	                      "socket_group = \nmode = lines\ntopic = a/b\n") != NULL,
	          "-t printed:\n%s", out);
}

/* Other mistakes in a section, each named by FILE:LINE. */
Test(listeners, section_errors_name_the_line)
{
	static const struct {
		const char *config;
		int line;
		const char *text;
	} cases[] = {
		{ "[listener a]\nmode = lines\n", 2, "needs socket = PATH or tcp = HOST:PORT" },
		{ "[listener a]\nsocket = /x.sock\nmode = lines\n", 2, "mode = lines needs topic" },
		{ "[listener a]\nsocket = /x.sock\ntcp = 127.0.0.1:1\n", 4, "socket or tcp, not both" },
		{ "[listener a]\ntcp = 127.0.0.1:99999\n", 3, "not a port" },
		{ "[listener a]\ntcp = example.org:80\n", 3, "not HOST:PORT" },
		{ "[listener a]\nsocket = /x.sock\nmode = lines\ntopic = $SYS/x\n", 5, "the broker's" },
		{ "[listener a]\nsocket = /x.sock\ntopic = a\n", 4, "only a listener with mode = lines" },
		{ "[listener a]\nsocket = /x.sock\nfoo = 1\n", 4, "unknown key 'foo' in [listener a]" },
		{ "[listener main]\nsocket = /x.sock\n", 2, "the [broker] socket's" },
		{ "[listener a b]\nsocket = /x.sock\n", 2, "not a listener name" },
		{ "[listener a]\nsocket = /x.sock\n[listener a]\n", 4, "duplicate section" },
		{ "[listener a]\ntcp = 127.0.0.1:1\nsocket_mode = 0600\n", 2, "for a Unix socket" },
		{ "[access]\nrule = allow pub # listener=ghost\n", 3, "no [listener ghost]" },
	};
	char out[4096], where[256];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cr_assert_eq(th_prepare(&b, cases[i].config), 0);
		cr_expect_eq(th_run_daemon(out, sizeof out, 10000, "-t", "-c", b.conf, NULL), 1,
		             "case %zu: %s", i, out);
		snprintf(where, sizeof where, "%s:%d: ", b.conf, cases[i].line);
		cr_expect(strstr(out, where) != NULL && strstr(out, cases[i].text) != NULL,
		          "case %zu: \"%s\" lacks \"%s\" or \"%s\"", i, out, where, cases[i].text);
		th_stop(&b);
	}
}
