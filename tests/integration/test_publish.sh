#!/usr/bin/env bash
# meshnamed publishes this host's ENDPOINTS record by itself: one simulated host in a
# network namespace (manage no: no WireGuard needed, the listen port comes from the
# config) with addresses on a veth, a "mesh interface" whose addresses must never be
# published, a configured `endpoint NAME:PORT` resolved by an unbound on the namespace's
# loopback, a name that does not resolve, a lan-prefix, and an endpoint pinned by hand.
# Checks what `meshname endpoint ls` and the status JSON show, that an address added or
# removed (or a link going down) is republished within seconds, that `meshname endpoint
# add|rm` goes through the daemon, that another host sees the record after export/import,
# and that a killed and restarted daemon publishes nothing when nothing changed.
# Only documentation prefixes, only inside the namespace; everything stopped by PID.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
MESHNAME=$PWD/$BUILD/meshname
MESHNAMED=$PWD/$BUILD/meshnamed
passed=0
failed=0
tmp=$(mktemp -d)
tag=$$
ns=mnp-h1-$tag
mesh_if=$(printf 'wgp%s' "$tag" | cut -c1-15)
daemon_pid=
unbound_pid=

cleanup() {
	[ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	[ -n "$unbound_pid" ] && kill -TERM "$unbound_pid" 2>/dev/null && wait "$unbound_pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "/etc/netns/$ns"
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
bail() {
	not_ok "$1"
	[ -f "$tmp/log" ] && sed 's/^/# meshnamed: /' "$tmp/log"
	echo "$passed passed, $failed failed"
	exit 1
}
# eventually SECONDS COMMAND: retries COMMAND every 0.2 s.
eventually() {
	local i
	for i in $(seq $(($1 * 5))); do
		eval "$2" && return 0
		sleep 0.2
	done
	return 1
}
in_ns() { ip netns exec "$ns" "$@"; }
mn() { "$MESHNAME" --state "$tmp/s1" --control "$tmp/control.sock" "$@"; }
mn2() { "$MESHNAME" --state "$tmp/s2" --control "$tmp/none.sock" "$@"; }
# has ADDR PORT KIND: this host's published record lists it (read from the registry).
has() {
	mn endpoint ls --json | jq -e --arg a "$1" --argjson p "$2" --arg k "$3" \
		'any(.endpoints[]; .address == $a and .port == $p and .kind == $k)' >/dev/null
}
hasnt() {
	mn endpoint ls --json | jq -e --arg a "$1" \
		'all(.endpoints[]; .address != $a)' >/dev/null
}
status() { in_ns socat -t 5 - "UNIX-CONNECT:$tmp/control.sock" <<<"status"; }
start_daemon() {
	ip netns exec "$ns" "$MESHNAMED" -d -f "$tmp/conf" 2>"$tmp/log" &
	daemon_pid=$!
	eventually 10 "grep -q ': ready$' '$tmp/log'" || bail "meshnamed starts"
}

for tool in ip jq socat unbound dig; do
	command -v "$tool" >/dev/null || bail "$tool is missing (tests/deps.sh test installs it)"
done
[ "$(id -u)" -eq 0 ] || bail "network namespaces need root"

# ---- the registry: h1 (admin) and h2, which only reads what h1 publishes -------------------
mn init --name t --host h1 --ipv4 100.70.0.0/16 --ipv6 fd4d:6e00:1::/48 >/dev/null ||
	bail "meshname init"
inv=$(mn add h2 2>/dev/null) || bail "meshname add h2"
mn2 join "$inv" >/dev/null || bail "meshname join h2"
# By hand, before any daemon runs: the CLI publishes it itself.
check "endpoint add works without a daemon" \
	"mn endpoint add 192.0.2.99:51999 --kind public | grep -q '^published 192.0.2.99:51999 (public)'"
check "and keeps it in the pinned list of the state directory" \
	"grep -q '^public 192.0.2.99 51999$' '$tmp/s1/endpoints.pinned'"

# ---- the host: a LAN interface, a mesh interface, a name server on loopback ---------------
ip netns add "$ns" || bail "ip netns add"
in_ns ip link set lo up
in_ns ip link add eth0 type veth peer name eth0p
in_ns ip link add "$mesh_if" type veth peer name "${mesh_if}p"
in_ns ip link set eth0p up
in_ns ip link set "${mesh_if}p" up
in_ns ip addr add 192.0.2.10/24 dev eth0
in_ns ip addr add 198.51.100.10/24 dev eth0
in_ns ip addr add 2001:db8:1::10/64 dev eth0 nodad
in_ns ip link set eth0 up
# The mesh interface: its mesh address and even a documentation address stay unpublished.
in_ns ip addr add 100.70.0.1/32 dev "$mesh_if"
in_ns ip addr add 203.0.113.50/32 dev "$mesh_if"
in_ns ip link set "$mesh_if" up
mkdir -p "/etc/netns/$ns"
echo "nameserver 127.0.0.1" >"/etc/netns/$ns/resolv.conf"
cat >"$tmp/unbound.conf" <<EOF
server:
  interface: 127.0.0.1@53
  do-daemonize: no
  use-syslog: no
  logfile: ""
  username: ""
  chroot: ""
  directory: "$tmp"
  pidfile: ""
  num-threads: 1
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  local-zone: "test." nodefault
  local-zone: "example.test." static
  local-data: "example.test. 300 IN SOA ns.example.test. host.example.test. 1 3600 600 86400 60"
  local-data: "gw.example.test. 300 IN A 203.0.113.7"
remote-control:
  control-enable: no
EOF
ip netns exec "$ns" unbound -d -c "$tmp/unbound.conf" >"$tmp/unbound.log" 2>&1 &
unbound_pid=$!
eventually 5 "in_ns dig @127.0.0.1 +time=1 +tries=1 +short gw.example.test | grep -q 203.0.113.7" ||
	bail "unbound serves gw.example.test in the namespace"

cat >"$tmp/conf" <<EOF
state $tmp/s1
control $tmp/control.sock
listen 127.0.0.153:53
forward no
interface $mesh_if
manage no
listen-port 51830
endpoint gw.example.test:4500
endpoint nx.example.test:4501
lan-prefix 198.51.100.0/24
EOF
check "meshnamed -n prints the new keywords" \
	"'$MESHNAMED' -n -f '$tmp/conf' | grep -qx 'lan-prefix 198.51.100.0/24' && \
	 '$MESHNAMED' -n -f '$tmp/conf' | grep -qx 'publish-endpoints yes'"
start_daemon
check "meshnamed publishes on its own within 5 s" \
	"eventually 5 'grep -q \"published .* endpoints on listen port 51830\" \"$tmp/log\"'"
check "once: it waits for the configured names before the first record" \
	"sleep 1; [ \"\$(grep -c 'published .* on listen port' '$tmp/log')\" = 1 ]"
check "the listen port is the configured one" \
	"[ \"\$(mn endpoint ls --json | jq .listen_port)\" = 51830 ]"
check "a documentation IPv4 address of eth0 is public" "has 192.0.2.10 51830 public"
check "an address in a lan-prefix is lan" "has 198.51.100.10 51830 lan"
check "a global IPv6 address is ipv6" "has 2001:db8:1::10 51830 ipv6"
check "the configured name is resolved through the namespace's name server" \
	"eventually 5 'has 203.0.113.7 4500 public'"
check "the endpoint added by hand stays published" "has 192.0.2.99 51999 public"
check "nothing of the mesh interface, loopback or link-local" \
	"hasnt 100.70.0.1 && hasnt 203.0.113.50 && hasnt 127.0.0.1 && hasnt ::1 && \
	 ! mn endpoint ls --json | jq -e 'any(.endpoints[]; .address | startswith(\"fe80\"))' >/dev/null"
check "exactly those five endpoints" "[ \"\$(mn endpoint ls --json | jq '.endpoints | length')\" = 5 ]"
check "a name that does not resolve is said once" \
	"[ \"\$(grep -c 'cannot resolve nx.example.test' '$tmp/log')\" = 1 ]"
status >"$tmp/status.json"
check "status JSON: endpoints with their sources" \
	"jq -e '.endpoints.publishing and .endpoints.member and
		(.endpoints.published | map(select(.source == \"interface\")) | length) == 3 and
		any(.endpoints.published[]; .address == \"203.0.113.7\" and .source == \"config\") and
		any(.endpoints.published[]; .address == \"192.0.2.99\" and .source == \"pinned\")' \
		'$tmp/status.json' >/dev/null"
check "status JSON: the unresolved name, no error, seq and expiry" \
	"jq -e '.endpoints.unresolved == [\"nx.example.test\"] and .endpoints.error == null and
		.endpoints.seq > 1 and .endpoints.expires > .endpoints.seq' '$tmp/status.json' >/dev/null"

# ---- changes are republished within seconds -------------------------------------------------
n_pub() { grep -c 'published .* endpoints\? on listen port' "$tmp/log"; }
before=$(n_pub)
t0=$(date +%s%N)
in_ns ip addr add 192.0.2.11/24 dev eth0
if eventually 3 "has 192.0.2.11 51830 public"; then
	ok "an address added to eth0 is published within $((($(date +%s%N) - t0) / 1000000)) ms"
else
	not_ok "an address added to eth0 is published within 3 s"
fi
in_ns ip addr del 192.0.2.11/24 dev eth0
check "a removed address is unpublished within 3 s" "eventually 3 'hasnt 192.0.2.11'"
check "one publish per change (two changes, two records)" \
	"sleep 1.5; [ \$(n_pub) -eq \$((before + 2)) ]"
in_ns ip link set eth0 down
check "a link going down takes its addresses out" \
	"eventually 3 'hasnt 192.0.2.10 && hasnt 2001:db8:1::10 && hasnt 198.51.100.10'"
check "and the others stay" "has 203.0.113.7 4500 public && has 192.0.2.99 51999 public"
in_ns ip link set eth0 up
# (the kernel drops IPv6 addresses on link down: only the IPv4 ones come back)
check "and up again brings them back" \
	"eventually 3 'has 192.0.2.10 51830 public && has 198.51.100.10 51830 lan'"

# ---- meshname endpoint with the daemon running ------------------------------------------------
check "endpoint add goes through meshnamed" \
	"mn endpoint add 192.0.2.98:51998 --kind public | grep -q 'published by meshnamed'"
check "and is published next to the found ones" \
	"has 192.0.2.98 51998 public && has 192.0.2.10 51830 public"
check "endpoint rm of it removes it" \
	"mn endpoint rm 192.0.2.98:51998 >/dev/null && hasnt 192.0.2.98"
out=$(mn endpoint rm 192.0.2.10:51830 2>&1)
rc=$?
check "endpoint rm of a found address fails and says why" \
	"[ $rc = 1 ] && grep -q 'meshnamed publishes it because it found it' <<<\"\$out\" && has 192.0.2.10 51830 public"

# ---- another host sees the record -------------------------------------------------------------
mn export -o "$tmp/bundle" && mn2 import "$tmp/bundle" >/dev/null
check "h2 sees h1's published endpoints after export/import" \
	"[ \"\$(mn2 show h1 --json | jq -c '[.endpoints[] | .address] | sort')\" = \
	   \"\$(mn endpoint ls --json | jq -c '[.endpoints[] | .address] | sort')\" ] && \
	 [ \"\$(mn2 show h1 --json | jq .listen_port)\" = 51830 ]"

# ---- a killed daemon, restarted, publishes nothing new ------------------------------------------
sleep 1.2 # past the debounce of the last change
seq1=$(status | jq .endpoints.seq)
records1=$(status | jq .records)
kill -KILL "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
daemon_pid=
start_daemon
sleep 3
check "after kill -9 and a restart, nothing changed: same seq, no new record, nothing logged" \
	"[ \"\$(status | jq .endpoints.seq)\" = '$seq1' ] && [ \"\$(status | jq .records)\" = '$records1' ] && \
	 ! grep -q 'published .* on listen port' '$tmp/log'"

# ---- publish-endpoints no: a reload stops publishing, the CLI works alone again ---------------
echo "publish-endpoints no" >>"$tmp/conf"
kill -HUP "$daemon_pid"
check "after a reload with publish-endpoints no, status says it does not publish" \
	"eventually 3 '[ \"\$(status | jq .endpoints.publishing)\" = false ]'"
check "and endpoint add publishes by itself" \
	"mn endpoint add 192.0.2.97:51997 --kind public | grep -qv 'published by meshnamed' && \
	 has 192.0.2.97 51997 public"

kill -TERM "$daemon_pid"
wait "$daemon_pid"
rc=$?
daemon_pid=
check "meshnamed exits 0 on SIGTERM" "[ $rc = 0 ]"
check "no sanitizer report in the daemon's log" "! grep -q 'Sanitizer' '$tmp/log'"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
