/* The retained store on disk (src/daemon/retainfile.h): round trips, a
 * file cut at every byte, a bit flipped at every bit, saves killed at
 * random moments, full disks and failed writes, and what loading does
 * with files that are not its own. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "retain.h"
#include "retainfile.h"

static char dir[64];
static char path[128];

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* A fresh directory for the test's files; path is dir/retained.db. */
static void
setup_dir(void)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	snprintf(dir, sizeof dir, "%s/retainfile-XXXXXX", base);
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof path, "%s/retained.db", dir);
}

static void
teardown_dir(void)
{
	/* The disk-full test's tmpfs, if it failed before its umount. */
	umount2(dir, MNT_DETACH);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(retainfile, .init = setup_dir, .fini = teardown_dir);

/* A topic byte: printable ASCII but space, '+', '#', or UTF-8-ish high
 * bytes, or now and then a '/'. */
static char
topic_byte(unsigned *seed)
{
	for (;;) {
		unsigned c = (unsigned)rand_r(seed) % 256;

		/* ASCII only: topics are well-formed UTF-8 (a lone byte >= 0x80
		 * is not), and UTF-8 has tests of its own. */
		if (c == '/' || (c > 0x20 && c < 0x7f && c != '+' && c != '#'))
			return (char)c;
	}
}

/* Fills r with n client values: unique topics, payloads of any byte but
 * '\n' (the first one holds all 255 of them), varied origins. */
static void
fill(struct retain *r, size_t n, unsigned seed)
{
	static const char *vias[] = {"main", "tcp-lan", NULL, "bridge.up", "x"};
	char topic[128], payload[300];

	for (size_t i = 0; i < n; i++) {
		int tlen = snprintf(topic, sizeof topic, "t/%zu/", i);
		size_t extra = (size_t)rand_r(&seed) % 24, plen = 1 + (size_t)rand_r(&seed) % 64;
		struct retain_origin o = {rand_r(&seed) % 4 ? rand_r(&seed) % 70000 : -1,
		                          rand_r(&seed) % 4 ? rand_r(&seed) % 70000 : -1,
		                          rand_r(&seed) % 4 ? rand_r(&seed) : -1,
		                          vias[(size_t)rand_r(&seed) % 5]};

		for (size_t k = 0; k < extra; k++)
			topic[tlen++] = topic_byte(&seed);
		if (i == 0) {
			plen = 0;
			for (int c = 0; c < 256; c++)
				if (c != '\n')
					payload[plen++] = (char)c;
		} else {
			for (size_t k = 0; k < plen; k++) {
				payload[k] = (char)(rand_r(&seed) % 256);
				if (payload[k] == '\n')
					payload[k] = '\r';
			}
		}
		cr_assert_eq(retain_set(r, topic, (size_t)tlen, payload, plen, &o, 0), RETAIN_OK,
		             "value %zu", i);
	}
}

/* Does v hold exactly what w holds? */
static bool
same_value(const struct retain_value *v, const struct retain_value *w)
{
	struct retain_origin a, b;
	size_t n, m;
	const char *p = retain_value_frame(v, &n), *q = retain_value_frame(w, &m);

	retain_value_origin(v, &a);
	retain_value_origin(w, &b);
	return n == m && memcmp(p, q, n) == 0 && a.uid == b.uid && a.gid == b.gid &&
	       a.pid == b.pid && strcmp(a.via, b.via) == 0 &&
	       retain_value_is_sys(v) == retain_value_is_sys(w);
}

/* Every value of the one store, checked in another. */
struct compare {
	const struct retain *other;
	size_t seen;
	size_t wrong;
};

static void
compare_cb(struct retain_value *v, void *arg)
{
	struct compare *c = arg;
	size_t tlen;
	const char *t = retain_value_topic(v, &tlen);
	struct retain_value *w = retain_get(c->other, t, tlen);

	c->seen++;
	if (w == NULL || !same_value(v, w))
		c->wrong++;
}

/* Every value of sub is in full, byte for byte; returns how many. */
static size_t
assert_subset(const struct retain *sub, const struct retain *full)
{
	struct compare c = {full, 0, 0};

	retain_foreach(sub, compare_cb, &c);
	cr_assert_eq(c.wrong, 0, "%zu of %zu values differ", c.wrong, c.seen);
	return c.seen;
}

static void
assert_same(const struct retain *a, const struct retain *b)
{
	cr_assert_eq(retain_count(a), retain_count(b));
	cr_assert_eq(retain_bytes(a), retain_bytes(b));
	assert_subset(a, b);
	assert_subset(b, a);
}

/* The whole file at p; its length in *len. */
static unsigned char *
slurp(const char *p, size_t *len)
{
	FILE *f = fopen(p, "rb");
	unsigned char *buf;
	long n;

	cr_assert_not_null(f, "%s: %s", p, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n > 0 ? (size_t)n : 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void
spit(const char *p, const void *buf, size_t len)
{
	FILE *f = fopen(p, "wb");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(buf, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static void
save(const struct retain *r)
{
	char err[512];

	cr_assert_eq(retainfile_save(r, path, err, sizeof err), 0, "%s", err);
}

static bool
exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0;
}

/* The check value of the CRC catalogue, and pieces adding up. */
Test(retainfile, crc32c_known_answers)
{
	unsigned char zeros[32] = {0}, ones[32];
	const char *check = "123456789";

	memset(ones, 0xff, sizeof ones);
	cr_assert_eq(crc32c(0, "123456789", 9), 0xe3069283u);
	cr_assert_eq(crc32c(0, "", 0), 0);
	cr_assert_eq(crc32c(0, zeros, 32), 0x8a9136aau); /* RFC 3720 B.4 */
	cr_assert_eq(crc32c(0, ones, 32), 0x62a8ab43u);
	cr_assert_eq(crc32c(crc32c(0, "12345", 5), "6789", 4), 0xe3069283u);
	for (size_t k = 0; k <= 9; k++)
		cr_assert_eq(crc32c(crc32c(0, check, k), check + k, 9 - k), 0xe3069283u);
}

Test(retainfile, round_trip_of_100000_values, .timeout = 120)
{
	struct retain *r = retain_new(), *back = retain_new();
	struct retainfile_report rep;
	char err[512], tmp[160];

	fill(r, 100000, 7);
	save(r);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	cr_assert(!exists(tmp), "no temporary file left");
	cr_assert_eq(retainfile_load(back, path, &rep, err, sizeof err), 0, "%s", err);
	cr_assert(!rep.corrupt && !rep.missing && rep.loaded == 100000);
	cr_assert(!retain_dirty(back), "a clean load is clean");
	assert_same(r, back);
	retain_free(r);
	retain_free(back);
}

Test(retainfile, sys_values_are_not_saved)
{
	struct retain *r = retain_new(), *back = retain_new();
	struct retainfile_report rep;
	char err[512];

	cr_assert_eq(retain_set(r, "$SYS/broker/uptime", 18, "12", 2, NULL, RETAIN_SYS), RETAIN_OK);
	cr_assert_eq(retain_set(r, "svc/db/state", 12, "up", 2, NULL, 0), RETAIN_OK);
	save(r);
	cr_assert_eq(retainfile_load(back, path, &rep, err, sizeof err), 0, "%s", err);
	cr_assert_eq(rep.loaded, 1);
	cr_assert_null(retain_get(back, "$SYS/broker/uptime", 18));
	cr_assert_not_null(retain_get(back, "svc/db/state", 12));
	retain_free(r);
	retain_free(back);
}

Test(retainfile, an_empty_store_round_trips)
{
	struct retain *r = retain_new(), *back = retain_new();
	struct retainfile_report rep;
	char err[512];

	save(r);
	cr_assert_eq(retainfile_load(back, path, &rep, err, sizeof err), 0, "%s", err);
	cr_assert(!rep.corrupt && !rep.missing && rep.loaded == 0);
	retain_free(r);
	retain_free(back);
}

Test(retainfile, a_missing_file_is_an_empty_store)
{
	struct retain *r = retain_new();
	struct retainfile_report rep;
	char err[512];

	cr_assert_eq(retainfile_load(r, path, &rep, err, sizeof err), 0);
	cr_assert(rep.missing && rep.loaded == 0 && !rep.corrupt);
	retain_free(r);
}

Test(retainfile, a_load_over_the_bounds_loads_everything)
{
	struct retain *r = retain_new(), *back = retain_new();
	struct retainfile_report rep;
	char err[512];

	fill(r, 20, 3);
	save(r);
	retain_set_limits(back, 5, SIZE_MAX);
	cr_assert_eq(retainfile_load(back, path, &rep, err, sizeof err), 0, "%s", err);
	cr_assert_eq(rep.loaded, 20);
	cr_assert(rep.over_bounds);
	cr_assert_eq(retain_set(back, "new", 3, "x", 1, NULL, 0), RETAIN_FULL);
	retain_free(r);
	retain_free(back);
}

Test(retainfile, files_not_to_load_are_left_alone)
{
	struct retain *r = retain_new();
	struct retainfile_report rep;
	char err[512], bad[160];
	unsigned char v2[16] = "UDSBRET\x02";
	uint32_t crc;

	snprintf(bad, sizeof bad, "%s.corrupt", path);
	/* Not ours at all. */
	spit(path, "root:x:0:0:root:/root:/bin/sh\n", 30);
	cr_assert_eq(retainfile_load(r, path, &rep, err, sizeof err), -1);
	cr_assert(strstr(err, path) != NULL && strstr(err, "magic") != NULL, "%s", err);
	cr_assert(exists(path) && !exists(bad));
	/* A later version: the header is sound, the version unknown. */
	crc = crc32c(0, v2, 12);
	for (int i = 0; i < 4; i++)
		v2[12 + i] = (unsigned char)(crc >> (8 * i));
	spit(path, v2, sizeof v2);
	cr_assert_eq(retainfile_load(r, path, &rep, err, sizeof err), -1);
	cr_assert(strstr(err, "version 2") != NULL, "%s", err);
	cr_assert(exists(path) && !exists(bad));
	/* A directory. */
	unlink(path);
	cr_assert_eq(mkdir(path, 0700), 0);
	cr_assert_eq(retainfile_load(r, path, &rep, err, sizeof err), -1);
	cr_assert(strstr(err, "not a regular file") != NULL, "%s", err);
	rmdir(path);
	/* A store that holds values already. */
	save(r);
	cr_assert_eq(retain_set(r, "a", 1, "b", 1, NULL, 0), RETAIN_OK);
	cr_assert_eq(retainfile_load(r, path, &rep, err, sizeof err), -1);
	cr_assert_eq(errno, EBUSY);
	retain_free(r);
}

Test(retainfile, unreadable_file)
{
	struct retain *r = retain_new();
	struct retainfile_report rep;
	char err[512];

	if (geteuid() == 0)
		cr_skip_test("root reads a file of mode 000");
	save(r);
	cr_assert_eq(chmod(path, 0), 0);
	cr_assert_eq(retainfile_load(r, path, &rep, err, sizeof err), -1);
	cr_assert_eq(errno, EACCES);
	cr_assert(strstr(err, path) != NULL, "%s", err);
	retain_free(r);
}

/* The offsets where the records of a saved r begin, in file order (the
 * order of retain_foreach, which save follows), then that of the end
 * record. */
struct bounds {
	size_t off[64];
	size_t n;
};

static void
bounds_cb(struct retain_value *v, void *arg)
{
	struct bounds *b = arg;
	struct retain_origin o;
	size_t tlen, plen;

	retain_value_topic(v, &tlen);
	retain_value_payload(v, &plen);
	retain_value_origin(v, &o);
	b->off[b->n + 1] = b->off[b->n] + 44 + tlen + plen + strlen(o.via);
	b->n++;
}

static void
record_bounds(const struct retain *r, struct bounds *b)
{
	b->n = 0;
	b->off[0] = 16;
	retain_foreach(r, bounds_cb, b);
}

Test(retainfile, a_file_cut_at_every_byte_loads_the_records_before)
{
	struct retain *r = retain_new();
	struct retainfile_report rep;
	struct bounds b;
	unsigned char *file;
	size_t size;
	char err[512];

	fill(r, 20, 11);
	save(r);
	file = slurp(path, &size);
	record_bounds(r, &b);
	cr_assert_eq(b.n, 20);
	cr_assert_eq(size, b.off[20] + 24, "header, records and the end record");
	for (size_t len = 0; len <= size; len++) {
		struct retain *back = retain_new();
		unsigned char *cut = malloc(len ? len : 1); /* exact size: ASan sees overreads */
		size_t whole = 0;

		memcpy(cut, file, len);
		cr_assert_eq(retainfile_load_buffer(back, cut, len, &rep, err, sizeof err), 0,
		             "cut at %zu: %s", len, err);
		while (whole < 20 && b.off[whole + 1] <= len)
			whole++;
		if (len == size) {
			cr_assert(!rep.corrupt, "the whole file: %s", err);
			cr_assert_eq(rep.loaded, 20);
		} else {
			cr_assert(rep.corrupt, "cut at %zu not noticed", len);
			cr_assert_eq(rep.loaded, len < 16 ? 0 : whole, "cut at %zu: loaded %zu",
			             len, rep.loaded);
			cr_assert_eq(rep.bad_offset, len < 16 ? 0 : b.off[whole],
			             "cut at %zu: bad offset %llu", len,
			             (unsigned long long)rep.bad_offset);
			cr_assert(strstr(err, "damaged at byte") != NULL, "%s", err);
		}
		cr_assert_eq(assert_subset(back, r), rep.loaded);
		free(cut);
		retain_free(back);
	}
	free(file);
	retain_free(r);
}

Test(retainfile, a_damaged_file_is_kept_as_corrupt)
{
	struct retain *r = retain_new(), *back = retain_new();
	struct retainfile_report rep;
	unsigned char *file;
	size_t size;
	char err[512], bad[160];
	struct bounds b;

	fill(r, 10, 5);
	save(r);
	record_bounds(r, &b);
	file = slurp(path, &size);
	spit(path, file, b.off[4] + 10); /* cut in the fifth record */
	cr_assert_eq(retainfile_load(back, path, &rep, err, sizeof err), 0, "%s", err);
	snprintf(bad, sizeof bad, "%s.corrupt", path);
	cr_assert(rep.corrupt && rep.renamed && rep.loaded == 4);
	cr_assert_eq(rep.bad_offset, b.off[4]);
	cr_assert(!exists(path) && exists(bad));
	cr_assert(strstr(err, bad) != NULL, "%s", err);
	cr_assert(retain_dirty(back), "what was loaded is to be saved again");
	assert_subset(back, r);
	free(file);
	retain_free(r);
	retain_free(back);
}

Test(retainfile, a_bit_flipped_anywhere_is_detected)
{
	struct retain *r = retain_new();
	struct retainfile_report rep;
	struct bounds b;
	unsigned char *file;
	size_t size, foreign = 0;
	char err[512];

	fill(r, 20, 13);
	save(r);
	file = slurp(path, &size);
	record_bounds(r, &b);
	for (size_t bit = 0; bit < size * 8; bit++) {
		struct retain *back = retain_new();
		size_t at = bit / 8, rec = 0;
		int rc;

		file[at] ^= (unsigned char)(1u << (bit % 8));
		rc = retainfile_load_buffer(back, file, size, &rep, err, sizeof err);
		file[at] ^= (unsigned char)(1u << (bit % 8));
		if (rc < 0) {
			cr_assert_lt(at, 7, "only a damaged magic makes a file not ours: bit %zu",
			             bit);
			foreign++;
		} else
			cr_assert(rep.corrupt, "bit %zu flipped, not noticed", bit);
		while (rec < 20 && b.off[rec + 1] <= at)
			rec++;
		cr_assert_leq(rep.loaded, rec, "bit %zu (record %zu): loaded %zu", bit, rec,
		              rep.loaded);
		cr_assert_eq(assert_subset(back, r), rep.loaded, "bit %zu: a wrong value", bit);
		retain_free(back);
	}
	cr_assert_eq(foreign, 7 * 8);
	free(file);
	retain_free(r);
}

Test(retainfile, garbage_after_the_end_record)
{
	struct retain *r = retain_new(), *back = retain_new();
	struct retainfile_report rep;
	unsigned char *file;
	size_t size;
	char err[512];

	fill(r, 3, 1);
	save(r);
	file = slurp(path, &size);
	file = realloc(file, size + 1);
	file[size] = 'x';
	cr_assert_eq(retainfile_load_buffer(back, file, size + 1, &rep, err, sizeof err), 0);
	cr_assert(rep.corrupt && rep.loaded == 3 && rep.bad_offset == size);
	free(file);
	retain_free(r);
	retain_free(back);
}

/* What the children of the kill test tell the parent. */
struct shared {
	volatile uint64_t done;  /* last generation saved completely */
	volatile uint64_t saves; /* saves completed, all children */
	volatile int in_save;    /* a save is running */
};

#define KILL_VALUES 200

/* Sets every value of r to generation g. */
static void
generation(struct retain *r, uint64_t g)
{
	for (int i = 0; i < KILL_VALUES; i++) {
		char t[32], p[128];
		int pl = snprintf(p, sizeof p, "gen=%llu value=%d %.*s", (unsigned long long)g, i,
		                  (int)(g % 64),
		                  "..............................................."
		                  "..................");
		int tl = snprintf(t, sizeof t, "k/%d", i);

		if (retain_set(r, t, (size_t)tl, p, (size_t)pl, NULL, 0) != RETAIN_OK)
			_exit(2);
	}
}

/* The child: saves generation after generation until it is killed. */
static void
saver(struct shared *sh)
{
	struct retain *r = retain_new();
	char err[512];

	for (uint64_t g = sh->done + 1;; g++) {
		generation(r, g);
		sh->in_save = 1;
		if (retainfile_save(r, path, err, sizeof err) < 0)
			_exit(3);
		sh->done = g;
		sh->in_save = 0;
		sh->saves++;
	}
}

/* The generation all values of the file are in; fails if they are not
 * all of one. */
static uint64_t
file_generation(uint64_t done)
{
	struct retain *back = retain_new(), *want = retain_new();
	struct retainfile_report rep;
	char err[512];
	unsigned long long g = 0;
	struct retain_value *v;
	const char *p;
	size_t len;

	cr_assert_eq(retainfile_load(back, path, &rep, err, sizeof err), 0, "%s", err);
	cr_assert(!rep.corrupt, "a torn file after a kill: %s", err);
	if (rep.missing) {
		cr_assert_eq(done, 0, "the file vanished");
		retain_free(back);
		retain_free(want);
		return 0;
	}
	cr_assert_eq(rep.loaded, KILL_VALUES);
	v = retain_get(back, "k/0", 3);
	cr_assert_not_null(v);
	p = retain_value_payload(v, &len);
	cr_assert_eq(sscanf(p, "gen=%llu", &g), 1);
	cr_assert(g == done || g == done + 1, "generation %llu in the file, %llu saved", g,
	          (unsigned long long)done);
	generation(want, g);
	assert_same(back, want);
	retain_free(back);
	retain_free(want);
	return g;
}

Test(retainfile, saves_killed_at_random_moments_leave_old_or_new, .timeout = 240)
{
	struct shared *sh =
	    mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned seed = (unsigned)time(NULL);
	size_t kills = 0, mid_save = 0;

	cr_assert_neq(sh, MAP_FAILED);
	memset((void *)sh, 0, sizeof *sh);
	while (kills < 1000 || sh->saves < 1000) {
		struct timespec ts = {0, (long)(rand_r(&seed) % 3000) * 1000};
		pid_t pid = fork();
		int status;

		cr_assert_geq(pid, 0);
		if (pid == 0)
			saver(sh);
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFSIGNALED(status), "the saver failed: exit %d", WEXITSTATUS(status));
		kills++;
		mid_save += sh->in_save;
		sh->done = file_generation(sh->done);
		sh->in_save = 0;
	}
	cr_log_info("%zu kills, %zu of them in a save, %llu saves", kills, mid_save,
	            (unsigned long long)sh->saves);
	fprintf(stderr, "kill test: %zu kills, %zu during a save, %llu saves completed\n", kills,
	        mid_save, (unsigned long long)sh->saves);
	cr_assert_gt(mid_save, 0, "no kill landed in a save");
	munmap((void *)sh, sizeof *sh);
}

/* Checks that a save of big over small failed, and left small's file. */
static void
assert_failed_save_kept_old(const struct retain *big, const struct retain *small, int want_errno)
{
	struct retain *back = retain_new();
	struct retainfile_report rep;
	char err[512], tmp[160];

	cr_assert_eq(retainfile_save(big, path, err, sizeof err), -1, "the save succeeded");
	cr_assert_eq(errno, want_errno, "errno %d (%s): %s", errno, strerror(errno), err);
	cr_assert(strstr(err, path) != NULL, "the message names the file: %s", err);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	cr_assert(!exists(tmp), "the temporary file is gone");
	cr_assert_eq(retainfile_load(back, path, &rep, err, sizeof err), 0, "%s", err);
	cr_assert(!rep.corrupt);
	assert_same(back, small);
	retain_free(back);
}

Test(retainfile, disk_full_on_a_small_tmpfs)
{
	struct retain *small = retain_new(), *big = retain_new();

	if (geteuid() != 0)
		cr_skip_test("mounting a 64k tmpfs needs root");
	if (mount("tmpfs", dir, "tmpfs", 0, "size=64k") < 0)
		cr_skip_test("cannot mount a tmpfs here: %s", strerror(errno));
	fill(small, 10, 2);
	fill(big, 2000, 2);
	save(small);
	assert_failed_save_kept_old(big, small, ENOSPC);
	umount(dir);
	retain_free(small);
	retain_free(big);
}

Test(retainfile, a_write_failing_midway_keeps_the_old_file)
{
	struct retain *small = retain_new(), *big = retain_new();
	struct rlimit old, lim = {100000, 100000};

	fill(small, 10, 4);
	fill(big, 5000, 4);
	save(small);
	/* Files may grow to 100000 bytes: the big save fails part way. */
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_failed_save_kept_old(big, small, EFBIG);
	setrlimit(RLIMIT_FSIZE, &old);
	retain_free(small);
	retain_free(big);
}

Test(retainfile, a_failed_rename_keeps_the_old_file)
{
	struct retain *r = retain_new();
	char err[512], tmp[160], inside[160];

	fill(r, 5, 6);
	/* path is a directory with something in it: rename(2) fails. */
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(inside, sizeof inside, "%s/x", path);
	spit(inside, "x", 1);
	cr_assert_eq(retainfile_save(r, path, err, sizeof err), -1);
	cr_assert(strstr(err, "rename") != NULL, "%s", err);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	cr_assert(!exists(tmp));
	cr_assert(exists(inside));
	retain_free(r);
}

Test(retainfile, no_directory)
{
	struct retain *r = retain_new();
	char err[512];

	snprintf(path, sizeof path, "%s/no/such/dir/retained.db", dir);
	cr_assert_eq(retainfile_save(r, path, err, sizeof err), -1);
	cr_assert_eq(errno, ENOENT);
	cr_assert(strstr(err, path) != NULL, "%s", err);
	retain_free(r);
}

Test(retainfile, unwritable_directory)
{
	struct retain *r = retain_new();
	char err[512];

	if (geteuid() == 0)
		cr_skip_test("root writes a directory of mode 0500 (disk_full covers root)");
	cr_assert_eq(chmod(dir, 0500), 0);
	cr_assert_eq(retainfile_save(r, path, err, sizeof err), -1);
	cr_assert_eq(errno, EACCES);
	chmod(dir, 0700);
	retain_free(r);
}

/* A leftover PATH.tmp, or a link planted there, is replaced, never
 * written through. */
Test(retainfile, links_at_the_temporary_name_are_not_followed)
{
	struct retain *r = retain_new(), *back = retain_new();
	struct retainfile_report rep;
	char err[512], tmp[160], victim[160];
	unsigned char *got;
	size_t len;

	fill(r, 5, 8);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	snprintf(victim, sizeof victim, "%s/victim", dir);
	spit(victim, "precious", 8);
	cr_assert_eq(symlink(victim, tmp), 0);
	save(r);
	got = slurp(victim, &len);
	cr_assert(len == 8 && memcmp(got, "precious", 8) == 0, "written through a symlink");
	free(got);
	cr_assert_eq(link(victim, tmp), 0);
	save(r);
	got = slurp(victim, &len);
	cr_assert(len == 8 && memcmp(got, "precious", 8) == 0, "written through a hard link");
	free(got);
	cr_assert(!exists(tmp));
	cr_assert_eq(retainfile_load(back, path, &rep, err, sizeof err), 0, "%s", err);
	assert_same(r, back);
	retain_free(r);
	retain_free(back);
}
