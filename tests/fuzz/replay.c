/*
 * The main() of a fuzz target in builds without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on every file named on the command line, or
 * found (not recursively) in a directory named there, so `meson test`
 * replays the seed corpus and every kept crash input under any compiler.
 * A broken invariant aborts; reading no input at all is a failure too, so a
 * wrong corpus path cannot pass silently.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Reads the whole file into a buffer of exactly its size, so that a read
 * past the end of the input is caught by ASan. Returns -1 on error. */
static int
read_file(const char *path, uint8_t **data, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			uint8_t *bigger;

			cap = cap ? cap * 2 : 4096;
			if ((bigger = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "%s: out of memory\n", path);
				goto fail;
			}
			buf = bigger;
		}
		len += fread(buf + len, 1, cap - len, f);
		if (len < cap)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "%s: read error\n", path);
		goto fail;
	}
	fclose(f);
	/* Shrink to fit; a zero-byte input still gets a valid pointer. */
	*data = malloc(len ? len : 1);
	if (*data == NULL) {
		free(buf);
		return -1;
	}
	if (len)
		memcpy(*data, buf, len);
	free(buf);
	*size = len;
	return 0;
fail:
	free(buf);
	fclose(f);
	return -1;
}

/* Runs the target on one file. */
static int
replay_file(const char *path)
{
	uint8_t *data;
	size_t size;

	if (read_file(path, &data, &size) < 0)
		return -1;
	/* Said before running, so a crash names its input. */
	fprintf(stderr, "replay %s (%zu bytes)\n", path, size);
	LLVMFuzzerTestOneInput(data, size);
	free(data);
	return 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs the target on every regular file of dir, in name order. Returns the
 * number of files, or -1. */
static int
replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int count = 0;

	if (d == NULL) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **bigger;

			cap = cap ? cap * 2 : 64;
			if ((bigger = realloc(names, cap * sizeof *names)) == NULL)
				break;
			names = bigger;
		}
		if ((names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2)) == NULL)
			break;
		sprintf(names[n], "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof *names, by_name);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (count >= 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
			count = replay_file(names[i]) < 0 ? -1 : count + 1;
		free(names[i]);
	}
	free(names);
	return count;
}

int
main(int argc, char **argv)
{
	int total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 64;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int n;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) < 0 ? -1 : 1;
		if (n < 0)
			return 1;
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "no input to replay\n");
		return 1;
	}
	printf("%d inputs replayed, no failure\n", total);
	return 0;
}
