/*
 * publish.h: meshnamed's publisher of this host's ENDPOINTS record (DESIGN.md section 7,
 * "own endpoints"): which addresses to publish (a pure part, unit-tested) and the dispatch
 * that finds them (interfaces, rtnetlink notifications, configured names resolved with
 * evdns, the pinned list, the NAT verdict), signs the next record and ingests it. It never
 * publishes for another host, never blocks the loop, never republishes what is unchanged.
 */
#ifndef MESHNAME_DAEMON_PUBLISH_H
#define MESHNAME_DAEMON_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/config.h"
#include "meshname/record.h"
#include "meshname/snapshot.h"
#include "meshname/wgmanage.h"

struct event_base;
struct registry;
struct wg_manager;
struct publish;

/* A record the daemon publishes lasts this long (capped at the certificate's end) and is
 * signed again when less than a third of it is left. */
#define PUBLISH_LIFETIME 86400
#define PUBLISH_REFRESH_LEFT (PUBLISH_LIFETIME / 3)

/* ---- the pure part ------------------------------------------------------------------ */

/* One address of a local interface, as the dispatch found it. */
struct publish_ifaddr {
	char ifname[CONFIG_IFNAME_MAX];
	bool up;            /* IFF_UP */
	bool loopback;      /* IFF_LOOPBACK */
	bool unstable;      /* IPv6: temporary (privacy), deprecated, tentative or failed DAD */
	uint8_t family;     /* 4 or 6, as in struct rec_endpoint */
	uint8_t prefix_len; /* of the on-link prefix (for observations: "on our links") */
	uint8_t addr[16];
};

/* Where a published endpoint came from, in the order of priority under the cap. */
enum publish_source {
	PUBLISH_SRC_PINNED = 1, /* `meshname endpoint add` */
	PUBLISH_SRC_CONFIG,     /* `endpoint` in meshnamed.conf */
	PUBLISH_SRC_REFLEXIVE,  /* what peers observe, when the NAT keeps one mapping */
	PUBLISH_SRC_INTERFACE,  /* a local address: public, then ipv6, then lan */
};

/* "pinned", "config", "reflexive", "interface", or "unknown". */
const char *publish_source_name(uint8_t source);

/*
 * The kind an address is published as, or 0 when it must not be: unspecified, loopback,
 * link-local (169.254/16, fe80::/10), multicast, IPv4-mapped, broadcast, inside a mesh
 * prefix (mesh, n_mesh), or an IPv6 address that is neither ULA nor global. Then: inside
 * a lan prefix (lan, n_lan: configured) -> EP_LAN; RFC 1918, 100.64.0.0/10, fc00::/7 ->
 * EP_LAN; 2000::/3 -> EP_IPV6; any other IPv4 -> EP_PUBLIC. family is 4 or 6.
 */
uint8_t publish_classify(uint8_t family, const uint8_t addr[16], const struct config_prefix *lan,
			 size_t n_lan, const struct config_prefix *mesh, size_t n_mesh);

struct publish_input {
	uint16_t listen_port;    /* the WireGuard port: detected addresses are published on it */
	const char *mesh_ifname; /* its addresses are never published */
	const struct publish_ifaddr *addrs;
	size_t n_addrs;
	const struct config_prefix *lan; /* lan-prefix */
	size_t n_lan;
	const struct config_prefix *mesh; /* the mesh's IPv4 and IPv6 prefixes */
	size_t n_mesh;
	const struct rec_endpoint *configured; /* resolved `endpoint` lines; kind ignored */
	size_t n_configured;
	const struct rec_endpoint *pinned; /* kind kept */
	size_t n_pinned;
	const struct rec_endpoint *reflexive; /* NULL: none (the NAT is not known to be open) */
};

/*
 * The set to publish: out->listen_port and up to REC_MAX_ENDPOINTS endpoints, sorted as the
 * record wants; source[i] (may be NULL) says where out->ep[i] came from. Candidates in
 * priority order: pinned, configured (kind by publish_classify, skipped when 0), reflexive,
 * then interface addresses (up, not loopback, not the mesh interface, not unstable, kind by
 * publish_classify) public first, then ipv6, then lan, each in the order given. An address
 * and port already taken keeps its first (higher) source. Returns how many candidates the
 * cap left out.
 */
size_t publish_build(const struct publish_input *in, struct rec_endpoints *out,
		     uint8_t source[REC_MAX_ENDPOINTS]);

enum publish_why {
	PUBLISH_NONE = 0, /* what is published is what we want, and not near its end */
	PUBLISH_FIRST,    /* nothing published yet and something to say */
	PUBLISH_CHANGED,  /* the set or the listen port differ */
	PUBLISH_REFRESH,  /* less than PUBLISH_REFRESH_LEFT seconds left, and a new record
	                   * would last longer (a certificate near its end is not chased) */
};

/* Whether to publish want (sorted, as publish_build made it) given current, what is
 * published (current_seq 0: nothing), expiring at current_expires; not_after is the
 * certificate's end. */
enum publish_why publish_due(const struct rec_endpoints *want, const struct rec_endpoints *current,
			     uint64_t current_seq, uint64_t current_expires, uint64_t not_after,
			     uint64_t now);

/* The expiry of a record signed now: now + PUBLISH_LIFETIME, capped at not_after. */
uint64_t publish_expiry(uint64_t not_after, uint64_t now);

/* ---- observations of peers (OBSERVE records, doc/records.md) -------------------------- */

#define PUBLISH_OBSERVE_LIFETIME REC_OBSERVE_MAX_LIFETIME
#define PUBLISH_OBSERVE_MIN_INTERVAL 60 /* per peer, whatever changes */

/*
 * Whether what this host's WireGuard shows as peer's endpoint (endpoint, with the latest
 * handshake last_handshake) is an observation of the peer's public address: a handshake
 * younger than WG_EP_FRESH, an IPv4 or IPv6 endpoint, not on one of our links (local),
 * and not an address the peer publishes itself as LAN, PUBLIC or IPV6 (its REFLEXIVE
 * entries do count as observable: else observations would stop once it publishes one,
 * lapse, and it would unpublish it). Fills *seen (kind EP_REFLEXIVE) when true.
 */
bool publish_observation(const struct sockaddr_storage *endpoint, int64_t last_handshake,
			 const struct snapshot_host *peer, const struct wg_local_net *local,
			 int64_t now, struct rec_endpoint *seen);

/*
 * Whether to sign a new OBSERVE of seen: when there is none in force (prev NULL), when it
 * saw another address or port, or when the one in force is past half its life; never
 * within PUBLISH_OBSERVE_MIN_INTERVAL seconds of the last attempt for this peer.
 */
bool publish_observe_due(const struct rec_endpoint *seen, const struct rec_endpoint *prev,
			 uint64_t prev_issued, uint64_t prev_expires, uint64_t last_attempt,
			 uint64_t now);

/* ---- the dispatch ------------------------------------------------------------------- */

/* Called after an accepted publish, so that the daemon rebuilds its snapshot. */
typedef void (*publish_changed_fn)(void *arg);

struct publish_params {
	struct registry *reg;         /* the daemon's registry, not owned */
	const char *state_dir;        /* host key and pinned list; must outlive the publisher */
	const uint8_t *self_host_key; /* REC_KEY_SIZE bytes, NULL: no host key, nothing to do */
	struct wg_manager *wg;        /* NULL with manage no: listen-port from the config */
	publish_changed_fn changed;
	void *arg;
};

/* Opens the rtnetlink socket and the timers on base; the first look happens about a second
 * later (so that the peer manager has read the device). 0, -ENOMEM or -errno. */
int publish_new(struct event_base *base, const struct publish_params *params,
		const struct config *cfg, struct publish **out);

/* A reload: interface, listen port, lan prefixes, `endpoint` lines (names resolved again),
 * publish-endpoints. Only what it needs is copied. */
int publish_reconfigure(struct publish *p, const struct config *cfg);

/* A new snapshot (the publisher takes its own reference); looked at again soon. */
void publish_set_snapshot(struct publish *p, struct snapshot *s);

struct publish_result {
	bool published; /* a new record was ingested (else it was up to date) */
	uint64_t seq;   /* of the record in force */
	uint8_t n;      /* its endpoints */
	uint16_t listen_port;
};

/* Looks now (for `meshname endpoint add|rm`, through the control socket), without waiting
 * for the rate limit or an error's back-off. 0; -EOPNOTSUPP (publish-endpoints no),
 * -ENOENT (this host is not an active member, or has no host key), or the signing or
 * ingest error. */
int publish_now(struct publish *p, uint64_t now, struct publish_result *res);

/* What `meshname status` shows (control.c renders it as "endpoints"). */
struct publish_status {
	bool enabled; /* publish-endpoints yes */
	bool member;  /* this host is an active member: else nothing is published */
	uint64_t seq; /* of the record in force, 0: none */
	uint64_t expires;
	uint64_t last_publish; /* when this daemon last published, 0: not since it started */
	struct rec_endpoints published;        /* the record in force */
	const char *source[REC_MAX_ENDPOINTS]; /* publish_source_name of published.ep[i] */
	size_t n_dropped;                      /* candidates the cap left out at the last look */
	const char *nat;     /* wg_nat_name: "unknown", "open", "symmetric", "none" */
	size_t n_observed;   /* observations this daemon signed since it started */
	size_t n_unresolved; /* `endpoint` names that did not resolve at the last try */
	char unresolved[CONFIG_MAX_ENDPOINT][CONFIG_HOST_MAX];
	char error[256]; /* the last publish error, "" when the last one worked */
};

void publish_status(const struct publish *p, struct publish_status *st);

/* Cancels name lookups, closes the socket and timers. NULL: no-op. */
void publish_free(struct publish *p);

#endif
