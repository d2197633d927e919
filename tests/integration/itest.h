/*
 * Helpers shared by the integration tests of the core broker: criterion
 * assertions on top of the harness, so each test reads as the protocol.
 */
#ifndef UDSB_ITEST_H
#define UDSB_ITEST_H

#include <stdbool.h>
#include <stddef.h>

#include "harness.h"

#define LINE_MAX_TEST 8192

/* Connects to b, asserting success. */
int xconnect(const struct broker *b);

/* Sends s, asserting success. */
void xsend(int fd, const char *s);

/* Sends len bytes, asserting success within the harness timeout. */
void xsend_bytes(int fd, const void *buf, size_t len);

/* Reads the next line, asserting one came within the timeout. Returns its
 * length; the line is in a static buffer valid until the next call. */
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

/* Asserts the broker's RSS grew by less than bound_kb (rss0 -> rss_max).
 * Skipped in AddressSanitizer builds: its quarantine keeps freed memory
 * resident on purpose, so RSS says nothing about what the daemon holds. */
void expect_rss_growth_below(long rss0, long rss_max, long bound_kb, const char *what);

/* Starts a broker with extra config, asserting success. */
void xstart(struct broker *b, const char *extra_config);

#endif
