/*
 * test_cache.c: unit tests of the forwarder's answer cache (src/resolver/cache.c) on a
 * virtual clock. Upstream responses are built with ldns (ldns_pkt2wire, which compresses
 * names) or by hand when they must be broken; replies are parsed back with ldns.
 */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "assert_rrs.h"
#include "meshname/dns.h"
#include "resolver/cache.h"

#define CLIENT_ID 0xbeef
#define T0 1000000u /* the virtual clock starts here, in seconds */

static struct dns_config dcfg;
static uint8_t out[DNS_TCP_MAX];
static size_t out_len;

/* ---- Queries (as a client sends them) ---- */

struct query {
	uint8_t b[600];
	size_t len;
	struct dns_query q;
};

/* A query with RD for name (dotted, case kept), optionally with EDNS; parsed into q->q. */
static void query_make(struct query *q, const char *name, uint16_t qtype, bool edns, bool dnssec_ok)
{
	size_t label = 0, i, n = strlen(name);

	memset(q, 0, sizeof(*q));
	q->b[0] = CLIENT_ID >> 8;
	q->b[1] = CLIENT_ID & 0xff;
	q->b[2] = 0x01; /* RD */
	q->b[5] = 1;
	q->len = DNS_HEADER_SIZE;
	for (i = 0; i <= n; i++) {
		if (i == n || name[i] == '.') {
			if (i == label)
				break;
			q->b[q->len++] = (uint8_t)(i - label);
			memcpy(q->b + q->len, name + label, i - label);
			q->len += i - label;
			label = i + 1;
		}
	}
	q->b[q->len++] = 0;
	q->b[q->len++] = (uint8_t)(qtype >> 8);
	q->b[q->len++] = (uint8_t)qtype;
	q->b[q->len++] = 0;
	q->b[q->len++] = LDNS_RR_CLASS_IN;
	if (edns) {
		const uint8_t opt[11] = {
			0, 0, 41, 0x10, 0x00, 0, 0, dnssec_ok ? 0x80 : 0, 0, 0, 0
		};

		memcpy(q->b + q->len, opt, sizeof(opt));
		q->len += sizeof(opt);
		q->b[11] = 1;
	}
	assert_int_equal(dns_query_parse(q->b, q->len, &q->q), 0);
	assert_int_equal(q->q.rcode, LDNS_RCODE_NOERROR);
}

/* ---- Upstream responses ---- */

struct response {
	uint8_t b[DNS_TCP_MAX];
	size_t len;
};

enum {
	WITH_TC = 1,
	WITH_AA = 2,
	WITH_AD = 4,
	WITH_OPT = 8, /* payload 4096, DO */
};

/*
 * A response to (name, qtype) built by ldns. Each rr is "an:TEXT", "ns:TEXT" or
 * "ar:TEXT" for the answer, authority or additional section.
 */
static void response_make(struct response *r, const char *name, ldns_rr_type qtype,
			  ldns_pkt_rcode rcode, int flags, const char *const *rrs, size_t n)
{
	ldns_pkt *pkt = ldns_pkt_new();
	ldns_rr *question = ldns_rr_new();
	uint8_t *wire = NULL;
	size_t i;

	assert_non_null(pkt);
	ldns_pkt_set_id(pkt, 0x4242);
	ldns_pkt_set_qr(pkt, true);
	ldns_pkt_set_rd(pkt, true);
	ldns_pkt_set_ra(pkt, true);
	ldns_pkt_set_rcode(pkt, (uint8_t)rcode);
	ldns_pkt_set_tc(pkt, (flags & WITH_TC) != 0);
	ldns_pkt_set_aa(pkt, (flags & WITH_AA) != 0);
	ldns_pkt_set_ad(pkt, (flags & WITH_AD) != 0);
	ldns_rr_set_owner(question, ldns_dname_new_frm_str(name));
	ldns_rr_set_type(question, qtype);
	ldns_rr_set_class(question, LDNS_RR_CLASS_IN);
	ldns_rr_set_question(question, true);
	assert_true(ldns_pkt_push_rr(pkt, LDNS_SECTION_QUESTION, question));
	for (i = 0; i < n; i++) {
		ldns_rr *rr = NULL;
		ldns_pkt_section section = LDNS_SECTION_ANSWER;

		if (strncmp(rrs[i], "ns:", 3) == 0)
			section = LDNS_SECTION_AUTHORITY;
		else if (strncmp(rrs[i], "ar:", 3) == 0)
			section = LDNS_SECTION_ADDITIONAL;
		else
			assert_int_equal(strncmp(rrs[i], "an:", 3), 0);
		assert_int_equal(ldns_rr_new_frm_str(&rr, rrs[i] + 3, 0, NULL, NULL),
				 LDNS_STATUS_OK);
		assert_true(ldns_pkt_push_rr(pkt, section, rr));
	}
	if (flags & WITH_OPT) {
		ldns_pkt_set_edns_udp_size(pkt, 4096);
		ldns_pkt_set_edns_do(pkt, true);
	}
	assert_int_equal(ldns_pkt2wire(&wire, pkt, &r->len), LDNS_STATUS_OK);
	assert_true(r->len <= sizeof(r->b));
	memcpy(r->b, wire, r->len);
	free(wire);
	ldns_pkt_free(pkt);
}

#define RESPONSE(r, name, qtype, rcode, flags, ...)                                                \
	do {                                                                                       \
		const char *const rrs_[] = { __VA_ARGS__ };                                        \
		response_make(r, name, qtype, rcode, flags, rrs_, sizeof(rrs_) / sizeof(rrs_[0])); \
	} while (0)

/* Stores r as the answer to (name, qtype). */
static int store(struct cache *c, const char *name, uint16_t qtype, const struct response *r,
		 uint64_t now)
{
	struct query q;

	query_make(&q, name, qtype, false, false);
	return cache_store(c, q.b + DNS_HEADER_SIZE, q.q.qname_len, qtype, LDNS_RR_CLASS_IN, r->b,
			   r->len, now);
}

static int lookup(struct cache *c, const struct query *q, enum cache_mode mode, uint64_t now)
{
	memset(out, 0xee, sizeof(out));
	out_len = 0;
	return cache_lookup(c, &dcfg, q->b, &q->q, mode, now, out, sizeof(out), &out_len);
}

/* Looks up (name, qtype) without EDNS, which must hit, and parses the reply. */
static ldns_pkt *hit(struct cache *c, const char *name, uint16_t qtype, enum cache_mode mode,
		     uint64_t now)
{
	struct query q;
	ldns_pkt *pkt = NULL;

	query_make(&q, name, qtype, false, false);
	assert_int_equal(lookup(c, &q, mode, now), 0);
	assert_int_equal(ldns_wire2pkt(&pkt, out, out_len), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(pkt), CLIENT_ID);
	assert_true(ldns_pkt_qr(pkt));
	return pkt;
}

static bool misses(struct cache *c, const char *name, uint16_t qtype, enum cache_mode mode,
		   uint64_t now)
{
	struct query q;

	query_make(&q, name, qtype, false, false);
	return lookup(c, &q, mode, now) == -ENOENT;
}

static struct cache *cache_with(size_t max_bytes)
{
	struct cache_config cfg;
	struct cache *c = NULL;

	cache_config_default(&cfg);
	if (max_bytes != 0)
		cfg.max_bytes = max_bytes;
	assert_int_equal(cache_new(&cfg, &c), 0);
	assert_non_null(c);
	return c;
}

static int setup(void **state)
{
	dns_config_default(&dcfg);
	*state = cache_with(0);
	return 0;
}

static int teardown(void **state)
{
	cache_free(*state);
	return 0;
}

static const char soa_example[] =
	"ns:example.com. 900 IN SOA ns1.example.com. admin.example.com. 7 3600 600 86400 300";

/* ---- Hits ---- */

static void hit_returns_stored_answer_with_new_id_and_aged_ttls(void **state)
{
	struct cache *c = *state;
	struct response r;
	ldns_pkt *pkt;

	RESPONSE(&r, "www.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0,
		 "an:www.example.com. 300 IN CNAME web.example.com.",
		 "an:web.example.com. 600 IN A 192.0.2.7");
	assert_int_equal(store(c, "www.example.com", LDNS_RR_TYPE_A, &r, T0), 0);

	pkt = hit(c, "www.example.com", LDNS_RR_TYPE_A, CACHE_FRESH, T0 + 100);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	assert_true(ldns_pkt_rd(pkt));
	assert_true(ldns_pkt_ra(pkt));
	assert_false(ldns_pkt_aa(pkt));
	assert_false(ldns_pkt_tc(pkt));
	ASSERT_RRS(ldns_pkt_answer(pkt), "www.example.com.\t200\tIN\tCNAME\tweb.example.com.",
		   "web.example.com.\t500\tIN\tA\t192.0.2.7");
	assert_int_equal(ldns_pkt_arcount(pkt), 0);
	ldns_pkt_free(pkt);

	/* The last second of the shortest TTL still hits, with TTL 1. */
	pkt = hit(c, "www.example.com", LDNS_RR_TYPE_A, CACHE_FRESH, T0 + 299);
	ASSERT_RRS(ldns_pkt_answer(pkt), "www.example.com.\t1\tIN\tCNAME\tweb.example.com.",
		   "web.example.com.\t301\tIN\tA\t192.0.2.7");
	ldns_pkt_free(pkt);
	assert_true(misses(c, "www.example.com", LDNS_RR_TYPE_A, CACHE_FRESH, T0 + 300));
	/* Other types and names are other keys. */
	assert_true(misses(c, "www.example.com", LDNS_RR_TYPE_AAAA, CACHE_FRESH, T0 + 1));
	assert_true(misses(c, "ww.example.com", LDNS_RR_TYPE_A, CACHE_FRESH, T0 + 1));
}

static void client_qname_case_is_echoed(void **state)
{
	struct cache *c = *state;
	struct response r;
	struct query q;
	ldns_pkt *pkt = NULL;

	RESPONSE(&r, "Mixed.Example.COM.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0,
		 "an:Mixed.Example.COM. 300 IN A 192.0.2.8");
	assert_int_equal(store(c, "mixed.example.com", LDNS_RR_TYPE_A, &r, T0), 0);

	query_make(&q, "mIxEd.eXample.com", LDNS_RR_TYPE_A, false, false);
	assert_int_equal(lookup(c, &q, CACHE_FRESH, T0), 0);
	/* The question bytes are the client's, and the answer's owner points at them. */
	assert_memory_equal(out + DNS_HEADER_SIZE, q.b + DNS_HEADER_SIZE, q.q.question_len);
	assert_int_equal(ldns_wire2pkt(&pkt, out, out_len), LDNS_STATUS_OK);
	ASSERT_RRS(ldns_pkt_answer(pkt), "mIxEd.eXample.com.\t300\tIN\tA\t192.0.2.8");
	ldns_pkt_free(pkt);
}

static void restoring_a_question_replaces_its_entry(void **state)
{
	struct cache *c = *state;
	struct response r;
	struct cache_stats st;
	ldns_pkt *pkt;

	RESPONSE(&r, "a.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0,
		 "an:a.example. 300 IN A 192.0.2.1");
	assert_int_equal(store(c, "a.example", LDNS_RR_TYPE_A, &r, T0), 0);
	RESPONSE(&r, "A.EXAMPLE.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0,
		 "an:a.example. 60 IN A 192.0.2.2");
	assert_int_equal(store(c, "A.EXAMPLE", LDNS_RR_TYPE_A, &r, T0 + 10), 0);
	cache_stats(c, &st);
	assert_int_equal(st.entries, 1);
	pkt = hit(c, "a.example", LDNS_RR_TYPE_A, CACHE_FRESH, T0 + 20);
	ASSERT_RRS(ldns_pkt_answer(pkt), "a.example.\t50\tIN\tA\t192.0.2.2");
	ldns_pkt_free(pkt);
}

static void ttls_are_capped_at_max_ttl(void **state)
{
	struct cache *c = *state;
	struct response r;
	ldns_pkt *pkt;

	RESPONSE(&r, "long.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0,
		 "an:long.example. 604800 IN A 192.0.2.3");
	assert_int_equal(store(c, "long.example", LDNS_RR_TYPE_A, &r, T0), 0);
	pkt = hit(c, "long.example", LDNS_RR_TYPE_A, CACHE_FRESH, T0 + 1);
	ASSERT_RRS(ldns_pkt_answer(pkt), "long.example.\t86399\tIN\tA\t192.0.2.3");
	ldns_pkt_free(pkt);
	assert_true(misses(c, "long.example", LDNS_RR_TYPE_A, CACHE_FRESH, T0 + 86400));
}

static void zero_ttl_is_not_cached(void **state)
{
	struct cache *c = *state;
	struct response r;

	RESPONSE(&r, "zero.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0,
		 "an:zero.example. 0 IN A 192.0.2.4");
	assert_int_equal(store(c, "zero.example", LDNS_RR_TYPE_A, &r, T0), -ENOTSUP);
	/* A TTL with the top bit set counts as 0 (RFC 2181 section 8). */
	RESPONSE(&r, "zero.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0,
		 "an:zero.example. 2147483648 IN A 192.0.2.4");
	assert_int_equal(store(c, "zero.example", LDNS_RR_TYPE_A, &r, T0), -ENOTSUP);
	assert_true(misses(c, "zero.example", LDNS_RR_TYPE_A, CACHE_STALE, T0));
}

static void flags_aa_cleared_and_ad_only_for_do_clients(void **state)
{
	struct cache *c = *state;
	struct response r;
	struct query q;
	ldns_pkt *pkt = NULL;

	RESPONSE(&r, "sec.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, WITH_AA | WITH_AD,
		 "an:sec.example. 300 IN A 192.0.2.5");
	assert_int_equal(store(c, "sec.example", LDNS_RR_TYPE_A, &r, T0), 0);
	pkt = hit(c, "sec.example", LDNS_RR_TYPE_A, CACHE_FRESH, T0);
	assert_false(ldns_pkt_aa(pkt));
	assert_false(ldns_pkt_ad(pkt));
	ldns_pkt_free(pkt);

	query_make(&q, "sec.example", LDNS_RR_TYPE_A, true, true);
	q.b[3] |= 0x10; /* CD, copied to the reply */
	assert_int_equal(dns_query_parse(q.b, q.len, &q.q), 0);
	assert_int_equal(lookup(c, &q, CACHE_FRESH, T0), 0);
	assert_int_equal(ldns_wire2pkt(&pkt, out, out_len), LDNS_STATUS_OK);
	assert_true(ldns_pkt_ad(pkt));
	assert_true(ldns_pkt_cd(pkt));
	assert_false(ldns_pkt_aa(pkt));
	ldns_pkt_free(pkt);
}

/* ---- EDNS and size ---- */

static void upstream_opt_is_stripped_and_client_gets_ours(void **state)
{
	struct cache *c = *state;
	struct response r;
	struct query q;
	ldns_pkt *pkt = NULL;

	RESPONSE(&r, "mx.example.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR, WITH_OPT,
		 "an:mx.example. 300 IN MX 10 mail.mx.example.",
		 "ar:mail.mx.example. 300 IN A 192.0.2.25");
	assert_int_equal(r.b[11], 2); /* the glue and the upstream's OPT */
	assert_int_equal(store(c, "mx.example", LDNS_RR_TYPE_MX, &r, T0), 0);

	/* A client without EDNS gets no OPT. */
	pkt = hit(c, "mx.example", LDNS_RR_TYPE_MX, CACHE_FRESH, T0);
	assert_false(ldns_pkt_edns(pkt));
	ASSERT_RRS(ldns_pkt_additional(pkt), "mail.mx.example.\t300\tIN\tA\t192.0.2.25");
	assert_int_equal(out[11], 1);
	ldns_pkt_free(pkt);

	/* A client with EDNS gets ours: our payload, its DO. */
	query_make(&q, "mx.example", LDNS_RR_TYPE_MX, true, false);
	assert_int_equal(lookup(c, &q, CACHE_FRESH, T0), 0);
	assert_int_equal(ldns_wire2pkt(&pkt, out, out_len), LDNS_STATUS_OK);
	assert_true(ldns_pkt_edns(pkt));
	assert_int_equal(ldns_pkt_edns_udp_size(pkt), DNS_DEFAULT_EDNS_PAYLOAD);
	assert_false(ldns_pkt_edns_do(pkt));
	assert_int_equal(out[11], 2); /* the glue and our OPT (ldns counts the OPT apart) */
	ldns_pkt_free(pkt);

	query_make(&q, "mx.example", LDNS_RR_TYPE_MX, true, true);
	assert_int_equal(lookup(c, &q, CACHE_FRESH, T0), 0);
	assert_int_equal(ldns_wire2pkt(&pkt, out, out_len), LDNS_STATUS_OK);
	assert_true(ldns_pkt_edns_do(pkt));
	ldns_pkt_free(pkt);
}

static void answer_larger_than_the_client_limit_is_truncated(void **state)
{
	struct cache *c = *state;
	struct response r;
	struct query q;
	ldns_pkt *pkt = NULL;
	char txt[300];
	char rr[4][400];
	const char *rrs[4];
	size_t i;

	memset(txt, 'x', 250);
	txt[250] = '\0';
	for (i = 0; i < 4; i++) {
		snprintf(rr[i], sizeof(rr[i]), "an:big.example. 300 IN TXT \"%zu%s\"", i, txt);
		rrs[i] = rr[i];
	}
	response_make(&r, "big.example.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR, 0, rrs, 4);
	assert_true(r.len > DNS_UDP_MIN);
	assert_int_equal(store(c, "big.example", LDNS_RR_TYPE_TXT, &r, T0), 0);

	query_make(&q, "big.example", LDNS_RR_TYPE_TXT, false, false);
	assert_int_equal(
		cache_lookup(c, &dcfg, q.b, &q.q, CACHE_FRESH, T0, out, DNS_UDP_MIN, &out_len), 0);
	assert_true(out_len <= DNS_UDP_MIN);
	assert_int_equal(ldns_wire2pkt(&pkt, out, out_len), LDNS_STATUS_OK);
	assert_true(ldns_pkt_tc(pkt));
	assert_int_equal(ldns_pkt_id(pkt), CLIENT_ID);
	assert_int_equal(ldns_pkt_qdcount(pkt), 1);
	assert_int_equal(ldns_pkt_ancount(pkt), 0);
	ldns_pkt_free(pkt);

	/* Over TCP (or with a large enough EDNS payload) all of it. */
	assert_int_equal(lookup(c, &q, CACHE_FRESH, T0), 0);
	assert_int_equal(out_len, r.len);
	assert_int_equal(ldns_wire2pkt(&pkt, out, out_len), LDNS_STATUS_OK);
	assert_false(ldns_pkt_tc(pkt));
	assert_int_equal(ldns_pkt_ancount(pkt), 4);
	ldns_pkt_free(pkt);
}

static void lookup_refuses_bad_arguments(void **state)
{
	struct cache *c = *state;
	struct query q;

	query_make(&q, "x.example", LDNS_RR_TYPE_A, false, false);
	assert_int_equal(cache_lookup(c, &dcfg, q.b, &q.q, CACHE_FRESH, T0, out, DNS_UDP_MIN - 1,
				      &out_len),
			 -EINVAL);
	q.q.rcode = LDNS_RCODE_FORMERR;
	assert_int_equal(lookup(c, &q, CACHE_FRESH, T0), -EINVAL);
}

/* ---- Expiry and serve-stale ---- */

static void expired_entry_misses_but_is_served_stale_within_max_stale(void **state)
{
	struct cache *c = *state;
	struct response r;
	struct cache_stats st;
	ldns_pkt *pkt;

	RESPONSE(&r, "old.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0,
		 "an:old.example. 60 IN A 192.0.2.9", soa_example);
	assert_int_equal(store(c, "old.example", LDNS_RR_TYPE_A, &r, T0), 0);
	assert_true(misses(c, "old.example", LDNS_RR_TYPE_A, CACHE_FRESH, T0 + 60));

	/* RFC 8767: every TTL 30. */
	pkt = hit(c, "old.example", LDNS_RR_TYPE_A, CACHE_STALE, T0 + 60);
	ASSERT_RRS(ldns_pkt_answer(pkt), "old.example.\t30\tIN\tA\t192.0.2.9");
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_authority(pkt), 0)), 30);
	ldns_pkt_free(pkt);
	pkt = hit(c, "old.example", LDNS_RR_TYPE_A, CACHE_STALE, T0 + 60 + 86399);
	ASSERT_RRS(ldns_pkt_answer(pkt), "old.example.\t30\tIN\tA\t192.0.2.9");
	ldns_pkt_free(pkt);

	/* A fresh entry is served fresh in stale mode too. */
	RESPONSE(&r, "new.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0,
		 "an:new.example. 60 IN A 192.0.2.10");
	assert_int_equal(store(c, "new.example", LDNS_RR_TYPE_A, &r, T0), 0);
	pkt = hit(c, "new.example", LDNS_RR_TYPE_A, CACHE_STALE, T0 + 10);
	ASSERT_RRS(ldns_pkt_answer(pkt), "new.example.\t50\tIN\tA\t192.0.2.10");
	ldns_pkt_free(pkt);

	/* Past max-stale: gone, and the memory given back. */
	cache_stats(c, &st);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.stale_hits, 2);
	assert_true(misses(c, "old.example", LDNS_RR_TYPE_A, CACHE_STALE, T0 + 60 + 86400));
	cache_stats(c, &st);
	assert_int_equal(st.entries, 1);
	assert_true(misses(c, "old.example", LDNS_RR_TYPE_A, CACHE_STALE, T0 + 60));
}

/* ---- Negative answers ---- */

static void nxdomain_is_cached_for_min_of_soa_ttl_and_minimum(void **state)
{
	struct cache *c = *state;
	struct response r;
	ldns_pkt *pkt;

	/* SOA TTL 900, MINIMUM 300: 300. */
	RESPONSE(&r, "nope.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, 0, soa_example);
	assert_int_equal(store(c, "nope.example.com", LDNS_RR_TYPE_A, &r, T0), 0);
	pkt = hit(c, "nope.example.com", LDNS_RR_TYPE_A, CACHE_FRESH, T0 + 299);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NXDOMAIN);
	assert_int_equal(ldns_pkt_ancount(pkt), 0);
	/* The SOA shows the negative TTL, counted down. */
	ASSERT_RRS(ldns_pkt_authority(pkt),
		   "example.com.\t1\tIN\tSOA\tns1.example.com. admin.example.com. 7 3600 600 "
		   "86400 300");
	ldns_pkt_free(pkt);
	assert_true(misses(c, "nope.example.com", LDNS_RR_TYPE_A, CACHE_FRESH, T0 + 300));

	/* SOA TTL 100, MINIMUM 3600: 100. */
	RESPONSE(&r, "nope2.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, 0,
		 "ns:example.com. 100 IN SOA ns1.example.com. admin.example.com. 7 3600 600 "
		 "86400 3600");
	assert_int_equal(store(c, "nope2.example.com", LDNS_RR_TYPE_A, &r, T0), 0);
	pkt = hit(c, "nope2.example.com", LDNS_RR_TYPE_A, CACHE_FRESH, T0 + 99);
	ldns_pkt_free(pkt);
	assert_true(misses(c, "nope2.example.com", LDNS_RR_TYPE_A, CACHE_FRESH, T0 + 100));

	/* Capped at max_negative_ttl (one hour). */
	RESPONSE(&r, "nope3.example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, 0,
		 "ns:example.com. 86400 IN SOA ns1.example.com. admin.example.com. 7 3600 600 "
		 "86400 86400");
	assert_int_equal(store(c, "nope3.example.com", LDNS_RR_TYPE_A, &r, T0), 0);
	pkt = hit(c, "nope3.example.com", LDNS_RR_TYPE_A, CACHE_FRESH, T0 + 3599);
	ldns_pkt_free(pkt);
	assert_true(misses(c, "nope3.example.com", LDNS_RR_TYPE_A, CACHE_FRESH, T0 + 3600));
}

static void nodata_is_cached_like_nxdomain(void **state)
{
	struct cache *c = *state;
	struct response r;
	ldns_pkt *pkt;

	RESPONSE(&r, "v4only.example.com.", LDNS_RR_TYPE_AAAA, LDNS_RCODE_NOERROR, 0, soa_example);
	assert_int_equal(store(c, "v4only.example.com", LDNS_RR_TYPE_AAAA, &r, T0), 0);
	pkt = hit(c, "v4only.example.com", LDNS_RR_TYPE_AAAA, CACHE_FRESH, T0 + 299);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(pkt), 0);
	assert_int_equal(ldns_pkt_nscount(pkt), 1);
	ldns_pkt_free(pkt);
	assert_true(misses(c, "v4only.example.com", LDNS_RR_TYPE_AAAA, CACHE_FRESH, T0 + 300));
}

static void negative_answer_without_soa_is_not_cached(void **state)
{
	struct cache *c = *state;
	struct response r;

	RESPONSE(&r, "nosoa.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, 0,
		 "ns:example. 300 IN NS ns1.example.");
	assert_int_equal(store(c, "nosoa.example", LDNS_RR_TYPE_A, &r, T0), -ENOTSUP);
	RESPONSE(&r, "nosoa.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0,
		 "ns:example. 300 IN NS ns1.example.");
	assert_int_equal(store(c, "nosoa.example", LDNS_RR_TYPE_A, &r, T0), -ENOTSUP);
	assert_true(misses(c, "nosoa.example", LDNS_RR_TYPE_A, CACHE_STALE, T0));
}

static void servfail_refused_and_truncated_are_not_cached(void **state)
{
	struct cache *c = *state;
	struct response r;
	struct cache_stats st;

	RESPONSE(&r, "fail.example.", LDNS_RR_TYPE_A, LDNS_RCODE_SERVFAIL, 0, soa_example);
	assert_int_equal(store(c, "fail.example", LDNS_RR_TYPE_A, &r, T0), -ENOTSUP);
	RESPONSE(&r, "fail.example.", LDNS_RR_TYPE_A, LDNS_RCODE_REFUSED, 0, soa_example);
	assert_int_equal(store(c, "fail.example", LDNS_RR_TYPE_A, &r, T0), -ENOTSUP);
	RESPONSE(&r, "fail.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, WITH_TC,
		 "an:fail.example. 300 IN A 192.0.2.11");
	assert_int_equal(store(c, "fail.example", LDNS_RR_TYPE_A, &r, T0), -ENOTSUP);
	cache_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_true(misses(c, "fail.example", LDNS_RR_TYPE_A, CACHE_STALE, T0));
}

static void extended_rcode_in_the_opt_is_not_cached(void **state)
{
	struct cache *c = *state;
	struct response r;

	RESPONSE(&r, "ext.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, WITH_OPT,
		 "an:ext.example. 300 IN A 192.0.2.12");
	/* OPT TTL's top byte: extended rcode 1 (with NOERROR in the header: BADVERS). */
	assert_int_equal(r.b[r.len - 11 + 5], 0);
	r.b[r.len - 11 + 5] = 1;
	assert_int_equal(store(c, "ext.example", LDNS_RR_TYPE_A, &r, T0), -ENOTSUP);
}

/* ---- Memory ---- */

/* Names n0.example ... with one A each: the same size apart from the digits. */
static void store_numbered(struct cache *c, unsigned i, uint64_t now)
{
	struct response r;
	char name[64], rr[128];
	const char *rrs[1] = { rr };

	snprintf(name, sizeof(name), "n%07u.example.", i);
	snprintf(rr, sizeof(rr), "an:%s 300 IN A 192.0.2.1", name);
	response_make(&r, name, LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0, rrs, 1);
	assert_int_equal(store(c, name, LDNS_RR_TYPE_A, &r, now), 0);
}

static bool numbered_hits(struct cache *c, unsigned i, uint64_t now)
{
	char name[64];

	snprintf(name, sizeof(name), "n%07u.example", i);
	return !misses(c, name, LDNS_RR_TYPE_A, CACHE_FRESH, now);
}

static void lru_evicts_least_recently_used_when_full(void **state)
{
	struct cache *c = cache_with(16384);
	struct cache_stats st;
	unsigned i, capacity;

	(void)state;
	for (i = 0;; i++) {
		store_numbered(c, i, T0);
		cache_stats(c, &st);
		if (st.evictions > 0)
			break;
	}
	capacity = i; /* storing number i pushed out number 0 */
	assert_true(capacity >= 4);
	assert_int_equal(st.entries, capacity);
	assert_false(numbered_hits(c, 0, T0));
	assert_true(numbered_hits(c, 1, T0));

	/* 1 was just used: the next store evicts 2, the least recently used, not 1. */
	store_numbered(c, capacity + 1, T0);
	assert_true(numbered_hits(c, 1, T0));
	assert_false(numbered_hits(c, 2, T0));
	assert_true(numbered_hits(c, 3, T0));
	assert_true(numbered_hits(c, capacity + 1, T0));
	cache_free(c);
}

static void memory_stays_within_budget_after_100000_stores(void **state)
{
	const size_t budget = 256 * 1024;
	struct cache_stats st;
	struct cache *c;
	unsigned i;
#ifndef __SANITIZE_ADDRESS__
	struct mallinfo2 before = mallinfo2(), after;
#endif

	(void)state;
	c = cache_with(budget);
	for (i = 0; i < 100000; i++) {
		store_numbered(c, i, T0 + i / 100);
		if (i % 997 == 0) {
			cache_stats(c, &st);
			assert_true(st.bytes <= budget);
		}
	}
	cache_stats(c, &st);
	assert_true(st.bytes <= budget);
	assert_true(st.bytes > budget - 1024); /* it does fill up */
	assert_true(st.entries > 500);
	assert_int_equal(st.evictions, 100000 - st.entries);
	assert_true(numbered_hits(c, 99999, T0 + 1000));
#ifndef __SANITIZE_ADDRESS__
	/* What the heap really holds, not only what the cache counts (ldns frees its own). */
	after = mallinfo2();
	assert_true(after.uordblks - before.uordblks <= budget);
#endif
	cache_free(c);
}

static void cache_new_refuses_a_budget_smaller_than_its_table(void **state)
{
	struct cache_config cfg;
	struct cache *c = (struct cache *)1;

	(void)state;
	cache_config_default(&cfg);
	cfg.max_bytes = 256;
	assert_int_equal(cache_new(&cfg, &c), -EINVAL);
	assert_null(c);
	cache_config_default(&cfg);
	cfg.max_ttl = 0;
	assert_int_equal(cache_new(&cfg, &c), -EINVAL);
	cache_free(NULL);
}

static void response_larger_than_an_eighth_of_the_budget_is_refused(void **state)
{
	struct cache *c = cache_with(8192);
	struct response r;
	char rr[4][400];
	const char *rrs[4];
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		snprintf(rr[i], sizeof(rr[i]), "an:big.example. 300 IN TXT \"%zu%0250d\"", i, 0);
		rrs[i] = rr[i];
	}
	response_make(&r, "big.example.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR, 0, rrs, 4);
	assert_int_equal(store(c, "big.example", LDNS_RR_TYPE_TXT, &r, T0), -E2BIG);
	cache_free(c);
}

/* ---- Malformed upstream responses ---- */

static void truncated_responses_are_refused_at_every_length(void **state)
{
	struct cache *c = *state;
	struct response r;
	size_t len, full;

	RESPONSE(&r, "cut.example.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR, WITH_OPT,
		 "an:cut.example. 300 IN MX 10 mail.cut.example.",
		 "ns:cut.example. 300 IN NS ns.cut.example.",
		 "ar:mail.cut.example. 300 IN A 192.0.2.30");
	full = r.len;
	for (len = 0; len < full; len++) {
		r.len = len;
		assert_int_equal(store(c, "cut.example", LDNS_RR_TYPE_MX, &r, T0), -EBADMSG);
	}
	assert_true(misses(c, "cut.example", LDNS_RR_TYPE_MX, CACHE_STALE, T0));
	r.len = full;
	assert_int_equal(store(c, "cut.example", LDNS_RR_TYPE_MX, &r, T0), 0);
}

static void response_to_another_question_is_refused(void **state)
{
	struct cache *c = *state;
	struct response r;
	struct query q;

	RESPONSE(&r, "asked.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0,
		 "an:asked.example. 300 IN A 192.0.2.40");
	assert_int_equal(store(c, "other.example", LDNS_RR_TYPE_A, &r, T0), -EBADMSG);
	assert_int_equal(store(c, "asked.example", LDNS_RR_TYPE_AAAA, &r, T0), -EBADMSG);
	query_make(&q, "asked.example", LDNS_RR_TYPE_A, false, false);
	assert_int_equal(cache_store(c, q.b + DNS_HEADER_SIZE, q.q.qname_len, LDNS_RR_TYPE_A,
				     LDNS_RR_CLASS_CH, r.b, r.len, T0),
			 -EBADMSG);
	/* Not a response (QR clear), or two questions, or another opcode. */
	r.b[2] &= 0x7f;
	assert_int_equal(store(c, "asked.example", LDNS_RR_TYPE_A, &r, T0), -EBADMSG);
	r.b[2] |= 0x80;
	r.b[5] = 2;
	assert_int_equal(store(c, "asked.example", LDNS_RR_TYPE_A, &r, T0), -EBADMSG);
	r.b[5] = 1;
	r.b[2] |= 0x10; /* opcode 2, STATUS */
	assert_int_equal(store(c, "asked.example", LDNS_RR_TYPE_A, &r, T0), -EBADMSG);
	r.b[2] &= (uint8_t)~0x10;
	assert_int_equal(store(c, "asked.example", LDNS_RR_TYPE_A, &r, T0), 0);
}

/* A hand-made response to "a.example. A" whose answer owner is the name at owner. */
static size_t broken_response(uint8_t *b, const uint8_t *owner, size_t owner_len)
{
	static const uint8_t head[] = {
		0x42, 0x42, 0x81, 0x80, 0,   1,   0,   1,   0,   0,   0, 0, /* header: 1 question, 1 answer */
		1,    'a',  7,    'e',  'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1,
	};
	static const uint8_t tail[] = { 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 192, 0, 2, 50 };
	size_t len = 0;

	memcpy(b, head, sizeof(head));
	len += sizeof(head);
	memcpy(b + len, owner, owner_len);
	len += owner_len;
	memcpy(b + len, tail, sizeof(tail));
	return len + sizeof(tail);
}

static void compression_pointer_loops_and_forward_pointers_are_refused(void **state)
{
	struct cache *c = *state;
	struct response r;
	const uint8_t good[] = { 0xc0, 12 };
	const uint8_t self[] = { 0xc0, 27 };    /* points at itself */
	const uint8_t forward[] = { 0xc0, 40 }; /* past itself */
	const uint8_t into_header[] = { 0xc0, 2 };
	const uint8_t label_then_self[] = { 1, 'x', 0xc0, 27 }; /* x. then back at x: a loop */
	const uint8_t bad_label_type[] = { 0x41, 'x', 0 };
	const uint8_t *cases[] = { self, forward, into_header, label_then_self, bad_label_type };
	const size_t lens[] = { 2, 2, 2, 4, 3 };
	size_t i;

	(void)state;
	r.len = broken_response(r.b, good, sizeof(good));
	assert_int_equal(store(c, "a.example", LDNS_RR_TYPE_A, &r, T0), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r.len = broken_response(r.b, cases[i], lens[i]);
		assert_int_equal(store(c, "a.example", LDNS_RR_TYPE_A, &r, T0), -EBADMSG);
	}
}

static void broken_names_in_known_rdata_are_refused(void **state)
{
	struct cache *c = *state;
	struct response r;
	uint8_t *soa;
	size_t off;

	RESPONSE(&r, "alias.example.", LDNS_RR_TYPE_CNAME, LDNS_RCODE_NOERROR, 0,
		 "an:alias.example. 300 IN CNAME target.example.");
	/* The CNAME rdata is the last thing: "target" then a pointer to "example." */
	off = r.len - 2;
	assert_int_equal(r.b[off] & 0xc0, 0xc0);
	r.b[off + 1] = (uint8_t)(off); /* now points at itself */
	assert_int_equal(store(c, "alias.example", LDNS_RR_TYPE_CNAME, &r, T0), -EBADMSG);

	RESPONSE(&r, "nx.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, 0,
		 "ns:example. 300 IN SOA ns.example. admin.example. 1 2 3 4 5");
	assert_int_equal(store(c, "nx.example", LDNS_RR_TYPE_A, &r, T0), 0);
	/* Type SOA, class IN, TTL, then the rdlength: one more than its names and timers. */
	soa = memmem(r.b + DNS_HEADER_SIZE + 16, r.len - DNS_HEADER_SIZE - 16, "\0\6\0\1", 4);
	assert_non_null(soa);
	soa[9]++;
	r.b[r.len++] = 0;
	assert_int_equal(store(c, "nx.example", LDNS_RR_TYPE_A, &r, T0), -EBADMSG);
	r.len--;
	soa[9]--;
	assert_int_equal(store(c, "nx.example", LDNS_RR_TYPE_A, &r, T0), 0);
}

static void random_corruption_never_crashes(void **state)
{
	struct cache *c = *state;
	struct response r, orig;
	struct query q;
	unsigned i, seed = 12345, stored = 0;

	RESPONSE(&orig, "fuzz.example.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR, WITH_OPT,
		 "an:fuzz.example. 300 IN MX 10 mail.fuzz.example.",
		 "an:fuzz.example. 300 IN MX 20 mail2.fuzz.example.", soa_example,
		 "ar:mail.fuzz.example. 300 IN A 192.0.2.60");
	query_make(&q, "fuzz.example", LDNS_RR_TYPE_MX, true, true);
	for (i = 0; i < 20000; i++) {
		unsigned k, flips = 1 + (unsigned)rand_r(&seed) % 4;
		int err;

		r = orig;
		for (k = 0; k < flips; k++)
			r.b[(size_t)rand_r(&seed) % r.len] = (uint8_t)rand_r(&seed);
		err = store(c, "fuzz.example", LDNS_RR_TYPE_MX, &r, T0);
		assert_true(err == 0 || err == -EBADMSG || err == -ENOTSUP);
		if (err == 0) {
			stored++;
			assert_int_equal(lookup(c, &q, CACHE_STALE, T0 + 10), 0);
			assert_true(out_len <= sizeof(out));
		}
	}
	assert_true(stored > 0);
}

/* ---- Relaying what is not cached ---- */

static int relay(const struct query *q, const struct response *r)
{
	memset(out, 0xee, sizeof(out));
	out_len = 0;
	return cache_relay(&dcfg, q->b, &q->q, r->b, r->len, out, sizeof(out), &out_len);
}

static void servfail_is_relayed_with_client_id_case_and_our_opt(void **state)
{
	struct response r;
	struct query q;
	ldns_pkt *pkt = NULL;

	(void)state;
	RESPONSE(&r, "broken.example.", LDNS_RR_TYPE_A, LDNS_RCODE_SERVFAIL, WITH_OPT | WITH_AA);
	query_make(&q, "BroKen.example", LDNS_RR_TYPE_A, true, false);
	assert_int_equal(relay(&q, &r), 0);
	assert_memory_equal(out + DNS_HEADER_SIZE, q.b + DNS_HEADER_SIZE, q.q.question_len);
	assert_int_equal(ldns_wire2pkt(&pkt, out, out_len), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(pkt), CLIENT_ID);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_SERVFAIL);
	assert_false(ldns_pkt_aa(pkt));
	assert_true(ldns_pkt_ra(pkt));
	assert_true(ldns_pkt_edns(pkt));
	assert_int_equal(ldns_pkt_edns_udp_size(pkt), DNS_DEFAULT_EDNS_PAYLOAD);
	assert_false(ldns_pkt_edns_do(pkt));
	assert_int_equal(out[11], 1);
	ldns_pkt_free(pkt);

	/* Without EDNS from the client, no OPT at all. */
	query_make(&q, "broken.example", LDNS_RR_TYPE_A, false, false);
	assert_int_equal(relay(&q, &r), 0);
	assert_int_equal(out[11], 0);
	assert_int_equal(out_len, r.len - 11);
}

static void zero_ttl_answer_is_relayed_as_received(void **state)
{
	struct response r;
	struct query q;
	ldns_pkt *pkt = NULL;

	(void)state;
	RESPONSE(&r, "zero.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, WITH_TC,
		 "an:zero.example. 0 IN A 192.0.2.4");
	query_make(&q, "zero.example", LDNS_RR_TYPE_A, false, false);
	assert_int_equal(relay(&q, &r), 0);
	assert_int_equal(ldns_wire2pkt(&pkt, out, out_len), LDNS_STATUS_OK);
	ASSERT_RRS(ldns_pkt_answer(pkt), "zero.example.\t0\tIN\tA\t192.0.2.4");
	assert_true(ldns_pkt_tc(pkt)); /* the upstream's TC is kept */
	ldns_pkt_free(pkt);
}

static void relay_refuses_garbage_and_hides_upstream_extended_rcodes(void **state)
{
	struct response r;
	struct query q;
	ldns_pkt *pkt = NULL;

	(void)state;
	RESPONSE(&r, "asked.example.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, WITH_OPT,
		 "an:asked.example. 300 IN A 192.0.2.40");
	query_make(&q, "other.example", LDNS_RR_TYPE_A, false, false);
	assert_int_equal(relay(&q, &r), -EBADMSG);
	query_make(&q, "asked.example", LDNS_RR_TYPE_A, false, false);
	r.len -= 3;
	assert_int_equal(relay(&q, &r), -EBADMSG);
	r.len += 3;
	r.b[r.len - 11 + 5] = 2; /* extended rcode: BADCOOKIE-like, about us */
	assert_int_equal(relay(&q, &r), 0);
	assert_int_equal(ldns_wire2pkt(&pkt, out, out_len), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(pkt);
	assert_int_equal(cache_relay(&dcfg, q.b, &q.q, r.b, r.len, out, 100, &out_len), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(hit_returns_stored_answer_with_new_id_and_aged_ttls,
						setup, teardown),
		cmocka_unit_test_setup_teardown(client_qname_case_is_echoed, setup, teardown),
		cmocka_unit_test_setup_teardown(restoring_a_question_replaces_its_entry, setup,
						teardown),
		cmocka_unit_test_setup_teardown(ttls_are_capped_at_max_ttl, setup, teardown),
		cmocka_unit_test_setup_teardown(zero_ttl_is_not_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(flags_aa_cleared_and_ad_only_for_do_clients, setup,
						teardown),
		cmocka_unit_test_setup_teardown(upstream_opt_is_stripped_and_client_gets_ours,
						setup, teardown),
		cmocka_unit_test_setup_teardown(answer_larger_than_the_client_limit_is_truncated,
						setup, teardown),
		cmocka_unit_test_setup_teardown(lookup_refuses_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(
			expired_entry_misses_but_is_served_stale_within_max_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(nxdomain_is_cached_for_min_of_soa_ttl_and_minimum,
						setup, teardown),
		cmocka_unit_test_setup_teardown(nodata_is_cached_like_nxdomain, setup, teardown),
		cmocka_unit_test_setup_teardown(negative_answer_without_soa_is_not_cached, setup,
						teardown),
		cmocka_unit_test_setup_teardown(servfail_refused_and_truncated_are_not_cached,
						setup, teardown),
		cmocka_unit_test_setup_teardown(extended_rcode_in_the_opt_is_not_cached, setup,
						teardown),
		cmocka_unit_test_setup_teardown(lru_evicts_least_recently_used_when_full, setup,
						teardown),
		cmocka_unit_test_setup_teardown(memory_stays_within_budget_after_100000_stores,
						setup, teardown),
		cmocka_unit_test(cache_new_refuses_a_budget_smaller_than_its_table),
		cmocka_unit_test(response_larger_than_an_eighth_of_the_budget_is_refused),
		cmocka_unit_test_setup_teardown(truncated_responses_are_refused_at_every_length,
						setup, teardown),
		cmocka_unit_test_setup_teardown(response_to_another_question_is_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			compression_pointer_loops_and_forward_pointers_are_refused, setup,
			teardown),
		cmocka_unit_test_setup_teardown(broken_names_in_known_rdata_are_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(random_corruption_never_crashes, setup, teardown),
		cmocka_unit_test(servfail_is_relayed_with_client_id_case_and_our_opt),
		cmocka_unit_test(zero_ttl_answer_is_relayed_as_received),
		cmocka_unit_test(relay_refuses_garbage_and_hides_upstream_extended_rcodes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
