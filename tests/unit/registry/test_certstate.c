/*
 * test_certstate.c: a host's certificate state (src/registry/certstate.c), the one rule
 * `meshname status`, meshnamed's status and meshnamed's log share; and when meshnamed's
 * log says it: at a change, daily while expiring or expired, never for a valid or missing
 * certificate at the first look.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "meshname/certstate.h"

#define NOW 1800000000u
#define DAY ((uint64_t)CERT_DAY)

static void the_state_follows_revocation_then_the_certificate_times(void **state)
{
	(void)state;
	assert_int_equal(cert_state_of(true, true, NOW + 100 * DAY, NOW), CERT_REVOKED);
	assert_int_equal(cert_state_of(true, false, 0, NOW), CERT_REVOKED);
	assert_int_equal(cert_state_of(false, false, 0, NOW), CERT_NONE);
	assert_int_equal(cert_state_of(false, true, NOW, NOW), CERT_EXPIRED);
	assert_int_equal(cert_state_of(false, true, NOW - 1, NOW), CERT_EXPIRED);
	assert_int_equal(cert_state_of(false, true, NOW + 1, NOW), CERT_EXPIRING);
	assert_int_equal(cert_state_of(false, true, NOW + CERT_WARN_DAYS * DAY - 1, NOW),
			 CERT_EXPIRING);
	assert_int_equal(cert_state_of(false, true, NOW + CERT_WARN_DAYS * DAY, NOW), CERT_VALID);
	assert_string_equal(cert_state_word(CERT_VALID), "valid");
	assert_string_equal(cert_state_word(CERT_EXPIRING), "expiring");
	assert_string_equal(cert_state_word(CERT_EXPIRED), "expired");
	assert_string_equal(cert_state_word(CERT_REVOKED), "revoked");
	assert_string_equal(cert_state_word(CERT_NONE), "none");
}

static void a_valid_or_missing_certificate_is_not_said_at_the_first_look(void **state)
{
	struct cert_watch a = { 0 }, b = { 0 };

	(void)state;
	assert_false(cert_watch_due(&a, CERT_VALID, NOW));
	assert_false(cert_watch_due(&a, CERT_VALID, NOW + 10 * DAY));
	assert_false(cert_watch_due(&b, CERT_NONE, NOW));     /* joining: sync brings it */
	assert_true(cert_watch_due(&b, CERT_VALID, NOW + 1)); /* then it came: said once */
	assert_false(cert_watch_due(&b, CERT_VALID, NOW + 2));
}

static void expiring_is_said_at_once_then_daily_until_renewed(void **state)
{
	struct cert_watch w = { 0 };

	(void)state;
	assert_false(cert_watch_due(&w, CERT_VALID, NOW));
	assert_true(cert_watch_due(&w, CERT_EXPIRING, NOW + 60));
	assert_false(cert_watch_due(&w, CERT_EXPIRING, NOW + 120));
	assert_false(cert_watch_due(&w, CERT_EXPIRING, NOW + 60 + DAY - 1));
	assert_true(cert_watch_due(&w, CERT_EXPIRING, NOW + 60 + DAY));
	assert_false(cert_watch_due(&w, CERT_EXPIRING, NOW + 120 + DAY));
	/* It lapses: said at once, not a day after the last warning. */
	assert_true(cert_watch_due(&w, CERT_EXPIRED, NOW + 180 + DAY));
	assert_false(cert_watch_due(&w, CERT_EXPIRED, NOW + 240 + DAY));
	assert_true(cert_watch_due(&w, CERT_EXPIRED, NOW + 180 + 2 * DAY));
	/* Renewed: said once, then quiet. */
	assert_true(cert_watch_due(&w, CERT_VALID, NOW + 3 * DAY));
	assert_false(cert_watch_due(&w, CERT_VALID, NOW + 5 * DAY));
}

static void a_daemon_that_starts_expired_or_revoked_says_so_at_once(void **state)
{
	struct cert_watch a = { 0 }, b = { 0 }, c = { 0 };

	(void)state;
	assert_true(cert_watch_due(&a, CERT_EXPIRED, NOW));
	assert_true(cert_watch_due(&b, CERT_EXPIRING, NOW));
	assert_true(cert_watch_due(&c, CERT_REVOKED, NOW));
	/* A revocation is final: said once, not daily. */
	assert_false(cert_watch_due(&c, CERT_REVOKED, NOW + 2 * DAY));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_state_follows_revocation_then_the_certificate_times),
		cmocka_unit_test(a_valid_or_missing_certificate_is_not_said_at_the_first_look),
		cmocka_unit_test(expiring_is_said_at_once_then_daily_until_renewed),
		cmocka_unit_test(a_daemon_that_starts_expired_or_revoked_says_so_at_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
