/*
 * The config file against the real daemon (udsbrokerd.conf(5), issue 11.4):
 * only a regular file is read, at start, with -t and on SIGHUP, so a FIFO
 * or a device is an error at once, never a hang; a NUL byte or invalid
 * UTF-8 is an error naming FILE:LINE; and -t makes every check start-up
 * makes, an unknown socket_group included.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static struct th_daemon b;

/* Stops the test's broker, if one runs, and removes its directory. */
static void
stop(void)
{
	cr_expect_eq(th_stop(&b), 0, "udsbrokerd did not exit cleanly on SIGTERM");
}

TestSuite(config_file, .fini = stop, .timeout = 120);

/* Writes len bytes to path. */
static void
write_bytes(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(text, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

/* An unknown socket_group fails -t as it fails start-up, naming the line. */
Test(config_file, check_mode_resolves_socket_group)
{
	char out[4096], where[160];

	cr_assert_eq(th_prepare(&b, "max_clients = 5\nsocket_group = udsb-no-such-group-11\n"), 0);
	cr_expect_eq(th_run_daemon(out, sizeof out, 10000, "-t", "-c", b.conf, NULL), 1,
	             "-t said: %s", out);
	snprintf(where, sizeof where, "%s:3: socket_group: no group named", b.conf);
	cr_expect(strstr(out, where) != NULL, "\"%s\" lacks \"%s\"", out, where);
	cr_expect_eq(th_run_daemon(out, sizeof out, 10000, "-f", "-c", b.conf, "-s", b.sock, NULL),
	             1, "%s", out);
	cr_expect(strstr(out, where) != NULL, "\"%s\" lacks \"%s\"", out, where);
	cr_expect_eq(access(b.sock, F_OK), -1, "the socket was made");
}

/* A FIFO, a character device and a directory are refused at once. */
Test(config_file, only_a_regular_file_is_read)
{
	const char *const opts[][2] = { { "-t", NULL }, { "-f", "-s" } };
	char fifo[192], out[4096];
	const char *paths[3];

	cr_assert_eq(th_prepare(&b, NULL), 0);
	snprintf(fifo, sizeof fifo, "%s/fifo.conf", b.dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	paths[0] = fifo;
	paths[1] = "/dev/null";
	paths[2] = b.dir;
	for (size_t i = 0; i < 3; i++) {
		for (size_t o = 0; o < 2; o++) {
			int rc = th_run_daemon(out, sizeof out, 10000, opts[o][0], "-c", paths[i],
			                       opts[o][1], opts[o][1] ? b.sock : NULL, NULL);

			cr_expect_eq(rc, 1, "udsbrokerd %s -c %s: status %d (-1: it hung): %s",
			             opts[o][0], paths[i], rc, out);
			cr_expect(strstr(out, "not a regular file") != NULL, "%s: \"%s\"", paths[i],
			          out);
		}
	}
	cr_expect_eq(access(b.sock, F_OK), -1, "the socket was made");
}

/* SIGHUP while the config is a FIFO: the reload is refused with a log
 * line, at once, and the broker goes on with its settings. */
Test(config_file, sighup_with_a_fifo)
{
	int c, s;

	xstart(&b, "max_subscriptions = 1\n");
	c = xconnect(&b);
	s = xconnect(&b);
	xsub(s, "t");
	cr_assert_eq(unlink(b.conf), 0);
	cr_assert_eq(mkfifo(b.conf, 0600), 0);
	cr_assert_eq(kill(b.pid, SIGHUP), 0);
	wait_log(&b, "a FIFO, not a regular file", 1);
	quiet(c); /* the loop still runs */
	xsend(c, "PUB t alive\n");
	quiet(c);
	expect_next(s, "MSG t alive");
	xsend(s, "SUB u\n");
	expect_err(s, "too-many-subscriptions"); /* the old settings stay */
	cr_assert_eq(unlink(b.conf), 0);
	cr_assert_eq(th_write_config(&b, NULL), 0); /* th_stop expects a file */
}

/* A NUL byte or invalid UTF-8 is an error naming the file and line, at
 * start and with -t; before, inih saw the line cut at the NUL. */
Test(config_file, nul_and_invalid_utf8)
{
	static const char nul[] = "[broker]\nmax_clients = 5\n\nmax_line = 4K\0garbage\n";
	static const char utf8[] = "[broker]\n; caf\xc3\xa9 is fine\n; caf\xc3 is not\n";
	char out[4096], where[192];

	cr_assert_eq(th_prepare(&b, NULL), 0);
	write_bytes(b.conf, nul, sizeof nul - 1);
	cr_expect_eq(th_run_daemon(out, sizeof out, 10000, "-t", "-c", b.conf, NULL), 1, "%s", out);
	snprintf(where, sizeof where, "%s:4: a NUL byte", b.conf);
	cr_expect(strstr(out, where) != NULL, "\"%s\" lacks \"%s\"", out, where);

	write_bytes(b.conf, utf8, sizeof utf8 - 1);
	cr_expect_eq(th_run_daemon(out, sizeof out, 10000, "-f", "-c", b.conf, "-s", b.sock, NULL),
	             1, "%s", out);
	snprintf(where, sizeof where, "%s:3: invalid UTF-8", b.conf);
	cr_expect(strstr(out, where) != NULL, "\"%s\" lacks \"%s\"", out, where);
}
