/* The bounded line rule; see linescan.h. */
#include "linescan.h"

#include <string.h>

/* Applies the rule to avail bytes whose first newline is at eol. */
enum linescan_result
linescan_step(struct linescan *ls, size_t avail, ssize_t eol, size_t max_line, size_t *n)
{
	*n = 0;
	if (avail == 0)
		return LINESCAN_NONE;
	if (ls->skipping) {
		/* Drop up to the '\n' ending the over-long line, or everything. */
		ls->scanned = 0;
		ls->skipping = eol < 0;
		*n = eol < 0 ? avail : (size_t)eol + 1;
		return LINESCAN_SKIP;
	}
	if (eol >= 0) {
		ls->scanned = 0;
		*n = (size_t)eol + 1;
		return *n > max_line ? LINESCAN_TOO_LONG : LINESCAN_READY;
	}
	if (avail >= max_line) {
		/* max_line bytes and no '\n': too long whatever follows. */
		ls->skipping = true;
		ls->scanned = 0;
		*n = avail;
		return LINESCAN_TOO_LONG;
	}
	ls->scanned = avail > UINT32_MAX ? UINT32_MAX : (uint32_t)avail; /* fewer: a rescan */
	return LINESCAN_NONE;
}

/* Applies the rule to a flat buffer, finding its newline with memchr. */
enum linescan_result
linescan_next(struct linescan *ls, const char *buf, size_t avail, size_t max_line, size_t *n)
{
	size_t from = ls->skipping || ls->scanned > avail ? 0 : ls->scanned;
	const char *nl = avail > from ? memchr(buf + from, '\n', avail - from) : NULL;

	return linescan_step(ls, avail, nl != NULL ? nl - buf : -1, max_line, n);
}
