#!/bin/bash
# tests/integration/test_renew.sh: `meshname renew` offline, on state directories in one
# temporary folder: a host's renewal request with and without --new-wg-key (wg.key.next
# made 0600, reused by a second run), the admin following the newest request (lifetime,
# new key), an admin rotating its own key, and every error with its sentence and exit
# code: --new-wg-key for another host, a key another host already holds (the registry's
# check and the admin's), an unsafe wg.key.next. No secret in any output.
# Uses $BUILD/meshname (BUILD defaults to build); needs jq and wg (wg pubkey only).

# Setup (tests/integration/lib.sh): $T, $MESHNAME, ok/not_ok/check, mn STATE ARGS (output
# in $T/out and $T/err, exit code in $rc), expect_ok, expect_error, cli_summary.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cli_require jq wg

# bundle FROM TO: FROM's records reach TO (what TO refuses is said in $T/import-err).
bundle() {
	"$MESHNAME" --state "$T/$1" export -o "$T/bundle" &&
		"$MESHNAME" --state "$T/$2" import "$T/bundle" >/dev/null 2>>"$T/import-err"
}
wg_key_of() {
	mn "$1" show "$2" --json
	jq -r .wg_key "$T/out"
}
pub_of() { wg pubkey <"$T/$1"; }

# ---- a mesh: a (admin, alpha), b (beta), c (gamma) ---------------------------------------
"$MESHNAME" --state "$T/a" init --name t --host alpha --ipv4 198.51.100.0/24 >/dev/null
for pair in b:beta c:gamma; do
	s=${pair%%:*} name=${pair#*:}
	inv=$("$MESHNAME" --state "$T/a" add "$name" 2>/dev/null)
	"$MESHNAME" --state "$T/$s" join "$inv" >/dev/null
	bundle "$s" a
done
bundle a b && bundle a c
mn c ls --json
check "setup: every host knows the three" test "$(jq length "$T/out")" = 3
beta_old=$(wg_key_of a beta)

# ---- usage ------------------------------------------------------------------------------
mn b renew --help
check "--help shows --new-wg-key" grep -q -- '--new-wg-key' "$T/out"
expect_error "two host names are a usage error" 2 "renew takes one host name" b renew beta gamma
expect_error "--expires 0 is a usage error" 2 "--expires must be a number of days" \
	b renew --expires 0
expect_error "renew without a mesh says to make or join one" 1 "there is no mesh in" \
	x renew --new-wg-key
check "and makes no key there" test ! -e "$T/x/wg.key.next"

# ---- the host asks for a new key ----------------------------------------------------------
expect_ok "renew --new-wg-key on beta (no HOST: this host)" b renew --new-wg-key --expires 20
next=$(pub_of b/wg.key.next)
check "it says it stored a request" grep -q "stored a renewal request for beta.mesh" "$T/out"
check "and names the public key of the new wg.key.next" \
	grep -qF "new WireGuard key: $next (made as $T/b/wg.key.next)" "$T/out"
check "wg.key.next is mode 600" test "$(stat -c %a "$T/b/wg.key.next")" = 600
check "wg.key is untouched" test "$(pub_of b/wg.key)" = "$beta_old"
check "the certificate keeps its key until an admin renews it" \
	test "$(wg_key_of b beta)" = "$beta_old"
expect_ok "a second renew --new-wg-key reuses the pending key" b renew beta --new-wg-key \
	--expires 40
check "the same key, said to be reused" \
	grep -qF "new WireGuard key: $next (the one already in" "$T/out"
check "wg.key.next did not change" test "$(pub_of b/wg.key.next)" = "$next"
expect_error "a host cannot renew another host" 1 "this machine holds no admin key" \
	b renew gamma
expect_error "--new-wg-key is for this host only" 2 \
	"--new-wg-key makes the key on this machine: run meshname renew --new-wg-key on gamma itself" \
	b renew gamma --new-wg-key
chmod 644 "$T/b/wg.key.next"
expect_error "a wg.key.next others can read is refused" 1 "others may read it" \
	b renew --new-wg-key
chmod 600 "$T/b/wg.key.next"

# ---- the admin follows the newest request --------------------------------------------------
bundle b a
expect_error "the admin cannot make a key for another host" 2 \
	"run meshname renew --new-wg-key on beta itself" a renew beta --new-wg-key
expect_ok "the admin renews beta" a renew beta
check "serial 2" grep -q "renewed beta.mesh: serial 2" "$T/out"
check "following beta's newest request (number 2)" \
	grep -q "following beta's renewal request (number 2)" "$T/out"
check "and says the new WireGuard key" grep -qF "new WireGuard key: $next" "$T/out"
check "the new certificate carries the requested key" test "$(wg_key_of a beta)" = "$next"
mn a show beta --json
days=$((($(jq .not_after "$T/out") - $(jq .not_before "$T/out")) / 86400))
check "for the lifetime the newest request asked for (40 days, not 20)" test "$days" = 40
expect_ok "renewing beta again (no new request) keeps the key" a renew beta --expires 30
check "no request followed (the requests named the old certificate)" \
	test "$(grep -c following "$T/out")" = 0
check "serial 3, same key" test "$(wg_key_of a beta)" = "$next"

# ---- a key another host holds ----------------------------------------------------------------
# gamma "asks" for beta's new key: a copy of beta's wg.key.next (an operator's mistake).
bundle a c
cp -p "$T/b/wg.key.next" "$T/c/wg.key.next"
expect_error "the registry refuses a request for another host's key" 1 \
	"the registry refused the new RENEW: the record breaks a rule of the mesh" \
	c renew --new-wg-key
# A request made before the colliding certificate existed passes the registry: the
# admin checks again before it signs.
rm -f "$T/c/wg.key.next"
inv=$("$MESHNAME" --state "$T/a" add zeta 2>/dev/null)
"$MESHNAME" --state "$T/z" join "$inv" >/dev/null
bundle z a
expect_ok "zeta asks for a new key" z renew --new-wg-key
zeta_next=$(pub_of z/wg.key.next)
bundle z a
# The admin renews alpha (itself) with zeta's pending key: alpha's wg.key.next := a copy.
cp -p "$T/z/wg.key.next" "$T/a/wg.key.next"
expect_ok "the admin rotates its own key (here: to the key zeta asked for)" a renew --new-wg-key
check "alpha's certificate carries that key" test "$(wg_key_of a alpha)" = "$zeta_next"
expect_error "renewing zeta now refuses its request: alpha holds that key" 1 \
	"the new WireGuard key zeta asks for is already alpha's" a renew zeta
rm -f "$T/a/wg.key.next" "$T/z/wg.key.next"
mn a show zeta --json
check "zeta's certificate was not renewed" test "$(jq .serial "$T/out")" = 1

# ---- an admin rotating its own key ---------------------------------------------------------
alpha_before=$(wg_key_of a alpha)
expect_ok "renew --new-wg-key on the admin itself" a renew --new-wg-key
check "says meshnamed switches to the new key" grep -q "meshnamed here switches to" "$T/out"
anext=$(pub_of a/wg.key.next)
check "signs its new certificate at once with the new key" \
	test "$(wg_key_of a alpha)" = "$anext" -a "$anext" != "$alpha_before"

# ---- a plain request with a pending wg.key.next ------------------------------------------
bundle a c
rm -f "$T/c/wg.key.next"
expect_ok "gamma asks for a new key" c renew --new-wg-key
expect_ok "then a plain request" c renew
check "which says that the pending key is not asked for" \
	grep -q "is not asked for by this request: add --new-wg-key" "$T/out"
bundle c a
expect_ok "the admin follows the newest (plain) request" a renew gamma
check "gamma keeps its key" test "$(wg_key_of a gamma)" = "$(pub_of c/wg.key)"

# ---- secrets ----------------------------------------------------------------------------------
leak=0
for f in "$T"/*/wg.key "$T"/*/wg.key.next "$T"/*/host.key "$T"/*/admin.key; do
	[ -f "$f" ] || continue
	grep -qF "$(cat "$f")" "$T/all" && leak=1
done
check "no key file's content in any output" test "$leak" = 0

cli_summary
