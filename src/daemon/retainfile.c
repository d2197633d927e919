/*
 * The retained store on disk; see retainfile.h for the format.
 *
 * Saving streams the records through one buffer into PATH.tmp (a fixed
 * name: a save killed half way leaves it behind, the next save replaces
 * it).
 * Loading reads the whole file and parses it in memory with
 * retainfile_load_buffer(), which trusts nothing it has not checked.
 */
#include "retainfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "retain.h"

#define MAGIC          "UDSBRET"
#define MAGIC_LEN      7
#define HEADER_LEN     16
#define VALUE_HEAD_LEN 40 /* before the topic; its CRC at 36 */
#define VALUE_TAIL_LEN 4  /* the record's CRC */
#define END_LEN        24
#define TYPE_VALUE     'V'
#define TYPE_END       'E'
#define WBUF_SIZE      (64 * 1024)

/* A file being written: one buffer, and the first error. With fd -1 it
 * is written into mem instead. */
struct writer {
	int fd;
	int error; /* errno of the first failure, or 0 */
	unsigned char *mem;
	size_t memlen, memcap;
	const char *step;
	size_t len;
	uint64_t count;
	uint64_t bytes;
	unsigned char buf[WBUF_SIZE];
};

static void
put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
get_u64(const unsigned char *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* Writes all n bytes, through short writes and EINTR. */
static int
write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* fsync through EINTR. */
static int
fsync_retry(int fd)
{
	int rc;

	while ((rc = fsync(fd)) < 0 && errno == EINTR)
		;
	return rc;
}

/* Appends n bytes to the memory file. */
static int
mem_add(struct writer *w, const void *data, size_t n)
{
	if (n > w->memcap - w->memlen) {
		size_t cap = w->memcap ? w->memcap : 4096;
		unsigned char *m;

		while (cap - w->memlen < n)
			cap *= 2;
		if ((m = realloc(w->mem, cap)) == NULL) {
			errno = ENOMEM;
			return -1;
		}
		w->mem = m;
		w->memcap = cap;
	}
	memcpy(w->mem + w->memlen, data, n);
	w->memlen += n;
	return 0;
}

/* Writes n bytes to the file, or to memory. */
static void
writer_out(struct writer *w, const void *data, size_t n)
{
	int rc = w->fd >= 0 ? write_all(w->fd, data, n) : mem_add(w, data, n);

	if (rc < 0 && w->error == 0) {
		w->error = errno;
		w->step = "write";
	}
}

/* Writes out the buffer. */
static void
writer_flush(struct writer *w)
{
	if (w->error == 0 && w->len > 0)
		writer_out(w, w->buf, w->len);
	w->len = 0;
}

/* Appends n bytes to the file. */
static void
writer_add(struct writer *w, const void *data, size_t n)
{
	if (w->error != 0)
		return;
	if (n > WBUF_SIZE - w->len) {
		writer_flush(w);
		if (n >= WBUF_SIZE) {
			if (w->error == 0)
				writer_out(w, data, n);
			return;
		}
	}
	memcpy(w->buf + w->len, data, n);
	w->len += n;
}

/* Appends a piece of a record, adding it to the record's CRC. */
static void
writer_add_crc(struct writer *w, const void *data, size_t n, uint32_t *crc)
{
	*crc = crc32c(*crc, data, n);
	writer_add(w, data, n);
}

/* Appends the record of one client value (retain_foreach callback). */
static void
write_value(struct retain_value *v, void *arg)
{
	struct writer *w = arg;
	unsigned char head[VALUE_HEAD_LEN], tail[VALUE_TAIL_LEN];
	struct retain_origin o;
	const char *topic, *payload;
	size_t tlen, plen, vialen;
	uint32_t crc = 0;

	if (retain_value_is_sys(v) || w->error != 0)
		return;
	topic = retain_value_topic(v, &tlen);
	payload = retain_value_payload(v, &plen);
	retain_value_origin(v, &o);
	vialen = strlen(o.via);
	memset(head, 0, sizeof head);
	head[0] = TYPE_VALUE;
	head[1] = (unsigned char)vialen;
	put_u32(head + 4, (uint32_t)tlen);
	put_u32(head + 8, (uint32_t)plen);
	put_u64(head + 12, (uint64_t)o.uid);
	put_u64(head + 20, (uint64_t)o.gid);
	put_u64(head + 28, (uint64_t)o.pid);
	put_u32(head + 36, crc32c(0, head, 36));
	writer_add_crc(w, head, sizeof head, &crc);
	writer_add_crc(w, topic, tlen, &crc);
	writer_add_crc(w, payload, plen, &crc);
	writer_add_crc(w, o.via, vialen, &crc);
	put_u32(tail, crc);
	writer_add(w, tail, sizeof tail);
	w->count++;
	w->bytes += tlen + plen;
}

/* Writes the whole file into w->fd. */
static void
write_file(struct writer *w, const struct retain *r)
{
	unsigned char head[HEADER_LEN], end[END_LEN];

	memset(head, 0, sizeof head);
	memcpy(head, MAGIC, MAGIC_LEN);
	head[MAGIC_LEN] = RETAINFILE_VERSION;
	put_u32(head + 12, crc32c(0, head, 12));
	writer_add(w, head, sizeof head);
	retain_foreach(r, write_value, w);
	memset(end, 0, sizeof end);
	end[0] = TYPE_END;
	put_u64(end + 4, w->count);
	put_u64(end + 12, w->bytes);
	put_u32(end + 20, crc32c(0, end, 20));
	writer_add(w, end, sizeof end);
	writer_flush(w);
}

int
retainfile_save_buffer(const struct retain *r, unsigned char **buf, size_t *len)
{
	struct writer *w = calloc(1, sizeof *w);
	int rc = -1;

	if (w == NULL)
		return -1;
	w->fd = -1;
	write_file(w, r);
	if (w->error == 0) {
		*buf = w->mem;
		*len = w->memlen;
		w->mem = NULL;
		rc = 0;
	}
	free(w->mem);
	free(w);
	return rc;
}

/* Makes the directory entry of a rename durable. EINVAL: a file system
 * that cannot fsync directories (and needs not). */
static int
fsync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, rc, saved;

	if (slash == NULL)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (dir == NULL)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	saved = errno;
	free(dir);
	if (fd < 0) {
		errno = saved;
		return -1;
	}
	rc = fsync_retry(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return rc < 0 && errno != EINVAL ? -1 : 0;
}

/* path followed by suffix, or NULL if out of memory. */
static char *
path_with(const char *path, const char *suffix)
{
	size_t n = strlen(path), m = strlen(suffix);
	char *s = malloc(n + m + 1);

	if (s == NULL)
		return NULL;
	memcpy(s, path, n);
	memcpy(s + n, suffix, m + 1);
	return s;
}

int
retainfile_save(const struct retain *r, const char *path, char *err, size_t errlen)
{
	char *tmp = path_with(path, ".tmp");
	struct writer *w = malloc(sizeof *w);
	const char *step = "open", *what;
	int fd = -1, saved;
	bool created = false;

	if (tmp == NULL || w == NULL) {
		saved = ENOMEM;
		what = path;
		step = "save";
		goto fail;
	}
	what = tmp;
	/* A leftover of a save killed half way goes; made anew, exclusively,
	 * so that no link planted there can redirect the write. */
	if (unlink(tmp) < 0 && errno != ENOENT) {
		saved = errno;
		step = "unlink";
		goto fail;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		saved = errno;
		goto fail;
	}
	created = true;
	memset(w, 0, offsetof(struct writer, buf));
	w->fd = fd;
	write_file(w, r);
	if (w->error != 0) {
		saved = w->error;
		step = w->step;
		goto fail;
	}
	if (fsync_retry(fd) < 0) {
		saved = errno;
		step = "fsync";
		goto fail;
	}
	/* close can report a deferred write error (NFS): it counts. */
	if (close(fd) < 0) {
		fd = -1; /* closed all the same */
		saved = errno;
		step = "close";
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		saved = errno;
		step = "rename";
		goto fail;
	}
	created = false; /* it is path now */
	free(tmp);
	free(w);
	if (fsync_dir(path) < 0) {
		/* The new file is in place; only its durability is unknown. */
		saved = errno;
		snprintf(err, errlen, "%s: fsync of the directory: %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (created)
		unlink(tmp);
	snprintf(err, errlen, "%s: %s: %s (%s left as it was)", what, step, strerror(saved), path);
	free(tmp);
	free(w);
	errno = saved;
	return -1;
}

/* Marks the load as damaged at off, for why. Returns 0. */
static int
damaged(struct retainfile_report *rep, uint64_t off, const char *why, char *err, size_t errlen)
{
	rep->corrupt = true;
	rep->bad_offset = off;
	rep->why = why;
	snprintf(err, errlen, "damaged at byte %llu (%s): loaded the %zu values before it",
	         (unsigned long long)off, why, rep->loaded);
	return 0;
}

/* Checks the header of the file. Returns 1 when it is good, 0 when the
 * file is damaged there, -1 when it is not one to load (err says why). */
static int
check_header(const unsigned char *p, size_t len, struct retainfile_report *rep, char *err,
             size_t errlen)
{
	if (memcmp(p, MAGIC, len < MAGIC_LEN ? len : MAGIC_LEN) != 0) {
		snprintf(err, errlen, "not a retained-store file (no %s magic)", MAGIC);
		errno = EINVAL;
		return -1;
	}
	if (len < HEADER_LEN)
		return damaged(rep, 0, "truncated header", err, errlen);
	if (get_u32(p + 12) != crc32c(0, p, 12) || get_u32(p + 8) != 0)
		return damaged(rep, 0, "bad header checksum", err, errlen);
	if (p[MAGIC_LEN] != RETAINFILE_VERSION) {
		snprintf(err, errlen, "format version %u, this broker reads version %u",
		         p[MAGIC_LEN], RETAINFILE_VERSION);
		errno = EINVAL;
		return -1;
	}
	return 1;
}

/* Loads the value record at p (avail bytes left in the file). Returns its
 * length, 0 when it is damaged (*why set), -1 when memory ran out. */
static int64_t
load_value(struct retain *r, const unsigned char *p, size_t avail, const char **why)
{
	uint32_t tlen, plen, vialen;
	uint64_t total;
	char via[RETAIN_VIA_MAX + 1];
	struct retain_origin o;
	const char *topic, *payload;
	struct retain_value *old;

	if (avail < VALUE_HEAD_LEN) {
		*why = "truncated record";
		return 0;
	}
	if (get_u32(p + 36) != crc32c(0, p, 36)) {
		*why = "bad checksum";
		return 0;
	}
	vialen = p[1];
	tlen = get_u32(p + 4);
	plen = get_u32(p + 8);
	if (p[2] != 0 || p[3] != 0 || vialen > RETAIN_VIA_MAX || tlen == 0 ||
	    tlen > RETAIN_TOPIC_MAX || plen == 0 || plen > RETAIN_PAYLOAD_MAX) {
		*why = "bad record lengths";
		return 0;
	}
	total = (uint64_t)VALUE_HEAD_LEN + tlen + plen + vialen + VALUE_TAIL_LEN;
	if (avail < total) {
		*why = "truncated record";
		return 0;
	}
	if (get_u32(p + total - VALUE_TAIL_LEN) != crc32c(0, p, total - VALUE_TAIL_LEN)) {
		*why = "bad checksum";
		return 0;
	}
	topic = (const char *)p + VALUE_HEAD_LEN;
	payload = topic + tlen;
	memcpy(via, payload + plen, vialen);
	via[vialen] = '\0';
	if (memchr(via, '\0', vialen) != NULL) {
		*why = "bad via name";
		return 0;
	}
	o = (struct retain_origin){ (int64_t)get_u64(p + 12), (int64_t)get_u64(p + 20),
		                    (int64_t)get_u64(p + 28), via };
	if ((old = retain_get(r, topic, tlen)) != NULL && !retain_value_is_sys(old)) {
		*why = "topic stored twice";
		return 0;
	}
	switch (retain_set(r, topic, tlen, payload, plen, &o, RETAIN_UNBOUNDED)) {
	case RETAIN_OK:
		return (int64_t)total;
	case RETAIN_NOMEM:
		return -1;
	case RETAIN_FULL: /* not with RETAIN_UNBOUNDED */
	case RETAIN_INVALID:
		break;
	}
	*why = "invalid topic, payload or origin";
	return 0;
}

/* Checks the end record at p: 1 if it is right, 0 if damaged (*why). */
static int
check_end(const unsigned char *p, size_t avail, const struct retain *r, size_t loaded,
          const char **why)
{
	if (avail < END_LEN) {
		*why = "truncated end record";
		return 0;
	}
	if (get_u32(p + 20) != crc32c(0, p, 20) || p[1] != 0 || p[2] != 0 || p[3] != 0) {
		*why = "bad checksum";
		return 0;
	}
	if (get_u64(p + 4) != loaded || get_u64(p + 12) != retain_bytes(r)) {
		*why = "end record counts differ";
		return 0;
	}
	return 1;
}

/* Loads the records after the header; see retainfile_load_buffer. */
static int
load_records(struct retain *r, const unsigned char *p, size_t len, struct retainfile_report *rep,
             char *err, size_t errlen)
{
	const char *why = NULL;
	size_t off = HEADER_LEN;

	for (;;) {
		int64_t n;

		if (off == len)
			return damaged(rep, off, "no end record", err, errlen);
		if (p[off] == TYPE_END) {
			if (!check_end(p + off, len - off, r, rep->loaded, &why))
				return damaged(rep, off, why, err, errlen);
			off += END_LEN;
			break;
		}
		if (p[off] != TYPE_VALUE)
			return damaged(rep, off, "unknown record type", err, errlen);
		if ((n = load_value(r, p + off, len - off, &why)) < 0) {
			snprintf(err, errlen, "out of memory after %zu values", rep->loaded);
			errno = ENOMEM;
			return -1;
		}
		if (n == 0)
			return damaged(rep, off, why, err, errlen);
		rep->loaded++;
		off += (size_t)n;
	}
	if (off != len)
		return damaged(rep, off, "bytes after the end record", err, errlen);
	retain_mark_clean(r);
	return 0;
}

int
retainfile_load_buffer(struct retain *r, const void *buf, size_t len, struct retainfile_report *rep,
                       char *err, size_t errlen)
{
	int rc;

	memset(rep, 0, sizeof *rep);
	if (errlen > 0)
		err[0] = '\0';
	if (retain_count(r) != 0) {
		snprintf(err, errlen, "the store already holds values");
		errno = EBUSY;
		return -1;
	}
	if ((rc = check_header(buf, len, rep, err, errlen)) <= 0)
		return rc;
	rc = load_records(r, buf, len, rep, err, errlen);
	rep->over_bounds = retain_over_bounds(r);
	return rc;
}

/* Reads the whole of fd (a regular file of size bytes) into *buf. */
static int
read_whole(int fd, size_t size, unsigned char **buf, size_t *len)
{
	unsigned char *b = malloc(size > 0 ? size : 1);
	size_t got = 0;

	if (b == NULL)
		return -1;
	while (got < size) {
		ssize_t n = read(fd, b + got, size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;

			free(b);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break; /* shrank meanwhile: parse what there is */
		got += (size_t)n;
	}
	*buf = b;
	*len = got;
	return 0;
}

int
retainfile_load(struct retain *r, const char *path, struct retainfile_report *rep, char *err,
                size_t errlen)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	struct stat st = { 0 };
	char msg[256], *bad;
	int fd, rc, saved;

	memset(rep, 0, sizeof *rep);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		if (errno == ENOENT) {
			rep->missing = true;
			return 0;
		}
		saved = errno;
		snprintf(err, errlen, "%s: open: %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    read_whole(fd, (size_t)st.st_size, &buf, &len) < 0) {
		saved = errno;
		if (st.st_mode != 0 && !S_ISREG(st.st_mode))
			saved = EINVAL;
		snprintf(err, errlen, "%s: %s", path,
		         saved == EINVAL ? "not a regular file" : strerror(saved));
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	rc = retainfile_load_buffer(r, buf, len, rep, msg, sizeof msg);
	saved = errno;
	free(buf);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s (left as it is)", path, msg);
		errno = saved;
		return -1;
	}
	if (!rep->corrupt)
		return 0;
	/* Kept for inspection, out of the way of the next save. */
	if ((bad = path_with(path, ".corrupt")) == NULL || rename(path, bad) < 0) {
		snprintf(err, errlen, "%s: %s; could not keep it as %s.corrupt: %s", path, msg,
		         path, strerror(bad == NULL ? ENOMEM : errno));
	} else {
		rep->renamed = true;
		snprintf(err, errlen, "%s: %s; kept as %s", path, msg, bad);
	}
	free(bad);
	return 0;
}
