/*
 * registry.h: the signed registry of one mesh (DESIGN.md sections 3 and 4): validates
 * records, stores them raw in sqlite (WAL), materializes the active hosts and custom
 * records with the CRDT conflict rules, and publishes snapshots.
 * The registry never logs and never reads the clock: `now` is a parameter.
 */
#ifndef MESHNAME_REGISTRY_H
#define MESHNAME_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshname/record.h"
#include "meshname/snapshot.h"

struct registry;

/*
 * Opens (creating if needed) the registry database at path. Returns 0, or -errno
 * (-EACCES for an unreadable file, -EIO for a corrupt database).
 */
int registry_open(const char *path, struct registry **out);
void registry_close(struct registry *reg); /* NULL is a no-op */

/* Stores a genesis ROOT (seq 0, signed by one of its own admins). -EEXIST if this
 * registry already holds a mesh. */
int registry_create(struct registry *reg, const uint8_t *root, size_t len, uint64_t now);

/* 0 and the ROOT and mesh id, or -ENOENT when no mesh has been created or joined. */
int registry_root(struct registry *reg, struct rec *root, uint8_t mesh_id[REC_ID_SIZE]);
/* The raw bytes of the ROOT; *len in, buffer size; out, record length. */
int registry_root_raw(struct registry *reg, uint8_t *buf, size_t *len);

enum ingest_result {
	INGEST_ACCEPTED = 1,  /* stored; the materialized view changed or may have */
	INGEST_DUPLICATE = 2, /* this exact record is already stored */
	INGEST_PENDING = 3,   /* well formed and self-consistent, but its authorizer (the
	                       * ADMIT or CERT it depends on) is not known yet: parked and
	                       * retried when more records arrive */
};

/*
 * Validates and stores one raw record, cheapest check first (DESIGN.md section 4).
 * Returns 0 with *res set, or a negative errno describing why it was rejected:
 *   -EMSGSIZE        larger than REC_MAX_SIZE
 *   -EPROTONOSUPPORT bad magic, version or type
 *   -EBADMSG         malformed or non-canonical
 *   -EXDEV           another mesh's record
 *   -ERANGE          issued more than REC_MAX_FUTURE seconds in the future
 *   -EKEYEXPIRED     expired
 *   -EPERM           signer not authorized for this record
 *   -EINVAL          breaks a rule of the mesh (address outside the prefix, IPv6 not
 *                    derived from the host key, lifetime over the maximum, ...)
 *   -EKEYREVOKED     signer or target revoked
 *   -ESTALE          older than what is stored (replay)
 *   -EKEYREJECTED    bad signature
 *   -ENOENT          no mesh in this registry yet
 *   -EIO, -ENOSPC    storage failure: nothing was stored
 * Outside a batch, the record is committed and the view rematerialized before return.
 */
int registry_ingest(struct registry *reg, const uint8_t *buf, size_t len, uint64_t now,
		    enum ingest_result *res);

/* A one-sentence reason for an ingest error, e.g. "signature does not verify". */
const char *registry_strerror(int err);

/* true for an error of this host's storage (-ENOSPC, -EIO, -ENOMEM, -EBUSY, -EACCES), not
 * of the record. */
bool registry_is_storage_error(int err);

/*
 * Many records in one transaction (a bundle import, a sync session): signatures are
 * checked first on every core, then each record goes through registry_ingest's
 * pipeline in order. res[i] and err[i] get what registry_ingest would have returned
 * for item i. Returns 0, or a storage error (-EIO, -ENOSPC) that rolled the whole
 * batch back. A storage error that sqlite confined to one record's statement (each record
 * has its own savepoint) undoes only that record: it is in err[i], the batch goes on and
 * 0 is returned; a caller that wants all or nothing rolls back when any err[i] is a
 * storage error (the sync store does). Inside registry_begin/commit, it joins that batch.
 */
struct registry_item {
	const uint8_t *buf;
	size_t len;
};
int registry_ingest_many(struct registry *reg, const struct registry_item *items, size_t n,
			 uint64_t now, enum ingest_result *res, int *err);

/* Batches: ingest many records in one transaction and materialize once. */
int registry_begin(struct registry *reg);
int registry_commit(struct registry *reg, uint64_t now);
void registry_rollback(struct registry *reg);
/*
 * Commits a batch like registry_commit but leaves the materialized view as it was: the
 * next registry_refresh (or a registry_commit or registry_ingest) recomputes it, and
 * until then registry_snapshot and the counts of hosts and custom records show the view
 * from before. For a caller that stores many batches in a row (a sync session storing a
 * peer's records) and refreshes once after them: materializing reads the whole registry
 * (about a second at 100,000 records), so once per batch makes a cold start quadratic.
 * The records are committed and durable; a registry opened later, or another process
 * that sees the change (registry_changed), recomputes the view itself.
 */
int registry_commit_deferred(struct registry *reg);

/* Recomputes the materialized view at time now (certificates that expired since drop
 * out). Cheap when nothing changed. */
int registry_refresh(struct registry *reg, uint64_t now);

/* Sets *changed if another process (the CLI, another daemon) committed to the database
 * since the last call, and then forgets what this handle had cached, so that the next
 * registry_refresh and registry_snapshot see the change. Cheap (no table is read):
 * meant for a timer. The first call after open reports a change. */
int registry_changed(struct registry *reg, bool *changed);

/* A new snapshot of the materialized view. Caller unrefs. */
int registry_snapshot(struct registry *reg, struct snapshot **out);

/* Lowest free mesh IPv4 address: not held by any stored CERT or unexpired ADMIT, not
 * retired by a REVOKE, not the network or broadcast address. -ENOSPC when full. */
int registry_alloc_ipv4(struct registry *reg, uint64_t now, uint8_t out[4]);

/* True if some stored CERT, unexpired ADMIT or REVOKE uses this IPv4 address, or some
 * active host or unexpired ADMIT uses this name. */
bool registry_ipv4_taken(struct registry *reg, uint64_t now, const uint8_t addr[4]);
bool registry_name_taken(struct registry *reg, uint64_t now, const char *name);

/* True if this key was revoked. */
bool registry_is_revoked(struct registry *reg, const uint8_t key[REC_KEY_SIZE]);

/* Calls fn for every stored (not pending) record in (issued_at, id) order; stops and
 * returns fn's value if it is non-zero. */
typedef int (*registry_record_fn)(void *arg, const uint8_t *buf, size_t len);
int registry_foreach(struct registry *reg, registry_record_fn fn, void *arg);

/*
 * The sync set (DESIGN.md section 5): fn gets (issued_at, id) of every stored record a
 * peer could still accept at now, in (issued_at, id) order, with the id the store keeps
 * (not hashed again); stops and returns fn's value if it is non-zero. Left out: pending
 * records (not stored yet), records the registry replaced or purged (an older ENDPOINTS,
 * RECORD or OBSERVE seq, whatever a REVOKE took away: they are deleted, so two
 * registries holding the same records give the same set whatever the arrival order),
 * and records expired at now (expires_at <= now), which every peer refuses
 * (-EKEYEXPIRED), so that hosts never offer each other dead records. ROOT, REVOKE and
 * ADMIT never expire for this purpose (an expired ADMIT still authorizes its CERT).
 */
typedef int (*registry_item_fn)(void *arg, uint64_t issued_at, const uint8_t id[REC_ID_SIZE]);
int registry_foreach_item(struct registry *reg, uint64_t now, registry_item_fn fn, void *arg);
/* The same set and order, each with its record's type (enum rec_type), read from the
 * same rows: a caller that keeps some types only reads no record to learn it. */
typedef int (*registry_typed_item_fn)(void *arg, uint64_t issued_at, const uint8_t id[REC_ID_SIZE],
				      uint8_t type);
int registry_foreach_typed_item(struct registry *reg, uint64_t now, registry_typed_item_fn fn,
				void *arg);

/*
 * fn gets (issued_at, id) of every stored record (pending ones aside) issued at or after
 * since, in (issued_at, id) order, expired or not; stops and returns fn's value if it is
 * non-zero. It reads the sync set's index from since on: cheap for a recent since.
 * meshnamed's sync finds the records stored since its last look with it (records are
 * stored within seconds of being issued, unless imported or received late: those are left
 * to reconciliation).
 */
int registry_foreach_since(struct registry *reg, uint64_t since, registry_item_fn fn, void *arg);

/* The raw bytes of the stored record with this id into buf (size bytes) and its length
 * into *len. -ENOENT if no such record is stored (a pending one is not), -EMSGSIZE if
 * size is too small (*len still gets the length), -EIO. */
int registry_get(struct registry *reg, const uint8_t id[REC_ID_SIZE], uint8_t *buf, size_t size,
		 size_t *len);

/* Counts for status output. */
struct registry_counts {
	uint64_t records; /* stored */
	uint64_t pending;
	uint64_t hosts; /* active */
	uint64_t rrs;   /* active custom records */
	uint64_t alerts;
};
int registry_counts(struct registry *reg, struct registry_counts *c);

/*
 * Conflicts the rules resolved (a name or address claimed twice, an admission key
 * used twice, ENDPOINTS equivocation). Each alert is stored once; fn gets a sentence.
 */
typedef int (*registry_alert_fn)(void *arg, uint64_t at, const char *message);
int registry_foreach_alert(struct registry *reg, registry_alert_fn fn, void *arg);

/* BLAKE2b-256 over the materialized tables in a fixed order: two registries that
 * hold the same set of records give the same hash, whatever the arrival order. */
int registry_state_hash(struct registry *reg, uint8_t out[32]);

#endif
