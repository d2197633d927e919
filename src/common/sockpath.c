/* Socket path rules; see sockpath.h and the SPEC's "Socket path". */
#include "sockpath.h"

#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copies src into buf, failing rather than truncating. */
static int
copy_path(char *buf, size_t size, const char *src)
{
	size_t len = strlen(src);

	if (len >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, src, len + 1);
	return 0;
}

/* Writes "dir/name" into buf, failing rather than truncating. */
static int
join_path(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
sockpath_default(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (getuid() == 0)
		return copy_path(buf, size, SOCKPATH_SYSTEM);
	if (xdg == NULL || xdg[0] == '\0') {
		errno = ENOENT;
		return -1;
	}
	return join_path(buf, size, xdg, SOCKPATH_NAME);
}

int
sockpath_resolve(const char *cli, const char *config, char *buf, size_t size)
{
	const char *env = getenv(SOCKPATH_ENV);

	if (cli != NULL && cli[0] != '\0')
		return copy_path(buf, size, cli);
	if (env != NULL && env[0] != '\0')
		return copy_path(buf, size, env);
	if (config != NULL && config[0] != '\0')
		return copy_path(buf, size, config);
	return sockpath_default(buf, size);
}

int
sockpath_client(const char *cli, char *buf, size_t size)
{
	const char *env = getenv(SOCKPATH_ENV);
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char mine[PATH_MAX];
	struct stat st;

	if (cli != NULL && cli[0] != '\0')
		return copy_path(buf, size, cli);
	if (env != NULL && env[0] != '\0')
		return copy_path(buf, size, env);
	/* A personal broker only if the socket is really this user's: a
	 * variable inherited across su, or pointing into a shared directory,
	 * must not lead to a socket someone else made. lstat: a symbolic
	 * link is not the socket itself. */
	if (xdg != NULL && xdg[0] != '\0' &&
	    join_path(mine, sizeof mine, xdg, SOCKPATH_NAME) == 0 && lstat(mine, &st) == 0 &&
	    S_ISSOCK(st.st_mode) && st.st_uid == getuid())
		return copy_path(buf, size, mine);
	return copy_path(buf, size, SOCKPATH_SYSTEM);
}

char *
sockpath_access_hint(const char *path, char *buf, size_t size)
{
	struct passwd *pw;
	struct group *gr;
	char user[64], group[64];
	struct stat st;

	if (size > 0)
		buf[0] = '\0';
	if (stat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return buf;
	if ((pw = getpwuid(st.st_uid)) != NULL)
		snprintf(user, sizeof user, "%s", pw->pw_name);
	else
		snprintf(user, sizeof user, "uid %lu", (unsigned long)st.st_uid);
	if ((gr = getgrgid(st.st_gid)) != NULL)
		snprintf(group, sizeof group, "%s", gr->gr_name);
	else
		snprintf(group, sizeof group, "gid %lu", (unsigned long)st.st_gid);
	if (st.st_mode & S_IWGRP)
		snprintf(buf, size, "only members of group %s (and user %s) may connect", group,
		         user);
	else
		snprintf(buf, size, "only user %s may connect (the socket's group %s may not)",
		         user, group);
	return buf;
}

int
sockpath_absolute(const char *path, char *buf, size_t size)
{
	char dcopy[PATH_MAX], bcopy[PATH_MAX], dir[PATH_MAX];
	size_t len = strlen(path);
	int n;

	if (path[0] == '/')
		return copy_path(buf, size, path);
	if (len >= sizeof dcopy) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* dirname() and basename() may write into their argument. */
	memcpy(dcopy, path, len + 1);
	memcpy(bcopy, path, len + 1);
	if (realpath(dirname(dcopy), dir) == NULL)
		return -1;
	n = snprintf(buf, size, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, basename(bcopy));
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
sockpath_addr(const char *path, struct sockaddr_un *sun, socklen_t *len)
{
	size_t plen = strlen(path);

	if (plen > SOCKPATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, plen + 1);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + 1);
	return 0;
}
