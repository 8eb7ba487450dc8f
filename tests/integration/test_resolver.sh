#!/usr/bin/env bash
# The stub resolver as a user sees it (issue 3): real meshnamed processes on loopback,
# a registry made by the meshname CLI, two real upstream servers (unbound) serving
# example.test, a hostile fake upstream, and dig / kdig / drill / python3 as clients over UDP
# and TCP. Every answer rule, forwarding, cache, failover, serve-stale, spoofed answers,
# TCP pipelining, registry changes without restart, SIGHUP, and that /etc/resolv.conf
# and /etc/hosts stay untouched. Traffic goes to 127.0.0.0/8 only; everything started
# here is stopped by PID. A missing prerequisite fails the suite: it never skips.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
MESHNAME=$BUILD/meshname
MESHNAMED=$BUILD/meshnamed
HELPERS=tests/integration/resolver
passed=0
failed=0

# Addresses: ours, two upstreams, the fake upstream and the meshnamed that uses it. The
# ports start at a random base below the ephemeral range, so that two runs at once (two
# checkouts on one CI machine) do not answer each other's queries.
base=$((10000 + RANDOM % 20000))
OURS=127.0.0.153 OUR_PORT=$base
UP1=127.0.0.154 UP1_PORT=$((base + 1))
UP2=127.0.0.155 UP2_PORT=$((base + 2))
FAKE=127.0.0.156 FAKE_PORT=$((base + 3))
OURS2=127.0.0.157

ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

tmp=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

# Prerequisites: missing ones fail the suite (a skipped test is not a passed one).
missing=()
for bin in "$MESHNAME" "$MESHNAMED"; do [ -x "$bin" ] || missing+=("$bin"); done
for cmd in dig kdig drill unbound python3 sha256sum; do
	command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "not ok - prerequisites missing: ${missing[*]} (tests/deps.sh test installs them)"
	echo "0 passed, 1 failed"
	exit 1
fi

sums_before=$(sha256sum /etc/resolv.conf /etc/hosts 2>&1)

# dig against our first daemon; callers add the name, type and options.
q() { dig @"$OURS" -p "$OUR_PORT" +time=3 +tries=1 "$@" 2>&1; }
q2() { dig @"$OURS2" -p "$OUR_PORT" +time=3 +tries=1 "$@" 2>&1; }
# The answer section of `dig +noall +answer`, one record a line.
ans() { q +noall +answer "$@"; }
has() { grep -qE -- "$2" <<<"$1"; }

# Waits up to $3 tenths of a second for a line matching $2 in file $1.
wait_for_line() {
	local i
	for i in $(seq "${3:-50}"); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# Kills one process we started and waits for it.
stop() {
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	forget "$1"
}
# Takes a PID that has ended off the list that cleanup kills.
forget() {
	local p keep=()
	for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	pids=("${keep[@]}")
}

# ---- upstream servers: unbound with local data under example.test ----
# unbound treats test. as a local zone of its own (TESTING.md): nodefault undoes that.
start_unbound() { # NAME ADDR PORT
	local dir=$tmp/$1 i big=""
	mkdir -p "$dir"
	# 30 TXT records of 100 bytes: over UDP they do not fit our 1232-byte EDNS size.
	for i in $(seq -w 1 30); do
		big+="	local-data: 'big.example.test. 300 IN TXT \"record $i $(printf 'x%.0s' $(seq 80))\"'"$'\n'
	done
	cat >"$dir/unbound.conf" <<-EOF
		server:
		  interface: $2@$3
		  port: $3
		  do-daemonize: no
		  use-syslog: no
		  logfile: ""
		  username: ""
		  chroot: ""
		  directory: "$dir"
		  pidfile: ""
		  verbosity: 1
		  num-threads: 1
		  do-not-query-localhost: no
		  access-control: 127.0.0.0/8 allow
		  local-zone: "test." nodefault
		  local-zone: "example.test." static
		  local-data: "example.test. 300 IN SOA ns.example.test. host.example.test. 1 3600 600 86400 60"
		  local-data: "www.example.test. 300 IN A 192.0.2.1"
		  local-data: "short.example.test. 1 IN A 192.0.2.2"
		  local-data: "who.example.test. 300 IN TXT $1"
		$big
		remote-control:
		  control-enable: no
	EOF
	unbound -d -c "$dir/unbound.conf" >"$dir/log" 2>&1 &
	pids+=($!)
	eval "${1}_pid=$!"
	for i in $(seq 50); do
		dig @"$2" -p "$3" +time=1 +tries=1 +short www.example.test 2>/dev/null |
			grep -q 192.0.2.1 && return 0
		sleep 0.1
	done
	cat "$dir/log" >&2
	return 1
}
check "unbound upstream 1 serves example.test on $UP1:$UP1_PORT" \
	"start_unbound upstream1 $UP1 $UP1_PORT"
check "unbound upstream 2 serves example.test on $UP2:$UP2_PORT" \
	"start_unbound upstream2 $UP2 $UP2_PORT"

# ---- the registry: an admin host, custom records ----
admin=$tmp/admin
"$MESHNAME" --state "$admin" init --name demo --host admin --ipv4 10.77.0.0/16 \
	--ipv6 fd12:3456:789a::/48 >"$tmp/init.out" 2>&1
admin_v6=$(awk '/this host/ { print $5 }' "$tmp/init.out")
record() { "$MESHNAME" --state "$admin" record add "$@" >/dev/null 2>>"$tmp/records.err"; }
record www CNAME admin
record alias CNAME www
record out CNAME www.example.test.
record @ TXT '"hello mesh"'
record _ssh._tcp.admin SRV '0 5 22 admin'
record @ MX '10 admin'
for i in $(seq -w 1 20); do
	record big TXT "\"big record $i $(printf 'y%.0s' $(seq 90))\""
done
check "meshname init and record add make the fixture registry" \
	"[ -f '$admin/registry.db' ] && [ ! -s '$tmp/records.err' ] && [ -n '$admin_v6' ]"

# ---- meshnamed ----
write_config() { # FILE "LISTEN..." UPSTREAM... (an UPSTREAM may be "forward no")
	local file=$1 listen=$2 u l
	shift 2
	{
		echo "state $admin"
		echo "control $tmp/control-$(basename "$file").sock"
		for l in $listen; do echo "listen $l"; done
		echo "listen-mesh no"
		echo "manage no"
		echo "sync no # no sync port or LAN beacons from the machine's own namespace"
		echo "ttl 30"
		for u in "$@"; do
			case $u in
			forward*) echo "$u" ;;
			*) echo "upstream $u" ;;
			esac
		done
	} >"$file"
}
conf=$tmp/meshnamed.conf
write_config "$conf" "$OURS:$OUR_PORT [::1]:$OUR_PORT" "$UP1:$UP1_PORT" "$UP2:$UP2_PORT"
"$MESHNAMED" -d -f "$conf" 2>"$tmp/meshnamed.log" &
daemon=$!
pids+=("$daemon")
check "meshnamed starts with a config on $OURS:$OUR_PORT and says it is ready" \
	"wait_for_line '$tmp/meshnamed.log' ': ready$' && kill -0 $daemon"
for i in $(seq 30); do has "$(ans admin.mesh)" 10.77.0.1 && break; sleep 0.1; done

# ---- authoritative answers ----
out=$(q admin.mesh A)
check "A for a host: its mesh IPv4 with TTL 30" \
	"has \"\$out\" '^admin\\.mesh\\.[[:space:]]+30[[:space:]]+IN[[:space:]]+A[[:space:]]+10\\.77\\.0\\.1'"
check "our answers have AA set and NOERROR" \
	"has \"\$out\" 'flags: qr aa.*;' && has \"\$out\" 'status: NOERROR'"
check "AAAA for a host: its mesh IPv6" "has \"\$(ans admin.mesh AAAA)\" 'AAAA[[:space:]]+$admin_v6'"
check "PTR for a mesh IPv4" "has \"\$(ans -x 10.77.0.1)\" 'PTR[[:space:]]+admin\\.mesh\\.'"
check "PTR for a mesh IPv6" "has \"\$(ans -x $admin_v6)\" 'PTR[[:space:]]+admin\\.mesh\\.'"
out=$(q nosuch.mesh A)
check "a name nobody owns is NXDOMAIN with the SOA in the authority section" \
	"has \"\$out\" 'status: NXDOMAIN' && has \"\$out\" 'AUTHORITY: 1' && has \"\$out\" '^mesh\\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+SOA'"
out=$(q admin.mesh TXT)
check "a type the host does not have is NODATA (NOERROR, no answer, SOA)" \
	"has \"\$out\" 'status: NOERROR' && has \"\$out\" 'ANSWER: 0' && has \"\$out\" 'IN[[:space:]]+SOA'"
out=$(q 9.9.77.10.in-addr.arpa PTR)
check "a reverse name of the mesh prefix that no host has is NXDOMAIN" "has \"\$out\" 'status: NXDOMAIN'"
check "SOA at the apex" "has \"\$(ans mesh SOA)\" 'SOA[[:space:]]+localhost\\. hostmaster\\.mesh\\.'"
check "NS at the apex" "has \"\$(ans mesh NS)\" 'NS[[:space:]]+localhost\\.'"
out=$(ans alias.mesh A)
check "CNAME chased inside the zone: alias -> www -> admin -> A" \
	"has \"\$out\" '^alias\\.mesh\\..*CNAME[[:space:]]+www\\.mesh\\.' && has \"\$out\" '^www\\.mesh\\..*CNAME[[:space:]]+admin\\.mesh\\.' && has \"\$out\" '^admin\\.mesh\\..*A[[:space:]]+10\\.77\\.0\\.1'"
out=$(q out.mesh A)
check "a CNAME leaving the zone ends the answer (AA, the CNAME only)" \
	"has \"\$out\" 'ANSWER: 1,' && has \"\$out\" 'CNAME[[:space:]]+www\\.example\\.test\\.'"
check "custom TXT at the apex" "has \"\$(ans mesh TXT)\" 'TXT[[:space:]]+\"hello mesh\"'"
check "custom SRV" "has \"\$(ans _ssh._tcp.admin.mesh SRV)\" 'SRV[[:space:]]+0 5 22 admin\\.mesh\\.'"
check "custom MX" "has \"\$(ans mesh MX)\" 'MX[[:space:]]+10 admin\\.mesh\\.'"
out=$(q AdMiN.MeSh A)
check "matching is case-insensitive and the question's case is echoed" \
	"has \"\$out\" '^;AdMiN\\.MeSh\\.[[:space:]]+IN[[:space:]]+A' && has \"\$out\" '^AdMiN\\.MeSh\\..*10\\.77\\.0\\.1'"
out=$(q admin.mesh ANY)
check "ANY is answered minimally (RFC 8482): one RRset" \
	"has \"\$out\" 'ANSWER: 1,' && has \"\$out\" 'IN[[:space:]]+A[[:space:]]+10\\.77\\.0\\.1'"
out=$(q admin.mesh A +bufsize=1400)
check "EDNS0: OPT echoed with our payload size 1232" "has \"\$out\" 'EDNS: version: 0, flags:; udp: 1232'"
out=$(q admin.mesh A +noedns)
check "without EDNS no OPT comes back" "! has \"\$out\" 'OPT PSEUDOSECTION' && has \"\$out\" 'ANSWER: 1,'"
out=$(q admin.mesh A +edns=1 +noednsneg)
check "EDNS version 1 gets BADVERS" "has \"\$out\" 'status: BADVERS'"
out=$(q big.mesh TXT +ignore +bufsize=1232)
check "an answer larger than the UDP limit comes with TC and no records" \
	"has \"\$out\" 'flags: qr aa tc' && has \"\$out\" 'ANSWER: 0,'"
out=$(q big.mesh TXT +tcp)
check "the same answer over TCP is whole (20 TXT records)" \
	"has \"\$out\" 'ANSWER: 20,' && ! has \"\$out\" ' tc'"
out=$(kdig @"$OURS" -p "$OUR_PORT" +tcp +timeout=3 +retry=0 admin.mesh A 2>&1)
check "kdig over TCP gets the A record" "has \"\$out\" '10\\.77\\.0\\.1'"
out=$(drill -p "$OUR_PORT" admin.mesh A @"$OURS" 2>&1)
check "drill over UDP gets the A record, authoritative" \
	"has \"\$out\" 'admin\\.mesh\\.[[:space:]]+30[[:space:]]+IN[[:space:]]+A[[:space:]]+10\\.77\\.0\\.1' && has \"\$out\" 'flags: qr aa'"
out=$(drill -t -p "$OUR_PORT" nothere.mesh A @"$OURS" 2>&1)
check "drill over TCP sees NXDOMAIN for a name nobody holds" "has \"\$out\" 'rcode: NXDOMAIN'"
out=$(dig @::1 -p "$OUR_PORT" +time=3 +tries=1 +short admin.mesh A 2>&1)
check "the IPv6 listener [::1] answers over UDP" "[ '$out' = 10.77.0.1 ]"
out=$(dig @::1 -p "$OUR_PORT" +time=3 +tries=1 +short +tcp admin.mesh AAAA 2>&1)
check "and over TCP" "[ '$out' = '$admin_v6' ]"
out=$(q admin.mesh A +opcode=2 2>&1)
check "an unknown opcode gets NOTIMP" "has \"\$out\" 'status: NOTIMP'"
out=$(q mesh AXFR +tcp 2>&1)
check "zone transfers are refused" "has \"\$out\" 'Transfer failed|REFUSED'"

# ---- forwarding, cache, TC retry ----
out=$(q www.example.test A)
check "a name outside our zones is forwarded and answered (RA, not AA)" \
	"has \"\$out\" 'www\\.example\\.test\\..*A[[:space:]]+192\\.0\\.2\\.1' && has \"\$out\" 'flags: qr rd ra;'"
out=$(q www.example.test A +tcp)
check "forwarding works for a client over TCP too" "has \"\$out\" '192\\.0\\.2\\.1'"
out=$(q WWW.Example.TEST A)
check "a forwarded answer echoes the client's case" "has \"\$out\" '^;WWW\\.Example\\.TEST\\.'"
out=$(q nx.example.test A)
check "an upstream NXDOMAIN is relayed with its SOA" \
	"has \"\$out\" 'status: NXDOMAIN' && has \"\$out\" '^example\\.test\\..*SOA'"
out=$(q www.example.test A +noedns)
check "a forwarded answer has no OPT when the client sent none" "! has \"\$out\" 'OPT PSEUDOSECTION'"
sleep 1.2
ttl=$(ans www.example.test A | awk '{ print $2 }')
check "a second query is answered from the cache: the TTL counts down (got $ttl, upstream says 300)" \
	"[ -n '$ttl' ] && [ '$ttl' -lt 300 ]"
out=$(q big.example.test TXT +ignore)
check "a forwarded answer larger than the client's UDP limit comes with TC" "has \"\$out\" ' tc'"
out=$(q big.example.test TXT +tcp)
check "over TCP the whole answer: the forwarder retried over TCP after the upstream's TC" \
	"has \"\$out\" 'ANSWER: 30,'"
out=$(q short.example.test A)
check "short-lived name forwarded (primes the cache for serve-stale)" "has \"\$out\" '192\\.0\\.2\\.2'"

# ---- pipelining over one TCP connection ----
out=$(python3 "$HELPERS/tcp_pipeline.py" "$OURS" "$OUR_PORT" admin.mesh www.example.test \
	nosuch.mesh www.mesh 2>&1)
check "four pipelined queries on one TCP connection get four answers" \
	"has \"\$out\" '^admin\\.mesh 0 10\\.77\\.0\\.1' && has \"\$out\" '^www\\.example\\.test 0 192\\.0\\.2\\.1' && has \"\$out\" '^nosuch\\.mesh 3 -' && has \"\$out\" '^www\\.mesh 0 10\\.77\\.0\\.1'"
out=$(python3 - "$OURS" "$OUR_PORT" <<-'EOF' 2>&1
	import socket, sys
	s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
	s.sendall(b"\x00\x00")
	print("closed" if s.recv(10) == b"" else "open")
	EOF
)
check "a zero-length TCP message closes the connection" "[ '$out' = closed ]"
# RFC 7766 section 6.2.2: at the limit (128) a new connection closes the oldest idle one.
out=$(python3 - "$OURS" "$OUR_PORT" <<-'EOF' 2>&1
	import socket, struct, sys
	addr = (sys.argv[1], int(sys.argv[2]))
	conns = [socket.create_connection(addr, timeout=3) for _ in range(130)]
	oldest = conns[0]
	oldest.settimeout(3)
	print("oldest", "closed" if oldest.recv(10) == b"" else "open")
	q = struct.pack("!HHHHHH", 7, 0x100, 1, 0, 0, 0) + b"\x05admin\x04mesh\x00\x00\x01\x00\x01"
	conns[-1].sendall(struct.pack("!H", len(q)) + q)
	n = struct.unpack("!H", conns[-1].recv(2))[0]
	print("newest", "answered" if len(conns[-1].recv(n)) > 12 else "silent")
	EOF
)
check "past 128 TCP clients the oldest idle connection is closed and the newest served" \
	"has \"\$out\" 'oldest closed' && has \"\$out\" 'newest answered'"

# ---- registry changes without restart ----
laptop=$tmp/laptop
"$MESHNAME" --state "$admin" add laptop -o "$tmp/invite" >/dev/null 2>&1
"$MESHNAME" --state "$laptop" join "$tmp/invite" >/dev/null 2>&1
"$MESHNAME" --state "$laptop" export -o "$tmp/bundle" >/dev/null 2>&1
"$MESHNAME" --state "$admin" import "$tmp/bundle" >/dev/null 2>&1
seen=no
for i in $(seq 10); do
	has "$(ans laptop.mesh A)" 'IN[[:space:]]+A[[:space:]]+10\.77\.' && { seen=yes; break; }
	sleep 0.1
done
check "a host that joined (add, join, import) answers in DNS within one second, no restart" \
	"[ $seen = yes ]"
record newname TXT '"fresh"'
seen=no
for i in $(seq 10); do
	has "$(ans newname.mesh TXT)" fresh && { seen=yes; break; }
	sleep 0.1
done
check "a record added by the CLI answers within one second" "[ $seen = yes ]"

# ---- SIGHUP ----
cp "$conf" "$conf.good"
echo "listen not-an-address" >>"$conf"
kill -HUP "$daemon"
sleep 0.5
check "SIGHUP with a broken config reports file:line" \
	"wait_for_line '$tmp/meshnamed.log' 'meshnamed.conf:[0-9]+:' 20"
check "and meshnamed keeps serving with the old config" \
	"kill -0 $daemon && has \"\$(ans admin.mesh A)\" 10\\.77\\.0\\.1"
write_config "$conf" "$OURS:$OUR_PORT [::1]:$OUR_PORT" "forward no" # upstream with forward no is a config error
kill -HUP "$daemon"
refused=no
for i in $(seq 20); do
	has "$(q other.example.test A)" 'status: REFUSED' && { refused=yes; break; }
	sleep 0.1
done
check "SIGHUP with 'forward no': names outside the mesh get REFUSED" "[ $refused = yes ]"
check "and mesh names still answer" "has \"\$(ans admin.mesh A)\" 10\\.77\\.0\\.1"
cp "$conf.good" "$conf"
kill -HUP "$daemon"
for i in $(seq 20); do
	has "$(q www.example.test A)" 'status: NOERROR' && break
	sleep 0.1
done

# ---- failover and serve-stale ----
stop "$upstream1_pid"
out=$(q who.example.test TXT +time=6)
check "with upstream 1 stopped, upstream 2 answers (failover)" "has \"\$out\" '\"upstream2\"'"
stop "$upstream2_pid"
sleep 1.1 # short.example.test (TTL 1) has expired in the cache
out=$(q short.example.test A +time=8)
check "with every upstream stopped, an expired cache entry is served stale (TTL 30)" \
	"has \"\$out\" '^short\\.example\\.test\\.[[:space:]]+30[[:space:]]+IN[[:space:]]+A[[:space:]]+192\\.0\\.2\\.2'"
out=$(q never.example.test A +time=8)
check "and a name never cached gets SERVFAIL" "has \"\$out\" 'status: SERVFAIL'"
check "mesh names answer while the upstreams are down" "has \"\$(ans admin.mesh A)\" 10\\.77\\.0\\.1"

# ---- spoofed answers: a second meshnamed behind a hostile upstream ----
python3 "$HELPERS/fake_upstream.py" "$FAKE" "$FAKE_PORT" >"$tmp/fake.log" 2>&1 &
pids+=($!)
conf2=$tmp/meshnamed2.conf
write_config "$conf2" "$OURS2:$OUR_PORT" "$FAKE:$FAKE_PORT"
"$MESHNAMED" -d -f "$conf2" 2>"$tmp/meshnamed2.log" &
daemon2=$!
pids+=("$daemon2")
check "a second meshnamed starts behind the fake upstream" \
	"wait_for_line '$tmp/fake.log' ready && wait_for_line '$tmp/meshnamed2.log' ': ready$' && kill -0 $daemon2"
for i in $(seq 30); do has "$(q2 +short admin.mesh)" 10.77.0.1 && break; sleep 0.1; done
# First forwarded query of this daemon: the initial RTO (400 ms) covers the 300 ms delay.
out=$(python3 "$HELPERS/tcp_pipeline.py" "$OURS2" "$OUR_PORT" slow.example.test admin.mesh \
	fast.example.test 2>&1)
first=$(head -n 1 <<<"$out")
check "pipelined TCP answers come back as they are ready (slow forwarded one last)" \
	"[ \"\$(tail -n 1 <<<\"\$out\")\" = 'slow.example.test 0 198.51.100.7' ] && [ \"\$(wc -l <<<\"\$out\")\" -eq 3 ] && [ \"\${first%% *}\" != slow.example.test ]"
out=$(q2 spoof.example.test A)
check "forged answers (wrong ID, wrong port, wrong question) are ignored: the real one wins" \
	"has \"\$out\" 'spoof\\.example\\.test\\..*A[[:space:]]+198\\.51\\.100\\.7' && ! has \"\$out\" 'wrong'"
out=$(q2 spoof2.example.test A +tcp)
check "and so for a client over TCP" "has \"\$out\" '198\\.51\\.100\\.7'"
# A client that hangs up while its forwarded query is out: the answer has nowhere to go.
python3 - "$OURS2" "$OUR_PORT" <<-'EOF'
	import socket, struct, sys
	s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
	q = struct.pack("!HHHHHH", 9, 0x100, 1, 0, 0, 0) + b"\x05slow2\x07example\x04test\x00\x00\x01\x00\x01"
	s.sendall(struct.pack("!H", len(q)) + q)
	s.close()
	EOF
sleep 0.5
check "a TCP client that leaves before its forwarded answer does not disturb meshnamed" \
	"kill -0 $daemon2 && has \"\$(q2 again.example.test A)\" '198\\.51\\.100\\.7'"

# ---- only the configured addresses, and a clean exit ----
want=$(printf '%s\n' "$OURS:$OUR_PORT" "[::1]:$OUR_PORT" | sort)
listening=$(ss -H -lnup 2>/dev/null | grep "pid=$daemon," | awk '{ print $4 }' | sort -u)
check "meshnamed listens on UDP only where configured ($(echo $listening))" \
	"[ \"\$listening\" = \"\$want\" ]"
listening=$(ss -H -lntp 2>/dev/null | grep "pid=$daemon," | awk '{ print $4 }' | sort -u)
check "and on TCP only where configured ($(echo $listening))" "[ \"\$listening\" = \"\$want\" ]"

for d in "$daemon" "$daemon2"; do
	kill -TERM "$d"
	wait "$d"
	rc=$?
	check "SIGTERM ends meshnamed $d with status 0 (no leaks under ASan)" "[ $rc -eq 0 ]"
done
forget "$daemon"
forget "$daemon2"
check "no sanitizer report in meshnamed's logs" \
	"! grep -qE 'Sanitizer|runtime error' '$tmp/meshnamed.log' '$tmp/meshnamed2.log'"

sums_after=$(sha256sum /etc/resolv.conf /etc/hosts 2>&1)
check "/etc/resolv.conf and /etc/hosts are byte-identical after the run" \
	"[ \"\$sums_before\" = \"\$sums_after\" ]"

if [ "$failed" -gt 0 ]; then
	echo "--- meshnamed log (last 30 lines) ---"
	tail -n 30 "$tmp/meshnamed.log"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
