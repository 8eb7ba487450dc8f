/*
 * wgmanager.h: the WireGuard peer manager's dispatch (DESIGN.md section 7): a libevent
 * timer that reads the interface, runs the pure engines of wgmanage.h on the current
 * snapshot, and applies the change set through wg_backend_get/set (wg.h: a userspace
 * socket first, else the kernel). It owns the wireguard-go child it may start and, with
 * manage yes, the kernel interface; it never owns the event loop or the snapshot.
 */
#ifndef MESHNAME_WGMANAGER_H
#define MESHNAME_WGMANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "meshname/record.h"
#include "meshname/snapshot.h"
#include "meshname/wg.h"

struct event_base;
struct wg_manager;

struct wg_manager_config {
	const char *ifname;    /* the mesh interface */
	bool manage_interface; /* `manage yes`: create it (kernel, else wireguard-go), addresses, up */
	bool remove_on_exit; /* `on-exit remove`: delete the kernel interface, stop our wireguard-go */
	const char *userspace; /* wireguard-go to start (manage_interface), "" or NULL: none */
	uint16_t listen_port;  /* 0: leave the device's */
	const char *state_dir; /* wg.key; rotation renames wg.key.next over it */
	const char *uapi_dir;  /* NULL: WG_UAPI_DIR */
	const uint8_t *self_host_key; /* REC_KEY_SIZE bytes, NULL: unknown (every host a peer) */
};

/* Starts the 1 s timer on base (the first tick runs at once). 0, -ENOMEM, -EINVAL. */
int wg_manager_new(struct event_base *base, const struct wg_manager_config *cfg,
		   struct wg_manager **out);

/* A new snapshot (the manager takes its own reference): reconciled at once. */
void wg_manager_set_snapshot(struct wg_manager *m, struct snapshot *s);

/* One peer as the last tick saw it on the device, for `meshname status`. */
struct wg_manager_peer_status {
	char name[64];   /* "" when the peer is not in the registry */
	uint8_t ipv4[4]; /* mesh addresses (zero when not in the registry) */
	uint8_t ipv6[16];
	struct sockaddr_storage endpoint; /* AF_UNSPEC: none */
	const char *endpoint_kind;        /* "lan", "ipv6", "public", "reflexive", "none" */
	int64_t last_handshake;           /* unix seconds, 0 = never */
	uint64_t rx_bytes, tx_bytes;
};

struct wg_manager_status {
	char ifname[WG_IFNAME_MAX];
	const char *backend; /* wg_backend_name: "userspace", "kernel" or "none" */
	bool device;         /* the last tick could read the device */
	uint16_t listen_port;
	size_t n_peers;
	struct wg_manager_peer_status *peers; /* owned: wg_manager_status_clear */
};

/* Fills st from the last tick (no I/O). 0 or -ENOMEM; st is cleared on failure. */
int wg_manager_status(const struct wg_manager *m, struct wg_manager_status *st);
void wg_manager_status_clear(struct wg_manager_status *st);

/* Stops the timer; when remove_on_exit, stops the wireguard-go it started and deletes a
 * kernel interface. NULL: no-op. */
void wg_manager_free(struct wg_manager *m);

#endif
