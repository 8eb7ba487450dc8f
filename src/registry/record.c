/*
 * record.c: the record codec of doc/records.md: encoding, canonical decoding, signing,
 * signature checks, record ids and derived IPv6 addresses. Pure functions over buffers:
 * no I/O, no clock, no logging, no knowledge of other records. rec_decode is fed by
 * network peers, so it must never read outside [buf, buf + len) whatever the input.
 * Callers must have called sodium_init() once at start up.
 *
 * One set of rules (check_rec) serves both directions: rec_sign refuses a struct
 * that breaks it with -EINVAL, rec_decode refuses bytes that parse into such a struct
 * with -EBADMSG. rec_decode then re-encodes the struct and compares with the input, so
 * anything the parser tolerated but the encoder would not produce is refused too.
 *
 * Sort orders: groups are sorted by strcmp() of their names (the bytes of the label,
 * without the length byte); admins by memcmp() of the 32-byte keys; endpoints by
 * memcmp() of their 20 encoded bytes. "Sorted" always means strictly increasing, so a
 * duplicate is an error.
 */
#include <errno.h>
#include <string.h>

#include <ldns/ldns.h>
#include <sodium.h>

#include "meshname/record.h"

#define SIG_CONTEXT_LEN (sizeof(REC_SIG_CONTEXT) - 1)
#define IPV6_CONTEXT "meshname-ipv6"
#define ENDPOINT_WIRE_SIZE 20  /* kind, family, address (16), port (2) */
#define RECORD_TTL_MAX 604800u /* one week */
#define DNAME_WIRE_MAX 255     /* RFC 1035 section 3.1 */

/* Offsets into the header, as laid out in record.h. */
#define OFF_VERSION 3
#define OFF_TYPE 4
#define OFF_RESERVED 5
#define OFF_SIGNER 62
#define OFF_BODY_LEN 94

/* ---- bounded writer and reader ---------------------------------------------------- */

struct wbuf {
	uint8_t *p;
	size_t size;
	size_t len;
	bool overflow;
};

static void put_bytes(struct wbuf *w, const void *src, size_t n)
{
	if (w->overflow || n > w->size - w->len) {
		w->overflow = true;
		return;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void put_u8(struct wbuf *w, uint8_t v)
{
	put_bytes(w, &v, 1);
}

static void put_u16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put_bytes(w, b, sizeof(b));
}

static void put_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	put_bytes(w, b, sizeof(b));
}

static void put_u64(struct wbuf *w, uint64_t v)
{
	put_u32(w, (uint32_t)(v >> 32));
	put_u32(w, (uint32_t)v);
}

/* A string: one length byte, then the bytes. The caller has checked strlen <= 255. */
static void put_string(struct wbuf *w, const char *s)
{
	size_t n = strlen(s);

	put_u8(w, (uint8_t)n);
	put_bytes(w, s, n);
}

struct rbuf {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool bad;
};

static const uint8_t *get_bytes(struct rbuf *r, size_t n)
{
	const uint8_t *b;

	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	b = r->p + r->off;
	r->off += n;
	return b;
}

static void get_copy(struct rbuf *r, void *dst, size_t n)
{
	const uint8_t *b = get_bytes(r, n);

	if (b != NULL)
		memcpy(dst, b, n);
}

static uint8_t get_u8(struct rbuf *r)
{
	const uint8_t *b = get_bytes(r, 1);

	if (b == NULL)
		return 0;
	return b[0];
}

static uint16_t get_u16(struct rbuf *r)
{
	const uint8_t *b = get_bytes(r, 2);

	if (b == NULL)
		return 0;
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t get_u32(struct rbuf *r)
{
	const uint8_t *b = get_bytes(r, 4);

	if (b == NULL)
		return 0;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint64_t get_u64(struct rbuf *r)
{
	uint64_t hi = get_u32(r);

	return hi << 32 | get_u32(r);
}

/*
 * A string into dst (a char array of size dst_size): its length must be at most
 * dst_size - 1 and it must hold no NUL byte, or the C string would say something
 * other than the wire. Content rules are check_rec's job.
 */
static void get_string(struct rbuf *r, char *dst, size_t dst_size)
{
	size_t n = get_u8(r);
	const uint8_t *b;

	if (r->bad)
		return;
	if (n >= dst_size) {
		r->bad = true;
		return;
	}
	b = get_bytes(r, n);
	if (b == NULL)
		return;
	if (memchr(b, 0, n) != NULL) {
		r->bad = true;
		return;
	}
	memcpy(dst, b, n);
	dst[n] = '\0';
}

/* ---- names ------------------------------------------------------------------------ */

static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static bool domain_char(char c)
{
	return label_char(c) || c == '_';
}

bool rec_label_valid(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	n = strnlen(s, REC_NAME_MAX + 1);
	if (n == 0 || n > REC_NAME_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!label_char(s[i]))
			return false;
	return true;
}

bool rec_domain_valid(const char *s, bool allow_empty)
{
	size_t n, label = 0;

	if (s == NULL)
		return false;
	n = strnlen(s, REC_ZONE_MAX + 1);
	if (n == 0)
		return allow_empty;
	if (n > REC_ZONE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false; /* leading dot or ".." */
			label = 0;
		} else if (domain_char(s[i]) && ++label <= REC_NAME_MAX) {
			continue;
		} else {
			return false;
		}
	}
	return label > 0; /* no final dot */
}

/* True if s is NUL-terminated inside an array of size bytes. */
static bool terminated(const char *s, size_t size)
{
	return memchr(s, 0, size) != NULL;
}

/*
 * One absolute, uncompressed, lowercase DNS name in wire form at the start of
 * [p, p + len); *used gets its length. A compression pointer has its top two bits
 * set, so it fails the label length test.
 */
static bool rdata_name_valid(const uint8_t *p, size_t len, size_t *used)
{
	size_t off = 0;

	for (;;) {
		size_t n;

		if (off >= len || off >= DNAME_WIRE_MAX)
			return false;
		n = p[off++];
		if (n == 0)
			break;
		if (n > REC_NAME_MAX || n > len - off)
			return false;
		for (size_t i = 0; i < n; i++)
			if (!domain_char((char)p[off + i]))
				return false;
		off += n;
	}
	*used = off;
	return true;
}

static bool rdata_valid(uint16_t rrtype, const uint8_t *p, size_t len)
{
	size_t used;

	switch (rrtype) {
	case LDNS_RR_TYPE_A:
		return len == 4;
	case LDNS_RR_TYPE_AAAA:
		return len == 16;
	case LDNS_RR_TYPE_CNAME:
		return rdata_name_valid(p, len, &used) && used == len;
	case LDNS_RR_TYPE_MX:
		return len > 2 && rdata_name_valid(p + 2, len - 2, &used) && used == len - 2;
	case LDNS_RR_TYPE_SRV:
		return len > 6 && rdata_name_valid(p + 6, len - 6, &used) && used == len - 6;
	case LDNS_RR_TYPE_TXT:
		/* RFC 1035 section 3.3.14: one or more <character-string>s. */
		if (len == 0)
			return false;
		for (size_t off = 0; off < len; off += 1 + (size_t)p[off])
			if ((size_t)p[off] > len - off - 1)
				return false;
		return true;
	default:
		return false;
	}
}

/* ---- the rules of doc/records.md, on the struct ------------------------------------ */

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

static bool groups_valid(const struct rec_groups *g)
{
	if (g->n > REC_MAX_GROUPS)
		return false;
	for (size_t i = 0; i < g->n; i++) {
		if (!terminated(g->name[i], sizeof(g->name[i])) || !rec_label_valid(g->name[i]))
			return false;
		if (i > 0 && strcmp(g->name[i - 1], g->name[i]) >= 0)
			return false;
	}
	return true;
}

static void endpoint_wire(const struct rec_endpoint *ep, uint8_t out[ENDPOINT_WIRE_SIZE])
{
	out[0] = ep->kind;
	out[1] = ep->family;
	memcpy(out + 2, ep->addr, sizeof(ep->addr));
	out[18] = (uint8_t)(ep->port >> 8);
	out[19] = (uint8_t)ep->port;
}

static bool endpoints_valid(const struct rec_endpoints *e)
{
	uint8_t prev[ENDPOINT_WIRE_SIZE], cur[ENDPOINT_WIRE_SIZE];

	if (e->n > REC_MAX_ENDPOINTS)
		return false;
	for (size_t i = 0; i < e->n; i++) {
		const struct rec_endpoint *ep = &e->ep[i];

		if (ep->kind < EP_LAN || ep->kind > EP_REFLEXIVE || ep->port == 0)
			return false;
		if (ep->family != 4 && ep->family != 6)
			return false;
		if (ep->family == 4 && !all_zero(ep->addr + 4, sizeof(ep->addr) - 4))
			return false;
		endpoint_wire(ep, cur);
		if (i > 0 && memcmp(prev, cur, sizeof(cur)) >= 0)
			return false;
		memcpy(prev, cur, sizeof(cur));
	}
	return true;
}

/* OBSERVE: one reflexive endpoint, a real address (not all zero), padding zero. */
static bool observe_valid(const struct rec_observe *o)
{
	const struct rec_endpoint *ep = &o->seen;

	if (ep->kind != EP_REFLEXIVE || ep->port == 0 || (ep->family != 4 && ep->family != 6))
		return false;
	if (ep->family == 4 && !all_zero(ep->addr + 4, sizeof(ep->addr) - 4))
		return false;
	return !all_zero(ep->addr, ep->family == 4 ? 4 : sizeof(ep->addr));
}

static bool root_valid(const struct rec_root *root)
{
	uint32_t addr, host_mask;

	if (!terminated(root->name, sizeof(root->name)) || !rec_label_valid(root->name))
		return false;
	if (!terminated(root->zone, sizeof(root->zone)) || !rec_domain_valid(root->zone, false))
		return false;
	if (root->ipv4_len < 8 || root->ipv4_len > 30)
		return false;
	addr = (uint32_t)root->ipv4[0] << 24 | (uint32_t)root->ipv4[1] << 16 |
	       (uint32_t)root->ipv4[2] << 8 | root->ipv4[3];
	host_mask = UINT32_MAX >> root->ipv4_len;
	if ((addr & host_mask) != 0)
		return false;
	if (!all_zero(root->ipv6 + REC_IPV6_PREFIX_LEN / 8, 16 - REC_IPV6_PREFIX_LEN / 8))
		return false;
	if (root->max_cert_lifetime == 0)
		return false;
	if (root->n_admins < 1 || root->n_admins > REC_MAX_ADMINS)
		return false;
	if (root->threshold < 1 || root->threshold > root->n_admins)
		return false;
	for (size_t i = 1; i < root->n_admins; i++)
		if (memcmp(root->admins[i - 1], root->admins[i], REC_KEY_SIZE) >= 0)
			return false;
	return true;
}

static bool record_valid(const struct rec_record *rr)
{
	if (rr->op != REC_OP_ADD && rr->op != REC_OP_DELETE)
		return false;
	if (!terminated(rr->owner, sizeof(rr->owner)) || !rec_domain_valid(rr->owner, true))
		return false;
	if (rr->ttl > RECORD_TTL_MAX || rr->rdlen > REC_RDATA_MAX)
		return false;
	return rdata_valid(rr->rrtype, rr->rdata, rr->rdlen);
}

static bool header_valid(const struct rec *r)
{
	switch (r->type) {
	case REC_ROOT:
		return r->seq == 0 && r->expires_at == 0 && all_zero(r->mesh_id, REC_ID_SIZE);
	case REC_REVOKE:
		return r->expires_at == 0;
	case REC_CERT:
	case REC_ADMIT:
	case REC_ENDPOINTS:
	case REC_RECORD:
	case REC_RENEW:
		return r->expires_at > r->issued_at;
	case REC_OBSERVE:
		return r->expires_at > r->issued_at &&
		       r->expires_at - r->issued_at <= REC_OBSERVE_MAX_LIFETIME;
	default:
		return false;
	}
}

/* Every rule of doc/records.md that one record can be checked against alone. */
static bool check_rec(const struct rec *r)
{
	if (!header_valid(r))
		return false;
	switch (r->type) {
	case REC_ROOT:
		return root_valid(&r->u.root);
	case REC_CERT:
		return terminated(r->u.cert.name, sizeof(r->u.cert.name)) &&
		       rec_label_valid(r->u.cert.name) && groups_valid(&r->u.cert.groups);
	case REC_ADMIT:
		return terminated(r->u.admit.name, sizeof(r->u.admit.name)) &&
		       rec_label_valid(r->u.admit.name) && r->u.admit.cert_lifetime > 0 &&
		       groups_valid(&r->u.admit.groups);
	case REC_ENDPOINTS:
		return endpoints_valid(&r->u.endpoints);
	case REC_REVOKE:
		return true;
	case REC_RECORD:
		return record_valid(&r->u.record);
	case REC_RENEW:
		return r->u.renew.lifetime > 0;
	case REC_OBSERVE:
		return observe_valid(&r->u.observe);
	default:
		return false;
	}
}

/* ---- encoding ------------------------------------------------------------------- */

static void put_groups(struct wbuf *w, const struct rec_groups *g)
{
	put_u8(w, g->n);
	for (size_t i = 0; i < g->n; i++)
		put_string(w, g->name[i]);
}

static void put_body(struct wbuf *w, const struct rec *r)
{
	switch (r->type) {
	case REC_ROOT: {
		const struct rec_root *root = &r->u.root;

		put_string(w, root->name);
		put_string(w, root->zone);
		put_bytes(w, root->ipv4, sizeof(root->ipv4));
		put_u8(w, root->ipv4_len);
		put_bytes(w, root->ipv6, sizeof(root->ipv6));
		put_u32(w, root->max_cert_lifetime);
		put_u8(w, root->threshold);
		put_u8(w, root->n_admins);
		for (size_t i = 0; i < root->n_admins; i++)
			put_bytes(w, root->admins[i], REC_KEY_SIZE);
		break;
	}
	case REC_CERT: {
		const struct rec_cert *c = &r->u.cert;

		put_string(w, c->name);
		put_bytes(w, c->host_key, sizeof(c->host_key));
		put_bytes(w, c->wg_key, sizeof(c->wg_key));
		put_bytes(w, c->ipv4, sizeof(c->ipv4));
		put_bytes(w, c->ipv6, sizeof(c->ipv6));
		put_groups(w, &c->groups);
		break;
	}
	case REC_ADMIT: {
		const struct rec_admit *a = &r->u.admit;

		put_bytes(w, a->admission_key, sizeof(a->admission_key));
		put_string(w, a->name);
		put_bytes(w, a->ipv4, sizeof(a->ipv4));
		put_u32(w, a->cert_lifetime);
		put_groups(w, &a->groups);
		break;
	}
	case REC_ENDPOINTS: {
		const struct rec_endpoints *e = &r->u.endpoints;

		put_u16(w, e->listen_port);
		put_u8(w, e->n);
		for (size_t i = 0; i < e->n; i++) {
			put_u8(w, e->ep[i].kind);
			put_u8(w, e->ep[i].family);
			put_bytes(w, e->ep[i].addr, sizeof(e->ep[i].addr));
			put_u16(w, e->ep[i].port);
		}
		break;
	}
	case REC_REVOKE:
		put_bytes(w, r->u.revoke.target, sizeof(r->u.revoke.target));
		put_bytes(w, r->u.revoke.ipv4, sizeof(r->u.revoke.ipv4));
		break;
	case REC_RECORD: {
		const struct rec_record *rr = &r->u.record;

		put_u8(w, rr->op);
		put_string(w, rr->owner);
		put_u16(w, rr->rrtype);
		put_u32(w, rr->ttl);
		put_u16(w, rr->rdlen);
		put_bytes(w, rr->rdata, rr->rdlen);
		break;
	}
	case REC_RENEW:
		put_bytes(w, r->u.renew.cert_id, sizeof(r->u.renew.cert_id));
		put_u32(w, r->u.renew.lifetime);
		put_bytes(w, r->u.renew.new_wg_key, sizeof(r->u.renew.new_wg_key));
		break;
	case REC_OBSERVE:
		put_bytes(w, r->u.observe.subject, sizeof(r->u.observe.subject));
		put_u8(w, r->u.observe.seen.kind);
		put_u8(w, r->u.observe.seen.family);
		put_bytes(w, r->u.observe.seen.addr, sizeof(r->u.observe.seen.addr));
		put_u16(w, r->u.observe.seen.port);
		break;
	default:
		w->overflow = true; /* unreachable: check_rec ran first */
		break;
	}
}

/*
 * Header and body of a checked record into buf (size bytes), leaving room for the
 * signature within REC_MAX_SIZE. *len gets the signed length. -EMSGSIZE if too long.
 */
static int encode_unsigned(const struct rec *r, uint8_t *buf, size_t size, size_t *len)
{
	struct wbuf w = { .p = buf, .size = size };
	size_t body_len;

	if (w.size > REC_MAX_SIZE - REC_SIG_SIZE)
		w.size = REC_MAX_SIZE - REC_SIG_SIZE;
	put_bytes(&w, REC_MAGIC, 3);
	put_u8(&w, REC_VERSION);
	put_u8(&w, r->type);
	put_u8(&w, 0);
	put_bytes(&w, r->mesh_id, sizeof(r->mesh_id));
	put_u64(&w, r->seq);
	put_u64(&w, r->issued_at);
	put_u64(&w, r->expires_at);
	put_bytes(&w, r->signer, sizeof(r->signer));
	put_u16(&w, 0); /* body length, filled in below */
	put_body(&w, r);
	if (w.overflow)
		return -EMSGSIZE;
	body_len = w.len - REC_HEADER_SIZE;
	buf[OFF_BODY_LEN] = (uint8_t)(body_len >> 8);
	buf[OFF_BODY_LEN + 1] = (uint8_t)body_len;
	*len = w.len;
	return 0;
}

int rec_sign(struct rec *r, const uint8_t sk[REC_SECRET_SIZE], uint8_t *buf, size_t size,
	     size_t *len)
{
	/* The signed message is the context string followed by the record, built in
	 * place so the record bytes are encoded once. */
	uint8_t msg[SIG_CONTEXT_LEN + REC_MAX_SIZE];
	size_t unsigned_len;
	int rc;

	if (!check_rec(r))
		return -EINVAL;
	crypto_sign_ed25519_sk_to_pk(r->signer, sk);
	memcpy(msg, REC_SIG_CONTEXT, SIG_CONTEXT_LEN);
	rc = encode_unsigned(r, msg + SIG_CONTEXT_LEN, REC_MAX_SIZE, &unsigned_len);
	if (rc < 0)
		return rc;
	if (size < unsigned_len + REC_SIG_SIZE)
		return -EMSGSIZE;
	crypto_sign_detached(r->sig, NULL, msg, SIG_CONTEXT_LEN + unsigned_len, sk);
	memcpy(buf, msg + SIG_CONTEXT_LEN, unsigned_len);
	memcpy(buf + unsigned_len, r->sig, REC_SIG_SIZE);
	*len = unsigned_len + REC_SIG_SIZE;
	return 0;
}

/* ---- decoding ------------------------------------------------------------------- */

static void get_groups(struct rbuf *rb, struct rec_groups *g)
{
	g->n = get_u8(rb);
	if (g->n > REC_MAX_GROUPS) {
		rb->bad = true;
		return;
	}
	for (size_t i = 0; i < g->n && !rb->bad; i++)
		get_string(rb, g->name[i], sizeof(g->name[i]));
}

static void get_body(struct rbuf *rb, struct rec *r)
{
	switch (r->type) {
	case REC_ROOT: {
		struct rec_root *root = &r->u.root;

		get_string(rb, root->name, sizeof(root->name));
		get_string(rb, root->zone, sizeof(root->zone));
		get_copy(rb, root->ipv4, sizeof(root->ipv4));
		root->ipv4_len = get_u8(rb);
		get_copy(rb, root->ipv6, sizeof(root->ipv6));
		root->max_cert_lifetime = get_u32(rb);
		root->threshold = get_u8(rb);
		root->n_admins = get_u8(rb);
		if (root->n_admins > REC_MAX_ADMINS) {
			rb->bad = true;
			break;
		}
		for (size_t i = 0; i < root->n_admins; i++)
			get_copy(rb, root->admins[i], REC_KEY_SIZE);
		break;
	}
	case REC_CERT: {
		struct rec_cert *c = &r->u.cert;

		get_string(rb, c->name, sizeof(c->name));
		get_copy(rb, c->host_key, sizeof(c->host_key));
		get_copy(rb, c->wg_key, sizeof(c->wg_key));
		get_copy(rb, c->ipv4, sizeof(c->ipv4));
		get_copy(rb, c->ipv6, sizeof(c->ipv6));
		get_groups(rb, &c->groups);
		break;
	}
	case REC_ADMIT: {
		struct rec_admit *a = &r->u.admit;

		get_copy(rb, a->admission_key, sizeof(a->admission_key));
		get_string(rb, a->name, sizeof(a->name));
		get_copy(rb, a->ipv4, sizeof(a->ipv4));
		a->cert_lifetime = get_u32(rb);
		get_groups(rb, &a->groups);
		break;
	}
	case REC_ENDPOINTS: {
		struct rec_endpoints *e = &r->u.endpoints;

		e->listen_port = get_u16(rb);
		e->n = get_u8(rb);
		if (e->n > REC_MAX_ENDPOINTS) {
			rb->bad = true;
			break;
		}
		for (size_t i = 0; i < e->n; i++) {
			e->ep[i].kind = get_u8(rb);
			e->ep[i].family = get_u8(rb);
			get_copy(rb, e->ep[i].addr, sizeof(e->ep[i].addr));
			e->ep[i].port = get_u16(rb);
		}
		break;
	}
	case REC_REVOKE:
		get_copy(rb, r->u.revoke.target, sizeof(r->u.revoke.target));
		get_copy(rb, r->u.revoke.ipv4, sizeof(r->u.revoke.ipv4));
		break;
	case REC_RECORD: {
		struct rec_record *rr = &r->u.record;

		rr->op = get_u8(rb);
		get_string(rb, rr->owner, sizeof(rr->owner));
		rr->rrtype = get_u16(rb);
		rr->ttl = get_u32(rb);
		rr->rdlen = get_u16(rb);
		if (rr->rdlen > REC_RDATA_MAX) {
			rb->bad = true;
			break;
		}
		get_copy(rb, rr->rdata, rr->rdlen);
		break;
	}
	case REC_RENEW:
		get_copy(rb, r->u.renew.cert_id, sizeof(r->u.renew.cert_id));
		r->u.renew.lifetime = get_u32(rb);
		get_copy(rb, r->u.renew.new_wg_key, sizeof(r->u.renew.new_wg_key));
		break;
	case REC_OBSERVE:
		get_copy(rb, r->u.observe.subject, sizeof(r->u.observe.subject));
		r->u.observe.seen.kind = get_u8(rb);
		r->u.observe.seen.family = get_u8(rb);
		get_copy(rb, r->u.observe.seen.addr, sizeof(r->u.observe.seen.addr));
		r->u.observe.seen.port = get_u16(rb);
		break;
	default:
		rb->bad = true;
		break;
	}
}

/* Magic, version and type, on however many of those bytes buf holds. */
static bool protocol_supported(const uint8_t *buf, size_t len)
{
	static const uint8_t head[OFF_TYPE] = { 'M', 'N', 'R', REC_VERSION };

	if (memcmp(buf, head, len < sizeof(head) ? len : sizeof(head)) != 0)
		return false;
	return len <= OFF_TYPE || (buf[OFF_TYPE] >= REC_TYPE_MIN && buf[OFF_TYPE] <= REC_TYPE_MAX);
}

int rec_decode(const uint8_t *buf, size_t len, struct rec *r)
{
	uint8_t again[REC_MAX_SIZE];
	struct rbuf rb = { .p = buf, .len = len };
	size_t body_len, again_len;
	int rc = -EBADMSG;

	memset(r, 0, sizeof(*r));
	if (len > REC_MAX_SIZE)
		return -EMSGSIZE;
	if (len == 0)
		return -EBADMSG;
	if (!protocol_supported(buf, len))
		return -EPROTONOSUPPORT;
	if (len < REC_HEADER_SIZE + REC_SIG_SIZE)
		return -EBADMSG;
	body_len = (size_t)buf[OFF_BODY_LEN] << 8 | buf[OFF_BODY_LEN + 1];
	if (REC_HEADER_SIZE + body_len + REC_SIG_SIZE != len || buf[OFF_RESERVED] != 0)
		return -EBADMSG;

	rb.off = OFF_TYPE;
	r->type = get_u8(&rb);
	rb.off = OFF_RESERVED + 1;
	get_copy(&rb, r->mesh_id, sizeof(r->mesh_id));
	r->seq = get_u64(&rb);
	r->issued_at = get_u64(&rb);
	r->expires_at = get_u64(&rb);
	get_copy(&rb, r->signer, sizeof(r->signer));
	rb.off = REC_HEADER_SIZE;
	rb.len = REC_HEADER_SIZE + body_len; /* the body may not run into the signature */
	get_body(&rb, r);
	if (rb.bad || rb.off != rb.len)
		goto out;
	memcpy(r->sig, buf + REC_HEADER_SIZE + body_len, REC_SIG_SIZE);
	if (!check_rec(r))
		goto out;

	/* Canonical only: exactly one byte string may decode to this struct. */
	if (encode_unsigned(r, again, sizeof(again), &again_len) < 0)
		goto out;
	if (again_len != REC_HEADER_SIZE + body_len || memcmp(again, buf, again_len) != 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		memset(r, 0, sizeof(*r));
	return rc;
}

bool rec_verify(const uint8_t *buf, size_t len)
{
	uint8_t msg[SIG_CONTEXT_LEN + REC_MAX_SIZE];
	size_t body_len, signed_len;

	if (len < REC_HEADER_SIZE + REC_SIG_SIZE || len > REC_MAX_SIZE)
		return false;
	body_len = (size_t)buf[OFF_BODY_LEN] << 8 | buf[OFF_BODY_LEN + 1];
	signed_len = REC_HEADER_SIZE + body_len;
	if (signed_len + REC_SIG_SIZE != len)
		return false;
	memcpy(msg, REC_SIG_CONTEXT, SIG_CONTEXT_LEN);
	memcpy(msg + SIG_CONTEXT_LEN, buf, signed_len);
	return crypto_sign_verify_detached(buf + signed_len, msg, SIG_CONTEXT_LEN + signed_len,
					   buf + OFF_SIGNER) == 0;
}

void rec_id(const uint8_t *buf, size_t len, uint8_t id[REC_ID_SIZE])
{
	crypto_generichash(id, REC_ID_SIZE, buf, len, NULL, 0);
}

void rec_ipv6_for_host(const uint8_t prefix[16], const uint8_t host_key[REC_KEY_SIZE],
		       uint8_t out[16])
{
	crypto_generichash_state st;
	uint8_t h[32];
	const size_t prefix_bytes = REC_IPV6_PREFIX_LEN / 8;

	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, (const uint8_t *)IPV6_CONTEXT, sizeof(IPV6_CONTEXT) - 1);
	crypto_generichash_update(&st, host_key, REC_KEY_SIZE);
	crypto_generichash_final(&st, h, sizeof(h));
	memcpy(out, prefix, prefix_bytes);
	memcpy(out + prefix_bytes, h, 16 - prefix_bytes);
}

const char *rec_ep_kind_name(uint8_t kind)
{
	switch (kind) {
	case EP_LAN:
		return "lan";
	case EP_IPV6:
		return "ipv6";
	case EP_PUBLIC:
		return "public";
	case EP_REFLEXIVE:
		return "reflexive";
	default:
		return "none";
	}
}

const char *rec_type_name(uint8_t type)
{
	static const char *const names[] = {
		[REC_ROOT] = "ROOT",           [REC_CERT] = "CERT",       [REC_ADMIT] = "ADMIT",
		[REC_ENDPOINTS] = "ENDPOINTS", [REC_REVOKE] = "REVOKE",   [REC_RECORD] = "RECORD",
		[REC_RENEW] = "RENEW",         [REC_OBSERVE] = "OBSERVE",
	};

	if (type < REC_TYPE_MIN || type > REC_TYPE_MAX)
		return NULL;
	return names[type];
}
