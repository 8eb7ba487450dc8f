/*
 * test_netlink.c: unit tests of the kernel backend's codec (src/wg/netlink.c): requests
 * byte for byte, a dump reply split over messages as the kernel splits it, a set of
 * 1,000 peers split under WG_NL_MSG_MAX and read back, and malformed replies. Most byte
 * vectors were assembled by hand from include/uapi/linux/wireguard.h's attribute layout
 * (with a small script independent of libmnl, little-endian as on x86-64); one dump
 * message was captured from a real 6.1 kernel in the VM of tests/integration/
 * test_kernel_wg.sh, which also runs this code against that kernel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <linux/netlink.h>
#include <sodium.h>

#include "meshname/wg.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the byte vectors below are little-endian (netlink is host order)"
#endif

#define FAMILY 0x1b /* a generic netlink family id as the kernel hands them out */

/* clang-format off */
/* WG_CMD_GET_DEVICE dump request for wgk0, seq 7: nlmsghdr (REQUEST|ACK|DUMP), genlmsghdr
 * (cmd 0, version 1), WGDEVICE_A_IFNAME "wgk0\0" padded to 4. */
static const uint8_t get_request[] = {
	0x20, 0x00, 0x00, 0x00, 0x1b, 0x00, 0x05, 0x03, 0x07, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x09, 0x00, 0x02, 0x00,
	0x77, 0x67, 0x6b, 0x30, 0x00, 0x00, 0x00, 0x00,
};

/* WG_CMD_SET_DEVICE for wgk0, seq 1: private key 01..20, listen port 51820; one peer (key
 * a0..bf) with endpoint 192.0.2.1:51820, keepalive 25, flags REPLACE_ALLOWEDIPS, allowed
 * IPs 198.51.100.1/32 and 2001:db8::1/128; nests carry NLA_F_NESTED. */
static const uint8_t set_one_peer[] = {
	0xe4, 0x00, 0x00, 0x00, 0x1b, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x09, 0x00, 0x02, 0x00,
	0x77, 0x67, 0x6b, 0x30, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x03, 0x00,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
	0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
	0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x06, 0x00, 0x06, 0x00,
	0x6c, 0xca, 0x00, 0x00, 0x98, 0x00, 0x08, 0x80, 0x94, 0x00, 0x00, 0x80,
	0x24, 0x00, 0x01, 0x00, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
	0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3,
	0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
	0x14, 0x00, 0x04, 0x00, 0x02, 0x00, 0xca, 0x6c, 0xc0, 0x00, 0x02, 0x01,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x05, 0x00,
	0x19, 0x00, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00,
	0x48, 0x00, 0x09, 0x80, 0x1c, 0x00, 0x00, 0x80, 0x06, 0x00, 0x01, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00, 0xc6, 0x33, 0x64, 0x01,
	0x05, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x80,
	0x06, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x14, 0x00, 0x02, 0x00,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x01, 0x05, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x00,
};

/* A dump reply (seq 9) in the kernel's shape: the first message has the device (listen
 * port, fwmark, ifindex 3, ifname, private and public key) and peer 1 (handshake at
 * 1700000000, keepalive 25, tx 1234, rx 5678, endpoint 192.0.2.1:51820) with its first
 * allowed IP; the second continues peer 1 (key and one more allowed IP only) and has
 * peer 2 (no endpoint, 198.51.100.2/32); then NLMSG_DONE. */
static const uint8_t dump_part1[] = {
	0x40, 0x01, 0x00, 0x00, 0x1b, 0x00, 0x02, 0x00, 0x09, 0x00, 0x00, 0x00,
	0xd2, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x06, 0x00, 0x06, 0x00,
	0x6c, 0xca, 0x00, 0x00, 0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x08, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x09, 0x00, 0x02, 0x00,
	0x77, 0x67, 0x6b, 0x30, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x03, 0x00,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
	0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
	0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x24, 0x00, 0x04, 0x00,
	0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b,
	0x4c, 0x4d, 0x4e, 0x4f, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57,
	0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0xc0, 0x00, 0x08, 0x80,
	0xbc, 0x00, 0x00, 0x80, 0x24, 0x00, 0x01, 0x00, 0xa0, 0xa1, 0xa2, 0xa3,
	0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
	0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb,
	0xbc, 0xbd, 0xbe, 0xbf, 0x24, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x06, 0x00, 0x00, 0xf1, 0x53, 0x65,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x06, 0x00, 0x05, 0x00, 0x19, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x08, 0x00,
	0xd2, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x07, 0x00,
	0x2e, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0a, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x14, 0x00, 0x04, 0x00, 0x02, 0x00, 0xca, 0x6c,
	0xc0, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x20, 0x00, 0x09, 0x80, 0x1c, 0x00, 0x00, 0x80, 0x06, 0x00, 0x01, 0x00,
	0x02, 0x00, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00, 0xc6, 0x33, 0x64, 0x01,
	0x05, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x00,
};

static const uint8_t dump_part2[] = {
	0x14, 0x01, 0x00, 0x00, 0x1b, 0x00, 0x02, 0x00, 0x09, 0x00, 0x00, 0x00,
	0xd2, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x80,
	0x54, 0x00, 0x00, 0x80, 0x24, 0x00, 0x01, 0x00, 0xa0, 0xa1, 0xa2, 0xa3,
	0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
	0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb,
	0xbc, 0xbd, 0xbe, 0xbf, 0x2c, 0x00, 0x09, 0x80, 0x28, 0x00, 0x00, 0x80,
	0x06, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x14, 0x00, 0x02, 0x00,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x01, 0x05, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x00,
	0xa8, 0x00, 0x00, 0x80, 0x24, 0x00, 0x01, 0x00, 0xc0, 0xc1, 0xc2, 0xc3,
	0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf,
	0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb,
	0xdc, 0xdd, 0xde, 0xdf, 0x24, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x06, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x08, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x07, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0a, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x20, 0x00, 0x09, 0x80, 0x1c, 0x00, 0x00, 0x80,
	0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00,
	0xc6, 0x33, 0x64, 0x02, 0x05, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x00,
};

static const uint8_t dump_done[] = {
	0x14, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x09, 0x00, 0x00, 0x00,
	0xd2, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* A real one: the first dump message of Debian's 6.1.0-56 kernel (6.1.192) for an
 * interface wgk8 that tests/kernel/nl_check.c set up in the test VM (throwaway private
 * key, listen port 51900, one peer with key BLAKE2b-256 of the 8 zero bytes, endpoint
 * 192.0.2.1:10000, keepalive 25, allowed IPs 10.0.0.1/32 and fd00::/128), as
 * BUILD/kernel/captured-dump.hex kept it. The kernel writes an allowed IP's mask first. */
static const uint8_t captured_dump[] = {
	0x68, 0x01, 0x00, 0x00, 0x20, 0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00,
	0xcc, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x06, 0x00, 0x06, 0x00,
	0xbc, 0xca, 0x00, 0x00, 0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x08, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x09, 0x00, 0x02, 0x00,
	0x77, 0x67, 0x6b, 0x38, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x03, 0x00,
	0xf8, 0x4a, 0x39, 0xb4, 0x08, 0xf1, 0xd3, 0x9a, 0x2b, 0xc7, 0xee, 0x13,
	0x08, 0x6a, 0x44, 0x2e, 0x20, 0x5a, 0x42, 0x4a, 0xac, 0x33, 0xd6, 0xb1,
	0x3b, 0x8f, 0x4d, 0xab, 0x01, 0xf1, 0x02, 0x75, 0x24, 0x00, 0x04, 0x00,
	0x37, 0x9d, 0x07, 0xaf, 0x52, 0x7a, 0x44, 0x09, 0x50, 0x10, 0xcd, 0x62,
	0xfb, 0x89, 0x84, 0x30, 0xe7, 0x03, 0xd8, 0x19, 0xf7, 0x23, 0x99, 0x82,
	0xcb, 0xe1, 0x1e, 0xd0, 0x2e, 0x8e, 0xc6, 0x20, 0xe8, 0x00, 0x08, 0x80,
	0xe4, 0x00, 0x00, 0x80, 0x24, 0x00, 0x01, 0x00, 0x81, 0xe4, 0x7a, 0x19,
	0xe6, 0xb2, 0x9b, 0x0a, 0x65, 0xb9, 0x59, 0x17, 0x62, 0xce, 0x51, 0x43,
	0xed, 0x30, 0xd0, 0x26, 0x1e, 0x5d, 0x24, 0xa3, 0x20, 0x17, 0x52, 0x50,
	0x6b, 0x20, 0xf1, 0x5c, 0x24, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x06, 0x00, 0x05, 0x00, 0x19, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x08, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x07, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0a, 0x00,
	0x01, 0x00, 0x00, 0x00, 0x14, 0x00, 0x04, 0x00, 0x02, 0x00, 0x27, 0x10,
	0xc0, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x48, 0x00, 0x09, 0x80, 0x1c, 0x00, 0x00, 0x80, 0x05, 0x00, 0x03, 0x00,
	0x20, 0x00, 0x00, 0x00, 0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,
	0x08, 0x00, 0x02, 0x00, 0x0a, 0x00, 0x00, 0x01, 0x28, 0x00, 0x00, 0x80,
	0x05, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x00, 0x06, 0x00, 0x01, 0x00,
	0x0a, 0x00, 0x00, 0x00, 0x14, 0x00, 0x02, 0x00, 0xfd, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
/* clang-format on */

static void key_pattern(uint8_t key[WG_KEY_LEN], uint8_t first)
{
	for (size_t i = 0; i < WG_KEY_LEN; i++)
		key[i] = (uint8_t)(first + i);
}

static void set_endpoint4(struct wg_peer *peer, const char *ip, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&peer->endpoint;

	memset(&peer->endpoint, 0, sizeof(peer->endpoint));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	peer->flags |= WG_PEER_HAS_ENDPOINT;
}

static void add_ip(struct wg_peer *peer, const char *text, uint8_t cidr)
{
	uint8_t addr[16] = { 0 };
	uint8_t family = strchr(text, ':') != NULL ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(family, text, addr), 1);
	assert_non_null(wg_peer_add_allowedip(peer, family, addr, cidr));
}

static void assert_allowedip(const struct wg_allowedip *a, const char *ip, unsigned cidr)
{
	char text[INET6_ADDRSTRLEN] = "";

	assert_non_null(inet_ntop(a->family, a->addr, text, sizeof(text)));
	assert_string_equal(text, ip);
	assert_int_equal(a->cidr, cidr);
}

/* Parses one message from an exact-size heap copy, so that ASan sees any read past len. */
static int parse(const uint8_t *msg, size_t len, uint32_t seq, struct wg_device *dev, bool *done)
{
	uint8_t *copy = malloc(len);
	int r;

	assert_non_null(copy);
	memcpy(copy, msg, len);
	r = wg_nl_parse_get(copy, len, seq, dev, done);
	free(copy);
	return r;
}

/* ---- requests, byte for byte ------------------------------------------------------------ */

static void get_request_is_a_dump_by_ifname(void **state)
{
	uint8_t buf[WG_NL_MSG_MAX];
	size_t len;

	(void)state;
	assert_int_equal(wg_nl_format_get("wgk0", FAMILY, 7, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, sizeof(get_request));
	assert_memory_equal(buf, get_request, len);
	assert_int_equal(wg_nl_format_get("", FAMILY, 7, buf, sizeof(buf), &len), -EINVAL);
	assert_int_equal(wg_nl_format_get("sixteen-chars-xx", FAMILY, 7, buf, sizeof(buf), &len),
			 -EINVAL);
}

static void set_of_one_peer_matches_the_kernel_layout(void **state)
{
	struct wg_device dev = { .name = "wgk0" };
	struct wg_nl_cursor cur = { 0 };
	struct wg_peer *peer;
	uint8_t key[WG_KEY_LEN], buf[WG_NL_MSG_MAX];
	size_t len;

	(void)state;
	key_pattern(dev.private_key, 0x01);
	dev.listen_port = 51820;
	dev.flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT;
	key_pattern(key, 0xa0);
	assert_non_null(peer = wg_device_add_peer(&dev, key));
	set_endpoint4(peer, "192.0.2.1", 51820);
	peer->persistent_keepalive = 25;
	peer->flags |= WG_PEER_HAS_KEEPALIVE | WG_PEER_REPLACE_ALLOWEDIPS;
	add_ip(peer, "198.51.100.1", 32);
	add_ip(peer, "2001:db8::1", 128);

	assert_int_equal(wg_nl_format_set(&dev, FAMILY, 1, &cur, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, sizeof(set_one_peer));
	assert_memory_equal(buf, set_one_peer, len);
	/* Everything went into the first message: the next call says so. */
	assert_int_equal(wg_nl_format_set(&dev, FAMILY, 2, &cur, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 0);
	wg_device_clear(&dev);
}

static void set_without_peers_is_one_message_and_remove_flags_are_kept(void **state)
{
	struct wg_device dev = { .name = "wgk0" };
	struct wg_nl_cursor cur = { 0 };
	struct nlmsghdr *nlh;
	struct wg_peer *peer;
	uint8_t key[WG_KEY_LEN], buf[WG_NL_MSG_MAX];
	size_t len;

	(void)state;
	assert_int_equal(wg_nl_format_set(&dev, FAMILY, 1, &cur, buf, sizeof(buf), &len), 0);
	/* nlmsghdr, genlmsghdr, ifname: an empty set still names its device. */
	assert_int_equal(len, 16 + 4 + 12);
	assert_int_equal(wg_nl_format_set(&dev, FAMILY, 2, &cur, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 0);

	key_pattern(key, 0x10);
	assert_non_null(peer = wg_device_add_peer(&dev, key));
	peer->flags = WG_PEER_REMOVE;
	memset(&cur, 0, sizeof(cur));
	assert_int_equal(wg_nl_format_set(&dev, FAMILY, 1, &cur, buf, sizeof(buf), &len), 0);
	nlh = (struct nlmsghdr *)buf;
	assert_int_equal(nlh->nlmsg_len, len);
	/* ... ifname, peers nest (4), peer nest (4), key (36), flags REMOVE_ME (8). */
	assert_int_equal(len, 16 + 4 + 12 + 4 + 4 + 36 + 8);
	assert_int_equal(buf[len - 4], 1);
	wg_device_clear(&dev);
}

static void set_refuses_bad_input(void **state)
{
	struct wg_device dev = { .name = "" };
	struct wg_nl_cursor cur = { 0 };
	struct wg_peer *peer;
	uint8_t key[WG_KEY_LEN] = { 1 }, buf[WG_NL_MSG_MAX];
	size_t len = 99;

	(void)state;
	assert_int_equal(wg_nl_format_set(&dev, FAMILY, 1, &cur, buf, sizeof(buf), &len), -EINVAL);
	assert_int_equal(len, 0);
	snprintf(dev.name, sizeof(dev.name), "wgk0");
	assert_non_null(peer = wg_device_add_peer(&dev, key));
	peer->flags = WG_PEER_HAS_ENDPOINT; /* but AF_UNSPEC */
	assert_int_equal(wg_nl_format_set(&dev, FAMILY, 1, &cur, buf, sizeof(buf), &len), -EINVAL);
	peer->flags = 0;
	assert_int_equal(wg_nl_format_set(&dev, FAMILY, 1, &cur, buf, 64, &len), -EMSGSIZE);
	wg_device_clear(&dev);
}

/* ---- a dump reply, as the kernel splits it ---------------------------------------------- */

static void dump_over_two_messages_is_one_device(void **state)
{
	struct wg_device dev = { 0 };
	const struct sockaddr_in *sin;
	uint8_t want[WG_KEY_LEN];
	bool done = true;

	(void)state;
	assert_int_equal(parse(dump_part1, sizeof(dump_part1), 9, &dev, &done), 0);
	assert_false(done);
	assert_int_equal(parse(dump_part2, sizeof(dump_part2), 9, &dev, &done), 0);
	assert_false(done);
	assert_int_equal(parse(dump_done, sizeof(dump_done), 9, &dev, &done), 0);
	assert_true(done);

	assert_string_equal(dev.name, "wgk0");
	assert_int_equal(dev.listen_port, 51820);
	assert_true(dev.flags & WG_DEVICE_HAS_PRIVATE_KEY);
	assert_true(dev.flags & WG_DEVICE_HAS_LISTEN_PORT);
	assert_false(dev.flags & WG_DEVICE_HAS_FWMARK); /* fwmark 0 is none */
	key_pattern(want, 0x01);
	assert_memory_equal(dev.private_key, want, WG_KEY_LEN);
	key_pattern(want, 0x40);
	assert_memory_equal(dev.public_key, want, WG_KEY_LEN);

	/* Peer 1 continued into the second message: one peer with both allowed IPs. */
	assert_int_equal(dev.n_peers, 2);
	key_pattern(want, 0xa0);
	assert_memory_equal(dev.peers[0].public_key, want, WG_KEY_LEN);
	assert_int_equal(dev.peers[0].last_handshake_sec, 1700000000);
	assert_int_equal(dev.peers[0].persistent_keepalive, 25);
	assert_true(dev.peers[0].flags & WG_PEER_HAS_KEEPALIVE);
	assert_int_equal(dev.peers[0].tx_bytes, 1234);
	assert_int_equal(dev.peers[0].rx_bytes, 5678);
	assert_true(dev.peers[0].flags & WG_PEER_HAS_ENDPOINT);
	sin = (const struct sockaddr_in *)&dev.peers[0].endpoint;
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 51820);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xc0000201);
	assert_int_equal(dev.peers[0].n_allowedips, 2);
	assert_allowedip(&dev.peers[0].allowedips[0], "198.51.100.1", 32);
	assert_allowedip(&dev.peers[0].allowedips[1], "2001:db8::1", 128);

	key_pattern(want, 0xc0);
	assert_memory_equal(dev.peers[1].public_key, want, WG_KEY_LEN);
	assert_false(dev.peers[1].flags & WG_PEER_HAS_ENDPOINT);
	assert_int_equal(dev.peers[1].last_handshake_sec, 0);
	assert_int_equal(dev.peers[1].n_allowedips, 1);
	assert_allowedip(&dev.peers[1].allowedips[0], "198.51.100.2", 32);
	wg_device_clear(&dev);
}

static void dump_read_in_one_buffer_is_the_same(void **state)
{
	uint8_t all[sizeof(dump_part1) + sizeof(dump_part2) + sizeof(dump_done)];
	struct wg_device dev = { 0 };
	bool done = false;

	(void)state;
	memcpy(all, dump_part1, sizeof(dump_part1));
	memcpy(all + sizeof(dump_part1), dump_part2, sizeof(dump_part2));
	memcpy(all + sizeof(dump_part1) + sizeof(dump_part2), dump_done, sizeof(dump_done));
	assert_int_equal(parse(all, sizeof(all), 9, &dev, &done), 0);
	assert_true(done);
	assert_int_equal(dev.n_peers, 2);
	assert_int_equal(dev.peers[0].n_allowedips, 2);
	wg_device_clear(&dev);
}

static void captured_kernel_dump_of_one_peer(void **state)
{
	struct wg_device dev = { 0 };
	uint8_t pub[WG_KEY_LEN];
	const struct sockaddr_in *sin;
	bool done = true;

	(void)state;
	assert_int_equal(parse(captured_dump, sizeof(captured_dump), 2, &dev, &done), 0);
	assert_false(done);
	assert_string_equal(dev.name, "wgk8");
	assert_int_equal(dev.listen_port, 51900);
	assert_true(dev.flags & WG_DEVICE_HAS_PRIVATE_KEY);
	/* The public key the kernel sent is the one of the private key it sent. */
	assert_int_equal(crypto_scalarmult_curve25519_base(pub, dev.private_key), 0);
	assert_memory_equal(pub, dev.public_key, WG_KEY_LEN);
	assert_int_equal(dev.n_peers, 1);
	assert_int_equal(dev.peers[0].public_key[0], 0x81);
	assert_int_equal(dev.peers[0].public_key[31], 0x5c);
	assert_int_equal(dev.peers[0].persistent_keepalive, 25);
	assert_int_equal(dev.peers[0].last_handshake_sec, 0);
	sin = (const struct sockaddr_in *)&dev.peers[0].endpoint;
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 10000);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xc0000201);
	assert_int_equal(dev.peers[0].n_allowedips, 2);
	assert_allowedip(&dev.peers[0].allowedips[0], "10.0.0.1", 32);
	assert_allowedip(&dev.peers[0].allowedips[1], "fd00::", 128);
	wg_device_clear(&dev);
}

/* ---- 1,000 peers: split under the size limit, read back whole ---------------------------- */

/* Makes a device of n peers, peer i with key i and allowed IPs 10.x.y.z/32 and a /128
 * (documentation ranges would run out: these only travel in memory). */
static void make_peers(struct wg_device *dev, size_t n, size_t ips_per_peer)
{
	snprintf(dev->name, sizeof(dev->name), "wgk0");
	for (size_t i = 0; i < n; i++) {
		uint8_t key[WG_KEY_LEN] = { 0 };
		struct wg_peer *p;

		memcpy(key, &i, sizeof(i));
		key[31] = 0x42;
		assert_non_null(p = wg_device_add_peer(dev, key));
		p->flags = WG_PEER_REPLACE_ALLOWEDIPS | WG_PEER_HAS_KEEPALIVE;
		p->persistent_keepalive = (uint16_t)(i % 2 ? 25 : 0);
		set_endpoint4(p, "192.0.2.1", (uint16_t)(1000 + i));
		for (size_t k = 0; k < ips_per_peer; k++) {
			uint8_t a4[4] = { 10, (uint8_t)(i >> 8), (uint8_t)i, (uint8_t)k };
			uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8 };

			memcpy(a6 + 8, &i, sizeof(i));
			a6[15] = (uint8_t)k;
			assert_non_null(wg_peer_add_allowedip(p, AF_INET, a4, 32));
			assert_non_null(wg_peer_add_allowedip(p, AF_INET6, a6, 128));
		}
	}
}

/*
 * Formats dev, turns every SET message into the GET reply the kernel would give for the
 * same attributes (command byte, sequence), and parses them back into out. Returns the
 * number of messages; each is checked against max.
 */
static size_t split_and_read_back(const struct wg_device *dev, size_t max, struct wg_device *out,
				  size_t *n_with_device)
{
	struct wg_nl_cursor cur = { 0 };
	uint8_t *buf = malloc(max);
	size_t n = 0, len;
	bool done;

	assert_non_null(buf);
	*n_with_device = 0;
	for (;;) {
		assert_int_equal(wg_nl_format_set(dev, FAMILY, (uint32_t)n, &cur, buf, max, &len),
				 0);
		if (len == 0)
			break;
		assert_true(len <= max);
		assert_int_equal(((struct nlmsghdr *)buf)->nlmsg_len, len);
		/* The device's settings (here: its private key) only in the first message. */
		if (memmem(buf, len, dev->private_key, WG_KEY_LEN) != NULL)
			(*n_with_device)++;
		buf[NLMSG_HDRLEN] = 0; /* WG_CMD_SET_DEVICE -> WG_CMD_GET_DEVICE */
		assert_int_equal(parse(buf, len, (uint32_t)n, out, &done), 0);
		assert_false(done);
		n++;
	}
	free(buf);
	return n;
}

static void assert_same_peers(const struct wg_device *a, const struct wg_device *b)
{
	assert_int_equal(a->n_peers, b->n_peers);
	for (size_t i = 0; i < a->n_peers; i++) {
		const struct wg_peer *p = &a->peers[i], *q = &b->peers[i];

		assert_memory_equal(p->public_key, q->public_key, WG_KEY_LEN);
		assert_memory_equal(&p->endpoint, &q->endpoint, sizeof(struct sockaddr_in));
		assert_int_equal(p->persistent_keepalive, q->persistent_keepalive);
		assert_int_equal(p->n_allowedips, q->n_allowedips);
		assert_memory_equal(p->allowedips, q->allowedips,
				    p->n_allowedips * sizeof(*p->allowedips));
	}
}

static void thousand_peers_split_under_the_limit_and_read_back(void **state)
{
	struct wg_device dev = { 0 }, back = { 0 };
	size_t n, n_dev;

	(void)state;
	make_peers(&dev, 1000, 1);
	key_pattern(dev.private_key, 0x77);
	dev.flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_REPLACE_PEERS;
	n = split_and_read_back(&dev, WG_NL_MSG_MAX, &back, &n_dev);
	/* A peer with an endpoint, keepalive, flags and two allowed IPs is 148 bytes: 55 fit
	 * in 8 KiB after the headers, so 1,000 take 19 messages. */
	print_message("1000 peers: %zu messages of at most %d bytes\n", n, WG_NL_MSG_MAX);
	assert_int_equal(n, 19);
	assert_int_equal(n_dev, 1);
	assert_same_peers(&dev, &back);
	wg_device_clear(&back);
	wg_device_clear(&dev);
}

static void a_long_allowed_ip_list_continues_without_replace(void **state)
{
	struct wg_device dev = { 0 }, back = { 0 };
	struct wg_nl_cursor cur = { 0 };
	uint8_t buf[WG_NL_MSG_MAX];
	size_t n, n_dev, len, replaced = 0;

	(void)state;
	make_peers(&dev, 3, 300); /* 600 allowed IPs each: about 20 KiB a peer */
	n = split_and_read_back(&dev, WG_NL_MSG_MAX, &back, &n_dev);
	assert_true(n >= 6);
	assert_same_peers(&dev, &back);
	/* REPLACE_ALLOWEDIPS (flags attribute 08 00 03 00 02 00 00 00) only in the part where
	 * each peer begins: 3 times over all messages. */
	for (;;) {
		static const uint8_t replace[] = { 8, 0, 3, 0, 2, 0, 0, 0 };

		assert_int_equal(wg_nl_format_set(&dev, FAMILY, 1, &cur, buf, sizeof(buf), &len),
				 0);
		if (len == 0)
			break;
		for (uint8_t *p = buf;
		     (p = memmem(p, len - (size_t)(p - buf), replace, sizeof(replace))) != NULL;
		     p++)
			replaced++;
	}
	assert_int_equal(replaced, 3);
	wg_device_clear(&back);
	wg_device_clear(&dev);
}

static void small_messages_still_make_progress(void **state)
{
	struct wg_device dev = { 0 }, back = { 0 };
	size_t n, n_dev;

	(void)state;
	make_peers(&dev, 10, 4);
	n = split_and_read_back(&dev, 256, &back, &n_dev);
	assert_true(n > 10);
	assert_same_peers(&dev, &back);
	wg_device_clear(&back);
	wg_device_clear(&dev);
}

/* ---- malformed replies ------------------------------------------------------------------- */

/* dump_part2 with one byte changed at offset off (or its length cut to len). */
static int parse_changed(size_t off, uint8_t value, size_t len)
{
	uint8_t msg[sizeof(dump_part2)];
	struct wg_device dev = { 0 };
	bool done;
	int r;

	memcpy(msg, dump_part2, sizeof(msg));
	if (off < sizeof(msg))
		msg[off] = value;
	r = parse(msg, len, 9, &dev, &done);
	wg_device_clear(&dev);
	return r;
}

static void malformed_replies_are_ebadmsg(void **state)
{
	/* Offsets in dump_part2: 0 nlmsg_len, 16 genl cmd, 20 peers nest, 24 peer 1 nest,
	 * 28 peer 1 key attribute, 64 its allowed IPs nest. */
	(void)state;
	assert_int_equal(parse_changed(SIZE_MAX, 0, sizeof(dump_part2)), 0);
	/* A message shorter than its header says. */
	assert_int_equal(parse_changed(SIZE_MAX, 0, sizeof(dump_part2) - 4), -EBADMSG);
	assert_int_equal(parse_changed(SIZE_MAX, 0, 10), -EBADMSG);
	/* An attribute longer than what holds it (the peers nest, then a key). */
	assert_int_equal(parse_changed(20, 0xff, sizeof(dump_part2)), -EBADMSG);
	assert_int_equal(parse_changed(28, 0x30, sizeof(dump_part2)), -EBADMSG);
	/* An attribute length below the attribute header. */
	assert_int_equal(parse_changed(28, 0x02, sizeof(dump_part2)), -EBADMSG);
	/* The key attribute's length 36 made 32: a 28-byte key. */
	assert_int_equal(parse_changed(28, 0x20, sizeof(dump_part2)), -EBADMSG);
	/* A peer without its key: the key attribute's type changed to an unknown one is
	 * ignored, and then the peer has no key. */
	assert_int_equal(parse_changed(30, 0x7f, sizeof(dump_part2)), -EBADMSG);
	/* Another command than GET_DEVICE. */
	assert_int_equal(parse_changed(16, 1, sizeof(dump_part2)), -EBADMSG);
}

static void wrong_types_are_ebadmsg(void **state)
{
	struct wg_device dev = { 0 };
	uint8_t msg[sizeof(dump_part1)];
	bool done;

	(void)state;
	/* In dump_part1 at 20: the listen port attribute 06 00 06 00 6c ca 00 00. As a u32
	 * (length 8) it is the wrong size for WGDEVICE_A_LISTEN_PORT. */
	memcpy(msg, dump_part1, sizeof(msg));
	assert_int_equal(msg[20], 6);
	msg[20] = 8;
	assert_int_equal(parse(msg, sizeof(msg), 9, &dev, &done), -EBADMSG);
	wg_device_clear(&dev);
	/* The fwmark (u32 at 28) read as a listen port: type 7 -> 6, length 8 is wrong. */
	memcpy(msg, dump_part1, sizeof(msg));
	assert_int_equal(msg[30], 7);
	msg[30] = 6;
	assert_int_equal(parse(msg, sizeof(msg), 9, &dev, &done), -EBADMSG);
	wg_device_clear(&dev);
	/* The ifindex (u32 at 36) as an ifname: not NUL-terminated. */
	memcpy(msg, dump_part1, sizeof(msg));
	assert_int_equal(msg[38], 1);
	msg[38] = 2;
	memset(msg + 40, 'x', 4);
	assert_int_equal(parse(msg, sizeof(msg), 9, &dev, &done), -EBADMSG);
	wg_device_clear(&dev);
}

static void wrong_allowed_ip_family_is_ebadmsg(void **state)
{
	uint8_t msg[sizeof(dump_part2)];
	struct wg_device dev = { 0 };
	uint8_t *family;
	bool done;

	(void)state;
	/* Peer 1's continued allowed IP: family attribute 06 00 01 00 0a 00 at 72. */
	memcpy(msg, dump_part2, sizeof(msg));
	family = msg + 72;
	assert_int_equal(family[4], AF_INET6);
	family[4] = AF_INET; /* with a 16-byte address */
	assert_int_equal(parse(msg, sizeof(msg), 9, &dev, &done), -EBADMSG);
	wg_device_clear(&dev);
	family[4] = 99;
	assert_int_equal(parse(msg, sizeof(msg), 9, &dev, &done), -EBADMSG);
	wg_device_clear(&dev);
}

static void another_sequence_number_is_ebadmsg(void **state)
{
	struct wg_device dev = { 0 };
	bool done;

	(void)state;
	assert_int_equal(parse(dump_part1, sizeof(dump_part1), 10, &dev, &done), -EBADMSG);
	wg_device_clear(&dev);
}

/* An NLMSG_ERROR (seq 9): nlmsghdr, then struct nlmsgerr (error, the request's header). */
static void make_error(uint8_t *msg, int32_t error)
{
	struct nlmsghdr h = { .nlmsg_len = 36, .nlmsg_type = NLMSG_ERROR, .nlmsg_seq = 9 };

	memset(msg, 0, 36);
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + 16, &error, sizeof(error));
}

static void kernel_errors_come_back_as_errno(void **state)
{
	struct wg_device dev = { 0 };
	uint8_t msg[36], intr[sizeof(dump_part2)];
	bool done;

	(void)state;
	make_error(msg, -ENODEV);
	assert_int_equal(parse(msg, sizeof(msg), 9, &dev, &done), -ENODEV);
	assert_true(done);
	make_error(msg, 0);
	assert_int_equal(wg_nl_parse_ack(msg, sizeof(msg), 9), 0);
	make_error(msg, -EINVAL);
	assert_int_equal(wg_nl_parse_ack(msg, sizeof(msg), 9), -EINVAL);
	make_error(msg, 5); /* positive: not an errno the kernel sends */
	assert_int_equal(wg_nl_parse_ack(msg, sizeof(msg), 9), -EBADMSG);
	assert_int_equal(wg_nl_parse_ack(msg, 20, 9), -EBADMSG);
	/* A data message where only an acknowledgement belongs. */
	assert_int_equal(wg_nl_parse_ack(dump_part2, sizeof(dump_part2), 9), -EBADMSG);
	/* A dump that changed under way (NLM_F_DUMP_INTR): ask again. */
	memcpy(intr, dump_part2, sizeof(intr));
	intr[6] |= NLM_F_DUMP_INTR & 0xff;
	intr[7] |= NLM_F_DUMP_INTR >> 8;
	assert_int_equal(parse(intr, sizeof(intr), 9, &dev, &done), -EINTR);
	wg_device_clear(&dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(get_request_is_a_dump_by_ifname),
		cmocka_unit_test(set_of_one_peer_matches_the_kernel_layout),
		cmocka_unit_test(set_without_peers_is_one_message_and_remove_flags_are_kept),
		cmocka_unit_test(set_refuses_bad_input),
		cmocka_unit_test(dump_over_two_messages_is_one_device),
		cmocka_unit_test(dump_read_in_one_buffer_is_the_same),
		cmocka_unit_test(captured_kernel_dump_of_one_peer),
		cmocka_unit_test(thousand_peers_split_under_the_limit_and_read_back),
		cmocka_unit_test(a_long_allowed_ip_list_continues_without_replace),
		cmocka_unit_test(small_messages_still_make_progress),
		cmocka_unit_test(malformed_replies_are_ebadmsg),
		cmocka_unit_test(wrong_types_are_ebadmsg),
		cmocka_unit_test(wrong_allowed_ip_family_is_ebadmsg),
		cmocka_unit_test(another_sequence_number_is_ebadmsg),
		cmocka_unit_test(kernel_errors_come_back_as_errno),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
