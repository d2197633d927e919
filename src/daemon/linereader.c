/* The bounded line reader; see linereader.h. */
#include "linereader.h"

#include <sys/types.h>

#include <event2/buffer.h>

/* Offset of the first '\n' at or after lr->scanned, or -1. */
static ssize_t
find_eol(struct linereader *lr, struct evbuffer *in)
{
	struct evbuffer_ptr start, eol;

	if (evbuffer_ptr_set(in, &start, lr->scanned, EVBUFFER_PTR_SET) < 0)
		return -1;
	eol = evbuffer_search(in, "\n", 1, &start);
	if (eol.pos < 0)
		lr->scanned = evbuffer_get_length(in);
	return eol.pos;
}

enum linereader_result
linereader_next(struct linereader *lr, struct evbuffer *in, size_t max_line, size_t *len)
{
	ssize_t eol;

	if (lr->skipping) {
		eol = find_eol(lr, in);
		if (eol < 0) {
			evbuffer_drain(in, evbuffer_get_length(in));
			lr->scanned = 0;
			return LINE_NONE;
		}
		evbuffer_drain(in, (size_t)eol + 1);
		lr->skipping = false;
		lr->scanned = 0;
	}

	eol = find_eol(lr, in);
	if (eol >= 0) {
		lr->scanned = 0;
		if ((size_t)eol + 1 > max_line) {
			evbuffer_drain(in, (size_t)eol + 1);
			return LINE_TOO_LONG;
		}
		*len = (size_t)eol + 1;
		return LINE_READY;
	}
	if (evbuffer_get_length(in) >= max_line) {
		/* max_line bytes and no '\n': too long whatever follows. */
		evbuffer_drain(in, evbuffer_get_length(in));
		lr->skipping = true;
		lr->scanned = 0;
		return LINE_TOO_LONG;
	}
	return LINE_NONE;
}
