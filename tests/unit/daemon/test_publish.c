/*
 * test_publish.c: the pure part of meshnamed's endpoint publisher (src/daemon/publish.c):
 * which addresses are published and as what, the set built from interfaces, config,
 * pinned list and reflexive endpoint, the cap and its priority, when to publish again;
 * and the pinned list file shared with `meshname endpoint` (src/registry/endpoints.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/publish.h"
#include "meshname/endpoints.h"

/* The mesh of these tests: 100.70.0.0/16 (inside 100.64.0.0/10, as `meshname init` picks)
 * and fd4d:6e00:1::/48. */
static struct config_prefix mesh[2];

static void setup_mesh(void)
{
	memset(mesh, 0, sizeof(mesh));
	mesh[0].family = AF_INET;
	mesh[0].len = 16;
	inet_pton(AF_INET, "100.70.0.0", mesh[0].addr);
	mesh[1].family = AF_INET6;
	mesh[1].len = 48;
	inet_pton(AF_INET6, "fd4d:6e00:1::", mesh[1].addr);
}

static uint8_t kind_of(const char *text, const struct config_prefix *lan, size_t n_lan)
{
	uint8_t a[16] = { 0 };
	uint8_t family = strchr(text, ':') != NULL ? 6 : 4;

	assert_int_equal(inet_pton(family == 4 ? AF_INET : AF_INET6, text, a), 1);
	return publish_classify(family, a, lan, n_lan, mesh, 2);
}

static struct rec_endpoint ep_of(const char *text, uint16_t port, uint8_t kind)
{
	struct rec_endpoint e = { .kind = kind, .port = port };

	e.family = strchr(text, ':') != NULL ? 6 : 4;
	assert_int_equal(inet_pton(e.family == 4 ? AF_INET : AF_INET6, text, e.addr), 1);
	return e;
}

static struct publish_ifaddr ifaddr(const char *ifname, const char *text)
{
	struct publish_ifaddr a = { .up = true };

	snprintf(a.ifname, sizeof(a.ifname), "%s", ifname);
	a.loopback = strcmp(ifname, "lo") == 0;
	a.family = strchr(text, ':') != NULL ? 6 : 4;
	assert_int_equal(inet_pton(a.family == 4 ? AF_INET : AF_INET6, text, a.addr), 1);
	return a;
}

/* The index of text:port in set with that kind, or -1. */
static int find(const struct rec_endpoints *set, const char *text, uint16_t port, uint8_t kind)
{
	struct rec_endpoint e = ep_of(text, port, kind);
	int i = endpoints_find(set, &e);

	return i >= 0 && set->ep[i].kind == kind ? i : -1;
}

/* ---- classification ---------------------------------------------------------------- */

static void private_ranges_are_lan(void **state)
{
	(void)state;
	assert_int_equal(kind_of("10.1.2.3", NULL, 0), EP_LAN);
	assert_int_equal(kind_of("172.16.0.1", NULL, 0), EP_LAN);
	assert_int_equal(kind_of("172.31.255.254", NULL, 0), EP_LAN);
	assert_int_equal(kind_of("192.168.1.20", NULL, 0), EP_LAN);
	assert_int_equal(kind_of("100.64.0.1", NULL, 0), EP_LAN);
	assert_int_equal(kind_of("100.127.255.254", NULL, 0), EP_LAN);
	assert_int_equal(kind_of("fd12:3456::1", NULL, 0), EP_LAN);
	assert_int_equal(kind_of("fc00::1", NULL, 0), EP_LAN);
}

static void other_ipv4_is_public_and_global_ipv6_is_ipv6(void **state)
{
	(void)state;
	assert_int_equal(kind_of("203.0.113.7", NULL, 0), EP_PUBLIC);
	assert_int_equal(kind_of("172.32.0.1", NULL, 0), EP_PUBLIC);  /* just past 172.16/12 */
	assert_int_equal(kind_of("100.128.0.1", NULL, 0), EP_PUBLIC); /* just past 100.64/10 */
	assert_int_equal(kind_of("2001:db8::1", NULL, 0), EP_IPV6);
	assert_int_equal(kind_of("2a00:1450::1", NULL, 0), EP_IPV6);
}

static void loopback_link_local_multicast_and_mesh_are_never_published(void **state)
{
	(void)state;
	assert_int_equal(kind_of("127.0.0.1", NULL, 0), 0);
	assert_int_equal(kind_of("0.0.0.0", NULL, 0), 0);
	assert_int_equal(kind_of("169.254.10.1", NULL, 0), 0);
	assert_int_equal(kind_of("224.0.0.1", NULL, 0), 0);
	assert_int_equal(kind_of("255.255.255.255", NULL, 0), 0);
	assert_int_equal(kind_of("::1", NULL, 0), 0);
	assert_int_equal(kind_of("::", NULL, 0), 0);
	assert_int_equal(kind_of("fe80::1", NULL, 0), 0);
	assert_int_equal(kind_of("febf::1", NULL, 0), 0);
	assert_int_equal(kind_of("ff02::1", NULL, 0), 0);
	assert_int_equal(kind_of("::ffff:203.0.113.7", NULL, 0), 0);
	/* The mesh prefixes, although 100.70/16 is inside 100.64/10 and fd4d:: inside fc00::/7. */
	assert_int_equal(kind_of("100.70.0.5", NULL, 0), 0);
	assert_int_equal(kind_of("fd4d:6e00:1::5", NULL, 0), 0);
	assert_int_equal(kind_of("fd4d:6e00:2::5", NULL, 0), EP_LAN);
}

static void a_lan_prefix_makes_public_space_lan(void **state)
{
	struct config_prefix lan[2] = { { .family = AF_INET, .len = 24 },
					{ .family = AF_INET6, .len = 32 } };

	(void)state;
	inet_pton(AF_INET, "198.51.100.0", lan[0].addr);
	inet_pton(AF_INET6, "2001:db8::", lan[1].addr);
	assert_int_equal(kind_of("198.51.100.9", lan, 2), EP_LAN);
	assert_int_equal(kind_of("198.51.101.9", lan, 2), EP_PUBLIC);
	assert_int_equal(kind_of("2001:db8:5::1", lan, 2), EP_LAN);
	assert_int_equal(kind_of("2001:db9::1", lan, 2), EP_IPV6);
	/* but never the mesh or link-local */
	lan[0].len = 0; /* 0.0.0.0/0 */
	memset(lan[0].addr, 0, 16);
	assert_int_equal(kind_of("100.70.0.5", lan, 1), 0);
	assert_int_equal(kind_of("169.254.1.1", lan, 1), 0);
	assert_int_equal(kind_of("203.0.113.1", lan, 1), EP_LAN);
}

/* ---- building the set --------------------------------------------------------------- */

static void a_typical_host(struct publish_ifaddr *a, size_t *n)
{
	size_t k = 0;

	a[k++] = ifaddr("lo", "127.0.0.1");
	a[k++] = ifaddr("lo", "::1");
	a[k++] = ifaddr("eth0", "192.168.1.20");
	a[k++] = ifaddr("eth0", "fe80::1");
	a[k++] = ifaddr("eth0", "2001:db8:1::20");
	a[k] = ifaddr("eth0", "2001:db8:1::beef"); /* a privacy address */
	a[k++].unstable = true;
	a[k++] = ifaddr("wg0", "100.70.0.3"); /* the mesh interface */
	a[k++] = ifaddr("wg0", "fd4d:6e00:1::3");
	a[k] = ifaddr("eth1", "10.9.9.9"); /* down */
	a[k++].up = false;
	a[k++] = ifaddr("eth2", "203.0.113.20");
	*n = k;
}

static void interfaces_give_lan_ipv6_and_public_on_the_listen_port(void **state)
{
	struct publish_ifaddr a[16];
	struct publish_input in = { .listen_port = 51820, .mesh_ifname = "wg0" };
	struct rec_endpoints set, sorted;
	uint8_t source[REC_MAX_ENDPOINTS];

	(void)state;
	a_typical_host(a, &in.n_addrs);
	in.addrs = a;
	in.mesh = mesh;
	in.n_mesh = 2;
	assert_int_equal(publish_build(&in, &set, source), 0);
	assert_int_equal(set.listen_port, 51820);
	assert_int_equal(set.n, 3);
	assert_true(find(&set, "192.168.1.20", 51820, EP_LAN) >= 0);
	assert_true(find(&set, "2001:db8:1::20", 51820, EP_IPV6) >= 0);
	assert_true(find(&set, "203.0.113.20", 51820, EP_PUBLIC) >= 0);
	for (unsigned i = 0; i < set.n; i++)
		assert_int_equal(source[i], PUBLISH_SRC_INTERFACE);
	/* already in the record's order */
	sorted = set;
	endpoints_sort(&sorted);
	assert_true(endpoints_equal(&set, &sorted));
}

static void config_pinned_and_reflexive_join_with_their_sources(void **state)
{
	struct publish_ifaddr a[16];
	struct rec_endpoint conf[2] = { ep_of("198.51.100.7", 4500, 0),
					ep_of("192.168.1.20", 51820, 0) };
	struct rec_endpoint pinned[1] = { ep_of("192.168.1.20", 51820, EP_PUBLIC) };
	struct rec_endpoint refl = ep_of("198.51.100.99", 40000, 0);
	struct publish_input in = { .listen_port = 51820, .mesh_ifname = "wg0" };
	struct rec_endpoints set;
	uint8_t source[REC_MAX_ENDPOINTS];
	int i;

	(void)state;
	a_typical_host(a, &in.n_addrs);
	in.addrs = a;
	in.mesh = mesh;
	in.n_mesh = 2;
	in.configured = conf;
	in.n_configured = 2;
	in.pinned = pinned;
	in.n_pinned = 1;
	in.reflexive = &refl;
	assert_int_equal(publish_build(&in, &set, source), 0);
	assert_int_equal(set.n, 5);
	/* configured: kind by address */
	i = find(&set, "198.51.100.7", 4500, EP_PUBLIC);
	assert_true(i >= 0);
	assert_int_equal(source[i], PUBLISH_SRC_CONFIG);
	/* the address on eth0 was pinned as public by hand: that wins over config and
	 * the interface, and is listed once */
	i = find(&set, "192.168.1.20", 51820, EP_PUBLIC);
	assert_true(i >= 0);
	assert_int_equal(source[i], PUBLISH_SRC_PINNED);
	assert_int_equal(find(&set, "192.168.1.20", 51820, EP_LAN), -1);
	i = find(&set, "198.51.100.99", 40000, EP_REFLEXIVE);
	assert_true(i >= 0);
	assert_int_equal(source[i], PUBLISH_SRC_REFLEXIVE);
}

static void a_configured_address_that_must_not_be_published_is_skipped(void **state)
{
	struct rec_endpoint conf[2] = { ep_of("127.0.0.1", 51820, 0), ep_of("100.70.0.1", 1, 0) };
	struct publish_input in = { .listen_port = 51820 };
	struct rec_endpoints set;

	(void)state;
	in.mesh = mesh;
	in.n_mesh = 2;
	in.configured = conf;
	in.n_configured = 2;
	assert_int_equal(publish_build(&in, &set, NULL), 0);
	assert_int_equal(set.n, 0);
}

static void the_cap_keeps_pinned_config_reflexive_then_public_ipv6_lan(void **state)
{
	struct publish_ifaddr a[24];
	struct rec_endpoint pinned[1] = { ep_of("192.0.2.1", 1000, EP_LAN) };
	struct rec_endpoint conf[1] = { ep_of("198.51.100.1", 2000, 0) };
	struct rec_endpoint refl = ep_of("198.51.100.2", 3000, 0);
	struct publish_input in = { .listen_port = 51820 };
	struct rec_endpoints set;
	uint8_t source[REC_MAX_ENDPOINTS];
	char text[64];
	size_t k = 0;

	(void)state;
	/* 10 lan addresses first in interface order, then 4 ipv6, then 4 public */
	for (int i = 0; i < 10; i++) {
		snprintf(text, sizeof(text), "10.0.0.%d", i + 1);
		a[k++] = ifaddr("eth0", text);
	}
	for (int i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "2001:db8::%d", i + 1);
		a[k++] = ifaddr("eth0", text);
	}
	for (int i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "203.0.113.%d", i + 1);
		a[k++] = ifaddr("eth1", text);
	}
	in.addrs = a;
	in.n_addrs = k;
	in.mesh = mesh;
	in.n_mesh = 2;
	in.pinned = pinned;
	in.n_pinned = 1;
	in.configured = conf;
	in.n_configured = 1;
	in.reflexive = &refl;
	/* 3 + 18 candidates, 16 places */
	assert_int_equal(publish_build(&in, &set, source), 5);
	assert_int_equal(set.n, REC_MAX_ENDPOINTS);
	assert_true(find(&set, "192.0.2.1", 1000, EP_LAN) >= 0);
	assert_true(find(&set, "198.51.100.1", 2000, EP_PUBLIC) >= 0);
	assert_true(find(&set, "198.51.100.2", 3000, EP_REFLEXIVE) >= 0);
	for (int i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "203.0.113.%d", i + 1);
		assert_true(find(&set, text, 51820, EP_PUBLIC) >= 0);
		snprintf(text, sizeof(text), "2001:db8::%d", i + 1);
		assert_true(find(&set, text, 51820, EP_IPV6) >= 0);
	}
	/* 5 of the 10 lan addresses fit: the first ones, in interface order */
	assert_true(find(&set, "10.0.0.5", 51820, EP_LAN) >= 0);
	assert_int_equal(find(&set, "10.0.0.6", 51820, EP_LAN), -1);
}

/* ---- when to publish ----------------------------------------------------------------- */

#define NOW 1700000000u
#define DAY 86400u

static void nothing_published_and_nothing_to_say_is_not_published(void **state)
{
	struct rec_endpoints want = { .listen_port = 51820 }, cur = { 0 };

	(void)state;
	assert_int_equal(publish_due(&want, &cur, 0, 0, NOW + 300 * DAY, NOW), PUBLISH_NONE);
	want.ep[want.n++] = ep_of("192.0.2.1", 51820, EP_LAN);
	assert_int_equal(publish_due(&want, &cur, 0, 0, NOW + 300 * DAY, NOW), PUBLISH_FIRST);
}

static void an_unchanged_set_is_not_published_again(void **state)
{
	struct rec_endpoints want = { .listen_port = 51820 }, cur;

	(void)state;
	want.ep[want.n++] = ep_of("192.0.2.1", 51820, EP_LAN);
	want.ep[want.n++] = ep_of("2001:db8::1", 51820, EP_IPV6);
	endpoints_sort(&want);
	cur = want;
	assert_int_equal(publish_due(&want, &cur, 7, NOW + DAY - 60, NOW + 300 * DAY, NOW),
			 PUBLISH_NONE);
	/* an empty set that is published as empty: nothing to do either */
	memset(&want, 0, sizeof(want));
	want.listen_port = 51820;
	cur = want;
	assert_int_equal(publish_due(&want, &cur, 7, NOW + DAY, NOW + 300 * DAY, NOW),
			 PUBLISH_NONE);
}

static void a_change_of_address_kind_or_port_is_published(void **state)
{
	struct rec_endpoints want = { .listen_port = 51820 }, cur;

	(void)state;
	want.ep[want.n++] = ep_of("192.0.2.1", 51820, EP_LAN);
	cur = want;
	want.listen_port = 51821;
	assert_int_equal(publish_due(&want, &cur, 7, NOW + DAY, NOW + 300 * DAY, NOW),
			 PUBLISH_CHANGED);
	want = cur;
	want.ep[0].kind = EP_PUBLIC;
	assert_int_equal(publish_due(&want, &cur, 7, NOW + DAY, NOW + 300 * DAY, NOW),
			 PUBLISH_CHANGED);
	want = cur;
	want.n = 0; /* the last address went away: publish the removal */
	assert_int_equal(publish_due(&want, &cur, 7, NOW + DAY, NOW + 300 * DAY, NOW),
			 PUBLISH_CHANGED);
}

static void a_record_is_refreshed_at_two_thirds_of_its_life_but_not_past_the_cert(void **state)
{
	struct rec_endpoints want = { .listen_port = 51820 }, cur;

	(void)state;
	want.ep[want.n++] = ep_of("192.0.2.1", 51820, EP_LAN);
	cur = want;
	/* signed NOW - 15 h: 9 h left of 24, more than a third */
	assert_int_equal(publish_due(&want, &cur, 7, NOW + 9 * 3600, NOW + 300 * DAY, NOW),
			 PUBLISH_NONE);
	/* 7 h left */
	assert_int_equal(publish_due(&want, &cur, 7, NOW + 7 * 3600, NOW + 300 * DAY, NOW),
			 PUBLISH_REFRESH);
	/* the certificate ends when the record does: a new one would not last longer */
	assert_int_equal(publish_due(&want, &cur, 7, NOW + 7 * 3600, NOW + 7 * 3600, NOW),
			 PUBLISH_NONE);
	assert_int_equal(publish_expiry(NOW + 300 * DAY, NOW), NOW + PUBLISH_LIFETIME);
	assert_int_equal(publish_expiry(NOW + 3600, NOW), NOW + 3600);
}

/* ---- observations --------------------------------------------------------------------- */

static struct sockaddr_storage sockaddr_of(const char *text, uint16_t port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	}
	return ss;
}

/* This host: 192.0.2.10/24 on its LAN. The peer publishes a LAN address, a public one
 * and a reflexive one. */
static struct wg_local_prefix local_prefixes[1];
static struct wg_local_net local = { 1, local_prefixes };
static struct rec_endpoint peer_eps[3];
static struct snapshot_host peer;

static void setup_peer(void)
{
	local_prefixes[0].family = AF_INET;
	local_prefixes[0].len = 24;
	inet_pton(AF_INET, "192.0.2.10", local_prefixes[0].addr);
	peer_eps[0] = ep_of("10.0.0.5", 51820, EP_LAN);
	peer_eps[1] = ep_of("203.0.113.5", 51820, EP_PUBLIC);
	peer_eps[2] = ep_of("198.51.100.77", 40000, EP_REFLEXIVE);
	memset(&peer, 0, sizeof(peer));
	peer.name = "peer";
	peer.endpoints_seq = 3;
	peer.n_endpoints = 3;
	peer.endpoints = peer_eps;
}

static void a_fresh_handshake_from_a_public_address_is_an_observation(void **state)
{
	struct sockaddr_storage ss = sockaddr_of("198.51.100.9", 61000);
	struct rec_endpoint seen;

	(void)state;
	assert_true(publish_observation(&ss, NOW - 30, &peer, &local, NOW, &seen));
	assert_int_equal(seen.kind, EP_REFLEXIVE);
	assert_int_equal(seen.family, 4);
	assert_int_equal(seen.port, 61000);
	assert_int_equal(seen.addr[3], 9);
	/* an IPv4-mapped IPv6 endpoint is the IPv4 address */
	ss = sockaddr_of("::ffff:198.51.100.9", 61000);
	assert_true(publish_observation(&ss, NOW - 30, &peer, &local, NOW, &seen));
	assert_int_equal(seen.family, 4);
	/* the address the peer itself published as reflexive is still observed */
	ss = sockaddr_of("198.51.100.77", 40000);
	assert_true(publish_observation(&ss, NOW - 30, &peer, &local, NOW, &seen));
}

static void stale_on_link_or_self_published_endpoints_are_not_observations(void **state)
{
	struct sockaddr_storage ss = sockaddr_of("198.51.100.9", 61000);
	struct rec_endpoint seen;

	(void)state;
	assert_false(publish_observation(&ss, 0, &peer, &local, NOW, &seen));
	assert_false(publish_observation(&ss, NOW - WG_EP_FRESH, &peer, &local, NOW, &seen));
	ss = sockaddr_of("192.0.2.77", 51820); /* on our LAN */
	assert_false(publish_observation(&ss, NOW - 1, &peer, &local, NOW, &seen));
	ss = sockaddr_of("203.0.113.5", 51820); /* its own public address */
	assert_false(publish_observation(&ss, NOW - 1, &peer, &local, NOW, &seen));
	ss = sockaddr_of("203.0.113.5", 999); /* the address counts, not the port */
	assert_false(publish_observation(&ss, NOW - 1, &peer, &local, NOW, &seen));
	memset(&ss, 0, sizeof(ss)); /* no endpoint */
	assert_false(publish_observation(&ss, NOW - 1, &peer, &local, NOW, &seen));
}

static void an_observation_is_signed_again_on_change_or_at_half_life_rate_limited(void **state)
{
	struct rec_endpoint a = ep_of("198.51.100.9", 61000, EP_REFLEXIVE);
	struct rec_endpoint b = ep_of("198.51.100.9", 61001, EP_REFLEXIVE);
	uint64_t issued = NOW - 3600, expires = issued + PUBLISH_OBSERVE_LIFETIME;

	(void)state;
	assert_true(publish_observe_due(&a, NULL, 0, 0, 0, NOW));
	assert_false(publish_observe_due(&a, &a, issued, expires, issued, NOW));
	assert_true(publish_observe_due(&b, &a, issued, expires, issued, NOW));
	/* at half its life */
	assert_false(publish_observe_due(&a, &a, issued, expires, issued,
					 issued + PUBLISH_OBSERVE_LIFETIME / 2 - 1));
	assert_true(publish_observe_due(&a, &a, issued, expires, issued,
					issued + PUBLISH_OBSERVE_LIFETIME / 2));
	/* a change, but the last try was a moment ago: later */
	assert_false(publish_observe_due(&b, &a, issued, expires, NOW - 10, NOW));
	assert_true(publish_observe_due(&b, &a, issued, expires, NOW - PUBLISH_OBSERVE_MIN_INTERVAL,
					NOW));
	/* lapsed */
	assert_true(publish_observe_due(&a, &a, issued, NOW, issued, NOW));
}

/* ---- the pinned list file ------------------------------------------------------------- */

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_publish.XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int remove_dir(void **state)
{
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/%s", dir, ENDPOINTS_PINNED);
	unlink(path);
	return rmdir(dir);
}

static void write_pinned(const char *text)
{
	char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, ENDPOINTS_PINNED);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void the_pinned_list_is_read_back_as_written(void **state)
{
	struct rec_endpoints e = { 0 }, back;
	unsigned line = 99;

	(void)state;
	/* missing: an empty list */
	assert_int_equal(endpoints_pinned_load(dir, &back, &line), 0);
	assert_int_equal(back.n, 0);
	e.ep[e.n++] = ep_of("192.0.2.1", 51820, EP_LAN);
	e.ep[e.n++] = ep_of("2001:db8::1", 4500, EP_IPV6);
	e.ep[e.n++] = ep_of("198.51.100.7", 1, EP_PUBLIC);
	assert_int_equal(endpoints_pinned_save(dir, &e), 0);
	assert_int_equal(endpoints_pinned_load(dir, &back, &line), 0);
	assert_int_equal(back.n, 3);
	assert_memory_equal(back.ep, e.ep, 3 * sizeof(e.ep[0]));
}

static void a_broken_pinned_line_is_refused_with_its_number(void **state)
{
	struct rec_endpoints back;
	unsigned line = 0;

	(void)state;
	write_pinned("# comment\n\nlan 192.0.2.1 51820\npublic 192.0.2.300 1\n");
	assert_int_equal(endpoints_pinned_load(dir, &back, &line), -EBADMSG);
	assert_int_equal(line, 4);
	assert_int_equal(back.n, 0);
	write_pinned("reflexive 192.0.2.1 1\n"); /* only lan, ipv6, public are added by hand */
	assert_int_equal(endpoints_pinned_load(dir, &back, &line), -EBADMSG);
	write_pinned("lan 192.0.2.1 0\n");
	assert_int_equal(endpoints_pinned_load(dir, &back, &line), -EBADMSG);
	write_pinned("lan 192.0.2.1 65536\n");
	assert_int_equal(endpoints_pinned_load(dir, &back, &line), -EBADMSG);
	write_pinned("lan 192.0.2.1 1 extra\n");
	assert_int_equal(endpoints_pinned_load(dir, &back, &line), -EBADMSG);
	write_pinned("lan 192.0.2.1 1 # why\nlan 192.0.2.1 1\n"); /* a duplicate counts once */
	assert_int_equal(endpoints_pinned_load(dir, &back, &line), 0);
	assert_int_equal(back.n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(private_ranges_are_lan),
		cmocka_unit_test(other_ipv4_is_public_and_global_ipv6_is_ipv6),
		cmocka_unit_test(loopback_link_local_multicast_and_mesh_are_never_published),
		cmocka_unit_test(a_lan_prefix_makes_public_space_lan),
		cmocka_unit_test(interfaces_give_lan_ipv6_and_public_on_the_listen_port),
		cmocka_unit_test(config_pinned_and_reflexive_join_with_their_sources),
		cmocka_unit_test(a_configured_address_that_must_not_be_published_is_skipped),
		cmocka_unit_test(the_cap_keeps_pinned_config_reflexive_then_public_ipv6_lan),
		cmocka_unit_test(nothing_published_and_nothing_to_say_is_not_published),
		cmocka_unit_test(an_unchanged_set_is_not_published_again),
		cmocka_unit_test(a_change_of_address_kind_or_port_is_published),
		cmocka_unit_test(
			a_record_is_refreshed_at_two_thirds_of_its_life_but_not_past_the_cert),
		cmocka_unit_test(a_fresh_handshake_from_a_public_address_is_an_observation),
		cmocka_unit_test(stale_on_link_or_self_published_endpoints_are_not_observations),
		cmocka_unit_test(
			an_observation_is_signed_again_on_change_or_at_half_life_rate_limited),
		cmocka_unit_test_setup_teardown(the_pinned_list_is_read_back_as_written, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(a_broken_pinned_line_is_refused_with_its_number,
						make_dir, remove_dir),
	};

	setup_mesh();
	setup_peer();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
