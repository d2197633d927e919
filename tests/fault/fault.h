/*
 * Helpers for the fault tests, on the one test harness (check.h): the
 * daemon's descriptors and CPU time from /proc, and a sequenced publish
 * stream with subscribers that account for every message (received, or
 * announced lost by DROPPED), read with the harness's line reader.
 *
 * Everything waits on events with bounded timeouts; the only fixed waits
 * are measuring windows (the EMFILE test's CPU measurement).
 */
#ifndef UDSB_FAULT_H
#define UDSB_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "check.h"

/* Without progress for this long, a stream is declared stuck. */
#define FAULT_STALL_MS TH_TIMEOUT_MS

/* ---- scale ---- */

/* n scaled by $UDSB_FAULT_SCALE (default 1; the valgrind setup makes it
 * smaller), never below min. */
long fault_scaled(long n, long min);

/* ---- the daemon seen from /proc ---- */

/* Number of entries in /proc/PID/fd, or -1. */
int proc_fd_count(pid_t pid);

/* User + system CPU time of pid in milliseconds, or -1. */
long proc_cpu_ms(pid_t pid);

/* Waits until the daemon has exactly clients clients (STATS on ctl, one of
 * them), then returns its descriptor count. */
int settled_fds(const struct th_daemon *d, int ctl, int clients);

/* ---- subscribers that account for a sequenced stream ---- */

/* A subscriber of a stream whose messages carry "<seq> " first in the
 * payload, seq counting from 0. It checks order, and counts what it got,
 * what it missed (gaps) and what DROPPED announced. */
struct seqsub {
	int fd;              /* its connection, read through the harness */
	long next;           /* the seq expected next */
	long got;            /* messages received */
	long missed;         /* seqs skipped over */
	long announced;      /* sum of the DROPPED n received */
	long disorder;       /* seqs at or below one already seen */
	long pongs;          /* PONG lines */
	long oks;            /* OK lines */
	bool bye;            /* got a BYE line */
	char bye_reason[64];
	char odd[256];       /* the first line of no known kind, if any */
};

void seqsub_init(struct seqsub *s, int fd);

/* Handles every complete line buffered. */
void seqsub_drain(struct seqsub *s);

/* Reads and handles what is there now, without blocking. Returns as
 * th_read_some. */
long seqsub_pump(struct seqsub *s);

/* Reads until s got want messages, asserting it does before a pause of
 * FAULT_STALL_MS in the flow, and that the stream does not end first. */
void seqsub_wait_got(struct seqsub *s, long want);

/* Sends PING tag and handles lines until PONG tag (asserting it comes).
 * Returns the number of messages that came before it. */
long seqsub_barrier(struct seqsub *s, const char *tag);

/* Barriers until one has nothing but its PONG before it (at most a few):
 * by then every message and DROPPED owed to s has arrived. */
void seqsub_settle(struct seqsub *s);

/* ---- a publisher driving a sequenced stream ---- */

struct stream;
typedef void stream_hook(struct stream *st, void *arg);

struct stream {
	int pub;              /* the publisher's connection */
	const char *topic;
	long total;           /* messages to publish */
	long window;          /* at most this many ahead of the slowest fast sub */
	size_t payload;       /* payload bytes (at least the seq and a space) */
	size_t big_payload;   /* ... but this many for every big_every-th message */
	long big_every;       /* 0: all messages have payload bytes */
	long sent;            /* messages fully handed to the socket so far */
	struct seqsub **fast; /* subscribers that must get everything */
	int nfast;
	struct seqsub **others; /* read along, no expectation */
	int nothers;
	long others_rate;     /* bytes per second read from each of others; 0: all */
	long hook_every;      /* call hook each time sent crosses a multiple */
	stream_hook *hook;
	void *hook_arg;
	/* internal */
	char *out;
	size_t outlen, outoff;
	long queued;          /* messages formatted into out */
	long long started;    /* when stream_run began (ms) */
	long *others_read;    /* bytes read from each of others */
};

/* Publishes st->total messages, reading the subscribers along, until
 * every fast subscriber got them all; asserts progress within
 * FAULT_STALL_MS at every step and that the fast ones see no gap, no
 * disorder, no DROPPED and no BYE. */
void stream_run(struct stream *st);

#endif
