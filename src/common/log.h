/* Logging for the daemon: stderr in the foreground, syslog otherwise. Every
 * line is printable ASCII: any other byte that reaches it is replaced. */
#ifndef UDSB_LOG_H
#define UDSB_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Descriptors 0-2 closed by whoever started us would be taken by the first
 * files and sockets opened, and a line meant for stderr would reach a
 * client: holds each closed one with /dev/null. Call before anything opens. */
void log_hold_stdio(void);

/* Starts logging as ident; to stderr when foreground, else to syslog. */
void log_init(const char *ident, bool foreground, enum log_level level);
void log_set_level(enum log_level level);

/* In the foreground, a line that stderr cannot take at once (a pipe nobody
 * reads) is dropped and counted, never waited for. cb is called when lines
 * start being dropped; log_flush_dropped() then writes the count once
 * stderr takes it, returning false while it still cannot. */
void log_set_dropped_cb(void (*cb)(void));
bool log_flush_dropped(void);

/* Parses "error|warn|info|debug"; returns -1 if none. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

/* The *x variants log the message alone; the others append strerror(errno).
 * None of them changes errno. */
void log_error(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_errorx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif
