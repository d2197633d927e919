/* The founding document's client, unchanged in spirit: it knows nothing of
 * udsbroker's protocol. It connects to the Unix socket named by its
 * argument, writes one line and closes. Against a mode = lines listener
 * that line is published (tests/integration/test_listeners.c). */
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	const char *msg = "Hello, world!\n";
	int fd;

	if (argc != 2 || strlen(argv[1]) >= sizeof addr.sun_path)
		return 2;
	strcpy(addr.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
		return 1;
	if (write(fd, msg, strlen(msg)) != (ssize_t)strlen(msg))
		return 1;
	close(fd);
	return 0;
}
