#!/usr/bin/env bash
# Peer-to-peer registry sync between real meshnamed processes (issue 5): five hosts h1
# (admin) .. h5 on one LAN in network namespaces, WireGuard by meshnamed (`manage yes`),
# LAN beacons off (`sync-beacon no`), so that sync can only go to members over WireGuard
# (transport A) or to the seeds of an invite (transport B). The registries start equal
# (bundles, before any daemon runs); after that no bundle is ever moved.
# (a) a change made on one host is answered by every host's own meshnamed (dig NAME.mesh
#     @127.0.0.153): a custom record added by a host under its own name, one added by the
#     admin, the removal of the first, and a host's new WireGuard endpoint (meshname show).
# (d) invite redemption through transport B: `meshname add --bootstrap 192.0.2.1:51821 h6`
#     on h1, `meshname join INVITE` on a new host h6 (STATE/seeds names h1's key and
#     address), its meshnamed started: h1 learns h6's CERT and ENDPOINTS by sync alone,
#     then every host does (DNS, WireGuard peers: ping h6.mesh), and h6 resolves the others
#     and the custom records made before it joined.
# Prints the time each change took to reach every host. Setup: lib_mesh.sh.
# shellcheck disable=SC2317,SC2034 # functions and variables used through check (eval)
MESH_NS_PREFIX=mst
MESH_IF_PREFIX=wgt
MESH_HOSTS=6
MESH_REGISTRY_HOSTS=5
# shellcheck source=tests/integration/lib_mesh.sh
. "$(dirname "$0")/lib_mesh.sh"

mesh_require
command -v dig >/dev/null || bail "dig is missing (tests/deps.sh test installs bind9-dnsutils)"
# answers H NAME TYPE VALUE: H's own meshnamed answers NAME TYPE with exactly VALUE.
answers() { [ "$(mesh_dig "$1" "$2" "$3")" = "$4" ]; }
# has_endpoint H HOST ADDR [PORT]: H's registry lists ADDR (and PORT) among HOST's endpoints.
# shellcheck disable=SC2016 # jq variables, not shell ones
has_endpoint() {
	mn "$1" show "$2" --json 2>/dev/null | jqe --arg a "$3" --arg p "${4:-}" \
		'.endpoints[] | select(.address == $a and ($p == "" or .port == ($p | tonumber)))'
}
# synced_with H JQ-CONDITION: H's status lists a sync neighbour meeting the condition that
# had a successful session.
synced_with() {
	mesh_ctl "$1" 2>/dev/null |
		jqe "[.sync.neighbours[] | select(($2) and .last_ok != null)] | length > 0"
}

mesh_registry
mesh_network
for ((h = 1; h <= MESH_HOSTS; h++)); do printf 'sync yes\nsync-beacon no\n' >>"$tmp/conf$h"; done
mesh_start
ok "meshnamed runs on h1..h5"
for h in 1 2 3 4 5; do
	others=()
	for o in 1 2 3 4 5; do [ $o != "$h" ] && others+=("$o"); done
	want=$(expect_peers $h "${others[@]}")
	check "h$h's WireGuard lists the four others" "eventually 15 '[ \"\$(wg_peers $h)\" = \"\$want\" ]'"
done
check "sync is on, beacons off, on h1's status" \
	"mesh_ctl 1 | jqe '.sync.enabled == true and .sync.beacons == false and .sync.port == 51821'"

# ---- (a) a change on one host reaches every host's DNS --------------------------------
mn 3 record add www.h3 A 192.0.2.133 >/dev/null || bail "meshname record add on h3"
each_within 30 "www.h3.mesh A 192.0.2.133, added on h3, is answered" \
	"answers @ www.h3.mesh A 192.0.2.133" 3 1 2 4 5
declare -A had
for h in 1 2 3 4 5; do [ -z "${fails[$h]}" ] && had[$h]=1; done
want_value='"synced by peers"'
mn 1 record add info TXT "$want_value" >/dev/null || bail "meshname record add on h1"
each_within 30 "info.mesh TXT, added by the admin on h1, is answered" \
	"answers @ info.mesh TXT \"\$want_value\"" 1 2 3 4 5
mn 3 record rm www.h3 A 192.0.2.133 >/dev/null || bail "meshname record rm on h3"
# Only where it was answered: a record that never came cannot prove its removal came.
each_within 30 "www.h3.mesh, answered before, is gone after its removal on h3" \
	"[ -n \"\${had[@]:-}\" ] && answers @ www.h3.mesh A ''" 3 1 2 4 5
mn 4 --control "$tmp/control4.sock" endpoint add 192.0.2.144:52904 >/dev/null ||
	bail "meshname endpoint add on h4"
each_within 30 "meshname show h4 lists h4's new endpoint 192.0.2.144:52904" \
	"has_endpoint @ h4 192.0.2.144 52904" 1 2 3 5
for h in 1 2 3 4 5; do
	check "h$h synced over the mesh (a neighbour via 'mesh ...' with a last sync)" \
		"synced_with $h '.via // \"\" | startswith(\"mesh \")'"
done

# ---- (d) h6 joins with an invite, through transport B to its bootstrap peer -------------
h1_key=$(mn 1 show h1 --json | jq -r .host_key)
inv=$(mn 1 add h6 --bootstrap 192.0.2.1:51821 2>"$tmp/add6.err") ||
	bail "meshname add h6 --bootstrap 192.0.2.1:51821: $(cat "$tmp/add6.err")"
check "the invite is one mn1-invite: line" "[[ \"\$inv\" == mn1-invite:* ]] && [ \$(wc -l <<<\"\$inv\") = 1 ]"
mn 6 join "$inv" >/dev/null 2>"$tmp/join6.err" || bail "meshname join on h6: $(cat "$tmp/join6.err")"
check "h6's STATE/seeds names h1's host key at 192.0.2.1:51821" \
	"grep -qxF '$h1_key 192.0.2.1:51821' $tmp/s6/seeds"
check "before h6's meshnamed runs, h1 does not list h6" "! mn 1 show h6 >/dev/null 2>&1"
v4[6]=$(mn 6 show h6 --json | jq -r .ipv4)
pub[6]=$(mn 6 show h6 --json | jq -r .wg_key)
v6[6]=$(mn 6 show h6 --json | jq -r .ipv6)
start=$(now_ms)
mesh_start_host 6
ok "meshnamed runs on h6"
check "h1 learns h6's certificate by sync (meshname show h6 on h1)" \
	"mesh_within 30 '[ \"\$(mn 1 show h6 --json 2>/dev/null | jq -r .ipv4)\" = ${v4[6]} ]'"
echo "# h6's certificate on h1: after $(($(now_ms) - start)) ms"
check "h1 learns h6's endpoints (192.0.2.6) by sync" \
	"mesh_within 30 'has_endpoint 1 h6 192.0.2.6'"
echo "# h6's endpoints on h1: after $(($(now_ms) - start)) ms"
each_within 30 "h6.mesh is answered with h6's address" "answers @ h6.mesh A ${v4[6]}" 1 2 3 4 5
each_within 30 "meshname show h6 lists h6's endpoint 192.0.2.6" "has_endpoint @ h6 192.0.2.6" 2 3 4 5
# (h6 knows h1 from its invite already.)
each_within 30 "h6 answers h@.mesh" "answers 6 h@.mesh A \${v4[@]}" 2 3 4 5
check "h6 answers info.mesh, added before it joined" \
	"mesh_within 10 'answers 6 info.mesh TXT \"\$want_value\"'"
check "h6 synced with its seed h1 (a neighbour with source seed and a last sync)" \
	"synced_with 6 '.source | index(\"seed\")'"
want=$(expect_peers 2 1 3 4 5 6)
check "h2's WireGuard gets a peer for h6, from the synced records" \
	"mesh_within 30 '[ \"\$(wg_peers 2)\" = \"\$want\" ]'"
check "h2: ping h6.mesh" "mesh_within 20 'in_ns 2 ping -4 -c1 -W2 h6.mesh >/dev/null'"
check "h6: ping h3.mesh" "mesh_within 20 'in_ns 6 ping -4 -c1 -W2 h3.mesh >/dev/null'"
echo "# h6 from its start to pings both ways: $(($(now_ms) - start)) ms"
check "no bundle was made after the daemons started" "[ ! -e $tmp/bundle-6 ]"

for h in 1 2 3 4 5 6; do
	check "h$h counted no strike (honest peers only)" \
		"[ \"\$(mesh_ctl $h | jq -r .sync.strikes)\" = 0 ]"
done
mesh_stop
mesh_summary
