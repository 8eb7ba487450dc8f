#!/bin/sh
# tests/kernel/vm-test.sh: runs inside the test VM as /test/run.sh (busybox sh, PID 1's
# child). Two hosts in network namespaces joined by a veth (192.0.2.1, 192.0.2.2), each
# running meshnamed with `manage yes` and no userspace WireGuard: meshnamed itself must
# create kernel interfaces over rtnetlink and set their peers over generic netlink.
# Prints one "PASS: ..." or "FAIL: ..." line per check and "TESTS-DONE" at the end, which
# tests/integration/test_kernel_wg.sh reads from the console. /test/env comes from there.
. /test/env
# Debian's static busybox runs its own applets before PATH (SH_STANDALONE): iproute2's ip
# (netns, veth, -d link) by its path.
ip() { "$IP" "$@"; }

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; failed=1; }
check() { if eval "$2"; then pass "$1"; else fail "$1"; fi; }
# eventually SECONDS COMMAND: retries every 0.2 s.
eventually() {
	i=0
	while [ "$i" -lt $(($1 * 5)) ]; do
		eval "$2" && return 0
		usleep 200000
		i=$((i + 1))
	done
	return 1
}
in_ns() {
	h=$1
	shift
	ip netns exec "mnk-h$h" "$@"
}
peers() { in_ns "$1" wg show "wgk$1" allowed-ips | sort; }
dump_logs() {
	for h in 1 2; do sed "s/^/# h$h: /" "/mesh/log$h" 2>/dev/null; done
}
bail() {
	fail "$1"
	dump_logs
	echo "TESTS-DONE"
	exit 1
}
failed=0

check "the kernel has the wireguard genetlink family after insmod" \
	"grep -q wireguard /proc/modules"
for h in 1 2; do
	ip netns add "mnk-h$h" || bail "ip netns add mnk-h$h"
	ip -n "mnk-h$h" link set lo up
done
ip -n mnk-h1 link add eth0 type veth peer name eth0 netns mnk-h2 || bail "veth between the hosts"
for h in 1 2; do
	ip -n "mnk-h$h" addr add "192.0.2.$h/24" dev eth0
	ip -n "mnk-h$h" link set eth0 up
done
check "h1 reaches h2 over the veth" "eventually 5 'in_ns 1 ping -c1 -W1 192.0.2.2 >/dev/null'"

for h in 1 2; do
	# "$IP", not the function: $! must be meshnamed itself (ip netns exec execs it).
	"$IP" netns exec "mnk-h$h" "$MESHNAMED" -d -f "/mesh/conf$h" 2>"/mesh/log$h" &
	eval "pid$h=\$!"
done
for h in 1 2; do
	eventually 20 "grep -q ': ready$' /mesh/log$h" || bail "meshnamed starts on h$h"
done
pass "meshnamed runs on both hosts"

for h in 1 2; do
	check "h$h: meshnamed created wgk$h, a link of kind wireguard" \
		"eventually 10 'in_ns $h ip -d link show wgk$h 2>/dev/null | grep -qw wireguard'"
	check "h$h: it says it created a kernel interface" \
		"grep -q 'wgk$h: created a kernel WireGuard interface' /mesh/log$h"
	check "h$h: the peers and allowed IPs are the registry's (over genetlink)" \
		"eventually 10 '[ \"\$(peers $h)\" = \"\$(cat /test/peers$h)\" ]'"
	eval "pub=\$PUB$h v4=\$V4_$h v6=\$V6_$h"
	check "h$h: the interface has this host's key and listen port 5182$h" \
		"[ \"\$(in_ns $h wg show wgk$h public-key)\" = '$pub' ] && \
		 [ \"\$(in_ns $h wg show wgk$h listen-port)\" = 5182$h ]"
	check "h$h: the mesh addresses, prefix routes and link up (over rtnetlink)" \
		"eventually 5 'in_ns $h ip -4 addr show dev wgk$h | grep -q \"inet $v4/32\"' && \
		 in_ns $h ip -6 addr show dev wgk$h | grep -q 'inet6 $v6/128' && \
		 in_ns $h ip -4 route show dev wgk$h | grep -q '^$PREFIX4' && \
		 in_ns $h ip -6 route show dev wgk$h | grep -q '^$PREFIX6' && \
		 in_ns $h ip link show wgk$h | grep -q ',UP'"
done
check "h1 -> h2: ping $V4_2 through the kernel tunnel" \
	"eventually 10 'in_ns 1 ping -c1 -W1 $V4_2 >/dev/null'"
check "h2 -> h1: ping -6 $V6_1 through the kernel tunnel" \
	"eventually 10 'in_ns 2 ping -6 -c1 -W1 $V6_1 >/dev/null'"
check "h1's kernel saw a handshake with h2 and bytes from it" \
	"[ \"\$(in_ns 1 wg show wgk1 latest-handshakes | grep '$PUB2' | cut -f2)\" -gt 0 ] && \
	 [ \"\$(in_ns 1 wg show wgk1 transfer | grep '$PUB2' | cut -f2)\" -gt 0 ]"
check "meshname status on h1 says wgk1 (kernel)" \
	"eventually 3 '$MESHNAME --state /mesh/s1 --control /mesh/control1.sock status >/mesh/status1 2>&1 && grep -q \"wgk1 (kernel)\" /mesh/status1'"
sed 's/^/# status h1: /' /mesh/status1

# More peers than one message holds (a split set, a dump over several messages) and the
# errors, with our codec against this kernel, in a namespace of its own.
ip netns add mnk-nl && ip -n mnk-nl link set lo up
ip netns exec mnk-nl /test/nl_check wgk9 1000 || fail "nl_check with 1000 peers exits 0"
ip netns exec mnk-nl /test/nl_check wgk8 1 --hex >/mesh/nl_check1 2>&1 ||
	fail "nl_check with 1 peer exits 0"
grep '^HEX:' /mesh/nl_check1

# Revoke h3 (in the registry, never running): it leaves both kernels' peer lists.
"$MESHNAME" --state /mesh/s1 revoke h3 >/dev/null || bail "meshname revoke h3"
"$MESHNAME" --state /mesh/s1 export -o /mesh/b1r && "$MESHNAME" --state /mesh/s2 import /mesh/b1r >/dev/null ||
	bail "revocation bundle h1 -> h2"
for h in 1 2; do
	check "h$h: the revoked h3 disappears from the kernel's peers" \
		"eventually 10 '! peers $h | grep -q \"$PUB3\"'"
	check "h$h: and only the other host is left" \
		"[ \"\$(peers $h)\" = \"\$(cat /test/peers$h.revoked)\" ]"
done
check "h1 -> h2 still works after the revocation" "in_ns 1 ping -c1 -W2 $V4_2 >/dev/null"

# on-exit remove: meshnamed deletes the kernel interface it made.
for h in 1 2; do
	eval "pid=\$pid$h"
	kill -TERM "$pid"
	wait "$pid"
	check "h$h: meshnamed exits 0 on SIGTERM" "[ $? -eq 0 ]"
	check "h$h: on-exit remove deleted wgk$h" "! in_ns $h ip link show wgk$h >/dev/null 2>&1"
done
check "no sanitizer report in the logs" "! grep -q Sanitizer /mesh/log1 /mesh/log2"
[ "$failed" -eq 0 ] || dump_logs
echo "TESTS-DONE"
