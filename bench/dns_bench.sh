#!/bin/bash
# bench/dns_bench.sh: the resolver figures of issue 3, side by side in one run: meshnamed
# against unbound, knot and dnsmasq serving the same mesh zone to dnsperf with the same
# query file; then forwarding (warm cache, no cache hit) against unbound and dnsmasq; then
# RSS with 10,000 hosts. Prints one table. Every server listens on its own 127.0.0.x
# address (never port 53, never anything but loopback) and is stopped by PID, also when
# the run fails. It never fails on speed: only when it cannot set up what it measures.
#
#   bench/dns_bench.sh [--seconds N] [--runs N] [--rate QPS] [--quick]
set -euo pipefail

BUILD=${BUILD:-build}
seconds=4  # dnsperf -l of one measured run (the whole run stays under 5 minutes)
runs=3     # runs per server and scenario; the median is shown
rate=50000 # the fixed-rate scenario's dnsperf -Q
hosts=1000
big_hosts=10000

usage() {
	echo "usage: bench/dns_bench.sh [--seconds N] [--runs N] [--rate QPS] [--quick]" >&2
	exit 2
}
number() { [[ $1 =~ ^[1-9][0-9]*$ ]] || usage; }
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) [ $# -ge 2 ] || usage; number "$2"; seconds=$2; shift 2 ;;
	--runs) [ $# -ge 2 ] || usage; number "$2"; runs=$2; shift 2 ;;
	--rate) [ $# -ge 2 ] || usage; number "$2"; rate=$2; shift 2 ;;
	--quick) seconds=2; runs=1; shift ;;
	*) usage ;;
	esac
done

die() {
	echo "dns_bench: $*" >&2
	exit 1
}

MESHNAME=$BUILD/meshname
MESHNAMED=$BUILD/meshnamed
MKREGISTRY=$BUILD/bench/mkregistry
for bin in "$MESHNAME" "$MESHNAMED" "$MKREGISTRY"; do
	[ -x "$bin" ] || die "$bin is missing: run 'make bench'"
done
for cmd in dnsperf unbound knotd dnsmasq dig taskset chrt getconf; do
	command -v "$cmd" >/dev/null 2>&1 ||
		die "$cmd is missing: tests/deps.sh bench installs what this needs"
done

# Client on CPU 0, servers on CPU 1 (both on CPU 0 on a one-CPU machine), both at
# SCHED_RR 10 when allowed: other load on a shared machine halves the figures otherwise.
if [ "$(nproc --all 2>/dev/null || echo 1)" -ge 2 ]; then
	client_cpu=0 server_cpu=1
else
	client_cpu=0 server_cpu=0
fi
rt=()
if chrt -r 10 true 2>/dev/null; then
	rt=(chrt -r 10)
	priority="SCHED_RR 10"
else
	priority="normal priority (chrt not permitted: noisier figures)"
fi
client=(taskset -c "$client_cpu" "${rt[@]}")
server=(taskset -c "$server_cpu" "${rt[@]}")
tick=$(getconf CLK_TCK)

# One port for every server (a random one below the ephemeral range, so that two runs
# at once do not meet), one loopback address per server.
port=$((10000 + RANDOM % 20000))
A_MESH=127.0.0.153 A_UNBOUND=127.0.0.154 A_KNOT=127.0.0.155 A_DNSMASQ=127.0.0.156
A_UPSTREAM=127.0.0.157 A_FWD_MESH=127.0.0.158 A_FWD_UNBOUND=127.0.0.159
A_FWD_DNSMASQ=127.0.0.160 A_FWD_MESH0=127.0.0.161

tmp=$(mktemp -d /tmp/dns_bench.XXXXXX)
# dnsmasq drops to nobody before it reads its hosts file.
chmod 0755 "$tmp"
declare -A pid_of=()
cleanup() {
	local name
	for name in "${!pid_of[@]}"; do
		kill -TERM "${pid_of[$name]}" 2>/dev/null && wait "${pid_of[$name]}" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

log() { echo "dns_bench: $*" >&2; }

# ---- data: the registry, the zone, and the same hosts in every server's format ------

# make_data DIR N: DIR/state (registry), DIR/mesh.zone, DIR/unbound.conf (local-data),
# DIR/hosts (dnsmasq), DIR/queries (dnsperf: A and AAAA of every host, ~10% absent).
make_data() {
	local dir=$1 n=$2
	mkdir -p "$dir"
	"$MKREGISTRY" "$dir/state" "$n" || die "cannot make a registry of $n hosts"
	"$MESHNAME" --state "$dir/state" export-zone >"$dir/mesh.zone" ||
		die "meshname export-zone failed"
	chmod -R a+rX "$dir"
	awk -v hosts="$dir/hosts" -v ub="$dir/unbound.conf" '
		$1 == "$TTL" { ttl = $2 }
		$4 == "SOA" { printf "  local-data: \"mesh. %s IN SOA %s %s %s %s %s %s %s\"\n",
			ttl, $5, $6, $7, $8, $9, $10, $11 > ub }
		$4 == "NS" { printf "  local-data: \"mesh. %s IN NS %s\"\n", ttl, $5 > ub }
		$4 == "A" || $4 == "AAAA" {
			printf "  local-data: \"%s.mesh. %s IN %s %s\"\n", $1, ttl, $4, $5 > ub
			printf "%s\t%s.mesh\n", $5, $1 > hosts
		}' "$dir/mesh.zone"
	[ "$(grep -c 'IN A ' "$dir/unbound.conf")" -eq "$n" ] ||
		die "the exported zone does not hold $n hosts"
	# The same order every run (a fixed random source), absent names mixed in.
	{
		awk '$4 == "A" { print $1 ".mesh A"; print $1 ".mesh AAAA" }' "$dir/mesh.zone"
		awk -v n="$n" 'BEGIN { for (i = 0; i < n / 10; i++)
			printf "absent%05d.mesh %s\n", i, i % 2 ? "AAAA" : "A" }'
	} | shuf --random-source=<(yes) >"$dir/queries"
}

# ---- servers --------------------------------------------------------------------------

# start NAME CPU-PREFIX... -- COMMAND...: starts a server in the background, logging to
# $tmp/NAME.log; its PID is pid_of[NAME] (taskset and chrt exec the server).
start() {
	local name=$1 prefix=()
	shift
	while [ "$1" != "--" ]; do prefix+=("$1"); shift; done
	shift
	"${prefix[@]}" "$@" >"$tmp/$name.log" 2>&1 &
	pid_of[$name]=$!
}

stop() {
	local name
	for name in "$@"; do
		[ -n "${pid_of[$name]:-}" ] || continue
		kill -TERM "${pid_of[$name]}" 2>/dev/null || true
		wait "${pid_of[$name]}" 2>/dev/null || true
		unset "pid_of[$name]"
	done
}

# answer ADDR NAME TYPE: the answer's data (or the status for an empty answer).
answer() {
	local out
	out=$(dig @"$1" -p "$port" +time=1 +tries=1 +noall +answer +comments "$2" "$3" 2>&1) ||
		true
	if grep -q "IN	$3	" <<<"$out"; then
		awk -v t="$3" '$4 == t { print $5 }' <<<"$out" | head -1
	else
		sed -n 's/.*status: \([A-Z]*\).*/\1/p' <<<"$out" | head -1
	fi
}

# ready NAME ADDR QNAME TYPE EXPECTED: waits up to 5 s for the server to give the
# expected answer; a server that dies or never answers fails the run with its log.
ready() {
	local name=$1 i got=""
	for i in $(seq 50); do
		kill -0 "${pid_of[$name]}" 2>/dev/null || break
		got=$(answer "$2" "$3" "$4")
		[ "$got" = "$5" ] && return 0
		sleep 0.1
	done
	cat "$tmp/$name.log" >&2
	die "$name on $2:$port does not answer $3 $4 with $5 (got '${got:-nothing}')"
}

# check_zone NAME ADDR DIR: the server answers like the zone file: a host's A and
# AAAA, and NXDOMAIN for an absent name.
check_zone() {
	local name=$1 addr=$2 zone=$3/mesh.zone host a aaaa
	host=$(awk '$4 == "A" { n++ } $4 == "A" && n == 7 { print $1 }' "$zone")
	a=$(awk -v h="$host" '$1 == h && $4 == "A" { print $5 }' "$zone")
	aaaa=$(awk -v h="$host" '$1 == h && $4 == "AAAA" { print $5 }' "$zone")
	ready "$name" "$addr" "$host.mesh" A "$a"
	ready "$name" "$addr" "$host.mesh" AAAA "$aaaa"
	ready "$name" "$addr" absent00001.mesh A NXDOMAIN
}

write_unbound_conf() { # FILE ADDR EXTRA-CONF-FILE...
	local file=$1 addr=$2
	shift 2
	{
		cat <<-EOF
			server:
			  interface: $addr@$port
			  port: $port
			  do-daemonize: no
			  use-syslog: no
			  logfile: ""
			  username: ""
			  chroot: ""
			  directory: "$tmp"
			  pidfile: ""
			  verbosity: 0
			  num-threads: 1
			  do-not-query-localhost: no
			  access-control: 127.0.0.0/8 allow
			  module-config: "iterator"
		EOF
		cat "$@"
		printf 'remote-control:\n  control-enable: no\n'
	} >"$file"
}

# start_auth TAG DIR: the four servers answering the zone of DIR.
start_auth() {
	local tag=$1 dir=$2
	cat >"$dir/meshnamed.conf" <<-EOF
		state $dir/state
		listen $A_MESH:$port
		control $tmp/$tag-control.sock
		listen-mesh no
		manage no
		forward no
	EOF
	start "meshnamed-$tag" "${server[@]}" -- "$MESHNAMED" -d -f "$dir/meshnamed.conf"

	printf '  local-zone: "mesh." static\n' >"$dir/unbound-zone.conf"
	write_unbound_conf "$dir/unbound-auth.conf" "$A_UNBOUND" "$dir/unbound-zone.conf" \
		"$dir/unbound.conf"
	start "unbound-$tag" "${server[@]}" -- unbound -d -c "$dir/unbound-auth.conf"

	mkdir -p "$dir/knot"
	cat >"$dir/knot.conf" <<-EOF
		server:
		    listen: $A_KNOT@$port
		    rundir: "$dir/knot"
		    udp-workers: 1
		    tcp-workers: 1
		    background-workers: 1
		log:
		  - target: stderr
		    any: warning
		database:
		    storage: "$dir/knot"
		zone:
		  - domain: mesh
		    storage: "$dir"
		    file: "mesh.zone"
		    journal-content: none
		    zonefile-sync: -1
	EOF
	start "knot-$tag" "${server[@]}" -- knotd -c "$dir/knot.conf"

	# --local: names under mesh. that the hosts file lacks are NXDOMAIN, never forwarded.
	start "dnsmasq-$tag" "${server[@]}" -- dnsmasq -k --conf-file=/dev/null --no-resolv \
		--no-hosts --addn-hosts="$dir/hosts" --local=/mesh/ --bind-interfaces \
		--listen-address="$A_DNSMASQ" --port="$port" --pid-file= --cache-size=10000 \
		--log-facility=-

	check_zone "meshnamed-$tag" "$A_MESH" "$dir"
	check_zone "unbound-$tag" "$A_UNBOUND" "$dir"
	check_zone "knot-$tag" "$A_KNOT" "$dir"
	check_zone "dnsmasq-$tag" "$A_DNSMASQ" "$dir"
}

# The upstream of the forwarding scenarios (on the client's CPU: only the forwarder is
# measured): 100 names under example.test (the warm set) and any name under wild.test
# (the unique names that no cache can hold).
start_upstream() {
	local i
	{
		printf '  local-zone: "test." nodefault\n'
		printf '  local-zone: "example.test." static\n'
		printf '  local-data: "example.test. 3600 IN SOA ns.example.test. host.example.test. 1 3600 600 86400 60"\n'
		for i in $(seq -w 0 99); do
			printf '  local-data: "w%s.example.test. 3600 IN A 192.0.2.%d"\n' "$i" $((10#$i + 1))
		done
		printf '  local-zone: "wild.test." redirect\n'
		printf '  local-data: "wild.test. 3600 IN A 192.0.2.200"\n'
	} >"$tmp/upstream-zone.conf"
	write_unbound_conf "$tmp/upstream.conf" "$A_UPSTREAM" "$tmp/upstream-zone.conf"
	start upstream "${client[@]}" -- unbound -d -c "$tmp/upstream.conf"
	ready upstream "$A_UPSTREAM" w07.example.test A 192.0.2.8
	ready upstream "$A_UPSTREAM" any1.wild.test A 192.0.2.200
}

# start_forwarders TAG CACHE: meshnamed, unbound and dnsmasq forwarding everything to
# the upstream; CACHE is the entries meshnamed and dnsmasq keep (0: none).
start_forwarders() {
	local tag=$1 cache=$2 stale=yes
	[ "$cache" -eq 0 ] && stale=no
	cat >"$tmp/fwd-$tag.conf" <<-EOF
		state $tmp/d$hosts/state
		listen $A_FWD_MESH:$port
		control $tmp/fwd-$tag-control.sock
		listen-mesh no
		manage no
		forward yes
		upstream $A_UPSTREAM:$port
		cache-size $cache
		serve-stale $stale
	EOF
	start "meshnamed-$tag" "${server[@]}" -- "$MESHNAMED" -d -f "$tmp/fwd-$tag.conf"

	cat >"$tmp/unbound-fwd-zone.conf" <<-EOF
		  local-zone: "test." nodefault
		forward-zone:
		  name: "."
		  forward-addr: $A_UPSTREAM@$port
	EOF
	write_unbound_conf "$tmp/unbound-fwd.conf" "$A_FWD_UNBOUND" "$tmp/unbound-fwd-zone.conf"
	start "unbound-$tag" "${server[@]}" -- unbound -d -c "$tmp/unbound-fwd.conf"

	start "dnsmasq-$tag" "${server[@]}" -- dnsmasq -k --conf-file=/dev/null --no-resolv \
		--no-hosts --server="$A_UPSTREAM#$port" --bind-interfaces \
		--listen-address="$A_FWD_DNSMASQ" --port="$port" --pid-file= \
		--cache-size="$cache" --log-facility=-

	ready "meshnamed-$tag" "$A_FWD_MESH" w01.example.test A 192.0.2.2
	ready "unbound-$tag" "$A_FWD_UNBOUND" w01.example.test A 192.0.2.2
	ready "dnsmasq-$tag" "$A_FWD_DNSMASQ" w01.example.test A 192.0.2.2
}

# ---- measuring ------------------------------------------------------------------------

# utime + stime of a process (every thread), in clock ticks.
cpu_ticks() {
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# VmRSS and VmHWM in MB.
rss_of() {
	awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 }
		END { printf "%.1f %.1f\n", r / 1024, h / 1024 }' "/proc/$1/status"
}

# dnsperf_run NAME ADDR QFILE DNSPERF-ARGS...: one dnsperf run against server NAME; sets
# r_qps, r_usq (server CPU microseconds per answered query) and r_lost (percent).
dnsperf_run() {
	local name=$1 addr=$2 qfile=$3 pid t0 t1 out completed sent bad
	shift 3
	pid=${pid_of[$name]}
	out=$tmp/dnsperf.out
	t0=$(cpu_ticks "$pid")
	"${client[@]}" dnsperf -s "$addr" -p "$port" -d "$qfile" -l "$seconds" -t 2 "$@" \
		>"$out" 2>&1 || { cat "$out" >&2; die "dnsperf against $name failed"; }
	t1=$(cpu_ticks "$pid") || die "$name died during the run"
	sent=$(awk '/Queries sent:/ { print $3 }' "$out")
	completed=$(awk '/Queries completed:/ { print $3 }' "$out")
	r_qps=$(awk '/Queries per second:/ { print $4 }' "$out")
	if [ -z "$completed" ] || [ "$completed" -eq 0 ]; then
		cat "$out" >&2
		die "$name answered no query"
	fi
	# Anything but NOERROR and NXDOMAIN means the server is not set up as measured.
	bad=$(awk '/Response codes:/ { sub(/.*codes: */, ""); n = split($0, f, /, */)
		for (i = 1; i <= n; i++) { split(f[i], w, " ")
			if (w[1] != "NOERROR" && w[1] != "NXDOMAIN") b += w[2] } }
		END { print b + 0 }' "$out")
	[ "$bad" -le $((completed / 1000)) ] ||
		{ cat "$out" >&2; die "$name: $bad answers other than NOERROR/NXDOMAIN"; }
	r_usq=$(awk -v d=$((t1 - t0)) -v hz="$tick" -v n="$completed" \
		'BEGIN { printf "%.2f", d * 1e6 / hz / n }')
	r_lost=$(awk -v s="$sent" -v c="$completed" 'BEGIN { printf "%.2f", 100 * (s - c) / s }')
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
	END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Rows of the table: scenario|server|q/s|us/q|lost|RSS
rows=()

# bench SCENARIO LABEL NAME ADDR QFILE-OR-GENERATOR DNSPERF-ARGS...: $runs runs, medians
# into a row. A QFILE starting with '@' names a function that writes a fresh file for
# each run (unique names) and prints its path.
bench() {
	local scenario=$1 label=$2 name=$3 addr=$4 qsrc=$5 r qfile qps=() usq=() lost=() rss
	shift 5
	for r in $(seq "$runs"); do
		if [ "${qsrc:0:1}" = @ ]; then
			qfile=$("${qsrc:1}" "$name-$r")
		else
			qfile=$qsrc
		fi
		dnsperf_run "$name" "$addr" "$qfile" "$@"
		[ "${qsrc:0:1}" = @ ] && rm -f "$qfile"
		qps+=("$r_qps")
		usq+=("$r_usq")
		lost+=("$r_lost")
		log "$scenario, $label, run $r: $r_qps q/s, $r_usq us/q, lost $r_lost%"
	done
	rss=$(rss_of "${pid_of[$name]}")
	rows+=("$scenario|$label|$(median "${qps[@]}")|$(median "${usq[@]}")|$(median "${lost[@]}")|${rss% *}")
}

# A file of names that no run has asked before, all answered by the upstream's
# wildcard: enough for the fastest forwarder to never run out within $seconds.
unique_queries() {
	local file=$tmp/unique-$1
	awk -v p="$1" -v n=$((seconds * 120000)) 'BEGIN {
		gsub(/[^a-z0-9]/, "-", p)
		for (i = 0; i < n; i++) printf "q%07d-%s.wild.test A\n", i, p }' >"$file"
	echo "$file"
}

# ---- the run --------------------------------------------------------------------------

started=$(date +%s)
echo "dns_bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $(nproc --all) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), servers on CPU $server_cpu, dnsperf on CPU $client_cpu, $priority"
echo "dns_bench: dnsperf -l $seconds, median of $runs runs; $(unbound -V | head -1), knot $(knotd -V | awk '{ print $NF }'), $(dnsmasq -v | head -1 | awk '{ print $1, $3 }'), $(dnsperf -h 2>&1 | awk '/^Version/ { print "dnsperf " $2 }')"

log "making the registries ($hosts and $big_hosts hosts) and their zones"
make_data "$tmp/d$hosts" "$hosts"
make_data "$tmp/d$big_hosts" "$big_hosts"

log "answers: $hosts hosts"
start_auth a "$tmp/d$hosts"
q=$tmp/d$hosts/queries
for s in "meshnamed $A_MESH" "unbound $A_UNBOUND" "knot $A_KNOT" "dnsmasq $A_DNSMASQ"; do
	read -r srv addr <<<"$s"
	bench "answers, $hosts hosts, saturated" "$srv" "$srv-a" "$addr" "$q"
done
for s in "meshnamed $A_MESH" "unbound $A_UNBOUND" "knot $A_KNOT" "dnsmasq $A_DNSMASQ"; do
	read -r srv addr <<<"$s"
	bench "answers, $hosts hosts, $rate q/s" "$srv" "$srv-a" "$addr" "$q" -Q "$rate"
done
stop meshnamed-a unbound-a knot-a dnsmasq-a

log "forwarding, warm cache"
start_upstream
for i in $(seq -w 0 99); do echo "w$i.example.test A"; done >"$tmp/warm-queries"
start_forwarders w 10000
for s in "meshnamed $A_FWD_MESH" "unbound $A_FWD_UNBOUND" "dnsmasq $A_FWD_DNSMASQ"; do
	read -r srv addr <<<"$s"
	# Fill the cache first: only the measured runs are all hits.
	dnsperf_run "$srv-w" "$addr" "$tmp/warm-queries" -n 1
	bench "forward, warm cache" "$srv" "$srv-w" "$addr" "$tmp/warm-queries"
done
stop meshnamed-w unbound-w dnsmasq-w

log "forwarding, no cache hit"
start_forwarders c 0
# The same with meshnamed's default cache: every query a miss that is stored and evicts.
sed -e "s/^listen .*/listen $A_FWD_MESH0:$port/" -e 's/^cache-size .*/cache-size 10000/' \
	-e 's/^serve-stale .*/serve-stale yes/' -e "s|^control .*|control $tmp/c10k.sock|" \
	"$tmp/fwd-c.conf" >"$tmp/fwd-c10k.conf"
start "meshnamed-c10k" "${server[@]}" -- "$MESHNAMED" -d -f "$tmp/fwd-c10k.conf"
ready meshnamed-c10k "$A_FWD_MESH0" w01.example.test A 192.0.2.2
bench "forward, no cache hit" "meshnamed (cache-size 0)" meshnamed-c "$A_FWD_MESH" @unique_queries -n 1
bench "forward, no cache hit" "meshnamed (cache-size 10000)" meshnamed-c10k "$A_FWD_MESH0" @unique_queries -n 1
bench "forward, no cache hit" "unbound" unbound-c "$A_FWD_UNBOUND" @unique_queries -n 1
bench "forward, no cache hit" "dnsmasq (cache-size 0)" dnsmasq-c "$A_FWD_DNSMASQ" @unique_queries -n 1
stop meshnamed-c meshnamed-c10k unbound-c dnsmasq-c upstream

log "memory: $big_hosts hosts"
start_auth m "$tmp/d$big_hosts"
for s in "meshnamed $A_MESH" "unbound $A_UNBOUND" "knot $A_KNOT" "dnsmasq $A_DNSMASQ"; do
	read -r srv addr <<<"$s"
	# One pass over every name, so that whatever a server builds lazily is counted.
	dnsperf_run "$srv-m" "$addr" "$tmp/d$big_hosts/queries" -n 1
	rss=$(rss_of "${pid_of[$srv-m]}")
	rows+=("memory, $big_hosts hosts|$srv||||${rss% *}|${rss#* }")
done
stop meshnamed-m unbound-m knot-m dnsmasq-m

# ---- the table --------------------------------------------------------------------------

echo
printf '%s\n' "${rows[@]}" | awk -F'|' '
	function ratio(x, y) { return (x == "" || y == "" || y + 0 == 0) ? "" : sprintf("%.2f", x / y) }
	{ scen[NR] = $1; srv[NR] = $2; qps[NR] = $3; usq[NR] = $4; lost[NR] = $5; rss[NR] = $6
	  hwm[NR] = $7
	  if ($2 == "unbound") { uq[$1] = $3; uu[$1] = $4; ur[$1] = $6 } }
	END {
		print "| scenario | server | q/s | us/q (server CPU) | lost | RSS MB | q/s / unbound | us/q / unbound | RSS / unbound |"
		print "|---|---|---:|---:|---:|---:|---:|---:|---:|"
		for (i = 1; i <= NR; i++)
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", scen[i], srv[i],
				qps[i] == "" ? "" : sprintf("%.0f", qps[i]), usq[i],
				lost[i] == "" ? "" : lost[i] "%",
				rss[i] (hwm[i] != "" ? " (peak " hwm[i] ")" : ""),
				ratio(qps[i], uq[scen[i]]), ratio(usq[i], uu[scen[i]]),
				ratio(rss[i], ur[scen[i]])
	}'

# The targets of issue 3, from the rows above.
value() { # SCENARIO-PREFIX SERVER FIELD
	printf '%s\n' "${rows[@]}" | awk -F'|' -v s="$1" -v n="$2" -v f="$3" \
		'index($1, s) == 1 && $2 == n { print $f; exit }'
}
# verdict MEASURED LIMIT OP: "ok", or "over by N%" (how far past the limit).
verdict() { awk -v a="$1" -v b="$2" -v op="$3" 'BEGIN {
	ok = op == "<" ? a < b : a <= b
	if (ok) print "ok"; else printf "over by %.0f%%\n", (b > 0 ? 100 * (a - b) / b : 0) }'; }
echo
sat="answers, $hosts hosts, saturated" fixed="answers, $hosts hosts, $rate q/s"
m=$(value "$sat" meshnamed 4) u=$(value "$sat" unbound 4)
echo "target: answers cheaper than unbound, saturated: $m vs $u us/q: $(verdict "$m" "$u" '<')"
m=$(value "$fixed" meshnamed 4) u=$(value "$fixed" unbound 4)
echo "target: answers cheaper than unbound, at $rate q/s: $m vs $u us/q: $(verdict "$m" "$u" '<')"
m=$(value "forward, warm" meshnamed 4) u=$(value "forward, warm" unbound 4)
echo "target: forwarding from a warm cache at most unbound's: $m vs $u us/q: $(verdict "$m" "$u" '<=')"
m=$(value "forward, no cache" "meshnamed (cache-size 0)" 4)
u=$(value "forward, no cache" "dnsmasq (cache-size 0)" 4)
echo "target: forwarding with no cache hit cheaper than dnsmasq: $m vs $u us/q: $(verdict "$m" "$u" '<')"
m=$(value "memory" meshnamed 6)
echo "target: meshnamed RSS with $big_hosts hosts <= 20 MB: $m MB: $(verdict "$m" 20 '<=')"
echo "dns_bench: done in $(($(date +%s) - started)) s"
