/*
 * test_syncconn.c: meshnamed's sync connection (src/daemon/syncconn.c) over libevent
 * bufferevent pairs, on real registries (sqlite in mkdtemp dirs, the fixture keys of
 * tests/unit/registry, records dated now: sessions run on the real clock). Transport B's
 * framing as pure functions; transport A and B sessions reconciling and pushing; the
 * handshake's pin and the server's refusal; a peer that breaks the framing, lies in the
 * handshake or ends its stream without FINAL; a full disk on the side that stores.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sodium.h>

#include "../registry/fixtures.h"
#include "daemon/syncconn.h"
#include "meshname/registry.h"
#include "meshname/session.h"
#include "meshname/sync.h"
#include "registry/store.h" /* store_test_max_pages: the full-disk hook */

#define K_ADMIN 1
#define K_HOST 10
#define DAY ((uint64_t)FIXTURE_DAY)

static uint8_t admin_sk[REC_SECRET_SIZE];
static uint8_t mesh_id[REC_ID_SIZE];
static uint8_t root_buf[REC_MAX_SIZE];
static size_t root_len;
static uint64_t now_s;

/* ---- framing ------------------------------------------------------------------------------ */

static void a_framed_message_comes_back_whole_and_only_when_all_of_it_arrived(void **state)
{
	struct evbuffer *b = evbuffer_new();
	uint8_t msg[300], got[SESSION_MAX_MESSAGE];
	size_t len = 99;

	(void)state;
	assert_non_null(b);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	assert_int_equal(syncconn_frame_add(b, msg, sizeof(msg)), 0);
	assert_int_equal(evbuffer_get_length(b), 4 + sizeof(msg));
	/* u32 big-endian length first */
	assert_memory_equal(evbuffer_pullup(b, 4), "\x00\x00\x01\x2c", 4);
	assert_int_equal(syncconn_frame_add(b, msg, 1), 0);
	assert_int_equal(syncconn_frame_take(b, got, sizeof(got), &len), 1);
	assert_int_equal(len, sizeof(msg));
	assert_memory_equal(got, msg, sizeof(msg));
	assert_int_equal(syncconn_frame_take(b, got, sizeof(got), &len), 1);
	assert_int_equal(len, 1);
	assert_int_equal(syncconn_frame_take(b, got, sizeof(got), &len), 0);
	assert_int_equal(len, 0);

	/* a header alone, then all but the last byte: nothing is taken */
	evbuffer_add(b, "\x00\x00\x00\x03", 4);
	assert_int_equal(syncconn_frame_take(b, got, sizeof(got), &len), 0);
	evbuffer_add(b, "ab", 2);
	assert_int_equal(syncconn_frame_take(b, got, sizeof(got), &len), 0);
	assert_int_equal(evbuffer_get_length(b), 6);
	evbuffer_add(b, "c", 1);
	assert_int_equal(syncconn_frame_take(b, got, sizeof(got), &len), 1);
	assert_memory_equal(got, "abc", 3);
	assert_int_equal(evbuffer_get_length(b), 0);
	evbuffer_free(b);
}

static void a_length_of_zero_or_over_the_limit_ends_the_stream_on_its_header(void **state)
{
	struct evbuffer *b = evbuffer_new();
	uint8_t got[SESSION_HANDSHAKE_MAX], big[SESSION_MAX_MESSAGE + 1] = { 0 };
	size_t len;

	(void)state;
	assert_non_null(b);
	evbuffer_add(b, "\x00\x00\x00\x00", 4);
	assert_int_equal(syncconn_frame_take(b, got, sizeof(got), &len), -EBADMSG);
	evbuffer_drain(b, 4);
	/* over the caller's limit (here a handshake message's): refused before the body */
	evbuffer_add(b, "\x00\x00\x00\x9e", 4);
	assert_int_equal(syncconn_frame_take(b, got, sizeof(got), &len), -EBADMSG);
	evbuffer_drain(b, 4);
	evbuffer_add(b, "\xff\xff\xff\xff", 4);
	assert_int_equal(syncconn_frame_take(b, got, sizeof(got), &len), -EBADMSG);
	evbuffer_drain(b, 4);
	/* the sender's side: nothing empty, nothing over a sealed message */
	assert_int_equal(syncconn_frame_add(b, big, 0), -EMSGSIZE);
	assert_int_equal(syncconn_frame_add(b, big, sizeof(big)), -EMSGSIZE);
	assert_int_equal(syncconn_frame_add(b, big, SESSION_MAX_MESSAGE), 0);
	assert_int_equal(evbuffer_get_length(b), 4 + SESSION_MAX_MESSAGE);
	evbuffer_free(b);
}

/* ---- peers ---------------------------------------------------------------------------------- */

struct peer {
	char dir[64];
	char path[96];
	struct registry *reg;
	struct sync_store *store;
	uint8_t sk[REC_SECRET_SIZE];
	/* what its connection reported */
	struct syncconn *conn;
	unsigned accepted, ended, closed, identified;
	struct syncconn_result res;
	uint8_t identified_key[REC_KEY_SIZE];
	int refuse;               /* identified() returns this */
	enum sync_role peer_role; /* and this role for the peer (0: member) */
	uint8_t own[1][REC_ID_SIZE];
	size_t n_own;
};

struct world {
	struct event_base *base;
	struct peer *p[2];
	unsigned open;
};

static size_t sign(struct rec *r, const uint8_t *sk, uint8_t *buf)
{
	size_t len = 0;

	assert_int_equal(rec_sign(r, sk, buf, REC_MAX_SIZE, &len), 0);
	return len;
}

/* CERT of host i, issued a minute ago, valid for a day. */
static size_t cert(int i, uint8_t *buf)
{
	uint8_t sk[REC_SECRET_SIZE];
	char name[16];
	struct rec r;

	fixture_key(K_HOST + i, sk);
	snprintf(name, sizeof(name), "h%d", i);
	fixture_cert(&r, mesh_id, name, sk, (uint8_t)(i + 2));
	r.issued_at = now_s - 60;
	r.expires_at = now_s - 60 + DAY;
	return sign(&r, admin_sk, buf);
}

/* An admin-signed TXT record at owner r<i>. */
static size_t txt(int i, uint8_t *buf)
{
	struct rec r;
	char owner[16];

	snprintf(owner, sizeof(owner), "r%d", i);
	fixture_txt(&r, mesh_id, owner, now_s - 30, now_s + DAY);
	return sign(&r, admin_sk, buf);
}

static void put(struct peer *p, const uint8_t *buf, size_t len)
{
	enum ingest_result res;

	assert_int_equal(registry_ingest(p->reg, buf, len, now_s, &res), 0);
	assert_int_equal(res, INGEST_ACCEPTED);
}

static bool holds(struct peer *p, const uint8_t *buf, size_t len)
{
	uint8_t id[REC_ID_SIZE], got[REC_MAX_SIZE];
	size_t n = 0;

	rec_id(buf, len, id);
	return registry_get(p->reg, id, got, sizeof(got), &n) == 0;
}

/* Host i's registry: the ROOT and every host's CERT in certs (all members). */
static struct peer *peer_new(int i, const int *certs, size_t n_certs)
{
	struct peer *p = calloc(1, sizeof(*p));
	uint8_t buf[REC_MAX_SIZE];

	assert_non_null(p);
	snprintf(p->dir, sizeof(p->dir), "/tmp/meshname-conn-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->path, sizeof(p->path), "%s/registry.db", p->dir);
	assert_int_equal(registry_open(p->path, &p->reg), 0);
	assert_int_equal(registry_create(p->reg, root_buf, root_len, now_s), 0);
	assert_int_equal(sync_store_registry_new(p->reg, &p->store), 0);
	fixture_key(K_HOST + i, p->sk);
	for (size_t k = 0; k < n_certs; k++)
		put(p, buf, cert(certs[k], buf));
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

/* ---- callbacks -------------------------------------------------------------------------- */

struct side {
	struct world *w;
	struct peer *p;
};

static int on_identified(void *arg, struct syncconn *c, const uint8_t key[REC_KEY_SIZE],
			 struct sync_config *sc)
{
	struct side *s = arg;

	(void)c;
	s->p->identified++;
	memcpy(s->p->identified_key, key, REC_KEY_SIZE);
	if (s->p->refuse != 0)
		return s->p->refuse;
	sc->peer_role = s->p->peer_role != 0 ? s->p->peer_role : SYNC_ROLE_MEMBER;
	return 0;
}

static void on_own(void *arg, struct syncconn *c, uint8_t (*ids)[REC_ID_SIZE], size_t *n)
{
	struct side *s = arg;

	(void)c;
	memcpy(ids, s->p->own, s->p->n_own * REC_ID_SIZE);
	*n = s->p->n_own;
}

static void on_accepted(void *arg, struct syncconn *c, const struct sync_event *ev)
{
	struct side *s = arg;

	(void)c;
	assert_int_equal(ev->kind, SYNC_EV_ACCEPTED);
	s->p->accepted++;
}

static void on_ended(void *arg, struct syncconn *c, const struct syncconn_result *r)
{
	struct side *s = arg;

	(void)c;
	s->p->ended++;
	s->p->res = *r;
}

static void on_closed(void *arg, struct syncconn *c)
{
	struct side *s = arg;

	assert_int_equal(s->p->ended, 1); /* ended always comes first */
	s->p->closed++;
	syncconn_free(c);
	s->p->conn = NULL;
	if (--s->w->open == 0)
		event_base_loopbreak(s->w->base);
}

static const struct syncconn_callbacks cb = {
	.identified = on_identified,
	.own_records = on_own,
	.accepted = on_accepted,
	.ended = on_ended,
	.closed = on_closed,
};

static void on_deadline(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	event_base_loopbreak(arg);
}

/* Runs the loop until every connection closed, at most 20 s. */
static void run(struct world *w)
{
	struct timeval tv = { 20, 0 };
	struct event *t = evtimer_new(w->base, on_deadline, w->base);

	assert_non_null(t);
	evtimer_add(t, &tv);
	event_base_dispatch(w->base);
	event_free(t);
	assert_int_equal(w->open, 0);
}

static void params(struct syncconn_params *cp, struct side *s, enum syncconn_transport t,
		   bool client, enum sync_mode mode)
{
	memset(cp, 0, sizeof(*cp));
	cp->transport = t;
	cp->client = client;
	cp->sync.store = s->p->store;
	memcpy(cp->sync.mesh_id, mesh_id, REC_ID_SIZE);
	cp->sync.mode = mode;
	cp->sync.self_role = SYNC_ROLE_MEMBER;
	cp->sync.peer_role = SYNC_ROLE_MEMBER;
	memcpy(cp->sync.self_key, fixture_pk(s->p->sk), REC_KEY_SIZE);
	cp->host_sk = s->p->sk;
	cp->cb = &cb;
	cp->arg = s;
}

/* A pair of bufferevents, deferred callbacks (as sockets behave: no re-entry). */
static void pair(struct world *w, struct bufferevent *bev[2])
{
	assert_int_equal(bufferevent_pair_new(w->base, BEV_OPT_DEFER_CALLBACKS, bev), 0);
}

/* Client p[0] and server p[1] over a pair; cp0/cp1 may be adjusted by the caller. */
static void connect_pair(struct world *w, struct side s[2], struct syncconn_params cp[2])
{
	struct bufferevent *bev[2];

	pair(w, bev);
	assert_int_equal(syncconn_new(w->base, bev[1], &cp[1], &s[1].p->conn), 0);
	assert_int_equal(syncconn_new(w->base, bev[0], &cp[0], &s[0].p->conn), 0);
	w->open = 2;
}

static void world_init(struct world *w, struct side s[2], struct peer *a, struct peer *b)
{
	memset(w, 0, sizeof(*w));
	w->base = event_base_new();
	assert_non_null(w->base);
	w->p[0] = a;
	w->p[1] = b;
	s[0].w = w;
	s[0].p = a;
	s[1].w = w;
	s[1].p = b;
}

/* libevent frees a bufferevent with deferred callbacks from the loop: let it. */
static void drain_loop(struct event_base *base)
{
	for (int i = 0; i < 4; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

static void world_fini(struct world *w)
{
	peer_free(w->p[0]);
	peer_free(w->p[1]);
	drain_loop(w->base);
	event_base_free(w->base);
}

/* ---- sessions ----------------------------------------------------------------------------- */

static void reconcile_both_ways(enum syncconn_transport t)
{
	static const int both[] = { 0, 1 };
	struct world w;
	struct side s[2];
	struct syncconn_params cp[2];
	uint8_t t0[REC_MAX_SIZE], t1[REC_MAX_SIZE];
	size_t l0, l1;

	world_init(&w, s, peer_new(0, both, 2), peer_new(1, both, 2));
	l0 = txt(0, t0);
	put(w.p[0], t0, l0);
	l1 = txt(1, t1);
	put(w.p[1], t1, l1);
	params(&cp[0], &s[0], t, true, SYNC_MODE_RECONCILE);
	params(&cp[1], &s[1], t, false, SYNC_MODE_RECONCILE);
	if (t == SYNCCONN_B)
		cp[0].pin = fixture_pk(w.p[1]->sk);
	connect_pair(&w, s, cp);
	run(&w);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(w.p[i]->ended, 1);
		assert_int_equal(w.p[i]->closed, 1);
		assert_int_equal(w.p[i]->res.result, 0);
		assert_true(w.p[i]->res.had_session);
		assert_false(w.p[i]->res.strike);
		assert_int_equal(w.p[i]->res.established, t == SYNCCONN_B);
		assert_int_equal(w.p[i]->accepted, 1);
	}
	assert_true(holds(w.p[0], t1, l1));
	assert_true(holds(w.p[1], t0, l0));
	assert_int_equal(w.p[0]->res.stats.records_in, 1);
	assert_int_equal(w.p[0]->res.stats.records_out, 1);
	if (t == SYNCCONN_B) {
		/* the server learnt the client's key from the handshake */
		assert_int_equal(w.p[1]->identified, 1);
		assert_memory_equal(w.p[1]->identified_key, fixture_pk(w.p[0]->sk), REC_KEY_SIZE);
	} else {
		assert_int_equal(w.p[1]->identified, 0);
	}
	world_fini(&w);
}

static void transport_a_reconciles_both_ways(void **state)
{
	(void)state;
	reconcile_both_ways(SYNCCONN_A);
}

static void transport_b_reconciles_both_ways_after_the_handshake(void **state)
{
	(void)state;
	reconcile_both_ways(SYNCCONN_B);
}

static void a_push_session_stores_the_pushed_records_over_either_transport(void **state)
{
	static const int both[] = { 0, 1 };

	(void)state;
	for (int t = SYNCCONN_A; t <= SYNCCONN_B; t++) {
		struct world w;
		struct side s[2];
		struct syncconn_params cp[2];
		uint8_t rec[3][REC_MAX_SIZE], ids[3][REC_ID_SIZE];
		size_t len[3];

		world_init(&w, s, peer_new(0, both, 2), peer_new(1, both, 2));
		for (int i = 0; i < 3; i++) {
			len[i] = txt(10 + i, rec[i]);
			put(w.p[0], rec[i], len[i]);
			rec_id(rec[i], len[i], ids[i]);
		}
		params(&cp[0], &s[0], (enum syncconn_transport)t, true, SYNC_MODE_PUSH);
		params(&cp[1], &s[1], (enum syncconn_transport)t, false, SYNC_MODE_RECONCILE);
		cp[0].push = (const uint8_t(*)[REC_ID_SIZE])ids;
		cp[0].n_push = 2; /* the third stays behind */
		connect_pair(&w, s, cp);
		run(&w);
		assert_int_equal(w.p[0]->res.result, 0);
		assert_int_equal(w.p[1]->res.result, 0);
		assert_int_equal(w.p[1]->accepted, 2);
		assert_true(holds(w.p[1], rec[0], len[0]));
		assert_true(holds(w.p[1], rec[1], len[1]));
		assert_false(holds(w.p[1], rec[2], len[2]));
		world_fini(&w);
	}
}

static void a_transport_b_peer_pushes_its_own_cert_to_a_peer_that_lacks_it(void **state)
{
	static const int client_knows[] = { 0, 1 }, server_knows[] = { 1 };
	struct world w;
	struct side s[2];
	struct syncconn_params cp[2];
	uint8_t c0[REC_MAX_SIZE];
	size_t l0;

	(void)state;
	world_init(&w, s, peer_new(0, client_knows, 2), peer_new(1, server_knows, 1));
	l0 = cert(0, c0);
	rec_id(c0, l0, w.p[0]->own[0]);
	w.p[0]->n_own = 1;
	params(&cp[0], &s[0], SYNCCONN_B, true, SYNC_MODE_RECONCILE);
	params(&cp[1], &s[1], SYNCCONN_B, false, SYNC_MODE_RECONCILE);
	/* The server does not know the client: nothing is asked of it, what it may give
	 * (its CERT) it pushes. */
	w.p[1]->peer_role = SYNC_ROLE_NONMEMBER;
	connect_pair(&w, s, cp);
	run(&w);
	assert_int_equal(w.p[0]->res.result, 0);
	assert_int_equal(w.p[1]->res.result, 0);
	assert_true(w.p[0]->res.peer_restricted);
	assert_true(holds(w.p[1], c0, l0));
	assert_int_equal(w.p[1]->accepted, 1);
	world_fini(&w);
}

static void a_server_other_than_the_pinned_key_is_refused_before_any_session(void **state)
{
	static const int both[] = { 0, 1 };
	uint8_t other[REC_SECRET_SIZE];
	struct world w;
	struct side s[2];
	struct syncconn_params cp[2];

	(void)state;
	world_init(&w, s, peer_new(0, both, 2), peer_new(1, both, 2));
	fixture_key(K_HOST + 7, other);
	params(&cp[0], &s[0], SYNCCONN_B, true, SYNC_MODE_RECONCILE);
	params(&cp[1], &s[1], SYNCCONN_B, false, SYNC_MODE_RECONCILE);
	cp[0].pin = fixture_pk(other);
	connect_pair(&w, s, cp);
	run(&w);
	assert_int_equal(w.p[0]->res.result, -EKEYREJECTED);
	assert_false(w.p[0]->res.had_session);
	assert_false(w.p[0]->res.strike); /* an address reused by another host is not malice */
	assert_int_not_equal(w.p[1]->res.result, 0);
	assert_false(w.p[1]->res.had_session);
	assert_int_equal(w.p[1]->identified, 0);
	world_fini(&w);
}

static void a_server_that_refuses_the_proven_peer_runs_no_session(void **state)
{
	static const int both[] = { 0, 1 };
	struct world w;
	struct side s[2];
	struct syncconn_params cp[2];
	uint8_t t0[REC_MAX_SIZE];
	size_t l0;

	(void)state;
	world_init(&w, s, peer_new(0, both, 2), peer_new(1, both, 2));
	l0 = txt(0, t0);
	put(w.p[0], t0, l0);
	w.p[1]->refuse = -EBUSY;
	params(&cp[0], &s[0], SYNCCONN_B, true, SYNC_MODE_RECONCILE);
	params(&cp[1], &s[1], SYNCCONN_B, false, SYNC_MODE_RECONCILE);
	connect_pair(&w, s, cp);
	run(&w);
	assert_int_equal(w.p[1]->identified, 1);
	assert_int_equal(w.p[1]->res.result, -EBUSY);
	assert_false(w.p[1]->res.had_session);
	assert_false(holds(w.p[1], t0, l0));
	/* the client saw its stream end without the server's FINAL */
	assert_int_equal(w.p[0]->res.result, -ECONNRESET);
	world_fini(&w);
}

static void a_banned_peer_is_told_so_before_the_close(void **state)
{
	static const int both[] = { 0, 1 };
	struct world w;
	struct side s[2];
	struct syncconn_params cp[2];

	(void)state;
	world_init(&w, s, peer_new(0, both, 2), peer_new(1, both, 2));
	w.p[1]->refuse = -EACCES;
	params(&cp[0], &s[0], SYNCCONN_B, true, SYNC_MODE_RECONCILE);
	params(&cp[1], &s[1], SYNCCONN_B, false, SYNC_MODE_RECONCILE);
	connect_pair(&w, s, cp);
	run(&w);
	assert_int_equal(w.p[1]->res.result, -EACCES);
	assert_string_equal(w.p[1]->res.detail, "banned");
	assert_false(w.p[1]->res.had_session);
	/* the client's session got ERROR BANNED from the server: remote, no strike */
	assert_true(w.p[0]->res.had_session);
	assert_int_equal(w.p[0]->res.reason, SYNC_ERR_BANNED);
	assert_true(w.p[0]->res.remote);
	assert_false(w.p[0]->res.strike);
	world_fini(&w);
}

/* ---- a full disk ----------------------------------------------------------------------------- */

#define FULL_RECORDS 300 /* far more than a page of the registry */

/* Records txt(100) .. txt(100 + n - 1) into p's registry in one batch. */
static void put_many(struct peer *p, int n, uint8_t (*ids)[REC_ID_SIZE])
{
	assert_int_equal(registry_begin(p->reg), 0);
	for (int i = 0; i < n; i++) {
		uint8_t buf[REC_MAX_SIZE];
		size_t len = txt(100 + i, buf);
		enum ingest_result res;

		assert_int_equal(registry_ingest(p->reg, buf, len, now_s, &res), 0);
		assert_int_equal(res, INGEST_ACCEPTED);
		if (ids != NULL)
			rec_id(buf, len, ids[i]);
	}
	assert_int_equal(registry_commit(p->reg, now_s), 0);
}

static size_t held(struct peer *p, int n)
{
	size_t k = 0;

	for (int i = 0; i < n; i++) {
		uint8_t buf[REC_MAX_SIZE];

		k += holds(p, buf, txt(100 + i, buf));
	}
	return k;
}

/* sqlite undoes only the failing statement, not the whole transaction, when the statement
 * keeps a statement journal (sqlite documents both): a no-op TEMP trigger gives the registry's
 * INSERT one, and the registry then reports -ENOSPC per record while the batch goes on. */
static void undo_statement_only(struct peer *p)
{
	assert_int_equal(sqlite3_exec(p->reg->db,
				      "CREATE TEMP TRIGGER statement_journal AFTER INSERT"
				      " ON main.record BEGIN SELECT 1; END",
				      NULL, NULL, NULL),
			 SQLITE_OK);
}

/* Caps p's database a page above what it holds now (0: lifts the cap). */
static void fill_disk(struct peer *p, bool full)
{
	sqlite3_stmt *st;
	int pages;

	assert_int_equal(sqlite3_prepare_v2(p->reg->db, "PRAGMA page_count", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	pages = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	assert_int_equal(store_test_max_pages(p->reg, full ? (unsigned)pages + 1 : 0), 0);
}

/* Both sides' reports of the last connection, forgotten before the next. */
static void forget_results(struct world *w)
{
	for (int i = 0; i < 2; i++) {
		w->p[i]->accepted = w->p[i]->ended = w->p[i]->closed = 0;
		memset(&w->p[i]->res, 0, sizeof(w->p[i]->res));
	}
}

/* full ended its session for its own disk and said so; the peer was told, and neither
 * side has a strike to count. */
static void assert_ended_for_the_disk(struct peer *full, struct peer *other)
{
	assert_int_equal(full->ended, 1);
	assert_true(full->res.had_session);
	assert_int_equal(full->res.result, -EIO);
	assert_int_equal(full->res.reason, SYNC_ERR_INTERNAL);
	assert_false(full->res.remote);
	assert_false(full->res.strike);
	assert_string_equal(full->res.detail, "cannot store records: the disk is full");
	assert_int_equal(other->ended, 1);
	assert_true(other->res.had_session);
	assert_int_equal(other->res.reason, SYNC_ERR_INTERNAL);
	assert_true(other->res.remote);
	assert_false(other->res.strike);
}

static void a_full_disk_ends_a_fetch_as_our_fault_and_the_next_session_fetches_it(void **state)
{
	static const int both[] = { 0, 1 };

	(void)state;
	for (int t = SYNCCONN_A; t <= SYNCCONN_B; t++) {
		struct world w;
		struct side s[2];
		struct syncconn_params cp[2];
		struct registry_counts before, after;

		world_init(&w, s, peer_new(0, both, 2), peer_new(1, both, 2));
		put_many(w.p[1], FULL_RECORDS, NULL);
		params(&cp[0], &s[0], (enum syncconn_transport)t, true, SYNC_MODE_RECONCILE);
		params(&cp[1], &s[1], (enum syncconn_transport)t, false, SYNC_MODE_RECONCILE);
		if (t == SYNCCONN_B)
			cp[0].pin = fixture_pk(w.p[1]->sk);
		assert_int_equal(registry_counts(w.p[0]->reg, &before), 0);
		fill_disk(w.p[0], true);
		connect_pair(&w, s, cp);
		run(&w);
		assert_ended_for_the_disk(w.p[0], w.p[1]);
		/* the fetch was one batch: nothing of it stayed, and nothing was reported */
		assert_int_equal(w.p[0]->accepted, 0);
		assert_int_equal(held(w.p[0], FULL_RECORDS), 0);
		assert_int_equal(registry_counts(w.p[0]->reg, &after), 0);
		assert_int_equal(after.records, before.records);

		/* room again: the next session fetches all of it */
		fill_disk(w.p[0], false);
		forget_results(&w);
		connect_pair(&w, s, cp);
		run(&w);
		assert_int_equal(w.p[0]->res.result, 0);
		assert_int_equal(w.p[1]->res.result, 0);
		assert_int_equal(w.p[0]->accepted, FULL_RECORDS);
		assert_int_equal(held(w.p[0], FULL_RECORDS), FULL_RECORDS);
		world_fini(&w);
	}
}

static void a_full_disk_ends_a_push_as_our_fault_not_the_pushers(void **state)
{
	static const int both[] = { 0, 1 };
	uint8_t(*ids)[REC_ID_SIZE] = calloc(SYNCCONN_PUSH_MAX, REC_ID_SIZE);

	(void)state;
	assert_non_null(ids);
	for (int statement_only = 0; statement_only < 2; statement_only++) {
		struct world w;
		struct side s[2];
		struct syncconn_params cp[2];
		size_t stored;

		world_init(&w, s, peer_new(0, both, 2), peer_new(1, both, 2));
		put_many(w.p[0], SYNCCONN_PUSH_MAX, ids);
		params(&cp[0], &s[0], SYNCCONN_A, true, SYNC_MODE_PUSH);
		params(&cp[1], &s[1], SYNCCONN_A, false, SYNC_MODE_RECONCILE);
		cp[0].push = (const uint8_t(*)[REC_ID_SIZE])ids;
		cp[0].n_push = SYNCCONN_PUSH_MAX;
		if (statement_only)
			undo_statement_only(w.p[1]);
		fill_disk(w.p[1], true);
		connect_pair(&w, s, cp);
		run(&w);
		/* not REPLAY with a strike: the pushes our disk could not take were not
		 * replays */
		assert_ended_for_the_disk(w.p[1], w.p[0]);
		/* each PUSH frame is a batch: the first ones fitted, whole, and were
		 * reported */
		stored = held(w.p[1], SYNCCONN_PUSH_MAX);
		assert_true(stored > 0);
		assert_true(stored < SYNCCONN_PUSH_MAX);
		assert_int_equal(w.p[1]->accepted, stored);

		/* room again: the same push stores the rest */
		fill_disk(w.p[1], false);
		forget_results(&w);
		connect_pair(&w, s, cp);
		run(&w);
		assert_int_equal(w.p[0]->res.result, 0);
		assert_int_equal(w.p[1]->res.result, 0);
		assert_int_equal(w.p[1]->accepted, SYNCCONN_PUSH_MAX - stored);
		assert_int_equal(held(w.p[1], SYNCCONN_PUSH_MAX), SYNCCONN_PUSH_MAX);
		world_fini(&w);
	}
	free(ids);
}

/* ---- a peer that breaks the transport (the test writes its bytes) ---------------------------- */

struct raw {
	struct world w;
	struct side s;
	struct bufferevent *bev[2];
	struct peer *victim;
};

/* The victim is a transport B server on bev[1]; the test speaks on bev[0]. */
static void raw_init(struct raw *r)
{
	static const int one[] = { 0 };
	struct syncconn_params cp;

	memset(r, 0, sizeof(*r));
	r->w.base = event_base_new();
	assert_non_null(r->w.base);
	r->victim = peer_new(1, one, 1);
	r->s.w = &r->w;
	r->s.p = r->victim;
	pair(&r->w, r->bev);
	params(&cp, &r->s, SYNCCONN_B, false, SYNC_MODE_RECONCILE);
	assert_int_equal(syncconn_new(r->w.base, r->bev[1], &cp, &r->victim->conn), 0);
	r->w.open = 1;
}

static void raw_fini(struct raw *r)
{
	if (r->bev[0] != NULL)
		bufferevent_free(r->bev[0]);
	peer_free(r->victim);
	drain_loop(r->w.base);
	event_base_free(r->w.base);
}

static void raw_send(struct raw *r, const void *p, size_t n)
{
	assert_int_equal(bufferevent_write(r->bev[0], p, n), 0);
}

static void an_empty_or_oversized_handshake_message_ends_it_with_a_strike(void **state)
{
	static const char *const hdr[] = { "\x00\x00\x00\x00", "\x00\x01\x00\x00" };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct raw r;

		raw_init(&r);
		raw_send(&r, hdr[i], 4);
		run(&r.w);
		assert_int_equal(r.victim->res.result, -EPROTO);
		assert_true(r.victim->res.strike);
		assert_false(r.victim->res.established);
		raw_fini(&r);
	}
}

static void a_forged_client_hello_ends_the_handshake_with_a_strike(void **state)
{
	uint8_t hello[SESSION_HANDSHAKE_MAX], sk[REC_SECRET_SIZE];
	struct session ses;
	struct evbuffer *b = evbuffer_new();
	size_t len;
	struct raw r;

	(void)state;
	assert_non_null(b);
	raw_init(&r);
	fixture_key(K_HOST + 0, sk);
	assert_int_equal(session_client_init(&ses, mesh_id, sk, NULL, hello, sizeof(hello), &len),
			 0);
	hello[0] ^= 0xff; /* not "MNS" */
	assert_int_equal(syncconn_frame_add(b, hello, len), 0);
	assert_int_equal(bufferevent_write_buffer(r.bev[0], b), 0);
	run(&r.w);
	assert_int_equal(r.victim->res.result, -EPROTO);
	assert_true(r.victim->res.strike);
	session_clear(&ses);
	evbuffer_free(b);
	raw_fini(&r);
}

static void a_client_hello_of_another_mesh_is_refused_without_a_strike(void **state)
{
	uint8_t hello[SESSION_HANDSHAKE_MAX], sk[REC_SECRET_SIZE], other[REC_ID_SIZE];
	struct session ses;
	struct evbuffer *b = evbuffer_new();
	size_t len;
	struct raw r;

	(void)state;
	assert_non_null(b);
	raw_init(&r);
	fixture_key(K_HOST + 0, sk);
	memset(other, 0x55, sizeof(other));
	assert_int_equal(session_client_init(&ses, other, sk, NULL, hello, sizeof(hello), &len), 0);
	assert_int_equal(syncconn_frame_add(b, hello, len), 0);
	assert_int_equal(bufferevent_write_buffer(r.bev[0], b), 0);
	run(&r.w);
	assert_int_equal(r.victim->res.result, -EXDEV);
	assert_false(r.victim->res.strike);
	session_clear(&ses);
	evbuffer_free(b);
	raw_fini(&r);
}

/* Plays a transport B client by hand up to an established session; returns the session. */
static void raw_handshake(struct raw *r, struct session *ses)
{
	uint8_t msg[SESSION_HANDSHAKE_MAX], reply[SESSION_HANDSHAKE_MAX], sk[REC_SECRET_SIZE];
	struct evbuffer *b = evbuffer_new(), *in;
	size_t len, rlen;

	assert_non_null(b);
	fixture_key(K_HOST + 0, sk);
	assert_int_equal(session_client_init(ses, mesh_id, sk, NULL, msg, sizeof(msg), &len), 0);
	assert_int_equal(syncconn_frame_add(b, msg, len), 0);
	assert_int_equal(bufferevent_write_buffer(r->bev[0], b), 0);
	/* the server hello */
	in = bufferevent_get_input(r->bev[0]);
	bufferevent_enable(r->bev[0], EV_READ);
	for (int i = 0; i < 200 && evbuffer_get_length(in) < 4 + SESSION_SERVER_HELLO_SIZE; i++)
		event_base_loop(r->w.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(syncconn_frame_take(in, msg, sizeof(msg), &len), 1);
	assert_int_equal(session_handshake(ses, msg, len, reply, sizeof(reply), &rlen), 0);
	assert_true(session_established(ses));
	assert_int_equal(syncconn_frame_add(b, reply, rlen), 0);
	assert_int_equal(bufferevent_write_buffer(r->bev[0], b), 0);
	evbuffer_free(b);
}

static void a_sealed_message_that_does_not_open_ends_the_session_with_a_strike(void **state)
{
	struct session ses;
	uint8_t junk[64];
	struct evbuffer *b = evbuffer_new();
	struct raw r;

	(void)state;
	assert_non_null(b);
	raw_init(&r);
	raw_handshake(&r, &ses);
	memset(junk, 0xa5, sizeof(junk));
	assert_int_equal(syncconn_frame_add(b, junk, sizeof(junk)), 0);
	assert_int_equal(bufferevent_write_buffer(r.bev[0], b), 0);
	run(&r.w);
	assert_true(r.victim->res.established);
	assert_true(r.victim->res.had_session);
	assert_int_equal(r.victim->res.result, -EPROTO);
	assert_true(r.victim->res.strike);
	session_clear(&ses);
	evbuffer_free(b);
	raw_fini(&r);
}

static void a_stream_that_ends_without_final_is_a_truncated_session(void **state)
{
	struct session ses;
	struct raw r;

	(void)state;
	raw_init(&r);
	raw_handshake(&r, &ses);
	/* the client's end of stream, with no FINAL message and no HELLO */
	bufferevent_flush(r.bev[0], EV_WRITE, BEV_FINISHED);
	run(&r.w);
	assert_true(r.victim->res.established);
	assert_int_equal(r.victim->res.result, -ECONNRESET);
	assert_int_equal(r.victim->res.reason, SYNC_ERR_CLOSED);
	assert_false(r.victim->res.strike);
	session_clear(&ses);
	raw_fini(&r);
}

static void a_sync_frame_over_64k_inside_a_sealed_message_is_a_strike(void **state)
{
	uint8_t plain[16], sealed[16 + SESSION_OVERHEAD];
	struct evbuffer *b = evbuffer_new();
	struct session ses;
	size_t len;
	struct raw r;

	(void)state;
	assert_non_null(b);
	raw_init(&r);
	raw_handshake(&r, &ses);
	memset(plain, 0, sizeof(plain));
	memcpy(plain, "\x00\x01\x00\x00", 4); /* a sync frame header announcing 65536 + 4 */
	assert_int_equal(
		session_seal(&ses, plain, sizeof(plain), false, sealed, sizeof(sealed), &len), 0);
	assert_int_equal(syncconn_frame_add(b, sealed, len), 0);
	assert_int_equal(bufferevent_write_buffer(r.bev[0], b), 0);
	run(&r.w);
	assert_int_equal(r.victim->res.reason, SYNC_ERR_FRAME);
	assert_int_equal(r.victim->res.result, -EPROTO);
	assert_true(r.victim->res.strike);
	session_clear(&ses);
	evbuffer_free(b);
	raw_fini(&r);
}

static int setup(void **state)
{
	struct rec r;

	(void)state;
	now_s = (uint64_t)time(NULL);
	fixture_key(K_ADMIN, admin_sk);
	fixture_root(&r, admin_sk);
	root_len = sign(&r, admin_sk, root_buf);
	rec_mesh_id(root_buf, root_len, mesh_id);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_framed_message_comes_back_whole_and_only_when_all_of_it_arrived),
		cmocka_unit_test(a_length_of_zero_or_over_the_limit_ends_the_stream_on_its_header),
		cmocka_unit_test(transport_a_reconciles_both_ways),
		cmocka_unit_test(transport_b_reconciles_both_ways_after_the_handshake),
		cmocka_unit_test(a_push_session_stores_the_pushed_records_over_either_transport),
		cmocka_unit_test(a_transport_b_peer_pushes_its_own_cert_to_a_peer_that_lacks_it),
		cmocka_unit_test(a_server_other_than_the_pinned_key_is_refused_before_any_session),
		cmocka_unit_test(a_server_that_refuses_the_proven_peer_runs_no_session),
		cmocka_unit_test(a_banned_peer_is_told_so_before_the_close),
		cmocka_unit_test(
			a_full_disk_ends_a_fetch_as_our_fault_and_the_next_session_fetches_it),
		cmocka_unit_test(a_full_disk_ends_a_push_as_our_fault_not_the_pushers),
		cmocka_unit_test(an_empty_or_oversized_handshake_message_ends_it_with_a_strike),
		cmocka_unit_test(a_forged_client_hello_ends_the_handshake_with_a_strike),
		cmocka_unit_test(a_client_hello_of_another_mesh_is_refused_without_a_strike),
		cmocka_unit_test(
			a_sealed_message_that_does_not_open_ends_the_session_with_a_strike),
		cmocka_unit_test(a_stream_that_ends_without_final_is_a_truncated_session),
		cmocka_unit_test(a_sync_frame_over_64k_inside_a_sealed_message_is_a_strike),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, NULL);
}
