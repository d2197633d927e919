#include <stdio.h>
#include <udsbroker.h>

int
main(void)
{
	struct udsb *c = udsb_new();
	int rc = UDSB_ENOMEM;

	if (c != NULL && (rc = udsb_connect(c, NULL)) == UDSB_OK &&
	    (rc = udsb_publish(c, "sensors/kitchen/temp", "21.5", 4)) == UDSB_OK)
		rc = udsb_ping(c, NULL);
	if (rc != UDSB_OK)
		fprintf(stderr, "%s\n", c ? udsb_errmsg(c) : "out of memory");
	udsb_free(c);
	return rc == UDSB_OK ? 0 : 1;
}
