/* The daemon's configuration (src/daemon/config.h): defaults, every key,
 * bad values with FILE:LINE: errors, files, and config_print round trips. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static struct config cfg;
static char err[512];

static void
setup(void)
{
	memset(&cfg, 0, sizeof cfg);
	err[0] = '\0';
}

static void
teardown(void)
{
	config_free(&cfg);
}

TestSuite(config, .init = setup, .fini = teardown);

/* Loads text as "test.conf"; returns the rc. */
static int
load(const char *text)
{
	err[0] = '\0';
	return config_load_string(&cfg, text, "test.conf", err, sizeof err);
}

static void
expect_defaults(const struct config *c)
{
	cr_expect_null(c->socket);
	cr_expect_eq(c->socket_mode, 0660);
	cr_expect_null(c->socket_group);
	cr_expect_eq(c->max_clients, 10000);
	cr_expect_eq(c->max_line, 65536);
	cr_expect_eq(c->max_topic, 256);
	cr_expect_eq(c->max_subscriptions, 1024);
	cr_expect_eq(c->queue_limit, 8u << 20);
	cr_expect_eq(c->slow_consumer, SLOW_CONSUMER_DROP);
	cr_expect_eq(c->log_level, LOG_LEVEL_INFO);
}

Test(config, defaults)
{
	config_defaults(&cfg);
	expect_defaults(&cfg);
}

Test(config, empty_file_is_defaults)
{
	cr_assert_eq(load(""), 0, "%s", err);
	expect_defaults(&cfg);
	cr_assert_eq(load("; only a comment\n\n[broker]\n\n[log]\n"), 0, "%s", err);
	expect_defaults(&cfg);
}

Test(config, every_key)
{
	cr_assert_eq(load("[broker]\n"
	                  "socket = /tmp/x.sock\n"
	                  "socket_mode = 0600\n"
	                  "socket_group = root\n"
	                  "max_clients = 7\n"
	                  "max_line = 2048\n"
	                  "max_topic = 100\n"
	                  "max_subscriptions = 3\n"
	                  "queue_limit = 65536\n"
	                  "slow_consumer = disconnect\n"
	                  "[log]\n"
	                  "level = debug\n"),
	             0, "%s", err);
	cr_expect_str_eq(cfg.socket, "/tmp/x.sock");
	cr_expect_eq(cfg.socket_mode, 0600);
	cr_expect_str_eq(cfg.socket_group, "root");
	cr_expect_eq(cfg.max_clients, 7);
	cr_expect_eq(cfg.max_line, 2048);
	cr_expect_eq(cfg.max_topic, 100);
	cr_expect_eq(cfg.max_subscriptions, 3);
	cr_expect_eq(cfg.queue_limit, 65536);
	cr_expect_eq(cfg.slow_consumer, SLOW_CONSUMER_DISCONNECT);
	cr_expect_eq(cfg.log_level, LOG_LEVEL_DEBUG);
}

/* The example of the SPEC, inline comments and all, is a valid file. */
Test(config, spec_example)
{
	cr_assert_eq(load("[broker]\n"
	                  "socket = /run/udsbroker.sock\n"
	                  "socket_mode = 0660          ; octal permissions of the socket file\n"
	                  "socket_group =              ; optional group name that owns the socket\n"
	                  "max_clients = 10000\n"
	                  "max_line = 65536            ; bytes; K/M suffixes accepted\n"
	                  "max_topic = 256\n"
	                  "max_subscriptions = 1024    ; per client\n"
	                  "queue_limit = 8M            ; per-client pending output\n"
	                  "slow_consumer = drop        ; drop | disconnect\n"
	                  "\n"
	                  "[log]\n"
	                  "level = info                ; error | warn | info | debug\n"),
	             0, "%s", err);
	cr_expect_str_eq(cfg.socket, "/run/udsbroker.sock");
	cr_expect_null(cfg.socket_group, "an empty socket_group is no group");
	cr_expect_eq(cfg.socket_mode, 0660);
	cr_expect_eq(cfg.max_line, 65536);
	cr_expect_eq(cfg.queue_limit, 8u << 20);
	cr_expect_eq(cfg.slow_consumer, SLOW_CONSUMER_DROP);
	cr_expect_eq(cfg.log_level, LOG_LEVEL_INFO);
}

Test(config, log_levels)
{
	static const struct {
		const char *name;
		enum log_level level;
	} levels[] = { { "error", LOG_LEVEL_ERROR },
		       { "warn", LOG_LEVEL_WARN },
		       { "info", LOG_LEVEL_INFO },
		       { "debug", LOG_LEVEL_DEBUG } };
	char text[128];

	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		snprintf(text, sizeof text, "[log]\nlevel = %s\n", levels[i].name);
		cr_assert_eq(load(text), 0, "%s: %s", levels[i].name, err);
		cr_expect_eq(cfg.log_level, levels[i].level, "%s", levels[i].name);
	}
}

Test(config, size_suffixes)
{
	static const struct {
		const char *s;
		int rc;
		size_t v;
	} cases[] = {
		{ "0", 0, 0 },
		{ "1", 0, 1 },
		{ "1024", 0, 1024 },
		{ "64K", 0, 65536 },
		{ "1K", 0, 1024 },
		{ "8M", 0, 8u << 20 },
		{ "1M", 0, 1u << 20 },
		{ "", -1, 0 },
		{ "K", -1, 0 },
		{ "M", -1, 0 },
		{ "12X", -1, 0 },
		{ "12KB", -1, 0 },
		{ "1.5K", -1, 0 },
		{ "-1", -1, 0 },
		{ "-1K", -1, 0 },
		{ "+1", -1, 0 },
		{ " 1", -1, 0 },
		{ "1 K", -1, 0 },
		{ "0x10", -1, 0 },
		{ "abc", -1, 0 },
		{ "99999999999999999999", -1, 0 },
		{ "18446744073709551615M", -1, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t v = 12345;
		int rc = config_parse_size(cases[i].s, &v);

		cr_expect_eq(rc, cases[i].rc, "\"%s\": rc %d", cases[i].s, rc);
		if (rc == 0 && cases[i].rc == 0)
			cr_expect_eq(v, cases[i].v, "\"%s\": %zu", cases[i].s, v);
	}
}

/* Sizes in the file take the suffixes too. */
Test(config, suffixes_in_file)
{
	cr_assert_eq(load("[broker]\nmax_line = 4K\nqueue_limit = 2M\n"), 0, "%s", err);
	cr_expect_eq(cfg.max_line, 4096);
	cr_expect_eq(cfg.queue_limit, 2u << 20);
}

/* A queue_limit below max_line is refused at the later of their lines,
 * also when one of them is the default. */
Test(config, queue_limit_below_max_line_names_a_line)
{
	cr_assert_eq(load("[broker]\nqueue_limit = 4K\n\nmax_line = 8K\n"), -1);
	cr_expect_str_eq(err, "test.conf:4: queue_limit (4096 bytes) must be at least max_line "
	                      "(8192)");
	cr_assert_eq(load("[broker]\nmax_line = 8K\nqueue_limit = 4K\n"), -1);
	cr_expect(strncmp(err, "test.conf:3: ", 13) == 0, "%s", err);
	cr_assert_eq(load("[log]\nlevel = info\n[broker]\nmax_line = 16M\n"), -1);
	cr_expect(strncmp(err, "test.conf:4: queue_limit (8388608 bytes)", 40) == 0, "%s", err);
}

Test(config, socket_mode_is_octal)
{
	static const struct {
		const char *s;
		mode_t mode;
	} ok[] = { { "0600", 0600 }, { "600", 0600 },  { "0666", 0666 },
		   { "0", 0 },       { "0777", 0777 }, { "0640", 0640 } };
	char text[128];

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		snprintf(text, sizeof text, "[broker]\nsocket_mode = %s\n", ok[i].s);
		cr_assert_eq(load(text), 0, "%s: %s", ok[i].s, err);
		cr_expect_eq(cfg.socket_mode, ok[i].mode, "%s: %o", ok[i].s,
		             (unsigned)cfg.socket_mode);
	}
}

/* Bad values: an error naming the file and the line of the key. */
Test(config, bad_values)
{
	static const char *const bad[] = {
		"socket_mode = 0999",
		"socket_mode = 01000",
		"socket_mode = rw-rw----",
		"socket_mode = -1",
		"socket_mode =",
		"max_clients = abc",
		"max_clients = -5",
		"max_clients = 12abc",
		"max_clients = 99999999999999999999",
		"max_line = banana",
		"max_line = 10Q",
		"max_topic = x",
		"max_subscriptions = 1.5",
		"queue_limit = lots",
		"slow_consumer = maybe",
		"slow_consumer = DROPS",
		"slow_consumer =",
	};
	char text[256], want[64];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		/* The bad key on line 4, after a comment and a good key. */
		snprintf(text, sizeof text,
		         "; comment\n[broker]\nmax_clients = 5\n%s\nmax_topic = 10\n", bad[i]);
		if (strncmp(bad[i], "max_clients", 11) == 0)
			snprintf(text, sizeof text, "; comment\n[broker]\nmax_topic = 10\n%s\n",
			         bad[i]);
		cr_expect_eq(load(text), -1, "\"%s\" accepted", bad[i]);
		snprintf(want, sizeof want, "test.conf:4:");
		cr_expect(strstr(err, want) != NULL, "\"%s\": error \"%s\" lacks \"%s\"", bad[i],
		          err, want);
		/* On failure the config holds the defaults. */
		cr_expect_eq(cfg.max_topic, 256, "\"%s\": a failed load left max_topic %zu", bad[i],
		             cfg.max_topic);
		cr_expect_eq(cfg.max_clients, 10000);
	}
	cr_expect_eq(load("[log]\nlevel = loud\n"), -1);
	cr_expect(strstr(err, "test.conf:2:") != NULL, "%s", err);
}

Test(config, unknown_key)
{
	cr_expect_eq(load("[broker]\nmax_line = 1024\n\n; c\nmax_lines = 5\n"), -1);
	cr_expect(strstr(err, "test.conf:5:") != NULL, "%s", err);
	cr_expect(strstr(err, "max_lines") != NULL, "the message names the key: %s", err);
	cr_expect_eq(load("[log]\nlevel = info\nfile = /x\n"), -1);
	cr_expect(strstr(err, "test.conf:3:") != NULL, "%s", err);
	/* A broker key in the wrong section is unknown there. */
	cr_expect_eq(load("[log]\nmax_line = 1024\n"), -1);
	cr_expect(strstr(err, "test.conf:2:") != NULL, "%s", err);
}

Test(config, unknown_section)
{
	cr_expect_eq(load("[broker]\nmax_line = 1024\n[bogus]\nx = 1\n"), -1);
	cr_expect(strstr(err, "test.conf:3:") != NULL, "%s", err);
	cr_expect(strstr(err, "bogus") != NULL, "the message names the section: %s", err);
	/* Even with no key in it. */
	cr_expect_eq(load("[broker]\n[nope]\n"), -1);
	cr_expect(strstr(err, "test.conf:2:") != NULL, "%s", err);
}

Test(config, key_outside_section)
{
	cr_expect_eq(load("max_line = 1024\n[broker]\n"), -1);
	cr_expect(strstr(err, "test.conf:1:") != NULL, "%s", err);
	cr_expect_eq(load("\n; c\nqueue_limit = 1M\n"), -1);
	cr_expect(strstr(err, "test.conf:3:") != NULL, "%s", err);
}

Test(config, syntax_errors)
{
	cr_expect_eq(load("[broker]\nmax_line = 1024\n[broken\n"), -1);
	cr_expect(strstr(err, "test.conf:3:") != NULL, "%s", err);
	cr_expect_eq(load("[broker]\nthis is not a key\n"), -1);
	cr_expect(strstr(err, "test.conf:2:") != NULL, "%s", err);
}

/* The first error is the one reported. */
Test(config, first_error_wins)
{
	cr_expect_eq(load("[broker]\nmax_line = x\nmax_topic = y\n"), -1);
	cr_expect(strstr(err, "test.conf:2:") != NULL, "%s", err);
	cr_expect(strstr(err, "test.conf:3:") == NULL, "%s", err);
}

Test(config, duplicate_key)
{
	cr_expect_eq(load("[broker]\nmax_line = 1024\nmax_line = 2048\n"), -1);
	cr_expect(strstr(err, "test.conf:3:") != NULL, "%s", err);
}

/* A failed load over a loaded config leaves defaults, not a mix. */
Test(config, failure_resets)
{
	cr_assert_eq(load("[broker]\nmax_clients = 9\nsocket = /x\n"), 0, "%s", err);
	cr_expect_eq(load("[broker]\nsocket = /y\nmax_clients = 4\nmax_line = x\n"), -1);
	expect_defaults(&cfg);
}

Test(config, keys_table)
{
	static const char *const want[][2] = {
		{ "broker", "socket" },
		{ "broker", "socket_mode" },
		{ "broker", "socket_group" },
		{ "broker", "max_clients" },
		{ "broker", "max_line" },
		{ "broker", "max_topic" },
		{ "broker", "max_subscriptions" },
		{ "broker", "queue_limit" },
		{ "broker", "slow_consumer" },
		{ "log", "level" },
	};
	const char *section, *name;
	size_t n = 0;

	while (config_key(n, &section, &name))
		n++;
	cr_expect_geq(n, sizeof want / sizeof want[0]);
	for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
		bool found = false;

		for (size_t i = 0; i < n; i++) {
			config_key(i, &section, &name);
			found |= strcmp(section, want[w][0]) == 0 && strcmp(name, want[w][1]) == 0;
		}
		cr_expect(found, "key [%s] %s missing from config_key()", want[w][0], want[w][1]);
	}
	cr_expect_not(config_key(n, &section, &name));
	cr_expect_not(config_key(n + 100, &section, &name));
}

/* Writes cfg with config_print and reads it back into out. */
static void
reparse(const struct config *in, struct config *out)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	char e[512] = "";

	cr_assert_not_null(f);
	config_print(in, f);
	cr_assert_eq(fclose(f), 0);
	memset(out, 0, sizeof *out);
	cr_assert_eq(config_load_string(out, text, "printed", e, sizeof e), 0,
	             "config_print wrote a file that does not load: %s\n%s", e, text);
	free(text);
}

static void
expect_same(const struct config *a, const struct config *b)
{
	cr_expect((a->socket == NULL && b->socket == NULL) ||
	          (a->socket && b->socket && strcmp(a->socket, b->socket) == 0));
	cr_expect_eq(a->socket_mode, b->socket_mode);
	cr_expect(
	    (a->socket_group == NULL && b->socket_group == NULL) ||
	    (a->socket_group && b->socket_group && strcmp(a->socket_group, b->socket_group) == 0));
	cr_expect_eq(a->max_clients, b->max_clients);
	cr_expect_eq(a->max_line, b->max_line);
	cr_expect_eq(a->max_topic, b->max_topic);
	cr_expect_eq(a->max_subscriptions, b->max_subscriptions);
	cr_expect_eq(a->queue_limit, b->queue_limit);
	cr_expect_eq(a->slow_consumer, b->slow_consumer);
	cr_expect_eq(a->log_level, b->log_level);
}

Test(config, print_round_trip_defaults)
{
	struct config back;

	config_defaults(&cfg);
	reparse(&cfg, &back);
	expect_same(&cfg, &back);
	config_free(&back);
}

Test(config, print_round_trip_values)
{
	static const char *const texts[] = {
		"[broker]\nsocket = /tmp/a b.sock\nsocket_mode = 0604\nsocket_group = root\n"
		"max_clients = 12\nmax_line = 1000\nmax_topic = 17\nmax_subscriptions = 99\n"
		"queue_limit = 3M\nslow_consumer = disconnect\n[log]\nlevel = warn\n",
		"[broker]\nmax_line = 5K\nqueue_limit = 100001\n[log]\nlevel = error\n",
		"[broker]\nsocket_mode = 0\nmax_line = 1M\nqueue_limit = 1025K\n",
	};

	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct config back;

		cr_assert_eq(load(texts[i]), 0, "text %zu: %s", i, err);
		reparse(&cfg, &back);
		expect_same(&cfg, &back);
		config_free(&back);
	}
}

/* A rule given on a continuation line may hold " ;", which a "rule = "
 * line would cut as a comment: -t prints it on a continuation line too, and
 * it reads back whole (found by fuzz-config). */
Test(config, print_round_trip_rule_with_semicolon)
{
	static const char *const texts[] = {
		"[access]\nrule = allow pub a/# *\n allow all ;SYS/# gid=0\nrule = deny sub b *\n",
		"[access]\nrule =\n allow all ;a gid=0\n\tdeny sub\t;y *\n",
	};

	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct config back;

		cr_assert_eq(load(texts[i]), 0, "text %zu: %s", i, err);
		reparse(&cfg, &back);
		cr_assert_eq(back.access.nrules, cfg.access.nrules, "text %zu", i);
		for (size_t r = 0; r < cfg.access.nrules; r++)
			cr_expect_str_eq(back.access.rules[r].text, cfg.access.rules[r].text,
			                 "text %zu rule %zu", i, r);
		config_free(&back);
	}
}

/* Files: the same rules, the path in messages, and missing files. */
static char dir[64];

static void
file_setup(void)
{
	setup();
	snprintf(dir, sizeof dir, "/tmp/udsb-conf-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void
file_teardown(void)
{
	char path[128];

	teardown();
	snprintf(path, sizeof path, "%s/c.conf", dir);
	unlink(path);
	rmdir(dir);
}

static const char *
write_conf(const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof path, "%s/c.conf", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
	return path;
}

Test(config_file, loads, .init = file_setup, .fini = file_teardown)
{
	const char *path = write_conf("[broker]\nmax_line = 2K\r\nslow_consumer = disconnect\n");

	cr_assert_eq(config_load(&cfg, path, false, err, sizeof err), 0, "%s", err);
	cr_expect_eq(cfg.max_line, 2048);
	cr_expect_eq(cfg.slow_consumer, SLOW_CONSUMER_DISCONNECT);
}

Test(config_file, error_names_path_and_line, .init = file_setup, .fini = file_teardown)
{
	const char *path = write_conf("[broker]\n\n\n\n\n\n\nmax_line = nope\n");
	char want[160];

	cr_assert_eq(config_load(&cfg, path, false, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:8:", path);
	cr_expect(strncmp(err, want, strlen(want)) == 0, "\"%s\" does not start with \"%s\"", err,
	          want);
	expect_defaults(&cfg);
}

Test(config_file, missing, .init = file_setup, .fini = file_teardown)
{
	char path[128];

	snprintf(path, sizeof path, "%s/absent.conf", dir);
	cr_expect_eq(config_load(&cfg, path, false, err, sizeof err), -1);
	cr_expect(strstr(err, path) != NULL, "%s", err);
	cr_expect(strstr(err, strerror(ENOENT)) != NULL, "%s", err);
	err[0] = '\0';
	cr_expect_eq(config_load(&cfg, path, true, err, sizeof err), 0, "%s", err);
	expect_defaults(&cfg);
}

/* missing_ok is about a missing file only, not an unreadable one. */
Test(config_file, directory_is_not_missing, .init = file_setup, .fini = file_teardown)
{
	int rc = config_load(&cfg, dir, true, err, sizeof err);

	/* A directory is not a regular file: an error, not "missing". */
	cr_expect_eq(rc, -1, "loading a directory succeeded");
	cr_expect(strstr(err, dir) != NULL, "%s", err);
}

Test(config_file, reload_replaces, .init = file_setup, .fini = file_teardown)
{
	const char *path = write_conf("[broker]\nsocket = /a.sock\nmax_clients = 3\n");

	cr_assert_eq(config_load(&cfg, path, false, err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(cfg.socket, "/a.sock");
	path = write_conf("[broker]\nmax_topic = 20\n");
	cr_assert_eq(config_load(&cfg, path, false, err, sizeof err), 0, "%s", err);
	cr_expect_null(cfg.socket, "keys absent from the new file are back to defaults");
	cr_expect_eq(cfg.max_clients, 10000);
	cr_expect_eq(cfg.max_topic, 20);
}

/* Every key has a one-line doc in the table, and nothing past the last. */
Test(config, every_key_has_a_doc)
{
	const char *section, *name, *doc;
	size_t n;

	for (n = 0; config_key(n, &section, &name); n++) {
		doc = config_key_doc(n);
		cr_assert_not_null(doc, "[%s] %s has no doc", section, name);
		cr_expect_gt(strlen(doc), 0, "[%s] %s has an empty doc", section, name);
		cr_expect_null(strchr(doc, '\n'), "[%s] %s: doc of more than one line", section,
		               name);
	}
	cr_expect_null(config_key_doc(n));
}

/* Issue 11.4: a config file must be text. A NUL byte, which inih would
 * take for the end of the line, and invalid UTF-8 are errors naming the
 * line, in a file as in a string. */
Test(config, nul_byte_names_the_line)
{
	static const char text[] = "[broker]\nmax_clients = 5\n\nmax_line = 4K\0 and more\n";
	FILE *f = fmemopen((void *)text, sizeof text - 1, "r");

	cr_assert_not_null(f);
	cr_expect_eq(config_load_stream(&cfg, f, "test.conf", err, sizeof err), -1,
	             "a NUL byte was accepted");
	fclose(f);
	cr_expect(strstr(err, "test.conf:4: a NUL byte at column 14") != NULL, "%s", err);
	expect_defaults(&cfg);
}

Test(config, invalid_utf8_names_the_line)
{
	static const char *const bad[] = {
		"\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82(",
	};
	char text[128];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "[broker]\n; caf\xc3\xa9\nmax_clients = 5\n; x%s\n",
		         bad[i]);
		cr_expect_eq(load(text), -1, "case %zu accepted", i);
		cr_expect(strstr(err, "test.conf:4: invalid UTF-8") != NULL, "case %zu: %s", i,
		          err);
		snprintf(text, sizeof text, "[access]\nrule = allow pub a/%s *\n", bad[i]);
		cr_expect_eq(load(text), -1, "rule case %zu accepted", i);
		cr_expect(strstr(err, "test.conf:2:") != NULL, "rule case %zu: %s", i, err);
	}
	/* Well-formed UTF-8, a byte order mark first, is fine. */
	cr_expect_eq(load("\xef\xbb\xbf[broker]\n; \xe2\x82\xac \xf0\x9f\x98\x80\n"), 0, "%s", err);
}

/* The longest line is the parser's limit exactly; one byte more is an
 * error naming it, never a line cut in two or taken whole. */
Test(config, line_limit_is_exact)
{
	char text[1024], want[64];
	size_t max = 0;

	/* Find the limit from the message of a line far too long. */
	memset(text, 0, sizeof text);
	memcpy(text, "[broker]\n;", 10);
	memset(text + 10, 'x', 600);
	text[610] = '\n';
	cr_assert_eq(load(text), -1, "a line of 601 bytes was accepted");
	cr_assert_eq(sscanf(err, "test.conf:2: line longer than %zu bytes", &max), 1, "%s", err);
	cr_assert_gt(max, 100);
	for (size_t len = max - 1; len <= max + 2; len++) {
		memset(text, 0, sizeof text);
		memcpy(text, "[broker]\n;", 10);
		memset(text + 10, 'x', len - 1);
		strcat(text, "\nmax_clients = 7\n");
		if (len <= max) {
			cr_expect_eq(load(text), 0, "a line of %zu bytes: %s", len, err);
			cr_expect_eq(cfg.max_clients, 7);
		} else {
			cr_expect_eq(load(text), -1, "a line of %zu bytes, limit %zu, accepted",
			             len, max);
			snprintf(want, sizeof want, "test.conf:2: line longer than %zu bytes", max);
			cr_expect(strstr(err, want) != NULL, "%s", err);
		}
	}
	/* The same at the end of the file, without a newline. */
	memset(text, 0, sizeof text);
	memcpy(text, "[broker]\n;", 10);
	memset(text + 10, 'x', max);
	cr_expect_eq(load(text), -1, "a last line of %zu bytes accepted", max + 1);
	/* A value that long is never cut into a shorter one. */
	memset(text, 0, sizeof text);
	memcpy(text, "[broker]\nsocket = /", 19);
	memset(text + 19, 's', max + 5 - 19);
	cr_expect_eq(load(text), -1, "an over-long socket line accepted");
	cr_expect_null(cfg.socket);
}

/* socket_group must name a group at load, so -t and SIGHUP see it as
 * start-up does. */
Test(config, socket_group_is_resolved)
{
	cr_expect_eq(load("[broker]\n\nsocket_group = udsb-no-such-group-11\n"), -1);
	cr_expect(strstr(err, "test.conf:3: socket_group: no group named "
	                      "'udsb-no-such-group-11'") != NULL,
	          "%s", err);
	cr_expect_eq(load("[broker]\nsocket_group = root\n"), 0, "%s", err);
	cr_expect_str_eq(cfg.socket_group, "root");
	cr_expect_eq(load("[broker]\nsocket_group =\n"), 0, "%s", err);
	cr_expect_null(cfg.socket_group);
}

/* A listener's socket_group is resolved at load too, as [broker]'s is. */
Test(config, listener_socket_group_is_resolved)
{
	cr_expect_eq(load("[listener a]\nsocket = /run/a.sock\n"
	                  "socket_group = udsb-no-such-group-11\n"),
	             -1);
	cr_expect(strstr(err, "test.conf:3: no group named 'udsb-no-such-group-11'") != NULL, "%s",
	          err);
	cr_expect_eq(load("[listener a]\nsocket = /run/a.sock\nsocket_group = root\n"), 0, "%s",
	             err);
	cr_assert_eq(cfg.listeners.n, 1);
	cr_expect_str_eq(cfg.listeners.v[0].socket_group, "root");
	cr_expect_eq(load("[listener a]\nsocket = /run/a.sock\nsocket_group =\n"), 0, "%s", err);
	cr_assert_eq(cfg.listeners.n, 1);
	cr_expect_null(cfg.listeners.v[0].socket_group);
}

/* Only a regular file is read: a FIFO (which open() would wait on for a
 * writer), a device or a directory is an error at once. */
Test(config_file, fifo_device_directory, .init = file_setup, .fini = file_teardown, .timeout = 10)
{
	char fifo[128];
	const char *paths[3];

	snprintf(fifo, sizeof fifo, "%s/c.conf", dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	paths[0] = fifo;
	paths[1] = "/dev/null";
	paths[2] = dir;
	for (size_t i = 0; i < 3; i++) {
		err[0] = '\0';
		cr_expect_eq(config_load(&cfg, paths[i], true, err, sizeof err), -1, "%s accepted",
		             paths[i]);
		cr_expect(strstr(err, "not a regular file") != NULL, "%s: %s", paths[i], err);
		cr_expect(strncmp(err, paths[i], strlen(paths[i])) == 0, "%s", err);
		expect_defaults(&cfg);
	}
	cr_expect(strstr(err, "a directory") != NULL, "%s", err);
}

/* [listener NAME] sections: each key parsed, the address understood, the
 * defaults filled in, and -t's printing read back to the same listeners. */
Test(config, listener_sections)
{
	struct config again = { 0 };
	const struct listener_conf *l;
	char *text = NULL;
	size_t len;
	FILE *f;

	cr_assert_eq(load("[listener logs]\nsocket = /run/l.sock\nmode = lines\n"
	                  "topic = logs/app\nsocket_mode = 0600\n"
	                  "[listener v6]\ntcp = [::1]:7070\n"
	                  "[listener lan]\ntcp = 192.168.1.2:80\nallow_remote = yes\n"
	                  "[listener lo]\ntcp = localhost:9\nmode = protocol\n"),
	             0, "%s", err);
	cr_assert_eq(cfg.listeners.n, 4);
	l = listenconf_find(&cfg.listeners, "logs");
	cr_assert_not_null(l);
	cr_expect_str_eq(l->socket, "/run/l.sock");
	cr_expect_eq(l->mode, LISTEN_LINES);
	cr_expect_str_eq(l->topic, "logs/app");
	cr_expect_eq(l->socket_mode, 0600);
	cr_expect_eq(l->line, 1);
	l = listenconf_find(&cfg.listeners, "v6");
	cr_expect(l->loopback && l->addr.ss_family == AF_INET6 && l->mode == LISTEN_PROTOCOL);
	l = listenconf_find(&cfg.listeners, "lan");
	cr_expect(!l->loopback && l->allow_remote);
	l = listenconf_find(&cfg.listeners, "lo");
	cr_expect(l->loopback && l->addr.ss_family == AF_INET);
	cr_expect_null(listenconf_find(&cfg.listeners, "main"));

	cr_assert_not_null(f = open_memstream(&text, &len));
	config_print(&cfg, f);
	fclose(f);
	cr_assert_eq(config_load_string(&again, text, "printed.conf", err, sizeof err), 0,
	             "%s\n%s", err, text);
	cr_expect(listenconf_equal(&cfg.listeners, &again.listeners), "printed:\n%s", text);
	free(text);
	config_free(&again);
}

/* The loopback rule: 127.0.0.0/8, ::1 and ::ffff:127.x are local; any
 * other address needs allow_remote, named at the tcp line. */
Test(config, listener_remote_needs_allow_remote)
{
	static const char *const local[] = { "127.0.0.1:1", "127.9.8.7:65535", "[::1]:2",
		                             "[::ffff:127.0.0.1]:3", "localhost:4" };
	static const char *const remote[] = { "0.0.0.0:1", "10.0.0.1:2", "[::]:3",
		                              "[::ffff:10.0.0.1]:4", "128.0.0.1:5" };
	char text[256];

	for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
		snprintf(text, sizeof text, "[listener a]\ntcp = %s\n", local[i]);
		cr_expect_eq(load(text), 0, "%s: %s", local[i], err);
	}
	for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++) {
		snprintf(text, sizeof text, "[listener a]\nmode = protocol\ntcp = %s\n", remote[i]);
		cr_expect_eq(load(text), -1, "%s was accepted", remote[i]);
		cr_expect(strncmp(err, "test.conf:3: tcp: ", 18) == 0, "%s: %s", remote[i], err);
		snprintf(text, sizeof text, "[listener a]\ntcp = %s\nallow_remote = yes\n", remote[i]);
		cr_expect_eq(load(text), 0, "%s with allow_remote: %s", remote[i], err);
	}
}

/* Every key of a listener section has a doc line. */
Test(config, listener_keys_have_docs)
{
	const char *name, *doc;
	size_t i;

	for (i = 0; listenconf_key_name(i, &name, &doc); i++)
		cr_expect(doc != NULL && doc[0] != '\0', "%s has no doc", name);
	cr_expect_eq(i, 7);
}

/* Every key of a bridge section has a doc line too; password, there only
 * to be refused, is not listed. */
Test(config, bridge_keys_have_docs)
{
	const char *name, *doc;
	size_t i;

	for (i = 0; bridgeconf_key_name(i, &name, &doc); i++) {
		cr_expect(doc != NULL && doc[0] != '\0', "%s has no doc", name);
		cr_expect_neq(strcmp(name, "password"), 0);
	}
	cr_expect_eq(i, 14);
}
