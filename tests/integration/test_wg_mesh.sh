#!/usr/bin/env bash
# The first real mesh: three simulated hosts h1 h2 h3 in network namespaces on one LAN
# (a bridge in a "lan" namespace), each running meshnamed, which does all the WireGuard
# work from the registry (the test never runs `wg set`): h1 and h2 with `manage yes`
# (meshnamed starts wireguard-go, adds the mesh addresses and routes), h3 with `manage
# peers` (the test starts wireguard-go and addresses it; meshnamed sets key, port and
# peers). Checks: peers and allowed IPs, `ping NAME.mesh` resolved by the host's own
# meshnamed through the tunnel, a revoked host leaving every peer list, clean SIGTERM.
# Only documentation prefixes, only inside the namespaces; everything stopped by PID.
# Setup (tests/integration/lib_mesh.sh): names ns[h] and ifname[h], ok/not_ok/check,
# bail, eventually, in_ns, mn H (meshname on h's state), the registry (mesh_registry),
# the LAN (mesh_netns), meshnamed's configs (mesh_conf) and start (mesh_start), wg_peers
# and expect_peers, mesh_stop; the EXIT trap stops everything and removes the namespaces.
MESH_NS_PREFIX=mnw
MESH_IF_PREFIX=wm
MESH_HOSTS=3
MESH_PORT_PREFIX=5182 # listen ports 51821-51823
MESH_EXTRA_CLEANUP=stop_wg3
# shellcheck source=tests/integration/lib_mesh.sh
. "$(dirname "$0")/lib_mesh.sh"
wg3_pid=
# h3's wireguard-go, which the test starts itself (stopped by lib_mesh.sh's EXIT trap).
# shellcheck disable=SC2317
stop_wg3() { [ -n "$wg3_pid" ] && kill "$wg3_pid" 2>/dev/null && wait "$wg3_pid" 2>/dev/null; }

mesh_require socat

# ---- the registry: h1 admits h2 and h3, endpoints, bundles everywhere ------------------
mesh_registry
check "every host knows the three hosts" \
	"[ \"\$(mn 2 ls --json | jq length)\" = 3 ] && [ \"\$(mn 3 ls --json | jq length)\" = 3 ]"

# ---- the LAN: h1 h2 h3 on a bridge in the lan namespace --------------------------------
mesh_netns
for h in 1 2; do mesh_conf $h; done # manage yes: meshnamed starts wireguard-go
mesh_conf 3 peers
for h in 1 2 3; do
	echo "sync no # WireGuard alone here (and 51821 would be the LAN beacons' UDP port)" >>"$tmp/conf$h"
done
check "eth0 of h1 reaches h2 on the LAN" "in_ns 1 ping -c1 -W2 192.0.2.2 >/dev/null"

mesh_start
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

check "h1's meshnamed started wireguard-go itself" "[ -n \"\$(mesh_child_of 1)\" ] && kill -0 \$(mesh_child_of 1)"

# ---- peers --------------------------------------------------------------------------------
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
child1=$(mesh_child_of 1)
mesh_stop
check "h1's wireguard-go was stopped (on-exit remove) and its socket is gone" \
	"! kill -0 $child1 2>/dev/null && eventually 3 '[ ! -e /run/wireguard/${ifname[1]}.sock ]'"
check "h3's interface (manage peers) is left running" "kill -0 $wg3_pid"
mesh_summary
