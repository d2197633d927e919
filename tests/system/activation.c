/*
 * Socket activation, tested for real: systemd-socket-activate binds the
 * socket and execs udsbrokerd with LISTEN_FDS on the first connection, as
 * udsbrokerd.socket does. Clients publish and subscribe through the inherited
 * socket, and the daemon never creates, chmods or removes a socket path of
 * its own, even though -s and the config name other paths and modes.
 * $SYSTEMD_SOCKET_ACTIVATE is the tool's path (set by meson).
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
#include "sdnotify.h"

#define T TH_TIMEOUT_MS

Test(activation, pubsub_through_the_inherited_socket, .timeout = 120)
{
	const char *activate = getenv("SYSTEMD_SOCKET_ACTIVATE");
	char config[512], other[160], cli[160], dgram[1024], setenv_arg[192];
	struct th_daemon b;
	struct notify n;
	struct stat before, after;
	int sub, pub;

	cr_assert(activate != NULL && activate[0] == '/', "SYSTEMD_SOCKET_ACTIVATE is not set");
	cr_assert_eq(th_prepare(&b, NULL), 0, "cannot prepare a broker directory");
	snprintf(other, sizeof other, "%s/config.sock", b.dir);
	snprintf(cli, sizeof cli, "%s/option.sock", b.dir);
	snprintf(config, sizeof config, "socket = %s\nsocket_mode = 0600\n", other);
	cr_assert_eq(th_write_config(&b, config), 0);
	cr_assert_eq(notify_open(&n, b.dir), 0);

	/* systemd-socket-activate passes on only the variables it is told to. */
	snprintf(setenv_arg, sizeof setenv_arg, "NOTIFY_SOCKET=%s", n.path);
	char *argv[] = { (char *)activate, "-l", b.sock, "-E", setenv_arg, (char *)th_daemon_path(),
	                 "-f", "-c", b.conf, "-s", cli, NULL };
	cr_assert_eq(th_launch(&b, argv, NULL, 0), 0, "cannot start %s", activate);
	cr_assert_eq(th_wait_socket(b.sock, &b.pid, T), 0, "systemd-socket-activate did not listen");
	cr_assert_eq(stat(b.sock, &before), 0);

	/* The first connection makes systemd-socket-activate exec the daemon,
	 * which then accepts it from the inherited socket. The file appears at
	 * bind(), a moment before listen(): retry while it refuses. */
	sub = th_connect_retry(b.sock, &b.pid, T);
	cr_assert_geq(sub, 0, "cannot connect to %s", b.sock);
	cr_assert_eq(th_send_str(sub, "SUB news/#\n"), 0);
	cr_assert_eq(th_expect_line(sub, "OK", T), 0, "no OK to SUB through the activated socket");
	cr_assert_eq(notify_wait(&n, "READY=1", b.pid, dgram, sizeof dgram, T), 0,
	             "no READY=1 from the socket-activated daemon (datagrams: %s)", n.seen);

	pub = th_connect(&b);
	cr_assert_geq(pub, 0);
	cr_assert_eq(th_send_str(pub, "PUB news/today hello from an inherited socket\n"), 0);
	cr_assert_eq(th_ping_barrier(pub, "sent", NULL, 0), 0);
	cr_assert_eq(th_expect_line(sub, "MSG news/today hello from an inherited socket", T), 0,
	             "the subscriber did not get the message");

	cr_assert_eq(kill(b.pid, SIGTERM), 0);
	cr_expect_eq(th_expect_line(sub, "BYE shutdown", T), 0, "no BYE shutdown");
	cr_assert_eq(th_wait(&b, 0, T), 0, "udsbrokerd did not exit 0 after SIGTERM");

	/* The socket belongs to whoever passed it: still there, mode as it
	 * was; and no path of the daemon's own was ever made. */
	cr_expect_eq(stat(b.sock, &after), 0, "udsbrokerd removed the socket it was passed");
	cr_expect_eq(after.st_mode, before.st_mode, "udsbrokerd changed the mode of %s (0%o -> 0%o)",
	             b.sock, (unsigned)(before.st_mode & 07777), (unsigned)(after.st_mode & 07777));
	cr_expect_eq(after.st_ino, before.st_ino, "udsbrokerd replaced %s", b.sock);
	cr_expect_neq(access(other, F_OK), 0, "udsbrokerd created the config's socket %s", other);
	cr_expect_neq(access(cli, F_OK), 0, "udsbrokerd created the -s socket %s", cli);

	th_close(sub);
	th_close(pub);
	notify_close(&n);
	th_stop(&b);
}

/* Several sockets passed at once (LISTEN_FDNAMES): each goes to the
 * listener its name names, in any order; the one named after no listener
 * is the main socket; a listener not passed is bound by the daemon. */
Test(activation, sockets_go_to_the_listeners_their_names_name, .timeout = 120)
{
	const char *activate = getenv("SYSTEMD_SOCKET_ACTIVATE");
	char config[1024], logs[160], logs_conf[160], extra[160], tcp_arg[32];
	int port = xfree_port(), port_conf = xfree_port();
	struct th_daemon b;
	int sub, lines, tcp, ex;

	cr_assert(activate != NULL && activate[0] == '/', "SYSTEMD_SOCKET_ACTIVATE is not set");
	cr_assert_eq(th_prepare(&b, NULL), 0, "cannot prepare a broker directory");
	snprintf(logs, sizeof logs, "%s/logs.sock", b.dir);
	snprintf(logs_conf, sizeof logs_conf, "%s/logs-config.sock", b.dir);
	snprintf(extra, sizeof extra, "%s/extra.sock", b.dir);
	snprintf(tcp_arg, sizeof tcp_arg, "127.0.0.1:%d", port);
	snprintf(config, sizeof config,
	         "[listener logs]\nsocket = %s\nmode = lines\ntopic = logs/app\n"
	         "[listener net]\ntcp = 127.0.0.1:%d\n"
	         "[listener extra]\nsocket = %s\n",
	         logs_conf, port_conf, extra);
	cr_assert_eq(th_write_config(&b, config), 0);

	char *argv[] = { (char *)activate, "-l", logs, "-l", b.sock, "-l", tcp_arg,
		         "--fdname=logs:udsbrokerd.socket:net", (char *)th_daemon_path(), "-f", "-c",
		         b.conf, NULL };
	cr_assert_eq(th_launch(&b, argv, NULL, 0), 0, "cannot start %s", activate);
	cr_assert_eq(th_wait_socket(b.sock, &b.pid, T), 0, "systemd-socket-activate did not listen");
	sub = th_connect_retry(b.sock, &b.pid, T);
	cr_assert_geq(sub, 0, "cannot connect to %s", b.sock);
	cr_assert_eq(th_send_str(sub, "SUB #\n"), 0);
	cr_assert_eq(th_expect_line(sub, "OK", T), 0, "no OK through the main socket");

	/* The extra listener is bound by the daemon once it runs. */
	ex = th_connect_retry(extra, &b.pid, T);
	cr_assert_geq(ex, 0, "the daemon did not bind the listener it was not passed");
	lines = th_connect_path(logs);
	cr_assert_geq(lines, 0);
	cr_assert_eq(th_send_str(lines, "Hello, world!\n"), 0);
	cr_assert_eq(th_expect_line(sub, "MSG logs/app Hello, world!", T), 0,
	             "the line through the socket named logs was not published to its topic");
	tcp = th_connect_tcp(port);
	cr_assert_geq(tcp, 0, "cannot connect to the passed TCP socket: %s", strerror(errno));
	cr_assert_eq(th_send_str(tcp, "PUB via/tcp yes\n"), 0);
	cr_assert_eq(th_expect_line(sub, "MSG via/tcp yes", T), 0, "no protocol over net");
	cr_expect_eq(th_connect_tcp(port_conf), -1,
	             "the daemon bound the config's TCP address too");
	cr_expect_neq(access(logs_conf, F_OK), 0, "the daemon bound the config's socket path too");

	cr_assert_eq(kill(b.pid, SIGTERM), 0);
	cr_expect_eq(th_expect_line(sub, "BYE shutdown", T), 0, "no BYE shutdown");
	cr_assert_eq(th_wait(&b, 0, T), 0, "udsbrokerd did not exit 0 after SIGTERM");
	cr_expect_eq(access(logs, F_OK), 0, "udsbrokerd removed a socket it was passed");
	cr_expect_neq(access(extra, F_OK), 0, "udsbrokerd left the socket it bound");
	th_close(sub);
	th_close(lines);
	th_close(tcp);
	th_close(ex);
	th_stop(&b);
}
