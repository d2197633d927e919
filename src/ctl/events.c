/*
 * udsctl and the events of its connection: waiting for the next one within
 * a deadline (sub's -W, req's -W), flushing standard output before every
 * wait, telling on stderr when the connection is lost and when automatic
 * reconnect has brought it back, and the notices (DROPPED, ERR...) that
 * every subcommand handles alike.
 */
#include "udsctl.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "monoclock.h"

/* While the connection is down, wait at most this long between looks at
 * it, whatever the library's schedule says. */
#define DOWN_POLL_MS 100

int
ctl_notice(struct udsb *c, const struct udsb_event *ev)
{
	switch (ev->type) {
	case UDSB_EV_ERROR:
		ctl_warn("the broker at %s answered ERR %s %s", udsb_path(c), ev->code, ev->text);
		return EXIT_BROKER_ERR;
	case UDSB_EV_DROPPED:
		ctl_warn("DROPPED %llu: the broker at %s dropped %llu messages for this "
		         "subscriber, which read too slowly",
		         ev->count, udsb_path(c), ev->count);
		return 0;
	case UDSB_EV_OVERLONG:
		ctl_warn("skipped a line of %llu bytes from the broker at %s: longer than %d",
		         ev->count, udsb_path(c), CTL_MAX_LINE);
		return 0;
	case UDSB_EV_UNKNOWN:
		ctl_warn("ignored a line from the broker at %s: %s", udsb_path(c), ev->text);
		return 0;
	case UDSB_EV_RECONNECTED:
		ctl_warn("reconnected to %s after %llu attempt%s and subscribed again; messages "
		         "published while it was down were missed (%s)",
		         udsb_path(c), ev->count, ev->count == 1 ? "" : "s", ev->text);
		return 0;
	case UDSB_EV_BYE: /* the loss of the connection that follows says it */
	case UDSB_EV_MSG:
		return 0;
	}
	return 0;
}

void
ctl_link_init(struct ctl_link *l, struct udsb *c)
{
	*l = (struct ctl_link){ .c = c };
}

int
ctl_link_reconnect(struct ctl_link *l)
{
	int rc = udsb_set_reconnect(l->c, CTL_RECONNECT_MIN_MS, CTL_RECONNECT_MAX_MS);

	return rc == UDSB_OK ? 0 : ctl_fail(l->c, rc);
}

/* Says once that the connection is down, while it is. */
static void
note_down(struct ctl_link *l)
{
	if (udsb_fd(l->c) >= 0 || l->down_told)
		return;
	ctl_warn("lost the connection to %s; reconnecting (every %.1f s at first, then up to "
	         "every %d s)",
	         udsb_path(l->c), CTL_RECONNECT_MIN_MS / 1000.0, CTL_RECONNECT_MAX_MS / 1000);
	l->down_told = true;
}

/* How long to wait in poll: until the deadline (-1: none), but no longer
 * than the library's next piece of work (a reconnect attempt). */
static int
wait_ms(const struct ctl_link *l, long long deadline)
{
	int lib = udsb_next_timeout(l->c);
	long long left = -1;

	if (deadline >= 0) {
		left = deadline - mono_ms();
		if (left < 0)
			left = 0;
		if (left > 1000000000)
			left = 1000000000;
	}
	if (udsb_fd(l->c) < 0 && (lib < 0 || lib > DOWN_POLL_MS))
		lib = DOWN_POLL_MS;
	if (lib >= 0 && (left < 0 || lib < left))
		left = lib;
	return (int)left;
}

enum ctl_wait
ctl_next_event(struct ctl_link *l, struct udsb_event *ev, long long deadline, int *status)
{
	for (;;) {
		struct pollfd pfd;
		int rc = udsb_recv(l->c, ev, 0);

		if (rc == UDSB_OK) {
			if (ev->type == UDSB_EV_RECONNECTED)
				l->down_told = false;
			return CTL_EVENT;
		}
		if (rc != UDSB_ETIMEDOUT && rc != UDSB_EDOWN) {
			*status = ctl_flush_stdout();
			if (*status == 0)
				*status = ctl_fail(l->c, rc);
			return CTL_END;
		}
		/* Nothing waiting: show what was printed, then wait. */
		*status = ctl_flush_stdout();
		if (*status != 0)
			return CTL_END;
		note_down(l);
		if (deadline >= 0 && mono_ms() >= deadline)
			return CTL_TIMEOUT;
		pfd.fd = udsb_fd(l->c);
		pfd.events = udsb_events(l->c);
		pfd.revents = 0;
		if (poll(&pfd, pfd.fd >= 0 ? 1 : 0, wait_ms(l, deadline)) < 0 && errno != EINTR) {
			ctl_warn("poll: %s", strerror(errno));
			*status = EXIT_OSERR;
			return CTL_END;
		}
		/* Reads, writes or reconnects, whatever is due; a loss shows at
		 * the next udsb_recv(). */
		udsb_process(l->c);
	}
}

long long
ctl_deadline(int ms)
{
	return ms < 0 ? -1 : mono_ms() + ms;
}
