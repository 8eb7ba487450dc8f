/*
 * endpoint.c: chooses one WireGuard endpoint per peer among the candidates of its
 * ENDPOINTS record (include/meshname/wgmanage.h): ranking, trials, back-off, search and
 * roaming, as a state machine stepped on a clock the caller passes in.
 * It never does I/O, never logs and never allocates: the state is plain data per peer.
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "common/addr.h"
#include "meshname/wgmanage.h"

/* A failure count past which the back-off is at its cap anyway (no shift overflow). */
#define BACKOFF_MAX_SHIFT 16

/* An endpoint address reduced to what identifies it (family 4 or 6, 0 = none). */
struct ep_addr {
	uint8_t family;
	uint8_t addr[16];
	uint16_t port;
	uint32_t scope;
};

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static void ep_addr_from_sockaddr(const struct sockaddr_storage *ss, struct ep_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (ss == NULL)
		return;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		out->family = 4;
		memcpy(out->addr, &sin->sin_addr, 4);
		out->port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		out->port = ntohs(sin6->sin6_port);
		if (memcmp(&sin6->sin6_addr, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
			out->family = 4;
			memcpy(out->addr, sin6->sin6_addr.s6_addr + 12, 4);
		} else {
			out->family = 6;
			memcpy(out->addr, &sin6->sin6_addr, 16);
			out->scope = sin6->sin6_scope_id;
		}
	}
}

static bool ep_addr_equal(const struct ep_addr *a, const struct ep_addr *b)
{
	return a->family != 0 && a->family == b->family && a->port == b->port &&
	       a->scope == b->scope && memcmp(a->addr, b->addr, a->family == 4 ? 4 : 16) == 0;
}

bool wg_sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	struct ep_addr x, y;

	ep_addr_from_sockaddr(a, &x);
	ep_addr_from_sockaddr(b, &y);
	return ep_addr_equal(&x, &y);
}

static bool sockaddr_set(const struct sockaddr_storage *ss)
{
	return ss != NULL && (ss->ss_family == AF_INET || ss->ss_family == AF_INET6);
}

static void sockaddr_from_rec(const struct rec_endpoint *ep, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (ep->family == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, ep->addr, 4);
		sin->sin_port = htons(ep->port);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, ep->addr, 16);
		sin6->sin6_port = htons(ep->port);
	}
}

bool wg_local_on_link(const struct wg_local_net *local, uint8_t family, const uint8_t addr[16])
{
	size_t i;

	if (local == NULL)
		return false;
	for (i = 0; i < local->n; i++) {
		const struct wg_local_prefix *p = &local->prefixes[i];

		if (family == 4 && p->family == AF_INET && p->len <= 32 &&
		    addr_prefix_match(addr, p->addr, p->len))
			return true;
		if (family == 6 && p->family == AF_INET6 && p->len <= 128 &&
		    addr_prefix_match(addr, p->addr, p->len))
			return true;
	}
	return false;
}

bool wg_local_has_global_ipv6(const struct wg_local_net *local)
{
	size_t i;

	if (local == NULL)
		return false;
	for (i = 0; i < local->n; i++) {
		/* 2000::/3, the global unicast space (RFC 4291 section 2.4). */
		if (local->prefixes[i].family == AF_INET6 &&
		    (local->prefixes[i].addr[0] & 0xe0) == 0x20)
			return true;
	}
	return false;
}

uint8_t wg_ep_kind(const struct wg_ep_state *st)
{
	return st->in_use_kind;
}

void wg_ep_init(struct wg_ep_state *st)
{
	memset(st, 0, sizeof(*st));
	st->phase = WG_EP_NONE;
}

/* The usable candidates of the record, ranked, in list (at most REC_MAX_ENDPOINTS). */
static size_t rank_candidates(const struct rec_endpoint *cands, size_t n,
			      const struct wg_local_net *local, struct wg_ep_cand *list)
{
	bool global6 = wg_local_has_global_ipv6(local);
	size_t i, j, count = 0;

	for (i = 0; i < n; i++) {
		const struct rec_endpoint *ep = &cands[i];
		struct sockaddr_storage ss;
		uint8_t kind;
		bool on_link;

		if (ep->port == 0 || (ep->family != 4 && ep->family != 6))
			continue;
		on_link = wg_local_on_link(local, ep->family, ep->addr);
		switch (ep->kind) {
		case EP_LAN:
			/* A private address on none of our links leads nowhere (or somewhere
			 * else's LAN with the same numbers). */
			if (!on_link)
				continue;
			break;
		case EP_IPV6:
			if (ep->family != 6 || (!global6 && !on_link))
				continue;
			break;
		case EP_PUBLIC:
		case EP_REFLEXIVE:
			if (ep->family == 6 && !global6 && !on_link)
				continue;
			break;
		default:
			continue;
		}
		/* On our own segment whatever it was published as: the LAN path. */
		kind = on_link ? (uint8_t)EP_LAN : ep->kind;
		sockaddr_from_rec(ep, &ss);
		for (j = 0; j < count; j++) {
			if (wg_sockaddr_equal(&list[j].addr, &ss))
				break;
		}
		if (j < count) {
			if (kind < list[j].kind)
				list[j].kind = kind;
			continue;
		}
		if (count == REC_MAX_ENDPOINTS)
			break;
		memset(&list[count], 0, sizeof(list[count]));
		list[count].kind = kind;
		list[count].addr = ss;
		count++;
	}
	/* Insertion sort by kind: stable, so the record's order holds within a kind. */
	for (i = 1; i < count; i++) {
		struct wg_ep_cand c = list[i];

		for (j = i; j > 0 && list[j - 1].kind > c.kind; j--)
			list[j] = list[j - 1];
		list[j] = c;
	}
	return count;
}

/* Re-ranks st's candidates, carrying each address's failure record over. */
static void refresh_candidates(struct wg_ep_state *st, const struct rec_endpoint *cands, size_t n,
			       const struct wg_local_net *local)
{
	struct wg_ep_cand list[REC_MAX_ENDPOINTS];
	size_t count, i, j;

	count = rank_candidates(cands, n, local, list);
	for (i = 0; i < count; i++) {
		for (j = 0; j < st->n_cands; j++) {
			if (wg_sockaddr_equal(&list[i].addr, &st->cands[j].addr)) {
				list[i].failures = st->cands[j].failures;
				list[i].retry_after = st->cands[j].retry_after;
				break;
			}
		}
	}
	memcpy(st->cands, list, count * sizeof(list[0]));
	st->n_cands = count;
}

static struct wg_ep_cand *find_candidate(struct wg_ep_state *st, const struct sockaddr_storage *ss)
{
	size_t i;

	for (i = 0; i < st->n_cands; i++) {
		if (wg_sockaddr_equal(&st->cands[i].addr, ss))
			return &st->cands[i];
	}
	return NULL;
}

static void back_off(struct wg_ep_state *st, const struct sockaddr_storage *ss, int64_t now)
{
	struct wg_ep_cand *c = find_candidate(st, ss);
	int64_t delay;

	if (c == NULL)
		return;
	if (c->failures < BACKOFF_MAX_SHIFT)
		c->failures++;
	delay = (int64_t)WG_EP_BACKOFF_MIN << (c->failures - 1);
	if (delay > WG_EP_BACKOFF_MAX)
		delay = WG_EP_BACKOFF_MAX;
	c->retry_after = now + delay;
}

static void forgive(struct wg_ep_state *st, const struct sockaddr_storage *ss)
{
	struct wg_ep_cand *c = find_candidate(st, ss);

	if (c != NULL) {
		c->failures = 0;
		c->retry_after = 0;
	}
}

/* The kind of an endpoint the device reports: a candidate's, or that of a candidate with
 * the same address on another port (a NAT that does not keep ports), or what it looks
 * like: on-link is LAN, IPv6 is IPV6, anything else was observed, so REFLEXIVE. */
static uint8_t classify(const struct wg_ep_state *st, const struct wg_local_net *local,
			const struct sockaddr_storage *ss)
{
	struct ep_addr a, c;
	uint8_t best = 0;
	size_t i;

	ep_addr_from_sockaddr(ss, &a);
	for (i = 0; i < st->n_cands; i++) {
		ep_addr_from_sockaddr(&st->cands[i].addr, &c);
		c.port = a.port;
		if (ep_addr_equal(&a, &c) && (best == 0 || st->cands[i].kind < best))
			best = st->cands[i].kind;
	}
	if (best != 0)
		return best;
	if (wg_local_on_link(local, a.family, a.addr))
		return EP_LAN;
	return a.family == 6 ? EP_IPV6 : EP_REFLEXIVE;
}

static void judge_restart(struct wg_ep_state *st, int64_t now, const struct wg_ep_seen *seen)
{
	st->judge_from = now;
	st->judge_tx = seen->tx_bytes;
	st->judge_rx = seen->rx_bytes;
}

static void switch_to(struct wg_ep_state *st, const struct sockaddr_storage *ss, uint8_t kind,
		      enum wg_ep_phase phase, int64_t now, const struct wg_ep_seen *seen)
{
	st->in_use = *ss;
	st->in_use_kind = kind;
	st->since = now;
	st->phase = phase;
	st->seen_once = false;
	judge_restart(st, now, seen);
}

/*
 * True when the path has been sent to for at least limit seconds without it being judged
 * good (the caller restarts the clock on proof). While nothing is sent (tx_bytes still at
 * judge_tx) the clock keeps restarting: an idle peer sends nothing back, and that says
 * nothing about the path.
 */
static bool path_failing(struct wg_ep_state *st, int64_t now, const struct wg_ep_seen *seen,
			 int64_t limit)
{
	if (seen->tx_bytes <= st->judge_tx) {
		/* Idle, or the counters restarted (peer re-created). */
		judge_restart(st, now, seen);
		return false;
	}
	return now - st->judge_from >= limit;
}

/* The best usable candidate of a kind strictly better than the one in use, not backed off. */
static const struct wg_ep_cand *better_candidate(const struct wg_ep_state *st, int64_t now)
{
	size_t i;

	for (i = 0; i < st->n_cands; i++) {
		const struct wg_ep_cand *c = &st->cands[i];

		if (st->in_use_kind != 0 && c->kind >= st->in_use_kind)
			break; /* ranked: nothing better follows */
		if (c->retry_after > now || wg_sockaddr_equal(&c->addr, &st->in_use))
			continue;
		return c;
	}
	return NULL;
}

/* The candidate after the one in use in rank order (the first if it is none), or NULL. */
static const struct wg_ep_cand *next_candidate(const struct wg_ep_state *st)
{
	size_t i;

	if (st->n_cands == 0)
		return NULL;
	for (i = 0; i < st->n_cands; i++) {
		if (wg_sockaddr_equal(&st->cands[i].addr, &st->in_use))
			return &st->cands[(i + 1) % st->n_cands];
	}
	return &st->cands[0];
}

static void step(struct wg_ep_state *st, const struct wg_local_net *local, int64_t now,
		 const struct wg_ep_seen *seen)
{
	const struct sockaddr_storage *dev = sockaddr_set(seen->endpoint) ? seen->endpoint : NULL;
	int64_t hs = seen->last_handshake;
	bool fresh = hs > 0 && now - hs < WG_EP_FRESH;
	bool at_dev, proof, waiting;
	const struct wg_ep_cand *c;

	if (st->phase == WG_EP_NONE || !sockaddr_set(&st->in_use)) {
		if (dev != NULL && fresh) {
			/* A session already works (we restarted, or it was configured before us). */
			switch_to(st, dev, classify(st, local, dev), WG_EP_STEADY, now, seen);
		} else if (st->n_cands > 0) {
			switch_to(st, &st->cands[0].addr, st->cands[0].kind, WG_EP_SEARCH, now,
				  seen);
		} else {
			st->phase = WG_EP_NONE;
			memset(&st->in_use, 0, sizeof(st->in_use));
			st->in_use_kind = 0;
		}
		return;
	}

	at_dev = dev != NULL && wg_sockaddr_equal(dev, &st->in_use);
	/* The device showed in_use at the last update too, and none of ours was set since:
	 * whatever came in between came from in_use, or the device would show its source. */
	proof = at_dev && st->on_device && (seen->rx_bytes > st->proof_rx || hs > st->proof_at);
	/* Our set is not on the device yet (the reconcile cap deferred it, or it failed),
	 * for at most WG_EP_TRIAL seconds: beyond that, it was applied and moved away before
	 * a get could see it, which is what a peer talking from elsewhere does. */
	waiting = st->set_pending && !at_dev && !st->seen_once && now - st->since < WG_EP_TRIAL;

	/*
	 * Roaming: the device had our endpoint and now shows another one while the session is
	 * fresh: the peer's packets came from there (WireGuard follows any authenticated
	 * packet, a handshake is not needed). Follow it, and do not pull the peer back to the
	 * path it left nor to anything better-ranked before their back-off ends. A trial is
	 * held on its candidate instead (below): a packet the peer sent before it saw ours
	 * comes from the old path.
	 */
	if (st->phase != WG_EP_TRYING && dev != NULL && fresh && !at_dev && !waiting) {
		uint8_t kind = classify(st, local, dev);
		size_t i;

		back_off(st, &st->in_use, now);
		for (i = 0; i < st->n_cands; i++) {
			if (st->cands[i].kind < kind &&
			    !wg_sockaddr_equal(&st->cands[i].addr, &st->in_use))
				back_off(st, &st->cands[i].addr, now);
		}
		switch_to(st, dev, kind, WG_EP_STEADY, now, seen);
		return;
	}

	if (waiting) {
		/* The switch has not happened, so its clock has not started. */
		judge_restart(st, now, seen);
		return;
	}

	switch (st->phase) {
	case WG_EP_TRYING:
		if (proof) {
			forgive(st, &st->in_use);
			st->phase = WG_EP_STEADY;
			judge_restart(st, now, seen);
		} else if (path_failing(st, now, seen, WG_EP_TRIAL)) {
			struct sockaddr_storage prev = st->previous;

			back_off(st, &st->in_use, now);
			switch_to(st, &prev, st->previous_kind, WG_EP_STEADY, now, seen);
		}
		return;
	case WG_EP_SEARCH:
		if (proof) {
			forgive(st, &st->in_use);
			st->phase = WG_EP_STEADY;
			judge_restart(st, now, seen);
		} else if (path_failing(st, now, seen, WG_EP_TRIAL)) {
			/* Nothing works anyway, so back-off does not hold the search back:
			 * every candidate gets its turn. It is recorded all the same, so that
			 * once one works the others are not tried again at once. */
			back_off(st, &st->in_use, now);
			c = next_candidate(st);
			if (c != NULL)
				switch_to(st, &c->addr, c->kind, WG_EP_SEARCH, now, seen);
			else
				judge_restart(st, now, seen);
		}
		return;
	case WG_EP_STEADY:
		if (at_dev && (seen->rx_bytes > st->judge_rx || hs > st->judge_from)) {
			judge_restart(st, now, seen); /* something came back: the path works */
		} else if (path_failing(st, now, seen, WG_EP_DEAD)) {
			back_off(st, &st->in_use, now);
			c = next_candidate(st);
			if (c != NULL && !wg_sockaddr_equal(&c->addr, &st->in_use))
				switch_to(st, &c->addr, c->kind, WG_EP_SEARCH, now, seen);
			else
				judge_restart(st, now, seen); /* the only path there is: keep it */
			return;
		}
		c = better_candidate(st, now);
		if (c != NULL) {
			st->previous = st->in_use;
			st->previous_kind = st->in_use_kind;
			switch_to(st, &c->addr, c->kind, WG_EP_TRYING, now, seen);
		}
		return;
	case WG_EP_NONE:
		return;
	}
}

bool wg_ep_update(struct wg_ep_state *st, const struct rec_endpoint *cands, size_t n,
		  const struct wg_local_net *local, int64_t now, const struct wg_ep_seen *seen,
		  struct sockaddr_storage *want)
{
	static const struct wg_ep_seen nothing_seen;
	bool on_device;

	if (seen == NULL)
		seen = &nothing_seen;
	refresh_candidates(st, cands, n, local);
	step(st, local, now, seen);
	*want = st->in_use;
	on_device = sockaddr_set(want) && sockaddr_set(seen->endpoint) &&
		    wg_sockaddr_equal(want, seen->endpoint);
	st->set_pending = sockaddr_set(want) && !on_device;
	/* The baseline of the next update's proof. */
	st->on_device = on_device;
	st->seen_once = st->seen_once || on_device;
	st->proof_rx = seen->rx_bytes;
	st->proof_at = now;
	return st->set_pending;
}
