#!/usr/bin/env bash
# `meshname status` with a real WireGuard: two simulated hosts, node and beta, on one LAN
# (a bridge in a namespace of its own), each running meshnamed with `manage yes`
# (meshnamed starts wireguard-go), and a third member, alpha, that is only in the
# registry. Checks what a user reads: this host's interface, backend and listen port,
# one aligned line per peer sorted by name with mesh address, endpoint and its kind,
# "never" before any traffic and "Ns ago" after a ping, bytes received and sent; the
# --json form with the daemon's fields; the offline view when no daemon runs. Then sync:
# every neighbour state from fixed documents, the real daemons' sync line, table and
# JSON, and sync off with `sync no`.
# Only documentation prefixes, only inside the namespaces; everything stopped by PID.
# Setup (tests/integration/lib_mesh.sh): names ns[h] and ifname[h], ok/not_ok/check,
# bail, eventually, in_ns, the LAN (mesh_netns), mesh_start_launch; the EXIT trap stops
# everything and removes the namespaces. Host 3 (alpha) has a state directory only.
MESH_NS_PREFIX=mnb
MESH_IF_PREFIX=wgb
MESH_HOSTS=2
MESH_EXTRA_CLEANUP=stop_fake
# shellcheck source=tests/integration/lib_mesh.sh
. "$(dirname "$0")/lib_mesh.sh"
PYTHON=/usr/bin/python3
declare -A name port
name[1]=node
name[2]=beta
for h in 1 2; do port[$h]=5184$h; done
fake_pid=
stop_fake() { [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null; }

show() { sed 's/^/# /' "$@"; }
# mn H ARGS: meshname for host H, with its daemon's socket (lib_mesh.sh's mn without it).
mn() { local h=$1; shift; "$MESHNAME" --state "$tmp/s$h" --control "$tmp/control$h.sock" "$@"; }
# peer_line H PEER: the line of PEER in the peer table of H's status (saved in $tmp/st).
peer_line() { mn $1 status >"$tmp/st" 2>&1; grep -E "^  $2  " "$tmp/st"; }
# json H EXPR: a Python expression over the status document d of host H.
json() {
	mn $1 status --json | "$PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$2"
}

for tool in ip ping "$PYTHON" "$WG_GO"; do
	command -v "$tool" >/dev/null || bail "$tool is missing (tests/deps.sh test installs it)"
done
[ "$(id -u)" -eq 0 ] || bail "network namespaces need root"
[ -c /dev/net/tun ] || bail "/dev/net/tun is missing: wireguard-go cannot run"

# ---- the registry: node admits beta and alpha; bundles both ways -----------------------
mn 1 init --name t --host node --ipv4 198.51.100.0/24 --ipv6 fd4d:6e00:2::/48 >/dev/null ||
	bail "meshname init"
mkdir -p "$tmp/s2" "$tmp/s3"
inv=$(mn 1 add beta 2>/dev/null) || bail "meshname add beta"
mn 2 join "$inv" >/dev/null || bail "meshname join beta"
inv=$(mn 1 add alpha 2>/dev/null) || bail "meshname add alpha"
mn 3 join "$inv" >/dev/null || bail "meshname join alpha"
# A LAN endpoint to be used, and a public one that makes each host directly reachable
# (so no persistent keepalive: no handshake before the test sends traffic). alpha never
# runs: its public endpoint is in a documentation range nobody answers in.
for h in 1 2; do
	mn $h endpoint add 192.0.2.$h:${port[$h]} --kind lan --listen-port ${port[$h]} >/dev/null &&
		mn $h endpoint add 203.0.113.$h:${port[$h]} --kind public >/dev/null ||
		bail "meshname endpoint add on ${name[$h]}"
done
mn 3 endpoint add 203.0.113.3:51843 --kind public --listen-port 51843 >/dev/null ||
	bail "meshname endpoint add on alpha"
for h in 2 3; do
	mn $h export -o "$tmp/b$h" && mn 1 import "$tmp/b$h" >/dev/null || bail "bundle $h -> node"
done
mn 1 export -o "$tmp/b1" && mn 2 import "$tmp/b1" >/dev/null || bail "bundle node -> beta"
v4_beta=$(mn 1 show beta --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["ipv4"])')
v4_alpha=$(mn 1 show alpha --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["ipv4"])')

# ---- no daemon: the local registry ---------------------------------------------------------
mn 1 status >"$tmp/off" 2>&1
rc=$?
check "without a daemon, status exits 0" "[ $rc -eq 0 ]"
check "and says the daemon is not running" "grep -q '^daemon: *not running (offline view)' '$tmp/off'"
check "and shows this host from the local registry" "grep -q '^this host: *node\\.mesh ' '$tmp/off'"
check "and no WireGuard section it cannot know" "! grep -q '^wireguard:' '$tmp/off'"
check "status --json without a daemon parses and says so" \
	"[ \"\$(json 1 '(d[\"daemon\"], d[\"host\"][\"name\"], d[\"hosts\"])')\" = \"('not running', 'node', 3)\" ]"

# ---- the sync section from a fixed status document -------------------------------------------
# A stand-in for meshnamed on a socket of its own answers every request with the document in
# $tmp/doc (read again per request), so that every neighbour state a real mesh rarely shows
# (backed off, banned, syncing, a stranger) is printed at a fixed clock.
fake_now=1700001000
"$PYTHON" -c '
import os, signal, socket, sys
signal.alarm(60)  # bounded, whatever happens to the test
path, doc = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(4)
while True:
    c, _ = s.accept()
    c.recv(4096)
    c.sendall(open(doc, "rb").read() + b"\n")
    c.close()
' "$tmp/fake.sock" "$tmp/doc" &
fake_pid=$!
# shellcheck disable=SC2120 # it is called with --json inside check's eval
fake_status() { MESHNAME_NOW=$fake_now "$MESHNAME" --state "$tmp/s1" --control "$tmp/fake.sock" status "$@"; }
# fake_doc SYNC: the document with SYNC (a Python expression) as its "sync".
fake_doc() {
	"$PYTHON" -c '
import json, sys
now = int(sys.argv[3])
def nb(name, key, source, via, last_ok=None, last_fail=None, failures=0, backoff_until=None,
       in_session=False, banned=False):
    return {"name": name, "host_key": key, "source": source, "via": via, "last_ok": last_ok,
            "last_fail": last_fail, "failures": failures, "backoff_until": backoff_until,
            "in_session": in_session, "banned": banned}
d = {"daemon": "running", "pid": 4242, "started": now - 3600, "state": sys.argv[1],
     "host": None, "listeners": [], "records": 9, "pending": 3, "sync": eval(sys.argv[2])}
print(json.dumps(d))' "$tmp/s1" "$1" "$fake_now" >"$tmp/doc"
}
fake_doc '{"enabled": True, "port": 51821, "beacons": True, "last_ok": now - 12,
	"next_ae": now + 18, "pending_push": 0, "parked": 3, "sessions_in": 0, "sessions_out": 1,
	"sessions_ok": 5, "sessions_failed": 2, "records_in": 1, "records_out": 2, "bytes_in": 3,
	"bytes_out": 4, "accepted": 1, "strikes": 4, "banned": 1, "beacons_sent": 2,
	"beacons_heard": 3, "error": None, "neighbours": [
	nb("gamma", "AQ" + "A" * 41 + "=", ["member"], "mesh 198.51.100.3:51821", last_ok=now - 12),
	nb(None, "+w" + "A" * 41 + "=", ["lan"], "lan 192.0.2.7:51821", last_fail=now - 5,
	   failures=3, backoff_until=now + 30),
	nb("alpha", "Ag" + "A" * 41 + "=", ["lan", "seed", "member"], "lan 192.0.2.1:51821",
	   last_ok=now - 600, last_fail=now - 10, failures=1),
	nb("beta", "Aw" + "A" * 41 + "=", ["seed"], None, in_session=True),
	nb("delta", "BA" + "A" * 41 + "=", ["member"], "mesh 198.51.100.4:51821", banned=True)]}'
for _ in $(seq 50); do [ -S "$tmp/fake.sock" ] && break; sleep 0.1; done
fake_status >"$tmp/fake" 2>&1
rc=$?
show "$tmp/fake"
check "a daemon's sync: status exits 0" "[ $rc -eq 0 ]"
check "the summary line: port, neighbours, last sync, pending, parked, banned" \
	"grep -qx 'sync: *port 51821, 5 neighbours, last sync 12s ago, 0 records pending (3 parked), 1 banned' '$tmp/fake'"
sync_table=$(sed -n '/^  NAME /,/^[^ ]/p' "$tmp/fake" | grep '^  ')
check "the sync table has a header" \
	"echo \"\$sync_table\" | head -n1 | grep -qE '^  NAME +VIA +SOURCE +LAST SYNC +STATE$'"
check "members sorted by name, then the stranger by the start of its key" \
	"[ \"\$(echo \"\$sync_table\" | sed 1d | awk '{print \$1}' | tr '\\n' ' ')\" = 'alpha beta delta gamma (key ' ]"
check "alpha: LAN address, every source, 10 minutes ago, failing once" \
	"echo \"\$sync_table\" | grep -qE '^  alpha +lan 192\\.0\\.2\\.1:51821 +lan,seed,member +10m0s ago +failing 1$'"
check "beta: no address yet, a seed, never synced, in a session" \
	"echo \"\$sync_table\" | grep -qE '^  beta +- +seed +never +syncing$'"
check "delta: banned" "echo \"\$sync_table\" | grep -qE '^  delta +mesh 198\\.51\\.100\\.4:51821 +member +never +banned$'"
check "gamma: over the mesh, 12s ago, ok" \
	"echo \"\$sync_table\" | grep -qE '^  gamma +mesh 198\\.51\\.100\\.3:51821 +member +12s ago +ok$'"
check "a LAN peer the registry does not know: its key, backed off for 30s more" \
	"echo \"\$sync_table\" | grep -qE '^  \\(key \\+wAAAAAA\\) +lan 192\\.0\\.2\\.7:51821 +lan +never +backed off 30s$'"
sync_aligned() {
	local col off
	for col in VIA SOURCE 'LAST SYNC' STATE; do
		off=$(echo "$sync_table" | head -n1 | awk -v w="$col" '{print index($0, w)}')
		echo "$sync_table" | sed 1d | while IFS= read -r line; do
			[ "${line:$((off - 3)):2}" = "  " ] && [ "${line:$((off - 1)):1}" != " " ] || exit 1
		done || return 1
	done
}
check "the sync table's columns are aligned" sync_aligned
check "status --json passes the daemon's sync object through as it is" \
	"[ \"\$(fake_status --json | \"$PYTHON\" -c 'import json,sys; print(json.load(sys.stdin)[\"sync\"] == json.load(open(sys.argv[1]))[\"sync\"])' '$tmp/doc')\" = True ]"
fake_doc '{"enabled": True, "port": 4000, "beacons": False, "last_ok": None, "pending_push": 2,
	"banned": 0, "error": "cannot bind [::]:4000: Address already in use", "neighbours": []}'
fake_status >"$tmp/fake" 2>&1
show "$tmp/fake"
check "no neighbours, never synced, beacons off; parked from the registry's pending" \
	"grep -qx 'sync: *port 4000, 0 neighbours, last sync never, 2 records pending (3 parked), LAN beacons off' '$tmp/fake' &&
	 grep -qx '  no neighbours yet (no other member, no seed, no LAN beacon heard)' '$tmp/fake'"
check "the daemon's sync error on a line of its own" \
	"grep -qx '  error: cannot bind \\[::\\]:4000: Address already in use' '$tmp/fake'"
fake_doc '{"enabled": False}'
fake_status >"$tmp/fake" 2>&1
check "sync no: one line says it is off" \
	"grep -qx 'sync: *off (sync no in meshnamed.conf)' '$tmp/fake' && ! grep -q NAME '$tmp/fake'"
kill "$fake_pid" 2>/dev/null
wait "$fake_pid" 2>/dev/null
fake_pid=

# ---- two hosts on a LAN, meshnamed on each --------------------------------------------------
mesh_netns
for h in 1 2; do
	mkdir -p "/etc/netns/${ns[$h]}"
	echo "nameserver 127.0.0.153" >"/etc/netns/${ns[$h]}/resolv.conf"
	cat >"$tmp/conf$h" <<CONF
state $tmp/s$h
control $tmp/control$h.sock
listen 127.0.0.153:53
forward no
interface ${ifname[$h]}
listen-port ${port[$h]}
manage yes
userspace $WG_GO
on-exit remove
CONF
done
for h in 1 2; do mesh_start_launch $h; done
for h in 1 2; do
	eventually 10 "grep -q ': ready$' '$tmp/log$h'" || bail "meshnamed starts on ${name[$h]}"
done
ok "meshnamed runs on node and beta"
eventually 10 "peer_line 1 beta | grep -q 192.0.2.2" ||
	{ show "$tmp/st"; bail "node's status lists beta with its LAN endpoint"; }
mn 1 status >"$tmp/st1"
rc=$?
show "$tmp/st1"
check "status through the daemon exits 0" "[ $rc -eq 0 ]"
check "it says the daemon runs" "grep -q '^daemon: *running (pid ${daemon_pid[1]},' '$tmp/st1'"
check "this host: interface, backend, listen port and peer count" \
	"grep -qx 'wireguard: *${ifname[1]} (userspace), listen port ${port[1]}, 2 peers' '$tmp/st1'"
check "this host: name and mesh addresses, certificate expiry, listeners" \
	"grep -q '^this host: *node\\.mesh  198\\.51\\.100\\.[0-9]*  fd4d:6e00:2:' '$tmp/st1' &&
	 grep -q '^certificate: *valid until ' '$tmp/st1' && grep -q '127\\.0\\.0\\.153:53 *udp *bound' '$tmp/st1'"
check "the peer table has a header" \
	"grep -qE '^  PEER +MESH IPV4 +ENDPOINT +KIND +HANDSHAKE +RX +TX$' '$tmp/st1'"
# The lines from the header on, sorted by name: alpha before beta.
table=$(sed -n '/^  PEER /,/^[^ ]/p' "$tmp/st1" | grep '^  ')
check "peers sorted by name: alpha, then beta" \
	"[ \"\$(echo \"\$table\" | sed 1d | awk '{print \$1}' | tr '\\n' ' ')\" = 'alpha beta ' ]"
check "beta: mesh IPv4, LAN endpoint, kind lan, never a handshake before traffic" \
	"echo \"\$table\" | grep -qE '^  beta +${v4_beta//./\\.} +192\\.0\\.2\\.2:${port[2]} +lan +never '"
check "alpha (not running): its public endpoint, never, nothing received" \
	"echo \"\$table\" | grep -qE '^  alpha +${v4_alpha//./\\.} +203\\.0\\.113\\.3:51843 +public +never +0 B +'"
# Aligned: every column starts at the same offset in every line (the header's words).
aligned() {
	local col word off
	for col in 'MESH IPV4' ENDPOINT KIND HANDSHAKE; do
		off=$(echo "$table" | head -n1 | awk -v w="$col" '{print index($0, w)}')
		echo "$table" | sed 1d | while IFS= read -r line; do
			[ "${line:$((off - 3)):2}" = "  " ] && [ "${line:$((off - 1)):1}" != " " ] || exit 1
		done || return 1
	done
	# RX and TX are right-aligned: every line ends at the same column.
	[ "$(echo "$table" | awk '{print length($0)}' | sort -u | wc -l)" -eq 1 ]
}
check "the columns are aligned (left for text, right for RX and TX)" aligned

check "node: ping -c1 -W2 beta.mesh through the tunnel" \
	"eventually 10 'in_ns 1 ping -4 -c1 -W2 beta.mesh >/dev/null'"
check "after the ping, beta's handshake is 'Ns ago'" \
	"eventually 5 'peer_line 1 beta | grep -qE \" lan +[0-9]+s ago \"'"
check "and beta's received and sent bytes are not zero" \
	"peer_line 1 beta | grep -qE ' ago +[0-9.]+ (B|KiB) +[0-9.]+ (B|KiB)$' &&
	 ! peer_line 1 beta | grep -qE ' ago +0 B|  0 B$'"
check "alpha still never shook hands" "peer_line 1 alpha | grep -q ' never '"
check "beta sees node the same way" \
	"eventually 5 'peer_line 2 node | grep -qE \"^  node +198\\.51\\.100\\.[0-9]+ +192\\.0\\.2\\.1:${port[1]} +lan +[0-9]+s ago \"'"

# ---- --json: the daemon's document as it is --------------------------------------------------
check "status --json parses and is the daemon's" \
	"[ \"\$(json 1 '(d[\"daemon\"], d[\"pid\"])')\" = \"('running', ${daemon_pid[1]})\" ]"
check "--json: interface, backend, device, listen port" \
	"[ \"\$(json 1 '[d[\"wireguard\"][k] for k in (\"interface\", \"backend\", \"device\", \"listen_port\")]')\" = \
	   \"['${ifname[1]}', 'userspace', True, ${port[1]}]\" ]"
check "--json: every peer has name, mesh addresses, endpoint, kind, handshake, rx, tx" \
	"[ \"\$(json 1 'sorted(sorted(p) for p in d[\"wireguard\"][\"peers\"])')\" = \
	   \"\$(json 1 'sorted([sorted([\"name\", \"ipv4\", \"ipv6\", \"endpoint\", \"endpoint_kind\", \"latest_handshake\", \"rx_bytes\", \"tx_bytes\"])] * 2)')\" ]"
check "--json: beta with its values after the ping" \
	"[ \"\$(json 1 '[(p[\"ipv4\"], p[\"endpoint\"], p[\"endpoint_kind\"], p[\"latest_handshake\"] > 0, p[\"rx_bytes\"] > 0, p[\"tx_bytes\"] > 0) for p in d[\"wireguard\"][\"peers\"] if p[\"name\"] == \"beta\"]')\" = \
	   \"[('$v4_beta', '192.0.2.2:${port[2]}', 'lan', True, True, True)]\" ]"
check "--json: alpha never shook hands (latest_handshake 0, endpoint kind public)" \
	"[ \"\$(json 1 '[(p[\"latest_handshake\"], p[\"endpoint_kind\"]) for p in d[\"wireguard\"][\"peers\"] if p[\"name\"] == \"alpha\"]')\" = \
	   \"[(0, 'public')]\" ]"
# ---- sync: what meshnamed's peer sync reports ----------------------------------------------
# sync_line H PEER: PEER's line in the sync table of H's status.
sync_line() { mn $1 status >"$tmp/st" 2>&1; sed -n '/^  NAME /,/^[^ ]/p' "$tmp/st" | grep -E "^  $2  "; }
check "status shows the sync summary line (sync is on by default)" \
	"grep -qE '^sync: +port 51821, 2 neighbours, last sync (never|[0-9dhms]+ ago), [0-9]+ records? pending' '$tmp/st1'"
check "and a sync table under it" "grep -qE '^  NAME +VIA +SOURCE +LAST SYNC +STATE$' '$tmp/st1'"
# beta is a member and on node's LAN: its beacon makes it a LAN neighbour and a session
# follows; the anti-entropy period (30 s) bounds the wait.
check "beta: a LAN and member neighbour, synced 'Ns ago', ok" \
	"eventually 40 'sync_line 1 beta | grep -qE \"^  beta +lan [^ ]+:51821 +lan,member +[0-9]+s ago +ok$\"'" ||
	show "$tmp/st"
check "alpha (never runs): a member neighbour over the mesh, never synced" \
	"sync_line 1 alpha | grep -qE '^  alpha +mesh 198\\.51\\.100\\.[0-9]+:51821 +member +never +'"
check "--json: sync enabled, port 51821, beacons on" \
	"[ \"\$(json 1 '[d[\"sync\"][k] for k in (\"enabled\", \"port\", \"beacons\")]')\" = '[True, 51821, True]' ]"
check "--json: the documented counters are numbers, last_ok a time since the daemon started" \
	"[ \"\$(json 1 'all(isinstance(d[\"sync\"][k], int) for k in (\"pending_push\", \"parked\", \"sessions_in\", \"sessions_out\", \"sessions_ok\", \"sessions_failed\", \"records_in\", \"records_out\", \"bytes_in\", \"bytes_out\", \"accepted\", \"strikes\", \"banned\", \"beacons_sent\", \"beacons_heard\")) and d[\"sync\"][\"last_ok\"] >= d[\"started\"] and d[\"sync\"][\"sessions_ok\"] > 0')\" = True ]"
check "--json: parked is the registry's pending count" \
	"[ \"\$(json 1 'd[\"sync\"][\"parked\"] == d[\"pending\"]')\" = True ]"
check "--json: neighbours alpha and beta by name, with their host keys and sources" \
	"[ \"\$(json 1 'sorted((n[\"name\"], len(n[\"host_key\"]), n[\"source\"]) for n in d[\"sync\"][\"neighbours\"])')\" = \
	   \"[('alpha', 44, ['member']), ('beta', 44, ['lan', 'member'])]\" ]"
check "--json: every neighbour has exactly the documented keys" \
	"[ \"\$(json 1 'all(sorted(n) == sorted([\"name\", \"host_key\", \"source\", \"via\", \"last_ok\", \"last_fail\", \"failures\", \"backoff_until\", \"in_session\", \"banned\"]) for n in d[\"sync\"][\"neighbours\"])')\" = True ]"
check "beta's status lists node the same way" \
	"eventually 40 'sync_line 2 node | grep -qE \"^  node +lan [^ ]+:51821 +lan,member +[0-9]+s ago +ok$\"'"

# Sections other parts of the daemon add: printed whenever the document has them.
mn 1 status >"$tmp/st1"
if [ "$(json 1 '"endpoints" in d')" = True ]; then
	check "the daemon reports published endpoints: status prints them" \
		"grep -q '^endpoints: ' '$tmp/st1'"
fi
if [ "$(json 1 '"nat" in d or "nat" in d.get("endpoints", {}) or "nat" in d["wireguard"]')" = True ]; then
	check "the daemon reports a NAT verdict: status prints it" "grep -qE '^nat: +[a-z]' '$tmp/st1'"
fi
if [ "$(json 1 '"resolved" in d')" = True ]; then
	check "the daemon reports its systemd-resolved registration: status prints it" \
		"grep -q '^resolved: ' '$tmp/st1'"
fi

# ---- the daemon stops: the offline view again ---------------------------------------------
kill -TERM "${daemon_pid[1]}"
wait "${daemon_pid[1]}"
rc=$?
daemon_pid[1]=
check "meshnamed on node exits 0 on SIGTERM" "[ $rc -eq 0 ]"
mn 1 status >"$tmp/off2" 2>&1
rc=$?
check "after it stopped, status exits 0 and says the daemon is not running" \
	"[ $rc -eq 0 ] && grep -q '^daemon: *not running (offline view)' '$tmp/off2'"
check "and no stale WireGuard view" "! grep -q '^wireguard:' '$tmp/off2'"
check "nor a stale sync view" "! grep -q '^sync:' '$tmp/off2'"

# ---- sync no: the daemon says sync is off ----------------------------------------------------
# Without WireGuard (manage no): only the sync part of the reply matters here.
cat >"$tmp/conf1-nosync" <<CONF
state $tmp/s1
control $tmp/control1.sock
listen 127.0.0.153:53
forward no
sync no
CONF
ip netns exec "${ns[1]}" "$MESHNAMED" -d -f "$tmp/conf1-nosync" 2>"$tmp/log1-nosync" &
daemon_pid[1]=$!
eventually 10 "grep -q ': ready$' '$tmp/log1-nosync'" || bail "meshnamed starts on node with sync no"
mn 1 status >"$tmp/st1" 2>&1
show "$tmp/st1"
check "sync no: status says sync is off, no table" \
	"grep -qx 'sync: *off (sync no in meshnamed.conf)' '$tmp/st1' && ! grep -q '^  NAME ' '$tmp/st1'"
check "sync no: --json has sync {\"enabled\": false}" \
	"[ \"\$(json 1 'd[\"sync\"]')\" = \"{'enabled': False}\" ]"
kill -TERM "${daemon_pid[1]}"
wait "${daemon_pid[1]}"
rc=$?
daemon_pid[1]=
check "meshnamed with sync no exits 0 on SIGTERM" "[ $rc -eq 0 ]"
check "no sanitizer report in the logs" "! grep -q 'Sanitizer' '$tmp/log1' '$tmp/log2' '$tmp/log1-nosync'"

if [ "$failed" -ne 0 ]; then
	for h in 1 2; do sed "s/^/# ${name[$h]}: /" "$tmp/log$h"; done
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
