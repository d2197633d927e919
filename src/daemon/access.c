/* Access rules by peer credentials; see access.h. */
#include "access.h"

#include <errno.h>
#include <grp.h>
#include <stdint.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "parse.h"
#include "topic.h"

#define MAX_RULE_FILTER 65535

/* Parses a decimal id below (uid_t)-1; -1 if it is not one. */
static int
parse_id(const char *s, unsigned long *out)
{
	uint64_t v;

	if (parse_u64(s, 0, (uid_t)-1 - 1, &v) != PARSE_OK)
		return -1;
	*out = (unsigned long)v;
	return 0;
}

/* Parses "*", "uid=N", "gid=N", "user=NAME", "group=NAME" or
 * "listener=NAME" into r. */
static int
parse_principal(struct access_rule *r, const char *s, char *err, size_t errlen)
{
	const char *eq = strchr(s, '=');
	const char *val = eq ? eq + 1 : "";
	size_t klen = eq ? (size_t)(eq - s) : strlen(s);

	if (strcmp(s, "*") == 0) {
		r->kind = PRINCIPAL_ANY;
		return 0;
	}
	if (klen == 3 && strncmp(s, "uid", 3) == 0 && parse_id(val, &r->id) == 0) {
		r->kind = PRINCIPAL_UID;
		return 0;
	}
	if (klen == 3 && strncmp(s, "gid", 3) == 0 && parse_id(val, &r->id) == 0) {
		r->kind = PRINCIPAL_GID;
		return 0;
	}
	if (klen == 4 && strncmp(s, "user", 4) == 0 && *val != '\0') {
		struct passwd *pw = getpwnam(val);

		if (pw == NULL) {
			snprintf(err, errlen, "unknown user '%s'", val);
			return -1;
		}
		r->kind = PRINCIPAL_UID;
		r->id = pw->pw_uid;
		return 0;
	}
	if (klen == 5 && strncmp(s, "group", 5) == 0 && *val != '\0') {
		struct group *gr = getgrnam(val);

		if (gr == NULL) {
			snprintf(err, errlen, "unknown group '%s'", val);
			return -1;
		}
		r->kind = PRINCIPAL_GID;
		r->id = gr->gr_gid;
		return 0;
	}
	if (klen == 8 && strncmp(s, "listener", 8) == 0 && *val != '\0') {
		if ((r->listener = strdup(val)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		r->kind = PRINCIPAL_LISTENER;
		return 0;
	}
	snprintf(err, errlen,
	         "'%s' is not a principal (*, uid=N, gid=N, user=NAME, group=NAME, "
	         "listener=NAME)",
	         s);
	return -1;
}

int
access_add_rule(struct access *a, const char *text, char *err, size_t errlen)
{
	struct access_rule r = { 0 }, *rules;
	char *copy, *word[5], *save = NULL;
	int n = 0;

	if ((copy = strdup(text)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (char *w = strtok_r(copy, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save))
		if (n < 5)
			word[n++] = w;
	if (n != 4) {
		snprintf(err, errlen, "expected 'allow|deny pub|sub|all FILTER PRINCIPAL'");
		goto fail;
	}
	if (strcmp(word[0], "allow") == 0 || strcmp(word[0], "deny") == 0) {
		r.allow = word[0][0] == 'a';
	} else {
		snprintf(err, errlen, "'%s' is not allow or deny", word[0]);
		goto fail;
	}
	if (strcmp(word[1], "pub") == 0)
		r.ops = ACCESS_PUB;
	else if (strcmp(word[1], "sub") == 0)
		r.ops = ACCESS_SUB;
	else if (strcmp(word[1], "all") == 0)
		r.ops = ACCESS_ALL;
	else {
		snprintf(err, errlen, "'%s' is not pub, sub or all", word[1]);
		goto fail;
	}
	r.filter_len = strlen(word[2]);
	if (topic_check_filter(word[2], r.filter_len, MAX_RULE_FILTER) != TOPIC_OK) {
		snprintf(err, errlen, "'%s' is not a valid filter", word[2]);
		goto fail;
	}
	if (parse_principal(&r, word[3], err, errlen) < 0)
		goto fail;
	r.filter = strdup(word[2]);
	r.text = strdup(text);
	rules = realloc(a->rules, (a->nrules + 1) * sizeof *rules);
	if (r.filter == NULL || r.text == NULL || rules == NULL) {
		snprintf(err, errlen, "out of memory");
		free(r.filter);
		free(r.text);
		if (rules != NULL)
			a->rules = rules;
		goto fail;
	}
	a->rules = rules;
	a->rules[a->nrules++] = r;
	free(copy);
	return 0;
fail:
	free(copy);
	free(r.listener);
	return -1;
}

void
access_free(struct access *a)
{
	for (size_t i = 0; i < a->nrules; i++) {
		free(a->rules[i].filter);
		free(a->rules[i].text);
		free(a->rules[i].listener);
	}
	free(a->rules);
	a->rules = NULL;
	a->nrules = 0;
	a->default_allow = true;
}

/* Is p the rule's principal? */
static bool
principal_matches(const struct access_rule *r, const struct peer *p)
{
	switch (r->kind) {
	case PRINCIPAL_ANY:
		return true;
	case PRINCIPAL_UID:
		return p->has_creds && p->uid == r->id;
	case PRINCIPAL_GID:
		if (!p->has_creds)
			return false;
		if (p->gid == r->id)
			return true;
		for (int i = 0; i < p->ngroups; i++)
			if (p->groups[i] == r->id)
				return true;
		return false;
	case PRINCIPAL_LISTENER:
		return p->listener != NULL && strcmp(p->listener, r->listener) == 0;
	}
	return false;
}

bool
access_can_publish(const struct access *a, const struct peer *p, const char *topic, size_t len)
{
	for (size_t i = 0; i < a->nrules; i++) {
		const struct access_rule *r = &a->rules[i];

		if ((r->ops & ACCESS_PUB) && principal_matches(r, p) &&
		    topic_matches(r->filter, r->filter_len, topic, len))
			return r->allow;
	}
	return a->default_allow;
}

bool
access_can_subscribe(const struct access *a, const struct peer *p, const char *filter, size_t len)
{
	for (size_t i = 0; i < a->nrules; i++) {
		const struct access_rule *r = &a->rules[i];

		if (!(r->ops & ACCESS_SUB) || !principal_matches(r, p))
			continue;
		if (r->allow && topic_filter_covers(r->filter, r->filter_len, filter, len))
			return true;
		if (!r->allow && topic_filter_overlaps(r->filter, r->filter_len, filter, len))
			return false;
	}
	return a->default_allow;
}

int
peer_from_socket(struct peer *p, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	gid_t small[16];

	memset(p, 0, sizeof *p);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -1;
	p->pid = cred.pid;
	p->uid = cred.uid;
	p->gid = cred.gid;
	p->has_creds = true;

	/* Supplementary groups: try a small buffer, then the size asked for. */
	len = sizeof small;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, small, &len) == 0) {
		if (len == 0 || (len == sizeof(gid_t) && small[0] == p->gid))
			return 0; /* none besides the primary group, matched anyway */
		if ((p->groups = malloc(len)) == NULL)
			return -1;
		memcpy(p->groups, small, len);
	} else if (errno == ERANGE) {
		if ((p->groups = malloc(len)) == NULL)
			return -1;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->groups, &len) < 0) {
			peer_free(p);
			return -1;
		}
	} else {
		return 0; /* an old kernel: primary group only */
	}
	p->ngroups = (int)(len / sizeof(gid_t));
	return 0;
}

void
peer_free(struct peer *p)
{
	free(p->groups);
	p->groups = NULL;
	p->ngroups = 0;
}
