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
# Setup (tests/integration/lib_mesh.sh): names ns[h] and ifname[h], ok/not_ok/check,
# bail, eventually, in_ns, mn H (meshname on h's state), meshnamed's configs (mesh_conf)
# and start (mesh_start_launch), mesh_attach, bundles (mesh_spread_bundles), wg_endpoint
# and wg_keepalive, mesh_summary; the EXIT trap stops everything and removes the
# namespaces. Hosts 1..4 of lib_mesh.sh are a, b, c, d; its "lan" namespace is the internet.
# shellcheck disable=SC2317 # functions called through check/eventually (eval)
MESH_NS_PREFIX=mnn
MESH_IF_PREFIX=wgn
MESH_HOSTS=4
MESH_EXTRA_CLEANUP=nat_cleanup
# shellcheck source=tests/integration/lib_mesh.sh
. "$(dirname "$0")/lib_mesh.sh"
declare -A hn=([1]=a [2]=b [3]=c [4]=d) addr
addr[1]=203.0.113.10
addr[2]=203.0.113.20
addr[3]=198.51.100.2
addr[4]=203.0.113.30
for h in 1 2 3 4; do mesh_port[$h]=$((47730 + h)); done
router=$MESH_NS_PREFIX-r-$mesh_tag
ping_pid=

nat_cleanup() {
	[ -n "$ping_pid" ] && kill "$ping_pid" 2>/dev/null && wait "$ping_pid" 2>/dev/null
	ip netns del "$router" 2>/dev/null
}
# The kind of endpoint H's meshnamed says it uses for O (status over the control socket).
ep_kind() {
	echo status | socat -t 3 - "UNIX-CONNECT:$tmp/control$1.sock" |
		jq -r ".wireguard.peers[] | select(.name == \"${hn[$2]}\") | .endpoint_kind"
}
# has_endpoint H ADDRESS: H's own ENDPOINTS record (as its store has it) lists ADDRESS.
has_endpoint() { mn $1 show "${hn[$1]}" --json | jq -e ".endpoints[] | select(.address == \"$2\")" >/dev/null; }

mesh_require socat nft

# ---- the registry: a admits b c d; certificates everywhere -------------------------------
mn 1 init --name t --host a --ipv4 198.51.100.128/25 --ipv6 fd4d:6e00:2::/48 >/dev/null ||
	bail "meshname init"
for h in 2 3 4; do
	inv=$(mn 1 add "${hn[$h]}" 2>/dev/null) || bail "meshname add ${hn[$h]}"
	mn $h join "$inv" >/dev/null || bail "meshname join ${hn[$h]}"
done
# Every host's registry into every other one's by bundle, so that the endpoint choice is
# tested whatever sync does.
mesh_spread_bundles || bail "bundles between the four hosts"
for h in 1 2 3 4; do
	v4[$h]=$(mn 1 show "${hn[$h]}" --json | jq -r .ipv4)
	pub[$h]=$(mn 1 show "${hn[$h]}" --json | jq -r .wg_key)
done
knows_all() { local h; for h in 1 2 3 4; do [ "$(mn $h ls --json | jq length)" = 4 ] || return 1; done; }
check "every host knows the four hosts" knows_all

# ---- the networks --------------------------------------------------------------------------
ip netns add "$mesh_lan" || bail "ip netns add"
ip -n "$mesh_lan" link add br0 type bridge && ip -n "$mesh_lan" link set br0 up
ip netns add "$router" || bail "ip netns add"
for h in 1 2 3 4; do
	ip netns add "${ns[$h]}" || bail "ip netns add ${ns[$h]}"
	ip -n "${ns[$h]}" link set lo up
done
for h in 1 2 4; do
	mesh_attach "${ns[$h]}" eth0 "i$h" || bail "veth for ${hn[$h]}"
	ip -n "${ns[$h]}" addr add "${addr[$h]}/32" dev eth0
	ip -n "${ns[$h]}" route add 203.0.113.0/24 dev eth0 src "${addr[$h]}"
done
mesh_attach "$router" wan0 ir || bail "veth for the router"
ip -n "$router" addr add 203.0.113.1/24 dev wan0
ip -n "$router" link add lan0 type veth peer name eth0 netns "${ns[3]}"
ip -n "$router" addr add 198.51.100.1/25 dev lan0
ip -n "$router" link set lan0 up
ip -n "${ns[3]}" addr add 198.51.100.2/25 dev eth0
ip -n "${ns[3]}" link set eth0 up
ip -n "${ns[3]}" route add default via 198.51.100.1
ip netns exec "$router" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$router" nft -f - <<'NFT' || bail "nft masquerade on the router"
table ip nat {
	chain postrouting { type nat hook postrouting priority srcnat; }
}
NFT
ip netns exec "$router" nft add rule ip nat postrouting oifname "wan0" masquerade ||
	bail "nft masquerade rule"
# The b-d link, down and without addresses until part (b).
ip -n "${ns[2]}" link add lan1 type veth peer name lan1 netns "${ns[4]}" || bail "veth b-d"
for h in 2 4; do in_ns $h sysctl -qw net.ipv6.conf.lan1.disable_ipv6=1; done

check "a reaches b and d on the internet segment" \
	"in_ns 1 ping -c1 -W2 ${addr[2]} >/dev/null && in_ns 1 ping -c1 -W2 ${addr[4]} >/dev/null"
check "c reaches a through the NAT router" "in_ns 3 ping -c1 -W2 ${addr[1]} >/dev/null"
check "a does not reach c (NAT)" "! in_ns 1 ping -c1 -W1 ${addr[3]} >/dev/null 2>&1"

# ---- meshnamed everywhere --------------------------------------------------------------
for h in 1 2 3 4; do mesh_conf $h; done
# c's address is private in its network (a documentation range stands in for 10/8 here).
echo "lan-prefix 198.51.100.0/25" >>"$tmp/conf3"
for h in 1 2 3 4; do mesh_start_launch $h; done
for h in 1 2 3 4; do
	eventually 10 "grep -q ': ready$' '$tmp/log$h'" || bail "meshnamed starts on ${hn[$h]}"
done
ok "meshnamed runs on the four hosts"
for h in 1 2 3 4; do
	eventually 10 "has_endpoint $h ${addr[$h]}" || bail "${hn[$h]} publishes ${addr[$h]} by itself"
done
ok "every host published its own address"
check "c's address is published as lan, a's as public" \
	"[ \"\$(mn 3 show c --json | jq -c '[.endpoints[] | .kind]')\" = '[\"lan\"]' ] && \
	 [ \"\$(mn 1 show a --json | jq -c '[.endpoints[] | .kind]')\" = '[\"public\"]' ]"
mesh_spread_bundles || bail "endpoint bundles between the four hosts"

# ---- (a) everyone pings everyone by name --------------------------------------------------
for h in 1 2 3 4; do
	for o in 1 2 3 4; do
		[ $o = $h ] && continue
		check "${hn[$h]}: ping ${hn[$o]}.mesh (${v4[$o]}) through the tunnel" \
			"eventually 15 'in_ns $h ping -4 -c1 -W1 ${hn[$o]}.mesh >/dev/null 2>&1'"
	done
done
check "a resolves c.mesh with its own meshnamed" \
	"[ \"\$(in_ns 1 getent ahostsv4 c.mesh | head -n1 | cut -d' ' -f1)\" = ${v4[3]} ]"
check "a reaches c at the router's public address (learnt from c's packets)" \
	"[ \"\$(wg_endpoint 1 3 | cut -d: -f1)\" = 203.0.113.1 ]"
for h in 1 2 4; do
	check "${hn[$h]} <-> c: persistent keepalive 25 on both sides (c is behind NAT)" \
		"[ \"\$(wg_keepalive $h 3)\" = 25 ] && [ \"\$(wg_keepalive 3 $h)\" = 25 ]"
done
for pair in "1 2" "1 4" "2 4"; do
	set -- $pair
	check "${hn[$1]} <-> ${hn[$2]}: no keepalive (both directly reachable)" \
		"[ \"\$(wg_keepalive $1 $2)\" = off ] && [ \"\$(wg_keepalive $2 $1)\" = off ]"
done
check "b uses d's public endpoint, of kind public" \
	"[ \"\$(wg_endpoint 2 4)\" = ${addr[4]}:${mesh_port[4]} ] && [ \"\$(ep_kind 2 4)\" = public ]"
check "d uses b's public endpoint" "[ \"\$(wg_endpoint 4 2)\" = ${addr[2]}:${mesh_port[2]} ]"

# ---- (b) the b-d LAN comes up and is published: b <-> d migrate to it ----------------------
# Traffic all along: ping b -> d five times a second.
in_ns 2 ping -4 -i 0.2 -W1 d.mesh >"$tmp/ping.log" 2>&1 &
ping_pid=$!
sleep 2
ip -n "${ns[2]}" addr add 192.0.2.2/24 dev lan1
ip -n "${ns[4]}" addr add 192.0.2.4/24 dev lan1
ip -n "${ns[2]}" link set lan1 up
ip -n "${ns[4]}" link set lan1 up
for h in 2 4; do
	eventually 10 "has_endpoint $h 192.0.2.$h" || bail "${hn[$h]} publishes 192.0.2.$h by itself"
done
ok "b and d published their 192.0.2 addresses by themselves"
lan_rx0=$(ip -n "${ns[4]}" -s -j link show lan1 | jq '.[0].stats64.rx.packets')
mn 2 export -o "$tmp/bundle-2" && mn 4 export -o "$tmp/bundle-4" &&
	mesh_import_bundle 2 "$tmp/bundle-4" && mesh_import_bundle 4 "$tmp/bundle-2" ||
	bail "LAN endpoint bundles b <-> d"
t_lan=$(now_ms)
on_lan() {
	[ "$(wg_endpoint 2 4)" = "192.0.2.4:${mesh_port[4]}" ] &&
		[ "$(wg_endpoint 4 2)" = "192.0.2.2:${mesh_port[2]}" ] &&
		[ $(($(ip -n "${ns[4]}" -s -j link show lan1 | jq '.[0].stats64.rx.packets') - lan_rx0)) -ge 10 ]
}
if eventually 20 on_lan; then
	t_use=$(($(now_ms) - t_lan))
	echo "# time from the LAN endpoint appearing to traffic over it: $t_use ms (target 10000)"
	ok "b <-> d use the 192.0.2 endpoints within 20 s, and traffic flows over the LAN link"
else
	not_ok "b <-> d use the 192.0.2 endpoints within 20 s, and traffic flows over the LAN link"
	echo "# b shows d at $(wg_endpoint 2 4), d shows b at $(wg_endpoint 4 2)"
fi
check "b's meshnamed calls it a lan endpoint" "eventually 5 '[ \"\$(ep_kind 2 4)\" = lan ]'"
# A trial that nothing confirmed would be reverted WG_EP_TRIAL (10) s after it began.
while [ $(($(now_ms) - t_lan)) -lt 15000 ]; do sleep 0.5; done
check "and stays on it (15 s after it appeared)" \
	"[ \"\$(wg_endpoint 2 4)\" = 192.0.2.4:${mesh_port[4]} ] && [ \"\$(wg_endpoint 4 2)\" = 192.0.2.2:${mesh_port[2]} ]"
check "b -> d.mesh kept working during the move (at most 3 pings lost)" \
	"[ \$(grep -c 'bytes from' '$tmp/ping.log') -gt 0 ] && \
	 [ \$(( \$(grep -o 'icmp_seq=[0-9]*' '$tmp/ping.log' | tail -n1 | cut -d= -f2) - \
	        \$(grep -c 'bytes from' '$tmp/ping.log') )) -le 3 ]"
check "d: ping b.mesh" "in_ns 4 ping -4 -c1 -W2 b.mesh >/dev/null"

# ---- (c) the LAN drops everything; its addresses stay published: back to 203.0.113 ---------
ip netns exec "${ns[4]}" nft -f - <<'NFT' || bail "nft drop on d's lan1"
table inet mnnlan {
	chain in { type filter hook input priority 0; iifname "lan1" drop; }
	chain out { type filter hook output priority 0; oifname "lan1" drop; }
}
NFT
t_cut=$(now_ms)
check "the LAN path is broken" "! in_ns 2 ping -c1 -W1 192.0.2.4 >/dev/null 2>&1"
on_public() {
	[ "$(wg_endpoint 2 4)" = "${addr[4]}:${mesh_port[4]}" ] &&
		[ "$(wg_endpoint 4 2)" = "${addr[2]}:${mesh_port[2]}" ] &&
		in_ns 2 ping -4 -c1 -W1 d.mesh >/dev/null 2>&1
}
if eventually 60 on_public; then
	echo "# time from the LAN path breaking to ping over the public endpoints: $(($(now_ms) - t_cut)) ms"
	ok "b <-> d are back on the 203.0.113 endpoints within 60 s and ping works"
else
	not_ok "b <-> d are back on the 203.0.113 endpoints within 60 s and ping works"
	echo "# b shows d at $(wg_endpoint 2 4), d shows b at $(wg_endpoint 4 2)"
fi
check "the 192.0.2 addresses are still published (abandoned, not withdrawn)" \
	"mn 2 show d --json | jq -e '.endpoints[] | select(.address == \"192.0.2.4\")' >/dev/null"
check "b's meshnamed calls d's endpoint public again" "[ \"\$(ep_kind 2 4)\" = public ]"
check "d: ping b.mesh" "eventually 5 'in_ns 4 ping -4 -c1 -W1 b.mesh >/dev/null 2>&1'"
check "a: ping c.mesh still works" "in_ns 1 ping -4 -c1 -W2 c.mesh >/dev/null"

# ---- exit ---------------------------------------------------------------------------------
kill "$ping_pid" 2>/dev/null && wait "$ping_pid" 2>/dev/null
ping_pid=
for h in 1 2 3 4; do
	kill -TERM "${daemon_pid[$h]}"
	wait "${daemon_pid[$h]}"
	rc=$?
	daemon_pid[$h]=
	check "meshnamed on ${hn[$h]} exits 0 on SIGTERM" "[ $rc -eq 0 ]"
done
check "no sanitizer report in the logs" "! cat $tmp/log* | grep -q Sanitizer"
check "the real /etc/resolv.conf was not touched" \
	"[ \"\$(sha256sum /etc/resolv.conf 2>/dev/null | cut -d' ' -f1)\" = '$mesh_resolv_sum' ]"
mesh_summary
