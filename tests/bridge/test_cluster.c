/*
 * Two udsbrokerd, each bridged to a different node of a three-node
 * nats-server cluster (MQTT listeners, JetStream, all on loopback ports the
 * test chooses), share sensors/# both ways: 10,000 messages each way, none
 * lost, none echoed back to the machine that sent it. nats-server speaks
 * MQTT 3.1.1 only, so this is also the test of the bridge's own echo mark.
 * Skipped, saying why, when nats-server is not installed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "remote.h"

enum { NODES = 3, N = 10000 };
/* The longest wait for the next message before the rest count as lost. */
enum { STALL_MS = 60000 };

static struct th_daemon host[2];
static pid_t nats[NODES];

static void
stop_all(void)
{
	for (int i = 0; i < NODES; i++) {
		int status;

		if (nats[i] <= 0)
			continue;
		kill(nats[i], SIGTERM);
		if (th_reap(nats[i], TH_TIMEOUT_MS, &status) < 0) {
			kill(nats[i], SIGKILL);
			th_reap(nats[i], TH_TIMEOUT_MS, &status);
		}
		nats[i] = 0;
	}
	for (int i = 0; i < 2; i++)
		cr_expect_eq(th_stop(&host[i]), 0, "udsbrokerd %d did not exit cleanly", i);
}

TestSuite(cluster, .fini = stop_all);

/* Starts the cluster, its files in dir; mqtt[i] gets node i's MQTT port. */
static void
start_cluster(const char *dir, int mqtt[NODES])
{
	int client[NODES], route[NODES];
	char conf[256], log[256], store[256];

	for (int i = 0; i < NODES; i++) {
		client[i] = remote_free_port();
		route[i] = remote_free_port();
		mqtt[i] = remote_free_port();
	}
	for (int i = 0; i < NODES; i++) {
		const char *args[] = { "-c", conf, NULL };
		FILE *f;

		snprintf(conf, sizeof conf, "%s/nats%d.conf", dir, i);
		snprintf(log, sizeof log, "%s/nats%d.log", dir, i);
		snprintf(store, sizeof store, "%s/js%d", dir, i);
		f = fopen(conf, "w");
		cr_assert_not_null(f, "%s: %s", conf, strerror(errno));
		fprintf(f,
		        "server_name: n%d\nlisten: 127.0.0.1:%d\n"
		        "cluster { name: udsb, listen: 127.0.0.1:%d, routes: ["
		        "nats-route://127.0.0.1:%d, nats-route://127.0.0.1:%d, "
		        "nats-route://127.0.0.1:%d] }\n"
		        "jetstream { store_dir: \"%s\" }\nmqtt { listen: 127.0.0.1:%d }\n",
		        i, client[i], route[i], route[0], route[1], route[2], store, mqtt[i]);
		fclose(f);
		nats[i] = remote_spawn("nats-server", args, log);
	}
	for (int i = 0; i < NODES; i++)
		cr_assert_eq(remote_wait_port(mqtt[i], nats[i], TH_TIMEOUT_MS), 0,
		             "nats-server %d does not accept MQTT on %d", i, mqtt[i]);
}

/* The value of bridge.c.state on fd. */
static bool
bridge_connected(int fd)
{
	const char *line;

	xsend(fd, "STATS\n");
	line = xrecv(fd, NULL);
	return strstr(line, " bridge.c.state=connected") != NULL;
}

/* What one host's subscriber to sensors/# saw. */
struct tally {
	unsigned char own[N];   /* its own host's messages, how often */
	unsigned char other[N]; /* the other host's */
	size_t own_total, other_distinct, other_dups;
};

/* Counts one delivery line "MSG sensors/X/n I" of host h. */
static void
count(struct tally *t, int h, const char *line)
{
	char x;
	int i;

	if (sscanf(line, "MSG sensors/%c/n %d", &x, &i) != 2 || i < 0 || i >= N)
		return;
	if (x == "ab"[h]) {
		t->own[i]++;
		t->own_total++;
	} else if (t->other[i]++ == 0) {
		t->other_distinct++;
	} else {
		t->other_dups++;
	}
}

/* Sends N messages "PUB sensors/X/n I" on fd. */
static void
publish_all(int fd, char x)
{
	static char buf[1 << 16];
	size_t len = 0;

	for (int i = 0; i < N; i++) {
		len += (size_t)snprintf(buf + len, sizeof buf - len, "PUB sensors/%c/n %d\n", x, i);
		if (len > sizeof buf - 64 || i == N - 1) {
			xsend_bytes(fd, buf, len);
			len = 0;
		}
	}
}

Test(cluster, two_hosts_share_sensors_through_nats)
{
	static struct tally t[2];
	int mqtt[NODES], ctl[2], sub[2], pub[2];
	char conf[512], line[LINE_MAX_TEST];
	long long deadline, t0, elapsed;

	remote_require("nats-server");
	for (int h = 0; h < 2; h++)
		cr_assert_eq(th_prepare(&host[h], NULL), 0);
	start_cluster(host[0].dir, mqtt);
	for (int h = 0; h < 2; h++) {
		/* host 0 on node 0, host 1 on node 1: the cluster carries it */
		snprintf(conf, sizeof conf,
		         "sys_interval = 0\n[bridge c]\naddress = mqtt://127.0.0.1:%d\n"
		         "client_id = host%d\nout = sensors/#\nin = sensors/#\nqos = 1\n",
		         mqtt[h], h);
		cr_assert_eq(th_write_config(&host[h], conf), 0);
		cr_assert_eq(th_spawn(&host[h]), 0);
		ctl[h] = xconnect(&host[h]);
		sub[h] = xconnect(&host[h]);
		pub[h] = xconnect(&host[h]);
		xsub(sub[h], "sensors/#");
	}
	/* JetStream elects its leaders and the bridges back off meanwhile */
	deadline = th_now_ms() + 90000;
	for (int h = 0; h < 2; h++) {
		int delay = 1;

		while (!bridge_connected(ctl[h])) {
			cr_assert_gt(th_left_ms(deadline), 0, "bridge of host %d never connected",
			             h);
			th_backoff(&delay);
		}
	}
	/* probes both ways until each side sees the other's */
	for (int h = 0; h < 2; h++) {
		char probe[64], want[64];
		bool seen = false;

		snprintf(probe, sizeof probe, "PUB sensors/%c/probe p\n", "ab"[h]);
		snprintf(want, sizeof want, "MSG sensors/%c/probe p", "ab"[h]);
		while (!seen) {
			cr_assert_gt(th_left_ms(deadline), 0, "no probe from host %d crossed", h);
			xsend(pub[h], probe);
			while (th_recv_line(sub[1 - h], line, sizeof line, 300) >= 0)
				seen |= strcmp(line, want) == 0;
		}
	}
	while (th_recv_line(sub[0], line, sizeof line, 500) >= 0 ||
	       th_recv_line(sub[1], line, sizeof line, 500) >= 0)
		; /* probes still crossing */

	t0 = th_now_ms();
	publish_all(pub[0], 'a');
	publish_all(pub[1], 'b');
	/* bounded by silence, not by a total: on a loaded machine JetStream's
	 * pace can be under 100 messages a second, yet none is lost */
	deadline = th_now_ms() + STALL_MS;
	while ((t[0].other_distinct < N || t[1].other_distinct < N || t[0].own_total < N ||
	        t[1].own_total < N) &&
	       th_left_ms(deadline) > 0) {
		for (int h = 0; h < 2; h++) {
			size_t len;
			char *l;

			th_read_some(sub[h], 1 << 20);
			while ((l = th_next_line(sub[h], &len)) != NULL) {
				count(&t[h], h, l);
				deadline = th_now_ms() + STALL_MS;
			}
		}
		th_readable(sub[0], 20);
	}
	elapsed = th_now_ms() - t0;
	/* a barrier after the end: an echo would have come by now */
	for (int h = 0; h < 2; h++) {
		char end[64];

		snprintf(end, sizeof end, "PUB sensors/%c/end x\n", "ab"[h]);
		xsend(pub[h], end);
	}
	for (int h = 0; h < 2; h++) {
		char want[64];

		snprintf(want, sizeof want, "MSG sensors/%c/end x", "ab"[1 - h]);
		for (;;) {
			cr_assert_geq(th_recv_line(sub[h], line, sizeof line, TH_TIMEOUT_MS), 0,
			              "the end marker of host %d never came", 1 - h);
			if (strcmp(line, want) == 0)
				break;
			count(&t[h], h, line);
		}
	}
	for (int h = 0; h < 2; h++)
		fprintf(stderr,
		        "cluster: host %d received %zu of %d from the other host (+%zu "
		        "duplicates), saw its own %zu times; %d+%d messages in %lld ms (%.0f/s "
		        "each way); its bridge: out %lld, in %lld, reconnects %lld\n",
		        h, t[h].other_distinct, N, t[h].other_dups, t[h].own_total, N, N, elapsed,
		        elapsed > 0 ? N * 1000.0 / (double)elapsed : 0.0,
		        stat_of(ctl[h], "bridge.c.messages_out"),
		        stat_of(ctl[h], "bridge.c.messages_in"),
		        stat_of(ctl[h], "bridge.c.reconnects"));
	for (int h = 0; h < 2; h++) {
		cr_expect_eq(t[h].other_distinct, N, "host %d lost %zu of the other's messages", h,
		             N - t[h].other_distinct);
		cr_expect_eq(t[h].own_total, N, "host %d saw its own messages %zu times, want %d",
		             h, t[h].own_total, N);
		cr_expect_eq(stat_of(ctl[h], "bridge.c.dropped"), 0);
	}
}
