/*
 * Every key the config parser knows (config_key) is set in the shipped
 * conf/udsbrokerd.conf and documented in udsbrokerd.conf(5), each in its own
 * section; and neither file has a key the parser does not know. The keys of
 * [listener NAME] sections (listenconf_key_name) are documented in the page
 * under a heading naming "[listener NAME]"; the example only shows them in
 * comments, since a section there would open a listener. The keys of a
 * [bridge NAME] section (bridgeconf_key_name) are documented under the
 * page's "[bridge NAME]" heading and shown, commented out (the shipped
 * file starts no bridge), as ";KEY =" lines in the example config.
 *
 * Usage: conf_keys CONF PAGE-SOURCE
 * In the page, a section is a ".Ss" line naming "[section]" and a key is an
 * ".It Ic key" line below it. Prints one line per check; exits 1 on failure.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define MAX_ENTRIES 256

struct entry {
	char section[64];
	char name[64];
};

struct entries {
	struct entry e[MAX_ENTRIES];
	size_t n;
};

static int failures;

/* Reports a failed check. */
static void __attribute__((format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	fputs("FAIL: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	failures++;
}

/* Copies the bytes of s up to the first of stop (or the end), trimmed of
 * blanks, into out. */
static void
copy_token(char *out, size_t size, const char *s, const char *stop)
{
	size_t len;

	s += strspn(s, " \t");
	len = strcspn(s, stop);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n'))
		len--;
	if (len >= size)
		len = size - 1;
	memcpy(out, s, len);
	out[len] = '\0';
}

/* Appends (section, name) to list. */
static void
add(struct entries *list, const char *section, const char *name)
{
	if (list->n == MAX_ENTRIES) {
		fail("more than %d keys: raise MAX_ENTRIES", MAX_ENTRIES);
		return;
	}
	snprintf(list->e[list->n].section, sizeof list->e[0].section, "%s", section);
	snprintf(list->e[list->n].name, sizeof list->e[0].name, "%s", name);
	list->n++;
}

/* True if list holds (section, name). */
static bool
has(const struct entries *list, const char *section, const char *name)
{
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->e[i].section, section) == 0 && strcmp(list->e[i].name, name) == 0)
			return true;
	return false;
}

#define LISTENER_SECTION "listener NAME"
#define BRIDGE_SECTION   "bridge NAME"

/* Is section a [bridge NAME] one? */
static bool
is_bridge(const char *section)
{
	return strncmp(section, "bridge ", 7) == 0;
}

/* True if the parser knows (section, name). */
static bool
known(const char *section, const char *name)
{
	const char *s, *n;

	if (strcmp(section, LISTENER_SECTION) == 0) {
		for (size_t i = 0; listenconf_key_name(i, &n, &s); i++)
			if (strcmp(n, name) == 0)
				return true;
		return false;
	}
	if (is_bridge(section)) {
		for (size_t i = 0; bridgeconf_key_name(i, &n, &s); i++)
			if (strcmp(n, name) == 0)
				return true;
		return false;
	}
	for (size_t i = 0; config_key(i, &s, &n); i++)
		if (strcmp(s, section) == 0 && strcmp(n, name) == 0)
			return true;
	return false;
}

/* Reads the keys set in an INI file: "key = value" lines, not comments. */
static int
read_conf(const char *path, struct entries *list)
{
	char line[1024], section[64] = "", name[64];
	FILE *fp = fopen(path, "r");

	if (fp == NULL) {
		perror(path);
		return -1;
	}
	while (fgets(line, sizeof line, fp) != NULL) {
		const char *p = line + strspn(line, " \t");

		if (*p == ';' || *p == '#' || *p == '\n' || *p == '\0')
			continue;
		if (*p == '[')
			copy_token(section, sizeof section, p + 1, "]");
		else if (strchr(p, '=') != NULL) {
			copy_token(name, sizeof name, p, "=");
			add(list, section, name);
		}
	}
	fclose(fp);
	return 0;
}

/* Reads the keys documented in an mdoc page: ".It Ic key" under a ".Ss"
 * heading that names "[section]". */
static int
read_page(const char *path, struct entries *list)
{
	char line[1024], section[64] = "", name[64];
	FILE *fp = fopen(path, "r");

	if (fp == NULL) {
		perror(path);
		return -1;
	}
	while (fgets(line, sizeof line, fp) != NULL) {
		const char *bracket;

		if (strncmp(line, ".Sh ", 4) == 0)
			section[0] = '\0';
		else if (strncmp(line, ".Ss ", 4) == 0) {
			if ((bracket = strchr(line, '[')) != NULL)
				copy_token(section, sizeof section, bracket + 1, "]");
			else
				section[0] = '\0';
		} else if (section[0] != '\0' && strncmp(line, ".It Ic ", 7) == 0) {
			copy_token(name, sizeof name, line + 7, " \t\n");
			add(list, section, name);
		}
	}
	fclose(fp);
	return 0;
}

/* Checks that list (what, at path) has (section, name). */
static void
expect(const struct entries *list, const char *section, const char *name, const char *what,
       const char *path)
{
	if (has(list, section, name))
		printf("ok: [%s] %s is in %s\n", section, name, what);
	else
		fail("[%s] %s is missing from %s (%s)", section, name, what, path);
}

/* Checks that list holds exactly the parser's keys of the fixed sections,
 * and no key the parser does not know. */
static void
compare(const char *what, const char *path, const struct entries *list)
{
	const char *section, *name;

	for (size_t i = 0; config_key(i, &section, &name); i++)
		expect(list, section, name, what, path);
	for (size_t i = 0; i < list->n; i++)
		if (!known(list->e[i].section, list->e[i].name))
			fail("%s (%s) has [%s] %s, which the config parser does not know", what,
			     path, list->e[i].section, list->e[i].name);
}

/* The example config shows each [bridge NAME] key as a ";KEY =" line. */
static void
check_bridge_example(const char *path)
{
	char line[1024];
	const char *name, *doc;
	FILE *fp;

	for (size_t i = 0; bridgeconf_key_name(i, &name, &doc); i++) {
		bool found = false;
		size_t len = strlen(name);

		if ((fp = fopen(path, "r")) == NULL) {
			perror(path);
			return;
		}
		while (!found && fgets(line, sizeof line, fp) != NULL)
			found = line[0] == ';' && strncmp(line + 1, name, len) == 0 &&
			        (line[1 + len] == ' ' || line[1 + len] == '=');
		fclose(fp);
		if (found)
			printf("ok: [bridge NAME] %s is shown in the example config\n", name);
		else
			fail("[bridge NAME] %s is not shown (\";%s =\") in %s", name, name, path);
	}
}

int
main(int argc, char **argv)
{
	static struct entries conf, page;
	const char *section, *name;

	if (argc != 3) {
		fprintf(stderr, "usage: conf_keys CONF PAGE-SOURCE\n");
		return 2;
	}
	if (!config_key(0, &section, &name)) {
		fail("config_key() lists no key at all");
		return 1;
	}
	if (read_conf(argv[1], &conf) < 0 || read_page(argv[2], &page) < 0)
		return 1;
	compare("the example config", argv[1], &conf);
	check_bridge_example(argv[1]);
	compare("udsbrokerd.conf(5)", argv[2], &page);
	/* The keys of the sections a name opens, under the page's headings. */
	for (size_t i = 0; listenconf_key_name(i, &name, &section); i++)
		expect(&page, LISTENER_SECTION, name, "udsbrokerd.conf(5)", argv[2]);
	for (size_t i = 0; bridgeconf_key_name(i, &name, &section); i++)
		expect(&page, BRIDGE_SECTION, name, "udsbrokerd.conf(5)", argv[2]);
	if (failures > 0) {
		printf("%d check(s) failed\n", failures);
		return 1;
	}
	return 0;
}
