/*
 * wg.h: WireGuard as the peer manager sees it (DESIGN.md section 7): the state of one
 * interface, and the backends that read and change it (the cross-platform userspace
 * API socket of wireguard-go and boringtun, and Linux's kernel over generic netlink),
 * chosen the way `wg` chooses. Shaped after wireguard-tools' struct wgdevice.
 * Nothing here knows about the registry or DNS.
 */
#ifndef MESHNAME_WG_H
#define MESHNAME_WG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define WG_KEY_LEN 32
#define WG_IFNAME_MAX 16             /* IFNAMSIZ, with the NUL */
#define WG_UAPI_DIR "/run/wireguard" /* where userspace implementations put IFACE.sock */

struct wg_allowedip {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t cidr;
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
};

enum wg_peer_flags {
	WG_PEER_REMOVE = 1u << 0,             /* set: remove this peer */
	WG_PEER_REPLACE_ALLOWEDIPS = 1u << 1, /* set: allowed IPs replace the old list */
	WG_PEER_HAS_ENDPOINT = 1u << 2,       /* get and set: endpoint is meaningful */
	WG_PEER_HAS_KEEPALIVE = 1u << 3,      /* get and set: persistent_keepalive is meaningful */
	WG_PEER_UPDATE_ONLY = 1u << 4,        /* set: do not create the peer if absent */
};

struct wg_peer {
	uint8_t public_key[WG_KEY_LEN];
	unsigned flags;                   /* enum wg_peer_flags */
	struct sockaddr_storage endpoint; /* sockaddr_in or sockaddr_in6 */
	uint16_t persistent_keepalive;    /* seconds, 0 = off */
	int64_t last_handshake_sec;       /* get only: unix time, 0 = never */
	uint64_t rx_bytes, tx_bytes;      /* get only */
	size_t n_allowedips;
	struct wg_allowedip *allowedips; /* owned by the device */
};

enum wg_device_flags {
	WG_DEVICE_HAS_PRIVATE_KEY = 1u << 0,
	WG_DEVICE_HAS_LISTEN_PORT = 1u << 1,
	WG_DEVICE_HAS_FWMARK = 1u << 2,
	WG_DEVICE_REPLACE_PEERS = 1u << 3, /* set: peers not listed are removed */
};

struct wg_device {
	char name[WG_IFNAME_MAX];
	unsigned flags;                  /* enum wg_device_flags */
	uint8_t private_key[WG_KEY_LEN]; /* wiped by wg_device_free */
	uint8_t public_key[WG_KEY_LEN];  /* get only */
	uint16_t listen_port;
	uint32_t fwmark;
	size_t n_peers;
	struct wg_peer *peers; /* owned */
};

/* Frees the peers and their allowed IPs and wipes the private key; the struct itself
 * is the caller's. NULL is a no-op. */
void wg_device_clear(struct wg_device *dev);

/* Appends a zeroed peer (or an allowed IP to a peer); returns it, NULL when out of memory.
 * Adding a peer may move the array: earlier wg_peer pointers are then stale. An allowed
 * IP is stored with its host bits cleared (as wireguard-go and the kernel keep it);
 * NULL also for a family other than AF_INET/AF_INET6 or a cidr too long for it. */
struct wg_peer *wg_device_add_peer(struct wg_device *dev, const uint8_t key[WG_KEY_LEN]);
struct wg_allowedip *wg_peer_add_allowedip(struct wg_peer *peer, uint8_t family,
					   const uint8_t *addr, uint8_t cidr);

/* ---- the userspace API (wireguard-go, boringtun): pure codec and a client -------------- */

/*
 * Writes the "set=1\n...\n\n" request for dev (only what its flags say) into a new
 * buffer (*out, caller frees, NUL-terminated, *len without the NUL). -ENOMEM, -EINVAL.
 */
int wg_uapi_format_set(const struct wg_device *dev, char **out, size_t *len);

/*
 * Parses the reply to "get=1\n\n" (key=value lines ending with "errno=N\n\n") into dev
 * (cleared first). Returns 0, the negative errno the reply carried, or -EBADMSG for a
 * malformed reply. Unknown keys are ignored (newer implementations add some).
 */
int wg_uapi_parse_get(const char *text, size_t len, struct wg_device *dev);

/* Parses the reply to a set ("errno=N\n\n"): 0, -N, or -EBADMSG. */
int wg_uapi_parse_set_reply(const char *text, size_t len);

/* The UAPI socket path of ifname under dir (WG_UAPI_DIR unless a test says otherwise). */
int wg_uapi_path(const char *dir, const char *ifname, char *out, size_t size);

/* One request per connection, bounded in time (timeout_ms) and size. get: dev is
 * filled (caller clears); set: a set is not atomic in UAPI, so callers verify with a
 * get afterwards. -ENOENT: no socket (no userspace implementation for ifname). */
int wg_uapi_get(const char *dir, const char *ifname, int timeout_ms, struct wg_device *dev);
int wg_uapi_set(const char *dir, const char *ifname, int timeout_ms, const struct wg_device *dev);

#endif
