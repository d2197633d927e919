/*
 * Helpers the system tests add to tests/integration/harness.h: starting a
 * program with an extra environment variable (NOTIFY_SOCKET) or through a
 * wrapper (systemd-socket-activate), and receiving sd_notify datagrams.
 */
#ifndef UDSB_SYSTEM_SPAWN_H
#define UDSB_SYSTEM_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

/* Starts argv (argv[0] a path) with stdin from /dev/null, stdout and stderr
 * appended to log, no other descriptor inherited, killed if the test dies,
 * and name=value added to its environment when name is not NULL.
 * Returns the pid, or -1. */
pid_t spawn_logged(char *const argv[], const char *log, const char *name, const char *value);

/* Waits at most timeout_ms until path is a socket. Returns 0, or -1 on
 * timeout or when pid has exited meanwhile (it is then reaped). */
int wait_for_socket(const char *path, pid_t pid, int timeout_ms);

/* Connects to the stream socket at path, retrying while it refuses (it may
 * be bound but not listening yet) for at most timeout_ms; gives up early if
 * pid has exited. Returns the fd, or -1. */
int connect_retry(const char *path, pid_t pid, int timeout_ms);

/* A datagram socket standing in for systemd's notification socket. */
struct notify {
	int fd;
	char path[128];
	char seen[4096]; /* every datagram received so far, separated by "|" */
};

/* Binds n to dir + "/notify", with SO_PASSCRED to learn each sender's pid.
 * Returns 0 or -1. */
int notify_open(struct notify *n, const char *dir);

/* Reads datagrams until one holds the line want (such as "READY=1"),
 * waiting at most timeout_ms in all; copies that datagram into dgram.
 * Every datagram must come from pid (NotifyAccess=main); one from another
 * process is an error. Returns 0, or -1 (the reason on stderr). */
int notify_wait(struct notify *n, const char *want, pid_t pid, char *dgram, size_t size,
                int timeout_ms);

/* Closes and unlinks the socket. */
void notify_close(struct notify *n);

#endif
