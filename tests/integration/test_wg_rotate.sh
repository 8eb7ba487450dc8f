#!/usr/bin/env bash
# Rotating a host's WireGuard key keeps the mesh working (issue 4): three hosts h1 (admin)
# h2 h3 in network namespaces, each with meshnamed `manage yes` starting wireguard-go;
# h3 runs `meshname renew --new-wg-key`, the request reaches h1 by a bundle, h1 runs
# `meshname renew h3`, the new certificate reaches h2 and h3 by bundles. Then h3's
# interface has the new key, h1's and h2's peer for h3 has the new key and not the old,
# no allowed IP ever shows on two peers, and ping h3.mesh works again. The test never
# runs `wg set`: meshnamed does it all from the registry. Setup: lib_mesh.sh.
MESH_NS_PREFIX=mnr
MESH_IF_PREFIX=wgr
MESH_HOSTS=3
poller_pid=
stop_poller() { [ -n "$poller_pid" ] && kill "$poller_pid" 2>/dev/null && wait "$poller_pid" 2>/dev/null; }
MESH_EXTRA_CLEANUP=stop_poller
# shellcheck source=tests/integration/lib_mesh.sh
. "$(dirname "$0")/lib_mesh.sh"

mesh_require
mesh_registry
mesh_network
mesh_start
ok "meshnamed runs on the three hosts"

for h in 1 2 3; do
	others=()
	for o in 1 2 3; do [ $o != $h ] && others+=("$o"); done
	want=$(expect_peers $h "${others[@]}")
	check "h$h's WireGuard lists the two others" "eventually 15 '[ \"\$(wg_peers $h)\" = \"\$want\" ]'"
done
for h in 1 2; do
	check "before: h$h: ping h3.mesh" "eventually 10 'in_ns $h ping -4 -c1 -W2 h3.mesh >/dev/null'"
done
old=${pub[3]}
check "h3's interface has its registry key" \
	"[ \"\$(in_ns 3 wg show ${ifname[3]} public-key)\" = '$old' ]"

# ---- h3 asks for a new key -----------------------------------------------------------
out=$(mn 3 renew --new-wg-key) || bail "meshname renew --new-wg-key on h3"
new=$(wg pubkey <"$tmp/s3/wg.key.next") || bail "h3 has wg.key.next"
check "renew --new-wg-key names the public key of the new wg.key.next" \
	"grep -qF 'new WireGuard key: $new' <<<\"\$out\""
check "wg.key.next is mode 600" "[ \"\$(stat -c %a $tmp/s3/wg.key.next)\" = 600 ]"
check "the new key is not the old one" "[ '$new' != '$old' ]"
check "no private key in the output" \
	"! grep -qF \"\$(cat $tmp/s3/wg.key.next)\" <<<\"\$out\""
# The request alone changes nothing: peers only accept the key of the cert they hold.
sleep 2
check "before the new certificate, h3's interface keeps the old key" \
	"[ \"\$(in_ns 3 wg show ${ifname[3]} public-key)\" = '$old' ] && [ -e $tmp/s3/wg.key.next ]"
check "and h1 still reaches h3" "in_ns 1 ping -4 -c1 -W2 h3.mesh >/dev/null"

# ---- watch the switch on h1 and h2: an allowed IP on two peers at once is a failure ----
# Read-only: `wg show allowed-ips` every 0.1 s, a line per sample with a repeated IP.
(
	while :; do
		for h in 1 2; do
			in_ns $h wg show "${ifname[$h]}" allowed-ips 2>/dev/null | cut -f2 | tr ' ' '\n' |
				grep -v '^$' | sort | uniq -d | sed "s/^/h$h /"
			in_ns $h wg show "${ifname[$h]}" peers 2>/dev/null | sed "s/^/h$h-peer /"
		done
		sleep 0.1
	done >"$tmp/watch"
) &
poller_pid=$!

# ---- the admin grants it --------------------------------------------------------------
mesh_bundle 3 1 || bail "bundle h3 -> h1"
out=$(mn 1 renew h3) || bail "meshname renew h3 on h1"
check "h1 renews h3 with serial 2 following its request" \
	"grep -q 'serial 2' <<<\"\$out\" && grep -q \"following h3's renewal request\" <<<\"\$out\""
check "h1's registry has h3's new key" "[ \"\$(mn 1 show h3 --json | jq -r .wg_key)\" = '$new' ]"
mesh_bundle 1 2 3 || bail "bundle h1 -> h2, h3"
check "h2's registry has it too" "[ \"\$(mn 2 show h3 --json | jq -r .wg_key)\" = '$new' ]"

check "h3's interface switches to the new key" \
	"eventually 10 '[ \"\$(in_ns 3 wg show ${ifname[3]} public-key)\" = \"$new\" ]'"
check "h3's wg.key is the new key and wg.key.next is gone" \
	"[ \"\$(wg pubkey <$tmp/s3/wg.key)\" = '$new' ] && [ ! -e $tmp/s3/wg.key.next ] && \
	 [ \"\$(stat -c %a $tmp/s3/wg.key)\" = 600 ]"
check "h3's meshnamed logged the switch once" \
	"eventually 3 '[ \"\$(grep -c \"names the key of wg.key.next\" $tmp/log3)\" = 1 ]'"
pub[3]=$new
for h in 1 2; do
	others=()
	for o in 1 2 3; do [ $o != $h ] && others+=("$o"); done
	want=$(expect_peers $h "${others[@]}")
	check "h$h's peer for h3 has the new key, with h3's mesh addresses" \
		"eventually 10 '[ \"\$(wg_peers $h)\" = \"\$want\" ]'"
	check "h$h has no peer with the old key" "! in_ns $h wg show ${ifname[$h]} peers | grep -qF '$old'"
	check "h$h: ping h3.mesh works again" "eventually 15 'in_ns $h ping -4 -c1 -W2 h3.mesh >/dev/null'"
	check "through a handshake with the new key" \
		"[ \"\$(in_ns $h wg show ${ifname[$h]} latest-handshakes | grep -F '$new' | cut -f2)\" -gt 0 ]"
	check "h$h logged the old peer's removal and the new one's addition" \
		"grep -q 'removing peer' $tmp/log$h && grep -q 'adding peer h3' $tmp/log$h"
	check "h$h never refused the registry's peers" "! grep -q 'refusing the registry' $tmp/log$h"
done
check "h3: ping -6 h1.mesh with its new key" "eventually 10 'in_ns 3 ping -6 -c1 -W2 h1.mesh >/dev/null'"
sleep 0.3
stop_poller
poller_pid=
check "the watcher saw both keys of h3 on h1 (it watched the switch)" \
	"grep -qF 'h1-peer $old' $tmp/watch && grep -qF 'h1-peer $new' $tmp/watch"
check "no allowed IP was ever on two peers during the switch" \
	"! grep -qv -- '-peer ' $tmp/watch"
check "h3's interface kept running (same wireguard-go)" "kill -0 \$(mesh_child_of 3)"

# ---- a second request on h3 asks for nothing new: the key is in place -----------------
check "a plain renew request on h3 afterwards makes no wg.key.next" \
	"mn 3 renew >/dev/null && [ ! -e $tmp/s3/wg.key.next ]"

mesh_stop
mesh_summary
