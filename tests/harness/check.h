/*
 * Criterion assertions on top of the harness (harness.h), so that each test
 * reads as the protocol: every helper here fails the test, with what it
 * saw, instead of returning an error. The wire-protocol helpers (x*,
 * expect_*) are for raw connections; the ct_* ones for libudsbroker
 * connections and udsctl runs against one daemon per test (ct_daemon).
 */
#ifndef UDSB_TEST_CHECK_H
#define UDSB_TEST_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "harness.h"
#include "udsbroker.h"

#define LINE_MAX_TEST 8192

/* Skips the test, saying why on stderr (in the test log) and in
 * criterion's report (with --verbose), unless it runs as root: for tests
 * that need other uids, groups, chown or setuid. */
void th_require_root(const char *why);

/* ---- the daemon ---- */

/* Starts d with extra config, asserting success. */
void xstart(struct th_daemon *d, const char *extra_config);

/* Starts d (asserting it started, with the most descriptors we may give
 * it), connects a control client and waits until the daemon counts it as
 * its only one. Returns the control connection. */
int xstart_ctl(struct th_daemon *d, const char *extra_config);

/* Stops d, asserting it exits 0: under the valgrind setup, a leak or
 * memory error makes valgrind exit non-zero. */
void xstop(struct th_daemon *d);

/* Polls until the daemon's log holds text at least count times (bounded). */
void wait_log(const struct th_daemon *d, const char *text, int count);

/* Asserts the daemon's RSS grew by less than bound_kb (rss0 -> rss_max).
 * Not checked in AddressSanitizer builds (its quarantine keeps freed memory
 * resident on purpose) nor under valgrind (its shadow memory counts). */
void expect_rss_growth_below(long rss0, long rss_max, long bound_kb, const char *what);

/* ---- raw connections ---- */

/* Connects to d, asserting success. */
int xconnect(const struct th_daemon *d);

/* Connects to 127.0.0.1:port, asserting success. */
int xconnect_tcp(int port);

/* Sends s, asserting success. */
void xsend(int fd, const char *s);

/* Sends len bytes, asserting success within the harness timeout. */
void xsend_bytes(int fd, const void *buf, size_t len);

/* th_free_port(), asserting there was one. */
int xfree_port(void);

/* Reads the next line, asserting one came within the timeout. Returns it
 * (a static buffer valid until the next call); its length in *len. */
const char *xrecv(int fd, long *len);

/* Asserts the next line is exactly want. */
void expect_next(int fd, const char *want);

/* Asserts the next line is "ERR <code>" or "ERR <code> <text>". */
void expect_err(int fd, const char *code);

/* Sends "SUB filter" and asserts the answer is OK. */
void xsub(int fd, const char *filter);

/* A PING barrier that asserts nothing else arrived before the PONG. */
void quiet(int fd);

/* A PING barrier returning what arrived before the PONG (static buffer). */
const char *barrier(int fd);

/* Sends STATS on fd (a client with nothing else in flight) and returns
 * the value of key, asserting the reply is a STATS line holding it. */
long long stat_of(int fd, const char *key);

/* Polls STATS until key equals want (bounded); asserts it gets there. */
void wait_stat(int fd, const char *key, long long want);

/* Reads lines until EOF; returns the last one (static buffer, "" if none)
 * and asserts EOF came (not a timeout). *count gets the number of lines. */
const char *read_to_eof(int fd, size_t *count);

/* The meta ("uid=U;gid=G;pid=P;via=VIA") of this process's connections to
 * the listener via ("main" for the main socket), as OPT meta on shows it
 * (static buffer). */
const char *own_meta(const char *via);

/* ---- libudsbroker and udsctl (tests/client) ---- */

/* The daemon of the running test (each criterion test is its own process). */
extern struct th_daemon ct_daemon;

/* Starts ct_daemon with extra config lines, or fails the test. */
void ct_start(const char *extra_config);

/* Criterion .fini: stops ct_daemon if it runs. */
void ct_stop(void);

/* Connects to path (NULL: ct_daemon's socket) with a generous timeout, or
 * fails the test. */
struct udsb *ct_connect(const char *path);

/* The next event, waiting at most TH_TIMEOUT_MS; fails the test on
 * anything but UDSB_OK. */
void ct_next(struct udsb *c, struct udsb_event *ev);

/* The next event must be the delivery topic/payload. */
void ct_expect_msg(struct udsb *c, const char *topic, const char *payload);

/* Proves nothing more is on its way to c: a PING barrier, then nothing queued. */
void ct_expect_quiet(struct udsb *c);

/* Waits until the broker counts exactly n subscriptions (STATS), bounded. */
void ct_wait_subscriptions(struct udsb *c, unsigned long long n);

/* The value of key in a STATS reply, or -1. */
long long ct_stat(struct udsb *c, const char *key);

/* A temporary file in ct_daemon's directory holding text; returns its path
 * (static storage, one at a time). */
const char *ct_file(const char *name, const char *text, size_t len);

/* The udsctl under test: $UDSCTL. */
const char *ct_udsctl(void);

/* Starts udsctl (under valgrind in the valgrind setup) with args
 * (NULL-terminated, without argv[0]); env and stdin_path as for th_exec.
 * Fails the test if it cannot. Read and finish it with th_proc_*. */
void ct_spawn(struct th_proc *p, const char *const *args, const char *const *env,
              const char *stdin_path);

/* ct_spawn + th_proc_finish in one: the exit status, with output in p. */
int ct_run(struct th_proc *p, const char *const *args, const char *const *env,
           const char *stdin_path);

/* ct_spawn and ct_run with "-s <ct_daemon's socket>" before args. */
void ct_spawn_s(struct th_proc *p, const char *const *args, const char *stdin_path);
int ct_run_s(struct th_proc *p, const char *const *args, const char *stdin_path);

/* Reads p's output until its stderr holds text count times (bounded);
 * fails the test, showing what it has, if it does not come. */
void ct_wait_stderr(struct th_proc *p, const char *text, int count);

#endif
