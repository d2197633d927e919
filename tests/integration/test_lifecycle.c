/* The daemon's life: its socket file, start-up errors, -t, signals. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "check.h"

static struct th_daemon b;

/* Stops the test's broker: a clean exit is part of every test. */
static void
stop(void)
{
	cr_expect_eq(th_stop(&b), 0, "udsbrokerd did not exit cleanly on SIGTERM");
}

TestSuite(lifecycle, .fini = stop, .timeout = 120);

Test(lifecycle, refuses_a_live_socket)
{
	char out[4096];
	struct stat st;
	int c, rc;

	xstart(&b, NULL);
	c = xconnect(&b);
	quiet(c);
	rc = th_run_daemon(out, sizeof out, TH_TIMEOUT_MS, "-f", "-c", b.conf, "-s", b.sock, NULL);
	cr_expect_neq(rc, 0, "a second broker started on a live socket");
	cr_expect(strstr(out, "another broker is listening") != NULL, "output: %s", out);
	cr_expect(strstr(out, b.sock) != NULL, "the message names the path: %s", out);
	/* The first one is untouched. */
	cr_assert_eq(stat(b.sock, &st), 0, "the live socket file was removed");
	cr_expect(S_ISSOCK(st.st_mode));
	quiet(c);
	quiet(xconnect(&b));
}

Test(lifecycle, replaces_a_stale_socket)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	cr_assert_eq(th_prepare(&b, NULL), 0);
	/* A socket bound and closed: the file stays, nobody listens. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_lt(strlen(b.sock), sizeof sun.sun_path);
	memcpy(sun.sun_path, b.sock, strlen(b.sock) + 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	close(fd);
	cr_assert_eq(
	    connect(fd = socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&sun, sizeof sun), -1);
	cr_assert_eq(errno, ECONNREFUSED);
	close(fd);

	cr_assert_eq(th_spawn(&b), 0, "the daemon did not replace a stale socket");
	quiet(xconnect(&b));
}

Test(lifecycle, leaves_a_regular_file_alone)
{
	char out[4096], content[64] = "";
	int fd, rc;

	cr_assert_eq(th_prepare(&b, NULL), 0);
	fd = open(b.sock, O_WRONLY | O_CREAT | O_EXCL, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "precious\n", 9), 9);
	close(fd);

	rc = th_run_daemon(out, sizeof out, TH_TIMEOUT_MS, "-f", "-c", b.conf, "-s", b.sock, NULL);
	cr_expect_neq(rc, 0, "the daemon started over a regular file");
	cr_expect_gt(strlen(out), 0, "no error message");
	cr_expect(strstr(out, b.sock) != NULL, "the message names the path: %s", out);
	fd = open(b.sock, O_RDONLY);
	cr_assert_geq(fd, 0, "the file is gone");
	cr_expect_eq(read(fd, content, sizeof content - 1), 9);
	close(fd);
	cr_expect_str_eq(content, "precious\n");
}

Test(lifecycle, sigterm_removes_the_socket)
{
	int c;

	xstart(&b, NULL);
	c = xconnect(&b);
	quiet(c); /* the event loop (and its signal handling) runs */
	cr_expect_eq(th_wait(&b, SIGTERM, TH_TIMEOUT_MS), 0, "exit status after SIGTERM");
	cr_expect_eq(access(b.sock, F_OK), -1, "%s is still there", b.sock);
	cr_expect_eq(errno, ENOENT);
}

/* A SIGTERM as soon as the socket accepts (what a service manager or a
 * script may do) is a clean stop too: the daemon must not be connectable
 * before it handles its signals. Repeated, since it is about a window. */
Test(lifecycle, sigterm_as_soon_as_ready)
{
	for (int i = 0; i < 20; i++) {
		int rc;

		xstart(&b, NULL);
		rc = th_wait(&b, SIGTERM, TH_TIMEOUT_MS);
		cr_expect_eq(rc, 0, "round %d: SIGTERM right after start: status %d", i, rc);
		cr_expect_eq(access(b.sock, F_OK), -1, "round %d: %s left behind", i, b.sock);
		th_stop(&b);
		if (rc != 0)
			break;
	}
}

Test(lifecycle, sigint_is_like_sigterm)
{
	int c;

	xstart(&b, NULL);
	c = xconnect(&b);
	quiet(c);
	cr_expect_eq(th_wait(&b, SIGINT, TH_TIMEOUT_MS), 0);
	cr_expect_str_eq(read_to_eof(c, NULL), "BYE shutdown");
	cr_expect_eq(access(b.sock, F_OK), -1);
}

/* socket_mode is applied as written, whatever the umask. */
Test(lifecycle, socket_mode)
{
	static const struct {
		const char *conf;
		mode_t mode;
	} cases[] = { { "socket_mode = 0600\n", 0600 },
		      { "socket_mode = 0666\n", 0666 },
		      { NULL, 0660 } };

	umask(0077); /* the daemon inherits it; it must not matter */
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct stat st;

		xstart(&b, cases[i].conf);
		cr_assert_eq(stat(b.sock, &st), 0);
		cr_expect(S_ISSOCK(st.st_mode));
		cr_expect_eq(st.st_mode & 07777, cases[i].mode, "case %zu: mode %04o, want %04o", i,
		             (unsigned)(st.st_mode & 07777), (unsigned)cases[i].mode);
		quiet(xconnect(&b)); /* running its loop: see sigterm_as_soon_as_ready */
		cr_expect_eq(th_stop(&b), 0);
	}
}

Test(lifecycle, socket_group)
{
	struct stat st;

	th_require_root("give the socket to a group it is not in");
	xstart(&b, "socket_group = daemon\n");
	cr_assert_eq(stat(b.sock, &st), 0);
	cr_expect_eq(st.st_gid, 1, "group %u, want daemon (1)", (unsigned)st.st_gid);
	quiet(xconnect(&b));
}

/* SIGTERM: what is queued is flushed, then BYE shutdown is each client's
 * last line; exit status 0; the socket file is gone. */
Test(lifecycle, sigterm_says_bye_to_everyone)
{
	enum { N = 500, CLIENTS = 4 };
	static char buf[N * 32];
	int c[CLIENTS], p;
	size_t n = 0;

	xstart(&b, NULL);
	for (int i = 0; i < CLIENTS; i++)
		c[i] = xconnect(&b);
	xsub(c[0], "t"); /* c[0] has N messages queued, unread */
	xsub(c[1], "#");
	p = xconnect(&b);
	for (int i = 0; i < N; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "PUB t %d\n", i);
	xsend_bytes(p, buf, n);
	quiet(p);
	cr_expect_eq(th_count_lines(barrier(c[1])), N); /* c[1] has read its copies */
	for (int i = 2; i < CLIENTS; i++)
		quiet(c[i]);

	cr_assert_eq(kill(b.pid, SIGTERM), 0);
	for (int k = 0; k < N; k++) {
		char want[32];

		snprintf(want, sizeof want, "MSG t %d", k);
		expect_next(c[0], want);
	}
	for (int i = 0; i < CLIENTS; i++) {
		size_t lines;
		const char *last = read_to_eof(c[i], &lines);

		cr_expect_str_eq(last, "BYE shutdown", "client %d: last line", i);
		cr_expect_eq(lines, 1, "client %d: %zu lines after the flush", i, lines);
	}
	cr_expect_str_eq(read_to_eof(p, NULL), "BYE shutdown");
	cr_expect_eq(th_wait(&b, 0, TH_TIMEOUT_MS), 0);
	cr_expect_eq(access(b.sock, F_OK), -1, "%s is still there", b.sock);
}

/* Sends "PING <len - 6 x's>\n" (len bytes in all); true if PONG came,
 * false on ERR line-too-long; anything else fails the test. */
static bool
probe(int fd, size_t len)
{
	static char line[70000];
	const char *got;

	cr_assert_lt(len, sizeof line);
	memcpy(line, "PING ", 5);
	memset(line + 5, 'x', len - 6);
	line[len - 1] = '\n';
	xsend_bytes(fd, line, len);
	got = xrecv(fd, NULL);
	if (strncmp(got, "PONG xxx", 8) == 0) {
		cr_assert_eq(strlen(got), len - 1, "PONG of the wrong length");
		return true;
	}
	cr_assert(strncmp(got, "ERR line-too-long", 17) == 0, "got \"%.100s\"", got);
	return false;
}

/* SIGHUP applies a larger max_line to the clients already connected,
 * without dropping any. */
Test(lifecycle, sighup_reloads_limits)
{
	int c, s, p, delay = 1;
	bool applied = false;

	xstart(&b, "max_line = 1024\n");
	c = xconnect(&b);
	s = xconnect(&b);
	xsub(s, "t");
	p = xconnect(&b);
	cr_expect(probe(c, 1024));
	cr_expect_not(probe(c, 1500));

	cr_assert_eq(th_write_config(&b, "max_line = 4K\n"), 0);
	cr_assert_eq(kill(b.pid, SIGHUP), 0);
	/* The reload happens when the loop gets to it: retry, bounded. */
	for (long long deadline = th_now_ms() + TH_TIMEOUT_MS;
	     !applied && th_now_ms() < deadline;) {
		applied = probe(c, 1500);
		if (!applied)
			th_backoff(&delay);
	}
	cr_expect(applied, "max_line = 4K not applied to a connected client");
	cr_expect(probe(c, 4096));
	cr_expect_not(probe(c, 4097));
	/* Nobody was dropped. */
	xsend(p, "PUB t still here\n");
	quiet(p);
	expect_next(s, "MSG t still here");
	cr_expect_eq(stat_of(p, "clients"), 3);
	cr_expect(probe(xconnect(&b), 1500), "a new client has the new limit");
}

/* SIGHUP with a broken config: logged, the old settings stay, nothing drops. */
Test(lifecycle, sighup_with_broken_config)
{
	char where[160];
	int c, s, p;

	xstart(&b, "max_line = 1024\nmax_subscriptions = 2\n");
	c = xconnect(&b);
	s = xconnect(&b);
	xsub(s, "t");
	p = xconnect(&b);

	/* Good keys first, the bad one on line 4: none may be applied. */
	cr_assert_eq(th_write_config(&b, "max_line = 4K\nmax_subscriptions = 10\nbogus = 1\n"), 0);
	cr_assert_eq(kill(b.pid, SIGHUP), 0);
	snprintf(where, sizeof where, "%s:4:", b.conf);
	wait_log(&b, where, 1);

	cr_expect_eq(kill(b.pid, 0), 0, "the broker died");
	cr_expect_not(probe(c, 1500), "part of the broken config was applied");
	cr_expect(probe(c, 1024));
	xsub(c, "a");
	xsub(c, "b");
	xsend(c, "SUB c\n");
	expect_err(c, "too-many-subscriptions");
	xsend(p, "PUB t alive\n");
	quiet(p);
	expect_next(s, "MSG t alive");
	cr_expect(probe(xconnect(&b), 1024));
	cr_expect_not(probe(xconnect(&b), 1500));
}

/* -t prints the effective settings as a config file and exits 0. */
Test(lifecycle, check_mode_prints_config)
{
	char out[8192], err[512];
	struct config cfg = { 0 };
	int rc;

	cr_assert_eq(th_prepare(&b, "max_line = 12345\nqueue_limit = 3M\n"
	                            "slow_consumer = disconnect\nmax_clients = 77\n"
	                            "[log]\nlevel = warn\n"),
	             0);
	/* -s: a user other than root without XDG_RUNTIME_DIR has no default. */
	rc = th_run_daemon(out, sizeof out, TH_TIMEOUT_MS, "-t", "-c", b.conf, "-s", b.sock, NULL);
	cr_assert_eq(rc, 0, "udsbrokerd -t: %s", out);
	cr_assert_eq(config_load_string(&cfg, out, "-t output", err, sizeof err), 0,
	             "the -t output is not a valid config: %s\n%s", err, out);
	cr_expect_eq(cfg.max_line, 12345);
	cr_expect_eq(cfg.queue_limit, 3u << 20);
	cr_expect_eq(cfg.slow_consumer, SLOW_CONSUMER_DISCONNECT);
	cr_expect_eq(cfg.max_clients, 77);
	cr_expect_eq(cfg.log_level, LOG_LEVEL_WARN);
	cr_expect_eq(cfg.max_topic, 256);
	config_free(&cfg);
	cr_expect_eq(access(b.sock, F_OK), -1, "-t must not create the socket");
}

Test(lifecycle, check_mode_rejects_bad_config)
{
	char out[4096], where[160];

	cr_assert_eq(th_prepare(&b, "max_line = 1K\nslow_consumer = sometimes\n"), 0);
	cr_expect_eq(th_run_daemon(out, sizeof out, TH_TIMEOUT_MS, "-t", "-c", b.conf, NULL), 1,
	             "%s", out);
	snprintf(where, sizeof where, "%s:3:", b.conf);
	cr_expect(strstr(out, where) != NULL, "\"%s\" lacks %s", out, where);
}

/* Start-up errors: one line on stderr, exit status 1. */
Test(lifecycle, startup_errors)
{
	char out[4096], where[160], longpath[300];

	cr_assert_eq(th_prepare(&b, "\n\nmax_clients = many\n"), 0);
	cr_expect_eq(
	    th_run_daemon(out, sizeof out, TH_TIMEOUT_MS, "-f", "-c", b.conf, "-s", b.sock, NULL),
	    1);
	snprintf(where, sizeof where, "%s:4:", b.conf);
	cr_expect(strstr(out, where) != NULL, "\"%s\" lacks %s", out, where);
	cr_expect_eq(th_count_lines(out), 1, "not one line: \"%s\"", out);
	cr_expect_eq(access(b.sock, F_OK), -1);

	/* A named config file that does not exist. */
	snprintf(where, sizeof where, "%s/absent.conf", b.dir);
	cr_expect_eq(
	    th_run_daemon(out, sizeof out, TH_TIMEOUT_MS, "-f", "-c", where, "-s", b.sock, NULL),
	    1);
	cr_expect(strstr(out, where) != NULL, "\"%s\" does not name the file", out);
	cr_expect_eq(th_count_lines(out), 1, "not one line: \"%s\"", out);

	/* A socket path sun_path cannot hold: an error naming the limit. */
	memset(longpath, 'l', sizeof longpath - 1);
	longpath[sizeof longpath - 1] = '\0';
	memcpy(longpath, b.dir, strlen(b.dir));
	longpath[strlen(b.dir)] = '/';
	th_write_config(&b, NULL);
	cr_expect_eq(
	    th_run_daemon(out, sizeof out, TH_TIMEOUT_MS, "-f", "-c", b.conf, "-s", longpath, NULL),
	    1);
	cr_expect(strstr(out, "107") != NULL || strstr(out, "108") != NULL,
	          "the message does not name the limit: \"%s\"", out);
	cr_expect_eq(th_count_lines(out), 1, "not one line: \"%s\"", out);
}

/* Precedence in the daemon: -s > $UDSBROKER_SOCKET > config socket. */
Test(lifecycle, socket_path_precedence)
{
	char conf[300], elsewhere[160];

	/* The config's socket, when nothing else is given. */
	cr_assert_eq(th_prepare(&b, NULL), 0);
	snprintf(conf, sizeof conf, "socket = %s\n", b.sock);
	cr_assert_eq(th_write_config(&b, conf), 0);
	unsetenv("UDSBROKER_SOCKET");
	cr_assert_eq(th_spawn_nosock(&b), 0, "the config's socket was not used");
	quiet(xconnect(&b));
	cr_expect_eq(th_stop(&b), 0);

	/* The environment beats the config. */
	cr_assert_eq(th_prepare(&b, NULL), 0);
	snprintf(elsewhere, sizeof elsewhere, "%s/from-conf.sock", b.dir);
	snprintf(conf, sizeof conf, "socket = %s\n", elsewhere);
	cr_assert_eq(th_write_config(&b, conf), 0);
	setenv("UDSBROKER_SOCKET", b.sock, 1);
	cr_assert_eq(th_spawn_nosock(&b), 0, "$UDSBROKER_SOCKET was not used");
	cr_expect_eq(access(elsewhere, F_OK), -1, "the config beat the environment");
	quiet(xconnect(&b));
	cr_expect_eq(th_stop(&b), 0);

	/* -s beats both (th_spawn passes -s b.sock). */
	cr_assert_eq(th_prepare(&b, NULL), 0);
	snprintf(elsewhere, sizeof elsewhere, "%s/from-conf.sock", b.dir);
	snprintf(conf, sizeof conf, "socket = %s\n", elsewhere);
	cr_assert_eq(th_write_config(&b, conf), 0);
	snprintf(elsewhere, sizeof elsewhere, "%s/from-env.sock", b.dir);
	setenv("UDSBROKER_SOCKET", elsewhere, 1);
	cr_assert_eq(th_spawn(&b), 0, "-s was not used");
	unsetenv("UDSBROKER_SOCKET");
	cr_expect_eq(access(elsewhere, F_OK), -1, "the environment beat -s");
	quiet(xconnect(&b));
}
