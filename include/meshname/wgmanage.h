/*
 * wgmanage.h: the two pure engines of the WireGuard peer manager (DESIGN.md section 7):
 * reconciliation (registry snapshot -> desired peers -> the smallest change to a device)
 * and the per-peer endpoint choice. No sockets, no libevent, no logging, no clock:
 * time is a parameter (unix seconds), so tests drive a virtual clock.
 */
#ifndef MESHNAME_WGMANAGE_H
#define MESHNAME_WGMANAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "meshname/record.h"
#include "meshname/snapshot.h"
#include "meshname/wg.h"

/* ---- this host's network, as the dispatch code sees it ---------------------------- */

/* One address of an up interface with its on-link prefix, e.g. 192.168.1.20/24. The
 * caller lists every interface but the mesh one and loopback. */
struct wg_local_prefix {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t len;    /* prefix length */
	uint8_t addr[16];
};

struct wg_local_net {
	size_t n;
	const struct wg_local_prefix *prefixes;
};

/* True if addr (family 4 or 6, as in struct rec_endpoint) lies in one of local's prefixes
 * (link-local prefixes count: they are on-link too). */
bool wg_local_on_link(const struct wg_local_net *local, uint8_t family, const uint8_t addr[16]);

/* True if one of local's addresses is a global IPv6 address (2000::/3). */
bool wg_local_has_global_ipv6(const struct wg_local_net *local);

/* Same family, address and port (IPv6: and scope); an IPv4-mapped IPv6 address equals
 * its IPv4 address. Anything but AF_INET/AF_INET6 equals nothing. */
bool wg_sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/* ---- reconciliation (src/wg/reconcile.c) ------------------------------------------ */

#define WG_KEEPALIVE_NAT 25          /* seconds, where either side is behind NAT */
#define WG_RECONCILE_MAX_CHANGES 256 /* a sensible cap per tick for the dispatch code */

/*
 * The keepalive rule. A host is directly reachable when its ENDPOINTS record lists at
 * least one EP_PUBLIC or EP_IPV6 entry (an address anyone may send to first); a host with
 * only EP_LAN/EP_REFLEXIVE entries, or no ENDPOINTS record, is taken to be behind NAT.
 * Returns WG_KEEPALIVE_NAT when self (NULL: not in the snapshot, so unknown, so behind
 * NAT) or peer is not directly reachable, else 0. Keepalive keeps the NAT mapping open
 * so that the other side can reach a NATed host; between two reachable hosts it would
 * only cost traffic.
 */
uint16_t wg_keepalive_for(const struct snapshot_host *self, const struct snapshot_host *peer);

/* Fills *endpoint with the endpoint wanted for peer and returns true, or returns false
 * for "none wanted: leave what the device has" (see wg_ep_update). */
typedef bool (*wg_endpoint_fn)(void *ctx, const struct snapshot_host *peer,
			       struct sockaddr_storage *endpoint);

/*
 * Fills desired (zeroed by the caller; cleared here on failure) with one peer per active
 * host of s except the one whose host key is self_host_key: key = its WireGuard key,
 * allowed IPs = its mesh /32 and /128, WG_PEER_HAS_KEEPALIVE with wg_keepalive_for, and
 * WG_PEER_HAS_ENDPOINT with the endpoint endpoint_for gives (NULL: none for anyone).
 * Caller clears desired with wg_device_clear. 0 or -ENOMEM.
 */
int wg_desired_from_snapshot(const struct snapshot *s, const uint8_t self_host_key[REC_KEY_SIZE],
			     wg_endpoint_fn endpoint_for, void *ctx, struct wg_device *desired);

struct wg_reconcile_result {
	size_t n_removed;  /* peers in the change set with WG_PEER_REMOVE */
	size_t n_added;    /* new peers */
	size_t n_changed;  /* existing peers with only what changed */
	size_t n_deferred; /* additions/changes left for a later call by max_changes: "more to do" */
	/* On -EADDRINUSE: the allowed IP and the two desired peers claiming it. On -EINVAL for a
	 * key listed twice: conflict_key[0] == conflict_key[1] == that key. */
	struct wg_allowedip conflict_ip;
	uint8_t conflict_key[2][WG_KEY_LEN];
};

/*
 * Computes the change that turns current (a device as a get returned it) into desired
 * (as wg_desired_from_snapshot makes it) and writes it to changes (zeroed by the caller;
 * caller clears; cleared here on failure; changes->name is current->name):
 *  - a current peer not desired: WG_PEER_REMOVE only. Removals are never deferred: a
 *    revoked host loses its tunnel within one reconcile, and a removal is cheap;
 *  - a desired peer not current: WG_PEER_REPLACE_ALLOWEDIPS with its allowed IPs, its
 *    endpoint if it has one, its keepalive if not 0;
 *  - a peer in both: WG_PEER_UPDATE_ONLY plus only what differs: the endpoint (when
 *    desired has one and it is not the device's), the keepalive (when desired has
 *    WG_PEER_HAS_KEEPALIVE and the value differs), the allowed IPs (compared as sets, host
 *    bits masked as WireGuard masks them; replaced as a whole). A peer with nothing
 *    different is not in changes at all, so its session is never touched.
 * max_changes (0 = no cap) bounds the additions plus changes of one call; existing peers'
 * changes come before additions; the rest is counted in res->n_deferred and produced by
 * the next call (with a fresh get as current).
 * Cost: O(n log n) in peers (both sides sorted by key, then merged; allowed IPs checked
 * for duplicates in one hash set): 1,000 peers in about 0.3 ms here.
 * Returns 0; -EADDRINUSE when two desired peers share an allowed IP (res says which, the
 * first claimant in desired's order first; the registry cannot produce this, so it is the
 * last line of defence, and nothing is applied);
 * -EINVAL when desired holds a key twice or a bad allowed IP (family, cidr); -ENOMEM.
 * Never logs: the caller does, with res.
 */
int wg_reconcile(const struct wg_device *current, const struct wg_device *desired,
		 size_t max_changes, struct wg_device *changes, struct wg_reconcile_result *res);

/* ---- NAT verdict from observations (src/wg/nat.c) -------------------------------- */

enum wg_nat {
	WG_NAT_UNKNOWN = 0, /* not enough independent observations to say */
	WG_NAT_OPEN,        /* two independent observers agree: one mapping, publish it */
	WG_NAT_SYMMETRIC,   /* independent observers disagree: publish no reflexive endpoint */
	WG_NAT_NONE,        /* self is directly reachable (wg_keepalive_for's rule): no NAT */
};

/* How long a disagreement counts: observations issued more than this before now are not
 * used to call a NAT symmetric (a mapping may have changed since, e.g. a router reboot). */
#define WG_NAT_RECENT 600

/*
 * What the observations of self in s say about self's NAT, judged at now (unix seconds):
 *  - WG_NAT_NONE when self's ENDPOINTS lists an EP_PUBLIC or EP_IPV6 entry (as in
 *    wg_keepalive_for): anyone may send to it first, there is nothing to punch.
 *  - Only observations with expires_at > now and issued_at <= now + REC_MAX_FUTURE, of kind
 *    EP_REFLEXIVE, whose observer is an active host of s other than self, count. Two
 *    observations are only ever compared when they are of the same family.
 *  - Two observers are independent when both publish at least one non-LAN endpoint
 *    address (ENDPOINTS kinds PUBLIC, IPV6, REFLEXIVE) and their sets of such addresses
 *    (family and address, port ignored) are disjoint: they reach self from different
 *    public addresses. An observer with no such address is never independent of anyone
 *    (it may share self's NAT or another observer's).
 *  - WG_NAT_OPEN when two independent observers saw the same address and port; *reflexive
 *    (may be NULL) gets it with kind EP_REFLEXIVE. When several endpoints are agreed on,
 *    the one whose agreeing pair has the newest observation (the later issued_at of the
 *    two) wins, then the larger (family, address, port), so the answer is deterministic.
 *    OPEN wins over a disagreement: an agreement shows the mapping is endpoint-independent,
 *    a disagreement may be a mapping that changed in between.
 *  - else WG_NAT_SYMMETRIC when two independent observers, both issued at most
 *    WG_NAT_RECENT seconds before now, saw different addresses or ports;
 *  - else WG_NAT_UNKNOWN (no observation, one observer, observers that are not
 *    independent, or only an old disagreement).
 * *reflexive is zeroed unless the answer is WG_NAT_OPEN. s NULL or self NULL:
 * WG_NAT_UNKNOWN. O(n^2) pairs of self's observations (at most
 * SNAPSHOT_MAX_OBSERVATIONS), each O(endpoints^2).
 */
enum wg_nat wg_nat_verdict(const struct snapshot *s, const struct snapshot_host *self, int64_t now,
			   struct rec_endpoint *reflexive);

/* "unknown", "open", "symmetric", "none" (status output). */
const char *wg_nat_name(enum wg_nat nat);

/* ---- endpoint choice (src/wg/endpoint.c): one state machine per peer --------------- */

#define WG_EP_FRESH 180 /* a handshake younger than this: a session exists (keys live 180 s) */
#define WG_EP_TRIAL 10  /* seconds of sending a candidate gets to bring something back */
/* Seconds of sending with nothing received that make a working path dead: more than the
 * 25 s keepalive (WG_KEEPALIVE_NAT) and the 10 s passive keepalive of WireGuard, which
 * answer any traffic on a live path well within it. */
#define WG_EP_DEAD 30
#define WG_EP_BACKOFF_MIN 30   /* first back-off of a candidate that failed a trial */
#define WG_EP_BACKOFF_MAX 3600 /* back-off doubles per failure up to this */

enum wg_ep_phase {
	WG_EP_NONE = 0, /* no endpoint chosen: no usable candidate and nothing to adopt */
	WG_EP_STEADY,   /* the endpoint in use worked (or is all we have) */
	WG_EP_TRYING,   /* trying a better candidate; the previous one is kept to revert to */
	WG_EP_SEARCH,   /* nothing works (or nothing has yet): each candidate in turn */
};

/* A usable candidate, ranked, with its failure record (carried over re-ranks by address). */
struct wg_ep_cand {
	uint8_t kind; /* enum ep_kind; EP_LAN for any on-link address */
	struct sockaddr_storage addr;
	unsigned failures;
	int64_t retry_after; /* not tried again before this (unix seconds) */
};

/* Plain data, no allocation: zero it (or wg_ep_init) and keep one per peer. */
struct wg_ep_state {
	enum wg_ep_phase phase;
	struct sockaddr_storage in_use;   /* AF_UNSPEC: none */
	uint8_t in_use_kind;              /* enum ep_kind, 0 = none */
	int64_t since;                    /* when in_use was chosen */
	struct sockaddr_storage previous; /* WG_EP_TRYING: what to revert to */
	uint8_t previous_kind;
	int64_t judge_from; /* a path is judged on the sending time since this */
	uint64_t judge_tx;  /* tx_bytes at judge_from */
	uint64_t judge_rx;  /* rx_bytes at judge_from */
	bool set_pending;   /* the last update asked for a set */
	bool seen_once;     /* the device has shown in_use since it was chosen */
	bool on_device;     /* the last update saw in_use on the device and asked no set */
	uint64_t proof_rx;  /* rx_bytes at that update */
	int64_t proof_at;   /* and its time */
	size_t n_cands;
	struct wg_ep_cand cands[REC_MAX_ENDPOINTS];
};

/* What the device reports about the peer (from a get). */
struct wg_ep_seen {
	int64_t last_handshake; /* unix seconds, 0 = never */
	uint64_t tx_bytes;      /* grows while the device sends to the peer (data or handshakes) */
	uint64_t rx_bytes;      /* grows with every packet received from the peer */
	const struct sockaddr_storage *endpoint; /* NULL or AF_UNSPEC: none */
};

void wg_ep_init(struct wg_ep_state *st);

/*
 * One step of the peer's state machine; call it on every tick (about once a second: a
 * path is judged between two calls) and whenever the candidates (the peer's ENDPOINTS) or
 * local (this host's addresses) change.
 *
 * Candidates: an address in one of local's prefixes (on-link) is EP_LAN whatever kind it
 * was published with (a public address on our own segment is still the LAN path); an
 * EP_LAN address that is not on-link is skipped (a private address off our links is
 * unreachable, or somebody else's); an IPv6 candidate that is not on-link only when we
 * have a global IPv6; unknown kinds and port 0 skipped; an address listed twice kept at
 * its best kind. Rank: LAN > IPV6 > PUBLIC > REFLEXIVE, the record's order within a kind.
 *
 * What counts as proof. WireGuard does not handshake again when only an endpoint changes
 * (the session keys stay valid), so a new handshake is no test of a path. Traffic is:
 * WireGuard moves a peer's endpoint to wherever its last authenticated packet came from,
 * so when two updates in a row see the endpoint on the device and rx_bytes grew between
 * them (or a handshake completed), the peer's packets came from that endpoint: the path
 * works. A path fails when the device sends to it (tx_bytes grows) and nothing comes back.
 *
 * Rules, in order:
 *  - roaming (steady or search): when the device showed our endpoint and now shows another
 *    one while the handshake is fresh, the peer's packets came from there: adopt it (kind:
 *    that of a candidate with its address, else LAN if on-link, IPV6 for IPv6, else
 *    REFLEXIVE, an observed address), never set ours back, and back off the path left and
 *    every better-ranked candidate. (An endpoint set by hand looks the same and is
 *    respected.) At start, a device endpoint with a fresh handshake is adopted the same way.
 *  - trying a better candidate: proof (above) keeps it; WG_EP_TRIAL seconds of sending
 *    without proof revert to the previous endpoint and back the candidate off
 *    (WG_EP_BACKOFF_MIN doubling to WG_EP_BACKOFF_MAX). While the trial runs the device
 *    is held on the candidate: if the peer's packets move it back (a packet sent before
 *    the peer saw ours, or a broken path while the peer keeps talking), it is set again,
 *    and only proof counts. Until the device first shows the candidate (a set deferred by
 *    the reconcile cap), the trial clock waits, for at most WG_EP_TRIAL seconds.
 *  - steady: a usable candidate of a strictly better kind that is not backed off is tried
 *    at once; the path in use is dead after WG_EP_DEAD seconds of sending with nothing
 *    received, however fresh its last handshake;
 *  - nothing works (a dead path in steady, or WG_EP_TRIAL seconds without proof in
 *    search): search moves to the next candidate in rank order, back-off or not, but
 *    backs off the one it leaves (for the trials that follow).
 * Idle peers: a path is judged only while the device sends to the peer (tx_bytes grows);
 * an idle peer has no traffic and that proves nothing, so its endpoint stays. A better
 * candidate is still set at once on an idle peer (WireGuard follows the peer if it comes
 * from elsewhere), as a trial that stays open, its previous endpoint kept, until traffic
 * judges it: the first WG_EP_TRIAL seconds of sending keep it or revert it.
 *
 * Fills *want with the endpoint wanted (AF_UNSPEC: none, leave the device alone) and
 * returns true when it differs from seen->endpoint, i.e. must be set now.
 */
bool wg_ep_update(struct wg_ep_state *st, const struct rec_endpoint *cands, size_t n,
		  const struct wg_local_net *local, int64_t now, const struct wg_ep_seen *seen,
		  struct sockaddr_storage *want);

/* The kind of the endpoint in use (enum ep_kind, 0 = none); rec_ep_kind_name spells it
 * for status output. */
uint8_t wg_ep_kind(const struct wg_ep_state *st);

#endif
