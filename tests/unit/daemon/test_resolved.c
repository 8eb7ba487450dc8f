/*
 * test_resolved.c: the systemd-resolved registration's parts that need no resolved: the
 * routing domains (the same zones the resolver serves), and what it says without a bus.
 * Registering with a real systemd-resolved is tests/integration/test_resolved.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "daemon/resolved.h"
#include "meshname/record.h"

static void root_with(struct rec_root *root, const char *zone, const uint8_t v4[4], uint8_t v4_len)
{
	static const uint8_t v6[16] = { 0xfd, 0x4d, 0x6e, 0x00, 0x00, 0x01 };

	memset(root, 0, sizeof(*root));
	snprintf(root->zone, sizeof(root->zone), "%s", zone);
	memcpy(root->ipv4, v4, 4);
	root->ipv4_len = v4_len;
	memcpy(root->ipv6, v6, sizeof(v6));
}

static void domains_are_the_zone_and_both_reverse_zones(void **state)
{
	static const uint8_t v4[4] = { 198, 51, 100, 0 };
	struct resolved_link l = { 0 };
	struct rec_root root;

	(void)state;
	root_with(&root, "mesh", v4, 24);
	resolved_link_domains(&root, &l);
	assert_int_equal(l.n_domains, 3);
	assert_string_equal(l.domains[0], "mesh");
	assert_string_equal(l.domains[1], "100.51.198.in-addr.arpa");
	assert_string_equal(l.domains[2], "1.0.0.0.0.0.e.6.d.4.d.f.ip6.arpa");
}

static void an_ipv4_prefix_between_octets_routes_the_covering_octet_zone(void **state)
{
	static const uint8_t v4[4] = { 10, 77, 16, 0 };
	struct resolved_link l = { 0 };
	struct rec_root root;

	(void)state;
	root_with(&root, "corp.example", v4, 20);
	resolved_link_domains(&root, &l);
	assert_int_equal(l.n_domains, 3);
	assert_string_equal(l.domains[0], "corp.example");
	assert_string_equal(l.domains[1], "77.10.in-addr.arpa");
	root_with(&root, "mesh", v4, 8);
	resolved_link_domains(&root, &l);
	assert_string_equal(l.domains[1], "10.in-addr.arpa");
}

static void a_new_registration_has_not_connected_yet(void **state)
{
	struct event_base *base = event_base_new();
	struct resolved_status st;
	struct resolved *r = NULL;

	(void)state;
	assert_non_null(base);
	assert_int_equal(resolved_new(base, true, &r), 0);
	resolved_status(r, &st);
	assert_string_equal(st.mode, "yes");
	assert_string_equal(st.state, "no system bus");
	assert_int_equal(st.registrations, 0);
	resolved_free(r);
	resolved_new(base, false, &r);
	resolved_status(r, &st);
	assert_string_equal(st.mode, "auto");
	resolved_free(r);
	resolved_free(NULL);
	event_base_free(base);
}

/* DBUS_SYSTEM_BUS_ADDRESS is how sd-bus finds the system bus: a socket that is not there. */
static void without_a_system_bus_it_says_why_and_waits(void **state)
{
	struct event_base *base = event_base_new();
	struct resolved_link want = { .ifname = "lo", .n_servers = 0 };
	struct resolved_status st;
	struct resolved *r = NULL;

	(void)state;
	setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/meshname-test-bus", 1);
	assert_int_equal(resolved_new(base, false, &r), 0);
	resolved_sync(r, &want, 100);
	resolved_status(r, &st);
	assert_string_equal(st.state, "no system bus");
	assert_non_null(strstr(st.reason, "cannot connect to the system bus"));
	assert_int_equal(st.ifindex, 0);
	/* Not again before RESOLVED_RETRY_S, and no loop of its own meanwhile. */
	resolved_sync(r, &want, 100 + RESOLVED_RETRY_S - 1);
	assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 1);
	resolved_sync(r, &want, 100 + RESOLVED_RETRY_S);
	resolved_status(r, &st);
	assert_string_equal(st.state, "no system bus");
	resolved_free(r);
	unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(domains_are_the_zone_and_both_reverse_zones),
		cmocka_unit_test(an_ipv4_prefix_between_octets_routes_the_covering_octet_zone),
		cmocka_unit_test(a_new_registration_has_not_connected_yet),
		cmocka_unit_test(without_a_system_bus_it_says_why_and_waits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
