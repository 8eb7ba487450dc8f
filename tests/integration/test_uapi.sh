#!/usr/bin/env bash
# The userspace API backend (src/wg/uapi.c) against a real wireguard-go in a network
# namespace: a small C program, compiled here against $BUILD/libwg.a, sets and gets the
# device through wg_uapi_set/wg_uapi_get; what it reads is checked against what was set
# and against `wg show IFACE dump`. Also: removal, update_only, replace flags, a refused
# set whose earlier lines stay applied (a set is not atomic), 1,000 peers in one request.
# Only documentation prefixes, only inside the namespace; everything stopped by PID.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
passed=0
failed=0
wg_pid=
udp_pid=
ns=mnu-$$
# Interface names are global for UAPI (/run/wireguard is shared by every namespace).
ifname=$(printf 'mnu%s' "$$" | cut -c1-15)
tmp=$(mktemp -d)

cleanup() {
	[ -n "$udp_pid" ] && kill "$udp_pid" 2>/dev/null && wait "$udp_pid" 2>/dev/null
	[ -n "$wg_pid" ] && kill "$wg_pid" 2>/dev/null && wait "$wg_pid" 2>/dev/null
	rm -f "/run/wireguard/$ifname.sock"
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
# check NAME EXPECTED ACTUAL: equal strings, the difference shown when not.
check_eq() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | sed 's/^/#   /'
	fi
}
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
bail() {
	not_ok "$1"
	echo "$passed passed, $failed failed"
	exit 1
}

for tool in wireguard-go wg socat ip cc pkg-config; do
	command -v "$tool" >/dev/null || bail "$tool is missing (tests/deps.sh test installs it)"
done
[ -f "$BUILD/libwg.a" ] || bail "$BUILD/libwg.a is missing (make all-tests builds it)"
[ "$(id -u)" -eq 0 ] || bail "network namespaces need root"

# ---- the driver -------------------------------------------------------------------------
cat >"$tmp/uapi_tool.c" <<'EOF'
/*
 * uapi_tool: drives wg_uapi_get/wg_uapi_set for test_uapi.sh.
 *   uapi_tool DIR IFACE get    prints the device like the fields of `wg show IFACE dump`
 *   uapi_tool DIR IFACE set [private-key FILE] [listen-port N] [fwmark N] [replace-peers]
 *       [peer KEY [remove] [update-only] [endpoint IP:PORT|[IP6]:PORT] [keepalive N]
 *        [replace-allowed-ips] [allowed-ip ADDR/CIDR]...]... [bulk N]
 * Keys in base64 like wg. Errors: one line on stderr, exit 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "meshname/wg.h"

static void die(const char *what, int r)
{
	fprintf(stderr, "uapi_tool: %s: %s (errno %d)\n", what, strerror(-r), -r);
	exit(1);
}

static void key_b64(const char *s, uint8_t key[WG_KEY_LEN])
{
	size_t n;

	if (sodium_base642bin(key, WG_KEY_LEN, s, strlen(s), " \n", &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || n != WG_KEY_LEN)
		die("bad key", -EINVAL);
}

static void print_key(const uint8_t key[WG_KEY_LEN])
{
	char b64[sodium_base64_ENCODED_LEN(WG_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];

	fputs(sodium_bin2base64(b64, sizeof(b64), key, WG_KEY_LEN,
				sodium_base64_VARIANT_ORIGINAL), stdout);
}

static void endpoint(const char *s, struct sockaddr_storage *ss)
{
	char host[64];
	const char *port;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':' || (size_t)(close - s) >= sizeof(host))
			die("bad endpoint", -EINVAL);
		snprintf(host, sizeof(host), "%.*s", (int)(close - s - 1), s + 1);
		port = close + 2;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)atoi(port));
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			die("bad endpoint", -EINVAL);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if ((port = strrchr(s, ':')) == NULL || (size_t)(port - s) >= sizeof(host))
			die("bad endpoint", -EINVAL);
		snprintf(host, sizeof(host), "%.*s", (int)(port - s), s);
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)atoi(port + 1));
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			die("bad endpoint", -EINVAL);
	}
}

static void allowed_ip(struct wg_peer *peer, const char *s)
{
	char ip[64];
	const char *slash = strchr(s, '/');
	uint8_t addr[16], family = strchr(s, ':') ? AF_INET6 : AF_INET;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(ip))
		die("bad allowed IP", -EINVAL);
	snprintf(ip, sizeof(ip), "%.*s", (int)(slash - s), s);
	if (inet_pton(family, ip, addr) != 1 ||
	    wg_peer_add_allowedip(peer, family, addr, (uint8_t)atoi(slash + 1)) == NULL)
		die("bad allowed IP", -EINVAL);
}

static void print_device(const struct wg_device *dev)
{
	printf("device\t");
	print_key(dev->public_key);
	printf("\t%u\t", dev->listen_port);
	if (dev->fwmark)
		printf("0x%x\n", dev->fwmark);
	else
		printf("off\n");
	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct wg_peer *p = &dev->peers[i];
		char ip[INET6_ADDRSTRLEN];

		print_key(p->public_key);
		if (!(p->flags & WG_PEER_HAS_ENDPOINT)) {
			printf("\t(none)");
		} else if (p->endpoint.ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)&p->endpoint;

			printf("\t%s:%u", inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip)),
			       ntohs(sin->sin_port));
		} else {
			const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&p->endpoint;

			printf("\t[%s]:%u", inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip)),
			       ntohs(sin6->sin6_port));
		}
		printf("\t");
		for (size_t j = 0; j < p->n_allowedips; j++)
			printf("%s%s/%u", j ? "," : "",
			       inet_ntop(p->allowedips[j].family, p->allowedips[j].addr, ip,
					 sizeof(ip)),
			       p->allowedips[j].cidr);
		if (p->n_allowedips == 0)
			printf("(none)");
		if (p->persistent_keepalive)
			printf("\t%u\n", p->persistent_keepalive);
		else
			printf("\toff\n");
	}
}

int main(int argc, char *argv[])
{
	struct wg_device dev = {0};
	struct wg_peer *peer = NULL;
	int r;

	if (sodium_init() < 0 || argc < 4)
		die("usage: uapi_tool DIR IFACE get|set ...", -EINVAL);
	if (strcmp(argv[3], "get") == 0) {
		if ((r = wg_uapi_get(argv[1], argv[2], 5000, &dev)) < 0)
			die("get", r);
		print_device(&dev);
		wg_device_clear(&dev);
		return 0;
	}
	for (int i = 4; i < argc; i++) {
		const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : "";

		if (strcmp(arg, "private-key") == 0) {
			char b64[128] = "";
			FILE *fp = fopen(val, "r");

			if (fp == NULL || fgets(b64, sizeof(b64), fp) == NULL)
				die(val, -errno);
			fclose(fp);
			key_b64(b64, dev.private_key);
			sodium_memzero(b64, sizeof(b64));
			dev.flags |= WG_DEVICE_HAS_PRIVATE_KEY;
			i++;
		} else if (strcmp(arg, "listen-port") == 0) {
			dev.listen_port = (uint16_t)atoi(val);
			dev.flags |= WG_DEVICE_HAS_LISTEN_PORT;
			i++;
		} else if (strcmp(arg, "fwmark") == 0) {
			dev.fwmark = (uint32_t)strtoul(val, NULL, 0);
			dev.flags |= WG_DEVICE_HAS_FWMARK;
			i++;
		} else if (strcmp(arg, "replace-peers") == 0) {
			dev.flags |= WG_DEVICE_REPLACE_PEERS;
		} else if (strcmp(arg, "peer") == 0) {
			uint8_t key[WG_KEY_LEN];

			key_b64(val, key);
			if ((peer = wg_device_add_peer(&dev, key)) == NULL)
				die("peer", -ENOMEM);
			i++;
		} else if (strcmp(arg, "bulk") == 0) {
			/* N peers, keys and one /128 each from their number. */
			int n = atoi(val);

			for (int k = 0; k < n; k++) {
				uint8_t key[WG_KEY_LEN] = {0x6d, 0x6e}, addr[16] = {0x20, 0x01, 0x0d,
										    0xb8, 0, 0x0a};

				key[2] = (uint8_t)(k >> 8);
				key[3] = (uint8_t)k;
				addr[14] = (uint8_t)(k >> 8);
				addr[15] = (uint8_t)k;
				if ((peer = wg_device_add_peer(&dev, key)) == NULL ||
				    wg_peer_add_allowedip(peer, AF_INET6, addr, 128) == NULL)
					die("bulk", -ENOMEM);
			}
			peer = NULL;
			i++;
		} else if (peer == NULL) {
			die(arg, -EINVAL);
		} else if (strcmp(arg, "remove") == 0) {
			peer->flags |= WG_PEER_REMOVE;
		} else if (strcmp(arg, "update-only") == 0) {
			peer->flags |= WG_PEER_UPDATE_ONLY;
		} else if (strcmp(arg, "replace-allowed-ips") == 0) {
			peer->flags |= WG_PEER_REPLACE_ALLOWEDIPS;
		} else if (strcmp(arg, "endpoint") == 0) {
			endpoint(val, &peer->endpoint);
			peer->flags |= WG_PEER_HAS_ENDPOINT;
			i++;
		} else if (strcmp(arg, "keepalive") == 0) {
			peer->persistent_keepalive = (uint16_t)atoi(val);
			peer->flags |= WG_PEER_HAS_KEEPALIVE;
			i++;
		} else if (strcmp(arg, "allowed-ip") == 0) {
			allowed_ip(peer, val);
			i++;
		} else {
			die(arg, -EINVAL);
		}
	}
	r = wg_uapi_set(argv[1], argv[2], 5000, &dev);
	wg_device_clear(&dev);
	if (r < 0)
		die("set", r);
	return 0;
}
EOF

# The same sanitizers as the library, or the link fails.
san=${SANITIZE:-}
if [ -z "$san" ] && nm "$BUILD/libwg.a" 2>/dev/null | grep -q __asan_; then
	san=address,undefined
fi
# shellcheck disable=SC2046
if ! cc -std=c11 -D_GNU_SOURCE -g -Wall -Wextra -Werror -Iinclude ${san:+-fsanitize=$san} \
	$(pkg-config --cflags libsodium) -o "$tmp/uapi_tool" "$tmp/uapi_tool.c" "$BUILD/libwg.a" \
	$(pkg-config --libs libsodium) 2>"$tmp/cc.log"; then
	cat "$tmp/cc.log"
	bail "the UAPI driver compiles against $BUILD/libwg.a"
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
tool() { ip netns exec "$ns" "$tmp/uapi_tool" /run/wireguard "$ifname" "$@"; }
# The device as the tool sees it, peers sorted (wireguard-go lists them in map order).
show() { tool get | sort; }
# The same fields from wg's own dump: public key, port, fwmark; key, endpoint, IPs, keepalive.
wg_show() {
	ip netns exec "$ns" wg show "$ifname" dump |
		awk -F'\t' 'NR == 1 { print "device\t" $2 "\t" $3 "\t" $4; next }
			    { print $1 "\t" $3 "\t" $4 "\t" $8 }' | sort
}

# ---- a wireguard-go -------------------------------------------------------------------
ip netns add "$ns" || bail "ip netns add"
ip -n "$ns" link set lo up
# Not through a function: $! must be wireguard-go itself (ip netns exec execs in place).
ip netns exec "$ns" wireguard-go -f "$ifname" >"$tmp/wg.log" 2>&1 &
wg_pid=$!
for _ in $(seq 50); do
	[ -S "/run/wireguard/$ifname.sock" ] && break
	sleep 0.1
done
[ -S "/run/wireguard/$ifname.sock" ] || { cat "$tmp/wg.log"; bail "wireguard-go makes $ifname"; }
ok "wireguard-go runs $ifname in $ns"

umask 077 # private keys
wg genkey >"$tmp/priv"
pub=$(wg pubkey <"$tmp/priv")
for i in 1 2 3 4 5; do
	wg genkey | wg pubkey >"$tmp/p$i"
	declare "p$i=$(cat "$tmp/p$i")"
done

# ---- set and get ----------------------------------------------------------------------
check "an empty device reads back with no peers" "[ \"\$(tool get | wc -l)\" -eq 1 ]"
tool set private-key "$tmp/priv" listen-port 51820 fwmark 0x42 \
	peer "$p1" endpoint 192.0.2.1:51820 keepalive 25 allowed-ip 198.51.100.1/32 \
	allowed-ip 2001:db8::1/128 \
	peer "$p2" endpoint '[2001:db8::2]:4000' allowed-ip 198.51.100.2/32 \
	peer "$p3" allowed-ip 198.51.100.3/32 allowed-ip 203.0.113.0/24 2>"$tmp/err"
rc=$?
check "a set with key, port, fwmark and three peers succeeds" "[ $rc -eq 0 ]"
want=$(printf '%s\n' \
	"device	$pub	51820	0x42" \
	"$p1	192.0.2.1:51820	198.51.100.1/32,2001:db8::1/128	25" \
	"$p2	[2001:db8::2]:4000	198.51.100.2/32	off" \
	"$p3	(none)	198.51.100.3/32,203.0.113.0/24	off" | sort)
check_eq "get returns exactly what was set" "$want" "$(show)"
check_eq "and wg show dump sees the same device" "$(wg_show)" "$(show)"

tool set peer "$p2" remove
want=$(printf '%s\n' \
	"device	$pub	51820	0x42" \
	"$p1	192.0.2.1:51820	198.51.100.1/32,2001:db8::1/128	25" \
	"$p3	(none)	198.51.100.3/32,203.0.113.0/24	off" | sort)
check_eq "a removed peer is gone, the others untouched" "$want" "$(show)"

tool set peer "$p4" update-only allowed-ip 198.51.100.4/32
rc=$?
check "update_only on a missing peer succeeds" "[ $rc -eq 0 ]"
check_eq "and adds nothing" "$want" "$(show)"

tool set peer "$p3" update-only endpoint 192.0.2.3:3 replace-allowed-ips allowed-ip 198.51.100.33/32 \
	peer "$p1" keepalive 0
want=$(printf '%s\n' \
	"device	$pub	51820	0x42" \
	"$p1	192.0.2.1:51820	198.51.100.1/32,2001:db8::1/128	off" \
	"$p3	192.0.2.3:3	198.51.100.33/32	off" | sort)
check_eq "update_only changes an existing peer; replace-allowed-ips drops its old IPs" \
	"$want" "$(show)"
check_eq "wg show dump agrees" "$(wg_show)" "$(show)"

tool set replace-peers peer "$p5" allowed-ip 198.51.100.5/32
want=$(printf '%s\n' "device	$pub	51820	0x42" "$p5	(none)	198.51.100.5/32	off" | sort)
check_eq "replace-peers leaves only the peers listed" "$want" "$(show)"

# ---- a refused set: the lines before the failing one stay applied -----------------------
ip netns exec "$ns" socat -u UDP4-RECV:51999 /dev/null &
udp_pid=$!
sleep 0.3
wg genkey >"$tmp/priv2"
pub2=$(wg pubkey <"$tmp/priv2")
tool set private-key "$tmp/priv2" listen-port 51999 fwmark 7 peer "$p1" allowed-ip 198.51.100.1/32 \
	2>"$tmp/err"
rc=$?
check "a set on a port in use fails" "[ $rc -eq 1 ]"
check "with the implementation's errno as a clear error (EADDRINUSE)" \
	"grep -q 'set: Address already in use (errno 98)' '$tmp/err'"
dev=$(tool get)
check "the private key before the failing line was applied" \
	"printf '%s\n' \"\$dev\" | grep -q \"^device	$pub2	\""
check "the fwmark after it was not" "printf '%s\n' \"\$dev\" | grep -q '	0x42\$'"
check "nor the peer after it" "! printf '%s\n' \"\$dev\" | grep -q \"^$p1\""
kill "$udp_pid" 2>/dev/null
wait "$udp_pid" 2>/dev/null
udp_pid=

# ---- many peers in one request (more than a socket buffer either way) --------------------
start=$(date +%s%N)
tool set replace-peers bulk 1000
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
check "1000 peers in one set succeed (${ms} ms)" "[ $rc -eq 0 ]"
check "and read back: 1000 peers, each with its /128" \
	"[ \"\$(tool get | grep -c '	2001:db8:a::[0-9a-f]*/128	off\$')\" -eq 1000 ]"
check_eq "wg show dump agrees on all of them" "$(wg_show)" "$(show)"

# ---- errors from the socket itself -------------------------------------------------------
ip netns exec "$ns" "$tmp/uapi_tool" /run/wireguard mnu-none0 get 2>"$tmp/err"
rc=$?
check "get on an interface with no socket says so (ENOENT)" \
	"[ $rc -eq 1 ] && grep -q 'No such file or directory' '$tmp/err'"
# Killed outright, wireguard-go leaves its socket file behind: nobody listens on it.
kill -KILL "$wg_pid" 2>/dev/null
wait "$wg_pid" 2>/dev/null
wg_pid=
check "a killed wireguard-go leaves a stale socket" "[ -S /run/wireguard/$ifname.sock ]"
tool get >/dev/null 2>"$tmp/err"
rc=$?
check "get on the stale socket fails with ECONNREFUSED" \
	"[ $rc -eq 1 ] && grep -q 'Connection refused' '$tmp/err'"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
