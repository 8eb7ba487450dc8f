/*
 * test_upstream.c: unit tests of upstream selection (src/resolver/upstream.c): RTT
 * smoothing, RTO clamping, back-off and probing, failover order. Time is a virtual
 * millisecond clock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/un.h>

#include <cmocka.h>

#include "resolver/upstream.h"

#define T0 5000000u /* ms */

static struct upstream_set set;

/* Adds 192.0.2.N:53 and returns its index. */
static int add_v4(struct upstream_set *s, unsigned n)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(53);
	sin.sin_addr.s_addr = htonl(0xc0000200u | n);
	return upstream_add(s, (struct sockaddr *)&sin, sizeof(sin));
}

/* A set of n upstreams with the default config. */
static void set_of(size_t n)
{
	size_t i;

	upstream_set_init(&set, NULL);
	for (i = 0; i < n; i++)
		assert_int_equal(add_v4(&set, (unsigned)i + 1), (int)i);
}

/* The first pick of a new query. */
static int pick(uint64_t now)
{
	uint16_t tried = 0;

	return upstream_pick(&set, &tried, now);
}

static void rtt_smoothing_follows_rfc_6298(void **state)
{
	(void)state;
	set_of(1);
	assert_int_equal(upstream_timeout(&set, 0), UPSTREAM_DEFAULT_INITIAL_RTO);

	/* First sample: SRTT = R, RTTVAR = R/2, RTO = 100 + 4 * 50. */
	upstream_success(&set, 0, 100, T0);
	assert_int_equal(set.u[0].srtt_us, 100000);
	assert_int_equal(set.u[0].rttvar_us, 50000);
	assert_int_equal(upstream_timeout(&set, 0), 300);

	/* RTTVAR = 3/4 50 + 1/4 |100 - 20| = 57.5; SRTT = 7/8 100 + 1/8 20 = 90. */
	upstream_success(&set, 0, 20, T0 + 1);
	assert_int_equal(set.u[0].rttvar_us, 57500);
	assert_int_equal(set.u[0].srtt_us, 90000);
	assert_int_equal(upstream_timeout(&set, 0), 320);

	/* Steady 20 ms answers bring it down to the floor. */
	for (int i = 0; i < 100; i++)
		upstream_success(&set, 0, 20, T0 + 2);
	assert_true(set.u[0].srtt_us >= 20000 && set.u[0].srtt_us < 21000);
	assert_int_equal(upstream_timeout(&set, 0), UPSTREAM_DEFAULT_RTO_MIN);
}

static void rto_is_clamped_to_its_bounds(void **state)
{
	(void)state;
	set_of(2);
	upstream_success(&set, 0, 0, T0); /* sub-millisecond */
	assert_int_equal(upstream_timeout(&set, 0), UPSTREAM_DEFAULT_RTO_MIN);
	upstream_success(&set, 1, 60000, T0); /* a minute */
	assert_int_equal(upstream_timeout(&set, 1), UPSTREAM_DEFAULT_RTO_MAX);
	/* Out of range indexes do not crash and get the longest timeout. */
	upstream_success(&set, 7, 10, T0);
	upstream_failure(&set, 7, T0);
	assert_int_equal(upstream_timeout(&set, 7), UPSTREAM_DEFAULT_RTO_MAX);
}

static void fastest_upstream_is_preferred(void **state)
{
	(void)state;
	set_of(3);
	/* Unmeasured: all at the initial RTO, so the configured order. */
	assert_int_equal(pick(T0), 0);
	upstream_success(&set, 0, 120, T0);
	upstream_success(&set, 1, 15, T0);
	upstream_success(&set, 2, 60, T0);
	assert_int_equal(pick(T0), 1);
	/* Upstream 1 slows down for good: 2 takes over. */
	for (int i = 0; i < 20; i++)
		upstream_success(&set, 1, 400, T0);
	assert_int_equal(pick(T0), 2);
}

static void failover_visits_each_upstream_at_most_once_per_query(void **state)
{
	uint16_t tried = 0;

	(void)state;
	set_of(3);
	upstream_success(&set, 0, 300, T0);
	upstream_success(&set, 1, 10, T0);
	upstream_success(&set, 2, 80, T0);
	assert_int_equal(upstream_pick(&set, &tried, T0), 1);
	upstream_failure(&set, 1, T0 + 50);
	assert_int_equal(upstream_pick(&set, &tried, T0 + 50), 2);
	upstream_failure(&set, 2, T0 + 300);
	assert_int_equal(upstream_pick(&set, &tried, T0 + 300), 0);
	assert_int_equal(tried, 0x7);
	assert_int_equal(upstream_pick(&set, &tried, T0 + 400), -ENOENT);
	assert_int_equal(tried, 0x7);

	/* A set with none has nothing to pick. */
	set_of(0);
	tried = 0;
	assert_int_equal(upstream_pick(&set, &tried, T0), -ENOENT);
}

static void single_timeout_doubles_the_rto_without_backing_off(void **state)
{
	(void)state;
	set_of(2);
	upstream_success(&set, 0, 10, T0); /* RTO 50 */
	upstream_success(&set, 1, 30, T0); /* RTO 90 */
	assert_int_equal(pick(T0), 0);
	upstream_failure(&set, 0, T0 + 50);
	assert_int_equal(upstream_timeout(&set, 0), 100);
	assert_false(upstream_backed_off(&set, 0, T0 + 50));
	assert_int_equal(pick(T0 + 50), 1);
	/* One answer and it is back. */
	upstream_success(&set, 0, 10, T0 + 60);
	assert_int_equal(set.u[0].failures, 0);
	assert_int_equal(pick(T0 + 60), 0);
}

static void timed_out_upstream_is_skipped_then_probed_again_later(void **state)
{
	uint16_t tried;

	(void)state;
	set_of(2);
	upstream_success(&set, 0, 10, T0);
	upstream_success(&set, 1, 40, T0);
	upstream_failure(&set, 0, T0);
	upstream_failure(&set, 0, T0 + 100); /* the second in a row: backed off for 1 s */
	assert_true(upstream_backed_off(&set, 0, T0 + 100));
	assert_int_equal(pick(T0 + 100), 1);
	assert_int_equal(pick(T0 + 1099), 1);

	/* The back-off is over: one query probes it although its RTO has grown... */
	assert_false(upstream_backed_off(&set, 0, T0 + 1100));
	assert_int_equal(pick(T0 + 1100), 0);
	/* ...while the others do not wait on it. */
	assert_int_equal(pick(T0 + 1101), 1);

	/* The probe times out too: skipped twice as long. */
	upstream_failure(&set, 0, T0 + 1300);
	assert_int_equal(pick(T0 + 1300 + 1999), 1);
	assert_int_equal(pick(T0 + 1300 + 2000), 0);

	/* This probe is answered: it is the fastest again. */
	upstream_success(&set, 0, 10, T0 + 3310);
	assert_false(upstream_backed_off(&set, 0, T0 + 3310));
	assert_int_equal(set.u[0].failures, 0);
	assert_int_equal(pick(T0 + 3311), 0);
	tried = 0;
	assert_int_equal(upstream_pick(&set, &tried, T0 + 3312), 0);
	assert_int_equal(upstream_pick(&set, &tried, T0 + 3312), 1);
}

static void probe_left_unanswered_is_retried_after_its_timeout(void **state)
{
	(void)state;
	set_of(2);
	upstream_success(&set, 1, 40, T0);
	upstream_failure(&set, 0, T0);
	upstream_failure(&set, 0, T0); /* backed off until T0 + 1000 */
	assert_int_equal(pick(T0 + 1000), 0);
	/* The caller never reported back: after the RTO another query may probe. */
	assert_int_equal(pick(T0 + 1000 + upstream_timeout(&set, 0) - 1), 1);
	assert_int_equal(pick(T0 + 1000 + upstream_timeout(&set, 0)), 0);
}

static void backoff_grows_exponentially_up_to_its_max(void **state)
{
	uint64_t now = T0, expected = UPSTREAM_DEFAULT_BACKOFF_BASE;
	int i;

	(void)state;
	set_of(1);
	upstream_failure(&set, 0, now);
	assert_false(upstream_backed_off(&set, 0, now));
	for (i = 0; i < 12; i++) {
		upstream_failure(&set, 0, now);
		assert_int_equal(set.u[0].backoff_until - now, expected);
		expected *= 2;
		if (expected > UPSTREAM_DEFAULT_BACKOFF_MAX)
			expected = UPSTREAM_DEFAULT_BACKOFF_MAX;
		now += 10;
	}
	assert_int_equal(set.u[0].backoff_until - (now - 10), UPSTREAM_DEFAULT_BACKOFF_MAX);
	assert_int_equal(upstream_timeout(&set, 0), UPSTREAM_DEFAULT_RTO_MAX);
	assert_int_equal(set.u[0].total_failures, 13);
}

static void when_all_are_backed_off_the_one_ending_first_is_picked(void **state)
{
	uint16_t tried = 0;

	(void)state;
	set_of(3);
	for (int k = 0; k < 2; k++) {
		upstream_failure(&set, 0, T0 + 30);
		upstream_failure(&set, 1, T0 + 10);
		upstream_failure(&set, 2, T0 + 20);
	}
	assert_int_equal(upstream_pick(&set, &tried, T0 + 100), 1);
	assert_int_equal(upstream_pick(&set, &tried, T0 + 100), 2);
	assert_int_equal(upstream_pick(&set, &tried, T0 + 100), 0);
	assert_int_equal(upstream_pick(&set, &tried, T0 + 100), -ENOENT);
}

static void add_refuses_duplicates_other_families_and_a_seventeenth(void **state)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_un sun;
	struct sockaddr_in sin;
	unsigned i;

	(void)state;
	set_of(0);
	for (i = 0; i < UPSTREAM_MAX; i++)
		assert_int_equal(add_v4(&set, i + 1), (int)i);
	assert_int_equal(add_v4(&set, 1), -EEXIST);
	assert_int_equal(add_v4(&set, 200), -ENOSPC);

	set_of(0);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(53);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::53", &sin6.sin6_addr), 1);
	assert_int_equal(upstream_add(&set, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	assert_int_equal(upstream_add(&set, (struct sockaddr *)&sin6, sizeof(sin6)), -EEXIST);
	sin6.sin6_port = htons(5353); /* another port is another upstream */
	assert_int_equal(upstream_add(&set, (struct sockaddr *)&sin6, sizeof(sin6)), 1);
	assert_int_equal(set.u[1].addr_len, sizeof(sin6));
	assert_int_equal(upstream_add(&set, (struct sockaddr *)&sin6, sizeof(sin6) - 1), -EINVAL);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	assert_int_equal(upstream_add(&set, (struct sockaddr *)&sin, 4), -EINVAL);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_int_equal(upstream_add(&set, (struct sockaddr *)&sun, sizeof(sun)), -EAFNOSUPPORT);
	assert_int_equal(set.n, 2);
}

static void custom_config_is_used(void **state)
{
	struct upstream_config cfg;

	(void)state;
	upstream_config_default(&cfg);
	cfg.rto_min = 10;
	cfg.backoff_after = 1;
	cfg.backoff_base = 300;
	upstream_set_init(&set, &cfg);
	assert_int_equal(add_v4(&set, 1), 0);
	upstream_success(&set, 0, 1, T0);
	assert_int_equal(upstream_timeout(&set, 0), 10);
	upstream_failure(&set, 0, T0);
	assert_true(upstream_backed_off(&set, 0, T0 + 299));
	assert_false(upstream_backed_off(&set, 0, T0 + 300));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rtt_smoothing_follows_rfc_6298),
		cmocka_unit_test(rto_is_clamped_to_its_bounds),
		cmocka_unit_test(fastest_upstream_is_preferred),
		cmocka_unit_test(failover_visits_each_upstream_at_most_once_per_query),
		cmocka_unit_test(single_timeout_doubles_the_rto_without_backing_off),
		cmocka_unit_test(timed_out_upstream_is_skipped_then_probed_again_later),
		cmocka_unit_test(probe_left_unanswered_is_retried_after_its_timeout),
		cmocka_unit_test(backoff_grows_exponentially_up_to_its_max),
		cmocka_unit_test(when_all_are_backed_off_the_one_ending_first_is_picked),
		cmocka_unit_test(add_refuses_duplicates_other_families_and_a_seventeenth),
		cmocka_unit_test(custom_config_is_used),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
