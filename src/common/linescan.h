/*
 * The bounded line rule, shared by the daemon's reader (over an evbuffer),
 * the client library's and udsctl's (over a flat buffer). Pure: it looks at
 * the unconsumed input and says what its front is; the caller consumes.
 *
 * A line is at most max_line bytes, its '\n' included. A longer one is
 * reported once, as soon as it is known to be too long (its '\n' found
 * beyond max_line, or max_line bytes without one), and never buffered
 * whole: its bytes are dropped as they come, up to its '\n'.
 */
#ifndef UDSB_LINESCAN_H
#define UDSB_LINESCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct linescan {
	bool skipping;    /* inside an over-long line: drop up to its '\n' */
	uint32_t scanned; /* bytes at the front already known to hold no '\n'
	                   * (at most that many: a state per connection) */
};

enum linescan_result {
	LINESCAN_NONE,     /* no complete line yet: wait for more input */
	LINESCAN_READY,    /* *n bytes at the front are one line, '\n' included */
	LINESCAN_TOO_LONG, /* an over-long line starts the input: drop *n bytes */
	LINESCAN_SKIP,     /* drop *n more bytes of that line (reported already);
	                      its end was among them once skipping is false */
};

/* The rule itself, for input kept in any shape: avail bytes are unconsumed,
 * and eol is the offset of the first '\n' at or after ls->scanned, or -1
 * if there is none. The caller consumes *n bytes on every result but
 * LINESCAN_NONE, on LINESCAN_READY after handling the line. */
enum linescan_result linescan_step(struct linescan *ls, size_t avail, ssize_t eol, size_t max_line,
                                   size_t *n);

/* The same over a flat buffer: buf[0, avail) is the unconsumed input. */
enum linescan_result linescan_next(struct linescan *ls, const char *buf, size_t avail,
                                   size_t max_line, size_t *n);

#endif
