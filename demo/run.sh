#!/usr/bin/env bash
# The main job, as far as it is built today: four simulated hosts (each its own state
# directory) form a mesh with meshname init / add / join, move records by signed
# bundles (what peer sync will do over the network), agree on one registry, and each
# runs meshnamed on it. Every step is checked: the demo fails loudly if anything is
# wrong. DNS answers (issue 3) and WireGuard tunnels (issue 4) join this demo as they
# are built; it says so at the end.
set -euo pipefail
BUILD=${BUILD:-build}
MESHNAME=$BUILD/meshname
MESHNAMED=$BUILD/meshnamed
tmp=$(mktemp -d /tmp/meshname-demo.XXXXXX)
pids=()

cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
	printf '$ %s\n' "$*"
	"$@"
}
fail() {
	echo "demo: FAILED: $*" >&2
	exit 1
}
ms() { "$MESHNAME" --state "$tmp/$1" "${@:2}"; }

step "admin: create the mesh"
run "$MESHNAME" --state "$tmp/admin" init --name demo --host admin

step "admin: invite laptop and nas (one line each, holds no admin secret)"
run "$MESHNAME" --state "$tmp/admin" add laptop -o "$tmp/laptop.invite"
run "$MESHNAME" --state "$tmp/admin" add nas --group storage -o "$tmp/nas.invite"
echo "invite: $(cut -c1-60 "$tmp/laptop.invite")..."

step "laptop and nas: join with the invite (their keys are made on the host itself)"
run "$MESHNAME" --state "$tmp/laptop" join "$tmp/laptop.invite"
run "$MESHNAME" --state "$tmp/nas" join "$tmp/nas.invite"

step "cloud: the two-step flow (join --request, the admin signs, join the cert)"
req=$(ms cloud join --request --host cloud)
echo "request: ${req:0:60}..."
cert=$(ms admin add cloud --request "$req")
echo "cert: ${cert:0:60}..."
run "$MESHNAME" --state "$tmp/cloud" join "$cert"

step "everyone publishes endpoints, and the admin adds a custom record"
run "$MESHNAME" --state "$tmp/laptop" endpoint add 192.0.2.10:51820 --kind lan
run "$MESHNAME" --state "$tmp/nas" endpoint add 192.0.2.20:51820 --kind lan
run "$MESHNAME" --state "$tmp/cloud" endpoint add 203.0.113.7:51820 --kind public
run "$MESHNAME" --state "$tmp/admin" record add files CNAME nas.mesh.

step "records travel as signed bundles: every host exports, every host imports"
hosts=(admin laptop nas cloud)
for round in 1 2; do
	for h in "${hosts[@]}"; do
		ms "$h" export -o "$tmp/$h.bundle"
	done
	for h in "${hosts[@]}"; do
		for other in "${hosts[@]}"; do
			[ "$h" = "$other" ] && continue
			ms "$h" import "$tmp/$other.bundle" >/dev/null ||
				fail "$h could not import $other's bundle (round $round)"
		done
	done
done

step "every host sees the same mesh"
run "$MESHNAME" --state "$tmp/admin" ls
for h in "${hosts[@]}"; do
	ms "$h" ls --json | jq -S "map(del(.self))" >"$tmp/$h.ls.json"
done
for h in laptop nas cloud; do
	cmp -s "$tmp/admin.ls.json" "$tmp/$h.ls.json" || fail "$h sees another mesh than admin"
done
[ "$(jq length "$tmp/admin.ls.json")" -eq 4 ] || fail "the mesh should have 4 hosts"
echo "checked: admin, laptop, nas and cloud list the same 4 hosts"

step "names as DNS data: hosts lines and a zone file"
run "$MESHNAME" --state "$tmp/nas" hosts
run "$MESHNAME" --state "$tmp/cloud" export-zone | grep -E 'SOA|files|nas' || fail "zone file lacks the custom record"

step "each host runs meshnamed on its registry"
port=5300
for h in "${hosts[@]}"; do
	port=$((port + 1))
	cat >"$tmp/$h.conf" <<CONF
state $tmp/$h
control $tmp/$h.sock
listen 127.0.0.153:$port
listen-mesh no
manage no
forward no
CONF
	"$MESHNAMED" -d -f "$tmp/$h.conf" 2>"$tmp/$h.log" &
	pids+=($!)
	declare "port_$h=$port"
done
for h in "${hosts[@]}"; do
	for _ in $(seq 50); do
		grep -q ready "$tmp/$h.log" && break
		sleep 0.1
	done
	grep -q '4 active hosts' "$tmp/$h.log" || fail "meshnamed on $h did not publish 4 hosts"
	echo "$h: $(grep 'active hosts' "$tmp/$h.log")"
done

step "each host answers DNS for the mesh from its own registry"
run dig +short @127.0.0.153 -p "$port_laptop" nas.mesh A
for h in "${hosts[@]}"; do
	p=port_$h
	for name in admin laptop nas cloud; do
		want=$(ms "$h" show "$name" --json | jq -r .ipv4)
		got=$(dig +short @127.0.0.153 -p "${!p}" "$name.mesh" A)
		[ "$got" = "$want" ] || fail "$h answers $name.mesh with '$got', not $want"
	done
done
echo "checked: each of the 4 hosts answers A for all 4 names, matching the registry"
run dig +short @127.0.0.153 -p "$port_cloud" files.mesh A
run dig +short @127.0.0.153 -p "$port_admin" -x "$(ms admin show nas --json | jq -r .ipv4)"
run "$MESHNAME" --state "$tmp/nas" --control "$tmp/nas.sock" status

step "admin revokes laptop; the revocation reaches nas, and nas's DNS drops the name"
run "$MESHNAME" --state "$tmp/admin" revoke laptop
ms admin export -o "$tmp/admin.bundle"
ms nas import "$tmp/admin.bundle" >/dev/null
if ms nas show laptop >/dev/null 2>&1; then fail "nas still lists laptop"; fi
sleep 1 # meshnamed picks up registry changes within a second
run dig @127.0.0.153 -p "$port_nas" laptop.mesh A +noall +comments
dig @127.0.0.153 -p "$port_nas" laptop.mesh A | grep -q 'status: NXDOMAIN' ||
	fail "nas still answers for laptop.mesh"
echo "checked: nas no longer lists laptop, and laptop.mesh is NXDOMAIN there"

cat <<'EOF'

demo: all checks passed.
Built so far: the signed registry, the meshname command line, and meshnamed with its
stub resolver (each host answers `dig NAME.mesh` from its own registry).
Still to come in this demo: hosts in network namespaces with tunnels and
`ping nas.mesh` across NAT and LAN (the WireGuard manager, issue 4), and records
moving by peer-to-peer sync instead of bundles (issue 5).
EOF
