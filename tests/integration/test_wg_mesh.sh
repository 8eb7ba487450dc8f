#!/usr/bin/env bash
# The first real mesh: three simulated hosts h1 h2 h3 in network namespaces on one LAN
# (a bridge in a "lan" namespace), each running meshnamed, which does all the WireGuard
# work from the registry (the test never runs `wg set`): h1 and h2 with `manage yes`
# (meshnamed starts wireguard-go, adds the mesh addresses and routes), h3 with `manage
# peers` (the test starts wireguard-go and addresses it; meshnamed sets key, port and
# peers). Checks: peers and allowed IPs, `ping NAME.mesh` resolved by the host's own
# meshnamed through the tunnel, a revoked host leaving every peer list, clean SIGTERM.
# Only documentation prefixes, only inside the namespaces; everything stopped by PID.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
MESHNAME=$PWD/$BUILD/meshname
MESHNAMED=$PWD/$BUILD/meshnamed
WG_GO=/usr/bin/wireguard-go
passed=0
failed=0
tmp=$(mktemp -d)
tag=$$
lan=mnw-lan-$tag
declare -A ns ifname daemon_pid
for h in 1 2 3; do
	ns[$h]=mnw-h$h-$tag
	# /run/wireguard is shared by every namespace: interface names must be unique.
	ifname[$h]=$(printf 'wm%s-%s' "$tag" "$h" | cut -c1-15)
done
wg3_pid=
resolv_sum=$(sha256sum /etc/resolv.conf 2>/dev/null | cut -d' ' -f1)

# The wireguard-go meshnamed started, from its log line "(pid N)": stopped only if
# meshnamed did not stop it, and only if that PID still is a wireguard-go.
child_of() { sed -n 's/.*started .* for interface .* (pid \([0-9]*\)).*/\1/p' "$tmp/log$1" 2>/dev/null | tail -n 1; }
stop_pid() {
	local pid=$1
	[ -n "$pid" ] || return 0
	grep -q wireguard-go "/proc/$pid/cmdline" 2>/dev/null || [ "${2:-}" = any ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null
}
cleanup() {
	local h
	for h in 1 2 3; do
		if [ -n "${daemon_pid[$h]:-}" ]; then
			kill -TERM "${daemon_pid[$h]}" 2>/dev/null && wait "${daemon_pid[$h]}" 2>/dev/null
		fi
	done
	for h in 1 2 3; do stop_pid "$(child_of $h)"; done
	[ -n "$wg3_pid" ] && kill "$wg3_pid" 2>/dev/null && wait "$wg3_pid" 2>/dev/null
	for h in 1 2 3; do
		ip netns del "${ns[$h]}" 2>/dev/null
		rm -rf "/etc/netns/${ns[$h]}"
		rm -f "/run/wireguard/${ifname[$h]}.sock"
	done
	ip netns del "$lan" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
bail() {
	not_ok "$1"
	for h in 1 2 3; do [ -f "$tmp/log$h" ] && sed "s/^/# h$h: /" "$tmp/log$h"; done
	echo "$passed passed, $failed failed"
	exit 1
}
# eventually SECONDS COMMAND: retries COMMAND every 0.2 s.
eventually() {
	local i
	for i in $(seq $(($1 * 5))); do
		eval "$2" && return 0
		sleep 0.2
	done
	return 1
}
in_ns() { local h=$1; shift; ip netns exec "${ns[$h]}" "$@"; }
mn() { local h=$1; shift; "$MESHNAME" --state "$tmp/s$h" "$@"; }

for tool in ip wg jq ping socat "$WG_GO"; do
	command -v "$tool" >/dev/null || bail "$tool is missing (tests/deps.sh test installs it)"
done
[ "$(id -u)" -eq 0 ] || bail "network namespaces need root"
[ -c /dev/net/tun ] || bail "/dev/net/tun is missing: wireguard-go cannot run"

# ---- the registry: h1 admits h2 and h3, endpoints, bundles everywhere ------------------
mn 1 init --name t --host h1 --ipv4 198.51.100.0/24 --ipv6 fd4d:6e00:1::/48 >/dev/null ||
	bail "meshname init"
for h in 2 3; do
	inv=$(mn 1 add h$h 2>/dev/null) || bail "meshname add h$h"
	mn $h join "$inv" >/dev/null || bail "meshname join h$h"
done
for h in 1 2 3; do
	mn $h endpoint add 192.0.2.$h:5182$h --kind lan --listen-port 5182$h >/dev/null ||
		bail "meshname endpoint add on h$h"
done
for h in 2 3; do
	mn $h export -o "$tmp/b$h" && mn 1 import "$tmp/b$h" >/dev/null || bail "bundle h$h -> h1"
done
mn 1 export -o "$tmp/b1" || bail "export h1"
for h in 2 3; do mn $h import "$tmp/b1" >/dev/null || bail "bundle h1 -> h$h"; done
for h in 1 2 3; do
	v4[$h]=$(mn 1 show h$h --json | jq -r .ipv4)
	v6[$h]=$(mn 1 show h$h --json | jq -r .ipv6)
done
check "every host knows the three hosts" \
	"[ \"\$(mn 2 ls --json | jq length)\" = 3 ] && [ \"\$(mn 3 ls --json | jq length)\" = 3 ]"
for h in 1 2 3; do pub[$h]=$(mn 1 show h$h --json | jq -r .wg_key); done

# ---- the LAN: h1 h2 h3 on a bridge in the lan namespace --------------------------------
ip netns add "$lan" || bail "ip netns add"
ip -n "$lan" link add br0 type bridge && ip -n "$lan" link set br0 up
for h in 1 2 3; do
	ip netns add "${ns[$h]}" || bail "ip netns add ${ns[$h]}"
	ip -n "${ns[$h]}" link set lo up
	ip -n "${ns[$h]}" link add eth0 type veth peer name "p$h" netns "$lan"
	ip -n "$lan" link set "p$h" master br0 up
	ip -n "${ns[$h]}" addr add "192.0.2.$h/24" dev eth0
	ip -n "${ns[$h]}" link set eth0 up
	mkdir -p "/etc/netns/${ns[$h]}"
	echo "nameserver 127.0.0.153" >"/etc/netns/${ns[$h]}/resolv.conf"
	cat >"$tmp/conf$h" <<CONF
state $tmp/s$h
control $tmp/control$h.sock
listen 127.0.0.153:53
listen-mesh yes
forward no
interface ${ifname[$h]}
listen-port 5182$h
sync no # WireGuard alone here (and 51821 would be the LAN beacons' UDP port)
CONF
done
for h in 1 2; do
	printf 'manage yes\nuserspace %s\non-exit remove\n' "$WG_GO" >>"$tmp/conf$h"
done
echo "manage peers" >>"$tmp/conf3"
check "eth0 of h1 reaches h2 on the LAN" "in_ns 1 ping -c1 -W2 192.0.2.2 >/dev/null"

# Not through in_ns: $! must be meshnamed itself (ip netns exec execs it in place).
for h in 1 2 3; do
	ip netns exec "${ns[$h]}" "$MESHNAMED" -d -f "$tmp/conf$h" 2>"$tmp/log$h" &
	daemon_pid[$h]=$!
done
for h in 1 2 3; do
	eventually 10 "grep -q ': ready$' '$tmp/log$h'" || bail "meshnamed starts on h$h"
done
ok "meshnamed runs on the three hosts"
# h3 (manage peers) waits for an interface that is not there yet, and says so once.
check "h3's meshnamed says it waits for the interface" \
	"eventually 3 \"grep -q 'no userspace WireGuard socket in /run/wireguard: waiting' '$tmp/log3'\""
check "and keeps running" "kill -0 ${daemon_pid[3]}"
# h3: the interface belongs to "someone else" (the test): wireguard-go and its addresses.
ip netns exec "${ns[3]}" "$WG_GO" -f "${ifname[3]}" >"$tmp/wg3.log" 2>&1 &
wg3_pid=$!
eventually 5 "[ -S /run/wireguard/${ifname[3]}.sock ]" || bail "wireguard-go for h3 starts"
in_ns 3 ip addr add "${v4[3]}/32" dev "${ifname[3]}"
in_ns 3 ip addr add "${v6[3]}/128" dev "${ifname[3]}" nodad
in_ns 3 ip link set "${ifname[3]}" up
in_ns 3 ip route add 198.51.100.0/24 dev "${ifname[3]}"
in_ns 3 ip -6 route add fd4d:6e00:1::/48 dev "${ifname[3]}"

check "h1's meshnamed started wireguard-go itself" "[ -n \"\$(child_of 1)\" ] && kill -0 \$(child_of 1)"

# ---- peers --------------------------------------------------------------------------------
# wg_peers H: "KEY ALLOWED-IPS" lines of the host's interface, sorted.
wg_peers() { in_ns $1 wg show "${ifname[$1]}" allowed-ips | sort; }
expect_peers() {
	local h=$1 o
	shift
	for o in "$@"; do
		printf '%s\t%s/32 %s/128\n' "${pub[$o]}" "${v4[$o]}" "${v6[$o]}"
	done | sort
}
for h in 1 2 3; do
	others=()
	for o in 1 2 3; do [ $o != $h ] && others+=($o); done
	want=$(expect_peers $h "${others[@]}")
	check "h$h's WireGuard lists the two others with their mesh /32 and /128" \
		"eventually 10 '[ \"\$(wg_peers $h)\" = \"\$want\" ]'"
	check "h$h's interface has this host's key and listen port 5182$h" \
		"[ \"\$(in_ns $h wg show ${ifname[$h]} public-key)\" = '${pub[$h]}' ] && \
		 [ \"\$(in_ns $h wg show ${ifname[$h]} listen-port)\" = 5182$h ]"
done
check "h1's peer h2 has the LAN endpoint h2 published" \
	"[ \"\$(in_ns 1 wg show ${ifname[1]} endpoints | grep '${pub[2]}' | cut -f2)\" = 192.0.2.2:51822 ]"
check "meshnamed (manage yes) put h1's mesh address on its interface" \
	"eventually 5 'in_ns 1 ip -4 addr show dev ${ifname[1]} | grep -q \"${v4[1]}/32\"'"

# ---- ping by name, through the tunnel ---------------------------------------------------
for h in 2 3; do
	check "h1 resolves h$h.mesh with its own meshnamed" \
		"eventually 5 '[ \"\$(in_ns 1 getent ahostsv4 h$h.mesh | head -n1 | cut -d\" \" -f1)\" = ${v4[$h]} ]'"
	check "h1: ping -c1 -W2 h$h.mesh" "eventually 10 'in_ns 1 ping -4 -c1 -W2 h$h.mesh >/dev/null'"
	check "h$h.mesh is routed through h1's WireGuard interface" \
		"in_ns 1 ip route get ${v4[$h]} | grep -q 'dev ${ifname[1]}'"
	check "and the tunnel to h$h carried it (handshake, bytes received)" \
		"[ \"\$(in_ns 1 wg show ${ifname[1]} latest-handshakes | grep '${pub[$h]}' | cut -f2)\" -gt 0 ] && \
		 [ \"\$(in_ns 1 wg show ${ifname[1]} transfer | grep '${pub[$h]}' | cut -f2)\" -gt 0 ]"
done
# status: the WireGuard part of meshnamed's status JSON.
# The daemon's own reply (the CLI shows only what it knows of), asked with socat.
wgst() { echo status | socat -t 3 - "UNIX-CONNECT:$tmp/control1.sock" | jq -c "$1"; }
check "status names h1's interface and backend" \
	"eventually 3 '[ \"\$(wgst \"[.wireguard.interface, .wireguard.backend, .wireguard.listen_port]\")\" = \"[\\\"${ifname[1]}\\\",\\\"userspace\\\",51821]\" ]'"
check "status lists h2 and h3 with mesh address, LAN endpoint and kind" \
	"[ \"\$(wgst '[.wireguard.peers[] | [.name, .ipv4, .endpoint, .endpoint_kind]] | sort')\" = \
	   '[[\"h2\",\"${v4[2]}\",\"192.0.2.2:51822\",\"lan\"],[\"h3\",\"${v4[3]}\",\"192.0.2.3:51823\",\"lan\"]]' ]"
check "status shows h2's handshake and traffic" \
	"eventually 3 '[ \"\$(wgst \".wireguard.peers[] | select(.name == \\\"h2\\\") | .latest_handshake > 0 and .rx_bytes > 0 and .tx_bytes > 0\")\" = true ]'"
check "h2: ping -c1 -W2 h3.mesh (manage yes to manage peers)" \
	"eventually 10 'in_ns 2 ping -4 -c1 -W2 h3.mesh >/dev/null'"
check "h3: ping -6 h1.mesh over the mesh IPv6" \
	"eventually 10 'in_ns 3 ping -6 -c1 -W2 h1.mesh >/dev/null'"

# ---- revoke -------------------------------------------------------------------------------
mn 1 revoke h3 >/dev/null || bail "meshname revoke h3"
mn 1 export -o "$tmp/b1r" && mn 2 import "$tmp/b1r" >/dev/null || bail "revocation bundle h1 -> h2"
for h in 1 2; do
	check "h3 leaves h$h's peers within a few seconds" \
		"eventually 5 '! wg_peers $h | grep -q \"${pub[3]}\"'"
	check "and h$h keeps its other peer" \
		"wg_peers $h | grep -q \"\$(expect_peers $h $((3 - h)) | cut -f1)\""
done
check "h3's meshnamed said it was waiting only once" \
	"[ \"\$(grep -c 'waiting for the interface' '$tmp/log3')\" -eq 1 ]"
check "h1 logged the removal of h3 by name" "grep -q 'removing peer h3' '$tmp/log1'"
check "h1: ping h3.mesh fails" "! in_ns 1 ping -4 -c1 -W1 h3.mesh >/dev/null 2>&1"
check "h1: ping ${v4[3]} (h3's address) fails too" "! in_ns 1 ping -c1 -W1 ${v4[3]} >/dev/null 2>&1"
check "h1: ping h2.mesh still works" "in_ns 1 ping -4 -c1 -W2 h2.mesh >/dev/null"

# ---- exit ---------------------------------------------------------------------------------
child1=$(child_of 1)
for h in 1 2 3; do
	kill -TERM "${daemon_pid[$h]}"
	wait "${daemon_pid[$h]}"
	rc=$?
	daemon_pid[$h]=
	check "meshnamed on h$h exits 0 on SIGTERM" "[ $rc -eq 0 ]"
done
check "h1's wireguard-go was stopped (on-exit remove) and its socket is gone" \
	"! kill -0 $child1 2>/dev/null && eventually 3 '[ ! -e /run/wireguard/${ifname[1]}.sock ]'"
check "h3's interface (manage peers) is left running" "kill -0 $wg3_pid"
check "no sanitizer report in the logs" "! grep -q 'Sanitizer' '$tmp/log1' '$tmp/log2' '$tmp/log3'"
check "the real /etc/resolv.conf was not touched" \
	"[ \"\$(sha256sum /etc/resolv.conf 2>/dev/null | cut -d' ' -f1)\" = '$resolv_sum' ]"

if [ "$failed" -ne 0 ]; then
	for h in 1 2 3; do sed "s/^/# h$h: /" "$tmp/log$h"; done
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
