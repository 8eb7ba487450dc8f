/*
 * reconcile.c: turns a registry snapshot into the desired WireGuard peers and computes the
 * smallest change from a device's current state to them (include/meshname/wgmanage.h).
 * It never talks to a device, never logs, and never puts an unchanged peer in a change set:
 * touching a peer is what the caller does with the result.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "meshname/wgmanage.h"

/*
 * Fault injection for the unit tests: n > 0 makes the n-th allocation from now fail
 * (this file's own, and the peers and allowed IPs it adds to a device). Declared here
 * because no other module may call it.
 */
void wg_reconcile_test_fail_alloc_after(unsigned n);
static unsigned fail_alloc_after;

void wg_reconcile_test_fail_alloc_after(unsigned n)
{
	fail_alloc_after = n;
}

static bool alloc_should_fail(void)
{
	if (fail_alloc_after == 0)
		return false;
	return --fail_alloc_after == 0;
}

static void *mem_calloc(size_t n, size_t size)
{
	return alloc_should_fail() ? NULL : calloc(n, size);
}

static struct wg_peer *add_peer(struct wg_device *dev, const uint8_t key[WG_KEY_LEN])
{
	return alloc_should_fail() ? NULL : wg_device_add_peer(dev, key);
}

static struct wg_allowedip *add_allowedip(struct wg_peer *peer, uint8_t family, const uint8_t *addr,
					  uint8_t cidr)
{
	return alloc_should_fail() ? NULL : wg_peer_add_allowedip(peer, family, addr, cidr);
}

/* ---- the desired state ------------------------------------------------------------ */

static bool host_directly_reachable(const struct snapshot_host *h)
{
	size_t i;

	for (i = 0; i < h->n_endpoints; i++) {
		if (h->endpoints[i].kind == EP_PUBLIC || h->endpoints[i].kind == EP_IPV6)
			return true;
	}
	return false;
}

uint16_t wg_keepalive_for(const struct snapshot_host *self, const struct snapshot_host *peer)
{
	if (self == NULL || !host_directly_reachable(self) || !host_directly_reachable(peer))
		return WG_KEEPALIVE_NAT;
	return 0;
}

int wg_desired_from_snapshot(const struct snapshot *s, const uint8_t self_host_key[REC_KEY_SIZE],
			     wg_endpoint_fn endpoint_for, void *ctx, struct wg_device *desired)
{
	const struct snapshot_host *self = snapshot_lookup_host_key(s, self_host_key);
	size_t i, n = snapshot_host_count(s);
	int rc = 0;

	for (i = 0; i < n; i++) {
		const struct snapshot_host *h = snapshot_host_at(s, i);
		struct sockaddr_storage ep;
		struct wg_peer *p;

		if (memcmp(h->host_key, self_host_key, REC_KEY_SIZE) == 0)
			continue;
		p = add_peer(desired, h->wg_key);
		if (p == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		p->flags = WG_PEER_HAS_KEEPALIVE;
		p->persistent_keepalive = wg_keepalive_for(self, h);
		memset(&ep, 0, sizeof(ep));
		if (endpoint_for != NULL && endpoint_for(ctx, h, &ep) &&
		    (ep.ss_family == AF_INET || ep.ss_family == AF_INET6)) {
			p->endpoint = ep;
			p->flags |= WG_PEER_HAS_ENDPOINT;
		}
		if (add_allowedip(p, AF_INET, h->ipv4, 32) == NULL ||
		    add_allowedip(p, AF_INET6, h->ipv6, 128) == NULL) {
			rc = -ENOMEM;
			goto out;
		}
	}
out:
	if (rc < 0)
		wg_device_clear(desired);
	return rc;
}

/* ---- the difference --------------------------------------------------------------- */

/* A peer with its allowed IPs normalized (masked, sorted, unique) in a shared array. */
struct peer_view {
	uint64_t key_head; /* the key's first 8 bytes, big-endian: most comparisons end here */
	const struct wg_peer *peer;
	size_t index; /* in its device */
	size_t ip_first, ip_count;
};

enum action_type { ACTION_REMOVE, ACTION_CHANGE, ACTION_ADD };

struct action {
	enum action_type type;
	const struct peer_view *cur, *des;
	unsigned what; /* ACTION_CHANGE: WG_PEER_HAS_ENDPOINT|HAS_KEEPALIVE|REPLACE_ALLOWEDIPS */
};

static int allowedip_cmp(const struct wg_allowedip *a, const struct wg_allowedip *b)
{
	/* Only uint8_t members: no padding, so the bytes are the value. */
	return memcmp(a, b, sizeof(*a));
}

static int view_key_cmp(const void *a, const void *b)
{
	const struct peer_view *x = a, *y = b;

	if (x->key_head != y->key_head)
		return x->key_head < y->key_head ? -1 : 1;
	return memcmp(x->peer->public_key, y->peer->public_key, WG_KEY_LEN);
}

/* Copies ip with its host bits cleared, as WireGuard stores it; -EINVAL if malformed. */
static int allowedip_normalize(const struct wg_allowedip *ip, struct wg_allowedip *out)
{
	unsigned bits, i;

	if (ip->family == AF_INET)
		bits = 32;
	else if (ip->family == AF_INET6)
		bits = 128;
	else
		return -EINVAL;
	if (ip->cidr > bits)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->family = ip->family;
	out->cidr = ip->cidr;
	for (i = 0; i < bits / 8; i++) {
		unsigned keep = ip->cidr > i * 8 ? ip->cidr - i * 8 : 0;

		if (keep >= 8)
			out->addr[i] = ip->addr[i];
		else if (keep > 0)
			out->addr[i] = (uint8_t)(ip->addr[i] & (0xffu << (8 - keep)));
	}
	return 0;
}

/*
 * Fills views (one per peer of dev, sorted by key) and *ips (every peer's allowed IPs,
 * normalized, each peer's run sorted and unique; caller frees). strict: a malformed
 * allowed IP is -EINVAL (desired); otherwise it is kept as it is (a device's own report
 * can only be compared, and a difference means it gets replaced).
 */
static int make_views(const struct wg_device *dev, bool strict, struct peer_view **views_out,
		      struct wg_allowedip **ips_out)
{
	struct peer_view *views = NULL;
	struct wg_allowedip *ips = NULL;
	size_t i, j, total = 0, at = 0;
	int rc = 0;

	for (i = 0; i < dev->n_peers; i++)
		total += dev->peers[i].n_allowedips;
	views = mem_calloc(dev->n_peers ? dev->n_peers : 1, sizeof(*views));
	ips = mem_calloc(total ? total : 1, sizeof(*ips));
	if (views == NULL || ips == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < dev->n_peers; i++) {
		const struct wg_peer *p = &dev->peers[i];
		size_t first = at, k;

		for (j = 0; j < p->n_allowedips; j++) {
			rc = allowedip_normalize(&p->allowedips[j], &ips[at]);
			if (rc < 0) {
				if (strict)
					goto out;
				ips[at] = p->allowedips[j];
				rc = 0;
			}
			at++;
		}
		/* Insertion sort: a peer has a handful of allowed IPs (two from the registry). */
		for (j = first + 1; j < at; j++) {
			struct wg_allowedip ip = ips[j];

			for (k = j; k > first && allowedip_cmp(&ips[k - 1], &ip) > 0; k--)
				ips[k] = ips[k - 1];
			ips[k] = ip;
		}
		/* Unique within the run: a set. */
		for (k = first, j = first; j < at; j++) {
			if (k == first || allowedip_cmp(&ips[k - 1], &ips[j]) != 0)
				ips[k++] = ips[j];
		}
		at = k;
		views[i].key_head = 0;
		for (k = 0; k < 8; k++)
			views[i].key_head = views[i].key_head << 8 | p->public_key[k];
		views[i].peer = p;
		views[i].index = i;
		views[i].ip_first = first;
		views[i].ip_count = at - first;
	}
	if (dev->n_peers > 1)
		qsort(views, dev->n_peers, sizeof(*views), view_key_cmp);
out:
	if (rc < 0) {
		free(views);
		free(ips);
		views = NULL;
		ips = NULL;
	}
	*views_out = views;
	*ips_out = ips;
	return rc;
}

static uint64_t allowedip_hash(const struct wg_allowedip *ip)
{
	/* FNV-1a over the normalized bytes: addresses of one mesh differ in few bits. */
	const uint8_t *b = (const uint8_t *)ip;
	uint64_t h = 0xcbf29ce484222325u;
	size_t i;

	for (i = 0; i < sizeof(*ip); i++)
		h = (h ^ b[i]) * 0x100000001b3u;
	return h ^ (h >> 29);
}

/*
 * -EADDRINUSE if two desired peers hold the same allowed IP; res names the IP and the two
 * peers, the earlier one in desired's order first. One open-addressing hash set (load at
 * most 1/2, linear probing) over every allowed IP: linear in their number.
 */
static int check_unique_ips(const struct wg_device *desired, const struct peer_view *views,
			    const struct wg_allowedip *ips, struct wg_reconcile_result *res)
{
	struct slot {
		const struct wg_allowedip *ip; /* NULL: empty */
		size_t peer;                   /* index in desired */
	} *slots = NULL;
	const struct peer_view **by_index = NULL;
	size_t i, j, n = 0, size = 4, mask;
	int rc = 0;

	for (i = 0; i < desired->n_peers; i++)
		n += views[i].ip_count;
	if (n < 2)
		return 0;
	while (size < 2 * n)
		size *= 2;
	slots = mem_calloc(size, sizeof(*slots));
	/* In desired's order (views are sorted by key), so the report names the first
	 * claimant first. */
	by_index = slots != NULL ? mem_calloc(desired->n_peers, sizeof(*by_index)) : NULL;
	if (by_index == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	mask = size - 1;
	for (i = 0; i < desired->n_peers; i++)
		by_index[views[i].index] = &views[i];
	for (i = 0; i < desired->n_peers && rc == 0; i++) {
		const struct peer_view *v = by_index[i];

		for (j = 0; j < v->ip_count; j++) {
			const struct wg_allowedip *ip = &ips[v->ip_first + j];
			size_t at = (size_t)allowedip_hash(ip) & mask;

			while (slots[at].ip != NULL && allowedip_cmp(slots[at].ip, ip) != 0)
				at = (at + 1) & mask;
			if (slots[at].ip == NULL) {
				slots[at].ip = ip;
				slots[at].peer = i;
				continue;
			}
			/* A peer's own list is a set: an equal entry is another peer's. */
			res->conflict_ip = *ip;
			memcpy(res->conflict_key[0], desired->peers[slots[at].peer].public_key,
			       WG_KEY_LEN);
			memcpy(res->conflict_key[1], desired->peers[i].public_key, WG_KEY_LEN);
			rc = -EADDRINUSE;
			break;
		}
	}
out:
	free(by_index);
	free(slots);
	return rc;
}

static const struct sockaddr_storage *peer_endpoint(const struct wg_peer *p)
{
	if ((p->flags & WG_PEER_HAS_ENDPOINT) == 0 ||
	    (p->endpoint.ss_family != AF_INET && p->endpoint.ss_family != AF_INET6))
		return NULL;
	return &p->endpoint;
}

/* What differs between a current peer and its desired state (0: nothing). */
static unsigned peer_diff(const struct peer_view *cur, const struct wg_allowedip *cur_ips,
			  const struct peer_view *des, const struct wg_allowedip *des_ips)
{
	const struct sockaddr_storage *want = peer_endpoint(des->peer);
	const struct sockaddr_storage *have = peer_endpoint(cur->peer);
	unsigned what = 0;

	if (want != NULL && (have == NULL || !wg_sockaddr_equal(want, have)))
		what |= WG_PEER_HAS_ENDPOINT;
	if ((des->peer->flags & WG_PEER_HAS_KEEPALIVE) != 0 &&
	    des->peer->persistent_keepalive != cur->peer->persistent_keepalive)
		what |= WG_PEER_HAS_KEEPALIVE;
	if (cur->ip_count != des->ip_count ||
	    (des->ip_count > 0 && memcmp(cur_ips + cur->ip_first, des_ips + des->ip_first,
					 des->ip_count * sizeof(*des_ips)) != 0))
		what |= WG_PEER_REPLACE_ALLOWEDIPS;
	return what;
}

/* Appends one peer to changes: the action's key and the fields its flags name. */
static int emit(struct wg_device *changes, const struct action *a)
{
	const struct wg_peer *src = a->des != NULL ? a->des->peer : a->cur->peer;
	struct wg_peer *p = add_peer(changes, src->public_key);
	size_t i;

	if (p == NULL)
		return -ENOMEM;
	switch (a->type) {
	case ACTION_REMOVE:
		p->flags = WG_PEER_REMOVE;
		return 0;
	case ACTION_ADD:
		p->flags = WG_PEER_REPLACE_ALLOWEDIPS;
		if (peer_endpoint(src) != NULL)
			p->flags |= WG_PEER_HAS_ENDPOINT;
		if ((src->flags & WG_PEER_HAS_KEEPALIVE) != 0 && src->persistent_keepalive != 0)
			p->flags |= WG_PEER_HAS_KEEPALIVE;
		break;
	case ACTION_CHANGE:
		/* Only an update: if the peer went away meanwhile, do not recreate it with
		 * half its settings. */
		p->flags = WG_PEER_UPDATE_ONLY | a->what;
		break;
	}
	if ((p->flags & WG_PEER_HAS_ENDPOINT) != 0)
		p->endpoint = src->endpoint;
	if ((p->flags & WG_PEER_HAS_KEEPALIVE) != 0)
		p->persistent_keepalive = src->persistent_keepalive;
	if ((p->flags & WG_PEER_REPLACE_ALLOWEDIPS) != 0) {
		/* The caller's list as given (WireGuard masks host bits itself). */
		for (i = 0; i < src->n_allowedips; i++) {
			const struct wg_allowedip *ip = &src->allowedips[i];

			/* p stays valid: only changes' peer array moves, on the next add. */
			if (add_allowedip(p, ip->family, ip->addr, ip->cidr) == NULL)
				return -ENOMEM;
		}
	}
	return 0;
}

int wg_reconcile(const struct wg_device *current, const struct wg_device *desired,
		 size_t max_changes, struct wg_device *changes, struct wg_reconcile_result *res)
{
	struct peer_view *cur = NULL, *des = NULL;
	struct wg_allowedip *cur_ips = NULL, *des_ips = NULL;
	struct action *actions = NULL;
	size_t i, j, n_actions = 0, budget;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = make_views(desired, true, &des, &des_ips);
	if (rc < 0)
		goto out;
	for (i = 1; i < desired->n_peers; i++) {
		if (view_key_cmp(&des[i - 1], &des[i]) == 0) {
			memcpy(res->conflict_key[0], des[i].peer->public_key, WG_KEY_LEN);
			memcpy(res->conflict_key[1], des[i].peer->public_key, WG_KEY_LEN);
			rc = -EINVAL;
			goto out;
		}
	}
	rc = check_unique_ips(desired, des, des_ips, res);
	if (rc < 0)
		goto out;
	rc = make_views(current, false, &cur, &cur_ips);
	if (rc < 0)
		goto out;
	actions = mem_calloc(current->n_peers + desired->n_peers + 1, sizeof(*actions));
	if (actions == NULL) {
		rc = -ENOMEM;
		goto out;
	}

	/* Both sides sorted by key: one merge. A key twice in current (a device cannot have
	 * that) is matched once and its twin removed. */
	i = j = 0;
	while (i < current->n_peers || j < desired->n_peers) {
		int c;

		if (i == current->n_peers)
			c = 1;
		else if (j == desired->n_peers)
			c = -1;
		else
			c = view_key_cmp(&cur[i], &des[j]);
		if (c < 0) {
			actions[n_actions++] = (struct action){ ACTION_REMOVE, &cur[i], NULL, 0 };
			i++;
		} else if (c > 0) {
			actions[n_actions++] = (struct action){ ACTION_ADD, NULL, &des[j], 0 };
			j++;
		} else {
			unsigned what = peer_diff(&cur[i], cur_ips, &des[j], des_ips);

			if (what != 0)
				actions[n_actions++] =
					(struct action){ ACTION_CHANGE, &cur[i], &des[j], what };
			i++;
			j++;
		}
	}

	memcpy(changes->name, current->name, sizeof(changes->name));
	changes->name[sizeof(changes->name) - 1] = '\0';
	/* Removals first and all of them, then changes to live peers, then additions. */
	budget = max_changes == 0 ? SIZE_MAX : max_changes;
	for (int t = ACTION_REMOVE; t <= ACTION_ADD; t++) {
		for (i = 0; i < n_actions; i++) {
			if ((int)actions[i].type != t)
				continue;
			if (t != ACTION_REMOVE) {
				if (budget == 0) {
					res->n_deferred++;
					continue;
				}
				budget--;
			}
			rc = emit(changes, &actions[i]);
			if (rc < 0)
				goto out;
			if (t == ACTION_REMOVE)
				res->n_removed++;
			else if (t == ACTION_CHANGE)
				res->n_changed++;
			else
				res->n_added++;
		}
	}
out:
	if (rc < 0) {
		wg_device_clear(changes);
		res->n_removed = res->n_added = res->n_changed = res->n_deferred = 0;
	}
	free(actions);
	free(cur);
	free(cur_ips);
	free(des);
	free(des_ips);
	return rc;
}
