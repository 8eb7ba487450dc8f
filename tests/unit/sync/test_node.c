/*
 * test_node.c: the dissemination policy (src/sync/node.c) on a virtual clock: push
 * fan-out and pacing, anti-entropy timing, session bounds, back-off, the neighbour table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "meshname/syncnode.h"

static uint32_t test_rand(void *arg, uint32_t bound)
{
	uint64_t *s = arg;

	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s % bound);
}

static void key_of(unsigned i, uint8_t key[REC_KEY_SIZE])
{
	memset(key, 0, REC_KEY_SIZE);
	key[0] = (uint8_t)(i >> 8);
	key[1] = (uint8_t)i;
	key[31] = 0xaa;
}

static unsigned index_of(const uint8_t key[REC_KEY_SIZE])
{
	return (unsigned)key[0] << 8 | key[1];
}

struct fixture {
	uint64_t seed;
	struct syncnode_config c;
	struct syncnode *n;
	struct syncnode_action act[64];
	size_t count;
};

static void fixture_open(struct fixture *f, uint64_t now)
{
	uint8_t self[REC_KEY_SIZE];

	key_of(0, self);
	assert_int_equal(syncnode_new(&f->c, self, test_rand, &f->seed, now, &f->n), 0);
}

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->seed = 0x9e3779b97f4a7c15ULL;
	syncnode_config_default(&f->c);
}

static void add_lan(struct fixture *f, unsigned from, unsigned to, uint64_t now)
{
	uint8_t key[REC_KEY_SIZE];

	for (unsigned i = from; i <= to; i++) {
		key_of(i, key);
		assert_int_equal(syncnode_lan_seen(f->n, key, now), 0);
	}
}

static size_t step(struct fixture *f, uint64_t now)
{
	syncnode_step(f->n, now, f->act, 64, &f->count);
	return f->count;
}

static size_t count_kind(const struct fixture *f, enum syncnode_action_kind kind)
{
	size_t k = 0;

	for (size_t i = 0; i < f->count; i++)
		if (f->act[i].kind == kind)
			k++;
	return k;
}

static void new_record(uint8_t id[REC_ID_SIZE], uint8_t tag)
{
	memset(id, tag, REC_ID_SIZE);
}

static void config_checks_its_bounds(void **state)
{
	struct fixture f;
	uint8_t self[REC_KEY_SIZE];

	(void)state;
	fixture_init(&f);
	key_of(0, self);
	f.c.fanout = 0;
	assert_int_equal(syncnode_new(&f.c, self, test_rand, &f.seed, 0, &f.n), -EINVAL);
	assert_null(f.n);
	syncnode_config_default(&f.c);
	f.c.member_sample = 1000;
	assert_int_equal(syncnode_new(&f.c, self, test_rand, &f.seed, 0, &f.n), -EINVAL);
	syncnode_config_default(&f.c);
	f.c.push_waves = 0;
	assert_int_equal(syncnode_new(&f.c, self, test_rand, &f.seed, 0, &f.n), -EINVAL);
	f.c.push_waves = 2;
	f.c.fanout = SYNCNODE_MAX_PUSHES / 2 + 1;
	assert_int_equal(syncnode_new(&f.c, self, test_rand, &f.seed, 0, &f.n), -EINVAL);
	f.c.fanout = SYNCNODE_MAX_PUSHES / 2;
	assert_int_equal(syncnode_new(&f.c, self, test_rand, &f.seed, 0, &f.n), 0);
	syncnode_free(f.n);
	assert_int_equal(syncnode_new(NULL, self, NULL, NULL, 0, &f.n), -EINVAL);
	assert_int_equal(syncnode_new(NULL, self, test_rand, &f.seed, 0, &f.n), 0);
	assert_int_equal(syncnode_lan_seen(f.n, self, 0), -EINVAL);
	syncnode_free(f.n);
	syncnode_free(NULL);
}

static void new_record_goes_to_three_then_three_more_never_its_sender(void **state)
{
	struct fixture f;
	uint8_t id[REC_ID_SIZE], sender[REC_KEY_SIZE];

	(void)state;
	fixture_init(&f);
	f.c.ae_interval_ms = 1000000; /* keep anti-entropy out of the way */
	fixture_open(&f, 0);
	add_lan(&f, 1, 7, 0);
	key_of(1, sender);
	for (unsigned r = 0; r < 50; r++) {
		uint64_t now = 1000 * (r + 1);
		bool got[8] = { false };

		new_record(id, (uint8_t)r);
		assert_int_equal(syncnode_record_accepted(f.n, id, sender, now), 0);
		/* Wave one at once, wave two one pacing interval later: 3 + 3 distinct
		 * neighbours, which here are all 6 but the sender. */
		for (unsigned wave = 0; wave < 2; wave++) {
			assert_int_equal(step(&f, now + wave * f.c.push_pacing_ms), 3);
			assert_int_equal(count_kind(&f, SYNCNODE_PUSH), 3);
			for (size_t i = 0; i < 3; i++) {
				unsigned p = index_of(f.act[i].peer);

				assert_memory_equal(f.act[i].id, id, REC_ID_SIZE);
				assert_in_range(p, 2, 7);
				assert_false(got[p]);
				got[p] = true;
			}
			assert_int_equal(step(&f, now + wave * f.c.push_pacing_ms + 199), 0);
		}
		assert_int_equal(step(&f, now + 900), 0); /* then it loses interest */
		add_lan(&f, 1, 7, now);
	}
	syncnode_free(f.n);
}

static void one_wave_is_the_old_push_once(void **state)
{
	struct fixture f;
	uint8_t id[REC_ID_SIZE];
	struct syncnode_status st;

	(void)state;
	fixture_init(&f);
	f.c.ae_interval_ms = 1000000;
	f.c.push_waves = 1;
	fixture_open(&f, 0);
	add_lan(&f, 1, 9, 0);
	new_record(id, 1);
	syncnode_record_accepted(f.n, id, NULL, 100);
	assert_int_equal(step(&f, 100), 3);
	assert_int_equal(step(&f, 300), 0);
	syncnode_status(f.n, &st);
	assert_int_equal(st.pending, 0);
	syncnode_free(f.n);
}

static void few_neighbours_get_it_all_and_none_is_dropped_silently(void **state)
{
	struct fixture f;
	uint8_t id[REC_ID_SIZE], sender[REC_KEY_SIZE];
	struct syncnode_status st;

	(void)state;
	fixture_init(&f);
	f.c.ae_interval_ms = 1000000;
	fixture_open(&f, 0);
	add_lan(&f, 1, 2, 0);
	key_of(1, sender);
	new_record(id, 1);
	syncnode_record_accepted(f.n, id, sender, 10);
	assert_int_equal(step(&f, 10), 1);
	assert_int_equal(index_of(f.act[0].peer), 2);
	assert_int_equal(step(&f, 210), 0); /* no one left for the second wave */
	/* Our own record goes to both, the one that sent us the first included. */
	new_record(id, 2);
	syncnode_record_accepted(f.n, id, NULL, 500);
	assert_int_equal(step(&f, 500), 2);
	assert_int_equal(step(&f, 700), 0);
	syncnode_status(f.n, &st);
	assert_int_equal(st.pushes_sent, 3);
	assert_int_equal(st.pushes_dropped, 0);
	assert_int_equal(st.pending, 0);
	syncnode_free(f.n);
}

static void push_disabled_leaves_it_to_anti_entropy(void **state)
{
	struct fixture f;
	uint8_t id[REC_ID_SIZE];

	(void)state;
	fixture_init(&f);
	f.c.push = false;
	f.c.ae_interval_ms = 1000000;
	fixture_open(&f, 0);
	add_lan(&f, 1, 5, 0);
	new_record(id, 1);
	assert_int_equal(syncnode_record_accepted(f.n, id, NULL, 10), 0);
	assert_int_equal(step(&f, 10), 0);
	syncnode_free(f.n);
}

static void a_burst_of_records_is_paced_to_one_batch_per_interval(void **state)
{
	struct fixture f;
	uint8_t id[REC_ID_SIZE];
	struct syncnode_status st;

	(void)state;
	fixture_init(&f);
	f.c.ae_interval_ms = 1000000;
	fixture_open(&f, 0);
	add_lan(&f, 1, 9, 0);
	new_record(id, 1);
	syncnode_record_accepted(f.n, id, NULL, 1000);
	assert_int_equal(step(&f, 1000), 3); /* the first goes at once */
	new_record(id, 2);
	syncnode_record_accepted(f.n, id, NULL, 1010);
	new_record(id, 3);
	syncnode_record_accepted(f.n, id, NULL, 1020);
	assert_int_equal(step(&f, 1020), 0);
	syncnode_status(f.n, &st);
	assert_int_equal(st.pending, 3); /* 1's second wave, 2 and 3 */
	assert_int_equal(syncnode_next_wakeup(f.n), 1200);
	assert_int_equal(step(&f, 1199), 0);
	assert_int_equal(step(&f, 1200), 9);
	/* Room for one record only: the rest stays due, not delayed by another interval.
	 * Due at 1400: the second waves of 2 and 3, the first of 4 and 5. */
	new_record(id, 4);
	syncnode_record_accepted(f.n, id, NULL, 1300);
	new_record(id, 5);
	syncnode_record_accepted(f.n, id, NULL, 1300);
	syncnode_step(f.n, 1400, f.act, 4, &f.count);
	assert_int_equal(f.count, 3);
	assert_int_equal(syncnode_next_wakeup(f.n), 0);
	assert_int_equal(step(&f, 1401), 9);
	assert_int_equal(syncnode_next_wakeup(f.n), 1600);
	syncnode_free(f.n);
}

static void a_full_push_queue_counts_what_it_drops(void **state)
{
	struct fixture f;
	uint8_t id[REC_ID_SIZE];
	struct syncnode_status st;

	(void)state;
	fixture_init(&f);
	fixture_open(&f, 0);
	for (unsigned i = 0; i < SYNCNODE_MAX_PENDING; i++) {
		memset(id, 0, sizeof(id));
		memcpy(id, &i, sizeof(i));
		assert_int_equal(syncnode_record_accepted(f.n, id, NULL, 0), 0);
	}
	assert_int_equal(syncnode_record_accepted(f.n, id, NULL, 0), -ENOSPC);
	syncnode_status(f.n, &st);
	assert_int_equal(st.pending, SYNCNODE_MAX_PENDING);
	assert_int_equal(st.pushes_dropped, 1);
	syncnode_free(f.n);
}

static void anti_entropy_runs_once_a_period_with_jitter(void **state)
{
	struct fixture f;
	uint64_t last = 0, min_gap = UINT64_MAX, max_gap = 0;
	unsigned opens = 0;
	bool peers_seen[6] = { false };

	(void)state;
	fixture_init(&f);
	fixture_open(&f, 0);
	add_lan(&f, 1, 5, 0);
	for (uint64_t now = 0; now <= 3600000; now += 100) {
		if (now % 30000 == 0)
			add_lan(&f, 1, 5, now);
		step(&f, now);
		for (size_t i = 0; i < f.count; i++) {
			assert_int_equal(f.act[i].kind, SYNCNODE_OPEN_SESSION);
			peers_seen[index_of(f.act[i].peer)] = true;
			if (opens > 0) {
				uint64_t gap = now - last;

				min_gap = gap < min_gap ? gap : min_gap;
				max_gap = gap > max_gap ? gap : max_gap;
			}
			last = now;
			opens++;
			syncnode_session_end(f.n, f.act[i].peer, false, 0, now);
		}
	}
	/* One hour at 30 s +- 3 s: 120 sessions, give or take the jitter. */
	assert_in_range(opens, 110, 130);
	assert_in_range(min_gap, 27000, 28000);
	assert_in_range(max_gap, 32000, 33100);
	for (unsigned i = 1; i <= 5; i++)
		assert_true(peers_seen[i]);
	syncnode_free(f.n);
}

static void a_link_change_starts_anti_entropy_at_once(void **state)
{
	struct fixture f;
	struct syncnode_status st;

	(void)state;
	fixture_init(&f);
	fixture_open(&f, 0);
	add_lan(&f, 1, 5, 0);
	/* The first period starts at a random point: end whatever it opened early on. */
	for (uint64_t now = 0; now <= 5; now++) {
		step(&f, now);
		for (size_t i = 0; i < f.count; i++)
			syncnode_session_end(f.n, f.act[i].peer, false, 0, now);
	}
	assert_int_equal(step(&f, 6), 0);
	syncnode_link_changed(f.n, 10);
	assert_int_equal(syncnode_next_wakeup(f.n), 10);
	assert_int_equal(step(&f, 10), 1);
	assert_int_equal(f.act[0].kind, SYNCNODE_OPEN_SESSION);
	syncnode_status(f.n, &st);
	assert_int_equal(st.sessions_out, 1);
	assert_in_range(st.next_ae, 10 + 27000, 10 + 33000);
	syncnode_free(f.n);
}

static void outbound_and_inbound_sessions_are_bounded(void **state)
{
	struct fixture f;
	struct syncnode_status st;
	uint8_t key[REC_KEY_SIZE], open[3][REC_KEY_SIZE];
	unsigned n_open = 0;

	(void)state;
	fixture_init(&f);
	fixture_open(&f, 0);
	add_lan(&f, 1, 9, 0);
	for (uint64_t now = 1; now < 20; now++) {
		syncnode_link_changed(f.n, now);
		step(&f, now);
		for (size_t i = 0; i < f.count; i++)
			memcpy(open[n_open++], f.act[i].peer, REC_KEY_SIZE);
		assert_true(n_open <= 2);
	}
	assert_int_equal(n_open, 2);
	assert_memory_not_equal(open[0], open[1], REC_KEY_SIZE);
	syncnode_session_end(f.n, open[0], false, 0, 20);
	syncnode_link_changed(f.n, 21);
	assert_int_equal(step(&f, 21), 1);
	assert_memory_not_equal(f.act[0].peer, open[1], REC_KEY_SIZE);

	key_of(77, key);
	for (unsigned i = 0; i < f.c.max_inbound; i++)
		assert_int_equal(syncnode_inbound_open(f.n, key, 30), 0);
	assert_int_equal(syncnode_inbound_open(f.n, key, 30), -EBUSY);
	syncnode_session_end(f.n, key, true, -ECONNRESET, 31);
	assert_int_equal(syncnode_inbound_open(f.n, key, 32), 0);
	syncnode_status(f.n, &st);
	assert_int_equal(st.sessions_in, f.c.max_inbound);
	assert_int_equal(st.sessions_out, 2);
	syncnode_free(f.n);
}

static void a_failing_neighbour_is_backed_off_then_retried(void **state)
{
	struct fixture f;
	uint8_t bad[REC_KEY_SIZE], good[REC_KEY_SIZE], id[REC_ID_SIZE];
	struct syncnode_neighbour_info info;
	uint64_t first_wait, second_wait;

	(void)state;
	fixture_init(&f);
	f.c.fanout = 2;
	f.c.ae_interval_ms = 1000000;
	fixture_open(&f, 0);
	add_lan(&f, 1, 3, 0);
	key_of(1, bad);
	key_of(2, good);
	syncnode_push_end(f.n, bad, -ETIMEDOUT, 1000);
	for (size_t i = 0; syncnode_neighbour(f.n, i, &info) == 0; i++)
		if (memcmp(info.key, bad, REC_KEY_SIZE) == 0)
			break;
	assert_memory_equal(info.key, bad, REC_KEY_SIZE);
	assert_int_equal(info.failures, 1);
	first_wait = info.backoff_until - 1000;
	assert_in_range(first_wait, 3750, 6250);
	/* While it is backed off, pushes go to the two others only. */
	for (unsigned r = 0; r < 20; r++) {
		new_record(id, (uint8_t)r);
		syncnode_record_accepted(f.n, id, NULL, 1000 + 200 * r);
		assert_int_equal(step(&f, 1000 + 200 * r), 2);
		assert_memory_not_equal(f.act[0].peer, bad, REC_KEY_SIZE);
		assert_memory_not_equal(f.act[1].peer, bad, REC_KEY_SIZE);
	}
	/* A second failure waits about twice as long. */
	syncnode_push_end(f.n, bad, -ETIMEDOUT, 20000);
	for (size_t i = 0; syncnode_neighbour(f.n, i, &info) == 0; i++)
		if (memcmp(info.key, bad, REC_KEY_SIZE) == 0)
			break;
	second_wait = info.backoff_until - 20000;
	assert_int_equal(info.failures, 2);
	assert_in_range(second_wait, 7500, 12500);
	/* A success clears it, and is what status reports as the last sync. */
	syncnode_push_end(f.n, bad, 0, 21000);
	for (size_t i = 0; syncnode_neighbour(f.n, i, &info) == 0; i++)
		if (memcmp(info.key, bad, REC_KEY_SIZE) == 0)
			break;
	assert_int_equal(info.failures, 0);
	assert_int_equal(info.backoff_until, 0);
	assert_int_equal(info.last_ok, 21000);
	assert_int_equal(info.last_fail, 20000);
	syncnode_free(f.n);
}

static void backoff_is_capped(void **state)
{
	struct fixture f;
	uint8_t bad[REC_KEY_SIZE];
	struct syncnode_neighbour_info info;

	(void)state;
	fixture_init(&f);
	fixture_open(&f, 0);
	add_lan(&f, 1, 1, 0);
	key_of(1, bad);
	for (unsigned i = 0; i < 100; i++)
		syncnode_push_end(f.n, bad, -ECONNREFUSED, 1000);
	assert_int_equal(syncnode_neighbour(f.n, 0, &info), 0);
	assert_int_equal(info.failures, 100);
	assert_in_range(info.backoff_until - 1000, f.c.backoff_max_ms * 3 / 4,
			f.c.backoff_max_ms * 5 / 4);
	/* A link change lifts it. */
	syncnode_link_changed(f.n, 2000);
	assert_int_equal(step(&f, 2000), 1);
	assert_memory_equal(f.act[0].peer, bad, REC_KEY_SIZE);
	syncnode_free(f.n);
}

static bool has_key(const struct syncnode *n, const uint8_t key[REC_KEY_SIZE], unsigned flag)
{
	struct syncnode_neighbour_info info;

	for (size_t i = 0; syncnode_neighbour(n, i, &info) == 0; i++)
		if (memcmp(info.key, key, REC_KEY_SIZE) == 0)
			return (info.flags & flag) != 0;
	return false;
}

static void members_are_sampled_bounded_and_refreshed(void **state)
{
	struct fixture f;
	static uint8_t keys[1000][REC_KEY_SIZE];
	struct syncnode_status st;
	struct syncnode_neighbour_info info;
	uint8_t before[32][REC_KEY_SIZE];
	unsigned same = 0;

	(void)state;
	fixture_init(&f);
	fixture_open(&f, 0);
	for (unsigned i = 0; i < 1000; i++)
		key_of(i, keys[i]); /* keys[0] is self */
	assert_int_equal(syncnode_set_members(f.n, (const uint8_t(*)[REC_KEY_SIZE])keys, 1000, 0),
			 0);
	syncnode_status(f.n, &st);
	assert_int_equal(st.members, f.c.member_sample);
	assert_int_equal(st.neighbours, f.c.member_sample);
	for (size_t i = 0; i < f.c.member_sample; i++) {
		assert_int_equal(syncnode_neighbour(f.n, i, &info), 0);
		assert_int_not_equal(index_of(info.key), 0);
		memcpy(before[i], info.key, REC_KEY_SIZE);
	}
	/* Before the refresh the sample stays; after it, it is drawn again. */
	step(&f, f.c.member_refresh_ms - 1);
	for (size_t i = 0; i < f.c.member_sample; i++)
		assert_true(has_key(f.n, before[i], SYNCNODE_MEMBER));
	step(&f, f.c.member_refresh_ms);
	syncnode_status(f.n, &st);
	assert_int_equal(st.members, f.c.member_sample);
	for (size_t i = 0; i < f.c.member_sample; i++)
		same += has_key(f.n, before[i], SYNCNODE_MEMBER);
	assert_true(same < 3);
	syncnode_free(f.n);
}

static void members_that_leave_are_replaced(void **state)
{
	struct fixture f;
	static uint8_t keys[100][REC_KEY_SIZE];
	struct syncnode_neighbour_info info;
	struct syncnode_status st;
	uint8_t gone[REC_KEY_SIZE];
	size_t n_keys = 100;

	(void)state;
	fixture_init(&f);
	fixture_open(&f, 0);
	for (unsigned i = 0; i < 100; i++)
		key_of(i, keys[i]);
	syncnode_set_members(f.n, (const uint8_t(*)[REC_KEY_SIZE])keys, n_keys, 0);
	assert_int_equal(syncnode_neighbour(f.n, 3, &info), 0);
	memcpy(gone, info.key, REC_KEY_SIZE);
	for (size_t i = 0; i < n_keys; i++)
		if (memcmp(keys[i], gone, REC_KEY_SIZE) == 0) {
			memcpy(keys[i], keys[--n_keys], REC_KEY_SIZE);
			break;
		}
	syncnode_set_members(f.n, (const uint8_t(*)[REC_KEY_SIZE])keys, n_keys, 1000);
	assert_false(has_key(f.n, gone, SYNCNODE_MEMBER | SYNCNODE_LAN | SYNCNODE_SEED));
	syncnode_status(f.n, &st);
	assert_int_equal(st.members, f.c.member_sample);
	syncnode_free(f.n);
}

static void a_failed_session_is_retried_at_once_with_another_neighbour(void **state)
{
	struct fixture f;
	uint8_t first[REC_KEY_SIZE];
	unsigned retries = 0;

	(void)state;
	fixture_init(&f);
	fixture_open(&f, 0);
	add_lan(&f, 1, 9, 0);
	syncnode_link_changed(f.n, 100);
	assert_int_equal(step(&f, 100), 1);
	memcpy(first, f.act[0].peer, REC_KEY_SIZE);
	syncnode_session_end(f.n, first, false, -ETIMEDOUT, 5100);
	assert_int_equal(syncnode_next_wakeup(f.n), 0);
	assert_int_equal(step(&f, 5100), 1);
	assert_memory_not_equal(f.act[0].peer, first, REC_KEY_SIZE);
	/* Three retries a period, then the period's own timer. */
	for (uint64_t now = 5200; now < 6000; now += 100) {
		for (size_t i = 0; i < f.count; i++)
			syncnode_session_end(f.n, f.act[i].peer, false, -ETIMEDOUT, now);
		if (step(&f, now) == 1)
			retries++;
	}
	assert_int_equal(retries, 2);
	assert_true(syncnode_next_wakeup(f.n) > 6000);
	syncnode_free(f.n);
}

static void a_sampled_member_that_keeps_failing_is_swapped(void **state)
{
	struct fixture f;
	static uint8_t keys[200][REC_KEY_SIZE];
	struct syncnode_neighbour_info info;
	struct syncnode_status st;
	uint8_t dead[REC_KEY_SIZE], lan[REC_KEY_SIZE];

	(void)state;
	fixture_init(&f);
	fixture_open(&f, 0);
	for (unsigned i = 0; i < 200; i++)
		key_of(i, keys[i]);
	syncnode_set_members(f.n, (const uint8_t(*)[REC_KEY_SIZE])keys, 200, 0);
	assert_int_equal(syncnode_neighbour(f.n, 0, &info), 0);
	memcpy(dead, info.key, REC_KEY_SIZE);
	syncnode_push_end(f.n, dead, -EHOSTUNREACH, 10);
	assert_true(has_key(f.n, dead, SYNCNODE_MEMBER));
	syncnode_push_end(f.n, dead, -EHOSTUNREACH, 30);
	assert_false(has_key(f.n, dead, SYNCNODE_MEMBER));
	syncnode_status(f.n, &st);
	assert_int_equal(st.members, f.c.member_sample);
	/* A LAN peer that fails as often stays: its beacons say it is there. */
	key_of(250, lan);
	syncnode_lan_seen(f.n, lan, 30);
	for (unsigned i = 0; i < 5; i++)
		syncnode_push_end(f.n, lan, -EHOSTUNREACH, 40 + i);
	assert_true(has_key(f.n, lan, SYNCNODE_LAN));
	syncnode_free(f.n);
}

static void a_small_mesh_samples_everyone_but_self(void **state)
{
	struct fixture f;
	uint8_t keys[4][REC_KEY_SIZE];
	struct syncnode_status st;

	(void)state;
	fixture_init(&f);
	fixture_open(&f, 0);
	for (unsigned i = 0; i < 4; i++)
		key_of(i, keys[i]);
	syncnode_set_members(f.n, (const uint8_t(*)[REC_KEY_SIZE])keys, 4, 0);
	syncnode_status(f.n, &st);
	assert_int_equal(st.members, 3);
	syncnode_free(f.n);
}

static void lan_peers_expire_without_beacons_and_seeds_stay(void **state)
{
	struct fixture f;
	uint8_t seed[REC_KEY_SIZE];
	struct syncnode_status st;

	(void)state;
	fixture_init(&f);
	fixture_open(&f, 0);
	add_lan(&f, 1, 3, 0);
	key_of(9, seed);
	assert_int_equal(syncnode_set_seed(f.n, seed, true), 0);
	add_lan(&f, 1, 1, 60000); /* only peer 1 beacons again */
	step(&f, f.c.lan_ttl_ms);
	syncnode_status(f.n, &st);
	assert_int_equal(st.lan, 1);
	assert_int_equal(st.seeds, 1);
	assert_int_equal(st.neighbours, 2);
	assert_true(syncnode_next_wakeup(f.n) <= 60000 + f.c.lan_ttl_ms);
	assert_int_equal(syncnode_set_seed(f.n, seed, false), 0);
	syncnode_status(f.n, &st);
	assert_int_equal(st.neighbours, 1);
	syncnode_free(f.n);
}

static void a_neighbour_that_appears_late_is_synced_with_at_once(void **state)
{
	struct fixture f;

	(void)state;
	fixture_init(&f);
	fixture_open(&f, 0);
	syncnode_link_changed(f.n, 0);
	assert_int_equal(step(&f, 0), 0); /* no one yet */
	add_lan(&f, 1, 1, 5000);
	assert_int_equal(syncnode_next_wakeup(f.n), 0);
	assert_int_equal(step(&f, 5000), 1);
	assert_int_equal(f.act[0].kind, SYNCNODE_OPEN_SESSION);
	syncnode_free(f.n);
}

static void the_neighbour_table_is_bounded(void **state)
{
	struct fixture f;
	uint8_t key[REC_KEY_SIZE];

	(void)state;
	fixture_init(&f);
	fixture_open(&f, 0);
	add_lan(&f, 1, SYNCNODE_MAX_NEIGHBOURS, 0);
	key_of(SYNCNODE_MAX_NEIGHBOURS + 1, key);
	assert_int_equal(syncnode_lan_seen(f.n, key, 0), -ENOSPC);
	assert_int_equal(syncnode_set_seed(f.n, key, true), -ENOSPC);
	syncnode_free(f.n);
}

static void the_same_seed_gives_the_same_actions(void **state)
{
	struct syncnode_action a[2][400];
	size_t total[2] = { 0, 0 };

	(void)state;
	for (unsigned run = 0; run < 2; run++) {
		struct fixture f;
		uint8_t id[REC_ID_SIZE];

		fixture_init(&f);
		fixture_open(&f, 0);
		add_lan(&f, 1, 20, 0);
		for (uint64_t now = 0; now < 120000 && total[run] < 380; now += 100) {
			if (now % 1000 == 0) {
				new_record(id, (uint8_t)(now / 1000));
				syncnode_record_accepted(f.n, id, NULL, now);
			}
			if (now % 30000 == 0)
				add_lan(&f, 1, 20, now);
			step(&f, now);
			for (size_t i = 0; i < f.count && total[run] < 400; i++) {
				a[run][total[run]++] = f.act[i];
				if (f.act[i].kind == SYNCNODE_OPEN_SESSION)
					syncnode_session_end(f.n, f.act[i].peer, false, 0, now);
			}
		}
		syncnode_free(f.n);
	}
	assert_int_equal(total[0], total[1]);
	assert_true(total[0] > 300);
	assert_memory_equal(a[0], a[1], total[0] * sizeof(a[0][0]));
}

static void a_request_for_a_stranger_is_refused(void **state)
{
	struct fixture f;
	uint8_t key[REC_KEY_SIZE];

	(void)state;
	fixture_init(&f);
	fixture_open(&f, 0);
	add_lan(&f, 1, 3, 0);
	key_of(4, key);
	assert_int_equal(syncnode_request(f.n, key, 10), -ENOENT);
	key_of(0, key); /* self */
	assert_int_equal(syncnode_request(f.n, key, 10), -ENOENT);
	syncnode_free(f.n);
}

static void a_request_opens_a_session_with_exactly_that_neighbour_at_once(void **state)
{
	struct fixture f;
	uint8_t key[REC_KEY_SIZE];
	struct syncnode_status st;

	(void)state;
	fixture_init(&f);
	f.c.ae_interval_ms = 10000000; /* keep periodic anti-entropy out of the way */
	fixture_open(&f, 0);
	add_lan(&f, 1, 9, 0);
	assert_int_equal(step(&f, 1000), 0);
	key_of(7, key);
	assert_int_equal(syncnode_request(f.n, key, 1000), 0);
	assert_int_equal(syncnode_next_wakeup(f.n), 0);
	assert_int_equal(step(&f, 1000), 1);
	assert_int_equal(f.act[0].kind, SYNCNODE_OPEN_SESSION);
	assert_memory_equal(f.act[0].peer, key, REC_KEY_SIZE);
	/* Served once: it does not come again by itself. */
	syncnode_session_end(f.n, key, false, 0, 1100);
	assert_int_equal(step(&f, 7000), 0);
	assert_int_equal(syncnode_next_wakeup(f.n), f.c.lan_ttl_ms); /* only LAN expiry */
	/* The periodic schedule did not move. */
	syncnode_status(f.n, &st);
	assert_true(st.next_ae > 100000);
	syncnode_free(f.n);
}

static void a_request_while_a_session_is_open_is_ignored(void **state)
{
	struct fixture f;
	uint8_t key[REC_KEY_SIZE];

	(void)state;
	fixture_init(&f);
	f.c.ae_interval_ms = 10000000;
	fixture_open(&f, 0);
	add_lan(&f, 1, 3, 0);
	key_of(2, key);
	syncnode_request(f.n, key, 100);
	assert_int_equal(step(&f, 100), 1);
	assert_int_equal(syncnode_request(f.n, key, 200), 0);
	assert_int_equal(step(&f, 200), 0);
	syncnode_session_end(f.n, key, false, 0, 300);
	assert_int_equal(step(&f, 20000), 0);
	syncnode_free(f.n);
}

static void a_request_waits_for_the_interval_and_the_back_off(void **state)
{
	struct fixture f;
	uint8_t key[REC_KEY_SIZE];
	struct syncnode_neighbour_info info;
	uint64_t until;

	(void)state;
	fixture_init(&f);
	f.c.ae_interval_ms = 10000000;
	fixture_open(&f, 0);
	add_lan(&f, 1, 3, 0);
	key_of(3, key);
	/* A session that succeeded at 1000: the next may open 5 s after it opened. */
	syncnode_request(f.n, key, 1000);
	assert_int_equal(step(&f, 1000), 1);
	syncnode_session_end(f.n, key, false, 0, 1200);
	syncnode_request(f.n, key, 2000);
	assert_int_equal(syncnode_next_wakeup(f.n), 6000);
	assert_int_equal(step(&f, 5999), 0);
	assert_int_equal(step(&f, 6000), 1);
	assert_memory_equal(f.act[0].peer, key, REC_KEY_SIZE);
	/* It fails (a broken connection with sets that differ): asked again at once, it
	 * opens when its back-off ends, which here is later than the interval. */
	syncnode_session_end(f.n, key, false, -ECONNRESET, 6100);
	step(&f, 6100); /* the failure's own retry goes to another neighbour */
	for (size_t i = 0; i < f.count; i++) {
		assert_memory_not_equal(f.act[i].peer, key, REC_KEY_SIZE);
		syncnode_session_end(f.n, f.act[i].peer, false, 0, 6100);
	}
	assert_int_equal(syncnode_request(f.n, key, 6100), 0);
	for (size_t i = 0; syncnode_neighbour(f.n, i, &info) == 0; i++)
		if (memcmp(info.key, key, REC_KEY_SIZE) == 0)
			break;
	until = info.backoff_until;
	assert_true(until > 11000);
	assert_int_equal(syncnode_next_wakeup(f.n), until);
	assert_int_equal(step(&f, until - 1), 0);
	assert_int_equal(step(&f, until), 1);
	assert_memory_equal(f.act[0].peer, key, REC_KEY_SIZE);
	syncnode_free(f.n);
}

/* A partition: pushes to a neighbour fail again and again (its back-off grows to minutes);
 * then its beacon is heard with another set. The session opens at once, not when the
 * back-off would have ended; a stranger is refused; the failure count stays. */
static void a_neighbour_heard_again_is_synced_at_once_despite_its_back_off(void **state)
{
	struct fixture f;
	uint8_t key[REC_KEY_SIZE], id[REC_ID_SIZE] = { 0 };
	struct syncnode_neighbour_info info;
	uint64_t now = 1000;

	(void)state;
	fixture_init(&f);
	f.c.ae_interval_ms = 10000000;
	fixture_open(&f, 0);
	add_lan(&f, 1, 1, 0);
	key_of(1, key);
	for (unsigned i = 0; i < 6; i++, now += 1000) {
		syncnode_heard(f.n, key, now); /* lifted, yet failing again makes it longer */
		id[0] = (uint8_t)(i + 1);
		assert_int_equal(syncnode_record_accepted(f.n, id, NULL, now), 0);
		step(&f, now);
		for (size_t j = 0; j < f.count; j++)
			if (f.act[j].kind == SYNCNODE_PUSH)
				syncnode_push_end(f.n, f.act[j].peer, -ETIMEDOUT, now);
	}
	assert_int_equal(syncnode_neighbour(f.n, 0, &info), 0);
	assert_true(info.backoff_until > now + 60000); /* 6 failures: 160 s +- 25 % */
	assert_int_equal(syncnode_request(f.n, key, now), 0);
	assert_int_equal(step(&f, now), 0); /* only a request: it waits */
	assert_int_equal(syncnode_heard(f.n, key, now), 0);
	assert_int_equal(syncnode_request(f.n, key, now), 0);
	assert_int_equal(step(&f, now), 1);
	assert_int_equal(f.act[0].kind, SYNCNODE_OPEN_SESSION);
	assert_memory_equal(f.act[0].peer, key, REC_KEY_SIZE);
	/* It fails once more: backed off longer than the first failure's 5 s. */
	syncnode_session_end(f.n, key, false, -ETIMEDOUT, now + 100);
	assert_int_equal(syncnode_neighbour(f.n, 0, &info), 0);
	assert_true(info.backoff_until > now + 100 + 60000);
	key_of(5, key);
	assert_int_equal(syncnode_heard(f.n, key, now), -ENOENT);
	syncnode_free(f.n);
}

/* This host's mesh address is not up yet (transport A cannot start): the session slot is
 * freed, another neighbour is tried at once, a push is made up elsewhere, and nothing
 * counts against the neighbour (no back-off, no failure, never swapped). */
static void a_session_not_tried_for_a_local_reason_costs_the_neighbour_nothing(void **state)
{
	struct fixture f;
	uint8_t key[REC_KEY_SIZE], id[REC_ID_SIZE] = { 7 };
	struct syncnode_neighbour_info info;
	struct syncnode_status st;
	size_t opened;

	(void)state;
	fixture_init(&f);
	f.c.ae_interval_ms = 10000000;
	fixture_open(&f, 0);
	add_lan(&f, 1, 2, 0);
	key_of(1, key);
	syncnode_request(f.n, key, 1000);
	assert_int_equal(step(&f, 1000), 1);
	for (unsigned i = 0; i < 5; i++)
		syncnode_not_tried(f.n, key, false, 1000);
	syncnode_status(f.n, &st);
	assert_int_equal(st.sessions_failed, 0);
	/* Retried at once with a neighbour (at most 3 retries a period). */
	opened = step(&f, 1000);
	assert_int_equal(opened, 1);
	assert_int_equal(f.act[0].kind, SYNCNODE_OPEN_SESSION);
	syncnode_not_tried(f.n, f.act[0].peer, false, 1000);
	for (size_t i = 0; syncnode_neighbour(f.n, i, &info) == 0; i++) {
		assert_int_equal(info.backoff_until, 0);
		assert_int_equal(info.failures, 0);
	}
	/* A push not tried is to be made up elsewhere (here every neighbour had it). */
	assert_int_equal(syncnode_record_accepted(f.n, id, NULL, 2000), 0);
	step(&f, 2000);
	assert_true(f.count >= 1);
	assert_int_equal(f.act[0].kind, SYNCNODE_PUSH);
	memcpy(key, f.act[0].peer, REC_KEY_SIZE);
	for (size_t i = 0; i < f.count; i++)
		if (f.act[i].kind == SYNCNODE_PUSH && memcmp(f.act[i].peer, key, REC_KEY_SIZE) != 0)
			syncnode_push_end(f.n, f.act[i].peer, 0, 2000);
	syncnode_not_tried(f.n, key, true, 2000);
	step(&f, 2000);
	syncnode_status(f.n, &st);
	assert_int_equal(st.pushes_made_up, 1);
	for (size_t i = 0; syncnode_neighbour(f.n, i, &info) == 0; i++)
		assert_int_equal(info.backoff_until, 0);
	syncnode_free(f.n);
}

static void a_request_waits_for_a_free_session_slot(void **state)
{
	struct fixture f;
	uint8_t key[REC_KEY_SIZE], open[2][REC_KEY_SIZE];
	unsigned k = 0;

	(void)state;
	fixture_init(&f);
	f.c.ae_interval_ms = 10000000;
	fixture_open(&f, 0);
	add_lan(&f, 1, 9, 0);
	for (unsigned i = 1; i <= 9 && k < 2; i++) {
		key_of(i, key);
		syncnode_request(f.n, key, 10);
		step(&f, 10);
		for (size_t j = 0; j < f.count; j++)
			memcpy(open[k++], f.act[j].peer, REC_KEY_SIZE);
	}
	assert_int_equal(k, 2);
	key_of(9, key);
	syncnode_request(f.n, key, 20);
	assert_int_equal(step(&f, 20), 0);
	/* Both slots taken: sleep until a session ends, do not spin. */
	assert_int_equal(syncnode_next_wakeup(f.n), f.c.lan_ttl_ms);
	syncnode_session_end(f.n, open[0], false, 0, 500);
	assert_int_equal(syncnode_next_wakeup(f.n), 0);
	assert_int_equal(step(&f, 500), 1);
	assert_memory_equal(f.act[0].peer, key, REC_KEY_SIZE);
	syncnode_free(f.n);
}

/* Every peer beacons "my set differs" every 10 ms for a minute: no more than max_sessions
 * at once, and no peer synced with more than once per request_interval_ms. */
static void a_flood_of_requests_is_bounded(void **state)
{
	struct fixture f;
	uint8_t key[REC_KEY_SIZE];
	uint64_t last_open[10], end_at[10];
	unsigned opens = 0, open_now = 0;

	(void)state;
	fixture_init(&f);
	f.c.ae_interval_ms = 10000000;
	fixture_open(&f, 0);
	add_lan(&f, 1, 9, 0);
	for (unsigned i = 0; i < 10; i++) {
		last_open[i] = UINT64_MAX;
		end_at[i] = UINT64_MAX;
	}
	for (uint64_t now = 0; now < 60000; now += 10) {
		for (unsigned i = 1; i <= 9; i++) {
			key_of(i, key);
			if (end_at[i] <= now) {
				syncnode_session_end(f.n, key, false, 0, now);
				end_at[i] = UINT64_MAX;
				open_now--;
			}
			assert_int_equal(syncnode_request(f.n, key, now), 0);
		}
		step(&f, now);
		for (size_t j = 0; j < f.count; j++) {
			unsigned p = index_of(f.act[j].peer);

			assert_int_equal(f.act[j].kind, SYNCNODE_OPEN_SESSION);
			if (last_open[p] != UINT64_MAX)
				assert_true(now - last_open[p] >= f.c.request_interval_ms);
			last_open[p] = now;
			end_at[p] = now + 700; /* a session takes 700 ms */
			opens++;
			open_now++;
		}
		assert_true(open_now <= f.c.max_sessions);
	}
	/* 9 peers, one session each per 5 s: 108 in a minute at most, and the two slots
	 * (2 x 60 s / 700 ms = 171) leave room for all of them. */
	assert_in_range(opens, 100, 9 * 60000 / 5000);
	syncnode_free(f.n);
}

static bool acted_on(const struct fixture *f, unsigned peer)
{
	for (size_t i = 0; i < f->count; i++)
		if (index_of(f->act[i].peer) == peer)
			return true;
	return false;
}

static void a_failed_push_is_made_up_at_once_with_another_neighbour(void **state)
{
	struct fixture f;
	uint8_t id[REC_ID_SIZE];
	bool tried[13] = { false };
	unsigned first[3];
	struct syncnode_status st;

	(void)state;
	fixture_init(&f);
	f.c.ae_interval_ms = 10000000;
	fixture_open(&f, 0);
	add_lan(&f, 1, 12, 0);
	new_record(id, 1);
	syncnode_record_accepted(f.n, id, NULL, 100);
	assert_int_equal(step(&f, 100), 3);
	for (size_t i = 0; i < 3; i++) {
		first[i] = index_of(f.act[i].peer);
		tried[first[i]] = true;
	}
	/* One breaks, one gets through: the broken one is made up at once (not at the next
	 * slot), with a neighbour the record has not gone to. */
	syncnode_push_end(f.n, f.act[0].peer, -ECONNRESET, 150);
	syncnode_push_end(f.n, f.act[1].peer, 0, 150);
	assert_int_equal(syncnode_next_wakeup(f.n), 0);
	assert_int_equal(step(&f, 150), 1);
	assert_memory_equal(f.act[0].id, id, REC_ID_SIZE);
	assert_false(tried[index_of(f.act[0].peer)]);
	tried[index_of(f.act[0].peer)] = true;
	assert_int_equal(step(&f, 160), 0);
	/* The second wave, in the next slot, avoids all four. */
	assert_int_equal(syncnode_next_wakeup(f.n), 300);
	assert_int_equal(step(&f, 300), 3);
	for (size_t i = 0; i < 3; i++)
		assert_false(tried[index_of(f.act[i].peer)]);
	syncnode_status(f.n, &st);
	assert_int_equal(st.pushes_sent, 7);
	assert_int_equal(st.pushes_failed, 1);
	assert_int_equal(st.pushes_made_up, 1);
	/* The failed neighbour is backed off, so no other record goes to it either. */
	new_record(id, 2);
	syncnode_record_accepted(f.n, id, NULL, 500);
	for (uint64_t now = 500; now <= 1000; now += 100) {
		step(&f, now);
		assert_false(acted_on(&f, first[0]));
	}
	syncnode_free(f.n);
}

static void make_ups_are_bounded_when_every_push_fails(void **state)
{
	struct fixture f;
	uint8_t id[REC_ID_SIZE];
	struct syncnode_status st;
	unsigned pushes = 0;

	(void)state;
	fixture_init(&f);
	f.c.ae_interval_ms = 10000000;
	fixture_open(&f, 0);
	add_lan(&f, 1, 40, 0);
	new_record(id, 1);
	syncnode_record_accepted(f.n, id, NULL, 0);
	for (uint64_t now = 0; now < 10000; now += 10) {
		step(&f, now);
		for (size_t i = 0; i < f.count; i++) {
			assert_int_equal(f.act[i].kind, SYNCNODE_PUSH);
			syncnode_push_end(f.n, f.act[i].peer, -ECONNREFUSED, now);
			pushes++;
		}
	}
	/* Two waves of 3 and as many make-ups: 12 tries, then anti-entropy's turn. */
	assert_int_equal(pushes, 2 * 2 * f.c.fanout);
	syncnode_status(f.n, &st);
	assert_int_equal(st.pushes_failed, 12);
	assert_int_equal(st.pushes_made_up, 6);
	assert_int_equal(st.pending, 0);
	syncnode_free(f.n);
}

static void a_push_never_reported_frees_its_record_in_a_minute(void **state)
{
	struct fixture f;
	uint8_t id[REC_ID_SIZE];
	struct syncnode_status st;

	(void)state;
	fixture_init(&f);
	f.c.ae_interval_ms = 10000000;
	fixture_open(&f, 0);
	add_lan(&f, 1, 9, 0);
	for (unsigned i = 0; i < SYNCNODE_MAX_PENDING; i++) {
		memset(id, 0, sizeof(id));
		memcpy(id, &i, sizeof(i));
		assert_int_equal(syncnode_record_accepted(f.n, id, NULL, 0), 0);
	}
	for (uint64_t now = 0; now < 2000; now += 10)
		step(&f, now);
	syncnode_status(f.n, &st);
	assert_int_equal(st.pushes_sent, 6 * SYNCNODE_MAX_PENDING);
	assert_int_equal(st.pending, 0);
	/* Every push still open: the records keep their places (a failure would be made
	 * up), so a new one does not fit... */
	new_record(id, 0xee);
	assert_int_equal(syncnode_record_accepted(f.n, id, NULL, 2000), -ENOSPC);
	/* ...until the pushes are given up on. */
	step(&f, 60000 + 2000);
	assert_int_equal(syncnode_record_accepted(f.n, id, NULL, 62000), 0);
	syncnode_free(f.n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_checks_its_bounds),
		cmocka_unit_test(new_record_goes_to_three_then_three_more_never_its_sender),
		cmocka_unit_test(one_wave_is_the_old_push_once),
		cmocka_unit_test(few_neighbours_get_it_all_and_none_is_dropped_silently),
		cmocka_unit_test(push_disabled_leaves_it_to_anti_entropy),
		cmocka_unit_test(a_burst_of_records_is_paced_to_one_batch_per_interval),
		cmocka_unit_test(a_full_push_queue_counts_what_it_drops),
		cmocka_unit_test(anti_entropy_runs_once_a_period_with_jitter),
		cmocka_unit_test(a_link_change_starts_anti_entropy_at_once),
		cmocka_unit_test(outbound_and_inbound_sessions_are_bounded),
		cmocka_unit_test(a_failing_neighbour_is_backed_off_then_retried),
		cmocka_unit_test(backoff_is_capped),
		cmocka_unit_test(members_are_sampled_bounded_and_refreshed),
		cmocka_unit_test(members_that_leave_are_replaced),
		cmocka_unit_test(a_failed_session_is_retried_at_once_with_another_neighbour),
		cmocka_unit_test(a_sampled_member_that_keeps_failing_is_swapped),
		cmocka_unit_test(a_small_mesh_samples_everyone_but_self),
		cmocka_unit_test(lan_peers_expire_without_beacons_and_seeds_stay),
		cmocka_unit_test(a_neighbour_that_appears_late_is_synced_with_at_once),
		cmocka_unit_test(the_neighbour_table_is_bounded),
		cmocka_unit_test(the_same_seed_gives_the_same_actions),
		cmocka_unit_test(a_failed_push_is_made_up_at_once_with_another_neighbour),
		cmocka_unit_test(make_ups_are_bounded_when_every_push_fails),
		cmocka_unit_test(a_push_never_reported_frees_its_record_in_a_minute),
		cmocka_unit_test(a_request_for_a_stranger_is_refused),
		cmocka_unit_test(a_request_opens_a_session_with_exactly_that_neighbour_at_once),
		cmocka_unit_test(a_request_while_a_session_is_open_is_ignored),
		cmocka_unit_test(a_request_waits_for_the_interval_and_the_back_off),
		cmocka_unit_test(a_neighbour_heard_again_is_synced_at_once_despite_its_back_off),
		cmocka_unit_test(
			a_session_not_tried_for_a_local_reason_costs_the_neighbour_nothing),
		cmocka_unit_test(a_request_waits_for_a_free_session_slot),
		cmocka_unit_test(a_flood_of_requests_is_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
