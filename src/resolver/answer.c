/*
 * answer.c: the authoritative answer engine (include/meshname/dns.h). Parses a query
 * and writes the response straight into the caller's buffer in wire format.
 * It never allocates, logs or blocks, and never reads or writes past a bound it was given.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <ldns/ldns.h>

#include "meshname/dns.h"
#include "meshname/snapshot.h"
#include "resolver/wire.h"

/* Header flag word (RFC 1035 section 4.1.1, RFC 4035 for AD and CD). */
#define FLAG_QR 0x8000u
#define FLAG_AA 0x0400u
#define FLAG_TC 0x0200u
#define FLAG_RD 0x0100u
#define FLAG_RA 0x0080u
#define FLAG_CD 0x0010u
#define OPCODE_OF(flags) (((flags) >> 11) & 0x0fu)
#define OPCODE_MASK 0x7800u

#define OPT_RR_SIZE 11 /* root name, type, class, ttl, rdlen 0 */
#define OPT_DO 0x8000u
#define COMPRESS_MAX 0x3fffu
#define LABELS_MAX 128 /* a 255-byte name has at most 127 labels plus the root */

/* SOA timers: nothing transfers our zones, so they only need to be short. */
#define SOA_REFRESH 60u
#define SOA_RETRY 30u
#define SOA_EXPIRE 600u

/* RFC 6303 style server name for zones that have no real name server. */
static const uint8_t localhost_wire[] = "\011localhost";    /* + the root label */
static const uint8_t hostmaster_label[] = "\012hostmaster"; /* + the mesh zone */

/* A name in wire format, uncompressed, with where each label starts. */
struct name_view {
	const uint8_t *p;
	size_t len; /* root label included */
	size_t nl;  /* labels, root excluded */
	uint8_t loff[LABELS_MAX];
};

struct zone {
	uint8_t wire[DNS_NAME_MAX];
	size_t len; /* 0: no such zone */
};

enum zone_kind {
	ZONE_MESH,
	ZONE_V4,
	ZONE_V6,
};

/* Where an owner name already sits, uncompressed, in the response. */
struct owner {
	size_t off;
};

struct writer {
	uint8_t *buf;
	size_t len;
	size_t limit;
	bool overflow; /* something did not fit: the response becomes TC */
};

struct answer {
	const struct snapshot *s;
	const struct dns_config *cfg;
	const struct dns_query *q;
	struct writer w;
	const struct zone *mesh; /* the mesh zone, for PTR rdata and the SOA rname */
	size_t apex_off;         /* the zone apex inside the echoed qname */
	enum zone_kind kind;
	uint16_t ancount;
	uint16_t nscount;
	uint8_t rcode;
};

static bool bytes_equal_nocase(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (lower(a[i]) != lower(b[i]))
			return false;
	}
	return true;
}

/* ---- Writing ---- */

static void put(struct writer *w, const void *p, size_t n)
{
	if (w->overflow || n > w->limit - w->len) {
		w->overflow = true;
		return;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put16(struct writer *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(w, b, sizeof(b));
}

static void put32(struct writer *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	put(w, b, sizeof(b));
}

/*
 * Owners are the qname or a CNAME target written by answer_mesh: at most the question
 * and DNS_MAX_CHAIN CNAME rrs precede them, always within reach of a pointer.
 */
_Static_assert(DNS_HEADER_SIZE + DNS_NAME_MAX + 4 +
			       DNS_MAX_CHAIN * (DNS_NAME_MAX + 12 + REC_RDATA_MAX) <=
		       COMPRESS_MAX,
	       "an owner may be out of reach of a compression pointer");

static void put_owner(struct writer *w, const struct owner *o)
{
	put16(w, (uint16_t)(0xc000u | o->off));
}

/* Type, class IN, ttl and rdlength after the owner; returns where the rdata starts. */
static size_t put_rr_head(struct answer *a, const struct owner *o, uint16_t type, uint32_t ttl,
			  size_t rdlen)
{
	put_owner(&a->w, o);
	put16(&a->w, type);
	put16(&a->w, LDNS_RR_CLASS_IN);
	put32(&a->w, ttl);
	put16(&a->w, (uint16_t)rdlen);
	return a->w.len;
}

static void put_rr(struct answer *a, const struct owner *o, uint16_t type, uint32_t ttl,
		   const uint8_t *rdata, size_t rdlen)
{
	put_rr_head(a, o, type, ttl, rdlen);
	put(&a->w, rdata, rdlen);
}

static void put_header(struct writer *w, const struct dns_query *q, uint16_t flags, uint8_t rcode)
{
	put16(w, q->id);
	put16(w, (uint16_t)((q->flags & (OPCODE_MASK | FLAG_RD | FLAG_CD)) | FLAG_QR | FLAG_RA |
			    flags | (rcode & 0x0fu)));
	put16(w, q->question_len > 0 ? 1 : 0);
	put16(w, 0);
	put16(w, 0);
	put16(w, 0);
}

/* Our OPT (RFC 6891 section 6.1.2): payload, extended rcode, version 0, DO copied. */
static void put_opt(struct writer *w, const struct dns_config *cfg, const struct dns_query *q,
		    uint8_t rcode)
{
	uint32_t ttl = (uint32_t)(rcode >> 4) << 24 | (q->edns_do ? OPT_DO : 0);
	const uint8_t root = 0;

	put(w, &root, 1);
	put16(w, LDNS_RR_TYPE_OPT);
	put16(w, cfg->edns_payload < DNS_UDP_MIN ? DNS_UDP_MIN : cfg->edns_payload);
	put32(w, ttl);
	put16(w, 0);
}

/* ---- Names ---- */

/*
 * Length of the uncompressed name at buf[off] (root label included), 0 if it is
 * malformed, runs past len or is longer than DNS_NAME_MAX. With allow_pointer a
 * compression pointer ends the name (used only to skip additional records).
 */
static size_t name_scan(const uint8_t *buf, size_t len, size_t off, bool allow_pointer)
{
	size_t start = off;

	for (;;) {
		uint8_t c;

		if (off >= len)
			return 0;
		c = buf[off];
		if (c == 0)
			return off + 1 - start;
		if ((c & 0xc0u) == 0xc0u)
			return allow_pointer && len - off >= 2 ? off + 2 - start : 0;
		if ((c & 0xc0u) != 0) /* 0x40, 0x80: extended label types (RFC 6891 5) */
			return 0;
		off += 1u + c;
		/* The root label still has to come: 255 bytes so far is already too many. */
		if (off - start >= DNS_NAME_MAX)
			return 0;
	}
}

/* Splits a name that name_scan accepted (or that we made) into labels. */
static void name_view_init(struct name_view *n, const uint8_t *p, size_t len)
{
	size_t off = 0;

	n->p = p;
	n->len = len;
	n->nl = 0;
	while (off < len && p[off] != 0 && n->nl < LABELS_MAX) {
		n->loff[n->nl++] = (uint8_t)off;
		off += 1u + p[off];
	}
}

/*
 * If n is z or below it, sets *k to the number of labels of n above the zone apex.
 * The apex must start on a label boundary: "xmesh." is not under "mesh.".
 */
static bool name_under(const struct name_view *n, const struct zone *z, size_t *k)
{
	size_t start, i;

	if (z->len == 0 || n->len < z->len)
		return false;
	start = n->len - z->len;
	for (i = 0; i <= n->nl; i++) {
		size_t off = i < n->nl ? n->loff[i] : n->len - 1;

		if (off == start) {
			if (!bytes_equal_nocase(n->p + start, z->wire, z->len))
				return false;
			*k = i;
			return true;
		}
		if (off > start)
			break;
	}
	return false;
}

/*
 * The first k labels of n as a lowercase dotted string (owner form: relative to the
 * zone, no final dot). False if a label holds a byte no host or owner can contain, so
 * that the name cannot exist.
 */
static bool name_relative(const struct name_view *n, size_t k, char rel[DNS_NAME_MAX],
			  size_t *rel_len)
{
	size_t i, j, len = 0;

	for (i = 0; i < k; i++) {
		const uint8_t *label = n->p + n->loff[i];

		if (i > 0)
			rel[len++] = '.';
		for (j = 1; j <= label[0]; j++) {
			uint8_t c = lower(label[j]);

			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			      c == '_'))
				return false;
			rel[len++] = (char)c;
		}
	}
	*rel_len = len;
	return true;
}

/* "corp.example" -> \4corp\7example\0; a zone that is not a valid name gets len 0. */
static void zone_from_text(struct zone *z, const char *text)
{
	size_t len = strlen(text), i, label = 0;

	z->len = 0;
	if (len == 0 || len + 2 > DNS_NAME_MAX)
		return;
	for (i = 0; i <= len; i++) {
		if (i == len || text[i] == '.') {
			size_t n = i - label;

			if (n == 0 || n > 63)
				return;
			z->wire[label] = (uint8_t)n;
			memcpy(z->wire + label + 1, text + label, n);
			label = i + 1;
		}
	}
	z->wire[len + 1] = 0;
	z->len = len + 2;
}

static void zone_append(struct zone *z, const char *label)
{
	size_t n = strlen(label);

	z->wire[z->len] = (uint8_t)n;
	memcpy(z->wire + z->len + 1, label, n);
	z->len += n + 1;
}

/* The in-addr.arpa zone at the octet boundary covering the IPv4 prefix. */
static void zone_v4(struct zone *z, const struct rec_root *root)
{
	size_t octets = root->ipv4_len / 8u, i;

	z->len = 0;
	if (octets == 0 || octets > 3)
		return;
	for (i = octets; i-- > 0;) {
		/* By hand, not snprintf: this runs for every reverse query. */
		unsigned v = root->ipv4[i];
		size_t start = z->len++;

		if (v >= 100)
			z->wire[z->len++] = (uint8_t)('0' + v / 100);
		if (v >= 10)
			z->wire[z->len++] = (uint8_t)('0' + v / 10 % 10);
		z->wire[z->len++] = (uint8_t)('0' + v % 10);
		z->wire[start] = (uint8_t)(z->len - start - 1);
	}
	zone_append(z, "in-addr");
	zone_append(z, "arpa");
	z->wire[z->len++] = 0;
}

static const char hex_digits[] = "0123456789abcdef";

/* The ip6.arpa zone of the /48: 12 nibbles, lowest first. */
static void zone_v6(struct zone *z, const struct rec_root *root)
{
	size_t i;

	z->len = 0;
	for (i = REC_IPV6_PREFIX_LEN / 8; i-- > 0;) {
		z->wire[z->len++] = 1;
		z->wire[z->len++] = (uint8_t)hex_digits[root->ipv6[i] & 0x0fu];
		z->wire[z->len++] = 1;
		z->wire[z->len++] = (uint8_t)hex_digits[root->ipv6[i] >> 4];
	}
	zone_append(z, "ip6");
	zone_append(z, "arpa");
	z->wire[z->len++] = 0;
}

/* Cheap test before building the reverse zones: is the last label "arpa"? */
static bool ends_in_arpa(const struct name_view *n)
{
	const uint8_t *last;

	if (n->nl == 0)
		return false;
	last = n->p + n->loff[n->nl - 1];
	return last[0] == 4 && bytes_equal_nocase(last + 1, (const uint8_t *)"arpa", 4);
}

/*
 * Which of our zones holds n: its kind, the wire length of its apex and k, the labels
 * of n above the apex. False: none, forward it. mesh gets the mesh zone either way.
 */
static bool find_zone(const struct snapshot *s, const struct name_view *n, struct zone *mesh,
		      enum zone_kind *kind, size_t *apex_len, size_t *k)
{
	const struct rec_root *root = snapshot_root(s);
	struct zone z;

	zone_from_text(mesh, snapshot_zone(s));
	if (name_under(n, mesh, k)) {
		*kind = ZONE_MESH;
		*apex_len = mesh->len;
		return true;
	}
	if (!ends_in_arpa(n))
		return false;
	zone_v4(&z, root);
	*kind = ZONE_V4;
	if (!name_under(n, &z, k)) {
		zone_v6(&z, root);
		*kind = ZONE_V6;
		if (!name_under(n, &z, k))
			return false;
	}
	*apex_len = z.len;
	return true;
}

/* ---- Answers ---- */

static void put_soa(struct answer *a, const struct owner *o, uint32_t ttl)
{
	size_t rdlen = sizeof(localhost_wire) + sizeof(hostmaster_label) - 1 + a->mesh->len + 20;

	put_rr_head(a, o, LDNS_RR_TYPE_SOA, ttl, rdlen);
	put(&a->w, localhost_wire, sizeof(localhost_wire)); /* with its NUL: the root */
	put(&a->w, hostmaster_label, sizeof(hostmaster_label) - 1);
	put(&a->w, a->mesh->wire, a->mesh->len);
	put32(&a->w, (uint32_t)snapshot_generation(a->s));
	put32(&a->w, SOA_REFRESH);
	put32(&a->w, SOA_RETRY);
	put32(&a->w, SOA_EXPIRE);
	put32(&a->w, a->cfg->negative_ttl);
}

/* NXDOMAIN or NODATA: the SOA of the zone in the authority section (RFC 2308 3). */
static void negative(struct answer *a, uint8_t rcode)
{
	struct owner apex = { a->apex_off };
	uint32_t ttl = a->cfg->ttl < a->cfg->negative_ttl ? a->cfg->ttl : a->cfg->negative_ttl;

	a->rcode = rcode;
	put_soa(a, &apex, ttl);
	a->nscount++;
}

static void answer_apex(struct answer *a, const struct owner *o, const struct snapshot_rr *rrs,
			size_t n)
{
	uint16_t qtype = a->q->qtype;
	unsigned count = 0;
	size_t i;

	if (qtype == LDNS_RR_TYPE_SOA || qtype == LDNS_RR_TYPE_ANY) {
		put_soa(a, o, a->cfg->ttl);
		a->ancount++;
		return;
	}
	if (qtype == LDNS_RR_TYPE_NS) {
		put_rr(a, o, LDNS_RR_TYPE_NS, a->cfg->ttl, localhost_wire, sizeof(localhost_wire));
		a->ancount++;
		return;
	}
	/* A CNAME cannot live at an apex (RFC 1912 2.4): never chased here. */
	for (i = 0; i < n; i++) {
		if (rrs[i].rrtype == qtype && qtype != LDNS_RR_TYPE_CNAME) {
			put_rr(a, o, qtype, rrs[i].ttl, rrs[i].rdata, rrs[i].rdlen);
			count++;
		}
	}
	a->ancount = (uint16_t)(a->ancount + count);
	if (count == 0)
		negative(a, LDNS_RCODE_NOERROR);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != 0)
			return false;
	}
	return true;
}

/* The host's and the custom records of one type at the owner; returns how many. */
static unsigned put_rrset(struct answer *a, const struct owner *o, uint16_t type,
			  const struct snapshot_host *host, const struct snapshot_rr *rrs, size_t n)
{
	unsigned count = 0;
	size_t i;

	if (host != NULL && type == LDNS_RR_TYPE_A && !all_zero(host->ipv4, 4)) {
		put_rr(a, o, LDNS_RR_TYPE_A, a->cfg->ttl, host->ipv4, 4);
		count++;
	}
	if (host != NULL && type == LDNS_RR_TYPE_AAAA && !all_zero(host->ipv6, 16)) {
		put_rr(a, o, LDNS_RR_TYPE_AAAA, a->cfg->ttl, host->ipv6, 16);
		count++;
	}
	for (i = 0; i < n; i++) {
		if (rrs[i].rrtype != type || (host != NULL && type == LDNS_RR_TYPE_CNAME))
			continue;
		put_rr(a, o, type, rrs[i].ttl, rrs[i].rdata, rrs[i].rdlen);
		count++;
	}
	a->ancount = (uint16_t)(a->ancount + count);
	return count;
}

/* RFC 8482: the RRset of lowest type at the name stands for "any"; 0 if none. */
static uint16_t any_type(const struct snapshot_host *host, const struct snapshot_rr *rrs, size_t n)
{
	uint16_t best = 0;
	size_t i;

	if (host != NULL && !all_zero(host->ipv4, 4))
		return LDNS_RR_TYPE_A;
	if (host != NULL && !all_zero(host->ipv6, 16))
		best = LDNS_RR_TYPE_AAAA;
	for (i = 0; i < n; i++) {
		if (host != NULL && rrs[i].rrtype == LDNS_RR_TYPE_CNAME)
			continue;
		if (best == 0 || rrs[i].rrtype < best)
			best = rrs[i].rrtype;
	}
	return best;
}

/*
 * An empty non-terminal: some owner lies below rel (RFC 8020 keeps it NODATA).
 * Linear in the custom rrs, and only on the way to NXDOMAIN: about 5 ns per rr here.
 * Owners are sorted by prefix, not suffix; a reversed-owner index in the snapshot
 * would make this logarithmic if meshes ever carry thousands of custom records.
 */
static bool has_descendant(const struct snapshot *s, const char *rel, size_t rel_len)
{
	size_t i, count = snapshot_rr_count(s);

	for (i = 0; i < count; i++) {
		const char *owner = snapshot_rr_at(s, i)->owner;
		size_t len = strlen(owner);

		if (len > rel_len && owner[len - rel_len - 1] == '.' &&
		    memcmp(owner + len - rel_len, rel, rel_len) == 0)
			return true;
	}
	return false;
}

static const struct snapshot_rr *find_cname(const struct snapshot_rr *rrs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (rrs[i].rrtype == LDNS_RR_TYPE_CNAME)
			return &rrs[i];
	}
	return NULL;
}

/*
 * The mesh zone: hosts and custom records, CNAMEs chased inside the zone. name is the
 * current name (the qname, then each CNAME target), k its labels above the apex.
 */
static void answer_mesh(struct answer *a, struct name_view *name, size_t k)
{
	const struct snapshot_rr *visited[DNS_MAX_CHAIN];
	struct owner o = { DNS_HEADER_SIZE };
	size_t chain = 0;
	uint16_t qtype = a->q->qtype;

	for (;;) {
		const struct snapshot_host *host = NULL;
		const struct snapshot_rr *rrs = NULL, *cname;
		char rel[DNS_NAME_MAX];
		size_t rel_len, n, i, rdata_off, target_len;
		uint16_t type;

		if (!name_relative(name, k, rel, &rel_len)) {
			negative(a, LDNS_RCODE_NXDOMAIN);
			return;
		}
		n = snapshot_rr_find(a->s, rel, rel_len, &rrs);
		if (k == 0) {
			answer_apex(a, &o, rrs, n);
			return;
		}
		if (k == 1)
			host = snapshot_lookup_name(a->s, rel, rel_len);
		if (host == NULL && n == 0) {
			negative(a, has_descendant(a->s, rel, rel_len) ? LDNS_RCODE_NOERROR :
									 LDNS_RCODE_NXDOMAIN);
			return;
		}
		cname = host == NULL && qtype != LDNS_RR_TYPE_CNAME ? find_cname(rrs, n) : NULL;
		if (cname == NULL) {
			type = qtype == LDNS_RR_TYPE_ANY ? any_type(host, rrs, n) : qtype;
			if (type == 0 || put_rrset(a, &o, type, host, rrs, n) == 0)
				negative(a, LDNS_RCODE_NOERROR);
			return;
		}

		/* Loop-safe: each CNAME is written once, and at most DNS_MAX_CHAIN of them. */
		for (i = 0; i < chain; i++) {
			if (visited[i] == cname)
				return;
		}
		if (chain == DNS_MAX_CHAIN)
			return;
		visited[chain++] = cname;
		/* The registry checks rdata; should a broken target get here, say so. */
		target_len = name_scan(cname->rdata, cname->rdlen, 0, false);
		if (target_len == 0 || target_len != cname->rdlen) {
			a->rcode = LDNS_RCODE_SERVFAIL;
			return;
		}
		rdata_off = put_rr_head(a, &o, LDNS_RR_TYPE_CNAME, cname->ttl, cname->rdlen);
		put(&a->w, cname->rdata, cname->rdlen);
		a->ancount++;
		if (a->w.overflow || qtype == LDNS_RR_TYPE_ANY)
			return;
		/* The target, as written, becomes the owner of what follows. */
		o.off = rdata_off;
		name_view_init(name, a->w.buf + rdata_off, target_len);
		if (!name_under(name, a->mesh, &k))
			return; /* out of the zone: the client's resolver follows it */
	}
}

/* A decimal octet label without leading zeros, as in-addr.arpa names are written. */
static bool parse_octet(const uint8_t *label, uint8_t *v)
{
	unsigned n = 0;
	uint8_t i;

	if (label[0] == 0 || label[0] > 3 || (label[0] > 1 && label[1] == '0'))
		return false;
	for (i = 1; i <= label[0]; i++) {
		if (label[i] < '0' || label[i] > '9')
			return false;
		n = n * 10 + (unsigned)(label[i] - '0');
	}
	if (n > 255)
		return false;
	*v = (uint8_t)n;
	return true;
}

static bool parse_nibble(const uint8_t *label, uint8_t *v)
{
	uint8_t c;

	if (label[0] != 1)
		return false;
	c = lower(label[1]);
	if (c >= '0' && c <= '9')
		*v = (uint8_t)(c - '0');
	else if (c >= 'a' && c <= 'f')
		*v = (uint8_t)(c - 'a' + 10);
	else
		return false;
	return true;
}

/* Whether some host's address starts with the first bits of addr. */
static bool host_address_below(const struct snapshot *s, bool v6, const uint8_t *addr, size_t bits)
{
	size_t i, count = snapshot_host_count(s), whole = bits / 8;
	uint8_t mask = (uint8_t)(0xff00u >> (bits % 8));

	for (i = 0; i < count; i++) {
		const struct snapshot_host *h = snapshot_host_at(s, i);
		const uint8_t *ha = v6 ? h->ipv6 : h->ipv4;

		if (memcmp(ha, addr, whole) == 0 &&
		    (mask == 0 || ((ha[whole] ^ addr[whole]) & mask) == 0))
			return true;
	}
	return false;
}

/* A PTR to NAME.ZONE. for the host at a full address. */
static void answer_ptr(struct answer *a, const struct snapshot_host *h)
{
	struct owner o = { DNS_HEADER_SIZE };
	size_t name_len = strlen(h->name);
	uint8_t label_len = (uint8_t)name_len;

	if (a->q->qtype != LDNS_RR_TYPE_PTR && a->q->qtype != LDNS_RR_TYPE_ANY) {
		negative(a, LDNS_RCODE_NOERROR);
		return;
	}
	put_rr_head(a, &o, LDNS_RR_TYPE_PTR, a->cfg->ttl, 1 + name_len + a->mesh->len);
	put(&a->w, &label_len, 1);
	put(&a->w, h->name, name_len);
	put(&a->w, a->mesh->wire, a->mesh->len);
	a->ancount++;
}

/*
 * The reverse zones. Labels above the apex, deepest first, are octets (in-addr.arpa)
 * or nibbles (ip6.arpa): a full address is a host or NXDOMAIN; a shorter one is an
 * empty non-terminal (NODATA) if a host lies below it, else NXDOMAIN.
 */
static void answer_reverse(struct answer *a, const struct name_view *name, size_t k)
{
	const struct rec_root *root = snapshot_root(a->s);
	bool v6 = a->kind == ZONE_V6;
	size_t have = v6 ? REC_IPV6_PREFIX_LEN / 4 : root->ipv4_len / 8u; /* units in the apex */
	size_t total = v6 ? 32 : 4, unit_bits = v6 ? 4 : 8, i;
	const struct snapshot_host *h;
	uint8_t addr[16] = { 0 };

	if (k == 0) {
		answer_apex(a, &(struct owner){ DNS_HEADER_SIZE }, NULL, 0);
		return;
	}
	if (k > total - have) {
		negative(a, LDNS_RCODE_NXDOMAIN);
		return;
	}
	memcpy(addr, v6 ? root->ipv6 : root->ipv4, v6 ? 16 : 4);
	/* Label i (from the left) is unit have + k - 1 - i of the address. */
	for (i = 0; i < k; i++) {
		size_t unit = have + k - 1 - i;
		uint8_t v;

		if (!(v6 ? parse_nibble(name->p + name->loff[i], &v) :
			   parse_octet(name->p + name->loff[i], &v))) {
			negative(a, LDNS_RCODE_NXDOMAIN);
			return;
		}
		if (v6) {
			addr[unit / 2] = (uint8_t)(unit % 2 == 0 ? (addr[unit / 2] & 0x0fu) |
									   (unsigned)v << 4 :
								   (addr[unit / 2] & 0xf0u) | v);
		} else {
			addr[unit] = v;
		}
	}
	if (have + k < total) {
		negative(a, host_address_below(a->s, v6, addr, (have + k) * unit_bits) ?
				    LDNS_RCODE_NOERROR :
				    LDNS_RCODE_NXDOMAIN);
		return;
	}
	h = v6 ? snapshot_lookup_ipv6(a->s, addr) : snapshot_lookup_ipv4(a->s, addr);
	if (h == NULL) {
		negative(a, LDNS_RCODE_NXDOMAIN);
		return;
	}
	answer_ptr(a, h);
}

/* ---- Queries ---- */

void dns_config_default(struct dns_config *cfg)
{
	cfg->ttl = DNS_DEFAULT_TTL;
	cfg->negative_ttl = DNS_DEFAULT_NEGATIVE_TTL;
	cfg->edns_payload = DNS_DEFAULT_EDNS_PAYLOAD;
}

/* EDNS options: code, length, data, exactly filling the rdata. Unknown ones are fine. */
static bool opt_options_valid(const uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		if (len - off < 4 || get16(p + off + 2) > len - off - 4)
			return false;
		off += 4u + get16(p + off + 2);
	}
	return true;
}

int dns_query_parse(const uint8_t *query, size_t qlen, struct dns_query *q)
{
	uint16_t arcount, i;
	size_t off, n;
	bool edns = false;

	memset(q, 0, sizeof(*q));
	if (qlen < DNS_HEADER_SIZE)
		return -EBADMSG;
	q->id = get16(query);
	q->flags = get16(query + 2);
	if (q->flags & FLAG_QR)
		return -EBADMSG; /* never answer a response: that is how reflection loops start */
	q->rcode = LDNS_RCODE_FORMERR;
	if (OPCODE_OF(q->flags) != LDNS_PACKET_QUERY) {
		q->rcode = LDNS_RCODE_NOTIMPL;
		return 0;
	}
	if (get16(query + 4) != 1)
		return 0;
	n = name_scan(query, qlen, DNS_HEADER_SIZE, false);
	if (n == 0 || qlen - DNS_HEADER_SIZE - n < 4)
		return 0;
	q->qname_len = n;
	q->question_len = n + 4;
	q->qtype = get16(query + DNS_HEADER_SIZE + n);
	q->qclass = get16(query + DNS_HEADER_SIZE + n + 2);
	if (get16(query + 6) != 0 || get16(query + 8) != 0)
		return 0;

	off = DNS_HEADER_SIZE + q->question_len;
	arcount = get16(query + 10);
	for (i = 0; i < arcount; i++) {
		size_t rdlen;
		uint32_t ttl;

		n = name_scan(query, qlen, off, true);
		if (n == 0 || qlen - off - n < 10)
			return 0;
		rdlen = get16(query + off + n + 8);
		if (qlen - off - n - 10 < rdlen)
			return 0;
		if (get16(query + off + n) == LDNS_RR_TYPE_OPT) {
			/* RFC 6891 6.1.1: one OPT, owned by the root. */
			if (edns || n != 1 || !opt_options_valid(query + off + n + 10, rdlen))
				return 0;
			edns = true;
			q->edns_payload = get16(query + off + n + 2);
			ttl = get32(query + off + n + 4);
			q->edns_version = (uint8_t)(ttl >> 16);
			q->edns_do = (ttl & OPT_DO) != 0;
		}
		off += n + 10 + rdlen;
	}
	q->edns = edns;
	q->rcode = edns && q->edns_version > 0 ? DNS_RCODE_BADVERS : LDNS_RCODE_NOERROR;
	return 0;
}

bool dns_name_in_zones(const struct snapshot *s, const uint8_t *name, size_t len)
{
	struct name_view n;
	struct zone mesh;
	enum zone_kind kind;
	size_t k, apex_len;

	if (name_scan(name, len, 0, false) != len)
		return false;
	name_view_init(&n, name, len);
	return find_zone(s, &n, &mesh, &kind, &apex_len, &k);
}

/* The most the response may hold: see dns.h. */
static size_t response_limit(const struct dns_config *cfg, enum dns_transport transport,
			     const struct dns_query *q, size_t out_size)
{
	size_t limit = DNS_TCP_MAX;

	if (transport == DNS_UDP) {
		limit = DNS_UDP_MIN;
		if (q->edns) {
			limit = q->edns_payload < cfg->edns_payload ? q->edns_payload :
								      cfg->edns_payload;
			if (limit < DNS_UDP_MIN)
				limit = DNS_UDP_MIN;
		}
	}
	return limit < out_size ? limit : out_size;
}

/* Header, question if it was parsed, OPT if the query had one: no records. */
static void write_rcode_only(struct writer *w, const struct dns_config *cfg,
			     const struct dns_query *q, const uint8_t *query, uint16_t flags,
			     uint8_t rcode)
{
	put_header(w, q, flags, rcode);
	put(w, query + DNS_HEADER_SIZE, q->question_len);
	if (q->edns) {
		put_opt(w, cfg, q, rcode);
		set16(w->buf + 10, 1);
	}
}

int dns_answer_rcode(const struct dns_config *cfg, const struct dns_query *q, const uint8_t *query,
		     uint8_t rcode, uint8_t *out, size_t out_size, size_t *out_len)
{
	struct writer w = { out, 0, out_size, false };

	if (out_size < DNS_UDP_MIN || rcode > 15)
		return -EINVAL;
	write_rcode_only(&w, cfg, q, query, 0, rcode);
	*out_len = w.len;
	return 0;
}

int dns_answer(const struct snapshot *s, const struct dns_config *cfg, enum dns_transport transport,
	       const uint8_t *query, size_t qlen, uint8_t *out, size_t out_size, size_t *out_len,
	       struct dns_query *q)
{
	struct dns_query local;
	struct answer a;
	struct name_view name;
	struct zone mesh;
	size_t k, limit, body_start, apex_len;

	if (q == NULL)
		q = &local;
	if (out_size < DNS_UDP_MIN)
		return -EINVAL;
	if (dns_query_parse(query, qlen, q) < 0)
		return DNS_DROP;
	limit = response_limit(cfg, transport, q, out_size);
	memset(&a, 0, sizeof(a));
	a.w = (struct writer){ out, 0, limit, false };

	if (q->rcode != LDNS_RCODE_NOERROR) {
		write_rcode_only(&a.w, cfg, q, query, 0, q->rcode);
		goto out;
	}
	/* We serve class IN only, and never forward other classes (CHAOS and friends). */
	if (q->qclass != LDNS_RR_CLASS_IN && q->qclass != LDNS_RR_CLASS_ANY) {
		write_rcode_only(&a.w, cfg, q, query, 0, LDNS_RCODE_REFUSED);
		goto out;
	}
	name_view_init(&name, query + DNS_HEADER_SIZE, q->qname_len);
	if (!find_zone(s, &name, &mesh, &a.kind, &apex_len, &k))
		return DNS_FORWARD;
	if (q->qtype == LDNS_RR_TYPE_AXFR || q->qtype == LDNS_RR_TYPE_IXFR) {
		write_rcode_only(&a.w, cfg, q, query, 0, LDNS_RCODE_REFUSED);
		goto out;
	}

	a.s = s;
	a.cfg = cfg;
	a.q = q;
	a.mesh = &mesh;
	a.apex_off = DNS_HEADER_SIZE + q->qname_len - apex_len;
	put_header(&a.w, q, FLAG_AA, 0);
	put(&a.w, query + DNS_HEADER_SIZE, q->question_len);
	body_start = a.w.len;
	/* Keep room for the OPT: it must survive even a truncated answer. */
	if (q->edns)
		a.w.limit -= OPT_RR_SIZE;
	if (a.kind == ZONE_MESH)
		answer_mesh(&a, &name, k);
	else
		answer_reverse(&a, &name, k);
	if (a.w.overflow) {
		/* RFC 2181 9: nothing partial; the client retries over TCP. */
		a.w.overflow = false;
		a.w.len = body_start;
		a.ancount = 0;
		a.nscount = 0;
		out[2] |= FLAG_TC >> 8;
	}
	out[3] = (uint8_t)((out[3] & 0xf0u) | (a.rcode & 0x0fu));
	set16(out + 6, a.ancount);
	set16(out + 8, a.nscount);
	a.w.limit = limit;
	if (q->edns) {
		put_opt(&a.w, cfg, q, a.rcode);
		set16(out + 10, 1);
	}
out:
	*out_len = a.w.len;
	return DNS_ANSWERED;
}
