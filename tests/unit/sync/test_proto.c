/*
 * test_proto.c: the sync protocol's wire codec (frames, HELLO, record and id lists,
 * the output buffer), the reason codes and which registry errors strike, and the strike
 * table on a virtual clock (bans, their expiry and doubling, the table bound).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "meshname/sync.h"
#include "sync/proto.h"

#define MIN_MS (60 * 1000ull)
#define HOUR_MS (60 * MIN_MS)

/* ---- frames ---------------------------------------------------------------------------- */

static void a_frame_is_parsed_only_once_whole(void **state)
{
	static const uint8_t f[] = { 0, 0, 0, 3, SYNC_MSG_ERROR, 7, 9, 0xee };
	struct proto_frame fr;
	size_t n;

	(void)state;
	assert_int_equal(proto_frame_parse(f, 3, &fr, &n), -EAGAIN);
	assert_int_equal(n, 0);
	assert_int_equal(proto_frame_parse(f, 5, &fr, &n), -EAGAIN);
	assert_int_equal(n, 7);
	assert_int_equal(proto_frame_parse(f, sizeof(f), &fr, &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(fr.type, SYNC_MSG_ERROR);
	assert_int_equal(fr.len, 2);
	assert_int_equal(fr.payload[1], 9);
}

static void frame_lengths_over_64k_or_zero_are_refused_from_the_header(void **state)
{
	const uint8_t max[4] = { 0, 0, 0xff, 0xfc };  /* 65532 + 4 = 65536: the largest */
	const uint8_t over[4] = { 0, 0, 0xff, 0xfd }; /* one more */
	const uint8_t huge[4] = { 0xff, 0xff, 0xff, 0xff };
	const uint8_t zero[4] = { 0 };
	struct proto_frame fr;
	size_t n;

	(void)state;
	assert_int_equal(proto_frame_parse(max, 4, &fr, &n), -EAGAIN);
	assert_int_equal(n, SYNC_FRAME_MAX);
	assert_int_equal(proto_frame_parse(over, 4, &fr, &n), -EMSGSIZE);
	assert_int_equal(proto_frame_parse(huge, 4, &fr, &n), -EMSGSIZE);
	assert_int_equal(proto_frame_parse(zero, 4, &fr, &n), -EBADMSG);
}

static void hello_round_trips_with_and_without_a_key(void **state)
{
	struct proto_hello h = { .version = SYNC_VERSION, .role = SYNC_ROLE_NONMEMBER }, got;
	uint8_t buf[PROTO_HELLO_SIZE + REC_KEY_SIZE];
	size_t n;

	(void)state;
	h.flags = PROTO_HELLO_RESTRICTED;
	memset(h.mesh_tag, 0xab, sizeof(h.mesh_tag));
	h.count = 123456;
	memset(h.fingerprint, 0x5c, sizeof(h.fingerprint));
	n = proto_hello_encode(&h, buf);
	assert_int_equal(n, PROTO_HELLO_SIZE);
	assert_int_equal(proto_hello_decode(buf, n, &got), 0);
	assert_memory_equal(&got, &h, sizeof(h));

	h.flags |= PROTO_HELLO_KEY;
	memset(h.key, 0x11, sizeof(h.key));
	n = proto_hello_encode(&h, buf);
	assert_int_equal(n, PROTO_HELLO_SIZE + REC_KEY_SIZE);
	assert_int_equal(proto_hello_decode(buf, n, &got), 0);
	assert_memory_equal(&got, &h, sizeof(h));
	/* The key flag with no key, or a key with no flag. */
	assert_int_equal(proto_hello_decode(buf, PROTO_HELLO_SIZE, &got), -EBADMSG);
	buf[1] &= (uint8_t)~PROTO_HELLO_KEY;
	assert_int_equal(proto_hello_decode(buf, n, &got), -EBADMSG);
}

static void hello_with_unknown_flags_roles_or_version_is_refused(void **state)
{
	struct proto_hello h = { .version = SYNC_VERSION, .role = SYNC_ROLE_MEMBER }, got;
	uint8_t buf[PROTO_HELLO_SIZE + REC_KEY_SIZE];
	size_t n = proto_hello_encode(&h, buf);

	(void)state;
	buf[1] = 0x08;
	assert_int_equal(proto_hello_decode(buf, n, &got), -EBADMSG);
	buf[1] = 0;
	buf[2] = 0;
	assert_int_equal(proto_hello_decode(buf, n, &got), -EBADMSG);
	buf[2] = 4;
	assert_int_equal(proto_hello_decode(buf, n, &got), -EBADMSG);
	buf[2] = SYNC_ROLE_MEMBER;
	assert_int_equal(proto_hello_decode(buf, n - 1, &got), -EBADMSG);
	/* Another version: only its first byte is read, whatever follows. */
	buf[0] = 2;
	assert_int_equal(proto_hello_decode(buf, 1, &got), -EPROTONOSUPPORT);
	assert_int_equal(proto_hello_decode(buf, 0, &got), -EBADMSG);
}

static void record_lists_refuse_empty_oversized_and_truncated_records(void **state)
{
	uint8_t buf[2 * (REC_MAX_SIZE + 2)];
	const uint8_t *p = buf, *rec;
	size_t n, len;

	(void)state;
	memset(buf, 0x33, sizeof(buf));
	buf[0] = 0;
	buf[1] = 3;
	buf[5] = REC_MAX_SIZE >> 8;
	buf[6] = REC_MAX_SIZE & 0xff;
	n = 5 + 2 + REC_MAX_SIZE;
	assert_int_equal(proto_records_next(&p, &n, &rec, &len), 1);
	assert_int_equal(len, 3);
	assert_ptr_equal(rec, buf + 2);
	assert_int_equal(proto_records_next(&p, &n, &rec, &len), 1);
	assert_int_equal(len, REC_MAX_SIZE);
	assert_int_equal(proto_records_next(&p, &n, &rec, &len), 0);

	p = buf;
	n = 4; /* announces 3, holds 2 */
	assert_int_equal(proto_records_next(&p, &n, &rec, &len), -EBADMSG);
	buf[0] = 0;
	buf[1] = 0;
	p = buf;
	n = 10;
	assert_int_equal(proto_records_next(&p, &n, &rec, &len), -EBADMSG);
	buf[0] = (REC_MAX_SIZE + 1) >> 8;
	buf[1] = (REC_MAX_SIZE + 1) & 0xff;
	p = buf;
	n = sizeof(buf);
	assert_int_equal(proto_records_next(&p, &n, &rec, &len), -EBADMSG);
	p = buf;
	n = 1;
	assert_int_equal(proto_records_next(&p, &n, &rec, &len), -EBADMSG);
}

static void id_lists_are_whole_ids_and_at_most_512(void **state)
{
	size_t n;

	(void)state;
	assert_int_equal(proto_ids_count(0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(proto_ids_count(SYNC_WANT_MAX * REC_ID_SIZE, &n), 0);
	assert_int_equal(n, SYNC_WANT_MAX);
	assert_int_equal(proto_ids_count((SYNC_WANT_MAX + 1) * REC_ID_SIZE, &n), -EBADMSG);
	assert_int_equal(proto_ids_count(33, &n), -EBADMSG);
}

static void the_output_keeps_frames_in_order_across_partial_sends(void **state)
{
	struct proto_out o = { .open_frame = SIZE_MAX };
	uint8_t big[PROTO_PAYLOAD_MAX + 1];
	struct proto_frame fr;
	size_t n;

	(void)state;
	memset(big, 7, sizeof(big));
	assert_int_equal(proto_out_frame(&o, SYNC_MSG_DONE, NULL, 0), 0);
	assert_int_equal(proto_out_frame(&o, SYNC_MSG_NEG, big, 5000), 0);
	assert_int_equal(proto_out_frame(&o, SYNC_MSG_NEG, big, sizeof(big)), -EMSGSIZE);
	assert_int_equal(proto_out_pending(&o), 5 + 5005);
	proto_out_consume(&o, 3);
	/* A frame added after a partial send lands after what is pending. */
	assert_int_equal(proto_out_frame(&o, SYNC_MSG_ERROR, big, 1), 0);
	proto_out_consume(&o, 2);
	assert_int_equal(proto_frame_parse(o.data + o.off, proto_out_pending(&o), &fr, &n), 0);
	assert_int_equal(fr.type, SYNC_MSG_NEG);
	assert_int_equal(fr.len, 5000);
	proto_out_consume(&o, n);
	assert_int_equal(proto_frame_parse(o.data + o.off, proto_out_pending(&o), &fr, &n), 0);
	assert_int_equal(fr.type, SYNC_MSG_ERROR);
	proto_out_consume(&o, n);
	assert_int_equal(proto_out_pending(&o), 0);

	/* A frame filled piece by piece stops at 64 KiB. */
	assert_int_equal(proto_out_open(&o, SYNC_MSG_PUSH), 0);
	assert_int_equal(proto_out_room(&o), PROTO_PAYLOAD_MAX);
	assert_int_equal(proto_out_append(&o, big, PROTO_PAYLOAD_MAX), 0);
	assert_int_equal(proto_out_append(&o, big, 1), -EMSGSIZE);
	proto_out_close(&o);
	assert_int_equal(proto_frame_parse(o.data + o.off, proto_out_pending(&o), &fr, &n), 0);
	assert_int_equal(n, SYNC_FRAME_MAX);
	proto_out_free(&o);
}

static void error_frames_and_reasons(void **state)
{
	uint8_t buf[8];
	struct proto_frame fr;
	size_t n;

	(void)state;
	assert_int_equal(sync_error_frame(SYNC_ERR_BANNED, buf), 6);
	assert_int_equal(proto_frame_parse(buf, 6, &fr, &n), 0);
	assert_int_equal(fr.type, SYNC_MSG_ERROR);
	assert_int_equal(fr.payload[0], SYNC_ERR_BANNED);
	for (int r = 0; r <= SYNC_REASON_MAX; r++)
		assert_string_not_equal(sync_reason_str(r), "unknown reason");
	assert_string_equal(sync_reason_str(SYNC_REASON_MAX + 1), "unknown reason");
	assert_true(sync_reason_strikes(SYNC_ERR_RECORD));
	assert_true(sync_reason_strikes(SYNC_ERR_FRAME));
	assert_false(sync_reason_strikes(SYNC_ERR_RATE));
	assert_false(sync_reason_strikes(SYNC_ERR_MESH));
	assert_false(sync_reason_strikes(SYNC_ERR_TIMEOUT));
}

static void forged_malformed_and_foreign_records_are_malicious_stale_ones_are_not(void **state)
{
	static const int malicious[] = { EMSGSIZE, EPROTONOSUPPORT, EBADMSG, EXDEV, EKEYREJECTED };
	static const int benign[] = { 0,     ESTALE, EKEYEXPIRED, ERANGE, EKEYREVOKED,
				      EPERM, EINVAL, ENOENT,      EIO };

	(void)state;
	for (size_t i = 0; i < sizeof(malicious) / sizeof(malicious[0]); i++)
		assert_true(sync_err_is_malicious(-malicious[i]));
	for (size_t i = 0; i < sizeof(benign) / sizeof(benign[0]); i++)
		assert_false(sync_err_is_malicious(-benign[i]));
}

/* ---- strikes ------------------------------------------------------------------------------ */

static struct sync_strikes *table(size_t max_peers)
{
	struct sync_strike_config c;
	struct sync_strikes *t = NULL;

	sync_strike_config_default(&c);
	c.max_peers = max_peers;
	assert_int_equal(sync_strikes_new(&c, &t), 0);
	return t;
}

static void three_strikes_in_ten_minutes_ban_for_an_hour(void **state)
{
	const uint8_t key[32] = { 1 };
	struct sync_strikes *t = table(16);
	uint64_t now = 1700000000000ull, until = 0;

	(void)state;
	assert_false(sync_strikes_add(t, key, sizeof(key), now));
	assert_false(sync_strikes_add(t, key, sizeof(key), now + 4 * MIN_MS));
	assert_false(sync_strikes_banned(t, key, sizeof(key), now + 4 * MIN_MS, NULL));
	assert_true(sync_strikes_add(t, key, sizeof(key), now + 9 * MIN_MS));
	assert_true(sync_strikes_banned(t, key, sizeof(key), now + 9 * MIN_MS, &until));
	assert_int_equal(until, now + 9 * MIN_MS + HOUR_MS);
	assert_true(sync_strikes_banned(t, key, sizeof(key), until - 1, NULL));
	/* The ban expires on the virtual clock. */
	assert_false(sync_strikes_banned(t, key, sizeof(key), until, NULL));
	sync_strikes_free(t);
}

static void strikes_spread_wider_than_the_window_never_ban(void **state)
{
	const uint8_t addr[4] = { 192, 0, 2, 1 };
	struct sync_strikes *t = table(16);
	uint64_t now = 1700000000000ull;

	(void)state;
	for (int i = 0; i < 20; i++)
		assert_false(
			sync_strikes_add(t, addr, sizeof(addr), now + (uint64_t)i * 6 * MIN_MS));
	assert_false(sync_strikes_banned(t, addr, sizeof(addr), now + 200 * MIN_MS, NULL));
	sync_strikes_free(t);
}

static void a_repeat_offender_is_banned_twice_as_long_until_forgotten(void **state)
{
	const uint8_t key[32] = { 2 };
	struct sync_strikes *t = table(16);
	uint64_t now = 1700000000000ull, until = 0;

	(void)state;
	for (int i = 0; i < 3; i++)
		sync_strikes_add(t, key, sizeof(key), now);
	assert_true(sync_strikes_banned(t, key, sizeof(key), now, &until));
	assert_int_equal(until, now + HOUR_MS);
	/* Strikes while banned change nothing. */
	assert_true(sync_strikes_add(t, key, sizeof(key), now + MIN_MS));
	now = until;
	for (int i = 0; i < 3; i++)
		sync_strikes_add(t, key, sizeof(key), now);
	assert_true(sync_strikes_banned(t, key, sizeof(key), now, &until));
	assert_int_equal(until, now + 2 * HOUR_MS);
	now = until;
	for (int i = 0; i < 3; i++)
		sync_strikes_add(t, key, sizeof(key), now);
	assert_true(sync_strikes_banned(t, key, sizeof(key), now, &until));
	assert_int_equal(until, now + 4 * HOUR_MS);
	/* A day without strikes: the next ban is an hour again. */
	now = until + 25 * HOUR_MS;
	for (int i = 0; i < 3; i++)
		sync_strikes_add(t, key, sizeof(key), now);
	assert_true(sync_strikes_banned(t, key, sizeof(key), now, &until));
	assert_int_equal(until, now + HOUR_MS);
	sync_strikes_free(t);
}

static void bans_cap_at_a_day(void **state)
{
	const uint8_t key[32] = { 3 };
	struct sync_strikes *t = table(4);
	uint64_t now = 1700000000000ull, until = 0;
	static const uint64_t hours[] = { 1, 2, 4, 8, 16, 24, 24, 24 };

	(void)state;
	for (int b = 0; b < 8; b++) {
		for (int i = 0; i < 3; i++)
			sync_strikes_add(t, key, sizeof(key), now);
		assert_true(sync_strikes_banned(t, key, sizeof(key), now, &until));
		assert_int_equal(until - now, hours[b] * HOUR_MS);
		now = until; /* strikes again the moment its ban ends */
	}
	sync_strikes_free(t);
}

static void a_full_table_forgets_unbanned_peers_before_banned_ones(void **state)
{
	struct sync_strikes *t = table(4);
	uint64_t now = 1700000000000ull;
	uint8_t key[32] = { 0 };

	(void)state;
	/* Peer 0 is banned; peers 1..3 have one strike each. */
	for (int i = 0; i < 3; i++)
		sync_strikes_add(t, key, sizeof(key), now);
	for (uint8_t k = 1; k < 4; k++) {
		key[0] = k;
		sync_strikes_add(t, key, sizeof(key), now + k);
	}
	assert_int_equal(sync_strikes_count(t), 4);
	/* 100 new addresses, one strike each: the ban stays. */
	for (int i = 0; i < 100; i++) {
		key[0] = (uint8_t)(10 + i);
		assert_false(sync_strikes_add(t, key, sizeof(key), now + 10 + (uint64_t)i));
	}
	assert_int_equal(sync_strikes_count(t), 4);
	key[0] = 0;
	assert_true(sync_strikes_banned(t, key, sizeof(key), now + 200, NULL));
	/* Keys are compared whole: a 4-byte address is not a 32-byte key's prefix. */
	assert_false(sync_strikes_banned(t, key, 4, now + 200, NULL));
	assert_false(sync_strikes_add(t, key, 0, now));
	assert_false(sync_strikes_add(t, key, SYNC_PEER_KEY_MAX + 1, now));
	sync_strikes_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_frame_is_parsed_only_once_whole),
		cmocka_unit_test(frame_lengths_over_64k_or_zero_are_refused_from_the_header),
		cmocka_unit_test(hello_round_trips_with_and_without_a_key),
		cmocka_unit_test(hello_with_unknown_flags_roles_or_version_is_refused),
		cmocka_unit_test(record_lists_refuse_empty_oversized_and_truncated_records),
		cmocka_unit_test(id_lists_are_whole_ids_and_at_most_512),
		cmocka_unit_test(the_output_keeps_frames_in_order_across_partial_sends),
		cmocka_unit_test(error_frames_and_reasons),
		cmocka_unit_test(
			forged_malformed_and_foreign_records_are_malicious_stale_ones_are_not),
		cmocka_unit_test(three_strikes_in_ten_minutes_ban_for_an_hour),
		cmocka_unit_test(strikes_spread_wider_than_the_window_never_ban),
		cmocka_unit_test(a_repeat_offender_is_banned_twice_as_long_until_forgotten),
		cmocka_unit_test(bans_cap_at_a_day),
		cmocka_unit_test(a_full_table_forgets_unbanned_peers_before_banned_ones),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
