/* The bounded line reader; see linereader.h. */
#include "linereader.h"

#include <sys/types.h>

#include <event2/buffer.h>

/* Offset of the first '\n' at or after from, or -1. */
static ssize_t
find_eol(struct evbuffer *in, size_t from)
{
	struct evbuffer_ptr start;

	if (evbuffer_ptr_set(in, &start, from, EVBUFFER_PTR_SET) < 0)
		return -1;
	return evbuffer_search(in, "\n", 1, &start).pos;
}

/* Applies the line rule to the front of an evbuffer, draining what it drops. */
enum linereader_result
linereader_next(struct linereader *lr, struct evbuffer *in, size_t max_line, size_t *len)
{
	for (;;) {
		size_t avail = evbuffer_get_length(in), n;
		size_t from = lr->scan.skipping ? 0 : lr->scan.scanned;

		switch (linescan_step(&lr->scan, avail, find_eol(in, from), max_line, &n)) {
		case LINESCAN_NONE:
			return LINE_NONE;
		case LINESCAN_READY:
			*len = n;
			return LINE_READY;
		case LINESCAN_TOO_LONG:
			evbuffer_drain(in, n);
			return LINE_TOO_LONG;
		case LINESCAN_SKIP:
			evbuffer_drain(in, n);
			break;
		}
	}
}
