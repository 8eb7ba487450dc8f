/*
 * upstream.c: per-upstream RTT estimates, timeouts, back-off and the choice of the next
 * upstream to ask (upstream.h). Pure bookkeeping on a caller-owned struct: it never
 * allocates, logs, blocks or reads a clock.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "resolver/upstream.h"

void upstream_config_default(struct upstream_config *cfg)
{
	cfg->rto_min = UPSTREAM_DEFAULT_RTO_MIN;
	cfg->rto_max = UPSTREAM_DEFAULT_RTO_MAX;
	cfg->initial_rto = UPSTREAM_DEFAULT_INITIAL_RTO;
	cfg->backoff_after = UPSTREAM_DEFAULT_BACKOFF_AFTER;
	cfg->backoff_base = UPSTREAM_DEFAULT_BACKOFF_BASE;
	cfg->backoff_max = UPSTREAM_DEFAULT_BACKOFF_MAX;
}

void upstream_set_init(struct upstream_set *s, const struct upstream_config *cfg)
{
	memset(s, 0, sizeof(*s));
	if (cfg != NULL)
		s->cfg = *cfg;
	else
		upstream_config_default(&s->cfg);
	if (s->cfg.backoff_after == 0)
		s->cfg.backoff_after = 1;
}

static bool same_address(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)(const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	} else {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)(const void *)b;

		return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
}

int upstream_add(struct upstream_set *s, const struct sockaddr *sa, socklen_t len)
{
	struct upstream *u;
	size_t i;

	if (sa->sa_family == AF_INET) {
		if (len < (socklen_t)sizeof(struct sockaddr_in))
			return -EINVAL;
		len = sizeof(struct sockaddr_in);
	} else if (sa->sa_family == AF_INET6) {
		if (len < (socklen_t)sizeof(struct sockaddr_in6))
			return -EINVAL;
		len = sizeof(struct sockaddr_in6);
	} else {
		return -EAFNOSUPPORT;
	}
	for (i = 0; i < s->n; i++) {
		if (same_address(&s->u[i].addr, sa))
			return -EEXIST;
	}
	if (s->n == UPSTREAM_MAX)
		return -ENOSPC;
	u = &s->u[s->n];
	memset(u, 0, sizeof(*u));
	memcpy(&u->addr, sa, len);
	u->addr_len = len;
	u->rto = s->cfg.initial_rto;
	return (int)s->n++;
}

bool upstream_backed_off(const struct upstream_set *s, size_t i, uint64_t now)
{
	return i < s->n && s->u[i].backoff_until != 0 && now < s->u[i].backoff_until;
}

int upstream_pick(struct upstream_set *s, uint16_t *tried, uint64_t now)
{
	size_t i;
	int probe = -1, best = -1, soonest = -1;

	for (i = 0; i < s->n; i++) {
		const struct upstream *u = &s->u[i];

		if (*tried & (1u << i))
			continue;
		if (u->backoff_until == 0) {
			if (best < 0 || u->rto < s->u[best].rto)
				best = (int)i;
		} else if (now >= u->backoff_until) {
			if (probe < 0 || u->backoff_until < s->u[probe].backoff_until)
				probe = (int)i;
		} else if (soonest < 0 || u->backoff_until < s->u[soonest].backoff_until) {
			soonest = (int)i;
		}
	}
	if (probe >= 0) {
		/* Keep other queries off it while this one finds out whether it is back. */
		s->u[probe].backoff_until = now + s->u[probe].rto;
		best = probe;
	} else if (best < 0) {
		best = soonest;
	}
	if (best < 0)
		return -ENOENT;
	*tried = (uint16_t)(*tried | 1u << best);
	return best;
}

uint32_t upstream_timeout(const struct upstream_set *s, size_t i)
{
	return i < s->n ? s->u[i].rto : s->cfg.rto_max;
}

static uint32_t clamp(uint64_t v, uint32_t lo, uint32_t hi)
{
	if (v < lo)
		return lo;
	return v > hi ? hi : (uint32_t)v;
}

void upstream_success(struct upstream_set *s, size_t i, uint32_t rtt, uint64_t now)
{
	struct upstream *u;
	uint64_t r_us;

	(void)now;
	if (i >= s->n)
		return;
	u = &s->u[i];
	r_us = (uint64_t)rtt * 1000u;
	if (r_us > UINT32_MAX / 8)
		r_us = UINT32_MAX / 8; /* keeps 4 RTTVAR and 7 SRTT in range */
	if (!u->measured) {
		u->srtt_us = (uint32_t)r_us;
		u->rttvar_us = (uint32_t)(r_us / 2);
		u->measured = true;
	} else {
		uint64_t delta = u->srtt_us > r_us ? u->srtt_us - r_us : r_us - u->srtt_us;

		u->rttvar_us = (uint32_t)((3u * (uint64_t)u->rttvar_us + delta) / 4u);
		u->srtt_us = (uint32_t)((7u * (uint64_t)u->srtt_us + r_us) / 8u);
	}
	/* RFC 6298 section 5.7: a new sample replaces the backed-off timer. */
	u->rto = clamp(((uint64_t)u->srtt_us + 4u * (uint64_t)u->rttvar_us + 999u) / 1000u,
		       s->cfg.rto_min, s->cfg.rto_max);
	u->failures = 0;
	u->backoff_until = 0;
	u->successes++;
}

void upstream_failure(struct upstream_set *s, size_t i, uint64_t now)
{
	struct upstream *u;

	if (i >= s->n)
		return;
	u = &s->u[i];
	u->total_failures++;
	if (u->failures < UINT32_MAX)
		u->failures++;
	u->rto = clamp((uint64_t)u->rto * 2u, s->cfg.rto_min, s->cfg.rto_max);
	if (u->failures >= s->cfg.backoff_after) {
		uint32_t shift = u->failures - s->cfg.backoff_after;
		uint64_t wait = s->cfg.backoff_max;

		if (shift < 32)
			wait = (uint64_t)s->cfg.backoff_base << shift;
		if (wait > s->cfg.backoff_max)
			wait = s->cfg.backoff_max;
		if (wait == 0)
			wait = 1; /* backoff_until 0 means "not backed off" */
		u->backoff_until = now + wait;
	}
}
