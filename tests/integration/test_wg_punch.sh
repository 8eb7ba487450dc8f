#!/usr/bin/env bash
# Hole punching for real: reflexive endpoints learnt from observations, between two hosts
# that are each behind their own NAT. Simulated hosts in network namespaces with
# wireguard-go and meshnamed (`manage yes`: it starts wireguard-go, publishes its own
# endpoints and observations and sets every peer; the test never runs `wg set`), records
# carried between hosts by export/import bundles, exchanged by a bounded background loop
# (so that hole punching is tested whatever sync does).
#   internet 203.0.113.0/24 (a bridge): a .10 and b .20 (public hosts, the observers),
#     r1 wan0 .1 and r2 wan0 .2 (NAT routers, nft masquerade);
#   c 198.51.100.2 behind r1 (lan 198.51.100.0/25), e 198.51.100.130 behind r2
#     (lan 198.51.100.128/25); c and e publish only their LAN address (lan-prefix).
# Checks: (1) a and b each sign an OBSERVE of c and of e (seen in their export bundles);
# (2) c's and e's meshnamed say nat "open" and publish a REFLEXIVE endpoint equal to
# their router's wan address and the port the NAT kept; (3) c and e ping each other by
# NAME.mesh directly, each one's WireGuard showing the other at its router's address and
# that port (there is no relay), with keepalive 25 on that pair; (4) r2 turns into a
# symmetric NAT (masquerade fully-random: another port per destination): e's meshnamed
# says "symmetric" and withdraws its REFLEXIVE endpoint. Prints the times.
# Only documentation prefixes, only inside the namespaces; everything stopped by PID.
# shellcheck disable=SC2317 # functions called through check/mesh_within (eval)
MESH_NS_PREFIX=mnh
MESH_IF_PREFIX=wgh
MESH_HOSTS=4
MESH_EXTRA_CLEANUP=punch_cleanup
# shellcheck source=tests/integration/lib_mesh.sh
. "$(dirname "$0")/lib_mesh.sh"

# Hosts 1..4 of lib_mesh.sh are a, b, c, e; lib_mesh's "lan" namespace is the internet.
declare -A hn=([1]=a [2]=b [3]=c [4]=e) addr
addr[1]=203.0.113.10
addr[2]=203.0.113.20
addr[3]=198.51.100.2
addr[4]=198.51.100.130
for h in 1 2 3 4; do mesh_port[$h]=$((47850 + h)); done
r1=$MESH_NS_PREFIX-r1-$mesh_tag
r2=$MESH_NS_PREFIX-r2-$mesh_tag
loop_pid=
deadline=$(($(date +%s) + 900)) # the bundle loop never outlives this

punch_cleanup() {
	if [ -n "$loop_pid" ]; then
		kill "$loop_pid" 2>/dev/null
		wait "$loop_pid" 2>/dev/null
	fi
	ip netns del "$r1" 2>/dev/null
	ip netns del "$r2" 2>/dev/null
}
# conntrack R: the router's connection tracking table, UDP only (diagnostics).
conntrack_of() { ip netns exec "$1" cat /proc/net/nf_conntrack 2>/dev/null | grep udp | sed "s/^/# $2: /"; }
nat_of() { mesh_ctl "$1" | jq -r .endpoints.nat; }
# reflexive_of H: "ADDRESS:PORT" of H's published REFLEXIVE endpoints, as its store has them.
reflexive_of() {
	mn "$1" show "${hn[$1]}" --json |
		jq -r '.endpoints[] | select(.kind == "reflexive") | "\(.address):\(.port)"'
}
# observations FILE: "SIGNER-HEX SUBJECT-HEX ADDRESS:PORT" for every OBSERVE record of a
# bundle (doc/records.md: type at byte 4, signer at 62, body at 96: subject (32), then
# the endpoint: kind, family, address (16), port (2)).
observations() {
	local line hex a
	tail -n +2 "$1" | while read -r line; do
		hex=$(printf '%s' "$line" | base64 -d 2>/dev/null | od -An -tx1 -v | tr -d ' \n')
		[ "${hex:8:2}" = 08 ] || continue
		[ "${hex:258:2}" = 04 ] || continue # IPv4 only here
		a=$(printf '%d.%d.%d.%d' "0x${hex:260:2}" "0x${hex:262:2}" "0x${hex:264:2}" "0x${hex:266:2}")
		echo "${hex:124:64} ${hex:192:64} $a:$((0x${hex:292:4}))"
	done
}
# observed O S: O's registry holds O's own observation of S; prints what O saw.
observed() {
	mn "$1" export -o "$tmp/obs-$1" 2>/dev/null || return 1
	observations "$tmp/obs-$1" | awk -v o="${hkey[$1]}" -v s="${hkey[$2]}" \
		'$1 == o && $2 == s { print $3; found = 1 } END { exit !found }'
}
# Every host's records into every other one's, every second, until stopped or the deadline.
bundle_loop() {
	while [ "$(date +%s)" -lt "$deadline" ]; do
		mesh_spread_bundles || echo "bundle exchange failed: $(cat "$tmp"/import-*.err)" >>"$tmp/loop.log"
		sleep 1
	done
}

mesh_require nft od base64

# ---- the registry: a admits b c e -------------------------------------------------------
mn 1 init --name t --host a --ipv4 192.0.2.0/24 --ipv6 fd4d:6e00:3::/48 >/dev/null ||
	bail "meshname init"
for h in 2 3 4; do
	inv=$(mn 1 add "${hn[$h]}" 2>/dev/null) || bail "meshname add ${hn[$h]}"
	mn $h join "$inv" >/dev/null || bail "meshname join ${hn[$h]}"
done
mesh_spread_bundles || bail "bundles between the four hosts"
declare -A hkey
for h in 1 2 3 4; do
	v4[$h]=$(mn 1 show "${hn[$h]}" --json | jq -r .ipv4)
	pub[$h]=$(mn 1 show "${hn[$h]}" --json | jq -r .wg_key)
	hkey[$h]=$(mn 1 show "${hn[$h]}" --json | jq -r .host_key | base64 -d | od -An -tx1 -v | tr -d ' \n')
done
[[ ${hkey[3]} =~ ^[0-9a-f]{64}$ ]] || bail "meshname show --json gives the host key in hex"

# ---- the networks -----------------------------------------------------------------------
ip netns add "$mesh_lan" || bail "ip netns add $mesh_lan"
ip -n "$mesh_lan" link add br0 type bridge && ip -n "$mesh_lan" link set br0 up
for n in "$r1" "$r2"; do ip netns add "$n" || bail "ip netns add $n"; done
for h in 1 2 3 4; do
	ip netns add "${ns[$h]}" || bail "ip netns add ${ns[$h]}"
	ip -n "${ns[$h]}" link set lo up
done
# a and b hold their address as a /32 with a route to the segment, as behind a provider's
# link: a router's address is then not on-link for them, so what they see of c and e
# counts as an observation (an on-link address is a LAN path, never observed).
for h in 1 2; do
	mesh_attach "${ns[$h]}" eth0 "i$h" || bail "veth for ${hn[$h]}"
	ip -n "${ns[$h]}" addr add "${addr[$h]}/32" dev eth0
	ip -n "${ns[$h]}" route add 203.0.113.0/24 dev eth0 src "${addr[$h]}"
done
# router R N HOST LANPREFIX-LEN: wan0 203.0.113.N, lan0 the first address of HOST's net.
router() {
	local r=$1 n=$2 h=$3 gw=$4
	mesh_attach "$r" wan0 "ir$n" || return 1
	ip -n "$r" addr add "203.0.113.$n/24" dev wan0
	ip -n "$r" link add lan0 type veth peer name eth0 netns "${ns[$h]}" || return 1
	ip -n "$r" addr add "$gw/25" dev lan0
	ip -n "$r" link set lan0 up
	ip -n "${ns[$h]}" addr add "${addr[$h]}/25" dev eth0
	ip -n "${ns[$h]}" link set eth0 up
	ip -n "${ns[$h]}" route add default via "$gw"
	ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
	# Like any home router, it drops what comes from the internet for itself unasked. A
	# router that accepted it would keep a connection for the first punching packet (to
	# its own address and port, where nobody listens), and its NAT then gives the host
	# behind it another port towards that peer, one the peer never learns: no hole.
	ip netns exec "$r" nft -f - <<'NFT'
table ip nat {
	chain postrouting { type nat hook postrouting priority srcnat; }
}
table inet filter {
	chain input { type filter hook input priority filter; iifname "wan0" ct state new drop; }
}
NFT
	ip netns exec "$r" nft add rule ip nat postrouting oifname "wan0" masquerade
}
router "$r1" 1 3 198.51.100.1 || bail "NAT router r1"
router "$r2" 2 4 198.51.100.129 || bail "NAT router r2"

check "a reaches b on the internet segment" "in_ns 1 ping -c1 -W2 ${addr[2]} >/dev/null"
check "c and e reach a through their NAT routers" \
	"in_ns 3 ping -c1 -W2 ${addr[1]} >/dev/null && in_ns 4 ping -c1 -W2 ${addr[1]} >/dev/null"
check "a does not reach c, c does not reach e (NAT)" \
	"! in_ns 1 ping -c1 -W1 ${addr[3]} >/dev/null 2>&1 && ! in_ns 3 ping -c1 -W1 ${addr[4]} >/dev/null 2>&1"

# ---- meshnamed everywhere ---------------------------------------------------------------
for h in 1 2 3 4; do mesh_conf $h; done
# c's and e's addresses are private in their networks (documentation ranges stand in for
# 10/8 and 192.168/16 here).
echo "lan-prefix 198.51.100.0/25" >>"$tmp/conf3"
echo "lan-prefix 198.51.100.128/25" >>"$tmp/conf4"
t0=$(now_ms)
for h in 1 2 3 4; do mesh_start_launch $h; done
for h in 1 2 3 4; do
	eventually 10 "grep -q ': ready$' '$tmp/log$h'" || bail "meshnamed starts on ${hn[$h]}"
done
ok "meshnamed runs on the four hosts"
bundle_loop &
loop_pid=$!

# ---- (1) a and b observe c and e ----------------------------------------------------------
all_observed() {
	local o s
	for o in 1 2; do for s in 3 4; do observed "$o" "$s" >/dev/null || return 1; done; done
}
if mesh_within 90 all_observed; then
	echo "# time from meshnamed's start to a's and b's observations of c and e: $(($(now_ms) - t0)) ms"
	ok "a and b each signed an OBSERVE of c and of e"
else
	not_ok "a and b each signed an OBSERVE of c and of e"
fi
for s in 3 4; do
	check "a and b saw ${hn[$s]} at its router's address, at the same port" \
		"[ \"\$(observed 1 $s)\" = \"\$(observed 2 $s)\" ] && \
		 [ \"\$(observed 1 $s | cut -d: -f1)\" = 203.0.113.$((s - 2)) ]"
done
check "nobody observes a or b (directly reachable at what they publish)" \
	"mn 1 export -o $tmp/all && ! observations $tmp/all | awk '{ print \$2 }' | \
	 grep -q -e ${hkey[1]} -e ${hkey[2]}"

# ---- (2) c and e: nat open, reflexive endpoint published ---------------------------------
for h in 3 4; do
	r=203.0.113.$((h - 2))
	if mesh_within 60 "[ \"\$(nat_of $h)\" = open ] && [ -n \"\$(reflexive_of $h)\" ]"; then
		echo "# time from meshnamed's start to ${hn[$h]}'s reflexive endpoint: $(($(now_ms) - t0)) ms"
		ok "${hn[$h]}'s meshnamed says nat open and publishes a reflexive endpoint"
	else
		not_ok "${hn[$h]}'s meshnamed says nat open and publishes a reflexive endpoint"
		echo "# ${hn[$h]}: nat $(nat_of $h), reflexive '$(reflexive_of $h)'"
	fi
	check "${hn[$h]}'s reflexive endpoint is $r and the port a and b saw" \
		"[ \"\$(reflexive_of $h)\" = \"\$(observed 1 $h)\" ] && \
		 [ \"\$(reflexive_of $h | cut -d: -f1)\" = $r ]"
	check "${hn[$h]}'s status lists it as published, from the observations" \
		"mesh_ctl $h | jq -e '.endpoints.published[] | select(.kind == \"reflexive\" and .source == \"reflexive\")' >/dev/null"
done
check "a and b say nat none (they publish public endpoints)" \
	"[ \"\$(nat_of 1)\" = none ] && [ \"\$(nat_of 2)\" = none ]"
rc=$(reflexive_of 3)
re=$(reflexive_of 4)

# ---- (3) c <-> e directly, through both NATs ---------------------------------------------
t_ref=$(now_ms)
punched() {
	[ "$(wg_endpoint 3 4)" = "$re" ] && [ "$(wg_endpoint 4 3)" = "$rc" ] &&
		in_ns 3 ping -4 -c1 -W1 e.mesh >/dev/null 2>&1 &&
		in_ns 4 ping -4 -c1 -W1 c.mesh >/dev/null 2>&1
}
if mesh_within 90 punched; then
	echo "# time from both reflexive endpoints being published to ping c <-> e: $(($(now_ms) - t_ref)) ms" \
		"($(($(now_ms) - t0)) ms after meshnamed's start)"
	ok "c: ping e.mesh and e: ping c.mesh, c showing e at $re and e showing c at $rc"
else
	not_ok "c: ping e.mesh and e: ping c.mesh, c showing e at $re and e showing c at $rc"
	echo "# c shows e at '$(wg_endpoint 3 4)', e shows c at '$(wg_endpoint 4 3)'"
	in_ns 3 wg show "${ifname[3]}" | sed 's/^/# c: /'
	in_ns 4 wg show "${ifname[4]}" | sed 's/^/# e: /'
	conntrack_of "$r1" r1
	conntrack_of "$r2" r2
fi
check "c <-> e: persistent keepalive 25 on both sides" \
	"[ \"\$(wg_keepalive 3 4)\" = 25 ] && [ \"\$(wg_keepalive 4 3)\" = 25 ]"
check "c's meshnamed calls e's endpoint reflexive" \
	"mesh_ctl 3 | jq -e '.wireguard.peers[] | select(.name == \"e\" and .endpoint_kind == \"reflexive\")' >/dev/null"
check "e.mesh is e's mesh address, resolved by c's own meshnamed" \
	"[ \"\$(in_ns 3 getent ahostsv4 e.mesh | head -n1 | cut -d' ' -f1)\" = ${v4[4]} ]"
# The hole stays open past a keepalive period with no other traffic.
sleep 35
check "35 s later, with only keepalives between, c still pings e.mesh on that path" \
	"in_ns 3 ping -4 -c1 -W2 e.mesh >/dev/null && [ \"\$(wg_endpoint 3 4)\" = '$re' ]"

# ---- (4) r2 becomes a symmetric NAT: e says so and publishes no reflexive endpoint -------
# Down and up flushes the mappings masquerade made through wan0; from then on every new
# destination gets a random port.
ip netns exec "$r2" nft flush chain ip nat postrouting
ip -n "$r2" link set wan0 down
ip netns exec "$r2" nft add rule ip nat postrouting oifname "wan0" masquerade fully-random ||
	bail "nft masquerade fully-random on r2"
ip -n "$r2" link set wan0 up
t_sym=$(now_ms)
if mesh_within 180 "[ \"\$(nat_of 4)\" = symmetric ] && [ -z \"\$(reflexive_of 4)\" ]"; then
	echo "# time from r2 turning symmetric to e saying so, its reflexive endpoint withdrawn: $(($(now_ms) - t_sym)) ms"
	ok "e's meshnamed says nat symmetric and publishes no reflexive endpoint"
else
	not_ok "e's meshnamed says nat symmetric and publishes no reflexive endpoint"
	echo "# e: nat $(nat_of 4), reflexive '$(reflexive_of 4)'; a saw e at $(observed 1 4), b at $(observed 2 4)"
fi
check "a and b saw e at different ports" \
	"[ \"\$(observed 1 4)\" != \"\$(observed 2 4)\" ]"
check "e's published endpoints are its LAN address only" \
	"[ \"\$(mesh_ctl 4 | jq -c '[.endpoints.published[] | .kind]')\" = '[\"lan\"]' ]"
check "e's status says symmetric in words" \
	"mn 4 --control $tmp/control4.sock status | grep -q 'symmetric'"
check "c's nat is still open" "[ \"\$(nat_of 3)\" = open ]"
check "a still pings e.mesh (it follows e through r2)" \
	"mesh_within 30 'in_ns 1 ping -4 -c1 -W1 e.mesh >/dev/null 2>&1'"
check "the bundle exchange never failed" "[ ! -s $tmp/loop.log ]"
[ -s "$tmp/loop.log" ] && sed 's/^/# /' "$tmp/loop.log" | head -n 5

# ---- exit ---------------------------------------------------------------------------------
kill "$loop_pid" 2>/dev/null
wait "$loop_pid" 2>/dev/null
loop_pid=
mesh_stop
mesh_summary
