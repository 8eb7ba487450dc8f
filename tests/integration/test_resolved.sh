#!/usr/bin/env bash
# meshnamed registers itself with a real systemd-resolved for the mesh interface. One
# simulated host: a network namespace with its own mount namespace (tmpfs on /run/dbus and
# /run/systemd, its own /etc/resolv.conf -> 127.0.0.53, user systemd-resolve), a private
# dbus-daemon, systemd-resolved from Debian's package unpacked under build/ (never
# installed: TESTING.md), a fake upstream as resolved's global DNS server, and meshnamed with
# `manage yes` (it starts wireguard-go and addresses the interface) and `resolved yes`.
# Checks: resolved appearing after meshnamed, the link's DNS and ~mesh, getent/resolvectl/dig
# answers from the registry, non-mesh names never reaching meshnamed (and mesh names never
# the upstream), a resolved restart, the revert on SIGTERM, `resolved auto` keeping quiet,
# and the machine's /etc/resolv.conf untouched. Everything stopped by PID, also on failure.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
MESHNAME=$PWD/$BUILD/meshname
MESHNAMED=$PWD/$BUILD/meshnamed
HELPERS=$PWD/tests/integration/resolved
DEBS=$PWD/build/resolved/debs # filled by tests/deps.sh test (apt-get download)
WG_GO=/usr/bin/wireguard-go
passed=0
failed=0
tmp=$(mktemp -d /tmp/mnd-resolved.XXXXXX)
tag=$$
ns=mnd-rs-$tag
ifname=$(printf 'mnd%s' "$tag" | cut -c1-15) # /run/wireguard is shared: unique name
upstream=127.0.0.99
root=$tmp/root # systemd-resolved and resolvectl, unpacked
pin=$tmp/pin/mnt
dbus_pid=
resolved_pid=
upstream_pid=
daemon_pid=
resolv_sum=$(sha256sum /etc/resolv.conf 2>/dev/null | cut -d' ' -f1)

# The wireguard-go meshnamed started (its log says "(pid N)"), stopped only if it still is one.
child_of() { sed -n 's/.*started .* for interface .* (pid \([0-9]*\)).*/\1/p' "$tmp"/meshnamed*.log 2>/dev/null | tail -n 1; }
stop_pid() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}
cleanup() {
	stop_pid "$daemon_pid"
	local wg
	wg=$(child_of)
	[ -n "$wg" ] && grep -q wireguard-go "/proc/$wg/cmdline" 2>/dev/null && stop_pid "$wg"
	stop_pid "$resolved_pid"
	stop_pid "$upstream_pid"
	stop_pid "$dbus_pid"
	ip netns del "$ns" 2>/dev/null
	rm -f "/run/wireguard/$ifname.sock"
	umount "$pin" 2>/dev/null
	umount "$tmp/pin" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
show_logs() {
	local f
	for f in "$tmp"/meshnamed*.log "$tmp/resolved.log" "$tmp/dbus.log"; do
		[ -s "$f" ] && sed "s|^|# ${f##*/}: |" "$f" | tail -n 40
	done
}
bail() {
	not_ok "$1"
	show_logs
	echo "$passed passed, $failed failed"
	exit 1
}
eventually() {
	local i
	for i in $(seq $(($1 * 5))); do
		eval "$2" && return 0
		sleep 0.2
	done
	return 1
}
# Runs a command on the simulated host: its network and mount namespaces. In the
# background through $HOST, not on_host: $! must be the process itself (nsenter execs it),
# not a subshell that would leave it running when killed.
HOST=(nsenter --net="/run/netns/$ns" --mount="$pin")
on_host() { "${HOST[@]}" "$@"; }
resolvectl() { on_host env LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu/systemd" "$root/usr/bin/resolvectl" "$@"; }
mn() { "$MESHNAME" --state "$tmp/s$1" "${@:2}"; }
status() { echo status | on_host socat -t 3 - "UNIX-CONNECT:$tmp/control.sock" | jq -c "$1"; }
resolve1_owner() {
	on_host dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
		org.freedesktop.DBus.GetNameOwner string:org.freedesktop.resolve1 >/dev/null 2>&1
}
start_resolved() {
	"${HOST[@]}" env LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu/systemd" \
		"$root/lib/systemd/systemd-resolved" >>"$tmp/resolved.log" 2>&1 &
	resolved_pid=$!
	eventually 10 resolve1_owner || bail "systemd-resolved takes its bus name"
}
start_meshnamed() {
	# stdout too: wireguard-go, its child, writes there.
	"${HOST[@]}" "$MESHNAMED" -d -f "$1" >"$tmp/meshnamed-$2.log" 2>&1 &
	daemon_pid=$!
	eventually 10 "grep -q ': ready$' '$tmp/meshnamed-$2.log'" || bail "meshnamed ($2) starts"
}
stop_meshnamed() {
	kill -TERM "$daemon_pid"
	wait "$daemon_pid"
	daemon_rc=$?
	daemon_pid=
}
queries() { status .resolver.queries; }

# ---- what the test needs: missing is a failure, not a skip ------------------------------
[ "$(id -u)" -eq 0 ] || bail "network and mount namespaces need root"
for tool in ip jq dig getent socat nsenter unshare dbus-daemon dbus-send python3 dpkg-deb "$WG_GO"; do
	command -v "$tool" >/dev/null || bail "$tool is missing (tests/deps.sh test installs it)"
done
[ -c /dev/net/tun ] || bail "/dev/net/tun is missing: wireguard-go cannot run"
[ -x "$MESHNAMED" ] && [ -x "$MESHNAME" ] || bail "build meshname and meshnamed first (make)"
for pkg in systemd-resolved libsystemd-shared; do
	deb=$(ls "$DEBS/${pkg}"_*.deb 2>/dev/null | tail -n 1)
	[ -n "$deb" ] || bail "$DEBS has no $pkg package (tests/deps.sh test downloads it)"
	dpkg-deb -x "$deb" "$root" || bail "unpack $deb"
done
[ -x "$root/lib/systemd/systemd-resolved" ] || bail "the systemd-resolved package has no daemon"

# ---- the registry: h1 (this host) and h2 -------------------------------------------------
mn 1 init --name t --host h1 --ipv4 198.51.100.0/24 --ipv6 fd4d:6e00:1::/48 >/dev/null ||
	bail "meshname init"
inv=$(mn 1 add h2 2>/dev/null) || bail "meshname add h2"
mn 2 join "$inv" >/dev/null || bail "meshname join h2"
mn 2 export -o "$tmp/b2" && mn 1 import "$tmp/b2" >/dev/null || bail "bundle h2 -> h1"
for h in 1 2; do
	v4[$h]=$(mn 1 show h$h --json | jq -r .ipv4)
	v6[$h]=$(mn 1 show h$h --json | jq -r .ipv6)
done
[ -n "${v4[2]}" ] && [ "${v4[2]}" != null ] || bail "h1's registry knows h2"

# ---- the simulated host --------------------------------------------------------------------
ip netns add "$ns" || bail "ip netns add $ns"
ip -n "$ns" link set lo up
mkdir -p "$tmp/pin" "$tmp/h1"
mount --bind "$tmp/pin" "$tmp/pin" && mount --make-private "$tmp/pin" && touch "$pin" ||
	bail "a private mount point for the host's mount namespace"
nsenter --net="/run/netns/$ns" unshare --mount="$pin" --propagation private \
	sh "$HELPERS/host-setup.sh" "$tmp/h1" "$upstream" || bail "the host's mount namespace"
check "the host sees its own resolv.conf, the machine keeps its own" \
	"[ \"\$(on_host cat /etc/resolv.conf)\" = 'nameserver 127.0.0.53' ] && \
	 [ \"\$(sha256sum /etc/resolv.conf | cut -d' ' -f1)\" = '$resolv_sum' ]"
cat >"$tmp/dbus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <include>/usr/share/dbus-1/system.conf</include>
  <includedir>$root/usr/share/dbus-1/system.d</includedir>
</busconfig>
EOF
"${HOST[@]}" dbus-daemon --config-file="$tmp/dbus.conf" --nofork --nopidfile --nosyslog \
	>"$tmp/dbus.log" 2>&1 &
dbus_pid=$!
eventually 5 "on_host test -S /run/dbus/system_bus_socket" || bail "dbus-daemon starts"
"${HOST[@]}" python3 "$HELPERS/upstream.py" "$upstream" 53 "$tmp/upstream.names" >"$tmp/upstream.out" 2>&1 &
upstream_pid=$!
eventually 5 "grep -q ready '$tmp/upstream.out'" || bail "the fake upstream starts"

cat >"$tmp/conf" <<CONF
state $tmp/s1
control $tmp/control.sock
listen 127.0.0.153:53
listen-mesh yes
forward no
interface $ifname
manage yes
userspace $WG_GO
on-exit keep
listen-port 51871
resolved yes
CONF

# ---- resolved yes, before resolved runs: said loudly, then registered when it comes ------
start_meshnamed "$tmp/conf" yes
check "resolved yes without resolved: meshnamed says it cannot register" \
	"eventually 5 \"grep -q 'cannot register mesh DNS with systemd-resolved: systemd-resolved is not running' '$tmp/meshnamed-yes.log'\""
check "and its status says not running" "[ \"\$(status .resolved.state)\" = '\"not running\"' ]"
check "meshnamed put its mesh address on $ifname" \
	"eventually 10 'on_host ip -4 addr show dev $ifname | grep -q \"${v4[1]}/32\"'"

start_resolved
check "meshnamed registers once systemd-resolved appears on the bus" \
	"eventually 10 \"grep -q 'registered with systemd-resolved: $ifname' '$tmp/meshnamed-yes.log'\""
check "status: registered, with the mesh addresses as servers" \
	"eventually 3 '[ \"\$(status \"[.resolved.state, .resolved.interface, .resolved.servers, .resolved.error]\")\" = \
	   \"[\\\"registered\\\",\\\"$ifname\\\",[\\\"${v4[1]}:53\\\",\\\"[${v6[1]}]:53\\\"],null]\" ]'"
# "Link N (IFACE): A B ..." (wrapped on a terminal-less run too): the list on one line.
link_dns() { resolvectl dns "$ifname" | sed 's/^[^:]*): *//' | xargs; }
link_domains() { resolvectl domain "$ifname" | sed 's/^[^:]*): *//' | xargs; }
check "resolvectl dns $ifname: this host's mesh addresses" \
	"[ \"\$(link_dns | tr ' ' '\n' | sort | xargs)\" = \"\$(printf '%s\n' ${v4[1]} ${v6[1]} | sort | xargs)\" ]"
check "resolvectl domain $ifname: ~mesh and the mesh's reverse zones, routing only" \
	"[ \"\$(link_domains)\" = '~mesh ~100.51.198.in-addr.arpa ~1.0.0.0.0.0.e.6.d.4.d.f.ip6.arpa' ]"
resolvectl status "$ifname" >"$tmp/link.status" 2>&1
check "resolvectl status $ifname: not a default route, DNSSEC off, no LLMNR/mDNS" \
	"grep -q -- '-DefaultRoute' '$tmp/link.status' && grep -q 'DNSSEC=no' '$tmp/link.status' && \
	 grep -q -- '-LLMNR' '$tmp/link.status' && grep -q -- '-mDNS' '$tmp/link.status'"

# ---- names through resolved ---------------------------------------------------------------
before=$(queries)
check "getent hosts h2.mesh (glibc -> 127.0.0.53 -> resolved -> meshnamed)" \
	"[ \"\$(on_host getent ahostsv4 h2.mesh | head -n1 | cut -d' ' -f1)\" = ${v4[2]} ]"
check "resolvectl query h2.mesh: both of h2's addresses" \
	"resolvectl query h2.mesh >'$tmp/q' 2>&1 && grep -q '${v4[2]}' '$tmp/q' && grep -q '${v6[2]}' '$tmp/q'"
check "dig @127.0.0.53 h1.mesh A" "[ \"\$(on_host dig +short +time=3 @127.0.0.53 h1.mesh A)\" = ${v4[1]} ]"
check "dig @127.0.0.53 h2.mesh AAAA" "[ \"\$(on_host dig +short +time=3 @127.0.0.53 h2.mesh AAAA)\" = ${v6[2]} ]"
check "resolvectl query ${v4[2]}: the reverse zone reaches meshnamed too" \
	"resolvectl query ${v4[2]} 2>&1 | grep -q 'h2.mesh'"
check "a name the registry does not have is NXDOMAIN, not the upstream's answer" \
	"[ \"\$(on_host dig +time=3 @127.0.0.53 nothere.mesh A | sed -n 's/.*status: \([A-Z]*\).*/\1/p')\" = NXDOMAIN ]"
after=$(queries)
check "those queries reached meshnamed ($before -> $after)" "[ \"$after\" -gt \"$before\" ]"
check "and no mesh name reached the upstream" "! grep -q 'mesh$' '$tmp/upstream.names' 2>/dev/null"

before=$(queries)
check "dig @127.0.0.53 www.example.test: the upstream answers" \
	"[ \"\$(on_host dig +short +time=3 @127.0.0.53 www.example.test A)\" = 203.0.113.80 ]"
check "getent hosts other.example.test: the upstream answers" \
	"[ \"\$(on_host getent ahostsv4 other.example.test | head -n1 | cut -d' ' -f1)\" = 203.0.113.80 ]"
check "the upstream saw both names" \
	"grep -qx www.example.test '$tmp/upstream.names' && grep -qx other.example.test '$tmp/upstream.names'"
check "meshnamed saw none of them (queries stay $before)" "[ \"\$(queries)\" = \"$before\" ]"

# ---- resolved restarts: meshnamed registers again -------------------------------------------
stop_pid "$resolved_pid"
resolved_pid=
check "status says not running once resolved is gone" \
	"eventually 5 '[ \"\$(status .resolved.state)\" = \"\\\"not running\\\"\" ]'"
# resolved keeps link settings in /run/systemd/resolve/netif across restarts: remove them,
# so that only meshnamed can bring the link's DNS back.
on_host sh -c 'rm -f /run/systemd/resolve/netif/*'
start_resolved
check "meshnamed registers again with the new resolved" \
	"eventually 10 '[ \"\$(status .resolved.registrations)\" = 2 ] && [ \"\$(status .resolved.state)\" = \"\\\"registered\\\"\" ]'"
check "resolvectl dns $ifname shows the mesh addresses again" \
	"[ \"\$(link_dns | tr ' ' '\n' | sort | xargs)\" = \"\$(printf '%s\n' ${v4[1]} ${v6[1]} | sort | xargs)\" ]"
check "dig @127.0.0.53 h2.mesh works again" \
	"eventually 5 '[ \"\$(on_host dig +short +time=2 @127.0.0.53 h2.mesh A)\" = ${v4[2]} ]'"

# ---- a clean exit reverts the link -----------------------------------------------------------
stop_meshnamed
check "meshnamed exits 0 on SIGTERM" "[ $daemon_rc -eq 0 ]"
check "and says it reverted $ifname" "grep -q 'reverted the DNS settings of $ifname' '$tmp/meshnamed-yes.log'"
check "the interface is still there (on-exit keep)" "on_host ip link show $ifname >/dev/null 2>&1"
check "resolvectl: $ifname has no DNS servers and no domains any more" \
	"[ -z \"\$(link_dns)\" ] && [ -z \"\$(link_domains)\" ]"
# Nothing stale on the link: resolved asks its global server again, not a meshnamed that is gone.
check "mesh names go to resolved's global server again" \
	"on_host getent ahostsv4 h2.mesh >/dev/null 2>&1; grep -qx h2.mesh '$tmp/upstream.names'"

# ---- resolved auto: quiet without resolved, registers when it is there ------------------------
stop_pid "$resolved_pid"
resolved_pid=
sed -i 's/^resolved yes$/resolved auto/' "$tmp/conf"
start_meshnamed "$tmp/conf" auto
check "resolved auto without resolved: status not running" \
	"eventually 5 '[ \"\$(status \"[.resolved.mode, .resolved.state]\")\" = \"[\\\"auto\\\",\\\"not running\\\"]\" ]'"
check "and not a word about it in the log" "! grep -q 'systemd-resolved' '$tmp/meshnamed-auto.log'"
start_resolved
check "resolved auto registers once resolved runs" \
	"eventually 10 \"grep -q 'registered with systemd-resolved: $ifname' '$tmp/meshnamed-auto.log'\" && \
	 [ \"\$(on_host dig +short +time=2 @127.0.0.53 h2.mesh A)\" = ${v4[2]} ]"
stop_meshnamed
check "meshnamed (auto) exits 0 and reverts" \
	"[ $daemon_rc -eq 0 ] && [ -z \"\$(link_dns)\" ]"

# ---- listen-mesh no: the configured listener is the link's server ----------------------------
sed -i 's/^listen-mesh yes$/listen-mesh no/; s/^resolved auto$/resolved yes/' "$tmp/conf"
start_meshnamed "$tmp/conf" loopback
check "listen-mesh no: registered with the configured listener 127.0.0.153" \
	"eventually 10 '[ \"\$(status \"[.resolved.state, .resolved.servers]\")\" = \"[\\\"registered\\\",[\\\"127.0.0.153:53\\\"]]\" ]' && \
	 [ \"\$(link_dns)\" = 127.0.0.153 ]"
check "and h2.mesh resolves through it" \
	"[ \"\$(on_host dig +short +time=2 @127.0.0.53 h2.mesh A)\" = ${v4[2]} ]"
stop_meshnamed
check "meshnamed (listen-mesh no) exits 0 and reverts" "[ $daemon_rc -eq 0 ] && [ -z \"\$(link_dns)\" ]"

check "no sanitizer report in meshnamed's logs" "! grep -q 'Sanitizer' '$tmp'/meshnamed-*.log"
check "the machine's /etc/resolv.conf was not touched" \
	"[ \"\$(sha256sum /etc/resolv.conf 2>/dev/null | cut -d' ' -f1)\" = '$resolv_sum' ]"

[ "$failed" -ne 0 ] && show_logs
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
