/*
 * The remote brokers the bridge tests run against: a real mosquitto or
 * nats-server started by the test on a loopback port it chooses, its files
 * in the test daemon's directory. Every wait is bounded and on an event
 * (the port accepting a connection, a process exiting).
 */
#ifndef UDSB_TEST_REMOTE_H
#define UDSB_TEST_REMOTE_H

#include <stdbool.h>
#include <sys/types.h>

struct remote {
	pid_t pid;      /* 0 when not running */
	int port;       /* its MQTT port on 127.0.0.1 */
	char conf[192]; /* its config file */
	char log[192];  /* its output */
	char *argv[8];  /* how it was started, to start it again */
	char prog[128];
};

/* The path of a program in $PATH, /usr/sbin or /sbin, or NULL (a static
 * buffer). */
const char *remote_find(const char *prog);

/* Skips the test, saying why on stderr and to criterion, if prog is not
 * installed. */
void remote_require(const char *prog);

/* A TCP port on 127.0.0.1 free now (bound, read, closed). */
int remote_free_port(void);

/* Waits at most timeout_ms until 127.0.0.1:port accepts a connection,
 * giving up early if pid exits. Returns 0 or -1. */
int remote_wait_port(int port, pid_t pid, int timeout_ms);

/* Writes a mosquitto config in dir (listener on a free port, anonymous
 * allowed, persistence in dir, then the extra lines) and starts mosquitto,
 * waiting until it accepts. Fails the test if it cannot. */
void remote_mosquitto(struct remote *r, const char *dir, const char *extra);

/* Starts r again as it was started (same port and files), waiting until
 * it accepts. Fails the test if it cannot. */
void remote_restart(struct remote *r);

/* Sends sig to it and, for SIGTERM or SIGKILL, waits for it to exit. */
void remote_signal(struct remote *r, int sig);

/* Stops it (SIGCONT, SIGTERM, bounded wait, SIGKILL). */
void remote_stop(struct remote *r);

/* Starts prog with args (NULL-terminated, without argv[0]) writing to log,
 * a file. Returns its pid or fails the test. */
pid_t remote_spawn(const char *prog, const char *const *args, const char *log);

#endif
