#!/usr/bin/env bash
# meshnamed's peer sync end to end, the daemon engineer's own check (the big five-host
# tests are test_sync_*.sh). Five hosts on one LAN in network namespaces; h1 (admin), h2
# and h3 have equal registries from bundles made before any daemon runs, and after that no
# bundle moves:
#   (A) transport A, over WireGuard (beacons off on h1-h3): a custom record added with the
#       CLI on h1 is answered by h2's and h3's meshnamed, one added on h3 under its own name
#       reaches h1 and h2, and so does its removal; the time each took is printed;
#   (seed) h4 joins with an invite naming h1 as its bootstrap peer (its STATE/seeds line
#       then says h1 by a DNS name, from h4's /etc/hosts, resolved without blocking): its
#       meshnamed pushes its CERT to h1 over transport B (a non-member's push), then
#       reconciles fully; every host answers h4.mesh and h4 answers the records made
#       before it joined;
#   (LAN) h1 restarts with beacons on; h5 joins with an invite too, but has no seeds and
#       no WireGuard at all (`manage no`): it finds its inviter h1 by its LAN beacon and
#       redeems the invite over transport B on the LAN, then learns the mesh (www.mesh,
#       h2.mesh), and h2 and h3 (beacons off: they never talk to h5) answer h5.mesh.
#       (A new host can only fetch from a peer it knows as a member: its inviter, whose
#       CERT the invite carries. From others it takes what they push.)
#   - `meshname status --json`: sync on, neighbours, successful sessions, no strikes;
#   - SIGTERM: every daemon exits 0, no sanitizer report.
# Only documentation prefixes, only inside the namespaces; everything stopped by PID.
# shellcheck disable=SC2317,SC2034 # functions and variables used through check (eval)
MESH_NS_PREFIX=msc
MESH_IF_PREFIX=wgc
MESH_HOSTS=5
MESH_REGISTRY_HOSTS=3
# shellcheck source=tests/integration/lib_mesh.sh
. "$(dirname "$0")/lib_mesh.sh"

mesh_require
if [ -n "${SYNCD_VERBOSE:-}" ]; then # debug logs (one line per session) for a look
	printf '#!/bin/sh\nexec %s -v "$@"\n' "$MESHNAMED" >"$tmp/meshnamed-v"
	chmod +x "$tmp/meshnamed-v"
	MESHNAMED=$tmp/meshnamed-v
fi
command -v dig >/dev/null || bail "dig is missing (tests/deps.sh test installs bind9-dnsutils)"
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# answers H NAME TYPE: H's meshnamed answers NAME TYPE with exactly $want.
answers() { [ "$(mesh_dig "$1" "$2" "$3")" = "$want" ]; }
# reaches SECONDS NAME TYPE VALUE HOSTS...: every host answers NAME TYPE with VALUE ("":
# nothing) within SECONDS from now; prints the time it took.
reaches() {
	local secs=$1 name=$2 type=$3 h start
	want=$4
	shift 4
	start=$(now_ms)
	for h in "$@"; do
		check "h$h answers $name $type '$want'" "mesh_within $secs 'answers $h $name $type'"
	done
	echo "# $name $type '$want' on h${*// / h}: $(($(now_ms) - start)) ms"
}
status_of() { mesh_ctl "$1" 2>/dev/null; }
# joined H: H joins with an invite from h1 (bootstrap endpoint h1 unless $2 is "none").
join() {
	local inv
	if [ "${2:-}" = none ]; then
		inv=$(mn 1 add "h$1" 2>/dev/null) || bail "meshname add h$1"
	else
		inv=$(mn 1 add "h$1" --bootstrap 192.0.2.1:51821 2>/dev/null) ||
			bail "meshname add h$1 --bootstrap"
	fi
	mn "$1" join "$inv" >/dev/null 2>&1 || bail "meshname join on h$1"
	v4[$1]=$(mn "$1" show "h$1" --json | jq -r .ipv4)
}

mesh_registry
mesh_network
for h in 1 2 3; do echo "sync-beacon no" >>"$tmp/conf$h"; done
# h5: no WireGuard (so no transport A), only its LAN and beacons.
cat >"$tmp/conf5" <<CONF
state $tmp/s5
control $tmp/control5.sock
listen 127.0.0.153:53
listen-mesh no
forward no
interface ${ifname[5]}
manage no
publish-endpoints no
CONF
mesh_start
check "WireGuard up: h1 pings h2 and h3 by mesh address" \
	"mesh_within 20 'in_ns 1 ping -c1 -W1 ${v4[2]} >/dev/null && in_ns 1 ping -c1 -W1 ${v4[3]} >/dev/null' 2>/dev/null"

# ---- (A) over the mesh ------------------------------------------------------------------
mn 1 record add www A 192.0.2.80 >/dev/null || bail "meshname record add on h1"
reaches 15 www.mesh A 192.0.2.80 1 2 3
mn 3 record add svc.h3 TXT '"from h3"' >/dev/null || bail "meshname record add on h3"
reaches 15 svc.h3.mesh TXT '"from h3"' 1 2
mn 3 record rm svc.h3 TXT '"from h3"' >/dev/null || bail "meshname record rm on h3"
reaches 15 svc.h3.mesh TXT '' 1 2

# ---- (seed) h4 redeems its invite through transport B to h1 -----------------------------
join 4
check "h4's STATE/seeds names h1 at 192.0.2.1:51821" "grep -q ' 192.0.2.1:51821$' $tmp/s4/seeds"
echo "192.0.2.1 seed-h1.example" >"/etc/netns/${ns[4]}/hosts"
sed -i 's/ 192\.0\.2\.1:51821$/ seed-h1.example:51821/' "$tmp/s4/seeds"
start=$(now_ms)
mesh_start_host 4
reaches 30 h4.mesh A "${v4[4]}" 1 2 3
reaches 30 www.mesh A 192.0.2.80 4
reaches 30 h2.mesh A "${v4[2]}" 4
check "h4 resolved its seed's name" "grep -q 'seed seed-h1.example:51821 resolves to 1 address' $tmp/log4"
check "h4 synced with its seed h1 over transport B" \
	"status_of 4 | jq -e '.sync.neighbours[] | select((.source | index(\"seed\")) and .last_ok != null and (.via | startswith(\"seed 192.0.2.1:\")))' >/dev/null"
echo "# h4: from its start to resolving and being resolved everywhere: $(($(now_ms) - start)) ms"

# ---- (LAN) h5: beacons and transport B only ---------------------------------------------
kill -TERM "${daemon_pid[1]}" && wait "${daemon_pid[1]}"
check "meshnamed on h1 exits 0 on SIGTERM (restart with beacons on)" "[ $? -eq 0 ]"
sed -i '/^sync-beacon no$/d' "$tmp/conf1"
mv "$tmp/log1" "$tmp/log1.before"
mesh_start_host 1
join 5 none
rm -f "$tmp/s5/seeds"
start=$(now_ms)
mesh_start_host 5
reaches 40 www.mesh A 192.0.2.80 5
reaches 10 h2.mesh A "${v4[2]}" 5
reaches 40 h5.mesh A "${v4[5]}" 1 2 3
# (over IPv4 or IPv6 link-local: the family whose beacon came first)
check "h5 heard h1's beacon and synced with it on the LAN" \
	"status_of 5 | jq -e '.sync.beacons_heard > 0 and ([.sync.neighbours[] | select(.name == \"h1\" and (.source | index(\"lan\")) and .last_ok != null and (.via | startswith(\"lan \")))] | length == 1)' >/dev/null"
echo "# h5: from its start to resolving and being resolved: $(($(now_ms) - start)) ms"

for h in 1 2 3 4 5; do
	check "h$h: sync on, sessions ok, no strike" \
		"status_of $h | jq -e '.sync.enabled and .sync.port == 51821 and .sync.sessions_ok >= 1 and .sync.strikes == 0' >/dev/null"
done
mesh_stop
mesh_summary
