/* Socket path rules; see sockpath.h and the SPEC's "Socket path". */
#include "sockpath.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int
sockpath_default(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	uid_t uid = getuid();
	int n;

	if (uid == 0)
		return copy_path(buf, size, "/run/udsbroker.sock");
	if (xdg != NULL && xdg[0] != '\0')
		n = snprintf(buf, size, "%s/udsbroker.sock", xdg);
	else
		n = snprintf(buf, size, "/tmp/udsbroker-%u.sock", (unsigned)uid);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
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
