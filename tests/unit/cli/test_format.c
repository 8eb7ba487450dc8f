/*
 * test_format.c: unit tests of the command line's pure output helpers (src/cli/format.c):
 * "12s ago" durations, byte counts in binary units, aligned tables as `meshname status`
 * prints its peers, and the summary line and STATE cells of its sync section. Nothing here opens a registry or talks to a daemon.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli.h"

#define NOW 1700000000

static const char *ago(int64_t then)
{
	static char buf[32];

	cli_fmt_ago(NOW, then, buf, sizeof(buf));
	return buf;
}

static const char *bytes(uint64_t n)
{
	static char buf[32];

	cli_fmt_bytes(n, buf, sizeof(buf));
	return buf;
}

static void no_handshake_is_never(void **state)
{
	(void)state;
	assert_string_equal(ago(0), "never");
	assert_string_equal(ago(-5), "never");
}

static void durations_use_the_two_largest_units(void **state)
{
	(void)state;
	assert_string_equal(ago(NOW), "0s ago");
	assert_string_equal(ago(NOW - 12), "12s ago");
	assert_string_equal(ago(NOW - 59), "59s ago");
	assert_string_equal(ago(NOW - 60), "1m0s ago");
	assert_string_equal(ago(NOW - 192), "3m12s ago");
	assert_string_equal(ago(NOW - 3599), "59m59s ago");
	assert_string_equal(ago(NOW - 3600), "1h0m ago");
	assert_string_equal(ago(NOW - 7500), "2h5m ago");
	assert_string_equal(ago(NOW - 86399), "23h59m ago");
	assert_string_equal(ago(NOW - 86400), "1d0h ago");
	assert_string_equal(ago(NOW - 3 * 86400 - 7200), "3d2h ago");
}

static void a_handshake_after_now_is_in_the_future(void **state)
{
	(void)state;
	assert_string_equal(ago(NOW + 3), "in the future");
}

static void a_short_buffer_is_truncated_not_overrun(void **state)
{
	char buf[4] = "xyz";

	(void)state;
	cli_fmt_ago(NOW, NOW - 192, buf, sizeof(buf));
	assert_string_equal(buf, "3m1");
	cli_fmt_bytes(1536, buf, sizeof(buf));
	assert_string_equal(buf, "1.5");
}

static void small_counts_are_plain_bytes(void **state)
{
	(void)state;
	assert_string_equal(bytes(0), "0 B");
	assert_string_equal(bytes(1), "1 B");
	assert_string_equal(bytes(1023), "1023 B");
}

static void larger_counts_have_one_decimal_in_binary_units(void **state)
{
	(void)state;
	assert_string_equal(bytes(1024), "1.0 KiB");
	assert_string_equal(bytes(1536), "1.5 KiB");
	assert_string_equal(bytes(1075), "1.0 KiB"); /* 1.0498 */
	assert_string_equal(bytes(1076), "1.1 KiB"); /* 1.0508: half up */
	assert_string_equal(bytes(2047), "2.0 KiB"); /* 1.999 */
	assert_string_equal(bytes(12u << 20), "12.0 MiB");
	assert_string_equal(bytes(3ull << 30 | 512ull << 20), "3.5 GiB");
	assert_string_equal(bytes(5ull << 40), "5.0 TiB");
	assert_string_equal(bytes(1ull << 50), "1.0 PiB");
}

static void rounding_up_to_1024_moves_to_the_next_unit(void **state)
{
	(void)state;
	assert_string_equal(bytes(1048535), "1.0 MiB"); /* 1023.96 KiB */
	assert_string_equal(bytes(1048064), "1023.5 KiB");
	assert_string_equal(bytes((1ull << 30) - 1), "1.0 GiB");
}

static void the_largest_count_is_in_exbibytes(void **state)
{
	(void)state;
	assert_string_equal(bytes(UINT64_MAX), "16.0 EiB");
	assert_string_equal(bytes(1ull << 60), "1.0 EiB");
}

/* Prints t into a string (caller frees). */
static char *table_text(const struct cli_table *t, const char *indent)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	cli_table_print(t, f, indent);
	assert_int_equal(fclose(f), 0);
	return text;
}

static void columns_are_as_wide_as_their_widest_cell(void **state)
{
	struct cli_table t;
	char *text;

	(void)state;
	assert_int_equal(cli_table_init(&t, 4, 1u << 2), 0);
	assert_int_equal(
		cli_table_add(&t, (const char *const[]){ "PEER", "ENDPOINT", "RX", "KIND" }), 0);
	assert_int_equal(cli_table_add(&t, (const char *const[]){ "laptop", "192.0.2.2:51820",
								  "1.5 KiB", "lan" }),
			 0);
	assert_int_equal(cli_table_add(&t, (const char *const[]){ "db", NULL, "0 B", "none" }), 0);
	text = table_text(&t, "  ");
	assert_string_equal(text, "  PEER    ENDPOINT              RX  KIND\n"
				  "  laptop  192.0.2.2:51820  1.5 KiB  lan\n"
				  "  db                           0 B  none\n");
	free(text);
	cli_table_clear(&t);
	assert_int_equal(t.n_rows, 0);
	assert_null(t.cells);
}

static void a_right_aligned_last_column_is_padded_on_the_left(void **state)
{
	struct cli_table t;
	char *text;

	(void)state;
	assert_int_equal(cli_table_init(&t, 2, 1u << 1), 0);
	assert_int_equal(cli_table_add(&t, (const char *const[]){ "a", "1 B" }), 0);
	assert_int_equal(cli_table_add(&t, (const char *const[]){ "bbb", "10.0 KiB" }), 0);
	text = table_text(&t, NULL);
	assert_string_equal(text, "a         1 B\n"
				  "bbb  10.0 KiB\n");
	free(text);
	cli_table_clear(&t);
}

static void many_rows_grow_the_table(void **state)
{
	struct cli_table t;
	char *text, name[16];
	size_t lines = 0;

	(void)state;
	assert_int_equal(cli_table_init(&t, 2, 0), 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "host%d", i);
		assert_int_equal(cli_table_add(&t, (const char *const[]){ name, "x" }), 0);
	}
	text = table_text(&t, NULL);
	for (const char *p = text; *p != '\0'; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 1000);
	/* Every line as wide as the widest name ("host999" is 7) plus two blanks. */
	assert_memory_equal(text, "host0    x\n", 11);
	free(text);
	cli_table_clear(&t);
}

static void an_empty_table_prints_nothing(void **state)
{
	struct cli_table t;
	char *text;

	(void)state;
	assert_int_equal(cli_table_init(&t, 3, 0), 0);
	text = table_text(&t, "  ");
	assert_string_equal(text, "");
	free(text);
	cli_table_clear(&t);
	cli_table_clear(&t); /* twice is harmless */
}

static void a_table_needs_one_to_sixteen_columns(void **state)
{
	struct cli_table t;

	(void)state;
	assert_int_equal(cli_table_init(&t, 0, 0), -EINVAL);
	assert_int_equal(cli_table_init(&t, CLI_TABLE_MAX_COLS + 1, 0), -EINVAL);
	assert_int_equal(cli_table_init(&t, CLI_TABLE_MAX_COLS, 0), 0);
	cli_table_clear(&t);
}

static const char *duration(uint64_t d)
{
	static char buf[32];

	cli_fmt_duration(d, buf, sizeof(buf));
	return buf;
}

static void a_span_has_the_units_of_ago_without_ago(void **state)
{
	(void)state;
	assert_string_equal(duration(0), "0s");
	assert_string_equal(duration(30), "30s");
	assert_string_equal(duration(90), "1m30s");
	assert_string_equal(duration(7500), "2h5m");
	assert_string_equal(duration(3 * 86400 + 7200), "3d2h");
	assert_string_equal(duration(UINT64_MAX), "213503982334601d7h");
}

static const char *sync_state(const struct cli_sync_peer *p)
{
	static char buf[48];

	cli_fmt_sync_state(NOW, p, buf, sizeof(buf));
	return buf;
}

static void a_neighbour_never_tried_is_new_and_a_synced_one_ok(void **state)
{
	struct cli_sync_peer p = { 0 };

	(void)state;
	assert_string_equal(sync_state(&p), "new");
	p.last_ok = NOW - 12;
	assert_string_equal(sync_state(&p), "ok");
	/* An old failure that a later success cleared (failures 0) is ok. */
	p.last_fail = NOW - 100;
	assert_string_equal(sync_state(&p), "ok");
}

static void failures_show_the_back_off_left_then_the_count(void **state)
{
	struct cli_sync_peer p = { .last_ok = NOW - 600, .last_fail = NOW - 5, .failures = 3 };

	(void)state;
	p.backoff_until = NOW + 30;
	assert_string_equal(sync_state(&p), "backed off 30s");
	p.backoff_until = NOW + 125;
	assert_string_equal(sync_state(&p), "backed off 2m5s");
	/* The back-off is over (or never was): still failing, ready to be tried again. */
	p.backoff_until = NOW;
	assert_string_equal(sync_state(&p), "failing 3");
	p.backoff_until = 0;
	assert_string_equal(sync_state(&p), "failing 3");
	/* A back-off with no failure (link change lifted none; the daemon's own pacing) is
	 * still a back-off. */
	p.failures = 0;
	p.backoff_until = NOW + 1;
	assert_string_equal(sync_state(&p), "backed off 1s");
}

static void a_ban_outranks_a_session_which_outranks_a_back_off(void **state)
{
	struct cli_sync_peer p = { .failures = 2, .backoff_until = NOW + 30, .in_session = true };

	(void)state;
	assert_string_equal(sync_state(&p), "syncing");
	p.banned = true;
	assert_string_equal(sync_state(&p), "banned");
	p.in_session = false;
	p.failures = 0;
	p.backoff_until = 0;
	p.last_ok = NOW;
	assert_string_equal(sync_state(&p), "banned");
}

static const char *summary(const struct cli_sync_summary *s)
{
	static char buf[256];

	cli_fmt_sync_summary(NOW, s, buf, sizeof(buf));
	return buf;
}

static void the_sync_summary_reads_as_one_sentence(void **state)
{
	struct cli_sync_summary s = { .port = 51821,
				      .neighbours = 4,
				      .last_ok = NOW - 12,
				      .pending = 0,
				      .parked = 3,
				      .have_parked = true,
				      .beacons = true };

	(void)state;
	assert_string_equal(summary(&s),
			    "port 51821, 4 neighbours, last sync 12s ago, 0 records pending "
			    "(3 parked)");
	/* Nothing parked, or not known: no parenthesis. Singular counts. */
	s.parked = 0;
	s.neighbours = 1;
	s.pending = 1;
	assert_string_equal(summary(&s),
			    "port 51821, 1 neighbour, last sync 12s ago, 1 record pending");
	s.parked = 5;
	s.have_parked = false;
	assert_string_equal(summary(&s),
			    "port 51821, 1 neighbour, last sync 12s ago, 1 record pending");
}

static void the_sync_summary_says_never_bans_and_beacons_off(void **state)
{
	struct cli_sync_summary s = { .port = 4000, .pending = 2, .banned = 2 };

	(void)state;
	assert_string_equal(summary(&s), "port 4000, 0 neighbours, last sync never, 2 records "
					 "pending, 2 banned, LAN beacons off");
	s.banned = 0;
	s.beacons = true;
	assert_string_equal(summary(&s),
			    "port 4000, 0 neighbours, last sync never, 2 records pending");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_handshake_is_never),
		cmocka_unit_test(durations_use_the_two_largest_units),
		cmocka_unit_test(a_handshake_after_now_is_in_the_future),
		cmocka_unit_test(a_short_buffer_is_truncated_not_overrun),
		cmocka_unit_test(small_counts_are_plain_bytes),
		cmocka_unit_test(larger_counts_have_one_decimal_in_binary_units),
		cmocka_unit_test(rounding_up_to_1024_moves_to_the_next_unit),
		cmocka_unit_test(the_largest_count_is_in_exbibytes),
		cmocka_unit_test(columns_are_as_wide_as_their_widest_cell),
		cmocka_unit_test(a_right_aligned_last_column_is_padded_on_the_left),
		cmocka_unit_test(many_rows_grow_the_table),
		cmocka_unit_test(an_empty_table_prints_nothing),
		cmocka_unit_test(a_table_needs_one_to_sixteen_columns),
		cmocka_unit_test(a_span_has_the_units_of_ago_without_ago),
		cmocka_unit_test(a_neighbour_never_tried_is_new_and_a_synced_one_ok),
		cmocka_unit_test(failures_show_the_back_off_left_then_the_count),
		cmocka_unit_test(a_ban_outranks_a_session_which_outranks_a_back_off),
		cmocka_unit_test(the_sync_summary_reads_as_one_sentence),
		cmocka_unit_test(the_sync_summary_says_never_bans_and_beacons_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
