/*
 * test_fetch_batch.c: what an initiator fetches goes to its store in big batches (engine.c
 * FETCH_BATCH), not one per frame, and still all of it, once; a forged record anywhere in a
 * batch keeps the whole batch out and cuts the peer off; a session cut in the middle of a
 * fetch stores nothing of the batch it had not finished, and the next one completes. Two
 * sessions back to back in memory over in-memory stores whose ingest is counted.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "../registry/fixtures.h"
#include "meshname/sync.h"

#define NOW ((uint64_t)FIXTURE_NOW)
#define NOW_MS (NOW * 1000)
#define DAY ((uint64_t)FIXTURE_DAY)
#define K_ADMIN 1
#define RECORDS 6000 /* more than one batch, many frames and WANTs */

static uint8_t admin_sk[REC_SECRET_SIZE];
static uint8_t mesh_id[REC_ID_SIZE];
static uint8_t root_buf[REC_MAX_SIZE];
static size_t root_len;
static uint8_t (*rec_buf)[REC_MAX_SIZE]; /* RECORDS signed TXT records, made once */
static size_t *rec_len;

/* A store that counts the batches handed to the in-memory store beneath it. */
struct counted {
	struct sync_store st; /* first: handed to the session */
	struct sync_store *mem;
	size_t batches, records, largest;
	unsigned accepted, done, failed;
	int reason;
};

static int c_foreach(void *arg, uint64_t now, sync_item_fn fn, void *fn_arg)
{
	struct counted *c = arg;

	return c->mem->foreach_item(c->mem->arg, now, fn, fn_arg);
}

static int c_get(void *arg, const uint8_t id[REC_ID_SIZE], uint8_t *buf, size_t *len)
{
	struct counted *c = arg;

	return c->mem->get(c->mem->arg, id, buf, len);
}

static int c_ingest(void *arg, const struct registry_item *items, size_t n, uint64_t now,
		    enum ingest_result *res, int *err)
{
	struct counted *c = arg;

	c->batches++;
	c->records += n;
	if (n > c->largest)
		c->largest = n;
	return c->mem->ingest(c->mem->arg, items, n, now, res, err);
}

static struct counted *counted_new(void)
{
	struct counted *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(sync_store_mem_new(mesh_id, &c->mem), 0);
	assert_int_equal(sync_store_mem_add(c->mem, root_buf, root_len), 0);
	c->st.arg = c;
	c->st.foreach_item = c_foreach;
	c->st.get = c_get;
	c->st.ingest = c_ingest;
	return c;
}

static void counted_free(struct counted *c)
{
	sync_store_mem_free(c->mem);
	free(c);
}

static void on_event(void *arg, const struct sync_event *ev)
{
	struct counted *c = arg;

	if (ev->kind == SYNC_EV_ACCEPTED)
		c->accepted++;
	else if (ev->kind == SYNC_EV_DONE)
		c->done++;
	else if (ev->kind == SYNC_EV_FAILED) {
		c->failed++;
		c->reason = ev->reason;
	}
}

static struct sync_session *open_session(struct counted *c, bool initiator)
{
	struct sync_config cfg;
	struct sync_session *s = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.store = &c->st;
	memcpy(cfg.mesh_id, mesh_id, REC_ID_SIZE);
	cfg.initiator = initiator;
	cfg.mode = SYNC_MODE_RECONCILE;
	cfg.self_role = SYNC_ROLE_MEMBER;
	cfg.peer_role = SYNC_ROLE_MEMBER;
	sync_limits_default(&cfg.limits);
	cfg.event = on_event;
	cfg.event_arg = c;
	assert_int_equal(sync_session_new(&cfg, NOW_MS, &s), 0);
	return s;
}

/*
 * Moves bytes between the sessions until neither has anything to send, or (cut > 0)
 * until that many RECORDS frames went from s[1] to s[0]; then s[0] sees the stream end.
 * tamper: flip the last byte of the tamper-th RECORDS frame s[1] sends (its last record's
 * signature). Returns the RECORDS frames delivered.
 */
static size_t wants_at_once; /* the most WANT frames s[0] had out before an answer */

static size_t pump(struct sync_session *s[2], size_t cut, size_t tamper)
{
	size_t records_frames = 0, wants = 0;
	bool moved = true;

	wants_at_once = 0;
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
			/* frame by frame, so that a cut falls between frames */
			while (off + 5 <= len && sync_session_state(s[1 - i]) == SYNC_RUNNING) {
				size_t n = (size_t)copy[off] << 24 | (size_t)copy[off + 1] << 16 |
					   (size_t)copy[off + 2] << 8 | copy[off + 3];

				if (i == 0 && copy[off + 4] == SYNC_MSG_WANT &&
				    ++wants > wants_at_once)
					wants_at_once = wants;
				if (i == 1 && copy[off + 4] == SYNC_MSG_RECORDS)
					wants = 0; /* an answer: what s[0] sends next is counted anew */
				if (i == 1 && copy[off + 4] == SYNC_MSG_RECORDS) {
					if (cut > 0 && records_frames == cut) {
						sync_session_eof(s[0], NOW_MS);
						break;
					}
					if (++records_frames == tamper)
						copy[off + 4 + n - 1] ^= 1;
				}
				assert_int_equal(sync_session_feed(s[1 - i], copy + off, n + 4,
								   NOW_MS),
						 n + 4);
				off += n + 4;
			}
			free(copy);
		}
	}
	return records_frames;
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
		fixture_txt(&r, mesh_id, owner, NOW - (uint64_t)(i % 1000), NOW + DAY);
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

/* b holds every record, a only the ROOT. */
static void pair(struct counted **a, struct counted **b)
{
	*a = counted_new();
	*b = counted_new();
	for (int i = 0; i < RECORDS; i++)
		assert_int_equal(sync_store_mem_add((*b)->mem, rec_buf[i], rec_len[i]), 0);
}

static void a_cold_fetch_is_stored_in_a_few_big_batches(void **state)
{
	struct counted *a, *b;
	struct sync_session *s[2];
	size_t frames;

	(void)state;
	pair(&a, &b);
	s[0] = open_session(a, true);
	s[1] = open_session(b, false);
	frames = pump(s, 0, 0);
	assert_int_equal(sync_session_state(s[0]), SYNC_DONE);
	assert_int_equal(sync_session_state(s[1]), SYNC_DONE);
	assert_int_equal(sync_store_mem_count(a->mem), RECORDS + 1);
	assert_int_equal(a->accepted, RECORDS);
	assert_int_equal(a->records, RECORDS); /* each once */
	/* 6,000 records came in many frames but went to the store in two batches: one of at
	 * least 4,096 (a multiple of the 512 a WANT asks for), then the rest. */
	assert_true(frames >= RECORDS / SYNC_WANT_MAX);
	/* two WANTs out at once, the second answered while the first's records are used */
	assert_int_equal(wants_at_once, 2);
	assert_int_equal(a->batches, 2);
	assert_true(a->largest >= 4096);
	sync_session_free(s[0]);
	sync_session_free(s[1]);
	counted_free(a);
	counted_free(b);
}

/* A responder that offers a forged record (its id is the hash of the forged bytes, so it
 * passes the id check): the batch it lands in is rolled back whole, the peer cut off. */
static void a_forged_record_keeps_its_whole_batch_out(void **state)
{
	uint8_t forged[REC_MAX_SIZE], id[REC_ID_SIZE], got[REC_MAX_SIZE];
	struct counted *a, *b;
	struct sync_session *s[2];
	size_t len = rec_len[RECORDS / 2], stored;

	(void)state;
	pair(&a, &b);
	memcpy(forged, rec_buf[RECORDS / 2], len);
	forged[len - REC_SIG_SIZE - 1] = 'y'; /* the rdata: canonical, but not what was signed */
	assert_int_equal(sync_store_mem_add(b->mem, forged, len), 0);
	rec_id(forged, len, id);
	s[0] = open_session(a, true);
	s[1] = open_session(b, false);
	pump(s, 0, 0);
	assert_int_equal(sync_session_state(s[0]), SYNC_FAILED);
	assert_int_equal(a->reason, SYNC_ERR_RECORD);
	assert_int_equal(a->mem->get(a->mem->arg, id, got, &len), -ENOENT);
	/* what was stored is whole batches before the one with the forged record */
	stored = sync_store_mem_count(a->mem) - 1;
	assert_int_equal(stored, a->accepted);
	assert_true(stored == 0 || (stored >= 4096 && stored < RECORDS));
	assert_true(a->records >
		    stored); /* the failed batch went to the store, none of it stayed */
	sync_session_free(s[0]);
	sync_session_free(s[1]);
	counted_free(a);
	counted_free(b);
}

static void a_fetch_cut_short_stores_no_half_batch_and_the_next_session_completes(void **state)
{
	struct counted *a, *b;
	struct sync_session *s[2];

	(void)state;
	pair(&a, &b);
	s[0] = open_session(a, true);
	s[1] = open_session(b, false);
	pump(s, 4, 0); /* the stream ends after 4 RECORDS frames, before any batch is full */
	assert_int_equal(sync_session_state(s[0]), SYNC_FAILED);
	assert_int_equal(a->reason, SYNC_ERR_CLOSED);
	assert_int_equal(a->batches, 0);
	assert_int_equal(sync_store_mem_count(a->mem), 1);
	sync_session_free(s[0]);
	sync_session_free(s[1]);

	s[0] = open_session(a, true);
	s[1] = open_session(b, false);
	pump(s, 0, 0);
	assert_int_equal(sync_session_state(s[0]), SYNC_DONE);
	assert_int_equal(sync_store_mem_count(a->mem), RECORDS + 1);
	sync_session_free(s[0]);
	sync_session_free(s[1]);
	counted_free(a);
	counted_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_cold_fetch_is_stored_in_a_few_big_batches),
		cmocka_unit_test(a_forged_record_keeps_its_whole_batch_out),
		cmocka_unit_test(
			a_fetch_cut_short_stores_no_half_batch_and_the_next_session_completes),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
