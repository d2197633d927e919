/*
 * Access rules against real, different local users: the test (root, as CI
 * runs it) forks clients that drop to another uid/gid before connecting.
 * Not root: skipped, and criterion says so.
 */
#include <criterion/criterion.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define NOBODY 65534
#define T TH_TIMEOUT_MS

/* Starts a broker whose socket and directory other users can reach. */
static void
start(struct th_daemon *b, const char *access)
{
	char conf[1024];

	snprintf(conf, sizeof conf, "socket_mode = 0666\n%s", access);
	cr_assert_eq(th_start(b, conf), 0, "broker did not start");
	cr_assert_eq(chmod(b->dir, 0755), 0);
}

/* Runs fn(b) in a child as uid/gid with one supplementary group (or none
 * when group is 0); returns fn's result (0 = all checks passed). */
static int
run_as(const struct th_daemon *b, uid_t uid, gid_t gid, gid_t group, int (*fn)(const struct th_daemon *))
{
	pid_t pid = fork();
	int status;

	cr_assert_neq(pid, -1);
	if (pid == 0) {
		if (setgroups(group ? 1 : 0, &group) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(100);
		_exit(fn(b));
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child died");
	return WEXITSTATUS(status);
}

/* Sends one command and checks the reply starts with want. */
static int
says(int fd, const char *cmd, const char *want)
{
	char line[512];

	if (th_send_str(fd, cmd) < 0 || th_recv_line(fd, line, sizeof line, T) < 0)
		return 1;
	if (strncmp(line, want, strlen(want)) != 0) {
		fprintf(stderr, "%s-> %s (wanted %s)\n", cmd, line, want);
		return 1;
	}
	return 0;
}

static int
nobody_checks(const struct th_daemon *b)
{
	int fd = th_connect(b), bad = 0;

	if (fd < 0)
		return 2;
	bad |= says(fd, "SUB #\n", "ERR forbidden");          /* overlaps secret/# */
	bad |= says(fd, "SUB secret/x\n", "ERR forbidden");
	bad |= says(fd, "SUB public/#\n", "OK");
	bad |= says(fd, "PUB secret/x hi\nPING 1\n", "ERR forbidden");
	bad |= says(fd, "", "PONG 1");
	bad |= says(fd, "PUB public/x hi\n", "MSG public/x hi"); /* own subscription */
	th_close(fd);
	return bad;
}

Test(users, rules_apply_per_uid, .timeout = 120)
{
	struct th_daemon b;
	int root;

	th_require_root("run clients as other users");
	start(&b, "[access]\ndefault = allow\nrule = deny all secret/# user=nobody\n");
	cr_expect_eq(run_as(&b, NOBODY, NOBODY, 0, nobody_checks), 0, "nobody's view");
	/* root is not nobody: the same commands are allowed. */
	root = th_connect(&b);
	cr_assert_geq(root, 0);
	cr_expect_eq(says(root, "SUB #\n", "OK"), 0);
	cr_expect_eq(says(root, "PUB secret/x hi\n", "MSG secret/x hi"), 0);
	th_close(root);
	cr_expect_eq(th_stop(&b), 0);
}

static int
group_member_publishes(const struct th_daemon *b)
{
	int fd = th_connect(b), bad;

	if (fd < 0)
		return 2;
	bad = says(fd, "SUB sensors/#\n", "OK") | says(fd, "PUB sensors/t 1\n", "MSG sensors/t 1");
	th_close(fd);
	return bad;
}

static int
outsider_is_refused(const struct th_daemon *b)
{
	int fd = th_connect(b), bad;

	if (fd < 0)
		return 2;
	bad = says(fd, "SUB sensors/#\n", "ERR forbidden") |
	      says(fd, "PUB sensors/t 1\n", "ERR forbidden");
	th_close(fd);
	return bad;
}

Test(users, supplementary_group_principal, .timeout = 120)
{
	struct th_daemon b;

	th_require_root("run clients as other users");
	start(&b, "[access]\ndefault = deny\nrule = allow all sensors/# gid=4242\n");
	/* Primary group nobody, supplementary 4242: allowed through the group. */
	cr_expect_eq(run_as(&b, NOBODY, NOBODY, 4242, group_member_publishes), 0);
	cr_expect_eq(run_as(&b, NOBODY, NOBODY, 0, outsider_is_refused), 0);
	cr_expect_eq(th_stop(&b), 0);
}

static int
second_connection_refused(const struct th_daemon *b)
{
	char line[256];
	int first = th_connect(b), second, bad = 0;

	if (first < 0 || th_ping_barrier(first, "held", NULL, 0) < 0)
		return 2;
	if ((second = th_connect(b)) < 0)
		return 3;
	if (th_recv_line(second, line, sizeof line, T) < 0 ||
	    strncmp(line, "ERR server-busy", 15) != 0) {
		fprintf(stderr, "second connection got '%s'\n", line);
		bad = 1;
	}
	bad |= th_recv_eof(second, T) < 0;
	bad |= th_ping_barrier(first, "still", NULL, 0) < 0;
	th_close(second);
	th_close(first);
	return bad;
}

Test(users, max_clients_per_uid, .timeout = 120)
{
	struct th_daemon b;
	int r1, r2;

	th_require_root("run clients as other users");
	start(&b, "max_clients_per_uid = 1\n");
	cr_expect_eq(run_as(&b, NOBODY, NOBODY, 0, second_connection_refused), 0);
	/* The limit is per user: root, another uid, gets its own one. */
	r1 = th_connect(&b);
	cr_assert_geq(r1, 0);
	cr_expect_eq(th_ping_barrier(r1, "root", NULL, 0), 0);
	r2 = th_connect(&b);
	cr_expect_eq(th_expect_line(r2, "ERR server-busy too many clients for this user", T), 0);
	th_close(r2);
	th_close(r1);
	cr_expect_eq(th_stop(&b), 0);
}

Test(users, reload_removes_subscriptions_no_longer_allowed, .timeout = 120)
{
	struct th_daemon b;
	char other[4096];
	int sub, pub;

	th_require_root("be the uid 0 its rule names");
	start(&b, "[access]\ndefault = allow\n");
	sub = th_connect(&b);
	pub = th_connect(&b);
	cr_assert(sub >= 0 && pub >= 0);
	cr_assert_eq(says(sub, "SUB news/#\n", "OK"), 0);
	cr_assert_eq(says(sub, "SUB weather\n", "OK"), 0);
	cr_assert_eq(th_write_config(&b, "socket_mode = 0666\n[access]\ndefault = allow\n"
	                                     "rule = deny sub news/# uid=0\n"), 0);
	cr_assert_eq(kill(b.pid, SIGHUP), 0);
	/* Wait until the reload is done: the log says so. */
	wait_log(&b, "configuration reloaded", 1);
	cr_expect(th_log_contains(&b, "1 subscription removed by the reload, no longer allowed: \"news/#\""));
	cr_assert_eq(th_send_str(pub, "PUB news/a 1\nPUB weather 2\n"), 0);
	cr_assert_eq(th_ping_barrier(pub, "p", NULL, 0), 0);
	other[0] = '\0';
	cr_assert_eq(th_ping_barrier(sub, "s", other, sizeof other), 0);
	cr_expect(strstr(other, "MSG news/a") == NULL, "removed subscription still delivered: %s", other);
	cr_expect(strstr(other, "MSG weather 2") != NULL, "kept subscription lost: %s", other);
	th_close(sub);
	th_close(pub);
	cr_expect_eq(th_stop(&b), 0);
}
