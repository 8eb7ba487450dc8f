/*
 * store.c: the registry's sqlite3 database: opening and checking it, the schema, and
 * the prepared statements registry.c runs. Durability comes from WAL with
 * synchronous=FULL (a committed transaction survives a crash). It never decides
 * whether a record is valid and never logs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/store.h"

/* The observations of the view (materialize.c): at most 16 per subject, rank 0 the
 * newest. Added to schema version 1 without a bump: store_open creates it in a database
 * made before it existed, and nothing else changed. */
#define OBSERVATION_SQL                                                                 \
	"CREATE TABLE IF NOT EXISTS observation ("                                      \
	" subject BLOB NOT NULL, observer BLOB NOT NULL, seq INTEGER NOT NULL,"         \
	" issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, seen BLOB NOT NULL," \
	" rank INTEGER NOT NULL, PRIMARY KEY (subject, observer)) WITHOUT ROWID;"

static const char schema_sql[] =
	"CREATE TABLE meta ("
	" one INTEGER PRIMARY KEY CHECK (one = 1),"
	" mesh_id BLOB, root BLOB, generation INTEGER NOT NULL DEFAULT 0);"
	"INSERT INTO meta (one) VALUES (1);"
	/* key: the conflict key (host key for CERT and ENDPOINTS, admission key for
	 * ADMIT, target for REVOKE, hash of owner/rrtype/rdata for RECORD, cert id for
	 * RENEW, hash of observer and subject for OBSERVE, mesh id for ROOT); key2: a
	 * CERT's WireGuard key, the new WireGuard key a RENEW asks for (NULL when it
	 * keeps the key), an OBSERVE's subject (so that revoking any of them purges the
	 * record); ipv4 and name: the address and name a CERT, ADMIT or REVOKE holds, for
	 * allocation. */
	"CREATE TABLE record ("
	" id BLOB PRIMARY KEY, type INTEGER NOT NULL, signer BLOB NOT NULL,"
	" seq INTEGER NOT NULL, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
	" key BLOB NOT NULL, key2 BLOB, ipv4 INTEGER, name TEXT, raw BLOB NOT NULL"
	") WITHOUT ROWID;"
	"CREATE INDEX record_sync ON record (issued_at, id);"
	"CREATE INDEX record_key ON record (type, key);"
	"CREATE INDEX record_signer ON record (signer);"
	"CREATE INDEX record_key2 ON record (key2) WHERE key2 IS NOT NULL;"
	"CREATE INDEX record_ipv4 ON record (ipv4) WHERE ipv4 IS NOT NULL;"
	"CREATE TABLE pending ("
	" id BLOB NOT NULL UNIQUE, raw BLOB NOT NULL, received_at INTEGER NOT NULL,"
	" wait_key BLOB NOT NULL);"
	"CREATE INDEX pending_wait ON pending (wait_key);"
	/* The materialized view. The UNIQUE constraints are the last line of defence:
	 * materialize.c must never produce two hosts sharing one of these. */
	"CREATE TABLE host ("
	" name TEXT NOT NULL UNIQUE, ipv4 BLOB NOT NULL UNIQUE, ipv6 BLOB NOT NULL UNIQUE,"
	" wg_key BLOB NOT NULL UNIQUE, host_key BLOB NOT NULL UNIQUE, cert_id BLOB NOT NULL,"
	" serial INTEGER NOT NULL, not_before INTEGER NOT NULL, not_after INTEGER NOT NULL,"
	" groups TEXT NOT NULL, endpoints_seq INTEGER NOT NULL,"
	" endpoints_expires INTEGER NOT NULL, listen_port INTEGER NOT NULL,"
	" endpoints BLOB NOT NULL);"
	"CREATE TABLE rr ("
	" owner TEXT NOT NULL, rrtype INTEGER NOT NULL, ttl INTEGER NOT NULL,"
	" rdata BLOB NOT NULL, record_id BLOB NOT NULL, UNIQUE (owner, rrtype, rdata));"
	"CREATE TABLE alert (message TEXT NOT NULL UNIQUE, at INTEGER NOT NULL);" OBSERVATION_SQL;

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT ingest",
	[ST_RELEASE] = "RELEASE ingest",
	[ST_ROLLBACK_TO] = "ROLLBACK TO ingest",
	[ST_REC_EXISTS] = "SELECT 1 FROM record WHERE id = ?1",
	[ST_REC_RAW] = "SELECT type, raw FROM record WHERE id = ?1",
	[ST_REC_BY_KEY] = "SELECT id, seq, raw FROM record WHERE type = ?1 AND key = ?2",
	[ST_REVOKED] = "SELECT 1 FROM record WHERE type = 5 AND key = ?1 LIMIT 1",
	[ST_REC_INSERT] = "INSERT INTO record (id, type, signer, seq, issued_at, expires_at,"
			  " key, key2, ipv4, name, raw)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[ST_REC_DELETE] = "DELETE FROM record WHERE id = ?1",
	/* The ROOT defines the mesh and REVOKEs only take rights away: neither is purged. */
	[ST_PURGE_SIGNER] = "DELETE FROM record WHERE signer = ?1 AND type NOT IN (1, 5)",
	[ST_PURGE_KEY] = "DELETE FROM record WHERE type = ?1 AND key = ?2",
	[ST_PURGE_KEY2] = "DELETE FROM record WHERE key2 = ?1",
	[ST_REC_OF_TYPE] = "SELECT id, raw FROM record WHERE type = ?1",
	[ST_REC_ALL] = "SELECT raw FROM record ORDER BY issued_at, id",
	[ST_PENDING_EXISTS] = "SELECT 1 FROM pending WHERE id = ?1",
	[ST_PENDING_INSERT] = "INSERT OR IGNORE INTO pending (id, raw, received_at, wait_key)"
			      " VALUES (?1, ?2, ?3, ?4)",
	/* Rowids grow, so the oldest rows have the lowest; gaps only make it keep fewer. */
	[ST_PENDING_TRIM] =
		"DELETE FROM pending WHERE rowid <= (SELECT max(rowid) FROM pending) - 4096",
	[ST_PENDING_BY_WAIT] = "SELECT id, raw FROM pending WHERE wait_key = ?1 ORDER BY rowid",
	[ST_PENDING_DELETE] = "DELETE FROM pending WHERE id = ?1",
	[ST_HOST_CLEAR] = "DELETE FROM host",
	[ST_HOST_INSERT] = "INSERT INTO host (name, ipv4, ipv6, wg_key, host_key, cert_id, serial,"
			   " not_before, not_after, groups, endpoints_seq, endpoints_expires,"
			   " listen_port, endpoints)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	[ST_HOST_ALL] =
		"SELECT name, ipv4, ipv6, wg_key, host_key, cert_id, serial, not_before,"
		" not_after, groups, endpoints_seq, endpoints_expires, listen_port, endpoints"
		" FROM host ORDER BY name",
	[ST_RR_CLEAR] = "DELETE FROM rr",
	[ST_RR_INSERT] = "INSERT INTO rr (owner, rrtype, ttl, rdata, record_id)"
			 " VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_RR_ALL] = "SELECT owner, rrtype, ttl, rdata FROM rr ORDER BY owner, rrtype, rdata",
	[ST_ALERT_INSERT] = "INSERT OR IGNORE INTO alert (message, at) VALUES (?1, ?2)",
	[ST_ALERT_ALL] = "SELECT at, message FROM alert ORDER BY rowid",
	[ST_META_GET] = "SELECT mesh_id, root, generation FROM meta WHERE one = 1",
	[ST_META_SET_ROOT] = "UPDATE meta SET mesh_id = ?1, root = ?2 WHERE one = 1",
	[ST_META_SET_GEN] = "UPDATE meta SET generation = ?1 WHERE one = 1",
	[ST_ADDR_TAKEN_ALL] = "SELECT ipv4 FROM record WHERE ipv4 IS NOT NULL"
			      " AND (type != 3 OR expires_at > ?1)",
	[ST_ADDR_TAKEN] = "SELECT 1 FROM record WHERE ipv4 = ?1"
			  " AND (type != 3 OR expires_at > ?2) LIMIT 1",
	[ST_NAME_TAKEN] = "SELECT 1 FROM host WHERE name = ?1 UNION ALL"
			  " SELECT 1 FROM record WHERE type = 3 AND name = ?1 AND expires_at > ?2"
			  " LIMIT 1",
	[ST_COUNT_RECORDS] = "SELECT count(*) FROM record",
	[ST_COUNT_PENDING] = "SELECT count(*) FROM pending",
	[ST_COUNT_HOSTS] = "SELECT count(*) FROM host",
	[ST_COUNT_RRS] = "SELECT count(*) FROM rr",
	[ST_COUNT_ALERTS] = "SELECT count(*) FROM alert",
	[ST_OBS_CLEAR] = "DELETE FROM observation",
	[ST_OBS_INSERT] = "INSERT INTO observation (subject, observer, seq, issued_at, expires_at,"
			  " seen, rank) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_OBS_OF] = "SELECT observer, seq, issued_at, expires_at, seen FROM observation"
		      " WHERE subject = ?1 ORDER BY rank",
	[ST_CERT_BY_WG_KEY] = "SELECT key FROM record WHERE type = 2 AND key2 = ?1",
	/* The sync set (registry_foreach_item): record_sync gives the order. expires_at
	 * holds 64 unsigned bits: negative is above INT64_MAX, far in the future. */
	[ST_REC_SYNC] =
		"SELECT issued_at, id, type FROM record WHERE expires_at > ?1 OR expires_at < 0"
		" OR type IN (?2, ?3, ?4) ORDER BY issued_at, id",
};

int store_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_PERM:
	case SQLITE_READONLY:
	case SQLITE_AUTH:
		return -EACCES;
	default:
		return -EIO;
	}
}

/* The error of a failed open or first read: the system's reason when there is one. */
static int open_errno(sqlite3 *db, int rc)
{
	int sys = db != NULL ? sqlite3_system_errno(db) : 0;

	if ((rc & 0xff) == SQLITE_CANTOPEN) {
		if (sys == ENOENT || sys == ENOTDIR || sys == EISDIR || sys == ENOMEM)
			return -sys;
		return -EACCES;
	}
	if ((rc & 0xff) == SQLITE_IOERR && (sys == EACCES || sys == EPERM))
		return -EACCES;
	return store_errno(rc);
}

sqlite3_stmt *store_stmt(struct registry *reg, enum store_stmt which)
{
	sqlite3_stmt *st = reg->st[which];

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

int store_run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_errno(rc);
}

int store_bind_blob(sqlite3_stmt *st, int col, const void *p, size_t n)
{
	int rc;

	/* A NULL pointer would bind SQL NULL; an empty blob is still a blob. */
	if (n == 0)
		rc = sqlite3_bind_zeroblob(st, col, 0);
	else
		rc = sqlite3_bind_blob(st, col, p, (int)n, SQLITE_STATIC);
	return store_errno(rc);
}

int store_bind_u64(sqlite3_stmt *st, int col, uint64_t v)
{
	/* Stored as the same 64 bits; values above INT64_MAX read back unchanged. */
	return store_errno(sqlite3_bind_int64(st, col, (sqlite3_int64)v));
}

int store_bind_text(sqlite3_stmt *st, int col, const char *s)
{
	return store_errno(sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC));
}

/* Runs sql (no rows expected, or rows ignored). */
static int exec(sqlite3 *db, const char *sql)
{
	return store_errno(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

/* Runs a one-row pragma and copies its text result into out. */
static int pragma_text(sqlite3 *db, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		goto out;
	t = sqlite3_column_text(st, 0);
	snprintf(out, size, "%s", t != NULL ? (const char *)t : "");
	rc = SQLITE_OK;
out:
	sqlite3_finalize(st);
	return rc;
}

static int create_schema(sqlite3 *db)
{
	char sql[64];
	int r;

	r = exec(db, "BEGIN IMMEDIATE");
	if (r < 0)
		return r;
	r = exec(db, schema_sql);
	if (r == 0) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
		r = exec(db, sql);
	}
	if (r == 0)
		r = exec(db, "COMMIT");
	if (r < 0)
		exec(db, "ROLLBACK");
	return r;
}

static int load_meta(struct registry *reg)
{
	sqlite3_stmt *st = store_stmt(reg, ST_META_GET);
	const void *root;
	int rc, len, r = 0;

	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? -EIO : store_errno(rc);
		goto out;
	}
	reg->generation = (uint64_t)sqlite3_column_int64(st, 2);
	root = sqlite3_column_blob(st, 1);
	len = sqlite3_column_bytes(st, 1);
	if (root == NULL)
		goto out; /* no mesh yet */
	if (len <= 0 || (size_t)len > sizeof(reg->root_raw) ||
	    sqlite3_column_bytes(st, 0) != REC_ID_SIZE) {
		r = -EIO;
		goto out;
	}
	memcpy(reg->root_raw, root, (size_t)len);
	reg->root_len = (size_t)len;
	memcpy(reg->mesh_id, sqlite3_column_blob(st, 0), REC_ID_SIZE);
	if (rec_decode(reg->root_raw, reg->root_len, &reg->root) < 0 ||
	    reg->root.type != REC_ROOT) {
		r = -EIO;
		goto out;
	}
	reg->has_root = true;
out:
	sqlite3_reset(st);
	return r;
}

int store_open(struct registry *reg, const char *path)
{
	char text[64];
	int rc, r, version;

	rc = sqlite3_open_v2(path, &reg->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		r = open_errno(reg->db, rc);
		goto out;
	}
	sqlite3_extended_result_codes(reg->db, 1);
	sqlite3_busy_timeout(reg->db, 5000);

	/* The first read: a file that is not a database fails here. */
	rc = pragma_text(reg->db, "PRAGMA quick_check", text, sizeof(text));
	if (rc != SQLITE_OK) {
		r = open_errno(reg->db, rc);
		goto out;
	}
	if (strcmp(text, "ok") != 0) {
		r = -EIO;
		goto out;
	}
	/* sqlite falls back to read-only on a file it may not write: we must write. */
	if (sqlite3_db_readonly(reg->db, "main") == 1) {
		r = -EACCES;
		goto out;
	}
	rc = pragma_text(reg->db, "PRAGMA journal_mode = WAL", text, sizeof(text));
	if (rc != SQLITE_OK) {
		r = open_errno(reg->db, rc);
		goto out;
	}
	if (strcmp(text, "wal") != 0) {
		r = -EIO;
		goto out;
	}
	/* NORMAL may lose the last transactions on power loss; committed means durable. */
	/* A batch of 100,000 records touches pages all over the id and key indexes: with
	 * the default 2 MB cache sqlite spills and re-reads pages for every record. The
	 * cache only grows as far as it is used. Each record of a batch runs in a
	 * savepoint, whose journal would otherwise be a temporary file written for
	 * every page the record touches: keep it in memory. */
	r = exec(reg->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
			  " PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY");
	if (r < 0)
		goto out;

	rc = pragma_text(reg->db, "PRAGMA user_version", text, sizeof(text));
	if (rc != SQLITE_OK) {
		r = open_errno(reg->db, rc);
		goto out;
	}
	version = atoi(text);
	if (version == 0)
		r = create_schema(reg->db);
	else if (version != STORE_SCHEMA_VERSION)
		r = -EPROTONOSUPPORT; /* made by another version of meshname */
	else
		r = exec(reg->db, OBSERVATION_SQL);
	if (r < 0)
		goto out;

	for (int i = 0; i < ST_COUNT; i++) {
		rc = sqlite3_prepare_v3(reg->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					&reg->st[i], NULL);
		if (rc != SQLITE_OK) {
			r = store_errno(rc);
			goto out;
		}
	}
	r = load_meta(reg);
out:
	if (r < 0)
		store_close(reg);
	return r;
}

void store_close(struct registry *reg)
{
	for (int i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(reg->st[i]);
		reg->st[i] = NULL;
	}
	sqlite3_close(reg->db);
	reg->db = NULL;
}

int store_test_max_pages(struct registry *reg, unsigned pages)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %u", pages != 0 ? pages : 1073741823u);
	return exec(reg->db, sql);
}
