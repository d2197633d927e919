/* The remote brokers of the bridge tests; see remote.h. */
#include "remote.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

const char *
remote_find(const char *prog)
{
	static char path[512];
	const char *env = getenv("PATH");
	char dirs[2048];

	snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/sbin:/usr/bin", env != NULL ? env : "");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d != NULL;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(path, sizeof path, "%s/%s", d, prog);
		if (access(path, X_OK) == 0)
			return path;
	}
	return NULL;
}

void
remote_require(const char *prog)
{
	if (remote_find(prog) != NULL)
		return;
	fprintf(stderr,
	        "[SKIP] %s::%s: %s is not installed (Debian package %s; .ci/run installs it)\n",
	        criterion_current_test->category, criterion_current_test->name, prog,
	        strcmp(prog, "nats-server") == 0 ? "nats-server"
	        : strcmp(prog, "mosquitto") == 0 ? "mosquitto"
	                                         : "mosquitto-clients");
	cr_skip_test("%s is not installed", prog);
}

int
remote_free_port(void)
{
	int port = th_free_port();

	cr_assert_gt(port, 0, "no free loopback port: %s", strerror(errno));
	return port;
}

int
remote_wait_port(int port, pid_t pid, int timeout_ms)
{
	long long deadline = th_now_ms() + timeout_ms;
	int delay = 1;

	for (;;) {
		struct sockaddr_in sa = { .sin_family = AF_INET,
			                  .sin_port = htons((uint16_t)port),
			                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status;

		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
			close(fd);
			return 0;
		}
		if (fd >= 0)
			close(fd);
		if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid)
			return -1;
		if (th_left_ms(deadline) == 0)
			return -1;
		th_backoff(&delay);
	}
}

pid_t
remote_spawn(const char *prog, const char *const *args, const char *log)
{
	char *argv[32];
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644), n = 0;
	const char *path = remote_find(prog);
	pid_t pid;

	cr_assert_not_null(path, "%s is not installed", prog);
	cr_assert_geq(fd, 0, "%s: %s", log, strerror(errno));
	argv[n++] = (char *)path;
	for (; args[n - 1] != NULL && n < 31; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;
	pid = th_exec(argv, &(struct th_exec_opts){ .out_fd = fd, .err_fd = fd });
	close(fd);
	cr_assert_gt(pid, 0, "cannot start %s", prog);
	return pid;
}

/* Starts r from its argv, waiting until its port accepts. */
static void
launch(struct remote *r)
{
	const char *args[] = { "-c", r->conf, NULL };

	r->pid = remote_spawn(r->prog, args, r->log);
	if (remote_wait_port(r->port, r->pid, TH_TIMEOUT_MS) < 0) {
		char cmd[256];

		snprintf(cmd, sizeof cmd, "cat %s >&2", r->log);
		if (system(cmd) != 0)
			fprintf(stderr, "(no log)\n");
		cr_assert_fail("%s did not accept on 127.0.0.1:%d", r->prog, r->port);
	}
}

void
remote_mosquitto(struct remote *r, const char *dir, const char *extra)
{
	FILE *f;

	remote_require("mosquitto");
	memset(r, 0, sizeof *r);
	snprintf(r->prog, sizeof r->prog, "mosquitto");
	r->port = remote_free_port();
	snprintf(r->conf, sizeof r->conf, "%s/mosquitto.conf", dir);
	snprintf(r->log, sizeof r->log, "%s/mosquitto.log", dir);
	f = fopen(r->conf, "w");
	cr_assert_not_null(f, "%s: %s", r->conf, strerror(errno));
	fprintf(f,
	        "listener %d 127.0.0.1\nallow_anonymous true\npersistence true\n"
	        "persistence_location %s/\nlog_dest stdout\nmax_queued_messages 100000\n%s",
	        r->port, dir, extra != NULL ? extra : "");
	fclose(f);
	launch(r);
}

void
remote_restart(struct remote *r)
{
	launch(r);
}

void
remote_signal(struct remote *r, int sig)
{
	int status;

	if (r->pid <= 0)
		return;
	kill(r->pid, sig);
	if (sig != SIGTERM && sig != SIGKILL)
		return;
	if (th_reap(r->pid, TH_TIMEOUT_MS, &status) < 0) {
		kill(r->pid, SIGKILL);
		th_reap(r->pid, TH_TIMEOUT_MS, &status);
	}
	r->pid = 0;
}

void
remote_stop(struct remote *r)
{
	if (r->pid <= 0)
		return;
	kill(r->pid, SIGCONT);
	remote_signal(r, SIGTERM);
}
