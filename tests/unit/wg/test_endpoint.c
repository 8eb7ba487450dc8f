/*
 * test_endpoint.c: unit tests of the per-peer endpoint choice (src/wg/endpoint.c) on a
 * virtual clock: ranking, on-link and IPv6 rules, trials kept by traffic or reverted with
 * back-off, dead paths, search when nothing works, roaming, idle peers, re-ranking, and the
 * time a better endpoint takes to be in use. A small model of the network and of WireGuard
 * stands in for the device.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "meshname/wgmanage.h"

#define T0 1700000000 /* the virtual clock starts here (unix seconds) */

static const struct rec_endpoint lan = { EP_LAN, 4, { 192, 168, 1, 20 }, 51820 };
static const struct rec_endpoint lan_off_link = { EP_LAN, 4, { 10, 1, 2, 3 }, 51820 };
static const struct rec_endpoint ipv6 = {
	EP_IPV6, 6, { 0x20, 0x01, 0x0d, 0xb8, 0, 2, [15] = 0x20 }, 51820
};
static const struct rec_endpoint public_a = { EP_PUBLIC, 4, { 203, 0, 113, 7 }, 51820 };
static const struct rec_endpoint public_b = { EP_PUBLIC, 4, { 203, 0, 113, 8 }, 51820 };
static const struct rec_endpoint reflexive = { EP_REFLEXIVE, 4, { 198, 51, 100, 9 }, 40000 };
/* Published as PUBLIC (a documentation address), but on the link of prefix_doc. */
static const struct rec_endpoint public_on_link = { EP_PUBLIC, 4, { 192, 0, 2, 20 }, 51820 };

/* This host: 192.168.1.10/24, and optionally a global IPv6 (2001:db8:1::10/64). */
static const struct wg_local_prefix prefix_lan = { AF_INET, 24, { 192, 168, 1, 10 } };
static const struct wg_local_prefix prefix_doc = { AF_INET, 24, { 192, 0, 2, 10 } };
static const struct wg_local_prefix prefix_v6 = { AF_INET6,
						  64,
						  { 0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 0x10 } };
static const struct wg_local_prefix prefix_ula = { AF_INET6, 64, { 0xfd, 0x12, [15] = 0x10 } };
static const struct wg_local_prefix prefix_linklocal = { AF_INET6, 64, { 0xfe, 0x80, [15] = 1 } };

/*
 * One peer seen through a model of WireGuard. While this host sends (sending), tx grows
 * every second; on a working device endpoint the peer answers from that same address, so
 * rx grows and the endpoint stays. A handshake completes only when there was none or the
 * session is 120 s old (rekey), never because the endpoint changed: WireGuard keeps its
 * session keys across an endpoint change. When peer_talks_from is set, the peer also sends
 * every second on its own from that address (if it works), and WireGuard moves the device
 * endpoint there (roaming), as it does for any authenticated packet.
 */
struct sim {
	struct wg_ep_state st;
	int64_t now;
	struct wg_local_net local;
	const struct rec_endpoint *cands;
	size_t n_cands;
	struct sockaddr_storage device_ep; /* AF_UNSPEC: none */
	int64_t last_handshake;
	uint64_t tx, rx;
	bool sending;
	const struct rec_endpoint *peer_talks_from;
	const struct rec_endpoint *working[4]; /* addresses that answer */
	size_t n_working;
	unsigned sets; /* how many times the engine asked for a set */
};

static void sockaddr_of(const struct rec_endpoint *ep, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ep->family == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, ep->addr, 4);
		sin->sin_port = htons(ep->port);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, ep->addr, 16);
		sin6->sin6_port = htons(ep->port);
	}
}

static bool is(const struct sockaddr_storage *ss, const struct rec_endpoint *ep)
{
	struct sockaddr_storage want;

	sockaddr_of(ep, &want);
	return wg_sockaddr_equal(ss, &want);
}

static void sim_init(struct sim *s, const struct wg_local_prefix *prefixes, size_t n_prefixes,
		     const struct rec_endpoint *cands, size_t n_cands)
{
	memset(s, 0, sizeof(*s));
	wg_ep_init(&s->st);
	s->now = T0;
	s->local.prefixes = prefixes;
	s->local.n = n_prefixes;
	s->cands = cands;
	s->n_cands = n_cands;
	s->sending = true;
}

static void sim_works(struct sim *s, const struct rec_endpoint *ep)
{
	s->working[s->n_working++] = ep;
}

static bool works(const struct sim *s, const struct sockaddr_storage *ss)
{
	size_t i;

	for (i = 0; i < s->n_working; i++) {
		if (is(ss, s->working[i]))
			return true;
	}
	return false;
}

static void sim_handshake_if_due(struct sim *s)
{
	if (s->last_handshake == 0 || s->now - s->last_handshake >= 120)
		s->last_handshake = s->now;
}

/* One engine step at the current time, applying what it asks for; returns whether it
 * asked for a set. */
static bool sim_update(struct sim *s)
{
	struct wg_ep_seen seen = { .last_handshake = s->last_handshake,
				   .tx_bytes = s->tx,
				   .rx_bytes = s->rx,
				   .endpoint = &s->device_ep };
	struct sockaddr_storage want;
	bool set = wg_ep_update(&s->st, s->cands, s->n_cands, &s->local, s->now, &seen, &want);

	if (set) {
		assert_true(want.ss_family == AF_INET || want.ss_family == AF_INET6);
		assert_false(wg_sockaddr_equal(&want, &s->device_ep));
		s->device_ep = want;
		s->sets++;
	} else if (s->device_ep.ss_family != AF_UNSPEC && want.ss_family != AF_UNSPEC) {
		/* Not setting means: what the device has is what is wanted. */
		assert_true(wg_sockaddr_equal(&want, &s->device_ep));
	}
	return set;
}

/* One second passes: the network acts, then the manager's tick runs. */
static void sim_tick(struct sim *s)
{
	s->now++;
	if (s->sending) {
		s->tx += 148;
		if (works(s, &s->device_ep)) {
			sim_handshake_if_due(s);
			s->rx += 148;
		}
	}
	if (s->peer_talks_from != NULL) {
		struct sockaddr_storage from;

		sockaddr_of(s->peer_talks_from, &from);
		if (works(s, &from)) {
			sim_handshake_if_due(s);
			s->rx += 148;
			s->device_ep = from;
		}
	}
	sim_update(s);
}

static void sim_run(struct sim *s, int seconds)
{
	int i;

	for (i = 0; i < seconds; i++)
		sim_tick(s);
}

/* Runs until the device uses ep (or limit seconds pass); returns the seconds it took. */
static int64_t sim_until_using(struct sim *s, const struct rec_endpoint *ep, int limit)
{
	int64_t start = s->now;
	int i;

	for (i = 0; i < limit && !is(&s->device_ep, ep); i++)
		sim_tick(s);
	return s->now - start;
}

/* ---- candidates and ranking ------------------------------------------------------- */

static void lan_is_preferred_when_on_link(void **state)
{
	const struct rec_endpoint cands[] = { public_a, reflexive, lan };
	struct sim s;

	(void)state;
	sim_init(&s, &prefix_lan, 1, cands, 3);
	assert_true(sim_update(&s));
	assert_true(is(&s.device_ep, &lan));
	assert_int_equal(wg_ep_kind(&s.st), EP_LAN);
	assert_string_equal(rec_ep_kind_name(wg_ep_kind(&s.st)), "lan");
}

static void lan_address_off_link_is_skipped(void **state)
{
	const struct rec_endpoint cands[] = { lan_off_link, reflexive, public_a };
	struct sim s;
	int i;

	(void)state;
	sim_init(&s, &prefix_lan, 1, cands, 3);
	sim_update(&s);
	assert_true(is(&s.device_ep, &public_a));
	/* Not even a search when nothing works goes there. */
	for (i = 0; i < 100; i++) {
		sim_tick(&s);
		assert_false(is(&s.device_ep, &lan_off_link));
	}
	assert_true(s.sets > 2); /* it did search */
}

static void ipv6_only_with_a_global_ipv6_of_our_own(void **state)
{
	const struct rec_endpoint cands[] = { public_a, ipv6 };
	const struct wg_local_prefix no_global[] = { prefix_lan, prefix_ula, prefix_linklocal };
	const struct wg_local_prefix global[] = { prefix_lan, prefix_v6 };
	struct sim s;

	(void)state;
	sim_init(&s, no_global, 3, cands, 2);
	sim_update(&s);
	assert_true(is(&s.device_ep, &public_a));
	assert_string_equal(rec_ep_kind_name(wg_ep_kind(&s.st)), "public");

	sim_init(&s, global, 2, cands, 2);
	sim_update(&s);
	assert_true(is(&s.device_ep, &ipv6));
	assert_string_equal(rec_ep_kind_name(wg_ep_kind(&s.st)), "ipv6");
}

static void an_on_link_candidate_ranks_as_lan_whatever_its_kind(void **state)
{
	struct rec_endpoint reflexive_on_link = public_on_link;
	const struct rec_endpoint cands[] = { ipv6, public_a, public_on_link };
	const struct rec_endpoint cands2[] = { public_a, reflexive_on_link };
	const struct wg_local_prefix local[] = { prefix_doc, prefix_v6 };
	struct sim s;

	(void)state;
	/* Published as PUBLIC, after two others; on our link it is the LAN path. */
	sim_init(&s, local, 2, cands, 3);
	sim_update(&s);
	assert_true(is(&s.device_ep, &public_on_link));
	assert_string_equal(rec_ep_kind_name(wg_ep_kind(&s.st)), "lan");
	/* The same address as an observation (REFLEXIVE) too. */
	reflexive_on_link.kind = EP_REFLEXIVE;
	sim_init(&s, local, 2, cands2, 2);
	sim_update(&s);
	assert_true(is(&s.device_ep, &reflexive_on_link));
	assert_string_equal(rec_ep_kind_name(wg_ep_kind(&s.st)), "lan");
	/* Off our link it keeps its published kind and rank. */
	sim_init(&s, &prefix_v6, 1, cands, 3);
	sim_update(&s);
	assert_true(is(&s.device_ep, &ipv6));
	sim_run(&s, WG_EP_TRIAL);
	assert_true(is(&s.device_ep, &public_a));
	sim_run(&s, WG_EP_TRIAL);
	assert_true(is(&s.device_ep, &public_on_link));
	assert_string_equal(rec_ep_kind_name(wg_ep_kind(&s.st)), "public");
}

static void search_visits_every_usable_candidate_in_rank_order_and_wraps(void **state)
{
	/* Listed worst first; public_b before public_a: that order holds within PUBLIC. */
	const struct rec_endpoint cands[] = {
		reflexive, public_b, public_a, ipv6, lan, lan_off_link
	};
	const struct wg_local_prefix local[] = { prefix_lan, prefix_v6 };
	const struct rec_endpoint *order[] = { &lan, &ipv6, &public_b, &public_a, &reflexive, &lan };
	const char *kinds[] = { "lan", "ipv6", "public", "public", "reflexive", "lan" };
	struct sim s;
	size_t i;

	(void)state;
	sim_init(&s, local, 2, cands, 6);
	sim_update(&s);
	for (i = 0; i < 6; i++) {
		assert_true(is(&s.device_ep, order[i]));
		assert_string_equal(rec_ep_kind_name(wg_ep_kind(&s.st)), kinds[i]);
		/* Each gets WG_EP_TRIAL seconds of sending, then the next. */
		sim_run(&s, WG_EP_TRIAL - 1);
		assert_true(is(&s.device_ep, order[i]));
		sim_tick(&s);
	}
}

static void an_address_listed_twice_counts_at_its_best_kind(void **state)
{
	struct rec_endpoint also_public = lan;
	const struct rec_endpoint cands[] = { public_a, also_public, lan };
	struct sim s;

	(void)state;
	also_public.kind = EP_PUBLIC;
	sim_init(&s, &prefix_lan, 1, cands, 3);
	sim_update(&s);
	assert_true(is(&s.device_ep, &lan));
	assert_int_equal(wg_ep_kind(&s.st), EP_LAN);
	/* Searching: the duplicate is not a third candidate. */
	sim_run(&s, WG_EP_TRIAL);
	assert_true(is(&s.device_ep, &public_a));
	sim_run(&s, WG_EP_TRIAL);
	assert_true(is(&s.device_ep, &lan));
}

static void unusable_records_give_no_endpoint_and_leave_the_device_alone(void **state)
{
	struct rec_endpoint zero_port = public_a, bad_kind = public_a, bad_family = public_a;
	struct rec_endpoint v4_as_ipv6 = public_a;
	const struct rec_endpoint *cands[] = { &zero_port, &bad_kind, &bad_family, &v4_as_ipv6 };
	struct rec_endpoint list[4];
	struct sockaddr_storage want, dev;
	struct wg_ep_state st;
	struct wg_local_net local = { 1, &prefix_v6 };
	struct wg_ep_seen seen = { .endpoint = &dev };
	size_t i;

	(void)state;
	zero_port.port = 0;
	bad_kind.kind = 9;
	bad_family.family = 5;
	v4_as_ipv6.kind = EP_IPV6;
	for (i = 0; i < 4; i++)
		list[i] = *cands[i];
	sockaddr_of(&public_b, &dev);
	wg_ep_init(&st);
	assert_false(wg_ep_update(&st, list, 4, &local, T0, &seen, &want));
	assert_int_equal(want.ss_family, AF_UNSPEC);
	assert_int_equal(st.phase, WG_EP_NONE);
	assert_string_equal(rec_ep_kind_name(wg_ep_kind(&st)), "none");
	/* No candidates at all and nothing seen. */
	assert_false(wg_ep_update(&st, NULL, 0, NULL, T0 + 1, NULL, &want));
	assert_int_equal(want.ss_family, AF_UNSPEC);
}

/* ---- trials ----------------------------------------------------------------------- */

static void time_from_a_better_endpoint_appearing_to_its_use_is_at_most_10_seconds(void **state)
{
	const struct rec_endpoint before[] = { public_a };
	const struct rec_endpoint after[] = { public_a, lan };
	struct sim s;
	int64_t appeared, took, handshake;

	(void)state;
	sim_init(&s, &prefix_lan, 1, before, 1);
	sim_works(&s, &public_a);
	sim_works(&s, &lan);
	sim_update(&s);
	sim_run(&s, 300);
	assert_true(is(&s.device_ep, &public_a));
	assert_int_equal(s.st.phase, WG_EP_STEADY);

	/* The peer publishes its LAN address. */
	s.cands = after;
	s.n_cands = 2;
	appeared = s.now;
	handshake = s.last_handshake;
	took = sim_until_using(&s, &lan, 60);
	assert_true(is(&s.device_ep, &lan));
	/* "In use" = kept: the peer's answers came from it. No handshake is needed (WireGuard
	 * makes none for an endpoint change), and none happened. */
	while (s.st.phase != WG_EP_STEADY && s.now - appeared < 60)
		sim_tick(&s);
	print_message("better endpoint tried after %lld s, kept after %lld s\n", (long long)took,
		      (long long)(s.now - appeared));
	assert_int_equal(s.st.phase, WG_EP_STEADY);
	assert_true(s.now - appeared <= 10);
	assert_true(is(&s.device_ep, &lan));
	assert_string_equal(rec_ep_kind_name(wg_ep_kind(&s.st)), "lan");
	assert_int_equal(s.last_handshake, handshake);
	assert_int_equal(s.st.cands[0].failures, 0);
	/* And kept for good while traffic flows. */
	s.sets = 0;
	sim_run(&s, 3600);
	assert_true(is(&s.device_ep, &lan));
	assert_int_equal(s.sets, 0);
}

static void a_trial_moved_back_by_a_packet_from_the_old_path_is_set_again_and_kept(void **state)
{
	const struct rec_endpoint before[] = { public_a };
	const struct rec_endpoint after[] = { public_a, lan };
	struct sim s;
	int i;

	(void)state;
	sim_init(&s, &prefix_lan, 1, before, 1);
	sim_works(&s, &public_a);
	sim_works(&s, &lan);
	sim_update(&s);
	sim_run(&s, 60);
	s.cands = after;
	s.n_cands = 2;
	assert_int_equal(sim_until_using(&s, &lan, 5), 1);
	/* A packet the peer sent before it saw ours over the LAN arrives over the public path:
	 * WireGuard moves the device back there. */
	sockaddr_of(&public_a, &s.device_ep);
	s.rx += 148;
	sim_tick(&s);
	assert_true(is(&s.device_ep, &lan)); /* held on the trial: set again */
	assert_int_equal(s.st.phase, WG_EP_TRYING);
	/* Then the peer answers over the LAN: kept, and neither path backed off. */
	for (i = 0; i < 5 && s.st.phase != WG_EP_STEADY; i++)
		sim_tick(&s);
	assert_int_equal(s.st.phase, WG_EP_STEADY);
	assert_true(is(&s.device_ep, &lan));
	assert_int_equal(s.st.cands[0].failures, 0);
	assert_int_equal(s.st.cands[1].failures, 0);
}

static void a_trial_the_peer_keeps_talking_around_is_reverted_though_rx_grows(void **state)
{
	const struct rec_endpoint before[] = { public_a };
	const struct rec_endpoint after[] = { public_a, lan };
	struct sim s;
	int64_t start;
	uint64_t rx;

	(void)state;
	sim_init(&s, &prefix_lan, 1, before, 1);
	sim_works(&s, &public_a); /* the LAN path is broken */
	sim_update(&s);
	sim_run(&s, 60);
	/* The peer keeps sending over the public path: every one of its packets moves the
	 * device back there, and rx grows all along. */
	s.peer_talks_from = &public_a;
	s.cands = after;
	s.n_cands = 2;
	start = s.now;
	rx = s.rx;
	while (s.st.phase != WG_EP_TRYING && s.now - start < 5)
		sim_tick(&s);
	assert_int_equal(s.st.phase, WG_EP_TRYING);
	assert_true(is(&s.st.in_use, &lan));
	while (s.st.phase == WG_EP_TRYING && s.now - start < 60)
		sim_tick(&s);
	/* Held (set again every second) for at most two trial times, then given up. */
	assert_true(s.now - start <= 2 * WG_EP_TRIAL + 1);
	assert_true(s.rx > rx);
	assert_int_equal(s.st.phase, WG_EP_STEADY);
	assert_true(is(&s.device_ep, &public_a));
	assert_string_equal(rec_ep_kind_name(wg_ep_kind(&s.st)), "public");
	assert_int_equal(s.st.cands[0].failures, 1);
	assert_true(s.st.cands[0].retry_after >= s.now + WG_EP_BACKOFF_MIN - 1);
	/* Nothing more is set during the back-off. */
	s.sets = 0;
	sim_run(&s, WG_EP_BACKOFF_MIN - 2);
	assert_int_equal(s.sets, 0);
}

static void a_better_candidate_that_brings_nothing_back_is_reverted_and_backed_off(void **state)
{
	const struct rec_endpoint cands[] = { public_a, lan };
	int64_t trials[5];
	size_t n_trials = 0;
	struct sim s;
	bool was_lan;
	int i;

	(void)state;
	sim_init(&s, &prefix_lan, 1, cands, 2);
	sim_works(&s, &public_a); /* the LAN address answers nothing (firewalled) */
	sim_update(&s);           /* the search starts at the best: LAN */
	assert_true(is(&s.device_ep, &lan));
	was_lan = true;
	for (i = 0; i < 600 && n_trials < 5; i++) {
		sim_tick(&s);
		if (is(&s.device_ep, &lan) && !was_lan)
			trials[n_trials++] = s.now;
		if (!is(&s.device_ep, &lan) && was_lan) {
			/* Given up after WG_EP_TRIAL seconds, for the endpoint that works. */
			assert_int_equal(s.now - (n_trials > 0 ? trials[n_trials - 1] : T0),
					 WG_EP_TRIAL);
			assert_true(is(&s.device_ep, &public_a));
			assert_string_equal(rec_ep_kind_name(wg_ep_kind(&s.st)), "public");
		}
		if (i == 11) {
			/* Public answered (after the LAN's first turn): steady, LAN backed off. */
			assert_int_equal(s.st.phase, WG_EP_STEADY);
			assert_true(is(&s.device_ep, &public_a));
		}
		was_lan = is(&s.device_ep, &lan);
	}
	assert_int_equal(n_trials, 4);
	/* Back-off after each failure: 30 s, 60 s, 120 s, 240 s. */
	assert_int_equal(trials[0] - T0, WG_EP_TRIAL + WG_EP_BACKOFF_MIN);
	assert_int_equal(trials[1] - trials[0], WG_EP_TRIAL + 2 * WG_EP_BACKOFF_MIN);
	assert_int_equal(trials[2] - trials[1], WG_EP_TRIAL + 4 * WG_EP_BACKOFF_MIN);
	assert_int_equal(trials[3] - trials[2], WG_EP_TRIAL + 8 * WG_EP_BACKOFF_MIN);
}

static void back_off_is_capped(void **state)
{
	const struct rec_endpoint cands[] = { public_a, lan };
	int64_t last = 0, gap = 0;
	struct sim s;
	bool was_lan = false;
	int i;

	(void)state;
	sim_init(&s, &prefix_lan, 1, cands, 2);
	sim_works(&s, &public_a);
	sim_update(&s);
	for (i = 0; i < 40000; i++) {
		sim_tick(&s);
		if (is(&s.device_ep, &lan) && !was_lan) {
			if (last != 0)
				gap = s.now - last;
			last = s.now;
		}
		was_lan = is(&s.device_ep, &lan);
	}
	assert_int_equal(gap, WG_EP_TRIAL + WG_EP_BACKOFF_MAX);
}

static void a_working_endpoint_is_kept_over_worse_ones(void **state)
{
	const struct rec_endpoint cands[] = { reflexive, public_a, lan };
	struct sim s;

	(void)state;
	sim_init(&s, &prefix_lan, 1, cands, 3);
	sim_works(&s, &lan);
	sim_works(&s, &public_a);
	sim_works(&s, &reflexive);
	sim_update(&s);
	sim_run(&s, 2);
	assert_int_equal(s.st.phase, WG_EP_STEADY);
	s.sets = 0;
	sim_run(&s, 7200);
	assert_true(is(&s.device_ep, &lan));
	assert_int_equal(s.sets, 0);
}

static void a_trial_success_resets_the_back_off(void **state)
{
	const struct rec_endpoint cands[] = { public_a, lan };
	struct sim s;

	(void)state;
	sim_init(&s, &prefix_lan, 1, cands, 2);
	sim_works(&s, &public_a);
	sim_update(&s);
	sim_run(&s, 200); /* LAN failed a few times */
	assert_true(s.st.cands[0].failures >= 2);
	/* The firewall opens: the next trial succeeds and the record is wiped. */
	sim_works(&s, &lan);
	assert_true(sim_until_using(&s, &lan, 1000) < 1000);
	sim_run(&s, 2);
	assert_int_equal(s.st.phase, WG_EP_STEADY);
	assert_int_equal(s.st.cands[0].failures, 0);
	assert_int_equal(s.st.cands[0].retry_after, 0);
}

/* ---- nothing works, idle peers, roaming ------------------------------------------- */

static void when_nothing_works_every_candidate_is_tried_in_turn(void **state)
{
	const struct rec_endpoint cands[] = { reflexive, public_a, lan };
	struct sim s;
	int64_t broke;

	(void)state;
	sim_init(&s, &prefix_lan, 1, cands, 3);
	sim_works(&s, &lan);
	sim_update(&s);
	sim_run(&s, 30);
	assert_true(is(&s.device_ep, &lan));
	/* The LAN path dies (the laptop left); the reflexive one works from now on. */
	s.n_working = 0;
	sim_works(&s, &reflexive);
	broke = s.now;
	sim_until_using(&s, &public_a, 1000);
	/* Given up after WG_EP_DEAD seconds of sending with nothing back, although the last
	 * handshake is still fresh. */
	assert_int_equal(s.now - broke, WG_EP_DEAD);
	assert_true(s.now - s.last_handshake < WG_EP_FRESH);
	assert_string_equal(rec_ep_kind_name(wg_ep_kind(&s.st)), "public");
	assert_int_equal(s.st.phase, WG_EP_SEARCH);
	/* public_a does not answer either: WG_EP_TRIAL seconds later, the reflexive one. */
	assert_int_equal(sim_until_using(&s, &reflexive, 100), WG_EP_TRIAL);
	sim_run(&s, 2);
	assert_int_equal(s.st.phase, WG_EP_STEADY);
	assert_string_equal(rec_ep_kind_name(wg_ep_kind(&s.st)), "reflexive");
	/* It works, and what the search just saw fail is not tried again at once... */
	s.sets = 0;
	sim_run(&s, WG_EP_BACKOFF_MIN - WG_EP_TRIAL - 3);
	assert_int_equal(s.sets, 0);
	/* ...but after its back-off the better LAN gets a trial, fails it, and the working
	 * reflexive endpoint comes back. */
	assert_true(sim_until_using(&s, &lan, 20) < 20);
	assert_int_equal(s.st.phase, WG_EP_TRYING);
	assert_int_equal(sim_until_using(&s, &reflexive, 20), WG_EP_TRIAL);
	assert_int_equal(s.st.phase, WG_EP_STEADY);
}

static void a_path_carrying_only_keepalives_stays(void **state)
{
	const struct rec_endpoint cands[] = { public_a, reflexive };
	struct sim s;
	int i;

	(void)state;
	sim_init(&s, NULL, 0, cands, 2);
	sim_works(&s, &public_a);
	sim_update(&s);
	sim_run(&s, 5);
	assert_int_equal(s.st.phase, WG_EP_STEADY);
	/* A NAT pair with nothing to say: each side's keepalive every 25 s, the peer's 24 s
	 * after ours (the worst case), a handshake every 2 minutes. */
	s.sending = false;
	s.sets = 0;
	for (i = 0; i < 3600; i++) {
		s.now++;
		if (i % WG_KEEPALIVE_NAT == 0)
			s.tx += 32;
		if (i % WG_KEEPALIVE_NAT == WG_KEEPALIVE_NAT - 1)
			s.rx += 32;
		if (i % 120 == 0)
			s.last_handshake = s.now;
		sim_update(&s);
	}
	assert_int_equal(s.sets, 0);
	assert_true(is(&s.device_ep, &public_a));
	/* The peer's keepalives stop: WG_EP_DEAD seconds after our next one, the search. */
	for (i = 0; i < WG_EP_DEAD + WG_KEEPALIVE_NAT && s.sets == 0; i++) {
		s.now++;
		if (i % WG_KEEPALIVE_NAT == 0)
			s.tx += 32;
		sim_update(&s);
	}
	assert_int_equal(s.sets, 1);
	assert_true(is(&s.device_ep, &reflexive));
	assert_int_equal(s.st.phase, WG_EP_SEARCH);
}

static void an_idle_peer_gets_a_better_candidate_at_once_and_traffic_judges_it(void **state)
{
	const struct rec_endpoint before[] = { public_a };
	const struct rec_endpoint after[] = { public_a, lan };
	struct sim s;
	int pass;

	(void)state;
	for (pass = 0; pass < 2; pass++) {
		bool lan_works = pass == 0;
		int64_t start;

		sim_init(&s, &prefix_lan, 1, before, 1);
		sim_works(&s, &public_a);
		if (lan_works)
			sim_works(&s, &lan);
		sim_update(&s);
		sim_run(&s, 10);
		assert_int_equal(s.st.phase, WG_EP_STEADY);
		/* Idle; then the peer publishes its LAN address: set at the next step, as a
		 * trial with nothing to judge it yet. */
		s.sending = false;
		sim_run(&s, 1000);
		s.cands = after;
		s.n_cands = 2;
		s.sets = 0;
		sim_tick(&s);
		assert_int_equal(s.sets, 1);
		assert_true(is(&s.device_ep, &lan));
		assert_int_equal(s.st.phase, WG_EP_TRYING);
		/* A silent day decides nothing: no revert, no back-off. */
		sim_run(&s, 86400);
		assert_int_equal(s.sets, 1);
		assert_int_equal(s.st.phase, WG_EP_TRYING);
		assert_int_equal(s.st.cands[0].failures, 0);
		/* Traffic: a working LAN is kept at once, a broken one reverted after
		 * WG_EP_TRIAL seconds of sending. */
		s.sending = true;
		start = s.now;
		while (s.st.phase == WG_EP_TRYING && s.now - start < 60)
			sim_tick(&s);
		assert_int_equal(s.st.phase, WG_EP_STEADY);
		if (lan_works) {
			assert_true(s.now - start <= 2);
			assert_true(is(&s.device_ep, &lan));
			assert_int_equal(s.st.cands[0].failures, 0);
		} else {
			assert_int_equal(s.now - start, WG_EP_TRIAL);
			assert_true(is(&s.device_ep, &public_a));
			assert_int_equal(s.st.cands[0].failures, 1);
		}
	}
}

static void an_idle_peer_keeps_its_endpoint_however_old_its_handshake(void **state)
{
	const struct rec_endpoint cands[] = { public_a, lan };
	struct sim s;

	(void)state;
	sim_init(&s, &prefix_lan, 1, cands, 2);
	sim_works(&s, &lan);
	sim_update(&s);
	sim_run(&s, 5);
	assert_int_equal(s.st.phase, WG_EP_STEADY);
	/* No traffic for a day: no handshakes, and that proves nothing about the path. */
	s.sending = false;
	s.sets = 0;
	sim_run(&s, 86400);
	assert_int_equal(s.sets, 0);
	assert_true(is(&s.device_ep, &lan));
	/* Traffic again: the path works, a handshake follows, nothing moves. */
	s.sending = true;
	sim_run(&s, 600);
	assert_true(s.last_handshake > T0 + 86400);
	assert_int_equal(s.sets, 0);

	/* An idle new peer's first (best) candidate is not abandoned either. */
	sim_init(&s, &prefix_lan, 1, cands, 2);
	s.sending = false;
	sim_update(&s);
	sim_run(&s, 3600);
	assert_true(is(&s.device_ep, &lan));
	assert_int_equal(s.sets, 1);
}

static void a_roamed_peer_with_fresh_handshakes_is_left_alone(void **state)
{
	const struct rec_endpoint cands[] = { public_a, lan };
	struct sockaddr_in *sin;
	struct sim s;

	(void)state;
	sim_init(&s, &prefix_lan, 1, cands, 2);
	sim_works(&s, &lan);
	sim_update(&s);
	sim_run(&s, 30);
	assert_true(is(&s.device_ep, &lan));

	/* The laptop went to a café: it reached us from 198.51.100.77:3333 and WireGuard
	 * followed it. */
	sin = (struct sockaddr_in *)&s.device_ep;
	sin->sin_addr.s_addr = htonl(0xc633644du);
	sin->sin_port = htons(3333);
	s.last_handshake = s.now;
	s.now++;
	assert_false(sim_update(&s));
	assert_string_equal(rec_ep_kind_name(wg_ep_kind(&s.st)), "reflexive");
	/* Not set back, and the LAN it left is not tried again at once. */
	for (int i = 0; i < WG_EP_BACKOFF_MIN - 1; i++) {
		s.now++;
		assert_false(sim_update(&s));
	}
}

static void a_roamed_address_of_a_known_host_keeps_its_kind(void **state)
{
	const struct rec_endpoint cands[] = { public_a };
	struct sockaddr_in *sin;
	struct sim s;

	(void)state;
	sim_init(&s, &prefix_lan, 1, cands, 1);
	sim_works(&s, &public_a);
	sim_update(&s);
	sim_run(&s, 5);
	/* Its NAT maps the port anew: same address, another port. */
	sin = (struct sockaddr_in *)&s.device_ep;
	sin->sin_port = htons(61000);
	s.last_handshake = ++s.now;
	s.now++;
	assert_false(sim_update(&s));
	assert_string_equal(rec_ep_kind_name(wg_ep_kind(&s.st)), "public");
}

static void a_device_endpoint_changed_on_a_stale_session_is_set_back(void **state)
{
	const struct rec_endpoint cands[] = { public_a, lan };
	struct sim s;

	(void)state;
	sim_init(&s, &prefix_lan, 1, cands, 2);
	sim_works(&s, &lan);
	sim_update(&s);
	sim_run(&s, 30);
	/* Idle for long, then someone runs `wg set ... endpoint` by hand: nothing came from
	 * there, so it is no roaming. */
	s.sending = false;
	sim_run(&s, WG_EP_FRESH);
	sockaddr_of(&public_a, &s.device_ep);
	s.now++;
	assert_true(sim_update(&s));
	assert_true(is(&s.device_ep, &lan));
}

/* One update with the device as the sim has it, without applying the answer (a set the
 * reconcile cap deferred); traffic goes on over the device's endpoint. */
static bool deferred_update(struct sim *s, struct sockaddr_storage *want)
{
	struct wg_ep_seen seen;
	bool set;

	s->now++;
	s->tx += 148;
	s->rx += 148;
	seen = (struct wg_ep_seen){ .last_handshake = s->last_handshake,
				    .tx_bytes = s->tx,
				    .rx_bytes = s->rx,
				    .endpoint = &s->device_ep };
	set = wg_ep_update(&s->st, s->cands, s->n_cands, &s->local, s->now, &seen, want);
	if (set)
		s->sets++;
	return set;
}

static void a_set_not_yet_on_the_device_is_asked_again_not_taken_for_roaming(void **state)
{
	const struct rec_endpoint before[] = { public_a };
	const struct rec_endpoint after[] = { public_a, lan };
	struct sockaddr_storage want;
	struct sim s;
	int i;

	(void)state;
	sim_init(&s, &prefix_lan, 1, before, 1);
	sim_works(&s, &public_a);
	sim_works(&s, &lan);
	sim_update(&s);
	sim_run(&s, 30);
	s.cands = after;
	s.n_cands = 2;
	/* The reconcile cap defers the set for a whole trial time: the device keeps public_a,
	 * whose session is fresh and which carries the traffic. */
	for (i = 0; i < WG_EP_TRIAL; i++) {
		assert_true(deferred_update(&s, &want));
		assert_true(is(&want, &lan));
		assert_int_equal(s.st.phase, WG_EP_TRYING);
	}
	assert_int_equal(s.st.cands[0].failures, 0);
	/* Applied at last: the trial runs from then on, and succeeds. */
	s.device_ep = want;
	sim_run(&s, 2);
	assert_int_equal(s.st.phase, WG_EP_STEADY);
	assert_true(is(&s.device_ep, &lan));
	assert_int_equal(s.st.cands[0].failures, 0);

	/* A set that never shows (or that the peer's packets always undo before a get sees
	 * it) is not waited for forever: one more trial time, then reverted and backed off. */
	sim_init(&s, &prefix_lan, 1, before, 1);
	sim_works(&s, &public_a);
	sim_works(&s, &lan);
	sim_update(&s);
	sim_run(&s, 30);
	s.cands = after;
	s.n_cands = 2;
	assert_true(deferred_update(&s, &want));
	assert_int_equal(s.st.phase, WG_EP_TRYING);
	for (i = 1; i < 3 * WG_EP_TRIAL && s.st.phase == WG_EP_TRYING; i++)
		deferred_update(&s, &want);
	assert_int_equal(s.st.phase, WG_EP_STEADY);
	assert_true(i <= 2 * WG_EP_TRIAL);
	assert_true(is(&want, &public_a));
	assert_int_equal(s.st.cands[0].failures, 1);
}

static void a_restarted_manager_adopts_the_working_endpoint_of_the_device(void **state)
{
	const struct rec_endpoint cands[] = { public_a, lan };
	struct sim s;

	(void)state;
	sim_init(&s, &prefix_lan, 1, cands, 2);
	sockaddr_of(&public_a, &s.device_ep);
	s.last_handshake = T0 - 30;
	assert_false(sim_update(&s));
	assert_int_equal(s.st.phase, WG_EP_STEADY);
	assert_string_equal(rec_ep_kind_name(wg_ep_kind(&s.st)), "public");
	/* Then the better LAN is tried as usual. */
	s.now++;
	assert_true(sim_update(&s));
	assert_true(is(&s.device_ep, &lan));
	assert_int_equal(s.st.phase, WG_EP_TRYING);
	/* A stale device endpoint is not adopted: the best candidate is set. */
	sim_init(&s, &prefix_lan, 1, cands, 2);
	sockaddr_of(&public_a, &s.device_ep);
	s.last_handshake = T0 - WG_EP_FRESH;
	assert_true(sim_update(&s));
	assert_true(is(&s.device_ep, &lan));
}

/* ---- re-ranking --------------------------------------------------------------------- */

static void joining_the_peers_lan_makes_its_lan_endpoint_tried(void **state)
{
	const struct rec_endpoint cands[] = { public_a, lan };
	const struct wg_local_prefix elsewhere = { AF_INET, 24, { 172, 16, 0, 5 } };
	struct sim s;

	(void)state;
	sim_init(&s, &elsewhere, 1, cands, 2);
	sim_works(&s, &public_a);
	sim_works(&s, &lan);
	sim_update(&s);
	sim_run(&s, 300);
	assert_true(is(&s.device_ep, &public_a));
	/* We plug into the peer's LAN. */
	s.local.prefixes = &prefix_lan;
	assert_true(sim_until_using(&s, &lan, 10) <= 1);
	sim_run(&s, 2);
	assert_int_equal(s.st.phase, WG_EP_STEADY);
}

static void back_off_survives_a_change_of_the_candidate_set(void **state)
{
	const struct rec_endpoint two[] = { public_a, lan };
	const struct rec_endpoint three[] = { reflexive, public_a, lan };
	struct sim s;
	int i;

	(void)state;
	sim_init(&s, &prefix_lan, 1, two, 2);
	sim_works(&s, &public_a);
	sim_update(&s);
	sim_run(&s, 25); /* LAN searched first and failed, public works */
	sim_until_using(&s, &lan, 100);
	sim_until_using(&s, &public_a, 100); /* a trial failed: backed off 30 s */
	assert_true(s.st.cands[0].retry_after > s.now);
	/* The peer republishes with one more candidate: the LAN is still backed off. */
	s.cands = three;
	s.n_cands = 3;
	for (i = 0; i < WG_EP_BACKOFF_MIN - 2; i++) {
		sim_tick(&s);
		assert_true(is(&s.device_ep, &public_a));
	}
}

/* ---- helpers ---------------------------------------------------------------------- */

static void addresses_compare_by_family_address_and_port(void **state)
{
	struct sockaddr_storage a, b;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&b;

	(void)state;
	sockaddr_of(&public_a, &a);
	memset(&b, 0, sizeof(b));
	sin6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:203.0.113.7", &sin6->sin6_addr);
	sin6->sin6_port = htons(51820);
	assert_true(wg_sockaddr_equal(&a, &b));
	sin6->sin6_port = htons(51821);
	assert_false(wg_sockaddr_equal(&a, &b));
	sockaddr_of(&ipv6, &a);
	sockaddr_of(&ipv6, &b);
	assert_true(wg_sockaddr_equal(&a, &b));
	sin6->sin6_scope_id = 2;
	assert_false(wg_sockaddr_equal(&a, &b));
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_false(wg_sockaddr_equal(&a, &b)); /* two "none" are not one endpoint */
	assert_false(wg_sockaddr_equal(NULL, &b));
}

static void on_link_follows_the_prefix_length(void **state)
{
	const struct wg_local_prefix p25 = { AF_INET, 25, { 192, 168, 1, 10 } };
	const struct wg_local_prefix p0 = { AF_INET, 0, { 0 } };
	const struct wg_local_prefix bad = { AF_INET, 33, { 192, 168, 1, 10 } };
	struct wg_local_net local = { 1, &p25 };

	(void)state;
	assert_true(wg_local_on_link(&local, 4, (const uint8_t[16]){ 192, 168, 1, 127 }));
	assert_false(wg_local_on_link(&local, 4, (const uint8_t[16]){ 192, 168, 1, 128 }));
	assert_false(wg_local_on_link(&local, 6, (const uint8_t[16]){ 192, 168, 1, 20 }));
	local.prefixes = &p0;
	assert_true(wg_local_on_link(&local, 4, (const uint8_t[16]){ 8, 8, 8, 8 }));
	local.prefixes = &bad;
	assert_false(wg_local_on_link(&local, 4, (const uint8_t[16]){ 192, 168, 1, 10 }));
	assert_false(wg_local_on_link(NULL, 4, (const uint8_t[16]){ 192, 168, 1, 10 }));
	local.prefixes = &prefix_v6;
	assert_true(wg_local_has_global_ipv6(&local));
	local.prefixes = &prefix_ula;
	assert_false(wg_local_has_global_ipv6(&local));
	assert_false(wg_local_has_global_ipv6(NULL));
}

static void kind_names_are_the_status_words(void **state)
{
	(void)state;
	assert_string_equal(rec_ep_kind_name(EP_LAN), "lan");
	assert_string_equal(rec_ep_kind_name(EP_IPV6), "ipv6");
	assert_string_equal(rec_ep_kind_name(EP_PUBLIC), "public");
	assert_string_equal(rec_ep_kind_name(EP_REFLEXIVE), "reflexive");
	assert_string_equal(rec_ep_kind_name(0), "none");
	assert_string_equal(rec_ep_kind_name(99), "none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lan_is_preferred_when_on_link),
		cmocka_unit_test(lan_address_off_link_is_skipped),
		cmocka_unit_test(ipv6_only_with_a_global_ipv6_of_our_own),
		cmocka_unit_test(an_on_link_candidate_ranks_as_lan_whatever_its_kind),
		cmocka_unit_test(search_visits_every_usable_candidate_in_rank_order_and_wraps),
		cmocka_unit_test(an_address_listed_twice_counts_at_its_best_kind),
		cmocka_unit_test(unusable_records_give_no_endpoint_and_leave_the_device_alone),
		cmocka_unit_test(
			time_from_a_better_endpoint_appearing_to_its_use_is_at_most_10_seconds),
		cmocka_unit_test(
			a_trial_moved_back_by_a_packet_from_the_old_path_is_set_again_and_kept),
		cmocka_unit_test(a_trial_the_peer_keeps_talking_around_is_reverted_though_rx_grows),
		cmocka_unit_test(
			a_better_candidate_that_brings_nothing_back_is_reverted_and_backed_off),
		cmocka_unit_test(back_off_is_capped),
		cmocka_unit_test(a_working_endpoint_is_kept_over_worse_ones),
		cmocka_unit_test(a_trial_success_resets_the_back_off),
		cmocka_unit_test(when_nothing_works_every_candidate_is_tried_in_turn),
		cmocka_unit_test(a_path_carrying_only_keepalives_stays),
		cmocka_unit_test(
			an_idle_peer_gets_a_better_candidate_at_once_and_traffic_judges_it),
		cmocka_unit_test(an_idle_peer_keeps_its_endpoint_however_old_its_handshake),
		cmocka_unit_test(a_roamed_peer_with_fresh_handshakes_is_left_alone),
		cmocka_unit_test(a_roamed_address_of_a_known_host_keeps_its_kind),
		cmocka_unit_test(a_device_endpoint_changed_on_a_stale_session_is_set_back),
		cmocka_unit_test(a_set_not_yet_on_the_device_is_asked_again_not_taken_for_roaming),
		cmocka_unit_test(a_restarted_manager_adopts_the_working_endpoint_of_the_device),
		cmocka_unit_test(joining_the_peers_lan_makes_its_lan_endpoint_tried),
		cmocka_unit_test(back_off_survives_a_change_of_the_candidate_set),
		cmocka_unit_test(addresses_compare_by_family_address_and_port),
		cmocka_unit_test(on_link_follows_the_prefix_length),
		cmocka_unit_test(kind_names_are_the_status_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
