/*
 * proto.c: the wire format of the sync protocol (doc/sync.md "Sync protocol"): frames,
 * HELLO, record lists and id lists, the output buffer, reason codes and which registry
 * errors prove a peer wrong. Pure codec: it never decides what a session does next.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sync/proto.h"

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int proto_frame_parse(const uint8_t *buf, size_t len, struct proto_frame *f, size_t *frame_len)
{
	uint32_t n;

	*frame_len = 0;
	if (len < 4)
		return -EAGAIN;
	n = get_u32(buf);
	/* Checked on the header alone: an oversized frame is refused before its bytes. */
	if (n > SYNC_FRAME_MAX - 4)
		return -EMSGSIZE;
	if (n == 0)
		return -EBADMSG;
	*frame_len = (size_t)n + 4;
	if (len < *frame_len)
		return -EAGAIN;
	f->type = buf[4];
	f->payload = buf + SYNC_FRAME_HEADER;
	f->len = n - 1;
	return 0;
}

int proto_hello_decode(const uint8_t *p, size_t n, struct proto_hello *h)
{
	memset(h, 0, sizeof(*h));
	if (n < 1)
		return -EBADMSG;
	h->version = p[0];
	/* A later version may lay HELLO out otherwise: only the version byte is read. */
	if (h->version != SYNC_VERSION)
		return -EPROTONOSUPPORT;
	if (n < PROTO_HELLO_SIZE)
		return -EBADMSG;
	h->flags = p[1];
	h->role = p[2];
	memcpy(h->mesh_tag, p + 3, SYNC_MESH_TAG_SIZE);
	h->count = get_u32(p + 3 + SYNC_MESH_TAG_SIZE);
	memcpy(h->fingerprint, p + 7 + SYNC_MESH_TAG_SIZE, SYNC_FINGERPRINT_SIZE);
	if ((h->flags & ~PROTO_HELLO_FLAGS) != 0 || h->role < SYNC_ROLE_MEMBER ||
	    h->role > SYNC_ROLE_UNKNOWN)
		return -EBADMSG;
	if (h->flags & PROTO_HELLO_KEY) {
		if (n != PROTO_HELLO_SIZE + REC_KEY_SIZE)
			return -EBADMSG;
		memcpy(h->key, p + PROTO_HELLO_SIZE, REC_KEY_SIZE);
	} else if (n != PROTO_HELLO_SIZE) {
		return -EBADMSG;
	}
	return 0;
}

size_t proto_hello_encode(const struct proto_hello *h, uint8_t *out)
{
	out[0] = h->version;
	out[1] = h->flags;
	out[2] = h->role;
	memcpy(out + 3, h->mesh_tag, SYNC_MESH_TAG_SIZE);
	put_u32(out + 3 + SYNC_MESH_TAG_SIZE, h->count);
	memcpy(out + 7 + SYNC_MESH_TAG_SIZE, h->fingerprint, SYNC_FINGERPRINT_SIZE);
	if (h->flags & PROTO_HELLO_KEY) {
		memcpy(out + PROTO_HELLO_SIZE, h->key, REC_KEY_SIZE);
		return PROTO_HELLO_SIZE + REC_KEY_SIZE;
	}
	return PROTO_HELLO_SIZE;
}

int proto_records_next(const uint8_t **p, size_t *n, const uint8_t **rec, size_t *len)
{
	size_t l;

	if (*n == 0)
		return 0;
	if (*n < 2)
		return -EBADMSG;
	l = (size_t)(*p)[0] << 8 | (*p)[1];
	if (l == 0 || l > REC_MAX_SIZE || l > *n - 2)
		return -EBADMSG;
	*rec = *p + 2;
	*len = l;
	*p += 2 + l;
	*n -= 2 + l;
	return 1;
}

int proto_ids_count(size_t len, size_t *count)
{
	if (len % REC_ID_SIZE != 0 || len / REC_ID_SIZE > SYNC_WANT_MAX)
		return -EBADMSG;
	*count = len / REC_ID_SIZE;
	return 0;
}

/* ---- output ------------------------------------------------------------------------- */

size_t proto_out_pending(const struct proto_out *o)
{
	return o->len - o->off;
}

void proto_out_free(struct proto_out *o)
{
	free(o->data);
	memset(o, 0, sizeof(*o));
	o->open_frame = SIZE_MAX;
}

static int reserve(struct proto_out *o, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (o->len + n <= o->cap)
		return 0;
	/* Sent bytes go first: the buffer holds only what is still pending. */
	if (o->off > 0) {
		memmove(o->data, o->data + o->off, o->len - o->off);
		o->len -= o->off;
		if (o->open_frame != SIZE_MAX)
			o->open_frame -= o->off;
		o->off = 0;
		if (o->len + n <= o->cap)
			return 0;
	}
	cap = o->cap == 0 ? 4096 : o->cap;
	while (cap < o->len + n)
		cap *= 2;
	p = realloc(o->data, cap);
	if (p == NULL)
		return -ENOMEM;
	o->data = p;
	o->cap = cap;
	return 0;
}

int proto_out_open(struct proto_out *o, uint8_t type)
{
	int rc;

	proto_out_close(o);
	rc = reserve(o, SYNC_FRAME_HEADER);
	if (rc < 0)
		return rc;
	o->open_frame = o->len;
	o->data[o->len + 4] = type;
	o->len += SYNC_FRAME_HEADER;
	return 0;
}

size_t proto_out_room(const struct proto_out *o)
{
	if (o->open_frame == SIZE_MAX)
		return 0;
	return SYNC_FRAME_MAX - (o->len - o->open_frame);
}

int proto_out_append(struct proto_out *o, const void *p, size_t n)
{
	int rc;

	if (n > proto_out_room(o))
		return -EMSGSIZE;
	rc = reserve(o, n);
	if (rc < 0)
		return rc;
	memcpy(o->data + o->len, p, n);
	o->len += n;
	return 0;
}

void proto_out_close(struct proto_out *o)
{
	if (o->open_frame == SIZE_MAX)
		return;
	put_u32(o->data + o->open_frame, (uint32_t)(o->len - o->open_frame - 4));
	o->open_frame = SIZE_MAX;
}

int proto_out_frame(struct proto_out *o, uint8_t type, const uint8_t *payload, size_t len)
{
	int rc;

	if (len > PROTO_PAYLOAD_MAX)
		return -EMSGSIZE;
	rc = proto_out_open(o, type);
	if (rc == 0 && len > 0)
		rc = proto_out_append(o, payload, len);
	if (rc < 0) {
		/* Drop the half-built frame. */
		o->len = o->open_frame;
		o->open_frame = SIZE_MAX;
		return rc;
	}
	proto_out_close(o);
	return 0;
}

void proto_out_consume(struct proto_out *o, size_t n)
{
	if (n > o->len - o->off)
		n = o->len - o->off;
	o->off += n;
	if (o->off == o->len && o->open_frame == SIZE_MAX)
		o->off = o->len = 0;
}

/* ---- reasons ------------------------------------------------------------------------ */

const char *sync_reason_str(int reason)
{
	switch (reason) {
	case SYNC_OK:
		return "no error";
	case SYNC_ERR_PROTOCOL:
		return "protocol violation";
	case SYNC_ERR_FRAME:
		return "frame too large or malformed";
	case SYNC_ERR_RECORD:
		return "invalid record";
	case SYNC_ERR_FORBIDDEN:
		return "not allowed for a non-member";
	case SYNC_ERR_REPLAY:
		return "too many stale or refused records pushed";
	case SYNC_ERR_RATE:
		return "rate limit exceeded";
	case SYNC_ERR_LIMIT:
		return "session limit reached";
	case SYNC_ERR_MESH:
		return "peer is in another mesh";
	case SYNC_ERR_VERSION:
		return "unsupported protocol version";
	case SYNC_ERR_TIMEOUT:
		return "peer timed out";
	case SYNC_ERR_INTERNAL:
		return "local storage failure";
	case SYNC_ERR_BANNED:
		return "banned for misbehaving";
	case SYNC_ERR_CLOSED:
		return "connection closed early";
	default:
		return "unknown reason";
	}
}

bool sync_reason_strikes(int reason)
{
	return reason == SYNC_ERR_PROTOCOL || reason == SYNC_ERR_FRAME ||
	       reason == SYNC_ERR_RECORD || reason == SYNC_ERR_FORBIDDEN ||
	       reason == SYNC_ERR_REPLAY;
}

bool sync_err_is_malicious(int err)
{
	return err == -EMSGSIZE || err == -EPROTONOSUPPORT || err == -EBADMSG || err == -EXDEV ||
	       err == -EKEYREJECTED;
}

size_t sync_error_frame(int reason, uint8_t *buf)
{
	put_u32(buf, 2);
	buf[4] = SYNC_MSG_ERROR;
	buf[5] = (uint8_t)reason;
	return SYNC_FRAME_HEADER + 1;
}

void sync_limits_default(struct sync_limits *l)
{
	l->idle_ms = 30 * 1000;
	l->session_ms = 10 * 60 * 1000;
	l->session_bytes = 256u << 20;
	l->max_ids = 131072;
	l->push_rejects = 4;
	l->out_high = 1u << 20;
	l->rate_records = 100;
	l->rate_records_burst = 1000;
	l->rate_bytes = 1u << 20;
	l->rate_bytes_burst = 16u << 20;
}
