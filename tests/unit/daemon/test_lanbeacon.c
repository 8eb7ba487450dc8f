/*
 * test_lanbeacon.c: meshnamed's LAN beacon I/O (src/daemon/lanbeacon.c): the replay window
 * (newest timestamp per host key, duplicates, the floor of a full window), the choice of
 * interfaces, and the receive path for real over loopback in a private network namespace
 * (where nothing may be sent: loopback is never a beacon interface). Needs root for the
 * namespace and fails, not skips, without it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <sodium.h>

#include "daemon/lanbeacon.h"

#define PORT 40514
#define SYNC_PORT 51821

static struct beacon beacon_of(uint8_t key_byte, uint64_t timestamp)
{
	struct beacon b;

	memset(&b, 0, sizeof(b));
	memset(b.host_key, key_byte, REC_KEY_SIZE);
	b.port = SYNC_PORT;
	b.endpoints_seq = 7;
	memset(b.fingerprint, 0xab, BEACON_FINGERPRINT_SIZE);
	b.timestamp = timestamp;
	return b;
}

/* ---- the replay window ---------------------------------------------------------------- */

static void a_newer_beacon_is_new_the_same_again_a_duplicate_an_older_a_replay(void **state)
{
	struct lanbeacon_window *w = calloc(1, sizeof(*w));
	struct beacon b = beacon_of(1, 1000);

	(void)state;
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_NEW);
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_DUPLICATE);
	b.timestamp = 999;
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_REPLAY);
	b.timestamp = 1001;
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_NEW);
	b.timestamp = 1000; /* the first one again, now older than the newest */
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_REPLAY);
	free(w);
}

static void the_same_second_with_other_fields_is_a_replay_not_a_duplicate(void **state)
{
	struct lanbeacon_window *w = calloc(1, sizeof(*w));
	struct beacon b = beacon_of(1, 1000);

	(void)state;
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_NEW);
	b.endpoints_seq++;
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_REPLAY);
	b = beacon_of(1, 1000);
	b.fingerprint[3] ^= 1;
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_REPLAY);
	b = beacon_of(1, 1000);
	b.port++;
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_REPLAY);
	/* None of these replaced the newest: the original is still its duplicate. */
	b = beacon_of(1, 1000);
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_DUPLICATE);
	free(w);
}

static void keys_are_judged_apart(void **state)
{
	struct lanbeacon_window *w = calloc(1, sizeof(*w));
	struct beacon a = beacon_of(1, 1000), b = beacon_of(2, 500);

	(void)state;
	assert_int_equal(lanbeacon_window_check(w, &a), LANBEACON_NEW);
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_NEW);
	b.timestamp = 501;
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_NEW);
	assert_int_equal(lanbeacon_window_check(w, &a), LANBEACON_DUPLICATE);
	free(w);
}

static void a_full_window_forgets_the_stalest_key_and_old_beacons_stay_out(void **state)
{
	struct lanbeacon_window *w = calloc(1, sizeof(*w));
	struct beacon b;
	int i;

	(void)state;
	/* Keys 0..255, key i last heard at 2000 + i, except key 100: the stalest, at 1500. */
	for (i = 0; i < LANBEACON_WINDOW_SIZE; i++) {
		b = beacon_of((uint8_t)i, i == 100 ? 1500 : 2000 + (uint64_t)i);
		assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_NEW);
	}
	assert_int_equal(w->floor, 0);
	/* A 257th key takes key 100's place. */
	memset(&b, 0, sizeof(b));
	b = beacon_of(0, 3000);
	memset(b.host_key, 0xee, REC_KEY_SIZE);
	b.host_key[0] = 1; /* not one of the 256 */
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_NEW);
	assert_int_equal(w->floor, 1500);
	/* Key 100's last beacon, replayed: forgotten by key, but not newer than the floor. */
	b = beacon_of(100, 1500);
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_REPLAY);
	b.timestamp = 1200;
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_REPLAY);
	/* Every other key was kept. */
	b = beacon_of(101, 2101);
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_DUPLICATE);
	b = beacon_of(0, 2000);
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_DUPLICATE);
	/* Key 100 again with a newer beacon: heard, and it takes the now stalest place (key
	 * 0 at 2000), so the floor rises to 2000. */
	b = beacon_of(100, 1501);
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_NEW);
	assert_int_equal(w->floor, 2000);
	b = beacon_of(0, 2000);
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_REPLAY);
	b = beacon_of(0, 2001);
	assert_int_equal(lanbeacon_window_check(w, &b), LANBEACON_NEW);
	free(w);
}

/* ---- interfaces ----------------------------------------------------------------------- */

static void
beacons_go_on_up_broadcast_or_multicast_interfaces_but_not_loopback_or_mesh(void **state)
{
	const unsigned up = IFF_UP | IFF_RUNNING;
	const unsigned lan = up | IFF_BROADCAST | IFF_MULTICAST;

	(void)state;
	assert_true(lanbeacon_interface_usable(AF_INET, lan, "eth0", "mesh0"));
	assert_true(lanbeacon_interface_usable(AF_INET6, lan, "eth0", "mesh0"));
	assert_true(lanbeacon_interface_usable(AF_INET, lan, "eth0", NULL));
	assert_true(lanbeacon_interface_usable(AF_INET, lan, "eth0", ""));
	/* Down, or up without a carrier. */
	assert_false(lanbeacon_interface_usable(AF_INET, lan & ~(unsigned)IFF_UP, "eth0", NULL));
	assert_false(
		lanbeacon_interface_usable(AF_INET6, lan & ~(unsigned)IFF_RUNNING, "eth0", NULL));
	/* Loopback, even with broadcast and multicast switched on. */
	assert_false(lanbeacon_interface_usable(AF_INET, lan | IFF_LOOPBACK, "lo", NULL));
	assert_false(lanbeacon_interface_usable(AF_INET6, lan | IFF_LOOPBACK, "lo", NULL));
	/* Each family needs its flag. */
	assert_false(lanbeacon_interface_usable(AF_INET, up | IFF_MULTICAST, "tun0", NULL));
	assert_true(lanbeacon_interface_usable(AF_INET6, up | IFF_MULTICAST, "tun0", NULL));
	assert_false(lanbeacon_interface_usable(AF_INET6, up | IFF_BROADCAST, "eth1", NULL));
	assert_true(lanbeacon_interface_usable(AF_INET, up | IFF_BROADCAST, "eth1", NULL));
	/* The mesh interface, also as an IPv4 label; a longer or shorter name is another. */
	assert_false(lanbeacon_interface_usable(AF_INET, lan, "mesh0", "mesh0"));
	assert_false(lanbeacon_interface_usable(AF_INET6, lan, "mesh0", "mesh0"));
	assert_false(lanbeacon_interface_usable(AF_INET, lan, "mesh0:1", "mesh0"));
	assert_true(lanbeacon_interface_usable(AF_INET, lan, "mesh01", "mesh0"));
	assert_true(lanbeacon_interface_usable(AF_INET, lan, "mesh", "mesh0"));
	/* Only the two families. */
	assert_false(lanbeacon_interface_usable(AF_PACKET, lan, "eth0", NULL));
}

/* ---- the sockets, over loopback in a namespace of our own ----------------------------- */

#define MAX_HEARD 128

struct fixture {
	struct event_base *base;
	struct lanbeacon *lb;
	uint8_t mesh_id[REC_ID_SIZE];
	uint8_t sk[REC_SECRET_SIZE]; /* ours */
	uint8_t other_sk[REC_SECRET_SIZE];
	size_t n_heard;
	struct beacon heard[MAX_HEARD];
	struct sockaddr_storage from[MAX_HEARD];
	unsigned ifindex[MAX_HEARD];
};

static void on_heard(void *arg, const struct beacon *b, const struct sockaddr_storage *from,
		     unsigned ifindex)
{
	struct fixture *f = arg;

	assert_true(f->n_heard < MAX_HEARD);
	f->heard[f->n_heard] = *b;
	f->from[f->n_heard] = *from;
	f->ifindex[f->n_heard] = ifindex;
	f->n_heard++;
}

static void keypair(uint8_t sk[REC_SECRET_SIZE], uint8_t seed_byte)
{
	uint8_t seed[crypto_sign_SEEDBYTES], pk[REC_KEY_SIZE];

	memset(seed, seed_byte, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
}

static int own_netns(void **state)
{
	struct ifreq ifr;
	int fd;

	(void)state;
	if (sodium_init() < 0)
		return -1;
	/* Loopback only, so that no test beacon can leave this process's namespace. */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr,
			"test_lanbeacon: cannot create a network namespace (%s): run as "
			"root\n",
			strerror(errno));
		return -1;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	/* Up, and multicast on: only the loopback rule keeps beacons off it. */
	ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_MULTICAST;
	if (fd < 0 || ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
		fprintf(stderr, "test_lanbeacon: cannot bring lo up: %s\n", strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct lanbeacon_params p;
	uint8_t fp[BEACON_FINGERPRINT_SIZE] = { 0 };

	if (f == NULL)
		return -1;
	memset(f->mesh_id, 0x42, REC_ID_SIZE);
	keypair(f->sk, 1);
	keypair(f->other_sk, 2);
	f->base = event_base_new();
	memset(&p, 0, sizeof(p));
	memcpy(p.mesh_id, f->mesh_id, REC_ID_SIZE);
	memcpy(p.host_sk, f->sk, REC_SECRET_SIZE);
	p.port = PORT;
	p.sync_port = SYNC_PORT;
	p.mesh_ifname = "mesh0";
	p.heard = on_heard;
	p.arg = f;
	if (f->base == NULL || lanbeacon_new(f->base, &p, &f->lb) != 0)
		return -1;
	lanbeacon_update(f->lb, 3, fp);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	lanbeacon_free(f->lb);
	event_base_free(f->base);
	free(f);
	return 0;
}

static void pump(struct fixture *f, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
}

/* A beacon of mesh_id signed by sk at timestamp, with this sync port. */
static void make(uint8_t out[BEACON_SIZE], const uint8_t mesh_id[REC_ID_SIZE],
		 const uint8_t sk[REC_SECRET_SIZE], uint64_t timestamp, uint16_t port)
{
	struct beacon b;

	memset(&b, 0, sizeof(b));
	memcpy(b.mesh_id, mesh_id, REC_ID_SIZE);
	b.port = port;
	b.endpoints_seq = 9;
	b.timestamp = timestamp;
	assert_int_equal(beacon_sign(&b, sk, out), 0);
}

static void send_to(int family, const void *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd = socket(family, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(PORT);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(PORT);
		sin6->sin6_addr = in6addr_loopback;
		sslen = sizeof(*sin6);
	}
	assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&ss, sslen), (ssize_t)len);
	close(fd);
}

static struct lanbeacon_stats stats(const struct fixture *f)
{
	struct lanbeacon_stats st;

	lanbeacon_stats(f->lb, &st);
	return st;
}

static void a_beacon_is_heard_from_its_address_on_its_sync_port_once_per_family(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[BEACON_SIZE];
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	make(buf, f->mesh_id, f->other_sk, (uint64_t)time(NULL), 7001);
	send_to(AF_INET, buf, sizeof(buf));
	pump(f, 50);
	assert_int_equal(f->n_heard, 1);
	sin = (const struct sockaddr_in *)&f->from[0];
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(ntohs(sin->sin_port), 7001); /* the beacon's, not the datagram's */
	assert_int_equal(f->ifindex[0], if_nametoindex("lo"));
	assert_int_equal(f->heard[0].endpoints_seq, 9);
	assert_memory_equal(f->heard[0].host_key, f->other_sk + 32, REC_KEY_SIZE);
	/* The same bytes over IPv6: a duplicate, not heard again, not a rejection. */
	send_to(AF_INET6, buf, sizeof(buf));
	pump(f, 50);
	assert_int_equal(f->n_heard, 1);
	assert_int_equal(stats(f).duplicates, 1);
	assert_int_equal(stats(f).rejected, 0);
	/* A newer one over IPv6 is heard, from ::1. */
	make(buf, f->mesh_id, f->other_sk, (uint64_t)time(NULL) + 1, 7002);
	send_to(AF_INET6, buf, sizeof(buf));
	pump(f, 50);
	assert_int_equal(f->n_heard, 2);
	sin6 = (const struct sockaddr_in6 *)&f->from[1];
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	assert_int_equal(ntohs(sin6->sin6_port), 7002);
	assert_int_equal(stats(f).heard, 2);
}

static void replayed_forged_foreign_stale_and_malformed_datagrams_are_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t old[BEACON_SIZE], cur[BEACON_SIZE], bad[BEACON_SIZE + 8];
	uint8_t other_mesh[REC_ID_SIZE];
	uint64_t now = (uint64_t)time(NULL);
	struct lanbeacon_stats st;

	make(old, f->mesh_id, f->other_sk, now - 5, SYNC_PORT);
	make(cur, f->mesh_id, f->other_sk, now, SYNC_PORT);
	send_to(AF_INET, old, sizeof(old));
	send_to(AF_INET, cur, sizeof(cur));
	pump(f, 50);
	assert_int_equal(f->n_heard, 2);
	send_to(AF_INET, old, sizeof(old)); /* replayed */
	send_to(AF_INET6, old, sizeof(old));
	memcpy(bad, cur, sizeof(cur));
	bad[80] ^= 1; /* a fingerprint bit: the signature no longer holds */
	send_to(AF_INET, bad, BEACON_SIZE);
	memcpy(bad, cur, sizeof(cur));
	bad[BEACON_SIZE - 1] ^= 0x80; /* a signature bit */
	send_to(AF_INET6, bad, BEACON_SIZE);
	memset(other_mesh, 0x43, sizeof(other_mesh));
	make(bad, other_mesh, f->other_sk, now + 1, SYNC_PORT);
	send_to(AF_INET, bad, BEACON_SIZE);
	make(bad, f->mesh_id, f->other_sk, now - BEACON_MAX_AGE - 10, SYNC_PORT); /* stale */
	send_to(AF_INET, bad, BEACON_SIZE);
	memcpy(bad, cur, sizeof(cur));
	send_to(AF_INET, bad, BEACON_SIZE - 1); /* short */
	memset(bad + BEACON_SIZE, 0, 8);
	send_to(AF_INET, bad, BEACON_SIZE + 8); /* long: a beacon with bytes after it */
	send_to(AF_INET, bad, 0);
	pump(f, 100);
	st = stats(f);
	assert_int_equal(f->n_heard, 2);
	assert_int_equal(st.heard, 2);
	assert_int_equal(st.replayed, 2);
	assert_int_equal(st.forged, 2);
	assert_int_equal(st.other_mesh, 1);
	assert_int_equal(st.rejected, 2 + 2 + 1 + 1 + 3);
	assert_int_equal(st.duplicates, 0);
	assert_int_equal(st.own, 0);
}

static void our_own_beacon_is_counted_and_ignored(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[BEACON_SIZE];

	make(buf, f->mesh_id, f->sk, (uint64_t)time(NULL), SYNC_PORT);
	send_to(AF_INET, buf, sizeof(buf));
	send_to(AF_INET6, buf, sizeof(buf));
	pump(f, 50);
	assert_int_equal(f->n_heard, 0);
	assert_int_equal(stats(f).own, 2);
	assert_int_equal(stats(f).rejected, 0);
}

static void a_burst_is_read_over_several_callbacks_and_none_is_lost(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[BEACON_SIZE], sk[REC_SECRET_SIZE];
	uint64_t now = (uint64_t)time(NULL);

	/* 100 hosts: more than one callback reads (64), fewer than loopback's buffer holds. */
	for (int i = 0; i < 100; i++) {
		keypair(sk, (uint8_t)(10 + i));
		make(buf, f->mesh_id, sk, now, SYNC_PORT);
		send_to(AF_INET, buf, sizeof(buf));
	}
	pump(f, 200);
	assert_int_equal(f->n_heard, 100);
	assert_int_equal(stats(f).rejected, 0);
}

static void nothing_is_sent_where_there_is_only_loopback(void **state)
{
	struct fixture *f = *state;
	struct lanbeacon_stats st;

	pump(f, 1100); /* the first beacon is due within a second */
	lanbeacon_send_now(f->lb);
	pump(f, 1100); /* ... and one a second at most: send_now may wait for the next */
	st = stats(f);
	assert_int_equal(st.sent, 0);
	assert_int_equal(st.send_errors, 0);
	assert_int_equal(st.own, 0);
}

static void a_second_socket_can_share_the_port(void **state)
{
	struct fixture *f = *state;
	struct lanbeacon_params p;
	struct lanbeacon *second = NULL;

	memset(&p, 0, sizeof(p));
	memcpy(p.mesh_id, f->mesh_id, REC_ID_SIZE);
	memcpy(p.host_sk, f->other_sk, REC_SECRET_SIZE);
	p.port = PORT;
	p.sync_port = SYNC_PORT;
	p.heard = on_heard;
	p.arg = f;
	assert_int_equal(lanbeacon_new(f->base, &p, &second), 0);
	lanbeacon_free(second);
}

static void bad_parameters_are_refused(void **state)
{
	struct fixture *f = *state;
	struct lanbeacon_params p;
	struct lanbeacon *lb = (struct lanbeacon *)f; /* must be set to NULL */

	memset(&p, 0, sizeof(p));
	p.port = PORT;
	p.sync_port = SYNC_PORT;
	p.heard = on_heard;
	p.port = 0;
	assert_int_equal(lanbeacon_new(f->base, &p, &lb), -EINVAL);
	assert_null(lb);
	p.port = PORT;
	p.sync_port = 0;
	assert_int_equal(lanbeacon_new(f->base, &p, &lb), -EINVAL);
	p.sync_port = SYNC_PORT;
	p.heard = NULL;
	assert_int_equal(lanbeacon_new(f->base, &p, &lb), -EINVAL);
	p.heard = on_heard;
	p.mesh_ifname = "a-name-far-too-long-for-linux";
	assert_int_equal(lanbeacon_new(f->base, &p, &lb), -EINVAL);
	assert_null(lb);
	lanbeacon_free(NULL);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(
			a_newer_beacon_is_new_the_same_again_a_duplicate_an_older_a_replay),
		cmocka_unit_test(the_same_second_with_other_fields_is_a_replay_not_a_duplicate),
		cmocka_unit_test(keys_are_judged_apart),
		cmocka_unit_test(a_full_window_forgets_the_stalest_key_and_old_beacons_stay_out),
		cmocka_unit_test(
			beacons_go_on_up_broadcast_or_multicast_interfaces_but_not_loopback_or_mesh),
	};
	const struct CMUnitTest io[] = {
		cmocka_unit_test_setup_teardown(
			a_beacon_is_heard_from_its_address_on_its_sync_port_once_per_family, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			replayed_forged_foreign_stale_and_malformed_datagrams_are_refused, setup,
			teardown),
		cmocka_unit_test_setup_teardown(our_own_beacon_is_counted_and_ignored, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			a_burst_is_read_over_several_callbacks_and_none_is_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(nothing_is_sent_where_there_is_only_loopback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_second_socket_can_share_the_port, setup,
						teardown),
		cmocka_unit_test_setup_teardown(bad_parameters_are_refused, setup, teardown),
	};
	int failed = cmocka_run_group_tests_name("lanbeacon window", pure, NULL, NULL);

	return failed + cmocka_run_group_tests_name("lanbeacon io", io, own_netns, NULL);
}
