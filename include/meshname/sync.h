/*
 * sync.h: the sync protocol between two peers (doc/sync.md "Sync protocol") and its
 * session engine, plus the strike table that bans misbehaving peers. Pure: bytes in,
 * bytes out, time (unix milliseconds) as a parameter; no sockets, no clock, no logging.
 * The caller moves the bytes over any reliable stream (transport A: TCP over WireGuard;
 * transport B: S2's encrypted session; the simulator: memory) and decides who the peer is.
 *
 * Frames: u32 big-endian length of what follows (type byte + payload), the type byte,
 * the payload; a frame is at most SYNC_FRAME_MAX bytes in all. Messages:
 *   HELLO   version, flags, claimed role, 8-byte mesh tag, set count and fingerprint,
 *           optionally the sender's host key
 *   NEG     one negentropy message (negentropy.h)
 *   WANT    record ids the sender asks for (answered by RECORDS ... last)
 *   OFFER   record ids the initiator holds and the responder lacks (answered by a WANT)
 *   RECORDS raw records answering a WANT; a flag marks the last frame of the answer
 *   PUSH    newly accepted records, unsolicited
 *   DONE    the sender has nothing more to say
 *   ERROR   a reason code (enum sync_reason); the sender closes
 */
#ifndef MESHNAME_SYNC_H
#define MESHNAME_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshname/record.h"
#include "meshname/registry.h"

#define SYNC_VERSION 1
#define SYNC_DEFAULT_PORT 51821 /* meshnamed's sync-port: TCP sync, UDP LAN beacons */
#define SYNC_FRAME_MAX 65536    /* a whole frame, header included */
#define SYNC_FRAME_HEADER 5     /* u32 length + type */
#define SYNC_MESH_TAG_SIZE 8    /* the first bytes of the mesh id, in HELLO */
#define SYNC_FINGERPRINT_SIZE 16
#define SYNC_WANT_MAX 512 /* ids in one WANT or OFFER (its answer stays under 512 KiB) */

enum sync_msg {
	SYNC_MSG_HELLO = 1,
	SYNC_MSG_NEG = 2,
	SYNC_MSG_WANT = 3,
	SYNC_MSG_OFFER = 4,
	SYNC_MSG_RECORDS = 5,
	SYNC_MSG_PUSH = 6,
	SYNC_MSG_DONE = 7,
	SYNC_MSG_ERROR = 8,
};

/* What the caller knows the peer to be (transport A: the cert owning the source address;
 * transport B: the host key the session proved, looked up in the registry). UNKNOWN is
 * treated as NONMEMBER. */
enum sync_role {
	SYNC_ROLE_MEMBER = 1,
	SYNC_ROLE_NONMEMBER = 2,
	SYNC_ROLE_UNKNOWN = 3,
};

/* Why a session failed: the code of an ERROR frame, sent or received. */
enum sync_reason {
	SYNC_OK = 0,
	SYNC_ERR_PROTOCOL = 1,  /* malformed message, message out of turn, unasked record */
	SYNC_ERR_FRAME = 2,     /* frame over SYNC_FRAME_MAX (or under the header size) */
	SYNC_ERR_RECORD = 3,    /* forged, malformed, non-canonical or another mesh's record */
	SYNC_ERR_FORBIDDEN = 4, /* a non-member asked for or sent a type it may not */
	SYNC_ERR_REPLAY = 5,    /* too many pushed records refused as stale, expired, ... */
	SYNC_ERR_RATE = 6,      /* per-peer record or byte rate exceeded */
	SYNC_ERR_LIMIT = 7,     /* a per-session bound: bytes, records, ids, duration */
	SYNC_ERR_MESH = 8,      /* HELLO names another mesh */
	SYNC_ERR_VERSION = 9,   /* HELLO of another protocol version */
	SYNC_ERR_TIMEOUT = 10,  /* the peer said nothing for idle_ms */
	SYNC_ERR_INTERNAL = 11, /* our store failed (-EIO, -ENOMEM): not the peer's fault */
	SYNC_ERR_BANNED = 12,   /* the peer is banned (sent before closing, see sync_error_frame) */
	SYNC_ERR_CLOSED = 13,   /* the stream ended before the session did (never sent) */
};
#define SYNC_REASON_MAX SYNC_ERR_CLOSED

/* "protocol violation", "frame too large", ... ; "unknown reason" for anything else. */
const char *sync_reason_str(int reason);

/* True for reasons that count a strike against the peer: PROTOCOL, FRAME, RECORD,
 * FORBIDDEN, REPLAY. A rate, a bound, another mesh or a timeout is not malice. */
bool sync_reason_strikes(int reason);

/*
 * True if the registry error err (registry_ingest) proves the sender wrong whatever its
 * state: -EMSGSIZE, -EPROTONOSUPPORT, -EBADMSG (malformed, non-canonical), -EXDEV
 * (another mesh), -EKEYREJECTED (forged). The others (-ESTALE, -EKEYEXPIRED, -ERANGE,
 * -EKEYREVOKED, -EPERM, -EINVAL, -ENOENT) can happen between honest peers whose stores
 * or clocks differ for a while, and are "benign rejections".
 */
bool sync_err_is_malicious(int err);

/* ---- the store a session reads and feeds ------------------------------------------ */

/* One item of the sync set: (issued_at, record id) and the record's type, or 0 when the
 * store cannot tell it cheaply: a session that needs it (one with a non-member) then reads
 * the record. The registry's and the in-memory store give it. */
typedef int (*sync_item_fn)(void *arg, uint64_t timestamp, const uint8_t id[REC_ID_SIZE],
			    uint8_t type);

struct sync_store {
	void *arg;
	/* Calls fn for every stored record a peer could still accept at now (unix seconds:
	 * expired ones are left out, as registry_foreach_item does), in any order; stops and
	 * returns fn's value if it is non-zero; 0 or a negative errno. */
	int (*foreach_item)(void *arg, uint64_t now, sync_item_fn fn, void *fn_arg);
	/* The raw record with this id into buf (REC_MAX_SIZE bytes): 0 and *len, -ENOENT. */
	int (*get)(void *arg, const uint8_t id[REC_ID_SIZE], uint8_t *buf, size_t *len);
	/* Validates and stores a batch as registry_ingest_many does (res[i], err[i]; now in
	 * unix seconds). Contract: if any err[i] is malicious (sync_err_is_malicious), nothing
	 * of the batch is stored. Returns 0 or a storage error (nothing stored). */
	int (*ingest)(void *arg, const struct registry_item *items, size_t n, uint64_t now,
		      enum ingest_result *res, int *err);
};

/* The store over a real registry (store_registry.c). reg must outlive the store. */
int sync_store_registry_new(struct registry *reg, struct sync_store **out);
void sync_store_registry_free(struct sync_store *st); /* NULL is a no-op */
/*
 * With defer true, the registry store commits each batch with registry_commit_deferred:
 * the records are stored at once, and the registry's view (hosts, custom records,
 * snapshots) follows at the caller's next registry_refresh, which it calls after a
 * session and at most every so often while records stream in. Materializing reads the
 * whole registry (about a second at 100,000 records): once per 64 KiB frame, a cold start
 * from 100,000 records takes over two minutes instead of about ten seconds
 * (bench/sync_cold). Off by default. st must come from sync_store_registry_new.
 */
void sync_store_registry_defer_view(struct sync_store *st, bool defer);

/*
 * An in-memory store for tests and the simulator (store_mem.c): raw records in a hash
 * table, validated by rec_decode, the mesh id, the time window and rec_verify only (no
 * authorization, no conflict rules but one: a signer's ENDPOINTS with the highest seq
 * replaces the others, a lower seq is -ESTALE). mesh_id: the mesh; the ROOT must be added with
 * sync_store_mem_add (it is not checked).
 */
int sync_store_mem_new(const uint8_t mesh_id[REC_ID_SIZE], struct sync_store **out);
void sync_store_mem_free(struct sync_store *st); /* NULL is a no-op */
/* Adds a record without validation (the genesis ROOT, test setup). 0, -EEXIST, -ENOMEM. */
int sync_store_mem_add(struct sync_store *st, const uint8_t *buf, size_t len);
size_t sync_store_mem_count(const struct sync_store *st);

/* ---- per-peer rate ----------------------------------------------------------------- */

/* Token buckets for one peer, owned by the caller (one per peer, kept across sessions),
 * charged by every session with that peer: pushed records, and bytes received except the
 * records we asked for (solicited transfers are paced by the asker). */
struct sync_rate {
	uint64_t records; /* tokens, in thousandths of a record */
	uint64_t bytes;   /* tokens, in bytes */
	uint64_t last_ms;
	bool started;
};

/* ---- a session ---------------------------------------------------------------------- */

struct sync_limits {
	uint64_t idle_ms;            /* the peer must send something this often (30000) */
	uint64_t session_ms;         /* a session lasts at most this long (600000) */
	uint64_t session_bytes;      /* bytes received in one session (256 MiB) */
	size_t max_ids;              /* have + need ids kept by one session (131072) */
	size_t push_rejects;         /* benign rejections tolerated in pushes a session (4) */
	size_t out_high;             /* output above this: stop consuming input (1 MiB) */
	uint32_t rate_records;       /* pushed records per second per peer (100) */
	uint32_t rate_records_burst; /* (1000) */
	uint32_t rate_bytes;         /* bytes per second per peer, solicited records aside
	                             * (1 MiB) */
	uint32_t rate_bytes_burst;   /* (16 MiB) */
};
/* The defaults above. In a session's config, a zero field also means its default
 * (push_rejects aside: 0 there means no tolerance). */
void sync_limits_default(struct sync_limits *l);

enum sync_event_kind {
	SYNC_EV_ACCEPTED = 1, /* a record from the peer was stored (record, len, id) */
	SYNC_EV_DONE = 2,     /* the session completed; close the stream */
	SYNC_EV_FAILED = 3,   /* the session failed (reason, strike, remote); close */
};

struct sync_event {
	enum sync_event_kind kind;
	const uint8_t *record; /* ACCEPTED: valid during the callback only */
	size_t len;
	const uint8_t *id;  /* ACCEPTED: its record id */
	bool pushed;        /* ACCEPTED: it came in a PUSH (else it answered our WANT) */
	int reason;         /* FAILED: enum sync_reason */
	bool strike;        /* FAILED: count a strike against the peer */
	bool remote;        /* FAILED: the peer sent ERROR (else we did, or the stream broke) */
	const char *detail; /* FAILED: one sentence for the log (static storage) */
};
typedef void (*sync_event_fn)(void *arg, const struct sync_event *ev);

enum sync_mode {
	SYNC_MODE_RECONCILE = 1, /* HELLO, reconcile, fetch, offer, DONE */
	SYNC_MODE_PUSH = 2,      /* initiator only: HELLO, PUSH ..., DONE; no reconciliation */
};

struct sync_config {
	const struct sync_store *store; /* must outlive the session */
	uint8_t mesh_id[REC_ID_SIZE];
	bool initiator;
	enum sync_mode mode;
	enum sync_role self_role; /* what we are (claimed in our HELLO) */
	enum sync_role peer_role; /* what the caller decided the peer is */
	bool send_key;            /* put self_key in our HELLO */
	uint8_t self_key[REC_KEY_SIZE];
	struct sync_limits limits;
	struct sync_rate *rate; /* the peer's buckets, or NULL; must outlive the session */
	sync_event_fn event;    /* may be NULL */
	void *event_arg;
};

enum sync_state {
	SYNC_RUNNING = 1,
	SYNC_DONE = 2,
	SYNC_FAILED = 3,
};

/* Counters, for status output and the simulator's measurements. */
struct sync_stats {
	uint64_t bytes_in, bytes_out; /* whole frames */
	uint64_t frames_in, frames_out;
	uint64_t recon_bytes;             /* HELLO and NEG frames, both ways */
	uint64_t neg_rounds;              /* NEG messages the initiator sent */
	uint64_t records_in, records_out; /* in RECORDS and PUSH frames */
	uint64_t accepted, duplicates, pending;
	uint64_t rejected;   /* benign rejections */
	uint64_t have, need; /* reconciliation result (initiator) */
};

struct sync_session;

/*
 * A session: our HELLO is in the output at once (in push mode, followed by the records
 * queued with sync_session_push before the first feed). Returns 0, -EINVAL (bad config:
 * no store, push mode on a responder), -ENOMEM, or a store error.
 */
int sync_session_new(const struct sync_config *c, uint64_t now_ms, struct sync_session **out);
void sync_session_free(struct sync_session *s); /* NULL is a no-op */

/*
 * Bytes received from the peer. Returns how many were consumed: fewer than len when the
 * output holds more than limits.out_high bytes (send some, then feed the rest again), or
 * when the session has ended (the rest is ignored). Events fire from inside this call.
 */
size_t sync_session_feed(struct sync_session *s, const uint8_t *buf, size_t len, uint64_t now_ms);

/* The stream from the peer ended (EOF or a transport error): a running session fails. */
void sync_session_eof(struct sync_session *s, uint64_t now_ms);

/* Timeouts (idle_ms, session_ms): call now and then; may fail the session. */
void sync_session_tick(struct sync_session *s, uint64_t now_ms);

/* A record to PUSH to the peer (a copy is queued). 0, -EPIPE (ended or after our DONE),
 * -EMSGSIZE, -ENOMEM. In push mode, call before the first feed; sync_session_push_end
 * then sends DONE. */
int sync_session_push(struct sync_session *s, const uint8_t *buf, size_t len);
void sync_session_push_end(struct sync_session *s);

/* Bytes to send to the peer: a pointer into the session's buffer (valid until the next
 * call on the session) and its length; then sync_session_sent with how many were sent. */
const uint8_t *sync_session_output(const struct sync_session *s, size_t *len);
void sync_session_sent(struct sync_session *s, size_t n);

enum sync_state sync_session_state(const struct sync_session *s);
int sync_session_reason(const struct sync_session *s); /* enum sync_reason */
void sync_session_stats(const struct sync_session *s, struct sync_stats *st);
/* True once the peer's HELLO came and asked for the restricted set (ROOT, CERT, REVOKE):
 * the peer took us for a non-member, or is not a member itself. */
bool sync_session_peer_restricted(const struct sync_session *s);
/* True once the peer's HELLO came and said it only pushes: such a HELLO carries no set, so
 * sync_session_peer_restricted says nothing then of how the peer takes us. */
bool sync_session_peer_push_only(const struct sync_session *s);
/* The host key the peer put in its HELLO: true and key, or false. */
bool sync_session_peer_key(const struct sync_session *s, uint8_t key[REC_KEY_SIZE]);

/* An ERROR frame with reason into buf (at least SYNC_FRAME_HEADER + 1 bytes), for a
 * caller that refuses a peer without a session (SYNC_ERR_BANNED). Returns its length. */
size_t sync_error_frame(int reason, uint8_t *buf);

/* ---- strikes and bans (strikes.c) ------------------------------------------------- */

struct sync_strike_config {
	unsigned strikes;    /* strikes within window_ms that ban (3) */
	uint64_t window_ms;  /* (600000: 10 minutes) */
	uint64_t ban_ms;     /* first ban (3600000: 1 hour), doubled for each later ban */
	uint64_t ban_max_ms; /* (86400000: 1 day) */
	uint64_t forget_ms;  /* no strike for this long resets the doubling (86400000) */
	size_t max_peers;    /* table bound (4096); the stalest unbanned entry goes first */
};
void sync_strike_config_default(struct sync_strike_config *c);

#define SYNC_PEER_KEY_MAX 32 /* a host key, or an address (4 or 16 bytes) */

struct sync_strikes;

int sync_strikes_new(const struct sync_strike_config *c, struct sync_strikes **out);
void sync_strikes_free(struct sync_strikes *t); /* NULL is a no-op */

/* Counts a strike against the peer named by key (1..SYNC_PEER_KEY_MAX bytes). Returns
 * true if the peer is banned from now on (the strike made it so, or it already was). */
bool sync_strikes_add(struct sync_strikes *t, const uint8_t *key, size_t key_len, uint64_t now_ms);
/* True while the peer is banned; *until (if not NULL) gets the end of the ban. */
bool sync_strikes_banned(const struct sync_strikes *t, const uint8_t *key, size_t key_len,
			 uint64_t now_ms, uint64_t *until);
size_t sync_strikes_count(const struct sync_strikes *t); /* peers in the table */

#endif
