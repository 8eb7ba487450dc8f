#!/usr/bin/env bash
# lanbeacon: meshnamed's LAN beacons (src/daemon/lanbeacon.c) between real network
# namespaces, driven by tests/tools/beacon_probe (one lanbeacon in a libevent loop each).
#
#   LAN 1 (a bridge, 192.0.2.0/24): a (dual stack), b (IPv4 only), c (IPv6 link-local only),
#          r (dual stack, also on LAN 2, forwarding)
#   LAN 2 (another bridge, 198.51.100.0/24): r, d (routed to LAN 1 through r)
#   a's mesh interface (a veth, 203.0.113.0/24) to m
#
# a runs two probes on one port (SO_REUSEADDR): "a" with wgbmesh as its mesh interface and
# "a2" without; r runs a probe of another mesh next to its own. Only documentation
# prefixes and link-local addresses, only inside the namespaces made here.
set -u
BUILD=${BUILD:-build}
PROBE=$BUILD/tests/tools/beacon_probe
PORT=51821
passed=0
failed=0
pids=()
declare -A pid key
tmp=$(mktemp -d)
p=msb$$
NS_ALL=("$p-l1" "$p-l2" "$p-a" "$p-b" "$p-c" "$p-r" "$p-d" "$p-m")

cleanup() {
	local x
	for x in "${pids[@]}"; do
		kill -TERM "$x" 2>/dev/null
	done
	for x in "${pids[@]}"; do
		wait "$x" 2>/dev/null
	done
	for ns in "${NS_ALL[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
# Retries a check for up to 5 s.
eventually() {
	local _
	for _ in $(seq 50); do
		eval "$1" && return 0
		sleep 0.1
	done
	return 1
}

if ! command -v ip >/dev/null; then
	echo "not ok - ip is missing (tests/deps.sh test installs iproute2)"
	echo "0 passed, 1 failed"
	exit 1
fi
if [ ! -x "$PROBE" ]; then
	echo "not ok - $PROBE is missing (make all-tests builds it)"
	echo "0 passed, 1 failed"
	exit 1
fi

# ---- the networks ---------------------------------------------------------------------

for ns in "${NS_ALL[@]}"; do
	ip netns add "$ns" || { echo "not ok - cannot create namespace $ns (root?)"; echo "0 passed, 1 failed"; exit 1; }
	# No duplicate address detection: link-local addresses usable at once.
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip -n "$ns" link set lo up
done
# Bridges without multicast snooping: every port gets the group's datagrams.
for l in l1 l2; do
	ip -n "$p-$l" link add wgbbr type bridge mcast_snooping 0
	ip -n "$p-$l" link set wgbbr up
done
# link HOST IFNAME LAN PORTNAME: a veth from HOST to LAN's bridge.
link() {
	ip -n "$p-$1" link add "$2" type veth peer name "$4" netns "$p-$3"
	ip -n "$p-$3" link set "$4" master wgbbr up
}
link a wgba l1 wgbpa
link b wgbb l1 wgbpb
link c wgbc l1 wgbpc
link r wgbr1 l1 wgbpr
link r wgbr2 l2 wgbpr2
link d wgbd l2 wgbpd
ip -n "$p-a" link add wgbmesh type veth peer name wgbm netns "$p-m"
ip netns exec "$p-b" sysctl -qw net.ipv6.conf.wgbb.disable_ipv6=1
ip -n "$p-a" addr add 192.0.2.1/24 brd + dev wgba
ip -n "$p-b" addr add 192.0.2.2/24 brd + dev wgbb
ip -n "$p-r" addr add 192.0.2.254/24 brd + dev wgbr1
ip -n "$p-r" addr add 198.51.100.254/24 brd + dev wgbr2
ip -n "$p-d" addr add 198.51.100.4/24 brd + dev wgbd
ip -n "$p-a" addr add 203.0.113.1/24 brd + dev wgbmesh
ip -n "$p-m" addr add 203.0.113.2/24 brd + dev wgbm
ip netns exec "$p-r" sysctl -qw net.ipv4.ip_forward=1
# Loopback with multicast on: only the loopback rule keeps beacons off it.
ip -n "$p-a" link set lo multicast on
lo_tx() { ip netns exec "$p-a" cat /sys/class/net/lo/statistics/tx_packets; }
lo_tx_before=$(lo_tx)

# ---- the probes -----------------------------------------------------------------------

# start NAME NS MESH SYNCPORT [ARGS...]: a probe; its output in $tmp/NAME.out.
start() {
	local name=$1 ns=$2 mesh=$3 sport=$4
	shift 4
	# Not through a function or subshell: $! must be the probe (ip netns exec execs it).
	ip netns exec "$p-$ns" "$PROBE" listen --mesh "$mesh" --host "$name" --port $PORT \
		--sync-port "$sport" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	pids+=($!)
	pid[$name]=$!
}
start a a t 7001 --mesh-if wgbmesh
start a2 a t 7002
start b b t 7003
start c c t 7004
start r r t 7005
start o r other 7006
start d d t 7007
start m m t 7008
for n in a a2 b c r o d m; do
	eventually "grep -q '^key ' '$tmp/$n.out'" || not_ok "probe $n started ($(cat "$tmp/$n.err"))"
	key[$n]=$(sed -n 's/^key //p' "$tmp/$n.out")
done

# heard_count PROBE KEY [PATTERN]: lines in which PROBE heard KEY (and PATTERN).
heard_lines() { grep "^heard key=$2 " "$tmp/$1.out"; }
heard_count() { heard_lines "$1" "$2" | grep -c -- "${3:-}"; }
# stat PROBE FIELD: a counter of PROBE's, asked for with SIGUSR2.
stat() {
	local n
	n=$(grep -c '^stats ' "$tmp/$1.out")
	kill -USR2 "${pid[$1]}"
	eventually "[ \$(grep -c '^stats ' '$tmp/$1.out') -gt $n ]" || { echo -1; return; }
	grep '^stats ' "$tmp/$1.out" | tail -n 1 | grep -o " $2=[0-9]*" | cut -d= -f2
}

all_stats() {
	local n t=0
	for n in a a2 b c r o d m; do t=$((t + $(stat $n "$1"))); done
	echo $t
}
sleep 1.1 # every probe's first beacon is due within a second
check "with every link down, no probe sent a beacon nor failed to" \
	"[ \$(all_stats sent) -eq 0 ] && [ \$(all_stats send_errors) -eq 0 ]"

# Links up; a beacon at once from every probe (lanbeacon_send_now, as meshnamed does on a
# link change) joins the group on the new interfaces. A second round a second later, when
# every probe listens everywhere, is the one the checks below count on.
for x in a:wgba a:wgbmesh b:wgbb c:wgbc r:wgbr1 r:wgbr2 d:wgbd m:wgbm; do
	ip -n "$p-${x%%:*}" link set "${x#*:}" up
done
ip -n "$p-d" route add default via 198.51.100.254
link_local() { ip -n "$p-$1" -6 -o addr show dev "$2" scope link | awk '{ print $4 }' | cut -d/ -f1; }
for x in a:wgba a:wgbmesh c:wgbc r:wgbr1 r:wgbr2 d:wgbd m:wgbm; do
	eventually "[ -n \"\$(link_local ${x%%:*} ${x#*:})\" ]" || not_ok "$x has a link-local address"
done
a_ll=$(link_local a wgba)
r2_ll=$(link_local r wgbr2)
am_ll=$(link_local a wgbmesh)
usr1_all() {
	local n
	for n in a a2 b c r o d m; do kill -USR1 "${pid[$n]}"; done
}
usr1_all
sleep 1.1
usr1_all

check "b hears a over IPv4 from 192.0.2.1 on a's sync port" \
	"eventually \"[ \\\$(heard_count b ${key[a]} 'addr=192.0.2.1 port=7001 if=wgbb scope=- seq=0') -ge 1 ]\""
check "c hears a over IPv6 from a's link-local address $a_ll, scope id kept (wgbc)" \
	"eventually \"[ \\\$(heard_count c ${key[a]} 'addr=$a_ll port=7001 if=wgbc scope=wgbc ') -ge 1 ]\""
check "d, on the routed second LAN, hears r" \
	"eventually \"heard_lines d ${key[r]} | grep -q -e 'addr=198.51.100.254 port=7005 if=wgbd ' -e 'addr=$r2_ll port=7005 if=wgbd scope=wgbd '\""
check "m, behind a's mesh interface, hears a2 (no mesh interface set)" \
	"eventually \"heard_lines m ${key[a2]} | grep -q -e 'addr=203.0.113.1 port=7002 if=wgbm ' -e 'addr=$am_ll port=7002 if=wgbm scope=wgbm '\""
check "m hears nothing of a, whose mesh interface leads to it; a refuses m's beacons over it" \
	"eventually \"[ \\\$(heard_count a2 ${key[m]}) -ge 1 ]\" && [ \$(heard_count m ${key[a]}) -eq 0 ] && [ \$(heard_count a ${key[m]}) -eq 0 ]"
check "b and c count the other mesh's beacons as rejected" \
	"eventually \"[ \\\$(stat b other_mesh) -ge 1 ] && [ \\\$(stat c other_mesh) -ge 1 ]\""
check "a counts its own IPv4 broadcast looped back as own, not heard" \
	"[ \$(stat a own) -ge 1 ] && [ \$(heard_count a ${key[a]}) -eq 0 ]"

# ---- replays and forgeries, from r ------------------------------------------------------

# Capture a's next beacon at r (a probe on the shared port), sent at once by SIGUSR1.
ip netns exec "$p-r" "$PROBE" capture --port $PORT --from 192.0.2.1 --out "$tmp/a.bin" \
	--timeout 5 >"$tmp/capture.out" 2>&1 &
cap=$!
pids+=("$cap")
eventually "grep -q ready '$tmp/capture.out'"
sleep 1 # a sends at most one beacon a second: the next one is newer
b_heard=$(heard_count b "${key[a]}") r_heard=$(heard_count r "${key[a]}") r_dups=$(stat r duplicates)
kill -USR1 "${pid[a]}"
check "a beacon of a's, sent at once on SIGUSR1, is captured at r" "wait $cap && [ -s '$tmp/a.bin' ]"
check "b hears that beacon too" "eventually \"[ \\\$(heard_count b ${key[a]}) -eq $((b_heard + 1)) ]\""
check "r (both families) hears it once and drops the other family's copy as a duplicate" \
	"eventually \"[ \\\$(heard_count r ${key[a]}) -eq $((r_heard + 1)) ] && [ \\\$(stat r duplicates) -eq $((r_dups + 1)) ]\""
b_heard=$(heard_count b "${key[a]}")
send() { ip netns exec "$p-r" "$PROBE" send --port $PORT "$@"; }

send --in "$tmp/a.bin" --to 192.0.2.255
check "the same bytes again from r: a duplicate at b, not heard again, not a rejection" \
	"eventually \"[ \\\$(stat b duplicates) -eq 1 ]\" && [ \$(heard_count b ${key[a]}) -eq $b_heard ] && [ \$(stat b rejected) -eq \$(stat b other_mesh) ]"

sleep 1.1 # a sends at most one beacon a second: the next one is newer
kill -USR1 "${pid[a]}"
check "a's next beacon is heard by b" \
	"eventually \"[ \\\$(heard_count b ${key[a]}) -eq $((b_heard + 1)) ]\""
send --in "$tmp/a.bin" --to 192.0.2.255
send --in "$tmp/a.bin" --to ff02::114 --if wgbr1
check "the captured (now older) beacon replayed over IPv4 is refused and counted at b" \
	"eventually \"[ \\\$(stat b replayed) -eq 1 ]\" && [ \$(heard_count b ${key[a]}) -eq $((b_heard + 1)) ]"
check "... and over IPv6 at c" "eventually \"[ \\\$(stat c replayed) -eq 1 ]\""
check "b and c heard a's key only ever from a's own addresses, never from r's" \
	"[ \$(heard_lines b ${key[a]} | grep -vc 'addr=192.0.2.1 ') -eq 0 ] && [ \$(heard_lines c ${key[a]} | grep -vc 'addr=$a_ll ') -eq 0 ]"

send --in "$tmp/a.bin" --to 192.0.2.255 --flip 80 # a fingerprint byte
send --in "$tmp/a.bin" --to ff02::114 --if wgbr1 --flip 140 # a signature byte
check "forged beacons (a fingerprint byte changed, a signature byte changed) are refused and counted" \
	"eventually \"[ \\\$(stat b forged) -eq 1 ] && [ \\\$(stat c forged) -eq 1 ]\""
check "b's rejections are exactly the other mesh's, the replay and the forgery" \
	"[ \$(stat b rejected) -eq \$((\$(stat b other_mesh) + 2)) ]"

# ---- what must not be heard -----------------------------------------------------------

check "no one on LAN 1 hears the other mesh's key" \
	"! grep -q \"^heard key=${key[o]} \" '$tmp/a.out' '$tmp/a2.out' '$tmp/b.out' '$tmp/c.out' '$tmp/r.out'"
check "d, on the second LAN, hears none of a, a2, b, c" \
	"! grep -q -e \"^heard key=${key[a]} \" -e \"^heard key=${key[a2]} \" -e \"^heard key=${key[b]} \" -e \"^heard key=${key[c]} \" '$tmp/d.out'"
check "m still hears nothing of a, only a2" \
	"[ \$(heard_count m ${key[a]}) -eq 0 ] && [ \$(stat m heard) -eq \$(heard_count m ${key[a2]}) ]"
check "a sent nothing on loopback (lo's packet count did not move: $lo_tx_before)" \
	"[ \$(lo_tx) -eq $lo_tx_before ]"
check "a sent on its LAN without a failure" \
	"[ \$(stat a sent) -ge 4 ] && [ \$(stat a send_errors) -eq 0 ]"

# ---- stop -----------------------------------------------------------------------------

stopped=0
for n in a a2 b c r o d m; do
	kill -TERM "${pid[$n]}"
	if wait "${pid[$n]}"; then
		stopped=$((stopped + 1))
	else
		echo "# probe $n exited with an error:"
		sed 's/^/#   /' "$tmp/$n.err"
	fi
done
pids=()
check "every probe stops on SIGTERM with status 0 (under sanitizers: no leak)" "[ $stopped -eq 8 ]"

[ -n "${KEEP_OUTPUT:-}" ] && for n in a a2 b c r o d m; do echo "# $n:"; sed 's/^/#   /' "$tmp/$n.out" "$tmp/$n.err"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
