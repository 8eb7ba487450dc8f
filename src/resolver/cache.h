/*
 * cache.h: the forwarder's answer cache (DESIGN.md section 6), private to src/resolver.
 * Stores upstream responses in wire form and replays them with the client's ID, case,
 * flags and EDNS. Pure: no sockets, no clock (time is a parameter), no logging.
 *
 * Choices, where the RFCs leave one:
 * - Key: (qname case-folded, qtype, qclass). Not the DO or CD bits: the forwarder is
 *   expected to send every upstream query with the same EDNS settings, so one entry
 *   fits every client.
 * - Stored: NOERROR and NXDOMAIN answers to the question asked, QR=1, opcode QUERY,
 *   TC clear. SERVFAIL and every other rcode are not cached (RFC 2308 section 7.1
 *   allows it; we retry instead). Positive TTL: the minimum over answer and authority
 *   RRs, capped at max_ttl. Negative (NXDOMAIN, or NOERROR with no answer = NODATA):
 *   min(SOA TTL, SOA MINIMUM) of the SOA in the authority section (RFC 2308 section 5),
 *   and the other TTLs in the response if lower, capped at max_negative_ttl; a negative
 *   answer without an SOA is not cached. A TTL of 0 is not cached. TTLs with the top
 *   bit set count as 0 (RFC 2181 section 8).
 * - Every stored TTL is capped at the entry's cap (max_ttl, or the negative TTL for a
 *   negative answer, so the SOA shows the negative TTL) and counted down by the age on
 *   every hit, never below 0.
 * - EDNS: the upstream's OPT is not replayed. The additional section is cut at its
 *   first OPT, TSIG or SIG(0) record (compression pointers only point backwards, so
 *   nothing before the cut can refer to what is cut). cache_lookup appends our own OPT
 *   when the client's query had one: payload cfg->edns_payload, version 0, DO copied.
 * - Flags of a replayed answer: QR, RA, RD and CD as the client sent them, AA clear
 *   (a cached answer is not authoritative), AD only if the upstream set it and the
 *   client asked with DO or AD (RFC 6840 section 5.8), the stored rcode.
 * - Names: the question is echoed as the client asked (same name, so same length);
 *   owner names that are compression pointers to it echo the client's case too.
 * - A response larger than out_size is replaced by header + question (+ OPT) with TC=1
 *   (RFC 2181 section 9): the client retries over TCP and gets all of it.
 * - Serve-stale (RFC 8767): expired entries stay until evicted; CACHE_STALE lookups,
 *   made only when every upstream failed, serve an entry up to max_stale seconds past
 *   its expiry with every TTL set to stale_ttl (30 s, RFC 8767 section 4). Entries
 *   past that are freed when a lookup finds them.
 * - Memory: one allocation per entry; the table, the entries and their bookkeeping are
 *   counted against max_bytes (malloc_usable_size plus a chunk header), and least
 *   recently used entries (a hit counts as a use) are evicted to stay within it.
 * - A hit allocates nothing: a hash lookup (SipHash with a random key, so clients cannot
 *   aim names at one bucket), a memcpy, and the TTL offsets recorded at store time.
 */
#ifndef MESHNAME_RESOLVER_CACHE_H
#define MESHNAME_RESOLVER_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "meshname/dns.h"

#define CACHE_DEFAULT_MAX_BYTES (4u * 1024 * 1024)
#define CACHE_DEFAULT_MAX_TTL 86400u         /* one day */
#define CACHE_DEFAULT_MAX_NEGATIVE_TTL 3600u /* one hour (RFC 2308 section 5: 1-3 hours) */
#define CACHE_DEFAULT_MAX_STALE 86400u       /* RFC 8767 section 5: 1 to 3 days */
#define CACHE_DEFAULT_STALE_TTL 30u          /* RFC 8767 section 4 */

struct cache_config {
	size_t max_bytes;          /* everything the cache allocates, table included */
	uint32_t max_ttl;          /* cap on positive TTLs */
	uint32_t max_negative_ttl; /* cap on negative TTLs */
	uint32_t max_stale;        /* seconds past expiry an entry may still be served stale */
	uint32_t stale_ttl;        /* the TTL of every RR in a stale answer */
};

enum cache_mode {
	CACHE_FRESH, /* only entries whose TTL has not run out */
	CACHE_STALE, /* also expired ones within max_stale: every upstream failed */
};

struct cache_stats {
	size_t entries;
	size_t bytes; /* counted as for max_bytes */
	uint64_t hits;
	uint64_t stale_hits;
	uint64_t misses;
	uint64_t evictions;
};

struct cache;

/* Fills cfg with the defaults above. */
void cache_config_default(struct cache_config *cfg);

/*
 * Makes an empty cache; caller frees with cache_free. Returns 0, -EINVAL if
 * cfg->max_bytes cannot even hold the table (or a TTL cap is 0), or -ENOMEM.
 */
int cache_new(const struct cache_config *cfg, struct cache **out);

/* Frees the cache and every entry; NULL is a no-op. */
void cache_free(struct cache *c);

/*
 * Stores resp, the upstream's response to the question (qname, qname_len wire bytes,
 * uncompressed, root label included; qtype; qclass), received at now (seconds),
 * replacing any entry for the same question.
 * Returns 0 if stored;
 *   -EBADMSG if resp is malformed (truncated, bad names, compression pointers that do
 *            not point backwards or loop, an RR past the end, a broken SOA) or does not
 *            answer that question (QR, opcode, QDCOUNT, name, type or class): the
 *            caller should not relay it either;
 *   -ENOTSUP if it is well formed but not cacheable (see above: rcode, TC, TTL 0,
 *            negative without SOA); the caller may still relay it;
 *   -E2BIG   if it alone would take more than max_bytes / 8; -ENOMEM.
 * On any error an older entry for the question is left as it was.
 */
int cache_store(struct cache *c, const uint8_t *qname, size_t qname_len, uint16_t qtype,
		uint16_t qclass, const uint8_t *resp, size_t resp_len, uint64_t now);

/*
 * Looks up the question of query (q as dns_query_parse filled it, q->rcode NOERROR) at
 * now and, on a hit, writes the client's response to out: at most out_size bytes, which
 * is the most the client may receive (the transport's limit, see dns.h), and at least
 * DNS_UDP_MIN. cfg gives our OPT's payload.
 * Returns 0 on a hit (*out_len set), -ENOENT on a miss, -EINVAL for a bad argument.
 */
int cache_lookup(struct cache *c, const struct dns_config *cfg, const uint8_t *query,
		 const struct dns_query *q, enum cache_mode mode, uint64_t now, uint8_t *out,
		 size_t out_size, size_t *out_len);

/*
 * Writes the client's reply to query (q as for cache_lookup) from an upstream response
 * that is not to be cached (cache_store said -ENOTSUP: SERVFAIL, TTL 0, TC over UDP
 * when TCP failed too, ...), rewritten as a hit is (ID, flags, question case, the
 * upstream's OPT cut and ours added, TC if it does not fit out_size) except that the
 * TTLs stay as received and the upstream's TC is kept. An extended rcode from the
 * upstream's OPT (about our EDNS to it, not the client's) becomes SERVFAIL.
 * Returns 0, -EBADMSG if resp is malformed or answers another question (drop it), or
 * -EINVAL for a bad argument.
 */
int cache_relay(const struct dns_config *cfg, const uint8_t *query, const struct dns_query *q,
		const uint8_t *resp, size_t resp_len, uint8_t *out, size_t out_size,
		size_t *out_len);

void cache_stats(const struct cache *c, struct cache_stats *st);

#endif
