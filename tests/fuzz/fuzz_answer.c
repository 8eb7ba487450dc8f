/*
 * fuzz_answer.c: feeds arbitrary bytes as a DNS query to the answer engine over the
 * fixture snapshot of tests/unit/resolver/zone_fixture.h, over UDP and TCP. Besides
 * memory errors it checks that a response is never longer than the transport allows,
 * always carries the query's ID with QR set, parses with ldns, and that only input
 * shorter than a header or with QR set is dropped.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -Iinclude -Isrc -Itests/unit/resolver \
 *         tests/fuzz/fuzz_answer.c src/resolver/answer.c src/registry/snapshot.c \
 *         $(pkg-config --cflags --libs ldns) -o fuzz_answer
 * Without libFuzzer: `make fuzz-replay` builds $(BUILD)/fuzz/fuzz_answer with
 * tests/fuzz/standalone.c, and `build/fuzz/fuzz_answer FILE...` replays inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "meshname/dns.h"
#include "zone_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct snapshot *fixture;
static uint8_t out[DNS_TCP_MAX];

/* The longest response the query may get on this transport (dns.h). */
static size_t limit_for(const struct dns_config *cfg, enum dns_transport transport,
			const struct dns_query *q)
{
	size_t limit;

	if (transport == DNS_TCP)
		return DNS_TCP_MAX;
	if (!q->edns)
		return DNS_UDP_MIN;
	limit = q->edns_payload < cfg->edns_payload ? q->edns_payload : cfg->edns_payload;
	return limit < DNS_UDP_MIN ? DNS_UDP_MIN : limit;
}

static void check(const struct dns_config *cfg, enum dns_transport transport, const uint8_t *data,
		  size_t size)
{
	struct dns_query q;
	ldns_pkt *pkt = NULL;
	size_t len = 0;
	int r;

	r = dns_answer(fixture, cfg, transport, data, size, out, sizeof(out), &len, &q);
	if (r == DNS_DROP) {
		if (size >= DNS_HEADER_SIZE && (data[2] & 0x80) == 0)
			abort();
		return;
	}
	if (size < DNS_HEADER_SIZE || (data[2] & 0x80) != 0)
		abort(); /* should have been dropped */
	if (r == DNS_FORWARD) {
		if (q.rcode != LDNS_RCODE_NOERROR || q.question_len == 0 ||
		    dns_name_in_zones(fixture, data + DNS_HEADER_SIZE, q.qname_len))
			abort();
		return;
	}
	if (r != DNS_ANSWERED || len < DNS_HEADER_SIZE || len > limit_for(cfg, transport, &q))
		abort();
	if (out[0] != data[0] || out[1] != data[1] || (out[2] & 0x80) == 0)
		abort();
	if (ldns_wire2pkt(&pkt, out, len) != LDNS_STATUS_OK)
		abort();
	ldns_pkt_free(pkt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_config cfg;

	if (fixture == NULL) {
		fixture = zone_fixture();
		if (fixture == NULL)
			abort();
	}
	dns_config_default(&cfg);
	check(&cfg, DNS_UDP, data, size);
	check(&cfg, DNS_TCP, data, size);
	cfg.edns_payload = 4096;
	check(&cfg, DNS_UDP, data, size);
	return 0;
}
