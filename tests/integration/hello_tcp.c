/* The same client over TCP: connects to 127.0.0.1:PORT (its argument),
 * writes one line and closes, as a program writing to `nc -l 127.0.0.1
 * 8080` would. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	const char *msg = "Hello, world!\n";
	int fd;

	if (argc != 2)
		return 2;
	addr.sin_port = htons((unsigned short)atoi(argv[1]));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
		return 1;
	if (write(fd, msg, strlen(msg)) != (ssize_t)strlen(msg))
		return 1;
	close(fd);
	return 0;
}
