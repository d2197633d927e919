/*
 * The test harness every suite that talks to a real process uses: it starts
 * udsbrokerd (path from $UDSBROKERD, set by meson) on a socket in a fresh
 * temporary directory, runs other programs (udsctl, wrappers) to completion
 * or alongside, connects, reads lines, and waits. Every wait is on an event
 * (a line, a socket becoming connectable, a process exiting) bounded by a
 * generous timeout; none sleeps to let something happen. No criterion here:
 * the assertions on top are check.h.
 */
#ifndef UDSB_TEST_HARNESS_H
#define UDSB_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TH_TIMEOUT_MS 20000 /* generous: CI machines are slow and loaded */
#define TH_MAX_FDS    8192  /* fds the line reader keeps a read-ahead for */

/* A udsbrokerd under test and its files. */
struct th_daemon {
	pid_t pid;      /* 0 when not running (or already reaped) */
	char dir[64];   /* temporary directory, removed by th_stop */
	char sock[128]; /* dir + "/b.sock" */
	char conf[128]; /* dir + "/b.conf" */
	char log[128];  /* dir + "/b.log": the daemon's stdout and stderr */
};

/* ---- time ---- */

/* Milliseconds on the monotonic clock, and what is left of a deadline on
 * it (never negative): the units of every bounded wait. */
long long th_now_ms(void);
int th_left_ms(long long deadline);

/* Sleeps *delay_ms, then doubles it (up to 20 ms): only as the back-off of
 * a bounded retry loop that polls for a state (a counter, a log line). */
void th_backoff(int *delay_ms);

/* ---- environment ---- */

/* The daemon under test: $UDSBROKERD, else "udsbrokerd". */
const char *th_daemon_path(void);

/* Runs the daemon with the given options (NULL-terminated) to its exit,
 * at most timeout_ms; its output goes to out. Returns the exit status, -1
 * on a timeout (a hang) or a signal. */
int th_run_daemon(char *out, size_t size, int timeout_ms, const char *opt, ...);

/* Raises the soft RLIMIT_NOFILE to the hard limit (processes started later
 * inherit it). Returns the new soft limit, or -1. */
int th_raise_nofile(void);

/* A loopback TCP port nobody listens on now: the kernel's pick for a
 * socket that is then closed (another process could take it in between;
 * none does in these tests). -1 with errno when there is none. */
int th_free_port(void);

/* True when the daemons (and udsctl) run under valgrind: $UDSB_VALGRIND,
 * set by the valgrind test setup, is set and not "0". Memory figures then
 * include valgrind's own. */
bool th_under_valgrind(void);

/* ---- processes ---- */

/* How th_exec starts a program. */
struct th_exec_opts {
	/* "NAME=value" to set, "NAME" to unset; NULL-terminated; NULL: ours */
	const char *const *env;
	const char *stdin_path; /* NULL: /dev/null */
	int out_fd;             /* its stdout */
	int err_fd;             /* its stderr */
	int nofile;             /* RLIMIT_NOFILE soft and hard for it; 0: as we are */
};

/* Forks and execs argv (argv[0] a path) with a clean signal state, no other
 * descriptor inherited, killed if the test process dies. Returns the pid,
 * or -1. The child exits 127 if it cannot exec. */
pid_t th_exec(char *const argv[], const struct th_exec_opts *o);

/* Waits at most timeout_ms for pid to exit. Returns 0 with its wait status
 * in *status, or -1 (timeout or error; the process is left alone). */
int th_reap(pid_t pid, int timeout_ms, int *status);

/* A program started with its stdout and stderr read through pipes. */
struct th_proc {
	pid_t pid;
	int out;                 /* its stdout (a pipe), -1 once at EOF */
	int err;                 /* its stderr (a pipe), -1 once at EOF; also -1 if merged */
	char *out_buf, *err_buf; /* collected so far, NUL-terminated */
	size_t out_len, err_len;
	int status; /* exit status, -1 for a signal, -2 for not yet */
};

/* Starts argv with env and stdin as for th_exec; with merge, stderr goes to
 * the same pipe as stdout (out_buf gets both, in order). Returns 0 or -1. */
int th_proc_start(struct th_proc *p, char *const argv[], const char *const *env,
                  const char *stdin_path, bool merge);

/* Reads what p writes until its stdout holds at least want_lines lines (0:
 * until both pipes reach EOF), at most timeout_ms. True if reached. */
bool th_proc_read(struct th_proc *p, size_t want_lines, int timeout_ms);

/* Waits until p writes anything more on either pipe (or closes one), at
 * most timeout_ms. False on timeout or when both are closed. */
bool th_proc_read_more(struct th_proc *p, int timeout_ms);

/* Reads everything, waits for the exit (SIGKILL after TH_TIMEOUT_MS) and
 * returns the exit status (-1 for a signal or a timeout). */
int th_proc_finish(struct th_proc *p);

/* Frees the buffers of p. */
void th_proc_free(struct th_proc *p);

/* Runs argv to completion with stdout and stderr collected in out
 * (NUL-terminated, cut at out_size - 1). Returns the exit status, or -1 on
 * a signal or timeout. */
int th_run(char *const argv[], char *out, size_t out_size, int timeout_ms);

/* Lines ('\n'-terminated) in s. */
size_t th_count_lines(const char *s);

/* ---- /proc ---- */

/* A "Key:   N kB" field of /proc/PID/status (VmRSS, VmHWM), or -1. */
long th_proc_status_kb(pid_t pid, const char *key);

/* ---- the daemon ---- */

/* Creates the directory and writes "[broker]\n" + extra_config (may be
 * NULL) as the config, without starting anything. Returns 0 or -1. */
int th_prepare(struct th_daemon *d, const char *extra_config);

/* Rewrites the config as "[broker]\n" + extra_config (e.g. before SIGHUP). */
int th_write_config(const struct th_daemon *d, const char *extra_config);

/* Starts argv as d (its output appended to d->log), with env as for
 * th_exec and at most nofile descriptors (0: as we are), without waiting
 * for anything. Returns 0 or -1. */
int th_launch(struct th_daemon *d, char *const argv[], const char *const *env, int nofile);

/* udsbrokerd -f -c conf -s sock, waiting until the socket accepts a
 * connection. Returns 0, or -1 (the log is printed to stderr). */
int th_spawn(struct th_daemon *d);

/* The same with RLIMIT_NOFILE (soft and hard) set to nofile. */
int th_spawn_nofile(struct th_daemon *d, int nofile);

/* The same without "-s sock": the config or $UDSBROKER_SOCKET must name
 * d->sock, which is still what readiness is waited on. */
int th_spawn_nosock(struct th_daemon *d);

/* th_prepare + th_spawn. */
int th_start(struct th_daemon *d, const char *extra_config);

/* Sends sig (0: none) and waits at most timeout_ms for the daemon to exit,
 * keeping the directory. Returns the exit status, or -1 if it died by a
 * signal or had to be killed. */
int th_wait(struct th_daemon *d, int sig, int timeout_ms);

/* SIGTERM, waits for exit (bounded), removes the directory. Returns the
 * exit status (0..255), or -1 if it died by a signal or had to be killed.
 * After th_wait (daemon already reaped) it only cleans up and returns 0.
 * Also -1 when the log holds a sanitizer report (ASan/UBSan builds).
 * HARNESS_KEEP=1 in the environment keeps the directory. */
int th_stop(struct th_daemon *d);

/* Number of times text occurs in the daemon's log; whether it does. */
int th_log_count(const struct th_daemon *d, const char *text);
bool th_log_contains(const struct th_daemon *d, const char *text);

/* Prints the daemon's log to stderr, to explain a failure. */
void th_dump_log(const struct th_daemon *d);

/* ---- connections ---- */

/* One connect() to the stream socket at path; returns the fd or -1. */
int th_connect_path(const char *path);

/* One connect() to 127.0.0.1:port; returns the fd or -1 (errno set). */
int th_connect_tcp(int port);

/* Connects to the daemon's socket; returns the fd or -1. */
int th_connect(const struct th_daemon *d);

/* Connects to path, retrying while it fails (missing, bound but not yet
 * listening, not yet given its mode), for at most timeout_ms. Gives up early if
 * *pid (when pid is not NULL and *pid > 0) exits: it is reaped, *pid set
 * to 0. Returns the fd, or -1 (the reason on stderr). */
int th_connect_retry(const char *path, pid_t *pid, int timeout_ms);

/* Waits at most timeout_ms until path is a socket file, giving up early as
 * th_connect_retry does. Returns 0 or -1. */
int th_wait_socket(const char *path, pid_t *pid, int timeout_ms);

/* Writes all of buf to fd within TH_TIMEOUT_MS (th_send_all) or
 * timeout_ms: 0, or -1 (ETIMEDOUT when the peer does not take them). */
int th_send_all(int fd, const void *buf, size_t len);
int th_send_all_timeout(int fd, const void *buf, size_t len, int timeout_ms);

/* Writes a NUL-terminated string. */
int th_send_str(int fd, const char *s);

/* ---- the line reader: one read-ahead buffer per fd, kept here ---- */

/* Reads one line (without '\n') into buf, waiting at most timeout_ms.
 * Returns its length, or -1 on timeout, EOF or error. */
long th_recv_line(int fd, char *buf, size_t size, int timeout_ms);

/* Waits for end of stream on fd: 0 at EOF with nothing unread before it,
 * -1 if bytes arrive (they stay readable) or on timeout. */
int th_recv_eof(int fd, int timeout_ms);

/* Bytes read ahead on fd and not yet returned as lines. */
size_t th_recv_pending(int fd);

/* Reads what fd has now, at most max bytes, without blocking. Returns the
 * bytes read, 0 when nothing was there or at EOF (th_at_eof), -1 on error. */
long th_read_some(int fd, size_t max);

/* True once the read-ahead of fd has met the end of the stream. */
bool th_at_eof(int fd);

/* The next complete line read ahead on fd, its '\n' replaced by NUL, valid
 * until the next read on fd; NULL when there is none. Does not read. */
char *th_next_line(int fd, size_t *len);

/* Waits at most ms for fd to be readable (or at its end); true if so. */
bool th_readable(int fd, int ms);

/* Reads lines until one equals want (or timeout); returns 0 when found. */
int th_expect_line(int fd, const char *want, int timeout_ms);

/* Sends "PING <tag>" and reads lines until "PONG <tag>"; every other line
 * read on the way is appended to other (if not NULL, up to other_size).
 * Proves every earlier line of this client was processed. Returns 0 or -1. */
int th_ping_barrier(int fd, const char *tag, char *other, size_t other_size);

/* Closes fd and forgets its read-ahead. */
void th_close(int fd);

#endif
