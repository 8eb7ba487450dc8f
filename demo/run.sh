#!/usr/bin/env bash
# The main job: four simulated hosts in network namespaces form a mesh with meshname
# init / add / join, each runs meshnamed (its WireGuard in the kernel or wireguard-go, its own
# resolver for *.mesh), and they reach each other by name across a NAT and a shared LAN.
# Records travel only by meshnamed's peer-to-peer sync: each invite names the admin's sync
# port as its bootstrap peer, and no bundle file (meshname export / import) is made.
# Every result is checked: the demo stops with "demo: FAILED" and a non-zero exit on the
# first wrong one. Only documentation addresses, only inside the namespaces it creates;
# it stops what it started by PID and deletes its namespaces, also on failure and ^C.
set -Eeuo pipefail
BUILD=${BUILD:-build}
WG_GO=$(command -v wireguard-go || true)
# Colours on a terminal only (CI keeps a plain log).
if [ -t 1 ]; then bold=$'\033[1m' cyan=$'\033[36m' green=$'\033[32m' plain=$'\033[0m'; else bold='' cyan='' green='' plain=''; fi

step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
checked() { printf '%schecked:%s %s\n' "$green" "$plain" "$*"; }
# fail SENTENCE: says what went wrong, with the end of each meshnamed's log and what each
# WireGuard interface holds, and exits 1.
fail() {
	local h
	printf '\ndemo: FAILED: %s\n' "$*" >&2
	for h in "${hosts[@]:-}"; do
		[ -s "${tmp:-/nonexistent}/$h.log" ] || continue
		tail -n 15 "$tmp/$h.log" | sed "s/^/# $h meshnamed: /" >&2
		ip -n "${ns[$h]}" link show "${ifname[$h]}" >/dev/null 2>&1 &&
			in_ns "$h" wg show "${ifname[$h]}" 2>&1 | sed "s/^/# $h wg: /" >&2
	done
	exit 1
}

[ "$(id -u)" -eq 0 ] ||
	fail "the demo must run as root: it creates network namespaces and WireGuard interfaces (try: sudo make demo)"
for tool in ip nft wg dig ping jq "$WG_GO"; do
	command -v "$tool" >/dev/null ||
		fail "${tool:-wireguard-go} is missing: tests/deps.sh demo installs it"
done
[ -c /dev/net/tun ] || [ -d /sys/module/wireguard ] ||
	fail "this kernel has no WireGuard and no /dev/net/tun for wireguard-go"
[ -x "$BUILD/meshname" ] && [ -x "$BUILD/meshnamed" ] ||
	fail "$BUILD/meshname and $BUILD/meshnamed are not built: run make demo, not demo/run.sh alone"
MESHNAME=$(realpath "$BUILD/meshname")
MESHNAMED=$(realpath "$BUILD/meshnamed")

hosts=(admin laptop nas pc)
tag=$(($$ % 10000)) # two demos at once do not collide
tmp=$(mktemp -d /tmp/meshname-demo.XXXXXX)
resolv_sum=$(sha256sum /etc/resolv.conf 2>/dev/null || true)
declare -A ns ifname daemon_pid
made=() # the namespaces this run created: the only ones it deletes
for h in "${hosts[@]}" router inet lan; do ns[$h]=mnx-$tag-$h; done
# /run/wireguard/IFACE.sock (wireguard-go) is shared by all namespaces: one name per host.
for h in "${hosts[@]}"; do ifname[$h]=wgx$tag-$h; done

# The wireguard-go a host's meshnamed started, from its log line "(pid N)".
wg_child() { sed -n 's/.*started .* for interface .* (pid \([0-9]*\)).*/\1/p' "$tmp/$1.log" 2>/dev/null | tail -n1; }
cleanup() {
	local rc=$? h pid
	trap - EXIT INT TERM ERR
	set +e
	for h in "${hosts[@]}"; do
		pid=${daemon_pid[$h]:-}
		[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	# meshnamed stops its wireguard-go (on-exit remove); one left over is stopped here.
	for h in "${hosts[@]}"; do
		pid=$(wg_child "$h")
		if [ -n "$pid" ] && grep -q wireguard-go "/proc/$pid/cmdline" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null
		fi
	done
	for h in "${made[@]}"; do
		ip netns del "${ns[$h]}"
		rm -rf "/etc/netns/${ns[$h]}"
		[ -z "${ifname[$h]:-}" ] || rm -f "/run/wireguard/${ifname[$h]}.sock"
	done
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "demo: interrupted, stopping everything" >&2; exit 130' INT
trap 'exit 143' TERM
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR

# in_ns HOST CMD...: runs CMD on that host: in its namespace, with its state directory and
# control socket as MESHNAME_STATE and MESHNAME_CONTROL, and meshname in PATH.
in_ns() {
	local h=$1
	shift
	ip netns exec "${ns[$h]}" env PATH="$(dirname "$MESHNAME"):$PATH" \
		MESHNAME_STATE="$tmp/$h" MESHNAME_CONTROL="$tmp/$h.sock" "$@"
}
# shown HOST CMD...: prints "HOST# CMD", quoting the words that need it.
shown() {
	local w line=
	for w in "${@:2}"; do
		case $w in *[!A-Za-z0-9_./:=@+-]* | '') w="'$w'" ;; esac
		line+=" $w"
	done
	printf '%s%s#%s%s\n' "$cyan" "$1" "$plain" "$line"
}
# on HOST CMD...: runs CMD on that host, printing it first.
on() {
	shown "$@"
	in_ns "$@"
}
# until_ok SECONDS HOST CMD...: like on, but retries CMD quietly until it succeeds (a tunnel
# that is still shaking hands); shows the output of the run that counted.
until_ok() {
	local tries=$(($1 * 5)) h=$2
	shift 2
	shown "$h" "$@"
	while [ "$tries" -gt 0 ]; do
		tries=$((tries - 1))
		in_ns "$h" "$@" >"$tmp/out" 2>&1 && show_output && return 0
		sleep 0.2
	done
	cat "$tmp/out"
	return 1
}
# What a successful run said: for ping, only its reply line.
show_output() {
	grep -q '^PING ' "$tmp/out" && grep ' bytes from ' "$tmp/out" && return 0
	cat "$tmp/out"
}
# eventually SECONDS COMMAND: evaluates COMMAND every 0.2 s until it holds.
eventually() {
	local tries=$(($1 * 5))
	while [ "$tries" -gt 0 ]; do
		tries=$((tries - 1))
		eval "$2" && return 0
		sleep 0.2
	done
	return 1
}
mesh_v4() { in_ns admin "$MESHNAME" show "$1" --json | jq -r .ipv4; }
wg_key() { in_ns admin "$MESHNAME" show "$1" --json | jq -r .wg_key; }
# The daemon's view of one peer (a jq filter on it) from `meshname status --json`.
peer() { in_ns "$1" "$MESHNAME" status --json | jq -r ".wireguard.peers[]? | select(.name == \"$2\") | $3"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# since MS: the milliseconds from MS (a now_ms) until now.
since() { echo $(($(now_ms) - $1)); }
# within SECONDS COMMAND: evaluates COMMAND every 50 ms until it holds, for at most SECONDS
# (finer than eventually: what it times is sync, which takes tens of milliseconds).
within() {
	local end=$(($(now_ms) + $1 * 1000))
	until eval "$2"; do
		[ "$(now_ms)" -lt "$end" ] || return 1
		sleep 0.05
	done
}
# sync_json HOST: the sync section of HOST's `meshname status --json`.
sync_json() { in_ns "$1" "$MESHNAME" status --json | jq -c .sync; }

step "the network: documentation addresses only, nothing leaves these namespaces"
cat <<EOF
  the internet, a router at 203.0.113.126:  admin 203.0.113.10   nas .20   pc .21   home router .1
  behind the home router's NAT:             laptop 198.51.100.2/25 (the router is 198.51.100.1)
  a LAN shared by nas and pc:               nas 192.0.2.20/24   pc 192.0.2.21/24
  the mesh will be 203.0.113.128/25 and 2001:db8:4d::/48, over WireGuard
EOF
for h in "${!ns[@]}"; do
	ip netns add "${ns[$h]}" || fail "cannot create the network namespace ${ns[$h]} (left by an earlier demo? ip netns del ${ns[$h]})"
	made+=("$h")
	ip -n "${ns[$h]}" link set lo up
done
# wan HOST ADDR: a link from the host to the internet's router, which routes ADDR to it.
ip netns exec "${ns[inet]}" sh -c "echo 1 >/proc/sys/net/ipv4/ip_forward"
wan() {
	ip -n "${ns[$1]}" link add wan0 type veth peer name "$1" netns "${ns[inet]}"
	ip -n "${ns[$1]}" addr add "$2/32" dev wan0
	ip -n "${ns[$1]}" link set wan0 up
	ip -n "${ns[$1]}" route add 203.0.113.126/32 dev wan0
	ip -n "${ns[$1]}" route add default via 203.0.113.126
	ip -n "${ns[inet]}" addr add 203.0.113.126/32 dev "$1"
	ip -n "${ns[inet]}" link set "$1" up
	ip -n "${ns[inet]}" route add "$2/32" dev "$1"
}
wan admin 203.0.113.10
wan router 203.0.113.1
wan nas 203.0.113.20
wan pc 203.0.113.21
# nas and pc also share a LAN: a bridge in the lan namespace.
ip -n "${ns[lan]}" link add br0 type bridge
ip -n "${ns[lan]}" link set br0 up
for h in nas pc; do
	ip -n "${ns[$h]}" link add eth0 type veth peer name "$h" netns "${ns[lan]}"
	ip -n "${ns[lan]}" link set "$h" master br0 up
	ip -n "${ns[$h]}" addr add "192.0.2.$([ $h = nas ] && echo 20 || echo 21)/24" dev eth0
	ip -n "${ns[$h]}" link set eth0 up
done
ip -n "${ns[laptop]}" link add eth0 type veth peer name lan0 netns "${ns[router]}"
ip -n "${ns[laptop]}" addr add 198.51.100.2/25 dev eth0
ip -n "${ns[laptop]}" link set eth0 up
ip -n "${ns[router]}" addr add 198.51.100.1/25 dev lan0
ip -n "${ns[router]}" link set lan0 up
ip -n "${ns[laptop]}" route add default via 198.51.100.1
ip netns exec "${ns[router]}" sh -c "echo 1 >/proc/sys/net/ipv4/ip_forward"
on router nft add table ip nat
on router nft add chain ip nat postrouting '{ type nat hook postrouting priority srcnat; }'
on router nft add rule ip nat postrouting oifname wan0 masquerade
in_ns laptop ping -c1 -W2 203.0.113.10 >/dev/null || fail "laptop cannot reach admin through the NAT router"
! in_ns admin ping -c1 -W1 198.51.100.2 >/dev/null 2>&1 || fail "admin reaches laptop behind the NAT directly"
checked "laptop reaches the internet through the NAT; nobody on the internet reaches laptop"

# Each host's meshnamed.conf: manage yes (it makes the WireGuard interface), its resolver on
# 127.0.0.153, and sync (the default, said here): TCP 51821, LAN beacons on UDP 51821.
declare -A lan_prefix=([admin]="" [laptop]=198.51.100.0/25 [nas]=192.0.2.0/24 [pc]=192.0.2.0/24)
for h in "${hosts[@]}"; do
	mkdir -p "/etc/netns/${ns[$h]}"
	# ip netns exec shows this file as the namespace's /etc/resolv.conf.
	echo "nameserver 127.0.0.153" >"/etc/netns/${ns[$h]}/resolv.conf"
	cat >"$tmp/$h.conf" <<EOF
state $tmp/$h
control $tmp/$h.sock
listen 127.0.0.153:53
forward no
interface ${ifname[$h]}
manage yes
userspace $WG_GO
on-exit remove
sync yes
EOF
	# Documentation addresses look public: say which of them are a LAN.
	[ -z "${lan_prefix[$h]}" ] || echo "lan-prefix ${lan_prefix[$h]}" >>"$tmp/$h.conf"
done
# start_daemon HOST: starts meshnamed on HOST, printing the command.
start_daemon() {
	printf '%s%s#%s meshnamed -d -f %s &\n' "$cyan" "$1" "$plain" "$tmp/$1.conf"
	# Not through in_ns's env: $! must be meshnamed itself (ip netns exec execs it).
	ip netns exec "${ns[$1]}" "$MESHNAMED" -d -f "$tmp/$1.conf" >"$tmp/$1.log" 2>&1 &
	daemon_pid[$1]=$!
}
# wait_daemon HOST: waits until HOST's meshnamed is ready and has made its interface.
wait_daemon() {
	eventually 10 "grep -q ': ready$' '$tmp/$1.log'" || fail "meshnamed on $1 did not start"
	# A kernel interface where the kernel has WireGuard, else wireguard-go (userspace).
	eventually 10 "ip -n ${ns[$1]} link show ${ifname[$1]} >/dev/null 2>&1" ||
		fail "meshnamed on $1 did not make its WireGuard interface ${ifname[$1]}"
}
# endpoints HOST: "ADDR:PORT KIND" of the host's published record, sorted, one line.
endpoints() { in_ns "$1" "$MESHNAME" endpoint ls --json | jq -r '.endpoints[] | "\(.address):\(.port) \(.kind)"' | sort | paste -sd' '; }
declare -A want_ep=(
	[admin]="203.0.113.10:51820 public"
	[laptop]="198.51.100.2:51820 lan"
	[nas]="192.0.2.20:51820 lan 203.0.113.20:51820 public"
	[pc]="192.0.2.21:51820 lan 203.0.113.21:51820 public"
)
# count_hosts HOST: how many hosts HOST's registry lists.
count_hosts() { in_ns "$1" "$MESHNAME" ls --json | jq length; }
names() { in_ns "$1" "$MESHNAME" ls --json | jq -r '[.[].name] | join(" ")'; }

step "admin creates the mesh and runs meshnamed, which publishes admin's address"
on admin meshname init --name demo --host admin --ipv4 203.0.113.128/25 --ipv6 2001:db8:4d::/48
start_daemon admin
wait_daemon admin
eventually 10 "[ \"\$(endpoints admin)\" = '${want_ep[admin]}' ]" ||
	fail "admin publishes '$(endpoints admin)', not '${want_ep[admin]}'"
on admin meshname endpoint ls
checked "admin's meshnamed runs and publishes its public address 203.0.113.10"

step "admin invites the three others; each invite names admin's sync port as the bootstrap peer"
for h in laptop nas pc; do
	shown admin meshname add "$h" -o "$tmp/$h.invite"
	in_ns admin "$MESHNAME" add "$h" -o "$tmp/$h.invite" 2>"$tmp/add.err" ||
		fail "meshname add $h on admin: $(cat "$tmp/add.err")"
	cat "$tmp/add.err"
	grep -qxF 'meshname: bootstrap endpoints in the invite: 203.0.113.10:51821' "$tmp/add.err" ||
		fail "the invite for $h does not name admin's sync port 203.0.113.10:51821 (alone) as its bootstrap peer"
done
echo "(An invite names the addresses the inviting host publishes, at the sync port 51821 by"
echo " default; meshname add --bootstrap HOST:PORT names others.)"

step "each new host joins with its invite (it makes its own keys; the invite holds no admin secret)"
admin_key=$(in_ns admin "$MESHNAME" show admin --json | jq -r .host_key)
for h in laptop nas pc; do
	on "$h" meshname join "$tmp/$h.invite"
	grep -qxF "$admin_key 203.0.113.10:51821" "$tmp/$h/seeds" ||
		fail "$h's seeds file does not name admin's host key at 203.0.113.10:51821"
done
on laptop cat "$tmp/laptop/seeds"
[ "$(names admin)" = admin ] || fail "admin lists '$(names admin)' before the others ran meshnamed"
checked "each new host's seeds file names admin's key at 203.0.113.10:51821; admin knows none of them yet"

step "admin adds a custom DNS record for the whole mesh"
on admin meshname record add files CNAME nas

step "the three others run meshnamed: each announces itself to its seed, admin, and syncs"
echo "nas's $tmp/nas.conf:"
sed 's/^/    /' "$tmp/nas.conf"
started=$(now_ms)
for h in laptop nas pc; do start_daemon "$h"; done
for h in laptop nas pc; do wait_daemon "$h"; done
checked "meshnamed runs on the four hosts, each with its own WireGuard interface"
within 15 "[ \"\$(count_hosts admin)\" = 4 ]" ||
	fail "admin did not learn the three new hosts by sync: it lists '$(names admin)'"
echo "admin has the three new hosts' certificates (pushed over transport B): $(since "$started") ms after they started"
for h in laptop nas pc; do
	within 15 "[ \"\$(count_hosts $h)\" = 4 ]" || fail "$h lists '$(names "$h")', not the 4 hosts"
done
echo "every host lists all four: $(since "$started") ms after they started"
checked "each host lists all four hosts, learnt by sync: no bundle file"

step "each meshnamed publishes where its WireGuard can be reached: its addresses, signed"
for h in "${hosts[@]}"; do
	eventually 10 "[ \"\$(endpoints $h)\" = '${want_ep[$h]}' ]" ||
		fail "$h publishes '$(endpoints "$h")', not '${want_ep[$h]}'"
done
on nas meshname endpoint ls
on laptop meshname endpoint ls
echo "laptop's address is only good behind its NAT: it calls out (keepalive), and the others see it where it comes from."
checked "each host published its addresses, as lan or public"
# endpoints_of HOST OF: "ADDR:PORT KIND" of OF's endpoints in HOST's registry, sorted, one line.
endpoints_of() { in_ns "$1" "$MESHNAME" show "$2" --json | jq -r '.endpoints[] | "\(.address):\(.port) \(.kind)"' | sort | paste -sd' '; }
for h in "${hosts[@]}"; do
	for o in "${hosts[@]}"; do
		within 15 "[ \"\$(endpoints_of $h $o)\" = '${want_ep[$o]}' ]" ||
			fail "$h's registry has '$(endpoints_of "$h" "$o")' as $o's endpoints, not '${want_ep[$o]}'"
	done
done
echo "every host has every host's endpoints: $(since "$started") ms after the three started"
on pc meshname ls
checked "every host's registry holds the endpoints every host published, by sync"
declare -A v4 key
for h in "${hosts[@]}"; do
	v4[$h]=$(mesh_v4 "$h")
	key[$h]=$(wg_key "$h")
done

step "the tunnels come up by themselves: meshnamed sets the peers from the registry"
for h in "${hosts[@]}"; do
	eventually 10 "[ \"\$(in_ns $h wg show ${ifname[$h]} peers | wc -l)\" = 3 ]" ||
		fail "$h's WireGuard interface does not have its 3 peers"
done
# laptop's keepalive opens its NAT mapping; admin learns laptop's address from it.
eventually 15 "[ \"\$(peer admin laptop .latest_handshake)\" -gt 0 ] 2>/dev/null" ||
	fail "laptop (behind NAT) never shook hands with admin"
on admin meshname status
[ "$(peer admin nas .endpoint)" = 203.0.113.20:51820 ] ||
	fail "admin reaches nas at '$(peer admin nas .endpoint)', not its public endpoint 203.0.113.20:51820"
ep=$(peer admin laptop '.endpoint + " " + .endpoint_kind')
[ "${ep%%:*}" = 203.0.113.1 ] && [ "${ep##* }" = reflexive ] ||
	fail "admin sees laptop at '$ep', not at its home router's address 203.0.113.1 (reflexive)"
checked "admin has 3 peers: nas at its public endpoint, laptop at its NAT's address (seen, not published)"
# synced_all HOST N: HOST's sync section lists N neighbours, each with a successful session.
synced_all() { [ "$(sync_json "$1" | jq '[.neighbours[] | select(.last_ok != null)] | length')" = "$2" ]; }
within 10 "synced_all admin 3" ||
	fail "admin's sync section does not show a successful session with each of its 3 neighbours: $(sync_json admin)"
checked "admin's sync section (the end of meshname status): a successful session with each of the 3 others"
if [ "$(sync_json admin | jq -r '.error // empty')" != "" ]; then
	echo "(The sync 'error:' line is the latest failed attempt, such as a connection to a peer whose"
	echo " tunnel was not up yet; STATE says how the latest session with each neighbour went.)"
fi

step "DNS: each host asks its own meshnamed (/etc/resolv.conf of its namespace says 127.0.0.153)"
on laptop dig +noall +answer nas.mesh A
got=$(in_ns laptop dig +short nas.mesh A)
[ "$got" = "${v4[nas]}" ] || fail "laptop resolves nas.mesh to '$got', the registry says ${v4[nas]}"
for h in "${hosts[@]}"; do
	for o in "${hosts[@]}"; do
		got=$(in_ns "$h" dig +short "$o.mesh" A)
		[ "$got" = "${v4[$o]}" ] || fail "$h resolves $o.mesh to '$got', the registry says ${v4[$o]}"
	done
done
checked "every host resolves all four names to the addresses in the registry"
on pc dig +noall +answer files.mesh
[ "$(in_ns pc dig +short files.mesh A | tail -n1)" = "${v4[nas]}" ] ||
	fail "files.mesh does not lead to nas's address ${v4[nas]}"
checked "admin's record files.mesh CNAME nas.mesh is served by pc's meshnamed"

step "ping by name through the tunnels"
# Retried quietly for a few seconds while a tunnel shakes hands; then it must answer.
until_ok 10 admin ping -c1 -W2 laptop.mesh || fail "admin cannot ping laptop.mesh (behind the NAT)"
until_ok 10 laptop ping -c1 -W2 admin.mesh || fail "laptop cannot ping admin.mesh"
for h in nas pc; do
	until_ok 10 laptop ping -c1 -W2 "$h.mesh" || fail "laptop cannot ping $h.mesh"
	until_ok 10 "$h" ping -c1 -W2 laptop.mesh || fail "$h cannot ping laptop.mesh"
done
until_ok 10 nas ping -c1 -W2 pc.mesh || fail "nas cannot ping pc.mesh"
until_ok 10 pc ping -c1 -W2 nas.mesh || fail "pc cannot ping nas.mesh"
checked "admin <-> laptop across the NAT, laptop <-> nas and pc, nas <-> pc"
eventually 5 "[ \"\$(peer nas pc '.latest_handshake > 0 and .rx_bytes > 0')\" = true ]" ||
	fail "nas's status shows no handshake and no traffic with pc"
on nas meshname status
[ "$(peer nas pc '.endpoint + " " + .endpoint_kind')" = "192.0.2.21:51820 lan" ] ||
	fail "nas talks to pc at '$(peer nas pc '.endpoint + " " + .endpoint_kind')', not over the LAN (192.0.2.21:51820 lan)"
[ "$(peer nas laptop .latest_handshake)" -gt 0 ] || fail "nas shows no handshake with laptop"
checked "nas and pc talk over their shared LAN, not the internet"

step "a record added on nas reaches the others by sync, pushed at once"
# answers HOST NAME TYPE VALUE: HOST's own meshnamed answers exactly VALUE.
answers() { [ "$(in_ns "$1" dig +short "$2" "$3")" = "$4" ]; }
srv="0 0 445 nas.mesh."
! answers laptop _smb._tcp.nas.mesh SRV "$srv" || fail "laptop answers _smb._tcp.nas.mesh before nas added it"
on nas meshname record add _smb._tcp.nas SRV '0 0 445 nas'
changed=$(now_ms)
within 5 "answers laptop _smb._tcp.nas.mesh SRV '$srv'" ||
	fail "laptop does not answer nas's new record _smb._tcp.nas.mesh within 5 s"
took_laptop=$(since "$changed")
for h in admin pc; do
	within 5 "answers $h _smb._tcp.nas.mesh SRV '$srv'" ||
		fail "$h does not answer nas's new record _smb._tcp.nas.mesh within 5 s"
done
took_all=$(since "$changed")
on laptop dig +noall +answer _smb._tcp.nas.mesh SRV
echo "laptop answered it ${took_laptop} ms after nas added it, admin and pc too within ${took_all} ms"
checked "nas's own record _smb._tcp.nas.mesh SRV is answered by laptop (behind the NAT), pc and admin within 5 s"
for h in "${hosts[@]}"; do
	[ "$(sync_json "$h" | jq .strikes)" = 0 ] ||
		fail "$h counted sync strikes: $(sync_json "$h" | jq -c '{strikes, error}')"
done
checked "no host counted a sync strike: every session was with an honest peer"

step "admin revokes pc: sync takes the revocation to every host, and pc leaves their WireGuard peers"
on admin meshname revoke pc
changed=$(now_ms)
for h in admin laptop nas; do
	within 5 "! in_ns $h wg show ${ifname[$h]} peers | grep -qF '${key[pc]}'" ||
		fail "pc is still a WireGuard peer of $h 5 s after the revocation"
	[ "$(in_ns "$h" wg show "${ifname[$h]}" peers | wc -l)" = 2 ] || fail "$h lost more peers than pc"
done
took_all=$(since "$changed")
for h in admin laptop nas; do
	within 5 "in_ns $h dig pc.mesh A | grep -q 'status: NXDOMAIN'" || fail "$h still answers for pc.mesh"
done
echo "pc left the WireGuard peers of admin, laptop and nas within ${took_all} ms of the revocation"
# pc_cert: what pc's own meshnamed says of pc's certificate.
pc_cert() { in_ns pc "$MESHNAME" status --json | jq -r .host.certificate; }
within 10 "[ \"\$(pc_cert)\" = revoked ]" || fail "pc's own status says its certificate is '$(pc_cert)', not revoked"
shown pc meshname status
in_ns pc "$MESHNAME" status >"$tmp/out" 2>&1 && fail "meshname status on pc exits 0 with its certificate revoked"
grep REVOKED "$tmp/out" || fail "meshname status on pc does not say REVOKED"
echo "(meshname status exits 1 there: pc's certificate is revoked)"
on nas wg show "${ifname[nas]}" endpoints
on laptop dig +noall +comments pc.mesh A
! in_ns nas ping -c1 -W1 "${v4[pc]}" >/dev/null 2>&1 || fail "nas still reaches pc's mesh address"
checked "pc is gone from the peers of admin, laptop and nas, pc.mesh is NXDOMAIN there, its address unreachable"
checked "pc itself learnt the revocation by sync: its meshname status says so and exits 1"

step "stopping: meshnamed on each host (SIGTERM), which removes its interface"
for h in "${hosts[@]}"; do
	child=$(wg_child "$h")
	kill -TERM "${daemon_pid[$h]}"
	rc=0
	wait "${daemon_pid[$h]}" || rc=$?
	daemon_pid[$h]=
	[ "$rc" -eq 0 ] || fail "meshnamed on $h exited with status $rc on SIGTERM"
	[ -z "$child" ] || eventually 3 "! kill -0 $child 2>/dev/null" ||
		fail "$h's wireguard-go (pid $child) outlived meshnamed"
	! ip -n "${ns[$h]}" link show "${ifname[$h]}" >/dev/null 2>&1 ||
		fail "$h's interface ${ifname[$h]} outlived meshnamed (on-exit remove)"
done
[ "$(sha256sum /etc/resolv.conf 2>/dev/null || true)" = "$resolv_sum" ] ||
	fail "this machine's /etc/resolv.conf changed"
checked "every meshnamed exited 0 and removed its interface; this machine's /etc/resolv.conf is untouched"

printf '\n%sdemo: all checks passed.%s (the namespaces are deleted on exit)\n' "$bold" "$plain"
echo "No bundle file was used: every record travelled by meshnamed's peer-to-peer sync (doc/sync.md)."
