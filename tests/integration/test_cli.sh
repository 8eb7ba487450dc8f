#!/bin/bash
# tests/integration/test_cli.sh: the meshname command line end to end, offline, on
# several state directories in one temporary folder: init, the invite and request
# flows, export/import both ways, every error sentence with its exit code, revoke,
# records, endpoints, zone and hosts output, expired and tampered invites, tampered
# bundles, key file modes and that no secret ever shows in any output.
# Uses $BUILD/meshname (BUILD defaults to build); needs jq and base64.

# Setup (tests/integration/lib.sh): $T, $MESHNAME, ok/not_ok/check, mn STATE ARGS (output
# in $T/out and $T/err, exit code in $rc, everything also in $T/all), expect_ok,
# expect_error, cli_summary.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cli_require jq base64 od

# Host names in ls --json, sorted, with everything but the self marker.
ls_json() {
	mn "$1" ls --json
	jq -S 'map(del(.self)) | sort_by(.name)' "$T/out"
}
names() {
	mn "$1" ls --json
	jq -r '[.[].name] | sort | join(" ")' "$T/out"
}
mode_of() {
	stat -c %a "$1"
}
now=$(date +%s)

# ---- help and usage -------------------------------------------------------------------
expect_ok "--version works" x --version
check "--version prints the version" grep -q '^meshname [0-9]' "$T/out"
expect_ok "--help works" x --help
check "--help lists every command" bash -c "for c in status init add join ls show revoke \
renew record endpoint hosts export-zone export import; do grep -q \"^  \$c \" '$T/out' || exit 1; done"
for c in status init add join ls show revoke renew record endpoint hosts export-zone export import; do
	mn x "$c" --help
	if [ "$rc" -eq 0 ] && grep -q "^Usage: meshname $c" "$T/out"; then
		ok "$c --help prints its usage"
	else
		not_ok "$c --help prints its usage"
	fi
done
expect_error "an unknown command is a usage error" 2 "unknown command 'frobnicate'" x frobnicate
expect_error "add without a host is a usage error" 2 "add takes one host name" x add
expect_error "a bad option is a usage error" 2 "unknown option" x ls --frob

# ---- init ------------------------------------------------------------------------------
expect_error "a state directory without a mesh says what to do" 1 \
	"there is no mesh in $T/nothing: run meshname init or meshname join first" nothing ls
expect_ok "init creates a mesh" a init --name home --host alpha --ipv4 10.77.0.0/16 \
	--ipv6 fd11:2233:4455::/48
check "init prints the zone and prefixes" grep -q "10.77.0.0/16  fd11:2233:4455::/48" "$T/out"
for f in admin.key host.key wg.key; do
	check "init writes $f mode 0600" test "$(mode_of "$T/a/$f")" = 600
done
expect_error "init refuses a state directory that belongs to a mesh" 1 \
	"already belongs to the mesh 'home'" a init --host other
expect_error "init refuses a bad host name" 2 "'Bad_Name' is not a valid host name" \
	z init --host Bad_Name
expect_error "init refuses a prefix with host bits" 2 "has host bits set" z init --host z \
	--ipv4 10.1.2.3/16
expect_ok "init without prefixes picks random ones" r init --host rnd
mn r status --json
check "the random IPv4 prefix is a /16 in 100.64.0.0/10, not 100.100 or 100.115" \
	bash -c "jq -r .ipv4_prefix '$T/out' | grep -Eq '^100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.0\.0/16$' &&
	! jq -r .ipv4_prefix '$T/out' | grep -Eq '^100\.(100|115)\.'"
check "the random IPv6 prefix is a ULA /48" bash -c "jq -r .ipv6_prefix '$T/out' | grep -Eq '^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::/48$'"

expect_ok "status works on a new mesh" a status
check "status says the daemon is not running" grep -q "^daemon: *not running (offline view)" "$T/out"
check "status shows this host" grep -q "^this host: *alpha.mesh  10.77.0.1" "$T/out"
expect_ok "bare meshname is status" a
# A host key that cannot be read (a byte from 0x80 up where base64 belongs): status says
# so in one sentence and exits 1, not "no certificate".
cp -a "$T/a" "$T/badkey"
printf 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\xff=\n' >"$T/badkey/host.key"
mn badkey status
check "status with a corrupt host.key exits 1 and says why" test "$rc" -eq 1
check "status names the key file and what is wrong with it" grep -q \
	'^this host: *cannot read its key .*host.key: the key file does not hold one base64 key' "$T/out"
rm -rf "$T/badkey" # not a key of this test's meshes (the leak check below reads those)
check "bare meshname prints the status" grep -q "^mesh: *home" "$T/out"

# ---- invite flow: A admits beta, B joins ----------------------------------------------
expect_ok "add prints an invite" a add beta --group web
check "the invite is one mn1-invite: line" bash -c "[ \$(wc -l <'$T/out') -eq 1 ] && grep -q '^mn1-invite:[A-Za-z0-9_-]*$' '$T/out'"
invite_beta=$(cat "$T/out")
expect_ok "join redeems the invite" b join "$invite_beta"
check "join names the host" grep -q "joined the mesh 'home' as beta.mesh (10.77.0.2" "$T/out"
for f in host.key wg.key; do
	check "join writes $f mode 0600" test "$(mode_of "$T/b/$f")" = 600
done
check "join does not give the new host an admin key" test ! -e "$T/b/admin.key"
expect_error "an invite is used once" 1 "already belongs to the mesh" b join "$invite_beta"
mn b show beta --json
check "the joined host has the invite's group" test "$(jq -r '.groups | join(",")' "$T/out")" = web

expect_ok "add -o writes the invite to a file" a add delta -o "$T/invite-delta"
check "the invite file is mode 0600" test "$(mode_of "$T/invite-delta")" = 600
check "add -o prints no invite" bash -c "! grep -q mn1-invite '$T/out'"
MN_STDIN=$T/invite-delta expect_ok "join reads an invite from stdin" d join -

# ---- request flow: C makes keys, A signs, C imports -------------------------------------
expect_ok "join --request prints a request" c join --request --host gamma
check "the request is one mn1-request: line" grep -q '^mn1-request:[A-Za-z0-9_-]*$' "$T/out"
cp "$T/out" "$T/request-gamma"
expect_ok "join --request again gives the same keys" c join --request --host gamma
check "the second request is the same" cmp -s "$T/out" "$T/request-gamma"
expect_ok "add --request signs a certificate" a add gamma --request "$T/request-gamma"
check "the answer is one mn1-cert: line" grep -q '^mn1-cert:[A-Za-z0-9_-]*$' "$T/out"
cp "$T/out" "$T/cert-gamma"
expect_error "join CERT needs the keys of a join request" 1 \
	"this machine has no keys in $T/x: run meshname join --request first" x join "$T/cert-gamma"
expect_ok "join --request on another directory" x join --request --host gamma
expect_error "join CERT refuses a certificate for keys it does not hold" 1 \
	"this certificate is for another host's keys" x join "$T/cert-gamma"
expect_ok "join CERT imports the certificate" c join "$(cat "$T/cert-gamma")"
check "the request flow keeps the host's own keys" test "$(mode_of "$T/c/host.key")" = 600
sed 's/^\(mn1-request:.\{40\}\)./\1A/' "$T/request-gamma" >"$T/request-bad"
if cmp -s "$T/request-bad" "$T/request-gamma"; then
	sed -i 's/^\(mn1-request:.\{40\}\)./\1B/' "$T/request-bad"
fi
expect_error "add --request refuses a tampered request" 1 "join request" a add omega \
	--request "$T/request-bad"
expect_error "add --request wants the name the request asks for" 1 \
	"this request asks for the name gamma, not omega" a add omega --request "$T/request-gamma"
expect_error "join --request refuses a directory that belongs to a mesh" 1 \
	"already belongs to the mesh 'home'" a join --request --host other
MESHNAME_STATE=$T/a "$MESHNAME" status >"$T/out" 2>&1
check "MESHNAME_STATE picks the state directory" grep -q "^this host: *alpha.mesh" "$T/out"

# ---- export / import both ways -------------------------------------------------------------
mn a export -o "$T/a.bundle"
check "export -o writes a bundle" test -s "$T/a.bundle"
check "the bundle starts with the header and the mesh id" \
	grep -Eq '^meshname-bundle 1 [0-9a-f]{64}$' <(head -n 1 "$T/a.bundle")
expect_ok "B imports A's bundle" b import "$T/a.bundle"
check "import reports its counts" grep -Eq '^[0-9]+ new, [0-9]+ already known, 0 pending, 0 rejected$' "$T/out"
expect_ok "C imports A's bundle" c import "$T/a.bundle"
expect_ok "D imports A's bundle" d import "$T/a.bundle"
for s in b c d; do
	mn "$s" export -o "$T/$s.bundle"
	expect_ok "A imports ${s^^}'s bundle" a import "$T/$s.bundle"
done
mn a export -o "$T/a.bundle"
for s in b c d; do
	expect_ok "${s^^} imports A's bundle again" "$s" import "$T/a.bundle"
done
MN_STDIN=$T/b.bundle expect_ok "import reads a bundle from stdin" c import -
check "a second import only finds known records" grep -q '^0 new, ' "$T/out"
mn c export -o "$T/c.bundle"
expect_ok "B imports C's bundle directly" b import "$T/c.bundle"
check "B already knew everything of C through A" grep -q '^0 new, ' "$T/out"
ls_json a >"$T/ls-a"
check "A lists alpha beta delta gamma" test "$(names a)" = "alpha beta delta gamma"
for s in b c d; do
	ls_json "$s" >"$T/ls-$s"
	check "${s^^}'s ls --json is A's, host for host" cmp -s "$T/ls-a" "$T/ls-$s"
done
for s in a b c d; do
	mn "$s" ls --json
	check "${s^^} marks exactly itself" test "$(jq '[.[] | select(.self)] | length' "$T/out")" = 1
done
mn c ls
check "ls marks this host with *" grep -q '^\* gamma ' "$T/out"
check "ls shows the WireGuard key in base64" grep -Eq ' [A-Za-z0-9+/]{43}= ' "$T/out"

# ---- the error sentences ---------------------------------------------------------------
expect_error "unknown host" 1 "no host named nosuch in this mesh" a show nosuch
expect_error "name taken" 1 "the name beta is already taken in this mesh" a add beta
expect_error "address outside the prefix" 1 "10.78.0.5 is outside the mesh prefix 10.77.0.0/16" \
	a add epsilon --ipv4 10.78.0.5
expect_error "the network address is outside the host range" 1 "is outside the mesh prefix" \
	a add epsilon --ipv4 10.77.0.0
expect_error "address in use" 1 "10.77.0.1 is already in use" a add epsilon --ipv4 10.77.0.1
expect_error "no admin key on this machine" 1 "this machine holds no admin key" b add epsilon
expect_error "a non-admin cannot revoke another host" 1 "this machine holds no admin key" \
	b revoke gamma
expect_error "bad invite" 1 "this is not a valid invite" e join "mn1-invite:AAAA"
expect_error "not an invite at all" 1 "this is not a valid invite" e join "hello"
# One changed character anywhere: in the secret, the ROOT, the ADMIT, the inviter's
# CERT, the bootstrap list at the end.
ilen=${#invite_beta}
for pos in 20 60 $((ilen / 3)) $((ilen / 2)) $((ilen * 3 / 4)) $((ilen - 2)) $((ilen - 1)); do
	ch=${invite_beta:pos:1}
	if [ "$ch" = A ]; then r=B; else r=A; fi
	tampered="${invite_beta:0:pos}$r${invite_beta:pos+1}"
	expect_error "an invite with character $pos of $ilen changed is rejected" 1 \
		"this is not a valid invite" e join "$tampered"
done
expect_error "a refused invite leaves no mesh behind" 1 "there is no mesh in" e status
MESHNAME_NOW=$((now - 30 * 86400)) mn a add epsilon
invite_old=$(cat "$T/out")
check "an invite can be made with the clock set back (MESHNAME_NOW)" test "$rc" -eq 0
expect_error "expired invite" 1 "this invite expired on $(date -u -d @$((now - 23 * 86400)) +%Y-%m-%d): ask" \
	e join "$invite_old"
expect_error "the expiry test left no mesh behind" 1 "there is no mesh in" e status
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	# root reads everything: drop to nobody, who cannot enter $T (mode 0700).
	setpriv --reuid=65534 --regid=65534 --clear-groups "$MESHNAME" --state "$T/a" ls \
		>"$T/out" 2>"$T/err"
	rc=$?
else
	chmod 000 "$T/a"
	"$MESHNAME" --state "$T/a" ls >"$T/out" 2>"$T/err"
	rc=$?
	chmod 700 "$T/a"
fi
cat "$T/out" "$T/err" >>"$T/all"
if [ "$rc" -eq 1 ] && grep -q "^meshname: cannot read the state directory $T/a (permission denied)" "$T/err"; then
	ok "unreadable state directory"
else
	not_ok "unreadable state directory (exit $rc: $(cat "$T/err"))"
fi
expect_error "import refuses a directory that holds no mesh" 1 "join the mesh first" \
	empty import "$T/a.bundle"
mn r export -o "$T/r.bundle"
expect_error "import refuses another mesh's bundle" 1 "is a bundle of another mesh" \
	a import "$T/r.bundle"
echo "hello" >"$T/not-a-bundle"
expect_error "import refuses a file that is not a bundle" 1 "is not a meshname bundle" \
	a import "$T/not-a-bundle"
expect_error "--expires over the mesh maximum" 1 "at most 365 days" a add epsilon --expires 400

# ---- a bundle with one flipped byte --------------------------------------------------------
mn a export -o "$T/before.bundle"
expect_ok "a host for the tamper test asks to join" f join --request --host eta
cp "$T/out" "$T/request-eta"
expect_ok "A admits it" a add eta --request "$T/request-eta"
cp "$T/out" "$T/cert-eta"
expect_ok "it joins with the certificate" f join "$T/cert-eta"
mn a export -o "$T/after.bundle"
new_line=$(grep -vxFf "$T/before.bundle" "$T/after.bundle")
check "the new certificate is one bundle line" test "$(printf '%s\n' "$new_line" | wc -l)" -eq 1
# Flip one byte inside the record (in the signed body), re-encode it, replace the line.
echo "$new_line" | base64 -d >"$T/rec"
len=$(stat -c %s "$T/rec")
off=120
byte=$(od -An -tu1 -j$off -N1 "$T/rec" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$T/rec" bs=1 seek=$off conv=notrunc status=none
bad_line=$(base64 -w0 "$T/rec")
check "the flipped record differs from the original" test "$bad_line" != "$new_line"
check "the flipped record has the same length" test "$(stat -c %s "$T/rec")" -eq "$len"
grep -vxF "$new_line" "$T/after.bundle" >"$T/tampered.bundle"
echo "$bad_line" >>"$T/tampered.bundle"
expect_error "import rejects the flipped record with a reason" 1 "(CERT): " c import "$T/tampered.bundle"
check "import reports one rejected record" grep -q ', 0 pending, 1 rejected$' "$T/out"
check "the rejected record's host is not listed" test "$(names c)" = "alpha beta delta gamma"
mn c export -o "$T/c-after.bundle"
check "nothing of the rejected record is stored" bash -c "! grep -qxF '$bad_line' '$T/c-after.bundle'"
expect_ok "the untampered bundle imports" c import "$T/after.bundle"
check "then the host is listed" test "$(names c)" = "alpha beta delta eta gamma"

# ---- revoke -----------------------------------------------------------------------------------
expect_ok "revoke beta on the admin host" a revoke beta
check "revoke says so" grep -q "revoked beta.mesh" "$T/out"
check "A no longer lists beta" test "$(names a)" = "alpha delta eta gamma"
mn a export -o "$T/a.bundle"
expect_ok "C imports the revocation" c import "$T/a.bundle"
check "C no longer lists beta after the import" test "$(names c)" = "alpha delta eta gamma"
expect_error "a revoked host is unknown" 1 "no host named beta in this mesh" c show beta
expect_error "beta's address is never given out again" 1 "10.77.0.2 is already in use" \
	a add epsilon --ipv4 10.77.0.2
expect_ok "B imports its own revocation" b import "$T/a.bundle"
mn b status
check "status on a revoked host exits 1" test "$rc" -eq 1
check "status on a revoked host says so" grep -q "REVOKED" "$T/out"
expect_ok "a host may revoke itself" f revoke eta
check "the self-revoked host is gone" test "$(names f)" = "alpha"

# ---- renew --------------------------------------------------------------------------------------
expect_ok "renew on the admin host" a renew gamma --expires 100
check "renew bumps the serial" grep -q "serial 2" "$T/out"
mn a export -o "$T/a.bundle"
mn c import "$T/a.bundle"
mn c show gamma --json
check "the renewed certificate reaches C" test "$(jq .serial "$T/out")" = 2
expect_ok "a host asks for its own renewal" d renew delta
check "the renewal request is stored" grep -q "stored a renewal request" "$T/out"
expect_error "a host cannot renew another host" 1 "this machine holds no admin key" d renew gamma

# ---- records, zone and hosts ------------------------------------------------------------------
expect_ok "record add on the admin host" a record add www A 10.77.0.1 --ttl 600
expect_ok "record add with an absolute name" a record add alias.mesh. CNAME www
expect_ok "record add TXT" a record add @ TXT '"hello world"'
expect_ok "record add MX" a record add @ MX "10 alpha"
expect_ok "record add SRV" a record add _http._tcp SRV "0 0 80 www"
expect_ok "record add AAAA" a record add www AAAA fd11:2233:4455::1
expect_error "record add refuses a name outside the zone" 2 "is not a name under the zone mesh" \
	a record add www.example.org. A 10.77.0.1
expect_error "record add refuses an unsupported type" 2 "unsupported record type 'NS'" \
	a record add www NS alpha
expect_error "record add refuses bad data" 2 "is not valid A data" a record add www A 10.77.0
expect_ok "a host adds a record under its own name" c record add _ssh._tcp.gamma SRV "0 0 22 gamma"
expect_error "a host cannot add records elsewhere" 1 "a host may only sign records under its own name" \
	c record add www2 A 10.77.0.9
mn a export-zone
cp "$T/out" "$T/zone"
check "export-zone has \$ORIGIN" grep -q '^\$ORIGIN mesh\.$' "$T/zone"
check "export-zone has an SOA" grep -Eq '^@[[:space:]]+300[[:space:]]+IN[[:space:]]+SOA[[:space:]]+alpha\.mesh\. hostmaster\.mesh\. ' "$T/zone"
check "export-zone has an NS" grep -Eq '^@[[:space:]]+300[[:space:]]+IN[[:space:]]+NS[[:space:]]+alpha\.mesh\.$' "$T/zone"
check "export-zone has A and AAAA per host" bash -c "grep -Eq '^gamma\s+300\s+IN\s+A\s+10\.77\.0\.4$' '$T/zone' && grep -Eq '^gamma\s+300\s+IN\s+AAAA\s+fd11:2233:4455:' '$T/zone'"
check "export-zone has the custom A record" grep -Eq '^www\.mesh\.\s+600\s+IN\s+A\s+10\.77\.0\.1$' "$T/zone"
check "export-zone has the CNAME, completed with the zone" grep -Eq '^alias\.mesh\.\s+300\s+IN\s+CNAME\s+www\.mesh\.$' "$T/zone"
check "export-zone has the TXT" grep -Eq '^mesh\.\s+300\s+IN\s+TXT\s+"hello world"$' "$T/zone"
check "export-zone has the MX" grep -Eq '^mesh\.\s+300\s+IN\s+MX\s+10 alpha\.mesh\.$' "$T/zone"
check "export-zone has the SRV" grep -Eq '^_http\._tcp\.mesh\.\s+300\s+IN\s+SRV\s+0 0 80 www\.mesh\.$' "$T/zone"
check "export-zone leaves out revoked hosts" bash -c "! grep -q '^beta' '$T/zone'"
if command -v named-checkzone >/dev/null; then
	check "named-checkzone accepts the zone" named-checkzone -q mesh "$T/zone"
fi
if command -v ldns-read-zone >/dev/null; then
	check "ldns-read-zone reads the zone" bash -c "ldns-read-zone '$T/zone' >/dev/null"
fi
mn a record ls --json
check "record ls --json lists the records" test "$(jq length "$T/out")" -eq 6
check "record ls --json has the value" test "$(jq -r '.[] | select(.name=="www.mesh" and .type=="A") | .value' "$T/out")" = 10.77.0.1
mn a export -o "$T/a.bundle"
mn c import "$T/a.bundle"
mn c export-zone
check "the custom records reach C" grep -Eq '^www\.mesh\.\s+600\s+IN\s+A\s+10\.77\.0\.1$' "$T/out"
expect_ok "record rm" a record rm www A 10.77.0.1
mn a export-zone
check "a removed record leaves the zone" bash -c "! grep -Eq '^www\.mesh\.\s+600\s+IN\s+A\s' '$T/out'"
expect_error "record rm of a missing record" 1 "there is no such record in this mesh" \
	a record rm www A 10.77.0.1
mn a export -o "$T/a.bundle"
mn c import "$T/a.bundle"
mn c record ls --json
check "the removal reaches C" test "$(jq '[.[] | select(.name=="www.mesh" and .type=="A")] | length' "$T/out")" -eq 0

mn a hosts
check "hosts has an IPv4 line per host" grep -qP '^10\.77\.0\.4\tgamma\.mesh gamma$' "$T/out"
check "hosts has an IPv6 line per host" grep -qP '^fd11:2233:4455:[0-9a-f:]+\tgamma\.mesh gamma$' "$T/out"
check "hosts has two lines per active host" test "$(wc -l <"$T/out")" -eq $((2 * $(names a | wc -w)))

# ---- endpoints --------------------------------------------------------------------------------
expect_ok "endpoint add" d endpoint add 192.0.2.10:51820
expect_ok "endpoint add IPv6 with a listen port" d endpoint add '[2001:db8::1]:51821' --listen-port 51821
expect_ok "endpoint add public" d endpoint add 198.51.100.7:4500 --kind public
mn d endpoint ls --json
check "endpoint ls --json has three endpoints" test "$(jq '.endpoints | length' "$T/out")" -eq 3
check "a global IPv6 endpoint is of kind ipv6" test "$(jq -r '.endpoints[] | select(.address=="2001:db8::1") | .kind' "$T/out")" = ipv6
check "--kind public is kept" test "$(jq -r '.endpoints[] | select(.port==4500) | .kind' "$T/out")" = public
check "the listen port is published" test "$(jq .listen_port "$T/out")" = 51821
expect_ok "endpoint rm" d endpoint rm 192.0.2.10:51820
expect_error "endpoint rm of a missing endpoint" 1 "is not an endpoint of this host" \
	d endpoint rm 192.0.2.10:51820
expect_error "endpoint add refuses a bad address" 2 "is not ADDR:PORT" d endpoint add 192.0.2.300:1
mn d export -o "$T/d.bundle"
mn a import "$T/d.bundle"
mn a show delta --json
check "the endpoints reach A" test "$(jq -c '[.endpoints[].port] | sort' "$T/out")" = "[4500,51821]"
mn a ls
check "ls shows endpoints" grep -q '\[2001:db8::1\]:51821' "$T/out"

# ---- expiry ----------------------------------------------------------------------------------
MESHNAME_NOW=$((now + 400 * 86400)) mn a status
check "status exits 1 when this host's certificate expired" test "$rc" -eq 1
check "status says EXPIRED" grep -q "EXPIRED on" "$T/out"
MESHNAME_NOW=$((now + 350 * 86400)) mn a status
check "status warns 30 days ahead and still exits 0" bash -c "[ $rc -eq 0 ] && grep -q 'renew it soon' '$T/out'"
MESHNAME_NOW=$((now + 400 * 86400)) mn a ls --json
check "an expired host leaves ls" bash -c "! jq -r '.[].name' '$T/out' | grep -qx alpha"

# ---- secrets ----------------------------------------------------------------------------------
leaks=0
for key in "$T"/*/*.key; do
	secret=$(tr -d '\n' <"$key")
	[ -n "$secret" ] || continue
	# The whole key and any 16-character piece of its text form.
	for ((i = 0; i + 16 <= ${#secret}; i += 8)); do
		if grep -qF -- "${secret:i:16}" "$T/all"; then
			leaks=$((leaks + 1))
			echo "# $key leaks into the output"
			break
		fi
	done
done
check "no key file's content appears in any output" test "$leaks" -eq 0
bad_modes=$(find "$T" -name '*.key' ! -perm 600 | wc -l)
check "every key file is mode 0600" test "$bad_modes" -eq 0

cli_summary
