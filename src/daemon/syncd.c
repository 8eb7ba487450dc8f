/*
 * syncd.c: meshnamed's peer sync (syncd.h, doc/sync.md "meshnamed"): the TCP listener
 * (transport A for members' mesh addresses, B for anything else), outbound sessions and
 * pushes as syncnode asks for them, the route to each peer (a LAN address heard in its
 * beacon, a seed, its mesh address), strikes and bans, per-peer rates, the scan for records
 * new in the registry, the LAN beacon's contents and the status. Records are stored only
 * through the registry's own validation; nothing here blocks the loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <sodium.h>

#include "common/addr.h"
#include "common/log.h"
#include "daemon/lanbeacon.h"
#include "daemon/syncconn.h"
#include "daemon/syncd.h"
#include "meshname/keys.h"
#include "meshname/negentropy.h"
#include "meshname/registry.h"
#include "meshname/seeds.h"
#include "meshname/sync.h"

#define LISTEN_BACKLOG 64
#define ACCEPT_BATCH 16       /* connections taken per listener callback */
#define MAX_PRESESSION 32     /* inbound connections not in a session yet (handshake) */
#define MAX_PRESESSION_ADDR 4 /* ... of them from one source address */
#define ACTIONS_MAX 64        /* syncnode actions per step */
#define STEP_MAX_SLEEP_MS 60000
#define STEP_MIN_SLEEP_MS 10 /* between steps that had nothing to do though something was due */
#define PEER_SLOTS 256       /* per-peer rate buckets and follow-ups (bounded, LRU) */
#define LAN_SLOTS SYNCNODE_MAX_NEIGHBOURS
#define LAN_ROUTE_MS 95000   /* a beacon's address is used this long (syncnode's lan_ttl_ms) */
#define SEED_ADDRS 4         /* addresses kept per seed name */
#define SEED_RESOLVE_S 300   /* names resolved again this often */
#define SEED_RETRY_S 30      /* a name that did not resolve, this often */
#define RECENT_WINDOW_S 3600 /* records issued this recently are looked at for pushes */
#define RECENT_MAX 65536     /* ... at most this many of them (the newest) */
#define QUEUED_RING 1024     /* ids sync itself queued for a push (the scan skips them) */
/* Records a session fetched (not pushed to us) that are pushed on: a small difference is
 * news that missed us (a healed partition); a bulk fetch (a cold start) is not, and
 * anti-entropy carries it on. */
#define PUSH_ON_FETCHED 64
#define FP_INTERVAL_MS 5000 /* the set fingerprint (a scan of the set) at most this often */
#define FOLLOWUP_MS 60000   /* a peer that took us for a non-member: again at once, once a minute */
#define BAN_LIST 64         /* bans remembered for the status */
#define RELISTEN_MS 1000    /* accept paused this long when out of file descriptors */
#define CHANGED_MIN_MS 2000 /* between snapshot rebuilds while records keep coming */
#define CHANGED_FACTOR 8    /* and this many times the last rebuild's duration */
/* While a session fetches in bulk (more than PUSH_ON_FETCHED records: a cold start), no
 * rebuild until it ends (registry_settled), or this long after the last one. */
#define CHANGED_BULK_MAX_MS 30000

struct peer_slot {
	bool used;
	unsigned refs; /* sessions holding rate */
	uint8_t key[REC_KEY_SIZE];
	struct sync_rate rate;
	uint64_t last_used;
	uint64_t followup_at; /* mono ms of the last restricted follow-up */
	/* The peer took us for a member in its last session with us: it may be pushed any
	 * record over transport B (a peer that does not know us strikes a push of anything
	 * but CERT and RENEW). */
	bool knows_us;
};

struct lan_peer {
	bool used;
	uint8_t key[REC_KEY_SIZE];
	struct sockaddr_storage addr; /* port: its sync port */
	uint64_t heard;               /* mono ms */
};

struct seed_slot {
	struct syncd *sd;
	struct seed s;
	struct sockaddr_storage addr[SEED_ADDRS];
	size_t n_addr, next;
	bool literal;
	bool in_flight;
	bool failed;
	struct evdns_getaddrinfo_request *req;
};

struct link {
	TAILQ_ENTRY(link) entry;
	struct syncd *sd;
	struct syncconn *conn;
	bool inbound;
	bool push;       /* a syncnode push: its end is reported as one */
	bool prepush;    /* our own CERT pushed first; the session syncnode asked for follows */
	bool presession; /* inbound transport B before identification: counts against the bound */
	bool counted_in; /* syncnode_inbound_open said yes */
	bool have_key;
	uint8_t key[REC_KEY_SIZE];
	struct peer_slot *slot;
	enum syncconn_transport transport;
	struct sockaddr_storage addr;
	int seed; /* the seed slot used, -1 */
	uint64_t started;
	size_t fetched; /* records this session fetched and stored */
	bool bulk;      /* more than PUSH_ON_FETCHED of them: counted in n_bulk */
	char via[CONFIG_ADDR_STRLEN + 8];
};
TAILQ_HEAD(link_list, link);

struct recent {
	uint64_t issued_at;
	uint8_t id[REC_ID_SIZE];
};

struct ban {
	uint8_t key[SYNC_PEER_KEY_MAX];
	size_t len;
	uint64_t until; /* mono ms */
};

struct route {
	enum syncconn_transport transport;
	struct sockaddr_storage addr;
	int seed;
	char via[CONFIG_ADDR_STRLEN + 8];
};

struct syncd {
	struct event_base *base;
	struct syncd_params p;
	char state_dir[PATH_MAX];
	uint16_t port;
	bool beacons;
	uint8_t host_sk[REC_SECRET_SIZE];
	uint8_t self_key[REC_KEY_SIZE];
	uint8_t mesh_id[REC_ID_SIZE];
	struct snapshot *snap;
	bool self_member;
	struct syncnode *node;
	struct sync_store *store;
	struct sync_strikes *strikes;
	struct peer_slot peers[PEER_SLOTS];
	struct lan_peer lan[LAN_SLOTS];
	struct seed_slot seeds[SEEDS_MAX];
	size_t n_seeds;
	struct evdns_base *dns;
	struct event *ev_resolve;
	bool freeing;

	evutil_socket_t lfd;
	struct event *ev_listen, *ev_relisten;
	struct link_list links;
	size_t n_presession;

	struct event *ev_step, *ev_changed, *ev_fp;
	uint64_t changed_next; /* mono ms: the snapshot is rebuilt again no sooner */
	uint64_t changed_last; /* mono ms: the last rebuild (or the start) */
	size_t n_bulk;         /* sessions fetching in bulk */
	bool in_step, step_again;
	struct lanbeacon *lb;

	/* The records issued in the last RECENT_WINDOW_S seconds, as the last scan saw them,
	 * sorted by (issued_at, id); ids sync queued itself. */
	struct recent *recent;
	size_t n_recent;
	uint64_t recent_floor;
	bool scanned;
	uint8_t queued[QUEUED_RING][REC_ID_SIZE];
	size_t queued_head, queued_len;

	uint8_t fp[BEACON_FINGERPRINT_SIZE];
	bool have_fp, fp_dirty;
	uint64_t fp_at;

	/* This host's records a transport B peer may lack (its CERT, a RENEW). */
	uint8_t own[4][REC_ID_SIZE];
	size_t n_own;
	bool own_dirty;

	struct ban bans[BAN_LIST];
	size_t ban_next;

	uint64_t sessions_ok, sessions_failed;
	uint64_t records_in, records_out, bytes_in, bytes_out, accepted, strikes_n;
	uint64_t last_ok; /* unix s */
	char error[128];
	uint8_t error_key[REC_KEY_SIZE]; /* whose failure error says (it goes when that works) */
};

/* ---- small things ------------------------------------------------------------------------ */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A monotonic time as unix seconds (0 stays 0: never). */
static uint64_t to_unix(uint64_t mono)
{
	uint64_t now_mono = mono_ms(), now = (uint64_t)time(NULL);

	if (mono == 0)
		return 0;
	if (mono <= now_mono)
		return now - (now_mono - mono) / 1000;
	return now + (mono - now_mono + 999) / 1000;
}

static uint32_t node_rand(void *arg, uint32_t upper_bound)
{
	(void)arg;
	return randombytes_uniform(upper_bound);
}

/* ::ffff:a.b.c.d as the IPv4 address it is. */
static void unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in sin = { .sin_family = AF_INET };

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
		return;
	sin.sin_port = sin6->sin6_port;
	memcpy(&sin.sin_addr, &sin6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &sin, sizeof(sin));
}

/* The address bytes of ss (4 or 16) for the strike table; 0 for another family. */
static size_t addr_bytes(const struct sockaddr_storage *ss, uint8_t out[16])
{
	if (ss->ss_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		return 4;
	}
	if (ss->ss_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
		return 16;
	}
	return 0;
}

static socklen_t addr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

/* The peer's name for logs: its host name if it is an active member, else its key. */
static const char *peer_name(const struct syncd *sd, const uint8_t key[REC_KEY_SIZE], char *buf,
			     size_t len)
{
	const struct snapshot_host *h = sd->snap != NULL ? snapshot_lookup_host_key(sd->snap, key) :
							   NULL;
	char b64[sodium_base64_ENCODED_LEN(REC_KEY_SIZE, sodium_base64_VARIANT_ORIGINAL)];

	if (h != NULL) {
		snprintf(buf, len, "%s", h->name);
		return buf;
	}
	sodium_bin2base64(b64, sizeof(b64), key, REC_KEY_SIZE, sodium_base64_VARIANT_ORIGINAL);
	snprintf(buf, len, "host key %s", b64);
	return buf;
}

static const struct snapshot_host *active_host(const struct syncd *sd,
					       const uint8_t key[REC_KEY_SIZE])
{
	return sd->snap != NULL ? snapshot_lookup_host_key(sd->snap, key) : NULL;
}

/* ---- per-peer state ---------------------------------------------------------------------- */

/* The peer's slot, made if needed: the least recently used one not in a session makes room.
 * NULL only if every slot holds a running session. */
static struct peer_slot *peer_get(struct syncd *sd, const uint8_t key[REC_KEY_SIZE])
{
	struct peer_slot *free_slot = NULL, *lru = NULL;

	for (size_t i = 0; i < PEER_SLOTS; i++) {
		struct peer_slot *e = &sd->peers[i];

		if (e->used && memcmp(e->key, key, REC_KEY_SIZE) == 0) {
			e->last_used = mono_ms();
			return e;
		}
		if (!e->used && free_slot == NULL)
			free_slot = e;
		if (e->used && e->refs == 0 && (lru == NULL || e->last_used < lru->last_used))
			lru = e;
	}
	if (free_slot == NULL)
		free_slot = lru;
	if (free_slot == NULL)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	memcpy(free_slot->key, key, REC_KEY_SIZE);
	free_slot->last_used = mono_ms();
	return free_slot;
}

static bool banned(const struct syncd *sd, const uint8_t *key, size_t len)
{
	return len > 0 && sync_strikes_banned(sd->strikes, key, len, mono_ms(), NULL);
}

/* Counts a strike; warns, and remembers a ban for the status. */
static void strike(struct syncd *sd, const uint8_t *key, size_t len, const char *who,
		   const char *why)
{
	uint64_t until = 0;

	if (len == 0)
		return;
	sd->strikes_n++;
	if (!sync_strikes_add(sd->strikes, key, len, mono_ms())) {
		log_warnx("sync: strike against %s: %s", who, why);
		return;
	}
	sync_strikes_banned(sd->strikes, key, len, mono_ms(), &until);
	log_warnx("sync: %s is banned for %llu s after repeated strikes (last: %s)", who,
		  (unsigned long long)((until - mono_ms()) / 1000), why);
	memcpy(sd->bans[sd->ban_next].key, key, len);
	sd->bans[sd->ban_next].len = len;
	sd->bans[sd->ban_next].until = until;
	sd->ban_next = (sd->ban_next + 1) % BAN_LIST;
}

/* ---- stepping the node --------------------------------------------------------------------- */

static void schedule_step(struct syncd *sd)
{
	struct timeval now = { 0, 0 };

	if (sd->in_step) {
		sd->step_again = true;
		return;
	}
	evtimer_add(sd->ev_step, &now);
}

static void perform(struct syncd *sd, const struct syncnode_action *act, size_t n);

static void on_step(evutil_socket_t fd, short events, void *arg)
{
	struct syncd *sd = arg;
	struct syncnode_action act[ACTIONS_MAX];
	uint64_t now = mono_ms(), next, delay;
	struct timeval tv;
	size_t n = 0;

	(void)fd;
	(void)events;
	sd->in_step = true;
	sd->step_again = false;
	syncnode_step(sd->node, now, act, ACTIONS_MAX, &n);
	perform(sd, act, n);
	sd->in_step = false;
	next = syncnode_next_wakeup(sd->node);
	now = mono_ms();
	delay = next > now ? next - now : 0;
	if (sd->step_again || n == ACTIONS_MAX)
		delay = 0;
	else if (delay == 0)
		delay = STEP_MIN_SLEEP_MS; /* due but nothing could be done: not a busy loop */
	if (delay > STEP_MAX_SLEEP_MS)
		delay = STEP_MAX_SLEEP_MS;
	tv.tv_sec = (time_t)(delay / 1000);
	tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
	evtimer_add(sd->ev_step, &tv);
}

/* Sync stored records: the daemon rebuilds its snapshot, from the loop. At once after a
 * quiet time and at a session's end (registry_settled); while records keep coming (a new
 * host fetching the mesh), at most every CHANGED_MIN_MS and so that rebuilding (which
 * grows with the registry, ~0.7 s at 100,000 records) takes at most a ninth of the time:
 * each rebuild holds the loop, DNS and the session with it. While a session fetches in
 * bulk, not until it ends (at most CHANGED_BULK_MAX_MS): a host fetching the mesh has little
 * to serve meanwhile, and DNS answers from the view it has. */
static void registry_touched(struct syncd *sd)
{
	uint64_t now = mono_ms(), d = sd->changed_next > now ? sd->changed_next - now : 0;
	struct timeval tv = { (time_t)(d / 1000), (suseconds_t)(d % 1000) * 1000 };

	if (sd->p.changed != NULL && !evtimer_pending(sd->ev_changed, NULL))
		evtimer_add(sd->ev_changed, &tv);
}

/* A session that stored records ended: its records in DNS now, not after the pause. */
static void registry_settled(struct syncd *sd)
{
	struct timeval now = { 0, 0 };

	if (sd->p.changed != NULL)
		evtimer_add(sd->ev_changed, &now);
}

static void on_changed(evutil_socket_t fd, short events, void *arg)
{
	struct syncd *sd = arg;
	uint64_t t0 = mono_ms(), took;

	(void)fd;
	(void)events;
	if (sd->n_bulk > 0 && t0 < sd->changed_last + CHANGED_BULK_MAX_MS) {
		uint64_t d = sd->changed_last + CHANGED_BULK_MAX_MS - t0;
		struct timeval tv = { (time_t)(d / 1000), (suseconds_t)(d % 1000) * 1000 };

		evtimer_add(sd->ev_changed, &tv); /* the fetch's end comes first, as a rule */
		return;
	}
	sd->p.changed(sd->p.arg);
	sd->changed_last = mono_ms();
	took = sd->changed_last - t0;
	log_debug("sync: snapshot rebuilt in %llu ms", (unsigned long long)took);
	took *= CHANGED_FACTOR;
	sd->changed_next = mono_ms() + (took > CHANGED_MIN_MS ? took : CHANGED_MIN_MS);
}

/* ---- links: the owner's side of a connection ------------------------------------------------ */

/* A session that fetched in bulk ended: rebuilds as usual again. */
static void link_unbulk(struct link *l)
{
	if (l->bulk) {
		l->bulk = false;
		l->sd->n_bulk--;
	}
}

static void link_free(struct link *l)
{
	link_unbulk(l);
	if (l->slot != NULL && l->slot->refs > 0)
		l->slot->refs--;
	syncconn_free(l->conn);
	free(l);
}

static void on_conn_accepted(void *arg, struct syncconn *c, const struct sync_event *ev)
{
	struct link *l = arg;
	struct syncd *sd = l->sd;

	(void)c;
	sd->accepted++;
	/* Pushed on at once, not back to its sender; the registry scan skips it either way. */
	if (ev->pushed || ++l->fetched <= PUSH_ON_FETCHED)
		syncnode_record_accepted(sd->node, ev->id, l->have_key ? l->key : NULL, mono_ms());
	else if (!l->bulk) {
		l->bulk = true;
		sd->n_bulk++;
	}
	memcpy(sd->queued[(sd->queued_head + sd->queued_len) % QUEUED_RING], ev->id, REC_ID_SIZE);
	if (sd->queued_len < QUEUED_RING)
		sd->queued_len++;
	else
		sd->queued_head = (sd->queued_head + 1) % QUEUED_RING;
	sd->fp_dirty = true;
	sd->own_dirty = true;
	registry_touched(sd);
	schedule_step(sd);
}

static void open_outbound(struct syncd *sd, const uint8_t key[REC_KEY_SIZE], bool push,
			  const uint8_t (*ids)[REC_ID_SIZE], size_t n_ids, bool prepush);
static void own_refresh(struct syncd *sd);

static void on_conn_ended(void *arg, struct syncconn *c, const struct syncconn_result *r)
{
	struct link *l = arg;
	struct syncd *sd = l->sd;
	char who[96], addr[CONFIG_ADDR_STRLEN];
	const char *what = l->push ? "push" : "sync";
	uint64_t now = mono_ms(), ms = now - l->started;

	(void)c;
	if (l->presession) {
		l->presession = false;
		sd->n_presession--;
	}
	if (l->have_key)
		peer_name(sd, l->key, who, sizeof(who));
	else
		snprintf(who, sizeof(who), "%s", config_addr_str(&l->addr, addr, sizeof(addr)));
	link_unbulk(l);
	if (r->had_session && r->stats.accepted > 0)
		registry_settled(sd);
	if (r->had_session) {
		sd->records_in += r->stats.records_in;
		sd->records_out += r->stats.records_out;
		sd->bytes_in += r->stats.bytes_in;
		sd->bytes_out += r->stats.bytes_out;
	}
	if (r->result == 0) {
		sd->sessions_ok++;
		sd->last_ok = (uint64_t)time(NULL);
		if (l->have_key && memcmp(l->key, sd->error_key, REC_KEY_SIZE) == 0)
			sd->error[0] = '\0'; /* that peer works now */
		log_debug("%s %s %s (%s): %llu records in, %llu out, %llu B in, %llu B out, "
			  "%llu ms",
			  what, l->inbound ? "from" : "with", who, l->via,
			  (unsigned long long)r->stats.records_in,
			  (unsigned long long)r->stats.records_out,
			  (unsigned long long)r->stats.bytes_in,
			  (unsigned long long)r->stats.bytes_out, (unsigned long long)ms);
	} else if (r->established || r->had_session || !l->inbound) {
		/* An inbound connection that never got through the handshake is not worth a
		 * line each (scanners, a peer with the wrong mesh), unless it struck. */
		const char *sys = r->connect_failed ? strerror(-r->result) : NULL;

		sd->sessions_failed++;
		log_info("%s %s %s (%s) failed: %s%s%s", what, l->inbound ? "from" : "with", who,
			 l->via, r->detail, sys != NULL ? ": " : "", sys != NULL ? sys : "");
		snprintf(sd->error, sizeof(sd->error), "%s %s %s: %s%s%s", what,
			 l->inbound ? "from" : "with", who, r->detail, sys != NULL ? ": " : "",
			 sys != NULL ? sys : "");
		if (l->have_key)
			memcpy(sd->error_key, l->key, REC_KEY_SIZE);
		else
			memset(sd->error_key, 0, REC_KEY_SIZE);
	}
	/* Only a HELLO with a set says how the peer takes us: one that pushed to us (its own
	 * CERT before it knew us, say) does not, and taking that for "knows us" made our next
	 * push over transport B one a non-member may not make (a strike against us). */
	if (r->had_session && !r->peer_push_only && l->slot != NULL &&
	    (r->result == 0 || r->peer_restricted))
		l->slot->knows_us = !r->peer_restricted;
	if (r->strike) {
		uint8_t a[16];

		if (l->have_key)
			strike(sd, l->key, REC_KEY_SIZE, who, r->detail);
		else
			strike(sd, a, addr_bytes(&l->addr, a), who, r->detail);
	}
	if (!l->inbound && l->prepush && r->result == 0) {
		/* The peer has our CERT now: the session syncnode asked for (a reconciling one
		 * also for a push: no ids), reported when it ends. */
		open_outbound(sd, l->key, l->push, NULL, 0, false);
		schedule_step(sd);
		return;
	}
	if (!l->inbound) {
		if (l->push)
			syncnode_push_end(sd->node, l->key, r->result, now);
		else
			syncnode_session_end(sd->node, l->key, false, r->result, now);
		if (r->result != 0 && l->seed >= 0)
			sd->seeds[l->seed].next++; /* another address of it next time */
		/* As syncnode.h asks: a session that broke after the HELLOs showed that the sets
		 * differ is due again with the same peer, once its back-off has passed (a fetch
		 * cut short by the peer's restart resumes from it, not from a random neighbour). */
		if (r->result != 0 && !l->push && r->had_session && r->stats.neg_rounds > 0)
			syncnode_request(sd->node, l->key, now);
		/* A peer that took us for a non-member got our CERT in this session (transport
		 * B pushes it): reconcile again now, fully, instead of a period later. */
		if (r->result == 0 && !l->push && r->peer_restricted && sd->self_member &&
		    l->slot != NULL &&
		    (l->slot->followup_at == 0 || now - l->slot->followup_at >= FOLLOWUP_MS)) {
			l->slot->followup_at = now;
			syncnode_request(sd->node, l->key, now);
		}
	} else if (l->counted_in) {
		l->counted_in = false;
		syncnode_session_end(sd->node, l->key, true, r->result, now);
	}
	schedule_step(sd);
}

static void on_conn_closed(void *arg, struct syncconn *c)
{
	struct link *l = arg;

	(void)c;
	TAILQ_REMOVE(&l->sd->links, l, entry);
	link_free(l);
}

static void fill_sync_config(const struct syncd *sd, struct sync_config *sc, enum sync_mode mode,
			     enum sync_role peer_role, struct peer_slot *slot)
{
	memset(sc, 0, sizeof(*sc));
	sc->store = sd->store;
	memcpy(sc->mesh_id, sd->mesh_id, REC_ID_SIZE);
	sc->mode = mode;
	sc->self_role = sd->self_member ? SYNC_ROLE_MEMBER : SYNC_ROLE_NONMEMBER;
	sc->peer_role = peer_role;
	memcpy(sc->self_key, sd->self_key, REC_KEY_SIZE);
	sc->rate = slot != NULL ? &slot->rate : NULL;
	/* doc/sync.md "Limits" (not zeros: a zero push_rejects would tolerate no race) */
	sync_limits_default(&sc->limits);
}

/* Transport B server: the handshake proved who the peer is. */
static int on_conn_identified(void *arg, struct syncconn *c, const uint8_t key[REC_KEY_SIZE],
			      struct sync_config *sc)
{
	struct link *l = arg;
	struct syncd *sd = l->sd;
	struct peer_slot *slot;

	(void)c;
	if (l->presession) {
		l->presession = false;
		sd->n_presession--;
	}
	memcpy(l->key, key, REC_KEY_SIZE);
	l->have_key = true;
	if (memcmp(key, sd->self_key, REC_KEY_SIZE) == 0)
		return -ELOOP;
	if (banned(sd, key, REC_KEY_SIZE))
		return -EACCES;
	slot = peer_get(sd, key);
	if (slot == NULL || syncnode_inbound_open(sd->node, key, mono_ms()) < 0)
		return -EBUSY;
	l->counted_in = true;
	l->slot = slot;
	slot->refs++;
	sc->peer_role = active_host(sd, key) != NULL ? SYNC_ROLE_MEMBER : SYNC_ROLE_NONMEMBER;
	sc->rate = &slot->rate;
	return 0;
}

/* ---- this host's own records, for transport B peers that may not know it ----------------- */

struct own_scan {
	const uint8_t *self;
	uint64_t now;
	uint8_t cert[REC_ID_SIZE], renew[REC_ID_SIZE];
	uint64_t cert_serial, renew_issued;
	bool have_cert, have_renew;
};

static int own_scan_cb(void *arg, const uint8_t *buf, size_t len)
{
	struct own_scan *o = arg;
	struct rec r;

	if (len < REC_HEADER_SIZE || (buf[4] != REC_CERT && buf[4] != REC_RENEW) ||
	    rec_decode(buf, len, &r) < 0 || r.expires_at <= o->now)
		return 0;
	if (r.type == REC_CERT && memcmp(r.u.cert.host_key, o->self, REC_KEY_SIZE) == 0 &&
	    (!o->have_cert || r.seq > o->cert_serial)) {
		rec_id(buf, len, o->cert);
		o->cert_serial = r.seq;
		o->have_cert = true;
	}
	if (r.type == REC_RENEW && memcmp(r.signer, o->self, REC_KEY_SIZE) == 0 &&
	    (!o->have_renew || r.issued_at > o->renew_issued)) {
		rec_id(buf, len, o->renew);
		o->renew_issued = r.issued_at;
		o->have_renew = true;
	}
	return 0;
}

static void own_refresh(struct syncd *sd)
{
	const struct snapshot_host *self = active_host(sd, sd->self_key);
	struct own_scan o = { .self = sd->self_key, .now = (uint64_t)time(NULL) };

	sd->own_dirty = false;
	sd->n_own = 0;
	if (self != NULL) {
		memcpy(sd->own[sd->n_own++], self->cert_id, REC_ID_SIZE);
		return;
	}
	/* Not an active member here (a certificate expired, or not valid yet): a RENEW,
	 * and a certificate still in its time. A registry without membership is small. */
	if (registry_foreach(sd->p.reg, own_scan_cb, &o) < 0)
		return;
	if (o.have_cert)
		memcpy(sd->own[sd->n_own++], o.cert, REC_ID_SIZE);
	if (o.have_renew)
		memcpy(sd->own[sd->n_own++], o.renew, REC_ID_SIZE);
}

static void on_conn_own_records(void *arg, struct syncconn *c, uint8_t (*ids)[REC_ID_SIZE],
				size_t *n)
{
	struct link *l = arg;
	struct syncd *sd = l->sd;

	(void)c;
	if (sd->own_dirty)
		own_refresh(sd);
	memcpy(ids, sd->own, sd->n_own * REC_ID_SIZE);
	*n = sd->n_own;
}

static const struct syncconn_callbacks conn_cb = {
	.identified = on_conn_identified,
	.own_records = on_conn_own_records,
	.accepted = on_conn_accepted,
	.ended = on_conn_ended,
	.closed = on_conn_closed,
};

/* ---- inbound ------------------------------------------------------------------------------ */

static bool is_host_address(const struct snapshot_host *h, const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)ss)->sin_addr, h->ipv4, 4) == 0;
	return ss->ss_family == AF_INET6 &&
	       memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr, h->ipv6, 16) == 0;
}

/* An address inside the mesh's prefixes: only transport A is spoken to it. */
static bool in_mesh(const struct syncd *sd, const struct sockaddr_storage *ss)
{
	const struct rec_root *root = sd->snap != NULL ? snapshot_root(sd->snap) : NULL;

	if (root == NULL)
		return false;
	if (ss->ss_family == AF_INET)
		return addr_prefix_match(
			(const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr, root->ipv4,
			root->ipv4_len);
	return ss->ss_family == AF_INET6 &&
	       addr_prefix_match(((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr, root->ipv6,
				 REC_IPV6_PREFIX_LEN);
}

static size_t presession_from(const struct syncd *sd, const struct sockaddr_storage *peer)
{
	const struct link *l;
	uint8_t a[16], b[16];
	size_t n = 0, la = addr_bytes(peer, a);

	TAILQ_FOREACH(l, &sd->links, entry)
	if (l->presession && addr_bytes(&l->addr, b) == la && memcmp(a, b, la) == 0)
		n++;
	return n;
}

static const struct snapshot_host *host_by_address(const struct syncd *sd,
						   const struct sockaddr_storage *ss)
{
	if (sd->snap == NULL)
		return NULL;
	if (ss->ss_family == AF_INET)
		return snapshot_lookup_ipv4(
			sd->snap, (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr);
	if (ss->ss_family == AF_INET6)
		return snapshot_lookup_ipv6(sd->snap,
					    ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr);
	return NULL;
}

/* A session is request and answer (WANT, RECORDS; NEG rounds): without TCP_NODELAY each
 * small frame after a large one waits for the peer's delayed ACK (Nagle). */
static void set_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		log_debug("sync: cannot set TCP_NODELAY: %s", strerror(errno));
}

static void accept_one(struct syncd *sd, int fd, struct sockaddr_storage *peer)
{
	const struct snapshot_host *self = active_host(sd, sd->self_key), *h;
	struct sockaddr_storage local = { 0 };
	socklen_t len = sizeof(local);
	struct syncconn_params cp = { 0 };
	struct bufferevent *bev;
	struct link *l;
	uint8_t a[16];
	char text[CONFIG_ADDR_STRLEN];
	enum sync_role role = SYNC_ROLE_NONMEMBER;
	int r;

	unmap(peer);
	if (getsockname(fd, (struct sockaddr *)&local, &len) < 0) {
		close(fd);
		return;
	}
	unmap(&local);
	set_nodelay(fd);
	if (banned(sd, a, addr_bytes(peer, a))) {
		close(fd);
		return;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		close(fd);
		return;
	}
	l->sd = sd;
	l->inbound = true;
	l->addr = *peer;
	l->seed = -1;
	l->started = mono_ms();
	if ((self != NULL && is_host_address(self, &local)) || in_mesh(sd, &local)) {
		/* To our mesh address: WireGuard says who sent it, if it is a member's. (Our
		 * own certificate may have lapsed here: no transport B over the mesh.) */
		h = self != NULL && is_host_address(self, &local) ? host_by_address(sd, peer) :
								    NULL;
		if (h != NULL && h != self && banned(sd, h->host_key, REC_KEY_SIZE)) {
			uint8_t frame[SYNC_FRAME_HEADER + 1];

			/* Told, so that it does not just try again; one small write to a fresh
			 * socket, and the close follows whatever came of it. */
			if (write(fd, frame, sync_error_frame(SYNC_ERR_BANNED, frame)) < 0)
				log_debug("sync: cannot tell %s it is banned: %s", h->name,
					  strerror(errno));
			goto refuse;
		}
		if (h == NULL || h == self) {
			log_debug("sync: refused %s on this host's mesh address: %s",
				  config_addr_str(peer, text, sizeof(text)),
				  "not an active member's mesh address");
			goto refuse;
		}
		memcpy(l->key, h->host_key, REC_KEY_SIZE);
		l->have_key = true;
		l->slot = peer_get(sd, l->key);
		if (l->slot == NULL || syncnode_inbound_open(sd->node, l->key, mono_ms()) < 0)
			goto refuse; /* busy: the peer tries another */
		l->slot->refs++;
		l->counted_in = true;
		l->transport = SYNCCONN_A;
		role = SYNC_ROLE_MEMBER;
	} else {
		if (sd->n_presession >= MAX_PRESESSION ||
		    presession_from(sd, peer) >= MAX_PRESESSION_ADDR)
			goto refuse;
		l->transport = SYNCCONN_B;
		l->presession = true;
		sd->n_presession++;
	}
	snprintf(l->via, sizeof(l->via), "%s %s", l->transport == SYNCCONN_A ? "mesh" : "tcp",
		 config_addr_str(peer, text, sizeof(text)));
	bev = bufferevent_socket_new(sd->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		goto refuse;
	fd = -1;
	cp.transport = l->transport;
	cp.client = false;
	fill_sync_config(sd, &cp.sync, SYNC_MODE_RECONCILE, role, l->slot);
	cp.host_sk = sd->host_sk;
	cp.cb = &conn_cb;
	cp.arg = l;
	r = syncconn_new(sd->base, bev, &cp, &l->conn);
	if (r < 0)
		goto refuse;
	TAILQ_INSERT_TAIL(&sd->links, l, entry);
	return;
refuse:
	if (l->counted_in)
		syncnode_session_end(sd->node, l->key, true, -ECONNABORTED, mono_ms());
	if (l->presession)
		sd->n_presession--;
	if (fd >= 0)
		close(fd);
	l->conn = NULL;
	link_free(l);
}

static void on_relisten(evutil_socket_t fd, short events, void *arg)
{
	struct syncd *sd = arg;

	(void)fd;
	(void)events;
	event_add(sd->ev_listen, NULL);
}

static void on_accept(evutil_socket_t lfd, short events, void *arg)
{
	struct syncd *sd = arg;

	(void)events;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage peer = { 0 };
		socklen_t len = sizeof(peer);
		int fd = accept4(lfd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			accept_one(sd, fd, &peer);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			struct timeval tv = { 0, RELISTEN_MS * 1000 };

			/* The listener would fire again at once: pause it. */
			log_warn("sync: cannot accept a connection");
			event_del(sd->ev_listen);
			evtimer_add(sd->ev_relisten, &tv);
		}
		if (errno != EINTR && errno != ECONNABORTED)
			break;
	}
}

/* [::]:port, both families; 0.0.0.0:port where the system has no IPv6. */
static int listen_open(struct syncd *sd)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd, one = 1, zero = 0, r;

	sin6.sin6_port = htons(sd->port);
	sin.sin_port = htons(sd->port);
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		if (bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0)
			goto bound;
		r = -errno;
		close(fd);
		if (r != -EADDRNOTAVAIL && r != -EAFNOSUPPORT)
			goto fail;
	} else if (errno != EAFNOSUPPORT) {
		r = -errno;
		goto fail;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		r = -errno;
		close(fd);
		goto fail;
	}
bound:
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		r = -errno;
		close(fd);
		goto fail;
	}
	sd->lfd = fd;
	return 0;
fail:
	log_warnx("sync: cannot listen on TCP port %u: %s%s", (unsigned)sd->port, strerror(-r),
		  r == -EADDRINUSE ? " (another program uses it: set sync-port)" : "");
	return r;
}

/* ---- outbound ----------------------------------------------------------------------------- */

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* How to reach peer now: a LAN address heard in its beacon (transport B), a seed's address
 * (B), its mesh address (A). false: no way. */
static bool route_to(const struct syncd *sd, const uint8_t key[REC_KEY_SIZE], struct route *rt)
{
	const struct snapshot_host *h;
	char text[CONFIG_ADDR_STRLEN];
	uint64_t now = mono_ms();
	static const uint8_t zero4[4];

	memset(rt, 0, sizeof(*rt));
	rt->seed = -1;
	for (size_t i = 0; i < LAN_SLOTS; i++) {
		const struct lan_peer *e = &sd->lan[i];

		if (e->used && memcmp(e->key, key, REC_KEY_SIZE) == 0 &&
		    now - e->heard < LAN_ROUTE_MS) {
			rt->transport = SYNCCONN_B;
			rt->addr = e->addr;
			snprintf(rt->via, sizeof(rt->via), "lan %s",
				 config_addr_str(&rt->addr, text, sizeof(text)));
			return true;
		}
	}
	for (size_t i = 0; i < sd->n_seeds; i++) {
		const struct seed_slot *e = &sd->seeds[i];

		if (memcmp(e->s.key, key, REC_KEY_SIZE) != 0 || e->n_addr == 0)
			continue;
		rt->transport = SYNCCONN_B;
		rt->addr = e->addr[e->next % e->n_addr];
		rt->seed = (int)i;
		snprintf(rt->via, sizeof(rt->via), "seed %s",
			 config_addr_str(&rt->addr, text, sizeof(text)));
		return true;
	}
	h = active_host(sd, key);
	if (h == NULL || memcmp(key, sd->self_key, REC_KEY_SIZE) == 0)
		return false;
	rt->transport = SYNCCONN_A;
	if (memcmp(h->ipv4, zero4, 4) != 0) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&rt->addr;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, h->ipv4, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&rt->addr;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, h->ipv6, 16);
	}
	set_port(&rt->addr, sd->port);
	snprintf(rt->via, sizeof(rt->via), "mesh %s",
		 config_addr_str(&rt->addr, text, sizeof(text)));
	return true;
}

/* Transport A leaves from this host's own mesh address of the peer's family: the peer
 * knows us by it, and a connection never goes out another interface (a default route)
 * while the mesh interface is not up. -EADDRNOTAVAIL: this host has no such address up
 * (not a member, or its WireGuard interface is not configured yet). */
static int bind_mesh_source(const struct syncd *sd, int fd, int family)
{
	const struct snapshot_host *self = active_host(sd, sd->self_key);
	static const uint8_t zero[16];
	struct sockaddr_storage ss = { 0 };

	if (self == NULL)
		return -EADDRNOTAVAIL;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		if (memcmp(self->ipv4, zero, 4) == 0)
			return -EADDRNOTAVAIL;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, self->ipv4, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		if (memcmp(self->ipv6, zero, 16) == 0)
			return -EADDRNOTAVAIL;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, self->ipv6, 16);
	}
	if (bind(fd, (struct sockaddr *)&ss, addr_len(&ss)) < 0)
		return -errno;
	return 0;
}

/* An outbound session or push that could not even start: reported as its end. */
static void outbound_failed(struct syncd *sd, const uint8_t key[REC_KEY_SIZE], bool push, int err,
			    const char *why)
{
	char who[96];

	peer_name(sd, key, who, sizeof(who));
	log_info("%s with %s failed: %s", push ? "push" : "sync", who, why);
	snprintf(sd->error, sizeof(sd->error), "%s with %s: %s", push ? "push" : "sync", who, why);
	memcpy(sd->error_key, key, REC_KEY_SIZE);
	sd->sessions_failed++;
	if (push)
		syncnode_push_end(sd->node, key, err, mono_ms());
	else
		syncnode_session_end(sd->node, key, false, err, mono_ms());
	schedule_step(sd);
}

/* prepush: a transport B peer that has not shown it knows us gets our own CERT in a push
 * session first, so that the session that follows (on_conn_ended) is one with a member:
 * else the first would reconcile the restricted set only and the full one would wait. */
static void open_outbound(struct syncd *sd, const uint8_t key[REC_KEY_SIZE], bool push,
			  const uint8_t (*ids)[REC_ID_SIZE], size_t n_ids, bool prepush)
{
	struct syncconn_params cp = { 0 };
	enum sync_mode mode = push ? SYNC_MODE_PUSH : SYNC_MODE_RECONCILE;
	struct bufferevent *bev;
	struct route rt;
	struct link *l;
	int fd, r;

	if (!route_to(sd, key, &rt)) {
		outbound_failed(sd, key, push, -EHOSTUNREACH,
				"no address: not heard on the LAN, not a seed, not an active "
				"member");
		return;
	}
	fd = socket(rt.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		outbound_failed(sd, key, push, r, "cannot make a socket");
		return;
	}
	if (rt.transport == SYNCCONN_A && (r = bind_mesh_source(sd, fd, rt.addr.ss_family)) < 0) {
		close(fd);
		if (r == -EADDRNOTAVAIL) {
			/* Ours, not the peer's: tried again once the address is up (a link
			 * change starts anti-entropy at once). */
			log_debug("sync: no session with a member over the mesh yet: this host's "
				  "mesh address is not up");
			syncnode_not_tried(sd->node, key, push, mono_ms());
			schedule_step(sd);
		} else {
			outbound_failed(sd, key, push, r, "cannot use this host's mesh address");
		}
		return;
	}
	set_nodelay(fd);
	l = calloc(1, sizeof(*l));
	bev = bufferevent_socket_new(sd->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (l == NULL || bev == NULL) {
		free(l);
		if (bev != NULL)
			bufferevent_free(bev);
		else
			close(fd);
		outbound_failed(sd, key, push, -ENOMEM, "out of memory");
		return;
	}
	l->sd = sd;
	l->push = push;
	memcpy(l->key, key, REC_KEY_SIZE);
	l->have_key = true;
	l->transport = rt.transport;
	l->addr = rt.addr;
	l->seed = rt.seed;
	l->started = mono_ms();
	snprintf(l->via, sizeof(l->via), "%s", rt.via);
	l->slot = peer_get(sd, key);
	if (l->slot != NULL)
		l->slot->refs++;
	/* A transport B peer that has not shown it knows us as a member would strike our
	 * push (a non-member may push CERT and RENEW only): reconcile instead, which pushes
	 * our own CERT and leaves the rest to what the peer then asks for. A push with no
	 * ids (the session after such a CERT) reconciles too: that carries the records. */
	if (push && (n_ids == 0 || (rt.transport == SYNCCONN_B &&
				    (!sd->self_member || l->slot == NULL || !l->slot->knows_us)))) {
		mode = SYNC_MODE_RECONCILE;
		ids = NULL;
		n_ids = 0;
	}
	if (mode == SYNC_MODE_RECONCILE && prepush && rt.transport == SYNCCONN_B &&
	    (l->slot == NULL || !l->slot->knows_us)) {
		if (sd->own_dirty)
			own_refresh(sd);
		if (sd->n_own > 0) {
			mode = SYNC_MODE_PUSH;
			ids = (const uint8_t(*)[REC_ID_SIZE])sd->own;
			n_ids = sd->n_own;
			l->prepush = true;
		}
	}
	cp.transport = rt.transport;
	cp.client = true;
	fill_sync_config(sd, &cp.sync, mode,
			 rt.transport == SYNCCONN_A || active_host(sd, key) != NULL ?
				 SYNC_ROLE_MEMBER :
				 SYNC_ROLE_NONMEMBER,
			 l->slot);
	cp.host_sk = sd->host_sk;
	cp.pin = key; /* transport B: only this host may answer */
	cp.push = ids;
	cp.n_push = n_ids;
	cp.connect_to = (const struct sockaddr *)&rt.addr;
	cp.connect_len = addr_len(&rt.addr);
	cp.cb = &conn_cb;
	cp.arg = l;
	r = syncconn_new(sd->base, bev, &cp, &l->conn);
	if (r < 0) {
		link_free(l);
		outbound_failed(sd, key, push, r, strerror(-r));
		return;
	}
	TAILQ_INSERT_TAIL(&sd->links, l, entry);
}

static void perform(struct syncd *sd, const struct syncnode_action *act, size_t n)
{
	uint8_t ids[SYNCCONN_PUSH_MAX][REC_ID_SIZE];
	bool done[ACTIONS_MAX] = { false };

	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		if (done[i])
			continue;
		if (act[i].kind == SYNCNODE_OPEN_SESSION) {
			open_outbound(sd, act[i].peer, false, NULL, 0, true);
			continue;
		}
		/* Every record of this step for one peer goes in one push session. */
		for (size_t j = i; j < n && k < SYNCCONN_PUSH_MAX; j++) {
			if (done[j] || act[j].kind != SYNCNODE_PUSH ||
			    memcmp(act[j].peer, act[i].peer, REC_KEY_SIZE) != 0)
				continue;
			memcpy(ids[k++], act[j].id, REC_ID_SIZE);
			done[j] = true;
		}
		open_outbound(sd, act[i].peer, true, (const uint8_t(*)[REC_ID_SIZE])ids, k, true);
	}
}

/* ---- seeds --------------------------------------------------------------------------------- */

static void resolve_seeds(struct syncd *sd);

static void on_seed_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct seed_slot *e = arg;
	struct syncd *sd = e->sd;
	size_t k = 0;

	e->in_flight = false;
	e->req = NULL;
	if (sd->freeing) {
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		return;
	}
	for (struct evutil_addrinfo *i = ai; result == 0 && i != NULL && k < SEED_ADDRS;
	     i = i->ai_next) {
		if ((i->ai_family != AF_INET && i->ai_family != AF_INET6) ||
		    i->ai_addrlen > sizeof(e->addr[0]))
			continue;
		memset(&e->addr[k], 0, sizeof(e->addr[k]));
		memcpy(&e->addr[k], i->ai_addr, i->ai_addrlen);
		set_port(&e->addr[k], e->s.port);
		k++;
	}
	if (ai != NULL)
		evutil_freeaddrinfo(ai);
	if (k == 0) {
		if (!e->failed)
			log_warnx("sync: seed %s:%u does not resolve (%s); kept trying", e->s.host,
				  (unsigned)e->s.port,
				  result != 0 ? evutil_gai_strerror(result) : "no address");
		e->failed = true;
		return; /* the addresses it had stay */
	}
	if (e->failed || e->n_addr == 0)
		log_info("sync: seed %s:%u resolves to %zu address%s", e->s.host,
			 (unsigned)e->s.port, k, k == 1 ? "" : "es");
	if (e->n_addr == 0)
		syncnode_request(sd->node, e->s.key, mono_ms()); /* as load_seeds says */
	e->failed = false;
	e->n_addr = k;
	schedule_step(sd);
}

static void resolve_seeds(struct syncd *sd)
{
	struct evutil_addrinfo hints = { 0 };
	bool retry = false;
	struct timeval tv;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	for (size_t i = 0; i < sd->n_seeds; i++) {
		struct seed_slot *e = &sd->seeds[i];
		struct evdns_getaddrinfo_request *req;

		if (e->literal || e->in_flight)
			continue;
		if (sd->dns == NULL) {
			sd->dns =
				evdns_base_new(sd->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
								 EVDNS_BASE_DISABLE_WHEN_INACTIVE);
			if (sd->dns == NULL) {
				log_warnx("sync: cannot start the DNS client for the seed names");
				return;
			}
		}
		retry |= e->failed || e->n_addr == 0;
		e->in_flight = true;
		req = evdns_getaddrinfo(sd->dns, e->s.host, NULL, &hints, on_seed_resolved, e);
		/* The callback may have run already (/etc/hosts): then req is NULL. */
		if (e->in_flight)
			e->req = req;
	}
	tv.tv_sec = retry ? SEED_RETRY_S : SEED_RESOLVE_S;
	tv.tv_usec = 0;
	evtimer_add(sd->ev_resolve, &tv);
}

static void on_resolve_timer(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	resolve_seeds(arg);
}

static void load_seeds(struct syncd *sd)
{
	struct seed s[SEEDS_MAX];
	char err[256];
	size_t n = 0;
	int r = seeds_load(sd->state_dir, s, SEEDS_MAX, &n, err, sizeof(err));

	if (r < 0) {
		log_warnx("sync: %s/%s: %s; going on without seeds", sd->state_dir, SEEDS_FILE,
			  err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct seed_slot *e = &sd->seeds[sd->n_seeds];
		struct sockaddr_in *sin = (struct sockaddr_in *)&e->addr[0];
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&e->addr[0];

		if (memcmp(s[i].key, sd->self_key, REC_KEY_SIZE) == 0)
			continue; /* this host's own address, from an invite it made */
		memset(e, 0, sizeof(*e));
		e->sd = sd;
		e->s = s[i];
		if (inet_pton(AF_INET, e->s.host, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			e->literal = true;
		} else if (inet_pton(AF_INET6, e->s.host, &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
			e->literal = true;
		}
		if (e->literal) {
			set_port(&e->addr[0], e->s.port);
			e->n_addr = 1;
		}
		if (syncnode_set_seed(sd->node, e->s.key, true) < 0)
			continue;
		/* A session with each seed at start (a name's once it resolves): a host stopped
		 * before its first full sync (killed in a cold start's fetch) fetches the rest
		 * from its inviter, the one peer sure to take it for a member, instead of waiting
		 * for anti-entropy to pick it among members that may not know it yet. */
		if (e->literal)
			syncnode_request(sd->node, e->s.key, mono_ms());
		sd->n_seeds++;
	}
	if (sd->n_seeds > 0)
		log_info("sync: %zu seed%s from %s/%s", sd->n_seeds, sd->n_seeds == 1 ? "" : "s",
			 sd->state_dir, SEEDS_FILE);
}

/* ---- the registry: records new since the last look, the set's fingerprint ------------------ */

struct scan {
	struct recent *a;
	size_t n, cap;
	uint64_t floor;
	bool failed;
};

static int scan_cb(void *arg, uint64_t issued_at, const uint8_t id[REC_ID_SIZE])
{
	struct scan *sc = arg;

	if (sc->n == sc->cap) {
		if (sc->cap >= RECENT_MAX) {
			/* A busy hour: keep the newer half, and look only from there on. */
			size_t half = sc->n / 2;

			memmove(sc->a, sc->a + half, (sc->n - half) * sizeof(*sc->a));
			sc->n -= half;
			sc->floor = sc->a[0].issued_at;
		} else {
			size_t cap = sc->cap == 0 ? 256 : sc->cap * 2;
			struct recent *a = realloc(sc->a, cap * sizeof(*a));

			if (a == NULL) {
				sc->failed = true;
				return -ENOMEM;
			}
			sc->a = a;
			sc->cap = cap;
		}
	}
	sc->a[sc->n].issued_at = issued_at;
	memcpy(sc->a[sc->n].id, id, REC_ID_SIZE);
	sc->n++;
	return 0;
}

static int recent_cmp(const struct recent *a, const struct recent *b)
{
	if (a->issued_at != b->issued_at)
		return a->issued_at < b->issued_at ? -1 : 1;
	return memcmp(a->id, b->id, REC_ID_SIZE);
}

/* True (and forgotten) if sync queued id for its push already. */
static bool take_queued(struct syncd *sd, const uint8_t id[REC_ID_SIZE])
{
	for (size_t i = 0; i < sd->queued_len; i++) {
		uint8_t *q = sd->queued[(sd->queued_head + i) % QUEUED_RING];

		if (memcmp(q, id, REC_ID_SIZE) == 0) {
			memset(q, 0, REC_ID_SIZE);
			return true;
		}
	}
	return false;
}

static void scan_new_records(struct syncd *sd)
{
	uint64_t now = (uint64_t)time(NULL), now_ms = mono_ms();
	struct scan sc = { 0 };
	size_t i = 0, j = 0, pushed = 0;
	int r;

	sc.floor = now > RECENT_WINDOW_S ? now - RECENT_WINDOW_S : 0;
	if (sc.floor < sd->recent_floor)
		sc.floor = sd->recent_floor;
	r = registry_foreach_since(sd->p.reg, sc.floor, scan_cb, &sc);
	if (r < 0) {
		log_warnx("sync: cannot look for new records: %s", strerror(-r));
		free(sc.a);
		return;
	}
	/* Both lists are in (issued_at, id) order: what the new one has and the old one had
	 * not (within the window of both) is new. */
	while (i < sc.n) {
		int c = j < sd->n_recent ? recent_cmp(&sc.a[i], &sd->recent[j]) : -1;

		if (j < sd->n_recent && sd->recent[j].issued_at < sc.floor) {
			j++;
			continue;
		}
		if (c > 0) {
			j++;
			continue;
		}
		if (c < 0 && sd->scanned && !take_queued(sd, sc.a[i].id)) {
			syncnode_record_accepted(sd->node, sc.a[i].id, NULL, now_ms);
			pushed++;
		}
		if (c == 0)
			j++;
		i++;
	}
	free(sd->recent);
	sd->recent = sc.a;
	sd->n_recent = sc.n;
	/* Above the window's start only after a busy hour (scan_cb); time passes it. */
	sd->recent_floor = sc.floor;
	sd->scanned = true;
	if (pushed > 0) {
		log_debug("sync: %zu new record%s to push", pushed, pushed == 1 ? "" : "s");
		schedule_step(sd);
	}
}

static int fp_add(void *arg, uint64_t issued_at, const uint8_t id[REC_ID_SIZE])
{
	return negentropy_set_add(arg, issued_at, id);
}

static void beacon_update(struct syncd *sd)
{
	const struct snapshot_host *self = active_host(sd, sd->self_key);

	if (sd->lb != NULL && sd->have_fp)
		lanbeacon_update(sd->lb, self != NULL ? self->endpoints_seq : 0, sd->fp);
}

/* The fingerprint of the whole sync set, as a HELLO and a beacon carry it. */
static void fp_compute(struct syncd *sd)
{
	struct negentropy_set *set = NULL;
	int r = negentropy_set_new(&set);

	if (r == 0)
		r = registry_foreach_item(sd->p.reg, (uint64_t)time(NULL), fp_add, set);
	if (r == 0)
		r = negentropy_set_seal(set);
	if (r == 0)
		r = negentropy_set_fingerprint(set, 0, negentropy_set_size(set), sd->fp);
	negentropy_set_free(set);
	sd->fp_at = mono_ms();
	if (r < 0) {
		log_warnx("sync: cannot compute the set's fingerprint: %s", strerror(-r));
		return;
	}
	sd->have_fp = true;
	sd->fp_dirty = false;
	beacon_update(sd);
}

static void on_fp(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	fp_compute(arg);
}

static void fp_schedule(struct syncd *sd)
{
	uint64_t now = mono_ms(), due = sd->fp_at + FP_INTERVAL_MS, d;
	struct timeval tv;

	if (sd->lb == NULL || evtimer_pending(sd->ev_fp, NULL))
		return;
	d = due > now ? due - now : 0;
	tv.tv_sec = (time_t)(d / 1000);
	tv.tv_usec = (suseconds_t)(d % 1000) * 1000;
	evtimer_add(sd->ev_fp, &tv);
}

/* ---- LAN beacons --------------------------------------------------------------------------- */

static void on_beacon(void *arg, const struct beacon *b, const struct sockaddr_storage *from,
		      unsigned ifindex)
{
	struct syncd *sd = arg;
	struct lan_peer *e = NULL, *oldest = NULL;
	uint64_t now = mono_ms();
	bool answer;

	(void)ifindex;
	if (memcmp(b->host_key, sd->self_key, REC_KEY_SIZE) == 0)
		return;
	for (size_t i = 0; i < LAN_SLOTS && e == NULL; i++) {
		struct lan_peer *x = &sd->lan[i];

		if (x->used && memcmp(x->key, b->host_key, REC_KEY_SIZE) == 0)
			e = x;
		else if (oldest == NULL || (oldest->used && (!x->used || x->heard < oldest->heard)))
			oldest = x; /* a free slot, else the one heard longest ago */
	}
	/* A host new to us here (or not heard for longer than a LAN route lasts) may not
	 * have heard us either (it started after our last beacon): answer with ours now, not
	 * up to 30 s later. Only on discovery, so a LAN of n hosts sends n answers when one
	 * starts, not n^2 beacons a period; lanbeacon sends at most one a second. */
	answer = e == NULL || now - e->heard >= LAN_ROUTE_MS;

	if (e == NULL) {
		e = oldest;
		memset(e, 0, sizeof(*e));
		e->used = true;
		memcpy(e->key, b->host_key, REC_KEY_SIZE);
	}
	e->addr = *from;
	unmap(&e->addr);
	e->heard = now;
	if (answer)
		lanbeacon_send_now(sd->lb);
	if (syncnode_lan_seen(sd->node, b->host_key, now) < 0)
		return;
	/* Another set there: sync with exactly that neighbour now, also if it failed before
	 * (the beacon shows it is back: a healed partition converges within a beacon). */
	if (sd->have_fp && memcmp(b->fingerprint, sd->fp, BEACON_FINGERPRINT_SIZE) != 0) {
		syncnode_heard(sd->node, b->host_key, now);
		syncnode_request(sd->node, b->host_key, now);
	}
	schedule_step(sd);
}

/* ---- the API ------------------------------------------------------------------------------ */

int syncd_new(struct event_base *base, const struct syncd_params *p, const struct config *cfg,
	      struct syncd **out)
{
	struct sync_strike_config strikes;
	struct rec root;
	struct syncd *sd;
	int r;

	*out = NULL;
	if (!cfg->sync)
		return 0;
	sd = calloc(1, sizeof(*sd));
	if (sd == NULL)
		return -ENOMEM;
	sd->base = base;
	sd->p = *p;
	sd->lfd = -1;
	sd->own_dirty = true;
	TAILQ_INIT(&sd->links);
	sd->port = cfg->sync_port;
	sd->beacons = cfg->sync_beacon;
	if ((size_t)snprintf(sd->state_dir, sizeof(sd->state_dir), "%s", p->state_dir) >=
	    sizeof(sd->state_dir)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	r = keys_ed25519_load(sd->state_dir, KEYS_HOST, sd->host_sk);
	if (r < 0) {
		/* A state without keys (copied for a look): DNS still works, sync cannot. */
		log_warnx("sync is off: cannot read this host's key in %s: %s", sd->state_dir,
			  keys_strerror(r));
		syncd_free(sd);
		return 0;
	}
	memcpy(sd->self_key, sd->host_sk + REC_SECRET_SIZE - REC_KEY_SIZE, REC_KEY_SIZE);
	r = registry_root(p->reg, &root, sd->mesh_id);
	if (r < 0) {
		log_warnx("sync: the registry holds no mesh: %s", strerror(-r));
		goto fail;
	}
	sync_strike_config_default(&strikes);
	r = sync_store_registry_new(p->reg, &sd->store);
	if (r == 0) {
		/* The view follows at the daemon's rebuild (registry_touched), not per batch:
		 * recomputing it reads the whole registry. */
		sync_store_registry_defer_view(sd->store, true);
		r = sync_strikes_new(&strikes, &sd->strikes);
	}
	if (r == 0)
		r = syncnode_new(NULL, sd->self_key, node_rand, NULL, mono_ms(), &sd->node);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	sd->ev_step = evtimer_new(base, on_step, sd);
	sd->ev_changed = evtimer_new(base, on_changed, sd);
	sd->ev_fp = evtimer_new(base, on_fp, sd);
	sd->ev_resolve = evtimer_new(base, on_resolve_timer, sd);
	sd->ev_relisten = evtimer_new(base, on_relisten, sd);
	if (sd->ev_step == NULL || sd->ev_changed == NULL || sd->ev_fp == NULL ||
	    sd->ev_resolve == NULL || sd->ev_relisten == NULL)
		goto fail;
	r = listen_open(sd);
	if (r < 0)
		goto fail;
	sd->ev_listen = event_new(base, sd->lfd, EV_READ | EV_PERSIST, on_accept, sd);
	if (sd->ev_listen == NULL || event_add(sd->ev_listen, NULL) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	load_seeds(sd);
	resolve_seeds(sd);
	if (sd->beacons) {
		struct lanbeacon_params bp = { 0 };

		memcpy(bp.mesh_id, sd->mesh_id, REC_ID_SIZE);
		memcpy(bp.host_sk, sd->host_sk, REC_SECRET_SIZE);
		bp.port = sd->port;
		bp.sync_port = sd->port;
		bp.mesh_ifname = cfg->interface;
		bp.heard = on_beacon;
		bp.arg = sd;
		r = lanbeacon_new(base, &bp, &sd->lb);
		sodium_memzero(bp.host_sk, sizeof(bp.host_sk));
		if (r < 0) /* sync over the mesh and to seeds still works */
			log_warnx("sync: no LAN beacons: cannot use UDP port %u: %s",
				  (unsigned)sd->port, strerror(-r));
		else
			fp_compute(sd);
	}
	scan_new_records(sd); /* what is there now is not new */
	/* A daemon that starts syncs at once (a new host wants the mesh now); hosts started
	 * together still spread out by their random choice of neighbour. */
	syncnode_link_changed(sd->node, mono_ms());
	schedule_step(sd);
	log_info("sync: listening on TCP port %u%s", (unsigned)sd->port,
		 sd->lb != NULL ? ", beacons on UDP" : "");
	*out = sd;
	return 0;
fail:
	syncd_free(sd);
	return r;
}

void syncd_free(struct syncd *sd)
{
	struct link *l;

	if (sd == NULL)
		return;
	sd->freeing = true;
	while ((l = TAILQ_FIRST(&sd->links)) != NULL) {
		TAILQ_REMOVE(&sd->links, l, entry);
		link_free(l);
	}
	for (size_t i = 0; i < sd->n_seeds; i++)
		if (sd->seeds[i].req != NULL)
			evdns_getaddrinfo_cancel(sd->seeds[i].req); /* calls on_seed_resolved */
	if (sd->dns != NULL)
		evdns_base_free(sd->dns, 1);
	lanbeacon_free(sd->lb);
	if (sd->ev_listen != NULL)
		event_free(sd->ev_listen);
	if (sd->lfd >= 0)
		close(sd->lfd);
	if (sd->ev_step != NULL)
		event_free(sd->ev_step);
	if (sd->ev_changed != NULL)
		event_free(sd->ev_changed);
	if (sd->ev_fp != NULL)
		event_free(sd->ev_fp);
	if (sd->ev_resolve != NULL)
		event_free(sd->ev_resolve);
	if (sd->ev_relisten != NULL)
		event_free(sd->ev_relisten);
	syncnode_free(sd->node);
	sync_store_registry_free(sd->store);
	sync_strikes_free(sd->strikes);
	snapshot_unref(sd->snap);
	free(sd->recent);
	sodium_memzero(sd->host_sk, sizeof(sd->host_sk));
	free(sd);
}

void syncd_set_snapshot(struct syncd *sd, struct snapshot *snap)
{
	uint8_t(*keys)[REC_KEY_SIZE];
	size_t n;

	if (sd == NULL || snap == sd->snap)
		return;
	snapshot_ref(snap);
	snapshot_unref(sd->snap);
	sd->snap = snap;
	sd->self_member = active_host(sd, sd->self_key) != NULL;
	sd->own_dirty = true;
	n = snapshot_host_count(snap);
	keys = n > 0 ? malloc(n * sizeof(*keys)) : NULL;
	if (n > 0 && keys == NULL) {
		log_warnx("sync: out of memory for the member list");
		return;
	}
	for (size_t i = 0; i < n; i++)
		memcpy(keys[i], snapshot_host_at(snap, i)->host_key, REC_KEY_SIZE);
	if (syncnode_set_members(sd->node, (const uint8_t(*)[REC_KEY_SIZE])keys, n, mono_ms()) < 0)
		log_warnx("sync: out of memory for the member list");
	free(keys);
	beacon_update(sd);
	schedule_step(sd);
}

void syncd_registry_changed(struct syncd *sd)
{
	if (sd == NULL)
		return;
	scan_new_records(sd);
	sd->fp_dirty = true;
	sd->own_dirty = true;
	fp_schedule(sd);
}

void syncd_link_changed(struct syncd *sd)
{
	if (sd == NULL)
		return;
	syncnode_link_changed(sd->node, mono_ms());
	if (sd->lb != NULL)
		lanbeacon_send_now(sd->lb);
	schedule_step(sd);
}

void syncd_status(const struct syncd *sd, struct syncd_status *st)
{
	struct syncnode_status ns;
	struct link *l;
	uint64_t now = mono_ms();

	memset(st, 0, sizeof(*st));
	if (sd == NULL)
		return;
	st->enabled = true;
	st->port = sd->port;
	st->beacons = sd->lb != NULL;
	syncnode_status(sd->node, &ns);
	for (size_t i = 0; i < ns.neighbours && st->n_neighbours < SYNCNODE_MAX_NEIGHBOURS; i++) {
		struct syncd_neighbour *nb = &st->nb[st->n_neighbours];
		struct syncnode_neighbour_info ni;
		struct route rt;

		if (syncnode_neighbour(sd->node, i, &ni) < 0)
			break;
		memcpy(nb->key, ni.key, REC_KEY_SIZE);
		nb->flags = ni.flags;
		if (route_to(sd, ni.key, &rt))
			snprintf(nb->via, sizeof(nb->via), "%s", rt.via);
		else
			snprintf(nb->via, sizeof(nb->via), "none");
		nb->last_ok = to_unix(ni.last_ok);
		nb->last_fail = to_unix(ni.last_fail);
		nb->failures = ni.failures;
		nb->backoff_until = ni.backoff_until > now ? to_unix(ni.backoff_until) : 0;
		nb->in_session = ni.in_session;
		nb->banned = banned(sd, ni.key, REC_KEY_SIZE);
		st->n_neighbours++;
	}
	st->last_ok = sd->last_ok;
	st->next_ae = to_unix(ns.next_ae);
	st->pending_push = ns.pending;
	TAILQ_FOREACH(l, &sd->links, entry)
	{
		if (!syncconn_in_session(l->conn))
			continue;
		if (l->inbound)
			st->sessions_in++;
		else
			st->sessions_out++;
	}
	st->sessions_ok = sd->sessions_ok;
	st->sessions_failed = sd->sessions_failed;
	st->records_in = sd->records_in;
	st->records_out = sd->records_out;
	st->bytes_in = sd->bytes_in;
	st->bytes_out = sd->bytes_out;
	st->accepted = sd->accepted;
	st->strikes = sd->strikes_n;
	for (size_t i = 0; i < BAN_LIST; i++)
		if (sd->bans[i].len > 0 && sd->bans[i].until > now &&
		    banned(sd, sd->bans[i].key, sd->bans[i].len))
			st->banned++;
	if (sd->lb != NULL) {
		struct lanbeacon_stats bs;

		lanbeacon_stats(sd->lb, &bs);
		st->beacons_sent = bs.sent;
		st->beacons_heard = bs.heard;
	}
	snprintf(st->error, sizeof(st->error), "%s", sd->error);
}
