/* Build: clang -std=c11 -D_GNU_SOURCE -g -fsanitize=fuzzer,address,undefined -Iinclude -Isrc
 *   tests/fuzz/fuzz_payload.c src/cli/payload.c src/cli/util.c and the sources of
 *   src/registry and src/common, $(pkg-config --cflags --libs ldns libsodium sqlite3)
 *   -o fuzz_payload
 *
 * fuzz_payload.c: feeds arbitrary text (up to its first NUL) to the three one-line
 * payloads of src/cli/payload.c, as a user pastes them from anyone: invites, join requests
 * and signed certificates. Checked: only the documented errors come back, and:
 *   invite: the records point into the decoded buffer, the bootstrap hosts are in their
 *     one spelling with no two alike; what decodes re-encodes (hosts written as seeds.h
 *     writes them) to a text that decodes to the same values and bytes up to the
 *     bootstrap list (the same text when the payload is the same), and that text is a
 *     fixed point of decode and encode; a failed decode and cli_invite_free leave the
 *     struct zeroed, seed included, and nothing leaks (ASan). Whether the buffer was
 *     wiped before free cannot be seen from here: payload.c's code says so.
 *   request: a name that is a DNS label; what decodes, signed or not, re-signs with a
 *     fixed key and decodes to the same name and keys.
 *   cert: what decodes encodes to exactly the input (base64url is canonical).
 * Seeds: tests/fuzz/seeds/fuzz_payload/: invites (0, 1, 3 and 8 bootstrap endpoints), a
 * request and a cert printed by meshname init, add [--bootstrap ...] [--request] and join
 * --request; variants rebuilt from them (other spellings, a 255-byte endpoint, no admin CERT,
 * a bad signature) and broken ones (bad bootstrap lists, version 2, truncated, a newline,
 * padding, non-ASCII, a NUL in a request's name, a cert under the invite prefix).
 * Without libFuzzer: `make fuzz-replay` builds $(BUILD)/fuzz/fuzz_payload with
 * tests/fuzz/standalone.c, and `build/fuzz/fuzz_payload FILE...` replays inputs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void free_secret(char *s)
{
	if (s != NULL)
		sodium_memzero(s, strlen(s));
	free(s);
}

/* p[0..len) lies inside the invite's buffer (or is empty). */
static int inside(const struct cli_invite *inv, const uint8_t *p, size_t len)
{
	if (len == 0)
		return 1;
	return p != NULL && p >= inv->buf && len <= inv->buf_len &&
	       (size_t)(p - inv->buf) <= inv->buf_len - len;
}

/* A decoded bootstrap endpoint: one spelling, a port, no key, no repeat. */
static void check_bootstrap(const struct cli_invite *inv, unsigned k)
{
	static const uint8_t zero[REC_KEY_SIZE];
	const struct seed *s = &inv->bootstrap[k];
	char text[SEEDS_HOST_MAX + 16];
	struct seed again;

	if (memchr(s->host, '\0', sizeof(s->host)) == NULL || s->host[0] == '\0' || s->port == 0 ||
	    memcmp(s->key, zero, sizeof(zero)) != 0)
		abort();
	snprintf(text, sizeof(text), strchr(s->host, ':') != NULL ? "[%s]:%u" : "%s:%u", s->host,
		 (unsigned)s->port);
	memset(&again, 0, sizeof(again));
	if (seeds_parse_hostport(text, &again) != 0 || memcmp(&again, s, sizeof(again)) != 0)
		abort();
	for (unsigned j = 0; j < k; j++)
		if (inv->bootstrap[j].port == s->port &&
		    strcmp(inv->bootstrap[j].host, s->host) == 0)
			abort();
}

/* Encodes what inv holds, the hosts as seeds.h writes them. Caller frees (a secret). */
static char *reencode(const struct cli_invite *inv)
{
	char hp[CLI_INVITE_BOOTSTRAP_MAX][SEEDS_HOST_MAX + 16];
	const char *boot[CLI_INVITE_BOOTSTRAP_MAX];
	char *text;

	for (unsigned k = 0; k < inv->n_bootstrap; k++) {
		const struct seed *s = &inv->bootstrap[k];

		snprintf(hp[k], sizeof(hp[k]), strchr(s->host, ':') != NULL ? "[%s]:%u" : "%s:%u",
			 s->host, (unsigned)s->port);
		boot[k] = hp[k];
	}
	text = cli_invite_encode(inv->seed, inv->root, inv->root_len, inv->admit, inv->admit_len,
				 inv->inviter, inv->inviter_len, boot, inv->n_bootstrap);
	if (text == NULL)
		abort(); /* what decodes must encode */
	return text;
}

static int same_invite(const struct cli_invite *a, const struct cli_invite *b)
{
	return memcmp(a->seed, b->seed, sizeof(a->seed)) == 0 && a->root_len == b->root_len &&
	       memcmp(a->root, b->root, a->root_len) == 0 && a->admit_len == b->admit_len &&
	       memcmp(a->admit, b->admit, a->admit_len) == 0 && a->inviter_len == b->inviter_len &&
	       (a->inviter_len == 0 || memcmp(a->inviter, b->inviter, a->inviter_len) == 0) &&
	       a->n_bootstrap == b->n_bootstrap &&
	       memcmp(a->bootstrap, b->bootstrap, sizeof(a->bootstrap)) == 0;
}

static void fuzz_invite(const char *text)
{
	struct cli_invite inv, again, third;
	char *t2, *t3;
	size_t head;
	int rc = cli_invite_decode(text, &inv);

	if (rc != 0) {
		if ((rc != -EBADMSG && rc != -ENOMEM) ||
		    !sodium_is_zero((const unsigned char *)&inv, sizeof(inv)))
			abort();
		return;
	}
	if (inv.root_len == 0 || inv.admit_len == 0 || !inside(&inv, inv.root, inv.root_len) ||
	    !inside(&inv, inv.admit, inv.admit_len) ||
	    !inside(&inv, inv.inviter, inv.inviter_len) ||
	    inv.n_bootstrap > CLI_INVITE_BOOTSTRAP_MAX)
		abort();
	for (unsigned k = 0; k < inv.n_bootstrap; k++)
		check_bootstrap(&inv, k);

	t2 = reencode(&inv);
	if (cli_invite_decode(t2, &again) != 0 || !same_invite(&inv, &again))
		abort();
	/* Byte for byte the same payload up to the bootstrap list, whose strings may have
	 * been spelled otherwise; when none was, the very same text. */
	head = 1 + 32 + 2 + inv.root_len + 2 + inv.admit_len + 2 + inv.inviter_len + 1;
	if (again.buf_len < head || memcmp(again.buf, inv.buf, head) != 0)
		abort();
	if (again.buf_len == inv.buf_len && memcmp(again.buf, inv.buf, inv.buf_len) == 0 &&
	    strcmp(t2, text) != 0)
		abort(); /* one payload, two texts */
	t3 = reencode(&again);
	if (strcmp(t2, t3) != 0 || cli_invite_decode(t3, &third) != 0 || !same_invite(&inv, &third))
		abort();
	cli_invite_free(&third);
	cli_invite_free(&again);
	cli_invite_free(&inv);
	if (!sodium_is_zero((const unsigned char *)&inv, sizeof(inv)) ||
	    !sodium_is_zero((const unsigned char *)&again, sizeof(again)))
		abort();
	free_secret(t3);
	free_secret(t2);
}

static void fuzz_request(const char *text)
{
	static uint8_t pk[REC_KEY_SIZE], sk[REC_SECRET_SIZE];
	static int ready;
	struct cli_request req, signed_req, again;
	size_t name_len;
	char *t2;
	int rc;

	if (!ready) {
		uint8_t seed[crypto_sign_SEEDBYTES] = { 0x66, 0x75, 0x7a, 0x7a };

		crypto_sign_seed_keypair(pk, sk, seed);
		ready = 1;
	}
	rc = cli_request_decode(text, &req);
	if (rc != 0 && rc != -EBADMSG && rc != -EKEYREJECTED && rc != -ENOMEM)
		abort();
	if (rc != 0 && rc != -EKEYREJECTED)
		return;
	/* Structure and name held, whatever the signature. */
	name_len = strnlen(req.name, sizeof(req.name));
	if (name_len == 0 || name_len > REC_NAME_MAX || !rec_label_valid(req.name))
		abort();
	signed_req = req;
	memcpy(signed_req.host_key, pk, sizeof(pk));
	t2 = cli_request_encode(&signed_req, sk);
	if (t2 == NULL || cli_request_decode(t2, &again) != 0 ||
	    memcmp(&again, &signed_req, sizeof(again)) != 0)
		abort();
	/* Ed25519 is deterministic: a request already signed by pk is the same text. */
	if (rc == 0 && memcmp(req.host_key, pk, sizeof(pk)) == 0 && strcmp(t2, text) != 0)
		abort();
	free(t2);
}

static void fuzz_cert(const char *text)
{
	struct cli_certmsg m;
	char *t2;
	int rc = cli_certmsg_decode(text, &m);

	if (rc != 0) {
		if ((rc != -EBADMSG && rc != -ENOMEM) ||
		    !sodium_is_zero((const unsigned char *)&m, sizeof(m)))
			abort();
		return;
	}
	if (m.root_len == 0 || m.cert_len == 0)
		abort();
	t2 = cli_certmsg_encode(m.root, m.root_len, m.cert, m.cert_len, m.admin_cert,
				m.admin_cert_len);
	if (t2 == NULL || strcmp(t2, text) != 0)
		abort(); /* one text for one payload */
	free(t2);
	cli_certmsg_free(&m);
	if (!sodium_is_zero((const unsigned char *)&m, sizeof(m)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char *text = malloc(size + 1);

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		ready = 1;
	}
	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_invite(text);
	fuzz_request(text);
	fuzz_cert(text);
	sodium_memzero(text, size);
	free(text);
	return 0;
}
