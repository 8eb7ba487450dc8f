/*
 * negentropy.h: range-based set reconciliation (DESIGN.md section 5), the negentropy
 * protocol version 1 (0x61) of github.com/hoytech/negentropy, byte-compatible with it.
 * Pure: no I/O, no clock, no logging. The caller moves the messages and fetches records.
 *
 * Items are (timestamp, 32-byte id); for the registry (issued_at, record id). Two peers
 * that hold the same set exchange one message each way (a few dozen bytes); otherwise
 * the cost grows with the difference, not with the set.
 *
 * Use: fill a set, seal it, then either
 *   initiator: negentropy_initiate, send; on each reply negentropy_reconcile, which gives
 *              the next message to send (or none: done) and appends to have (ids we hold
 *              and the peer lacks) and need (ids the peer holds and we lack);
 *   responder: negentropy_respond to each message, send back what it gives.
 */
#ifndef MESHNAME_NEGENTROPY_H
#define MESHNAME_NEGENTROPY_H

#include <stddef.h>
#include <stdint.h>

#define NEGENTROPY_PROTOCOL_VERSION 0x61
#define NEGENTROPY_ID_SIZE 32
#define NEGENTROPY_FINGERPRINT_SIZE 16
/* Smallest frame limit (as the reference): room for a split range and the margin. */
#define NEGENTROPY_FRAME_LIMIT_MIN 4096
/* The reserved "infinity" timestamp: no item may use it. */
#define NEGENTROPY_TIMESTAMP_MAX UINT64_MAX

struct negentropy_item {
	uint64_t timestamp;
	uint8_t id[NEGENTROPY_ID_SIZE];
};

/* ---- the set: a sorted vector --------------------------------------------------- */

struct negentropy_set;

int negentropy_set_new(struct negentropy_set **out);  /* -ENOMEM */
void negentropy_set_free(struct negentropy_set *set); /* NULL is a no-op */

/* Adds an item, in any order, before negentropy_set_seal. -ERANGE for the reserved
 * timestamp NEGENTROPY_TIMESTAMP_MAX, -EINVAL once sealed, -ENOMEM. */
int negentropy_set_add(struct negentropy_set *set, uint64_t timestamp,
		       const uint8_t id[NEGENTROPY_ID_SIZE]);

/* Sorts by (timestamp, id) and prepares the fingerprints. -EEXIST if an item was added
 * twice (the set is then unusable: free it), -EINVAL if already sealed, -ENOMEM. */
int negentropy_set_seal(struct negentropy_set *set);

size_t negentropy_set_size(const struct negentropy_set *set);
/* The i-th item in (timestamp, id) order, or NULL past the end or before sealing. */
const struct negentropy_item *negentropy_set_item(const struct negentropy_set *set, size_t i);

/* Fingerprint of items [begin, end): the first 16 bytes of SHA-256 of (the sum of their
 * ids as 256-bit little-endian integers mod 2^256 || varint(end - begin)). The whole
 * set's (0, size) is what a LAN beacon can carry. -EINVAL for a bad range or unsealed. */
int negentropy_set_fingerprint(const struct negentropy_set *set, size_t begin, size_t end,
			       uint8_t out[NEGENTROPY_FINGERPRINT_SIZE]);

/* ---- a reconciliation session ----------------------------------------------------- */

struct negentropy;

/*
 * A session over set, which must be sealed and must outlive the session unchanged.
 * frame_limit: 0 for none, else at least NEGENTROPY_FRAME_LIMIT_MIN; every message this
 * session produces is then at most frame_limit bytes, and what does not fit is left for
 * later rounds (as the reference does). -EINVAL for an unsealed set or a limit below the
 * minimum, -ENOMEM.
 */
int negentropy_new(const struct negentropy_set *set, size_t frame_limit, struct negentropy **out);
void negentropy_free(struct negentropy *ne); /* NULL is a no-op */

/* Ids collected by the initiator; negentropy_reconcile appends. */
struct negentropy_ids {
	uint8_t (*id)[NEGENTROPY_ID_SIZE];
	size_t count;
	size_t cap;
};
/* Frees the array and zeroes the struct (which the caller owns). */
void negentropy_ids_free(struct negentropy_ids *ids);

/*
 * Initiator, first message: *msg (caller frees with free()) and *len. Makes ne the
 * initiator; -EINVAL if it already is one or has responded, -ENOMEM.
 */
int negentropy_initiate(struct negentropy *ne, uint8_t **msg, size_t *len);

/*
 * The same, but the first message is one fingerprint of the whole set (20 bytes)
 * instead of the reference's 16 (about 340 bytes for a large set): peers that agree are
 * done after a 1-byte reply (21 bytes in all), others pay one more round trip. Still
 * protocol version 1: any responder, the reference's too, answers it.
 */
int negentropy_initiate_fingerprint(struct negentropy *ne, uint8_t **msg, size_t *len);

/*
 * Initiator, a reply from the responder: appends to have and need, and sets *msg to the
 * next message to send (caller frees), or to NULL with *len 0 when reconciliation is
 * complete. Errors (the session should then be dropped):
 *   -EBADMSG  malformed: truncated, bad varint, bound out of order, unknown mode, an
 *             id prefix over 32 bytes, a byte that is not a negentropy version
 *   -EPROTO   the responder speaks another protocol version (its reply names it)
 *   -EINVAL   not initiated; -ENOMEM
 */
int negentropy_reconcile(struct negentropy *ne, const uint8_t *in, size_t in_len, uint8_t **msg,
			 size_t *len, struct negentropy_ids *have, struct negentropy_ids *need);

/*
 * Responder: the reply to one message (caller frees *msg); never empty (at least the
 * version byte). A message of another protocol version (0x60..0x6f) is answered, as the
 * reference does, with the single byte NEGENTROPY_PROTOCOL_VERSION so that the
 * initiator may downgrade; that is not an error here. Errors: -EBADMSG as above,
 * -EINVAL if ne is an initiator, -ENOMEM.
 */
int negentropy_respond(struct negentropy *ne, const uint8_t *in, size_t in_len, uint8_t **msg,
		       size_t *len);

#endif
