/*
 * Socket discovery against real, different local users (SPEC "Socket
 * path"): no fallback into /tmp or any world-writable directory, so a
 * second user cannot make the first user's udsctl talk to a socket the
 * second user created; a personal broker is taken only when its socket is
 * the caller's own; a non-root daemon with no path refuses to start; and an
 * EACCES says which group may connect. Users are made with useradd. Not
 * root: skipped, and criterion says so.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define T     TH_TIMEOUT_MS
#define ALICE "udsb-t-alice"
#define BOB   "udsb-t-bob"
#define GROUP "udsb-t-peers"

static struct th_daemon b;
static char bait_path[128]; /* removed at the end of the test, if set */

/* Stops the test's broker, if one was started, and removes the bait. */
static void
stop(void)
{
	if (bait_path[0] != '\0')
		unlink(bait_path);
	cr_expect_eq(th_stop(&b), 0, "udsbrokerd did not exit cleanly on SIGTERM");
}

/* Runs a command to completion as root (useradd, groupadd); exit status. */
static int
run_root(const char *prog, const char *a1, const char *a2, const char *a3, const char *a4)
{
	char *argv[] = { (char *)prog, (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL };
	char out[1024];

	return th_run(argv, out, sizeof out, T);
}

/* Makes sure the users and group exist (useradd; "exists" is fine, a busy
 * /etc/passwd lock is retried). */
static void
make_users(void)
{
	const char *users[] = { ALICE, BOB };
	int delay = 1;

	th_require_root("create users and run clients as them");
	for (long long deadline = th_now_ms() + T; getgrnam(GROUP) == NULL;) {
		run_root("/usr/sbin/groupadd", "--system", GROUP, NULL, NULL);
		cr_assert(th_left_ms(deadline) > 0, "groupadd %s failed", GROUP);
		th_backoff(&delay);
	}
	for (int i = 0; i < 2; i++)
		for (long long deadline = th_now_ms() + T; getpwnam(users[i]) == NULL;) {
			run_root("/usr/sbin/useradd", "--system", "--no-create-home",
			         "--user-group", users[i]);
			cr_assert(th_left_ms(deadline) > 0, "useradd %s failed", users[i]);
			th_backoff(&delay);
		}
}

TestSuite(discovery, .init = make_users, .fini = stop, .timeout = 120);

/* The uid and gid of user. */
static void
ids(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(user);

	cr_assert_not_null(pw, "no user %s", user);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
}

/* Starts prog args... as user, through setpriv, with env changes (see
 * th_exec_opts.env). */
static void
start_as(struct th_proc *p, const char *user, const char *const *env, const char *prog,
         const char *a1, const char *a2, const char *a3, const char *a4)
{
	char reuid[64], regid[64];
	char *argv[] = { "/usr/bin/setpriv", reuid,      regid,
		         "--clear-groups",   "--",       (char *)prog,
		         (char *)a1,         (char *)a2, (char *)a3,
		         (char *)a4,         NULL };
	uid_t uid;
	gid_t gid;

	ids(user, &uid, &gid);
	snprintf(reuid, sizeof reuid, "--reuid=%lu", (unsigned long)uid);
	snprintf(regid, sizeof regid, "--regid=%lu", (unsigned long)gid);
	cr_assert_eq(th_proc_start(p, argv, env, NULL, true), 0);
}

/* udsctl as given by meson. */
static const char *
udsctl(void)
{
	const char *p = getenv("UDSCTL");

	cr_assert(p != NULL && p[0] != '\0', "UDSCTL is not set");
	return p;
}

/* A listening socket at path owned by owner (mode 0777), as an attacker
 * would leave it; returns the listening descriptor. */
static int
bait(const char *path, uid_t owner, gid_t group)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	cr_assert_lt(strlen(path), sizeof sun.sun_path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	unlink(path);
	snprintf(bait_path, sizeof bait_path, "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0, "bind %s", path);
	cr_assert_eq(listen(fd, 16), 0);
	cr_assert_eq(chown(path, owner, group), 0);
	cr_assert_eq(chmod(path, 0777), 0);
	return fd;
}

/* Runs alice's "udsctl pub" with env and asserts it never connected to
 * the bait lfd: waits until udsctl exits or the bait is reached. */
static void
alice_not_lured(int lfd, const char *const *env, const char *what)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	struct th_proc p;
	int c;

	start_as(&p, ALICE, env, udsctl(), "pub", "secrets/alice", "the password", NULL);
	/* udsctl exits at once when it finds no broker; a lured one would
	 * hang waiting on the bait, which never answers. */
	for (long long deadline = th_now_ms() + T; p.out >= 0 && th_left_ms(deadline) > 0;) {
		if (poll(&pfd, 1, 0) == 1)
			break;
		th_proc_read_more(&p, 20);
	}
	c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c >= 0 || p.out >= 0)
		kill(p.pid, SIGKILL);
	th_proc_finish(&p);
	if (c >= 0) {
		struct pollfd cp = { .fd = c, .events = POLLIN };
		char buf[256] = "";
		ssize_t n;

		if (poll(&cp, 1, 1000) == 1 && (n = read(c, buf, sizeof buf - 1)) > 0)
			buf[n] = '\0';
		close(c);
		cr_assert_fail("%s: alice's udsctl connected to bob's socket and sent: %s", what,
		               buf);
	}
	cr_expect(strstr(p.out_buf, "/run/udsbroker.sock") != NULL,
	          "%s: udsctl did not go to the system broker: %s", what, p.out_buf);
	th_proc_free(&p);
}

Test(discovery, no_xdg_is_not_tmp)
{
	static const char *const env[] = { "XDG_RUNTIME_DIR", "UDSBROKER_SOCKET", NULL };
	char path[128];
	uid_t alice, bob;
	gid_t ag, bg;
	int lfd;

	ids(ALICE, &alice, &ag);
	ids(BOB, &bob, &bg);
	/* Where release 1 looked without XDG_RUNTIME_DIR; bob got there first. */
	snprintf(path, sizeof path, "/tmp/udsbroker-%lu.sock", (unsigned long)alice);
	lfd = bait(path, bob, bg);
	alice_not_lured(lfd, env, "no XDG_RUNTIME_DIR");
	close(lfd);
	unlink(path);
}

Test(discovery, xdg_socket_of_another_user_is_not_taken)
{
	char dir[] = "/tmp/udsb-disc-XXXXXX", path[128], xdg[160];
	const char *const env[] = { xdg, "UDSBROKER_SOCKET", NULL };
	uid_t bob;
	gid_t bg;
	int lfd;

	ids(BOB, &bob, &bg);
	/* XDG_RUNTIME_DIR pointing into a shared, world-writable directory
	 * (a wrong variable, one kept across su), where bob made the socket. */
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(chmod(dir, 01777), 0);
	snprintf(path, sizeof path, "%s/udsbroker.sock", dir);
	snprintf(xdg, sizeof xdg, "XDG_RUNTIME_DIR=%s", dir);
	lfd = bait(path, bob, bg);
	alice_not_lured(lfd, env, "XDG_RUNTIME_DIR with bob's socket");
	close(lfd);
	unlink(path);
	rmdir(dir);
}

Test(discovery, own_personal_broker_is_found)
{
	char xdg[160], conf[160];
	const char *const env[] = { xdg, "UDSBROKER_SOCKET", NULL };
	struct th_proc d, c;
	uid_t alice;

	if (th_under_valgrind())
		cr_skip_test("the daemon runs as another user, who cannot write valgrind's log");
	gid_t ag;
	int fd, rc;

	ids(ALICE, &alice, &ag);
	cr_assert_eq(th_prepare(&b, NULL), 0);
	cr_assert_eq(chown(b.dir, alice, ag), 0);
	cr_assert_eq(chown(b.conf, alice, ag), 0);
	snprintf(xdg, sizeof xdg, "XDG_RUNTIME_DIR=%s", b.dir);
	snprintf(conf, sizeof conf, "%s", b.conf);
	/* No -s: the daemon's default for a user is $XDG_RUNTIME_DIR/udsbroker.sock. */
	start_as(&d, ALICE, env, th_daemon_path(), "-f", "-c", conf, NULL);
	snprintf(b.sock, sizeof b.sock, "%s/udsbroker.sock", b.dir);
	fd = th_connect_retry(b.sock, &d.pid, T);
	if (fd < 0) {
		th_proc_read(&d, 0, 1000);
		cr_assert_fail("alice's broker did not start: %s", d.out_buf);
	}
	th_close(fd);
	/* Alice's udsctl, no -s: her own broker. */
	start_as(&c, ALICE, env, udsctl(), "ping", NULL, NULL, NULL);
	rc = th_proc_finish(&c);
	cr_expect_eq(rc, 0, "alice's udsctl did not reach her broker: %s", c.out_buf);
	th_proc_free(&c);
	/* Bob's udsctl with alice's XDG_RUNTIME_DIR: not his socket. */
	start_as(&c, BOB, env, udsctl(), "ping", NULL, NULL, NULL);
	rc = th_proc_finish(&c);
	cr_expect_neq(rc, 0, "bob's udsctl took alice's socket");
	cr_expect(strstr(c.out_buf, "/run/udsbroker.sock") != NULL, "bob's udsctl: %s", c.out_buf);
	th_proc_free(&c);
	kill(d.pid, SIGTERM);
	rc = th_proc_finish(&d);
	cr_expect_eq(rc, 0, "alice's broker: %s", d.out_buf);
	th_proc_free(&d);
}

Test(discovery, nonroot_daemon_without_path_refuses)
{
	static const char *const env[] = { "XDG_RUNTIME_DIR", "UDSBROKER_SOCKET", NULL };
	char conf[160], tmp[128];
	struct th_proc d;
	uid_t alice;

	if (th_under_valgrind())
		cr_skip_test("the daemon runs as another user, who cannot write valgrind's log");
	gid_t ag;
	int rc;

	ids(ALICE, &alice, &ag);
	cr_assert_eq(th_prepare(&b, NULL), 0);
	cr_assert_eq(chmod(b.dir, 0755), 0);
	snprintf(conf, sizeof conf, "%s", b.conf);
	start_as(&d, ALICE, env, th_daemon_path(), "-f", "-c", conf, NULL);
	if (!th_proc_read(&d, 0, T)) {
		kill(d.pid, SIGKILL);
		th_proc_finish(&d);
		snprintf(tmp, sizeof tmp, "/tmp/udsbroker-%lu.sock", (unsigned long)alice);
		unlink(tmp);
		cr_assert_fail("a non-root daemon with no socket path started: %s", d.out_buf);
	}
	rc = th_proc_finish(&d);
	cr_expect_eq(rc, 1, "status %d: %s", rc, d.out_buf);
	cr_expect(strstr(d.out_buf, "-s") != NULL && strstr(d.out_buf, "UDSBROKER_SOCKET") &&
	              strstr(d.out_buf, "socket key"),
	          "the error does not name -s, UDSBROKER_SOCKET and socket: %s", d.out_buf);
	cr_expect(strstr(d.out_buf, "/tmp") == NULL, "%s", d.out_buf);
	th_proc_free(&d);
}

Test(discovery, eacces_names_the_group)
{
	struct th_proc c;
	int rc;

	xstart(&b, "socket_mode = 0660\nsocket_group = " GROUP "\n");
	cr_assert_eq(chmod(b.dir, 0755), 0);
	start_as(&c, BOB, NULL, udsctl(), "-s", b.sock, "ping", NULL);
	rc = th_proc_finish(&c);
	cr_expect_neq(rc, 0, "bob, not in " GROUP ", connected");
	cr_expect(strstr(c.out_buf, "Permission denied") != NULL, "%s", c.out_buf);
	cr_expect(strstr(c.out_buf, "group " GROUP) != NULL,
	          "the error does not name the group that may connect: %s", c.out_buf);
	th_proc_free(&c);
}
