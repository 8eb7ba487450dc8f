/* Build: clang -std=c11 -D_GNU_SOURCE -g -fsanitize=fuzzer,address,undefined -Iinclude -Isrc
 *   tests/fuzz/fuzz_sync.c and the sources of src/sync, src/registry and src/common,
 *   $(pkg-config --cflags --libs ldns libsodium sqlite3) -o fuzz_sync
 *
 * fuzz_sync.c: feeds arbitrary bytes to a sync session (frame decoder, message decoders,
 * state machine) as a peer would, over an in-memory store holding a few signed records.
 * Input: byte 0 picks the session (bits 0-1: responder to a member, responder to a
 * non-member, reconciling initiator, push initiator; bit 7: the harness first sends a
 * valid HELLO; bit 6: then a PUSH of a valid record), byte 1 the chunk size the stream
 * is cut into (0: whole), the rest is the stream. Checked: every output frame is at most
 * 64 KiB and well framed, a failed session's last frame is its ERROR, events agree with
 * the state, and the store holds exactly the records reported accepted.
 * Without libFuzzer: `make fuzz-replay` replays tests/fuzz/seeds/fuzz_sync/.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "meshname/sync.h"

#define NOW ((uint64_t)1700000000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t mesh_id[REC_ID_SIZE];
static uint8_t recs[4][REC_MAX_SIZE];
static size_t lens[4];

struct seen {
	unsigned accepted, done, failed;
	int reason;
	bool strike;
};

static void on_event(void *arg, const struct sync_event *ev)
{
	struct seen *s = arg;

	if (ev->kind == SYNC_EV_ACCEPTED)
		s->accepted++;
	else if (ev->kind == SYNC_EV_DONE)
		s->done++;
	else if (ev->kind == SYNC_EV_FAILED) {
		s->failed++;
		s->reason = ev->reason;
		s->strike = ev->strike;
	}
}

/* Records 0..2 in the store, 3 offered by the harness's PUSH: TXT records signed by a
 * fixed key (the in-memory store checks signatures, not authority). */
static void init(void)
{
	uint8_t sk[crypto_sign_SECRETKEYBYTES], pk[crypto_sign_PUBLICKEYBYTES], seed[32];

	if (sodium_init() < 0)
		abort();
	memset(mesh_id, 0x4d, sizeof(mesh_id));
	memset(seed, 7, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	for (int i = 0; i < 4; i++) {
		struct rec r;

		memset(&r, 0, sizeof(r));
		r.type = REC_RECORD;
		memcpy(r.mesh_id, mesh_id, REC_ID_SIZE);
		r.seq = 1;
		r.issued_at = NOW - (uint64_t)i;
		r.expires_at = NOW + 86400;
		r.u.record.op = REC_OP_ADD;
		snprintf(r.u.record.owner, sizeof(r.u.record.owner), "r%d", i);
		r.u.record.rrtype = 16;
		r.u.record.ttl = 60;
		r.u.record.rdlen = 2;
		r.u.record.rdata[0] = 1;
		r.u.record.rdata[1] = 'x';
		if (rec_sign(&r, sk, recs[i], REC_MAX_SIZE, &lens[i]) < 0)
			abort();
	}
	sodium_memzero(sk, sizeof(sk));
}

/* Output frames: whole, within the limit; the type of the last one. */
static int check_output(const uint8_t *p, size_t n)
{
	int last = -1;

	while (n > 0) {
		size_t len;

		if (n < 5)
			abort();
		len = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
		if (len == 0 || len + 4 > SYNC_FRAME_MAX || len + 4 > n)
			abort();
		last = p[4];
		p += len + 4;
		n -= len + 4;
	}
	return last;
}

static void feed_all(struct sync_session *s, const uint8_t *p, size_t n, size_t chunk, int *last)
{
	while (n > 0 && sync_session_state(s) == SYNC_RUNNING) {
		size_t take = chunk == 0 || chunk > n ? n : chunk, used, olen;
		const uint8_t *out;

		used = sync_session_feed(s, p, take, NOW * 1000);
		out = sync_session_output(s, &olen);
		if (olen > 0) {
			*last = check_output(out, olen);
			sync_session_sent(s, olen);
		}
		if (used == 0 && sync_session_state(s) == SYNC_RUNNING && olen == 0)
			abort(); /* no progress with an empty output */
		p += used;
		n -= used;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct sync_store *st = NULL;
	struct sync_session *s = NULL;
	struct sync_config c;
	struct seen seen = { 0 };
	uint8_t pre[64 + REC_MAX_SIZE];
	size_t n_pre = 0, chunk, olen, before;
	const uint8_t *out;
	int last = -1, mode;

	if (!ready) {
		init();
		ready = true;
	}
	if (size < 2)
		return 0;
	mode = data[0];
	chunk = data[1];
	data += 2;
	size -= 2;
	if (sync_store_mem_new(mesh_id, &st) < 0)
		abort();
	for (int i = 0; i < 3; i++)
		if (sync_store_mem_add(st, recs[i], lens[i]) < 0)
			abort();
	before = sync_store_mem_count(st);
	memset(&c, 0, sizeof(c));
	c.store = st;
	memcpy(c.mesh_id, mesh_id, REC_ID_SIZE);
	c.initiator = (mode & 3) >= 2;
	c.mode = (mode & 3) == 3 ? SYNC_MODE_PUSH : SYNC_MODE_RECONCILE;
	c.self_role = SYNC_ROLE_MEMBER;
	c.peer_role = (mode & 3) == 1 ? SYNC_ROLE_NONMEMBER : SYNC_ROLE_MEMBER;
	sync_limits_default(&c.limits);
	c.event = on_event;
	c.event_arg = &seen;
	if (sync_session_new(&c, NOW * 1000, &s) < 0)
		abort();
	if ((mode & 3) == 3) {
		if (sync_session_push(s, recs[0], lens[0]) < 0)
			abort();
		sync_session_push_end(s);
	}
	out = sync_session_output(s, &olen);
	if (check_output(out, olen) < 0)
		abort();
	sync_session_sent(s, olen);

	if (mode & 0x80) {
		/* A HELLO from a member of this mesh that disagrees (count 1, zero print). */
		static const uint8_t h[] = { 0, 0, 0, 32, SYNC_MSG_HELLO, SYNC_VERSION, 0, 1 };

		memcpy(pre, h, sizeof(h));
		memcpy(pre + sizeof(h), mesh_id, SYNC_MESH_TAG_SIZE);
		memset(pre + 16, 0, 20);
		pre[19] = 1;
		if (!c.initiator)
			pre[6] = 0x02; /* push-only, so that a responder waits for PUSH */
		n_pre = 36;
	}
	if ((mode & 0x40) && n_pre > 0) {
		size_t l = lens[3];

		pre[n_pre] = 0;
		pre[n_pre + 1] = 0;
		pre[n_pre + 2] = (uint8_t)((l + 3) >> 8);
		pre[n_pre + 3] = (uint8_t)(l + 3);
		pre[n_pre + 4] = SYNC_MSG_PUSH;
		pre[n_pre + 5] = (uint8_t)(l >> 8);
		pre[n_pre + 6] = (uint8_t)l;
		memcpy(pre + n_pre + 7, recs[3], l);
		n_pre += 7 + l;
	}
	feed_all(s, pre, n_pre, 0, &last);
	feed_all(s, data, size, chunk, &last);
	sync_session_tick(s, NOW * 1000 + 1);

	switch (sync_session_state(s)) {
	case SYNC_RUNNING:
		if (seen.done + seen.failed != 0)
			abort();
		break;
	case SYNC_DONE:
		if (seen.done != 1 || seen.failed != 0)
			abort();
		break;
	case SYNC_FAILED:
		if (seen.failed != 1 || seen.done != 0 || seen.reason != sync_session_reason(s))
			abort();
		out = sync_session_output(s, &olen);
		if (olen > 0)
			last = check_output(out, olen);
		/* We sent ERROR unless the peer did. */
		if (seen.strike && last != SYNC_MSG_ERROR)
			abort();
		break;
	}
	/* Only the harness can sign: what was stored is exactly what was reported. */
	if (sync_store_mem_count(st) != before + seen.accepted)
		abort();
	sync_session_free(s);
	sync_store_mem_free(st);
	return 0;
}
