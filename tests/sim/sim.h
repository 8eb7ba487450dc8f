/*
 * sim.h: the simulator's own interfaces (tests/sim/ only): a mesh of N hosts generated
 * once (ROOT and CERTs signed for real, raw bytes shared by every node), and the sync
 * store each simulated node runs the session engine over.
 */
#ifndef MESHNAME_SIM_H
#define MESHNAME_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshname/record.h"
#include "meshname/sync.h"

/* One stored record: raw bytes and what the sync set and the checks need of it. */
struct sim_rec {
	uint64_t issued_at;
	uint64_t expires_at; /* 0 = never */
	uint8_t id[REC_ID_SIZE];
	uint8_t type;
	uint8_t signer[REC_KEY_SIZE];
	uint64_t seq;
	uint8_t *buf;
	size_t len;
};

/* The mesh every node starts from: immutable once made, shared by all stores. */
struct sim_mesh {
	uint8_t mesh_id[REC_ID_SIZE];
	uint8_t admin_pk[REC_KEY_SIZE];
	uint64_t now; /* unix seconds the mesh was made for (certificates valid around it) */
	size_t n_hosts;
	uint8_t (*host_pk)[REC_KEY_SIZE];    /* by host index */
	uint8_t (*host_sk)[REC_SECRET_SIZE]; /* by host index */
	uint8_t (*sorted_pk)[REC_KEY_SIZE];  /* host keys in memcmp order, for lookups */
	struct sim_rec *rec;                 /* ROOT and CERTs, sorted by id */
	size_t n_rec;
};

/* Makes a mesh of n hosts (keys from seed: the same seed, the same mesh) at unix time
 * now. 0, -ENOMEM, or a signing error. */
int sim_mesh_new(size_t n, uint64_t seed, uint64_t now, struct sim_mesh **out);
void sim_mesh_free(struct sim_mesh *m);

/* The index of the host with key pk, or -1. */
long sim_mesh_host(const struct sim_mesh *m, const uint8_t pk[REC_KEY_SIZE]);

/*
 * A node's store: the shared mesh plus the records it learned since (kept here). Its
 * ingest validates for real: size, rec_decode (canonical), mesh id, time window,
 * authorization (admin-signed types by the admin key, ENDPOINTS by a member's host key),
 * replay (ENDPOINTS with a lower seq than stored for its signer), rec_verify; and keeps
 * the sync.h contract (a malicious error in a batch stores nothing of it).
 */
struct sim_store {
	struct sync_store ops; /* what the session engine is given; ops.arg is this */
	const struct sim_mesh *mesh;
	struct sim_rec *own;
	size_t n_own, cap_own;
	uint64_t verified; /* signatures checked */
};

void sim_store_init(struct sim_store *st, const struct sim_mesh *m);
void sim_store_fini(struct sim_store *st);
bool sim_store_has(const struct sim_store *st, const uint8_t id[REC_ID_SIZE]);

/* Signs an ENDPOINTS record of host h with sequence seq at unix time now into buf
 * (REC_MAX_SIZE bytes). 0 or a rec_sign error. */
int sim_endpoints_record(const struct sim_mesh *m, size_t h, uint64_t seq, uint64_t now,
			 uint8_t *buf, size_t *len);

#endif
