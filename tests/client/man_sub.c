#include <err.h>
#include <stdio.h>
#include <udsbroker.h>

int
main(void)
{
	struct udsb *c = udsb_new();
	struct udsb_event ev;
	int rc;

	if (c == NULL || udsb_connect(c, NULL) != UDSB_OK ||
	    udsb_subscribe(c, "sensors/+/temp") != UDSB_OK)
		errx(69, "%s", c ? udsb_errmsg(c) : "out of memory");
	while ((rc = udsb_recv(c, &ev, 60000)) == UDSB_OK) {
		if (ev.type == UDSB_EV_MSG)
			printf("%s %.*s\n", ev.topic, (int)ev.payload_len, ev.payload);
		else if (ev.type == UDSB_EV_DROPPED)
			warnx("lost %llu messages", ev.count);
		fflush(stdout);
	}
	if (rc != UDSB_ETIMEDOUT)
		warnx("%s", udsb_errmsg(c));
	udsb_free(c);
	return rc == UDSB_ETIMEDOUT ? 0 : 1;
}
