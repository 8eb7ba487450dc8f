/*
 * wgmanager.h: the WireGuard peer manager's dispatch (DESIGN.md section 7): a libevent
 * timer that reads the interface, runs the pure engines of wgmanage.h on the current
 * snapshot, and applies the change set. Userspace API backend only for now. It owns the
 * wireguard-go child it may start; it never owns the event loop or the snapshot.
 */
#ifndef MESHNAME_WGMANAGER_H
#define MESHNAME_WGMANAGER_H

#include <stdbool.h>
#include <stdint.h>

#include "meshname/record.h"
#include "meshname/snapshot.h"

struct event_base;
struct wg_manager;

struct wg_manager_config {
	const char *ifname;    /* the mesh interface */
	bool manage_interface; /* `manage yes`: start wireguard-go if needed, addresses, up */
	bool remove_on_exit;   /* `on-exit remove`: stop the wireguard-go we started */
	const char *userspace; /* wireguard-go to start (manage_interface), "" or NULL: none */
	uint16_t listen_port;  /* 0: leave the device's */
	const char *state_dir; /* wg.key is read from here */
	const char *uapi_dir;  /* NULL: WG_UAPI_DIR */
	const uint8_t *self_host_key; /* REC_KEY_SIZE bytes, NULL: unknown (every host a peer) */
};

/* Starts the 1 s timer on base (the first tick runs at once). 0, -ENOMEM, -EINVAL. */
int wg_manager_new(struct event_base *base, const struct wg_manager_config *cfg,
		   struct wg_manager **out);

/* A new snapshot (the manager takes its own reference): reconciled at once. */
void wg_manager_set_snapshot(struct wg_manager *m, struct snapshot *s);

/* Stops the timer, stops the wireguard-go it started when remove_on_exit. NULL: no-op. */
void wg_manager_free(struct wg_manager *m);

#endif
