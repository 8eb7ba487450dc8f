/*
 * syncd.h: meshnamed's peer-to-peer registry sync (DESIGN.md section 5, doc/sync.md
 * "meshnamed"): the TCP listener and outbound connections carrying libsync's sessions
 * over transport A (plain TCP to a peer's mesh address through WireGuard) or transport B
 * (an authenticated, encrypted session to a LAN or public address), driven by the
 * dissemination policy of syncnode.h, fed by LAN beacons (lanbeacon.h) and the seeds of
 * STATE/seeds (seeds.h). Records it accepts go into the registry through the same
 * validation as every other path; it never blocks the loop and never makes meshnamed stop
 * answering DNS: every session is bounded in bytes, time and per-callback work.
 *
 * Ports: one TCP port (sync-port, default SYNC_DEFAULT_PORT) on every address carries
 * both transports; a connection whose local address is this host's mesh address and whose
 * source is an active member's mesh address is transport A, any other is transport B.
 * LAN beacons use the same number over UDP.
 */
#ifndef MESHNAME_DAEMON_SYNCD_H
#define MESHNAME_DAEMON_SYNCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/config.h"
#include "meshname/record.h"
#include "meshname/snapshot.h"
#include "meshname/syncnode.h"

struct event_base;
struct registry;
struct syncd;

struct syncd_params {
	struct registry *reg;  /* the daemon's registry: accepted records are stored in it */
	const char *state_dir; /* keys (the host key signs sessions and beacons), seeds */
	/* Called (from the loop) after sync stored records, so that the daemon rebuilds its
	 * snapshot at once instead of at its next watch tick. May be NULL. */
	void (*changed)(void *arg);
	void *arg;
};

/* Starts sync unless `sync no` (then *out is NULL and 0 is returned; the same, with a
 * warning, when state_dir holds no host key). Reads the host key from state_dir; a host
 * that is not a member yet still syncs as a non-member. Returns 0 or a negative errno (the
 * listener cannot be bound: the error names the port). LAN beacons that cannot start are
 * a warning, not an error. */
int syncd_new(struct event_base *base, const struct syncd_params *p, const struct config *cfg,
	      struct syncd **out);
void syncd_free(struct syncd *s); /* closes every connection; NULL is a no-op */

/* The current snapshot (members, their mesh addresses and roles). The daemon calls it on
 * every new snapshot; syncd keeps a reference until the next call or syncd_free. */
void syncd_set_snapshot(struct syncd *s, struct snapshot *snap);

/* The registry changed (the CLI or this daemon committed): records new since the last
 * call are queued for their push (those that sync itself received are pushed on, not
 * back to their sender). */
void syncd_registry_changed(struct syncd *s);

/* A link or address changed (publish.c sees rtnetlink events): anti-entropy at once, a
 * beacon at once, back-offs lifted. */
void syncd_link_changed(struct syncd *s);

/* One neighbour, for `meshname status`. Times are unix seconds, 0 = never. */
struct syncd_neighbour {
	uint8_t key[REC_KEY_SIZE];        /* host key; status resolves the name from the snapshot */
	unsigned flags;                   /* SYNCNODE_LAN | SYNCNODE_SEED | SYNCNODE_MEMBER */
	char via[CONFIG_ADDR_STRLEN + 8]; /* "mesh 100.64.0.3:51821", "lan 192.0.2.7:51821" */
	uint64_t last_ok;
	uint64_t last_fail;
	unsigned failures; /* consecutive */
	uint64_t backoff_until;
	bool in_session;
	bool banned;
};

struct syncd_status {
	bool enabled;
	uint16_t port;
	bool beacons;        /* sync-beacon yes */
	size_t n_neighbours; /* entries used in nb */
	struct syncd_neighbour nb[SYNCNODE_MAX_NEIGHBOURS];
	uint64_t last_ok;                 /* last successful session with anyone */
	uint64_t next_ae;                 /* when the next anti-entropy session is due */
	size_t pending_push;              /* records waiting for their push */
	size_t sessions_in, sessions_out; /* open now */
	uint64_t sessions_ok, sessions_failed;
	uint64_t records_in, records_out; /* records received / sent, all sessions */
	uint64_t bytes_in, bytes_out;
	uint64_t accepted; /* records stored because a peer sent them */
	uint64_t strikes;  /* strikes counted against peers */
	size_t banned;     /* peers banned now */
	uint64_t beacons_sent, beacons_heard;
	char error[128]; /* the last failure worth showing ("" when none, or when a later
			  * session with that same peer worked) */
};

void syncd_status(const struct syncd *s, struct syncd_status *st);

#endif
