/*
 * udsctl serve: answer requests with a command. It subscribes to FILTER
 * (as $share/GROUP/FILTER with --group) with meta on, and for each request,
 * one at a time in arrival order, runs COMMAND with the payload and a
 * newline on its standard input and UDSB_TOPIC, UDSB_UID, UDSB_GID and
 * UDSB_PID in its environment; each line of its standard output is
 * published to the request's reply topic as it comes. A command that
 * exits non-zero is told on stderr; what it printed was sent all the same.
 * Messages without a reply address (plain PUB) are ignored. A lost
 * connection is re-established as by sub.
 */
#include "udsctl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "linescan.h"
#include "topic.h"

extern char **environ;

/* The command's output is read this many bytes at a time (at least). */
#define OUT_BLOCK (64 * 1024)

/* The variables serve sets for the command, in this order. */
static const char *const env_names[] = { "UDSB_TOPIC", "UDSB_UID", "UDSB_GID", "UDSB_PID" };
#define NENV (sizeof env_names / sizeof env_names[0])

struct serve {
	struct ctl_link link;
	char **command;     /* COMMAND [ARG...], NULL-terminated */
	char **env;         /* environ without env_names, NENV free slots, NULL */
	size_t env_base;    /* where the free slots start */
	bool no_reconnect;  /* --no-reconnect */
	bool told_no_reply; /* a message without a reply address was told */
	/* The file COMMAND names, found in PATH once: each request runs it. */
	char program[PATH_MAX];
};

/* One request, copied out of its event (whose strings the next library
 * call ends). */
struct request {
	char *topic, *reply, *payload;
	size_t payload_len;
	long long uid, gid, pid;
};

/* A running command and its pipes. */
struct child {
	pid_t pid;
	int in, out;   /* its stdin (we write) and stdout (we read); -1 closed */
	size_t in_off; /* bytes of the payload line written */
	char *buf;     /* its output not yet published */
	size_t len, cap;
	struct linescan scan;
	unsigned long long lines; /* published */
	bool lost;                /* a reply could not be sent: told once */
};

enum { OPT_GROUP = 256, OPT_NO_RECONNECT };
static const struct ctl_opt serve_options[] = {
	{ OPT_GROUP, 0, "group", "GROUP",
	  "share the requests with the other members of GROUP:\n"
	  "each one goes to one of them ($share/GROUP/FILTER)" },
	{ OPT_NO_RECONNECT, 0, "no-reconnect", NULL,
	  "exit 69 when the connection is lost, instead of\n"
	  "reconnecting" },
	CTL_COMMON_OPTIONS,
	{ 0 },
};

/* Frees what request_copy made. */
static void
request_free(struct request *r)
{
	free(r->topic);
	free(r->reply);
	free(r->payload);
}

/* Copies the delivery ev, the payload with a newline after it. Returns 0,
 * or -1 when out of memory. */
static int
request_copy(struct request *r, const struct udsb_event *ev)
{
	*r = (struct request){ .uid = ev->uid, .gid = ev->gid, .pid = ev->pid };
	r->topic = strdup(ev->topic);
	r->reply = strdup(ev->reply);
	r->payload = malloc(ev->payload_len + 1);
	if (r->topic == NULL || r->reply == NULL || r->payload == NULL) {
		request_free(r);
		return -1;
	}
	memcpy(r->payload, ev->payload, ev->payload_len);
	r->payload[ev->payload_len] = '\n';
	r->payload_len = ev->payload_len + 1;
	return 0;
}

/* Whether name=... is one of the variables serve sets. */
static bool
is_ours(const char *var)
{
	for (size_t i = 0; i < NENV; i++) {
		size_t n = strlen(env_names[i]);

		if (strncmp(var, env_names[i], n) == 0 && var[n] == '=')
			return true;
	}
	return false;
}

/* The command's environment: ours without the variables serve sets, and
 * room for them. Returns 0, or -1 when out of memory. */
static int
env_init(struct serve *s)
{
	size_t n = 0, k = 0;

	while (environ[n] != NULL)
		n++;
	s->env = calloc(n + NENV + 1, sizeof *s->env);
	if (s->env == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!is_ours(environ[i]))
			s->env[k++] = environ[i];
	s->env_base = k;
	return 0;
}

/* Fills the free slots of the environment for request r. Returns 0, or -1
 * when out of memory; env_clear undoes it. */
static int
env_set(struct serve *s, const struct request *r)
{
	const long long ids[] = { r->uid, r->gid, r->pid };
	char val[32];

	for (size_t i = 0; i < NENV; i++) {
		const char *v = r->topic;
		size_t size;
		char *var;

		if (i > 0) {
			val[0] = '\0';
			if (ids[i - 1] >= 0)
				snprintf(val, sizeof val, "%lld", ids[i - 1]);
			v = val;
		}
		size = strlen(env_names[i]) + strlen(v) + 2;
		var = malloc(size);
		if (var == NULL)
			return -1;
		snprintf(var, size, "%s=%s", env_names[i], v);
		s->env[s->env_base + i] = var;
	}
	return 0;
}

static void
env_clear(struct serve *s)
{
	for (size_t i = 0; i < NENV; i++) {
		free(s->env[s->env_base + i]);
		s->env[s->env_base + i] = NULL;
	}
}

/* Publishes one line of the command's output to the reply topic. */
static void
reply_line(struct serve *s, struct child *ch, const struct request *r, const char *line, size_t len)
{
	int rc;

	if (ch->lost)
		return;
	rc = udsb_publish(s->link.c, r->reply, line, len);
	if (rc == UDSB_OK) {
		ch->lines++;
		return;
	}
	ctl_warn("serve: the reply to the request on %s is lost from line %llu on: %s", r->topic,
	         ch->lines + 1, udsb_errmsg(s->link.c));
	ch->lost = true;
}

/* Publishes the complete lines the command printed; at its end (eof) the
 * last one without '\n' too. Returns 0, or -1 when out of memory. */
static int
reply_lines(struct serve *s, struct child *ch, const struct request *r, bool eof)
{
	size_t off = 0, n;
	enum linescan_result res;

	while ((res = linescan_next(&ch->scan, ch->buf + off, ch->len - off, CTL_MAX_LINE, &n)) !=
	       LINESCAN_NONE) {
		if (res == LINESCAN_READY)
			reply_line(s, ch, r, ch->buf + off, n - 1);
		else if (res == LINESCAN_TOO_LONG)
			ctl_warn(
			    "serve: '%s' printed a line longer than %d bytes for the request on "
			    "%s: not sent",
			    s->command[0], CTL_MAX_LINE, r->topic);
		off += n;
	}
	ch->len -= off;
	memmove(ch->buf, ch->buf + off, ch->len);
	if (eof && ch->len > 0 && !ch->scan.skipping)
		reply_line(s, ch, r, ch->buf, ch->len);
	if (ch->cap - ch->len < OUT_BLOCK) {
		char *nbuf = realloc(ch->buf, ch->cap + OUT_BLOCK);

		if (nbuf == NULL)
			return -1;
		ch->buf = nbuf;
		ch->cap += OUT_BLOCK;
	}
	return 0;
}

/* Reads what the command printed. Returns 0, or -1 when out of memory. */
static int
read_output(struct serve *s, struct child *ch, const struct request *r)
{
	ssize_t n = read(ch->out, ch->buf + ch->len, ch->cap - ch->len);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) { /* the end, or an error that is as good as one */
		close(ch->out);
		ch->out = -1;
		return reply_lines(s, ch, r, true);
	}
	ch->len += (size_t)n;
	return reply_lines(s, ch, r, false);
}

/* Writes more of the payload line to the command. */
static void
write_input(struct child *ch, const struct request *r)
{
	ssize_t n = write(ch->in, r->payload + ch->in_off, r->payload_len - ch->in_off);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0)
		ch->in_off += (size_t)n;
	if (n < 0 || ch->in_off == r->payload_len) { /* done, or it does not read (EPIPE) */
		close(ch->in);
		ch->in = -1;
	}
}

/* Starts the command for r with its pipes in ch. Returns 0, or -1 after
 * telling why. */
static int
spawn(struct serve *s, struct child *ch, const struct request *r)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t dfl;
	int in[2], out[2], err;

	if (pipe2(in, O_CLOEXEC) != 0) {
		ctl_warn("serve: pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(out, O_CLOEXEC) != 0) {
		ctl_warn("serve: pipe: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	/* udsctl ignores SIGPIPE; the command gets the default back. */
	posix_spawnattr_init(&attr);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
	err = posix_spawn(&ch->pid, s->program, &fa, &attr, s->command, s->env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(in[0]);
	close(out[1]);
	if (err != 0) {
		ctl_warn("serve: cannot run '%s' for the request on %s: %s", s->command[0],
		         r->topic, strerror(err));
		close(in[1]);
		close(out[0]);
		return -1;
	}
	ch->in = in[1];
	ch->out = out[0];
	fcntl(ch->in, F_SETFL, O_NONBLOCK);
	fcntl(ch->out, F_SETFL, O_NONBLOCK);
	return 0;
}

/* Feeds the command, publishes its output and keeps the connection going
 * until its stdout ends. Returns 0, or -1 when out of memory or poll
 * failed (told). */
static int
pump(struct serve *s, struct child *ch, const struct request *r)
{
	while (ch->out >= 0) {
		struct pollfd pfd[3] = {
			{ .fd = ch->out, .events = POLLIN },
			{ .fd = ch->in, .events = POLLOUT },
			{ .fd = udsb_fd(s->link.c), .events = udsb_events(s->link.c) },
		};
		int timeout = udsb_next_timeout(s->link.c);

		/* Nothing wanted from the connection (its queue of events is
		 * full): a hang-up on it must not wake us over and over. */
		if (pfd[2].events == 0)
			pfd[2].fd = -1;
		if (poll(pfd, 3, timeout) < 0) {
			if (errno == EINTR)
				continue;
			ctl_warn("poll: %s", strerror(errno));
			return -1;
		}
		if (pfd[1].revents != 0)
			write_input(ch, r);
		/* Reads, writes or reconnects, whatever is due; a loss shows at
		 * the next udsb_recv(). */
		udsb_process(s->link.c);
		if (pfd[0].revents != 0 && read_output(s, ch, r) != 0) {
			ctl_warn("out of memory");
			return -1;
		}
	}
	return 0;
}

/* Waits for the command's end and tells a failure. */
static void
reap(struct serve *s, struct child *ch, const struct request *r)
{
	int ws;

	while (waitpid(ch->pid, &ws, 0) < 0)
		if (errno != EINTR)
			return;
	if (WIFEXITED(ws) && WEXITSTATUS(ws) != 0)
		ctl_warn(
		    "serve: '%s' exited with status %d for the request on %s (%llu line%s sent)",
		    s->command[0], WEXITSTATUS(ws), r->topic, ch->lines, ch->lines == 1 ? "" : "s");
	else if (WIFSIGNALED(ws))
		ctl_warn("serve: '%s' was killed by signal %d for the request on %s (%llu line%s "
		         "sent)",
		         s->command[0], WTERMSIG(ws), r->topic, ch->lines,
		         ch->lines == 1 ? "" : "s");
}

/* Answers one request. Returns 0, or an exit status. */
static int
answer(struct serve *s, const struct request *r)
{
	struct child ch = { .in = -1, .out = -1 };
	int status = 0;

	ch.buf = malloc(2 * OUT_BLOCK);
	if (ch.buf == NULL || env_set(s, r) != 0) {
		free(ch.buf);
		env_clear(s);
		ctl_warn("out of memory");
		return EXIT_OSERR;
	}
	ch.cap = 2 * OUT_BLOCK;
	if (spawn(s, &ch, r) == 0) {
		if (pump(s, &ch, r) != 0)
			status = EXIT_OSERR;
		if (ch.in >= 0)
			close(ch.in);
		if (ch.out >= 0)
			close(ch.out);
		reap(s, &ch, r);
	}
	env_clear(s);
	free(ch.buf);
	return status;
}

/* A delivery: a request to answer, or a message to ignore. */
static int
handle(struct serve *s, const struct udsb_event *ev)
{
	struct request r;
	int status;

	if (ev->reply[0] == '\0') {
		if (!s->told_no_reply)
			ctl_warn(
			    "serve: ignoring messages without a reply address, such as the one on "
			    "%s (publish requests with udsctl req)",
			    ev->topic);
		s->told_no_reply = true;
		return 0;
	}
	if (request_copy(&r, ev) != 0) {
		ctl_warn("out of memory");
		return EXIT_OSERR;
	}
	status = answer(s, &r);
	request_free(&r);
	return status;
}

/* Serves requests until the connection ends for good. */
static int
serve_loop(struct serve *s)
{
	struct udsb_event ev;
	int status;

	for (;;) {
		if (ctl_next_event(&s->link, &ev, -1, &status) != CTL_EVENT)
			return status;
		if (ev.type == UDSB_EV_MSG) {
			status = handle(s, &ev);
		} else if (ev.type == UDSB_EV_ERROR && strcmp(ev.code, "line-too-long") == 0) {
			/* A reply line longer than the broker takes: told, and
			 * the next request is no worse for it. */
			ctl_warn("the broker at %s refused a reply line: ERR %s %s",
			         udsb_path(s->link.c), ev.code, ev.text);
			status = 0;
		} else {
			status = ctl_notice(s->link.c, &ev);
		}
		if (status != 0)
			return status;
	}
}

/* Whether file is a program to run: 0, or the errno execve would give. */
static int
runnable(const char *file)
{
	struct stat st;

	if (access(file, X_OK) != 0 || stat(file, &st) != 0)
		return errno;
	return S_ISREG(st.st_mode) ? 0 : EACCES;
}

/* Finds the program the command names into file (PATH_MAX bytes): in PATH,
 * or at its path when it has a '/'. Every request runs that file, so what
 * is checked here is what runs. Returns 0 or an errno. */
static int
find_program(const char *name, char *file)
{
	const char *path = getenv("PATH");
	int err = ENOENT;

	if (strchr(name, '/') != NULL)
		return snprintf(file, PATH_MAX, "%s", name) < PATH_MAX ? runnable(file)
		                                                       : ENAMETOOLONG;
	if (path == NULL)
		path = "/usr/local/bin:/bin:/usr/bin";
	while (*path != '\0') {
		size_t n = strcspn(path, ":");
		int e = ENAMETOOLONG;

		if (snprintf(file, PATH_MAX, "%.*s%s%s", (int)n, path, n > 0 ? "/" : "", name) <
		    PATH_MAX)
			e = runnable(file);
		if (e == 0)
			return 0;
		if (e == EACCES)
			err = EACCES;
		path += n;
		if (*path == ':')
			path++;
	}
	return err;
}

/* Checks the operands, FILTER -- COMMAND [ARG...], now in
 * args->argv[0, nops), and finds COMMAND's file into s->program. Returns 0
 * or a usage error's status. */
static int
check_operands(const struct ctl_command *cmd, struct serve *s, const struct ctl_parse *args)
{
	int err;

	if (args->dashes < 0)
		return ctl_usage(cmd, "missing '--' between FILTER and COMMAND");
	if (args->dashes == 0)
		return ctl_usage(cmd, "missing FILTER before '--'");
	if (args->dashes > 1)
		return ctl_usage(cmd, "one FILTER before '--', not %d", args->dashes);
	if (args->nops == args->dashes)
		return ctl_usage(cmd, "missing COMMAND after '--'");
	err = find_program(args->argv[1], s->program);
	if (err != 0)
		return ctl_usage(cmd, "cannot run COMMAND '%s': %s", args->argv[1], strerror(err));
	return 0;
}

/* Parses the options (--group into *group) and checks the operands.
 * Returns true to go on, or false with *status the exit status (a usage
 * error, or 0 after --help). */
static bool
parse(const struct ctl_command *cmd, struct serve *s, struct ctl_parse *args, const char **sock,
      const char **group, int *status)
{
	const char *value;
	int key;

	while ((key = ctl_option(cmd, args, &value, sock, status)) != OPT_END) {
		switch (key) {
		case OPT_GROUP:
			if (value[0] == '\0' || strpbrk(value, "/+#") != NULL ||
			    topic_check(value, strlen(value), 256) != TOPIC_OK) {
				*status =
				    ctl_usage(cmd,
				              "--group needs a GROUP name without '/', '+', '#', "
				              "spaces or control characters, not '%s'",
				              value);
				return false;
			}
			*group = value;
			break;
		case OPT_NO_RECONNECT:
			s->no_reconnect = true;
			break;
		default: /* OPT_ERROR */
			return false;
		}
	}
	*status = check_operands(cmd, s, args);
	return *status == 0;
}

/* Connects with meta on and subscribes to filter, or to $share/group/filter.
 * Returns 0 or an exit status. */
static int
subscribe(struct serve *s, const char *sock, const char *filter, const char *group)
{
	char *shared = NULL;
	struct udsb *c;
	int rc, status = 0;

	c = ctl_connect(sock, &status);
	if (c == NULL)
		return status;
	ctl_link_init(&s->link, c);
	if (group != NULL) {
		size_t size = strlen(group) + strlen(filter) + 9;

		shared = malloc(size);
		if (shared == NULL) {
			ctl_warn("out of memory");
			return EXIT_OSERR;
		}
		snprintf(shared, size, "$share/%s/%s", group, filter);
		filter = shared;
	}
	rc = udsb_set_meta(c, 1);
	if (rc == UDSB_OK)
		rc = udsb_subscribe(c, filter);
	free(shared);
	if (rc != UDSB_OK)
		return ctl_fail(c, rc);
	if (!s->no_reconnect)
		return ctl_link_reconnect(&s->link);
	return 0;
}

static int
run_serve(const struct ctl_command *cmd, int argc, char **argv, const char *sock)
{
	struct serve s = { 0 };
	struct ctl_parse args;
	const char *group = NULL;
	int status;

	options_init(&args, cmd->name, cmd->options, argc - 1, argv + 1, false);
	if (!parse(cmd, &s, &args, &sock, &group, &status))
		return status;
	/* COMMAND [ARG...] as posix_spawn wants it: NULL-terminated. */
	s.command = calloc((size_t)(args.nops - args.dashes + 1), sizeof *s.command);
	if (s.command == NULL || env_init(&s) != 0) {
		free(s.command);
		ctl_warn("out of memory");
		return EXIT_OSERR;
	}
	memcpy(s.command, args.argv + args.dashes,
	       (size_t)(args.nops - args.dashes) * sizeof *s.command);
	status = subscribe(&s, sock, args.argv[0], group);
	if (status == 0)
		status = serve_loop(&s);
	udsb_free(s.link.c);
	free(s.command);
	free(s.env);
	return status;
}

const struct ctl_command ctl_cmd_serve = {
	.name = "serve",
	.usage = "[--group GROUP] [--no-reconnect] FILTER -- COMMAND [ARG...]",
	.operands = "FILTER -- COMMAND...",
	.summary = "answer each request on FILTER with the lines\n"
	           "COMMAND prints, one request at a time; the payload\n"
	           "is its standard input, UDSB_TOPIC, UDSB_UID,\n"
	           "UDSB_GID and UDSB_PID are in its environment",
	.options = serve_options,
	.run = run_serve,
};
