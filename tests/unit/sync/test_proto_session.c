/*
 * test_proto_session.c: two sync sessions wired back to back in memory over real
 * registries (sqlite in mkdtemp dirs, the fixture keys of tests/unit/registry), and over
 * the in-memory store: convergence and its cost in round trips and bytes, and every way a
 * peer is cut off (forged, replayed, oversized, another mesh's, garbage, a non-member
 * overstepping, a flood), each checked in the victim's registry.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "../registry/fixtures.h"
#include "meshname/registry.h"
#include "meshname/sync.h"

#define NOW ((uint64_t)FIXTURE_NOW)
#define NOW_MS (NOW * 1000)
#define DAY ((uint64_t)FIXTURE_DAY)
#define K_ADMIN 1
#define K_HOST 10

/* ---- a peer: a registry and its store --------------------------------------------------- */

struct peer {
	char dir[64];
	char path[96];
	struct registry *reg;
	struct sync_store *store;
	/* events of its session */
	unsigned accepted, done, failed;
	int reason;
	bool strike, remote;
};

static uint8_t admin_sk[REC_SECRET_SIZE];
static uint8_t mesh_id[REC_ID_SIZE];
static uint8_t root_buf[REC_MAX_SIZE];
static size_t root_len;

static size_t sign(struct rec *r, const uint8_t *sk, uint8_t *buf)
{
	size_t len = 0;

	assert_int_equal(rec_sign(r, sk, buf, REC_MAX_SIZE, &len), 0);
	return len;
}

static struct peer *peer_new(void)
{
	struct peer *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	snprintf(p->dir, sizeof(p->dir), "/tmp/meshname-sync-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->path, sizeof(p->path), "%s/registry.db", p->dir);
	assert_int_equal(registry_open(p->path, &p->reg), 0);
	assert_int_equal(registry_create(p->reg, root_buf, root_len, NOW), 0);
	assert_int_equal(sync_store_registry_new(p->reg, &p->store), 0);
	return p;
}

static void peer_free(struct peer *p)
{
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
	char path[128];

	sync_store_registry_free(p->store);
	registry_close(p->reg);
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s%s", p->path, suffix[i]);
		unlink(path);
	}
	assert_int_equal(rmdir(p->dir), 0);
	free(p);
}

static uint64_t records(struct peer *p)
{
	struct registry_counts c;

	assert_int_equal(registry_counts(p->reg, &c), 0);
	return c.records;
}

static bool holds(struct peer *p, const uint8_t *buf, size_t len)
{
	uint8_t id[REC_ID_SIZE], got[REC_MAX_SIZE];
	size_t n = 0;

	rec_id(buf, len, id);
	return registry_get(p->reg, id, got, sizeof(got), &n) == 0;
}

static void put(struct peer *p, const uint8_t *buf, size_t len)
{
	enum ingest_result res;

	assert_int_equal(registry_ingest(p->reg, buf, len, NOW, &res), 0);
	assert_int_equal(res, INGEST_ACCEPTED);
}

/* ---- records ------------------------------------------------------------------------------ */

static void host_sk(int i, uint8_t sk[REC_SECRET_SIZE])
{
	fixture_key(K_HOST + i, sk);
}

/* CERT of host i (0..250) named h<i>. */
static size_t cert(int i, uint8_t *buf)
{
	uint8_t sk[REC_SECRET_SIZE];
	char name[16];
	struct rec r;

	host_sk(i, sk);
	snprintf(name, sizeof(name), "h%d", i);
	fixture_cert(&r, mesh_id, name, sk, (uint8_t)(i + 2));
	return sign(&r, admin_sk, buf);
}

static size_t endpoints(int i, uint64_t seq, uint8_t *buf)
{
	uint8_t sk[REC_SECRET_SIZE];
	struct rec r;

	host_sk(i, sk);
	memset(&r, 0, sizeof(r));
	r.type = REC_ENDPOINTS;
	memcpy(r.mesh_id, mesh_id, REC_ID_SIZE);
	r.seq = seq;
	r.issued_at = NOW + seq;
	r.expires_at = NOW + DAY;
	r.u.endpoints.listen_port = 51820;
	r.u.endpoints.n = 1;
	r.u.endpoints.ep[0].kind = EP_LAN;
	r.u.endpoints.ep[0].family = 4;
	r.u.endpoints.ep[0].addr[0] = 192;
	r.u.endpoints.ep[0].addr[1] = 168;
	r.u.endpoints.ep[0].addr[3] = (uint8_t)i;
	r.u.endpoints.ep[0].port = (uint16_t)(1000 + seq);
	return sign(&r, sk, buf);
}

/* An admin-signed TXT record at owner r<i>. */
static size_t txt(int i, uint8_t *buf)
{
	struct rec r;
	char owner[16];

	snprintf(owner, sizeof(owner), "r%d", i);
	fixture_txt(&r, mesh_id, owner, NOW - (uint64_t)(i % 97), NOW + DAY);
	return sign(&r, admin_sk, buf);
}

static size_t revoke_rec(int i, uint8_t *buf)
{
	uint8_t sk[REC_SECRET_SIZE];
	struct rec r;

	host_sk(i, sk);
	memset(&r, 0, sizeof(r));
	r.type = REC_REVOKE;
	memcpy(r.mesh_id, mesh_id, REC_ID_SIZE);
	r.seq = 1;
	r.issued_at = NOW;
	memcpy(r.u.revoke.target, fixture_pk(sk), REC_KEY_SIZE);
	return sign(&r, admin_sk, buf);
}

/* ---- two sessions back to back ------------------------------------------------------------ */

static void on_event(void *arg, const struct sync_event *ev)
{
	struct peer *p = arg;

	switch (ev->kind) {
	case SYNC_EV_ACCEPTED:
		assert_non_null(ev->record);
		assert_non_null(ev->id);
		p->accepted++;
		break;
	case SYNC_EV_DONE:
		p->done++;
		break;
	case SYNC_EV_FAILED:
		p->failed++;
		p->reason = ev->reason;
		p->strike = ev->strike;
		p->remote = ev->remote;
		assert_non_null(ev->detail);
		break;
	}
}

struct link {
	struct sync_session *s[2];
	struct peer *p[2];
	size_t flights;   /* one-way deliveries that carried bytes */
	size_t bytes;     /* total on the wire */
	size_t max_frame; /* the largest frame seen */
};

static struct sync_session *open_session(struct peer *p, bool initiator, enum sync_role self,
					 enum sync_role peer_role, enum sync_mode mode,
					 const struct sync_limits *limits, struct sync_rate *rate)
{
	struct sync_config c;
	struct sync_session *s = NULL;

	memset(&c, 0, sizeof(c));
	c.store = p->store;
	memcpy(c.mesh_id, mesh_id, REC_ID_SIZE);
	c.initiator = initiator;
	c.mode = mode;
	c.self_role = self;
	c.peer_role = peer_role;
	if (limits != NULL)
		c.limits = *limits;
	else
		sync_limits_default(&c.limits);
	c.rate = rate;
	c.event = on_event;
	c.event_arg = p;
	assert_int_equal(sync_session_new(&c, NOW_MS, &s), 0);
	return s;
}

/* Frames in buf[0, len): their sizes checked against the limit. */
static void scan_frames(struct link *l, const uint8_t *buf, size_t len)
{
	while (len >= 4) {
		size_t n = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 |
			   buf[3];

		if (n + 4 > l->max_frame)
			l->max_frame = n + 4;
		if (n + 4 > len)
			break;
		buf += n + 4;
		len -= n + 4;
	}
}

/* Moves bytes each way until neither side has anything to send. */
static void pump(struct link *l)
{
	bool moved = true;

	while (moved) {
		moved = false;
		for (int i = 0; i < 2; i++) {
			size_t len, used;
			const uint8_t *out = sync_session_output(l->s[i], &len);

			if (len == 0)
				continue;
			scan_frames(l, out, len);
			if (sync_session_state(l->s[1 - i]) == SYNC_RUNNING) {
				used = sync_session_feed(l->s[1 - i], out, len, NOW_MS);
				assert_int_equal(used, len); /* out_high is never reached here */
			}
			sync_session_sent(l->s[i], len);
			l->flights++;
			l->bytes += len;
			moved = true;
		}
	}
}

static void link_open(struct link *l, struct peer *a, struct peer *b)
{
	memset(l, 0, sizeof(*l));
	l->p[0] = a;
	l->p[1] = b;
	l->s[0] = open_session(a, true, SYNC_ROLE_MEMBER, SYNC_ROLE_MEMBER, SYNC_MODE_RECONCILE,
			       NULL, NULL);
	l->s[1] = open_session(b, false, SYNC_ROLE_MEMBER, SYNC_ROLE_MEMBER, SYNC_MODE_RECONCILE,
			       NULL, NULL);
}

static void link_close(struct link *l)
{
	sync_session_free(l->s[0]);
	sync_session_free(l->s[1]);
}

static void sync_pair(struct peer *a, struct peer *b, struct link *l)
{
	link_open(l, a, b);
	pump(l);
	assert_int_equal(sync_session_state(l->s[0]), SYNC_DONE);
	assert_int_equal(sync_session_state(l->s[1]), SYNC_DONE);
	assert_int_equal(a->done, 1);
	assert_int_equal(b->done, 1);
	assert_int_equal(a->failed + b->failed, 0);
}

static int setup(void **state)
{
	struct peer **p = calloc(2, sizeof(*p));
	struct rec root;

	assert_non_null(p);
	fixture_key(K_ADMIN, admin_sk);
	fixture_root(&root, admin_sk);
	root_len = sign(&root, admin_sk, root_buf);
	rec_id(root_buf, root_len, mesh_id);
	p[0] = peer_new();
	p[1] = peer_new();
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct peer **p = *state;

	peer_free(p[0]);
	peer_free(p[1]);
	free(p);
	return 0;
}

/* Both hold the ROOT, certs of hosts 0..n-1 and their ENDPOINTS seq 1. */
static void common(struct peer **p, int n)
{
	uint8_t buf[REC_MAX_SIZE];
	size_t len;

	for (int i = 0; i < n; i++) {
		len = cert(i, buf);
		put(p[0], buf, len);
		put(p[1], buf, len);
		len = endpoints(i, 1, buf);
		put(p[0], buf, len);
		put(p[1], buf, len);
	}
}

/* ---- convergence --------------------------------------------------------------------------- */

static void identical_sets_agree_in_one_round_trip_under_100_bytes(void **state)
{
	struct peer **p = *state;
	struct sync_stats st[2];
	struct link l;

	common(p, 20);
	sync_pair(p[0], p[1], &l);
	sync_session_stats(l.s[0], &st[0]);
	sync_session_stats(l.s[1], &st[1]);
	/* Each side's HELLO, and nothing else. */
	assert_int_equal(l.flights, 2);
	assert_int_equal(st[0].frames_out + st[1].frames_out, 2);
	assert_true(l.bytes <= 100);
	assert_int_equal(st[0].recon_bytes, l.bytes);
	print_message("agreeing peers: %zu bytes on the wire in %zu flights\n", l.bytes, l.flights);
	link_close(&l);
}

static void one_new_record_on_the_initiator_reaches_the_responder(void **state)
{
	struct peer **p = *state;
	uint8_t buf[REC_MAX_SIZE];
	size_t len;
	struct link l;

	common(p, 5);
	len = endpoints(2, 7, buf);
	put(p[0], buf, len);
	sync_pair(p[0], p[1], &l);
	assert_true(holds(p[1], buf, len));
	assert_int_equal(p[1]->accepted, 1);
	assert_int_equal(records(p[0]), records(p[1]));
	link_close(&l);
}

static void one_new_record_on_the_responder_reaches_the_initiator(void **state)
{
	struct peer **p = *state;
	uint8_t buf[REC_MAX_SIZE];
	size_t len;
	struct link l;

	common(p, 5);
	len = txt(1, buf);
	put(p[1], buf, len);
	sync_pair(p[0], p[1], &l);
	assert_true(holds(p[0], buf, len));
	assert_int_equal(p[0]->accepted, 1);
	assert_int_equal(p[1]->accepted, 0);
	link_close(&l);
}

static void different_new_records_on_each_side_end_on_both(void **state)
{
	struct peer **p = *state;
	uint8_t a[REC_MAX_SIZE], b[REC_MAX_SIZE], c[REC_MAX_SIZE];
	size_t la, lb, lc;
	uint8_t ha[32], hb[32];
	struct link l;

	common(p, 5);
	la = txt(1, a);
	put(p[0], a, la);
	lc = endpoints(3, 4, c);
	put(p[0], c, lc);
	lb = txt(2, b);
	put(p[1], b, lb);
	sync_pair(p[0], p[1], &l);
	assert_true(holds(p[1], a, la) && holds(p[1], c, lc) && holds(p[0], b, lb));
	assert_int_equal(p[0]->accepted, 1);
	assert_int_equal(p[1]->accepted, 2);
	assert_int_equal(registry_state_hash(p[0]->reg, ha), 0);
	assert_int_equal(registry_state_hash(p[1]->reg, hb), 0);
	assert_memory_equal(ha, hb, sizeof(ha));
	link_close(&l);
}

static void a_newer_endpoints_supersedes_and_the_older_is_not_offered(void **state)
{
	struct peer **p = *state;
	uint8_t old[REC_MAX_SIZE], cur[REC_MAX_SIZE];
	size_t lo, lc;
	struct sync_stats st;
	struct link l;

	common(p, 3);
	lo = endpoints(1, 5, old);
	put(p[0], old, lo); /* the initiator is behind */
	lc = endpoints(1, 6, cur);
	put(p[1], cur, lc);
	sync_pair(p[0], p[1], &l);
	assert_true(holds(p[0], cur, lc));
	assert_false(holds(p[0], old, lo));
	assert_false(holds(p[1], old, lo));
	sync_session_stats(l.s[1], &st);
	/* The responder was never sent the record the initiator had just replaced. */
	assert_int_equal(st.records_in, 0);
	assert_int_equal(st.rejected, 0);
	link_close(&l);
}

static void a_thousand_records_cross_in_frames_under_64k(void **state)
{
	struct peer **p = *state;
	uint8_t buf[REC_MAX_SIZE];
	struct sync_stats st;
	struct link l;
	uint8_t ha[32], hb[32];

	common(p, 3);
	assert_int_equal(registry_begin(p[0]->reg), 0);
	for (int i = 0; i < 600; i++) {
		size_t len = txt(i, buf);
		enum ingest_result res;

		assert_int_equal(registry_ingest(p[0]->reg, buf, len, NOW, &res), 0);
	}
	assert_int_equal(registry_commit(p[0]->reg, NOW), 0);
	assert_int_equal(registry_begin(p[1]->reg), 0);
	for (int i = 600; i < 1000; i++) {
		size_t len = txt(i, buf);
		enum ingest_result res;

		assert_int_equal(registry_ingest(p[1]->reg, buf, len, NOW, &res), 0);
	}
	assert_int_equal(registry_commit(p[1]->reg, NOW), 0);
	sync_pair(p[0], p[1], &l);
	assert_int_equal(p[0]->accepted, 400);
	assert_int_equal(p[1]->accepted, 600);
	assert_int_equal(records(p[0]), records(p[1]));
	assert_int_equal(registry_state_hash(p[0]->reg, ha), 0);
	assert_int_equal(registry_state_hash(p[1]->reg, hb), 0);
	assert_memory_equal(ha, hb, sizeof(ha));
	assert_true(l.max_frame <= SYNC_FRAME_MAX);
	sync_session_stats(l.s[0], &st);
	assert_int_equal(st.need, 400);
	assert_int_equal(st.have, 600);
	print_message("1,000 records apart: %zu flights, %zu bytes, %llu NEG rounds, "
		      "largest frame %zu\n",
		      l.flights, l.bytes, (unsigned long long)st.neg_rounds, l.max_frame);
	link_close(&l);
}

static void a_session_bounded_to_few_ids_converges_over_several_sessions(void **state)
{
	struct peer **p = *state;
	uint8_t buf[REC_MAX_SIZE];
	struct sync_limits lim;
	int sessions = 0;

	common(p, 2);
	for (int i = 0; i < 300; i++)
		put(p[0], buf, txt(i, buf));
	sync_limits_default(&lim);
	lim.max_ids = 100;
	while (records(p[1]) != records(p[0])) {
		struct link l;

		memset(&l, 0, sizeof(l));
		l.s[0] = open_session(p[0], true, SYNC_ROLE_MEMBER, SYNC_ROLE_MEMBER,
				      SYNC_MODE_RECONCILE, &lim, NULL);
		l.s[1] = open_session(p[1], false, SYNC_ROLE_MEMBER, SYNC_ROLE_MEMBER,
				      SYNC_MODE_RECONCILE, &lim, NULL);
		pump(&l);
		assert_int_equal(sync_session_state(l.s[0]), SYNC_DONE);
		link_close(&l);
		assert_true(++sessions < 10);
	}
	assert_true(sessions > 1);
	assert_int_equal(p[1]->accepted, 300);
}

/* Two memory stores holding the same n TXT records (signed once, added unchecked). */
static void mem_pair(struct sync_store **a, struct sync_store **b, int n)
{
	uint8_t buf[REC_MAX_SIZE];

	assert_int_equal(sync_store_mem_new(mesh_id, a), 0);
	assert_int_equal(sync_store_mem_new(mesh_id, b), 0);
	assert_int_equal(sync_store_mem_add(*a, root_buf, root_len), 0);
	assert_int_equal(sync_store_mem_add(*b, root_buf, root_len), 0);
	for (int i = 0; i < n; i++) {
		size_t len = txt(i, buf);

		assert_int_equal(sync_store_mem_add(*a, buf, len), 0);
		assert_int_equal(sync_store_mem_add(*b, buf, len), 0);
	}
}

static void one_change_in_100k_records_costs_under_4k_plus_the_record(void **state)
{
	struct peer ma = { 0 }, mb = { 0 };
	uint8_t buf[REC_MAX_SIZE];
	struct sync_store *a, *b;
	struct sync_stats st;
	struct link l;
	size_t len;

	(void)state;
	mem_pair(&a, &b, 100000);
	len = endpoints(0, 3, buf);
	assert_int_equal(sync_store_mem_add(a, buf, len), 0);
	ma.store = a;
	mb.store = b;
	sync_pair(&ma, &mb, &l);
	assert_int_equal(mb.accepted, 1);
	assert_int_equal(sync_store_mem_count(b), 100002);
	sync_session_stats(l.s[0], &st);
	print_message("one change in 100,000: %llu bytes of HELLO and NEG, %zu in all (record "
		      "%zu), %zu flights, %llu NEG rounds\n",
		      (unsigned long long)st.recon_bytes, l.bytes, len, l.flights,
		      (unsigned long long)st.neg_rounds);
	assert_true(st.recon_bytes <= 4096);
	/* OFFER, WANT, RECORDS and DONE frames add a few dozen bytes to the record. */
	assert_true(l.bytes <= 4096 + len + 200);
	link_close(&l);
	sync_store_mem_free(a);
	sync_store_mem_free(b);
}

/* ---- a peer that misbehaves ------------------------------------------------------------------ */

/* A responder session for p[1], fed raw bytes from a hand-made peer after a HELLO. */
static struct sync_session *victim(struct peer *v, enum sync_role peer_role,
				   const struct sync_limits *lim, struct sync_rate *rate)
{
	return open_session(v, false, SYNC_ROLE_MEMBER, peer_role, SYNC_MODE_RECONCILE, lim, rate);
}

/* The attacker's HELLO, as a push-mode initiator says it. */
static size_t hello(uint8_t *out, enum sync_role claimed)
{
	out[0] = 0;
	out[1] = 0;
	out[2] = 0;
	out[3] = 32;
	out[4] = SYNC_MSG_HELLO;
	out[5] = SYNC_VERSION;
	out[6] = 0x02; /* push only */
	out[7] = (uint8_t)claimed;
	memcpy(out + 8, mesh_id, SYNC_MESH_TAG_SIZE);
	memset(out + 16, 0, 20);
	return 36;
}

/* A PUSH frame of the given records. */
static size_t push_frame(uint8_t *out, const uint8_t *const *recs, const size_t *lens, size_t n)
{
	size_t off = 5;

	for (size_t i = 0; i < n; i++) {
		out[off] = (uint8_t)(lens[i] >> 8);
		out[off + 1] = (uint8_t)lens[i];
		memcpy(out + off + 2, recs[i], lens[i]);
		off += 2 + lens[i];
	}
	out[0] = (uint8_t)((off - 4) >> 24);
	out[1] = (uint8_t)((off - 4) >> 16);
	out[2] = (uint8_t)((off - 4) >> 8);
	out[3] = (uint8_t)(off - 4);
	out[4] = SYNC_MSG_PUSH;
	return off;
}

/* Feeds HELLO then bytes; the session must end failed with reason and a strike, and its
 * output must end with an ERROR frame naming that reason. */
static void expect_cut_off(struct sync_session *s, struct peer *v, const uint8_t *bytes, size_t len,
			   enum sync_role claimed, int reason)
{
	uint8_t h[64];
	const uint8_t *out;
	size_t n;

	sync_session_feed(s, h, hello(h, claimed), NOW_MS);
	assert_int_equal(sync_session_state(s), SYNC_RUNNING);
	sync_session_feed(s, bytes, len, NOW_MS);
	assert_int_equal(sync_session_state(s), SYNC_FAILED);
	assert_int_equal(sync_session_reason(s), reason);
	assert_int_equal(v->failed, 1);
	assert_int_equal(v->reason, reason);
	assert_true(v->strike);
	assert_false(v->remote);
	out = sync_session_output(s, &n);
	assert_true(n >= 6);
	assert_int_equal(out[n - 2], SYNC_MSG_ERROR);
	assert_int_equal(out[n - 1], reason);
}

static void a_forged_record_ends_the_session_and_nothing_of_its_batch_is_stored(void **state)
{
	struct peer **p = *state;
	uint8_t good[REC_MAX_SIZE], bad[REC_MAX_SIZE], frame[4096];
	const uint8_t *recs[2] = { good, bad };
	size_t lens[2];
	uint64_t before = records(p[1]);
	struct sync_session *s = victim(p[1], SYNC_ROLE_MEMBER, NULL, NULL);

	lens[0] = txt(1, good);
	lens[1] = txt(2, bad);
	bad[lens[1] - 1] ^= 1; /* the signature no longer verifies */
	expect_cut_off(s, p[1], frame, push_frame(frame, recs, lens, 2), SYNC_ROLE_MEMBER,
		       SYNC_ERR_RECORD);
	assert_int_equal(records(p[1]), before);
	assert_false(holds(p[1], good, lens[0]));
	assert_int_equal(p[1]->accepted, 0);
	sync_session_free(s);
}

static void a_record_of_another_mesh_ends_the_session(void **state)
{
	struct peer **p = *state;
	uint8_t rec[REC_MAX_SIZE], frame[4096];
	const uint8_t *recs[1] = { rec };
	size_t lens[1];
	struct rec r;
	uint64_t before = records(p[1]);
	struct sync_session *s = victim(p[1], SYNC_ROLE_MEMBER, NULL, NULL);

	lens[0] = txt(3, rec);
	assert_int_equal(rec_decode(rec, lens[0], &r), 0);
	r.mesh_id[0] ^= 0xff;
	lens[0] = sign(&r, admin_sk, rec);
	expect_cut_off(s, p[1], frame, push_frame(frame, recs, lens, 1), SYNC_ROLE_MEMBER,
		       SYNC_ERR_RECORD);
	assert_int_equal(records(p[1]), before);
	sync_session_free(s);
}

static void a_malformed_record_ends_the_session(void **state)
{
	struct peer **p = *state;
	uint8_t rec[REC_MAX_SIZE], frame[4096];
	const uint8_t *recs[1] = { rec };
	size_t lens[1];
	struct sync_session *s = victim(p[1], SYNC_ROLE_MEMBER, NULL, NULL);

	lens[0] = txt(4, rec);
	rec[5] = 1; /* a reserved byte: non-canonical */
	expect_cut_off(s, p[1], frame, push_frame(frame, recs, lens, 1), SYNC_ROLE_MEMBER,
		       SYNC_ERR_RECORD);
	assert_false(holds(p[1], rec, lens[0]));
	sync_session_free(s);
}

static void replayed_old_records_are_tolerated_a_few_times_then_cut_off(void **state)
{
	struct peer **p = *state;
	uint8_t old[8][REC_MAX_SIZE], cur[REC_MAX_SIZE], frame[16384];
	const uint8_t *recs[8];
	size_t lens[8];
	uint64_t before;
	struct sync_limits lim;
	struct sync_session *s;
	uint8_t h[64];

	common(p, 8);
	/* p[1] moved on to seq 9 for every host; old[i] is host i's seq 2. */
	for (int i = 0; i < 8; i++) {
		lens[i] = endpoints(i, 2, old[i]);
		recs[i] = old[i];
		put(p[1], cur, endpoints(i, 9, cur));
	}
	before = records(p[1]);

	/* One replay (a push that raced a newer record): refused, counted, no strike. */
	s = victim(p[1], SYNC_ROLE_MEMBER, NULL, NULL);
	sync_session_feed(s, h, hello(h, SYNC_ROLE_MEMBER), NOW_MS);
	sync_session_feed(s, frame, push_frame(frame, recs, lens, 1), NOW_MS);
	assert_int_equal(sync_session_state(s), SYNC_RUNNING);
	sync_session_free(s);
	assert_int_equal(records(p[1]), before);

	/* More than limits.push_rejects: a replay attack. */
	sync_limits_default(&lim);
	s = victim(p[1], SYNC_ROLE_MEMBER, &lim, NULL);
	expect_cut_off(s, p[1], frame, push_frame(frame, recs, lens, lim.push_rejects + 1),
		       SYNC_ROLE_MEMBER, SYNC_ERR_REPLAY);
	assert_int_equal(records(p[1]), before);
	for (int i = 0; i < 8; i++)
		assert_false(holds(p[1], old[i], lens[i]));
	sync_session_free(s);
}

static void a_frame_over_64k_ends_the_session_on_its_header(void **state)
{
	struct peer **p = *state;
	/* Only the header: the session refuses before the 64 KiB would arrive. */
	const uint8_t frame[5] = { 0, 1, 0, 0, SYNC_MSG_PUSH };
	struct sync_session *s = victim(p[1], SYNC_ROLE_MEMBER, NULL, NULL);

	expect_cut_off(s, p[1], frame, sizeof(frame), SYNC_ROLE_MEMBER, SYNC_ERR_FRAME);
	sync_session_free(s);
}

static void garbage_ends_the_session(void **state)
{
	struct peer **p = *state;
	static const uint8_t junk[] = { 0, 0, 0, 3, 0x7f, 1, 2 }; /* unknown type */
	static const uint8_t not_hello[] = { 0, 0, 0, 1, SYNC_MSG_DONE };
	struct sync_session *s = victim(p[1], SYNC_ROLE_MEMBER, NULL, NULL);

	expect_cut_off(s, p[1], junk, sizeof(junk), SYNC_ROLE_MEMBER, SYNC_ERR_PROTOCOL);
	sync_session_free(s);

	/* Anything but HELLO first. */
	p[1]->failed = 0;
	s = victim(p[1], SYNC_ROLE_MEMBER, NULL, NULL);
	sync_session_feed(s, not_hello, sizeof(not_hello), NOW_MS);
	assert_int_equal(sync_session_state(s), SYNC_FAILED);
	assert_int_equal(sync_session_reason(s), SYNC_ERR_PROTOCOL);
	assert_true(p[1]->strike);
	sync_session_free(s);
}

static void records_nobody_asked_for_end_the_session(void **state)
{
	struct peer **p = *state;
	uint8_t rec[REC_MAX_SIZE], frame[4096];
	size_t len = txt(5, rec);
	struct sync_session *s = victim(p[1], SYNC_ROLE_MEMBER, NULL, NULL);

	/* A RECORDS frame (flags LAST) instead of a PUSH. */
	frame[4] = SYNC_MSG_RECORDS;
	frame[5] = 1;
	frame[6] = (uint8_t)(len >> 8);
	frame[7] = (uint8_t)len;
	memcpy(frame + 8, rec, len);
	frame[0] = frame[1] = 0;
	frame[2] = (uint8_t)((len + 4) >> 8);
	frame[3] = (uint8_t)(len + 4);
	expect_cut_off(s, p[1], frame, len + 8, SYNC_ROLE_MEMBER, SYNC_ERR_PROTOCOL);
	assert_false(holds(p[1], rec, len));
	sync_session_free(s);
}

static void a_hello_of_another_mesh_fails_without_a_strike(void **state)
{
	struct peer **p = *state;
	uint8_t h[64];
	struct sync_session *s = victim(p[1], SYNC_ROLE_MEMBER, NULL, NULL);

	hello(h, SYNC_ROLE_MEMBER);
	h[8] ^= 1;
	sync_session_feed(s, h, 36, NOW_MS);
	assert_int_equal(sync_session_state(s), SYNC_FAILED);
	assert_int_equal(sync_session_reason(s), SYNC_ERR_MESH);
	assert_false(p[1]->strike);
	sync_session_free(s);
}

/* ---- non-members -------------------------------------------------------------------------- */

static void a_non_member_fetches_root_cert_and_revoke_only(void **state)
{
	struct peer **p = *state;
	uint8_t buf[REC_MAX_SIZE], rv[REC_MAX_SIZE], ep[REC_MAX_SIZE], t[REC_MAX_SIZE];
	size_t lrv, lep, lt;
	struct sync_store *mem;
	struct peer np = { 0 };
	struct link l;

	/* The member p[1] holds certs, endpoints, a revocation and a custom record. */
	for (int i = 0; i < 3; i++)
		put(p[1], buf, cert(i, buf));
	lep = endpoints(0, 1, ep);
	put(p[1], ep, lep);
	lt = txt(9, t);
	put(p[1], t, lt);
	lrv = revoke_rec(2, rv);
	put(p[1], rv, lrv);
	/* The newcomer: only the ROOT, in a memory store. */
	assert_int_equal(sync_store_mem_new(mesh_id, &mem), 0);
	assert_int_equal(sync_store_mem_add(mem, root_buf, root_len), 0);
	np.store = mem;

	memset(&l, 0, sizeof(l));
	l.s[0] = open_session(&np, true, SYNC_ROLE_NONMEMBER, SYNC_ROLE_MEMBER, SYNC_MODE_RECONCILE,
			      NULL, NULL);
	l.s[1] = open_session(p[1], false, SYNC_ROLE_MEMBER, SYNC_ROLE_NONMEMBER,
			      SYNC_MODE_RECONCILE, NULL, NULL);
	pump(&l);
	assert_int_equal(sync_session_state(l.s[0]), SYNC_DONE);
	assert_int_equal(sync_session_state(l.s[1]), SYNC_DONE);
	/* 3 certs + the revoke (the cert it revoked is gone from the member's set). */
	assert_int_equal(np.accepted, sync_store_mem_count(mem) - 1);
	assert_true(np.accepted >= 3);
	{
		uint8_t id[REC_ID_SIZE];
		size_t n;

		rec_id(rv, lrv, id);
		assert_int_equal(mem->get(mem->arg, id, buf, &n), 0);
		rec_id(ep, lep, id);
		assert_int_equal(mem->get(mem->arg, id, buf, &n), -ENOENT);
		rec_id(t, lt, id);
		assert_int_equal(mem->get(mem->arg, id, buf, &n), -ENOENT);
	}
	link_close(&l);
	sync_store_mem_free(mem);
}

/* One side restricted by its own role only (a host whose certificate expired, while its
 * peer still counts it a member): the restricted sets agree, the HELLOs differ in the
 * restricted flag. Both sides must come to the same end (doc/sync.md "Non-members": the
 * side that rebuilds its set skips the shortcut of step 1), whichever of them initiates. */
static void one_sided_restriction_with_agreeing_sets_ends_done_on_both(void **state)
{
	struct peer **p = *state;
	uint8_t buf[REC_MAX_SIZE];

	for (int i = 0; i < 3; i++) {
		put(p[0], buf, cert(i, buf));
		put(p[1], buf, cert(i, buf));
	}
	put(p[1], buf, txt(7, buf));
	for (int restricted_initiates = 0; restricted_initiates < 2; restricted_initiates++) {
		struct link l;

		memset(&l, 0, sizeof(l));
		l.s[0] = open_session(p[0], true,
				      restricted_initiates ? SYNC_ROLE_NONMEMBER : SYNC_ROLE_MEMBER,
				      SYNC_ROLE_MEMBER, SYNC_MODE_RECONCILE, NULL, NULL);
		l.s[1] = open_session(p[1], false,
				      restricted_initiates ? SYNC_ROLE_MEMBER : SYNC_ROLE_NONMEMBER,
				      SYNC_ROLE_MEMBER, SYNC_MODE_RECONCILE, NULL, NULL);
		pump(&l);
		assert_int_equal(sync_session_state(l.s[0]), SYNC_DONE);
		assert_int_equal(sync_session_state(l.s[1]), SYNC_DONE);
		link_close(&l);
	}
}

static void a_non_member_asking_for_endpoints_is_refused_with_a_strike(void **state)
{
	struct peer **p = *state;
	uint8_t ep[REC_MAX_SIZE], buf[REC_MAX_SIZE], h[64], frame[64];
	size_t lep;
	struct sync_session *s = victim(p[1], SYNC_ROLE_NONMEMBER, NULL, NULL);

	put(p[1], buf, cert(0, buf));
	lep = endpoints(0, 1, ep);
	put(p[1], ep, lep);
	/* A reconciling HELLO (no push-only flag) from the non-member, then a WANT. */
	hello(h, SYNC_ROLE_NONMEMBER);
	h[6] = 0x01;
	sync_session_feed(s, h, 36, NOW_MS);
	frame[0] = frame[1] = frame[2] = 0;
	frame[3] = 33;
	frame[4] = SYNC_MSG_WANT;
	rec_id(ep, lep, frame + 5);
	sync_session_feed(s, frame, 37, NOW_MS);
	assert_int_equal(sync_session_state(s), SYNC_FAILED);
	assert_int_equal(sync_session_reason(s), SYNC_ERR_FORBIDDEN);
	assert_true(p[1]->strike);
	sync_session_free(s);
}

static void a_non_member_pushing_endpoints_is_refused_and_its_cert_accepted(void **state)
{
	struct peer **p = *state;
	uint8_t c[REC_MAX_SIZE], ep[REC_MAX_SIZE], frame[4096], h[64];
	const uint8_t *recs[1];
	size_t lens[1];
	uint64_t before = records(p[1]);
	struct sync_session *s = victim(p[1], SYNC_ROLE_NONMEMBER, NULL, NULL);

	/* Its CERT: accepted. */
	lens[0] = cert(7, c);
	recs[0] = c;
	sync_session_feed(s, h, hello(h, SYNC_ROLE_NONMEMBER), NOW_MS);
	sync_session_feed(s, frame, push_frame(frame, recs, lens, 1), NOW_MS);
	assert_int_equal(sync_session_state(s), SYNC_RUNNING);
	assert_true(holds(p[1], c, lens[0]));
	assert_int_equal(p[1]->accepted, 1);
	sync_session_free(s);

	/* Its ENDPOINTS: forbidden, a strike, not stored. */
	p[1]->accepted = 0;
	s = victim(p[1], SYNC_ROLE_NONMEMBER, NULL, NULL);
	lens[0] = endpoints(7, 1, ep);
	recs[0] = ep;
	expect_cut_off(s, p[1], frame, push_frame(frame, recs, lens, 1), SYNC_ROLE_NONMEMBER,
		       SYNC_ERR_FORBIDDEN);
	assert_false(holds(p[1], ep, lens[0]));
	assert_int_equal(records(p[1]), before + 1);
	sync_session_free(s);
}

static void a_responder_that_does_not_know_the_initiator_narrows_the_session(void **state)
{
	struct peer **p = *state;
	uint8_t c[REC_MAX_SIZE], ep[REC_MAX_SIZE], c2[REC_MAX_SIZE];
	size_t lc, lep, lc2;
	struct link l;

	lc = cert(1, c);
	put(p[1], c, lc); /* a CERT the initiator lacks */
	lc2 = cert(2, c2);
	put(p[0], c2, lc2);
	lep = endpoints(2, 1, ep);
	put(p[0], ep, lep); /* things the responder lacks */
	memset(&l, 0, sizeof(l));
	/* The initiator believes both are members; the responder does not know it. */
	l.s[0] = open_session(p[0], true, SYNC_ROLE_MEMBER, SYNC_ROLE_MEMBER, SYNC_MODE_RECONCILE,
			      NULL, NULL);
	l.s[1] = open_session(p[1], false, SYNC_ROLE_MEMBER, SYNC_ROLE_UNKNOWN, SYNC_MODE_RECONCILE,
			      NULL, NULL);
	pump(&l);
	assert_int_equal(sync_session_state(l.s[0]), SYNC_DONE);
	assert_int_equal(sync_session_state(l.s[1]), SYNC_DONE);
	/* The initiator got the CERT; the responder took nothing from an unknown peer, and
	 * the ENDPOINTS was not even part of the reconciled set. */
	assert_true(holds(p[0], c, lc));
	assert_false(holds(p[1], c2, lc2));
	assert_false(holds(p[1], ep, lep));
	assert_int_equal(p[1]->accepted, 0);
	assert_int_equal(p[0]->accepted, 1);
	/* The initiator can tell that it was taken for a non-member (so that meshnamed
	 * reconciles again once its CERT has arrived there); the responder was not. */
	assert_true(sync_session_peer_restricted(l.s[0]));
	assert_false(sync_session_peer_restricted(l.s[1]));
	assert_false(sync_session_peer_push_only(l.s[0]));
	assert_false(sync_session_peer_push_only(l.s[1]));
	link_close(&l);
}

/* ---- push mode, limits ----------------------------------------------------------------------- */

static void a_push_session_delivers_records_without_reconciling(void **state)
{
	struct peer **p = *state;
	uint8_t a[REC_MAX_SIZE], b[REC_MAX_SIZE];
	size_t la = txt(1, a), lb = txt(2, b);
	struct sync_stats st;
	struct link l;

	memset(&l, 0, sizeof(l));
	l.s[0] = open_session(p[0], true, SYNC_ROLE_MEMBER, SYNC_ROLE_MEMBER, SYNC_MODE_PUSH, NULL,
			      NULL);
	l.s[1] = open_session(p[1], false, SYNC_ROLE_MEMBER, SYNC_ROLE_MEMBER, SYNC_MODE_RECONCILE,
			      NULL, NULL);
	assert_int_equal(sync_session_push(l.s[0], a, la), 0);
	assert_int_equal(sync_session_push(l.s[0], b, lb), 0);
	sync_session_push_end(l.s[0]);
	assert_int_equal(sync_session_push(l.s[0], a, la), -EPIPE);
	pump(&l);
	assert_int_equal(sync_session_state(l.s[0]), SYNC_DONE);
	assert_int_equal(sync_session_state(l.s[1]), SYNC_DONE);
	assert_true(holds(p[1], a, la) && holds(p[1], b, lb));
	assert_int_equal(p[1]->accepted, 2);
	sync_session_stats(l.s[1], &st);
	assert_int_equal(st.recon_bytes, 2 * 36); /* the HELLOs only */
	/* The responder cannot tell from a pushing HELLO how the pusher takes it (no set, no
	 * restricted flag): meshnamed must not read "knows us" into it. The pusher can. */
	assert_true(sync_session_peer_push_only(l.s[1]));
	assert_false(sync_session_peer_restricted(l.s[1]));
	assert_false(sync_session_peer_push_only(l.s[0]));
	link_close(&l);
}

static void pushing_faster_than_the_rate_ends_the_session_without_a_strike(void **state)
{
	struct peer **p = *state;
	uint8_t recs_buf[12][REC_MAX_SIZE], frame[16384], h[64];
	const uint8_t *recs[12];
	size_t lens[12];
	struct sync_limits lim;
	struct sync_rate rate = { 0 };
	struct sync_session *s;

	for (int i = 0; i < 12; i++) {
		lens[i] = txt(100 + i, recs_buf[i]);
		recs[i] = recs_buf[i];
	}
	sync_limits_default(&lim);
	lim.rate_records = 1;
	lim.rate_records_burst = 10;
	s = victim(p[1], SYNC_ROLE_MEMBER, &lim, &rate);
	sync_session_feed(s, h, hello(h, SYNC_ROLE_MEMBER), NOW_MS);
	sync_session_feed(s, frame, push_frame(frame, recs, lens, 6), NOW_MS);
	assert_int_equal(sync_session_state(s), SYNC_RUNNING);
	sync_session_feed(s, frame, push_frame(frame, recs + 6, lens + 6, 6), NOW_MS);
	assert_int_equal(sync_session_state(s), SYNC_FAILED);
	assert_int_equal(sync_session_reason(s), SYNC_ERR_RATE);
	assert_false(p[1]->strike);
	assert_int_equal(p[1]->accepted, 6);
	assert_false(holds(p[1], recs[6], lens[6]));
	sync_session_free(s);

	/* The bucket is the peer's, not the session's: a new session starts empty-handed,
	 * and a few seconds later it holds a few records again. */
	p[1]->failed = 0;
	s = victim(p[1], SYNC_ROLE_MEMBER, &lim, &rate);
	sync_session_feed(s, h, hello(h, SYNC_ROLE_MEMBER), NOW_MS);
	sync_session_feed(s, frame, push_frame(frame, recs + 6, lens + 6, 6), NOW_MS + 1000);
	assert_int_equal(sync_session_reason(s), SYNC_ERR_RATE);
	sync_session_free(s);
	s = victim(p[1], SYNC_ROLE_MEMBER, &lim, &rate);
	sync_session_feed(s, h, hello(h, SYNC_ROLE_MEMBER), NOW_MS + 7000);
	sync_session_feed(s, frame, push_frame(frame, recs + 6, lens + 6, 6), NOW_MS + 7000);
	assert_int_equal(sync_session_state(s), SYNC_RUNNING);
	assert_true(holds(p[1], recs[11], lens[11]));
	sync_session_free(s);
}

static void sending_bytes_faster_than_the_rate_ends_the_session(void **state)
{
	struct peer **p = *state;
	uint8_t h[64], neg[200];
	struct sync_limits lim;
	struct sync_rate rate = { 0 };
	struct sync_session *s;

	sync_limits_default(&lim);
	lim.rate_bytes = 10;
	lim.rate_bytes_burst = 50;
	s = victim(p[1], SYNC_ROLE_MEMBER, &lim, &rate);
	hello(h, SYNC_ROLE_MEMBER);
	h[6] = 0; /* reconciling */
	sync_session_feed(s, h, 36, NOW_MS);
	/* NEG frames of 6 bytes (an empty negentropy message): 36 + 2 * 6 fit the burst of
	 * 50, a third does not. */
	memset(neg, 0, sizeof(neg));
	neg[3] = 2;
	neg[4] = SYNC_MSG_NEG;
	neg[5] = 0x61;
	sync_session_feed(s, neg, 6, NOW_MS);
	sync_session_feed(s, neg, 6, NOW_MS);
	assert_int_equal(sync_session_state(s), SYNC_RUNNING);
	sync_session_feed(s, neg, 6, NOW_MS);
	assert_int_equal(sync_session_state(s), SYNC_FAILED);
	assert_int_equal(sync_session_reason(s), SYNC_ERR_RATE);
	assert_false(p[1]->strike);
	sync_session_free(s);
}

static void a_silent_peer_times_out_and_an_early_close_fails(void **state)
{
	struct peer **p = *state;
	uint8_t h[64];
	struct sync_session *s = victim(p[1], SYNC_ROLE_MEMBER, NULL, NULL);

	sync_session_feed(s, h, hello(h, SYNC_ROLE_MEMBER), NOW_MS);
	sync_session_tick(s, NOW_MS + 29000);
	assert_int_equal(sync_session_state(s), SYNC_RUNNING);
	sync_session_tick(s, NOW_MS + 30000);
	assert_int_equal(sync_session_state(s), SYNC_FAILED);
	assert_int_equal(sync_session_reason(s), SYNC_ERR_TIMEOUT);
	assert_false(p[1]->strike);
	sync_session_free(s);

	s = victim(p[1], SYNC_ROLE_MEMBER, NULL, NULL);
	sync_session_eof(s, NOW_MS);
	assert_int_equal(sync_session_reason(s), SYNC_ERR_CLOSED);
	sync_session_free(s);
}

static void an_error_from_the_peer_ends_the_session_as_remote(void **state)
{
	struct peer **p = *state;
	uint8_t h[64], e[8];
	struct sync_session *s = victim(p[1], SYNC_ROLE_MEMBER, NULL, NULL);

	sync_session_feed(s, h, hello(h, SYNC_ROLE_MEMBER), NOW_MS);
	sync_session_feed(s, e, sync_error_frame(SYNC_ERR_BANNED, e), NOW_MS);
	assert_int_equal(sync_session_reason(s), SYNC_ERR_BANNED);
	assert_true(p[1]->remote);
	assert_false(p[1]->strike);
	sync_session_free(s);
}

static void output_above_the_high_water_mark_stops_input(void **state)
{
	struct peer **p = *state;
	uint8_t buf[REC_MAX_SIZE], want[5 + 32 * 4], h[64];
	struct sync_limits lim;
	struct sync_session *s;
	size_t used, len;

	for (int i = 0; i < 4; i++) {
		len = txt(i, buf);
		put(p[1], buf, len);
		rec_id(buf, len, want + 5 + 32 * i);
	}
	want[0] = want[1] = want[2] = 0;
	want[3] = 1 + 32 * 4;
	want[4] = SYNC_MSG_WANT;
	sync_limits_default(&lim);
	lim.out_high = 200;
	s = victim(p[1], SYNC_ROLE_MEMBER, &lim, NULL);
	hello(h, SYNC_ROLE_MEMBER);
	h[6] = 0; /* reconciling */
	sync_session_feed(s, h, 36, NOW_MS);
	/* Two WANTs back to back: the first answer fills the output, the second waits. */
	memcpy(buf, want, sizeof(want));
	memcpy(buf + sizeof(want), want, sizeof(want));
	used = sync_session_feed(s, buf, 2 * sizeof(want), NOW_MS);
	assert_true(used < 2 * sizeof(want));
	sync_session_output(s, &len);
	assert_true(len > 200);
	sync_session_sent(s, len);
	assert_int_equal(sync_session_feed(s, buf + used, 2 * sizeof(want) - used, NOW_MS),
			 2 * sizeof(want) - used);
	assert_int_equal(sync_session_state(s), SYNC_RUNNING);
	sync_session_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(identical_sets_agree_in_one_round_trip_under_100_bytes),
		T(one_new_record_on_the_initiator_reaches_the_responder),
		T(one_new_record_on_the_responder_reaches_the_initiator),
		T(different_new_records_on_each_side_end_on_both),
		T(a_newer_endpoints_supersedes_and_the_older_is_not_offered),
		T(a_thousand_records_cross_in_frames_under_64k),
		T(a_session_bounded_to_few_ids_converges_over_several_sessions),
		T(one_change_in_100k_records_costs_under_4k_plus_the_record),
		T(a_forged_record_ends_the_session_and_nothing_of_its_batch_is_stored),
		T(a_record_of_another_mesh_ends_the_session),
		T(a_malformed_record_ends_the_session),
		T(replayed_old_records_are_tolerated_a_few_times_then_cut_off),
		T(a_frame_over_64k_ends_the_session_on_its_header),
		T(garbage_ends_the_session),
		T(records_nobody_asked_for_end_the_session),
		T(a_hello_of_another_mesh_fails_without_a_strike),
		T(a_non_member_fetches_root_cert_and_revoke_only),
		T(one_sided_restriction_with_agreeing_sets_ends_done_on_both),
		T(a_non_member_asking_for_endpoints_is_refused_with_a_strike),
		T(a_non_member_pushing_endpoints_is_refused_and_its_cert_accepted),
		T(a_responder_that_does_not_know_the_initiator_narrows_the_session),
		T(a_push_session_delivers_records_without_reconciling),
		T(sending_bytes_faster_than_the_rate_ends_the_session),
		T(pushing_faster_than_the_rate_ends_the_session_without_a_strike),
		T(a_silent_peer_times_out_and_an_early_close_fails),
		T(an_error_from_the_peer_ends_the_session_as_remote),
		T(output_above_the_high_water_mark_stops_input),
#undef T
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
