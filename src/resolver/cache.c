/*
 * cache.c: the forwarder's answer cache (cache.h): a hash table of upstream responses
 * in wire form with an intrusive LRU list. It validates every response it stores and
 * never reads or writes past a bound it was given; it never logs, blocks or reads a clock.
 */
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <ldns/ldns.h>
#include <sodium.h>

#include "resolver/cache.h"
#include "resolver/wire.h"

/* Header flag word (RFC 1035 section 4.1.1, RFC 4035 for AD and CD). */
#define FLAG_QR 0x8000u
#define FLAG_AA 0x0400u
#define FLAG_TC 0x0200u
#define FLAG_RD 0x0100u
#define FLAG_RA 0x0080u
#define FLAG_AD 0x0020u
#define FLAG_CD 0x0010u
#define OPCODE_OF(flags) (((flags) >> 11) & 0x0fu)
#define RCODE_OF(flags) ((flags)&0x0fu)

#define OPT_RR_SIZE 11 /* root name, type, class, ttl, rdlen 0 */
#define OPT_DO 0x8000u
#define TTL_MAX_VALID 0x7fffffffu /* RFC 2181 section 8: larger counts as 0 */
#define SOA_TIMERS_SIZE 20        /* serial, refresh, retry, expire, minimum */
#define KEY_MAX (DNS_NAME_MAX + 4)
/* What malloc keeps next to each chunk; counted so the budget is what the heap holds. */
#define CHUNK_OVERHEAD (2 * sizeof(size_t))
#define TABLE_MIN_BUCKETS 64u
#define BYTES_PER_BUCKET 512u /* about one bucket per average entry */

struct entry {
	struct entry *hash_next;
	struct entry *lru_prev; /* towards the most recently used */
	struct entry *lru_next;
	uint64_t hash;
	uint64_t stored; /* seconds, as passed to cache_store */
	size_t bytes;    /* counted against max_bytes */
	uint32_t ttl;
	uint16_t len;  /* of the response */
	uint16_t nttl; /* TTL fields in the response */
	uint16_t qname_len;
	uint16_t qtype;
	uint16_t qclass;
	bool negative;
	/* nttl offsets of TTL fields, then the response (question case-folded, ID 0). */
	uint16_t ttl_off[];
};

struct cache {
	struct cache_config cfg;
	struct entry **buckets;
	size_t mask;            /* buckets - 1, a power of two minus one */
	struct entry *lru_head; /* most recently used */
	struct entry *lru_tail; /* the next to evict */
	unsigned char hash_key[crypto_shorthash_KEYBYTES];
	size_t table_bytes;
	struct cache_stats st;
};

/* What walking an upstream response found. */
struct walk {
	uint16_t flags;
	uint16_t ancount;
	uint16_t nscount;
	uint16_t arcount; /* kept: before the first OPT, TSIG or SIG(0) */
	size_t qname_len;
	size_t keep_len; /* bytes kept: up to the cut, trailing garbage dropped */
	size_t nttl;
	uint8_t ext_rcode; /* upper 8 bits of the rcode, from the OPT */
	bool have_soa;
	uint32_t soa_negative_ttl; /* min(SOA TTL, SOA MINIMUM) of the first authority SOA */
	uint32_t min_ttl;          /* over answer and authority, SOA counted as above */
};

static inline uint32_t ttl_valid(uint32_t ttl)
{
	return ttl > TTL_MAX_VALID ? 0 : ttl;
}

static inline uint32_t min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static inline uint8_t *entry_resp(struct entry *e)
{
	return (uint8_t *)(e->ttl_off + e->nttl);
}

/* ---- Validating an upstream response ---- */

/*
 * Bytes the (possibly compressed) name at b[off] takes at off, or 0 if it is malformed:
 * a label or pointer past len, an extended label type, more than DNS_NAME_MAX bytes
 * expanded, or a pointer that does not point strictly before the run of labels it ends
 * (which also rules out loops: every jump goes further back) or into the header.
 */
static size_t name_skip(const uint8_t *b, size_t len, size_t off)
{
	size_t pos = off, limit = off, expanded = 0, taken = 0;

	for (;;) {
		uint8_t c;

		if (pos >= len)
			return 0;
		c = b[pos];
		if (c == 0)
			return taken > 0 ? taken : pos + 1 - off;
		if ((c & 0xc0u) == 0xc0u) {
			size_t target;

			if (len - pos < 2)
				return 0;
			target = (size_t)(c & 0x3fu) << 8 | b[pos + 1];
			if (target >= limit || target < DNS_HEADER_SIZE)
				return 0;
			if (taken == 0)
				taken = pos + 2 - off;
			limit = target;
			pos = target;
			continue;
		}
		if ((c & 0xc0u) != 0) /* 0x40, 0x80: extended label types (RFC 6891 section 5) */
			return 0;
		expanded += 1u + c;
		if (expanded >= DNS_NAME_MAX) /* the root label still has to come */
			return 0;
		pos += 1u + c;
	}
}

/* True if the rdata of a type we know to hold names is exactly those names and fields. */
static bool rdata_valid(const uint8_t *b, size_t rdata_off, size_t rdlen, uint16_t type)
{
	size_t end = rdata_off + rdlen, n, m;

	switch (type) {
	case LDNS_RR_TYPE_CNAME:
	case LDNS_RR_TYPE_NS:
	case LDNS_RR_TYPE_PTR:
	case LDNS_RR_TYPE_DNAME:
		return name_skip(b, end, rdata_off) == rdlen;
	case LDNS_RR_TYPE_MX:
		return rdlen > 2 && name_skip(b, end, rdata_off + 2) == rdlen - 2;
	case LDNS_RR_TYPE_SOA:
		n = name_skip(b, end, rdata_off);
		if (n == 0)
			return false;
		m = name_skip(b, end, rdata_off + n);
		return m > 0 && n + m + SOA_TIMERS_SIZE == rdlen;
	default:
		return true;
	}
}

/*
 * Walks resp, which must answer (qname, qtype, qclass), and fills w. With ttl_off not
 * NULL (room for w->nttl from an earlier walk) records where each kept TTL field is.
 * Returns 0 or -EBADMSG.
 */
static int response_walk(const uint8_t *resp, size_t len, const uint8_t *qname, size_t qname_len,
			 uint16_t qtype, uint16_t qclass, struct walk *w, uint16_t *ttl_off)
{
	uint16_t counts[3];
	size_t off, n, i;
	int section;

	memset(w, 0, sizeof(*w));
	w->min_ttl = UINT32_MAX;
	if (len < DNS_HEADER_SIZE || len > DNS_TCP_MAX)
		return -EBADMSG;
	w->flags = get16(resp + 2);
	if (!(w->flags & FLAG_QR) || OPCODE_OF(w->flags) != LDNS_PACKET_QUERY ||
	    get16(resp + 4) != 1)
		return -EBADMSG;
	/* The question: uncompressed (nothing precedes it to point at), and ours. */
	n = name_skip(resp, len, DNS_HEADER_SIZE);
	if (n == 0 || n != qname_len || len - DNS_HEADER_SIZE - n < 4 ||
	    resp[DNS_HEADER_SIZE + n - 1] != 0)
		return -EBADMSG;
	for (i = 0; i < n; i++) {
		if (lower(resp[DNS_HEADER_SIZE + i]) != lower(qname[i]))
			return -EBADMSG;
	}
	if (get16(resp + DNS_HEADER_SIZE + n) != qtype ||
	    get16(resp + DNS_HEADER_SIZE + n + 2) != qclass)
		return -EBADMSG;
	w->qname_len = n;
	off = DNS_HEADER_SIZE + n + 4;

	counts[0] = get16(resp + 6);
	counts[1] = get16(resp + 8);
	counts[2] = get16(resp + 10);
	w->ancount = counts[0];
	w->nscount = counts[1];
	for (section = 0; section < 3; section++) {
		uint16_t k;

		for (k = 0; k < counts[section]; k++) {
			uint16_t type;
			uint32_t ttl;
			size_t rdlen;

			n = name_skip(resp, len, off);
			if (n == 0 || len - off - n < 10)
				return -EBADMSG;
			type = get16(resp + off + n);
			ttl = get32(resp + off + n + 4);
			rdlen = get16(resp + off + n + 8);
			if (len - off - n - 10 < rdlen)
				return -EBADMSG;
			if (section == 2 &&
			    (type == LDNS_RR_TYPE_OPT || type == LDNS_RR_TYPE_TSIG ||
			     type == LDNS_RR_TYPE_SIG)) {
				/* The cut: what follows is about the upstream's transaction. */
				if (type == LDNS_RR_TYPE_OPT)
					w->ext_rcode = (uint8_t)(ttl >> 24);
				w->keep_len = off;
				return 0;
			}
			if (!rdata_valid(resp, off + n + 10, rdlen, type))
				return -EBADMSG;
			ttl = ttl_valid(ttl);
			if (section < 2) {
				if (section == 1 && type == LDNS_RR_TYPE_SOA) {
					uint32_t minimum = get32(resp + off + n + 10 + rdlen - 4);
					uint32_t neg = min32(ttl, ttl_valid(minimum));

					if (!w->have_soa) {
						w->have_soa = true;
						w->soa_negative_ttl = neg;
					}
					ttl = neg;
				}
				w->min_ttl = min32(w->min_ttl, ttl);
			} else {
				w->arcount++;
			}
			if (ttl_off != NULL)
				ttl_off[w->nttl] = (uint16_t)(off + n + 4);
			w->nttl++;
			off += n + 10 + rdlen;
		}
	}
	w->keep_len = off;
	return 0;
}

/* ---- The table and the LRU list ---- */

static size_t heap_bytes(void *p)
{
	return malloc_usable_size(p) + CHUNK_OVERHEAD;
}

/* The key: qname case-folded, then qtype and qclass; returns its length. */
static size_t key_make(uint8_t *key, const uint8_t *qname, size_t qname_len, uint16_t qtype,
		       uint16_t qclass)
{
	size_t i;

	for (i = 0; i < qname_len; i++)
		key[i] = lower(qname[i]);
	set16(key + qname_len, qtype);
	set16(key + qname_len + 2, qclass);
	return qname_len + 4;
}

static uint64_t key_hash(const struct cache *c, const uint8_t *key, size_t len)
{
	unsigned char h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, key, len, c->hash_key);
	memcpy(&v, h, sizeof(v));
	return v;
}

/* The entry for the key (qname case-folded in key), or NULL. */
static struct entry *table_find(const struct cache *c, uint64_t hash, const uint8_t *key,
				size_t qname_len, uint16_t qtype, uint16_t qclass)
{
	struct entry *e;

	for (e = c->buckets[hash & c->mask]; e != NULL; e = e->hash_next) {
		if (e->hash == hash && e->qname_len == qname_len && e->qtype == qtype &&
		    e->qclass == qclass &&
		    memcmp(entry_resp(e) + DNS_HEADER_SIZE, key, qname_len) == 0)
			return e;
	}
	return NULL;
}

static void lru_unlink(struct cache *c, struct entry *e)
{
	if (e->lru_prev != NULL)
		e->lru_prev->lru_next = e->lru_next;
	else
		c->lru_head = e->lru_next;
	if (e->lru_next != NULL)
		e->lru_next->lru_prev = e->lru_prev;
	else
		c->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push_head(struct cache *c, struct entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = c->lru_head;
	if (c->lru_head != NULL)
		c->lru_head->lru_prev = e;
	else
		c->lru_tail = e;
	c->lru_head = e;
}

static void entry_remove(struct cache *c, struct entry *e)
{
	struct entry **pp = &c->buckets[e->hash & c->mask];

	while (*pp != e)
		pp = &(*pp)->hash_next;
	*pp = e->hash_next;
	lru_unlink(c, e);
	c->st.entries--;
	c->st.bytes -= e->bytes;
	free(e);
}

static void entry_insert(struct cache *c, struct entry *e)
{
	struct entry **bucket = &c->buckets[e->hash & c->mask];

	e->hash_next = *bucket;
	*bucket = e;
	lru_push_head(c, e);
	c->st.entries++;
	c->st.bytes += e->bytes;
}

/* ---- The interface ---- */

void cache_config_default(struct cache_config *cfg)
{
	cfg->max_bytes = CACHE_DEFAULT_MAX_BYTES;
	cfg->max_ttl = CACHE_DEFAULT_MAX_TTL;
	cfg->max_negative_ttl = CACHE_DEFAULT_MAX_NEGATIVE_TTL;
	cfg->max_stale = CACHE_DEFAULT_MAX_STALE;
	cfg->stale_ttl = CACHE_DEFAULT_STALE_TTL;
}

int cache_new(const struct cache_config *cfg, struct cache **out)
{
	struct cache *c;
	size_t nbuckets = TABLE_MIN_BUCKETS;
	int r = -ENOMEM;

	*out = NULL;
	if (cfg->max_ttl == 0 || cfg->max_negative_ttl == 0)
		return -EINVAL;
	while (nbuckets < cfg->max_bytes / BYTES_PER_BUCKET && nbuckets < SIZE_MAX / 4)
		nbuckets *= 2;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto out;
	c->cfg = *cfg;
	c->mask = nbuckets - 1;
	c->buckets = calloc(nbuckets, sizeof(*c->buckets));
	if (c->buckets == NULL)
		goto out;
	c->table_bytes = heap_bytes(c) + heap_bytes(c->buckets);
	c->st.bytes = c->table_bytes;
	if (c->table_bytes > cfg->max_bytes) {
		r = -EINVAL;
		goto out;
	}
	/* A random key: names chosen by clients must not pile up in one bucket. */
	if (getrandom(c->hash_key, sizeof(c->hash_key), 0) != (ssize_t)sizeof(c->hash_key)) {
		r = -errno;
		goto out;
	}
	*out = c;
	c = NULL;
	r = 0;
out:
	cache_free(c);
	return r;
}

void cache_free(struct cache *c)
{
	struct entry *e, *next;

	if (c == NULL)
		return;
	for (e = c->lru_head; e != NULL; e = next) {
		next = e->lru_next;
		free(e);
	}
	free(c->buckets);
	sodium_memzero(c->hash_key, sizeof(c->hash_key));
	free(c);
}

/* The entry's TTL per cache.h, 0 if it must not be stored; sets *negative. */
static uint32_t entry_ttl(const struct cache *c, const struct walk *w, bool *negative)
{
	unsigned rcode = (unsigned)w->ext_rcode << 4 | RCODE_OF(w->flags);

	*negative = false;
	if (w->flags & FLAG_TC)
		return 0;
	if (rcode == LDNS_RCODE_NXDOMAIN || (rcode == LDNS_RCODE_NOERROR && w->ancount == 0)) {
		/* RFC 2308 section 5: no SOA, no negative caching. */
		if (!w->have_soa)
			return 0;
		*negative = true;
		return min32(min32(w->min_ttl, w->soa_negative_ttl), c->cfg.max_negative_ttl);
	}
	if (rcode != LDNS_RCODE_NOERROR)
		return 0;
	return min32(w->min_ttl, c->cfg.max_ttl);
}

int cache_store(struct cache *c, const uint8_t *qname, size_t qname_len, uint16_t qtype,
		uint16_t qclass, const uint8_t *resp, size_t resp_len, uint64_t now)
{
	struct walk w;
	struct entry *e, *old;
	uint8_t *r;
	uint32_t ttl, cap;
	size_t i, size;
	bool negative;
	int err;

	if (qname_len == 0 || qname_len > DNS_NAME_MAX)
		return -EBADMSG;
	err = response_walk(resp, resp_len, qname, qname_len, qtype, qclass, &w, NULL);
	if (err < 0)
		return err;
	ttl = entry_ttl(c, &w, &negative);
	if (ttl == 0)
		return -ENOTSUP;
	size = sizeof(*e) + w.nttl * sizeof(e->ttl_off[0]) + w.keep_len;
	if (size + CHUNK_OVERHEAD > c->cfg.max_bytes / 8)
		return -E2BIG;
	e = malloc(size);
	if (e == NULL)
		return -ENOMEM;
	memset(e, 0, sizeof(*e));
	e->nttl = (uint16_t)w.nttl;
	/* A second walk over what the first accepted, now recording the TTL offsets. */
	(void)response_walk(resp, resp_len, qname, qname_len, qtype, qclass, &w, e->ttl_off);
	e->bytes = heap_bytes(e);
	e->stored = now;
	e->ttl = ttl;
	e->len = (uint16_t)w.keep_len;
	e->qname_len = (uint16_t)qname_len;
	e->qtype = qtype;
	e->qclass = qclass;
	e->negative = negative;

	r = entry_resp(e);
	memcpy(r, resp, w.keep_len);
	set16(r, 0);
	set16(r + 10, w.arcount);
	key_make(r + DNS_HEADER_SIZE, resp + DNS_HEADER_SIZE, qname_len, qtype, qclass);
	/* A negative answer's SOA shows the negative TTL (RFC 2308 section 5). */
	cap = negative ? ttl : c->cfg.max_ttl;
	for (i = 0; i < e->nttl; i++) {
		uint8_t *p = r + e->ttl_off[i];

		set32(p, min32(ttl_valid(get32(p)), cap));
	}
	e->hash = key_hash(c, r + DNS_HEADER_SIZE, qname_len + 4);

	old = table_find(c, e->hash, r + DNS_HEADER_SIZE, qname_len, qtype, qclass);
	if (old != NULL)
		entry_remove(c, old);
	while (c->st.bytes + e->bytes > c->cfg.max_bytes && c->lru_tail != NULL) {
		entry_remove(c, c->lru_tail);
		c->st.evictions++;
	}
	if (c->st.bytes + e->bytes > c->cfg.max_bytes) {
		free(e); /* the table alone leaves no room for it */
		return -E2BIG;
	}
	entry_insert(c, e);
	return 0;
}

/* Header + question (+ OPT) with TC=1: the answer did not fit (RFC 2181 section 9). */
static size_t write_truncated(const uint8_t *query, const struct dns_query *q, uint16_t flags,
			      uint8_t *out)
{
	memset(out, 0, DNS_HEADER_SIZE);
	set16(out, q->id);
	set16(out + 2, (uint16_t)(flags | FLAG_TC));
	set16(out + 4, 1);
	memcpy(out + DNS_HEADER_SIZE, query + DNS_HEADER_SIZE, q->question_len);
	return DNS_HEADER_SIZE + q->question_len;
}

/* Our OPT (RFC 6891 section 6.1.2): payload, extended rcode 0, version 0, DO copied. */
static void write_opt(const struct dns_config *cfg, const struct dns_query *q, uint8_t *p)
{
	p[0] = 0;
	set16(p + 1, LDNS_RR_TYPE_OPT);
	set16(p + 3, cfg->edns_payload < DNS_UDP_MIN ? DNS_UDP_MIN : cfg->edns_payload);
	set32(p + 5, q->edns_do ? OPT_DO : 0);
	set16(p + 9, 0);
}

/* The reply's flag word: see cache.h. */
static uint16_t reply_flags(const struct dns_query *q, uint16_t upstream_flags, uint8_t rcode)
{
	uint16_t flags =
		(uint16_t)(FLAG_QR | FLAG_RA | (q->flags & (FLAG_RD | FLAG_CD)) | (rcode & 0x0fu));

	if ((upstream_flags & FLAG_AD) && (q->edns_do || (q->flags & FLAG_AD)))
		flags |= FLAG_AD;
	return flags;
}

/*
 * Writes the client's reply from r (len bytes, arcount kept records in the additional
 * section, no OPT): the client's ID and question, flags, our OPT if the client had EDNS;
 * header + question with TC if it does not fit in out_size (>= DNS_UDP_MIN). Returns
 * the length; *whole tells whether r went in (and so its TTL fields are at their offsets).
 */
static size_t reply_write(const struct dns_config *cfg, const uint8_t *query,
			  const struct dns_query *q, const uint8_t *r, size_t len, uint16_t arcount,
			  uint16_t flags, uint8_t *out, size_t out_size, bool *whole)
{
	*whole = len + (q->edns ? OPT_RR_SIZE : 0) <= out_size;
	if (!*whole) {
		len = write_truncated(query, q, flags, out);
	} else {
		memcpy(out, r, len);
		set16(out, q->id);
		set16(out + 2, flags);
		set16(out + 10, arcount);
		/* The client's case: the same name, so the same length. */
		memcpy(out + DNS_HEADER_SIZE, query + DNS_HEADER_SIZE, q->qname_len);
	}
	if (q->edns) {
		write_opt(cfg, q, out + len);
		len += OPT_RR_SIZE;
		set16(out + 10, (uint16_t)(get16(out + 10) + 1));
	}
	return len;
}

static bool query_usable(const struct dns_query *q, size_t out_size)
{
	return q->rcode == LDNS_RCODE_NOERROR && q->question_len > 0 &&
	       q->qname_len <= DNS_NAME_MAX && out_size >= DNS_UDP_MIN;
}

int cache_lookup(struct cache *c, const struct dns_config *cfg, const uint8_t *query,
		 const struct dns_query *q, enum cache_mode mode, uint64_t now, uint8_t *out,
		 size_t out_size, size_t *out_len)
{
	uint8_t key[KEY_MAX];
	struct entry *e;
	const uint8_t *r;
	uint64_t age, hash;
	uint16_t stored_flags;
	size_t i;
	bool stale = false, whole;

	if (!query_usable(q, out_size))
		return -EINVAL;
	hash = key_hash(c, key,
			key_make(key, query + DNS_HEADER_SIZE, q->qname_len, q->qtype, q->qclass));
	e = table_find(c, hash, key, q->qname_len, q->qtype, q->qclass);
	if (e == NULL)
		goto miss;
	age = now > e->stored ? now - e->stored : 0;
	if (age >= e->ttl) {
		if (age - e->ttl >= c->cfg.max_stale) {
			/* Of no use even stale: give the memory back now. */
			entry_remove(c, e);
			goto miss;
		}
		if (mode != CACHE_STALE)
			goto miss;
		stale = true;
	}
	lru_unlink(c, e);
	lru_push_head(c, e);
	if (stale)
		c->st.stale_hits++;
	else
		c->st.hits++;

	r = entry_resp(e);
	stored_flags = get16(r + 2);
	*out_len = reply_write(cfg, query, q, r, e->len, get16(r + 10),
			       reply_flags(q, stored_flags, RCODE_OF(stored_flags)), out, out_size,
			       &whole);
	if (whole) {
		for (i = 0; i < e->nttl; i++) {
			size_t off = e->ttl_off[i];
			uint32_t ttl = get32(r + off);

			if (stale)
				ttl = c->cfg.stale_ttl;
			else
				ttl = ttl > age ? (uint32_t)(ttl - age) : 0;
			set32(out + off, ttl);
		}
	}
	return 0;
miss:
	c->st.misses++;
	return -ENOENT;
}

int cache_relay(const struct dns_config *cfg, const uint8_t *query, const struct dns_query *q,
		const uint8_t *resp, size_t resp_len, uint8_t *out, size_t out_size,
		size_t *out_len)
{
	struct walk w;
	uint16_t flags;
	uint8_t rcode;
	bool whole;
	int err;

	if (!query_usable(q, out_size))
		return -EINVAL;
	err = response_walk(resp, resp_len, query + DNS_HEADER_SIZE, q->qname_len, q->qtype,
			    q->qclass, &w, NULL);
	if (err < 0)
		return err;
	/* An extended rcode is about our EDNS towards the upstream, not the client's. */
	rcode = w.ext_rcode != 0 ? LDNS_RCODE_SERVFAIL : (uint8_t)RCODE_OF(w.flags);
	flags = (uint16_t)(reply_flags(q, w.flags, rcode) | (w.flags & FLAG_TC));
	*out_len = reply_write(cfg, query, q, resp, w.keep_len, w.arcount, flags, out, out_size,
			       &whole);
	return 0;
}

void cache_stats(const struct cache *c, struct cache_stats *st)
{
	*st = c->st;
}
