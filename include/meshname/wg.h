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

/* ---- Linux's kernel WireGuard over generic netlink: pure codec and a client ------------ */

/*
 * How large one request may grow, as wireguard-tools sizes it (a page, at most 8 KiB):
 * a set with many peers is split over several messages of at most this size.
 */
#define WG_NL_MSG_MAX 8192

/* Where a split set request goes on: the next peer and, within it, the next allowed IP. */
struct wg_nl_cursor {
	size_t peer;
	size_t allowedip;
	bool started; /* the device's own settings went into the first message */
};

/*
 * Writes the next WG_CMD_SET_DEVICE request for dev (generic netlink family id family,
 * sequence number seq) into buf (size bytes) and advances *cur, which starts zeroed.
 * *len is the message's length, 0 when all of dev has been written. A peer whose allowed
 * IPs do not fit continues in the next message under its key, without the flags that
 * would undo the first part (as wireguard-tools does); the device's settings and
 * WG_DEVICE_REPLACE_PEERS go only into the first. 0, -EINVAL (bad ifname, endpoint or
 * allowed IP), -EMSGSIZE (size too small for one peer). buf then holds secrets: wipe it.
 */
int wg_nl_format_set(const struct wg_device *dev, uint16_t family, uint32_t seq,
		     struct wg_nl_cursor *cur, void *buf, size_t size, size_t *len);

/* The WG_CMD_GET_DEVICE dump request for ifname. 0, -EINVAL, -EMSGSIZE. */
int wg_nl_format_get(const char *ifname, uint16_t family, uint32_t seq, void *buf, size_t size,
		     size_t *len);

/*
 * Parses what one recv of the reply to a get (sequence seq) returned: one or more
 * netlink messages. Each message's device attributes and peers are added to dev (clear
 * it before the first call); a peer that continues the previous message's last peer
 * (same key: the kernel splits a long allowed-IP list) gets the further allowed IPs.
 * *done becomes true at NLMSG_DONE. Returns 0, the negative errno of an NLMSG_ERROR
 * (-EINTR: the dump was interrupted by a change, ask again), or -EBADMSG for a malformed
 * message (truncated message or attribute, a length wrong for the attribute's type, a
 * peer without key, another sequence number). Unknown attributes are ignored.
 */
int wg_nl_parse_get(const void *buf, size_t len, uint32_t seq, struct wg_device *dev, bool *done);

/* Parses the acknowledgement of a request (sequence seq): 0, its negative errno, -EBADMSG. */
int wg_nl_parse_ack(const void *buf, size_t len, uint32_t seq);

/*
 * The client: one generic netlink socket per call. get fills dev (cleared first; the
 * private key only as root); set sends dev in as many messages as it needs (*n_messages,
 * may be NULL) and is not atomic across them. -EPROTONOSUPPORT: the kernel has no
 * WireGuard (no "wireguard" family); -ENODEV: no interface ifname; -EOPNOTSUPP: ifname
 * is not a WireGuard interface.
 */
int wg_kernel_get(const char *ifname, struct wg_device *dev);
int wg_kernel_set(const char *ifname, const struct wg_device *dev, size_t *n_messages);

/* ---- the link over rtnetlink: kernel interfaces, and wireguard-go's tun device too ------ */

/*
 * Creates a kernel WireGuard interface (RTM_NEWLINK, kind "wireguard"). 0, -EEXIST,
 * -EOPNOTSUPP (the kernel has no WireGuard), -errno.
 */
int wg_rtnl_link_create(const char *ifname);

/* Deletes the interface (RTM_DELLINK). 0, -ENODEV, -errno. */
int wg_rtnl_link_delete(const char *ifname);

/* The interface's link kind ("wireguard"; "" for a tun device). 0, -ENODEV, -EBADMSG. */
int wg_rtnl_link_kind(const char *ifname, char *kind, size_t size);

/* What manage yes puts on the interface: this host's mesh addresses and the mesh prefixes. */
struct wg_link_config {
	uint8_t addr4[4];   /* this host's mesh IPv4, added as /32 */
	uint8_t addr6[16];  /* this host's mesh IPv6, added as /128 */
	uint8_t prefix4[4]; /* the mesh's IPv4 prefix, routed to the interface */
	uint8_t prefix4_len;
	uint8_t prefix6[16]; /* the mesh's IPv6 prefix (/48), routed to the interface */
	uint8_t prefix6_len;
};

/*
 * Brings ifname up, adds the two addresses and the two prefix routes (main table, scope
 * link). Every step replaces what is there, so a retry is harmless. On failure *step (may
 * be NULL) says which: "up", "IPv4 address", "IPv6 address", "IPv4 route", "IPv6 route".
 */
int wg_rtnl_link_configure(const char *ifname, const struct wg_link_config *cfg, const char **step);

/* ---- one backend, chosen as `wg` chooses ---------------------------------------------- */

enum wg_backend {
	WG_BACKEND_NONE,
	WG_BACKEND_USERSPACE, /* a live DIR/IFACE.sock: wireguard-go, boringtun */
	WG_BACKEND_KERNEL,    /* Linux's WireGuard over generic netlink */
};

/* "userspace", "kernel" or "none". */
const char *wg_backend_name(enum wg_backend backend);

/*
 * A live userspace socket first (uapi_dir/IFACE.sock, WG_UAPI_DIR unless a test says
 * otherwise; timeout_ms bounds it), else the kernel; *used (may be NULL) says which one
 * answered, WG_BACKEND_NONE when neither has ifname. -ENOENT: neither has ifname (no
 * socket, and no kernel interface or no WireGuard in the kernel); other errors as the
 * backend returned them.
 */
int wg_backend_get(const char *uapi_dir, const char *ifname, int timeout_ms, struct wg_device *dev,
		   enum wg_backend *used);
int wg_backend_set(const char *uapi_dir, const char *ifname, int timeout_ms,
		   const struct wg_device *dev, enum wg_backend *used);

#endif
