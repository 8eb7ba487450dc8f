/*
 * strikes.c: the strike table (sync.h): strikes per peer in a sliding window, bans that
 * double for a repeat offender, a bounded table. Pure: time is a parameter; it never
 * touches a socket or a session, the caller asks it before and after each session.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "meshname/sync.h"

#define STRIKES_KEPT 8 /* strike times remembered per peer (config strikes is capped) */

struct peer {
	uint8_t key[SYNC_PEER_KEY_MAX];
	uint8_t key_len;
	uint8_t n_times;
	uint64_t times[STRIKES_KEPT]; /* recent strikes, oldest first */
	uint64_t last_ms;             /* last strike */
	uint64_t ban_until;           /* 0: never banned */
	unsigned bans;                /* bans so far (the doubling), reset after forget_ms */
};

struct sync_strikes {
	struct sync_strike_config c;
	struct peer *peers;
	size_t n;
};

void sync_strike_config_default(struct sync_strike_config *c)
{
	c->strikes = 3;
	c->window_ms = 10 * 60 * 1000;
	c->ban_ms = 60 * 60 * 1000;
	c->ban_max_ms = 24 * 60 * 60 * 1000;
	c->forget_ms = 24 * 60 * 60 * 1000;
	c->max_peers = 4096;
}

int sync_strikes_new(const struct sync_strike_config *c, struct sync_strikes **out)
{
	struct sync_strikes *t;

	*out = NULL;
	if (c->strikes == 0 || c->strikes > STRIKES_KEPT || c->max_peers == 0 || c->ban_ms == 0)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->c = *c;
	t->peers = calloc(c->max_peers, sizeof(*t->peers));
	if (t->peers == NULL) {
		free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void sync_strikes_free(struct sync_strikes *t)
{
	if (t == NULL)
		return;
	free(t->peers);
	free(t);
}

size_t sync_strikes_count(const struct sync_strikes *t)
{
	return t->n;
}

static struct peer *find(const struct sync_strikes *t, const uint8_t *key, size_t key_len)
{
	if (key_len == 0 || key_len > SYNC_PEER_KEY_MAX)
		return NULL;
	for (size_t i = 0; i < t->n; i++) {
		struct peer *p = &t->peers[i];

		if (p->key_len == key_len && memcmp(p->key, key, key_len) == 0)
			return p;
	}
	return NULL;
}

/* A slot for a new peer: a free one, else the one struck longest ago that is not banned,
 * else the ban that ends first (an attacker with many addresses can only push out its own
 * oldest bans that way, never an active one while unbanned entries remain). */
static struct peer *slot(struct sync_strikes *t, uint64_t now_ms)
{
	struct peer *victim = &t->peers[0];

	if (t->n < t->c.max_peers)
		return &t->peers[t->n++];
	for (size_t i = 1; i < t->n; i++) {
		struct peer *p = &t->peers[i];
		bool banned = p->ban_until > now_ms;
		bool victim_banned = victim->ban_until > now_ms;

		if (victim_banned && !banned)
			victim = p;
		else if (victim_banned == banned &&
			 (banned ? p->ban_until < victim->ban_until : p->last_ms < victim->last_ms))
			victim = p;
	}
	return victim;
}

bool sync_strikes_add(struct sync_strikes *t, const uint8_t *key, size_t key_len, uint64_t now_ms)
{
	struct peer *p;
	uint64_t ban;
	unsigned kept = 0;

	if (key_len == 0 || key_len > SYNC_PEER_KEY_MAX)
		return false;
	p = find(t, key, key_len);
	if (p == NULL) {
		p = slot(t, now_ms);
		memset(p, 0, sizeof(*p));
		memcpy(p->key, key, key_len);
		p->key_len = (uint8_t)key_len;
	}
	if (p->ban_until > now_ms)
		return true;
	/* Quiet time counts from the end of the last ban: while banned it cannot strike. */
	if (p->last_ms != 0 &&
	    now_ms - (p->ban_until > p->last_ms ? p->ban_until : p->last_ms) >= t->c.forget_ms)
		p->bans = 0;
	p->last_ms = now_ms;
	/* Keep only the strikes inside the window, then this one. */
	for (unsigned i = 0; i < p->n_times; i++)
		if (now_ms - p->times[i] < t->c.window_ms)
			p->times[kept++] = p->times[i];
	if (kept == STRIKES_KEPT) {
		memmove(p->times, p->times + 1, (STRIKES_KEPT - 1) * sizeof(p->times[0]));
		kept--;
	}
	p->times[kept++] = now_ms;
	p->n_times = (uint8_t)kept;
	if (kept < t->c.strikes)
		return false;
	ban = t->c.ban_ms;
	for (unsigned i = 0; i < p->bans && ban < t->c.ban_max_ms; i++)
		ban *= 2;
	if (ban > t->c.ban_max_ms)
		ban = t->c.ban_max_ms;
	p->bans++;
	p->ban_until = now_ms + ban;
	p->n_times = 0;
	return true;
}

bool sync_strikes_banned(const struct sync_strikes *t, const uint8_t *key, size_t key_len,
			 uint64_t now_ms, uint64_t *until)
{
	const struct peer *p = find(t, key, key_len);

	if (p == NULL || p->ban_until <= now_ms)
		return false;
	if (until != NULL)
		*until = p->ban_until;
	return true;
}
