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
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
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
	unsigned long long drops; /* lines not written: the log was full */
	void (*dropped_cb)(void); /* told when lines start being dropped */
	int syslog_fd;            /* to /dev/log, -1 when not connected */
} logger = { "udsbroker", true, LOG_LEVEL_INFO, false, 0, NULL, -1 };

static void syslog_connect(void);

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
		syslog_connect();
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

/* (Re)connects the syslog socket, non-blocking: glibc's syslog() waits
 * when the reader of /dev/log falls behind, so the daemon sends its own
 * datagrams. */
static void
syslog_connect(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (logger.syslog_fd >= 0)
		close(logger.syslog_fd);
	memcpy(sun.sun_path, _PATH_LOG, sizeof _PATH_LOG);
	logger.syslog_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (logger.syslog_fd >= 0 &&
	    connect(logger.syslog_fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		close(logger.syslog_fd);
		logger.syslog_fd = -1;
	}
}

/* Sends msg to syslog as "<PRI>Mmm dd hh:mm:ss ident[pid]: msg", as
 * syslog(3) would, without waiting; -1 (EAGAIN) when the reader is behind. */
static int
send_syslog(enum log_level level, const char *msg)
{
	char line[1400], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	if (localtime_r(&now, &tm) == NULL || strftime(stamp, sizeof stamp, "%b %e %T", &tm) == 0)
		stamp[0] = '\0';
	n = snprintf(line, sizeof line, "<%d>%s %s[%ld]: %s", LOG_DAEMON | syslog_prio[level],
	             stamp, logger.ident, (long)getpid(), msg);
	if (n < 0)
		return 0;
	if ((size_t)n >= sizeof line)
		n = sizeof line - 1;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (logger.syslog_fd < 0)
			syslog_connect();
		if (logger.syslog_fd < 0)
			return 0; /* no syslog: nowhere to write, nothing to count */
		if (send(logger.syslog_fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			return 0;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -1;
		/* The reader went away (a restarted syslogd): reconnect once. */
		close(logger.syslog_fd);
		logger.syslog_fd = -1;
	}
	return 0;
}

/* Sends one message where the log goes; -1 with errno EAGAIN when that
 * would mean waiting, -1 with another errno when it is gone. */
static int
send_line(enum log_level level, const char *msg)
{
	char line[1400];
	int n;

	if (!logger.foreground)
		return send_syslog(level, msg);
	n = snprintf(line, sizeof line, "%s: %s%s%s\n", logger.ident,
	             level == LOG_LEVEL_INFO ? "" : level_names[level],
	             level == LOG_LEVEL_INFO ? "" : ": ", msg);
	if (n < 0)
		return 0;
	if ((size_t)n >= sizeof line) {
		n = sizeof line - 1;
		line[n - 1] = '\n';
	}
	return write_stderr(line, (size_t)n);
}

bool
log_flush_dropped(void)
{
	char note[160];

	if (logger.drops == 0)
		return true;
	snprintf(note, sizeof note, "%llu log lines dropped: %s was not read", logger.drops,
	         logger.foreground ? "stderr" : "syslog");
	if (send_line(LOG_LEVEL_WARN, note) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return false;
	logger.drops = 0; /* written, or the log is gone: nobody to tell */
	return true;
}

/* Sends one message, or counts it as dropped when the log's reader is
 * behind: the loop never waits for it. */
static void
emit(enum log_level level, const char *msg)
{
	if (log_flush_dropped() && send_line(level, msg) == 0)
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
	char msg[1024];
	int n;

	if (level > logger.level)
		return;
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	if (n >= 0 && with_errno && (size_t)n < sizeof msg)
		snprintf(msg + n, sizeof msg - (size_t)n, ": %s", strerror(saved));
	sanitize(msg);
	emit(level, msg);
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
