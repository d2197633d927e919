/* udsctl: what the subcommands share. Built on <udsbroker.h> alone. */
#ifndef UDSCTL_H
#define UDSCTL_H

#include <stdbool.h>

#include "options.h"
#include "udsbroker.h"

/* Exit statuses: sysexits(3), and mosquitto_sub's 27 for -W. */
#define EXIT_SUB_TIMEOUT 27
#define EXIT_USAGE       64 /* EX_USAGE */
#define EXIT_BROKER_ERR  65 /* EX_DATAERR: the broker answered ERR */
#define EXIT_UNAVAILABLE 69 /* EX_UNAVAILABLE: unreachable or connection lost */
#define EXIT_OSERR       71 /* EX_OSERR: out of memory, poll() failed */
#define EXIT_IOERR       74 /* EX_IOERR: standard input or output failed */

/* The longest line udsctl sends or accepts, '\n' included: far above the
 * broker's default max_line (64K), so that only the broker's own limit
 * applies; buffers grow to it only when such lines come. */
#define CTL_MAX_LINE (16 * 1024 * 1024)

/* Longest -W accepted, in seconds: what a poll() timeout can hold. */
#define CTL_MAX_WAIT_S 2000000.0

/* The reconnect back-off of sub and serve, in milliseconds. */
#define CTL_RECONNECT_MIN_MS 100
#define CTL_RECONNECT_MAX_MS 5000

#define CTL_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Option keys every subcommand takes, and the table entries for them
 * (last in each table, before the end): -s SOCKET, as before the
 * subcommand, and -h/--help, which prints the subcommand's help. */
enum { CTL_OPT_SOCKET = 's', CTL_OPT_HELP = 'h' };
#define CTL_COMMON_OPTIONS                             \
	{ CTL_OPT_SOCKET, 's', NULL, "SOCKET", NULL }, \
	{                                              \
		CTL_OPT_HELP, 'h', "help", NULL, NULL  \
	}

struct ctl_command;

/* One subcommand: argv[0] is its name, argv[1, argc) its words. sock is -s
 * or NULL. */
typedef int ctl_cmd_fn(const struct ctl_command *cmd, int argc, char **argv, const char *sock);

/* A subcommand: its name, how it is called, what it does, its options
 * (which give both the parsing and the help) and the code. */
struct ctl_command {
	const char *name;
	const char *usage;    /* after "udsctl [-s SOCKET] NAME "; '\n' wraps */
	const char *operands; /* "TOPIC [MESSAGE...]", for the list in --help */
	const char *summary;  /* what it does; '\n' wraps */
	const char *hint;     /* added to the parser's errors, or NULL */
	const struct ctl_opt *options;
	ctl_cmd_fn *run;
};

extern const struct ctl_command ctl_cmd_pub, ctl_cmd_sub, ctl_cmd_req, ctl_cmd_serve, ctl_cmd_ping,
    ctl_cmd_stats;

/* Prints "udsctl: CMD: MESSAGE" and the pointer to "udsctl CMD --help" on
 * stderr (cmd NULL: udsctl's own); returns EXIT_USAGE. */
int ctl_usage(const struct ctl_command *cmd, const char *fmt, ...) CTL_PRINTF(2, 3);

/* Takes the subcommand's next option, handling the common ones: -s sets
 * *sock, --help prints the help. Returns the key of another option (its
 * value in *value), OPT_END once only operands are left, or OPT_ERROR
 * with *status the exit status (usage error, or 0 after --help). */
int ctl_option(const struct ctl_command *cmd, struct ctl_parse *p, const char **value,
               const char **sock, int *status);

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

/* ctl_fail for a message sent (pub, req): there UDSB_EINVAL is bad data
 * (a newline in a MESSAGE, a line too long), EXIT_BROKER_ERR as the broker
 * would say with ERR. */
int ctl_fail_send(struct udsb *c, int rc);

/* ---- events.c ---- */

/* Handles an event that is not a delivery, the same way in every
 * subcommand: notices go to stderr (a reconnection too). Returns 0 to go
 * on, or an exit status (an ERR answer from the broker). */
int ctl_notice(struct udsb *c, const struct udsb_event *ev);

/* A connection as sub, req and serve wait on it. */
struct ctl_link {
	struct udsb *c;
	bool down_told; /* the loss was told on stderr, no reconnection since */
};

void ctl_link_init(struct ctl_link *l, struct udsb *c);

/* Turns automatic reconnect on (CTL_RECONNECT_*). Returns 0 or an exit
 * status. */
int ctl_link_reconnect(struct ctl_link *l);

/* What ctl_next_event found. */
enum ctl_wait {
	CTL_EVENT,   /* *ev is the next event */
	CTL_TIMEOUT, /* the deadline passed */
	CTL_END,     /* *status is the exit status: connection lost, stdout failed */
};

/* Takes the next event, waiting until deadline (a ctl_deadline(), -1:
 * none); flushes stdout before it waits, tells a loss of the connection
 * on stderr while reconnect works on it, and keeps the deadline meanwhile. */
enum ctl_wait ctl_next_event(struct ctl_link *l, struct udsb_event *ev, long long deadline,
                             int *status);

/* The deadline ms milliseconds from now; -1 for ms < 0 (none). */
long long ctl_deadline(int ms);

/* The words argv[0, argc) joined by single spaces, in a new string of
 * *len bytes (NUL-terminated); NULL when out of memory. */
char *ctl_join_words(int argc, char **argv, size_t *len);

/* Parses a positive integer option value; false if it is not one. */
bool ctl_parse_count(const char *s, unsigned long long *out);

/* Parses a -W value into milliseconds; false if it is not SECONDS > 0. */
bool ctl_parse_wait(const char *s, int *ms);

#endif
