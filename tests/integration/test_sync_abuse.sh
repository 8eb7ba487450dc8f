#!/usr/bin/env bash
# A peer that pushes forged, replayed or oversized records is cut off and nothing it sent
# is stored (issue 5). h1 (admin, the receiver), h2, h3, h4 in network namespaces with
# meshnamed and WireGuard; h3's and h4's own meshnameds do not sync (`sync no`). The
# attacker is tests/tools/sync_peer: from h3's namespace it speaks transport A from h3's
# mesh address (so h1 takes it for the member h3); from a namespace x on the LAN it speaks
# transport B with h4's host key (the member h4) or with a host key of its own (a
# non-member). What it pushes was made before any daemon ran:
#   - RECORDs signed with h3's host key on a copy of h3's state (never seen by anyone), one
#     of them sent with a broken signature;
#   - six ENDPOINTS of h2 that h2 really signed (endpoint add on its state) and that newer
#     ones replaced before h1 got h2's records: a replay of stale records;
#   - a copy of a CERT with a broken signature.
# Sessions, each on a new connection to h1's sync port:
#   M1 as h4: a PUSH of four of the stale ENDPOINTS             -> DONE, no strike (a session
#      tolerates 4 benign rejections: honest pushes race)
#   A1 a PUSH of a valid record and a forged one in one frame  -> ERROR record
#   A2 a PUSH of the six stale ENDPOINTS                        -> ERROR replay
#   A3 a frame header announcing 70,000 bytes                   -> ERROR frame; h3 banned
#   A4 a valid new record                                       -> ERROR banned
#   B1 a PUSH of a 1,100-byte record                            -> ERROR protocol
#   B2 a forged CERT                                            -> ERROR record
#   B3 a RECORD (a non-member may push CERT and RENEW only)     -> ERROR forbidden; banned
#   B4 the same key again                                       -> ERROR banned
# After each: none of what it sent is in h1's registry (its export, meshname show, dig).
# At the end: h1's status counts the strikes and bans and its log names them, h1 still
# answers DNS, and a change on the honest h2 still reaches h1. Setup: lib_mesh.sh.
# shellcheck disable=SC2317,SC2034 # functions and variables used through check (eval)
MESH_NS_PREFIX=msu
MESH_IF_PREFIX=wgu
MESH_HOSTS=4
MESH_EXTRA_CLEANUP=abuse_cleanup
# shellcheck source=tests/integration/lib_mesh.sh
. "$(dirname "$0")/lib_mesh.sh"

SYNC_PEER=$BUILD/tests/tools/sync_peer
xns=$MESH_NS_PREFIX-x-$mesh_tag
abuse_cleanup() { ip netns del "$xns" 2>/dev/null; }

mesh_require dig od base64
[ -x "$SYNC_PEER" ] || bail "$SYNC_PEER is built (make all-tests)"

# hex_of: standard input (base64 of a key) as lowercase hex.
hex_of() { base64 -d | od -An -tx1 -v | tr -d ' \n'; }
# records_of FILE TYPE [SIGNER-HEX [NEEDLE-HEX]]: the base64 lines of bundle FILE whose
# record has TYPE (two hex digits), SIGNER (doc/records.md: type at byte 4, signer at
# 62) and, if given, contains the bytes NEEDLE.
records_of() {
	local line hex
	tail -n +2 "$1" | while read -r line; do
		hex=$(printf '%s' "$line" | base64 -d | od -An -tx1 -v | tr -d ' \n')
		[ "${hex:8:2}" = "$2" ] || continue
		[ -z "${3:-}" ] || [ "${hex:124:64}" = "$3" ] || continue
		[ -z "${4:-}" ] || [[ $hex == *"$4"* ]] || continue
		echo "$line"
	done
}
# save_record LINE FILE: one base64 bundle line as a raw record file.
save_record() { printf '%s' "$1" | base64 -d >"$2"; }
# stored_on H LINE: H's registry holds this record (its export has the line).
stored_on() {
	mn "$1" export -o "$tmp/export$1" >/dev/null 2>&1 || return 2
	grep -qxF "$2" "$tmp/export$1"
}
answers() { [ "$(mesh_dig "$1" "$2" "$3")" = "$4" ]; }
# peer NAME WHERE ARGS...: runs sync_peer (WHERE: a host number or x), output in
# $tmp/peer-NAME; prints its outcome line.
peer() {
	local name=$1 where=$2
	shift 2
	if [ "$where" = x ]; then
		ip netns exec "$xns" timeout 30 "$SYNC_PEER" --mesh-id "$mesh_id" "$@"
	else
		in_ns "$where" timeout 30 "$SYNC_PEER" --mesh-id "$mesh_id" "$@"
	fi >"$tmp/peer-$name" 2>&1
	sed 's/^/# '"$name"': /' "$tmp/peer-$name"
	outcome=$(sed -n 's/^outcome: //p' "$tmp/peer-$name")
}
ctl_num() { mesh_ctl 1 | jq -r "$1"; }
# none_stored: h1 holds none of the six stale ENDPOINTS.
none_stored() {
	local i
	for i in 1 2 3 4 5 6; do ! stored_on 1 "${stale[$i]}" || return 1; done
}

# ---- the registry, and what the attackers will send -----------------------------------------
mesh_registry
mesh_id=$(mn 1 status --json | jq -r .mesh_id)
h2_key=$(mn 1 show h2 --json | jq -r .host_key | hex_of)
h3_key=$(mn 1 show h3 --json | jq -r .host_key | hex_of)
[[ $h3_key =~ ^[0-9a-f]{64}$ ]] || bail "meshname show --json gives the host key in base64"

# Six ENDPOINTS of h2, each replaced by the next endpoint change: stale once h1 has the
# last one.
declare -A stale
for i in 1 2 3 4 5 6; do
	mn 2 endpoint add 192.0.2.20$i:5000 >/dev/null || bail "meshname endpoint add on h2"
	mn 2 export -o "$tmp/e2-$i" >/dev/null || bail "meshname export on h2"
	stale[$i]=$(records_of "$tmp/e2-$i" 04 "$h2_key" "$(printf 'c00002%02x' $((200 + i)))")
	{ [ "$(wc -l <<<"${stale[$i]}")" = 1 ] && [ -n "${stale[$i]}" ]; } ||
		bail "one ENDPOINTS of h2 with 192.0.2.20$i in its bundle"
	save_record "${stale[$i]}" "$tmp/stale$i"
	mn 2 endpoint rm 192.0.2.20$i:5000 >/dev/null || bail "meshname endpoint rm on h2"
done
mesh_bundle 2 1 || bail "bundle h2 -> h1 (h2's newest ENDPOINTS)"

# RECORDs signed by h3's host key on a copy of its state: nobody else ever sees them.
cp -a "$tmp/s3" "$tmp/evil3" || bail "a copy of h3's state"
for r in batch:65 forged:66 late:67; do
	"$MESHNAME" --state "$tmp/evil3" record add "${r%%:*}.h3" A "192.0.2.${r##*:}" >/dev/null ||
		bail "meshname record add on the copy of h3's state"
done
"$MESHNAME" --state "$tmp/evil3" export -o "$tmp/evil3.bundle" >/dev/null || bail "export the copy"
declare -A rec
for r in batch:41 forged:42 late:43; do
	rec[${r%%:*}]=$(records_of "$tmp/evil3.bundle" 06 "$h3_key" "c00002${r##*:}")
	[ -n "${rec[${r%%:*}]}" ] || bail "the RECORD ${r%%:*}.h3 in the copy's bundle"
	save_record "${rec[${r%%:*}]}" "$tmp/rec-${r%%:*}"
done
# The batch's valid record is one h1 would take: a copy of h1's state imports it.
cp -a "$tmp/s1" "$tmp/probe1" || bail "a copy of h1's state"
"$MESHNAME" --state "$tmp/probe1" import "$tmp/evil3.bundle" >/dev/null 2>&1
check "batch.h3 is a valid record: a copy of h1's state stores it from a bundle" \
	"\"\$MESHNAME\" --state $tmp/probe1 export -o $tmp/probe1.bundle >/dev/null &&
	 grep -qxF '${rec[batch]}' $tmp/probe1.bundle"
cert=$(records_of "$tmp/evil3.bundle" 02 | head -n 1)
[ -n "$cert" ] || bail "a CERT in the bundle"
save_record "$cert" "$tmp/cert"

# ---- the network ---------------------------------------------------------------------------
mesh_network
for h in 1 2; do echo "sync yes" >>"$tmp/conf$h"; done
for h in 3 4; do echo "sync no" >>"$tmp/conf$h"; done
mkdir -m 700 "$tmp/x" || bail "a folder for x's key"
ip netns add "$xns" || bail "ip netns add $xns"
ip -n "$xns" link set lo up
{ ip -n "$xns" link add eth0 type veth peer name px netns "$mesh_lan" &&
	ip -n "$mesh_lan" link set px master br0 up &&
	ip -n "$xns" addr add 192.0.2.66/24 dev eth0 && ip -n "$xns" link set eth0 up; } ||
	bail "the attacker's namespace on the LAN"
mesh_start
ok "meshnamed runs on h1..h4"
check "h3 pings h1.mesh (WireGuard up: transport A from h3's mesh address)" \
	"mesh_within 15 'in_ns 3 ping -4 -c1 -W1 h1.mesh >/dev/null 2>&1'"
check "before: h1's registry has h2's newest endpoints, none of the stale ones" \
	"! mn 1 show h2 --json | jq -e '.endpoints[] | select(.address | startswith(\"192.0.2.20\"))' >/dev/null &&
	 mn 1 show h2 --json | jq -e '.endpoints[] | select(.address == \"192.0.2.2\")' >/dev/null"
check "before: h1 answers h2.mesh" "answers 1 h2.mesh A ${v4[2]}"

# ---- transport B as the member h4: benign rejections are tolerated up to 4 ---------------------
peer M1 x -b 192.0.2.1:51821 --key "$tmp/s4/host.key" --role member "$tmp"/stale{1,2,3,4}
check "M1: four stale ENDPOINTS of h2 in one session are tolerated (a race): DONE" \
	"[ '$outcome' = done ]"
check "M1: none of them is stored on h1" "none_stored"
check "M1: no strike was counted (h1's status: strikes 0)" "[ \"\$(ctl_num .sync.strikes)\" = 0 ]"

# ---- transport A, from h3's mesh address -----------------------------------------------------
A=(-a "${v4[1]}:51821")
peer A1 3 "${A[@]}" "$tmp/rec-batch" --forge "$tmp/rec-forged"
check "A1: a batch holding a forged record is refused: ERROR record" "[ '$outcome' = 'error record' ]"
check "A1: neither record of the batch is stored on h1 (the valid one neither)" \
	"! stored_on 1 '${rec[batch]}' && ! stored_on 1 '${rec[forged]}'"
check "A1: h1 answers neither batch.h3.mesh nor forged.h3.mesh" \
	"answers 1 batch.h3.mesh A '' && answers 1 forged.h3.mesh A ''"

peer A2 3 "${A[@]}" "$tmp"/stale{1,2,3,4,5,6}
check "A2: six stale ENDPOINTS of h2 pushed: ERROR replay" "[ '$outcome' = 'error replay' ]"
check "A2: none of them is stored on h1" "none_stored"
check "A2: h1 still shows h2's newest endpoints (192.0.2.2, no 192.0.2.20x)" \
	"! mn 1 show h2 --json | jq -e '.endpoints[] | select(.address | startswith(\"192.0.2.20\"))' >/dev/null &&
	 mn 1 show h2 --json | jq -e '.endpoints[] | select(.address == \"192.0.2.2\")' >/dev/null"

peer A3 3 "${A[@]}" --oversize-frame
check "A3: a frame header over 64 KiB: ERROR frame" "[ '$outcome' = 'error frame' ]"
check "A3: h1 counts three strikes against h3 and bans it" \
	"mesh_within 3 '[ \"\$(ctl_num .sync.strikes)\" -ge 3 ] && [ \"\$(ctl_num .sync.banned)\" -ge 1 ]'"
check "A3: h1's status shows its neighbour h3 banned" \
	"mesh_ctl 1 | jq -e '.sync.neighbours[] | select(.name == \"h3\" and .banned == true)' >/dev/null"
check "A3: h1's log has the strikes against h3 and its ban" \
	"[ \$(grep -c 'sync: strike against .*h3' $tmp/log1) -ge 2 ] && grep -q 'sync: .*h3.* is banned for' $tmp/log1"

peer A4 3 "${A[@]}" "$tmp/rec-late"
check "A4: the banned h3's next session is refused: ERROR banned" "[ '$outcome' = 'error banned' ]"
check "A4: its valid record late.h3 is not stored on h1" \
	"! stored_on 1 '${rec[late]}' && answers 1 late.h3.mesh A ''"

# ---- transport B, from a non-member on the LAN -------------------------------------------------
B=(-b 192.0.2.1:51821 --key "$tmp/x/host.key" --role nonmember)
peer B1 x "${B[@]}" --oversize-record 1100
check "B1: the handshake with a new host key succeeded" "grep -q '^handshake done' $tmp/peer-B1"
check "B1: a record of 1,100 bytes: ERROR protocol" "[ '$outcome' = 'error protocol' ]"
peer B2 x "${B[@]}" --forge "$tmp/cert"
check "B2: a forged CERT from a non-member: ERROR record" "[ '$outcome' = 'error record' ]"
peer B3 x "${B[@]}" "$tmp/rec-late"
check "B3: a RECORD from a non-member: ERROR forbidden" "[ '$outcome' = 'error forbidden' ]"
check "B3: late.h3 is still not stored on h1" \
	"! stored_on 1 '${rec[late]}' && answers 1 late.h3.mesh A ''"
check "B3: h1 counts six strikes and two bans" \
	"mesh_within 3 '[ \"\$(ctl_num .sync.strikes)\" -ge 6 ] && [ \"\$(ctl_num .sync.banned)\" -ge 2 ]'"
peer B4 x "${B[@]}" "$tmp/cert"
check "B4: the banned key's next session is refused: ERROR banned" "[ '$outcome' = 'error banned' ]"

# ---- h1 is still fine ------------------------------------------------------------------------
check "h1's meshnamed still runs" "kill -0 ${daemon_pid[1]}"
check "h1 still answers h2.mesh and h3.mesh" \
	"answers 1 h2.mesh A ${v4[2]} && answers 1 h3.mesh A ${v4[3]}"
mn 2 record add ok.h2 A 192.0.2.222 >/dev/null || bail "meshname record add on h2"
check "a record added on the honest h2 still reaches h1" \
	"mesh_within 30 'answers 1 ok.h2.mesh A 192.0.2.222'"
check "h2 was never struck: h1's status shows h2 not banned" \
	"mesh_ctl 1 | jq -e '.sync.neighbours[] | select(.name == \"h2\" and .banned == false)' >/dev/null"
mesh_stop
mesh_summary
