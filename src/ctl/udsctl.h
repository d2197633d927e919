/* udsctl: what the subcommands share. Built on <udsbroker.h> alone. */
#ifndef UDSCTL_H
#define UDSCTL_H

#include <stdbool.h>

#include "udsbroker.h"

/* Exit statuses: sysexits(3), and mosquitto_sub's 27 for -W. */
#define EXIT_SUB_TIMEOUT 27
#define EXIT_USAGE       64 /* EX_USAGE */
#define EXIT_BROKER_ERR  65 /* EX_DATAERR: the broker answered ERR */
#define EXIT_UNAVAILABLE 69 /* EX_UNAVAILABLE: unreachable or connection lost */
#define EXIT_OSERR       71 /* EX_OSERR: out of memory */
#define EXIT_IOERR       74 /* EX_IOERR: standard input or output failed */

/* The longest line udsctl sends or accepts, '\n' included: far above the
 * broker's default max_line (64K), so that only the broker's own limit
 * applies; buffers grow to it only when such lines come. */
#define CTL_MAX_LINE (16 * 1024 * 1024)

#define CTL_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* One subcommand: argv[0] is its name, argv[argc] NULL. sock is -s or NULL. */
typedef int ctl_cmd_fn(int argc, char **argv, const char *sock);

ctl_cmd_fn cmd_pub;
ctl_cmd_fn cmd_sub;
ctl_cmd_fn cmd_ping;
ctl_cmd_fn cmd_stats;

/* Prints "udsctl: MESSAGE" and the pointer to --help on stderr; returns
 * EXIT_USAGE. */
int ctl_usage(const char *fmt, ...) CTL_PRINTF(1, 2);

/* Prints "udsctl: MESSAGE" on stderr. A failure to write it is
 * remembered: udsctl then exits EXIT_IOERR. */
void ctl_warn(const char *fmt, ...) CTL_PRINTF(1, 2);

/* Pushes out what stdout holds. Returns 0, or EXIT_IOERR after saying so
 * in one line on stderr (the first time only; not for a closed pipe once
 * ctl_quiet_epipe is set). */
int ctl_flush_stdout(void);

/* Set by sub: a closed pipe on stdout means its reader has had enough
 * (udsctl sub t | head -1), so it ends udsctl quietly (still EXIT_IOERR). */
extern bool ctl_quiet_epipe;

/* Connects to sock (NULL: $UDSBROKER_SOCKET, else the default). Returns the
 * connection, or NULL with the error printed and *status set. */
struct udsb *ctl_connect(const char *sock, int *status);

/* Prints the connection's last error and returns the exit status for the
 * library status rc. */
int ctl_fail(struct udsb *c, int rc);

/* Handles an event that is not a delivery, the same way in every
 * subcommand: notices go to stderr. Returns 0 to go on, or an exit status
 * (an ERR answer from the broker). */
int ctl_notice(struct udsb *c, const struct udsb_event *ev);

/* Parses a positive integer option value; false if it is not one. */
bool ctl_parse_count(const char *s, unsigned long long *out);

#endif
