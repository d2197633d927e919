/*
 * What the system tests add to the test harness (tests/harness): a stand-in
 * for systemd's notification socket, receiving sd_notify datagrams.
 */
#ifndef UDSB_SYSTEM_SDNOTIFY_H
#define UDSB_SYSTEM_SDNOTIFY_H

#include <stddef.h>
#include <sys/types.h>

/* A datagram socket standing in for systemd's notification socket. */
struct notify {
	int fd;
	char path[128];
	char seen[4096]; /* every datagram received so far, separated by "|" */
};

/* Binds n to dir + "/notify", with SO_PASSCRED to learn each sender's pid.
 * Returns 0 or -1. */
int notify_open(struct notify *n, const char *dir);

/* Reads datagrams until one holds the line want (such as "READY=1"),
 * waiting at most timeout_ms in all; copies that datagram into dgram.
 * Every datagram must come from pid (NotifyAccess=main); one from another
 * process is an error. Returns 0, or -1 (the reason on stderr). */
int notify_wait(struct notify *n, const char *want, pid_t pid, char *dgram, size_t size,
                int timeout_ms);

/* Closes and unlinks the socket. */
void notify_close(struct notify *n);

#endif
