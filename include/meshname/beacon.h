/*
 * beacon.h: the signed LAN beacon (DESIGN.md section 5), sent by IPv4 broadcast and IPv6
 * multicast so that hosts on one LAN find each other without internet or WireGuard.
 * Encoding, signing, strict decoding and checks: pure functions, time comes in as `now`.
 * No sockets here (the caller sends and receives the datagrams).
 *
 * Fixed layout, BEACON_SIZE bytes, integers big-endian (doc/sync.md "LAN beacon"):
 *
 *   off  size  field
 *     0     3  magic "MNB"
 *     3     1  version (1)
 *     4    32  mesh_id
 *    36    32  host key (Ed25519, the sender's)
 *    68     2  sync TCP port (non-zero)
 *    70     8  endpoints seq (of the sender's newest ENDPOINTS record; 0 = none)
 *    78    16  set fingerprint (of the sender's whole record set)
 *    94     8  timestamp (unix seconds at sending)
 *   102    64  Ed25519 signature over BEACON_SIG_CONTEXT || bytes [0, 102)
 *
 * Every byte string of BEACON_SIZE bytes either decodes to exactly one struct or is
 * rejected: no reserved bits, no lengths, nothing may follow the signature.
 */
#ifndef MESHNAME_BEACON_H
#define MESHNAME_BEACON_H

#include <stdint.h>

#include "meshname/record.h"

#define BEACON_MAGIC "MNB"
#define BEACON_VERSION 1
#define BEACON_SIG_CONTEXT "meshname-beacon-v1"
#define BEACON_FINGERPRINT_SIZE 16
#define BEACON_SIGNED_SIZE 102
#define BEACON_SIZE (BEACON_SIGNED_SIZE + REC_SIG_SIZE)

/* Beacons go out every BEACON_INTERVAL seconds. One is accepted up to BEACON_MAX_AGE
 * seconds after its timestamp (a sender's clock may be behind ours by as much as
 * REC_MAX_FUTURE allows it to be ahead) and up to REC_MAX_FUTURE seconds before. */
#define BEACON_INTERVAL 30
#define BEACON_MAX_AGE (REC_MAX_FUTURE + 2 * BEACON_INTERVAL)

struct beacon {
	uint8_t mesh_id[REC_ID_SIZE];
	uint8_t host_key[REC_KEY_SIZE];
	uint16_t port;
	uint64_t endpoints_seq;
	uint8_t fingerprint[BEACON_FINGERPRINT_SIZE];
	uint64_t timestamp;
};

/*
 * Sets b->host_key to the public half of sk, encodes and signs b into out.
 * -EINVAL if b->port is 0 (out untouched).
 */
int beacon_sign(struct beacon *b, const uint8_t sk[REC_SECRET_SIZE], uint8_t out[BEACON_SIZE]);

/*
 * Decodes and checks one received beacon, cheapest check first: -EBADMSG (wrong size,
 * magic or port 0), -EPROTONOSUPPORT (another version), -EXDEV (another mesh than
 * mesh_id), -ESTALE (timestamp more than BEACON_MAX_AGE before now or more than
 * REC_MAX_FUTURE after it), -EKEYREJECTED (the signature is not the host key's).
 * On success fills b; on failure b is all zero.
 * A beacon replayed within the window decodes again: the caller keeps the newest
 * timestamp per host key and ignores beacons that are not newer.
 */
int beacon_decode(const uint8_t *buf, size_t len, const uint8_t mesh_id[REC_ID_SIZE], uint64_t now,
		  struct beacon *b);

#endif
