#!/usr/bin/env bash
# The endpoint choice for real: four simulated hosts in network namespaces, each running
# meshnamed with `manage yes` (it starts wireguard-go, publishes its own endpoints and
# sets every peer; the test never runs `wg set`), the registry moved between hosts with
# export/import bundles. An internet segment 203.0.113.0/24 (a bridge) holds a (.10),
# b (.20), d (.30) and a NAT router (wan0 .1, nft masquerade) with c behind it on
# 198.51.100.0/25. Every host holds its internet address as a /32 with a route to the
# segment, as behind a provider's link: no host is on-link with another's public address
# (an on-link address is a LAN path to the endpoint engine, whatever its kind).
# Checks: (a) every host pings every other by NAME.mesh through the tunnels, resolved by
# its own meshnamed, c behind NAT included, with keepalive 25 exactly on c's pairs;
# (b) a second link 192.0.2.0/24 between b and d comes up, both publish its addresses by
# themselves, and b<->d move to it within 20 s while ping keeps working; (c) that link
# drops everything, its addresses still published, and b<->d go back to 203.0.113 within
# 60 s and ping works again. Prints the time from the LAN endpoint appearing to traffic
# using it (issue 4's target: 10 s) and the time of the way back.
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
hosts="a b c d"
inet=mnn-inet-$tag
router=mnn-r-$tag
declare -A ns ifname port daemon_pid pub v4 addr
n=0
for h in $hosts; do
	ns[$h]=mnn-$h-$tag
	# /run/wireguard is shared by every namespace: interface names must be unique.
	ifname[$h]=$(printf 'wgn%s-%s' "$tag" "$h" | cut -c1-15)
	port[$h]=$((47731 + n))
	n=$((n + 1))
done
addr[a]=203.0.113.10
addr[b]=203.0.113.20
addr[c]=198.51.100.2
addr[d]=203.0.113.30
ping_pid=
resolv_sum=$(sha256sum /etc/resolv.conf 2>/dev/null | cut -d' ' -f1)

# The wireguard-go meshnamed started, from its log line "(pid N)": stopped only if
# meshnamed did not stop it, and only if that PID still is a wireguard-go.
child_of() { sed -n 's/.*started .* for interface .* (pid \([0-9]*\)).*/\1/p' "$tmp/log$1" 2>/dev/null | tail -n 1; }
stop_pid() {
	local pid=$1
	[ -n "$pid" ] || return 0
	grep -q wireguard-go "/proc/$pid/cmdline" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null
}
cleanup() {
	local h
	[ -n "$ping_pid" ] && kill "$ping_pid" 2>/dev/null && wait "$ping_pid" 2>/dev/null
	for h in $hosts; do
		if [ -n "${daemon_pid[$h]:-}" ]; then
			kill -TERM "${daemon_pid[$h]}" 2>/dev/null && wait "${daemon_pid[$h]}" 2>/dev/null
		fi
	done
	for h in $hosts; do stop_pid "$(child_of $h)"; done
	for h in $hosts; do
		ip netns del "${ns[$h]}" 2>/dev/null
		rm -rf "/etc/netns/${ns[$h]}"
		rm -f "/run/wireguard/${ifname[$h]}.sock"
	done
	ip netns del "$router" 2>/dev/null
	ip netns del "$inet" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
dump_logs() { for h in $hosts; do [ -f "$tmp/log$h" ] && sed "s/^/# $h: /" "$tmp/log$h"; done; }
bail() {
	not_ok "$1"
	dump_logs
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
now_ms() { date +%s%3N; }
# What H's WireGuard device shows for peer O: endpoint, persistent keepalive (read only).
wg_endpoint() { in_ns $1 wg show "${ifname[$1]}" endpoints | grep "^${pub[$2]}" | cut -f2; }
wg_keepalive() { in_ns $1 wg show "${ifname[$1]}" persistent-keepalive | grep "^${pub[$2]}" | cut -f2; }
# The kind of endpoint H's meshnamed says it uses for O (status over the control socket).
ep_kind() {
	echo status | socat -t 3 - "UNIX-CONNECT:$tmp/control$1.sock" |
		jq -r ".wireguard.peers[] | select(.name == \"$2\") | .endpoint_kind"
}
# import_bundle H FILE: a bundle into H's registry. A bundle holds every record its host
# has, so also older copies of records H has renewed since: refused as such, and only so.
import_bundle() {
	mn $1 import "$2" >/dev/null 2>"$tmp/import.err" && return 0
	! grep -v 'a newer version of this record is already stored' "$tmp/import.err" | grep -q .
}
# Every host's registry into every other one's by bundle, so that the endpoint
# choice is tested whatever sync does.
spread_bundles() {
	local h o
	for h in $hosts; do mn $h export -o "$tmp/bundle-$h" || return 1; done
	for h in $hosts; do
		for o in $hosts; do
			[ $o = $h ] || import_bundle $h "$tmp/bundle-$o" || return 1
		done
	done
}
# has_endpoint H ADDRESS: H's own ENDPOINTS record (as its store has it) lists ADDRESS.
has_endpoint() { mn $1 show $1 --json | jq -e ".endpoints[] | select(.address == \"$2\")" >/dev/null; }

for tool in ip wg jq ping socat nft "$WG_GO"; do
	command -v "$tool" >/dev/null || bail "$tool is missing (tests/deps.sh test installs it)"
done
[ "$(id -u)" -eq 0 ] || bail "network namespaces need root"
[ -c /dev/net/tun ] || bail "/dev/net/tun is missing: wireguard-go cannot run"

# ---- the registry: a admits b c d; certificates everywhere -------------------------------
mn a init --name t --host a --ipv4 198.51.100.128/25 --ipv6 fd4d:6e00:2::/48 >/dev/null ||
	bail "meshname init"
for h in b c d; do
	inv=$(mn a add $h 2>/dev/null) || bail "meshname add $h"
	mn $h join "$inv" >/dev/null || bail "meshname join $h"
done
spread_bundles || bail "bundles between the four hosts"
for h in $hosts; do
	v4[$h]=$(mn a show $h --json | jq -r .ipv4)
	pub[$h]=$(mn a show $h --json | jq -r .wg_key)
done
knows_all() { local h; for h in $hosts; do [ "$(mn $h ls --json | jq length)" = 4 ] || return 1; done; }
check "every host knows the four hosts" knows_all

# ---- the networks --------------------------------------------------------------------------
ip netns add "$inet" || bail "ip netns add"
ip -n "$inet" link add br0 type bridge && ip -n "$inet" link set br0 up
ip netns add "$router" || bail "ip netns add"
for h in $hosts; do
	ip netns add "${ns[$h]}" || bail "ip netns add ${ns[$h]}"
	ip -n "${ns[$h]}" link set lo up
done
# attach NS IF PEERNAME: a veth from NS into the internet bridge.
attach() {
	ip -n "$1" link add "$2" type veth peer name "$3" netns "$inet" &&
		ip -n "$inet" link set "$3" master br0 up && ip -n "$1" link set "$2" up
}
for h in a b d; do
	attach "${ns[$h]}" eth0 "i$h" || bail "veth for $h"
	ip -n "${ns[$h]}" addr add "${addr[$h]}/32" dev eth0
	ip -n "${ns[$h]}" route add 203.0.113.0/24 dev eth0 src "${addr[$h]}"
done
attach "$router" wan0 ir || bail "veth for the router"
ip -n "$router" addr add 203.0.113.1/24 dev wan0
ip -n "$router" link add lan0 type veth peer name eth0 netns "${ns[c]}"
ip -n "$router" addr add 198.51.100.1/25 dev lan0
ip -n "$router" link set lan0 up
ip -n "${ns[c]}" addr add 198.51.100.2/25 dev eth0
ip -n "${ns[c]}" link set eth0 up
ip -n "${ns[c]}" route add default via 198.51.100.1
ip netns exec "$router" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$router" nft -f - <<'NFT' || bail "nft masquerade on the router"
table ip nat {
	chain postrouting { type nat hook postrouting priority srcnat; }
}
NFT
ip netns exec "$router" nft add rule ip nat postrouting oifname "wan0" masquerade ||
	bail "nft masquerade rule"
# The b-d link, down and without addresses until part (b).
ip -n "${ns[b]}" link add lan1 type veth peer name lan1 netns "${ns[d]}" || bail "veth b-d"
for h in b d; do in_ns $h sysctl -qw net.ipv6.conf.lan1.disable_ipv6=1; done

check "a reaches b and d on the internet segment" \
	"in_ns a ping -c1 -W2 ${addr[b]} >/dev/null && in_ns a ping -c1 -W2 ${addr[d]} >/dev/null"
check "c reaches a through the NAT router" "in_ns c ping -c1 -W2 ${addr[a]} >/dev/null"
check "a does not reach c (NAT)" "! in_ns a ping -c1 -W1 ${addr[c]} >/dev/null 2>&1"

# ---- meshnamed everywhere --------------------------------------------------------------
for h in $hosts; do
	mkdir -p "/etc/netns/${ns[$h]}"
	echo "nameserver 127.0.0.153" >"/etc/netns/${ns[$h]}/resolv.conf"
	cat >"$tmp/conf$h" <<CONF
state $tmp/s$h
control $tmp/control$h.sock
listen 127.0.0.153:53
listen-mesh yes
forward no
interface ${ifname[$h]}
listen-port ${port[$h]}
manage yes
userspace $WG_GO
on-exit remove
CONF
done
# c's address is private in its network (a documentation range stands in for 10/8 here).
echo "lan-prefix 198.51.100.0/25" >>"$tmp/confc"
# Not through in_ns: $! must be meshnamed itself (ip netns exec execs it in place).
for h in $hosts; do
	# wireguard-go, its child, writes to standard output: into the log as well.
	ip netns exec "${ns[$h]}" "$MESHNAMED" -d -f "$tmp/conf$h" >"$tmp/log$h" 2>&1 &
	daemon_pid[$h]=$!
done
for h in $hosts; do
	eventually 10 "grep -q ': ready$' '$tmp/log$h'" || bail "meshnamed starts on $h"
done
ok "meshnamed runs on the four hosts"
for h in $hosts; do
	eventually 10 "has_endpoint $h ${addr[$h]}" || bail "$h publishes ${addr[$h]} by itself"
done
ok "every host published its own address"
check "c's address is published as lan, a's as public" \
	"[ \"\$(mn c show c --json | jq -c '[.endpoints[] | .kind]')\" = '[\"lan\"]' ] && \
	 [ \"\$(mn a show a --json | jq -c '[.endpoints[] | .kind]')\" = '[\"public\"]' ]"
spread_bundles || bail "endpoint bundles between the four hosts"

# ---- (a) everyone pings everyone by name --------------------------------------------------
for h in $hosts; do
	for o in $hosts; do
		[ $o = $h ] && continue
		check "$h: ping $o.mesh (${v4[$o]}) through the tunnel" \
			"eventually 15 'in_ns $h ping -4 -c1 -W1 $o.mesh >/dev/null 2>&1'"
	done
done
check "a resolves c.mesh with its own meshnamed" \
	"[ \"\$(in_ns a getent ahostsv4 c.mesh | head -n1 | cut -d' ' -f1)\" = ${v4[c]} ]"
check "a reaches c at the router's public address (learnt from c's packets)" \
	"[ \"\$(wg_endpoint a c | cut -d: -f1)\" = 203.0.113.1 ]"
for h in a b d; do
	check "$h <-> c: persistent keepalive 25 on both sides (c is behind NAT)" \
		"[ \"\$(wg_keepalive $h c)\" = 25 ] && [ \"\$(wg_keepalive c $h)\" = 25 ]"
done
for pair in "a b" "a d" "b d"; do
	set -- $pair
	check "$1 <-> $2: no keepalive (both directly reachable)" \
		"[ \"\$(wg_keepalive $1 $2)\" = off ] && [ \"\$(wg_keepalive $2 $1)\" = off ]"
done
check "b uses d's public endpoint, of kind public" \
	"[ \"\$(wg_endpoint b d)\" = ${addr[d]}:${port[d]} ] && [ \"\$(ep_kind b d)\" = public ]"
check "d uses b's public endpoint" "[ \"\$(wg_endpoint d b)\" = ${addr[b]}:${port[b]} ]"

# ---- (b) the b-d LAN comes up and is published: b <-> d migrate to it ----------------------
# Traffic all along: ping b -> d five times a second.
in_ns b ping -4 -i 0.2 -W1 d.mesh >"$tmp/ping.log" 2>&1 &
ping_pid=$!
sleep 2
ip -n "${ns[b]}" addr add 192.0.2.2/24 dev lan1
ip -n "${ns[d]}" addr add 192.0.2.4/24 dev lan1
ip -n "${ns[b]}" link set lan1 up
ip -n "${ns[d]}" link set lan1 up
for h in b d; do
	x=$([ $h = b ] && echo 2 || echo 4)
	eventually 10 "has_endpoint $h 192.0.2.$x" || bail "$h publishes 192.0.2.$x by itself"
done
ok "b and d published their 192.0.2 addresses by themselves"
lan_rx0=$(ip -n "${ns[d]}" -s -j link show lan1 | jq '.[0].stats64.rx.packets')
mn b export -o "$tmp/bundle-b" && mn d export -o "$tmp/bundle-d" &&
	import_bundle b "$tmp/bundle-d" && import_bundle d "$tmp/bundle-b" ||
	bail "LAN endpoint bundles b <-> d"
t_lan=$(now_ms)
on_lan() {
	[ "$(wg_endpoint b d)" = "192.0.2.4:${port[d]}" ] &&
		[ "$(wg_endpoint d b)" = "192.0.2.2:${port[b]}" ] &&
		[ $(($(ip -n "${ns[d]}" -s -j link show lan1 | jq '.[0].stats64.rx.packets') - lan_rx0)) -ge 10 ]
}
if eventually 20 on_lan; then
	t_use=$(($(now_ms) - t_lan))
	echo "# time from the LAN endpoint appearing to traffic over it: $t_use ms (target 10000)"
	ok "b <-> d use the 192.0.2 endpoints within 20 s, and traffic flows over the LAN link"
else
	not_ok "b <-> d use the 192.0.2 endpoints within 20 s, and traffic flows over the LAN link"
	echo "# b shows d at $(wg_endpoint b d), d shows b at $(wg_endpoint d b)"
fi
check "b's meshnamed calls it a lan endpoint" "eventually 5 '[ \"\$(ep_kind b d)\" = lan ]'"
# A trial that nothing confirmed would be reverted WG_EP_TRIAL (10) s after it began.
while [ $(($(now_ms) - t_lan)) -lt 15000 ]; do sleep 0.5; done
check "and stays on it (15 s after it appeared)" \
	"[ \"\$(wg_endpoint b d)\" = 192.0.2.4:${port[d]} ] && [ \"\$(wg_endpoint d b)\" = 192.0.2.2:${port[b]} ]"
check "b -> d.mesh kept working during the move (at most 3 pings lost)" \
	"[ \$(grep -c 'bytes from' '$tmp/ping.log') -gt 0 ] && \
	 [ \$(( \$(grep -o 'icmp_seq=[0-9]*' '$tmp/ping.log' | tail -n1 | cut -d= -f2) - \
	        \$(grep -c 'bytes from' '$tmp/ping.log') )) -le 3 ]"
check "d: ping b.mesh" "in_ns d ping -4 -c1 -W2 b.mesh >/dev/null"

# ---- (c) the LAN drops everything; its addresses stay published: back to 203.0.113 ---------
ip netns exec "${ns[d]}" nft -f - <<'NFT' || bail "nft drop on d's lan1"
table inet mnnlan {
	chain in { type filter hook input priority 0; iifname "lan1" drop; }
	chain out { type filter hook output priority 0; oifname "lan1" drop; }
}
NFT
t_cut=$(now_ms)
check "the LAN path is broken" "! in_ns b ping -c1 -W1 192.0.2.4 >/dev/null 2>&1"
on_public() {
	[ "$(wg_endpoint b d)" = "${addr[d]}:${port[d]}" ] &&
		[ "$(wg_endpoint d b)" = "${addr[b]}:${port[b]}" ] &&
		in_ns b ping -4 -c1 -W1 d.mesh >/dev/null 2>&1
}
if eventually 60 on_public; then
	echo "# time from the LAN path breaking to ping over the public endpoints: $(($(now_ms) - t_cut)) ms"
	ok "b <-> d are back on the 203.0.113 endpoints within 60 s and ping works"
else
	not_ok "b <-> d are back on the 203.0.113 endpoints within 60 s and ping works"
	echo "# b shows d at $(wg_endpoint b d), d shows b at $(wg_endpoint d b)"
fi
check "the 192.0.2 addresses are still published (abandoned, not withdrawn)" \
	"mn b show d --json | jq -e '.endpoints[] | select(.address == \"192.0.2.4\")' >/dev/null"
check "b's meshnamed calls d's endpoint public again" "[ \"\$(ep_kind b d)\" = public ]"
check "d: ping b.mesh" "eventually 5 'in_ns d ping -4 -c1 -W1 b.mesh >/dev/null 2>&1'"
check "a: ping c.mesh still works" "in_ns a ping -4 -c1 -W2 c.mesh >/dev/null"

# ---- exit ---------------------------------------------------------------------------------
kill "$ping_pid" 2>/dev/null && wait "$ping_pid" 2>/dev/null
ping_pid=
for h in $hosts; do
	kill -TERM "${daemon_pid[$h]}"
	wait "${daemon_pid[$h]}"
	rc=$?
	daemon_pid[$h]=
	check "meshnamed on $h exits 0 on SIGTERM" "[ $rc -eq 0 ]"
done
check "no sanitizer report in the logs" "! cat $tmp/log* | grep -q Sanitizer"
check "the real /etc/resolv.conf was not touched" \
	"[ \"\$(sha256sum /etc/resolv.conf 2>/dev/null | cut -d' ' -f1)\" = '$resolv_sum' ]"

[ "$failed" -ne 0 ] && dump_logs
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
