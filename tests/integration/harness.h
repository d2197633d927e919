/*
 * Test harness: starts the real udsbrokerd (path from $UDSBROKERD, set by
 * meson) on a socket in a fresh temporary directory, and talks to it.
 * Everything waits on events with generous bounded timeouts, never on sleep().
 */
#ifndef UDSB_HARNESS_H
#define UDSB_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define HARNESS_TIMEOUT_MS 20000 /* generous: CI machines are slow and loaded */

struct broker {
	pid_t pid;
	char dir[64];     /* temporary directory, removed by broker_stop */
	char sock[128];   /* dir + "/b.sock" */
	char conf[128];   /* dir + "/b.conf" */
	char log[128];    /* dir + "/b.log": the daemon's stderr */
};

/* Writes "[broker]\n" + extra_config (may be NULL) as the config, starts
 * udsbrokerd -f -c conf -s sock, and waits until the socket accepts a
 * connection. Returns 0, or -1 (the log is printed to stderr). */
int broker_start(struct broker *b, const char *extra_config);

/* SIGTERM, waits for exit (bounded), removes the directory. Returns the
 * exit status (0..255), or -1 if it died by a signal or had to be killed. */
int broker_stop(struct broker *b);

/* Connects to the broker's socket; returns the fd or -1. */
int broker_connect(const struct broker *b);

/* Resident set size of the broker in KiB, from /proc/PID/status. */
long broker_rss_kb(const struct broker *b);

/* Writes all of buf (len bytes) to fd; returns 0 or -1. */
int send_all(int fd, const void *buf, size_t len);

/* Writes a NUL-terminated string. */
int send_str(int fd, const char *s);

/* Reads one line (without '\n') into buf, waiting at most timeout_ms.
 * Returns its length, or -1 on timeout, EOF or error. Uses a small
 * per-fd read-ahead buffer kept by the harness (up to 1024 fds). */
long recv_line(int fd, char *buf, size_t size, int timeout_ms);

/* Reads lines until one equals want (or timeout); returns 0 when found. */
int expect_line(int fd, const char *want, int timeout_ms);

/* Sends "PING <tag>" and reads lines until "PONG <tag>"; every other line
 * read on the way is appended to other (if not NULL, up to other_size).
 * Proves every earlier line of this client was processed. Returns 0 or -1. */
int ping_barrier(int fd, const char *tag, char *other, size_t other_size);

/* Closes fd and forgets its read-ahead buffer. */
void conn_close(int fd);

#endif
