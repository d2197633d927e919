/*
 * Shared subscriptions (queue groups): "SUB $share/<group>/<filter>".
 *
 * A group is one subscriber in the index (subtree.h), holding the one
 * subscription of its filter, whatever its number of members; matching a
 * message reaches the group once, and the group's pick op names the
 * member that takes it: round robin, skipping members that are busy (over
 * half their queue limit) while another is not. So a group costs one
 * delivery per message, whatever its size.
 *
 * Groups are keyed by the whole "$share/<group>/<filter>" text: the same
 * group name with two filters is two groups, as in MQTT 5. A group is made
 * by its first member and goes (with its subscription) with its last.
 * Each member lists its memberships (struct subscriber's shares), so a
 * subscriber that goes leaves all its groups.
 */
#ifndef UDSB_SHARE_H
#define UDSB_SHARE_H

#include <stdbool.h>
#include <stddef.h>

struct shares;
struct share_group;
struct subscriber;
struct subtree;

#define SHARE_PREFIX "$share/"

/* One subscriber's membership of one group, in both of their lists. */
struct share_member {
	struct share_group *group;
	struct subscriber *sub;
	size_t index;                     /* in the group's members */
	struct share_member *prev, *next; /* in the subscriber's memberships */
};

/* What a SUB or UNSUB argument is. */
enum share_syntax {
	SHARE_NONE, /* not a shared subscription: a plain filter */
	SHARE_OK,   /* "$share/<group>/<filter>", well formed */
	SHARE_BAD,  /* begins "$share" but is not "$share/<group>/<filter>" */
};

/* Reads a valid filter arg: a shared subscription, and then its filter
 * (*filter, *flen, pointing into arg), or not. */
enum share_syntax share_parse(const char *arg, size_t len, const char **filter, size_t *flen);

/* The groups of the subscribers in tree; NULL if out of memory. */
struct shares *shares_new(struct subtree *tree);

/* Frees every group; their subscriptions must be gone with the tree, or
 * every member left first. */
void shares_free(struct shares *sh);

/* sub's membership of the group that the well-formed arg names, or NULL. */
struct share_member *share_find(const struct shares *sh, const struct subscriber *sub,
                                const char *arg, size_t len);

/* Makes sub a member of the group arg names (SHARE_OK), creating the group
 * and its subscription if it is the first. Returns the membership (the old
 * one if it is a member already), or NULL if out of memory. */
struct share_member *share_join(struct shares *sh, struct subscriber *sub, const char *arg,
                                size_t len);

/* Ends a membership; the group's last member takes the group with it. */
void share_leave(struct shares *sh, struct share_member *m);

/* Ends every membership of sub. */
void share_leave_all(struct shares *sh, struct subscriber *sub);

/* The "$share/<group>/<filter>" text of a membership's group, and its
 * filter, each with its length (not NUL-terminated). */
const char *share_member_name(const struct share_member *m, size_t *len);
const char *share_member_filter(const struct share_member *m, size_t *len);

/* Groups, and memberships in all. */
size_t share_group_count(const struct shares *sh);
size_t share_member_count(const struct shares *sh);

#endif
