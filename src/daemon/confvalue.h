/*
 * What the parsers of udsbrokerd.conf(5)'s sections share, below them all:
 * config.c (the fixed sections), listenconf.c ([listener NAME]) and
 * bridgeconf.c ([bridge NAME]) each take their values through these.
 */
#ifndef UDSB_CONFVALUE_H
#define UDSB_CONFVALUE_H

#include <stddef.h>
#include <stdio.h>

/* Replaces *dst with a copy of value, or NULL when value is empty.
 * Returns 0, or -1 with "out of memory" in err. */
int confvalue_set_string(char **dst, const char *value, char *err, size_t errlen);

/* The same for a group name, which must name a group now (empty: none):
 * the check start-up would make when it gives a socket its group, made at
 * load so that `udsbrokerd -t` and a SIGHUP find an unknown group as
 * start-up does. Returns 0, or -1 with why in err. */
int confvalue_set_group(char **dst, const char *value, char *err, size_t errlen);

/* Writes "name = v" for a size the way a person would: with K or M when
 * exact, as the size parser reads it back. */
void confvalue_print_size(FILE *out, const char *name, size_t v);

#endif
