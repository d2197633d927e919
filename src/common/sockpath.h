/* Where the broker's socket lives: the default path rules and precedence,
 * shared by udsbrokerd and libudsbroker so both always agree. */
#ifndef UDSB_SOCKPATH_H
#define UDSB_SOCKPATH_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Longest path a sockaddr_un can hold (without its NUL). */
#define SOCKPATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* Environment variable that overrides the default path. */
#define SOCKPATH_ENV "UDSBROKER_SOCKET"

/* Writes the default path into buf: /run/udsbroker.sock for root,
 * $XDG_RUNTIME_DIR/udsbroker.sock otherwise, /tmp/udsbroker-$UID.sock when
 * XDG_RUNTIME_DIR is unset. Returns 0, or -1 (errno ENAMETOOLONG) if it does
 * not fit in size bytes. */
int sockpath_default(char *buf, size_t size);

/* The path to use, by precedence: cli (-s) > $UDSBROKER_SOCKET > config >
 * default. cli and config may be NULL or empty. Returns 0, or -1 (errno
 * ENAMETOOLONG) if the chosen path does not fit in size bytes. */
int sockpath_resolve(const char *cli, const char *config, char *buf, size_t size);

/* Fills *sun for path. Returns 0, or -1 (errno ENAMETOOLONG) when the path is
 * longer than SOCKPATH_MAX: never truncated. */
int sockpath_addr(const char *path, struct sockaddr_un *sun, socklen_t *len);

#endif
