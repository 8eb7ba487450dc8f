/*
 * node.c: one host's dissemination policy (include/meshname/syncnode.h): the neighbour
 * table (LAN, seeds, a random sample of members), eager push in paced waves with failed
 * pushes made up, anti-entropy timing, requested sessions, bounded sessions and back-off.
 * Pure: no I/O, no clock, no logging; randomness only through the injected function.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "meshname/syncnode.h"

/* A failure count past which the back-off is at its cap anyway (no shift overflow). */
#define BACKOFF_MAX_SHIFT 16
/* The sample is at most this share of the table, so LAN peers and seeds always fit. */
#define MEMBER_SAMPLE_MAX 32
/* Rejection sampling gives up after this many draws per wanted member. */
#define SAMPLE_TRIES 16
/* A failed anti-entropy session is retried at once with another neighbour, this many
 * times a period: a failure is not a sync, and waiting a whole period for the next try
 * leaves a host behind a partition (most of its neighbours unreachable) with nothing. */
#define AE_RETRIES 3
/* A sampled member that failed this many times in a row is swapped for another random
 * member (a host that is gone, or behind a partition), without waiting for the refresh.
 * One failure would churn the sample on every transient error; three left hosts behind a
 * simulated 30% partition without a reachable neighbour for minutes (tests/sim/). */
#define MEMBER_DEAD_FAILURES 2
/* Peers one record may be pushed to: its waves, and as many make-ups of failed pushes. */
#define PUSH_TARGETS_MAX (2 * SYNCNODE_MAX_PUSHES)
/* A push to a peer not reported ended after this long is given up on (a caller that never
 * reports one must not keep the record's slot forever). Sessions time out at 30 s idle. */
#define PUSH_STALE_MS 60000
/* In rumour.to[]: the push to that neighbour is open (its end not reported yet). */
#define TARGET_OPEN 0x80000000u

struct neighbour {
	uint8_t key[REC_KEY_SIZE];
	uint32_t serial; /* names this entry in rumour.to[] (a key would cost 32 bytes) */
	unsigned flags;  /* 0: on its way out, kept only while a session to it is open */
	uint64_t lan_until;
	uint64_t last_ok;
	uint64_t last_fail;
	unsigned failures;
	uint64_t backoff_until;
	uint64_t request_ok_at; /* a requested session may open from then on */
	bool in_session;
	bool requested; /* syncnode_request: a session with it is due */
};

/*
 * A record being pushed (Demers et al., "Epidemic algorithms for replicated database
 * maintenance", 1987: rumor mongering, blind with a counter): each host that newly accepts
 * it pushes it to fanout random neighbours, push_waves times one pacing interval apart,
 * never to its sender nor twice to one peer; then it loses interest and anti-entropy
 * covers the rest. A push that fails is made up at once with another neighbour. Blind,
 * because a push session does not tell the pusher whether the record was new there. With
 * m pushes per host, each landing on a near-random host, a host misses all of them with
 * probability (1 - 1/N)^(mN) ~ e^-m, whatever the variant: 3 leave ~5% to anti-entropy
 * (30 s), 6 leave ~0.25%, which is what puts 99% of the hosts within 10 rounds.
 */
struct rumour {
	uint8_t id[REC_ID_SIZE];
	uint8_t from[REC_KEY_SIZE];
	bool has_from;
	bool in_batch;                 /* part of the batch under way (room ran out before it) */
	unsigned waves_left;           /* waves still to send */
	unsigned make_up;              /* failed pushes to make up with other neighbours */
	unsigned retries_left;         /* make-ups it may still be given */
	uint64_t due;                  /* its next wave goes in the first batch from then */
	uint64_t last_push;            /* when it last went out */
	uint32_t to[PUSH_TARGETS_MAX]; /* serials of the neighbours it went to, | TARGET_OPEN */
	size_t n_to;
	size_t n_open; /* entries of to[] with TARGET_OPEN */
};

struct syncnode {
	struct syncnode_config c;
	uint8_t self[REC_KEY_SIZE];
	syncnode_rand_fn rand;
	void *rand_arg;

	struct neighbour nb[SYNCNODE_MAX_NEIGHBOURS];
	size_t n_nb;

	uint8_t (*members)[REC_KEY_SIZE];
	size_t n_members;
	bool sampled;
	uint64_t next_refresh;

	struct rumour rumours[SYNCNODE_MAX_PENDING]; /* in the order they were accepted */
	size_t n_rumours;
	uint64_t push_ready_at; /* the next batch may start then */
	uint32_t next_serial;

	uint64_t next_ae;
	bool ae_retry;       /* a retry is due now, outside the period */
	unsigned ae_retries; /* retries spent in this period */
	bool ae_starved;     /* the last period found no neighbour: run as soon as one appears */
	size_t sessions_out, sessions_in;
	uint64_t last_ok;
	uint64_t pushes_sent, pushes_dropped, pushes_failed, pushes_made_up;
	uint64_t sessions_ok, sessions_failed;
};

void syncnode_config_default(struct syncnode_config *c)
{
	c->fanout = 3;
	c->push_waves = 2;
	c->push = true;
	c->push_pacing_ms = 200;
	c->ae_interval_ms = 30000;
	c->ae_jitter_ms = 3000;
	c->max_sessions = 2;
	c->max_inbound = 8;
	/* Well above the 6 pushes of a record, so that pushes land close to uniformly and a
	 * failed one has a fresh neighbour to be made up with (tests/sim: with 8, 10% loss
	 * cost 3 rounds at 1,000 hosts; with 16, 1). */
	c->member_sample = 16;
	c->member_refresh_ms = 300000;
	c->lan_ttl_ms = 95000;
	c->backoff_min_ms = 5000;
	c->backoff_max_ms = 300000;
	c->request_interval_ms = 5000;
}

static uint64_t rand_below(struct syncnode *n, uint64_t bound)
{
	if (bound <= 1)
		return 0;
	if (bound > UINT32_MAX)
		bound = UINT32_MAX;
	return n->rand(n->rand_arg, (uint32_t)bound);
}

/* One anti-entropy period from now: interval +- jitter, uniformly. */
static uint64_t ae_period(struct syncnode *n)
{
	uint64_t j = n->c.ae_jitter_ms < n->c.ae_interval_ms ? n->c.ae_jitter_ms :
							       n->c.ae_interval_ms - 1;

	return n->c.ae_interval_ms - j + rand_below(n, 2 * j + 1);
}

static struct neighbour *nb_find(struct syncnode *n, const uint8_t key[REC_KEY_SIZE])
{
	for (size_t i = 0; i < n->n_nb; i++)
		if (memcmp(n->nb[i].key, key, REC_KEY_SIZE) == 0)
			return &n->nb[i];
	return NULL;
}

static struct neighbour *nb_add(struct syncnode *n, const uint8_t key[REC_KEY_SIZE])
{
	struct neighbour *e = nb_find(n, key);

	if (e != NULL)
		return e;
	if (n->n_nb == SYNCNODE_MAX_NEIGHBOURS)
		return NULL;
	e = &n->nb[n->n_nb++];
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, REC_KEY_SIZE);
	/* Never 0, never with TARGET_OPEN: wraps after 2^31 entries, long after any push
	 * that named the old holder of a number is gone. */
	n->next_serial = (n->next_serial + 1) & ~TARGET_OPEN;
	if (n->next_serial == 0)
		n->next_serial = 1;
	e->serial = n->next_serial;
	/* A neighbour appeared after a period that found none: sync with it now. */
	if (n->ae_starved)
		n->next_ae = 0;
	return e;
}

/* Drops entry e if nothing keeps it (no source left, no open session). */
static void nb_maybe_remove(struct syncnode *n, struct neighbour *e)
{
	if (e->flags != 0 || e->in_session)
		return;
	*e = n->nb[--n->n_nb];
}

static bool nb_usable(const struct neighbour *e, uint64_t now)
{
	return e->flags != 0 && e->backoff_until <= now;
}

int syncnode_new(const struct syncnode_config *c, const uint8_t self[REC_KEY_SIZE],
		 syncnode_rand_fn rand, void *rand_arg, uint64_t now, struct syncnode **out)
{
	struct syncnode *n;
	struct syncnode_config def;

	*out = NULL;
	if (c == NULL) {
		syncnode_config_default(&def);
		c = &def;
	}
	if (rand == NULL || c->fanout == 0 || c->push_waves == 0 ||
	    c->fanout > SYNCNODE_MAX_PUSHES / c->push_waves || c->ae_interval_ms == 0 ||
	    c->max_sessions == 0 || c->member_sample > MEMBER_SAMPLE_MAX ||
	    c->backoff_min_ms == 0 || c->backoff_max_ms < c->backoff_min_ms)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	n->c = *c;
	memcpy(n->self, self, REC_KEY_SIZE);
	n->rand = rand;
	n->rand_arg = rand_arg;
	/* The first period starts at a random point, so hosts started together spread out. */
	n->next_ae = now + rand_below(n, n->c.ae_interval_ms);
	*out = n;
	return 0;
}

void syncnode_free(struct syncnode *n)
{
	if (n == NULL)
		return;
	free(n->members);
	free(n);
}

int syncnode_lan_seen(struct syncnode *n, const uint8_t key[REC_KEY_SIZE], uint64_t now)
{
	struct neighbour *e;

	if (memcmp(key, n->self, REC_KEY_SIZE) == 0)
		return -EINVAL;
	e = nb_add(n, key);
	if (e == NULL)
		return -ENOSPC;
	e->flags |= SYNCNODE_LAN;
	e->lan_until = now + n->c.lan_ttl_ms;
	return 0;
}

int syncnode_set_seed(struct syncnode *n, const uint8_t key[REC_KEY_SIZE], bool seed)
{
	struct neighbour *e;

	if (memcmp(key, n->self, REC_KEY_SIZE) == 0)
		return -EINVAL;
	if (!seed) {
		e = nb_find(n, key);
		if (e != NULL) {
			e->flags &= ~(unsigned)SYNCNODE_SEED;
			nb_maybe_remove(n, e);
		}
		return 0;
	}
	e = nb_add(n, key);
	if (e == NULL)
		return -ENOSPC;
	e->flags |= SYNCNODE_SEED;
	return 0;
}

static size_t count_flag(const struct syncnode *n, unsigned flag)
{
	size_t k = 0;

	for (size_t i = 0; i < n->n_nb; i++)
		if (n->nb[i].flags & flag)
			k++;
	return k;
}

/* Adds random members (not self) to the sample until it holds member_sample of them or
 * too many draws hit self or peers already sampled (a mesh smaller than the sample). */
static void sample_fill(struct syncnode *n)
{
	size_t have = count_flag(n, SYNCNODE_MEMBER);
	size_t tries = SAMPLE_TRIES * (size_t)n->c.member_sample;

	while (have < n->c.member_sample && n->n_members > 0 && tries-- > 0) {
		const uint8_t *key = n->members[rand_below(n, n->n_members)];
		struct neighbour *e;

		if (memcmp(key, n->self, REC_KEY_SIZE) == 0)
			continue;
		e = nb_find(n, key);
		if (e != NULL && (e->flags & SYNCNODE_MEMBER))
			continue;
		e = nb_add(n, key);
		if (e == NULL)
			return;
		e->flags |= SYNCNODE_MEMBER;
		have++;
	}
}

static void sample_clear(struct syncnode *n)
{
	/* Backwards: nb_maybe_remove moves the last entry into the freed slot. */
	for (size_t i = n->n_nb; i-- > 0;) {
		n->nb[i].flags &= ~(unsigned)SYNCNODE_MEMBER;
		nb_maybe_remove(n, &n->nb[i]);
	}
}

static void resample(struct syncnode *n, uint64_t now)
{
	sample_clear(n);
	sample_fill(n);
	n->sampled = true;
	n->next_refresh = now + n->c.member_refresh_ms;
}

static bool is_member(const struct syncnode *n, const uint8_t key[REC_KEY_SIZE])
{
	for (size_t i = 0; i < n->n_members; i++)
		if (memcmp(n->members[i], key, REC_KEY_SIZE) == 0)
			return true;
	return false;
}

int syncnode_set_members(struct syncnode *n, const uint8_t (*keys)[REC_KEY_SIZE], size_t count,
			 uint64_t now)
{
	uint8_t(*copy)[REC_KEY_SIZE] = NULL;

	if (count > 0) {
		copy = malloc(count * sizeof(*copy));
		if (copy == NULL)
			return -ENOMEM;
		memcpy(copy, keys, count * sizeof(*copy));
	}
	free(n->members);
	n->members = copy;
	n->n_members = count;
	if (!n->sampled || now >= n->next_refresh) {
		resample(n, now);
		return 0;
	}
	/* Between refreshes: only replace members that left the mesh. */
	for (size_t i = n->n_nb; i-- > 0;) {
		struct neighbour *e = &n->nb[i];

		if ((e->flags & SYNCNODE_MEMBER) && !is_member(n, e->key)) {
			e->flags &= ~(unsigned)SYNCNODE_MEMBER;
			nb_maybe_remove(n, e);
		}
	}
	sample_fill(n);
	return 0;
}

int syncnode_record_accepted(struct syncnode *n, const uint8_t id[REC_ID_SIZE],
			     const uint8_t from[REC_KEY_SIZE], uint64_t now)
{
	struct rumour *r;

	(void)now;
	if (!n->c.push)
		return 0;
	if (n->n_rumours == SYNCNODE_MAX_PENDING) {
		n->pushes_dropped++;
		return -ENOSPC;
	}
	r = &n->rumours[n->n_rumours++];
	memset(r, 0, sizeof(*r));
	memcpy(r->id, id, REC_ID_SIZE);
	r->has_from = from != NULL;
	if (from != NULL)
		memcpy(r->from, from, REC_KEY_SIZE);
	r->waves_left = n->c.push_waves;
	/* Each planned push may be made up once on average: bounded, also when every
	 * neighbour is unreachable (then each try backs one off). */
	r->retries_left = n->c.fanout * n->c.push_waves;
	r->due = 0; /* the first batch that may start */
	return 0;
}

void syncnode_link_changed(struct syncnode *n, uint64_t now)
{
	n->next_ae = now;
	/* Failures seen over the old link say nothing about the new one. */
	for (size_t i = 0; i < n->n_nb; i++)
		n->nb[i].backoff_until = 0;
}

int syncnode_heard(struct syncnode *n, const uint8_t key[REC_KEY_SIZE], uint64_t now)
{
	struct neighbour *e = nb_find(n, key);

	(void)now;
	if (e == NULL || e->flags == 0)
		return -ENOENT;
	e->backoff_until = 0;
	return 0;
}

int syncnode_request(struct syncnode *n, const uint8_t key[REC_KEY_SIZE], uint64_t now)
{
	struct neighbour *e = nb_find(n, key);

	(void)now;
	if (e == NULL || e->flags == 0)
		return -ENOENT;
	/* The open session reconciles what the beacon saw (or the next beacon asks again). */
	if (!e->in_session)
		e->requested = true;
	return 0;
}

static void expire_lan(struct syncnode *n, uint64_t now)
{
	for (size_t i = n->n_nb; i-- > 0;) {
		struct neighbour *e = &n->nb[i];

		if ((e->flags & SYNCNODE_LAN) && e->lan_until <= now) {
			e->flags &= ~(unsigned)SYNCNODE_LAN;
			nb_maybe_remove(n, e);
		}
	}
}

static bool rumour_went_to(const struct rumour *r, uint32_t serial)
{
	for (size_t i = 0; i < r->n_to; i++)
		if ((r->to[i] & ~TARGET_OPEN) == serial)
			return true;
	return false;
}

static bool rumour_wants(const struct rumour *r)
{
	return r->waves_left > 0 || r->make_up > 0;
}

/* Sends rumour r's make-ups, and with wave its next wave (fanout pushes), to random usable
 * neighbours it has not gone to, other than its sender. Returns the number of actions
 * written, or -ENOBUFS if they do not fit in room (then nothing changed). */
static int push_rumour(struct syncnode *n, struct rumour *r, bool wave, uint64_t now,
		       struct syncnode_action *out, size_t room)
{
	size_t idx[SYNCNODE_MAX_NEIGHBOURS], k = 0, want;
	bool first = wave && r->waves_left == n->c.push_waves;

	want = (wave ? n->c.fanout : 0) + r->make_up;
	for (size_t i = 0; i < n->n_nb; i++) {
		const struct neighbour *e = &n->nb[i];

		if (!nb_usable(e, now) || rumour_went_to(r, e->serial))
			continue;
		if (r->has_from && memcmp(e->key, r->from, REC_KEY_SIZE) == 0)
			continue;
		idx[k++] = i;
	}
	if (want > k)
		want = k;
	if (want > PUSH_TARGETS_MAX - r->n_to) /* cannot happen: waves + retries fit */
		want = PUSH_TARGETS_MAX - r->n_to;
	if (room < want)
		return -ENOBUFS;
	/* A partial Fisher-Yates shuffle: the first want entries are a uniform sample. */
	for (size_t i = 0; i < want; i++) {
		size_t j = i + (size_t)rand_below(n, k - i);
		size_t t = idx[i];

		idx[i] = idx[j];
		idx[j] = t;
		out[i].kind = SYNCNODE_PUSH;
		memcpy(out[i].peer, n->nb[idx[i]].key, REC_KEY_SIZE);
		memcpy(out[i].id, r->id, REC_ID_SIZE);
		r->to[r->n_to++] = n->nb[idx[i]].serial | TARGET_OPEN;
	}
	r->n_open += want;
	if (first && want == 0)
		n->pushes_dropped++;
	n->pushes_sent += want;
	if (want > 0)
		r->last_push = now;
	/* Make-ups that found no neighbour are left to anti-entropy. */
	r->make_up = 0;
	if (wave) {
		r->waves_left--;
		r->in_batch = false;
		r->due = n->push_ready_at; /* the next wave goes in the next batch */
	}
	return (int)want;
}

/* Forgets pushes whose end was never reported, and records with nothing left to do. */
static void rumours_retire(struct syncnode *n, uint64_t now)
{
	size_t k = 0;

	for (size_t i = 0; i < n->n_rumours; i++) {
		struct rumour *r = &n->rumours[i];

		if (r->n_open > 0 && now >= r->last_push + PUSH_STALE_MS) {
			for (size_t j = 0; j < r->n_to; j++)
				r->to[j] &= ~TARGET_OPEN;
			r->n_open = 0;
		}
		if (rumour_wants(r) || r->n_open > 0) {
			if (k != i)
				n->rumours[k] = *r;
			k++;
		}
	}
	n->n_rumours = k;
}

static size_t step_push(struct syncnode *n, uint64_t now, struct syncnode_action *out, size_t max)
{
	size_t used = 0;
	bool under_way = false;

	for (size_t i = 0; i < n->n_rumours && !under_way; i++)
		under_way = n->rumours[i].in_batch;
	if (!under_way && now >= n->push_ready_at) {
		/* A new batch: every record with a wave due now goes out together; what comes
		 * due later waits for the next slot, so a burst of records costs one push per
		 * neighbour per pacing interval. */
		bool any = false;

		for (size_t i = 0; i < n->n_rumours; i++) {
			struct rumour *r = &n->rumours[i];

			r->in_batch = r->waves_left > 0 && r->due <= now;
			any |= r->in_batch;
		}
		if (any)
			n->push_ready_at = now + n->c.push_pacing_ms;
	}
	for (size_t i = 0; i < n->n_rumours; i++) {
		struct rumour *r = &n->rumours[i];
		int k;

		/* A make-up replaces a push that was paced already, and each record has only
		 * so many: it goes at once, not a slot later (which cost a round under loss in
		 * tests/sim). */
		if (!r->in_batch && r->make_up == 0)
			continue;
		k = push_rumour(n, r, r->in_batch, now, out + used, max - used);
		if (k < 0)
			break;
		used += (size_t)k;
	}
	rumours_retire(n, now);
	return used;
}

/* Writes the action that opens an outbound session to e, and counts it. */
static void session_open(struct syncnode *n, struct neighbour *e, uint64_t now,
			 struct syncnode_action *out)
{
	e->in_session = true;
	e->requested = false; /* this session is the one asked for */
	e->request_ok_at = now + n->c.request_interval_ms;
	n->sessions_out++;
	out->kind = SYNCNODE_OPEN_SESSION;
	memcpy(out->peer, e->key, REC_KEY_SIZE);
	memset(out->id, 0, REC_ID_SIZE);
}

static size_t step_ae(struct syncnode *n, uint64_t now, struct syncnode_action *out, size_t max)
{
	size_t idx[SYNCNODE_MAX_NEIGHBOURS], k = 0;

	if ((now < n->next_ae && !n->ae_retry) || max == 0)
		return 0;
	if (now >= n->next_ae) {
		n->next_ae = now + ae_period(n);
		n->ae_retries = 0;
	}
	n->ae_retry = false;
	n->ae_starved = false;
	/* Already at the bound: the sessions running are anti-entropy enough. */
	if (n->sessions_out >= n->c.max_sessions)
		return 0;
	for (size_t i = 0; i < n->n_nb; i++)
		if (nb_usable(&n->nb[i], now) && !n->nb[i].in_session)
			idx[k++] = i;
	if (k == 0) {
		n->ae_starved = true;
		return 0;
	}
	session_open(n, &n->nb[idx[rand_below(n, k)]], now, out);
	return 1;
}

/* When neighbour e's requested session may open (it is not open already). */
static uint64_t request_ready(const struct neighbour *e)
{
	return e->backoff_until > e->request_ok_at ? e->backoff_until : e->request_ok_at;
}

/* Sessions that syncnode_request asked for, within the outbound bound. */
static size_t step_requests(struct syncnode *n, uint64_t now, struct syncnode_action *out,
			    size_t max)
{
	size_t used = 0;

	for (size_t i = 0; i < n->n_nb && used < max && n->sessions_out < n->c.max_sessions; i++) {
		struct neighbour *e = &n->nb[i];

		if (!e->requested || e->flags == 0 || e->in_session || request_ready(e) > now)
			continue;
		session_open(n, e, now, out + used);
		used++;
	}
	return used;
}

void syncnode_step(struct syncnode *n, uint64_t now, struct syncnode_action *out, size_t max,
		   size_t *count)
{
	size_t used = 0;

	expire_lan(n, now);
	if (n->sampled && n->n_members > 0 && now >= n->next_refresh)
		resample(n, now);
	used += step_ae(n, now, out, max);
	used += step_requests(n, now, out + used, max - used);
	used += step_push(n, now, out + used, max - used);
	*count = used;
}

uint64_t syncnode_next_wakeup(const struct syncnode *n)
{
	uint64_t t = n->next_ae;

	if (n->ae_retry)
		return 0;
	for (size_t i = 0; i < n->n_rumours; i++) {
		const struct rumour *r = &n->rumours[i];
		uint64_t due = r->due > n->push_ready_at ? r->due : n->push_ready_at;

		if (r->in_batch || r->make_up > 0)
			return 0;
		if (r->waves_left > 0 && due < t)
			t = due;
	}
	if (n->sampled && n->n_members > 0 && n->next_refresh < t)
		t = n->next_refresh;
	for (size_t i = 0; i < n->n_nb; i++) {
		const struct neighbour *e = &n->nb[i];

		if ((e->flags & SYNCNODE_LAN) && e->lan_until < t)
			t = e->lan_until;
		/* With every slot taken, the next session_end is what frees one. */
		if (e->requested && e->flags != 0 && !e->in_session &&
		    n->sessions_out < n->c.max_sessions && request_ready(e) < t)
			t = request_ready(e);
	}
	return t;
}

int syncnode_inbound_open(struct syncnode *n, const uint8_t key[REC_KEY_SIZE], uint64_t now)
{
	(void)key;
	(void)now;
	if (n->sessions_in >= n->c.max_inbound)
		return -EBUSY;
	n->sessions_in++;
	return 0;
}

static void backoff(struct syncnode *n, struct neighbour *e, uint64_t now)
{
	unsigned shift = e->failures - 1;
	uint64_t d;

	if (shift > BACKOFF_MAX_SHIFT)
		shift = BACKOFF_MAX_SHIFT;
	d = n->c.backoff_min_ms << shift;
	if (d > n->c.backoff_max_ms)
		d = n->c.backoff_max_ms;
	/* +-25 %: peers that failed together are not all retried together. */
	d = d - d / 4 + rand_below(n, d / 2 + 1);
	e->backoff_until = now + d;
}

static void record_result(struct syncnode *n, struct neighbour *e, int result, bool may_backoff,
			  uint64_t now)
{
	if (result == 0) {
		n->last_ok = now;
		if (e != NULL) {
			e->last_ok = now;
			e->failures = 0;
			e->backoff_until = 0;
		}
		return;
	}
	if (e == NULL)
		return;
	e->last_fail = now;
	if (!may_backoff)
		return;
	e->failures++;
	backoff(n, e, now);
}

/* After a result for e: a sampled member (and nothing else) that keeps failing leaves
 * the sample for another random member; an entry nothing keeps is dropped. */
static void nb_settle(struct syncnode *n, struct neighbour *e)
{
	bool replace = e->flags == SYNCNODE_MEMBER && e->failures >= MEMBER_DEAD_FAILURES;

	if (replace)
		e->flags = 0;
	nb_maybe_remove(n, e);
	if (replace)
		sample_fill(n);
}

void syncnode_session_end(struct syncnode *n, const uint8_t key[REC_KEY_SIZE], bool inbound,
			  int result, uint64_t now)
{
	struct neighbour *e = nb_find(n, key);

	if (result == 0)
		n->sessions_ok++;
	else
		n->sessions_failed++;
	if (inbound) {
		if (n->sessions_in > 0)
			n->sessions_in--;
		/* A peer that failed to talk to us is not a reason to stop talking to it. */
		record_result(n, e, result, false, now);
		return;
	}
	if (e != NULL && e->in_session) {
		e->in_session = false;
		if (n->sessions_out > 0)
			n->sessions_out--;
	}
	record_result(n, e, result, true, now);
	if (e != NULL)
		nb_settle(n, e);
	if (result != 0 && n->ae_retries < AE_RETRIES) {
		n->ae_retries++;
		n->ae_retry = true;
	}
}

/* The pushes open to e ended with result: a failed one is made up with another neighbour
 * at the next step, while the record's retries last. */
static void pushes_ended(struct syncnode *n, const struct neighbour *e, int result)
{
	for (size_t i = 0; i < n->n_rumours; i++) {
		struct rumour *r = &n->rumours[i];

		for (size_t j = 0; j < r->n_to; j++) {
			if (r->to[j] != (e->serial | TARGET_OPEN))
				continue;
			r->to[j] = e->serial;
			r->n_open--;
			if (result == 0)
				continue;
			n->pushes_failed++;
			if (r->retries_left > 0) {
				r->retries_left--;
				r->make_up++;
				n->pushes_made_up++;
			}
		}
	}
}

void syncnode_push_end(struct syncnode *n, const uint8_t key[REC_KEY_SIZE], int result,
		       uint64_t now)
{
	struct neighbour *e = nb_find(n, key);

	if (e != NULL)
		pushes_ended(n, e, result);
	record_result(n, e, result, true, now);
	if (e != NULL)
		nb_settle(n, e);
}

void syncnode_not_tried(struct syncnode *n, const uint8_t key[REC_KEY_SIZE], bool push,
			uint64_t now)
{
	struct neighbour *e = nb_find(n, key);

	(void)now;
	if (e == NULL)
		return;
	if (push) {
		pushes_ended(n, e, -ENETUNREACH);
		return;
	}
	if (e->in_session) {
		e->in_session = false;
		if (n->sessions_out > 0)
			n->sessions_out--;
	}
	if (n->ae_retries < AE_RETRIES) {
		n->ae_retries++;
		n->ae_retry = true;
	}
}

void syncnode_status(const struct syncnode *n, struct syncnode_status *st)
{
	memset(st, 0, sizeof(*st));
	st->neighbours = n->n_nb;
	st->lan = count_flag(n, SYNCNODE_LAN);
	st->seeds = count_flag(n, SYNCNODE_SEED);
	st->members = count_flag(n, SYNCNODE_MEMBER);
	for (size_t i = 0; i < n->n_rumours; i++)
		st->pending += rumour_wants(&n->rumours[i]);
	st->sessions_out = n->sessions_out;
	st->sessions_in = n->sessions_in;
	st->last_ok = n->last_ok;
	st->next_ae = n->next_ae;
	st->pushes_sent = n->pushes_sent;
	st->pushes_dropped = n->pushes_dropped;
	st->pushes_failed = n->pushes_failed;
	st->pushes_made_up = n->pushes_made_up;
	st->sessions_ok = n->sessions_ok;
	st->sessions_failed = n->sessions_failed;
}

int syncnode_neighbour(const struct syncnode *n, size_t i, struct syncnode_neighbour_info *out)
{
	const struct neighbour *e;

	if (i >= n->n_nb)
		return -ENOENT;
	e = &n->nb[i];
	memcpy(out->key, e->key, REC_KEY_SIZE);
	out->flags = e->flags;
	out->last_ok = e->last_ok;
	out->last_fail = e->last_fail;
	out->failures = e->failures;
	out->backoff_until = e->backoff_until;
	out->in_session = e->in_session;
	return 0;
}
