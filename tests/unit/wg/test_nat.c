/*
 * test_nat.c: unit tests of the NAT verdict (src/wg/nat.c): what other hosts'
 * observations of this host say about its NAT. Snapshots are built in memory: host 0 is
 * this host, hosts 1.. are observers with their own published endpoints.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "meshname/snapshot.h"
#include "meshname/wgmanage.h"

#define NOW 1700000000
#define MAX_HOSTS 6

static const uint8_t test_mesh_id[REC_ID_SIZE] = { 0xaa, 0xbb, 0xcc };

/* What a test builds: per host its endpoints; host 0's observations. */
struct scene {
	uint32_t n_hosts;
	struct rec_endpoint eps[MAX_HOSTS][2];
	uint8_t n_eps[MAX_HOSTS];
	struct snapshot_observation obs[SNAPSHOT_MAX_OBSERVATIONS];
	uint8_t n_obs;
};

static void host_key_of(uint32_t i, uint8_t key[REC_KEY_SIZE])
{
	memset(key, 0, REC_KEY_SIZE);
	key[0] = 1;
	key[31] = (uint8_t)i;
}

static struct rec_endpoint ep(uint8_t kind, uint8_t a, uint8_t b, uint8_t c, uint8_t d,
			      uint16_t port)
{
	struct rec_endpoint e = { .kind = kind, .family = 4, .addr = { a, b, c, d }, .port = port };

	return e;
}

/*
 * n hosts: host 0 (this host) behind NAT with only a LAN endpoint; host i > 0 a directly
 * reachable observer at the public address 198.51.100.i. Tests change what they need.
 */
static void scene_init(struct scene *sc, uint32_t n)
{
	memset(sc, 0, sizeof(*sc));
	sc->n_hosts = n;
	sc->eps[0][0] = ep(EP_LAN, 192, 168, 1, 10, 51820);
	sc->n_eps[0] = 1;
	for (uint32_t i = 1; i < n; i++) {
		sc->eps[i][0] = ep(EP_PUBLIC, 198, 51, 100, (uint8_t)i, 51820);
		sc->n_eps[i] = 1;
	}
}

/* Host observer saw host 0 at 203.0.113.octet:port, issued at, for an hour. */
static void saw(struct scene *sc, uint32_t observer, uint8_t octet, uint16_t port, int64_t at)
{
	struct snapshot_observation *o = &sc->obs[sc->n_obs++];

	memset(o, 0, sizeof(*o));
	host_key_of(observer, o->observer);
	o->seen = ep(EP_REFLEXIVE, 203, 0, 113, octet, port);
	o->seq = 1;
	o->issued_at = (uint64_t)at;
	o->expires_at = (uint64_t)at + 3600;
}

static struct snapshot *build(const struct scene *sc)
{
	struct snapshot_builder *b;
	struct snapshot *s = NULL;
	struct rec_root root;

	memset(&root, 0, sizeof(root));
	snprintf(root.name, sizeof(root.name), "lab");
	snprintf(root.zone, sizeof(root.zone), "mesh");
	root.ipv4[0] = 100;
	root.ipv4[1] = 64;
	root.ipv4_len = 10;
	root.ipv6[0] = 0xfd;
	root.max_cert_lifetime = 86400;
	root.threshold = 1;
	root.n_admins = 1;
	b = snapshot_builder_new(&root, test_mesh_id, 1);
	assert_non_null(b);
	for (uint32_t i = 0; i < sc->n_hosts; i++) {
		struct snapshot_host h;
		char name[16];

		memset(&h, 0, sizeof(h));
		snprintf(name, sizeof(name), "host%u", i);
		h.name = name;
		h.ipv4[0] = 100;
		h.ipv4[1] = 64;
		h.ipv4[3] = (uint8_t)(i + 1);
		h.ipv6[0] = 0xfd;
		h.ipv6[15] = (uint8_t)(i + 1);
		host_key_of(i, h.host_key);
		h.wg_key[0] = (uint8_t)(i + 1);
		h.not_after = NOW + 86400;
		h.endpoints_seq = 1;
		h.n_endpoints = sc->n_eps[i];
		h.endpoints = sc->eps[i];
		if (i == 0) {
			h.n_observations = sc->n_obs;
			h.observations = sc->obs;
		}
		assert_int_equal(snapshot_builder_add_host(b, &h), 0);
	}
	assert_int_equal(snapshot_builder_finish(b, &s), 0);
	return s;
}

/* The verdict for host 0 of sc at now; *refl gets the reflexive endpoint. */
static enum wg_nat verdict_at(const struct scene *sc, int64_t now, struct rec_endpoint *refl)
{
	struct snapshot *s = build(sc);
	const struct snapshot_host *self = snapshot_lookup_name(s, "host0", 5);
	enum wg_nat v;

	assert_non_null(self);
	memset(refl, 0x5a, sizeof(*refl)); /* must be overwritten whatever the answer */
	v = wg_nat_verdict(s, self, now, refl);
	snapshot_unref(s);
	return v;
}

static void assert_zero_endpoint(const struct rec_endpoint *e)
{
	static const struct rec_endpoint zero;

	assert_memory_equal(e, &zero, sizeof(zero));
}

static void no_observation_is_unknown(void **state)
{
	struct scene sc;
	struct rec_endpoint refl;

	(void)state;
	scene_init(&sc, 3);
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_UNKNOWN);
	assert_zero_endpoint(&refl);
}

static void one_observer_is_not_enough(void **state)
{
	struct scene sc;
	struct rec_endpoint refl;

	(void)state;
	scene_init(&sc, 3);
	saw(&sc, 1, 50, 41641, NOW - 10);
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_UNKNOWN);
	assert_zero_endpoint(&refl);
}

static void two_observers_from_different_publics_agreeing_is_open(void **state)
{
	struct scene sc;
	struct rec_endpoint refl;

	(void)state;
	scene_init(&sc, 3);
	saw(&sc, 1, 50, 41641, NOW - 10);
	saw(&sc, 2, 50, 41641, NOW - 20);
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_OPEN);
	assert_int_equal(refl.kind, EP_REFLEXIVE);
	assert_int_equal(refl.family, 4);
	assert_memory_equal(refl.addr, "\xcb\x00\x71\x32\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	assert_int_equal(refl.port, 41641);
	/* a NULL reflexive is allowed */
	{
		struct snapshot *s = build(&sc);

		assert_int_equal(wg_nat_verdict(s, snapshot_lookup_name(s, "host0", 5), NOW, NULL),
				 WG_NAT_OPEN);
		snapshot_unref(s);
	}
}

static void two_observers_behind_one_public_address_prove_nothing(void **state)
{
	struct scene sc;
	struct rec_endpoint refl;

	(void)state;
	scene_init(&sc, 3);
	/* host 2 publishes host 1's public address too (another port): one NAT, one vantage */
	sc.eps[2][0] = ep(EP_PUBLIC, 198, 51, 100, 1, 51821);
	saw(&sc, 1, 50, 41641, NOW - 10);
	saw(&sc, 2, 50, 41641, NOW - 20);
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_UNKNOWN);
	assert_zero_endpoint(&refl);

	/* shared as a REFLEXIVE address of one and PUBLIC of the other: still one vantage */
	sc.eps[2][0] = ep(EP_REFLEXIVE, 198, 51, 100, 1, 40000);
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_UNKNOWN);

	/* an observer with only LAN endpoints may sit behind anything: never independent */
	sc.eps[2][0] = ep(EP_LAN, 10, 0, 0, 2, 51820);
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_UNKNOWN);

	/* and with a public address of its own, the same two observations do count */
	sc.eps[2][1] = ep(EP_PUBLIC, 198, 51, 100, 2, 51820);
	sc.n_eps[2] = 2;
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_OPEN);
}

static void a_port_or_address_mismatch_is_symmetric(void **state)
{
	struct scene sc;
	struct rec_endpoint refl;

	(void)state;
	scene_init(&sc, 3);
	saw(&sc, 1, 50, 41641, NOW - 10);
	saw(&sc, 2, 50, 41642, NOW - 20);
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_SYMMETRIC);
	assert_zero_endpoint(&refl);

	scene_init(&sc, 3);
	saw(&sc, 1, 50, 41641, NOW - 10);
	saw(&sc, 2, 51, 41641, NOW - 20);
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_SYMMETRIC);

	/* the same mismatch from one vantage point is no evidence */
	sc.eps[2][0] = ep(EP_PUBLIC, 198, 51, 100, 1, 51820);
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_UNKNOWN);
}

static void an_old_disagreement_is_not_symmetric(void **state)
{
	struct scene sc;
	struct rec_endpoint refl;

	(void)state;
	scene_init(&sc, 3);
	saw(&sc, 1, 50, 41641, NOW - 10);
	saw(&sc, 2, 50, 41642, NOW - WG_NAT_RECENT - 1); /* before the mapping changed? */
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_UNKNOWN);
	assert_int_equal(verdict_at(&sc, NOW - 1, &refl), WG_NAT_SYMMETRIC); /* just recent */
}

static void expired_and_future_observations_are_ignored(void **state)
{
	struct scene sc;
	struct rec_endpoint refl;

	(void)state;
	scene_init(&sc, 3);
	saw(&sc, 1, 50, 41641, NOW - 10);
	saw(&sc, 2, 50, 41641, NOW - 3600); /* expires at NOW */
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_UNKNOWN);
	assert_zero_endpoint(&refl);
	assert_int_equal(verdict_at(&sc, NOW - 1, &refl), WG_NAT_OPEN);

	scene_init(&sc, 3);
	saw(&sc, 1, 50, 41641, NOW - 10);
	saw(&sc, 2, 50, 41641, NOW + REC_MAX_FUTURE + 1); /* dated too far ahead */
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_UNKNOWN);
	sc.obs[1].issued_at = NOW + REC_MAX_FUTURE; /* clock skew within bounds counts */
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_OPEN);
}

static void a_directly_reachable_host_has_no_nat(void **state)
{
	struct scene sc;
	struct rec_endpoint refl;

	(void)state;
	scene_init(&sc, 3);
	saw(&sc, 1, 50, 41641, NOW - 10);
	saw(&sc, 2, 50, 41641, NOW - 20);
	sc.eps[0][1] = ep(EP_PUBLIC, 203, 0, 113, 50, 51820);
	sc.n_eps[0] = 2;
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_NONE);
	assert_zero_endpoint(&refl);

	sc.eps[0][1] = (struct rec_endpoint){ .kind = EP_IPV6,
					      .family = 6,
					      .addr = { 0x20, 0x01, 0x0d, 0xb8, [15] = 5 },
					      .port = 1 };
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_NONE);

	/* its own published REFLEXIVE endpoint does not make it reachable first */
	sc.eps[0][1] = ep(EP_REFLEXIVE, 203, 0, 113, 50, 41641);
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_OPEN);
}

static void observers_outside_the_snapshot_and_self_do_not_count(void **state)
{
	struct scene sc;
	struct rec_endpoint refl;

	(void)state;
	scene_init(&sc, 2);
	saw(&sc, 1, 50, 41641, NOW - 10);
	saw(&sc, 4, 50, 41641, NOW - 20); /* no host 4: revoked or expired since */
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_UNKNOWN);
	saw(&sc, 0, 50, 41641, NOW - 5); /* itself */
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_UNKNOWN);
}

static void the_newest_agreement_wins_and_agreement_beats_disagreement(void **state)
{
	struct scene sc;
	struct rec_endpoint refl;

	(void)state;
	/* the mapping moved: 1 and 2 agreed on :1000 long ago, 3 and 4 agree on :2000 now */
	scene_init(&sc, 5);
	saw(&sc, 1, 50, 1000, NOW - 3000);
	saw(&sc, 2, 50, 1000, NOW - 2900);
	saw(&sc, 3, 50, 2000, NOW - 20);
	saw(&sc, 4, 50, 2000, NOW - 10);
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_OPEN);
	assert_int_equal(refl.port, 2000);

	/* the same set in another order gives the same answer */
	{
		struct snapshot_observation t = sc.obs[0];

		sc.obs[0] = sc.obs[3];
		sc.obs[3] = t;
		assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_OPEN);
		assert_int_equal(refl.port, 2000);
	}

	/* 1 and 2 agree, 3 saw another port just now: still open (3 may be stale news) */
	scene_init(&sc, 4);
	saw(&sc, 1, 50, 1000, NOW - 30);
	saw(&sc, 2, 50, 1000, NOW - 20);
	saw(&sc, 3, 50, 1500, NOW - 10);
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_OPEN);
	assert_int_equal(refl.port, 1000);
}

static void ipv4_and_ipv6_observations_are_never_compared(void **state)
{
	struct scene sc;
	struct rec_endpoint refl;

	(void)state;
	scene_init(&sc, 3);
	saw(&sc, 1, 50, 41641, NOW - 10);
	saw(&sc, 2, 50, 41641, NOW - 20);
	sc.obs[1].seen = (struct rec_endpoint){ .kind = EP_REFLEXIVE,
						.family = 6,
						.addr = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x50 },
						.port = 41641 };
	assert_int_equal(verdict_at(&sc, NOW, &refl), WG_NAT_UNKNOWN);
}

static void null_arguments_and_names(void **state)
{
	struct rec_endpoint refl;

	(void)state;
	memset(&refl, 0x5a, sizeof(refl));
	assert_int_equal(wg_nat_verdict(NULL, NULL, NOW, &refl), WG_NAT_UNKNOWN);
	assert_zero_endpoint(&refl);
	assert_string_equal(wg_nat_name(WG_NAT_UNKNOWN), "unknown");
	assert_string_equal(wg_nat_name(WG_NAT_OPEN), "open");
	assert_string_equal(wg_nat_name(WG_NAT_SYMMETRIC), "symmetric");
	assert_string_equal(wg_nat_name(WG_NAT_NONE), "none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_observation_is_unknown),
		cmocka_unit_test(one_observer_is_not_enough),
		cmocka_unit_test(two_observers_from_different_publics_agreeing_is_open),
		cmocka_unit_test(two_observers_behind_one_public_address_prove_nothing),
		cmocka_unit_test(a_port_or_address_mismatch_is_symmetric),
		cmocka_unit_test(an_old_disagreement_is_not_symmetric),
		cmocka_unit_test(expired_and_future_observations_are_ignored),
		cmocka_unit_test(a_directly_reachable_host_has_no_nat),
		cmocka_unit_test(observers_outside_the_snapshot_and_self_do_not_count),
		cmocka_unit_test(the_newest_agreement_wins_and_agreement_beats_disagreement),
		cmocka_unit_test(ipv4_and_ipv6_observations_are_never_compared),
		cmocka_unit_test(null_arguments_and_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
