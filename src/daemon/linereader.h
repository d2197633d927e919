/*
 * The bounded line reader: splits a connection's input evbuffer into lines
 * of at most max_line bytes (counting the '\n'). A longer line is discarded
 * as it streams in, never buffered whole, and reported once. The rule is
 * src/common/linescan.h; this is its evbuffer side.
 */
#ifndef UDSB_LINEREADER_H
#define UDSB_LINEREADER_H

#include <stddef.h>

#include "linescan.h"

struct evbuffer;

struct linereader {
	struct linescan scan;
};

enum linereader_result {
	LINE_NONE,     /* no complete line yet (skipped bytes were drained) */
	LINE_READY,    /* *len bytes at the front are one line, '\n' included */
	LINE_TOO_LONG, /* an over-long line was found; its bytes so far drained */
};

/* Looks at the front of in. On LINE_READY the caller handles the line
 * (evbuffer_pullup(in, *len)) and drains *len bytes before calling again.
 * LINE_TOO_LONG is returned once per over-long line. */
enum linereader_result linereader_next(struct linereader *lr, struct evbuffer *in, size_t max_line,
                                       size_t *len);

#endif
