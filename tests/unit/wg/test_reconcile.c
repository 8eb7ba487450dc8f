/*
 * test_reconcile.c: unit tests of the peer manager's reconciliation (src/wg/reconcile.c):
 * the desired peers a snapshot gives (self left out, allowed IPs, keepalive rule,
 * endpoints), the minimal change set against a device, the refusals, the per-call cap and
 * every allocation failure. Devices are built in memory; nothing talks to WireGuard.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "meshname/snapshot.h"
#include "meshname/wg.h"
#include "meshname/wgmanage.h"

/* The fault-injection hook of reconcile.c: not part of the interface. */
void wg_reconcile_test_fail_alloc_after(unsigned n);

#define SELF 0u /* host number of this host in every test snapshot */

static const uint8_t test_mesh_id[REC_ID_SIZE] = { 0xaa, 0xbb, 0xcc };

static const struct rec_endpoint ep_public = { EP_PUBLIC, 4, { 203, 0, 113, 7 }, 51820 };
static const struct rec_endpoint ep_lan = { EP_LAN, 4, { 192, 168, 1, 20 }, 51820 };
static const struct rec_endpoint ep_reflexive = { EP_REFLEXIVE, 4, { 198, 51, 100, 9 }, 40000 };
static const struct rec_endpoint ep_ipv6 = {
	EP_IPV6, 6, { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, 51820
};

static void host_key_of(uint32_t i, uint8_t key[REC_KEY_SIZE])
{
	memset(key, 0, REC_KEY_SIZE);
	key[0] = 1;
	memcpy(key + 28, &i, sizeof(i));
}

static void wg_key_of(uint32_t i, uint8_t key[WG_KEY_LEN])
{
	memset(key, 0, WG_KEY_LEN);
	/* Big-endian, so that key order is host-number order, and high bits vary: the merge
	 * must not depend on the order of the device's peers either. */
	key[0] = (uint8_t)(i * 37u);
	key[1] = (uint8_t)(i >> 8);
	key[2] = (uint8_t)i;
	key[31] = 2;
}

static void host_fill(struct snapshot_host *h, char *name, size_t name_size, uint32_t i)
{
	memset(h, 0, sizeof(*h));
	snprintf(name, name_size, "host%u", i);
	h->name = name;
	h->ipv4[0] = 100;
	h->ipv4[1] = 64;
	h->ipv4[2] = (uint8_t)(i >> 8);
	h->ipv4[3] = (uint8_t)i;
	h->ipv6[0] = 0xfd;
	h->ipv6[14] = (uint8_t)(i >> 8);
	h->ipv6[15] = (uint8_t)i;
	host_key_of(i, h->host_key);
	wg_key_of(i, h->wg_key);
	h->serial = 1;
	h->not_before = 1000;
	h->not_after = 2000;
}

/* hosts 0..n-1 (0 is self); every host gets the endpoints eps (may be NULL). */
static struct snapshot *make_snapshot(uint32_t n, const struct rec_endpoint *eps, uint8_t n_eps)
{
	struct snapshot_builder *b;
	struct snapshot *s = NULL;
	struct rec_root root;
	uint32_t i;

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
	for (i = 0; i < n; i++) {
		struct snapshot_host h;
		char name[32];

		host_fill(&h, name, sizeof(name), i);
		if (n_eps > 0) {
			h.endpoints_seq = 1;
			h.n_endpoints = n_eps;
			h.endpoints = eps;
		}
		assert_int_equal(snapshot_builder_add_host(b, &h), 0);
	}
	assert_int_equal(snapshot_builder_finish(b, &s), 0);
	return s;
}

/* The endpoint callback of the tests: host i's endpoint is 203.0.113.(i % 250):51820. */
static bool endpoint_by_number(void *ctx, const struct snapshot_host *peer,
			       struct sockaddr_storage *endpoint)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)endpoint;

	(void)ctx;
	memset(endpoint, 0, sizeof(*endpoint));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(0xcb007100u | (uint32_t)(peer->ipv4[3] % 250));
	sin->sin_port = htons(51820);
	return true;
}

static bool no_endpoint(void *ctx, const struct snapshot_host *peer,
			struct sockaddr_storage *endpoint)
{
	(void)ctx;
	(void)peer;
	(void)endpoint;
	return false;
}

static void self_key(uint8_t key[REC_KEY_SIZE])
{
	host_key_of(SELF, key);
}

static void desired_of(const struct snapshot *s, wg_endpoint_fn fn, struct wg_device *desired)
{
	uint8_t self[REC_KEY_SIZE];

	self_key(self);
	memset(desired, 0, sizeof(*desired));
	assert_int_equal(wg_desired_from_snapshot(s, self, fn, NULL, desired), 0);
}

/* What a get would return after desired was applied: same peers, in reverse order and
 * with their allowed IPs reversed too, plus what only a get reports. */
static void device_like(const struct wg_device *desired, struct wg_device *dev)
{
	size_t i, j;

	memset(dev, 0, sizeof(*dev));
	snprintf(dev->name, sizeof(dev->name), "wg-test");
	for (i = desired->n_peers; i-- > 0;) {
		const struct wg_peer *d = &desired->peers[i];
		struct wg_peer *p = wg_device_add_peer(dev, d->public_key);

		assert_non_null(p);
		p->flags = WG_PEER_HAS_KEEPALIVE | (d->flags & WG_PEER_HAS_ENDPOINT);
		p->endpoint = d->endpoint;
		p->persistent_keepalive = d->persistent_keepalive;
		p->last_handshake_sec = 1700000000;
		p->rx_bytes = 1000;
		p->tx_bytes = 2000;
		for (j = d->n_allowedips; j-- > 0;)
			assert_non_null(wg_peer_add_allowedip(p, d->allowedips[j].family,
							      d->allowedips[j].addr,
							      d->allowedips[j].cidr));
	}
}

/* Applies changes to dev as WireGuard would (enough for these tests). */
static void apply(struct wg_device *dev, const struct wg_device *changes)
{
	struct wg_device next;
	size_t i, j, k;

	memset(&next, 0, sizeof(next));
	memcpy(next.name, dev->name, sizeof(next.name));
	for (i = 0; i < dev->n_peers; i++) {
		const struct wg_peer *old = &dev->peers[i];
		const struct wg_peer *ch = NULL;
		struct wg_peer *p;

		for (k = 0; k < changes->n_peers; k++) {
			if (memcmp(changes->peers[k].public_key, old->public_key, WG_KEY_LEN) == 0)
				ch = &changes->peers[k];
		}
		if (ch != NULL && (ch->flags & WG_PEER_REMOVE) != 0)
			continue;
		p = wg_device_add_peer(&next, old->public_key);
		assert_non_null(p);
		p->flags = old->flags;
		p->endpoint = old->endpoint;
		p->persistent_keepalive = old->persistent_keepalive;
		if (ch != NULL && (ch->flags & WG_PEER_HAS_ENDPOINT) != 0) {
			p->endpoint = ch->endpoint;
			p->flags |= WG_PEER_HAS_ENDPOINT;
		}
		if (ch != NULL && (ch->flags & WG_PEER_HAS_KEEPALIVE) != 0)
			p->persistent_keepalive = ch->persistent_keepalive;
		const struct wg_peer *ips =
			ch != NULL && (ch->flags & WG_PEER_REPLACE_ALLOWEDIPS) ? ch : old;
		for (j = 0; j < ips->n_allowedips; j++)
			assert_non_null(wg_peer_add_allowedip(p, ips->allowedips[j].family,
							      ips->allowedips[j].addr,
							      ips->allowedips[j].cidr));
	}
	for (k = 0; k < changes->n_peers; k++) {
		const struct wg_peer *ch = &changes->peers[k];
		bool known = false;
		struct wg_peer *p;

		for (i = 0; i < dev->n_peers; i++)
			known |= memcmp(dev->peers[i].public_key, ch->public_key, WG_KEY_LEN) == 0;
		if (known || (ch->flags & (WG_PEER_REMOVE | WG_PEER_UPDATE_ONLY)) != 0)
			continue;
		p = wg_device_add_peer(&next, ch->public_key);
		assert_non_null(p);
		p->flags = WG_PEER_HAS_KEEPALIVE | (ch->flags & WG_PEER_HAS_ENDPOINT);
		p->endpoint = ch->endpoint;
		p->persistent_keepalive = ch->persistent_keepalive;
		for (j = 0; j < ch->n_allowedips; j++)
			assert_non_null(wg_peer_add_allowedip(p, ch->allowedips[j].family,
							      ch->allowedips[j].addr,
							      ch->allowedips[j].cidr));
	}
	wg_device_clear(dev);
	*dev = next;
}

static struct wg_peer *find_peer(const struct wg_device *dev, uint32_t host)
{
	uint8_t key[WG_KEY_LEN];
	size_t i;

	wg_key_of(host, key);
	for (i = 0; i < dev->n_peers; i++) {
		if (memcmp(dev->peers[i].public_key, key, WG_KEY_LEN) == 0)
			return &dev->peers[i];
	}
	return NULL;
}

static void set_endpoint_v4(struct sockaddr_storage *ss, uint32_t addr, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(addr);
	sin->sin_port = htons(port);
}

static void reconcile_ok(const struct wg_device *current, const struct wg_device *desired,
			 size_t cap, struct wg_device *changes, struct wg_reconcile_result *res)
{
	memset(changes, 0, sizeof(*changes));
	assert_int_equal(wg_reconcile(current, desired, cap, changes, res), 0);
	assert_int_equal(changes->n_peers, res->n_removed + res->n_added + res->n_changed);
}

/* ---- the desired state ------------------------------------------------------------ */

static void desired_state_has_every_host_but_self_with_its_mesh_addresses(void **state)
{
	struct snapshot *s = make_snapshot(5, &ep_public, 1);
	struct wg_device desired;
	struct wg_peer *p;
	struct sockaddr_storage want;
	uint32_t i;

	(void)state;
	desired_of(s, endpoint_by_number, &desired);
	assert_int_equal(desired.n_peers, 4);
	assert_null(find_peer(&desired, SELF));
	for (i = 1; i < 5; i++) {
		p = find_peer(&desired, i);
		assert_non_null(p);
		assert_int_equal(p->n_allowedips, 2);
		assert_int_equal(p->allowedips[0].family, AF_INET);
		assert_int_equal(p->allowedips[0].cidr, 32);
		assert_memory_equal(p->allowedips[0].addr, ((uint8_t[]){ 100, 64, 0, (uint8_t)i }),
				    4);
		assert_int_equal(p->allowedips[1].family, AF_INET6);
		assert_int_equal(p->allowedips[1].cidr, 128);
		assert_int_equal(p->allowedips[1].addr[0], 0xfd);
		assert_int_equal(p->allowedips[1].addr[15], i);
		assert_true(p->flags & WG_PEER_HAS_ENDPOINT);
		set_endpoint_v4(&want, 0xcb007100u | i, 51820);
		assert_true(wg_sockaddr_equal(&p->endpoint, &want));
		/* Both sides publish a PUBLIC endpoint: no NAT to keep open. */
		assert_true(p->flags & WG_PEER_HAS_KEEPALIVE);
		assert_int_equal(p->persistent_keepalive, 0);
	}
	wg_device_clear(&desired);
	snapshot_unref(s);
}

static void desired_peer_without_a_chosen_endpoint_has_none(void **state)
{
	struct snapshot *s = make_snapshot(3, &ep_public, 1);
	struct wg_device desired;
	size_t i;

	(void)state;
	desired_of(s, no_endpoint, &desired);
	assert_int_equal(desired.n_peers, 2);
	for (i = 0; i < desired.n_peers; i++)
		assert_false(desired.peers[i].flags & WG_PEER_HAS_ENDPOINT);
	wg_device_clear(&desired);
	desired_of(s, NULL, &desired);
	assert_int_equal(desired.n_peers, 2);
	assert_false(desired.peers[0].flags & WG_PEER_HAS_ENDPOINT);
	wg_device_clear(&desired);
	snapshot_unref(s);
}

static void keepalive_is_set_where_either_side_is_behind_nat(void **state)
{
	struct snapshot_host self, peer;
	char n1[32], n2[32];
	const struct rec_endpoint lan_and_reflexive[2] = { ep_lan, ep_reflexive };
	const struct rec_endpoint lan_and_ipv6[2] = { ep_lan, ep_ipv6 };

	(void)state;
	host_fill(&self, n1, sizeof(n1), 0);
	host_fill(&peer, n2, sizeof(n2), 1);
	self.endpoints = &ep_public;
	self.n_endpoints = 1;
	peer.endpoints = &ep_public;
	peer.n_endpoints = 1;
	assert_int_equal(wg_keepalive_for(&self, &peer), 0);
	/* A peer with only LAN and reflexive entries is behind NAT. */
	peer.endpoints = lan_and_reflexive;
	peer.n_endpoints = 2;
	assert_int_equal(wg_keepalive_for(&self, &peer), WG_KEEPALIVE_NAT);
	/* A global IPv6 is reachable without NAT. */
	peer.endpoints = lan_and_ipv6;
	assert_int_equal(wg_keepalive_for(&self, &peer), 0);
	/* A peer with no ENDPOINTS record at all. */
	peer.n_endpoints = 0;
	peer.endpoints = NULL;
	assert_int_equal(wg_keepalive_for(&self, &peer), WG_KEEPALIVE_NAT);
	/* This host behind NAT: keepalive to everyone, however public they are. */
	peer.endpoints = &ep_public;
	peer.n_endpoints = 1;
	self.endpoints = &ep_lan;
	assert_int_equal(wg_keepalive_for(&self, &peer), WG_KEEPALIVE_NAT);
	/* This host not in the registry (yet): unknown, so assumed behind NAT. */
	assert_int_equal(wg_keepalive_for(NULL, &peer), WG_KEEPALIVE_NAT);
}

static void desired_state_applies_the_keepalive_rule_per_peer(void **state)
{
	struct snapshot *s = make_snapshot(3, &ep_reflexive, 1);
	struct wg_device desired;
	size_t i;

	(void)state;
	desired_of(s, NULL, &desired);
	assert_int_equal(desired.n_peers, 2);
	for (i = 0; i < desired.n_peers; i++) {
		assert_true(desired.peers[i].flags & WG_PEER_HAS_KEEPALIVE);
		assert_int_equal(desired.peers[i].persistent_keepalive, WG_KEEPALIVE_NAT);
	}
	wg_device_clear(&desired);
	snapshot_unref(s);
}

/* ---- the difference --------------------------------------------------------------- */

static void identical_state_gives_no_change_at_all(void **state)
{
	struct snapshot *s = make_snapshot(20, &ep_lan, 1);
	struct wg_device desired, dev, changes;
	struct wg_reconcile_result res;

	(void)state;
	desired_of(s, endpoint_by_number, &desired);
	device_like(&desired, &dev);
	reconcile_ok(&dev, &desired, 0, &changes, &res);
	assert_int_equal(changes.n_peers, 0);
	assert_int_equal(res.n_removed + res.n_added + res.n_changed + res.n_deferred, 0);
	wg_device_clear(&changes);
	wg_device_clear(&dev);
	wg_device_clear(&desired);
	snapshot_unref(s);
}

static void one_changed_endpoint_among_1000_peers_changes_exactly_that_peer(void **state)
{
	struct snapshot *s = make_snapshot(1001, &ep_public, 1);
	struct wg_device desired, dev, changes;
	struct wg_reconcile_result res;
	struct wg_peer *p;
	struct timespec t0, t1;
	double ms;

	(void)state;
	desired_of(s, endpoint_by_number, &desired);
	device_like(&desired, &dev);
	p = find_peer(&desired, 517);
	set_endpoint_v4(&p->endpoint, 0xc0a80105, 51820);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	reconcile_ok(&dev, &desired, 0, &changes, &res);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	print_message("reconcile of 1,000 peers with one change: %.3f ms\n", ms);

	assert_int_equal(changes.n_peers, 1);
	assert_int_equal(res.n_changed, 1);
	assert_memory_equal(changes.peers[0].public_key, p->public_key, WG_KEY_LEN);
	/* Only the endpoint: allowed IPs and keepalive are left as they are. */
	assert_int_equal(changes.peers[0].flags, WG_PEER_UPDATE_ONLY | WG_PEER_HAS_ENDPOINT);
	assert_true(wg_sockaddr_equal(&changes.peers[0].endpoint, &p->endpoint));
	assert_int_equal(changes.peers[0].n_allowedips, 0);
	wg_device_clear(&changes);

	/* A keepalive change alone is sent alone. */
	p->endpoint = find_peer(&dev, 517)->endpoint;
	find_peer(&desired, 3)->persistent_keepalive = WG_KEEPALIVE_NAT;
	reconcile_ok(&dev, &desired, 0, &changes, &res);
	assert_int_equal(changes.n_peers, 1);
	assert_int_equal(changes.peers[0].flags, WG_PEER_UPDATE_ONLY | WG_PEER_HAS_KEEPALIVE);
	assert_int_equal(changes.peers[0].persistent_keepalive, WG_KEEPALIVE_NAT);
	wg_device_clear(&changes);
	wg_device_clear(&dev);
	wg_device_clear(&desired);
	snapshot_unref(s);
}

static void removed_host_gets_peer_remove_and_nothing_else(void **state)
{
	struct snapshot *big = make_snapshot(6, &ep_public, 1);
	struct snapshot *small = make_snapshot(5, &ep_public, 1);
	struct wg_device desired, dev, changes;
	struct wg_reconcile_result res;
	uint8_t key[WG_KEY_LEN];

	(void)state;
	desired_of(big, endpoint_by_number, &desired);
	device_like(&desired, &dev);
	wg_device_clear(&desired);
	desired_of(small, endpoint_by_number, &desired);
	reconcile_ok(&dev, &desired, 0, &changes, &res);
	assert_int_equal(changes.n_peers, 1);
	assert_int_equal(res.n_removed, 1);
	wg_key_of(5, key);
	assert_memory_equal(changes.peers[0].public_key, key, WG_KEY_LEN);
	assert_int_equal(changes.peers[0].flags, WG_PEER_REMOVE);
	assert_int_equal(changes.peers[0].n_allowedips, 0);
	assert_string_equal(changes.name, "wg-test");
	wg_device_clear(&changes);
	wg_device_clear(&dev);
	wg_device_clear(&desired);
	snapshot_unref(big);
	snapshot_unref(small);
}

static void new_host_is_added_with_its_allowed_ips_endpoint_and_keepalive(void **state)
{
	struct snapshot *small = make_snapshot(3, &ep_reflexive, 1);
	struct snapshot *big = make_snapshot(4, &ep_reflexive, 1);
	struct wg_device desired, dev, changes;
	struct wg_reconcile_result res;
	const struct wg_peer *p;
	struct sockaddr_storage want;

	(void)state;
	desired_of(small, endpoint_by_number, &desired);
	device_like(&desired, &dev);
	wg_device_clear(&desired);
	desired_of(big, endpoint_by_number, &desired);
	reconcile_ok(&dev, &desired, 0, &changes, &res);
	assert_int_equal(changes.n_peers, 1);
	assert_int_equal(res.n_added, 1);
	p = find_peer(&changes, 3);
	assert_non_null(p);
	assert_int_equal(p->flags,
			 WG_PEER_REPLACE_ALLOWEDIPS | WG_PEER_HAS_ENDPOINT | WG_PEER_HAS_KEEPALIVE);
	assert_int_equal(p->persistent_keepalive, WG_KEEPALIVE_NAT);
	set_endpoint_v4(&want, 0xcb007103u, 51820);
	assert_true(wg_sockaddr_equal(&p->endpoint, &want));
	assert_int_equal(p->n_allowedips, 2);
	assert_int_equal(p->allowedips[0].cidr, 32);
	assert_memory_equal(p->allowedips[0].addr, ((uint8_t[]){ 100, 64, 0, 3 }), 4);
	assert_int_equal(p->allowedips[1].cidr, 128);
	assert_int_equal(p->allowedips[1].addr[15], 3);
	wg_device_clear(&changes);
	wg_device_clear(&dev);
	wg_device_clear(&desired);
	snapshot_unref(small);
	snapshot_unref(big);
}

static void new_peer_without_endpoint_or_keepalive_sets_neither(void **state)
{
	struct snapshot *s = make_snapshot(2, &ep_public, 1);
	struct wg_device desired, dev, changes;
	struct wg_reconcile_result res;

	(void)state;
	desired_of(s, NULL, &desired);
	memset(&dev, 0, sizeof(dev));
	reconcile_ok(&dev, &desired, 0, &changes, &res);
	assert_int_equal(changes.n_peers, 1);
	assert_int_equal(changes.peers[0].flags, WG_PEER_REPLACE_ALLOWEDIPS);
	wg_device_clear(&changes);
	wg_device_clear(&desired);
	snapshot_unref(s);
}

static void allowed_ip_order_and_repeats_do_not_matter_but_a_different_set_does(void **state)
{
	struct snapshot *s = make_snapshot(3, &ep_public, 1);
	struct wg_device desired, dev, changes;
	struct wg_reconcile_result res;
	struct wg_peer *p;

	(void)state;
	desired_of(s, endpoint_by_number, &desired);
	/* device_like reverses every list: order differs, the set does not. */
	device_like(&desired, &dev);
	p = find_peer(&dev, 1);
	assert_int_equal(p->allowedips[0].family, AF_INET6);
	/* The same IPv4 twice in the device's list is still the same set. */
	assert_non_null(wg_peer_add_allowedip(p, AF_INET, (uint8_t[]){ 100, 64, 0, 1 }, 32));
	reconcile_ok(&dev, &desired, 0, &changes, &res);
	assert_int_equal(changes.n_peers, 0);
	wg_device_clear(&changes);

	/* An extra route on the device (someone ran `wg set`): the list is replaced. */
	assert_non_null(wg_peer_add_allowedip(p, AF_INET, (uint8_t[]){ 10, 9, 0, 0 }, 16));
	reconcile_ok(&dev, &desired, 0, &changes, &res);
	assert_int_equal(changes.n_peers, 1);
	assert_int_equal(changes.peers[0].flags, WG_PEER_UPDATE_ONLY | WG_PEER_REPLACE_ALLOWEDIPS);
	assert_int_equal(changes.peers[0].n_allowedips, 2);
	assert_int_equal(changes.peers[0].allowedips[0].cidr, 32);
	assert_int_equal(changes.peers[0].allowedips[1].cidr, 128);
	wg_device_clear(&changes);

	/* Host bits: 100.64.0.77/24 is the same prefix as 100.64.0.0/24. */
	find_peer(&desired, 2)->allowedips[0].cidr = 24;
	find_peer(&desired, 2)->allowedips[0].addr[3] = 77;
	find_peer(&dev, 2)->allowedips[1].cidr = 24; /* reversed: IPv4 is second */
	find_peer(&dev, 2)->allowedips[1].addr[3] = 0;
	p->n_allowedips = 2; /* drop the extra entries of peer 1 again */
	reconcile_ok(&dev, &desired, 0, &changes, &res);
	assert_int_equal(changes.n_peers, 0);
	wg_device_clear(&changes);
	wg_device_clear(&dev);
	wg_device_clear(&desired);
	snapshot_unref(s);
}

static void device_endpoint_is_left_alone_when_none_is_wanted(void **state)
{
	struct snapshot *s = make_snapshot(3, &ep_public, 1);
	struct wg_device desired, dev, changes;
	struct wg_reconcile_result res;

	(void)state;
	desired_of(s, endpoint_by_number, &desired);
	device_like(&desired, &dev);
	wg_device_clear(&desired);
	/* The peer roamed, and the endpoint engine wants nothing set. */
	set_endpoint_v4(&find_peer(&dev, 1)->endpoint, 0xc6336401u, 1234);
	desired_of(s, no_endpoint, &desired);
	reconcile_ok(&dev, &desired, 0, &changes, &res);
	assert_int_equal(changes.n_peers, 0);
	wg_device_clear(&changes);

	/* A device peer with no endpoint at all gets the wanted one. */
	wg_device_clear(&desired);
	desired_of(s, endpoint_by_number, &desired);
	find_peer(&dev, 2)->flags &= ~(unsigned)WG_PEER_HAS_ENDPOINT;
	memset(&find_peer(&dev, 2)->endpoint, 0, sizeof(struct sockaddr_storage));
	reconcile_ok(&dev, &desired, 0, &changes, &res);
	assert_int_equal(changes.n_peers, 2);
	assert_int_equal(res.n_changed, 2);
	assert_true(find_peer(&changes, 2)->flags & WG_PEER_HAS_ENDPOINT);
	assert_true(find_peer(&changes, 1)->flags & WG_PEER_HAS_ENDPOINT);
	wg_device_clear(&changes);
	wg_device_clear(&dev);
	wg_device_clear(&desired);
	snapshot_unref(s);
}

static void duplicate_allowed_ip_across_two_desired_peers_is_refused(void **state)
{
	struct snapshot *s = make_snapshot(5, &ep_public, 1);
	struct wg_device desired, dev, changes;
	struct wg_reconcile_result res;
	uint8_t k2[WG_KEY_LEN], k4[WG_KEY_LEN];

	(void)state;
	desired_of(s, endpoint_by_number, &desired);
	memset(&dev, 0, sizeof(dev));
	/* Host 4 claims host 2's IPv6 (as a /128 written with other host bits: none). */
	memcpy(find_peer(&desired, 4)->allowedips[1].addr,
	       find_peer(&desired, 2)->allowedips[1].addr, 16);
	memset(&changes, 0, sizeof(changes));
	assert_int_equal(wg_reconcile(&dev, &desired, 0, &changes, &res), -EADDRINUSE);
	assert_int_equal(changes.n_peers, 0);
	assert_null(changes.peers);
	assert_int_equal(res.n_added, 0);
	assert_int_equal(res.conflict_ip.family, AF_INET6);
	assert_int_equal(res.conflict_ip.cidr, 128);
	assert_int_equal(res.conflict_ip.addr[15], 2);
	wg_key_of(2, k2);
	wg_key_of(4, k4);
	/* The first claimant in desired's order first. */
	assert_memory_equal(res.conflict_key[0], k2, WG_KEY_LEN);
	assert_memory_equal(res.conflict_key[1], k4, WG_KEY_LEN);

	/* A shorter prefix that merely covers another peer's address is legal WireGuard
	 * (longest match wins), so it is not a duplicate. */
	memcpy(find_peer(&desired, 4)->allowedips[1].addr,
	       find_peer(&desired, 3)->allowedips[1].addr, 16);
	find_peer(&desired, 4)->allowedips[1].addr[15] = 4;
	find_peer(&desired, 4)->allowedips[0].cidr = 24;
	find_peer(&desired, 4)->allowedips[0].addr[3] = 0;
	reconcile_ok(&dev, &desired, 0, &changes, &res);
	assert_int_equal(res.n_added, 4);
	wg_device_clear(&changes);
	wg_device_clear(&desired);
	snapshot_unref(s);
}

static void a_duplicate_among_1000_peers_is_found_and_named(void **state)
{
	struct snapshot *s = make_snapshot(1001, &ep_public, 1);
	struct wg_device desired, dev, changes;
	struct wg_reconcile_result res;
	uint8_t k7[WG_KEY_LEN], k999[WG_KEY_LEN];

	(void)state;
	desired_of(s, NULL, &desired);
	memset(&dev, 0, sizeof(dev));
	memset(&changes, 0, sizeof(changes));
	reconcile_ok(&dev, &desired, 0, &changes, &res);
	assert_int_equal(res.n_added, 1000);
	wg_device_clear(&changes);
	memcpy(find_peer(&desired, 999)->allowedips[0].addr,
	       find_peer(&desired, 7)->allowedips[0].addr, 4);
	assert_int_equal(wg_reconcile(&dev, &desired, 0, &changes, &res), -EADDRINUSE);
	assert_int_equal(changes.n_peers, 0);
	assert_int_equal(res.conflict_ip.family, AF_INET);
	assert_memory_equal(res.conflict_ip.addr, ((uint8_t[]){ 100, 64, 0, 7 }), 4);
	wg_key_of(7, k7);
	wg_key_of(999, k999);
	/* "host7" comes before "host999" in the snapshot's name order. */
	assert_memory_equal(res.conflict_key[0], k7, WG_KEY_LEN);
	assert_memory_equal(res.conflict_key[1], k999, WG_KEY_LEN);
	wg_device_clear(&desired);
	snapshot_unref(s);
}

static void a_key_twice_or_a_bad_allowed_ip_in_desired_is_refused(void **state)
{
	struct snapshot *s = make_snapshot(4, &ep_public, 1);
	struct wg_device desired, dev, changes;
	struct wg_reconcile_result res;
	uint8_t k1[WG_KEY_LEN];

	(void)state;
	desired_of(s, NULL, &desired);
	memset(&dev, 0, sizeof(dev));
	wg_key_of(1, k1);
	memcpy(find_peer(&desired, 3)->public_key, k1, WG_KEY_LEN);
	memset(&changes, 0, sizeof(changes));
	assert_int_equal(wg_reconcile(&dev, &desired, 0, &changes, &res), -EINVAL);
	assert_int_equal(changes.n_peers, 0);
	assert_memory_equal(res.conflict_key[0], k1, WG_KEY_LEN);
	assert_memory_equal(res.conflict_key[1], k1, WG_KEY_LEN);
	wg_device_clear(&desired);

	desired_of(s, NULL, &desired);
	find_peer(&desired, 2)->allowedips[0].cidr = 33;
	assert_int_equal(wg_reconcile(&dev, &desired, 0, &changes, &res), -EINVAL);
	find_peer(&desired, 2)->allowedips[0].cidr = 32;
	find_peer(&desired, 2)->allowedips[0].family = 99;
	assert_int_equal(wg_reconcile(&dev, &desired, 0, &changes, &res), -EINVAL);
	assert_int_equal(changes.n_peers, 0);
	wg_device_clear(&desired);
	snapshot_unref(s);
}

static void the_cap_spreads_1000_new_peers_over_four_calls(void **state)
{
	struct snapshot *s = make_snapshot(1001, &ep_public, 1);
	struct wg_device desired, dev, changes;
	struct wg_reconcile_result res;
	size_t calls = 0, added = 0;

	(void)state;
	desired_of(s, endpoint_by_number, &desired);
	memset(&dev, 0, sizeof(dev));
	do {
		reconcile_ok(&dev, &desired, WG_RECONCILE_MAX_CHANGES, &changes, &res);
		assert_true(changes.n_peers <= WG_RECONCILE_MAX_CHANGES);
		assert_int_equal(res.n_added + res.n_deferred, 1000 - added);
		added += res.n_added;
		apply(&dev, &changes);
		wg_device_clear(&changes);
		calls++;
	} while (res.n_deferred > 0);
	assert_int_equal(calls, 4);
	assert_int_equal(added, 1000);
	assert_int_equal(dev.n_peers, 1000);
	/* And then the device is exactly what is desired. */
	reconcile_ok(&dev, &desired, WG_RECONCILE_MAX_CHANGES, &changes, &res);
	assert_int_equal(changes.n_peers, 0);
	wg_device_clear(&changes);
	wg_device_clear(&dev);
	wg_device_clear(&desired);
	snapshot_unref(s);
}

static void removals_are_never_deferred_and_changes_come_before_additions(void **state)
{
	struct snapshot *old = make_snapshot(11, &ep_public, 1);
	struct wg_device desired, dev, changes;
	struct wg_reconcile_result res;
	struct wg_peer *p;
	uint8_t key[WG_KEY_LEN];
	size_t i;

	(void)state;
	desired_of(old, endpoint_by_number, &desired);
	device_like(&desired, &dev);
	/* New desired: hosts 1..5 kept (2 and 3 changed), 6..10 gone, 5 new ones. */
	for (i = 5; i < desired.n_peers; i++) {
		wg_key_of((uint32_t)(100 + i), key);
		memcpy(desired.peers[i].public_key, key, WG_KEY_LEN);
	}
	p = find_peer(&desired, 2);
	set_endpoint_v4(&p->endpoint, 0xc0a80102u, 51820);
	p = find_peer(&desired, 3);
	p->persistent_keepalive = WG_KEEPALIVE_NAT;
	reconcile_ok(&dev, &desired, 3, &changes, &res);
	assert_int_equal(res.n_removed, 5);
	assert_int_equal(res.n_changed, 2);
	assert_int_equal(res.n_added, 1);
	assert_int_equal(res.n_deferred, 4);
	for (i = 0; i < 5; i++)
		assert_int_equal(changes.peers[i].flags, WG_PEER_REMOVE);
	assert_true(changes.peers[5].flags & WG_PEER_UPDATE_ONLY);
	assert_true(changes.peers[6].flags & WG_PEER_UPDATE_ONLY);
	assert_int_equal(changes.peers[7].flags & WG_PEER_UPDATE_ONLY, 0);
	wg_device_clear(&changes);
	wg_device_clear(&dev);
	wg_device_clear(&desired);
	snapshot_unref(old);
}

static void every_allocation_failure_is_reported_and_leaks_nothing(void **state)
{
	struct snapshot *s = make_snapshot(6, &ep_public, 1);
	struct wg_device desired, dev, changes;
	struct wg_reconcile_result res;
	uint8_t self[REC_KEY_SIZE];
	unsigned n;
	int rc;

	(void)state;
	self_key(self);
	/* The desired state: 5 peers, 3 allocations each. */
	for (n = 1;; n++) {
		memset(&desired, 0, sizeof(desired));
		wg_reconcile_test_fail_alloc_after(n);
		rc = wg_desired_from_snapshot(s, self, endpoint_by_number, NULL, &desired);
		wg_reconcile_test_fail_alloc_after(0);
		if (rc == 0)
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_int_equal(desired.n_peers, 0);
		assert_null(desired.peers);
	}
	assert_int_equal(n, 16);
	assert_int_equal(desired.n_peers, 5);

	/* Reconcile against a device with one peer to remove, one to change, one to add. */
	device_like(&desired, &dev);
	set_endpoint_v4(&find_peer(&dev, 1)->endpoint, 0xc0a80101u, 1);
	memcpy(dev.peers[0].public_key, (uint8_t[WG_KEY_LEN]){ 0xee }, WG_KEY_LEN);
	for (n = 1;; n++) {
		memset(&changes, 0, sizeof(changes));
		wg_reconcile_test_fail_alloc_after(n);
		rc = wg_reconcile(&dev, &desired, 0, &changes, &res);
		wg_reconcile_test_fail_alloc_after(0);
		if (rc == 0)
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_int_equal(changes.n_peers, 0);
		assert_null(changes.peers);
		assert_int_equal(res.n_removed + res.n_added + res.n_changed, 0);
	}
	/* views and IPs of both sides, the duplicate check's two tables, actions; then 3
	 * peers and the added one's 2 allowed IPs. */
	assert_int_equal(n, 13);
	assert_int_equal(changes.n_peers, 3);
	wg_device_clear(&changes);
	wg_device_clear(&dev);
	wg_device_clear(&desired);
	snapshot_unref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(desired_state_has_every_host_but_self_with_its_mesh_addresses),
		cmocka_unit_test(desired_peer_without_a_chosen_endpoint_has_none),
		cmocka_unit_test(keepalive_is_set_where_either_side_is_behind_nat),
		cmocka_unit_test(desired_state_applies_the_keepalive_rule_per_peer),
		cmocka_unit_test(identical_state_gives_no_change_at_all),
		cmocka_unit_test(one_changed_endpoint_among_1000_peers_changes_exactly_that_peer),
		cmocka_unit_test(removed_host_gets_peer_remove_and_nothing_else),
		cmocka_unit_test(new_host_is_added_with_its_allowed_ips_endpoint_and_keepalive),
		cmocka_unit_test(new_peer_without_endpoint_or_keepalive_sets_neither),
		cmocka_unit_test(
			allowed_ip_order_and_repeats_do_not_matter_but_a_different_set_does),
		cmocka_unit_test(device_endpoint_is_left_alone_when_none_is_wanted),
		cmocka_unit_test(duplicate_allowed_ip_across_two_desired_peers_is_refused),
		cmocka_unit_test(a_duplicate_among_1000_peers_is_found_and_named),
		cmocka_unit_test(a_key_twice_or_a_bad_allowed_ip_in_desired_is_refused),
		cmocka_unit_test(the_cap_spreads_1000_new_peers_over_four_calls),
		cmocka_unit_test(removals_are_never_deferred_and_changes_come_before_additions),
		cmocka_unit_test(every_allocation_failure_is_reported_and_leaks_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
