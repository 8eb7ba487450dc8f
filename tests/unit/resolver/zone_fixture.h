/*
 * zone_fixture.h: the fixture snapshot the answer engine's unit tests and fuzz target
 * answer from, header-only (each test binary links only the modules it tests).
 * Mesh "mesh", 100.64.0.0/16, fd12:3456:789a::/48, generation 42.
 */
#ifndef MESHNAME_TESTS_ZONE_FIXTURE_H
#define MESHNAME_TESTS_ZONE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "meshname/snapshot.h"

#define ZONE_FIXTURE_GENERATION 42u
#define ZONE_FIXTURE_BIG_TXT 40 /* TXT rrs at big.mesh: well over 1232 bytes */

struct zone_fixture_host {
	const char *name;
	uint8_t ipv4[4];
	uint8_t ipv6[16];
};

/*
 * nas and laptop have both families; printer only IPv4 (an all-zero address is none),
 * v6only only IPv6.
 * laptop sits in 100.64.1.0/24 and fd12:3456:789a:2222::/64 so that 1.64.100.in-addr.arpa
 * and 2.2.2.2.a.9... are empty non-terminals.
 */
static const struct zone_fixture_host zone_fixture_hosts[] = {
	{ "nas",
	  { 100, 64, 0, 10 },
	  { 0xfd, 0x12, 0x34, 0x56, 0x78, 0x9a, 0x11, 0x11, 0, 0, 0, 0, 0, 0, 0, 0x0a } },
	{ "laptop",
	  { 100, 64, 1, 20 },
	  { 0xfd, 0x12, 0x34, 0x56, 0x78, 0x9a, 0x22, 0x22, 0, 0, 0, 0, 0, 0, 0, 0x14 } },
	{ "printer", { 100, 64, 0, 30 }, { 0 } },
	{ "v6only",
	  { 0 },
	  { 0xfd, 0x12, 0x34, 0x56, 0x78, 0x9a, 0x33, 0x33, 0, 0, 0, 0, 0, 0, 0, 0x01 } },
};

struct zone_fixture_rr {
	const char *owner;
	uint16_t rrtype;
	uint32_t ttl;
	size_t rdlen;
	const char *rdata;
};

#define ZF_RR(owner, type, ttl, rdata)                     \
	{                                                  \
		owner, type, ttl, sizeof(rdata) - 1, rdata \
	}

static const struct zone_fixture_rr zone_fixture_rrs[] = {
	/* SRV 0 0 22 nas.mesh. under a host name, making _tcp.nas an empty non-terminal */
	ZF_RR("_ssh._tcp.nas", 33, 300, "\0\0\0\0\0\026\3nas\4mesh\0"),
	/* a custom address at a host name adds to the host's */
	ZF_RR("nas", 1, 120, "\144\100\143\1"),
	ZF_RR("nas", 16, 60, "\5hello"),
	/* an alias, a chain of two, one leaving the zone, a loop, one dangling */
	ZF_RR("www", 5, 600, "\3nas\4mesh\0"),
	ZF_RR("alias2", 5, 600, "\3www\4mesh\0"),
	ZF_RR("ext", 5, 600, "\7example\3com\0"),
	ZF_RR("loop1", 5, 600, "\5loop2\4mesh\0"),
	ZF_RR("loop2", 5, 600, "\5loop1\4mesh\0"),
	ZF_RR("dangling", 5, 600, "\7nothere\4mesh\0"),
	ZF_RR("toapex", 5, 600, "\4mesh\0"),
	/* apex data besides the synthesized SOA and NS */
	ZF_RR("", 15, 3600, "\0\12\3nas\4mesh\0"),
	ZF_RR("", 16, 3600, "\6v=mesh"),
	/* a name with only a TXT: NODATA for A */
	ZF_RR("note", 16, 30, "\4memo"),
	/* nine links: one more than an answer follows */
	ZF_RR("c0", 5, 600, "\2c1\4mesh\0"),
	ZF_RR("c1", 5, 600, "\2c2\4mesh\0"),
	ZF_RR("c2", 5, 600, "\2c3\4mesh\0"),
	ZF_RR("c3", 5, 600, "\2c4\4mesh\0"),
	ZF_RR("c4", 5, 600, "\2c5\4mesh\0"),
	ZF_RR("c5", 5, 600, "\2c6\4mesh\0"),
	ZF_RR("c6", 5, 600, "\2c7\4mesh\0"),
	ZF_RR("c7", 5, 600, "\2c8\4mesh\0"),
	ZF_RR("c8", 5, 600, "\3nas\4mesh\0"),
	/* a CNAME at a host name (or the apex) is never used: the host's data wins */
	ZF_RR("v6only", 5, 600, "\3nas\4mesh\0"),
	ZF_RR("", 5, 600, "\3nas\4mesh\0"),
	/* rdata the registry would refuse: a compression pointer */
	ZF_RR("badcname", 5, 600, "\3nas\300\014"),
};

/* Returns a snapshot with one reference, or NULL (the caller fails the test). */
static inline struct snapshot *zone_fixture(void)
{
	static const uint8_t mesh_id[REC_ID_SIZE] = { 1 };
	struct rec_root root;
	struct snapshot_builder *b;
	struct snapshot *s = NULL;
	size_t i;

	memset(&root, 0, sizeof(root));
	snprintf(root.name, sizeof(root.name), "home");
	snprintf(root.zone, sizeof(root.zone), "mesh");
	root.ipv4[0] = 100;
	root.ipv4[1] = 64;
	root.ipv4_len = 16;
	memcpy(root.ipv6, zone_fixture_hosts[0].ipv6, 6);
	root.max_cert_lifetime = 86400;
	root.threshold = 1;
	root.n_admins = 1;

	b = snapshot_builder_new(&root, mesh_id, ZONE_FIXTURE_GENERATION);
	if (b == NULL)
		return NULL;
	for (i = 0; i < sizeof(zone_fixture_hosts) / sizeof(zone_fixture_hosts[0]); i++) {
		struct snapshot_host h;

		memset(&h, 0, sizeof(h));
		h.name = zone_fixture_hosts[i].name;
		memcpy(h.ipv4, zone_fixture_hosts[i].ipv4, 4);
		memcpy(h.ipv6, zone_fixture_hosts[i].ipv6, 16);
		h.host_key[0] = (uint8_t)(i + 1);
		h.wg_key[0] = (uint8_t)(i + 1);
		if (snapshot_builder_add_host(b, &h) < 0)
			goto fail;
	}
	for (i = 0; i < sizeof(zone_fixture_rrs) / sizeof(zone_fixture_rrs[0]); i++) {
		struct snapshot_rr rr = {
			zone_fixture_rrs[i].owner,
			zone_fixture_rrs[i].rrtype,
			zone_fixture_rrs[i].ttl,
			(uint16_t)zone_fixture_rrs[i].rdlen,
			(const uint8_t *)zone_fixture_rrs[i].rdata,
		};

		if (snapshot_builder_add_rr(b, &rr) < 0)
			goto fail;
	}
	for (i = 0; i < ZONE_FIXTURE_BIG_TXT; i++) {
		uint8_t txt[32];
		struct snapshot_rr rr = { "big", 16, 60, 0, txt };

		txt[0] = (uint8_t)snprintf((char *)txt + 1, sizeof(txt) - 1,
					   "filler text number %02zu....", i);
		rr.rdlen = (uint16_t)(txt[0] + 1);
		if (snapshot_builder_add_rr(b, &rr) < 0)
			goto fail;
	}
	if (snapshot_builder_finish(b, &s) < 0)
		return NULL;
	return s;
fail:
	snapshot_builder_free(b);
	return NULL;
}

#endif
