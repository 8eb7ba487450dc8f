/*
 * test_uapi.c: unit tests of the userspace API backend (src/wg/uapi.c) and the device
 * helpers (src/wg/device.c): replies captured from wireguard-go v0.0.20220316, set
 * requests byte for byte, malformed replies, and the client against a fake
 * implementation on a unix socket in a temporary directory (a thread of this test).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "meshname/wg.h"

/* Keys of the capture below (made with `wg genkey`, for this test only). */
#define PRIV_HEX "f80fb13dcc89b17cf4b1f7eb2d6074ce71624a7d6aa6c023a44e98a08daee76b"
#define PUB_HEX "4cc97d30554e65a8222647250818268120622445fe3cc31db72bb3cdb313006b" /* wg pubkey */
#define PEER1_HEX "08070b82df15f7f78a8dd8e135e507186c5842153fb2779f69728e7452295936"
#define PEER2_HEX "65525b17f2853f134a01d910b90a122bb77ca2fdcd35898f69d50ffe3a327071"
#define PEER3_HEX "cec2c2ffe3922a4739c8bc75c10202a0cff6b7c0d7c18420200ad7840e1ef07b"
#define ZERO_HEX "0000000000000000000000000000000000000000000000000000000000000000"

/*
 * `printf 'get=1\n\n' | socat - UNIX-CONNECT:/run/wireguard/mnucap0.sock` after
 * `wg set mnucap0 private-key K listen-port 51820 fwmark 0x42 peer P1 allowed-ips
 * 198.51.100.1/32,2001:db8::1/128 endpoint 192.0.2.1:51820 persistent-keepalive 25
 * peer P2 allowed-ips 198.51.100.5/24 endpoint [2001:db8::2]:4000 peer P3`.
 */
/* clang-format off */
static const char captured_get[] =
	"private_key=" PRIV_HEX "\n"
	"listen_port=51820\n"
	"fwmark=66\n"
	"public_key=" PEER1_HEX "\n"
	"preshared_key=" ZERO_HEX "\n"
	"protocol_version=1\n"
	"endpoint=192.0.2.1:51820\n"
	"last_handshake_time_sec=0\n"
	"last_handshake_time_nsec=0\n"
	"tx_bytes=0\n"
	"rx_bytes=0\n"
	"persistent_keepalive_interval=25\n"
	"allowed_ip=198.51.100.1/32\n"
	"allowed_ip=2001:db8::1/128\n"
	"public_key=" PEER2_HEX "\n"
	"preshared_key=" ZERO_HEX "\n"
	"protocol_version=1\n"
	"endpoint=[2001:db8::2]:4000\n"
	"last_handshake_time_sec=0\n"
	"last_handshake_time_nsec=0\n"
	"tx_bytes=0\n"
	"rx_bytes=0\n"
	"persistent_keepalive_interval=0\n"
	"allowed_ip=198.51.100.0/24\n"
	"public_key=" PEER3_HEX "\n"
	"preshared_key=" ZERO_HEX "\n"
	"protocol_version=1\n"
	"last_handshake_time_sec=0\n"
	"last_handshake_time_nsec=0\n"
	"tx_bytes=0\n"
	"rx_bytes=0\n"
	"persistent_keepalive_interval=0\n"
	"errno=0\n"
	"\n";
/* clang-format on */

/* The same wireguard-go's answers to sets it refused (a /33, listen_port=70000, an
 * allowed_ip before any public_key): errno negative, then the empty line. */
static const char captured_set_refused[] = "errno=-22\n\n";
static const char captured_set_ok[] = "errno=0\n\n";

static void key_from_hex(uint8_t key[WG_KEY_LEN], const char *hex)
{
	assert_int_equal(sodium_hex2bin(key, WG_KEY_LEN, hex, strlen(hex), NULL, NULL, NULL), 0);
}

static void assert_key(const uint8_t key[WG_KEY_LEN], const char *hex)
{
	uint8_t want[WG_KEY_LEN];

	key_from_hex(want, hex);
	assert_memory_equal(key, want, WG_KEY_LEN);
}

static void assert_endpoint(const struct wg_peer *peer, const char *ip, uint16_t port)
{
	char text[INET6_ADDRSTRLEN] = "";

	assert_true(peer->flags & WG_PEER_HAS_ENDPOINT);
	if (peer->endpoint.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&peer->endpoint;

		inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
		assert_int_equal(ntohs(sin->sin_port), port);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&peer->endpoint;

		assert_int_equal(peer->endpoint.ss_family, AF_INET6);
		inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
		assert_int_equal(ntohs(sin6->sin6_port), port);
	}
	assert_string_equal(text, ip);
}

static void assert_allowedip(const struct wg_allowedip *a, const char *ip, unsigned cidr)
{
	char text[INET6_ADDRSTRLEN] = "";

	assert_non_null(inet_ntop(a->family, a->addr, text, sizeof(text)));
	assert_string_equal(text, ip);
	assert_int_equal(a->cidr, cidr);
}

static void assert_cleared(const struct wg_device *dev)
{
	static const struct wg_device zero;

	assert_memory_equal(dev, &zero, sizeof(zero));
}

/* Parses from an exact-size heap copy, so that ASan catches any read past len. */
static int parse_get(const char *text, struct wg_device *dev)
{
	size_t len = strlen(text);
	char *copy = malloc(len ? len : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, text, len);
	r = wg_uapi_parse_get(copy, len, dev);
	free(copy);
	return r;
}

static void set_endpoint(struct wg_peer *peer, int family, const char *ip, uint16_t port)
{
	memset(&peer->endpoint, 0, sizeof(peer->endpoint));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&peer->endpoint;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&peer->endpoint;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	}
	peer->flags |= WG_PEER_HAS_ENDPOINT;
}

static struct wg_peer *add_peer(struct wg_device *dev, const char *hex)
{
	uint8_t key[WG_KEY_LEN];
	struct wg_peer *peer;

	key_from_hex(key, hex);
	peer = wg_device_add_peer(dev, key);
	assert_non_null(peer);
	return peer;
}

static void add_ip(struct wg_peer *peer, const char *ip, uint8_t cidr)
{
	uint8_t addr[16];
	uint8_t family = strchr(ip, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(family, ip, addr), 1);
	assert_non_null(wg_peer_add_allowedip(peer, family, addr, cidr));
}

/* ---- Parsing get replies ---- */

static void wireguard_go_reply_is_read_whole(void **state)
{
	struct wg_device dev = { 0 };
	const struct wg_peer *p;

	(void)state;
	assert_int_equal(parse_get(captured_get, &dev), 0);
	assert_int_equal(dev.flags, WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT |
					    WG_DEVICE_HAS_FWMARK);
	assert_key(dev.private_key, PRIV_HEX);
	assert_key(dev.public_key, PUB_HEX);
	assert_int_equal(dev.listen_port, 51820);
	assert_int_equal(dev.fwmark, 0x42);
	assert_int_equal(dev.n_peers, 3);

	p = &dev.peers[0];
	assert_key(p->public_key, PEER1_HEX);
	assert_endpoint(p, "192.0.2.1", 51820);
	assert_true(p->flags & WG_PEER_HAS_KEEPALIVE);
	assert_int_equal(p->persistent_keepalive, 25);
	assert_int_equal(p->n_allowedips, 2);
	assert_allowedip(&p->allowedips[0], "198.51.100.1", 32);
	assert_allowedip(&p->allowedips[1], "2001:db8::1", 128);
	assert_int_equal(p->last_handshake_sec, 0);

	p = &dev.peers[1];
	assert_key(p->public_key, PEER2_HEX);
	assert_endpoint(p, "2001:db8::2", 4000);
	assert_int_equal(p->persistent_keepalive, 0);
	assert_int_equal(p->n_allowedips, 1);
	assert_allowedip(&p->allowedips[0], "198.51.100.0", 24);

	p = &dev.peers[2];
	assert_key(p->public_key, PEER3_HEX);
	assert_false(p->flags & WG_PEER_HAS_ENDPOINT);
	assert_int_equal(p->n_allowedips, 0);
	assert_null(p->allowedips);
	wg_device_clear(&dev);
	assert_cleared(&dev);
}

static void handshake_time_and_byte_counters_are_read_to_their_limits(void **state)
{
	struct wg_device dev = { 0 };

	(void)state;
	assert_int_equal(parse_get("public_key=" PEER1_HEX "\n"
				   "last_handshake_time_sec=1700000123\n"
				   "last_handshake_time_nsec=999999999\n"
				   "rx_bytes=18446744073709551615\n"
				   "tx_bytes=42\n"
				   "errno=0\n\n",
				   &dev),
			 0);
	assert_int_equal(dev.n_peers, 1);
	assert_int_equal(dev.peers[0].last_handshake_sec, 1700000123);
	assert_true(dev.peers[0].rx_bytes == UINT64_MAX);
	assert_int_equal(dev.peers[0].tx_bytes, 42);
	wg_device_clear(&dev);
}

static void a_device_without_key_or_peers_is_an_empty_device(void **state)
{
	struct wg_device dev = { 0 };

	(void)state;
	dev.flags = WG_DEVICE_HAS_FWMARK; /* whatever was there is cleared first */
	assert_int_equal(parse_get("listen_port=0\nerrno=0\n\n", &dev), 0);
	assert_int_equal(dev.flags, WG_DEVICE_HAS_LISTEN_PORT);
	assert_int_equal(dev.n_peers, 0);
	assert_null(dev.peers);
}

static void a_negative_errno_in_the_reply_is_returned_and_the_device_left_empty(void **state)
{
	struct wg_device dev = { 0 };

	(void)state;
	assert_int_equal(parse_get("errno=-22\n\n", &dev), -EINVAL);
	assert_cleared(&dev);
	/* The protocol text writes errno positive; it means the same. */
	assert_int_equal(parse_get("errno=5\n\n", &dev), -EIO);
	/* Lines before a failing errno do not survive either. */
	assert_int_equal(parse_get("listen_port=1\npublic_key=" PEER1_HEX "\nerrno=-1\n\n", &dev),
			 -EPERM);
	assert_cleared(&dev);
}

static void unknown_keys_are_ignored_on_device_and_peer(void **state)
{
	struct wg_device dev = { 0 };

	(void)state;
	assert_int_equal(parse_get("listen_port=7\n"
				   "future_device_key=whatever it is\n"
				   "public_key=" PEER1_HEX "\n"
				   "future_peer_key=\n"
				   "allowed_ip=192.0.2.7/32\n"
				   "errno=0\n\n",
				   &dev),
			 0);
	assert_int_equal(dev.listen_port, 7);
	assert_int_equal(dev.n_peers, 1);
	assert_int_equal(dev.peers[0].n_allowedips, 1);
	wg_device_clear(&dev);
}

static void allowed_ip_with_host_bits_is_accepted_and_kept_as_the_prefix(void **state)
{
	struct wg_device dev = { 0 };

	(void)state;
	assert_int_equal(parse_get("public_key=" PEER1_HEX "\n"
				   "allowed_ip=203.0.113.77/24\n"
				   "allowed_ip=2001:db8:1:2:3::9/33\n"
				   "allowed_ip=0.0.0.0/0\n"
				   "errno=0\n\n",
				   &dev),
			 0);
	assert_allowedip(&dev.peers[0].allowedips[0], "203.0.113.0", 24);
	assert_allowedip(&dev.peers[0].allowedips[1], "2001:db8::", 33);
	assert_allowedip(&dev.peers[0].allowedips[2], "0.0.0.0", 0);
	wg_device_clear(&dev);
}

static void scoped_ipv6_endpoint_keeps_its_zone(void **state)
{
	struct wg_device dev = { 0 };
	const struct sockaddr_in6 *sin6;

	(void)state;
	assert_int_equal(parse_get("public_key=" PEER1_HEX "\n"
				   "endpoint=[fe80::1%7]:51820\n"
				   "errno=0\n\n",
				   &dev),
			 0);
	sin6 = (const struct sockaddr_in6 *)&dev.peers[0].endpoint;
	assert_endpoint(&dev.peers[0], "fe80::1", 51820);
	assert_int_equal(sin6->sin6_scope_id, 7);
	wg_device_clear(&dev);
	/* A zone by name: the loopback interface exists everywhere. */
	assert_int_equal(parse_get("public_key=" PEER1_HEX "\nendpoint=[fe80::1%lo]:1\nerrno=0\n\n",
				   &dev),
			 0);
	sin6 = (const struct sockaddr_in6 *)&dev.peers[0].endpoint;
	assert_int_not_equal(sin6->sin6_scope_id, 0);
	wg_device_clear(&dev);
}

/* Each of these is not a get reply: -EBADMSG, and nothing half-parsed is left behind. */
static const char *const malformed[] = {
	/* keys */
	"private_key=" PRIV_HEX "g\nerrno=0\n\n",
	"private_key=f80fb13dcc89b17cf4b1f7eb2d6074ce71624a7d6aa6c023a44e98a08daee76\nerrno=0\n\n",
	"private_key=f80fb13dcc89b17cf4b1f7eb2d6074ce71624a7d6aa6c023a44e98a08daee76g\nerrno=0\n\n",
	"private_key=\nerrno=0\n\n",
	"public_key=" PEER1_HEX " \nerrno=0\n\n",
	"public_key=" PEER1_HEX "\npreshared_key=00\nerrno=0\n\n",
	/* numbers */
	"listen_port=65536\nerrno=0\n\n",
	"listen_port=-1\nerrno=0\n\n",
	"listen_port=+1\nerrno=0\n\n",
	"listen_port= 1\nerrno=0\n\n",
	"listen_port=\nerrno=0\n\n",
	"listen_port=0x10\nerrno=0\n\n",
	"fwmark=4294967296\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nrx_bytes=18446744073709551616\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\ntx_bytes=99999999999999999999999\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nlast_handshake_time_sec=9223372036854775808\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nlast_handshake_time_nsec=1000000000\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\npersistent_keepalive_interval=65536\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nprotocol_version=one\nerrno=0\n\n",
	/* errno */
	"listen_port=1\n\n",
	"listen_port=1\n",
	"errno=0\n",
	"errno=0",
	"errno=\n\n",
	"errno=--22\n\n",
	"errno=-99999\n\n",
	"errno=0\n\nextra",
	"errno=0\n\n\n",
	"errno=0\nlisten_port=1\n\n",
	"\n",
	"",
	/* order */
	"allowed_ip=192.0.2.1/32\npublic_key=" PEER1_HEX "\nerrno=0\n\n",
	"endpoint=192.0.2.1:1\nerrno=0\n\n",
	"persistent_keepalive_interval=25\nerrno=0\n\n",
	"rx_bytes=1\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nlisten_port=1\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nprivate_key=" PRIV_HEX "\nerrno=0\n\n",
	/* lines */
	"listen_port\nerrno=0\n\n",
	"=1\nerrno=0\n\n",
	/* allowed IPs */
	"public_key=" PEER1_HEX "\nallowed_ip=192.0.2.1/33\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nallowed_ip=2001:db8::/129\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nallowed_ip=192.0.2.1\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nallowed_ip=192.0.2.1/\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nallowed_ip=192.0.2.1/-1\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nallowed_ip=192.0.2/24\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nallowed_ip=example.org/24\nerrno=0\n\n",
	/* endpoints */
	"public_key=" PEER1_HEX "\nendpoint=192.0.2.1\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nendpoint=192.0.2.1:\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nendpoint=192.0.2.1:65536\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nendpoint=2001:db8::1:51820\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nendpoint=[2001:db8::1]51820\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nendpoint=[2001:db8::1:51820\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nendpoint=[192.0.2.1]:1\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nendpoint=[fe80::1%no-such-if0]:1\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nendpoint=vpn.example.org:51820\nerrno=0\n\n",
	"public_key=" PEER1_HEX "\nendpoint=\nerrno=0\n\n",
};

static void malformed_replies_are_refused_and_leave_nothing(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		struct wg_device dev = { 0 };
		int r = parse_get(malformed[i], &dev);

		if (r != -EBADMSG)
			fail_msg("case %zu: got %d for \"%s\"", i, r, malformed[i]);
		assert_cleared(&dev);
	}
}

static void a_line_longer_than_the_limit_is_refused(void **state)
{
	char text[600];
	struct wg_device dev = { 0 };

	(void)state;
	/* An unknown key would be ignored, but not one this long. */
	memset(text, 'x', 300);
	memcpy(text + 300, "=1\nerrno=0\n\n", sizeof("=1\nerrno=0\n\n"));
	assert_int_equal(parse_get(text, &dev), -EBADMSG);
	/* 250 is fine. */
	memmove(text + 250, text + 300, strlen(text + 300) + 1);
	assert_int_equal(parse_get(text, &dev), 0);
}

static void a_nul_byte_in_a_line_is_refused(void **state)
{
	static const char text[] = "future=a\0b\nerrno=0\n\n";
	struct wg_device dev = { 0 };

	(void)state;
	assert_int_equal(wg_uapi_parse_get(text, sizeof(text) - 1, &dev), -EBADMSG);
}

static void the_parser_stops_at_len(void **state)
{
	struct wg_device dev = { 0 };

	(void)state;
	/* The full text would parse; one byte short of it must not. */
	assert_int_equal(wg_uapi_parse_get(captured_get, sizeof(captured_get) - 1, &dev), 0);
	wg_device_clear(&dev);
	assert_int_equal(wg_uapi_parse_get(captured_get, sizeof(captured_get) - 2, &dev), -EBADMSG);
	assert_int_equal(wg_uapi_parse_get(captured_get, 0, &dev), -EBADMSG);
}

/* ---- Set replies ---- */

static void set_replies_give_zero_or_the_negative_errno(void **state)
{
	(void)state;
	assert_int_equal(wg_uapi_parse_set_reply(captured_set_ok, strlen(captured_set_ok)), 0);
	assert_int_equal(wg_uapi_parse_set_reply(captured_set_refused,
						 strlen(captured_set_refused)),
			 -EINVAL);
	assert_int_equal(wg_uapi_parse_set_reply("errno=22\n\n", 10), -EINVAL);
	assert_int_equal(wg_uapi_parse_set_reply("", 0), -EBADMSG);
	assert_int_equal(wg_uapi_parse_set_reply("errno=0\n", 8), -EBADMSG);
	assert_int_equal(wg_uapi_parse_set_reply("errno=x\n\n", 9), -EBADMSG);
	assert_int_equal(wg_uapi_parse_set_reply("\n", 1), -EBADMSG);
	/* Other keys in a set reply are ignored, like unknown keys anywhere. */
	assert_int_equal(wg_uapi_parse_set_reply("note=hi\nerrno=-2\n\n", 18), -ENOENT);
}

/* ---- Formatting set requests ---- */

static void format(const struct wg_device *dev, const char *want)
{
	char *text;
	size_t len;

	assert_int_equal(wg_uapi_format_set(dev, &text, &len), 0);
	assert_string_equal(text, want);
	assert_int_equal(len, strlen(want));
	free(text);
}

static void set_request_carries_every_field_in_protocol_order(void **state)
{
	struct wg_device dev = { 0 };
	struct wg_peer *p;

	(void)state;
	dev.flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK |
		    WG_DEVICE_REPLACE_PEERS;
	key_from_hex(dev.private_key, PRIV_HEX);
	dev.listen_port = 51820;
	dev.fwmark = 0x42;
	p = add_peer(&dev, PEER1_HEX);
	set_endpoint(p, AF_INET, "192.0.2.1", 51820);
	p->flags |= WG_PEER_HAS_KEEPALIVE | WG_PEER_REPLACE_ALLOWEDIPS;
	p->persistent_keepalive = 25;
	add_ip(p, "198.51.100.1", 32);
	add_ip(p, "2001:db8::1", 128);
	p = add_peer(&dev, PEER2_HEX);
	set_endpoint(p, AF_INET6, "2001:db8::2", 4000);
	format(&dev, "set=1\n"
		     "private_key=" PRIV_HEX "\n"
		     "listen_port=51820\n"
		     "fwmark=66\n"
		     "replace_peers=true\n"
		     "public_key=" PEER1_HEX "\n"
		     "endpoint=192.0.2.1:51820\n"
		     "persistent_keepalive_interval=25\n"
		     "replace_allowed_ips=true\n"
		     "allowed_ip=198.51.100.1/32\n"
		     "allowed_ip=2001:db8::1/128\n"
		     "public_key=" PEER2_HEX "\n"
		     "endpoint=[2001:db8::2]:4000\n"
		     "\n");
	wg_device_clear(&dev);
}

static void set_request_has_only_what_the_flags_say(void **state)
{
	struct wg_device dev = { 0 };
	struct wg_peer *p;

	(void)state;
	/* A key, port and endpoint without their flags are not sent. */
	key_from_hex(dev.private_key, PRIV_HEX);
	dev.listen_port = 1;
	format(&dev, "set=1\n\n");
	p = add_peer(&dev, PEER1_HEX);
	p->persistent_keepalive = 25;
	format(&dev, "set=1\npublic_key=" PEER1_HEX "\n\n");
	/* Keepalive 0 with its flag turns it off, so it is sent. */
	p->persistent_keepalive = 0;
	p->flags = WG_PEER_HAS_KEEPALIVE;
	format(&dev, "set=1\npublic_key=" PEER1_HEX "\npersistent_keepalive_interval=0\n\n");
	wg_device_clear(&dev);
}

static void a_removed_peer_is_only_its_key_and_remove(void **state)
{
	struct wg_device dev = { 0 };
	struct wg_peer *p;

	(void)state;
	p = add_peer(&dev, PEER1_HEX);
	p->flags = WG_PEER_REMOVE | WG_PEER_UPDATE_ONLY | WG_PEER_HAS_KEEPALIVE |
		   WG_PEER_REPLACE_ALLOWEDIPS;
	set_endpoint(p, AF_INET, "192.0.2.1", 1);
	add_ip(p, "192.0.2.1", 32);
	p = add_peer(&dev, PEER2_HEX);
	p->flags = WG_PEER_REMOVE;
	format(&dev, "set=1\n"
		     "public_key=" PEER1_HEX "\n"
		     "remove=true\n"
		     "public_key=" PEER2_HEX "\n"
		     "remove=true\n"
		     "\n");
	wg_device_clear(&dev);
}

static void update_only_comes_right_after_the_key_and_replace_before_the_ips(void **state)
{
	struct wg_device dev = { 0 };
	struct wg_peer *p;

	(void)state;
	p = add_peer(&dev, PEER3_HEX);
	p->flags |= WG_PEER_UPDATE_ONLY | WG_PEER_REPLACE_ALLOWEDIPS | WG_PEER_HAS_KEEPALIVE;
	p->persistent_keepalive = 65535;
	set_endpoint(p, AF_INET6, "fe80::1", 65535);
	((struct sockaddr_in6 *)&p->endpoint)->sin6_scope_id = 3;
	add_ip(p, "0.0.0.0", 0);
	format(&dev, "set=1\n"
		     "public_key=" PEER3_HEX "\n"
		     "update_only=true\n"
		     "endpoint=[fe80::1%3]:65535\n"
		     "persistent_keepalive_interval=65535\n"
		     "replace_allowed_ips=true\n"
		     "allowed_ip=0.0.0.0/0\n"
		     "\n");
	/* Replacing with nothing: the peer keeps no allowed IP. */
	p->flags = WG_PEER_REPLACE_ALLOWEDIPS;
	free(p->allowedips);
	p->allowedips = NULL;
	p->n_allowedips = 0;
	format(&dev, "set=1\npublic_key=" PEER3_HEX "\nreplace_allowed_ips=true\n\n");
	wg_device_clear(&dev);
}

static void a_device_that_cannot_be_written_is_refused(void **state)
{
	struct wg_device dev = { 0 };
	struct wg_peer *p;
	char *text = (char *)1;
	size_t len = 1;

	(void)state;
	p = add_peer(&dev, PEER1_HEX);
	p->flags = WG_PEER_HAS_ENDPOINT; /* but no address family */
	assert_int_equal(wg_uapi_format_set(&dev, &text, &len), -EINVAL);
	assert_null(text);
	assert_int_equal(len, 0);
	p->flags = 0;
	add_ip(p, "192.0.2.1", 32);
	p->allowedips[0].cidr = 33; /* set by hand, past what add_allowedip allows */
	assert_int_equal(wg_uapi_format_set(&dev, &text, &len), -EINVAL);
	p->allowedips[0].cidr = 32;
	p->allowedips[0].family = AF_UNIX;
	assert_int_equal(wg_uapi_format_set(&dev, &text, &len), -EINVAL);
	wg_device_clear(&dev);
}

/*
 * A set request's lines, minus "set=1" and with errno at the end, are a get reply:
 * parsing that gives back the device (the set-only words are ignored).
 */
static void a_formatted_device_parses_back_to_the_same_device(void **state)
{
	struct wg_device dev = { 0 }, back = { 0 };
	struct wg_peer *p;
	char *text, *reply;
	size_t len, reply_len;

	(void)state;
	assert_int_equal(parse_get(captured_get, &dev), 0);
	dev.flags |= WG_DEVICE_REPLACE_PEERS;
	dev.peers[1].flags |= WG_PEER_UPDATE_ONLY | WG_PEER_REPLACE_ALLOWEDIPS;
	p = add_peer(&dev, ZERO_HEX);
	add_ip(p, "2001:db8:ffff::", 48);
	assert_int_equal(wg_uapi_format_set(&dev, &text, &len), 0);
	assert_int_equal(strncmp(text, "set=1\n", 6), 0);
	reply = malloc(len + 16);
	assert_non_null(reply);
	reply_len = (size_t)sprintf(reply, "%.*serrno=0\n\n", (int)(len - 7), text + 6);
	assert_int_equal(wg_uapi_parse_get(reply, reply_len, &back), 0);

	assert_memory_equal(back.private_key, dev.private_key, WG_KEY_LEN);
	assert_memory_equal(back.public_key, dev.public_key, WG_KEY_LEN);
	assert_int_equal(back.listen_port, dev.listen_port);
	assert_int_equal(back.fwmark, dev.fwmark);
	assert_int_equal(back.n_peers, dev.n_peers);
	for (size_t i = 0; i < dev.n_peers; i++) {
		const struct wg_peer *a = &dev.peers[i], *b = &back.peers[i];

		assert_memory_equal(a->public_key, b->public_key, WG_KEY_LEN);
		assert_int_equal(a->flags & WG_PEER_HAS_ENDPOINT, b->flags & WG_PEER_HAS_ENDPOINT);
		assert_memory_equal(&a->endpoint, &b->endpoint, sizeof(a->endpoint));
		assert_int_equal(a->persistent_keepalive, b->persistent_keepalive);
		assert_int_equal(a->n_allowedips, b->n_allowedips);
		if (a->n_allowedips > 0)
			assert_memory_equal(a->allowedips, b->allowedips,
					    a->n_allowedips * sizeof(*a->allowedips));
	}
	sodium_memzero(text, len);
	sodium_memzero(reply, reply_len);
	free(text);
	free(reply);
	wg_device_clear(&back);
	wg_device_clear(&dev);
}

/* ---- The device helpers ---- */

static void allowed_ips_outside_their_family_are_refused(void **state)
{
	struct wg_device dev = { 0 };
	struct wg_peer *p;
	uint8_t addr[16] = { 192, 0, 2, 255 };

	(void)state;
	p = add_peer(&dev, PEER1_HEX);
	assert_null(wg_peer_add_allowedip(p, AF_INET, addr, 33));
	assert_null(wg_peer_add_allowedip(p, AF_INET6, addr, 129));
	assert_null(wg_peer_add_allowedip(p, AF_UNIX, addr, 1));
	assert_int_equal(p->n_allowedips, 0);
	assert_non_null(wg_peer_add_allowedip(p, AF_INET, addr, 25));
	assert_allowedip(&p->allowedips[0], "192.0.2.128", 25);
	assert_non_null(wg_peer_add_allowedip(p, AF_INET6, addr, 128));
	assert_int_equal(p->n_allowedips, 2);
	wg_device_clear(&dev);
}

static void thousands_of_peers_can_be_added_and_cleared(void **state)
{
	struct wg_device dev = { 0 };
	uint8_t key[WG_KEY_LEN] = { 0 };

	(void)state;
	for (unsigned i = 0; i < 5000; i++) {
		struct wg_peer *p;
		uint8_t a[4] = { 10, (uint8_t)(i >> 8), (uint8_t)i, 1 };

		memcpy(key, &i, sizeof(i));
		p = wg_device_add_peer(&dev, key);
		assert_non_null(p);
		assert_non_null(wg_peer_add_allowedip(p, AF_INET, a, 32));
	}
	assert_int_equal(dev.n_peers, 5000);
	assert_int_equal(dev.peers[4999].allowedips[0].addr[2], 4999 & 0xff);
	memcpy(key, &(unsigned){ 1234 }, sizeof(unsigned));
	assert_memory_equal(dev.peers[1234].public_key, key, WG_KEY_LEN);
	dev.flags = WG_DEVICE_HAS_PRIVATE_KEY;
	memset(dev.private_key, 0xaa, WG_KEY_LEN);
	wg_device_clear(&dev);
	assert_cleared(&dev);
	wg_device_clear(&dev); /* twice is fine */
	wg_device_clear(NULL);
}

/* ---- Socket paths ---- */

static void socket_path_is_dir_slash_name_dot_sock(void **state)
{
	char path[40];

	(void)state;
	assert_int_equal(wg_uapi_path(WG_UAPI_DIR, "wg0", path, sizeof(path)), 0);
	assert_string_equal(path, "/run/wireguard/wg0.sock");
	assert_int_equal(wg_uapi_path("/d", "abcdefghijklmno", path, sizeof(path)), 0);
	assert_int_equal(wg_uapi_path("/d", "abcdefghijklmnop", path, sizeof(path)), -EINVAL);
	assert_int_equal(wg_uapi_path("/d", "", path, sizeof(path)), -EINVAL);
	assert_int_equal(wg_uapi_path("/d", "a/b", path, sizeof(path)), -EINVAL);
	assert_int_equal(wg_uapi_path("/d", "..", path, sizeof(path)), -EINVAL);
	assert_int_equal(wg_uapi_path("/a/directory/much/too/long/for/it", "wg0", path,
				      sizeof(path)),
			 -ENAMETOOLONG);
}

/* ---- The client against a fake implementation ---- */

enum fake_mode {
	FAKE_REPLY,       /* reply, then wait for the client to close (as wireguard-go does) */
	FAKE_REPLY_CLOSE, /* reply, then close */
	FAKE_SILENT,      /* read the request, say nothing */
	FAKE_CLOSE,       /* read the request, close without a word */
	FAKE_FLOOD,       /* an endless reply with no end line */
};

struct fake {
	int listen_fd;
	enum fake_mode mode;
	const char *reply;
	size_t chunk; /* reply written this many bytes at a time */
	char request[4096];
	size_t request_len;
	pthread_t thread;
};

static char tmpdir[64];

static void *fake_run(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->listen_fd, NULL, NULL);
	char drain[256];

	if (fd < 0)
		return NULL;
	/* The request ends at its empty line (no request has one anywhere else). */
	while (f->request_len < sizeof(f->request) - 1 &&
	       (f->request_len < 2 || memcmp(f->request + f->request_len - 2, "\n\n", 2) != 0)) {
		ssize_t n = read(fd, f->request + f->request_len, 1);

		if (n <= 0)
			break;
		f->request_len++;
	}
	if (f->mode == FAKE_REPLY || f->mode == FAKE_REPLY_CLOSE) {
		size_t len = strlen(f->reply);

		for (size_t off = 0; off < len; off += f->chunk) {
			size_t n = len - off < f->chunk ? len - off : f->chunk;

			if (write(fd, f->reply + off, n) < 0)
				break;
			if (f->chunk < len)
				nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
		}
	} else if (f->mode == FAKE_FLOOD) {
		memset(drain, 'x', sizeof(drain));
		drain[sizeof(drain) - 1] = '\n';
		while (send(fd, drain, sizeof(drain), MSG_NOSIGNAL) > 0)
			;
	}
	if (f->mode != FAKE_REPLY_CLOSE && f->mode != FAKE_CLOSE)
		while (read(fd, drain, sizeof(drain)) > 0)
			; /* until the client hangs up */
	close(fd);
	return NULL;
}

static void fake_start(struct fake *f, const char *ifname, enum fake_mode mode, const char *reply,
		       size_t chunk)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	memset(f, 0, sizeof(*f));
	f->mode = mode;
	f->reply = reply;
	f->chunk = chunk ? chunk : 1u << 20;
	assert_int_equal(wg_uapi_path(tmpdir, ifname, sun.sun_path, sizeof(sun.sun_path)), 0);
	unlink(sun.sun_path);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(f->listen_fd >= 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(f->listen_fd, 4), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_run, f), 0);
}

static void fake_stop(struct fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->listen_fd);
}

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/meshname-uapi-XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void get_sends_get_and_reads_the_device_while_the_connection_stays_open(void **state)
{
	struct wg_device dev = { 0 };
	struct fake f;

	(void)state;
	fake_start(&f, "wgt0", FAKE_REPLY, captured_get, 0);
	assert_int_equal(wg_uapi_get(tmpdir, "wgt0", 2000, &dev), 0);
	fake_stop(&f);
	assert_int_equal(f.request_len, 7);
	assert_memory_equal(f.request, "get=1\n\n", 7);
	assert_string_equal(dev.name, "wgt0");
	assert_int_equal(dev.n_peers, 3);
	assert_int_equal(dev.listen_port, 51820);
	wg_device_clear(&dev);
}

static void a_reply_in_small_pieces_is_put_back_together(void **state)
{
	struct wg_device dev = { 0 };
	struct fake f;

	(void)state;
	fake_start(&f, "wgt0", FAKE_REPLY, captured_get, 97);
	assert_int_equal(wg_uapi_get(tmpdir, "wgt0", 5000, &dev), 0);
	fake_stop(&f);
	assert_int_equal(dev.n_peers, 3);
	assert_int_equal(dev.peers[0].n_allowedips, 2);
	wg_device_clear(&dev);
	/* Split right between the two newlines of the end. */
	fake_start(&f, "wgt0", FAKE_REPLY, "listen_port=9\nerrno=0\n\n", 22);
	assert_int_equal(wg_uapi_get(tmpdir, "wgt0", 5000, &dev), 0);
	fake_stop(&f);
	assert_int_equal(dev.listen_port, 9);
	wg_device_clear(&dev);
}

static void what_follows_the_end_of_the_reply_is_not_read_as_part_of_it(void **state)
{
	struct wg_device dev = { 0 };
	struct fake f;

	(void)state;
	fake_start(&f, "wgt0", FAKE_REPLY_CLOSE, "listen_port=9\nerrno=0\n\nlisten_port=", 0);
	assert_int_equal(wg_uapi_get(tmpdir, "wgt0", 2000, &dev), 0);
	fake_stop(&f);
	assert_int_equal(dev.listen_port, 9);
	wg_device_clear(&dev);
}

static void set_sends_the_request_and_returns_the_refusal(void **state)
{
	struct wg_device dev = { 0 };
	struct wg_peer *p;
	struct fake f;

	(void)state;
	p = add_peer(&dev, PEER1_HEX);
	add_ip(p, "192.0.2.1", 32);
	dev.flags = WG_DEVICE_HAS_LISTEN_PORT;
	dev.listen_port = 51820;
	fake_start(&f, "wgt1", FAKE_REPLY_CLOSE, captured_set_refused, 0);
	assert_int_equal(wg_uapi_set(tmpdir, "wgt1", 2000, &dev), -EINVAL);
	fake_stop(&f);
	f.request[f.request_len] = '\0';
	assert_string_equal(f.request, "set=1\nlisten_port=51820\npublic_key=" PEER1_HEX
				       "\nallowed_ip=192.0.2.1/32\n\n");
	fake_start(&f, "wgt1", FAKE_REPLY, captured_set_ok, 0);
	assert_int_equal(wg_uapi_set(tmpdir, "wgt1", 2000, &dev), 0);
	fake_stop(&f);
	wg_device_clear(&dev);
}

static void a_missing_socket_is_enoent_and_a_stale_one_econnrefused(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct wg_device dev = { 0 };
	int fd;

	(void)state;
	assert_int_equal(wg_uapi_get(tmpdir, "nothere0", 1000, &dev), -ENOENT);
	assert_int_equal(wg_uapi_set(tmpdir, "nothere0", 1000, &dev), -ENOENT);
	/* A socket file whose process is gone. */
	assert_int_equal(wg_uapi_path(tmpdir, "stale0", sun.sun_path, sizeof(sun.sun_path)), 0);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	assert_int_equal(wg_uapi_get(tmpdir, "stale0", 1000, &dev), -ECONNREFUSED);
	assert_int_equal(wg_uapi_get(tmpdir, "bad/name", 1000, &dev), -EINVAL);
	assert_int_equal(wg_uapi_get(tmpdir, "stale0", 0, &dev), -EINVAL);
}

static void a_silent_implementation_times_out_in_time(void **state)
{
	struct wg_device dev = { 0 };
	struct timespec t0, t1;
	struct fake f;
	long ms;

	(void)state;
	fake_start(&f, "wgt2", FAKE_SILENT, NULL, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(wg_uapi_get(tmpdir, "wgt2", 300, &dev), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fake_stop(&f);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 290 && ms < 2000);
}

static void a_hang_up_without_reply_or_with_half_a_reply_is_an_error(void **state)
{
	struct wg_device dev = { 0 };
	struct fake f;

	(void)state;
	fake_start(&f, "wgt3", FAKE_CLOSE, NULL, 0);
	assert_int_equal(wg_uapi_get(tmpdir, "wgt3", 2000, &dev), -ECONNRESET);
	fake_stop(&f);
	fake_start(&f, "wgt3", FAKE_REPLY_CLOSE, "listen_port=1\nerrno=0\n", 0);
	assert_int_equal(wg_uapi_get(tmpdir, "wgt3", 2000, &dev), -EBADMSG);
	fake_stop(&f);
	assert_cleared(&dev);
}

static void an_endless_reply_stops_at_the_size_cap(void **state)
{
	struct wg_device dev = { 0 };
	struct fake f;

	(void)state;
	fake_start(&f, "wgt4", FAKE_FLOOD, NULL, 0);
	assert_int_equal(wg_uapi_get(tmpdir, "wgt4", 20000, &dev), -EMSGSIZE);
	fake_stop(&f);
}

int main(void)
{
	const struct CMUnitTest codec[] = {
		cmocka_unit_test(wireguard_go_reply_is_read_whole),
		cmocka_unit_test(handshake_time_and_byte_counters_are_read_to_their_limits),
		cmocka_unit_test(a_device_without_key_or_peers_is_an_empty_device),
		cmocka_unit_test(
			a_negative_errno_in_the_reply_is_returned_and_the_device_left_empty),
		cmocka_unit_test(unknown_keys_are_ignored_on_device_and_peer),
		cmocka_unit_test(allowed_ip_with_host_bits_is_accepted_and_kept_as_the_prefix),
		cmocka_unit_test(scoped_ipv6_endpoint_keeps_its_zone),
		cmocka_unit_test(malformed_replies_are_refused_and_leave_nothing),
		cmocka_unit_test(a_line_longer_than_the_limit_is_refused),
		cmocka_unit_test(a_nul_byte_in_a_line_is_refused),
		cmocka_unit_test(the_parser_stops_at_len),
		cmocka_unit_test(set_replies_give_zero_or_the_negative_errno),
		cmocka_unit_test(set_request_carries_every_field_in_protocol_order),
		cmocka_unit_test(set_request_has_only_what_the_flags_say),
		cmocka_unit_test(a_removed_peer_is_only_its_key_and_remove),
		cmocka_unit_test(update_only_comes_right_after_the_key_and_replace_before_the_ips),
		cmocka_unit_test(a_device_that_cannot_be_written_is_refused),
		cmocka_unit_test(a_formatted_device_parses_back_to_the_same_device),
		cmocka_unit_test(allowed_ips_outside_their_family_are_refused),
		cmocka_unit_test(thousands_of_peers_can_be_added_and_cleared),
		cmocka_unit_test(socket_path_is_dir_slash_name_dot_sock),
	};
	const struct CMUnitTest client[] = {
		cmocka_unit_test(
			get_sends_get_and_reads_the_device_while_the_connection_stays_open),
		cmocka_unit_test(a_reply_in_small_pieces_is_put_back_together),
		cmocka_unit_test(what_follows_the_end_of_the_reply_is_not_read_as_part_of_it),
		cmocka_unit_test(set_sends_the_request_and_returns_the_refusal),
		cmocka_unit_test(a_missing_socket_is_enoent_and_a_stale_one_econnrefused),
		cmocka_unit_test(a_silent_implementation_times_out_in_time),
		cmocka_unit_test(a_hang_up_without_reply_or_with_half_a_reply_is_an_error),
		cmocka_unit_test(an_endless_reply_stops_at_the_size_cap),
	};
	int failed;

	if (sodium_init() < 0)
		return 1;
	failed = cmocka_run_group_tests_name("uapi codec", codec, NULL, NULL);
	failed += cmocka_run_group_tests_name("uapi client", client, setup_dir, teardown_dir);
	return failed;
}
