/*
 * nat.c: what other hosts' observations say about this host's NAT (wg_nat_verdict in
 * include/meshname/wgmanage.h): endpoint-independent mapping, symmetric, or not enough
 * to say. Pure: reads a snapshot, never logs, never reads the clock, never publishes.
 */
#include <string.h>

#include "meshname/wgmanage.h"

/* An observation that counts, with its observer resolved. */
struct nat_obs {
	const struct snapshot_observation *o;
	const struct snapshot_host *observer;
};

static bool is_public_kind(uint8_t kind)
{
	return kind == EP_PUBLIC || kind == EP_IPV6 || kind == EP_REFLEXIVE;
}

/* Directly reachable, as wg_keepalive_for decides it: an EP_PUBLIC or EP_IPV6 entry. */
static bool directly_reachable(const struct snapshot_host *h)
{
	for (size_t i = 0; i < h->n_endpoints; i++)
		if (h->endpoints[i].kind == EP_PUBLIC || h->endpoints[i].kind == EP_IPV6)
			return true;
	return false;
}

static bool same_address(const struct rec_endpoint *a, const struct rec_endpoint *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static bool same_endpoint(const struct rec_endpoint *a, const struct rec_endpoint *b)
{
	return same_address(a, b) && a->port == b->port;
}

/*
 * Two observers reach us from different public addresses: each publishes at least one
 * non-LAN address, and no such address of one is one of the other's (ports ignored).
 */
static bool independent(const struct snapshot_host *a, const struct snapshot_host *b)
{
	bool a_has = false, b_has = false;

	if (a == b)
		return false;
	for (size_t i = 0; i < a->n_endpoints; i++) {
		if (!is_public_kind(a->endpoints[i].kind))
			continue;
		a_has = true;
		for (size_t j = 0; j < b->n_endpoints; j++)
			if (is_public_kind(b->endpoints[j].kind) &&
			    same_address(&a->endpoints[i], &b->endpoints[j]))
				return false;
	}
	for (size_t j = 0; j < b->n_endpoints && !b_has; j++)
		b_has = is_public_kind(b->endpoints[j].kind);
	return a_has && b_has;
}

/* Wire order of an endpoint's address and port, for a deterministic tie-break. */
static int endpoint_cmp(const struct rec_endpoint *a, const struct rec_endpoint *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (c != 0)
		return c;
	return a->port == b->port ? 0 : (a->port < b->port ? -1 : 1);
}

enum wg_nat wg_nat_verdict(const struct snapshot *s, const struct snapshot_host *self, int64_t now,
			   struct rec_endpoint *reflexive)
{
	struct nat_obs obs[SNAPSHOT_MAX_OBSERVATIONS];
	const struct rec_endpoint *agreed = NULL;
	uint64_t agreed_at = 0;
	bool disagree = false;
	uint64_t unow = now > 0 ? (uint64_t)now : 0;
	size_t n = 0;

	if (reflexive != NULL)
		memset(reflexive, 0, sizeof(*reflexive));
	if (s == NULL || self == NULL)
		return WG_NAT_UNKNOWN;
	if (directly_reachable(self))
		return WG_NAT_NONE;

	for (size_t i = 0; i < self->n_observations && n < SNAPSHOT_MAX_OBSERVATIONS; i++) {
		const struct snapshot_observation *o = &self->observations[i];
		const struct snapshot_host *observer;

		if (o->expires_at <= unow || o->issued_at > unow + REC_MAX_FUTURE)
			continue;
		if (o->seen.kind != EP_REFLEXIVE || (o->seen.family != 4 && o->seen.family != 6))
			continue;
		if (memcmp(o->observer, self->host_key, REC_KEY_SIZE) == 0)
			continue;
		observer = snapshot_lookup_host_key(s, o->observer);
		if (observer == NULL)
			continue;
		obs[n].o = o;
		obs[n].observer = observer;
		n++;
	}

	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++) {
			const struct snapshot_observation *a = obs[i].o, *b = obs[j].o;
			uint64_t newest = a->issued_at > b->issued_at ? a->issued_at : b->issued_at;
			uint64_t oldest = a->issued_at < b->issued_at ? a->issued_at : b->issued_at;

			if (a->seen.family != b->seen.family ||
			    !independent(obs[i].observer, obs[j].observer))
				continue;
			if (same_endpoint(&a->seen, &b->seen)) {
				if (agreed == NULL || newest > agreed_at ||
				    (newest == agreed_at && endpoint_cmp(&a->seen, agreed) > 0)) {
					agreed = &a->seen;
					agreed_at = newest;
				}
			} else if (oldest + WG_NAT_RECENT >= unow) {
				disagree = true;
			}
		}
	}
	if (agreed != NULL) {
		if (reflexive != NULL) {
			*reflexive = *agreed;
			reflexive->kind = EP_REFLEXIVE;
		}
		return WG_NAT_OPEN;
	}
	return disagree ? WG_NAT_SYMMETRIC : WG_NAT_UNKNOWN;
}

const char *wg_nat_name(enum wg_nat nat)
{
	switch (nat) {
	case WG_NAT_OPEN:
		return "open";
	case WG_NAT_SYMMETRIC:
		return "symmetric";
	case WG_NAT_NONE:
		return "none";
	case WG_NAT_UNKNOWN:
	default:
		return "unknown";
	}
}
