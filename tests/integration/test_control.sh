#!/usr/bin/env bash
# meshnamed's control socket with real processes: `meshname status` and `ls` through a
# running daemon (also for a user who cannot read the state directory), privileged verbs
# refused to others and allowed to the control group, the fallback to the local registry
# when no daemon (or a broken one) answers, a stale socket after SIGKILL, and a second
# daemon on the same socket refused. Everything started here is stopped by PID.
set -u
BUILD=${BUILD:-build}
MESHNAME=$(realpath -m "$BUILD/meshname")
MESHNAMED=$(realpath -m "$BUILD/meshnamed")
PYTHON=/usr/bin/python3 # not a shim under /root: nobody runs it too
passed=0
failed=0
pids=()

tmp=$(mktemp -d)
chmod 0755 "$tmp" # nobody must reach the socket in $tmp/run (not the state: it is 0700)
cleanup() {
	exec 2>/dev/null
	local p
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

for bin in "$MESHNAME" "$MESHNAMED" "$PYTHON" /usr/bin/jq /usr/bin/setpriv; do
	if [ ! -x "$bin" ]; then
		not_ok "$bin is missing (build it, or run tests/deps.sh test)"
		finish
	fi
done
if [ "$(id -u)" -ne 0 ]; then
	not_ok "this test runs as root (it switches to nobody with setpriv)"
	finish
fi

sock=$tmp/run/control.sock
state=$tmp/state
M=("$MESHNAME" --state "$state" --control "$sock")
NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

# ask SOCKET REQUEST: the raw reply of one request, as the protocol has it.
ask() {
	"$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode())
' "$@"
}

# Waits up to 5 s for a socket that answers status.
wait_for_daemon() {
	local i
	for i in $(seq 50); do
		ask "$1" status 2>/dev/null | grep -q '"daemon":"running"' && return 0
		sleep 0.1
	done
	return 1
}

# start_daemon CONFIG LOG: starts meshnamed, sets $pid.
start_daemon() {
	"$MESHNAMED" -d -f "$1" 2>"$2" &
	pid=$!
	pids+=("$pid")
}

# A loopback address and port of our own, so that parallel runs do not collide.
addr=127.0.0.$((RANDOM % 200 + 20))
port=$((RANDOM % 20000 + 20000))
write_config() { # FILE [GROUP [PORT]]
	{
		echo "state $state"
		echo "control $sock"
		echo "listen $addr:${3:-$port}"
		echo "listen-mesh no"
		echo "forward no"
		echo "manage no"
		echo "sync no # no sync port or LAN beacons from the machine's own namespace"
		[ -n "${2:-}" ] && echo "control-group $2"
	} >"$1"
}

"${M[@]}" init --name demo --host admin >/dev/null 2>"$tmp/init.err"
check "meshname init makes a registry" "[ -f '$state/registry.db' ]"
# One clock for every meshname run below, so that "in N days" cannot change mid-test.
export MESHNAME_NOW=$(($(date +%s) + 60))
offline_ls=$("$MESHNAME" --state "$state" --control "$tmp/none.sock" ls)
offline_json=$("$MESHNAME" --state "$state" --control "$tmp/none.sock" ls --json)

write_config "$tmp/a.conf"
start_daemon "$tmp/a.conf" "$tmp/a.log"
first=$pid
if ! wait_for_daemon "$sock"; then
	not_ok "meshnamed answers on its control socket (log: $(tr '\n' ' ' <"$tmp/a.log"))"
	finish
fi
ok "meshnamed answers on its control socket"
check "the socket is mode 0666 in a directory made for it" \
	"[ \"\$(stat -c %a '$sock')\" = 666 ] && [ \"\$(stat -c %a '$tmp/run')\" = 755 ]"

out=$("${M[@]}" status 2>&1)
rc=$?
check "status says the daemon runs, with its pid" \
	"[ $rc -eq 0 ] && grep -q '^daemon: *running (pid $first,' <<<\"\$out\""
check "status shows the UDP and TCP listeners as bound" \
	"grep -Eq '^  $addr:$port +udp +bound$' <<<\"\$out\" && grep -Eq '^  $addr:$port +tcp +bound$' <<<\"\$out\""
check "status shows this host and the resolver counters" \
	"grep -q '^this host: *admin.mesh' <<<\"\$out\" && grep -q '^resolver: .* queries' <<<\"\$out\""
check "bare meshname is status" \
	"\"\${M[@]}\" 2>&1 | grep -q '^daemon: *running (pid $first,'"

json=$("${M[@]}" status --json)
check "status --json is the daemon's JSON: running, 1 host, bound listeners" \
	"jq -e '.daemon == \"running\" and .pid == $first and .hosts == 1 and (.listeners | length) == 2 and all(.listeners[]; .bound) and .host.name == \"admin\"' <<<\"\$json\" >/dev/null"
check "ls through the daemon prints exactly what the local registry prints" \
	"[ \"\$(\"\${M[@]}\" ls)\" = \"\$offline_ls\" ]"
check "ls --json through the daemon too" \
	"[ \"\$(\"\${M[@]}\" ls --json)\" = \"\$offline_json\" ]"

# nobody cannot read the state directory: only the daemon can tell it anything.
out=$("${NOBODY[@]}" "${M[@]}" status 2>&1)
rc=$?
check "nobody can run status through the daemon" \
	"[ $rc -eq 0 ] && grep -q '^daemon: *running' <<<\"\$out\""
check "nobody can list the hosts through the daemon" \
	"\"\${NOBODY[@]}\" \"\${M[@]}\" ls 2>&1 | grep -q '^\* admin '"
out=$("${NOBODY[@]}" "$PYTHON" -c 'import os; print(os.getuid())')
reply=$("${NOBODY[@]}" bash -c "$(declare -f ask); PYTHON=$PYTHON; ask '$sock' reload")
check "nobody gets permission denied for reload" \
	"grep -q '^{\"error\":\"permission denied: reload needs root (you are uid $out)\"}$' <<<\"\$reply\""
reply=$(ask "$sock" reload)
check "root may reload, and the daemon keeps answering" \
	"jq -e 'has(\"error\") | not' <<<\"\$reply\" >/dev/null && wait_for_daemon '$sock'"
cp "$tmp/a.conf" "$tmp/a.conf.good"
echo "ttl forever" >>"$tmp/a.conf"
reply=$(ask "$sock" reload)
check "a reload with a broken line says which line, and the daemon keeps answering" \
	"grep -q 'reload failed, the running configuration stays: .*a.conf:[0-9]*: ttl' <<<\"\$reply\" && wait_for_daemon '$sock'"
out=$("${M[@]}" reload 2>&1)
rc=$?
check "meshname reload reports the broken line too, and exits 1" \
	"[ $rc -eq 1 ] && grep -q '^meshname: reload failed, the running configuration stays: .*a.conf:[0-9]*: ttl' <<<\"\$out\""
cp "$tmp/a.conf.good" "$tmp/a.conf"
out=$("${M[@]}" reload 2>&1)
rc=$?
check "meshname reload of a good file says so and exits 0" \
	"[ $rc -eq 0 ] && [ \"\$out\" = 'meshnamed reloaded its configuration' ]"
out=$("${NOBODY[@]}" "${M[@]}" reload 2>&1)
rc=$?
check "meshname reload as nobody is refused with exit 1" \
	"[ $rc -eq 1 ] && grep -q 'permission denied' <<<\"\$out\""
reply=$(ask "$sock" 'frobnicate now')
check "an unknown request is one JSON error" \
	"[ \"\$reply\" = '{\"error\":\"unknown request \\\"frobnicate\\\"\"}' ]"

# A second daemon must not share the socket, nor the state behind it (its DNS listener
# is elsewhere, so that only the control socket stands in its way).
write_config "$tmp/second.conf" "" $((port + 1))
start_daemon "$tmp/second.conf" "$tmp/second.log"
second=$pid
for _ in $(seq 50); do kill -0 "$second" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$second" 2>/dev/null; then
	not_ok "a second meshnamed on the same control socket refuses to start"
else
	wait "$second"
	rc=$?
	check "a second meshnamed on the same control socket refuses to start" \
		"[ $rc -ne 0 ] && grep -q 'cannot open the control socket $sock: Address already in use' '$tmp/second.log'"
fi
check "and the first one still answers" \
	"ask '$sock' status | jq -e '.pid == $first' >/dev/null"

kill -TERM "$first"
wait "$first"
rc=$?
check "SIGTERM ends meshnamed with status 0 and removes the socket" \
	"[ $rc -eq 0 ] && [ ! -e '$sock' ]"
out=$("${M[@]}" status 2>&1)
rc=$?
check "after the daemon stops, status is the offline view" \
	"[ $rc -eq 0 ] && grep -q '^daemon: *not running (offline view)' <<<\"\$out\" && grep -q '^this host: *admin.mesh' <<<\"\$out\""
check "and status --json says not running" \
	"\"\${M[@]}\" status --json | jq -e '.daemon == \"not running\"' >/dev/null"
check "and nobody gets the local registry's refusal, not a hang" \
	"! \"\${NOBODY[@]}\" \"\${M[@]}\" ls >/dev/null 2>&1"

# With a control group, its members may use privileged verbs.
group=4242
write_config "$tmp/b.conf" "$group"
start_daemon "$tmp/b.conf" "$tmp/b.log"
grouped=$pid
if wait_for_daemon "$sock"; then
	reply=$(setpriv --reuid=nobody --regid=nogroup --groups=$group \
		bash -c "$(declare -f ask); PYTHON=$PYTHON; ask '$sock' reload")
	check "a member of the control group (supplementary) may reload" \
		"jq -e 'has(\"error\") | not' <<<\"\$reply\" >/dev/null"
	reply=$("${NOBODY[@]}" bash -c "$(declare -f ask); PYTHON=$PYTHON; ask '$sock' reload")
	check "a non-member is told the group" \
		"grep -q 'permission denied: reload needs root or group $group' <<<\"\$reply\""
else
	not_ok "meshnamed starts with a control group (log: $(tr '\n' ' ' <"$tmp/b.log"))"
fi

# SIGKILL leaves the socket file behind; the next daemon must start anyway.
exec 3>&2 2>/dev/null # bash reports the killed job on its own stderr
kill -KILL "$grouped"
wait "$grouped"
exec 2>&3 3>&-
check "a killed daemon leaves a stale socket file" "[ -S '$sock' ]"
check "status does not take the stale socket for a daemon" \
	"\"\${M[@]}\" status 2>&1 | grep -q '^daemon: *not running (offline view)'"
start_daemon "$tmp/a.conf" "$tmp/c.log"
third=$pid
check "a new daemon starts over the stale socket" \
	"wait_for_daemon '$sock' && \"\${M[@]}\" status | grep -q '^daemon: *running (pid $third,'"
kill -TERM "$third"
wait "$third"

# A daemon that answers nonsense, an error, or for another state directory.
fake() { # REPLY: serves one reply per connection on $tmp/fake.sock until killed
	"$PYTHON" -c '
import os, socket, sys
p = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(p); s.listen(4)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.recv(4096)
    c.sendall(sys.argv[2].encode())
    c.close()
' "$tmp/fake.sock" "$1" >"$tmp/fake.out" &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 50); do grep -q ready "$tmp/fake.out" 2>/dev/null && return 0; sleep 0.1; done
}
unfake() { kill "$pid"; wait "$pid" 2>/dev/null; rm -f "$tmp/fake.sock"; }
F=("$MESHNAME" --state "$state" --control "$tmp/fake.sock")

fake '{"daemon":"running","hosts":[1,2'
out=$("${F[@]}" status 2>&1)
rc=$?
check "a malformed reply is reported and the offline view shown" \
	"[ $rc -eq 0 ] && grep -q 'sent a malformed reply' <<<\"\$out\" && grep -q '^this host: *admin.mesh' <<<\"\$out\""
unfake
fake '{"error":"meshnamed has no registry snapshot yet"}'
out=$("${F[@]}" ls 2>&1)
rc=$?
check "a daemon's error is printed and the command fails" \
	"[ $rc -eq 1 ] && [ \"\$out\" = 'meshname: meshnamed: meshnamed has no registry snapshot yet' ]"
unfake
fake '{"daemon":"running","pid":1,"state":"/somewhere/else","zone":"mesh","hosts":[]}'
out=$("${F[@]}" status 2>&1)
check "a daemon of another state directory is not asked about this one" \
	"grep -q '^daemon: *running for another state directory (/somewhere/else) (offline view)' <<<\"\$out\""
check "nor listed from" "[ \"\$(\"\${F[@]}\" ls)\" = \"\$offline_ls\" ]"
unfake
fake "{\"state\":\"$state\",\"zone\":\"mesh\",\"hosts\":[{\"name\":\"x\"}]}"
out=$("${F[@]}" ls 2>&1)
rc=$?
check "a host list missing fields is an error, not garbage" \
	"[ $rc -eq 1 ] && grep -q 'sent a host list this meshname cannot read' <<<\"\$out\""
unfake

finish
