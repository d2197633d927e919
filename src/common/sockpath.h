/* Where the broker's socket lives: the default path rules and precedence,
 * shared by udsbrokerd and libudsbroker so both always agree. No rule ever
 * falls back into a world-writable directory such as /tmp: another user
 * could create the socket there first. */
#ifndef UDSB_SOCKPATH_H
#define UDSB_SOCKPATH_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Longest path a sockaddr_un can hold (without its NUL). */
#define SOCKPATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* Environment variable that overrides the default path. */
#define SOCKPATH_ENV "UDSBROKER_SOCKET"

/* The system broker's socket, and a personal broker's name in
 * $XDG_RUNTIME_DIR. */
#define SOCKPATH_SYSTEM "/run/udsbroker.sock"
#define SOCKPATH_NAME   "udsbroker.sock"

/* Writes the daemon's default path into buf: /run/udsbroker.sock for root,
 * $XDG_RUNTIME_DIR/udsbroker.sock otherwise. Returns 0, or -1 with errno
 * ENAMETOOLONG (does not fit in size bytes) or ENOENT (not root and no
 * XDG_RUNTIME_DIR: there is no default). */
int sockpath_default(char *buf, size_t size);

/* The daemon's path, by precedence: cli (-s) > $UDSBROKER_SOCKET > config >
 * default. cli and config may be NULL or empty. Returns 0, or -1 with errno
 * as for sockpath_default. */
int sockpath_resolve(const char *cli, const char *config, char *buf, size_t size);

/* A client's path, by precedence: cli > $UDSBROKER_SOCKET >
 * $XDG_RUNTIME_DIR/udsbroker.sock when it is a socket owned by the calling
 * user (a personal broker) > /run/udsbroker.sock (the system broker).
 * Returns 0, or -1 (errno ENAMETOOLONG) if the path does not fit. */
int sockpath_client(const char *cli, char *buf, size_t size);

/* After connect() to path failed with EACCES: writes who may connect
 * ("only members of group G and user U may connect") into buf, or "" when
 * path cannot be examined. Returns buf. */
char *sockpath_access_hint(const char *path, char *buf, size_t size);

/* Writes the absolute form of path into buf: the real path of its
 * directory, then its last component, so the file need not exist (a
 * socket about to be bound). For the daemon, which leaves its working
 * directory. Returns 0, or -1 with errno set (ENAMETOOLONG, or realpath's). */
int sockpath_absolute(const char *path, char *buf, size_t size);

/* Fills *sun for path. Returns 0, or -1 (errno ENAMETOOLONG) when the path is
 * longer than SOCKPATH_MAX: never truncated. */
int sockpath_addr(const char *path, struct sockaddr_un *sun, socklen_t *len);

#endif
