#!/bin/bash
# bench/wg_bench.sh: the WireGuard peer manager's benchmark (issue 4), run by bench/run.sh.
#  1. $BUILD/bench/wg_bench against an empty wireguard-go interface in a namespace of its
#     own: 1,000 peers reconciled in (next to `wg setconf` of the same peers), one changed
#     peer among 1,000, and the endpoint engine on its virtual clock;
#  2. meshnamed itself (manage peers) with a registry of 1,000 hosts: time from its start to
#     the interface holding the 1,000 peers;
#  3. for real, two hosts with meshnamed and wireguard-go: a ping uses the public endpoint,
#     the peer's LAN endpoint appears in the registry (a bundle import), and the time until
#     the ping's packets arrive on the LAN address is measured (nft counters on the peer).
# Only documentation prefixes, only inside namespaces it makes; every process it starts
# is stopped by PID; prints figures and fails only when it cannot measure.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
WG_BENCH=$PWD/$BUILD/bench/wg_bench
MKREGISTRY=$PWD/$BUILD/bench/mkregistry
MESHNAME=$PWD/$BUILD/meshname
MESHNAMED=$PWD/$BUILD/meshnamed
WG_GO=/usr/bin/wireguard-go
RUNS=${WG_BENCH_RUNS:-7}
REAL_RUNS=${WG_BENCH_REAL_RUNS:-3}

tag=$$
tmp=$(mktemp -d)
pids=()
namespaces=()
ifaces=()
cleanup() {
	local p n
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	for n in "${namespaces[@]}"; do ip netns del "$n" 2>/dev/null; done
	for n in "${ifaces[@]}"; do rm -f "/run/wireguard/$n.sock"; done
	rm -rf "/etc/netns/mnb-wb1-$tag" "/etc/netns/mnb-wb2-$tag"
	rm -rf "$tmp"
}
trap cleanup EXIT
die() {
	echo "wg_bench.sh: $*" >&2
	exit 1
}
for f in "$WG_BENCH" "$MKREGISTRY" "$MESHNAME" "$MESHNAMED"; do
	[ -x "$f" ] || die "$f is missing: run 'make bench'"
done
for t in ip wg nft ping "$WG_GO"; do
	command -v "$t" >/dev/null || die "$t is missing (tests/deps.sh bench installs it)"
done
[ "$(id -u)" -eq 0 ] || die "network namespaces need root"

# Two CPUs: the measuring side on the last CPU, wireguard-go on the first; SCHED_RR 10
# for both when allowed (TESTING.md: other load on the machine halves the figures).
last_cpu=$(($(nproc --all) - 1))
pin_bench=()
pin_wg=()
if taskset -c 0 true 2>/dev/null; then
	pin_bench=(taskset -c "$last_cpu")
	pin_wg=(taskset -c 0)
fi
if chrt -r 10 true 2>/dev/null; then
	pin_bench+=(chrt -r 10)
	pin_wg+=(chrt -r 10)
fi

# eventually SECONDS COMMAND: retries COMMAND every 0.05 s.
eventually() {
	local i
	for i in $(seq $(($1 * 20))); do
		eval "$2" && return 0
		sleep 0.05
	done
	return 1
}
ms() { date +%s%3N; }

# start_wg NS IFACE: wireguard-go in the foreground in NS, pinned; its PID in wg_pid.
start_wg() {
	ip netns exec "$1" "${pin_wg[@]}" "$WG_GO" -f "$2" >"$tmp/wg-$2.log" 2>&1 &
	wg_pid=$!
	pids+=("$wg_pid")
	ifaces+=("$2")
	eventually 5 "[ -S /run/wireguard/$2.sock ]" || die "wireguard-go for $2 did not start"
}

# ---- 1. the library against an empty interface --------------------------------------------
ns=mnb-wb-$tag
if1=$(printf 'wgbb%s' "$tag" | cut -c1-15)
ip netns add "$ns" || die "ip netns add $ns"
namespaces+=("$ns")
ip -n "$ns" link set lo up
start_wg "$ns" "$if1"
ip -n "$ns" link set "$if1" up
echo "wireguard-go $(dpkg-query -W -f '${Version}' wireguard-go 2>/dev/null || echo '?'), wg $(wg --version | cut -d' ' -f2)"
echo "pinned: the bench: ${pin_bench[*]:-nothing}; wireguard-go: ${pin_wg[*]:-nothing}"
echo
ip netns exec "$ns" "${pin_bench[@]}" "$WG_BENCH" --iface "$if1" --runs "$RUNS" ||
	die "wg_bench failed"

# ---- 2. meshnamed with 1,000 hosts -------------------------------------------------------------
echo
echo "(a, end to end) meshnamed (manage peers) and a registry of 1,000 hosts, empty interface"
"$MKREGISTRY" "$tmp/big" 1000 >/dev/null || die "mkregistry"
e2e=()
for run in $(seq "$RUNS"); do
	# The same empty interface as in part 1: every peer removed.
	ip netns exec "$ns" wg setconf "$if1" /dev/null || die "wg setconf $if1 /dev/null"
	cat >"$tmp/big.conf" <<CONF
state $tmp/big
control $tmp/big.sock
listen 127.0.0.154:53
forward no
interface $if1
manage peers
publish-endpoints no
CONF
	t0=$(ms)
	ip netns exec "$ns" "${pin_bench[@]}" "$MESHNAMED" -d -f "$tmp/big.conf" 2>"$tmp/big.log" &
	d=$!
	pids+=("$d")
	if eventually 20 "[ \"\$(ip netns exec $ns wg show $if1 peers | wc -l)\" -ge 1000 ]"; then
		e2e+=($(($(ms) - t0)))
	else
		sed 's/^/# /' "$tmp/big.log" >&2
		die "meshnamed did not put 1,000 peers on $if1 within 20 s"
	fi
	kill -TERM "$d"
	wait "$d" 2>/dev/null
done
e2e_median=$(printf '%s\n' "${e2e[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf '  %-58s %10s %8s %s\n' "figure" "ms" "target" ""
printf '  %-58s %10s %8s %s\n' "meshnamed start -> 1,000 peers on the device (median)" \
	"$e2e_median" 1000 "$([ "$e2e_median" -le 1000 ] && echo ok || echo over)"
printf '  %-58s %10s\n' "  every run" "${e2e[*]}"
ip netns exec "$ns" wg setconf "$if1" /dev/null

# ---- 3. for real: a better endpoint appearing -------------------------------------------------
# Two hosts, node (1) and peer (2), on a bridge. peer has its LAN address 192.0.2.2 and a
# "public" one, 203.0.113.2, on the same link (node routes 203.0.113.0/24 there). First the
# registry lists only peer's public endpoint; node pings peer; then peer's LAN endpoint is
# imported into node's registry, and nft on peer counts WireGuard packets per address.
echo
echo "(c, for real) two hosts with meshnamed and wireguard-go, ping every 0.1 s; peer's LAN"
echo "    endpoint is imported into node's registry; time until packets arrive on it"
lan=mnb-wbl-$tag
ip netns add "$lan" || die "ip netns add"
namespaces+=("$lan")
ip -n "$lan" link add br0 type bridge && ip -n "$lan" link set br0 up
declare -A hns hif
for h in 1 2; do
	hns[$h]=mnb-wb$h-$tag
	hif[$h]=$(printf 'wgb%s-%s' "$tag" "$h" | cut -c1-15)
	ip netns add "${hns[$h]}" || die "ip netns add"
	namespaces+=("${hns[$h]}")
	ip -n "${hns[$h]}" link set lo up
	ip -n "${hns[$h]}" link add eth0 type veth peer name "p$h" netns "$lan"
	ip -n "$lan" link set "p$h" master br0 up
	ip -n "${hns[$h]}" addr add "192.0.2.$h/24" dev eth0
	ip -n "${hns[$h]}" link set eth0 up
done
ip -n "${hns[2]}" addr add 203.0.113.2/32 dev eth0
ip -n "${hns[1]}" route add 203.0.113.0/24 dev eth0
mn() { local h=$1; shift; "$MESHNAME" --state "$tmp/r$h" --control "$tmp/r$h.sock" "$@"; }
mn 1 init --name b --host node --ipv4 198.51.100.0/24 --ipv6 fd4d:6e00:3::/48 >/dev/null ||
	die "meshname init"
inv=$(mn 1 add peer 2>/dev/null) || die "meshname add"
mn 2 join "$inv" >/dev/null || die "meshname join"
mn 1 endpoint add 203.0.113.1:51861 --kind public --listen-port 51861 >/dev/null || die "endpoint"
mn 2 endpoint add 203.0.113.2:51862 --kind public --listen-port 51862 >/dev/null || die "endpoint"
mn 2 export -o "$tmp/p0" && mn 1 import "$tmp/p0" >/dev/null || die "bundle peer -> node"
mn 1 export -o "$tmp/n0" && mn 2 import "$tmp/n0" >/dev/null || die "bundle node -> peer"
peer_v4=$(mn 1 show peer --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ipv4"])')
# peer's later records are signed from a copy of its state directory: its daemon does not
# publish (publish-endpoints no), so the copy's sequence numbers stay ahead.
cp -a "$tmp/r2" "$tmp/r2copy"
for h in 1 2; do
	cat >"$tmp/r$h.conf" <<CONF
state $tmp/r$h
control $tmp/r$h.sock
listen 127.0.0.155:53
forward no
interface ${hif[$h]}
listen-port 5186$h
manage yes
userspace $WG_GO
on-exit remove
publish-endpoints no
CONF
	ifaces+=("${hif[$h]}")
done
# start_node H: meshnamed on host H (it starts wireguard-go); its PID in daemon[H].
declare -A daemon
start_node() {
	ip netns exec "${hns[$1]}" "$MESHNAMED" -d -f "$tmp/r$1.conf" 2>>"$tmp/r$1.log" &
	daemon[$1]=$!
	pids+=("${daemon[$1]}")
}
stop_node() {
	kill -TERM "${daemon[$1]}" && wait "${daemon[$1]}" 2>/dev/null
}
start_node 2
ip netns exec "${hns[2]}" nft -f - <<'NFT' || die "nft on peer"
table inet mnb_bench {
	chain input {
		type filter hook input priority 0;
		ip daddr 192.0.2.2 udp dport 51862 counter
		ip daddr 203.0.113.2 udp dport 51862 counter
	}
}
NFT
# packets_to ADDR: WireGuard packets peer received on ADDR so far.
packets_to() {
	ip netns exec "${hns[2]}" nft list chain inet mnb_bench input |
		sed -n "s/.*ip daddr ${1//./\\.} .*packets \([0-9]*\).*/\1/p"
}
real=()
for run in $(seq "$REAL_RUNS"); do
	# Each run from scratch: node's registry lists only peer's public endpoint (a newer
	# record), its meshnamed and wireguard-go start, the ping goes the public way.
	mn 2copy endpoint rm 192.0.2.2:51862 >/dev/null 2>&1
	mn 2copy export -o "$tmp/pub$run" && mn 1 import "$tmp/pub$run" >/dev/null || die "import"
	start_node 1
	eventually 20 "ip netns exec ${hns[1]} ping -c1 -W1 $peer_v4 >/dev/null 2>&1" ||
		{ sed 's/^/# /' "$tmp/r1.log" >&2; die "node cannot ping peer through the tunnel"; }
	# ping stops when its route goes (node's interface, at stop_node): one per run.
	ip netns exec "${hns[1]}" ping -i 0.1 -W1 "$peer_v4" >/dev/null 2>&1 &
	ping_pid=$!
	pids+=("$ping_pid")
	pub=$(packets_to 203.0.113.2)
	eventually 20 "[ \"\$(packets_to 203.0.113.2)\" -gt $((pub + 10)) ]" ||
		{ sed 's/^/# /' "$tmp/r1.log" >&2; die "the ping does not reach peer's public address"; }
	sleep 2
	before=$(packets_to 192.0.2.2)
	mn 2copy endpoint add 192.0.2.2:51862 --kind lan >/dev/null || die "endpoint add (copy)"
	mn 2copy export -o "$tmp/lan$run" || die "export"
	t0=$(ms)
	mn 1 import "$tmp/lan$run" >/dev/null || die "import"
	if eventually 30 "[ \"\$(packets_to 192.0.2.2)\" -gt $before ]"; then
		real+=($(($(ms) - t0)))
	else
		real+=(never)
	fi
	sleep 30 # still on it after a trial's worth of time and more?
	kept[$run]=$(ip netns exec "${hns[1]}" wg show "${hif[1]}" endpoints | cut -f2)
	kill -TERM "$ping_pid" 2>/dev/null && wait "$ping_pid" 2>/dev/null
	stop_node 1
done
printf '  %-58s %10s %8s %s\n' "figure" "ms" "target" ""
for run in $(seq "$REAL_RUNS"); do
	r=${real[$((run - 1))]}
	printf '  %-58s %10s %8s %s\n' "run $run: import -> first ping packet on the LAN address" \
		"$r" 10000 "$([ "$r" != never ] && [ "$r" -le 10000 ] && echo ok || echo over)"
	printf '  %-58s %21s\n' "  endpoint in use 30 s later" "${kept[$run]}"
done
# The daemons stop with on-exit remove: their wireguard-go go too.
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
pids=()
