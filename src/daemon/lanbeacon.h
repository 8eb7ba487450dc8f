/*
 * lanbeacon.h: LAN discovery for meshnamed (DESIGN.md section 5): sends this host's signed
 * beacon (beacon.h) every BEACON_INTERVAL seconds by IPv4 broadcast on every up interface
 * with a broadcast address and by IPv6 multicast to LANBEACON_GROUP on every up
 * multicast interface (loopback and the mesh interface excepted), and hands every valid
 * beacon of the same mesh from another host to the caller with the address it came from.
 * A beacon is accepted only if its timestamp is newer than the last one accepted from that
 * host key (replays within the window are dropped). Never blocks; a send that fails on one
 * interface is logged once and does not stop the others.
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
 * the interface it arrived on. */
typedef void (*lanbeacon_heard_fn)(void *arg, const struct beacon *b,
				   const struct sockaddr_storage *from, unsigned ifindex);

struct lanbeacon_params {
	uint8_t mesh_id[REC_ID_SIZE];
	uint8_t host_sk[REC_SECRET_SIZE]; /* copied (and wiped on free): signs beacons */
	uint16_t port;                    /* UDP port beacons go to and are heard on */
	uint16_t sync_port;               /* the TCP port a beacon announces */
	const char *mesh_ifname;          /* never sent on (NULL: none) */
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
	uint64_t sent, send_errors;
	uint64_t heard;    /* valid beacons handed to the caller */
	uint64_t rejected; /* datagrams refused: malformed, another mesh, stale, forged, replayed */
	uint64_t own;      /* our own beacons looped back, ignored */
};
void lanbeacon_stats(const struct lanbeacon *lb, struct lanbeacon_stats *st);

#endif
