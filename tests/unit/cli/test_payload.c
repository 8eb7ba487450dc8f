/*
 * test_payload.c: invites of src/cli/payload.c and their bootstrap endpoints: encode and
 * decode round trips (none, three of every kind, the most an invite takes), and invites
 * whose bootstrap list breaks a rule, refused by the encoder and, built by hand, by the
 * decoder; texts with bytes outside the base64 alphabet, and join requests whose name
 * holds a NUL byte, refused. Records are opaque bytes here: the decoder checks structure
 * only.
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

#include "cli/cli.h"

static const uint8_t seed[32] = { 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
				  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static const uint8_t root[] = "a root record";
static const uint8_t admit[] = "an admit record";
static const uint8_t inviter[] = "the inviter's cert";

static char *encode(const char *const *boot, size_t n)
{
	return cli_invite_encode(seed, root, sizeof(root), admit, sizeof(admit), inviter,
				 sizeof(inviter), boot, n);
}

static void free_text(char *s)
{
	if (s != NULL)
		sodium_memzero(s, strlen(s));
	free(s);
}

static void an_invite_without_bootstrap_endpoints_round_trips(void **state)
{
	struct cli_invite inv;
	char *text = encode(NULL, 0);

	(void)state;
	assert_non_null(text);
	assert_int_equal(cli_invite_decode(text, &inv), 0);
	assert_memory_equal(inv.seed, seed, 32);
	assert_int_equal(inv.root_len, sizeof(root));
	assert_memory_equal(inv.root, root, sizeof(root));
	assert_int_equal(inv.admit_len, sizeof(admit));
	assert_memory_equal(inv.admit, admit, sizeof(admit));
	assert_int_equal(inv.inviter_len, sizeof(inviter));
	assert_memory_equal(inv.inviter, inviter, sizeof(inviter));
	assert_int_equal(inv.n_bootstrap, 0);
	cli_invite_free(&inv);
	free_text(text);
}

static void bootstrap_endpoints_round_trip(void **state)
{
	static const char *const boot[] = { "192.0.2.1:51821", "[2001:DB8::1]:51821",
					    "Seed.Example.org:7000" };
	static const uint8_t zero[REC_KEY_SIZE];
	struct cli_invite inv;
	char *text = encode(boot, 3);

	(void)state;
	assert_non_null(text);
	assert_int_equal(cli_invite_decode(text, &inv), 0);
	assert_memory_equal(inv.seed, seed, 32);
	assert_memory_equal(inv.inviter, inviter, sizeof(inviter));
	assert_int_equal(inv.n_bootstrap, 3);
	assert_string_equal(inv.bootstrap[0].host, "192.0.2.1");
	assert_int_equal(inv.bootstrap[0].port, 51821);
	assert_string_equal(inv.bootstrap[1].host, "2001:db8::1");
	assert_int_equal(inv.bootstrap[1].port, 51821);
	assert_string_equal(inv.bootstrap[2].host, "seed.example.org");
	assert_int_equal(inv.bootstrap[2].port, 7000);
	/* The key is the inviter CERT's, which the caller fills in. */
	assert_memory_equal(inv.bootstrap[0].key, zero, REC_KEY_SIZE);
	cli_invite_free(&inv);
	free_text(text);
}

static void the_most_bootstrap_endpoints_round_trip(void **state)
{
	char names[CLI_INVITE_BOOTSTRAP_MAX][300], label[64];
	const char *boot[CLI_INVITE_BOOTSTRAP_MAX];
	struct cli_invite inv;
	char *text;

	(void)state;
	/* Eight endpoints of 255 bytes: 249-byte names (63+1+63+1+63+1+57) and a 5-digit
	 * port. */
	memset(label, 'a', 63);
	label[63] = '\0';
	for (int k = 0; k < CLI_INVITE_BOOTSTRAP_MAX; k++) {
		snprintf(names[k], sizeof(names[k]), "%s.%s.%s.%.56s%d:%d", label, label, label,
			 label, k, 60000 + k);
		assert_int_equal(strlen(names[k]), 255);
		boot[k] = names[k];
	}
	text = encode(boot, CLI_INVITE_BOOTSTRAP_MAX);
	assert_non_null(text);
	assert_int_equal(cli_invite_decode(text, &inv), 0);
	assert_int_equal(inv.n_bootstrap, CLI_INVITE_BOOTSTRAP_MAX);
	for (int k = 0; k < CLI_INVITE_BOOTSTRAP_MAX; k++) {
		assert_int_equal(strlen(inv.bootstrap[k].host), 249);
		assert_int_equal(inv.bootstrap[k].port, 60000 + k);
	}
	cli_invite_free(&inv);
	free_text(text);
}

static void the_encoder_refuses_bad_bootstrap_lists(void **state)
{
	static const char *const nine[] = { "192.0.2.1:1", "192.0.2.2:1", "192.0.2.3:1",
					    "192.0.2.4:1", "192.0.2.5:1", "192.0.2.6:1",
					    "192.0.2.7:1", "192.0.2.8:1", "192.0.2.9:1" };
	static const char *const bad[] = { "2001:db8::1:51821", "192.0.2.1", "192.0.2.1:0",
					   "host_name:1",       "",          "192.0.2.1:51821 " };
	char longer[300];
	const char *one[1];

	(void)state;
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		one[0] = bad[k];
		if (encode(one, 1) != NULL)
			fail_msg("'%s' was encoded", bad[k]);
	}
	assert_null(encode(nine, 9));
	{
		static const char *const twice[] = { "[2001:db8::1]:5", "[2001:0db8::1]:5" };

		assert_null(encode(twice, 2));
	}
	/* 256 bytes: a valid name, too long for the 1-byte length. */
	memset(longer, 'b', 250);
	longer[63] = longer[127] = longer[191] = '.';
	snprintf(longer + 250, sizeof(longer) - 250, ":1234");
	assert_int_equal(strlen(longer), 255);
	one[0] = longer;
	{
		char *text = encode(one, 1);

		assert_non_null(text); /* 255 bytes is fine */
		free_text(text);
	}
	snprintf(longer + 250, sizeof(longer) - 250, ":12345");
	assert_null(encode(one, 1));
}

/* An invite built by hand: the fixed part, then count and the raw bootstrap bytes. */
static char *raw_invite(uint8_t count, const uint8_t *tail, size_t tail_len)
{
	uint8_t buf[4096];
	size_t len = 0;
	char *b64, *text;
	size_t n;

	buf[len++] = CLI_PAYLOAD_VERSION;
	memcpy(buf + len, seed, 32);
	len += 32;
	buf[len++] = 0;
	buf[len++] = sizeof(root);
	memcpy(buf + len, root, sizeof(root));
	len += sizeof(root);
	buf[len++] = 0;
	buf[len++] = sizeof(admit);
	memcpy(buf + len, admit, sizeof(admit));
	len += sizeof(admit);
	buf[len++] = 0;
	buf[len++] = sizeof(inviter);
	memcpy(buf + len, inviter, sizeof(inviter));
	len += sizeof(inviter);
	buf[len++] = count;
	assert_true(tail_len <= sizeof(buf) - len);
	memcpy(buf + len, tail, tail_len);
	len += tail_len;
	b64 = cli_b64url_encode(buf, len);
	assert_non_null(b64);
	n = strlen(CLI_INVITE_PREFIX) + strlen(b64) + 1;
	text = malloc(n);
	assert_non_null(text);
	snprintf(text, n, "%s%s", CLI_INVITE_PREFIX, b64);
	free(b64);
	return text;
}

/* tail holds count strings, each a 1-byte length and its bytes. */
static int decode_raw(uint8_t count, const char *tail, size_t tail_len)
{
	struct cli_invite inv;
	char *text = raw_invite(count, (const uint8_t *)tail, tail_len);
	int rc = cli_invite_decode(text, &inv);

	if (rc == 0)
		cli_invite_free(&inv);
	free(text);
	return rc;
}

#define RAW(count, lit) decode_raw(count, lit, sizeof(lit) - 1)

static void the_decoder_refuses_malformed_bootstrap_strings(void **state)
{
	uint8_t nine[9 * 12];
	size_t len = 0;

	(void)state;
	/* The hand-built form is right: these two decode. */
	assert_int_equal(RAW(0, ""), 0);
	assert_int_equal(RAW(2, "\x0f"
				"192.0.2.1:51821"
				"\x0b"
				"[::1]:51821"),
			 0);

	assert_int_equal(RAW(1, "\x11"
				"2001:db8::1:51821"),
			 -EBADMSG); /* IPv6 without brackets */
	assert_int_equal(RAW(1, "\x09"
				"192.0.2.1"),
			 -EBADMSG); /* no port */
	assert_int_equal(RAW(1, "\x0b"
				"192.0.2.1:0"),
			 -EBADMSG);
	assert_int_equal(RAW(1, "\x0f"
				"192.0.2.1:65536"),
			 -EBADMSG);
	assert_int_equal(RAW(1, "\x0b"
				"host_name:1"),
			 -EBADMSG);
	assert_int_equal(RAW(1, "\x00"), -EBADMSG); /* empty */
	assert_int_equal(RAW(1, "\x0d"
				"192.0.2.1:1\x00"
				"1"),
			 -EBADMSG); /* a NUL inside */
	assert_int_equal(RAW(1, "\x0c"
				"192.0.2.1:1 "),
			 -EBADMSG); /* trailing blank */
	assert_int_equal(RAW(2, "\x0b"
				"192.0.2.1:1"
				"\x0b"
				"192.0.2.1:1"),
			 -EBADMSG); /* twice */
	assert_int_equal(RAW(2, "\x0b"
				"192.0.2.1:1"),
			 -EBADMSG); /* count says 2, one follows */
	assert_int_equal(RAW(1, "\x10"
				"192.0.2.1:1"),
			 -EBADMSG); /* length past the end */
	assert_int_equal(RAW(1, "\x0b"
				"192.0.2.1:1"
				"x"),
			 -EBADMSG); /* trailing byte */

	/* Nine valid, distinct endpoints: more than an invite names. */
	for (int k = 1; k <= 9; k++) {
		int n = snprintf((char *)nine + len + 1, sizeof(nine) - len - 1, "192.0.2.%d:1", k);

		nine[len] = (uint8_t)n;
		len += 1 + (size_t)n;
	}
	assert_int_equal(decode_raw(9, (const char *)nine, len), -EBADMSG);
	/* The first eight of them are fine. */
	assert_int_equal(decode_raw(8, (const char *)nine, len - 12), 0);
}

/* libsodium 1.0.18's sodium_base642bin reads every byte from 0x80 up as the last digit
 * of the alphabet ('_' or '/'): such a text would decode, to other bytes or to the very
 * payload of another text. */
static void bytes_outside_the_base64_alphabet_are_refused(void **state)
{
	static const char key[] = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
	char *text = encode(NULL, 0), *cert;
	char bad_key[sizeof(key)];
	uint8_t out[64];
	struct cli_invite inv;
	struct cli_certmsg m;

	(void)state;
	assert_non_null(text);
	text[strlen(CLI_INVITE_PREFIX) + 10] = '\xdf'; /* inside the admission seed */
	assert_int_equal(cli_invite_decode(text, &inv), -EBADMSG);
	free_text(text);

	/* An empty admin CERT may come as NULL. */
	cert = cli_certmsg_encode(root, sizeof(root), admit, sizeof(admit), NULL, 0);
	assert_non_null(cert);
	assert_int_equal(cli_certmsg_decode(cert, &m), 0);
	cli_certmsg_free(&m);
	cert[strlen(CLI_CERT_PREFIX) + 3] = '\x80';
	assert_int_equal(cli_certmsg_decode(cert, &m), -EBADMSG);
	free(cert);

	memcpy(bad_key, key, sizeof(key));
	assert_int_equal(cli_b64_decode(bad_key, out, sizeof(out)), 32);
	bad_key[42] = '\xff'; /* in place of 'A' */
	assert_int_equal(cli_b64_decode(bad_key, out, sizeof(out)), -1);
	assert_int_equal(cli_b64url_decode("AAA\xc3", out, sizeof(out)), -1);
}

/* A request built by hand: version, name (len bytes), host key, WireGuard key, and a
 * valid signature by sk. Caller frees. */
static char *signed_request(const char *name, size_t len, const uint8_t pk[REC_KEY_SIZE],
			    const uint8_t sk[REC_SECRET_SIZE])
{
	uint8_t buf[2 + 255 + 2 * REC_KEY_SIZE + REC_SIG_SIZE];
	uint8_t msg[sizeof(CLI_REQUEST_CONTEXT) + sizeof(buf)];
	size_t n = 0, clen = sizeof(CLI_REQUEST_CONTEXT) - 1;
	char *b64, *text;

	buf[n++] = CLI_PAYLOAD_VERSION;
	buf[n++] = (uint8_t)len;
	memcpy(buf + n, name, len);
	n += len;
	memcpy(buf + n, pk, REC_KEY_SIZE);
	n += REC_KEY_SIZE;
	memset(buf + n, 0x77, REC_KEY_SIZE);
	n += REC_KEY_SIZE;
	memcpy(msg, CLI_REQUEST_CONTEXT, clen);
	memcpy(msg + clen, buf, n);
	crypto_sign_detached(buf + n, NULL, msg, clen + n, sk);
	n += REC_SIG_SIZE;
	b64 = cli_b64url_encode(buf, n);
	assert_non_null(b64);
	text = malloc(strlen(CLI_REQUEST_PREFIX) + strlen(b64) + 1);
	assert_non_null(text);
	sprintf(text, "%s%s", CLI_REQUEST_PREFIX, b64);
	free(b64);
	return text;
}

/* The name's length byte counts every byte of it: a NUL inside would make the name read
 * shorter than what was signed, and one request have many texts. */
static void a_request_name_with_a_nul_byte_is_refused(void **state)
{
	uint8_t pk[REC_KEY_SIZE], sk[REC_SECRET_SIZE];
	struct cli_request req;
	char *text;

	(void)state;
	crypto_sign_keypair(pk, sk);
	text = signed_request("beta", 4, pk, sk);
	assert_int_equal(cli_request_decode(text, &req), 0);
	assert_string_equal(req.name, "beta");
	assert_memory_equal(req.host_key, pk, REC_KEY_SIZE);
	free(text);
	text = signed_request("beta\0x", 6, pk, sk);
	assert_int_equal(cli_request_decode(text, &req), -EBADMSG);
	free(text);
	text = signed_request("beta\0", 5, pk, sk);
	assert_int_equal(cli_request_decode(text, &req), -EBADMSG);
	free(text);
	sodium_memzero(sk, sizeof(sk));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_invite_without_bootstrap_endpoints_round_trips),
		cmocka_unit_test(bootstrap_endpoints_round_trip),
		cmocka_unit_test(the_most_bootstrap_endpoints_round_trip),
		cmocka_unit_test(the_encoder_refuses_bad_bootstrap_lists),
		cmocka_unit_test(the_decoder_refuses_malformed_bootstrap_strings),
		cmocka_unit_test(bytes_outside_the_base64_alphabet_are_refused),
		cmocka_unit_test(a_request_name_with_a_nul_byte_is_refused),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
