/*
 * engine.c: one sync session with one peer (sync.h): the initiator and responder state
 * machines, the rules for non-members, strikes, per-session and per-peer limits. Pure:
 * bytes in, bytes out, events, time as a parameter. It never touches a socket or the
 * clock, and stores records only through the store's ingest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "meshname/negentropy.h"
#include "sync/proto.h"

/* NEG messages stay under this (negentropy's frame limit), well inside a frame. */
#define NEG_FRAME_LIMIT 60000
/* Shortest possible record: a header and a signature, no body. */
#define REC_MIN_SIZE (REC_HEADER_SIZE + REC_SIG_SIZE)
/* Records in one frame: a frame of PROTO_PAYLOAD_MAX holds at most this many of
 * REC_MIN_SIZE, and a WANT asks for at most SYNC_WANT_MAX. */
#define BATCH_MAX SYNC_WANT_MAX
/*
 * Records an initiator fetched go to the store in batches of at least this many (or what is
 * left at the end of the fetch), not one batch per frame: a registry commit rewrites pages
 * all over the id and key indexes and costs about as much for 256 records as for 1,000.
 * A cold start from 100,000 records over loopback (bench/sync_cold): 11.1 s per frame, 9.5 s
 * at 2,048, 8.0 s at 4,096. The price is the time one batch holds the caller's loop
 * (about 0.27 s at 4,096 on the 2-core reference machine) and up to FETCH_MAX copies.
 */
#define FETCH_BATCH 4096
#define FETCH_MAX (FETCH_BATCH + SYNC_WANT_MAX)
/*
 * An initiator keeps this many WANTs outstanding; the responder answers them in order.
 * With one, each of the 196 WANTs of a cold start from 100,000 records waited out a round
 * trip and the responder's reads, and a batch's store kept both sides still; with two, the
 * next answer is on its way meanwhile: at 50 ms round trip (bench/sync_cold --rtt 50)
 * 22.2 s -> 16.3 s, 253 -> 165 flights. Output per request stays under about 512 KiB.
 */
#define WANTS_OUT 2

enum phase {
	PH_HELLO = 1, /* waiting for the peer's HELLO (reconcile mode, both roles) */
	PH_PUSHING,   /* push-mode initiator: pushes until sync_session_push_end */
	PH_NEG,       /* initiator: waiting for a NEG reply */
	PH_FETCH,     /* initiator: waiting for RECORDS answering our WANT */
	PH_OFFER,     /* initiator: waiting for the WANT answering our OFFER */
	PH_WAIT_DONE, /* initiator: our DONE is sent, waiting for the peer's */
	PH_SERVE,     /* responder: answering NEG, WANT, OFFER until DONE */
};

struct sync_session {
	struct sync_config c;
	struct sync_store store;
	enum sync_state state;
	int reason;
	enum phase phase;
	uint64_t start_ms, last_rx_ms, now_ms;

	uint8_t *in; /* one frame being received, SYNC_FRAME_MAX bytes */
	size_t in_len;
	struct proto_out out;

	struct negentropy_set *set;
	bool restricted; /* the set holds ROOT/CERT/REVOKE only */
	uint32_t count;
	uint8_t fingerprint[SYNC_FINGERPRINT_SIZE];
	struct negentropy *ne;

	bool hello_rx;
	struct proto_hello peer;
	bool peer_member; /* the caller says member and the peer claims it too */

	struct negentropy_ids have, need;
	size_t have_pos, need_pos;

	/* Our outstanding WANTs (each sorted; answered in order from want_head on, n_wants of
	 * them) and which of their records came; our OFFER (sorted). */
	uint8_t asked[WANTS_OUT][SYNC_WANT_MAX][REC_ID_SIZE];
	bool got[WANTS_OUT][SYNC_WANT_MAX];
	size_t n_asked[WANTS_OUT];
	size_t want_head, n_wants;
	uint8_t offered[SYNC_WANT_MAX][REC_ID_SIZE];
	size_t n_offered;

	bool done_sent;
	size_t push_rejects;

	/* One batch of received records on its way to the store. */
	struct registry_item items[BATCH_MAX];
	uint8_t ids[BATCH_MAX][REC_ID_SIZE];
	enum ingest_result res[BATCH_MAX];
	int err[BATCH_MAX];

	/* Fetched records not yet stored (initiator): copies, since a frame's buffer is
	 * reused; allocated at the first RECORDS answering our WANT. */
	struct fetched {
		uint8_t *bytes;
		size_t used, cap, n;
		size_t *off;
		struct registry_item *items;
		uint8_t (*ids)[REC_ID_SIZE];
		enum ingest_result *res;
		int *err;
	} fetched;

	struct sync_stats st;
};

/* ---- endings ------------------------------------------------------------------------ */

static void emit(struct sync_session *s, const struct sync_event *ev)
{
	if (s->c.event != NULL)
		s->c.event(s->c.event_arg, ev);
}

/* Ends the session for reason: sends ERROR unless the peer did (remote) or the stream is
 * gone (send false). A strike only for what we detected ourselves. */
static void fail(struct sync_session *s, int reason, bool send, bool remote, const char *detail)
{
	struct sync_event ev = { .kind = SYNC_EV_FAILED };
	uint8_t code = (uint8_t)reason;

	if (s->state != SYNC_RUNNING)
		return;
	if (send && proto_out_frame(&s->out, SYNC_MSG_ERROR, &code, 1) == 0) {
		s->st.frames_out++;
		s->st.bytes_out += SYNC_FRAME_HEADER + 1;
	}
	s->state = SYNC_FAILED;
	s->reason = reason;
	ev.reason = reason;
	ev.remote = remote;
	ev.strike = !remote && sync_reason_strikes(reason);
	ev.detail = detail != NULL ? detail : sync_reason_str(reason);
	emit(s, &ev);
}

static void finish(struct sync_session *s)
{
	struct sync_event ev = { .kind = SYNC_EV_DONE };

	if (s->state != SYNC_RUNNING)
		return;
	s->state = SYNC_DONE;
	emit(s, &ev);
}

static void send_frame(struct sync_session *s, uint8_t type, const uint8_t *p, size_t n)
{
	if (proto_out_frame(&s->out, type, p, n) < 0) {
		fail(s, SYNC_ERR_INTERNAL, false, false, "out of memory");
		return;
	}
	s->st.frames_out++;
	s->st.bytes_out += SYNC_FRAME_HEADER + n;
	if (type == SYNC_MSG_HELLO || type == SYNC_MSG_NEG)
		s->st.recon_bytes += SYNC_FRAME_HEADER + n;
}

/* ---- the set ------------------------------------------------------------------------ */

static bool type_fetchable_by_nonmember(uint8_t type)
{
	return type == REC_ROOT || type == REC_CERT || type == REC_REVOKE;
}

static bool type_pushable_by_nonmember(uint8_t type)
{
	return type == REC_CERT || type == REC_RENEW;
}

struct build {
	struct negentropy_set *set;
	bool restricted;
	const struct sync_store *store;
};

static int build_item(void *arg, uint64_t timestamp, const uint8_t id[REC_ID_SIZE], uint8_t type)
{
	struct build *b = arg;

	if (b->restricted && type == 0) {
		uint8_t buf[REC_MAX_SIZE];
		size_t len = 0;
		int rc = b->store->get(b->store->arg, id, buf, &len);

		if (rc == -ENOENT)
			return 0;
		if (rc < 0)
			return rc;
		if (len < REC_MIN_SIZE)
			return -EIO;
		type = buf[4];
	}
	if (b->restricted && !type_fetchable_by_nonmember(type))
		return 0;
	/* The reserved timestamp never validates (far future): leave it out of the set. */
	if (timestamp == NEGENTROPY_TIMESTAMP_MAX)
		return 0;
	return negentropy_set_add(b->set, timestamp, id);
}

static int build_set(struct sync_session *s, bool restricted)
{
	struct build b = { NULL, restricted, &s->store };
	size_t n;
	int rc;

	negentropy_free(s->ne);
	s->ne = NULL;
	negentropy_set_free(s->set);
	s->set = NULL;
	rc = negentropy_set_new(&b.set);
	if (rc < 0)
		return rc;
	rc = s->store.foreach_item(s->store.arg, s->now_ms / 1000, build_item, &b);
	if (rc == 0)
		rc = negentropy_set_seal(b.set);
	n = rc == 0 ? negentropy_set_size(b.set) : 0;
	if (rc == 0 && n > UINT32_MAX)
		rc = -EOVERFLOW;
	if (rc == 0)
		rc = negentropy_set_fingerprint(b.set, 0, n, s->fingerprint);
	if (rc < 0) {
		negentropy_set_free(b.set);
		return rc;
	}
	s->set = b.set;
	s->restricted = restricted;
	s->count = (uint32_t)n;
	return 0;
}

/* ---- rates and bounds ----------------------------------------------------------------- */

static void rate_refill(struct sync_rate *r, const struct sync_limits *l, uint64_t now)
{
	uint64_t dt;

	if (!r->started) {
		r->records = (uint64_t)l->rate_records_burst * 1000;
		r->bytes = l->rate_bytes_burst;
		r->last_ms = now;
		r->started = true;
		return;
	}
	if (now <= r->last_ms)
		return;
	dt = now - r->last_ms;
	if (dt > 1000000000)
		dt = 1000000000;
	r->records += (uint64_t)l->rate_records * dt;
	if (r->records > (uint64_t)l->rate_records_burst * 1000)
		r->records = (uint64_t)l->rate_records_burst * 1000;
	r->bytes += (uint64_t)l->rate_bytes * dt / 1000;
	if (r->bytes > l->rate_bytes_burst)
		r->bytes = l->rate_bytes_burst;
	r->last_ms = now;
}

/* Takes n records (or bytes) from the peer's bucket: false if it does not hold them. */
static bool rate_take(struct sync_session *s, uint64_t records, uint64_t bytes)
{
	struct sync_rate *r = s->c.rate;

	if (r == NULL)
		return true;
	rate_refill(r, &s->c.limits, s->now_ms);
	if (r->records < records * 1000 || r->bytes < bytes)
		return false;
	r->records -= records * 1000;
	r->bytes -= bytes;
	return true;
}

/* ---- ids ------------------------------------------------------------------------------ */

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, REC_ID_SIZE);
}

static ptrdiff_t id_find(const uint8_t (*ids)[REC_ID_SIZE], size_t n, const uint8_t *id)
{
	const uint8_t(*hit)[REC_ID_SIZE] = bsearch(id, ids, n, REC_ID_SIZE, id_cmp);

	return hit == NULL ? -1 : hit - ids;
}

/* ---- records in ------------------------------------------------------------------------- */

/* Why our store refused a whole batch, for the log and the status: this host's fault, not
 * the peer's (no strike). Records stored by earlier batches stay. */
static const char *store_failure(int rc)
{
	switch (rc) {
	case -ENOSPC:
		return "cannot store records: the disk is full";
	case -ENOMEM:
		return "cannot store records: out of memory";
	case -EBUSY:
		return "cannot store records: the registry database is busy in another process";
	case -EACCES:
		return "cannot store records: the registry database is not writable by this user";
	default:
		return "cannot store records: the registry database could not be written";
	}
}

/* Hands items[0, n) (ids: their ids; res, err: room for the results) to the store and
 * reports each. false if the session ended. */
static bool ingest_batch(struct sync_session *s, const struct registry_item *items,
			 uint8_t (*ids)[REC_ID_SIZE], enum ingest_result *res, int *err, size_t n,
			 bool pushed)
{
	struct sync_event ev = { .kind = SYNC_EV_ACCEPTED, .pushed = pushed };
	int rc;

	if (n == 0)
		return true;
	rc = s->store.ingest(s->store.arg, items, n, s->now_ms / 1000, res, err);
	if (rc < 0) {
		fail(s, SYNC_ERR_INTERNAL, true, false, store_failure(rc));
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (sync_err_is_malicious(err[i])) {
			/* The store kept nothing of this batch (its contract). */
			fail(s, SYNC_ERR_RECORD, true, false, registry_strerror(err[i]));
			return false;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (err[i] < 0) {
			s->st.rejected++;
			if (pushed)
				s->push_rejects++;
			continue;
		}
		switch (res[i]) {
		case INGEST_ACCEPTED:
			s->st.accepted++;
			ev.record = items[i].buf;
			ev.len = items[i].len;
			ev.id = ids[i];
			emit(s, &ev);
			break;
		case INGEST_DUPLICATE:
			s->st.duplicates++;
			break;
		case INGEST_PENDING:
			s->st.pending++;
			break;
		}
	}
	if (pushed && s->push_rejects > s->c.limits.push_rejects) {
		fail(s, SYNC_ERR_REPLAY, true, false,
		     "peer pushed more stale, expired or refused records than tolerated");
		return false;
	}
	return true;
}

static bool ingest(struct sync_session *s, size_t n, bool pushed)
{
	return ingest_batch(s, s->items, s->ids, s->res, s->err, n, pushed);
}

/* Stores the fetched records kept so far. false if the session ended. */
static bool fetched_flush(struct sync_session *s)
{
	struct fetched *f = &s->fetched;
	size_t n = f->n;

	for (size_t i = 0; i < n; i++)
		f->items[i].buf = f->bytes + f->off[i];
	f->n = 0;
	f->used = 0;
	return ingest_batch(s, f->items, f->ids, f->res, f->err, n, false);
}

/* Keeps a copy of a fetched record (and its id) for the next flush. false: no memory. */
static bool fetched_add(struct sync_session *s, const uint8_t *rec, size_t len,
			const uint8_t id[REC_ID_SIZE])
{
	struct fetched *f = &s->fetched;

	if (f->off == NULL) {
		f->off = calloc(FETCH_MAX, sizeof(*f->off));
		f->items = calloc(FETCH_MAX, sizeof(*f->items));
		f->ids = calloc(FETCH_MAX, sizeof(*f->ids));
		f->res = calloc(FETCH_MAX, sizeof(*f->res));
		f->err = calloc(FETCH_MAX, sizeof(*f->err));
		if (f->off == NULL || f->items == NULL || f->ids == NULL || f->res == NULL ||
		    f->err == NULL)
			return false;
	}
	if (f->n == FETCH_MAX)
		return false; /* cannot happen: flushed at FETCH_BATCH, a frame adds <= 512 */
	if (f->cap - f->used < len) {
		size_t cap = f->cap * 2 + 64 * REC_MAX_SIZE;
		uint8_t *p = realloc(f->bytes, cap);

		if (p == NULL)
			return false;
		f->bytes = p;
		f->cap = cap;
	}
	memcpy(f->bytes + f->used, rec, len);
	f->off[f->n] = f->used;
	f->items[f->n].len = len;
	memcpy(f->ids[f->n], id, REC_ID_SIZE);
	f->used += len;
	f->n++;
	return true;
}

/* Cheap checks on one received record before it goes to the store. */
static bool check_record(struct sync_session *s, const uint8_t *rec, size_t len)
{
	if (len < REC_MIN_SIZE) {
		fail(s, SYNC_ERR_RECORD, true, false, "record too short to be one");
		return false;
	}
	if (!s->peer_member && !type_pushable_by_nonmember(rec[4])) {
		fail(s, SYNC_ERR_FORBIDDEN, true, false,
		     "a non-member may push only CERT and RENEW records");
		return false;
	}
	return true;
}

static void on_push(struct sync_session *s, const uint8_t *p, size_t n)
{
	const uint8_t *rec;
	size_t len, k = 0;
	int rc;

	while ((rc = proto_records_next(&p, &n, &rec, &len)) == 1) {
		if (k == BATCH_MAX) {
			fail(s, SYNC_ERR_PROTOCOL, true, false, "too many records in one frame");
			return;
		}
		if (!check_record(s, rec, len))
			return;
		s->items[k].buf = rec;
		s->items[k].len = len;
		rec_id(rec, len, s->ids[k]);
		k++;
	}
	if (rc < 0 || k == 0) {
		fail(s, SYNC_ERR_PROTOCOL, true, false, "malformed PUSH");
		return;
	}
	s->st.records_in += k;
	if (!rate_take(s, k, 0)) {
		fail(s, SYNC_ERR_RATE, true, false, "peer pushed records faster than allowed");
		return;
	}
	ingest(s, k, true);
}

static void next_step(struct sync_session *s);

static void on_records(struct sync_session *s, const uint8_t *p, size_t n)
{
	const uint8_t *rec;
	size_t len, k = 0;
	uint8_t flags;
	bool last_answer;
	int rc;

	if (s->n_wants == 0) {
		fail(s, SYNC_ERR_PROTOCOL, true, false, "RECORDS nobody asked for");
		return;
	}
	if (n < 1 || (p[0] & ~PROTO_RECORDS_LAST) != 0) {
		fail(s, SYNC_ERR_PROTOCOL, true, false, "malformed RECORDS");
		return;
	}
	flags = p[0];
	p++;
	n--;
	while ((rc = proto_records_next(&p, &n, &rec, &len)) == 1) {
		ptrdiff_t at;

		if (k == BATCH_MAX || !check_record(s, rec, len)) {
			if (s->state == SYNC_RUNNING)
				fail(s, SYNC_ERR_PROTOCOL, true, false, "record not asked for");
			return;
		}
		rec_id(rec, len, s->ids[k]);
		at = id_find((const uint8_t(*)[REC_ID_SIZE])s->asked[s->want_head],
			     s->n_asked[s->want_head], s->ids[k]);
		if (at < 0 || s->got[s->want_head][at]) {
			fail(s, SYNC_ERR_PROTOCOL, true, false, "record not asked for");
			return;
		}
		s->got[s->want_head][at] = true;
		s->items[k].buf = rec;
		s->items[k].len = len;
		k++;
	}
	if (rc < 0) {
		fail(s, SYNC_ERR_PROTOCOL, true, false, "malformed RECORDS");
		return;
	}
	s->st.records_in += k;
	if (s->c.initiator) {
		for (size_t i = 0; i < k; i++) {
			if (!fetched_add(s, s->items[i].buf, s->items[i].len, s->ids[i])) {
				fail(s, SYNC_ERR_INTERNAL, true, false, "out of memory");
				return;
			}
		}
		/* The batch goes to the store once big enough, and at the end of the fetch (the
		 * answer to the last WANT). The next WANT is out meanwhile. */
		last_answer = s->need_pos >= s->need.count && s->n_wants == 1;
		if ((flags & PROTO_RECORDS_LAST) && (s->fetched.n >= FETCH_BATCH || last_answer) &&
		    !fetched_flush(s))
			return;
	} else if (!ingest(s, k, false)) {
		return;
	}
	if (flags & PROTO_RECORDS_LAST) {
		s->n_asked[s->want_head] = 0;
		s->want_head = (s->want_head + 1) % WANTS_OUT;
		s->n_wants--;
		if (s->c.initiator)
			next_step(s);
	}
}

/* ---- records out ------------------------------------------------------------------------ */

/* RECORDS answering a WANT of ids (the peer's order), the last frame flagged. */
static void serve(struct sync_session *s, const uint8_t *ids, size_t count)
{
	uint8_t buf[REC_MAX_SIZE];
	uint8_t flags = 0;
	int rc = proto_out_open(&s->out, SYNC_MSG_RECORDS);

	if (rc == 0)
		rc = proto_out_append(&s->out, &flags, 1);
	for (size_t i = 0; rc == 0 && i < count; i++) {
		size_t len = 0;
		uint8_t l[2];

		rc = s->store.get(s->store.arg, ids + i * REC_ID_SIZE, buf, &len);
		if (rc == -ENOENT) {
			/* Gone since (superseded): the peer simply does not get it. */
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		if (!s->peer_member && !type_fetchable_by_nonmember(buf[4])) {
			s->out.len = s->out.open_frame; /* drop the half-built answer */
			s->out.open_frame = SIZE_MAX;
			fail(s, SYNC_ERR_FORBIDDEN, true, false,
			     "a non-member may fetch only ROOT, CERT and REVOKE records");
			return;
		}
		if (proto_out_room(&s->out) < 2 + len) {
			s->st.frames_out++;
			s->st.bytes_out += SYNC_FRAME_MAX - proto_out_room(&s->out);
			rc = proto_out_open(&s->out, SYNC_MSG_RECORDS);
			if (rc == 0)
				rc = proto_out_append(&s->out, &flags, 1);
			if (rc < 0)
				break;
		}
		l[0] = (uint8_t)(len >> 8);
		l[1] = (uint8_t)len;
		rc = proto_out_append(&s->out, l, 2);
		if (rc == 0)
			rc = proto_out_append(&s->out, buf, len);
		s->st.records_out++;
	}
	if (rc < 0) {
		if (s->out.open_frame != SIZE_MAX) {
			s->out.len = s->out.open_frame;
			s->out.open_frame = SIZE_MAX;
		}
		fail(s, SYNC_ERR_INTERNAL, true, false, registry_strerror(rc));
		return;
	}
	s->out.data[s->out.open_frame + SYNC_FRAME_HEADER] = PROTO_RECORDS_LAST;
	s->st.frames_out++;
	s->st.bytes_out += SYNC_FRAME_MAX - proto_out_room(&s->out);
	proto_out_close(&s->out);
}

/* ---- the initiator after reconciliation: fetch what we need, offer what we have ------- */

static void send_ids(struct sync_session *s, uint8_t type, uint8_t (*ids)[REC_ID_SIZE], size_t n)
{
	send_frame(s, type, (const uint8_t *)ids, n * REC_ID_SIZE);
	qsort(ids, n, REC_ID_SIZE, id_cmp);
}

static void next_step(struct sync_session *s)
{
	uint8_t buf[REC_MAX_SIZE];
	size_t n = 0, len;

	/* Nothing is asked of a non-member: what it may give, it pushes. */
	if (s->peer_member && s->need_pos < s->need.count) {
		while (s->need_pos < s->need.count && s->n_wants < WANTS_OUT &&
		       s->state == SYNC_RUNNING) {
			size_t w = (s->want_head + s->n_wants) % WANTS_OUT;

			n = s->need.count - s->need_pos;
			if (n > SYNC_WANT_MAX)
				n = SYNC_WANT_MAX;
			memcpy(s->asked[w], s->need.id[s->need_pos], n * REC_ID_SIZE);
			memset(s->got[w], 0, sizeof(s->got[w]));
			s->need_pos += n;
			s->n_asked[w] = n;
			s->n_wants++;
			s->phase = PH_FETCH;
			send_ids(s, SYNC_MSG_WANT, s->asked[w], n);
		}
		return;
	}
	if (s->n_wants > 0)
		return; /* the offer follows the answers to the fetch's last WANTs */
	/* Offered after our fetch, so that what the peer's records superseded here is no
	 * longer offered (a record we got rid of would only be refused as stale there). */
	while (s->have_pos < s->have.count && n < SYNC_WANT_MAX) {
		const uint8_t *id = s->have.id[s->have_pos++];
		int rc = s->store.get(s->store.arg, id, buf, &len);

		if (rc == -ENOENT)
			continue;
		if (rc < 0) {
			fail(s, SYNC_ERR_INTERNAL, true, false, registry_strerror(rc));
			return;
		}
		memcpy(s->offered[n++], id, REC_ID_SIZE);
	}
	if (n > 0) {
		s->n_offered = n;
		s->phase = PH_OFFER;
		send_ids(s, SYNC_MSG_OFFER, s->offered, n);
		return;
	}
	send_frame(s, SYNC_MSG_DONE, NULL, 0);
	s->done_sent = true;
	s->phase = PH_WAIT_DONE;
}

/* ---- messages ------------------------------------------------------------------------- */

static void on_hello(struct sync_session *s, const uint8_t *p, size_t n)
{
	bool restricted, same_set;
	int rc = proto_hello_decode(p, n, &s->peer);

	if (rc == -EPROTONOSUPPORT) {
		fail(s, SYNC_ERR_VERSION, true, false, NULL);
		return;
	}
	if (rc < 0) {
		fail(s, SYNC_ERR_PROTOCOL, true, false, "malformed HELLO");
		return;
	}
	if (memcmp(s->peer.mesh_tag, s->c.mesh_id, SYNC_MESH_TAG_SIZE) != 0) {
		fail(s, SYNC_ERR_MESH, true, false, NULL);
		return;
	}
	if ((s->peer.flags & PROTO_HELLO_PUSH_ONLY) && s->c.initiator) {
		fail(s, SYNC_ERR_PROTOCOL, true, false, "a responder cannot be push-only");
		return;
	}
	s->hello_rx = true;
	/* A claim can only lower what the peer may do, never raise it. */
	s->peer_member = s->c.peer_role == SYNC_ROLE_MEMBER && s->peer.role == SYNC_ROLE_MEMBER;
	if (s->c.mode == SYNC_MODE_PUSH)
		return; /* our own phase goes on: pushing, or waiting for DONE */
	if (s->peer.flags & PROTO_HELLO_PUSH_ONLY) {
		s->phase = PH_SERVE;
		return;
	}
	/* Both sides reconcile the restricted set if either asks for it. The shortcut
	 * needs both HELLOs over the same set: the peer compared our HELLO, as sent. */
	restricted = s->restricted || (s->peer.flags & PROTO_HELLO_RESTRICTED);
	same_set = !!(s->peer.flags & PROTO_HELLO_RESTRICTED) == s->restricted;
	if (restricted != s->restricted) {
		rc = build_set(s, restricted);
		if (rc < 0) {
			fail(s, SYNC_ERR_INTERNAL, true, false, registry_strerror(rc));
			return;
		}
	}
	if (same_set && s->peer.count == s->count &&
	    memcmp(s->peer.fingerprint, s->fingerprint, SYNC_FINGERPRINT_SIZE) == 0) {
		finish(s); /* the peer sees the same from our HELLO: no more frames */
		return;
	}
	if (!s->c.initiator) {
		s->phase = PH_SERVE;
		return;
	}
	uint8_t *msg = NULL;
	size_t len = 0;

	rc = negentropy_new(s->set, NEG_FRAME_LIMIT, &s->ne);
	if (rc == 0)
		rc = negentropy_initiate(s->ne, &msg, &len);
	if (rc < 0) {
		fail(s, SYNC_ERR_INTERNAL, true, false, "cannot start reconciliation");
		return;
	}
	send_frame(s, SYNC_MSG_NEG, msg, len);
	s->st.neg_rounds++;
	free(msg);
	s->phase = PH_NEG;
}

static void on_neg(struct sync_session *s, const uint8_t *p, size_t n)
{
	uint8_t *msg = NULL;
	size_t len = 0;
	int rc;

	if (s->c.initiator) {
		if (s->phase != PH_NEG) {
			fail(s, SYNC_ERR_PROTOCOL, true, false, "NEG out of turn");
			return;
		}
		rc = negentropy_reconcile(s->ne, p, n, &msg, &len, &s->have, &s->need);
	} else {
		if (s->ne == NULL && negentropy_new(s->set, NEG_FRAME_LIMIT, &s->ne) < 0) {
			fail(s, SYNC_ERR_INTERNAL, true, false, "out of memory");
			return;
		}
		rc = negentropy_respond(s->ne, p, n, &msg, &len);
	}
	if (rc == -EPROTO) {
		fail(s, SYNC_ERR_VERSION, true, false, "peer speaks another negentropy version");
		return;
	}
	if (rc == -ENOMEM || rc == -EINVAL) {
		fail(s, SYNC_ERR_INTERNAL, true, false, "reconciliation failed here");
		return;
	}
	if (rc < 0) {
		fail(s, SYNC_ERR_PROTOCOL, true, false, "malformed NEG");
		return;
	}
	if (!s->c.initiator) {
		send_frame(s, SYNC_MSG_NEG, msg, len);
		free(msg);
		return;
	}
	s->st.have = s->have.count;
	s->st.need = s->need.count;
	/* A bounded session: past max_ids, fetch and offer what is known, and leave the
	 * rest to the next session. */
	if (msg != NULL && s->have.count + s->need.count <= s->c.limits.max_ids) {
		send_frame(s, SYNC_MSG_NEG, msg, len);
		s->st.neg_rounds++;
		free(msg);
		return;
	}
	free(msg);
	negentropy_free(s->ne);
	s->ne = NULL;
	if (s->have.count + s->need.count > s->c.limits.max_ids) {
		/* Needs first: what we lack matters more than what the peer lacks. */
		if (s->need.count > s->c.limits.max_ids)
			s->need.count = s->c.limits.max_ids;
		if (s->have.count > s->c.limits.max_ids - s->need.count)
			s->have.count = s->c.limits.max_ids - s->need.count;
	}
	next_step(s);
}

static void on_want(struct sync_session *s, const uint8_t *p, size_t n)
{
	size_t count;

	if (proto_ids_count(n, &count) < 0) {
		fail(s, SYNC_ERR_PROTOCOL, true, false, "malformed WANT");
		return;
	}
	if (s->c.initiator) {
		if (s->phase != PH_OFFER) {
			fail(s, SYNC_ERR_PROTOCOL, true, false, "WANT out of turn");
			return;
		}
		for (size_t i = 0; i < count; i++) {
			if (id_find((const uint8_t(*)[REC_ID_SIZE])s->offered, s->n_offered,
				    p + i * REC_ID_SIZE) < 0) {
				fail(s, SYNC_ERR_PROTOCOL, true, false,
				     "WANT of an id not offered");
				return;
			}
		}
		if (count > 0)
			serve(s, p, count);
		s->n_offered = 0;
		if (s->state == SYNC_RUNNING)
			next_step(s);
		return;
	}
	if (s->phase != PH_SERVE || count == 0) {
		fail(s, SYNC_ERR_PROTOCOL, true, false, "WANT out of turn");
		return;
	}
	serve(s, p, count);
}

static void on_offer(struct sync_session *s, const uint8_t *p, size_t n)
{
	uint8_t buf[REC_MAX_SIZE];
	size_t count, len, k = 0, w = s->want_head; /* a responder's one WANT, if any */

	if (s->c.initiator || s->phase != PH_SERVE || s->n_wants > 0 ||
	    proto_ids_count(n, &count) < 0 || count == 0) {
		fail(s, SYNC_ERR_PROTOCOL, true, false, "OFFER out of turn or malformed");
		return;
	}
	/* Nothing is asked of a non-member: it pushes what it may give. */
	for (size_t i = 0; s->peer_member && i < count; i++) {
		const uint8_t *id = p + i * REC_ID_SIZE;
		int rc = s->store.get(s->store.arg, id, buf, &len);

		if (rc == 0)
			continue;
		if (rc != -ENOENT) {
			fail(s, SYNC_ERR_INTERNAL, true, false, registry_strerror(rc));
			return;
		}
		if (id_find((const uint8_t(*)[REC_ID_SIZE])s->asked[w], k, id) >= 0)
			continue;
		memcpy(s->asked[w][k++], id, REC_ID_SIZE);
		qsort(s->asked[w], k, REC_ID_SIZE, id_cmp);
	}
	memset(s->got[w], 0, sizeof(s->got[w]));
	s->n_asked[w] = k;
	s->n_wants = k > 0 ? 1 : 0;
	send_frame(s, SYNC_MSG_WANT, (const uint8_t *)s->asked[w], k * REC_ID_SIZE);
}

static void on_done(struct sync_session *s)
{
	if (s->c.initiator) {
		if (s->phase != PH_WAIT_DONE) {
			fail(s, SYNC_ERR_PROTOCOL, true, false, "DONE out of turn");
			return;
		}
		finish(s);
		return;
	}
	if (s->phase != PH_SERVE || s->n_wants > 0) {
		fail(s, SYNC_ERR_PROTOCOL, true, false, "DONE out of turn");
		return;
	}
	send_frame(s, SYNC_MSG_DONE, NULL, 0);
	s->done_sent = true;
	finish(s);
}

static void on_frame(struct sync_session *s, const struct proto_frame *f, size_t frame_len)
{
	s->st.frames_in++;
	s->st.bytes_in += frame_len;
	if (f->type == SYNC_MSG_HELLO || f->type == SYNC_MSG_NEG)
		s->st.recon_bytes += frame_len;
	if (s->st.bytes_in > s->c.limits.session_bytes) {
		fail(s, SYNC_ERR_LIMIT, true, false, "session received too many bytes");
		return;
	}
	/* Records we asked for are paced by our asking; everything else is charged. */
	if (f->type != SYNC_MSG_RECORDS && !rate_take(s, 0, frame_len)) {
		fail(s, SYNC_ERR_RATE, true, false, "peer sent bytes faster than allowed");
		return;
	}
	if (f->type == SYNC_MSG_ERROR) {
		fail(s, f->len == 1 ? f->payload[0] : SYNC_ERR_PROTOCOL, false, true,
		     "peer ended the session with an error");
		return;
	}
	if (!s->hello_rx) {
		if (f->type == SYNC_MSG_HELLO)
			on_hello(s, f->payload, f->len);
		else
			fail(s, SYNC_ERR_PROTOCOL, true, false, "first message is not HELLO");
		return;
	}
	switch (f->type) {
	case SYNC_MSG_NEG:
		on_neg(s, f->payload, f->len);
		break;
	case SYNC_MSG_WANT:
		on_want(s, f->payload, f->len);
		break;
	case SYNC_MSG_OFFER:
		on_offer(s, f->payload, f->len);
		break;
	case SYNC_MSG_RECORDS:
		on_records(s, f->payload, f->len);
		break;
	case SYNC_MSG_PUSH:
		on_push(s, f->payload, f->len);
		break;
	case SYNC_MSG_DONE:
		if (f->len != 0)
			fail(s, SYNC_ERR_PROTOCOL, true, false, "malformed DONE");
		else
			on_done(s);
		break;
	default:
		fail(s, SYNC_ERR_PROTOCOL, true, false,
		     f->type == SYNC_MSG_HELLO ? "second HELLO" : "unknown message type");
		break;
	}
}

/* ---- the API ---------------------------------------------------------------------------- */

/* A zero limit means its default, so that a caller's memset config still works. */
static void limits_fill(struct sync_limits *l)
{
	struct sync_limits d;

	sync_limits_default(&d);
#define FILL(f)        \
	if (l->f == 0) \
		l->f = d.f;
	FILL(idle_ms)
	FILL(session_ms)
	FILL(session_bytes)
	FILL(max_ids)
	FILL(out_high)
	FILL(rate_records)
	FILL(rate_records_burst)
	FILL(rate_bytes)
	FILL(rate_bytes_burst)
#undef FILL
}

int sync_session_new(const struct sync_config *c, uint64_t now_ms, struct sync_session **out)
{
	struct sync_session *s;
	struct proto_hello h = { .version = SYNC_VERSION };
	uint8_t payload[PROTO_HELLO_SIZE + REC_KEY_SIZE];
	int rc;

	*out = NULL;
	if (c->store == NULL || c->store->foreach_item == NULL || c->store->get == NULL ||
	    c->store->ingest == NULL ||
	    (c->mode != SYNC_MODE_RECONCILE && c->mode != SYNC_MODE_PUSH) ||
	    (c->mode == SYNC_MODE_PUSH && !c->initiator))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->in = malloc(SYNC_FRAME_MAX);
	if (s->in == NULL) {
		free(s);
		return -ENOMEM;
	}
	s->c = *c;
	limits_fill(&s->c.limits);
	s->store = *c->store;
	s->c.store = &s->store;
	s->out.open_frame = SIZE_MAX;
	s->state = SYNC_RUNNING;
	s->start_ms = s->last_rx_ms = s->now_ms = now_ms;
	h.role = (uint8_t)c->self_role;
	if (c->mode == SYNC_MODE_PUSH) {
		h.flags |= PROTO_HELLO_PUSH_ONLY;
		s->phase = PH_PUSHING;
	} else {
		s->phase = PH_HELLO;
		rc = build_set(s, c->self_role != SYNC_ROLE_MEMBER ||
					  c->peer_role != SYNC_ROLE_MEMBER);
		if (rc < 0) {
			sync_session_free(s);
			return rc;
		}
		if (s->restricted)
			h.flags |= PROTO_HELLO_RESTRICTED;
		h.count = s->count;
		memcpy(h.fingerprint, s->fingerprint, SYNC_FINGERPRINT_SIZE);
	}
	memcpy(h.mesh_tag, c->mesh_id, SYNC_MESH_TAG_SIZE);
	if (c->send_key) {
		h.flags |= PROTO_HELLO_KEY;
		memcpy(h.key, c->self_key, REC_KEY_SIZE);
	}
	send_frame(s, SYNC_MSG_HELLO, payload, proto_hello_encode(&h, payload));
	if (s->state != SYNC_RUNNING) {
		sync_session_free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void sync_session_free(struct sync_session *s)
{
	if (s == NULL)
		return;
	negentropy_free(s->ne);
	negentropy_set_free(s->set);
	negentropy_ids_free(&s->have);
	negentropy_ids_free(&s->need);
	free(s->fetched.bytes);
	free(s->fetched.off);
	free(s->fetched.items);
	free(s->fetched.ids);
	free(s->fetched.res);
	free(s->fetched.err);
	proto_out_free(&s->out);
	free(s->in);
	free(s);
}

size_t sync_session_feed(struct sync_session *s, const uint8_t *buf, size_t len, uint64_t now_ms)
{
	size_t used = 0;

	if (now_ms > s->now_ms)
		s->now_ms = now_ms;
	if (len > 0)
		s->last_rx_ms = s->now_ms;
	while (s->state == SYNC_RUNNING && used < len) {
		struct proto_frame f;
		size_t want, take, frame_len;
		int rc;

		if (proto_out_pending(&s->out) > s->c.limits.out_high)
			break;
		/* The header first, then exactly the frame it announces. */
		rc = proto_frame_parse(s->in, s->in_len, &f, &frame_len);
		want = rc == -EAGAIN && frame_len == 0 ? 4 : frame_len;
		if (rc == -EMSGSIZE || rc == -EBADMSG) {
			fail(s, SYNC_ERR_FRAME, true, false,
			     rc == -EMSGSIZE ? "frame over 64 KiB" : "empty frame");
			break;
		}
		take = want - s->in_len;
		if (take > len - used)
			take = len - used;
		memcpy(s->in + s->in_len, buf + used, take);
		s->in_len += take;
		used += take;
		rc = proto_frame_parse(s->in, s->in_len, &f, &frame_len);
		if (rc == -EMSGSIZE || rc == -EBADMSG) {
			fail(s, SYNC_ERR_FRAME, true, false,
			     rc == -EMSGSIZE ? "frame over 64 KiB" : "empty frame");
			break;
		}
		if (rc == 0) {
			on_frame(s, &f, frame_len);
			s->in_len = 0;
		}
	}
	return used;
}

void sync_session_eof(struct sync_session *s, uint64_t now_ms)
{
	if (now_ms > s->now_ms)
		s->now_ms = now_ms;
	fail(s, SYNC_ERR_CLOSED, false, false, NULL);
}

void sync_session_tick(struct sync_session *s, uint64_t now_ms)
{
	if (now_ms > s->now_ms)
		s->now_ms = now_ms;
	if (s->now_ms - s->last_rx_ms >= s->c.limits.idle_ms)
		fail(s, SYNC_ERR_TIMEOUT, true, false, NULL);
	else if (s->now_ms - s->start_ms >= s->c.limits.session_ms)
		fail(s, SYNC_ERR_LIMIT, true, false, "session lasted too long");
}

int sync_session_push(struct sync_session *s, const uint8_t *buf, size_t len)
{
	uint8_t l[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	int rc;

	if (s->state != SYNC_RUNNING || s->done_sent)
		return -EPIPE;
	if (len == 0 || len > REC_MAX_SIZE)
		return -EMSGSIZE;
	rc = proto_out_open(&s->out, SYNC_MSG_PUSH);
	if (rc == 0)
		rc = proto_out_append(&s->out, l, 2);
	if (rc == 0)
		rc = proto_out_append(&s->out, buf, len);
	if (rc < 0) {
		s->out.len = s->out.open_frame;
		s->out.open_frame = SIZE_MAX;
		return rc;
	}
	proto_out_close(&s->out);
	s->st.frames_out++;
	s->st.bytes_out += SYNC_FRAME_HEADER + 2 + len;
	s->st.records_out++;
	return 0;
}

void sync_session_push_end(struct sync_session *s)
{
	if (s->state != SYNC_RUNNING || s->phase != PH_PUSHING)
		return;
	send_frame(s, SYNC_MSG_DONE, NULL, 0);
	s->done_sent = true;
	s->phase = PH_WAIT_DONE;
}

const uint8_t *sync_session_output(const struct sync_session *s, size_t *len)
{
	*len = proto_out_pending(&s->out);
	return *len > 0 ? s->out.data + s->out.off : NULL;
}

void sync_session_sent(struct sync_session *s, size_t n)
{
	proto_out_consume(&s->out, n);
}

enum sync_state sync_session_state(const struct sync_session *s)
{
	return s->state;
}

int sync_session_reason(const struct sync_session *s)
{
	return s->reason;
}

void sync_session_stats(const struct sync_session *s, struct sync_stats *st)
{
	*st = s->st;
}

bool sync_session_peer_restricted(const struct sync_session *s)
{
	return s->hello_rx && (s->peer.flags & PROTO_HELLO_RESTRICTED) != 0;
}

bool sync_session_peer_push_only(const struct sync_session *s)
{
	return s->hello_rx && (s->peer.flags & PROTO_HELLO_PUSH_ONLY) != 0;
}

bool sync_session_peer_key(const struct sync_session *s, uint8_t key[REC_KEY_SIZE])
{
	if (!s->hello_rx || !(s->peer.flags & PROTO_HELLO_KEY))
		return false;
	memcpy(key, s->peer.key, REC_KEY_SIZE);
	return true;
}
