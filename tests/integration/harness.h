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
#define HARNESS_MAX_FDS 8192     /* fds recv_line keeps a read-ahead for */

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
 * exit status (0..255), or -1 if it died by a signal or had to be killed.
 * After broker_wait (daemon already reaped) it only cleans up and returns 0.
 * Also -1 when the log holds a sanitizer report (ASan/UBSan builds). */
int broker_stop(struct broker *b);

/* Like broker_start's spawn, with the daemon limited to nofile open
 * descriptors (RLIMIT_NOFILE soft and hard), set between fork and exec. */
int broker_spawn_nofile(struct broker *b, int nofile);

/* Milliseconds on the monotonic clock, and what is left of a deadline on
 * it (never negative): the units of every bounded wait. */
long long harness_now_ms(void);
int harness_left_ms(long long deadline);

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

/* ---- Additions for tests that need finer control. ---- */

/* The daemon under test: $UDSBROKERD, else "udsbrokerd". */
const char *harness_daemon(void);

/* Raises the soft RLIMIT_NOFILE to the hard limit (daemons started later
 * inherit it). Returns the new soft limit, or -1. */
int harness_raise_nofile(void);

/* The first half of broker_start: creates the directory and the config
 * (b->sock not created yet) without starting the daemon. */
int broker_prepare(struct broker *b, const char *extra_config);

/* The second half: starts udsbrokerd -f -c conf -s sock, waits until ready. */
int broker_spawn(struct broker *b);

/* The same without "-s sock": the config or $UDSBROKER_SOCKET must name
 * b->sock, which is still what readiness is waited on. */
int broker_spawn_nosock(struct broker *b);

/* Rewrites the config as "[broker]\n" + extra_config (e.g. before SIGHUP). */
int broker_write_config(const struct broker *b, const char *extra_config);

/* Sends sig (0: none) and waits at most timeout_ms for the daemon to exit,
 * keeping the directory (to look at the socket file afterwards). Returns
 * the exit status, or -1 if it died by a signal or had to be killed. */
int broker_wait(struct broker *b, int sig, int timeout_ms);

/* True if the daemon's log (its stderr) contains text. */
bool broker_log_contains(const struct broker *b, const char *text);

/* send_all with an explicit bound: -1 (ETIMEDOUT) when the peer does not
 * take the bytes within timeout_ms. */
int send_all_timeout(int fd, const void *buf, size_t len, int timeout_ms);

/* Waits for end of stream on fd: 0 at EOF with nothing unread before it,
 * -1 if bytes arrive (they stay readable by recv_line) or on timeout. */
int recv_eof(int fd, int timeout_ms);

/* Bytes read ahead on fd and not yet returned by recv_line. */
size_t recv_pending(int fd);

/* Runs argv (argv[0] a path) to completion with stdout and stderr
 * collected in out (NUL-terminated, cut at out_size - 1). Returns the exit
 * status, or -1 on a signal or timeout. */
int harness_run(char *const argv[], char *out, size_t out_size, int timeout_ms);

#endif
