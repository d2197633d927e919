/* Error reporting of libudsbroker: codes and one-line messages kept per
 * connection, never printed. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Records a failure of the current call; returns status for tail calls. */
int
lib_fail(struct udsb *c, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
	va_end(ap);
	c->err = status;
	c->err_errno = 0;
	return status;
}

/* Like lib_fail(), with ": strerror(err)" appended and err kept. */
int
lib_fail_errno(struct udsb *c, int status, int err, const char *fmt, ...)
{
	char ebuf[128];
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
	va_end(ap);
	n = strlen(c->errmsg);
	snprintf(c->errmsg + n, sizeof c->errmsg - n, ": %s", lib_strerror(err, ebuf, sizeof ebuf));
	c->err = status;
	c->err_errno = err;
	return status;
}

/* Marks the connection lost for good: the socket is closed, buffered output
 * dropped, and every later call fails with status and this message
 * (prefixed "connection to PATH lost: "; err != 0 appends strerror). Events
 * already queued can still be taken. The first loss wins. */
void
lib_lose(struct udsb *c, int status, int err, const char *fmt, ...)
{
	char ebuf[128];
	size_t n, n0;
	va_list ap;

	if (c->lost)
		return;
	n = (size_t)snprintf(c->lost_msg, sizeof c->lost_msg, "connection to %s lost: ", c->path);
	if (n >= sizeof c->lost_msg)
		n = sizeof c->lost_msg - 1;
	n0 = n;
	va_start(ap, fmt);
	vsnprintf(c->lost_msg + n, sizeof c->lost_msg - n, fmt, ap);
	va_end(ap);
	if (err != 0) {
		n = strlen(c->lost_msg);
		snprintf(c->lost_msg + n, sizeof c->lost_msg - n, "%s%s", n > n0 ? ": " : "",
		         lib_strerror(err, ebuf, sizeof ebuf));
	}
	c->lost = status;
	c->err_errno = err;
	/* Lines buffered and never sent are lost with the connection: count
	 * them for the UDSB_EV_RECONNECTED text, so the loss is not silent. */
	c->lost_unsent = 0;
	for (size_t i = c->wstart; i < c->wend; i++)
		c->lost_unsent += c->wbuf[i] == '\n';
	c->wstart = c->wend = 0;
	if (c->fd >= 0) {
		/* Keep the number taken so no other open() can reuse it while
		 * the application may still be polling it: point it at nothing. */
		shutdown(c->fd, SHUT_RDWR);
	}
}

/* Reports the loss to the current call: UDSB_EDOWN while automatic
 * reconnect will bring the connection back, else the final code. */
int
lib_fail_lost(struct udsb *c)
{
	int err = c->err_errno;

	if (rc_enabled(c))
		return rc_fail_down(c);

	snprintf(c->errmsg, sizeof c->errmsg, "%s", c->lost_msg);
	c->err = c->lost;
	c->err_errno = err;
	return c->lost;
}

/* strerror, safe in threads. */
const char *
lib_strerror(int err, char *buf, size_t size)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
	return strerror_r(err, buf, size);
#else
	if (strerror_r(err, buf, size) != 0)
		snprintf(buf, size, "error %d", err);
	return buf;
#endif
}

enum udsb_status
udsb_error(const struct udsb *c)
{
	return c ? c->err : UDSB_EINVAL;
}

const char *
udsb_errmsg(const struct udsb *c)
{
	return c ? c->errmsg : "no connection (NULL)";
}

int
udsb_errno(const struct udsb *c)
{
	if (c == NULL || (c->err != UDSB_ECONNECT && c->err != UDSB_EIO))
		return 0;
	return c->err_errno;
}

const char *
udsb_broker_error(const struct udsb *c)
{
	return c && c->err == UDSB_EBROKER ? c->broker_code : "";
}

const char *
udsb_status_name(int status)
{
	static const char *const names[] = {
		[UDSB_OK] = "UDSB_OK",
		[UDSB_ETIMEDOUT] = "UDSB_ETIMEDOUT",
		[UDSB_EINVAL] = "UDSB_EINVAL",
		[UDSB_ETOPIC] = "UDSB_ETOPIC",
		[UDSB_EBROKER] = "UDSB_EBROKER",
		[UDSB_EPATH] = "UDSB_EPATH",
		[UDSB_ECONNECT] = "UDSB_ECONNECT",
		[UDSB_ENOTCONN] = "UDSB_ENOTCONN",
		[UDSB_ECLOSED] = "UDSB_ECLOSED",
		[UDSB_EIO] = "UDSB_EIO",
		[UDSB_EPROTO] = "UDSB_EPROTO",
		[UDSB_ENOMEM] = "UDSB_ENOMEM",
		[UDSB_ETOOLONG] = "UDSB_ETOOLONG",
		[UDSB_ENORESPONDERS] = "UDSB_ENORESPONDERS",
		[UDSB_EDOWN] = "UDSB_EDOWN",
	};

	if (status < 0 || (size_t)status >= sizeof names / sizeof names[0])
		return "UDSB_E?";
	return names[status];
}

const char *
udsb_strerror(int code)
{
	static const char *const text[] = {
		[UDSB_OK] = "success",
		[UDSB_ETIMEDOUT] = "timed out waiting for the broker",
		[UDSB_EINVAL] = "invalid argument",
		[UDSB_ETOPIC] = "invalid topic or filter",
		[UDSB_EBROKER] = "the broker refused the command",
		[UDSB_EPATH] = "unusable socket path",
		[UDSB_ECONNECT] = "cannot connect to the broker",
		[UDSB_ENOTCONN] = "not connected to a broker",
		[UDSB_ECLOSED] = "the broker closed the connection",
		[UDSB_EIO] = "input/output error on the connection",
		[UDSB_EPROTO] = "protocol error: unexpected reply from the broker",
		[UDSB_ENOMEM] = "out of memory",
		[UDSB_ETOOLONG] = "reply longer than the line limit",
		[UDSB_ENORESPONDERS] = "no subscriber matched the request",
		[UDSB_EDOWN] = "connection down, reconnecting: nothing was sent",
	};

	if (code < 0 || (size_t)code >= sizeof text / sizeof text[0] || text[code] == NULL)
		return "unknown udsbroker status code";
	return text[code];
}
