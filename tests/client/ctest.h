/*
 * Helpers of the client tests: a broker per test (tests/integration's
 * harness), libudsbroker connections that fail the test with the library's
 * own message, and running udsctl with chosen arguments, environment and
 * standard input. Every wait is bounded by HARNESS_TIMEOUT_MS; none sleeps
 * to let something happen.
 */
#ifndef UDSB_CTEST_H
#define UDSB_CTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "harness.h"
#include "udsbroker.h"

/* The broker of the running test (each criterion test is its own process). */
extern struct broker ct_broker;

/* Starts ct_broker with extra config lines, or fails the test. */
void ct_start(const char *extra_config);

/* Criterion .fini: stops ct_broker if it runs. */
void ct_stop(void);

/* Connects to path (NULL: ct_broker's socket) with a generous timeout, or
 * fails the test. */
struct udsb *ct_connect(const char *path);

/* The next event, waiting at most HARNESS_TIMEOUT_MS; fails the test on
 * anything but UDSB_OK. */
void ct_next(struct udsb *c, struct udsb_event *ev);

/* The next event must be the delivery topic/payload. */
void ct_expect_msg(struct udsb *c, const char *topic, const char *payload);

/* Proves nothing more is on its way to c: a PING barrier, then nothing queued. */
void ct_expect_quiet(struct udsb *c);

/* Waits until the broker counts exactly n subscriptions (STATS), polling
 * with a short back-off, bounded by HARNESS_TIMEOUT_MS. */
void ct_wait_subscriptions(struct udsb *c, unsigned long long n);

/* The value of key in a STATS reply, or -1. */
long long ct_stat(struct udsb *c, const char *key);

/* A temporary file in ct_broker's directory holding text; returns its path
 * (static storage, one at a time). */
const char *ct_file(const char *name, const char *text, size_t len);

/* The udsctl under test: $UDSCTL. */
const char *ct_udsctl(void);

/* A udsctl started by ct_spawn. */
struct ct_proc {
	pid_t pid;
	int out;                 /* its stdout (a pipe), -1 once at EOF */
	int err;                 /* its stderr (a pipe), -1 once at EOF */
	char *out_buf, *err_buf; /* collected so far, NUL-terminated */
	size_t out_len, err_len;
	int status; /* exit status, -1 for a signal, -2 for not yet */
};

/* Starts udsctl with args (NULL-terminated, without argv[0]). env holds
 * "NAME=value" to set and "NAME" to unset (NULL-terminated, may be NULL);
 * stdin_path NULL means /dev/null. Fails the test if it cannot. */
void ct_spawn(struct ct_proc *p, const char *const *args, const char *const *env,
              const char *stdin_path);

/* Reads what p wrote until its stdout holds at least want_lines lines (0:
 * until both pipes reach EOF), at most timeout_ms. Returns true if reached. */
bool ct_read(struct ct_proc *p, size_t want_lines, int timeout_ms);

/* Waits until p writes anything more on either pipe (or closes one), at
 * most timeout_ms. Returns false on timeout or when both are closed. */
bool ct_read_more(struct ct_proc *p, int timeout_ms);

/* Reads everything, waits for the exit (bounded: SIGKILL after timeout) and
 * returns the exit status (-1 for a signal or a timeout). */
int ct_finish(struct ct_proc *p);

/* Frees the buffers of p. */
void ct_proc_free(struct ct_proc *p);

/* ct_spawn + ct_finish in one: the exit status, with output in p. */
int ct_run(struct ct_proc *p, const char *const *args, const char *const *env,
           const char *stdin_path);

/* Lines in s. */
size_t ct_count_lines(const char *s);

#endif
