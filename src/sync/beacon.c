/*
 * beacon.c: encodes, signs, decodes and checks LAN beacons (include/meshname/beacon.h,
 * doc/sync.md). Pure: no sockets, the clock comes in as `now`. Must never trust a field
 * of a beacon before its signature is checked, nor keep the secret key.
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "meshname/beacon.h"

#define OFF_VERSION 3
#define OFF_MESH 4
#define OFF_HOST (OFF_MESH + REC_ID_SIZE)
#define OFF_PORT (OFF_HOST + REC_KEY_SIZE)
#define OFF_SEQ (OFF_PORT + 2)
#define OFF_FINGERPRINT (OFF_SEQ + 8)
#define OFF_TIME (OFF_FINGERPRINT + BEACON_FINGERPRINT_SIZE)
#define OFF_SIG (OFF_TIME + 8)

_Static_assert(OFF_SIG == BEACON_SIGNED_SIZE, "beacon layout");
_Static_assert(BEACON_SIZE <= 200, "a beacon stays small");

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The signature covers a context string first, so that no other meshname signature
 * (records, sessions) can be passed off as a beacon's, nor a beacon's as theirs. */
#define SIGNED_MSG_SIZE (sizeof(BEACON_SIG_CONTEXT) - 1 + BEACON_SIGNED_SIZE)

static void signed_bytes(const uint8_t *buf, uint8_t msg[SIGNED_MSG_SIZE])
{
	memcpy(msg, BEACON_SIG_CONTEXT, sizeof(BEACON_SIG_CONTEXT) - 1);
	memcpy(msg + sizeof(BEACON_SIG_CONTEXT) - 1, buf, BEACON_SIGNED_SIZE);
}

int beacon_sign(struct beacon *b, const uint8_t sk[REC_SECRET_SIZE], uint8_t out[BEACON_SIZE])
{
	uint8_t msg[SIGNED_MSG_SIZE];

	if (b->port == 0)
		return -EINVAL;
	/* libsodium's secret key is seed || public key. */
	memcpy(b->host_key, sk + crypto_sign_SEEDBYTES, REC_KEY_SIZE);
	memcpy(out, BEACON_MAGIC, 3);
	out[OFF_VERSION] = BEACON_VERSION;
	memcpy(out + OFF_MESH, b->mesh_id, REC_ID_SIZE);
	memcpy(out + OFF_HOST, b->host_key, REC_KEY_SIZE);
	out[OFF_PORT] = (uint8_t)(b->port >> 8);
	out[OFF_PORT + 1] = (uint8_t)b->port;
	put_u64(out + OFF_SEQ, b->endpoints_seq);
	memcpy(out + OFF_FINGERPRINT, b->fingerprint, BEACON_FINGERPRINT_SIZE);
	put_u64(out + OFF_TIME, b->timestamp);
	signed_bytes(out, msg);
	crypto_sign_detached(out + OFF_SIG, NULL, msg, sizeof(msg), sk);
	return 0;
}

int beacon_decode(const uint8_t *buf, size_t len, const uint8_t mesh_id[REC_ID_SIZE], uint64_t now,
		  struct beacon *b)
{
	uint8_t msg[SIGNED_MSG_SIZE];
	uint64_t timestamp;

	memset(b, 0, sizeof(*b));
	if (len != BEACON_SIZE || memcmp(buf, BEACON_MAGIC, 3) != 0)
		return -EBADMSG;
	if (buf[OFF_VERSION] != BEACON_VERSION)
		return -EPROTONOSUPPORT;
	if ((buf[OFF_PORT] | buf[OFF_PORT + 1]) == 0)
		return -EBADMSG;
	if (memcmp(buf + OFF_MESH, mesh_id, REC_ID_SIZE) != 0)
		return -EXDEV;
	timestamp = get_u64(buf + OFF_TIME);
	/* Written so that nothing overflows: now and timestamp are any 64-bit values. */
	if (timestamp > now ? timestamp - now > REC_MAX_FUTURE : now - timestamp > BEACON_MAX_AGE)
		return -ESTALE;
	signed_bytes(buf, msg);
	if (crypto_sign_verify_detached(buf + OFF_SIG, msg, sizeof(msg), buf + OFF_HOST) != 0)
		return -EKEYREJECTED;
	memcpy(b->mesh_id, buf + OFF_MESH, REC_ID_SIZE);
	memcpy(b->host_key, buf + OFF_HOST, REC_KEY_SIZE);
	b->port = (uint16_t)(buf[OFF_PORT] << 8 | buf[OFF_PORT + 1]);
	b->endpoints_seq = get_u64(buf + OFF_SEQ);
	memcpy(b->fingerprint, buf + OFF_FINGERPRINT, BEACON_FINGERPRINT_SIZE);
	b->timestamp = timestamp;
	return 0;
}
