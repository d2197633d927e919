/* Logging; see log.h. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

/*
 * Process-wide by nature, like syslog's own state: every module logs, and
 * threading a logger through each call would add noise and buy nothing in a
 * single-threaded daemon.
 */
static struct {
	const char *ident;
	bool foreground;
	enum log_level level;
	bool socket;              /* stderr is a socket: send() it without waiting */
	unsigned long long drops; /* lines not written: stderr was full */
	void (*dropped_cb)(void); /* told when lines start being dropped */
} logger = { "udsbroker", true, LOG_LEVEL_INFO, false, 0, NULL };

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void
log_hold_stdio(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* The lowest free number: fd itself, as the lower ones are open. */
		if (open("/dev/null", O_RDWR) != fd)
			_exit(1);
	}
}

/* Makes writes to stderr never wait: a pipe or terminal nobody reads must
 * not stop the daemon. The descriptor is reopened with O_NONBLOCK rather
 * than changed in place, as its file description is shared with whoever
 * started us (a shell's terminal). A socket takes MSG_DONTWAIT instead;
 * a regular file does not block. */
static void
stderr_nonblocking(void)
{
	struct stat st;
	int fd;

	if (fstat(2, &st) < 0)
		return;
	if (S_ISSOCK(st.st_mode)) {
		logger.socket = true;
		return;
	}
	if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
		return;
	fd = open("/proc/self/fd/2", O_WRONLY | O_APPEND | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fd != 2) {
		dup2(fd, 2); /* without O_CLOEXEC, as stderr was */
		close(fd);
	}
}

void
log_init(const char *ident, bool foreground, enum log_level level)
{
	logger.ident = ident;
	logger.foreground = foreground;
	logger.level = level;
	if (foreground)
		stderr_nonblocking();
	else
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_dropped_cb(void (*cb)(void))
{
	logger.dropped_cb = cb;
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

/* Writes all of line to stderr without waiting; -1 when it would wait
 * (or failed). A line shorter than PIPE_BUF goes into a pipe whole or not
 * at all. */
static int
write_stderr(const char *line, size_t len)
{
	while (len > 0) {
		ssize_t n = logger.socket ? send(2, line, len, MSG_DONTWAIT | MSG_NOSIGNAL)
		                          : write(2, line, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		line += n;
		len -= (size_t)n;
	}
	return 0;
}

bool
log_flush_dropped(void)
{
	char note[160];
	int n;

	if (logger.drops == 0)
		return true;
	n = snprintf(note, sizeof note, "%s: warn: %llu log lines dropped: stderr was not read\n",
	             logger.ident, logger.drops);
	if (n > 0 && (size_t)n < sizeof note && write_stderr(note, (size_t)n) < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK))
		return false;
	logger.drops = 0; /* written, or stderr is gone: nobody to tell */
	return true;
}

/* Writes one line to stderr, or counts it as dropped when stderr is full:
 * the loop never waits for a reader. */
static void
emit_stderr(const char *line, size_t len)
{
	if (log_flush_dropped() && write_stderr(line, len) == 0)
		return;
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		return; /* gone (EPIPE, EBADF): there is nobody to tell */
	if (logger.drops++ == 0 && logger.dropped_cb != NULL)
		logger.dropped_cb();
}

/* Replaces, in place, every byte outside printable ASCII with '?': the last
 * guard against a control sequence (C0, C1, CSI, bidi overrides, in UTF-8
 * or not) reaching a terminal or a log viewer. Untrusted bytes should have
 * been escaped (escape_text) before; this only makes sure. */
static void
sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

/* Formats and emits one line; with_errno appends ": strerror(saved)". */
static void __attribute__((format(printf, 3, 0)))
vlog(enum log_level level, bool with_errno, const char *fmt, va_list ap)
{
	int saved = errno;
	char msg[1024], line[1400];
	int n;

	if (level > logger.level)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	sanitize(msg);
	if (logger.foreground) {
		n = snprintf(line, sizeof line, "%s: %s%s%s%s%s\n", logger.ident,
		             level == LOG_LEVEL_INFO ? "" : level_names[level],
		             level == LOG_LEVEL_INFO ? "" : ": ", msg, with_errno ? ": " : "",
		             with_errno ? strerror(saved) : "");
		if (n > 0)
			emit_stderr(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
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
