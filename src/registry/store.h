/*
 * store.h: the registry's sqlite3 store, private to src/registry: the schema, the
 * cached prepared statements and the struct registry they live in. It knows tables
 * and SQL, never the record rules (registry.c) or the conflict rules (materialize.c).
 */
#ifndef MESHNAME_REGISTRY_STORE_H
#define MESHNAME_REGISTRY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "meshname/record.h"

/* Bump when the schema changes; PRAGMA user_version holds it. */
#define STORE_SCHEMA_VERSION 1
/* Pending records kept at most; the oldest are dropped first. */
#define STORE_PENDING_MAX 4096

/* Every statement the registry runs more than once; see the SQL in store.c. */
enum store_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_REC_EXISTS, /* id */
	ST_REC_RAW,    /* id -> type, raw */
	ST_REC_BY_KEY, /* type, key -> id, seq, raw */
	ST_REVOKED,    /* key -> 1 if some REVOKE targets it */
	ST_REC_INSERT, /* id, type, signer, seq, issued_at, expires_at, key, key2, ipv4, name, raw */
	ST_REC_DELETE,      /* id */
	ST_PURGE_SIGNER,    /* signer */
	ST_PURGE_KEY,       /* type, key */
	ST_PURGE_KEY2,      /* key2 */
	ST_REC_OF_TYPE,     /* type -> id, raw */
	ST_REC_ALL,         /* -> raw, in (issued_at, id) order */
	ST_PENDING_EXISTS,  /* id */
	ST_PENDING_INSERT,  /* id, raw, received_at, wait_key */
	ST_PENDING_TRIM,    /* keeps the newest STORE_PENDING_MAX rows */
	ST_PENDING_BY_WAIT, /* wait_key -> id, raw */
	ST_PENDING_DELETE,  /* id */
	ST_HOST_CLEAR,
	ST_HOST_INSERT,
	ST_HOST_ALL, /* in name order */
	ST_RR_CLEAR,
	ST_RR_INSERT,
	ST_RR_ALL,       /* in (owner, rrtype, rdata) order */
	ST_ALERT_INSERT, /* message, at */
	ST_ALERT_ALL,
	ST_META_GET,       /* -> mesh_id, root, generation */
	ST_META_SET_ROOT,  /* mesh_id, root */
	ST_META_SET_GEN,   /* generation */
	ST_ADDR_TAKEN_ALL, /* now -> ipv4 of CERTs, REVOKEs, unexpired ADMITs */
	ST_ADDR_TAKEN,     /* ipv4, now -> 1 */
	ST_NAME_TAKEN,     /* name, now -> 1 */
	ST_COUNT_RECORDS,
	ST_COUNT_PENDING,
	ST_COUNT_HOSTS,
	ST_COUNT_RRS,
	ST_COUNT_ALERTS,
	ST_OBS_CLEAR,
	ST_OBS_INSERT,     /* subject, observer, seq, issued_at, expires_at, seen, rank */
	ST_OBS_OF,         /* subject -> observer, seq, issued_at, expires_at, seen; rank order */
	ST_CERT_BY_WG_KEY, /* wg key -> host key of each stored CERT that carries it */
	ST_REC_SYNC, /* now, 3 types that never expire -> issued_at, id, type; in that order */
	ST_COUNT
};

struct registry {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];

	bool has_root;
	struct rec root;
	uint8_t root_raw[REC_MAX_SIZE];
	size_t root_len;
	uint8_t mesh_id[REC_ID_SIZE];

	bool in_batch;
	int batch_error; /* a storage error that ended the batch's transaction */
	bool dirty;      /* records changed since the view was last materialized */
	bool view_valid; /* the view is right for every now in [view_now, view_until) */
	uint64_t view_now;
	uint64_t view_until;
	uint64_t generation;
	bool view_hash_known; /* view_hash is the registry_state_hash of the tables */
	uint8_t view_hash[32];
	int64_t data_version; /* PRAGMA data_version when registry_changed last looked */
};

/* Opens and checks the database, creates the schema, prepares every statement. */
int store_open(struct registry *reg, const char *path);
/* Finalizes the statements and closes the database. */
void store_close(struct registry *reg);

/* sqlite result code to -errno: SQLITE_FULL is -ENOSPC, busy is -EBUSY, else -EIO. */
int store_errno(int rc);

/* The cached statement, reset and with its bindings cleared. */
sqlite3_stmt *store_stmt(struct registry *reg, enum store_stmt which);
/* Runs a statement that returns no rows (after binding), then resets it. */
int store_run(sqlite3_stmt *st);

/* Binding helpers that map sqlite errors to -errno (0 on success). */
int store_bind_blob(sqlite3_stmt *st, int col, const void *p, size_t n);
int store_bind_u64(sqlite3_stmt *st, int col, uint64_t v);
int store_bind_text(sqlite3_stmt *st, int col, const char *s);

/* Test hook, not part of registry.h: caps the database at pages pages so that tests
 * can fill the disk (PRAGMA max_page_count). 0 restores the default cap. */
int store_test_max_pages(struct registry *reg, unsigned pages);

#endif
