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
 *   gcc -DFUZZ_STANDALONE -Iinclude -Isrc -Itests/unit/resolver tests/fuzz/fuzz_answer.c \
 *         src/resolver/answer.c src/registry/snapshot.c $(pkg-config --cflags --libs ldns)
 *         (then: ./a.out FILE... replays inputs, e.g. a crash)
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

#ifdef FUZZ_STANDALONE
int main(int argc, char *argv[])
{
	for (int i = 1; i < argc; i++) {
		FILE *fp = fopen(argv[i], "rb");
		uint8_t *buf = NULL;
		size_t cap = 0, len = 0, n;

		if (fp == NULL) {
			perror(argv[i]);
			return 1;
		}
		do {
			if (len == cap) {
				uint8_t *bigger = realloc(buf, cap = cap * 2 + 4096);

				if (bigger == NULL)
					abort();
				buf = bigger;
			}
			n = fread(buf + len, 1, cap - len, fp);
			len += n;
		} while (n > 0);
		fclose(fp);
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
		printf("%s: ok\n", argv[i]);
	}
	snapshot_unref(fixture);
	return 0;
}
#endif
