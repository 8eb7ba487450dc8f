#!/usr/bin/env bash
# listen-mesh: meshnamed answers on this host's mesh addresses (port 53) as soon as an
# interface holds them, and lets go of them when they leave: a simulated host in its own
# network namespace, a veth interface standing in for WireGuard, dig as the client.
# Only documentation prefixes, only inside the namespace.
set -u
BUILD=${BUILD:-build}
MESHNAME=$BUILD/meshname
MESHNAMED=$BUILD/meshnamed
passed=0
failed=0
pid=
ns=mn-listen-$$
tmp=$(mktemp -d)

cleanup() {
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
in_ns() { ip netns exec "$ns" "$@"; }
# Retries a check for up to 5 s: the daemon looks at local addresses every 2 s.
eventually() {
	local i
	for i in $(seq 50); do
		eval "$1" && return 0
		sleep 0.1
	done
	return 1
}

for tool in ip dig jq; do
	if ! command -v "$tool" >/dev/null; then
		echo "not ok - $tool is missing (tests/deps.sh test installs it)"
		echo "0 passed, 1 failed"
		exit 1
	fi
done

"$MESHNAME" --state "$tmp/a" init --name t --host admin --ipv4 198.51.100.0/24 \
	--ipv6 2001:db8:7::/48 >/dev/null
v4=$("$MESHNAME" --state "$tmp/a" show admin --json | jq -r .ipv4)
v6=$("$MESHNAME" --state "$tmp/a" show admin --json | jq -r .ipv6)
cat >"$tmp/meshnamed.conf" <<CONF
state $tmp/a
control $tmp/control.sock
listen 127.0.0.153:5399
listen-mesh yes
manage no
forward no
CONF

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add mesh0 type veth peer name mesh0-peer # no dummy module here
ip -n "$ns" link set mesh0 up
ip -n "$ns" link set mesh0-peer up

# Not through in_ns: $! must be meshnamed itself (ip netns exec execs it in place).
ip netns exec "$ns" "$MESHNAMED" -d -f "$tmp/meshnamed.conf" 2>"$tmp/log" &
pid=$!
check "meshnamed starts in the namespace" "eventually \"grep -q ': ready$' '$tmp/log'\""
status() { in_ns "$MESHNAME" --state "$tmp/a" --control "$tmp/control.sock" status --json; }
check "with no mesh address yet, it listens only where configured" \
	"[ \"\$(status | jq '[.listeners[] | select(.error == null or .error == \"\")] | length')\" -eq 2 ]"

ip -n "$ns" addr add "$v4/32" dev mesh0
ip -n "$ns" addr add "$v6/128" dev mesh0 nodad
check "once the interface has the mesh IPv4, dig @$v4 (port 53) gets the answer" \
	"eventually \"[ \\\"\\\$(in_ns dig +short +time=1 +tries=1 @$v4 admin.mesh A)\\\" = '$v4' ]\""
check "and over the mesh IPv6 too" \
	"eventually \"[ \\\"\\\$(in_ns dig +short +time=1 +tries=1 @$v6 admin.mesh AAAA)\\\" = '$v6' ]\""
check "and over TCP" "[ \"\$(in_ns dig +short +tcp +time=1 @$v4 admin.mesh A)\" = '$v4' ]"
check "status lists the mesh listeners as bound" \
	"status | jq -e '[.listeners[] | select(.address == \"$v4:53\")] | length == 2' >/dev/null"

ip -n "$ns" addr del "$v4/32" dev mesh0
ip -n "$ns" addr del "$v6/128" dev mesh0
check "when the addresses go away, so do their listeners" \
	"eventually \"[ \\\"\\\$(status | jq '.listeners | length')\\\" -eq 2 ]\""
check "and meshnamed keeps answering where configured" \
	"[ \"\$(in_ns dig +short +time=1 @127.0.0.153 -p 5399 admin.mesh A)\" = '$v4' ]"

# An IPv6 address is tentative for about a second (duplicate address detection): a bind
# in that second fails, and meshnamed must try again rather than give up on it.
# Detection made to last 4 s here, so that meshnamed's 2 s check surely meets it.
in_ns sysctl -qw net.ipv6.neigh.mesh0.retrans_time_ms=4000
ip -n "$ns" addr add "$v6/128" dev mesh0
check "the new mesh IPv6 is tentative at first" \
	"ip -n '$ns' -6 addr show dev mesh0 tentative | grep -q '$v6'"
v6_answers() { [ "$(in_ns dig +short +time=1 +tries=1 "@$v6" admin.mesh AAAA)" = "$v6" ]; }
check "a tentative mesh IPv6 is listened on once it is valid (dig @$v6 answers)" \
	"eventually v6_answers || eventually v6_answers"
check "the failed bind of the tentative address was logged once, not every 2 s" \
	"[ \"\$(grep -c 'cannot listen on \\[$v6\\]:53 (udp)' '$tmp/log')\" -le 1 ]"
check "meshnamed is still running" "kill -0 $pid"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
