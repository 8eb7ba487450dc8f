/*
 * test_answer.c: unit tests of the answer engine (src/resolver/answer.c) against the
 * fixture snapshot of zone_fixture.h. Queries are built by hand (so that malformed
 * ones are easy), responses are parsed with ldns and checked as dig would show them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "assert_rrs.h"
#include "meshname/dns.h"
#include "zone_fixture.h"

#define QUERY_ID 0x1234

static struct snapshot *fixture;
static struct dns_config cfg;
static uint8_t out[DNS_TCP_MAX + 100];
static size_t out_len;

/* ---- Building queries ---- */

struct query {
	uint8_t b[2048];
	size_t len;
};

/* A query with RD for name (dotted text, case kept, "." = root) without EDNS. */
static void query_init(struct query *q, const char *name, uint16_t qtype)
{
	size_t label = 0, i, n = strlen(name);

	memset(q, 0, sizeof(*q));
	q->b[0] = QUERY_ID >> 8;
	q->b[1] = QUERY_ID & 0xff;
	q->b[2] = 0x01; /* RD */
	q->b[5] = 1;    /* QDCOUNT */
	q->len = DNS_HEADER_SIZE;
	if (strcmp(name, ".") != 0) {
		for (i = 0; i <= n; i++) {
			if (i == n || name[i] == '.') {
				if (i == label)
					break; /* a final dot */
				q->b[q->len++] = (uint8_t)(i - label);
				memcpy(q->b + q->len, name + label, i - label);
				q->len += i - label;
				label = i + 1;
			}
		}
	}
	q->b[q->len++] = 0;
	q->b[q->len++] = (uint8_t)(qtype >> 8);
	q->b[q->len++] = (uint8_t)qtype;
	q->b[q->len++] = 0;
	q->b[q->len++] = LDNS_RR_CLASS_IN;
}

static void query_put16(struct query *q, uint16_t v)
{
	q->b[q->len++] = (uint8_t)(v >> 8);
	q->b[q->len++] = (uint8_t)v;
}

/* Appends an OPT (payload, version, DO, raw options) and counts it in ARCOUNT. */
static void query_add_opt(struct query *q, uint16_t payload, uint8_t version, bool dnssec_ok,
			  const uint8_t *options, size_t options_len)
{
	q->b[q->len++] = 0;
	query_put16(q, LDNS_RR_TYPE_OPT);
	query_put16(q, payload);
	q->b[q->len++] = 0; /* extended rcode */
	q->b[q->len++] = version;
	query_put16(q, dnssec_ok ? 0x8000 : 0);
	query_put16(q, (uint16_t)options_len);
	if (options_len > 0)
		memcpy(q->b + q->len, options, options_len);
	q->len += options_len;
	q->b[11]++;
}

/* ---- Running them ---- */

static int run(const struct query *q, enum dns_transport transport)
{
	memset(out, 0xee, sizeof(out));
	out_len = 0;
	return dns_answer(fixture, &cfg, transport, q->b, q->len, out, sizeof(out), &out_len, NULL);
}

/* Answers q, which must get a response, and parses that with ldns. */
static ldns_pkt *ask(const struct query *q, enum dns_transport transport)
{
	ldns_pkt *pkt = NULL;

	assert_int_equal(run(q, transport), DNS_ANSWERED);
	assert_true(out_len >= DNS_HEADER_SIZE);
	assert_int_equal(ldns_wire2pkt(&pkt, out, out_len), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(pkt), QUERY_ID);
	assert_true(ldns_pkt_qr(pkt));
	return pkt;
}

static ldns_pkt *ask_udp(const char *name, uint16_t qtype)
{
	struct query q;

	query_init(&q, name, qtype);
	return ask(&q, DNS_UDP);
}

static const char soa_negative[] =
	"mesh.\t10\tIN\tSOA\tlocalhost. hostmaster.mesh. 42 60 30 600 10";

/* rcode, AA, an empty answer and the zone's SOA with the negative TTL as authority. */
static void assert_negative(ldns_pkt *pkt, ldns_pkt_rcode rcode, const char *soa)
{
	assert_int_equal(ldns_pkt_get_rcode(pkt), rcode);
	assert_true(ldns_pkt_aa(pkt));
	assert_int_equal(ldns_pkt_ancount(pkt), 0);
	ASSERT_RRS(ldns_pkt_authority(pkt), soa);
}

/* ---- Hosts ---- */

static void a_of_host_is_its_address_plus_custom_a(void **state)
{
	ldns_pkt *pkt = ask_udp("nas.mesh", LDNS_RR_TYPE_A);

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	assert_true(ldns_pkt_aa(pkt));
	assert_true(ldns_pkt_rd(pkt));
	assert_true(ldns_pkt_ra(pkt));
	assert_false(ldns_pkt_tc(pkt));
	ASSERT_RRS(ldns_pkt_answer(pkt), "nas.mesh.\t30\tIN\tA\t100.64.0.10",
		   "nas.mesh.\t120\tIN\tA\t100.64.99.1");
	assert_int_equal(ldns_pkt_nscount(pkt), 0);
	assert_int_equal(out[11], 0);
	ldns_pkt_free(pkt);
}

static void aaaa_of_host_is_its_mesh_ipv6(void **state)
{
	ldns_pkt *pkt = ask_udp("laptop.mesh", LDNS_RR_TYPE_AAAA);

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	ASSERT_RRS(ldns_pkt_answer(pkt), "laptop.mesh.\t30\tIN\tAAAA\tfd12:3456:789a:2222::14");
	ldns_pkt_free(pkt);
}

static void aaaa_for_v4_only_host_is_nodata(void **state)
{
	ldns_pkt *pkt = ask_udp("printer.mesh", LDNS_RR_TYPE_AAAA);

	(void)state;
	assert_negative(pkt, LDNS_RCODE_NOERROR, soa_negative);
	ldns_pkt_free(pkt);
}

static void a_for_v6_only_host_is_nodata_and_its_cname_is_ignored(void **state)
{
	ldns_pkt *pkt = ask_udp("v6only.mesh", LDNS_RR_TYPE_A);

	(void)state;
	assert_negative(pkt, LDNS_RCODE_NOERROR, soa_negative);
	ldns_pkt_free(pkt);
	pkt = ask_udp("v6only.mesh", LDNS_RR_TYPE_CNAME);
	assert_negative(pkt, LDNS_RCODE_NOERROR, soa_negative);
	ldns_pkt_free(pkt);
	pkt = ask_udp("v6only.mesh", LDNS_RR_TYPE_ANY);
	ASSERT_RRS(ldns_pkt_answer(pkt), "v6only.mesh.\t30\tIN\tAAAA\tfd12:3456:789a:3333::1");
	ldns_pkt_free(pkt);
}

static void cname_at_apex_is_never_answered(void **state)
{
	ldns_pkt *pkt = ask_udp("mesh", LDNS_RR_TYPE_CNAME);

	(void)state;
	assert_negative(pkt, LDNS_RCODE_NOERROR, soa_negative);
	ldns_pkt_free(pkt);
}

static void positive_ttl_follows_the_config(void **state)
{
	ldns_pkt *pkt;

	(void)state;
	cfg.ttl = 5;
	pkt = ask_udp("printer.mesh", LDNS_RR_TYPE_A);
	cfg.ttl = DNS_DEFAULT_TTL;
	ASSERT_RRS(ldns_pkt_answer(pkt), "printer.mesh.\t5\tIN\tA\t100.64.0.30");
	ldns_pkt_free(pkt);
}

static void unknown_name_is_nxdomain_with_soa(void **state)
{
	ldns_pkt *pkt = ask_udp("nosuchhost.mesh", LDNS_RR_TYPE_A);

	(void)state;
	assert_negative(pkt, LDNS_RCODE_NXDOMAIN, soa_negative);
	ldns_pkt_free(pkt);
}

static void name_below_a_host_without_records_is_nxdomain(void **state)
{
	ldns_pkt *pkt = ask_udp("foo.nas.mesh", LDNS_RR_TYPE_A);

	(void)state;
	assert_negative(pkt, LDNS_RCODE_NXDOMAIN, soa_negative);
	ldns_pkt_free(pkt);
}

static void name_with_odd_bytes_is_nxdomain(void **state)
{
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	q.b[DNS_HEADER_SIZE + 2] = '.'; /* the label "n.s": no host can have it */
	pkt = ask(&q, DNS_UDP);
	assert_negative(pkt, LDNS_RCODE_NXDOMAIN, soa_negative);
	ldns_pkt_free(pkt);
}

static void negative_ttl_is_the_smaller_of_soa_ttl_and_minimum(void **state)
{
	ldns_pkt *pkt;

	(void)state;
	cfg.negative_ttl = 300; /* above the SOA's own TTL of 30: RFC 2308 takes 30 */
	pkt = ask_udp("nosuchhost.mesh", LDNS_RR_TYPE_A);
	cfg.negative_ttl = DNS_DEFAULT_NEGATIVE_TTL;
	assert_negative(pkt, LDNS_RCODE_NXDOMAIN,
			"mesh.\t30\tIN\tSOA\tlocalhost. hostmaster.mesh. 42 60 30 600 300");
	ldns_pkt_free(pkt);
}

static void case_of_the_question_is_echoed(void **state)
{
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	query_init(&q, "NaS.MeSh", LDNS_RR_TYPE_A);
	pkt = ask(&q, DNS_UDP);
	/* The question comes back byte for byte, and the owners point at it. */
	assert_memory_equal(out + DNS_HEADER_SIZE, q.b + DNS_HEADER_SIZE, q.len - DNS_HEADER_SIZE);
	ASSERT_RRS(ldns_pkt_question(pkt), "NaS.MeSh.\tIN\tA");
	ASSERT_RRS(ldns_pkt_answer(pkt), "NaS.MeSh.\t30\tIN\tA\t100.64.0.10",
		   "NaS.MeSh.\t120\tIN\tA\t100.64.99.1");
	assert_int_equal(out[q.len], 0xc0);
	assert_int_equal(out[q.len + 1], DNS_HEADER_SIZE);
	ldns_pkt_free(pkt);
}

static void negative_answer_keeps_the_question_case(void **state)
{
	ldns_pkt *pkt = ask_udp("NoSuch.MESH", LDNS_RR_TYPE_A);

	(void)state;
	/* The SOA owner points into the question, so it comes back as asked too. */
	assert_negative(pkt, LDNS_RCODE_NXDOMAIN,
			"MESH.\t10\tIN\tSOA\tlocalhost. hostmaster.mesh. 42 60 30 600 10");
	ldns_pkt_free(pkt);
}

/* ---- Apex ---- */

static void soa_at_apex(void **state)
{
	ldns_pkt *pkt = ask_udp("mesh", LDNS_RR_TYPE_SOA);

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	assert_true(ldns_pkt_aa(pkt));
	ASSERT_RRS(ldns_pkt_answer(pkt),
		   "mesh.\t30\tIN\tSOA\tlocalhost. hostmaster.mesh. 42 60 30 600 10");
	assert_int_equal(ldns_pkt_nscount(pkt), 0);
	ldns_pkt_free(pkt);
}

static void ns_at_apex(void **state)
{
	ldns_pkt *pkt = ask_udp("mesh", LDNS_RR_TYPE_NS);

	(void)state;
	ASSERT_RRS(ldns_pkt_answer(pkt), "mesh.\t30\tIN\tNS\tlocalhost.");
	ldns_pkt_free(pkt);
}

static void custom_mx_and_txt_at_apex(void **state)
{
	ldns_pkt *pkt = ask_udp("mesh", LDNS_RR_TYPE_MX);

	(void)state;
	ASSERT_RRS(ldns_pkt_answer(pkt), "mesh.\t3600\tIN\tMX\t10 nas.mesh.");
	ldns_pkt_free(pkt);
	pkt = ask_udp("mesh", LDNS_RR_TYPE_TXT);
	ASSERT_RRS(ldns_pkt_answer(pkt), "mesh.\t3600\tIN\tTXT\t\"v=mesh\"");
	ldns_pkt_free(pkt);
}

static void a_at_apex_is_nodata(void **state)
{
	ldns_pkt *pkt = ask_udp("mesh", LDNS_RR_TYPE_A);

	(void)state;
	assert_negative(pkt, LDNS_RCODE_NOERROR, soa_negative);
	ldns_pkt_free(pkt);
}

static void serial_is_the_snapshot_generation(void **state)
{
	ldns_pkt *pkt = ask_udp("mesh", LDNS_RR_TYPE_SOA);
	ldns_rr *soa;

	(void)state;
	soa = ldns_rr_list_rr(ldns_pkt_answer(pkt), 0);
	assert_non_null(soa);
	assert_int_equal(ldns_rdf2native_int32(ldns_rr_rdf(soa, 2)), ZONE_FIXTURE_GENERATION);
	ldns_pkt_free(pkt);
}

/* ---- Custom records ---- */

static void srv_under_a_host_name(void **state)
{
	ldns_pkt *pkt = ask_udp("_ssh._tcp.nas.mesh", LDNS_RR_TYPE_SRV);

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	ASSERT_RRS(ldns_pkt_answer(pkt), "_ssh._tcp.nas.mesh.\t300\tIN\tSRV\t0 0 22 nas.mesh.");
	ldns_pkt_free(pkt);
}

static void txt_at_a_host_name(void **state)
{
	ldns_pkt *pkt = ask_udp("nas.mesh", LDNS_RR_TYPE_TXT);

	(void)state;
	ASSERT_RRS(ldns_pkt_answer(pkt), "nas.mesh.\t60\tIN\tTXT\t\"hello\"");
	ldns_pkt_free(pkt);
}

static void empty_non_terminal_is_nodata(void **state)
{
	ldns_pkt *pkt = ask_udp("_tcp.nas.mesh", LDNS_RR_TYPE_SRV);

	(void)state;
	assert_negative(pkt, LDNS_RCODE_NOERROR, soa_negative);
	ldns_pkt_free(pkt);
	/* a sibling of it does not exist */
	pkt = ask_udp("_udp.nas.mesh", LDNS_RR_TYPE_SRV);
	assert_negative(pkt, LDNS_RCODE_NXDOMAIN, soa_negative);
	ldns_pkt_free(pkt);
}

static void name_with_only_txt_is_nodata_for_a(void **state)
{
	ldns_pkt *pkt = ask_udp("note.mesh", LDNS_RR_TYPE_A);

	(void)state;
	assert_negative(pkt, LDNS_RCODE_NOERROR, soa_negative);
	ldns_pkt_free(pkt);
}

static void cname_is_chased_inside_the_zone(void **state)
{
	ldns_pkt *pkt = ask_udp("alias2.mesh", LDNS_RR_TYPE_A);

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	assert_true(ldns_pkt_aa(pkt));
	ASSERT_RRS(ldns_pkt_answer(pkt), "alias2.mesh.\t600\tIN\tCNAME\twww.mesh.",
		   "www.mesh.\t600\tIN\tCNAME\tnas.mesh.", "nas.mesh.\t30\tIN\tA\t100.64.0.10",
		   "nas.mesh.\t120\tIN\tA\t100.64.99.1");
	ldns_pkt_free(pkt);
}

static void cname_query_is_not_chased(void **state)
{
	ldns_pkt *pkt = ask_udp("www.mesh", LDNS_RR_TYPE_CNAME);

	(void)state;
	ASSERT_RRS(ldns_pkt_answer(pkt), "www.mesh.\t600\tIN\tCNAME\tnas.mesh.");
	ldns_pkt_free(pkt);
}

static void cname_to_a_missing_type_is_nodata(void **state)
{
	ldns_pkt *pkt = ask_udp("www.mesh", LDNS_RR_TYPE_MX);

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	ASSERT_RRS(ldns_pkt_answer(pkt), "www.mesh.\t600\tIN\tCNAME\tnas.mesh.");
	ASSERT_RRS(ldns_pkt_authority(pkt), soa_negative);
	ldns_pkt_free(pkt);
}

static void dangling_cname_is_nxdomain_of_the_target(void **state)
{
	ldns_pkt *pkt = ask_udp("dangling.mesh", LDNS_RR_TYPE_A);

	(void)state;
	/* RFC 6604: the rcode is about the last name of the chain. */
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NXDOMAIN);
	ASSERT_RRS(ldns_pkt_answer(pkt), "dangling.mesh.\t600\tIN\tCNAME\tnothere.mesh.");
	ASSERT_RRS(ldns_pkt_authority(pkt), soa_negative);
	ldns_pkt_free(pkt);
}

static void cname_out_of_the_zone_ends_the_answer(void **state)
{
	ldns_pkt *pkt = ask_udp("ext.mesh", LDNS_RR_TYPE_A);

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	ASSERT_RRS(ldns_pkt_answer(pkt), "ext.mesh.\t600\tIN\tCNAME\texample.com.");
	assert_int_equal(ldns_pkt_nscount(pkt), 0);
	ldns_pkt_free(pkt);
}

static void cname_loop_is_cut(void **state)
{
	ldns_pkt *pkt = ask_udp("loop1.mesh", LDNS_RR_TYPE_A);

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	ASSERT_RRS(ldns_pkt_answer(pkt), "loop1.mesh.\t600\tIN\tCNAME\tloop2.mesh.",
		   "loop2.mesh.\t600\tIN\tCNAME\tloop1.mesh.");
	ldns_pkt_free(pkt);
}

static void cname_to_the_apex_answers_apex_data(void **state)
{
	ldns_pkt *pkt = ask_udp("toapex.mesh", LDNS_RR_TYPE_TXT);

	(void)state;
	ASSERT_RRS(ldns_pkt_answer(pkt), "toapex.mesh.\t600\tIN\tCNAME\tmesh.",
		   "mesh.\t3600\tIN\tTXT\t\"v=mesh\"");
	ldns_pkt_free(pkt);
}

static void cname_chain_is_cut_after_8_links(void **state)
{
	ldns_pkt *pkt = ask_udp("c0.mesh", LDNS_RR_TYPE_A);

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(pkt), DNS_MAX_CHAIN);
	ASSERT_RRS(ldns_pkt_answer(pkt), "c0.mesh.\t600\tIN\tCNAME\tc1.mesh.",
		   "c1.mesh.\t600\tIN\tCNAME\tc2.mesh.", "c2.mesh.\t600\tIN\tCNAME\tc3.mesh.",
		   "c3.mesh.\t600\tIN\tCNAME\tc4.mesh.", "c4.mesh.\t600\tIN\tCNAME\tc5.mesh.",
		   "c5.mesh.\t600\tIN\tCNAME\tc6.mesh.", "c6.mesh.\t600\tIN\tCNAME\tc7.mesh.",
		   "c7.mesh.\t600\tIN\tCNAME\tc8.mesh.");
	ldns_pkt_free(pkt);
	/* one link later the whole chain fits */
	pkt = ask_udp("c1.mesh", LDNS_RR_TYPE_A);
	assert_int_equal(ldns_pkt_ancount(pkt), DNS_MAX_CHAIN + 2);
	ldns_pkt_free(pkt);
}

static void broken_cname_target_is_servfail(void **state)
{
	ldns_pkt *pkt = ask_udp("badcname.mesh", LDNS_RR_TYPE_A);

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_SERVFAIL);
	assert_int_equal(ldns_pkt_ancount(pkt), 0);
	ldns_pkt_free(pkt);
}

/* ---- ANY (RFC 8482) ---- */

static void any_at_a_host_is_its_a_rrset_only(void **state)
{
	ldns_pkt *pkt = ask_udp("nas.mesh", LDNS_RR_TYPE_ANY);

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	ASSERT_RRS(ldns_pkt_answer(pkt), "nas.mesh.\t30\tIN\tA\t100.64.0.10",
		   "nas.mesh.\t120\tIN\tA\t100.64.99.1");
	ldns_pkt_free(pkt);
}

static void any_at_apex_is_the_soa(void **state)
{
	ldns_pkt *pkt = ask_udp("mesh", LDNS_RR_TYPE_ANY);

	(void)state;
	ASSERT_RRS(ldns_pkt_answer(pkt),
		   "mesh.\t30\tIN\tSOA\tlocalhost. hostmaster.mesh. 42 60 30 600 10");
	ldns_pkt_free(pkt);
}

static void any_at_an_alias_is_the_cname(void **state)
{
	ldns_pkt *pkt = ask_udp("www.mesh", LDNS_RR_TYPE_ANY);

	(void)state;
	ASSERT_RRS(ldns_pkt_answer(pkt), "www.mesh.\t600\tIN\tCNAME\tnas.mesh.");
	ldns_pkt_free(pkt);
}

static void any_without_a_host_is_the_lowest_custom_type(void **state)
{
	ldns_pkt *pkt = ask_udp("note.mesh", LDNS_RR_TYPE_ANY);

	(void)state;
	ASSERT_RRS(ldns_pkt_answer(pkt), "note.mesh.\t30\tIN\tTXT\t\"memo\"");
	ldns_pkt_free(pkt);
	pkt = ask_udp("_ssh._tcp.nas.mesh", LDNS_RR_TYPE_ANY);
	ASSERT_RRS(ldns_pkt_answer(pkt), "_ssh._tcp.nas.mesh.\t300\tIN\tSRV\t0 0 22 nas.mesh.");
	ldns_pkt_free(pkt);
}

static void any_at_an_empty_non_terminal_is_nodata(void **state)
{
	ldns_pkt *pkt = ask_udp("_tcp.nas.mesh", LDNS_RR_TYPE_ANY);

	(void)state;
	assert_negative(pkt, LDNS_RCODE_NOERROR, soa_negative);
	ldns_pkt_free(pkt);
}

/* ---- Reverse zones ---- */

static void ptr_of_a_mesh_ipv4(void **state)
{
	ldns_pkt *pkt = ask_udp("10.0.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR);

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	assert_true(ldns_pkt_aa(pkt));
	ASSERT_RRS(ldns_pkt_answer(pkt), "10.0.64.100.in-addr.arpa.\t30\tIN\tPTR\tnas.mesh.");
	ldns_pkt_free(pkt);
}

static const char v6_laptop[] =
	"4.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.2.2.2.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa";

static void ptr_of_a_mesh_ipv6(void **state)
{
	ldns_pkt *pkt = ask_udp(v6_laptop, LDNS_RR_TYPE_PTR);
	char text[256];
	const char *expected[] = { text };

	(void)state;
	snprintf(text, sizeof(text), "%s.\t30\tIN\tPTR\tlaptop.mesh.", v6_laptop);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	assert_rrs(ldns_pkt_answer(pkt), expected, 1);
	ldns_pkt_free(pkt);
}

static void ptr_in_upper_case_nibbles_matches(void **state)
{
	ldns_pkt *pkt =
		ask_udp("4.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.2.2.2.A.9.8.7.6.5.4.3.2.1.D.F.IP6.ARPA",
			LDNS_RR_TYPE_PTR);

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(pkt), 1);
	ldns_pkt_free(pkt);
}

static void ptr_with_letter_nibbles_in_any_case(void **state)
{
	ldns_pkt *pkt =
		ask_udp("A.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.1.1.1.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa",
			LDNS_RR_TYPE_PTR);

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	ASSERT_RRS(ldns_pkt_answer(pkt),
		   "A.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.1.1.1.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa."
		   "\t30\tIN\tPTR\tnas.mesh.");
	ldns_pkt_free(pkt);
}

static void reverse_v6_labels_that_are_not_nibbles_are_nxdomain(void **state)
{
	static const char *const names[] = {
		"g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.1.1.1.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa",
		"0a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.1.1.1.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa",
		"x.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.1.1.1.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		ldns_pkt *pkt = ask_udp(names[i], LDNS_RR_TYPE_PTR);

		assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NXDOMAIN);
		assert_int_equal(ldns_pkt_nscount(pkt), 1);
		ldns_pkt_free(pkt);
	}
}

static const char soa_v4[] =
	"64.100.in-addr.arpa.\t10\tIN\tSOA\tlocalhost. hostmaster.mesh. 42 60 30 600 10";

static void a_at_a_reverse_name_is_nodata(void **state)
{
	ldns_pkt *pkt = ask_udp("10.0.64.100.in-addr.arpa", LDNS_RR_TYPE_A);

	(void)state;
	assert_negative(pkt, LDNS_RCODE_NOERROR, soa_v4);
	ldns_pkt_free(pkt);
}

static void reverse_name_of_no_host_in_the_prefix_is_nxdomain(void **state)
{
	ldns_pkt *pkt = ask_udp("11.0.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR);

	(void)state;
	assert_negative(pkt, LDNS_RCODE_NXDOMAIN, soa_v4);
	ldns_pkt_free(pkt);
	/* not a canonical octet, or too many labels: no such name either */
	pkt = ask_udp("010.0.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR);
	assert_negative(pkt, LDNS_RCODE_NXDOMAIN, soa_v4);
	ldns_pkt_free(pkt);
	pkt = ask_udp("1.10.0.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR);
	assert_negative(pkt, LDNS_RCODE_NXDOMAIN, soa_v4);
	ldns_pkt_free(pkt);
	pkt = ask_udp("256.0.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR);
	assert_negative(pkt, LDNS_RCODE_NXDOMAIN, soa_v4);
	ldns_pkt_free(pkt);
	pkt = ask_udp("1a.0.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR);
	assert_negative(pkt, LDNS_RCODE_NXDOMAIN, soa_v4);
	ldns_pkt_free(pkt);
	pkt = ask_udp("1000.0.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR);
	assert_negative(pkt, LDNS_RCODE_NXDOMAIN, soa_v4);
	ldns_pkt_free(pkt);
}

static void reverse_v6_name_of_no_host_is_nxdomain(void **state)
{
	ldns_pkt *pkt =
		ask_udp("5.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.2.2.2.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa",
			LDNS_RR_TYPE_PTR);

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NXDOMAIN);
	assert_int_equal(ldns_pkt_nscount(pkt), 1);
	ldns_pkt_free(pkt);
}

static void reverse_empty_non_terminal_is_nodata(void **state)
{
	ldns_pkt *pkt = ask_udp("1.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR);

	(void)state;
	assert_negative(pkt, LDNS_RCODE_NOERROR, soa_v4);
	ldns_pkt_free(pkt);
	pkt = ask_udp("2.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR);
	assert_negative(pkt, LDNS_RCODE_NXDOMAIN, soa_v4);
	ldns_pkt_free(pkt);
	pkt = ask_udp("2.2.2.2.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa", LDNS_RR_TYPE_PTR);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(pkt), 0);
	assert_int_equal(ldns_pkt_nscount(pkt), 1);
	ldns_pkt_free(pkt);
	pkt = ask_udp("3.2.2.2.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa", LDNS_RR_TYPE_PTR);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(pkt);
	/* an odd number of nibbles: half a byte to compare */
	pkt = ask_udp("2.2.2.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa", LDNS_RR_TYPE_PTR);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_nscount(pkt), 1);
	ldns_pkt_free(pkt);
	pkt = ask_udp("3.2.2.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa", LDNS_RR_TYPE_PTR);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(pkt);
}

static void soa_of_the_reverse_zones(void **state)
{
	ldns_pkt *pkt = ask_udp("64.100.in-addr.arpa", LDNS_RR_TYPE_SOA);

	(void)state;
	ASSERT_RRS(ldns_pkt_answer(pkt), "64.100.in-addr.arpa.\t30\tIN\tSOA\tlocalhost. "
					 "hostmaster.mesh. 42 60 30 600 10");
	ldns_pkt_free(pkt);
	pkt = ask_udp("a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa", LDNS_RR_TYPE_NS);
	ASSERT_RRS(ldns_pkt_answer(pkt),
		   "a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa.\t30\tIN\tNS\tlocalhost.");
	ldns_pkt_free(pkt);
}

/* A one-host snapshot ("db" at 100.64.17.5) with another zone and IPv4 prefix. */
static struct snapshot *other_mesh(const char *zone, uint8_t third_octet, uint8_t prefix_len)
{
	static const uint8_t mesh_id[REC_ID_SIZE] = { 2 };
	struct snapshot_host h = { .name = "db", .ipv4 = { 100, 64, 17, 5 }, .ipv6 = { 0xfd, 1 } };
	struct snapshot_builder *b;
	struct snapshot *s = NULL;
	struct rec_root root;

	memset(&root, 0, sizeof(root));
	snprintf(root.zone, sizeof(root.zone), "%s", zone);
	root.ipv4[0] = 100;
	root.ipv4[1] = 64;
	root.ipv4[2] = third_octet;
	root.ipv4_len = prefix_len;
	root.ipv6[0] = 0xfd;
	root.ipv6[1] = 1;
	b = snapshot_builder_new(&root, mesh_id, 7);
	assert_non_null(b);
	assert_int_equal(snapshot_builder_add_host(b, &h), 0);
	assert_int_equal(snapshot_builder_finish(b, &s), 0);
	return s;
}

static ldns_pkt *ask_other(struct snapshot *s, const char *name, uint16_t qtype, int expect)
{
	ldns_pkt *pkt = NULL;
	struct query q;

	query_init(&q, name, qtype);
	assert_int_equal(dns_answer(s, &cfg, DNS_UDP, q.b, q.len, out, sizeof(out), &out_len, NULL),
			 expect);
	if (expect == DNS_ANSWERED)
		assert_int_equal(ldns_wire2pkt(&pkt, out, out_len), LDNS_STATUS_OK);
	return pkt;
}

static void slash_20_is_served_from_the_covering_slash_16_zone(void **state)
{
	struct snapshot *s = other_mesh("corp.example", 16, 20);
	ldns_pkt *pkt;

	(void)state;
	pkt = ask_other(s, "DB.corp.example", LDNS_RR_TYPE_A, DNS_ANSWERED);
	ASSERT_RRS(ldns_pkt_answer(pkt), "DB.corp.example.\t30\tIN\tA\t100.64.17.5");
	ldns_pkt_free(pkt);
	pkt = ask_other(s, "5.17.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR, DNS_ANSWERED);
	ASSERT_RRS(ldns_pkt_answer(pkt),
		   "5.17.64.100.in-addr.arpa.\t30\tIN\tPTR\tdb.corp.example.");
	ldns_pkt_free(pkt);
	/* outside the /20 but inside the zone: ours, and nothing there */
	pkt = ask_other(s, "5.99.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR, DNS_ANSWERED);
	assert_negative(pkt, LDNS_RCODE_NXDOMAIN,
			"64.100.in-addr.arpa.\t10\tIN\tSOA\tlocalhost. hostmaster.corp.example. "
			"7 60 30 600 10");
	ldns_pkt_free(pkt);
	ask_other(s, "db.mesh", LDNS_RR_TYPE_A, DNS_FORWARD);
	ask_other(s, "example", LDNS_RR_TYPE_A, DNS_FORWARD);
	pkt = ask_other(s, "corp.example", LDNS_RR_TYPE_NS, DNS_ANSWERED);
	ASSERT_RRS(ldns_pkt_answer(pkt), "corp.example.\t30\tIN\tNS\tlocalhost.");
	ldns_pkt_free(pkt);
	snapshot_unref(s);
}

static void slash_24_and_slash_8_reverse_zones(void **state)
{
	struct snapshot *s = other_mesh("mesh", 17, 24);
	ldns_pkt *pkt;

	(void)state;
	pkt = ask_other(s, "17.64.100.in-addr.arpa", LDNS_RR_TYPE_SOA, DNS_ANSWERED);
	assert_int_equal(ldns_pkt_ancount(pkt), 1);
	ldns_pkt_free(pkt);
	pkt = ask_other(s, "5.17.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR, DNS_ANSWERED);
	ASSERT_RRS(ldns_pkt_answer(pkt), "5.17.64.100.in-addr.arpa.\t30\tIN\tPTR\tdb.mesh.");
	ldns_pkt_free(pkt);
	ask_other(s, "5.16.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR, DNS_FORWARD);
	ask_other(s, "64.100.in-addr.arpa", LDNS_RR_TYPE_SOA, DNS_FORWARD);
	snapshot_unref(s);

	s = other_mesh("mesh", 0, 8);
	pkt = ask_other(s, "64.100.in-addr.arpa", LDNS_RR_TYPE_PTR, DNS_ANSWERED);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR); /* above db: NODATA */
	assert_int_equal(ldns_pkt_nscount(pkt), 1);
	ldns_pkt_free(pkt);
	pkt = ask_other(s, "5.17.64.100.in-addr.arpa", LDNS_RR_TYPE_PTR, DNS_ANSWERED);
	assert_int_equal(ldns_pkt_ancount(pkt), 1);
	ldns_pkt_free(pkt);
	ask_other(s, "101.in-addr.arpa", LDNS_RR_TYPE_SOA, DNS_FORWARD);
	snapshot_unref(s);
}

/* ---- Forwarding ---- */

static void names_outside_our_zones_are_forwarded(void **state)
{
	static const char *const names[] = {
		"example.com",
		"mesh.example.com",
		"xmesh",
		".",
		"65.100.in-addr.arpa",
		"in-addr.arpa",
		"10.0.65.100.in-addr.arpa",
		"b.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa",
	};
	struct query q;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		query_init(&q, names[i], LDNS_RR_TYPE_A);
		assert_int_equal(run(&q, DNS_UDP), DNS_FORWARD);
		assert_int_equal(out_len, 0);
	}
}

static void forwarded_query_is_described_to_the_caller(void **state)
{
	struct dns_query parsed;
	struct query q;
	uint8_t option[] = { 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 }; /* a client cookie */

	(void)state;
	query_init(&q, "Example.COM", LDNS_RR_TYPE_AAAA);
	query_add_opt(&q, 4096, 0, true, option, sizeof(option));
	assert_int_equal(dns_answer(fixture, &cfg, DNS_UDP, q.b, q.len, out, sizeof(out), &out_len,
				    &parsed),
			 DNS_FORWARD);
	assert_int_equal(parsed.id, QUERY_ID);
	assert_int_equal(parsed.qtype, LDNS_RR_TYPE_AAAA);
	assert_int_equal(parsed.qclass, LDNS_RR_CLASS_IN);
	assert_int_equal(parsed.qname_len, 13);
	assert_int_equal(parsed.question_len, 17);
	assert_true(parsed.edns);
	assert_true(parsed.edns_do);
	assert_int_equal(parsed.edns_payload, 4096);
	assert_int_equal(parsed.rcode, LDNS_RCODE_NOERROR);
}

static void dns_name_in_zones_tells_ours_from_the_rest(void **state)
{
	(void)state;
	assert_true(dns_name_in_zones(fixture, (const uint8_t *)"\3NAS\4mesh", 10));
	assert_true(dns_name_in_zones(fixture, (const uint8_t *)"\4mesh", 6));
	assert_true(dns_name_in_zones(
		fixture, (const uint8_t *)"\0010\00264\003100\007in-addr\004arpa", 23));
	assert_false(dns_name_in_zones(fixture, (const uint8_t *)"\7example\3com", 13));
	assert_false(dns_name_in_zones(fixture, (const uint8_t *)"", 1));
	/* malformed: a pointer, or a length that runs past the end */
	assert_false(dns_name_in_zones(fixture, (const uint8_t *)"\3nas\300\014", 6));
	assert_false(dns_name_in_zones(fixture, (const uint8_t *)"\7mesh", 6));
}

/* ---- EDNS0 ---- */

static void opt_is_echoed_with_our_payload(void **state)
{
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	query_add_opt(&q, 4096, 0, true, NULL, 0);
	pkt = ask(&q, DNS_UDP);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	assert_int_equal(out[11], 1); /* ARCOUNT: ldns moves the OPT out of its list */
	assert_true(ldns_pkt_edns(pkt));
	assert_int_equal(ldns_pkt_edns_udp_size(pkt), DNS_DEFAULT_EDNS_PAYLOAD);
	assert_int_equal(ldns_pkt_edns_version(pkt), 0);
	assert_true(ldns_pkt_edns_do(pkt));
	assert_int_equal(ldns_pkt_ancount(pkt), 2);
	ldns_pkt_free(pkt);
}

static void no_opt_without_edns_in_the_query(void **state)
{
	ldns_pkt *pkt = ask_udp("nas.mesh", LDNS_RR_TYPE_A);

	(void)state;
	assert_int_equal(out[11], 0);
	assert_false(ldns_pkt_edns(pkt));
	ldns_pkt_free(pkt);
}

static void edns_version_1_is_badvers(void **state)
{
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	query_add_opt(&q, 1232, 1, false, NULL, 0);
	pkt = ask(&q, DNS_UDP);
	/* BADVERS = 16: 0 in the header, extended rcode 1 in the OPT. */
	assert_int_equal(ldns_pkt_get_rcode(pkt), 0);
	assert_int_equal(ldns_pkt_edns_extended_rcode(pkt), 1);
	assert_int_equal(ldns_pkt_edns_version(pkt), 0);
	assert_int_equal(ldns_pkt_ancount(pkt), 0);
	assert_int_equal(ldns_pkt_qdcount(pkt), 1);
	ldns_pkt_free(pkt);
}

static void unknown_edns_option_is_ignored(void **state)
{
	static const uint8_t options[] = { 0xfd, 0xe9, 0, 3, 'a', 'b', 'c', 0, 8, 0, 0 };
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	query_add_opt(&q, 1232, 0, false, options, sizeof(options));
	pkt = ask(&q, DNS_UDP);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(pkt), 2);
	assert_true(ldns_pkt_edns(pkt));
	ldns_pkt_free(pkt);
}

static void malformed_edns_option_is_formerr(void **state)
{
	static const uint8_t options[] = { 0, 10, 0, 9, 1, 2, 3 }; /* says 9, has 3 */
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	query_add_opt(&q, 1232, 0, false, options, sizeof(options));
	pkt = ask(&q, DNS_UDP);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_FORMERR);
	ldns_pkt_free(pkt);
}

static void two_opts_are_formerr(void **state)
{
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	query_add_opt(&q, 1232, 0, false, NULL, 0);
	query_add_opt(&q, 1232, 0, false, NULL, 0);
	pkt = ask(&q, DNS_UDP);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_FORMERR);
	assert_false(ldns_pkt_aa(pkt));
	assert_int_equal(ldns_pkt_ancount(pkt), 0);
	assert_int_equal(out[11], 0);
	ldns_pkt_free(pkt);
}

static void opt_not_owned_by_the_root_is_formerr(void **state)
{
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	q.b[q.len++] = 1;
	q.b[q.len++] = 'x';
	query_add_opt(&q, 1232, 0, false, NULL, 0); /* its own root label follows "x" */
	pkt = ask(&q, DNS_UDP);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_FORMERR);
	ldns_pkt_free(pkt);
}

static void other_additional_records_are_ignored(void **state)
{
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	/* a TXT owned by a pointer to the qname, then an OPT */
	query_put16(&q, 0xc00c);
	query_put16(&q, LDNS_RR_TYPE_TXT);
	query_put16(&q, LDNS_RR_CLASS_IN);
	query_put16(&q, 0);
	query_put16(&q, 60);
	query_put16(&q, 2);
	query_put16(&q, 0x0178);
	q.b[11] = 1;
	query_add_opt(&q, 1232, 0, false, NULL, 0);
	pkt = ask(&q, DNS_UDP);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(pkt), 2);
	assert_true(ldns_pkt_edns(pkt));
	ldns_pkt_free(pkt);
}

/* ---- Sizes and truncation ---- */

static void big_answer_truncates_at_512_without_edns(void **state)
{
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	query_init(&q, "big.mesh", LDNS_RR_TYPE_TXT);
	pkt = ask(&q, DNS_UDP);
	assert_true(out_len <= DNS_UDP_MIN);
	assert_true(ldns_pkt_tc(pkt));
	assert_true(ldns_pkt_aa(pkt));
	assert_int_equal(ldns_pkt_qdcount(pkt), 1);
	assert_int_equal(ldns_pkt_ancount(pkt), 0);
	assert_int_equal(out_len, q.len);
	ldns_pkt_free(pkt);
}

static void big_answer_is_complete_over_tcp(void **state)
{
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	query_init(&q, "big.mesh", LDNS_RR_TYPE_TXT);
	pkt = ask(&q, DNS_TCP);
	assert_false(ldns_pkt_tc(pkt));
	assert_int_equal(ldns_pkt_ancount(pkt), ZONE_FIXTURE_BIG_TXT);
	assert_true(out_len > DNS_DEFAULT_EDNS_PAYLOAD);
	ldns_pkt_free(pkt);
}

static void udp_answer_honours_the_client_payload(void **state)
{
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	/* The client takes 4096 but we cap UDP at our 1232: TC, with the OPT kept. */
	query_init(&q, "big.mesh", LDNS_RR_TYPE_TXT);
	query_add_opt(&q, 4096, 0, false, NULL, 0);
	pkt = ask(&q, DNS_UDP);
	assert_true(ldns_pkt_tc(pkt));
	assert_true(ldns_pkt_edns(pkt));
	assert_true(out_len <= DNS_DEFAULT_EDNS_PAYLOAD);
	ldns_pkt_free(pkt);

	/* With a bigger cap of ours, the client's 4096 is the limit and all of it fits. */
	cfg.edns_payload = 4096;
	pkt = ask(&q, DNS_UDP);
	assert_false(ldns_pkt_tc(pkt));
	assert_int_equal(ldns_pkt_ancount(pkt), ZONE_FIXTURE_BIG_TXT);
	assert_true(out_len <= 4096);
	ldns_pkt_free(pkt);

	/* A client payload under 512 counts as 512 (RFC 6891 6.2.5). */
	query_init(&q, "big.mesh", LDNS_RR_TYPE_TXT);
	query_add_opt(&q, 100, 0, false, NULL, 0);
	pkt = ask(&q, DNS_UDP);
	cfg.edns_payload = DNS_DEFAULT_EDNS_PAYLOAD;
	assert_true(ldns_pkt_tc(pkt));
	assert_true(out_len <= DNS_UDP_MIN);
	assert_true(out_len > DNS_HEADER_SIZE);
	ldns_pkt_free(pkt);
}

static void small_client_payload_still_gets_512(void **state)
{
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	query_init(&q, "alias2.mesh", LDNS_RR_TYPE_A);
	query_add_opt(&q, 100, 0, false, NULL, 0);
	pkt = ask(&q, DNS_UDP);
	assert_true(out_len > 100);
	assert_false(ldns_pkt_tc(pkt));
	assert_int_equal(ldns_pkt_ancount(pkt), 4);
	ldns_pkt_free(pkt);
}

static void every_udp_payload_size_is_honoured_with_the_opt_kept(void **state)
{
	struct query q;
	uint16_t payload;
	size_t complete = 0;

	(void)state;
	cfg.edns_payload = 4096;
	for (payload = DNS_UDP_MIN; payload <= 2048; payload++) {
		ldns_pkt *pkt;

		query_init(&q, "big.mesh", LDNS_RR_TYPE_TXT);
		query_add_opt(&q, payload, 0, false, NULL, 0);
		pkt = ask(&q, DNS_UDP);
		assert_true(out_len <= payload);
		assert_true(ldns_pkt_edns(pkt));
		if (!ldns_pkt_tc(pkt)) {
			assert_int_equal(ldns_pkt_ancount(pkt), ZONE_FIXTURE_BIG_TXT);
			if (complete == 0)
				complete = out_len;
			/* the first payload that fits the answer takes all of it */
			assert_int_equal(out_len, complete);
			if (payload == complete)
				assert_int_equal(out_len, payload);
		}
		ldns_pkt_free(pkt);
	}
	cfg.edns_payload = DNS_DEFAULT_EDNS_PAYLOAD;
	assert_true(complete > DNS_UDP_MIN);
}

static void response_never_exceeds_out_size(void **state)
{
	struct query q;
	uint8_t small[DNS_UDP_MIN];
	size_t len = 0;

	(void)state;
	query_init(&q, "big.mesh", LDNS_RR_TYPE_TXT);
	assert_int_equal(dns_answer(fixture, &cfg, DNS_TCP, q.b, q.len, small, sizeof(small), &len,
				    NULL),
			 DNS_ANSWERED);
	assert_true(len <= sizeof(small));
	assert_true(small[2] & 0x02); /* TC */
	assert_int_equal(dns_answer(fixture, &cfg, DNS_TCP, q.b, q.len, small, sizeof(small) - 1,
				    &len, NULL),
			 -EINVAL);
}

/* ---- Malformed queries and odd headers ---- */

static void query_shorter_than_a_header_is_dropped(void **state)
{
	struct query q;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	q.len = DNS_HEADER_SIZE - 1;
	assert_int_equal(run(&q, DNS_UDP), DNS_DROP);
	q.len = 0;
	assert_int_equal(run(&q, DNS_UDP), DNS_DROP);
}

static void response_is_dropped(void **state)
{
	struct query q;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	q.b[2] |= 0x80; /* QR */
	assert_int_equal(run(&q, DNS_UDP), DNS_DROP);
}

/* A FORMERR with only a header: nothing of the question could be trusted. */
static void assert_bare_formerr(const struct query *q)
{
	assert_int_equal(run(q, DNS_UDP), DNS_ANSWERED);
	assert_int_equal(out_len, DNS_HEADER_SIZE);
	assert_int_equal(out[0] << 8 | out[1], QUERY_ID);
	assert_int_equal(out[2] & 0x80, 0x80); /* QR */
	assert_int_equal(out[3] & 0x0f, LDNS_RCODE_FORMERR);
	assert_int_equal(out[4] | out[5] | out[6] | out[7] | out[8] | out[9] | out[10] | out[11],
			 0);
}

static void truncated_question_is_formerr(void **state)
{
	struct query q;
	size_t len;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	/* every cut inside the question */
	for (len = DNS_HEADER_SIZE; len < q.len; len++) {
		struct query cut = q;

		cut.len = len;
		assert_bare_formerr(&cut);
	}
}

static void qdcount_0_and_2_are_formerr(void **state)
{
	struct query q;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	q.b[5] = 0;
	assert_bare_formerr(&q);
	q.b[5] = 2;
	assert_bare_formerr(&q);
}

static void answer_section_in_a_query_is_formerr(void **state)
{
	struct query q;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	q.b[7] = 1; /* ANCOUNT */
	assert_int_equal(run(&q, DNS_UDP), DNS_ANSWERED);
	assert_int_equal(out[3] & 0x0f, LDNS_RCODE_FORMERR);
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	q.b[9] = 1; /* NSCOUNT */
	assert_int_equal(run(&q, DNS_UDP), DNS_ANSWERED);
	assert_int_equal(out[3] & 0x0f, LDNS_RCODE_FORMERR);
}

static void additional_count_past_the_end_is_formerr(void **state)
{
	struct query q;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	query_add_opt(&q, 1232, 0, false, NULL, 0);
	q.b[11] = 2; /* one more record than there is */
	assert_int_equal(run(&q, DNS_UDP), DNS_ANSWERED);
	assert_int_equal(out[3] & 0x0f, LDNS_RCODE_FORMERR);
	assert_int_equal(out[11], 0); /* no OPT in the answer to a broken one */
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	query_add_opt(&q, 1232, 0, false, NULL, 0);
	q.len -= 1; /* rdlength cut */
	assert_int_equal(run(&q, DNS_UDP), DNS_ANSWERED);
	assert_int_equal(out[3] & 0x0f, LDNS_RCODE_FORMERR);
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	query_add_opt(&q, 1232, 0, false, NULL, 0);
	q.b[q.len - 1] = 4; /* rdlength 4, no rdata */
	assert_int_equal(run(&q, DNS_UDP), DNS_ANSWERED);
	assert_int_equal(out[3] & 0x0f, LDNS_RCODE_FORMERR);
}

static void label_longer_than_63_is_formerr(void **state)
{
	struct query q;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	q.b[DNS_HEADER_SIZE] = 64; /* 0x40: the extended label type of RFC 2673 */
	assert_bare_formerr(&q);
	q.b[DNS_HEADER_SIZE] = 0x80;
	assert_bare_formerr(&q);
}

static void name_longer_than_255_is_formerr(void **state)
{
	char name[300];
	struct query q;
	ldns_pkt *pkt;
	size_t i;

	(void)state;
	/* 4 labels of 63 + "a" = 4*64 + 2 + 1 = 259 bytes */
	for (i = 0; i < 4; i++) {
		memset(name + i * 64, 'x', 63);
		name[i * 64 + 63] = '.';
	}
	name[256] = 'a';
	name[257] = '\0';
	query_init(&q, name, LDNS_RR_TYPE_A);
	assert_bare_formerr(&q);

	/* 256: 3 x 63 + 62 + root */
	for (i = 0; i < 3; i++) {
		memset(name + i * 64, 'x', 63);
		name[i * 64 + 63] = '.';
	}
	memset(name + 192, 'y', 62);
	name[254] = '\0';
	query_init(&q, name, LDNS_RR_TYPE_A);
	assert_int_equal(q.len, DNS_HEADER_SIZE + 256 + 4);
	assert_bare_formerr(&q);

	/* exactly 255 (3 x 63 + 61 + root) is fine, and not ours */
	for (i = 0; i < 3; i++) {
		memset(name + i * 64, 'x', 63);
		name[i * 64 + 63] = '.';
	}
	memset(name + 192, 'y', 61);
	name[253] = '\0';
	query_init(&q, name, LDNS_RR_TYPE_A);
	assert_int_equal(q.len, DNS_HEADER_SIZE + 255 + 4);
	assert_int_equal(run(&q, DNS_UDP), DNS_FORWARD);

	/* 255 bytes ending in .mesh: ours, and answered with the 255-byte question */
	memset(name + 192, 'y', 56);
	memcpy(name + 248, ".mesh", 6);
	query_init(&q, name, LDNS_RR_TYPE_A);
	assert_int_equal(q.len, DNS_HEADER_SIZE + 255 + 4);
	pkt = ask(&q, DNS_UDP);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(pkt);
}

static void compression_pointer_in_question_is_formerr(void **state)
{
	struct query q;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	q.b[DNS_HEADER_SIZE + 4] = 0xc0; /* "nas" then a pointer instead of "mesh" */
	q.b[DNS_HEADER_SIZE + 5] = DNS_HEADER_SIZE;
	assert_bare_formerr(&q);
}

static void unknown_opcode_is_notimp(void **state)
{
	struct query q;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	q.b[2] |= 4 << 3; /* NOTIFY */
	assert_int_equal(run(&q, DNS_UDP), DNS_ANSWERED);
	assert_int_equal(out_len, DNS_HEADER_SIZE);
	assert_int_equal(out[3] & 0x0f, LDNS_RCODE_NOTIMPL);
	assert_int_equal((out[2] >> 3) & 0x0f, 4);    /* the opcode is echoed */
	q.b[2] = (uint8_t)((q.b[2] & 0x87) | 2 << 3); /* STATUS */
	assert_int_equal(run(&q, DNS_UDP), DNS_ANSWERED);
	assert_int_equal(out[3] & 0x0f, LDNS_RCODE_NOTIMPL);
}

static void class_other_than_in_is_refused(void **state)
{
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	q.b[q.len - 1] = LDNS_RR_CLASS_CH;
	pkt = ask(&q, DNS_UDP);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_REFUSED);
	assert_false(ldns_pkt_aa(pkt));
	assert_int_equal(ldns_pkt_qdcount(pkt), 1);
	ldns_pkt_free(pkt);
	/* outside our zones too: CHAOS is never forwarded */
	query_init(&q, "version.bind", LDNS_RR_TYPE_TXT);
	q.b[q.len - 1] = LDNS_RR_CLASS_CH;
	pkt = ask(&q, DNS_UDP);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_REFUSED);
	ldns_pkt_free(pkt);
}

static void class_any_is_answered_as_in(void **state)
{
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	query_init(&q, "printer.mesh", LDNS_RR_TYPE_A);
	q.b[q.len - 1] = LDNS_RR_CLASS_ANY;
	pkt = ask(&q, DNS_UDP);
	ASSERT_RRS(ldns_pkt_answer(pkt), "printer.mesh.\t30\tIN\tA\t100.64.0.30");
	ldns_pkt_free(pkt);
}

static void zone_transfer_is_refused(void **state)
{
	ldns_pkt *pkt = ask_udp("mesh", LDNS_RR_TYPE_AXFR);

	(void)state;
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_REFUSED);
	ldns_pkt_free(pkt);
}

static void flags_rd_and_cd_are_copied(void **state)
{
	struct query q;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	q.b[2] = 0;    /* no RD */
	q.b[3] = 0x10; /* CD */
	assert_int_equal(run(&q, DNS_UDP), DNS_ANSWERED);
	assert_int_equal(out[2], 0x84);        /* QR, AA, no RD */
	assert_int_equal(out[3], 0x80 | 0x10); /* RA, CD, NOERROR */
}

static void trailing_bytes_after_the_query_are_ignored(void **state)
{
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	query_init(&q, "nas.mesh", LDNS_RR_TYPE_A);
	q.b[q.len++] = 0xff;
	q.b[q.len++] = 0xff;
	assert_int_equal(run(&q, DNS_UDP), DNS_ANSWERED);
	assert_int_equal(out[3] & 0x0f, LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_wire2pkt(&pkt, out, out_len), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_ancount(pkt), 2);
	ldns_pkt_free(pkt);
}

/* ---- dns_answer_rcode ---- */

static void servfail_for_a_forwarded_query_echoes_question_and_opt(void **state)
{
	struct dns_query parsed;
	struct query q;
	ldns_pkt *pkt;

	(void)state;
	query_init(&q, "Example.COM", LDNS_RR_TYPE_A);
	query_add_opt(&q, 1232, 0, false, NULL, 0);
	assert_int_equal(dns_query_parse(q.b, q.len, &parsed), 0);
	assert_int_equal(dns_answer_rcode(&cfg, &parsed, q.b, LDNS_RCODE_SERVFAIL, out, sizeof(out),
					  &out_len),
			 0);
	assert_int_equal(ldns_wire2pkt(&pkt, out, out_len), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_SERVFAIL);
	assert_false(ldns_pkt_aa(pkt));
	ASSERT_RRS(ldns_pkt_question(pkt), "Example.COM.\tIN\tA");
	assert_true(ldns_pkt_edns(pkt));
	ldns_pkt_free(pkt);
	assert_int_equal(dns_answer_rcode(&cfg, &parsed, q.b, 16, out, sizeof(out), &out_len),
			 -EINVAL);
	assert_int_equal(dns_answer_rcode(&cfg, &parsed, q.b, 2, out, 100, &out_len), -EINVAL);
	assert_int_equal(dns_query_parse(q.b, 5, &parsed), -EBADMSG);
}

static void config_defaults(void **state)
{
	struct dns_config c;

	(void)state;
	memset(&c, 0xff, sizeof(c));
	dns_config_default(&c);
	assert_int_equal(c.ttl, 30);
	assert_int_equal(c.negative_ttl, 10);
	assert_int_equal(c.edns_payload, 1232);
}

static int setup(void **state)
{
	(void)state;
	dns_config_default(&cfg);
	fixture = zone_fixture();
	return fixture == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	snapshot_unref(fixture);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_of_host_is_its_address_plus_custom_a),
		cmocka_unit_test(aaaa_of_host_is_its_mesh_ipv6),
		cmocka_unit_test(aaaa_for_v4_only_host_is_nodata),
		cmocka_unit_test(a_for_v6_only_host_is_nodata_and_its_cname_is_ignored),
		cmocka_unit_test(cname_at_apex_is_never_answered),
		cmocka_unit_test(positive_ttl_follows_the_config),
		cmocka_unit_test(unknown_name_is_nxdomain_with_soa),
		cmocka_unit_test(name_below_a_host_without_records_is_nxdomain),
		cmocka_unit_test(name_with_odd_bytes_is_nxdomain),
		cmocka_unit_test(negative_ttl_is_the_smaller_of_soa_ttl_and_minimum),
		cmocka_unit_test(case_of_the_question_is_echoed),
		cmocka_unit_test(negative_answer_keeps_the_question_case),
		cmocka_unit_test(soa_at_apex),
		cmocka_unit_test(ns_at_apex),
		cmocka_unit_test(custom_mx_and_txt_at_apex),
		cmocka_unit_test(a_at_apex_is_nodata),
		cmocka_unit_test(serial_is_the_snapshot_generation),
		cmocka_unit_test(srv_under_a_host_name),
		cmocka_unit_test(txt_at_a_host_name),
		cmocka_unit_test(empty_non_terminal_is_nodata),
		cmocka_unit_test(name_with_only_txt_is_nodata_for_a),
		cmocka_unit_test(cname_is_chased_inside_the_zone),
		cmocka_unit_test(cname_query_is_not_chased),
		cmocka_unit_test(cname_to_a_missing_type_is_nodata),
		cmocka_unit_test(dangling_cname_is_nxdomain_of_the_target),
		cmocka_unit_test(cname_out_of_the_zone_ends_the_answer),
		cmocka_unit_test(cname_loop_is_cut),
		cmocka_unit_test(cname_to_the_apex_answers_apex_data),
		cmocka_unit_test(cname_chain_is_cut_after_8_links),
		cmocka_unit_test(broken_cname_target_is_servfail),
		cmocka_unit_test(any_at_a_host_is_its_a_rrset_only),
		cmocka_unit_test(any_without_a_host_is_the_lowest_custom_type),
		cmocka_unit_test(any_at_apex_is_the_soa),
		cmocka_unit_test(any_at_an_alias_is_the_cname),
		cmocka_unit_test(any_at_an_empty_non_terminal_is_nodata),
		cmocka_unit_test(ptr_of_a_mesh_ipv4),
		cmocka_unit_test(ptr_of_a_mesh_ipv6),
		cmocka_unit_test(ptr_in_upper_case_nibbles_matches),
		cmocka_unit_test(ptr_with_letter_nibbles_in_any_case),
		cmocka_unit_test(reverse_v6_labels_that_are_not_nibbles_are_nxdomain),
		cmocka_unit_test(a_at_a_reverse_name_is_nodata),
		cmocka_unit_test(reverse_name_of_no_host_in_the_prefix_is_nxdomain),
		cmocka_unit_test(reverse_v6_name_of_no_host_is_nxdomain),
		cmocka_unit_test(reverse_empty_non_terminal_is_nodata),
		cmocka_unit_test(soa_of_the_reverse_zones),
		cmocka_unit_test(slash_20_is_served_from_the_covering_slash_16_zone),
		cmocka_unit_test(slash_24_and_slash_8_reverse_zones),
		cmocka_unit_test(names_outside_our_zones_are_forwarded),
		cmocka_unit_test(forwarded_query_is_described_to_the_caller),
		cmocka_unit_test(dns_name_in_zones_tells_ours_from_the_rest),
		cmocka_unit_test(opt_is_echoed_with_our_payload),
		cmocka_unit_test(no_opt_without_edns_in_the_query),
		cmocka_unit_test(edns_version_1_is_badvers),
		cmocka_unit_test(unknown_edns_option_is_ignored),
		cmocka_unit_test(malformed_edns_option_is_formerr),
		cmocka_unit_test(two_opts_are_formerr),
		cmocka_unit_test(opt_not_owned_by_the_root_is_formerr),
		cmocka_unit_test(other_additional_records_are_ignored),
		cmocka_unit_test(big_answer_truncates_at_512_without_edns),
		cmocka_unit_test(big_answer_is_complete_over_tcp),
		cmocka_unit_test(udp_answer_honours_the_client_payload),
		cmocka_unit_test(small_client_payload_still_gets_512),
		cmocka_unit_test(every_udp_payload_size_is_honoured_with_the_opt_kept),
		cmocka_unit_test(response_never_exceeds_out_size),
		cmocka_unit_test(query_shorter_than_a_header_is_dropped),
		cmocka_unit_test(response_is_dropped),
		cmocka_unit_test(truncated_question_is_formerr),
		cmocka_unit_test(qdcount_0_and_2_are_formerr),
		cmocka_unit_test(answer_section_in_a_query_is_formerr),
		cmocka_unit_test(additional_count_past_the_end_is_formerr),
		cmocka_unit_test(label_longer_than_63_is_formerr),
		cmocka_unit_test(name_longer_than_255_is_formerr),
		cmocka_unit_test(compression_pointer_in_question_is_formerr),
		cmocka_unit_test(unknown_opcode_is_notimp),
		cmocka_unit_test(class_other_than_in_is_refused),
		cmocka_unit_test(class_any_is_answered_as_in),
		cmocka_unit_test(zone_transfer_is_refused),
		cmocka_unit_test(flags_rd_and_cd_are_copied),
		cmocka_unit_test(trailing_bytes_after_the_query_are_ignored),
		cmocka_unit_test(servfail_for_a_forwarded_query_echoes_question_and_opt),
		cmocka_unit_test(config_defaults),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
