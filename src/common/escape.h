/*
 * Escaping untrusted bytes for a line of text (a log line, an error
 * message): pure, no I/O, shared by the daemon and the client library.
 */
#ifndef UDSB_ESCAPE_H
#define UDSB_ESCAPE_H

#include <stddef.h>

/* Writes src[0, len) into dst as printable ASCII with C escapes: '\\' and
 * '"' as \\ and \", other bytes outside 0x20..0x7e as \xNN, so the result
 * can be quoted and decodes back to the input. When it does not fit, a
 * prefix ending in "..." is written instead (nothing at all when size < 4).
 * Always NUL-terminated when size > 0; nothing is written when size is 0.
 * Returns dst, for use in arguments. */
char *escape_text(char *dst, size_t size, const char *src, size_t len);

#endif
