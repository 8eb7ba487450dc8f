#!/usr/bin/env bash
# meshnamed's peer sync end to end, the daemon engineer's own check (the big five-host
# tests are test_sync_*.sh): three hosts h1 (admin) h2 h3 on one LAN in network
# namespaces, WireGuard by meshnamed, registries made equal once by bundles before any
# daemon runs. Then no bundle moves:
#   - a custom record added with the CLI on h1 is answered by h2's and h3's meshnamed
#     (pushed over transport A, the mesh); the time it took is printed;
#   - one added on h3 (under its own name) reaches h1 and h2; its removal too;
#   - `meshname status --json` shows sync on, neighbours and successful sessions;
#   - SIGTERM: every daemon exits 0, no sanitizer report.
# Only documentation prefixes, only inside the namespaces; everything stopped by PID.
# shellcheck disable=SC2317 # functions used through check (eval)
MESH_NS_PREFIX=msc
MESH_IF_PREFIX=wgc
MESH_HOSTS=3
# shellcheck source=tests/integration/lib_mesh.sh
. "$(dirname "$0")/lib_mesh.sh"

mesh_require
command -v dig >/dev/null || bail "dig is missing (tests/deps.sh test installs bind9-dnsutils)"
now_ms() { echo $(($(date +%s%N) / 1000000)); }
dig_at() { in_ns "$1" dig +short +time=1 +tries=1 @127.0.0.153 "$2" "${3:-A}" 2>/dev/null; }
# answers H NAME TYPE: H's meshnamed answers NAME TYPE with exactly $want.
answers() { [ "$(dig_at "$1" "$2" "$3")" = "$want" ]; }
# reaches SECONDS NAME TYPE VALUE HOSTS...: every host answers NAME TYPE with VALUE ("":
# nothing) within SECONDS; prints the time it took.
reaches() {
	local secs=$1 name=$2 type=$3 h start
	want=$4
	shift 4
	start=$(now_ms)
	for h in "$@"; do
		check "h$h answers $name $type '$want'" "eventually $secs 'answers $h $name $type'"
	done
	echo "# $name $type '$want' on h${*// / h}: $(($(now_ms) - start)) ms"
}

mesh_registry
mesh_network
for h in 1 2 3; do echo "sync-beacon no" >>"$tmp/conf$h"; done
mesh_start
# WireGuard between all three first: transport A runs over it.
check "WireGuard up: h1 pings h2 and h3 by mesh address" \
	"eventually 20 'in_ns 1 ping -c1 -W1 ${v4[2]} >/dev/null && in_ns 1 ping -c1 -W1 ${v4[3]} >/dev/null'"

mn 1 record add www A 192.0.2.80 >/dev/null || bail "meshname record add on h1"
reaches 15 www.mesh A 192.0.2.80 1 2 3
mn 3 record add svc.h3 TXT '"from h3"' >/dev/null || bail "meshname record add on h3"
reaches 15 svc.h3.mesh TXT '"from h3"' 1 2
mn 3 record rm svc.h3 TXT '"from h3"' >/dev/null || bail "meshname record rm on h3"
reaches 15 svc.h3.mesh TXT '' 1 2

status=$(mn 2 --control "$tmp/control2.sock" status --json)
check "status: sync enabled on port 51821" \
	"jq -e '.sync.enabled == true and .sync.port == 51821' <<<\"\$status\" >/dev/null"
check "status: h2 has neighbours and successful sessions" \
	"jq -e '(.sync.neighbours | length) >= 1 and .sync.sessions_ok >= 1' <<<\"\$status\" >/dev/null"
mesh_stop
mesh_summary
