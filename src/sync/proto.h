/*
 * proto.h: private to src/sync: the frame and message codec of the sync protocol
 * (doc/sync.md "Sync protocol") and a growable output buffer. Pure functions over
 * buffers; the session state machine (engine.c) is their only user besides the tests.
 */
#ifndef MESHNAME_SYNC_PROTO_H
#define MESHNAME_SYNC_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshname/sync.h"

#define PROTO_HELLO_RESTRICTED 0x01 /* the sender reconciles ROOT/CERT/REVOKE only */
#define PROTO_HELLO_PUSH_ONLY 0x02  /* initiator: HELLO, PUSH ..., DONE; no reconciliation */
#define PROTO_HELLO_KEY 0x04        /* a host key follows */
#define PROTO_HELLO_FLAGS 0x07
#define PROTO_HELLO_SIZE 31 /* payload without the key */
#define PROTO_RECORDS_LAST 0x01
#define PROTO_PAYLOAD_MAX (SYNC_FRAME_MAX - SYNC_FRAME_HEADER)

struct proto_frame {
	uint8_t type;
	const uint8_t *payload;
	size_t len;
};

/*
 * The frame at the start of buf. 0 with *f and *frame_len (header included) when a whole
 * frame is there; -EAGAIN when more bytes are needed (*frame_len: how many in all, or 0
 * while the header is incomplete); -EMSGSIZE when the header announces more than
 * SYNC_FRAME_MAX; -EBADMSG for a length of 0 (no type byte).
 */
int proto_frame_parse(const uint8_t *buf, size_t len, struct proto_frame *f, size_t *frame_len);

struct proto_hello {
	uint8_t version;
	uint8_t flags;
	uint8_t role;
	uint8_t mesh_tag[SYNC_MESH_TAG_SIZE];
	uint32_t count;
	uint8_t fingerprint[SYNC_FINGERPRINT_SIZE];
	uint8_t key[REC_KEY_SIZE]; /* if flags & PROTO_HELLO_KEY */
};

/* 0, -EPROTONOSUPPORT (another version: nothing else is parsed), -EBADMSG. */
int proto_hello_decode(const uint8_t *p, size_t n, struct proto_hello *h);
/* The payload into out (at least PROTO_HELLO_SIZE + REC_KEY_SIZE bytes); its length. */
size_t proto_hello_encode(const struct proto_hello *h, uint8_t *out);

/*
 * Walks the records of a RECORDS (after its flags byte) or PUSH payload: each is a u16
 * length (1..REC_MAX_SIZE) and that many bytes. 1 and the next record, 0 at the end,
 * -EBADMSG for a bad length or a truncated record.
 */
int proto_records_next(const uint8_t **p, size_t *n, const uint8_t **rec, size_t *len);

/* A list of ids (WANT, OFFER): 0 and *count, or -EBADMSG (not a multiple of 32 bytes,
 * more than SYNC_WANT_MAX ids). */
int proto_ids_count(size_t len, size_t *count);

/* The output: bytes [off, len) are still to send. */
struct proto_out {
	uint8_t *data;
	size_t off, len, cap;
	size_t open_frame; /* start of a PUSH/RECORDS frame still being filled, or SIZE_MAX */
};

size_t proto_out_pending(const struct proto_out *o);
void proto_out_free(struct proto_out *o);
/* Appends a whole frame. 0 or -ENOMEM. */
int proto_out_frame(struct proto_out *o, uint8_t type, const uint8_t *payload, size_t len);
/* Starts a frame whose payload is appended with proto_out_append and finished by
 * proto_out_close (which writes the length). */
int proto_out_open(struct proto_out *o, uint8_t type);
int proto_out_append(struct proto_out *o, const void *p, size_t n);
void proto_out_close(struct proto_out *o);
/* Room left in the open frame's payload. */
size_t proto_out_room(const struct proto_out *o);
void proto_out_consume(struct proto_out *o, size_t n);

#endif
