/* udsbrokerd: options, signals and the event loop. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "bridge.h"
#include "broker.h"
#include "buildconf.h"
#include "config.h"
#include "log.h"
#include "sockpath.h"
#include "stats.h"
#include "systemd.h"

struct options {
	const char *config_path;
	bool config_named;  /* -c given: the file must exist */
	const char *socket; /* -s */
	bool foreground;
	bool check_only;
	bool verbose;
};

/* Prints the usage text to out. */
static void
usage(FILE *out)
{
	fprintf(out,
	        "usage: udsbrokerd [-c CONFIG] [-s SOCKET] [-f] [-t] [-v] [-V] [-h]\n"
	        "  -c CONFIG      configuration file (default %s)\n"
	        "  -s SOCKET      socket path, over $%s and the config file\n"
	        "  -f             stay in the foreground and log to stderr\n"
	        "  -t             check the configuration, print the effective settings, exit\n"
	        "  -v             verbose: log at debug level\n"
	        "  -V, --version  print the version and exit\n"
	        "  -h, --help     print this help and exit\n",
	        CONFIG_DEFAULT_PATH, SOCKPATH_ENV);
}

/* Parses the command line into *o; exits on -V, -h and errors. */
static void
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	o->config_path = CONFIG_DEFAULT_PATH;
	while ((ch = getopt_long(argc, argv, "c:s:ftvVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->config_path = optarg;
			o->config_named = true;
			break;
		case 's':
			o->socket = optarg;
			break;
		case 'f':
			o->foreground = true;
			break;
		case 't':
			o->check_only = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'V':
			printf("udsbrokerd %s\n", UDSB_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(64);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "udsbrokerd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		exit(64);
	}
}

/* Loads the configuration named by the options; -1 with err on failure. */
static int
load_config(const struct options *o, struct config *cfg, char *err, size_t errlen)
{
	if (config_load(cfg, o->config_path, !o->config_named, err, errlen) < 0)
		return -1;
	if (o->verbose)
		cfg->log_level = LOG_LEVEL_DEBUG;
	return 0;
}

/* Lets the process hold as many descriptors as max_clients needs, within
 * the hard limit. */
static void
raise_fd_limit(unsigned max_clients)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max_clients + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("setrlimit(RLIMIT_NOFILE)");
	if (rl.rlim_cur < want)
		log_warnx("max_clients is %u but only %llu descriptors are allowed", max_clients,
		          (unsigned long long)rl.rlim_cur);
}

/* Descriptors held back for a reload: it opens the config and the name
 * lookups of access rules open files of their own, which must work while
 * accept is paused because the process ran out of descriptors. */
#define FD_RESERVE 4

struct context {
	struct options opts;
	struct broker broker;
	struct bridges *bridges; /* the [bridge] links, or NULL */
	unsigned status_clients; /* client count last sent in STATUS= */
	struct event *log_retry; /* writes the count of dropped log lines */
	char config_abs[PATH_MAX];
	char socket_abs[PATH_MAX];
	int reserve[FD_RESERVE]; /* kept for a reload while out of descriptors */
};

/* The one context, for the callbacks that take no argument (logging). */
static struct context *the_ctx;

/* The socket path by the precedence rules, absolute when the daemon will
 * change directory; exits with an error naming the problem otherwise. */
static void
socket_path(struct context *ctx, const struct config *cfg, char *path, size_t size)
{
	const char *given = ctx->opts.socket;

	if (given == NULL || given[0] == '\0')
		given = getenv(SOCKPATH_ENV);
	if (given == NULL || given[0] == '\0')
		given = cfg->socket != NULL && cfg->socket[0] != '\0' ? cfg->socket : "(default)";

	if (sockpath_resolve(ctx->opts.socket, cfg->socket, path, size) < 0) {
		if (errno == ENOENT) {
			fprintf(stderr,
			        "udsbrokerd: no socket path: XDG_RUNTIME_DIR is not set and there "
			        "is no default outside it for a user other than root; give one "
			        "with -s PATH, the %s environment variable or the socket key "
			        "of the configuration file\n",
			        SOCKPATH_ENV);
			exit(1);
		}
		goto too_long;
	}
	given = path;
	if (!ctx->opts.foreground && path[0] != '/') {
		if (sockpath_absolute(path, ctx->socket_abs, sizeof ctx->socket_abs) < 0) {
			if (errno == ENAMETOOLONG)
				goto too_long;
			fprintf(stderr, "udsbrokerd: socket path %s: %s\n", path, strerror(errno));
			exit(1);
		}
		snprintf(path, size, "%s", ctx->socket_abs);
	}
	if (strlen(path) <= SOCKPATH_MAX)
		return;
too_long:
	fprintf(stderr, "udsbrokerd: socket path too long (the limit is %zu bytes): %s\n",
	        (size_t)SOCKPATH_MAX, given != NULL ? given : path);
	exit(1);
}

/* libevent's own messages, through our log. */
static void
libevent_log_cb(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	case EVENT_LOG_WARN:
		log_warnx("libevent: %s", msg);
		break;
	default:
		log_errorx("libevent: %s", msg);
		break;
	}
}

/* Log lines are being dropped (stderr is not read): try again to say how
 * many a second from now, without waiting in the loop for the reader. */
static void
log_dropped_cb(void)
{
	struct timeval second = { 1, 0 };

	if (the_ctx != NULL && the_ctx->log_retry != NULL &&
	    !evtimer_pending(the_ctx->log_retry, NULL))
		evtimer_add(the_ctx->log_retry, &second);
}

/* Writes the count of dropped log lines, or tries again later. */
static void
log_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	if (!log_flush_dropped())
		log_dropped_cb();
}

/* Under systemd, keeps "systemctl status" showing the client count: looks
 * once a second, sends only when it changed. */
static void
status_cb(evutil_socket_t fd, short what, void *arg)
{
	struct context *ctx = arg;

	if (ctx->broker.nsessions == ctx->status_clients || ctx->broker.shutting_down)
		return;
	ctx->status_clients = ctx->broker.nsessions;
	systemd_notifyf("STATUS=%u clients", ctx->status_clients);
}

/* SIGTERM, SIGINT: a clean stop. */
static void
stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct context *ctx = arg;

	log_info("%s: shutting down", strsignal((int)sig));
	systemd_notifyf("STOPPING=1\nSTATUS=shutting down, %u clients", ctx->broker.nsessions);
	broker_shutdown(&ctx->broker);
}

/* SIGUSR1: the counters in one log line, and the retained values written
 * to [retain] file now. */
static void
usr1_cb(evutil_socket_t sig, short what, void *arg)
{
	struct context *ctx = arg;
	uint64_t v[STAT_COUNT];
	char line[1024];

	broker_stats(&ctx->broker, v);
	stats_format(v, line, sizeof line);
	log_info("SIGUSR1: %s", line);
	broker_save_retained(&ctx->broker, true);
}

/* Takes the reserve of descriptors (a slot that cannot be had stays -1). */
static void
take_reserve(struct context *ctx)
{
	for (int i = 0; i < FD_RESERVE; i++)
		if (ctx->reserve[i] < 0)
			ctx->reserve[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Gives the reserve back, for the reload to use. */
static void
release_reserve(struct context *ctx)
{
	for (int i = 0; i < FD_RESERVE; i++) {
		if (ctx->reserve[i] >= 0)
			close(ctx->reserve[i]);
		ctx->reserve[i] = -1;
	}
}

/* SIGHUP: reload the configuration, keeping the old one on errors. */
static void
reload_cb(evutil_socket_t sig, short what, void *arg)
{
	struct context *ctx = arg;
	struct config cfg = { 0 };
	char err[512];
	int rc;

	systemd_notify("RELOADING=1");
	release_reserve(ctx);
	rc = load_config(&ctx->opts, &cfg, err, sizeof err);
	take_reserve(ctx);
	if (rc < 0) {
		log_errorx("reload: %s; keeping the current configuration", err);
		config_free(&cfg);
	} else {
		log_set_level(cfg.log_level);
		raise_fd_limit(cfg.max_clients);
		broker_reload(&ctx->broker, &cfg);
		log_info("configuration reloaded from %s", ctx->opts.config_path);
	}
	systemd_notifyf("READY=1\nSTATUS=%u clients", ctx->broker.nsessions);
}

int
main(int argc, char **argv)
{
	static struct context ctx; /* large (frame buffer): not on the stack */
	struct timeval second = { 1, 0 };
	struct event *sigs[4], *status = NULL;
	struct event_base *base;
	struct config cfg = { 0 };
	char path[PATH_MAX], err[512];

	log_hold_stdio();
	the_ctx = &ctx;
	for (int i = 0; i < FD_RESERVE; i++)
		ctx.reserve[i] = -1;
	parse_options(argc, argv, &ctx.opts);
	/* daemon() moves to /: a relative -c must still name the same file
	 * at reload. */
	if (!ctx.opts.foreground && !ctx.opts.check_only && ctx.opts.config_path[0] != '/') {
		if (sockpath_absolute(ctx.opts.config_path, ctx.config_abs, sizeof ctx.config_abs) <
		    0) {
			fprintf(stderr, "udsbrokerd: %s: %s\n", ctx.opts.config_path,
			        strerror(errno));
			return 1;
		}
		ctx.opts.config_path = ctx.config_abs;
	}
	if (load_config(&ctx.opts, &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "udsbrokerd: %s\n", err);
		return 1;
	}
	socket_path(&ctx, &cfg, path, sizeof path);
	if (ctx.opts.check_only) {
		config_print(&cfg, stdout);
		printf("; socket in use: %s\n", path);
		config_free(&cfg);
		return 0;
	}

	log_init("udsbrokerd", ctx.opts.foreground, cfg.log_level);
	take_reserve(&ctx);
	event_set_log_callback(libevent_log_cb);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	raise_fd_limit(cfg.max_clients);
	if ((base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	if ((ctx.log_retry = evtimer_new(base, log_retry_cb, &ctx)) == NULL)
		fatalx("cannot create the event loop");
	log_set_dropped_cb(log_dropped_cb);
	/* Handlers first: the socket accepts as soon as it is bound, and a
	 * SIGTERM from then on must mean a clean stop. The callbacks run only
	 * from the loop, once the broker is up. */
	sigs[0] = evsignal_new(base, SIGTERM, stop_cb, &ctx);
	sigs[1] = evsignal_new(base, SIGINT, stop_cb, &ctx);
	sigs[2] = evsignal_new(base, SIGHUP, reload_cb, &ctx);
	sigs[3] = evsignal_new(base, SIGUSR1, usr1_cb, &ctx);
	for (int i = 0; i < 4; i++)
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) < 0)
			fatalx("cannot install signal handlers");
	if (broker_init(&ctx.broker, base, &cfg, path, err, sizeof err) < 0) {
		if (!ctx.opts.foreground)
			fprintf(stderr, "udsbrokerd: %s\n", err);
		fatalx("%s", err);
	}
	/* Detach only once the socket is bound, so start-up errors reach the
	 * terminal and the socket accepts as soon as the parent returns. */
	if (!ctx.opts.foreground) {
		if (daemon(0, 0) < 0)
			fatal("daemon");
		if (event_reinit(base) < 0)
			fatalx("cannot re-initialise the event loop after fork");
	}

#if HAVE_MQTT_BRIDGE
	if (bridges_start(&ctx.broker, base, &ctx.bridges, err, sizeof err) < 0)
		fatalx("%s", err);
#endif

	if (getenv("NOTIFY_SOCKET") != NULL &&
	    ((status = event_new(base, -1, EV_PERSIST, status_cb, &ctx)) == NULL ||
	     event_add(status, &second) < 0))
		fatalx("cannot start the status timer");

	listeners_log(&ctx.broker.listeners);
	systemd_notify("READY=1\nSTATUS=listening, 0 clients");
	event_base_dispatch(base);

	if (status != NULL)
		event_free(status);
	for (int i = 0; i < 4; i++)
		event_free(sigs[i]);
	/* Stopping already: a second signal must not cut short the last write
	 * of the retained values. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
#if HAVE_MQTT_BRIDGE
	bridges_stop(ctx.bridges);
#endif
	broker_free(&ctx.broker);
	log_set_dropped_cb(NULL);
	event_free(ctx.log_retry);
	ctx.log_retry = NULL;
	event_base_free(base);
	log_info("stopped");
	return 0;
}
