/*
 * Fuzz target: the config parser (src/daemon/config.c over inih), fed the
 * input as the bytes of a config file (a stream, so NUL bytes and invalid
 * UTF-8 reach the line reader as they would from a file).
 *
 * A failed load must leave the defaults and a one-line message naming the
 * file; a successful one, printed with config_print, must load again to the
 * same values and print the same text (the -t output is a valid config).
 * Leaks are found by LeakSanitizer at exit of each libFuzzer run.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

#define NAME "fuzz.conf"

/* Are two strings the same, NULL included? */
static bool
same_str(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* The first key whose value differs between a and b, or NULL. */
static const char *
differing_key(const struct config *a, const struct config *b)
{
	if (!same_str(a->socket, b->socket))
		return "socket";
	if (a->socket_mode != b->socket_mode)
		return "socket_mode";
	if (!same_str(a->socket_group, b->socket_group))
		return "socket_group";
	if (a->max_clients != b->max_clients)
		return "max_clients";
	if (a->max_line != b->max_line)
		return "max_line";
	if (a->max_topic != b->max_topic)
		return "max_topic";
	if (a->max_subscriptions != b->max_subscriptions)
		return "max_subscriptions";
	if (a->queue_limit != b->queue_limit)
		return "queue_limit";
	if (a->slow_consumer != b->slow_consumer)
		return "slow_consumer";
	if (a->max_clients_per_uid != b->max_clients_per_uid)
		return "max_clients_per_uid";
	if (a->max_retained != b->max_retained)
		return "max_retained";
	if (a->max_retained_bytes != b->max_retained_bytes)
		return "max_retained_bytes";
	if (a->sys_interval != b->sys_interval)
		return "sys_interval";
	if (a->log_level != b->log_level)
		return "level";
	if (!same_str(a->retain_file, b->retain_file))
		return "file";
	if (a->retain_sync != b->retain_sync)
		return "sync";
	if (a->access.default_allow != b->access.default_allow)
		return "default";
	if (!listenconf_equal(&a->listeners, &b->listeners))
		return "listener";
	if (!bridgeconf_same(&a->bridges, &b->bridges))
		return "bridge";
	if (a->access.nrules != b->access.nrules)
		return "rule (count)";
	for (size_t i = 0; i < a->access.nrules; i++) {
		const struct access_rule *x = &a->access.rules[i], *y = &b->access.rules[i];

		if (x->allow != y->allow || x->ops != y->ops || x->kind != y->kind ||
		    x->id != y->id || x->filter_len != y->filter_len ||
		    !same_str(x->listener, y->listener) ||
		    memcmp(x->filter, y->filter, x->filter_len) != 0 || !same_str(x->text, y->text))
			return "rule";
	}
	return NULL;
}

/* Loads size bytes of data as a file would be loaded. */
static int
load_bytes(struct config *cfg, const uint8_t *data, size_t size, char *err, size_t errlen)
{
	static const char empty[1];
	FILE *f = fmemopen(size ? (void *)data : (void *)empty, size ? size : 1, "r");
	int rc;

	FUZZ_CHECK(f != NULL, "fmemopen");
	if (size == 0)
		(void)getc(f); /* fmemopen wants a size of 1 or more: skip it */
	rc = config_load_stream(cfg, f, NAME, err, errlen);
	fclose(f);
	return rc;
}

/* config_print into a malloc'd string. */
static char *
print(const struct config *cfg, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	FUZZ_CHECK(f != NULL, "open_memstream");
	config_print(cfg, f);
	FUZZ_CHECK(fclose(f) == 0, "fclose");
	return text;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct config cfg = { 0 }, again = { 0 }, defaults;
	char err[512], tiny[8];

	FUZZ_CHECK(text != NULL, "out of memory");
	memcpy(text, data, size);
	text[size] = '\0';
	config_defaults(&defaults);

	memset(err, 'Z', sizeof err);
	if (load_bytes(&cfg, data, size, err, sizeof err) < 0) {
		FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL, "error not terminated");
		FUZZ_CHECK(strncmp(err, NAME ":", strlen(NAME) + 1) == 0,
		           "error does not name the file: %s", err);
		FUZZ_CHECK(strchr(err, '\n') == NULL, "error of more than one line: %s", err);
		FUZZ_CHECK(differing_key(&cfg, &defaults) == NULL,
		           "failed load did not leave the default %s",
		           differing_key(&cfg, &defaults));
		/* The same failure into a buffer too small for the message. */
		memset(tiny, 'Z', sizeof tiny);
		FUZZ_CHECK(load_bytes(&cfg, data, size, tiny, sizeof tiny) < 0,
		           "second load of the same text succeeded");
		FUZZ_CHECK(memchr(tiny, '\0', sizeof tiny) != NULL, "short error not terminated");
	} else {
		size_t len1, len2;
		char *out1 = print(&cfg, &len1), *out2;

		FUZZ_CHECK(memchr(data, '\0', size) == NULL, "a NUL byte was accepted");
		FUZZ_CHECK(config_load_string(&again, text, NAME, err, sizeof err) == 0,
		           "the text loads as a stream but not as a string: %s", err);
		FUZZ_CHECK(differing_key(&cfg, &again) == NULL, "string and stream differ: %s",
		           differing_key(&cfg, &again));
		config_free(&again);

		FUZZ_CHECK(config_load_string(&again, out1, NAME, err, sizeof err) == 0,
		           "printed config does not load: %s\n--- input\n%s\n--- printed\n%s", err,
		           text, out1);
		FUZZ_CHECK(differing_key(&cfg, &again) == NULL,
		           "printed config loads to another %s\n--- input\n%s\n--- printed\n%s",
		           differing_key(&cfg, &again), text, out1);
		out2 = print(&again, &len2);
		FUZZ_CHECK(len1 == len2 && memcmp(out1, out2, len1) == 0, "printing is not stable");
		free(out1);
		free(out2);
	}
	config_free(&cfg);
	config_free(&again);
	free(text);
	return 0;
}
