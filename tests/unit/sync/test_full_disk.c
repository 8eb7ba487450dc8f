/*
 * test_full_disk.c: the receiving host's disk fills while a sync session stores records (its
 * registry capped with store_test_max_pages): a fetch, the answer to an offer and a push each
 * end the session with one sentence saying the disk is full; the peer gets no strike (three
 * such sessions in a row do not ban it); every record held is whole and the peer's, and a
 * batch is stored whole or not at all; once there is room again the next session brings the
 * rest and both registries agree. Two real registries in mkdtemp dirs, sessions back to back
 * in memory, a fixed clock.
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
#include "registry/store.h" /* store_test_max_pages: the full-disk hook */

#define NOW ((uint64_t)FIXTURE_NOW)
#define NOW_MS (NOW * 1000)
#define DAY ((uint64_t)FIXTURE_DAY)
#define K_ADMIN 1
#define RECORDS 600 /* more than one WANT, far more than two pages */
#define PUSHED 200  /* a push session's records (the daemon pushes at most 256) */
#define DISK_FULL "cannot store records: the disk is full"

static uint8_t admin_sk[REC_SECRET_SIZE];
static uint8_t root_buf[REC_MAX_SIZE];
static size_t root_len;
static uint8_t mesh_id[REC_ID_SIZE];
static uint8_t (*rec_buf)[REC_MAX_SIZE]; /* RECORDS admin-signed TXT records, made once */
static size_t *rec_len;

/* One host: its registry, and what its sessions reported. */
struct host {
	char dir[64];
	char path[96];
	struct registry *reg;
	struct sync_store *store;
	unsigned accepted, done, failed, strikes;
	int reason;
	bool remote;
	const char *detail;
};

static void on_event(void *arg, const struct sync_event *ev)
{
	struct host *h = arg;

	if (ev->kind == SYNC_EV_ACCEPTED) {
		h->accepted++;
	} else if (ev->kind == SYNC_EV_DONE) {
		h->done++;
	} else {
		h->failed++;
		h->reason = ev->reason;
		h->remote = ev->remote;
		h->detail = ev->detail;
		h->strikes += ev->strike;
	}
}

static struct host *host_new(bool defer_view)
{
	struct host *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	snprintf(h->dir, sizeof(h->dir), "/tmp/meshname-full-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	snprintf(h->path, sizeof(h->path), "%s/registry.db", h->dir);
	assert_int_equal(registry_open(h->path, &h->reg), 0);
	assert_int_equal(registry_create(h->reg, root_buf, root_len, NOW), 0);
	assert_int_equal(sync_store_registry_new(h->reg, &h->store), 0);
	sync_store_registry_defer_view(h->store, defer_view);
	return h;
}

static void host_free(struct host *h)
{
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
	char p[128];

	sync_store_registry_free(h->store);
	registry_close(h->reg);
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", h->path, suffix[i]);
		unlink(p);
	}
	assert_int_equal(rmdir(h->dir), 0);
	free(h);
}

/* The source: a host holding the ROOT and records [0, n). */
static struct host *source_new(size_t n)
{
	struct host *h = host_new(true);
	struct registry_item *items = calloc(n, sizeof(*items));
	enum ingest_result *res = calloc(n, sizeof(*res));
	int *err = calloc(n, sizeof(*err));

	assert_non_null(items);
	assert_non_null(res);
	assert_non_null(err);
	for (size_t i = 0; i < n; i++) {
		items[i].buf = rec_buf[i];
		items[i].len = rec_len[i];
	}
	assert_int_equal(registry_ingest_many(h->reg, items, n, NOW, res, err), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(err[i], 0);
	free(items);
	free(res);
	free(err);
	return h;
}

static uint64_t records(struct host *h)
{
	struct registry_counts c;

	assert_int_equal(registry_counts(h->reg, &c), 0);
	return c.records;
}

/* Caps h's database a page above what it holds now: the next few records fill it. */
static void fill_disk(struct host *h)
{
	sqlite3_stmt *st;
	int pages;

	assert_int_equal(sqlite3_prepare_v2(h->reg->db, "PRAGMA page_count", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	pages = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	assert_int_equal(store_test_max_pages(h->reg, (unsigned)pages + 1), 0);
}

/*
 * How sqlite answers the full disk: it undoes the whole transaction (what it does for the
 * registry's writes as they are), or only the failing statement when that statement keeps a
 * statement journal (sqlite documents both). A no-op TEMP trigger on the record table gives
 * the registry's INSERT one: the registry then reports -ENOSPC for each record that did not
 * fit while the batch goes on.
 */
enum undo { UNDO_TRANSACTION, UNDO_STATEMENT };

static void undo_mode(struct host *h, enum undo undo)
{
	if (undo == UNDO_STATEMENT)
		assert_int_equal(sqlite3_exec(h->reg->db,
					      "CREATE TEMP TRIGGER statement_journal AFTER INSERT"
					      " ON main.record BEGIN SELECT 1; END",
					      NULL, NULL, NULL),
				 SQLITE_OK);
}

static void free_disk(struct host *h)
{
	assert_int_equal(store_test_max_pages(h->reg, 0), 0);
}

/* Every record h holds verifies and is, byte for byte, one the source holds. */
struct whole {
	struct host *src;
	size_t n;
};

static int check_whole(void *arg, const uint8_t *buf, size_t len)
{
	struct whole *w = arg;
	uint8_t id[REC_ID_SIZE], got[REC_MAX_SIZE];
	size_t got_len = 0;

	assert_true(rec_verify(buf, len));
	rec_id(buf, len, id);
	assert_int_equal(registry_get(w->src->reg, id, got, sizeof(got), &got_len), 0);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, buf, len);
	w->n++;
	return 0;
}

static size_t whole_records(struct host *h, struct host *src)
{
	struct whole w = { src, 0 };

	assert_int_equal(registry_foreach(h->reg, check_whole, &w), 0);
	assert_int_equal(w.n, records(h));
	return w.n;
}

static struct sync_session *open_session(struct host *h, bool initiator, enum sync_mode mode)
{
	struct sync_config cfg;
	struct sync_session *s = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.store = h->store;
	memcpy(cfg.mesh_id, mesh_id, REC_ID_SIZE);
	cfg.initiator = initiator;
	cfg.mode = mode;
	cfg.self_role = SYNC_ROLE_MEMBER;
	cfg.peer_role = SYNC_ROLE_MEMBER;
	sync_limits_default(&cfg.limits);
	cfg.event = on_event;
	cfg.event_arg = h;
	assert_int_equal(sync_session_new(&cfg, NOW_MS, &s), 0);
	return s;
}

/* Moves bytes both ways until neither session has anything to send. */
static void pump(struct sync_session *s[2])
{
	bool moved = true;

	while (moved) {
		moved = false;
		for (int i = 0; i < 2; i++) {
			size_t len, off = 0;
			const uint8_t *out = sync_session_output(s[i], &len);
			uint8_t *copy;

			if (len == 0)
				continue;
			copy = malloc(len);
			assert_non_null(copy);
			memcpy(copy, out, len);
			sync_session_sent(s[i], len);
			moved = true;
			while (off < len && sync_session_state(s[1 - i]) == SYNC_RUNNING) {
				size_t used =
					sync_session_feed(s[1 - i], copy + off, len - off, NOW_MS);

				assert_true(used > 0);
				off += used;
			}
			free(copy);
		}
	}
}

/* A reconciling session, initiator first; their states after it. */
static void reconcile(struct host *initiator, struct host *responder, enum sync_state *a,
		      enum sync_state *b)
{
	struct sync_session *s[2];

	s[0] = open_session(initiator, true, SYNC_MODE_RECONCILE);
	s[1] = open_session(responder, false, SYNC_MODE_RECONCILE);
	pump(s);
	*a = sync_session_state(s[0]);
	*b = sync_session_state(s[1]);
	sync_session_free(s[0]);
	sync_session_free(s[1]);
}

/* from pushes records [0, n) to to in one push session. */
static void push(struct host *from, struct host *to, size_t n, enum sync_state *a,
		 enum sync_state *b)
{
	struct sync_session *s[2];

	s[0] = open_session(from, true, SYNC_MODE_PUSH);
	s[1] = open_session(to, false, SYNC_MODE_RECONCILE);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(sync_session_push(s[0], rec_buf[i], rec_len[i]), 0);
	sync_session_push_end(s[0]);
	pump(s);
	*a = sync_session_state(s[0]);
	*b = sync_session_state(s[1]);
	sync_session_free(s[0]);
	sync_session_free(s[1]);
}

/* The host that stored (full) failed for its own disk, said so, and the peer (other) was
 * told and struck nobody; nothing the peer can be blamed for on either side. */
static void assert_failed_for_the_disk(struct host *full, struct host *other)
{
	assert_int_equal(full->reason, SYNC_ERR_INTERNAL);
	assert_false(full->remote);
	assert_non_null(full->detail);
	assert_string_equal(full->detail, DISK_FULL);
	assert_int_equal(full->strikes, 0);
	assert_int_equal(other->reason, SYNC_ERR_INTERNAL);
	assert_true(other->remote);
	assert_int_equal(other->strikes, 0);
}

/* Both hold the same records, the same view, and a session between them agrees at once. */
static void assert_converged(struct host *a, struct host *b)
{
	uint8_t ha[32], hb[32];
	enum sync_state sa, sb;
	unsigned accepted = a->accepted + b->accepted;

	assert_int_equal(records(a), records(b));
	assert_int_equal(registry_refresh(a->reg, NOW), 0);
	assert_int_equal(registry_refresh(b->reg, NOW), 0);
	assert_int_equal(registry_state_hash(a->reg, ha), 0);
	assert_int_equal(registry_state_hash(b->reg, hb), 0);
	assert_memory_equal(ha, hb, sizeof(ha));
	reconcile(a, b, &sa, &sb);
	assert_int_equal(sa, SYNC_DONE);
	assert_int_equal(sb, SYNC_DONE);
	assert_int_equal(a->accepted + b->accepted, accepted);
}

static void a_full_disk_ends_a_fetch_with_no_strike_and_the_next_session_completes(void **state)
{
	(void)state;
	/* as meshnamed stores (the view deferred), and with the view at each commit */
	for (int run = 0; run < 4; run++) {
		bool defer = run < 2;
		struct host *a = host_new(defer), *b = source_new(RECORDS);
		struct sync_strike_config sc;
		struct sync_strikes *strikes;
		enum sync_state sa, sb;

		sync_strike_config_default(&sc);
		assert_int_equal(sync_strikes_new(&sc, &strikes), 0);
		undo_mode(a, run % 2 == 0 ? UNDO_TRANSACTION : UNDO_STATEMENT);
		fill_disk(a);
		/* Three sessions in a row, as anti-entropy would retry: a peer with three
		 * strikes would be banned. */
		for (int i = 0; i < 3; i++) {
			reconcile(a, b, &sa, &sb);
			assert_int_equal(sa, SYNC_FAILED);
			assert_int_equal(sb, SYNC_FAILED);
			assert_failed_for_the_disk(a, b);
			for (unsigned k = 0; k < a->strikes; k++)
				sync_strikes_add(strikes, (const uint8_t *)"b", 1, NOW_MS);
			assert_false(sync_strikes_banned(strikes, (const uint8_t *)"b", 1, NOW_MS,
							 NULL));
		}
		assert_int_equal(sync_strikes_count(strikes), 0);
		/* The fetch was one batch (under 4,096 records): nothing of it stayed, and the
		 * session said it stored nothing. */
		assert_int_equal(whole_records(a, b), 1);
		assert_int_equal(a->accepted, 0);
		assert_int_equal(b->failed, 3);

		free_disk(a);
		reconcile(a, b, &sa, &sb);
		assert_int_equal(sa, SYNC_DONE);
		assert_int_equal(sb, SYNC_DONE);
		assert_int_equal(a->accepted, RECORDS);
		assert_int_equal(whole_records(a, b), RECORDS + 1);
		assert_converged(a, b);
		sync_strikes_free(strikes);
		host_free(a);
		host_free(b);
	}
}

/* The peer offers what we lack (we are the responder): the RECORDS answering our WANT. */
static void a_full_disk_ends_the_answer_to_an_offer_with_no_strike(void **state)
{
	(void)state;
	for (int undo = UNDO_TRANSACTION; undo <= UNDO_STATEMENT; undo++) {
		struct host *a = host_new(true), *b = source_new(RECORDS);
		enum sync_state sa, sb;

		undo_mode(a, (enum undo)undo);
		fill_disk(a);
		reconcile(b, a, &sb, &sa);
		assert_int_equal(sa, SYNC_FAILED);
		assert_int_equal(sb, SYNC_FAILED);
		assert_failed_for_the_disk(a, b);
		/* Each RECORDS frame is a batch: those stored before the disk filled are
		 * whole and were reported, nothing of the frame that did not fit stayed. */
		assert_int_equal(whole_records(a, b), 1 + a->accepted);
		assert_true(a->accepted < RECORDS);

		free_disk(a);
		reconcile(b, a, &sb, &sa);
		assert_int_equal(sa, SYNC_DONE);
		assert_int_equal(sb, SYNC_DONE);
		assert_int_equal(a->accepted, RECORDS);
		assert_int_equal(whole_records(a, b), RECORDS + 1);
		assert_converged(a, b);
		host_free(a);
		host_free(b);
	}
}

static void a_full_disk_ends_a_push_with_no_strike_and_no_replay(void **state)
{
	(void)state;
	for (int undo = UNDO_TRANSACTION; undo <= UNDO_STATEMENT; undo++) {
		struct host *a = host_new(true), *b = source_new(PUSHED);
		enum sync_state sa, sb;

		undo_mode(a, (enum undo)undo);
		fill_disk(a);
		push(b, a, PUSHED, &sb, &sa);
		assert_int_equal(sa, SYNC_FAILED);
		assert_int_equal(sb, SYNC_FAILED);
		/* not REPLAY: records our disk could not take are not records the peer
		 * replayed */
		assert_failed_for_the_disk(a, b);
		assert_int_equal(whole_records(a, b), 1 + a->accepted);
		assert_true(a->accepted > 0); /* the first pushes fitted */
		assert_true(a->accepted < PUSHED);

		/* room again: anti-entropy brings what the push could not store */
		free_disk(a);
		reconcile(a, b, &sa, &sb);
		assert_int_equal(sa, SYNC_DONE);
		assert_int_equal(sb, SYNC_DONE);
		assert_int_equal(a->accepted, PUSHED);
		assert_int_equal(whole_records(a, b), PUSHED + 1);
		assert_converged(a, b);
		host_free(a);
		host_free(b);
	}
}

static int setup(void **state)
{
	struct rec root;

	(void)state;
	fixture_key(K_ADMIN, admin_sk);
	fixture_root(&root, admin_sk);
	assert_int_equal(rec_sign(&root, admin_sk, root_buf, sizeof(root_buf), &root_len), 0);
	rec_id(root_buf, root_len, mesh_id);
	rec_buf = calloc(RECORDS, sizeof(*rec_buf));
	rec_len = calloc(RECORDS, sizeof(*rec_len));
	assert_non_null(rec_buf);
	assert_non_null(rec_len);
	for (int i = 0; i < RECORDS; i++) {
		struct rec r;

		char owner[16];

		snprintf(owner, sizeof(owner), "txt%d", i);
		fixture_txt(&r, mesh_id, owner, NOW - (uint64_t)(i % 100), NOW + DAY);
		assert_int_equal(rec_sign(&r, admin_sk, rec_buf[i], REC_MAX_SIZE, &rec_len[i]), 0);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(rec_buf);
	free(rec_len);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			a_full_disk_ends_a_fetch_with_no_strike_and_the_next_session_completes),
		cmocka_unit_test(a_full_disk_ends_the_answer_to_an_offer_with_no_strike),
		cmocka_unit_test(a_full_disk_ends_a_push_with_no_strike_and_no_replay),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
