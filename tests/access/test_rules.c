/* Unit tests of access rules: parsing, decisions, and the filter relations
 * they rest on. */
#include <criterion/criterion.h>
#include <string.h>

#include "access.h"
#include "config.h"
#include "topic.h"

static struct peer
peer_of(uid_t uid, gid_t gid, gid_t *groups, int ngroups)
{
	return (struct peer){
		.pid = 1, .uid = uid, .gid = gid, .groups = groups, .ngroups = ngroups, .has_creds = true
	};
}

/* Loads an [access] section; asserts it parses. */
static void
load(struct config *cfg, const char *access)
{
	char text[2048], err[512];

	snprintf(text, sizeof text, "[access]\n%s", access);
	cr_assert_eq(config_load_string(cfg, text, "t.conf", err, sizeof err), 0, "%s", err);
}

Test(rules, good_rules_parse)
{
	struct config cfg = { 0 };

	load(&cfg, "default = deny\n"
	           "rule = allow pub sensors/# group=root\n"
	           "rule = allow sub sensors/+/temp *\n"
	           "rule = deny  all #  user=nobody\n"
	           "rule = allow all a/b uid=1000\n"
	           "rule = deny sub x gid=5\n");
	cr_assert_not(cfg.access.default_allow);
	cr_assert_eq(cfg.access.nrules, 5);
	cr_assert_eq(cfg.access.rules[0].kind, PRINCIPAL_GID);
	cr_assert_eq(cfg.access.rules[0].id, 0);
	cr_assert_eq(cfg.access.rules[0].ops, ACCESS_PUB);
	cr_assert_eq(cfg.access.rules[2].kind, PRINCIPAL_UID);
	cr_assert_eq(cfg.access.rules[2].id, 65534);
	cr_assert_eq(cfg.access.rules[2].ops, ACCESS_ALL);
	cr_assert_str_eq(cfg.access.rules[2].filter, "#");
	cr_assert_eq(cfg.access.rules[3].id, 1000);
	config_free(&cfg);
}

Test(rules, bad_rules_name_the_line)
{
	static const struct {
		const char *rule;
		const char *why;
	} bad[] = {
		{ "permit pub a *", "not allow or deny" },
		{ "allow post a *", "not pub, sub or all" },
		{ "allow pub a/#/b *", "not a valid filter" },
		{ "allow pub a+ *", "not a valid filter" },
		{ "allow pub a someone", "not a principal" },
		{ "allow pub a uid=x", "not a principal" },
		{ "allow pub a user=no-such-user-here", "unknown user" },
		{ "allow pub a group=no-such-group-here", "unknown group" },
		{ "allow pub a", "expected" },
		{ "allow pub a * extra", "expected" },
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct config cfg = { 0 };
		char text[512], err[512];

		snprintf(text, sizeof text, "[access]\ndefault = allow\n\nrule = %s\n", bad[i].rule);
		cr_assert_eq(config_load_string(&cfg, text, "t.conf", err, sizeof err), -1, "%s",
		             bad[i].rule);
		cr_expect(strstr(err, "t.conf:4:") != NULL, "%s -> %s", bad[i].rule, err);
		cr_expect(strstr(err, bad[i].why) != NULL, "%s -> %s", bad[i].rule, err);
		config_free(&cfg);
	}
}

Test(rules, bad_default_and_per_uid_limit)
{
	struct config cfg = { 0 };
	char err[512];

	cr_assert_eq(config_load_string(&cfg, "[access]\ndefault = maybe\n", "t.conf", err, sizeof err), -1);
	cr_expect(strstr(err, "t.conf:2:") != NULL, "%s", err);
	cr_assert_eq(config_load_string(&cfg, "[broker]\nmax_clients_per_uid = 3\n", "t.conf", err,
	                                sizeof err), 0, "%s", err);
	cr_assert_eq(cfg.max_clients_per_uid, 3);
	cr_assert_eq(config_load_string(&cfg, "[broker]\nmax_clients_per_uid = -1\n", "t.conf", err,
	                                sizeof err), -1);
	config_free(&cfg);
}

Test(rules, first_match_wins_for_publish)
{
	struct config cfg = { 0 };
	gid_t sensors = 4242;
	struct peer alice = peer_of(1000, 1000, &sensors, 1), bob = peer_of(1001, 1001, NULL, 0);

	load(&cfg, "default = deny\n"
	           "rule = deny pub sensors/secret/# *\n"
	           "rule = allow pub sensors/# gid=4242\n"
	           "rule = allow pub public/+ *\n");
	cr_expect(access_can_publish(&cfg.access, &alice, "sensors/kitchen", 15));
	cr_expect(access_can_publish(&cfg.access, &alice, "sensors", 7), "a/# matches a");
	cr_expect_not(access_can_publish(&cfg.access, &alice, "sensors/secret/x", 16));
	cr_expect_not(access_can_publish(&cfg.access, &bob, "sensors/kitchen", 15));
	cr_expect(access_can_publish(&cfg.access, &bob, "public/x", 8));
	cr_expect_not(access_can_publish(&cfg.access, &bob, "public/x/y", 10), "default deny");
	config_free(&cfg);
}

Test(rules, subscribe_needs_cover_and_deny_fires_on_overlap)
{
	struct config cfg = { 0 };
	struct peer p = peer_of(1000, 1000, NULL, 0);

	load(&cfg, "default = allow\n"
	           "rule = deny sub secret/# *\n"
	           "rule = allow sub sensors/# uid=1000\n"
	           "rule = deny sub sensors/# *\n");
	cr_expect_not(access_can_subscribe(&cfg.access, &p, "#", 1), "# overlaps secret/#");
	cr_expect_not(access_can_subscribe(&cfg.access, &p, "+/x", 3), "+/x overlaps secret/x");
	cr_expect_not(access_can_subscribe(&cfg.access, &p, "secret", 6), "secret/# matches secret");
	cr_expect(access_can_subscribe(&cfg.access, &p, "public/#", 8));
	cr_expect(access_can_subscribe(&cfg.access, &p, "sensors/+/temp", 14));
	cr_expect(access_can_subscribe(&cfg.access, &p, "sensors", 7));
	p.uid = 1001;
	cr_expect_not(access_can_subscribe(&cfg.access, &p, "sensors/+/temp", 14));
	cr_expect(access_can_subscribe(&cfg.access, &p, "other", 5));
	config_free(&cfg);
}

Test(rules, op_all_and_empty_rules)
{
	struct config cfg = { 0 };
	struct peer p = peer_of(7, 7, NULL, 0);

	load(&cfg, "default = allow\n");
	cr_expect(access_can_publish(&cfg.access, &p, "x", 1));
	cr_expect(access_can_subscribe(&cfg.access, &p, "#", 1));
	load(&cfg, "default = allow\nrule = deny all x/# uid=7\n");
	cr_expect_not(access_can_publish(&cfg.access, &p, "x/y", 3));
	cr_expect_not(access_can_subscribe(&cfg.access, &p, "x/y", 3));
	cr_expect(access_can_subscribe(&cfg.access, &p, "y", 1));
	config_free(&cfg);
}

/* covers(r, f) and overlaps(r, f), by hand from the MQTT rules. */
Test(rules, filter_relations)
{
	static const struct {
		const char *r, *f;
		bool covers, overlaps;
	} cases[] = {
		{ "#", "a/b", true, true },
		{ "#", "#", true, true },
		{ "a/#", "a", true, true },
		{ "a/#", "a/+/c", true, true },
		{ "a/+", "a/b", true, true },
		{ "a/+", "a/#", false, true },
		{ "a/+", "a/b/c", false, false },
		{ "a/b", "a/+", false, true },
		{ "a/b", "a/c", false, false },
		{ "+/#", "#", true, true },
		{ "+/+/#", "#", false, true },
		{ "a", "a/#", false, true },
		{ "a", "a/+", false, false },
		{ "#", "$SYS/x", false, false },
		{ "+/x", "$SYS/x", false, false },
		{ "$SYS/#", "$SYS/x", true, true },
		{ "$SYS/#", "#", false, false },
		{ "a//b", "a/+/b", false, true },
		{ "a/+/b", "a//b", true, true },
		{ "/#", "+", false, false },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *r = cases[i].r, *f = cases[i].f;

		cr_expect_eq(topic_filter_covers(r, strlen(r), f, strlen(f)), cases[i].covers,
		             "covers(%s, %s)", r, f);
		cr_expect_eq(topic_filter_overlaps(r, strlen(r), f, strlen(f)), cases[i].overlaps,
		             "overlaps(%s, %s)", r, f);
	}
}

Test(rules, config_print_keeps_rules)
{
	struct config cfg = { 0 }, again = { 0 };
	char *text = NULL, err[512];
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	load(&cfg, "default = deny\nrule = allow pub a/# uid=3\nrule = deny sub # *\n");
	config_print(&cfg, out);
	fclose(out);
	cr_assert_eq(config_load_string(&again, text, "printed", err, sizeof err), 0, "%s", err);
	cr_expect_not(again.access.default_allow);
	cr_assert_eq(again.access.nrules, 2);
	cr_expect_str_eq(again.access.rules[0].text, "allow pub a/# uid=3");
	cr_expect_str_eq(again.access.rules[1].text, "deny sub # *");
	free(text);
	config_free(&cfg);
	config_free(&again);
}

/* listener=NAME matches every client of that listener; TCP clients (no
 * credentials) never match uid or gid rules, whatever their zeroed ids. */
Test(rules, listener_principals_and_tcp_clients)
{
	struct config cfg = { 0 };
	struct peer unix_main = peer_of(0, 0, NULL, 0), tcp = { .listener = "net" };

	char err[512];

	unix_main.listener = "main";
	cr_assert_eq(config_load_string(&cfg,
	                                "[access]\ndefault = allow\n"
	                                "rule = deny pub root/# uid=0\n"
	                                "rule = deny pub wheel/# gid=0\n"
	                                "rule = deny all net/# listener=net\n"
	                                "rule = deny pub main/# listener=main\n"
	                                "[listener net]\ntcp = 127.0.0.1:7070\n",
	                                "t.conf", err, sizeof err),
	             0, "%s", err);
	cr_expect(!access_can_publish(&cfg.access, &unix_main, "root/x", 6));
	cr_expect(access_can_publish(&cfg.access, &tcp, "root/x", 6), "a uid rule matched TCP");
	cr_expect(access_can_publish(&cfg.access, &tcp, "wheel/x", 7), "a gid rule matched TCP");
	cr_expect(!access_can_publish(&cfg.access, &tcp, "net/x", 5));
	cr_expect(!access_can_subscribe(&cfg.access, &tcp, "net/#", 5));
	cr_expect(access_can_publish(&cfg.access, &unix_main, "net/x", 5));
	cr_expect(!access_can_publish(&cfg.access, &unix_main, "main/x", 6));
	cr_expect(access_can_publish(&cfg.access, &tcp, "main/x", 6));
	config_free(&cfg);
}
