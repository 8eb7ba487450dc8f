/*
 * lanbeacon.h: LAN discovery for meshnamed (DESIGN.md section 5): sends this host's signed
 * beacon (beacon.h) every BEACON_INTERVAL seconds by IPv4 broadcast on every up interface
 * with a broadcast address and by IPv6 multicast to LANBEACON_GROUP on every up
 * multicast interface (loopback and the mesh interface excepted), and hands every valid
 * beacon of the same mesh from another host to the caller with the address it came from.
 * A beacon is accepted only if its timestamp is newer than the last one accepted from that
 * host key (replays within the window are dropped). Never blocks; a send that fails on one
 * interface is logged once and does not stop the others.
 *
 * Both sockets set SO_REUSEADDR: several processes in one network namespace may listen,
 * and each gets every broadcast and multicast beacon. At most one beacon a second goes out
 * (lanbeacon_send_now waits for the next second if need be), so that each is newer than
 * the last; the same beacon heard again over the other family or another interface is a
 * duplicate (counted apart), not a replay. doc/sync.md "LAN beacon" has the whole rule.
 */
#ifndef MESHNAME_DAEMON_LANBEACON_H
#define MESHNAME_DAEMON_LANBEACON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "meshname/beacon.h"
#include "meshname/record.h"

struct event_base;
struct lanbeacon;

#define LANBEACON_GROUP "ff02::114" /* link-local, "any private experiment" (RFC 4291) */

/* A beacon was heard: b is checked (mesh, time, signature, newer than the last from its
 * key), from is the sender's address with the port set to b->port (its sync port), ifindex
 * the interface it arrived on. It must not call lanbeacon_free (the read loop goes on). */
typedef void (*lanbeacon_heard_fn)(void *arg, const struct beacon *b,
				   const struct sockaddr_storage *from, unsigned ifindex);

struct lanbeacon_params {
	uint8_t mesh_id[REC_ID_SIZE];
	uint8_t host_sk[REC_SECRET_SIZE]; /* copied (and wiped on free): signs beacons */
	uint16_t port;                    /* UDP port beacons go to and are heard on */
	uint16_t sync_port;               /* the TCP port a beacon announces */
	const char *mesh_ifname;          /* never sent on, beacons over it refused (NULL: none) */
	lanbeacon_heard_fn heard;
	void *arg;
};

/* Binds the UDP sockets (IPv4 with SO_BROADCAST, IPv6 joined to LANBEACON_GROUP on each
 * interface) and sends the first beacon within a second. 0 or -errno. */
int lanbeacon_new(struct event_base *base, const struct lanbeacon_params *p,
		  struct lanbeacon **out);
void lanbeacon_free(struct lanbeacon *lb); /* NULL is a no-op */

/* What the next beacons say: the seq of this host's newest ENDPOINTS record and the
 * fingerprint of its sync set. */
void lanbeacon_update(struct lanbeacon *lb, uint64_t endpoints_seq,
		      const uint8_t fingerprint[BEACON_FINGERPRINT_SIZE]);

/* Sends a beacon now (a link came up: neighbours learn of us at once) and joins the
 * multicast group on interfaces that appeared since. */
void lanbeacon_send_now(struct lanbeacon *lb);

struct lanbeacon_stats {
	uint64_t sent, send_errors; /* datagrams: one per beacon, interface and family */
	uint64_t heard;             /* valid beacons handed to the caller */
	uint64_t rejected; /* datagrams refused: malformed, another mesh, stale, forged, replayed,
			    * or over the mesh interface */
	uint64_t own;      /* our own beacons looped back, ignored */
	/* Added after the fields above (so that their users need no change): */
	uint64_t duplicates; /* the beacon last heard from a key again (over the other family
			      * or another interface): dropped, not counted as rejected */
	uint64_t replayed;   /* of rejected: not newer than the last heard from its key */
	uint64_t forged;     /* of rejected: the signature is not the host key's */
	uint64_t other_mesh; /* of rejected: another mesh's beacon */
};
void lanbeacon_stats(const struct lanbeacon *lb, struct lanbeacon_stats *st);

/* ---- Pure parts, exposed for tests --------------------------------------------------- */

/* At most this many interfaces are sent on and joined (the first ones getifaddrs lists);
 * the rest are left out and logged once. */
#define LANBEACON_MAX_IFS 64

/* Whether beacons of this family (AF_INET: IPv4 broadcast, AF_INET6: IPv6 multicast) go out
 * on an interface with these getifaddrs flags and this name: up and running, not loopback,
 * not the mesh interface (an IPv4 label such as "eth0:1" counts as its device "eth0");
 * IPv4 needs IFF_BROADCAST, IPv6 IFF_MULTICAST. mesh_ifname may be NULL. */
bool lanbeacon_interface_usable(int family, unsigned flags, const char *name,
				const char *mesh_ifname);

/*
 * The replay window: the newest beacon accepted from each of up to LANBEACON_WINDOW_SIZE
 * host keys. A full window forgets the key whose newest timestamp is oldest and raises
 * its floor to that timestamp: a key it does not hold must then be newer than the floor,
 * so that forgetting a key never lets an old beacon of it in again.
 */
#define LANBEACON_WINDOW_SIZE 256

struct lanbeacon_seen {
	bool used;
	uint8_t key[REC_KEY_SIZE];
	uint64_t timestamp; /* of the newest beacon accepted from key */
	uint64_t endpoints_seq;
	uint16_t port;
	uint8_t fingerprint[BEACON_FINGERPRINT_SIZE];
};

struct lanbeacon_window {
	struct lanbeacon_seen seen[LANBEACON_WINDOW_SIZE];
	uint64_t floor; /* newest timestamp forgotten to make room (0: none) */
};

enum lanbeacon_verdict {
	LANBEACON_NEW,       /* newer than every beacon accepted from its key: now the newest */
	LANBEACON_DUPLICATE, /* the same beacon as the newest from its key (same timestamp and
			      * fields): the other family's or another interface's copy */
	LANBEACON_REPLAY,    /* older, or the same second with other fields, or an unknown key
			      * not newer than the floor */
};

/* Judges a decoded, checked beacon; on LANBEACON_NEW remembers it. A zeroed window is
 * empty. */
enum lanbeacon_verdict lanbeacon_window_check(struct lanbeacon_window *w, const struct beacon *b);

#endif
