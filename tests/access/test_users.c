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

#include "harness.h"

#define NOBODY 65534
#define T HARNESS_TIMEOUT_MS

static void
need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to run clients as other users (uid is %u)", (unsigned)geteuid());
}

/* Starts a broker whose socket and directory other users can reach. */
static void
start(struct broker *b, const char *access)
{
	char conf[1024];

	snprintf(conf, sizeof conf, "socket_mode = 0666\n%s", access);
	cr_assert_eq(broker_start(b, conf), 0, "broker did not start");
	cr_assert_eq(chmod(b->dir, 0755), 0);
}

/* Runs fn(b) in a child as uid/gid with one supplementary group (or none
 * when group is 0); returns fn's result (0 = all checks passed). */
static int
run_as(const struct broker *b, uid_t uid, gid_t gid, gid_t group, int (*fn)(const struct broker *))
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

	if (send_str(fd, cmd) < 0 || recv_line(fd, line, sizeof line, T) < 0)
		return 1;
	if (strncmp(line, want, strlen(want)) != 0) {
		fprintf(stderr, "%s-> %s (wanted %s)\n", cmd, line, want);
		return 1;
	}
	return 0;
}

static int
nobody_checks(const struct broker *b)
{
	int fd = broker_connect(b), bad = 0;

	if (fd < 0)
		return 2;
	bad |= says(fd, "SUB #\n", "ERR forbidden");          /* overlaps secret/# */
	bad |= says(fd, "SUB secret/x\n", "ERR forbidden");
	bad |= says(fd, "SUB public/#\n", "OK");
	bad |= says(fd, "PUB secret/x hi\nPING 1\n", "ERR forbidden");
	bad |= says(fd, "", "PONG 1");
	bad |= says(fd, "PUB public/x hi\n", "MSG public/x hi"); /* own subscription */
	conn_close(fd);
	return bad;
}

Test(users, rules_apply_per_uid, .timeout = 120)
{
	struct broker b;
	int root;

	need_root();
	start(&b, "[access]\ndefault = allow\nrule = deny all secret/# user=nobody\n");
	cr_expect_eq(run_as(&b, NOBODY, NOBODY, 0, nobody_checks), 0, "nobody's view");
	/* root is not nobody: the same commands are allowed. */
	root = broker_connect(&b);
	cr_assert_geq(root, 0);
	cr_expect_eq(says(root, "SUB #\n", "OK"), 0);
	cr_expect_eq(says(root, "PUB secret/x hi\n", "MSG secret/x hi"), 0);
	conn_close(root);
	cr_expect_eq(broker_stop(&b), 0);
}

static int
group_member_publishes(const struct broker *b)
{
	int fd = broker_connect(b), bad;

	if (fd < 0)
		return 2;
	bad = says(fd, "SUB sensors/#\n", "OK") | says(fd, "PUB sensors/t 1\n", "MSG sensors/t 1");
	conn_close(fd);
	return bad;
}

static int
outsider_is_refused(const struct broker *b)
{
	int fd = broker_connect(b), bad;

	if (fd < 0)
		return 2;
	bad = says(fd, "SUB sensors/#\n", "ERR forbidden") |
	      says(fd, "PUB sensors/t 1\n", "ERR forbidden");
	conn_close(fd);
	return bad;
}

Test(users, supplementary_group_principal, .timeout = 120)
{
	struct broker b;

	need_root();
	start(&b, "[access]\ndefault = deny\nrule = allow all sensors/# gid=4242\n");
	/* Primary group nobody, supplementary 4242: allowed through the group. */
	cr_expect_eq(run_as(&b, NOBODY, NOBODY, 4242, group_member_publishes), 0);
	cr_expect_eq(run_as(&b, NOBODY, NOBODY, 0, outsider_is_refused), 0);
	cr_expect_eq(broker_stop(&b), 0);
}

static int
second_connection_refused(const struct broker *b)
{
	char line[256];
	int first = broker_connect(b), second, bad = 0;

	if (first < 0 || ping_barrier(first, "held", NULL, 0) < 0)
		return 2;
	if ((second = broker_connect(b)) < 0)
		return 3;
	if (recv_line(second, line, sizeof line, T) < 0 ||
	    strncmp(line, "ERR server-busy", 15) != 0) {
		fprintf(stderr, "second connection got '%s'\n", line);
		bad = 1;
	}
	bad |= recv_eof(second, T) < 0;
	bad |= ping_barrier(first, "still", NULL, 0) < 0;
	conn_close(second);
	conn_close(first);
	return bad;
}

Test(users, max_clients_per_uid, .timeout = 120)
{
	struct broker b;
	int r1, r2;

	need_root();
	start(&b, "max_clients_per_uid = 1\n");
	cr_expect_eq(run_as(&b, NOBODY, NOBODY, 0, second_connection_refused), 0);
	/* The limit is per user: root, another uid, gets its own one. */
	r1 = broker_connect(&b);
	cr_assert_geq(r1, 0);
	cr_expect_eq(ping_barrier(r1, "root", NULL, 0), 0);
	r2 = broker_connect(&b);
	cr_expect_eq(expect_line(r2, "ERR server-busy too many clients for this user", T), 0);
	conn_close(r2);
	conn_close(r1);
	cr_expect_eq(broker_stop(&b), 0);
}

Test(users, reload_removes_subscriptions_no_longer_allowed, .timeout = 120)
{
	struct broker b;
	char other[4096];
	int sub, pub;

	need_root();
	start(&b, "[access]\ndefault = allow\n");
	sub = broker_connect(&b);
	pub = broker_connect(&b);
	cr_assert(sub >= 0 && pub >= 0);
	cr_assert_eq(says(sub, "SUB news/#\n", "OK"), 0);
	cr_assert_eq(says(sub, "SUB weather\n", "OK"), 0);
	cr_assert_eq(broker_write_config(&b, "socket_mode = 0666\n[access]\ndefault = allow\n"
	                                     "rule = deny sub news/# uid=0\n"), 0);
	cr_assert_eq(kill(b.pid, SIGHUP), 0);
	/* Wait until the reload is done: the log says so. */
	for (int i = 0; i < T / 50 && !broker_log_contains(&b, "configuration reloaded"); i++)
		usleep(50 * 1000);
	cr_assert(broker_log_contains(&b, "configuration reloaded"));
	cr_expect(broker_log_contains(&b, "subscription news/# removed"));
	cr_assert_eq(send_str(pub, "PUB news/a 1\nPUB weather 2\n"), 0);
	cr_assert_eq(ping_barrier(pub, "p", NULL, 0), 0);
	other[0] = '\0';
	cr_assert_eq(ping_barrier(sub, "s", other, sizeof other), 0);
	cr_expect(strstr(other, "MSG news/a") == NULL, "removed subscription still delivered: %s", other);
	cr_expect(strstr(other, "MSG weather 2") != NULL, "kept subscription lost: %s", other);
	conn_close(sub);
	conn_close(pub);
	cr_expect_eq(broker_stop(&b), 0);
}
