/*
 * dns.h: the authoritative answer engine of the stub resolver (DESIGN.md section 6).
 * Pure functions from (snapshot, query bytes) to response bytes: no sockets, no clock,
 * no allocation, no logging. The dispatcher owns the sockets and the forwarder.
 *
 * What the engine answers, and the choices it makes where the RFCs leave one:
 * - Zones: the mesh zone (snapshot_zone), the in-addr.arpa zone at the octet boundary
 *   that covers the ROOT's IPv4 prefix (/16 -> 64.100.in-addr.arpa, /20 -> the /16 one),
 *   and the ip6.arpa zone of the /48 (12 nibbles). Names under them that no host owns
 *   are NXDOMAIN (they are ours); everything else is DNS_FORWARD.
 * - Apex: SOA "localhost. hostmaster.ZONE. (generation 60 30 600 negative_ttl)" and
 *   NS "localhost." (RFC 6303 style: no real name server name exists).
 * - Host records (A, AAAA, PTR) and the apex SOA/NS carry cfg->ttl; custom records
 *   their own TTL. An all-zero host address means the host has none of that family.
 * - Negative answers (NXDOMAIN, NODATA) carry the SOA in the authority section with
 *   TTL min(SOA TTL, SOA minimum) (RFC 2308 section 3).
 * - CNAME: a custom CNAME is chased inside the mesh zone, at most DNS_MAX_CHAIN links,
 *   stopping at a loop; the rcode is that of the last name (RFC 6604). A target outside
 *   the zone ends the answer (the client's resolver follows it). A host name ignores a
 *   custom CNAME at the same name (a host always has its addresses). A CNAME whose
 *   rdata is not a valid uncompressed name (the registry never lets one in) is SERVFAIL.
 * - ANY (RFC 8482): one RRset, the one of lowest type at the name (A for hosts, SOA at
 *   the apex, the CNAME at an alias); NODATA if the name has none.
 * - AXFR and IXFR: REFUSED (no zone transfers). Class other than IN and ANY: REFUSED,
 *   inside or outside our zones (we never forward non-IN classes).
 * - Malformed: shorter than a header or QR=1: DROP. Unknown opcode: NOTIMP. QDCOUNT != 1,
 *   ANCOUNT or NSCOUNT != 0, a broken question (pointer, bad label type, > 255 bytes,
 *   truncated), a broken or second OPT: FORMERR. Other additional records (TSIG, ...)
 *   are ignored, as are bytes after the last record.
 * - EDNS0 (RFC 6891): OPT echoed with payload cfg->edns_payload, the DO bit copied,
 *   unknown options ignored, version > 0 gets BADVERS. UDP responses are limited to
 *   min(client payload, cfg->edns_payload), at least 512; 512 without EDNS; TCP to 65535.
 *   An answer that does not fit is sent as header + question (+ OPT) with TC=1.
 * - Flags: AA on our answers, RD and CD copied, RA set (the dispatcher recurses through
 *   its forwarder). The question is echoed as asked (case kept); answer owners are
 *   compression pointers into it.
 */
#ifndef MESHNAME_DNS_H
#define MESHNAME_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snapshot;

#define DNS_HEADER_SIZE 12
#define DNS_UDP_MIN 512      /* the smallest response limit, and the limit without EDNS */
#define DNS_TCP_MAX 65535    /* a TCP message is at most this long (2-byte framing) */
#define DNS_NAME_MAX 255     /* wire format, root label included */
#define DNS_MAX_CHAIN 8      /* CNAME links followed in one answer */
#define DNS_RCODE_BADVERS 16 /* RFC 6891: extended rcode 1 in the OPT, 0 in the header */

#define DNS_DEFAULT_TTL 30
#define DNS_DEFAULT_NEGATIVE_TTL 10
#define DNS_DEFAULT_EDNS_PAYLOAD 1232 /* DNS flag day 2020: no IP fragmentation */

struct dns_config {
	uint32_t ttl;          /* host records and the apex SOA/NS */
	uint32_t negative_ttl; /* SOA minimum (RFC 2308) */
	uint16_t edns_payload; /* advertised in our OPT, and the UDP response cap */
};

enum dns_transport {
	DNS_UDP,
	DNS_TCP,
};

enum dns_disposition {
	DNS_ANSWERED, /* out holds the response: send it */
	DNS_FORWARD,  /* a well-formed query for a name outside our zones */
	DNS_DROP,     /* not worth an answer: shorter than a header, or a response */
};

/* What dns_query_parse found; offsets and lengths are into the query. */
struct dns_query {
	uint16_t id;
	uint16_t flags; /* the header's flag word as received */
	uint16_t qtype;
	uint16_t qclass;
	size_t qname_len;    /* wire length, root label included; at DNS_HEADER_SIZE */
	size_t question_len; /* qname_len + 4, or 0 if the question could not be parsed */
	bool edns;           /* exactly one well-formed OPT */
	uint8_t edns_version;
	bool edns_do;
	uint16_t edns_payload; /* as the client sent it (0 without EDNS) */
	uint8_t rcode;         /* LDNS_RCODE_NOERROR, FORMERR, NOTIMP, or 16 for BADVERS */
};

/* Fills cfg with the defaults above. */
void dns_config_default(struct dns_config *cfg);

/*
 * Parses the header, question and additional section of a query into q, which is
 * then valid whenever this returns 0. q->rcode says what the query deserves before
 * any name is looked up: NOERROR for a well-formed query, otherwise the error to
 * answer with (question_len tells whether the question may be echoed).
 * Returns 0, or -EBADMSG for input to drop (shorter than a header, or QR=1).
 */
int dns_query_parse(const uint8_t *query, size_t qlen, struct dns_query *q);

/*
 * True if the name (wire format, uncompressed, len bytes) is inside one of the zones
 * s answers for: the mesh zone or one of its two reverse zones. Case-insensitive.
 */
bool dns_name_in_zones(const struct snapshot *s, const uint8_t *name, size_t len);

/*
 * Answers one query from s. On DNS_ANSWERED out holds *out_len bytes, never more than
 * the transport's limit (see above) nor out_size. q, if not NULL, gets the parsed
 * query (valid unless DNS_DROP), so that the forwarder need not parse it again.
 * Returns a non-negative enum dns_disposition, or -EINVAL if out_size < DNS_UDP_MIN.
 */
int dns_answer(const struct snapshot *s, const struct dns_config *cfg, enum dns_transport transport,
	       const uint8_t *query, size_t qlen, uint8_t *out, size_t out_size, size_t *out_len,
	       struct dns_query *q);

/*
 * Writes a response carrying only rcode (e.g. SERVFAIL when every upstream failed,
 * REFUSED with `forward no`) to a query q that dns_query_parse accepted: header, the
 * question echoed, our OPT if the query had one. Not authoritative (AA clear).
 * Returns 0 or -EINVAL (out_size < DNS_UDP_MIN, or rcode > 15).
 */
int dns_answer_rcode(const struct dns_config *cfg, const struct dns_query *q, const uint8_t *query,
		     uint8_t rcode, uint8_t *out, size_t out_size, size_t *out_len);

#endif
