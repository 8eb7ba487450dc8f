#!/usr/bin/env bash
# The start of meshnamed: a real process on a real registry. It publishes the
# registry's hosts, picks up a change on SIGHUP, refuses a missing registry with a
# clear message, warns in its log when this host's certificate nears its end or lapses, and
# exits 0 on SIGTERM (under ASan that also means no leaks).
set -u
BUILD=${BUILD:-build}
MESHNAME=$BUILD/meshname
MESHNAMED=$BUILD/meshnamed
passed=0
failed=0
pid=
pid_pi=

tmp=$(mktemp -d)
cleanup() {
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -n "$pid_pi" ] && kill -TERM "$pid_pi" 2>/dev/null && wait "$pid_pi" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

# Waits up to 5 s for a line matching $2 in file $1.
wait_for_line() {
	local i
	for i in $(seq 50); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

for bin in "$MESHNAME" "$MESHNAMED"; do
	if [ ! -x "$bin" ]; then
		echo "not ok - $bin is not built"
		echo "0 passed, 1 failed"
		exit 1
	fi
done

admin=$tmp/admin
"$MESHNAME" --state "$admin" init --name demo --host admin >/dev/null 2>"$tmp/init.err"
check "meshname init makes a registry" "[ -f '$admin/registry.db' ]"

# Its own listener and control socket: nothing here may touch the machine's port 53.
cat >"$tmp/meshnamed.conf" <<CONF
state $admin
control $tmp/control.sock
listen 127.0.0.153:5391
listen-mesh no
manage no
sync no # no sync port or LAN beacons from the machine's own namespace
upstream 127.0.0.1:9 # discard port: nothing is forwarded in this test
CONF
"$MESHNAMED" -d -f "$tmp/meshnamed.conf" 2>"$tmp/log" &
pid=$!
check "meshnamed starts and says it is ready" "wait_for_line '$tmp/log' 'ready'"
check "meshnamed publishes the one host of a new mesh" "grep -q 'mesh demo (zone mesh): 1 active hosts' '$tmp/log'"

# A host added by the CLI while the daemon runs shows up after SIGHUP.
laptop=$tmp/laptop
"$MESHNAME" --state "$admin" add laptop -o "$tmp/invite" >/dev/null 2>&1
"$MESHNAME" --state "$laptop" join "$tmp/invite" >/dev/null 2>&1
"$MESHNAME" --state "$laptop" export -o "$tmp/bundle" >/dev/null 2>&1
"$MESHNAME" --state "$admin" import "$tmp/bundle" >/dev/null 2>&1
kill -HUP "$pid"
check "SIGHUP publishes the host that joined" "wait_for_line '$tmp/log' '2 active hosts'"

# USERS.md: keys that expire silently cut headless machines off. meshnamed's log says it
# when this host's certificate comes within 30 days of its end, when it lapses and when it
# is valid again; the daemon sees each change within its 200 ms registry check.
"$MESHNAME" --state "$admin" renew admin --expires 10 >/dev/null 2>&1
check "a certificate that ends in 10 days: the log warns, with the date and what to run" \
	"wait_for_line '$tmp/log' 'certificate (admin) expires on $(date -u -d '+10 days' +%F), in 1\?[09] days: renew it' &&
	 grep -q 'an admin runs .meshname renew admin.' '$tmp/log'"
# pi is admitted to a mesh of its own, all made with the CLI's clock a day back, with a
# one-day certificate: it ends 4 s from now, while pi's own meshnamed runs.
pi=$tmp/pi
admin2=$tmp/admin2
(
	export MESHNAME_NOW=$(($(date +%s) - 86400 + 4))
	"$MESHNAME" --state "$admin2" init --name lab --host root &&
		"$MESHNAME" --state "$admin2" add pi --expires 1 -o "$tmp/invite-pi" &&
		"$MESHNAME" --state "$pi" join "$tmp/invite-pi" &&
		"$MESHNAME" --state "$pi" export -o "$tmp/bundle-pi" &&
		"$MESHNAME" --state "$admin2" import "$tmp/bundle-pi"
) >"$tmp/pi-setup.log" 2>&1 || cat "$tmp/pi-setup.log"
sed -e "s|^state .*|state $pi|" -e "s|^control .*|control $tmp/control-pi.sock|" \
	-e "s|^listen 127.0.0.153:5391|listen 127.0.0.153:5392|" "$tmp/meshnamed.conf" >"$tmp/pi.conf"
"$MESHNAMED" -d -f "$tmp/pi.conf" 2>"$tmp/pi.log" &
pid_pi=$!
check "pi's meshnamed warns at start: its certificate expires today" \
	"wait_for_line '$tmp/pi.log' 'certificate (pi) expires on .*, in 0 days: renew it'"
sleep 4
check "when it lapses, the log says it expired and what that means" \
	"wait_for_line '$tmp/pi.log' 'certificate (pi) expired on .*: the mesh no longer resolves or reaches this host'"
check "and its status (from meshnamed) says expired, with the date" \
	"\"$MESHNAME\" --state '$pi' --control '$tmp/control-pi.sock' status --json |
	 jq -e '.host.certificate == \"expired\" and .host.not_after > 0' >/dev/null"
"$MESHNAME" --state "$pi" --control "$tmp/control-pi.sock" status >"$tmp/pi-status" 2>&1
rc=$?
check "meshname status says so (pi.mesh  certificate EXPIRED on DATE) and exits 1" \
	"[ $rc -eq 1 ] && grep -q '^this host: *pi.mesh  certificate EXPIRED on 20' '$tmp/pi-status' &&
	 grep -q 'meshname renew pi' '$tmp/pi-status'"
# No sync here: a bundle carried pi's certificate to its admin, one carries the renewal back.
"$MESHNAME" --state "$admin2" renew pi >"$tmp/renew-pi.log" 2>&1 || cat "$tmp/renew-pi.log"
"$MESHNAME" --state "$admin2" export -o "$tmp/bundle-pi" >/dev/null 2>&1
"$MESHNAME" --state "$pi" import "$tmp/bundle-pi" >"$tmp/import-pi.log" 2>&1 || cat "$tmp/import-pi.log"
check "renewed (a bundle from the admin): the log says it is valid again" \
	"wait_for_line '$tmp/pi.log' 'certificate (pi) is valid until'"
check "each was said once (daily at most, not at every 60 s view refresh)" \
	"[ \$(grep -c 'certificate (pi) expires on' '$tmp/pi.log') -eq 1 ] &&
	 [ \$(grep -c 'certificate (pi) expired on' '$tmp/pi.log') -eq 1 ]"
kill -TERM "$pid_pi"
wait "$pid_pi"
check "pi's meshnamed exits 0" "[ $? -eq 0 ]"

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
check "SIGTERM ends meshnamed with status 0 (and no leaks under ASan)" "[ $rc -eq 0 ]"

"$MESHNAMED" -d -f "$tmp/meshnamed.conf" -s "$tmp/nowhere" 2>"$tmp/missing.log"
rc=$?
check "meshnamed without a registry exits non-zero" "[ $rc -ne 0 ]"
check "and says to run meshname init or join" "grep -q 'meshname init' '$tmp/missing.log'"

# A listener that cannot be bound is an error at start, not a silent half-daemon.
"$MESHNAMED" -d -f "$tmp/meshnamed.conf" 2>"$tmp/first.log" &
pid=$!
wait_for_line "$tmp/first.log" ready
sed "s|^control .*|control $tmp/control2.sock|" "$tmp/meshnamed.conf" >"$tmp/second.conf"
"$MESHNAMED" -d -f "$tmp/second.conf" 2>"$tmp/second.log"
rc=$?
check "a second meshnamed on a taken port exits non-zero" "[ $rc -ne 0 ]"
check "and names the address it could not bind" \
	"grep -q 'cannot listen on 127.0.0.153:5391 (udp): Address already in use' '$tmp/second.log'"
kill -TERM "$pid"
wait "$pid"
pid=

"$MESHNAMED" -n -f "$tmp/meshnamed.conf" >"$tmp/effective.conf"
rc=$?
check "meshnamed -n prints the effective configuration" \
	"[ $rc -eq 0 ] && grep -q '^listen 127.0.0.153:5391' '$tmp/effective.conf'"
echo "listen nowhere" >>"$tmp/meshnamed.conf"
"$MESHNAMED" -n -f "$tmp/meshnamed.conf" >/dev/null 2>"$tmp/bad.log"
rc=$?
check "meshnamed -n refuses a broken line with file:line" \
	"[ $rc -ne 0 ] && grep -q 'meshnamed.conf:8: listen' '$tmp/bad.log'"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
