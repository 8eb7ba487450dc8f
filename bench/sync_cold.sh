#!/usr/bin/env bash
# bench/sync_cold.sh: the cold start of issue 5 through the real daemons. Two network
# namespaces on a veth pair (192.0.2.1 and 192.0.2.2, no WireGuard): in A, meshnamed as
# host 0 of a gen_mesh registry (100,000 records); in B, a host that has just run
# `meshname join` with an invite from A (`meshname add newhost --bootstrap
# 192.0.2.1:51821`), so its STATE/seeds names A. B's meshnamed starts; the clock runs from
# its start until its registry holds every record (sqlite3 count every 500 ms) and until
# the snapshot its DNS serves has every host and custom record (dig of a name only A had,
# svc0.host00999.mesh, every 100 ms; once it answers, `meshname status --json` confirms). Meanwhile dig asks both daemons
# every 100 ms (B: newhost.mesh, A: host00000.mesh): failures and latency say whether
# DNS stayed answered during the sync. Then B's peak RSS and CPU time.
# Each run starts from copies of the same two state directories. Prints figures, never
# fails on speed; exits non-zero only when it cannot set up. Only 192.0.2.0/24 inside the
# namespaces; everything it starts is stopped by PID, the namespaces are deleted.
#
#   BUILD=build bench/sync_cold.sh        (SYNC_COLD_RUNS=3, SYNC_COLD_HOSTS=1000,
#                                          SYNC_COLD_PER_HOST=100, SYNC_COLD_TIMEOUT=600;
#                                          SYNC_COLD_VERBOSE=1: meshnamed -v, SYNC_COLD_KEEP=1:
#                                          keep the directory with the logs)
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
RUNS=${SYNC_COLD_RUNS:-3}
HOSTS=${SYNC_COLD_HOSTS:-1000}
PER_HOST=${SYNC_COLD_PER_HOST:-100}
TIMEOUT=${SYNC_COLD_TIMEOUT:-600}
GEN=$BUILD/bench/gen_mesh
MESHNAME=$BUILD/meshname
MESHNAMED=$BUILD/meshnamed

die() {
	echo "sync_cold.sh: $*" >&2
	exit 1
}
for f in "$GEN" "$MESHNAME" "$MESHNAMED"; do
	[ -x "$f" ] || die "$f is missing: run 'make bench'"
done
for tool in ip dig sqlite3 jq; do
	command -v $tool >/dev/null || die "$tool is missing (tests/deps.sh bench installs it)"
done
[ "$(id -u)" -eq 0 ] || die "network namespaces need root"

tmp=$(mktemp -d /tmp/sync_cold_sh.XXXXXX) || die "cannot make a temporary directory"
tag=$$
nsa=msk-a-$tag
nsb=msk-b-$tag
pid_a=''
pid_b=''
loop_a=''
loop_b=''

stop_pid() { # PID: SIGTERM, then wait for it (it is our child)
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
cleanup() {
	touch "$tmp/stop" 2>/dev/null
	stop_pid "$loop_a"
	stop_pid "$loop_b"
	stop_pid "$pid_b"
	stop_pid "$pid_a"
	ip netns del "$nsa" 2>/dev/null
	ip netns del "$nsb" 2>/dev/null
	[ -n "${SYNC_COLD_KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

now_ms() { echo $(($(date +%s%N) / 1000000)); }
count() { sqlite3 -readonly "$1/registry.db" 'SELECT count(*) FROM record' 2>/dev/null || echo 0; }
# median of numbers on standard input
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ---- the two hosts --------------------------------------------------------------------
echo "sync_cold.sh: making a mesh of $HOSTS hosts x $PER_HOST records (gen_mesh)"
"$GEN" --hosts "$HOSTS" --per-host "$PER_HOST" "$tmp/a0" | sed 's/^/  /' ||
	die "gen_mesh failed"
invite=$("$MESHNAME" --state "$tmp/a0" add newhost --bootstrap 192.0.2.1:51821 2>"$tmp/add.err") ||
	die "meshname add newhost: $(cat "$tmp/add.err")"
"$MESHNAME" --state "$tmp/b0" join "$invite" >/dev/null 2>"$tmp/join.err" ||
	die "meshname join: $(cat "$tmp/join.err")"
grep -q ' 192.0.2.1:51821$' "$tmp/b0/seeds" || die "meshname join wrote no seed for A"
records_a=$(count "$tmp/a0")
records_b0=$(count "$tmp/b0")
expected=$((records_a + 1)) # A's records and B's own CERT
# What B's snapshot serves once converged: A's hosts and B, A's custom records.
hosts=$(($(sqlite3 -readonly "$tmp/a0/registry.db" 'SELECT count(*) FROM host') + 1))
rrs=$(sqlite3 -readonly "$tmp/a0/registry.db" 'SELECT count(*) FROM rr')
last_name=$(printf 'svc0.host%05u.mesh' $((HOSTS - 1))) # gen_mesh's last host's first record
echo "  A: $records_a records; B after join: $records_b0; B converged: $expected records," \
	"$hosts hosts and $rrs custom records in DNS"

ip netns add "$nsa" || die "ip netns add $nsa"
ip netns add "$nsb" || die "ip netns add $nsb"
ip -n "$nsa" link set lo up
ip -n "$nsb" link set lo up
ip -n "$nsa" link add eth0 type veth peer name eth0 netns "$nsb" || die "veth pair"
ip -n "$nsa" addr add 192.0.2.1/24 dev eth0
ip -n "$nsb" addr add 192.0.2.2/24 dev eth0
ip -n "$nsa" link set eth0 up
ip -n "$nsb" link set eth0 up

for h in a b; do
	cat >"$tmp/conf$h" <<CONF
state $tmp/$h
control $tmp/control$h.sock
listen 127.0.0.153:53
listen-mesh no
forward no
resolved no
interface msk$h$tag
manage no
publish-endpoints no
sync yes
sync-beacon no
CONF
done

# dig_loop NS NAME OUT: every 100 ms until $tmp/stop, one line per query: "ok MS" (dig's
# query time) or "fail" (no answer within a second).
dig_loop() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	ip netns exec "$1" bash -c '
		while [ ! -e "$2" ]; do
			out=$(dig +tries=1 +time=1 @127.0.0.153 "$1" A 2>&1)
			ms=$(printf "%s\n" "$out" | sed -n "s/^;; Query time: \([0-9]*\) msec$/\1/p")
			if [ -n "$ms" ] && printf "%s\n" "$out" | grep -q "status: NOERROR"; then
				echo "ok $ms"
			else
				echo fail
			fi
			sleep 0.1
		done' _ "$2" "$tmp/stop" >"$3" 2>/dev/null &
}
# dns_figures FILE: "N queries, N failed, max M ms, p99 M ms, median M ms"
dns_figures() {
	local f
	f=$(grep -c '^fail' "$1")
	awk '$1 == "ok" { print $2 }' "$1" | sort -n >"$1.ok"
	awk -v f="$f" '{ v[NR] = $1 } END {
		if (NR == 0) { printf "%d queries, %d failed", f, f; exit }
		p = int(NR * 0.99); if (p < 1) p = 1
		printf "%d queries, %d failed, max %d ms, p99 %d ms, median %d ms", NR + f, f,
			v[NR], v[p], v[int((NR + 1) / 2)]
	}' "$1.ok"
}
# stamp: each line of standard input with the milliseconds since the run's start
stamp() { while IFS= read -r line; do echo "$(($(now_ms) - start)) $line"; done; }
start_daemon() { # h: meshnamed in its namespace (-v with SYNC_COLD_VERBOSE); PID in pid_h
	ip netns exec "msk-$1-$tag" "$MESHNAMED" -d ${SYNC_COLD_VERBOSE:+-v} -f "$tmp/conf$1" \
		> >(stamp >"$tmp/log$1") 2>&1 &
	eval "pid_$1=$!"
}
wait_ready() { # h seconds
	local end=$(($(now_ms) + $2 * 1000))
	until grep -q ': ready$' "$tmp/log$1"; do
		[ "$(now_ms)" -lt $end ] || die "meshnamed in $1 is not ready after $2 s: $(tail -3 "$tmp/log$1")"
		sleep 0.05
	done
}

declare -a t_ready t_records t_dns rss cpu cpu_a dns_a dns_b
ticks=$(getconf CLK_TCK)
for run in $(seq "$RUNS"); do
	rm -rf "$tmp/a" "$tmp/b" "$tmp/stop" "$tmp/dig_a" "$tmp/dig_b"
	start=$(now_ms)
	cp -a "$tmp/a0" "$tmp/a" || die "cannot copy A's state"
	cp -a "$tmp/b0" "$tmp/b" || die "cannot copy B's state"
	start_daemon a
	wait_ready a 120
	dig_loop "$nsa" host00000.mesh "$tmp/dig_a"
	loop_a=$!
	cpu_a0=$(awk -v t="$ticks" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$pid_a/stat")
	start=$(now_ms)
	start_daemon b
	wait_ready b 60
	t_ready[run]=$(($(now_ms) - start))
	dig_loop "$nsb" newhost.mesh "$tmp/dig_b"
	loop_b=$!
	end=$((start + TIMEOUT * 1000))
	got_records=''
	got_dns=''
	i=0
	# Light probes, so that the measuring does not slow down what it measures (2 cores): a
	# dig of a name only A had every 100 ms, and only once it answers the full check of the
	# view (`status --json`, which counts the registry); sqlite3's count of 100,000 rows
	# every 500 ms.
	while [ -z "$got_records" ] || [ -z "$got_dns" ]; do
		t=$(now_ms)
		[ "$t" -lt $end ] || die "run $run: B has $(count "$tmp/b") of $expected records after $TIMEOUT s"
		if [ -z "$got_records" ] && { [ $((i % 5)) -eq 0 ] || [ -n "$got_dns" ]; } &&
			[ "$(count "$tmp/b")" -ge $expected ]; then
			got_records=$((t - start))
		fi
		if [ -z "$got_dns" ] && [ -n "$(ip netns exec "$nsb" dig +short +tries=1 +time=1 \
			@127.0.0.153 "$last_name" A 2>/dev/null)" ] &&
			"$MESHNAME" --state "$tmp/b" --control "$tmp/controlb.sock" status --json \
				2>/dev/null | jq -e ".hosts == $hosts and .custom_records == $rrs" \
				>/dev/null 2>&1; then
			got_dns=$(($(now_ms) - start))
		fi
		i=$((i + 1))
		sleep 0.1
	done
	t_records[run]=$got_records
	t_dns[run]=$got_dns
	[ -n "$(ip netns exec "$nsb" dig +short +tries=1 +time=1 @127.0.0.153 \
		"$last_name" A 2>/dev/null)" ] ||
		die "run $run: B's DNS does not answer $last_name, a record from A"
	sleep 2 # DNS after the sync, too
	rss[run]=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid_b/status")
	cpu[run]=$(awk -v t="$ticks" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$pid_b/stat")
	cpu_a[run]=$(awk -v t="$ticks" -v b="$cpu_a0" '{ printf "%.2f", ($14 + $15) / t - b }' \
		"/proc/$pid_a/stat")
	touch "$tmp/stop"
	stop_pid "$loop_a"
	stop_pid "$loop_b"
	loop_a=''
	loop_b=''
	dns_a[run]=$(dns_figures "$tmp/dig_a")
	dns_b[run]=$(dns_figures "$tmp/dig_b")
	status=$("$MESHNAME" --state "$tmp/b" --control "$tmp/controlb.sock" status --json 2>/dev/null)
	sessions=$(jq -r '"\(.sync.sessions_ok) ok, \(.sync.sessions_failed) failed, \(.sync.accepted) records accepted"' <<<"$status" 2>/dev/null)
	for h in b a; do
		p=$(eval echo "\$pid_$h")
		kill -TERM "$p" && wait "$p"
		rc=$?
		eval "pid_$h="
		[ $rc -eq 0 ] || echo "  run $run: meshnamed in $h exited $rc"
	done
	echo "  run $run: ready $((t_ready[run])) ms, all $expected records $((t_records[run])) ms, all of them in DNS $((t_dns[run])) ms; sync: $sessions"
	echo "         DNS on B (newhost.mesh): ${dns_b[run]}"
	echo "         DNS on A (host00000.mesh): ${dns_a[run]}"
	echo "         B: peak RSS ${rss[run]} MB, CPU ${cpu[run]} s; A: CPU ${cpu_a[run]} s from B's start"
done

med_records=$(printf '%s\n' "${t_records[@]}" | median)
med_dns=$(printf '%s\n' "${t_dns[@]}" | median)
verdict=over
[ "$(awk -v t="$med_dns" 'BEGIN { print (t <= 10000) }')" = 1 ] && verdict=ok
echo
printf '%-58s %-9s %s\n' figure target measured
printf '%-58s %-9s %s\n' "cold start through meshnamed: start -> all records" "" \
	"$(awk -v t="$med_records" 'BEGIN { printf "%.2f s", t / 1000 }') (median of $RUNS)"
printf '%-58s %-9s %s %s\n' "cold start through meshnamed: start -> all served by DNS" "<= 10 s" \
	"$(awk -v t="$med_dns" 'BEGIN { printf "%.2f s", t / 1000 }')" "$verdict"
printf '%-58s %-9s %s\n' "  B's meshnamed ready (registry open, sockets)" "" \
	"$(printf '%s\n' "${t_ready[@]}" | median) ms"
printf '%-58s %-9s %s\n' "  B's peak RSS / CPU; A's CPU meanwhile" "" \
	"$(printf '%s\n' "${rss[@]}" | median) MB / $(printf '%s\n' "${cpu[@]}" | median) s; $(printf '%s\n' "${cpu_a[@]}" | median) s"
printf '%-58s %-9s %s\n' "  DNS on the new host during the sync (run 1)" "" "${dns_b[1]}"
printf '%-58s %-9s %s\n' "  DNS on the host it syncs from (run 1)" "" "${dns_a[1]}"
