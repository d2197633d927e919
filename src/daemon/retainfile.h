/*
 * The retained store on disk ([retain] file = PATH).
 *
 * Saving is atomic: PATH.tmp is written, fsynced, renamed over PATH, and
 * the directory fsynced; on any failure the old PATH is untouched.
 *
 * The format (all integers little-endian), version 1:
 *
 *   header  16 bytes: "UDSBRET", version (1), 4 zero bytes,
 *           CRC-32C of the 12 bytes before it
 *   value   40 bytes: 'V', via length (0..32), 2 zero bytes,
 *           topic length (u32, 1..65535), payload length (u32, >= 1),
 *           uid, gid, pid (i64, -1 unknown), CRC-32C of the 36 bytes before;
 *           then the topic, the payload, the via name;
 *           then a CRC-32C (u32) of the whole record before it
 *   end     24 bytes: 'E', 3 zero bytes, values written (u64),
 *           their topic + payload bytes (u64), CRC-32C of the 20 bytes before
 *
 * Every record carries its own checksums, the lengths theirs apart, so a
 * reader never follows a damaged length: a file cut or damaged anywhere
 * still yields every record before the damage, and nothing from it on.
 * A record must also hold what the store would take (topic_check, no '\n'
 * in the payload, no topic twice), or it is damage.
 */
#ifndef UDSB_RETAINFILE_H
#define UDSB_RETAINFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct retain;

#define RETAINFILE_VERSION 1

/* What a load found. */
struct retainfile_report {
	bool missing;        /* no file: an empty store */
	bool corrupt;        /* damaged or cut: loaded the records before bad_offset */
	uint64_t bad_offset; /* byte offset of the first bad record (or of the
	                      * header, or of the bytes after the end record) */
	const char *why;     /* what was wrong there ("bad checksum", ...) */
	bool renamed;        /* the damaged file is now PATH.corrupt */
	size_t loaded;       /* values loaded */
	bool over_bounds;    /* more than the store's bounds: loaded all the same */
};

/* Writes the client values of r (not $SYS ones) to path (mode 0600),
 * atomically. Returns 0, or -1 with errno set and a message naming the
 * file in err; then path is as it was and the temporary file is gone --
 * but for a failed fsync of the directory after the rename: then the new
 * file is in place, not known to be durable (err says so). Does not mark
 * r clean: the caller does, on success. */
int retainfile_save(const struct retain *r, const char *path, char *err, size_t errlen);

/* The bytes retainfile_save would write, in memory: *buf (free it) of
 * *len bytes. Returns -1 if out of memory. */
int retainfile_save_buffer(const struct retain *r, unsigned char **buf, size_t *len);

/* Loads path into r, which must hold no client value yet; set r's bounds
 * first (the values are loaded even over them, rep->over_bounds says so).
 * Returns 0 when the file is missing (an empty store), read whole, or
 * damaged: then rep->corrupt, the records before rep->bad_offset are
 * loaded, the file is renamed to PATH.corrupt, and err says all of it for
 * the log. Returns -1 with err set and the file left alone when it cannot
 * be read (EACCES, not a regular file), is not a retained-store file at all
 * (no magic), is of a later format version, or memory ran out: the caller
 * must then not save over it. A clean load leaves r clean. */
int retainfile_load(struct retain *r, const char *path, struct retainfile_report *rep, char *err,
                    size_t errlen);

/* The parser of retainfile_load, on len bytes in memory (any bytes: it is
 * safe on untrusted input); renames nothing. */
int retainfile_load_buffer(struct retain *r, const void *buf, size_t len,
                           struct retainfile_report *rep, char *err, size_t errlen);

#endif
