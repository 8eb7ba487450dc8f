#!/usr/bin/env bash
# Hosts on one LAN keep syncing and resolving with their router cut (issue 5): h1 (admin),
# h2, h3 on a LAN 192.0.2.0/24 whose router (lib_mesh.sh's MESH_WAN_HOSTS topology) leads
# to h4 on an "internet" 203.0.113.0/24. meshnamed everywhere with WireGuard (`manage
# yes`), sync and LAN beacons on. WireGuard between the LAN hosts is blocked (nft drops
# their WireGuard ports to LAN sources), so that among them only LAN beacons and transport B
# can carry sync, as between LAN hosts that are not WireGuard peers yet. The registries
# start equal (bundles, before any daemon runs); no bundle is moved after that.
# Checks: the LAN hosts find each other by beacon (status: neighbours via lan); h1 pings
# h4.mesh through the router; the router's LAN link goes down: h4 is unreachable, and a
# record added on h2 and one added by the admin h1 are answered by all three LAN hosts'
# meshnameds, not by h4's; every LAN host still answers every name; no WireGuard handshake
# ever happened between LAN hosts; then the router comes back and h4 answers both
# records. Setup: lib_mesh.sh.
# shellcheck disable=SC2317,SC2034 # functions and variables used through check (eval)
MESH_NS_PREFIX=msu
MESH_IF_PREFIX=wgu
MESH_HOSTS=4
MESH_WAN_HOSTS=4
# shellcheck source=tests/integration/lib_mesh.sh
. "$(dirname "$0")/lib_mesh.sh"

mesh_require dig nft
answers() { [ "$(mesh_dig "$1" "$2" "$3")" = "$4" ]; }
# lan_neighbours H N: H's status lists at least N sync neighbours heard on the LAN, each
# reached at the LAN address its beacon came from ("lan 192.0.2.X:51821", or the IPv6
# link-local address of a multicast beacon).
lan_neighbours() {
	mesh_ctl "$1" 2>/dev/null | jqe "[.sync.neighbours[] | select((.source | index(\"lan\")) and
		(.via // \"\" | test(\"^lan (192[.]0[.]2[.][0-9]+|\\\\[fe80:[0-9a-f:]+\\\\]):51821$\")))] |
		length >= $2"
}
# lan_synced H: H had a successful session with a neighbour at a LAN address.
lan_synced() {
	mesh_ctl "$1" 2>/dev/null | jqe '[.sync.neighbours[] | select((.via // "" |
		startswith("lan ")) and .last_ok != null)] | length > 0'
}
# handshakes H O: the latest WireGuard handshake of H with O (0 = never).
handshake_with() { in_ns "$1" wg show "${ifname[$1]}" latest-handshakes | grep -F "${pub[$2]}" | cut -f2; }

mesh_registry
mesh_network
for h in 1 2 3 4; do echo "sync yes" >>"$tmp/conf$h"; done
# No WireGuard among the LAN hosts: their WireGuard ports drop LAN sources (h4's packets
# come from 203.0.113.4 through the router and pass).
for h in 1 2 3; do
	in_ns $h nft -f - <<NFT || bail "nft rules on h$h"
table inet mstest {
	chain input {
		type filter hook input priority filter;
		udp dport 52901-52903 ip saddr 192.0.2.0/24 drop
		udp dport 52901-52903 ip6 saddr fe80::/10 drop
	}
}
NFT
done
mesh_start
ok "meshnamed runs on h1..h4"
for h in 1 2 3; do
	check "h$h's status lists the two other LAN hosts as LAN neighbours (beacons)" \
		"mesh_within 15 'lan_neighbours $h 2'" ||
		echo "# h$h's sync neighbours: $(mesh_ctl $h | jq -c '[.sync.neighbours[] | {name, source, via}]')"
done
check "h1 pings h4.mesh through the router (WireGuard to the internet host)" \
	"mesh_within 15 'ping_name 1 h4.mesh'"
check "h4 pings h2.mesh through the router" "mesh_within 15 'ping_name 4 h2.mesh'"
check "h1 does not reach h2.mesh (no WireGuard between LAN hosts)" "! ping_name 1 h2.mesh"

# ---- the router's LAN link goes down -------------------------------------------------------
ip -n "$mesh_router" link set lan0 down || bail "router's LAN link down"
cut=$(now_ms)
check "the cut is real: h1 reaches neither 203.0.113.4 nor h4.mesh" \
	"! in_ns 1 ping -c1 -W1 203.0.113.4 >/dev/null 2>&1 && ! ping_name 1 h4.mesh"
mn 2 record add lan.h2 A 192.0.2.202 >/dev/null || bail "meshname record add on h2"
each_within 30 "lan.h2.mesh, added on h2 with the router cut, is answered" \
	"answers @ lan.h2.mesh A 192.0.2.202" 2 1 3
want_value='"router down"'
mn 1 record add cut TXT "$want_value" >/dev/null || bail "meshname record add on h1"
each_within 30 "cut.mesh TXT, added by the admin h1 with the router cut, is answered" \
	"answers @ cut.mesh TXT \"\$want_value\"" 1 2 3
for h in 1 2 3; do
	check "h$h synced with a LAN neighbour at its LAN address" "lan_synced $h"
	check "h$h still answers every host's name, h4's too" \
		"answers $h h1.mesh A ${v4[1]} && answers $h h2.mesh A ${v4[2]} &&
		 answers $h h3.mesh A ${v4[3]} && answers $h h4.mesh A ${v4[4]}"
done
check "h4 (behind the cut router) answers neither record" \
	"answers 4 lan.h2.mesh A '' && answers 4 cut.mesh TXT ''"
for h in 1 2 3; do
	for o in 1 2 3; do
		[ $o = $h ] && continue
		check "h$h never made a WireGuard handshake with h$o (sync went by transport B)" \
			"[ \"\$(handshake_with $h $o)\" = 0 ]"
	done
done
# The outage lasts CUT_S: longer than a connect's timeout (5 s) and its TCP retries, so
# that what brings h4 the records afterwards is anti-entropy, not a push still in flight.
CUT_S=15
sleep $((CUT_S - ($(now_ms) - cut) / 1000))
check "h4 still answers neither record after ${CUT_S} s" \
	"answers 4 lan.h2.mesh A '' && answers 4 cut.mesh TXT ''"

# ---- the router comes back -------------------------------------------------------------------
ip -n "$mesh_router" link set lan0 up || bail "router's LAN link up"
heal=$(now_ms)
check "h4 answers lan.h2.mesh once the router is back" \
	"mesh_within 45 'answers 4 lan.h2.mesh A 192.0.2.202'"
check "h4 answers cut.mesh TXT once the router is back" \
	"mesh_within 10 'answers 4 cut.mesh TXT \"\$want_value\"'"
echo "# both records on h4: $(($(now_ms) - heal)) ms after the router came back"
for h in 1 2 3 4; do
	check "h$h counted no strike" "[ \"\$(mesh_ctl $h | jq -r .sync.strikes)\" = 0 ]"
done
mesh_stop
mesh_summary
