#!/bin/bash
# tests/integration/test_seeds.sh: bootstrap endpoints end to end, offline, on state
# directories in one temporary folder: `meshname add --bootstrap` and the default list
# (this host's published LAN, public and IPv6 addresses with sync port 51821, at most 8),
# `meshname join` writing STATE/seeds with the inviter's host key, what both print,
# bad --bootstrap values refused with exit 2 and nothing stored, the request flow and
# invites without endpoints writing no seeds, and a join that cannot write its seeds
# undone whole. Uses $BUILD/meshname (BUILD defaults to build); needs jq.

# Setup (tests/integration/lib.sh): $T, $MESHNAME, ok/not_ok/check, mn STATE ARGS (output
# in $T/out and $T/err, exit code in $rc), expect_ok, expect_error, cli_summary.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cli_require jq

# The seed lines of a seeds file (no comments), or "" when there is none.
seed_lines() {
	if [ -e "$1" ]; then grep -v '^#' "$1"; fi
}

# ---- a mesh whose admin host publishes no endpoints ------------------------------------
expect_ok "init a mesh" a init --name home --host alpha --ipv4 10.77.0.0/16
mn a show alpha --json
key_a=$(jq -r .host_key "$T/out")
check "alpha's host key is 44 characters of base64" \
	bash -c "[[ '$key_a' =~ ^[A-Za-z0-9+/]{43}=$ ]]"

# ---- --bootstrap: the address given, with the inviter's key ---------------------------
expect_ok "add --bootstrap makes an invite" a add h2 --bootstrap 192.0.2.1:51821
invite=$(cat "$T/out")
check "add lists the invite's bootstrap endpoints" \
	grep -qx 'meshname: bootstrap endpoints in the invite: 192.0.2.1:51821' "$T/err"
expect_ok "join redeems it" b join "$invite"
check "join writes STATE/seeds" test -f "$T/b/seeds"
check "STATE/seeds is mode 0644" test "$(stat -c %a "$T/b/seeds")" = 644
check "STATE/seeds holds the inviter's key and the address, and nothing else" \
	test "$(seed_lines "$T/b/seeds")" = "$key_a 192.0.2.1:51821"
check "join says meshnamed announces this host to the bootstrap peer" \
	grep -q "^next: start meshnamed here: it announces this host to the mesh through alpha at 192.0.2.1:51821 (the bootstrap peers in $T/b/seeds)$" "$T/out"
check "join no longer says peer sync does not exist" bash -c "! grep -q 'until peer sync' '$T/out'"
check "no temporary seeds file is left" test ! -e "$T/b/.seeds.tmp"

# Several, in canonical spelling: IPv6 in brackets and compressed, names in lower case;
# a repeat of one already given is dropped.
expect_ok "add --bootstrap with IPv6 and a DNS name" a add h3 \
	--bootstrap '[2001:DB8:0::1]:51821' --bootstrap Seed.Example.ORG:7000 \
	--bootstrap '[2001:db8::1]:51821'
invite=$(cat "$T/out")
expect_ok "join redeems it" c join "$invite"
check "STATE/seeds has each endpoint once, canonical, in order" \
	test "$(seed_lines "$T/c/seeds")" = "$key_a [2001:db8::1]:51821
$key_a seed.example.org:7000"

# ---- bad --bootstrap: exit 2, one sentence, nothing stored -----------------------------
expect_error "an IPv6 --bootstrap without brackets is refused" 2 \
	"'2001:db8::1:51821' is not a bootstrap endpoint: write an IPv6 address in brackets" \
	a add h4 --bootstrap 2001:db8::1:51821
expect_error "a --bootstrap without a port is refused" 2 \
	"'192.0.2.1' is not a bootstrap endpoint: write HOST:PORT" a add h4 --bootstrap 192.0.2.1
expect_error "a --bootstrap with port 0 is refused" 2 \
	"'192.0.2.1:0' is not a bootstrap endpoint" a add h4 --bootstrap 192.0.2.1:0
expect_error "a --bootstrap with a bad address is refused" 2 \
	"'192.0.2.256:51821' is not a bootstrap endpoint" a add h4 --bootstrap 192.0.2.256:51821
expect_error "a --bootstrap with a bad name is refused" 2 \
	"'seed_1.example:51821' is not a bootstrap endpoint" a add h4 \
	--bootstrap seed_1.example:51821
nine=()
for i in 1 2 3 4 5 6 7 8 9; do nine+=(--bootstrap "192.0.2.$i:51821"); done
expect_error "more than 8 --bootstrap are refused" 2 \
	"an invite names at most 8 bootstrap endpoints" a add h4 "${nine[@]}"
expect_error "--bootstrap with --request is refused" 2 "--bootstrap goes into invites only" \
	a add h4 --request "$T/nothing" --bootstrap 192.0.2.1:51821
expect_ok "the name a refused add asked for is still free" a add h4 --bootstrap 192.0.2.1:1

# ---- no endpoints, no --bootstrap: a note, no seeds, the bundle advice -----------------
expect_ok "add without endpoints makes an invite" a add h5
invite=$(cat "$T/out")
check "add notes that the invite names no bootstrap endpoint" \
	grep -q '^meshname: note: the invite names no bootstrap endpoint (this host publishes no endpoints): the new host will need a bundle' "$T/err"
expect_ok "join redeems it" e join "$invite"
check "join writes no STATE/seeds" test ! -e "$T/e/seeds"
check "join gives the bundle advice and the inviter's seeds line" \
	grep -qF "next: no bootstrap peer is known, so meshnamed cannot announce this host by itself: run meshname export here and meshname import on a peer, or write \"$key_a HOST:PORT\" (alpha's address and sync port) to $T/e/seeds" "$T/out"

# ---- the default: this host's published endpoints, sync port 51821 ---------------------
mn a endpoint add 192.0.2.10:51820
mn a endpoint add '[2001:db8::10]:51820'
mn a endpoint add 198.51.100.7:4500 --kind public
mn a endpoint add 192.0.2.10:4500 # the same address on another port: one seed
mn a endpoint ls --json
check "alpha publishes 4 endpoints" test "$(jq '.endpoints | length' "$T/out")" = 4
expect_ok "add without --bootstrap takes the published addresses" a add h6
invite=$(cat "$T/out")
check "add lists them, public first, then IPv6, then LAN, each with port 51821" \
	grep -qx 'meshname: bootstrap endpoints in the invite: 198.51.100.7:51821, \[2001:db8::10\]:51821, 192.0.2.10:51821' "$T/err"
expect_ok "join redeems it" f join "$invite"
check "STATE/seeds has the inviter's published addresses with port 51821" \
	test "$(seed_lines "$T/f/seeds")" = "$key_a 198.51.100.7:51821
$key_a [2001:db8::10]:51821
$key_a 192.0.2.10:51821"
check "join lists the bootstrap peers" \
	grep -qF "through alpha at 198.51.100.7:51821, [2001:db8::10]:51821, 192.0.2.10:51821" "$T/out"
expect_ok "--bootstrap replaces the default list" a add h7 --bootstrap 203.0.113.5:6000
check "only the --bootstrap endpoint is named" \
	grep -qx 'meshname: bootstrap endpoints in the invite: 203.0.113.5:6000' "$T/err"

# At most 8 of them (12 published LAN addresses).
for i in 21 22 23 24 25 26 27 28 29 30 31 32; do
	mn a endpoint add "192.0.2.$i:51820"
done
expect_ok "add with 15 published addresses" a add h8
invite=$(cat "$T/out")
expect_ok "join redeems it" g join "$invite"
check "the invite names 8 of them" test "$(seed_lines "$T/g/seeds" | wc -l)" = 8
check "public and IPv6 come before the LAN ones" \
	test "$(seed_lines "$T/g/seeds" | head -2 | cut -d' ' -f2 | tr '\n' ' ')" = "198.51.100.7:51821 [2001:db8::10]:51821 "

# ---- a join that cannot write its seeds is undone --------------------------------------
expect_ok "add an invite for a join that will fail" a add h9 --bootstrap 192.0.2.1:51821
invite=$(cat "$T/out")
mkdir -p "$T/h/seeds" && chmod 700 "$T/h"
expect_error "join says it cannot write STATE/seeds" 1 "cannot write $T/h/seeds:" h join "$invite"
check "the failed join left no registry" test ! -e "$T/h/registry.db"
rmdir "$T/h/seeds"
expect_ok "the same invite works once the cause is gone" h join "$invite"
check "and writes STATE/seeds" test "$(seed_lines "$T/h/seeds")" = "$key_a 192.0.2.1:51821"

# ---- the request flow: the cert message names no endpoints -----------------------------
expect_ok "join --request" r join --request --host h10
cp "$T/out" "$T/request"
expect_ok "add --request signs it" a add h10 --request "$T/request"
cp "$T/out" "$T/cert"
expect_ok "join CERT imports it" r join "$T/cert"
check "join CERT writes no STATE/seeds" test ! -e "$T/r/seeds"
check "join CERT says how to write STATE/seeds for the admin host" \
	grep -qF "or write \"$key_a HOST:PORT\" (alpha's address and sync port) to $T/r/seeds" "$T/out"

# ---- an admin key on a machine that is no member: --bootstrap has no key to pin --------
mkdir -m 700 "$T/k"
cp "$T/a/admin.key" "$T/k/"
expect_ok "a bare admin machine joins by request" k join --request --host h11
cp "$T/out" "$T/request-k"
expect_ok "its certificate is signed" a add h11 --request "$T/request-k"
cp "$T/out" "$T/cert-k"
expect_ok "and imported" k join "$T/cert-k"
rm -f "$T/k/host.key"
expect_error "--bootstrap on an admin machine without a host key is refused" 1 \
	"--bootstrap needs this host's certificate" k add h12 --bootstrap 192.0.2.1:51821
expect_ok "without --bootstrap it still makes an invite" k add h12
check "and notes that it names no bootstrap endpoint" \
	grep -q '^meshname: note: the invite names no bootstrap endpoint (this host has no certificate)' "$T/err"

cli_summary
