/*
 * Bridges to MQTT brokers: one link per [bridge NAME] section. A link is a
 * subscriber of its own kind in the broker's index (for its out filters)
 * and a publisher (of what comes in through its in filters), and it drives
 * a libmosquitto client from the broker's own event loop: the client's
 * socket is an event, mosquitto_loop_read/write/misc run from its callbacks
 * and a timer, and no other thread ever runs. Built only with the meson
 * feature mqtt-bridge (HAVE_MQTT_BRIDGE).
 */
#ifndef UDSB_BRIDGE_H
#define UDSB_BRIDGE_H

#include <stddef.h>

struct broker;
struct event_base;
struct bridges;

/* Starts a link for every [bridge] section in b's config, each connecting
 * at once, and adds their values to STATS and $SYS. Returns 0 with the set
 * in *out (NULL when there are none), or -1 with why in err. */
int bridges_start(struct broker *b, struct event_base *base, struct bridges **out, char *err,
                  size_t errlen);

/* Disconnects and frees every link (before the broker is freed). */
void bridges_stop(struct bridges *br);

#endif
