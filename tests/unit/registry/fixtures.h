/*
 * fixtures.h: shared helpers for the registry unit tests, header-only (each test
 * binary links only the module, so nothing here may need its own object file).
 * Deterministic keys from fixed seeds, valid sample records, and a way to sign
 * hand-made bytes. Test main() must call sodium_init() before using any of it.
 * The test vectors of test_record.c depend on fixture_key, FIXTURE_NOW and FIXTURE_DAY:
 * changing them changes the expected bytes.
 */
#ifndef MESHNAME_TESTS_FIXTURES_H
#define MESHNAME_TESTS_FIXTURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "meshname/record.h"

/* Sample mesh: 100.70.0.0/16 and fd12:3456:789a::/48, one day of cert lifetime. */
#define FIXTURE_NOW 1700000000u
#define FIXTURE_DAY 86400u

/*
 * Ed25519 key number n, the same on every run: the seed is 32 bytes of value n.
 * sk is libsodium's layout (seed || public key), so the public key is sk + 32.
 */
static inline void fixture_key(int n, uint8_t sk[REC_SECRET_SIZE])
{
	uint8_t seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES];

	memset(seed, n, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
}

static inline const uint8_t *fixture_pk(const uint8_t sk[REC_SECRET_SIZE])
{
	return sk + crypto_sign_SEEDBYTES;
}

/* A genesis ROOT whose only admin is admin_sk's public key (not signed yet). */
static inline void fixture_root(struct rec *r, const uint8_t admin_sk[REC_SECRET_SIZE])
{
	static const uint8_t ipv6[16] = { 0xfd, 0x12, 0x34, 0x56, 0x78, 0x9a };

	memset(r, 0, sizeof(*r));
	r->type = REC_ROOT;
	r->issued_at = FIXTURE_NOW;
	snprintf(r->u.root.name, sizeof(r->u.root.name), "home");
	snprintf(r->u.root.zone, sizeof(r->u.root.zone), "mesh");
	r->u.root.ipv4[0] = 100;
	r->u.root.ipv4[1] = 70;
	r->u.root.ipv4_len = 16;
	memcpy(r->u.root.ipv6, ipv6, sizeof(ipv6));
	r->u.root.max_cert_lifetime = 365 * FIXTURE_DAY;
	r->u.root.threshold = 1;
	r->u.root.n_admins = 1;
	memcpy(r->u.root.admins[0], fixture_pk(admin_sk), REC_KEY_SIZE);
}

/*
 * A CERT for host_sk's key named name at 100.70.0.host_octet in the fixture_root
 * prefixes, valid for one day from FIXTURE_NOW, serial 1, no groups. The WireGuard key
 * is an arbitrary fixed value derived from host_octet.
 */
static inline void fixture_cert(struct rec *r, const uint8_t mesh_id[REC_ID_SIZE], const char *name,
				const uint8_t host_sk[REC_SECRET_SIZE], uint8_t host_octet)
{
	static const uint8_t ipv6[16] = { 0xfd, 0x12, 0x34, 0x56, 0x78, 0x9a };

	memset(r, 0, sizeof(*r));
	r->type = REC_CERT;
	memcpy(r->mesh_id, mesh_id, REC_ID_SIZE);
	r->seq = 1;
	r->issued_at = FIXTURE_NOW;
	r->expires_at = FIXTURE_NOW + FIXTURE_DAY;
	snprintf(r->u.cert.name, sizeof(r->u.cert.name), "%s", name);
	memcpy(r->u.cert.host_key, fixture_pk(host_sk), REC_KEY_SIZE);
	memset(r->u.cert.wg_key, 0x40 + host_octet, REC_KEY_SIZE);
	r->u.cert.ipv4[0] = 100;
	r->u.cert.ipv4[1] = 70;
	r->u.cert.ipv4[3] = host_octet;
	rec_ipv6_for_host(ipv6, r->u.cert.host_key, r->u.cert.ipv6);
}

/* An ADD of the TXT record "x" (rdata 01 78) at owner, seq 1, TTL 300: the filler record
 * of the sync tests, which sign it with the fixture admin key. */
static inline void fixture_txt(struct rec *r, const uint8_t mesh_id[REC_ID_SIZE], const char *owner,
			       uint64_t issued_at, uint64_t expires_at)
{
	memset(r, 0, sizeof(*r));
	r->type = REC_RECORD;
	memcpy(r->mesh_id, mesh_id, REC_ID_SIZE);
	r->seq = 1;
	r->issued_at = issued_at;
	r->expires_at = expires_at;
	r->u.record.op = REC_OP_ADD;
	snprintf(r->u.record.owner, sizeof(r->u.record.owner), "%s", owner);
	r->u.record.rrtype = 16; /* TXT */
	r->u.record.ttl = 300;
	r->u.record.rdlen = 2;
	r->u.record.rdata[0] = 1;
	r->u.record.rdata[1] = 'x';
}

/*
 * Signs hand-made record bytes as they are: buf holds len bytes (header and body,
 * nothing checked) and gets the 64-byte signature appended; buf must have room.
 * Returns the new length. This is how tests make non-canonical records that carry a
 * valid signature.
 */
static inline size_t fixture_sign_raw(uint8_t *buf, size_t len, const uint8_t sk[REC_SECRET_SIZE])
{
	static const char context[] = REC_SIG_CONTEXT;
	uint8_t msg[sizeof(context) - 1 + 2 * REC_MAX_SIZE];

	if (len > sizeof(msg) - (sizeof(context) - 1))
		return 0;
	memcpy(msg, context, sizeof(context) - 1);
	memcpy(msg + sizeof(context) - 1, buf, len);
	crypto_sign_detached(buf + len, NULL, msg, sizeof(context) - 1 + len, sk);
	return len + REC_SIG_SIZE;
}

/*
 * Like fixture_sign_raw, but first sets the signer (offset 62) to sk's public key and
 * the body length (offset 94) to len - 96, so only the fields under test are wrong.
 */
static inline size_t fixture_seal(uint8_t *buf, size_t len, const uint8_t sk[REC_SECRET_SIZE])
{
	size_t body_len = len - REC_HEADER_SIZE;

	memcpy(buf + 62, fixture_pk(sk), REC_KEY_SIZE);
	buf[94] = (uint8_t)(body_len >> 8);
	buf[95] = (uint8_t)body_len;
	return fixture_sign_raw(buf, len, sk);
}

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
static inline void fixture_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* Hex (whitespace ignored) into out; returns the byte count, or 0 on a bad digit. */
static inline size_t fixture_unhex(const char *hex, uint8_t *out, size_t size)
{
	size_t n = 0;
	int hi = -1;

	for (; *hex != '\0'; hex++) {
		int v;

		if (*hex == ' ' || *hex == '\n')
			continue;
		if (*hex >= '0' && *hex <= '9')
			v = *hex - '0';
		else if (*hex >= 'a' && *hex <= 'f')
			v = *hex - 'a' + 10;
		else
			return 0;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n == size)
			return 0;
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	return hi < 0 ? n : 0;
}

#endif
