/*
 * test_beacon.c: the LAN beacon codec (src/sync/beacon.c) against beacon.h and doc/sync.md:
 * a fixed-key vector, round trips, every byte flipped, every length, the time window,
 * another mesh, another version and a signature from another key or context.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "meshname/beacon.h"

#define NOW 1700000000u

static uint8_t host_sk[REC_SECRET_SIZE];  /* seed of 32 bytes 0x02 */
static uint8_t other_sk[REC_SECRET_SIZE]; /* seed of 32 bytes 0x03 */

static void key_from_seed(uint8_t byte, uint8_t sk[REC_SECRET_SIZE])
{
	uint8_t seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES];

	memset(seed, byte, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
}

/* The vector's fields: mesh a0..bf, port 51821, endpoints seq 5, fingerprint 00..0f. */
static void vector(struct beacon *b)
{
	memset(b, 0, sizeof(*b));
	for (size_t i = 0; i < REC_ID_SIZE; i++)
		b->mesh_id[i] = (uint8_t)(0xa0 + i);
	b->port = 51821;
	b->endpoints_seq = 5;
	for (size_t i = 0; i < BEACON_FINGERPRINT_SIZE; i++)
		b->fingerprint[i] = (uint8_t)i;
	b->timestamp = NOW;
}

static void sign_vector(struct beacon *b, uint8_t out[BEACON_SIZE])
{
	vector(b);
	assert_int_equal(beacon_sign(b, host_sk, out), 0);
}

/*
 * Generated once by this implementation, the layout checked by hand against doc/sync.md,
 * and the signature checked independently with Python's `cryptography` (Ed25519 public
 * key from the seed of 32 bytes 0x02, verify over "meshname-beacon-v1" || bytes 0..101).
 */
static const char expected_hex[] =
	"4d4e4201"                                                         /* magic, version */
	"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf" /* mesh_id */
	"8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394" /* host key */
	"ca6d"                                                             /* port 51821 */
	"0000000000000005"                                                 /* endpoints seq 5 */
	"000102030405060708090a0b0c0d0e0f"                                 /* fingerprint */
	"000000006553f100" /* timestamp 1700000000 */
	"c1a6a0e163d57bb2c1d58c8dcaaa491da7949aa6b23ea66ba3d04418b3d05ddb" /* signature */
	"2727fa50ccf99c3e50c554a856391d557f49829152cdb12c7ed08ccba5771102";

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void vector_matches_spec_bytes(void **state)
{
	uint8_t buf[BEACON_SIZE], want[BEACON_SIZE];
	char text[2 * BEACON_SIZE + 1];
	struct beacon b;
	size_t n = 0;

	(void)state;
	sign_vector(&b, buf);
	hex(buf, sizeof(buf), text);
	if (sodium_hex2bin(want, sizeof(want), expected_hex, strlen(expected_hex), NULL, &n,
			   NULL) != 0 ||
	    n != BEACON_SIZE || memcmp(buf, want, BEACON_SIZE) != 0)
		fail_msg("the vector differs; this implementation makes\n%s", text);
	/* Fields at their offsets, by hand. */
	assert_int_equal(BEACON_SIZE, 166);
	assert_memory_equal(buf, "MNB\x01", 4);
	assert_memory_equal(buf + 36, host_sk + 32, 32);
	assert_memory_equal(buf + 68, "\xca\x6d", 2);
	assert_memory_equal(buf + 70, "\0\0\0\0\0\0\0\x05", 8);
	assert_memory_equal(buf + 78,
			    "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f", 16);
	assert_memory_equal(buf + 94, "\x00\x00\x00\x00\x65\x53\xf1\x00", 8);
	assert_memory_equal(b.host_key, host_sk + 32, 32);
}

static void vector_decodes_to_its_fields(void **state)
{
	uint8_t buf[BEACON_SIZE];
	struct beacon b, got;

	(void)state;
	sign_vector(&b, buf);
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, NOW, &got), 0);
	assert_memory_equal(&got, &b, sizeof(b));
	assert_int_equal(got.port, 51821);
	assert_int_equal(got.endpoints_seq, 5);
	assert_int_equal(got.timestamp, NOW);
}

static void extreme_values_round_trip(void **state)
{
	uint8_t buf[BEACON_SIZE];
	struct beacon b, got;

	(void)state;
	vector(&b);
	b.port = 65535;
	b.endpoints_seq = UINT64_MAX;
	memset(b.fingerprint, 0xff, sizeof(b.fingerprint));
	b.timestamp = UINT64_MAX;
	assert_int_equal(beacon_sign(&b, host_sk, buf), 0);
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, UINT64_MAX, &got), 0);
	assert_memory_equal(&got, &b, sizeof(b));
	b.port = 1;
	b.endpoints_seq = 0;
	b.timestamp = 0;
	assert_int_equal(beacon_sign(&b, host_sk, buf), 0);
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, 0, &got), 0);
	assert_memory_equal(&got, &b, sizeof(b));
}

static void port_zero_is_refused_both_ways(void **state)
{
	uint8_t buf[BEACON_SIZE], msg[sizeof(BEACON_SIG_CONTEXT) - 1 + BEACON_SIGNED_SIZE];
	struct beacon b, got;

	(void)state;
	vector(&b);
	b.port = 0;
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(beacon_sign(&b, host_sk, buf), -EINVAL);
	assert_int_equal(buf[0], 0x5a);
	/* A port-0 beacon with a valid signature still does not decode. */
	sign_vector(&b, buf);
	buf[68] = buf[69] = 0;
	memcpy(msg, BEACON_SIG_CONTEXT, sizeof(BEACON_SIG_CONTEXT) - 1);
	memcpy(msg + sizeof(BEACON_SIG_CONTEXT) - 1, buf, BEACON_SIGNED_SIZE);
	crypto_sign_detached(buf + BEACON_SIGNED_SIZE, NULL, msg, sizeof(msg), host_sk);
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, NOW, &got), -EBADMSG);
}

static void every_single_byte_change_is_rejected(void **state)
{
	static const uint8_t bits[] = { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80 };
	uint8_t buf[BEACON_SIZE];
	struct beacon b, got;
	int tried = 0;

	(void)state;
	sign_vector(&b, buf);
	for (size_t i = 0; i < BEACON_SIZE; i++) {
		for (size_t k = 0; k < sizeof(bits); k++) {
			int rc;

			buf[i] ^= bits[k];
			rc = beacon_decode(buf, sizeof(buf), b.mesh_id, NOW, &got);
			if (rc == 0)
				fail_msg("byte %zu ^ 0x%02x accepted", i, bits[k]);
			assert_true(rc == -EBADMSG || rc == -EPROTONOSUPPORT || rc == -EXDEV ||
				    rc == -ESTALE || rc == -EKEYREJECTED);
			assert_true(sodium_is_zero((const uint8_t *)&got, sizeof(got)));
			buf[i] ^= bits[k];
			tried++;
		}
	}
	assert_int_equal(tried, 8 * 166);
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, NOW, &got), 0);
}

static void every_other_length_is_badmsg(void **state)
{
	uint8_t buf[BEACON_SIZE + 1];
	struct beacon b, got;

	(void)state;
	sign_vector(&b, buf);
	buf[BEACON_SIZE] = 0;
	for (size_t len = 0; len <= BEACON_SIZE + 1; len++) {
		if (len != BEACON_SIZE)
			assert_int_equal(beacon_decode(buf, len, b.mesh_id, NOW, &got), -EBADMSG);
	}
}

static void fields_give_the_documented_errors(void **state)
{
	uint8_t buf[BEACON_SIZE], mesh[REC_ID_SIZE];
	struct beacon b, got;

	(void)state;
	sign_vector(&b, buf);
	memcpy(mesh, b.mesh_id, sizeof(mesh));
	buf[0] = 'X';
	assert_int_equal(beacon_decode(buf, sizeof(buf), mesh, NOW, &got), -EBADMSG);
	buf[0] = 'M';
	buf[3] = 2;
	assert_int_equal(beacon_decode(buf, sizeof(buf), mesh, NOW, &got), -EPROTONOSUPPORT);
	buf[3] = 1;
	mesh[31] ^= 1;
	assert_int_equal(beacon_decode(buf, sizeof(buf), mesh, NOW, &got), -EXDEV);
	mesh[31] ^= 1;
	buf[36] ^= 1; /* host key */
	assert_int_equal(beacon_decode(buf, sizeof(buf), mesh, NOW, &got), -EKEYREJECTED);
	buf[36] ^= 1;
	buf[BEACON_SIZE - 1] ^= 1; /* signature */
	assert_int_equal(beacon_decode(buf, sizeof(buf), mesh, NOW, &got), -EKEYREJECTED);
	buf[BEACON_SIZE - 1] ^= 1;
	assert_int_equal(beacon_decode(buf, sizeof(buf), mesh, NOW, &got), 0);
}

static void beacon_from_another_mesh_is_exdev(void **state)
{
	uint8_t buf[BEACON_SIZE], ours[REC_ID_SIZE];
	struct beacon b, got;

	(void)state;
	sign_vector(&b, buf);
	memset(ours, 0x77, sizeof(ours));
	assert_int_equal(beacon_decode(buf, sizeof(buf), ours, NOW, &got), -EXDEV);
}

static void stale_and_future_timestamps_are_estale(void **state)
{
	uint8_t buf[BEACON_SIZE];
	struct beacon b, got;

	(void)state;
	sign_vector(&b, buf); /* timestamp NOW */
	/* Accepted up to BEACON_MAX_AGE after, and up to REC_MAX_FUTURE before. */
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, NOW + BEACON_MAX_AGE, &got), 0);
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, NOW + BEACON_MAX_AGE + 1, &got),
			 -ESTALE);
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, NOW - REC_MAX_FUTURE, &got), 0);
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, NOW - REC_MAX_FUTURE - 1, &got),
			 -ESTALE);
	/* A recording from a day ago, and clocks at the ends of the range: no overflow. */
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, NOW + 86400, &got), -ESTALE);
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, 0, &got), -ESTALE);
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, UINT64_MAX, &got), -ESTALE);
	assert_true(BEACON_MAX_AGE >= 2 * BEACON_INTERVAL);
}

static void signature_by_another_key_or_context_is_keyrejected(void **state)
{
	uint8_t buf[BEACON_SIZE], msg[64 + BEACON_SIGNED_SIZE];
	struct beacon b, got;

	(void)state;
	/* Signed by another key, the host key field left as the claimed one. */
	sign_vector(&b, buf);
	memcpy(msg, BEACON_SIG_CONTEXT, sizeof(BEACON_SIG_CONTEXT) - 1);
	memcpy(msg + sizeof(BEACON_SIG_CONTEXT) - 1, buf, BEACON_SIGNED_SIZE);
	crypto_sign_detached(buf + BEACON_SIGNED_SIZE, NULL, msg,
			     sizeof(BEACON_SIG_CONTEXT) - 1 + BEACON_SIGNED_SIZE, other_sk);
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, NOW, &got), -EKEYREJECTED);
	/* The right key and bytes, but the record context (a record signature replayed). */
	memcpy(msg, REC_SIG_CONTEXT, sizeof(REC_SIG_CONTEXT) - 1);
	memcpy(msg + sizeof(REC_SIG_CONTEXT) - 1, buf, BEACON_SIGNED_SIZE);
	crypto_sign_detached(buf + BEACON_SIGNED_SIZE, NULL, msg,
			     sizeof(REC_SIG_CONTEXT) - 1 + BEACON_SIGNED_SIZE, host_sk);
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, NOW, &got), -EKEYREJECTED);
	/* No context at all. */
	crypto_sign_detached(buf + BEACON_SIGNED_SIZE, NULL, buf, BEACON_SIGNED_SIZE, host_sk);
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, NOW, &got), -EKEYREJECTED);
	/* The control: the beacon context signs it right. */
	memcpy(msg, BEACON_SIG_CONTEXT, sizeof(BEACON_SIG_CONTEXT) - 1);
	memcpy(msg + sizeof(BEACON_SIG_CONTEXT) - 1, buf, BEACON_SIGNED_SIZE);
	crypto_sign_detached(buf + BEACON_SIGNED_SIZE, NULL, msg,
			     sizeof(BEACON_SIG_CONTEXT) - 1 + BEACON_SIGNED_SIZE, host_sk);
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, NOW, &got), 0);
}

static void another_host_key_with_its_own_signature_decodes_as_that_host(void **state)
{
	uint8_t buf[BEACON_SIZE];
	struct beacon b, got;

	(void)state;
	vector(&b);
	assert_int_equal(beacon_sign(&b, other_sk, buf), 0);
	assert_int_equal(beacon_decode(buf, sizeof(buf), b.mesh_id, NOW, &got), 0);
	assert_memory_equal(got.host_key, other_sk + 32, 32);
	assert_memory_not_equal(got.host_key, host_sk + 32, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vector_matches_spec_bytes),
		cmocka_unit_test(vector_decodes_to_its_fields),
		cmocka_unit_test(extreme_values_round_trip),
		cmocka_unit_test(port_zero_is_refused_both_ways),
		cmocka_unit_test(every_single_byte_change_is_rejected),
		cmocka_unit_test(every_other_length_is_badmsg),
		cmocka_unit_test(fields_give_the_documented_errors),
		cmocka_unit_test(beacon_from_another_mesh_is_exdev),
		cmocka_unit_test(stale_and_future_timestamps_are_estale),
		cmocka_unit_test(signature_by_another_key_or_context_is_keyrejected),
		cmocka_unit_test(another_host_key_with_its_own_signature_decodes_as_that_host),
	};

	if (sodium_init() < 0)
		return 1;
	key_from_seed(0x02, host_sk);
	key_from_seed(0x03, other_sk);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
