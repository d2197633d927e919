#include <stdio.h>
#include <udsbroker.h>

int
main(void)
{
	struct udsb *c = udsb_new();
	struct udsb_event ev;

	if (!c || udsb_connect(c, NULL) || udsb_subscribe(c, "demo/#") ||
	    udsb_publish(c, "demo/hello", "hi", 2) || udsb_recv(c, &ev, 5000)) {
		fprintf(stderr, "demo: %s\n", c ? udsb_errmsg(c) : "out of memory");
		return 1;
	}
	printf("%s %s\n", ev.topic, ev.payload);
	udsb_free(c);
	return 0;
}
