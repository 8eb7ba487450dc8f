/*
 * test_session.c: transport B's session (src/sync/session.c) against session.h and
 * doc/sync.md: a full handshake in memory and data both ways, pinning, every byte of every
 * handshake message flipped, replay, a man in the middle, reflection, tampered, reordered,
 * replayed and truncated streams, and the wiping of secrets.
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

#include "meshname/session.h"

static uint8_t client_sk[REC_SECRET_SIZE]; /* seed of 0x11 bytes */
static uint8_t server_sk[REC_SECRET_SIZE]; /* seed of 0x22 bytes */
static uint8_t mallory_sk[REC_SECRET_SIZE];
static const uint8_t mesh[REC_ID_SIZE] = { 0xa0, 0xa1, 0xa2, 0xa3, [31] = 0xbf };

#define CLIENT_PK (client_sk + crypto_sign_SEEDBYTES)
#define SERVER_PK (server_sk + crypto_sign_SEEDBYTES)
#define MALLORY_PK (mallory_sk + crypto_sign_SEEDBYTES)

/* Offsets of doc/sync.md, written out here rather than taken from session.c. */
#define CH_EPH 37
#define CH_NONCE 69
#define CH_HOST 101
#define SH_EPH 5
#define SH_HOST 37
#define SH_SIG 93
#define CF_SIG 29

static void key_from_seed(uint8_t byte, uint8_t sk[REC_SECRET_SIZE])
{
	uint8_t seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES];

	memset(seed, byte, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
}

static bool wiped(const struct session *s)
{
	return sodium_is_zero((const unsigned char *)s, sizeof(*s)) == 1;
}

/* One handshake in memory; the three messages are kept for the tests to reuse. */
struct run {
	struct session c, s;
	uint8_t ch[SESSION_HANDSHAKE_MAX], sh[SESSION_HANDSHAKE_MAX], cf[SESSION_HANDSHAKE_MAX];
	size_t ch_len, sh_len, cf_len;
};

static void start_client(struct run *r, const uint8_t *pin)
{
	assert_int_equal(session_client_init(&r->c, mesh, client_sk, pin, r->ch, sizeof(r->ch),
					     &r->ch_len),
			 0);
	assert_int_equal(r->ch_len, SESSION_CLIENT_HELLO_SIZE);
}

static void full_handshake(struct run *r, const uint8_t *pin)
{
	uint8_t reply[SESSION_HANDSHAKE_MAX];
	size_t n = 1;

	memset(r, 0, sizeof(*r));
	start_client(r, pin);
	session_server_init(&r->s, mesh, server_sk);
	assert_int_equal(
		session_handshake(&r->s, r->ch, r->ch_len, r->sh, sizeof(r->sh), &r->sh_len), 0);
	assert_int_equal(r->sh_len, SESSION_SERVER_HELLO_SIZE);
	assert_false(session_established(&r->s));
	assert_int_equal(
		session_handshake(&r->c, r->sh, r->sh_len, r->cf, sizeof(r->cf), &r->cf_len), 0);
	assert_int_equal(r->cf_len, SESSION_CLIENT_FINISH_SIZE);
	assert_true(session_established(&r->c));
	assert_int_equal(session_handshake(&r->s, r->cf, r->cf_len, reply, sizeof(reply), &n), 0);
	assert_int_equal(n, 0);
	assert_true(session_established(&r->s));
}

/* Seals in at from, opens at to, and checks the plaintext survived. */
static void pass(struct session *from, struct session *to, const char *text, bool final)
{
	uint8_t sealed[256], opened[256];
	size_t len = strlen(text), sealed_len, opened_len;
	bool fin = !final;

	assert_int_equal(session_seal(from, (const uint8_t *)text, len, final, sealed,
				      sizeof(sealed), &sealed_len),
			 0);
	assert_int_equal(sealed_len, len + SESSION_OVERHEAD);
	assert_int_equal(
		session_open(to, sealed, sealed_len, opened, sizeof(opened), &opened_len, &fin), 0);
	assert_int_equal(opened_len, len);
	assert_memory_equal(opened, text, len);
	assert_int_equal(fin, final);
}

/* ---- the good path ------------------------------------------------------------------ */

static void handshake_then_data_both_ways(void **state)
{
	struct run r;
	uint8_t buf[64];
	size_t len;
	bool fin;

	(void)state;
	full_handshake(&r, NULL);
	assert_memory_equal(session_peer_key(&r.c), SERVER_PK, REC_KEY_SIZE);
	assert_memory_equal(session_peer_key(&r.s), CLIENT_PK, REC_KEY_SIZE);
	pass(&r.c, &r.s, "fetch ROOT", false);
	pass(&r.s, &r.c, "here it is", false);
	pass(&r.c, &r.s, "and CERT", false);
	pass(&r.c, &r.s, "", false); /* empty messages are fine */
	pass(&r.s, &r.c, "bye", true);
	assert_true(session_peer_finished(&r.c));
	assert_false(session_peer_finished(&r.s));
	pass(&r.c, &r.s, "bye too", true);
	assert_true(session_peer_finished(&r.s));
	/* Nothing after FINAL, either way. */
	assert_int_equal(session_seal(&r.c, (const uint8_t *)"x", 1, false, buf, sizeof(buf), &len),
			 -EPROTO);
	assert_true(wiped(&r.c));
	assert_int_equal(session_open(&r.s, buf, 18, buf, sizeof(buf), &len, &fin), -EPROTO);
	assert_true(wiped(&r.s));
}

static void messages_have_the_documented_layout(void **state)
{
	struct run r;

	(void)state;
	full_handshake(&r, NULL);
	assert_memory_equal(r.ch, "MNS\x01\x01", 5);
	assert_memory_equal(r.ch + 5, mesh, REC_ID_SIZE);
	assert_memory_equal(r.ch + CH_HOST, CLIENT_PK, REC_KEY_SIZE);
	assert_int_equal(r.ch_len, 133);
	assert_memory_equal(r.sh, "MNS\x01\x02", 5);
	assert_memory_equal(r.sh + SH_HOST, SERVER_PK, REC_KEY_SIZE);
	assert_int_equal(r.sh_len, 157);
	assert_memory_equal(r.cf, "MNS\x01\x03", 5);
	assert_int_equal(r.cf_len, 93);
}

static void fresh_ephemerals_and_nonces_each_session(void **state)
{
	struct run a, b;

	(void)state;
	full_handshake(&a, NULL);
	full_handshake(&b, NULL);
	assert_memory_not_equal(a.ch + CH_EPH, b.ch + CH_EPH, 32);
	assert_memory_not_equal(a.ch + CH_NONCE, b.ch + CH_NONCE, 32);
	assert_memory_not_equal(a.sh + SH_EPH, b.sh + SH_EPH, 32);
}

static void largest_message_fits_one_frame(void **state)
{
	static uint8_t in[SESSION_MAX_PLAINTEXT + 1], sealed[SESSION_MAX_MESSAGE + 1],
		opened[SESSION_MAX_PLAINTEXT];
	struct run r;
	size_t len, olen;
	bool fin;

	(void)state;
	full_handshake(&r, NULL);
	randombytes_buf(in, sizeof(in));
	/* One byte over: refused, and the session goes on. */
	assert_int_equal(session_seal(&r.c, in, SESSION_MAX_PLAINTEXT + 1, false, sealed,
				      sizeof(sealed), &len),
			 -EMSGSIZE);
	assert_int_equal(session_seal(&r.c, in, 10, false, sealed, 10 + SESSION_OVERHEAD - 1, &len),
			 -EMSGSIZE);
	assert_true(session_established(&r.c));
	assert_int_equal(session_seal(&r.c, in, SESSION_MAX_PLAINTEXT, false, sealed,
				      sizeof(sealed), &len),
			 0);
	assert_int_equal(len, 65536);
	/* The receiver's buffer too small: refused, nothing consumed, then it works. */
	assert_int_equal(session_open(&r.s, sealed, len, opened, 100, &olen, &fin), -EMSGSIZE);
	assert_int_equal(session_open(&r.s, sealed, len, opened, sizeof(opened), &olen, &fin), 0);
	assert_int_equal(olen, SESSION_MAX_PLAINTEXT);
	assert_memory_equal(opened, in, olen);
}

static void message_over_64_kib_is_badmsg(void **state)
{
	static uint8_t big[SESSION_MAX_MESSAGE + 1], out[SESSION_MAX_MESSAGE];
	struct run r;
	size_t len;
	bool fin;

	(void)state;
	full_handshake(&r, NULL);
	assert_int_equal(session_open(&r.s, big, sizeof(big), out, sizeof(out), &len, &fin),
			 -EBADMSG);
	assert_true(wiped(&r.s));
	full_handshake(&r, NULL);
	assert_int_equal(session_open(&r.s, big, SESSION_OVERHEAD - 1, out, sizeof(out), &len,
				      &fin),
			 -EBADMSG);
}

/* ---- pinning ------------------------------------------------------------------------ */

static void pinned_server_key_that_matches_completes(void **state)
{
	struct run r;

	(void)state;
	full_handshake(&r, SERVER_PK);
	assert_memory_equal(session_peer_key(&r.c), SERVER_PK, REC_KEY_SIZE);
	pass(&r.c, &r.s, "CERT for the invite", false);
}

static void pinned_server_key_mismatch_is_keyrejected(void **state)
{
	struct run r;
	uint8_t out[SESSION_HANDSHAKE_MAX];
	size_t len;

	(void)state;
	memset(&r, 0, sizeof(r));
	start_client(&r, MALLORY_PK);
	session_server_init(&r.s, mesh, server_sk);
	assert_int_equal(session_handshake(&r.s, r.ch, r.ch_len, r.sh, sizeof(r.sh), &r.sh_len), 0);
	assert_int_equal(session_handshake(&r.c, r.sh, r.sh_len, out, sizeof(out), &len),
			 -EKEYREJECTED);
	assert_int_equal(len, 0);
	assert_true(wiped(&r.c));
	assert_null(session_peer_key(&r.c));
}

/* ---- every byte flipped -------------------------------------------------------------- */

/* Runs a handshake in which msg (1, 2, 3) gets byte i xor'ed with 0x01 (or 0x80) on the
 * way; returns the first error, or 0 if both sides were established anyway. */
static int handshake_with_flip(int msg, size_t i, uint8_t bit)
{
	struct run r;
	size_t n;
	int rc;

	memset(&r, 0, sizeof(r));
	start_client(&r, NULL);
	session_server_init(&r.s, mesh, server_sk);
	if (msg == 1)
		r.ch[i] ^= bit;
	rc = session_handshake(&r.s, r.ch, r.ch_len, r.sh, sizeof(r.sh), &r.sh_len);
	if (rc < 0) {
		assert_true(wiped(&r.s));
		goto out;
	}
	if (msg == 2)
		r.sh[i] ^= bit;
	rc = session_handshake(&r.c, r.sh, r.sh_len, r.cf, sizeof(r.cf), &r.cf_len);
	if (rc < 0) {
		assert_true(wiped(&r.c));
		goto out;
	}
	if (msg == 3)
		r.cf[i] ^= bit;
	rc = session_handshake(&r.s, r.cf, r.cf_len, r.sh, sizeof(r.sh), &n);
	if (rc < 0)
		assert_true(wiped(&r.s));
out:
	session_clear(&r.c);
	session_clear(&r.s);
	return rc;
}

static void every_flipped_byte_of_every_message_fails_the_handshake(void **state)
{
	static const size_t sizes[] = { 0, SESSION_CLIENT_HELLO_SIZE, SESSION_SERVER_HELLO_SIZE,
					SESSION_CLIENT_FINISH_SIZE };
	static const uint8_t bits[] = { 0x01, 0x80 };
	int counts[4] = { 0 };

	(void)state;
	assert_int_equal(handshake_with_flip(0, 0, 0), 0); /* the control: no flip completes */
	for (int msg = 1; msg <= 3; msg++) {
		for (size_t i = 0; i < sizes[msg]; i++) {
			for (size_t b = 0; b < sizeof(bits); b++) {
				int rc = handshake_with_flip(msg, i, bits[b]);

				if (rc == 0)
					fail_msg("message %d byte %zu ^ 0x%02x: accepted", msg, i,
						 bits[b]);
				assert_true(rc == -EBADMSG || rc == -EKEYREJECTED ||
					    rc == -EPROTO || rc == -EXDEV);
				counts[msg]++;
			}
		}
	}
	assert_int_equal(counts[1] + counts[2] + counts[3], 2 * (133 + 157 + 93));
}

static void flipped_fields_give_the_documented_errors(void **state)
{
	(void)state;
	assert_int_equal(handshake_with_flip(1, 0, 1), -EBADMSG); /* magic */
	assert_int_equal(handshake_with_flip(1, 3, 2), -EPROTO);  /* version 3 */
	assert_int_equal(handshake_with_flip(1, 4, 2), -EPROTO);  /* a server hello */
	assert_int_equal(handshake_with_flip(1, 4, 4), -EBADMSG); /* type 5 */
	assert_int_equal(handshake_with_flip(1, 5, 1), -EXDEV);   /* mesh id */
	assert_int_equal(handshake_with_flip(1, CH_NONCE, 1), -EKEYREJECTED);
	assert_int_equal(handshake_with_flip(1, CH_HOST, 1), -EKEYREJECTED);
	assert_int_equal(handshake_with_flip(2, SH_HOST, 1), -EKEYREJECTED);
	assert_int_equal(handshake_with_flip(2, SH_SIG, 1), -EKEYREJECTED);
	assert_int_equal(handshake_with_flip(3, 6, 1), -EKEYREJECTED); /* stream header */
	assert_int_equal(handshake_with_flip(3, CF_SIG + 63, 1), -EKEYREJECTED);
}

static void truncated_or_extended_messages_are_badmsg(void **state)
{
	struct run r;
	uint8_t out[SESSION_HANDSHAKE_MAX], longer[SESSION_HANDSHAKE_MAX + 1];
	size_t len;

	(void)state;
	memset(&r, 0, sizeof(r));
	start_client(&r, NULL);
	session_server_init(&r.s, mesh, server_sk);
	assert_int_equal(session_handshake(&r.s, r.ch, r.ch_len - 1, out, sizeof(out), &len),
			 -EBADMSG);
	session_server_init(&r.s, mesh, server_sk);
	memcpy(longer, r.ch, r.ch_len);
	longer[r.ch_len] = 0;
	assert_int_equal(session_handshake(&r.s, longer, r.ch_len + 1, out, sizeof(out), &len),
			 -EBADMSG);
	session_server_init(&r.s, mesh, server_sk);
	assert_int_equal(session_handshake(&r.s, r.ch, 0, out, sizeof(out), &len), -EBADMSG);
	session_server_init(&r.s, mesh, server_sk);
	assert_int_equal(session_handshake(&r.s, r.ch, 4, out, sizeof(out), &len), -EBADMSG);
	assert_true(wiped(&r.s));
}

static void low_order_ephemeral_is_badmsg(void **state)
{
	struct run r;
	uint8_t out[SESSION_HANDSHAKE_MAX];
	size_t len;

	(void)state;
	memset(&r, 0, sizeof(r));
	start_client(&r, NULL);
	memset(r.ch + CH_EPH, 0, 32); /* the identity point: q would be all zero */
	session_server_init(&r.s, mesh, server_sk);
	assert_int_equal(session_handshake(&r.s, r.ch, r.ch_len, out, sizeof(out), &len), -EBADMSG);
	assert_true(wiped(&r.s));
}

/* ---- replay, man in the middle, reflection ---------------------------------------- */

static void recorded_client_handshake_replayed_to_a_new_server_is_rejected(void **state)
{
	struct run old;
	struct session s;
	uint8_t sh[SESSION_HANDSHAKE_MAX];
	size_t len;

	(void)state;
	full_handshake(&old, NULL);
	/* The recorded client hello gets a fresh server hello, but the recorded finish
	 * signed the old server ephemeral. */
	session_server_init(&s, mesh, server_sk);
	assert_int_equal(session_handshake(&s, old.ch, old.ch_len, sh, sizeof(sh), &len), 0);
	assert_memory_not_equal(sh + SH_EPH, old.sh + SH_EPH, 32);
	assert_int_equal(session_handshake(&s, old.cf, old.cf_len, sh, sizeof(sh), &len),
			 -EKEYREJECTED);
	assert_true(wiped(&s));
}

static void recorded_server_hello_replayed_to_a_new_client_is_rejected(void **state)
{
	struct run old, r;
	uint8_t out[SESSION_HANDSHAKE_MAX];
	size_t len;

	(void)state;
	full_handshake(&old, SERVER_PK);
	memset(&r, 0, sizeof(r));
	start_client(&r, SERVER_PK);
	assert_int_equal(session_handshake(&r.c, old.sh, old.sh_len, out, sizeof(out), &len),
			 -EKEYREJECTED);
	assert_true(wiped(&r.c));
}

/* Mallory relays between client and server, putting her own ephemeral in each hello. */
static void relay_with_own_ephemerals_is_rejected(void **state)
{
	struct run r;
	uint8_t m_sk[32], m_pk[32], out[SESSION_HANDSHAKE_MAX];
	size_t len;

	(void)state;
	randombytes_buf(m_sk, sizeof(m_sk));
	crypto_scalarmult_base(m_pk, m_sk);
	memset(&r, 0, sizeof(r));
	start_client(&r, NULL);
	memcpy(r.ch + CH_EPH, m_pk, 32);
	session_server_init(&r.s, mesh, server_sk);
	assert_int_equal(session_handshake(&r.s, r.ch, r.ch_len, r.sh, sizeof(r.sh), &r.sh_len), 0);
	memcpy(r.sh + SH_EPH, m_pk, 32);
	assert_int_equal(session_handshake(&r.c, r.sh, r.sh_len, out, sizeof(out), &len),
			 -EKEYREJECTED);
	assert_true(wiped(&r.c));

	/* Only the server hello's ephemeral swapped. */
	memset(&r, 0, sizeof(r));
	start_client(&r, NULL);
	session_server_init(&r.s, mesh, server_sk);
	assert_int_equal(session_handshake(&r.s, r.ch, r.ch_len, r.sh, sizeof(r.sh), &r.sh_len), 0);
	memcpy(r.sh + SH_EPH, m_pk, 32);
	assert_int_equal(session_handshake(&r.c, r.sh, r.sh_len, out, sizeof(out), &len),
			 -EKEYREJECTED);
	sodium_memzero(m_sk, sizeof(m_sk));
}

/* Mallory terminates the client's session with her own host key and opens her own to the
 * server: both work, but each side sees Mallory's key, never the other's, and a client
 * that pinned the server's key refuses her. */
static void full_man_in_the_middle_shows_its_own_key_and_fails_a_pin(void **state)
{
	struct session c, m_as_server;
	uint8_t ch[SESSION_HANDSHAKE_MAX], sh[SESSION_HANDSHAKE_MAX], cf[SESSION_HANDSHAKE_MAX];
	size_t ch_len, sh_len, cf_len;

	(void)state;
	assert_int_equal(session_client_init(&c, mesh, client_sk, NULL, ch, sizeof(ch), &ch_len),
			 0);
	session_server_init(&m_as_server, mesh, mallory_sk);
	assert_int_equal(session_handshake(&m_as_server, ch, ch_len, sh, sizeof(sh), &sh_len), 0);
	assert_int_equal(session_handshake(&c, sh, sh_len, cf, sizeof(cf), &cf_len), 0);
	assert_memory_equal(session_peer_key(&c), MALLORY_PK, REC_KEY_SIZE);
	session_clear(&c);
	session_clear(&m_as_server);

	assert_int_equal(
		session_client_init(&c, mesh, client_sk, SERVER_PK, ch, sizeof(ch), &ch_len), 0);
	session_server_init(&m_as_server, mesh, mallory_sk);
	assert_int_equal(session_handshake(&m_as_server, ch, ch_len, sh, sizeof(sh), &sh_len), 0);
	assert_int_equal(session_handshake(&c, sh, sh_len, cf, sizeof(cf), &cf_len), -EKEYREJECTED);
	session_clear(&m_as_server);
}

/* Mallory puts her host key in the client's hello so that the server would credit her
 * with the client's messages: the server signs the hello it saw, the client refuses. */
static void client_identity_swapped_in_the_hello_is_rejected(void **state)
{
	struct run r;
	uint8_t out[SESSION_HANDSHAKE_MAX];
	size_t len;

	(void)state;
	memset(&r, 0, sizeof(r));
	start_client(&r, NULL);
	memcpy(r.ch + CH_HOST, MALLORY_PK, REC_KEY_SIZE);
	session_server_init(&r.s, mesh, server_sk);
	assert_int_equal(session_handshake(&r.s, r.ch, r.ch_len, r.sh, sizeof(r.sh), &r.sh_len), 0);
	assert_int_equal(session_handshake(&r.c, r.sh, r.sh_len, out, sizeof(out), &len),
			 -EKEYREJECTED);
}

static void messages_out_of_turn_are_eproto(void **state)
{
	struct run r;
	struct session other;
	uint8_t out[SESSION_HANDSHAKE_MAX];
	size_t len;

	(void)state;
	full_handshake(&r, NULL);
	/* A server hello reflected to a server, a client hello back to its client, a finish
	 * to a client, any handshake message to an established session. */
	session_server_init(&other, mesh, server_sk);
	assert_int_equal(session_handshake(&other, r.sh, r.sh_len, out, sizeof(out), &len),
			 -EPROTO);
	assert_true(wiped(&other));
	assert_int_equal(session_client_init(&other, mesh, client_sk, NULL, out, sizeof(out), &len),
			 0);
	memcpy(r.ch, out, len);
	assert_int_equal(session_handshake(&other, r.ch, len, out, sizeof(out), &len), -EPROTO);
	assert_int_equal(session_client_init(&other, mesh, client_sk, NULL, out, sizeof(out), &len),
			 0);
	assert_int_equal(session_handshake(&other, r.cf, r.cf_len, out, sizeof(out), &len),
			 -EPROTO);
	assert_int_equal(session_handshake(&r.s, r.cf, r.cf_len, out, sizeof(out), &len), -EPROTO);
	assert_true(wiped(&r.s));
	/* A wiped session refuses everything. */
	assert_int_equal(session_handshake(&r.s, r.ch, r.ch_len, out, sizeof(out), &len), -EPROTO);
	assert_int_equal(session_seal(&r.s, out, 1, false, out, sizeof(out), &len), -EPROTO);
}

/* The client's finish, re-signed by the client's own key: accepted with the client label
 * (so the construction below is right), refused with the server's label. */
static void signature_under_the_other_role_label_is_rejected(void **state)
{
	static const char *const labels[] = { SESSION_SIG_CLIENT, SESSION_SIG_SERVER };

	(void)state;
	for (int k = 0; k < 2; k++) {
		struct run r;
		uint8_t transcript[SESSION_TRANSCRIPT_MAX], msg[64], out[SESSION_HANDSHAKE_MAX];
		size_t tlen = 0, n = strlen(labels[k]), len;

		memset(&r, 0, sizeof(r));
		start_client(&r, NULL);
		session_server_init(&r.s, mesh, server_sk);
		assert_int_equal(
			session_handshake(&r.s, r.ch, r.ch_len, r.sh, sizeof(r.sh), &r.sh_len), 0);
		assert_int_equal(
			session_handshake(&r.c, r.sh, r.sh_len, r.cf, sizeof(r.cf), &r.cf_len), 0);
		memcpy(transcript, r.ch, r.ch_len);
		tlen += r.ch_len;
		memcpy(transcript + tlen, r.sh, r.sh_len);
		tlen += r.sh_len;
		memcpy(transcript + tlen, r.cf, CF_SIG);
		tlen += CF_SIG;
		memcpy(msg, labels[k], n);
		crypto_generichash(msg + n, 32, transcript, tlen, NULL, 0);
		crypto_sign_detached(r.cf + CF_SIG, NULL, msg, n + 32, client_sk);
		assert_int_equal(session_handshake(&r.s, r.cf, r.cf_len, out, sizeof(out), &len),
				 k == 0 ? 0 : -EKEYREJECTED);
	}
}

/* ---- the streams -------------------------------------------------------------------- */

static void tampered_ciphertext_is_badmsg_and_ends_the_session(void **state)
{
	uint8_t sealed[64], out[64];
	size_t len, olen;
	bool fin;

	(void)state;
	for (size_t i = 0; i < 5 + SESSION_OVERHEAD; i++) {
		struct run r;

		full_handshake(&r, NULL);
		assert_int_equal(session_seal(&r.c, (const uint8_t *)"hello", 5, false, sealed,
					      sizeof(sealed), &len),
				 0);
		sealed[i] ^= 0x04;
		assert_int_equal(session_open(&r.s, sealed, len, out, sizeof(out), &olen, &fin),
				 -EBADMSG);
		assert_int_equal(olen, 0);
		assert_true(wiped(&r.s));
		session_clear(&r.c);
	}
}

static void reordered_replayed_stale_or_reflected_messages_are_badmsg(void **state)
{
	uint8_t one[64], two[64], out[64];
	size_t one_len, two_len, olen;
	struct run r;
	bool fin;

	(void)state;
	/* Second before first. */
	full_handshake(&r, NULL);
	assert_int_equal(session_seal(&r.c, (const uint8_t *)"1", 1, false, one, 64, &one_len), 0);
	assert_int_equal(session_seal(&r.c, (const uint8_t *)"2", 1, false, two, 64, &two_len), 0);
	assert_int_equal(session_open(&r.s, two, two_len, out, 64, &olen, &fin), -EBADMSG);
	/* The first twice. */
	full_handshake(&r, NULL);
	assert_int_equal(session_seal(&r.c, (const uint8_t *)"1", 1, false, one, 64, &one_len), 0);
	assert_int_equal(session_open(&r.s, one, one_len, out, 64, &olen, &fin), 0);
	assert_int_equal(session_open(&r.s, one, one_len, out, 64, &olen, &fin), -EBADMSG);
	/* A message from an earlier session of the same two hosts. */
	full_handshake(&r, NULL);
	assert_int_equal(session_open(&r.s, one, one_len, out, 64, &olen, &fin), -EBADMSG);
	/* Reflected back to its sender. */
	full_handshake(&r, NULL);
	assert_int_equal(session_seal(&r.c, (const uint8_t *)"1", 1, false, one, 64, &one_len), 0);
	assert_int_equal(session_open(&r.c, one, one_len, out, 64, &olen, &fin), -EBADMSG);
}

static void stream_cut_before_final_is_seen_as_unfinished(void **state)
{
	struct run r;
	uint8_t sealed[64], out[64];
	size_t len, olen;
	bool fin = true;

	(void)state;
	full_handshake(&r, NULL);
	pass(&r.s, &r.c, "records 1..10", false);
	pass(&r.s, &r.c, "records 11..20", false);
	/* The FINAL message never arrives: the transport ends here. */
	assert_int_equal(session_seal(&r.s, (const uint8_t *)"done", 4, true, sealed,
				      sizeof(sealed), &len),
			 0);
	assert_false(session_peer_finished(&r.c));
	assert_int_equal(session_open(&r.c, sealed, len, out, sizeof(out), &olen, &fin), 0);
	assert_true(fin);
	assert_true(session_peer_finished(&r.c));

	/* A FINAL tag cannot be forged onto a plain message: flipping the tag byte fails. */
	full_handshake(&r, NULL);
	assert_int_equal(session_seal(&r.s, (const uint8_t *)"x", 1, false, sealed, sizeof(sealed),
				      &len),
			 0);
	sealed[0] ^= 0x03; /* MESSAGE (0) -> FINAL (3) in the encrypted tag byte */
	assert_int_equal(session_open(&r.c, sealed, len, out, sizeof(out), &olen, &fin), -EBADMSG);
	assert_false(session_peer_finished(&r.c));
}

static void data_before_the_handshake_ends_is_eproto(void **state)
{
	struct run r;
	uint8_t buf[64];
	size_t len;
	bool fin;

	(void)state;
	memset(&r, 0, sizeof(r));
	start_client(&r, NULL);
	assert_int_equal(session_seal(&r.c, (const uint8_t *)"x", 1, false, buf, 64, &len),
			 -EPROTO);
	assert_true(wiped(&r.c));
	session_server_init(&r.s, mesh, server_sk);
	assert_int_equal(session_open(&r.s, buf, 20, buf, 64, &len, &fin), -EPROTO);
	assert_true(wiped(&r.s));
	assert_null(session_peer_key(&r.s));
}

static void small_buffers_are_msgsize_and_change_nothing(void **state)
{
	struct session c;
	uint8_t out[SESSION_HANDSHAKE_MAX];
	size_t len = 99;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(session_client_init(&c, mesh, client_sk, NULL, out,
					     SESSION_CLIENT_HELLO_SIZE - 1, &len),
			 -EMSGSIZE);
	assert_int_equal(len, 0);
	assert_true(wiped(&c));
	assert_int_equal(session_client_init(&c, mesh, client_sk, NULL, out, sizeof(out), &len), 0);
	assert_int_equal(session_handshake(&c, out, len, out, SESSION_HANDSHAKE_MAX - 1, &len),
			 -EMSGSIZE);
	assert_int_equal(c.state, SESSION_CLIENT_WAIT_HELLO);
	session_clear(&c);
}

/* ---- secrets ---------------------------------------------------------------------- */

static void secrets_are_gone_once_established_and_all_of_it_after_clear(void **state)
{
	struct run r;

	(void)state;
	memset(&r, 0, sizeof(r));
	start_client(&r, NULL);
	/* While waiting, the client holds its host secret and its ephemeral. */
	assert_memory_equal(r.c.host_sk, client_sk, REC_SECRET_SIZE);
	assert_false(sodium_is_zero(r.c.eph_sk, sizeof(r.c.eph_sk)));
	session_server_init(&r.s, mesh, server_sk);
	assert_int_equal(session_handshake(&r.s, r.ch, r.ch_len, r.sh, sizeof(r.sh), &r.sh_len), 0);
	/* The server signed and derived: its host secret and ephemeral are gone. */
	assert_true(sodium_is_zero(r.s.host_sk, sizeof(r.s.host_sk)));
	assert_true(sodium_is_zero(r.s.eph_sk, sizeof(r.s.eph_sk)));
	assert_false(sodium_is_zero(r.s.rx_key, sizeof(r.s.rx_key)));
	session_clear(&r.c);
	session_clear(&r.s);

	full_handshake(&r, NULL);
	for (int i = 0; i < 2; i++) {
		struct session *s = i == 0 ? &r.c : &r.s;

		assert_true(sodium_is_zero(s->host_sk, sizeof(s->host_sk)));
		assert_true(sodium_is_zero(s->eph_sk, sizeof(s->eph_sk)));
		assert_true(sodium_is_zero(s->rx_key, sizeof(s->rx_key)));
		assert_true(sodium_is_zero(s->transcript, sizeof(s->transcript)));
		assert_false(sodium_is_zero((const uint8_t *)&s->tx, sizeof(s->tx)));
		session_clear(s);
		assert_true(wiped(s));
	}
	session_clear(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handshake_then_data_both_ways),
		cmocka_unit_test(messages_have_the_documented_layout),
		cmocka_unit_test(fresh_ephemerals_and_nonces_each_session),
		cmocka_unit_test(largest_message_fits_one_frame),
		cmocka_unit_test(message_over_64_kib_is_badmsg),
		cmocka_unit_test(pinned_server_key_that_matches_completes),
		cmocka_unit_test(pinned_server_key_mismatch_is_keyrejected),
		cmocka_unit_test(every_flipped_byte_of_every_message_fails_the_handshake),
		cmocka_unit_test(flipped_fields_give_the_documented_errors),
		cmocka_unit_test(truncated_or_extended_messages_are_badmsg),
		cmocka_unit_test(low_order_ephemeral_is_badmsg),
		cmocka_unit_test(recorded_client_handshake_replayed_to_a_new_server_is_rejected),
		cmocka_unit_test(recorded_server_hello_replayed_to_a_new_client_is_rejected),
		cmocka_unit_test(relay_with_own_ephemerals_is_rejected),
		cmocka_unit_test(full_man_in_the_middle_shows_its_own_key_and_fails_a_pin),
		cmocka_unit_test(client_identity_swapped_in_the_hello_is_rejected),
		cmocka_unit_test(messages_out_of_turn_are_eproto),
		cmocka_unit_test(signature_under_the_other_role_label_is_rejected),
		cmocka_unit_test(tampered_ciphertext_is_badmsg_and_ends_the_session),
		cmocka_unit_test(reordered_replayed_stale_or_reflected_messages_are_badmsg),
		cmocka_unit_test(stream_cut_before_final_is_seen_as_unfinished),
		cmocka_unit_test(data_before_the_handshake_ends_is_eproto),
		cmocka_unit_test(small_buffers_are_msgsize_and_change_nothing),
		cmocka_unit_test(secrets_are_gone_once_established_and_all_of_it_after_clear),
	};

	if (sodium_init() < 0)
		return 1;
	key_from_seed(0x11, client_sk);
	key_from_seed(0x22, server_sk);
	key_from_seed(0x33, mallory_sk);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
