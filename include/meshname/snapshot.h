/*
 * snapshot.h: the immutable, reference-counted view of the registry that the resolver
 * and the WireGuard manager read (DESIGN.md section 2). Built once by the registry on
 * every accepted change, never modified after snapshot_builder_finish; readers never
 * touch sqlite. Single-threaded reference counting (one event loop).
 */
#ifndef MESHNAME_SNAPSHOT_H
#define MESHNAME_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "meshname/record.h"

struct snapshot;
struct snapshot_builder;

/* One unexpired OBSERVE record about a host, from an active host (the observer). */
struct snapshot_observation {
	uint8_t observer[REC_KEY_SIZE]; /* the observer's host key (snapshot_lookup_host_key) */
	struct rec_endpoint seen;       /* kind EP_REFLEXIVE */
	uint64_t seq;
	uint64_t issued_at;
	uint64_t expires_at;
};
/* At most this many observations per host in a snapshot: the newest by issued_at (then
 * observer key) of those stored, so a mesh of thousands of hosts that all observe one
 * server does not copy thousands of entries into every snapshot. */
#define SNAPSHOT_MAX_OBSERVATIONS 16

/* One active host: the winning CERT, its newest ENDPOINTS, and what others observed of it. */
struct snapshot_host {
	const char *name; /* lowercase label */
	uint8_t ipv4[4];
	uint8_t ipv6[16];
	uint8_t host_key[REC_KEY_SIZE];
	uint8_t wg_key[REC_KEY_SIZE];
	uint8_t cert_id[REC_ID_SIZE];
	uint64_t serial;
	uint64_t not_before;
	uint64_t not_after;
	uint8_t n_groups;
	const char *const *groups; /* n_groups lowercase labels, sorted */
	uint64_t endpoints_seq;    /* 0: no ENDPOINTS record */
	uint64_t endpoints_expires;
	uint16_t listen_port;
	uint8_t n_endpoints;
	const struct rec_endpoint *endpoints;
	uint8_t n_observations;                          /* <= SNAPSHOT_MAX_OBSERVATIONS */
	const struct snapshot_observation *observations; /* newest issued_at first */
};

/* One custom DNS resource record (an active RECORD of op ADD). */
struct snapshot_rr {
	const char *owner; /* relative to the zone, lowercase, "" = apex */
	uint16_t rrtype;
	uint32_t ttl;
	uint16_t rdlen;
	const uint8_t *rdata; /* wire format, uncompressed */
};

/*
 * The builder copies everything it is given, so the caller's buffers may go away.
 * Hosts must have distinct names, addresses and keys (the registry guarantees it;
 * the builder returns -EEXIST otherwise). Any number of rrs per owner.
 */
struct snapshot_builder *snapshot_builder_new(const struct rec_root *root,
					      const uint8_t mesh_id[REC_ID_SIZE],
					      uint64_t generation);
int snapshot_builder_add_host(struct snapshot_builder *b, const struct snapshot_host *h);
int snapshot_builder_add_rr(struct snapshot_builder *b, const struct snapshot_rr *rr);
/* Finishes and frees b (also on failure). *out has one reference: caller unrefs. */
int snapshot_builder_finish(struct snapshot_builder *b, struct snapshot **out);
/* Frees an unfinished builder; NULL is a no-op. */
void snapshot_builder_free(struct snapshot_builder *b);

struct snapshot *snapshot_ref(struct snapshot *s);
void snapshot_unref(struct snapshot *s); /* NULL is a no-op */

const struct rec_root *snapshot_root(const struct snapshot *s);
const uint8_t *snapshot_mesh_id(const struct snapshot *s);
const char *snapshot_zone(const struct snapshot *s);
/* Increases with every registry change; lets readers see that a swap happened. */
uint64_t snapshot_generation(const struct snapshot *s);

/* Hosts in name order. */
size_t snapshot_host_count(const struct snapshot *s);
const struct snapshot_host *snapshot_host_at(const struct snapshot *s, size_t i);

/* Case-insensitive; name is one label of len bytes, not NUL-terminated. NULL if none. */
const struct snapshot_host *snapshot_lookup_name(const struct snapshot *s, const char *name,
						 size_t len);
const struct snapshot_host *snapshot_lookup_ipv4(const struct snapshot *s, const uint8_t a[4]);
const struct snapshot_host *snapshot_lookup_ipv6(const struct snapshot *s, const uint8_t a[16]);
const struct snapshot_host *snapshot_lookup_host_key(const struct snapshot *s,
						     const uint8_t key[REC_KEY_SIZE]);

/* Custom records in (owner, rrtype, rdata) order. */
size_t snapshot_rr_count(const struct snapshot *s);
const struct snapshot_rr *snapshot_rr_at(const struct snapshot *s, size_t i);
/* All rrs of one owner (case-insensitive, len bytes, relative to the zone): returns
 * how many and sets *first to the first of them (they are contiguous). */
size_t snapshot_rr_find(const struct snapshot *s, const char *owner, size_t len,
			const struct snapshot_rr **first);

#endif
