/* Socket path rules and precedence (src/common/sockpath.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sockpath.h"

/* The tests run in their own process (criterion forks), so changing the
 * environment here does not leak into other tests. */
static void
clear_env(void)
{
	unsetenv(SOCKPATH_ENV);
	unsetenv("XDG_RUNTIME_DIR");
}

/* A string of n copies of c after prefix, in a static buffer. */
static const char *
long_path(const char *prefix, size_t n)
{
	static char buf[1024];
	size_t plen = strlen(prefix);

	cr_assert_lt(plen + n, sizeof buf);
	memcpy(buf, prefix, plen);
	memset(buf + plen, 'p', n);
	buf[plen + n] = '\0';
	return buf;
}

Test(sockpath, precedence, .init = clear_env)
{
	char buf[256];

	setenv(SOCKPATH_ENV, "/env.sock", 1);
	cr_assert_eq(sockpath_resolve("/cli.sock", "/conf.sock", buf, sizeof buf), 0);
	cr_expect_str_eq(buf, "/cli.sock");
	cr_assert_eq(sockpath_resolve(NULL, "/conf.sock", buf, sizeof buf), 0);
	cr_expect_str_eq(buf, "/env.sock");
	cr_assert_eq(sockpath_resolve("", "/conf.sock", buf, sizeof buf), 0);
	cr_expect_str_eq(buf, "/env.sock", "an empty -s is no -s");

	unsetenv(SOCKPATH_ENV);
	cr_assert_eq(sockpath_resolve(NULL, "/conf.sock", buf, sizeof buf), 0);
	cr_expect_str_eq(buf, "/conf.sock");
	setenv(SOCKPATH_ENV, "", 1);
	cr_assert_eq(sockpath_resolve(NULL, "/conf.sock", buf, sizeof buf), 0);
	cr_expect_str_eq(buf, "/conf.sock", "an empty variable is no variable");
	cr_assert_eq(sockpath_resolve("/cli.sock", NULL, buf, sizeof buf), 0);
	cr_expect_str_eq(buf, "/cli.sock");
}

Test(sockpath, falls_back_to_default, .init = clear_env)
{
	char want[256], buf[256];

	/* A non-root user without XDG_RUNTIME_DIR has no default at all (see
	 * nonroot_default); give it one so the test means the same for all. */
	setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
	cr_assert_eq(sockpath_default(want, sizeof want), 0);
	cr_assert_eq(sockpath_resolve(NULL, NULL, buf, sizeof buf), 0);
	cr_expect_str_eq(buf, want);
	cr_assert_eq(sockpath_resolve("", "", buf, sizeof buf), 0);
	cr_expect_str_eq(buf, want);
}

Test(sockpath, root_default, .init = clear_env)
{
	char buf[256];

	if (getuid() != 0)
		cr_skip_test("needs uid 0");
	cr_assert_eq(sockpath_default(buf, sizeof buf), 0);
	cr_expect_str_eq(buf, "/run/udsbroker.sock");
	/* XDG_RUNTIME_DIR is for other users only. */
	setenv("XDG_RUNTIME_DIR", "/run/user/0", 1);
	cr_assert_eq(sockpath_default(buf, sizeof buf), 0);
	cr_expect_str_eq(buf, "/run/udsbroker.sock");
}

/* In the current process (a non-root uid): the default path, or "-errno". */
static void
default_as_is(char *out, size_t size)
{
	char buf[512];

	if (sockpath_default(buf, sizeof buf) < 0)
		snprintf(out, size, "-%d", errno);
	else
		snprintf(out, size, "%s", buf);
}

/* Runs the non-root rules in a child that drops to uid/gid 65534 when we
 * are root, and returns what it found, one answer per line. */
static void
nonroot_defaults(char *out, size_t size)
{
	int pipefd[2];
	pid_t pid;
	size_t used = 0;
	ssize_t n;
	int status;

	cr_assert_eq(pipe(pipefd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char line[600], path[512];
		FILE *f = fdopen(pipefd[1], "w");

		close(pipefd[0]);
		if (getuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(2);
		if (getuid() == 0)
			_exit(3);
		fprintf(f, "uid=%u\n", (unsigned)getuid());
		unsetenv("XDG_RUNTIME_DIR");
		default_as_is(line, sizeof line);
		fprintf(f, "%s\n", line);
		setenv("XDG_RUNTIME_DIR", "/run/user/65534", 1);
		default_as_is(line, sizeof line);
		fprintf(f, "%s\n", line);
		setenv("XDG_RUNTIME_DIR", "", 1);
		default_as_is(line, sizeof line);
		fprintf(f, "%s\n", line);
		memset(path, 'x', sizeof path - 1);
		path[0] = '/';
		path[sizeof path - 1] = '\0';
		setenv("XDG_RUNTIME_DIR", path, 1);
		default_as_is(line, sizeof line);
		fprintf(f, "%s\n", line);
		/* As a non-root client: the variable still wins over the default. */
		setenv(SOCKPATH_ENV, "/env.sock", 1);
		if (sockpath_resolve(NULL, NULL, path, sizeof path) == 0)
			fprintf(f, "%s\n", path);
		fclose(f);
		_exit(0);
	}
	close(pipefd[1]);
	while (used < size - 1 && (n = read(pipefd[0], out + used, size - 1 - used)) > 0)
		used += (size_t)n;
	out[used] = '\0';
	close(pipefd[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
}

Test(sockpath, nonroot_default, .init = clear_env)
{
	char got[2048], want[2048];
	unsigned uid = getuid() == 0 ? 65534 : (unsigned)getuid();

	nonroot_defaults(got, sizeof got);
	/* No XDG_RUNTIME_DIR (unset or empty): no default at all, never /tmp. */
	snprintf(want, sizeof want,
	         "uid=%u\n-%d\n/run/user/65534/udsbroker.sock\n-%d\n-%d\n/env.sock\n", uid, ENOENT,
	         ENOENT, ENAMETOOLONG);
	cr_expect_str_eq(got, want);
}

Test(sockpath, too_long_is_an_error, .init = clear_env)
{
	char buf[SOCKPATH_MAX + 1], big[1024];
	const char *path;

	/* Exactly the limit fits. */
	path = long_path("/", SOCKPATH_MAX - 1);
	cr_assert_eq(strlen(path), SOCKPATH_MAX);
	cr_expect_eq(sockpath_resolve(path, NULL, buf, sizeof buf), 0);
	cr_expect_str_eq(buf, path);

	/* One more byte: refused, whichever source it comes from. */
	path = long_path("/", SOCKPATH_MAX);
	memset(buf, 0, sizeof buf);
	errno = 0;
	cr_expect_eq(sockpath_resolve(path, NULL, buf, sizeof buf), -1);
	cr_expect_eq(errno, ENAMETOOLONG);
	errno = 0;
	cr_expect_eq(sockpath_resolve(NULL, path, buf, sizeof buf), -1);
	cr_expect_eq(errno, ENAMETOOLONG);
	setenv(SOCKPATH_ENV, path, 1);
	errno = 0;
	cr_expect_eq(sockpath_resolve(NULL, NULL, buf, sizeof buf), -1);
	cr_expect_eq(errno, ENAMETOOLONG);

	/* A bigger buffer takes it, but it still cannot become an address. */
	cr_expect_eq(sockpath_resolve(NULL, NULL, big, sizeof big), 0);
	cr_expect_str_eq(big, path);

	/* The default into a tiny buffer. */
	setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
	errno = 0;
	cr_expect_eq(sockpath_default(buf, 5), -1);
	cr_expect_eq(errno, ENAMETOOLONG);
}

Test(sockpath, addr)
{
	struct sockaddr_un sun;
	socklen_t len = 0;
	const char *path;

	cr_assert_eq(sockpath_addr("/run/x.sock", &sun, &len), 0);
	cr_expect_eq(sun.sun_family, AF_UNIX);
	cr_expect_str_eq(sun.sun_path, "/run/x.sock");
	cr_expect_eq(len, offsetof(struct sockaddr_un, sun_path) + strlen("/run/x.sock") + 1);

	path = long_path("/", SOCKPATH_MAX - 1);
	cr_assert_eq(sockpath_addr(path, &sun, &len), 0);
	cr_expect_eq(memcmp(sun.sun_path, path, SOCKPATH_MAX), 0);
	cr_expect_eq(sun.sun_path[SOCKPATH_MAX], '\0');

	path = long_path("/", SOCKPATH_MAX);
	memset(&sun, 0x5a, sizeof sun);
	errno = 0;
	cr_expect_eq(sockpath_addr(path, &sun, &len), -1);
	cr_expect_eq(errno, ENAMETOOLONG);
	path = long_path("/", 300);
	errno = 0;
	cr_expect_eq(sockpath_addr(path, &sun, &len), -1);
	cr_expect_eq(errno, ENAMETOOLONG);
}

Test(sockpath, max_matches_sun_path)
{
	cr_expect_eq(SOCKPATH_MAX + 1, sizeof(((struct sockaddr_un *)0)->sun_path));
	cr_expect_eq(SOCKPATH_MAX, 107); /* Linux */
}

/* A client's choice as the calling user, in a child dropped to uid (when we
 * are root): "path" or "-errno". */
static void
client_choice(uid_t uid, const char *xdg, char *out, size_t size)
{
	int pipefd[2], status;
	ssize_t n;
	pid_t pid;

	cr_assert_eq(pipe(pipefd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char buf[512];

		close(pipefd[0]);
		if (getuid() == 0 && uid != 0 && (setgid(uid) < 0 || setuid(uid) < 0))
			_exit(2);
		if (xdg != NULL)
			setenv("XDG_RUNTIME_DIR", xdg, 1);
		if (sockpath_client(NULL, buf, sizeof buf) < 0)
			snprintf(buf, sizeof buf, "-%d", errno);
		if (write(pipefd[1], buf, strlen(buf)) < 0)
			_exit(3);
		_exit(0);
	}
	close(pipefd[1]);
	n = read(pipefd[0], out, size - 1);
	out[n > 0 ? n : 0] = '\0';
	close(pipefd[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
}

/* Binds a socket at dir/udsbroker.sock owned by owner; returns its path. */
static const char *
make_socket(const char *dir, uid_t owner)
{
	static char path[256];
	struct sockaddr_un sun;
	socklen_t len;
	int fd;

	snprintf(path, sizeof path, "%s/udsbroker.sock", dir);
	cr_assert_eq(sockpath_addr(path, &sun, &len), 0);
	unlink(path);
	cr_assert_geq(fd = socket(AF_UNIX, SOCK_STREAM, 0), 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, len), 0);
	close(fd);
	cr_assert_eq(chown(path, owner, owner), 0);
	return path;
}

Test(sockpath, client_rules, .init = clear_env)
{
	char dir[] = "/tmp/sockpath-XXXXXX", got[512], link[300];
	uid_t me = getuid() == 0 ? 65534 : getuid();
	const char *sock;

	if (getuid() != 0)
		cr_skip_test("needs uid 0 to make sockets owned by others");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(chmod(dir, 0777), 0);

	/* No XDG_RUNTIME_DIR: the system broker, never /tmp. */
	client_choice(me, NULL, got, sizeof got);
	cr_expect_str_eq(got, "/run/udsbroker.sock");
	/* XDG_RUNTIME_DIR without a socket: the system broker. */
	client_choice(me, dir, got, sizeof got);
	cr_expect_str_eq(got, "/run/udsbroker.sock");
	/* A socket there owned by someone else: not ours, not taken. */
	sock = make_socket(dir, 1);
	client_choice(me, dir, got, sizeof got);
	cr_expect_str_eq(got, "/run/udsbroker.sock", "took a socket owned by uid 1");
	/* Our own socket: the personal broker. */
	sock = make_socket(dir, me);
	client_choice(me, dir, got, sizeof got);
	cr_expect_str_eq(got, sock);
	/* A non-socket of ours by that name: not a broker. */
	unlink(sock);
	cr_assert_eq(mkdir(sock, 0700), 0);
	cr_assert_eq(chown(sock, me, me), 0);
	client_choice(me, dir, got, sizeof got);
	cr_expect_str_eq(got, "/run/udsbroker.sock");
	rmdir(sock);
	/* A symbolic link to someone else's socket: not taken either. */
	snprintf(link, sizeof link, "%s/other", dir);
	cr_assert_eq(mkdir(link, 0777), 0);
	sock = make_socket(link, 1);
	snprintf(link, sizeof link, "%s/udsbroker.sock", dir);
	cr_assert_eq(symlink(sock, link), 0);
	cr_assert_eq(lchown(link, me, me), 0);
	client_choice(me, dir, got, sizeof got);
	cr_expect_str_eq(got, "/run/udsbroker.sock");
	/* -s and the variable still come first. */
	setenv(SOCKPATH_ENV, "/env.sock", 1);
	client_choice(me, dir, got, sizeof got);
	cr_expect_str_eq(got, "/env.sock");
	cr_assert_eq(sockpath_client("/cli.sock", got, sizeof got), 0);
	cr_expect_str_eq(got, "/cli.sock");

	unlink(link);
	unlink(sock);
	snprintf(link, sizeof link, "%s/other", dir);
	rmdir(link);
	rmdir(dir);
}

Test(sockpath, absolute)
{
	char dir[] = "/tmp/sockpath-abs-XXXXXX", real[PATH_MAX], want[PATH_MAX + 16];
	char buf[PATH_MAX + 16];

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_not_null(realpath(dir, real));
	cr_assert_eq(chdir(dir), 0);
	/* The file need not exist; its directory must. */
	cr_assert_eq(sockpath_absolute("b.sock", buf, sizeof buf), 0);
	snprintf(want, sizeof want, "%s/b.sock", real);
	cr_expect_str_eq(buf, want);
	cr_assert_eq(sockpath_absolute("./b.sock", buf, sizeof buf), 0);
	cr_expect_str_eq(buf, want);
	cr_assert_eq(sockpath_absolute("/abs/x.sock", buf, sizeof buf), 0);
	cr_expect_str_eq(buf, "/abs/x.sock");
	errno = 0;
	cr_expect_eq(sockpath_absolute("missing/x.sock", buf, sizeof buf), -1);
	cr_expect_eq(errno, ENOENT);
	errno = 0;
	cr_expect_eq(sockpath_absolute("b.sock", buf, 4), -1);
	cr_expect_eq(errno, ENAMETOOLONG);
	cr_assert_eq(chdir("/"), 0);
	rmdir(dir);
}
