/* Logging; see log.h. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

/*
 * Process-wide by nature, like syslog's own state: every module logs, and
 * threading a logger through each call would add noise and buy nothing in a
 * single-threaded daemon.
 */
static struct {
	const char *ident;
	bool foreground;
	enum log_level level;
} logger = { "udsbroker", true, LOG_LEVEL_INFO };

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void
log_init(const char *ident, bool foreground, enum log_level level)
{
	logger.ident = ident;
	logger.foreground = foreground;
	logger.level = level;
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_level(enum log_level level)
{
	logger.level = level;
}

int
log_level_parse(const char *name)
{
	for (int i = 0; i <= LOG_LEVEL_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	return level <= LOG_LEVEL_DEBUG ? level_names[level] : "?";
}

/* Formats and emits one line; with_errno appends ": strerror(saved)". */
static void __attribute__((format(printf, 3, 0)))
vlog(enum log_level level, bool with_errno, const char *fmt, va_list ap)
{
	int saved = errno;
	char msg[1024];

	if (level > logger.level)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (logger.foreground) {
		if (level == LOG_LEVEL_INFO)
			fprintf(stderr, "%s: %s", logger.ident, msg);
		else
			fprintf(stderr, "%s: %s: %s", logger.ident, level_names[level], msg);
		if (with_errno)
			fprintf(stderr, ": %s", strerror(saved));
		fputc('\n', stderr);
	} else if (with_errno) {
		syslog(syslog_prio[level], "%s: %s", msg, strerror(saved));
	} else {
		syslog(syslog_prio[level], "%s", msg);
	}
	errno = saved;
}

#define DEFINE_LOG(name, level, with_errno)       \
	void name(const char *fmt, ...)           \
	{                                         \
		va_list ap;                       \
		va_start(ap, fmt);                \
		vlog(level, with_errno, fmt, ap); \
		va_end(ap);                       \
	}

DEFINE_LOG(log_error, LOG_LEVEL_ERROR, true)
DEFINE_LOG(log_errorx, LOG_LEVEL_ERROR, false)
DEFINE_LOG(log_warn, LOG_LEVEL_WARN, true)
DEFINE_LOG(log_warnx, LOG_LEVEL_WARN, false)
DEFINE_LOG(log_info, LOG_LEVEL_INFO, false)
DEFINE_LOG(log_debug, LOG_LEVEL_DEBUG, false)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERROR, true, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERROR, false, fmt, ap);
	va_end(ap);
	exit(1);
}
