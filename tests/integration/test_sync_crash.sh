#!/usr/bin/env bash
# A meshnamed killed (SIGKILL) while it syncs loses nothing and resumes (issue 5: "bad
# input always gets a clear error and loses nothing: ... a killed process"). Three hosts
# on one LAN in network namespaces, no WireGuard (`manage no`), LAN beacons off, so that
# sync can only go over transport B to the seed of an invite: h1 is host 0 of a large
# registry made by gen_mesh (25,000 records; 12,000 under SANITIZE, slower), h2 and
# h3 have just joined with invites naming h1 (192.0.2.1:51821) as their bootstrap peer.
# (1) the receiver is killed: h2's meshnamed starts and fetches everything from h1; once
#     its registry holds part of it (sqlite3 count, read only) it gets SIGKILL, and the
#     count at the kill must be strictly between what it had after the join and the
#     whole (a kill after the transfer fails the test); h1 logs the session's end at
#     once, as a closed connection. Then, with nothing running on h2: its registry.db
#     passes PRAGMA integrity_check, `meshname export` works, and that export imported
#     into a copy of h2's state from right after its join (so every record but the few
#     of the join is new there and fully verified) reports 0 rejected. h2's meshnamed is
#     started again: it fetches only what is missing (records_in: the whole less what it
#     kept, plus the own CERTs both sides push) and within 30 s converges (same record
#     count as h1, the same hosts and custom records in its DNS view, the name of
#     gen_mesh's last host answered by its DNS).
# (2) the sender is killed: h3's meshnamed fetches from h1 the same way, and h1 gets
#     SIGKILL mid-transfer. h3 logs the failed sync with h1 at once, as a closed
#     connection (not a timeout), keeps answering DNS for its own name and for a host it
#     had fetched, and once h1's meshnamed runs again (same registry) converges with it
#     within 30 s.
# Then no strike anywhere, every meshnamed exits 0 on SIGTERM, no sanitizer report.
# Prints the figures (counts at the kills, records and bytes of the resumed sessions,
# times). Setup: lib_mesh.sh; only 192.0.2.0/24 inside the namespaces.
# shellcheck disable=SC2317,SC2034 # functions and variables used through check (eval)
MESH_NS_PREFIX=msk
MESH_IF_PREFIX=wgk
MESH_HOSTS=3
MESH_REGISTRY_HOSTS=0
# shellcheck source=tests/integration/lib_mesh.sh
. "$(dirname "$0")/lib_mesh.sh"

mesh_require
for tool in dig sqlite3; do
	command -v $tool >/dev/null || bail "$tool is missing (tests/deps.sh test installs it)"
done
if [ -n "${SYNC_CRASH_VERBOSE:-}" ]; then # debug logs (one line per session) for a look
	printf '#!/bin/sh\nexec %s -v "$@"\n' "$MESHNAMED" >"$tmp/meshnamed-v"
	chmod +x "$tmp/meshnamed-v"
	MESHNAMED=$tmp/meshnamed-v
fi
GEN=$BUILD/bench/gen_mesh
[ -x "$GEN" ] || bail "$GEN is missing (make all-tests builds it)"
if [ -n "${SANITIZE:-}" ]; then GEN_HOSTS=${SYNC_CRASH_HOSTS:-120}; else GEN_HOSTS=${SYNC_CRASH_HOSTS:-250}; fi
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# count H: the records in H's registry (read only, while meshnamed may write), -1 on error.
count() { sqlite3 -readonly "$tmp/s$1/registry.db" 'SELECT count(*) FROM record' 2>/dev/null || echo -1; }
# jqe FILTER [ARGS]: standard input is JSON and FILTER holds (jq -e alone passes on no input).
jqe() {
	local in
	in=$(cat)
	[ -n "$in" ] && jq -e "$@" <<<"$in" >/dev/null 2>&1
}
# sync_field H FIELD: .sync.FIELD of H's running meshnamed.
sync_field() { mesh_ctl "$1" 2>/dev/null | jq -r ".sync.$2" 2>/dev/null; }
# killed_mid_fetch H FROM: polls H's record count every 50 ms (at most 60 s) until it is
# above FROM (a first batch of the fetch is stored), then, after 0-399 ms more (so that the
# kill may also come in the middle of a batch or of its commit), SIGKILLs the meshnamed of
# $victim; sets kill_ms (time since $start).
killed_mid_fetch() {
	local end=$(($(now_ms) + 60000))
	until [ "$(count "$1")" -gt "$2" ]; do
		[ "$(now_ms)" -lt $end ] || return 1
		sleep 0.05
	done
	sleep "0.$(printf '%03d' $((RANDOM % 400)))"
	kill -KILL "${daemon_pid[$victim]}"
	kill_ms=$(($(now_ms) - start))
	wait "${daemon_pid[$victim]}" 2>/dev/null
	daemon_pid[$victim]=
	mv "$tmp/log$victim" "$tmp/log$victim.killed"
}
# converged H: H has every record h1 has, and its DNS answers gen_mesh's last host's name.
converged() {
	[ "$(count "$1")" = "$(count 1)" ] && [ -n "$(mesh_dig "$1" "$last_name")" ]
}

# ---- the registry, the invites, the network --------------------------------------------
start=$(now_ms)
"$GEN" --hosts "$GEN_HOSTS" --per-host 100 "$tmp/s1" >"$tmp/gen.out" 2>&1 ||
	bail "gen_mesh: $(cat "$tmp/gen.out")"
echo "# gen_mesh: $(count 1) records in $(($(now_ms) - start)) ms"
for h in 2 3; do
	inv=$(mn 1 add "h$h" --bootstrap 192.0.2.1:51821 2>"$tmp/add.err") ||
		bail "meshname add h$h --bootstrap: $(cat "$tmp/add.err")"
	mn $h join "$inv" >/dev/null 2>"$tmp/join.err" || bail "meshname join on h$h: $(cat "$tmp/join.err")"
done
cp -a "$tmp/s2" "$tmp/sv" || bail "cannot copy h2's state"
last_name=$(printf 'svc0.host%05u.mesh' $((GEN_HOSTS - 1))) # gen_mesh's last host's first record
mesh_network
for h in 1 2 3; do
	cat >"$tmp/conf$h" <<CONF
state $tmp/s$h
control $tmp/control$h.sock
listen 127.0.0.153:53
listen-mesh no
forward no
resolved no
interface ${ifname[$h]}
manage no
publish-endpoints no
sync yes
sync-beacon no
CONF
done
mesh_start_host 1
ok "meshnamed runs on h1 (the seed)"

# ---- (1) the receiver is killed mid-transfer --------------------------------------------
joined=$(count 2)
total=$(($(count 1) + 1)) # h1's records and h2's CERT
start=$(now_ms)
mesh_start_host 2
victim=2
killed_mid_fetch 2 "$joined" || bail "h2 stored nothing of h1's records within 60 s"
at_kill=$(count 2)
echo "# h2: $joined records after its join, $at_kill of $total when killed ($kill_ms ms after its start)"
check "h2 was killed mid-transfer ($joined < $at_kill < $total)" \
	"[ $at_kill -gt $joined ] && [ $at_kill -lt $total ]"
# The seed sees the connection end as such: promptly, not after 30 s of silence.
check "h1 logs the failed session with h2 within 10 s of the kill" \
	"mesh_within 10 \"grep -q 'sync from h2 .* failed: [a-z]' $tmp/log1\""
grep 'sync from h2 .* failed: ' "$tmp/log1" | sed 's/^/# h1: /'
check "h1's reason is the closed connection, not a timeout" \
	"grep 'sync from h2 .* failed: ' $tmp/log1 | grep -q 'closed' &&
	! grep -q 'sync from h2 .* timed out' $tmp/log1"
check "h2's registry passes PRAGMA integrity_check" \
	"[ \"\$(sqlite3 -readonly $tmp/s2/registry.db 'PRAGMA integrity_check' 2>&1)\" = ok ]"
check "meshname export reads h2's registry after the kill" \
	"mn 2 export -o $tmp/export2 2>$tmp/export2.err"
exported=$(($(wc -l <"$tmp/export2") - 2)) # the header line and the ROOT line
check "the export holds every record h2 stored ($exported)" "[ $((exported + 1)) -eq $at_kill ]"
mn v import "$tmp/export2" >"$tmp/import.out" 2>"$tmp/import.err"
rc=$?
echo "# import of h2's export into its state from after the join: $(cat "$tmp/import.out")"
check "every record h2 stored verifies: imported elsewhere, 0 rejected, exit 0" \
	"[ $rc -eq 0 ] && grep -q ' 0 rejected$' $tmp/import.out"
check "the import took in every record: the new and known add up to the export" \
	"[ \$(awk '{ print \$1 + \$3 + \$6 }' $tmp/import.out) -eq $((exported + 1)) ]"

start=$(now_ms)
mesh_start_host 2
check "h2, started again, converges with h1 within 30 s (all $total records, $last_name answered)" \
	"mesh_within 30 'converged 2'"
echo "# h2 resumed: converged $(($(now_ms) - start)) ms after its restart"
records_in=$(sync_field 2 records_in)
accepted=$(sync_field 2 accepted)
bytes_in=$(sync_field 2 bytes_in)
missing=$((total - at_kill))
echo "# h2's second run: $records_in records in ($bytes_in B), $accepted accepted as new;" \
	"$missing were missing of $total"
# Each transport B session starts with both sides pushing their own CERT: a few records
# come twice. A second run that fetched everything again would be $at_kill over.
check "h2's second run fetched only what was missing ($records_in records in, $missing missing)" \
	"[ $records_in -ge $missing ] && [ $records_in -le $((missing + 16)) ]"
view1=$(mesh_ctl 1 | jq -c '[.records, .hosts, .custom_records]')
check "h2's view has h1's records, hosts and custom records ($view1)" \
	"[ \"\$(mesh_ctl 2 | jq -c '[.records, .hosts, .custom_records]')\" = '$view1' ]"

# ---- (2) the sender is killed mid-transfer ----------------------------------------------
joined=$(count 3)
total=$(($(count 1) + 1))
start=$(now_ms)
mesh_start_host 3
victim=1
killed_mid_fetch 3 "$joined" || bail "h3 stored nothing of h1's records within 60 s"
at_kill=$(count 3)
echo "# h3: $joined records after its join, $at_kill of $total when h1 was killed ($kill_ms ms after h3's start)"
check "h1 was killed mid-transfer ($joined < $at_kill < $total)" \
	"[ $at_kill -gt $joined ] && [ $at_kill -lt $total ]"
check "h3 logs the failed sync with h1, and why, within 10 s of the kill" \
	"mesh_within 10 \"grep -q 'sync with host00000 .* failed: [a-z]' $tmp/log3\""
failed_at=$(now_ms)
grep 'failed: ' "$tmp/log3" | sed 's/^/# h3: /'
check "h3's reason is the closed connection, not a timeout" \
	"grep 'sync with host00000 .* failed: ' $tmp/log3 | grep -q 'closed' &&
	! grep -q 'sync with host00000 .* timed out' $tmp/log3"
check "h3 still answers its own name" "[ -n \"\$(mesh_dig 3 h3.mesh)\" ]"
# A host h3 fetched (not h1, whose CERT came in the invite) from what h3's DNS serves.
mn 3 --control "$tmp/control3.sock" ls --json >"$tmp/ls3" 2>/dev/null
served=$(jq -r '.[] | select(.name != "h3" and .name != "host00000") | "\(.name) \(.ipv4)"' "$tmp/ls3" | tail -n 1)
echo "# h3 serves $(jq length "$tmp/ls3") hosts while h1 is down; asking for ${served%% *}"
check "h3 answers for a host it fetched before h1 went down (${served%% *})" \
	"[ -n \"$served\" ] && [ \"\$(mesh_dig 3 ${served%% *}.mesh)\" = '${served#* }' ]"
start=$(now_ms)
mesh_start_host 1
# h3 asks h1 again once its back-off (5 s +-25%) has passed: h1 must be back by then.
echo "# h1 ready again $(($(now_ms) - failed_at)) ms after h3's failed sync showed in its log"
check "h3 converges with h1 within 30 s of h1's restart (all $total records, $last_name answered)" \
	"mesh_within 30 'converged 3'"
echo "# h3 converged $(($(now_ms) - start)) ms after h1's restart;" \
	"$(sync_field 3 records_in) records in, $(sync_field 3 accepted) accepted in all"

for h in 1 2 3; do
	check "h$h counted no strike" "[ \"\$(sync_field $h strikes)\" = 0 ]"
done
mesh_stop
mesh_summary
