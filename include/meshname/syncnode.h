/*
 * syncnode.h: the dissemination policy of one host (DESIGN.md section 5): which peers
 * are its sync neighbours, whom to push a new record to, when to run anti-entropy with
 * whom, and how long to leave a failing neighbour alone. A pure engine: time is a
 * parameter (milliseconds on any monotonic clock), randomness comes from a function the
 * caller injects (so a simulation is reproducible), and it never does I/O. Its outputs
 * are actions ("open a session to X", "push record R to X") that the caller carries
 * out: meshnamed over TCP, the simulator (tests/sim/) in memory. The caller reports
 * back how each ended.
 *
 * Peers are named by their host key (the key of their CERT), as beacons and sessions
 * name them. A host is never its own neighbour.
 */
#ifndef MESHNAME_SYNCNODE_H
#define MESHNAME_SYNCNODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshname/record.h"

/* A uniformly random integer in [0, upper_bound), upper_bound >= 1. meshnamed binds
 * libsodium's randombytes_uniform; the simulator a seeded generator. */
typedef uint32_t (*syncnode_rand_fn)(void *arg, uint32_t upper_bound);

/* Where a neighbour comes from; one peer may be several at once. */
#define SYNCNODE_LAN 0x01    /* heard its beacon on a local link */
#define SYNCNODE_SEED 0x02   /* a host flagged (or configured) as a seed */
#define SYNCNODE_MEMBER 0x04 /* in the current random sample of members */

/* Table bounds: a neighbour table never grows past SYNCNODE_MAX_NEIGHBOURS entries. */
#define SYNCNODE_MAX_NEIGHBOURS 96
#define SYNCNODE_MAX_PENDING 256 /* records being pushed */
#define SYNCNODE_MAX_PUSHES 16   /* fanout x push_waves */

struct syncnode_config {
	unsigned fanout;              /* neighbours each new record is pushed to (3) */
	unsigned push_waves;          /* that many times, one pacing interval apart (2) */
	bool push;                    /* false: anti-entropy only (a benchmark switch) */
	uint64_t push_pacing_ms;      /* at most one push batch per this interval (200) */
	uint64_t ae_interval_ms;      /* anti-entropy period (30000) */
	uint64_t ae_jitter_ms;        /* each period is interval +- up to this (3000) */
	unsigned max_sessions;        /* concurrent outbound anti-entropy sessions (2) */
	unsigned max_inbound;         /* concurrent inbound sessions accepted (8) */
	unsigned member_sample;       /* random members kept as neighbours (16) */
	uint64_t member_refresh_ms;   /* the sample is drawn again this often (300000) */
	uint64_t lan_ttl_ms;          /* a LAN peer not heard for this long is dropped (95000) */
	uint64_t backoff_min_ms;      /* first back-off after a failure (5000) */
	uint64_t backoff_max_ms;      /* back-off cap (300000) */
	uint64_t request_interval_ms; /* requested sessions per neighbour: one per this (5000) */
};

/* The defaults above, in a struct. */
void syncnode_config_default(struct syncnode_config *c);

enum syncnode_action_kind {
	SYNCNODE_OPEN_SESSION = 1, /* open an anti-entropy session to peer */
	SYNCNODE_PUSH = 2,         /* send record id to peer */
};

struct syncnode_action {
	enum syncnode_action_kind kind;
	uint8_t peer[REC_KEY_SIZE];
	uint8_t id[REC_ID_SIZE]; /* SYNCNODE_PUSH only */
};

/* What `meshname status` shows of one neighbour. */
struct syncnode_neighbour_info {
	uint8_t key[REC_KEY_SIZE];
	unsigned flags;         /* SYNCNODE_LAN | SYNCNODE_SEED | SYNCNODE_MEMBER */
	uint64_t last_ok;       /* end of the last successful session with it, 0 = never */
	uint64_t last_fail;     /* 0 = never */
	unsigned failures;      /* consecutive failures */
	uint64_t backoff_until; /* no session or push to it before this time */
	bool in_session;        /* an outbound session to it is open */
};

struct syncnode_status {
	size_t neighbours;
	size_t lan, seeds, members;
	size_t pending;          /* records waiting for their push */
	size_t sessions_out;     /* open outbound sessions */
	size_t sessions_in;      /* open inbound sessions */
	uint64_t last_ok;        /* last successful session with anyone, 0 = never */
	uint64_t next_ae;        /* when the next anti-entropy session is due */
	uint64_t pushes_sent;    /* push actions emitted */
	uint64_t pushes_dropped; /* records whose push was dropped (queue full, no neighbour) */
	uint64_t pushes_failed;  /* pushes that ended in failure */
	uint64_t pushes_made_up; /* of them, sent again to another neighbour */
	uint64_t sessions_ok, sessions_failed;
};

struct syncnode;

/*
 * A node for the host whose key is self. c is copied (NULL = defaults); rand and its
 * arg must outlive the node. The first anti-entropy session is due at now plus a random
 * part of one period, so that hosts started together do not sync in step.
 * Returns 0, -EINVAL (a zero fanout, interval or session bound) or -ENOMEM.
 */
int syncnode_new(const struct syncnode_config *c, const uint8_t self[REC_KEY_SIZE],
		 syncnode_rand_fn rand, void *rand_arg, uint64_t now, struct syncnode **out);
void syncnode_free(struct syncnode *n); /* NULL is a no-op */

/*
 * Neighbour sources. syncnode_lan_seen: a valid beacon from key was heard (again); the
 * peer stays a LAN neighbour for lan_ttl_ms. syncnode_set_seed: key is, or is no longer,
 * a seed. syncnode_set_members: the host keys of every active member (self may be among
 * them); the node keeps a copy, drops sample members no longer listed and draws its sample
 * again when it is due (or first called). -ENOSPC: the table is full (LAN, seed);
 * -EINVAL: key is self; -ENOMEM.
 */
int syncnode_lan_seen(struct syncnode *n, const uint8_t key[REC_KEY_SIZE], uint64_t now);
int syncnode_set_seed(struct syncnode *n, const uint8_t key[REC_KEY_SIZE], bool seed);
int syncnode_set_members(struct syncnode *n, const uint8_t (*keys)[REC_KEY_SIZE], size_t count,
			 uint64_t now);

/*
 * A record was newly accepted into the store: made here (from = NULL) or received from
 * peer from. It is pushed to fanout random neighbours other than from, and again to
 * fanout others one pacing interval later, push_waves times in all (rumor mongering,
 * blind, with a counter: every host that newly accepts it does the same, then anti-entropy
 * covers the hosts no push reached). A push that fails (syncnode_push_end) is made up at
 * once with a neighbour the record has not gone to, at most fanout x push_waves times per
 * record. -ENOSPC: SYNCNODE_MAX_PENDING records are being pushed; this one is left to
 * anti-entropy (and counted).
 */
int syncnode_record_accepted(struct syncnode *n, const uint8_t id[REC_ID_SIZE],
			     const uint8_t from[REC_KEY_SIZE], uint64_t now);

/* A link or address changed: anti-entropy is due at once, and back-offs are lifted
 * (failures over the old link say nothing about the new one). */
void syncnode_link_changed(struct syncnode *n, uint64_t now);

/*
 * Neighbour key was just heard from directly (a LAN beacon that proved it can be reached
 * again, say after a partition healed): failures before it say nothing about now, so its
 * back-off is lifted. Its failure count stays: if it fails again it backs off longer.
 * The caller calls this at most once per beacon it accepted, and only when it wants a
 * session (the sets differ): a peer whose beacons arrive but whose sync port does not
 * answer costs one connection attempt per beacon. -ENOENT: not a neighbour.
 */
int syncnode_heard(struct syncnode *n, const uint8_t key[REC_KEY_SIZE], uint64_t now);

/*
 * A neighbour's set differs from ours: its LAN beacon carries another fingerprint, or an
 * outbound session with it broke after the HELLOs showed the sets differ (the session's
 * stats: neg_rounds > 0). An anti-entropy session with exactly this neighbour is due at
 * once, or, if it is backed off or a session to it opened less than request_interval_ms
 * ago, when that has passed; and only while fewer than max_sessions outbound sessions are
 * open. A request while a session to it is open is ignored (that session reconciles).
 * Requests do not add up: a flood of beacons from one peer costs at most one session with
 * it per request_interval_ms. Periodic anti-entropy is not moved by it. -ENOENT: not a
 * neighbour.
 */
int syncnode_request(struct syncnode *n, const uint8_t key[REC_KEY_SIZE], uint64_t now);

/*
 * Steps the node to now and writes up to max actions to out (*count of them). Actions
 * not written for want of room stay due and come on the next call. Each
 * SYNCNODE_OPEN_SESSION counts as an open outbound session until syncnode_session_end.
 * The SYNCNODE_PUSH actions of one call for one peer go in one push session, whose end
 * the caller reports with one syncnode_push_end.
 */
void syncnode_step(struct syncnode *n, uint64_t now, struct syncnode_action *out, size_t max,
		   size_t *count);

/* The time of the next action due (now or earlier if something is due at once), so the
 * caller can sleep until then. Anti-entropy is always scheduled, so this is finite. */
uint64_t syncnode_next_wakeup(const struct syncnode *n);

/*
 * A peer opens a session to us. 0: take it (it counts until syncnode_session_end with
 * inbound true); -EBUSY: max_inbound sessions are open, refuse it.
 */
int syncnode_inbound_open(struct syncnode *n, const uint8_t key[REC_KEY_SIZE], uint64_t now);

/*
 * A session ended: result 0 = the reconciliation completed, else a negative errno (the
 * peer failed, timed out, or broke the protocol). A failure backs the neighbour off
 * (backoff_min_ms doubling to backoff_max_ms, with jitter); a success clears that. A
 * failed outbound session is retried at once with another neighbour, up to 3 times a
 * period. A sampled member (not LAN, not seed) that failed twice in a row, in sessions or
 * pushes, is swapped for another random member.
 */
void syncnode_session_end(struct syncnode *n, const uint8_t key[REC_KEY_SIZE], bool inbound,
			  int result, uint64_t now);

/*
 * A push session ended: as syncnode_session_end for its neighbour's back-off, no session
 * count. It settles every push to key not reported yet: on failure each of their records
 * is made up with another neighbour (see syncnode_record_accepted). A push never reported
 * is given up on after a minute.
 */
void syncnode_push_end(struct syncnode *n, const uint8_t key[REC_KEY_SIZE], int result,
		       uint64_t now);

/*
 * An outbound session (push false) or push session (push true) that the node asked for
 * could not be tried for a reason of this host's own, not the neighbour's (its mesh
 * address is not up yet, so transport A cannot start): the session slot is freed and the
 * pushes to key are made up with other neighbours as after a failure, but nothing counts
 * against the neighbour (no back-off, no failure, no swap). A session is retried at once
 * with another neighbour as after a failure (a LAN or seed neighbour may work).
 */
void syncnode_not_tried(struct syncnode *n, const uint8_t key[REC_KEY_SIZE], bool push,
			uint64_t now);

/* Status for `meshname status`: totals, and neighbour i of status.neighbours
 * (-ENOENT past the end). */
void syncnode_status(const struct syncnode *n, struct syncnode_status *st);
int syncnode_neighbour(const struct syncnode *n, size_t i, struct syncnode_neighbour_info *out);

#endif
