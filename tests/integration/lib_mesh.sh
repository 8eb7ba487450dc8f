# shellcheck shell=bash
# tests/integration/lib_mesh.sh: shared setup for integration tests with simulated mesh
# hosts, sourced (not run) by a test: N hosts h1..hN in network namespaces on one LAN (a
# bridge in a "lan" namespace), each with its own state directory, meshnamed config and
# WireGuard interface name; h1 is the admin. It only ever creates what it later removes
# (namespaces, /etc/netns/NS, sockets under /run/wireguard), stops processes by PID, and
# uses documentation prefixes only (192.0.2.0/24 LAN, 198.51.100.0/24 mesh, 203.0.113.0/24
# the "internet" behind a router).
#
# Before sourcing, a test may set:
#   MESH_NS_PREFIX  namespace prefix, unique per engineer/test family (default mnr)
#   MESH_IF_PREFIX  interface prefix, 3 letters (default wgr): /run/wireguard is shared
#                   by every namespace, so interface names must be unique machine-wide
#   MESH_HOSTS      number of hosts (default 3)
#   MESH_REGISTRY_HOSTS  how many of them (h1..hN) mesh_registry admits (default all);
#                   the others get a namespace and a config but no state: the test joins
#                   them itself and starts them with mesh_start_host
#   MESH_WAN_HOSTS  hosts (numbers, space-separated) on an "internet" 203.0.113.0/24
#                   instead of the LAN, at 203.0.113.H; a router namespace ($mesh_router:
#                   lan0 192.0.2.254 on the LAN, wan0 203.0.113.254) routes between the two
#                   (no NAT) and is every host's default gateway. Default: none, no router.
#   MESH_PORT_PREFIX  a host's WireGuard listen port is this followed by its number
#                   (default 5290: 52901, 52902...), in mesh_port[h]; a test with its own
#                   ports may set mesh_port[h] after sourcing
# Then:
#   mesh_require [TOOL...]       tools (these too), root, /dev/net/tun (bails when missing)
#   mesh_registry                init on h1, add/join the others, endpoints (their LAN or
#                                internet address, mesh_addr[h]), bundles both ways; sets
#                                v4[h], v6[h], pub[h]
#   mesh_network                 mesh_netns, then mesh_conf for every host
#   mesh_netns                   namespaces, LAN (and internet, router), no configs
#   mesh_conf H [MANAGE]         H's meshnamed config $tmp/confH (DNS on 127.0.0.153:53,
#                                also on its mesh addresses, WireGuard interface
#                                ifname[H] on port mesh_port[H]; MANAGE yes (default):
#                                manage yes, wireguard-go started by meshnamed, removed
#                                on exit; else "manage MANAGE") and H's resolv.conf
#                                naming it; a test may append lines to $tmp/confH
#   mesh_start                   meshnamed on every admitted host, waits for "ready"
#   mesh_start_host H            the same for one host
#   mesh_start_launch H          meshnamed on H in the background, without waiting; its
#                                log $tmp/logH, its PID daemon_pid[H]
#   mesh_child_of H              the PID of the wireguard-go H's meshnamed started
#   mesh_bundle FROM TO...       export on FROM, import on each TO (no peer sync yet)
#   mesh_import_bundle H FILE    import on H, where older copies of records H renewed
#                                since are refused (and only those)
#   mesh_spread_bundles          every host's records into every other one's that way
#   mesh_attach NS IF PEER       a veth IF in NS, its PEER end on the LAN bridge (for a
#                                test that lays out its own networks)
#   mesh_stop                    SIGTERM every meshnamed; checks exit 0 and no sanitizer
#   mesh_summary                 prints "N passed, N failed" (and the logs on failure)
#                                and exits accordingly
# and the helpers ok, not_ok, check NAME 'SHELL CONDITION', bail, eventually SECONDS
# 'CONDITION', mesh_within SECONDS 'CONDITION' (wall-clock bound, for slow conditions),
# each_within SECONDS DESC 'CONDITION' HOSTS... (one check a host, see there), now_ms,
# jqe FILTER [ARGS] (jq -e on standard input, false on none), ping_name H NAME,
# in_ns H CMD..., mn H ARGS... (meshname on h's state), mesh_ctl H (meshname status --json
# from h's meshnamed), mesh_dig H NAME [TYPE] (dig +short at h's own meshnamed), wg_peers
# H, expect_peers H OTHERS..., wg_endpoint H O and wg_keepalive H O (what H's WireGuard
# shows for peer O). The EXIT trap cleans up; a test that needs more cleanup sets
# MESH_EXTRA_CLEANUP to a function name. MESH_KEEP=1 in the environment keeps the
# temporary folder (logs, state directories) for a look after the run.

set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
MESHNAME=$BUILD/meshname
MESHNAMED=$BUILD/meshnamed
WG_GO=${WG_GO:-/usr/bin/wireguard-go}
MESH_NS_PREFIX=${MESH_NS_PREFIX:-mnr}
MESH_IF_PREFIX=${MESH_IF_PREFIX:-wgr}
MESH_HOSTS=${MESH_HOSTS:-3}
MESH_REGISTRY_HOSTS=${MESH_REGISTRY_HOSTS:-$MESH_HOSTS}
MESH_WAN_HOSTS=${MESH_WAN_HOSTS:-}
MESH_PORT_PREFIX=${MESH_PORT_PREFIX:-5290}
MESH_EXTRA_CLEANUP=${MESH_EXTRA_CLEANUP:-}
passed=0
failed=0
tmp=$(mktemp -d)
mesh_tag=$$
mesh_lan=$MESH_NS_PREFIX-lan-$mesh_tag
mesh_wan=$MESH_NS_PREFIX-wan-$mesh_tag
mesh_router=$MESH_NS_PREFIX-r-$mesh_tag
declare -A ns ifname daemon_pid v4 v6 pub mesh_addr mesh_port fails
# mesh_is_wan H: H is on the internet side (MESH_WAN_HOSTS).
mesh_is_wan() { [[ " $MESH_WAN_HOSTS " == *" $1 "* ]]; }
for ((h = 1; h <= MESH_HOSTS; h++)); do
	ns[$h]=$MESH_NS_PREFIX-h$h-$mesh_tag
	ifname[$h]=$(printf '%s%s-%s' "$MESH_IF_PREFIX" "$mesh_tag" "$h" | cut -c1-15)
	if mesh_is_wan $h; then mesh_addr[$h]=203.0.113.$h; else mesh_addr[$h]=192.0.2.$h; fi
	mesh_port[$h]=$MESH_PORT_PREFIX$h
done
mesh_resolv_sum=$(sha256sum /etc/resolv.conf 2>/dev/null | cut -d' ' -f1)

ok() {
	echo "ok - $1"
	passed=$((passed + 1))
}
not_ok() {
	echo "not ok - $1"
	failed=$((failed + 1))
}
# check NAME CONDITION: ok or not ok; returns 1 when not ok (for a diagnostic after it).
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; return 1; fi; }
mesh_dump_logs() {
	local h
	for ((h = 1; h <= MESH_HOSTS; h++)); do
		[ -f "$tmp/log$h" ] && sed "s/^/# h$h: /" "$tmp/log$h"
	done
}
bail() {
	not_ok "$1"
	mesh_dump_logs
	echo "$passed passed, $failed failed"
	exit 1
}
# eventually SECONDS CONDITION: retries CONDITION every 0.2 s.
eventually() {
	local i
	for i in $(seq $(($1 * 5))); do
		eval "$2" && return 0
		sleep 0.2
	done
	return 1
}
# now_ms: milliseconds since the epoch.
now_ms() { date +%s%3N; }
# mesh_within SECONDS CONDITION: retries CONDITION every 0.2 s until SECONDS of wall-clock
# time have passed (eventually counts tries, which is too long when a try takes time).
mesh_within() {
	local end=$(($(now_ms) + $1 * 1000))
	while :; do
		eval "$2" && return 0
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.2
	done
}
# each_within SECONDS DESC CONDITION HOSTS...: one check "hH: DESC" per host, "@" in DESC
# and CONDITION standing for its number, all within SECONDS from now (a host reached late
# still gets a second); fails[H] is set for each host that failed; prints the time taken.
# shellcheck disable=SC2034 # fails is for the test
each_within() {
	local secs=$1 desc=$2 cond=$3 h start left hosts
	shift 3
	hosts=$*
	start=$(now_ms)
	for h in "$@"; do
		left=$((secs - ($(now_ms) - start) / 1000))
		[ "$left" -ge 1 ] || left=1
		fails[$h]=
		if mesh_within "$left" "${cond//@/$h}"; then
			ok "h$h: ${desc//@/$h}"
		else
			not_ok "h$h: ${desc//@/$h}"
			fails[$h]=1
		fi
	done
	echo "# ${desc//@/H} on h${hosts// / h}: after $(($(now_ms) - start)) ms"
}
# jqe FILTER [ARGS]: standard input is JSON and FILTER holds (jq -e alone passes on no input).
jqe() {
	local in
	in=$(cat)
	[ -n "$in" ] && jq -e "$@" <<<"$in" >/dev/null 2>&1
}
in_ns() {
	local h=$1
	shift
	ip netns exec "${ns[$h]}" "$@"
}
mn() {
	local h=$1
	shift
	"$MESHNAME" --state "$tmp/s$h" "$@"
}
# mesh_ctl H: `meshname status --json` of H, from its running meshnamed.
mesh_ctl() { mn "$1" --control "$tmp/control$1.sock" status --json; }
# ping_name H NAME: one IPv4 ping from H to NAME (resolved by H's own meshnamed) answered.
ping_name() { in_ns "$1" ping -4 -c1 -W1 "$2" >/dev/null 2>&1; }
# mesh_dig H NAME [TYPE]: what H's own meshnamed answers (dig +short), "" for nothing.
mesh_dig() { in_ns "$1" dig +short +time=1 +tries=1 @127.0.0.153 "$2" "${3:-A}" 2>/dev/null; }
# wg_peers H: "KEY<TAB>ALLOWED-IPS" lines of h's interface, sorted (read only).
wg_peers() { in_ns "$1" wg show "${ifname[$1]}" allowed-ips | sort; }
# expect_peers H OTHERS...: what wg_peers H should say, from v4, v6 and pub.
expect_peers() {
	local o
	shift
	for o in "$@"; do
		printf '%s\t%s/32 %s/128\n' "${pub[$o]}" "${v4[$o]}" "${v6[$o]}"
	done | sort
}
# wg_endpoint H O, wg_keepalive H O: the endpoint and the persistent keepalive of peer O on
# H's interface (read only).
wg_endpoint() { in_ns "$1" wg show "${ifname[$1]}" endpoints | grep "^${pub[$2]}" | cut -f2; }
wg_keepalive() { in_ns "$1" wg show "${ifname[$1]}" persistent-keepalive | grep "^${pub[$2]}" | cut -f2; }

# The wireguard-go meshnamed started, from its log line "(pid N)": stopped only if
# meshnamed did not stop it, and only if that PID still is a wireguard-go.
mesh_child_of() {
	sed -n 's/.*started .* for interface .* (pid \([0-9]*\)).*/\1/p' "$tmp/log$1" 2>/dev/null |
		tail -n 1
}
mesh_stop_wg_go() {
	local pid=$1
	[ -n "$pid" ] || return 0
	grep -q wireguard-go "/proc/$pid/cmdline" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 20); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}
mesh_cleanup() {
	local h
	[ -n "$MESH_EXTRA_CLEANUP" ] && "$MESH_EXTRA_CLEANUP"
	for ((h = 1; h <= MESH_HOSTS; h++)); do
		if [ -n "${daemon_pid[$h]:-}" ]; then
			kill -TERM "${daemon_pid[$h]}" 2>/dev/null && wait "${daemon_pid[$h]}" 2>/dev/null
		fi
	done
	for ((h = 1; h <= MESH_HOSTS; h++)); do mesh_stop_wg_go "$(mesh_child_of $h)"; done
	for ((h = 1; h <= MESH_HOSTS; h++)); do
		ip netns del "${ns[$h]}" 2>/dev/null
		rm -rf "/etc/netns/${ns[$h]}"
		rm -f "/run/wireguard/${ifname[$h]}.sock"
	done
	ip netns del "$mesh_lan" 2>/dev/null
	if [ -n "$MESH_WAN_HOSTS" ]; then
		ip netns del "$mesh_router" 2>/dev/null
		ip netns del "$mesh_wan" 2>/dev/null
	fi
	[ -n "${MESH_KEEP:-}" ] || rm -rf "$tmp"
}
trap mesh_cleanup EXIT

# shellcheck disable=SC2120 # most tests need no tool beyond these
mesh_require() {
	local tool
	for tool in ip wg jq ping getent "$WG_GO" "$@"; do
		command -v "$tool" >/dev/null || bail "$tool is missing (tests/deps.sh test installs it)"
	done
	[ -x "$MESHNAME" ] && [ -x "$MESHNAMED" ] || bail "meshname and meshnamed are built in $BUILD"
	[ "$(id -u)" -eq 0 ] || bail "network namespaces need root"
	[ -c /dev/net/tun ] || bail "/dev/net/tun is missing: wireguard-go cannot run"
}

# mesh_bundle FROM TO...: the records of FROM reach TO by an export bundle.
mesh_bundle() {
	local from=$1 to
	shift
	mn "$from" export -o "$tmp/bundle-$from" || return 1
	for to in "$@"; do
		mn "$to" import "$tmp/bundle-$from" >/dev/null || return 1
	done
}

# mesh_import_bundle H FILE: a bundle into H's registry. A bundle holds every record its
# host has, so also older copies of records H has renewed since: refused as such, and only
# so (what else H refuses is in $tmp/import-H.err).
mesh_import_bundle() {
	mn "$1" import "$2" >/dev/null 2>"$tmp/import-$1.err" && return 0
	! grep -v 'a newer version of this record is already stored' "$tmp/import-$1.err" | grep -q .
}
mesh_spread_bundles() {
	local h o
	for ((h = 1; h <= MESH_HOSTS; h++)); do mn $h export -o "$tmp/bundle-$h" || return 1; done
	for ((h = 1; h <= MESH_HOSTS; h++)); do
		for ((o = 1; o <= MESH_HOSTS; o++)); do
			[ $o = $h ] || mesh_import_bundle $h "$tmp/bundle-$o" || return 1
		done
	done
}

mesh_registry() {
	local h kind others=()
	mn 1 init --name t --host h1 --ipv4 198.51.100.0/24 --ipv6 fd4d:6e00:1::/48 >/dev/null ||
		bail "meshname init"
	for ((h = 2; h <= MESH_REGISTRY_HOSTS; h++)); do
		inv=$(mn 1 add h$h 2>/dev/null) || bail "meshname add h$h"
		mn $h join "$inv" >/dev/null || bail "meshname join h$h"
		others+=("$h")
	done
	for ((h = 1; h <= MESH_REGISTRY_HOSTS; h++)); do
		kind=lan
		mesh_is_wan $h && kind=public
		mn $h endpoint add "${mesh_addr[$h]}:${mesh_port[$h]}" --kind $kind \
			--listen-port "${mesh_port[$h]}" >/dev/null || bail "meshname endpoint add on h$h"
	done
	for h in "${others[@]}"; do mesh_bundle "$h" 1 || bail "bundle h$h -> h1"; done
	[ ${#others[@]} -eq 0 ] || mesh_bundle 1 "${others[@]}" || bail "bundle h1 -> the others"
	for ((h = 1; h <= MESH_REGISTRY_HOSTS; h++)); do
		v4[$h]=$(mn 1 show h$h --json | jq -r .ipv4)
		v6[$h]=$(mn 1 show h$h --json | jq -r .ipv6)
		pub[$h]=$(mn 1 show h$h --json | jq -r .wg_key)
	done
}

mesh_attach() {
	ip -n "$1" link add "$2" type veth peer name "$3" netns "$mesh_lan" &&
		ip -n "$mesh_lan" link set "$3" master br0 up && ip -n "$1" link set "$2" up
}

mesh_netns() {
	local h seg
	ip netns add "$mesh_lan" || bail "ip netns add $mesh_lan"
	ip -n "$mesh_lan" link add br0 type bridge && ip -n "$mesh_lan" link set br0 up
	if [ -n "$MESH_WAN_HOSTS" ]; then
		ip netns add "$mesh_wan" || bail "ip netns add $mesh_wan"
		ip -n "$mesh_wan" link add br0 type bridge && ip -n "$mesh_wan" link set br0 up
		ip netns add "$mesh_router" || bail "ip netns add $mesh_router"
		ip -n "$mesh_router" link set lo up
		ip -n "$mesh_router" link add lan0 type veth peer name r0 netns "$mesh_lan"
		ip -n "$mesh_router" link add wan0 type veth peer name r0 netns "$mesh_wan"
		ip -n "$mesh_lan" link set r0 master br0 up
		ip -n "$mesh_wan" link set r0 master br0 up
		ip -n "$mesh_router" addr add 192.0.2.254/24 dev lan0
		ip -n "$mesh_router" addr add 203.0.113.254/24 dev wan0
		ip -n "$mesh_router" link set lan0 up && ip -n "$mesh_router" link set wan0 up
		ip netns exec "$mesh_router" sysctl -qw net.ipv4.ip_forward=1 ||
			bail "IPv4 forwarding on the router"
	fi
	for ((h = 1; h <= MESH_HOSTS; h++)); do
		seg=$mesh_lan
		mesh_is_wan $h && seg=$mesh_wan
		ip netns add "${ns[$h]}" || bail "ip netns add ${ns[$h]}"
		ip -n "${ns[$h]}" link set lo up
		ip -n "${ns[$h]}" link add eth0 type veth peer name "p$h" netns "$seg"
		ip -n "$seg" link set "p$h" master br0 up
		ip -n "${ns[$h]}" addr add "${mesh_addr[$h]}/24" dev eth0
		ip -n "${ns[$h]}" link set eth0 up
		if [ -n "$MESH_WAN_HOSTS" ]; then
			ip -n "${ns[$h]}" route add default via "${mesh_addr[$h]%.*}.254" ||
				bail "default route on h$h"
		fi
	done
}

mesh_conf() {
	local h=$1 manage=${2:-yes}
	# getent and ping in the namespace ask this host's own meshnamed.
	mkdir -p "/etc/netns/${ns[$h]}"
	echo "nameserver 127.0.0.153" >"/etc/netns/${ns[$h]}/resolv.conf"
	cat >"$tmp/conf$h" <<CONF
state $tmp/s$h
control $tmp/control$h.sock
listen 127.0.0.153:53
listen-mesh yes
forward no
interface ${ifname[$h]}
listen-port ${mesh_port[$h]}
CONF
	if [ "$manage" = yes ]; then
		printf 'manage yes\nuserspace %s\non-exit remove\n' "$WG_GO" >>"$tmp/conf$h"
	else
		echo "manage $manage" >>"$tmp/conf$h"
	fi
}

mesh_network() {
	local h
	mesh_netns
	for ((h = 1; h <= MESH_HOSTS; h++)); do mesh_conf $h; done
}

# mesh_start_launch H: meshnamed on H in the background, its PID in daemon_pid[H].
mesh_start_launch() {
	# Not through in_ns: $! must be meshnamed itself (ip netns exec execs it in place).
	# wireguard-go, its child, writes to standard output: into the log as well.
	ip netns exec "${ns[$1]}" "$MESHNAMED" -d -f "$tmp/conf$1" >"$tmp/log$1" 2>&1 &
	daemon_pid[$1]=$!
}
mesh_start_host() {
	mesh_start_launch "$1"
	eventually 10 "grep -q ': ready$' '$tmp/log$1'" || bail "meshnamed starts on h$1"
}
mesh_start() {
	local h
	for ((h = 1; h <= MESH_REGISTRY_HOSTS; h++)); do mesh_start_launch $h; done
	for ((h = 1; h <= MESH_REGISTRY_HOSTS; h++)); do
		eventually 10 "grep -q ': ready$' '$tmp/log$h'" || bail "meshnamed starts on h$h"
	done
}

# Stops every meshnamed that was started (hosts never started are left out).
mesh_stop() {
	local h rc
	# Something failed: what each meshnamed says of itself, while it still runs.
	if [ "$failed" -ne 0 ]; then
		for ((h = 1; h <= MESH_HOSTS; h++)); do
			[ -n "${daemon_pid[$h]:-}" ] || continue
			echo "# status of h$h when the test ended:"
			mn "$h" --control "$tmp/control$h.sock" status 2>&1 | sed "s/^/# h$h: /"
		done
	fi
	for ((h = 1; h <= MESH_HOSTS; h++)); do
		[ -n "${daemon_pid[$h]:-}" ] || continue
		kill -TERM "${daemon_pid[$h]}"
		wait "${daemon_pid[$h]}"
		rc=$?
		daemon_pid[$h]=
		check "meshnamed on h$h exits 0 on SIGTERM" "[ $rc -eq 0 ]"
	done
	check "no sanitizer report in the logs" "! cat $tmp/log* | grep -q 'Sanitizer\|runtime error'"
	check "the real /etc/resolv.conf was not touched" \
		"[ \"\$(sha256sum /etc/resolv.conf 2>/dev/null | cut -d' ' -f1)\" = '$mesh_resolv_sum' ]"
}

mesh_summary() {
	[ "$failed" -ne 0 ] && mesh_dump_logs
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}
