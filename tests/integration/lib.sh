# shellcheck shell=bash
# tests/integration/lib.sh: shared setup for the offline command-line tests (test_cli.sh,
# test_seeds.sh, test_renew.sh), sourced (not run): meshname on state directories in one
# temporary folder, no daemon, no network (tests with hosts in network namespaces use
# lib_mesh.sh instead). Sourcing it goes to the top of the tree, sets BUILD (default
# build, made absolute) and MESHNAME, counts results in passed and failed, and makes the
# temporary folder $T, removed on exit (also what a test made read-only in it).
# Then:
#   cli_require TOOL...           fails the test (exit 1) unless every TOOL is installed
#                                 and $MESHNAME is built
#   ok NAME, not_ok NAME          one result line
#   check NAME COMMAND [ARG...]   ok when COMMAND succeeds (a command, not a string as
#                                 lib_mesh.sh's check takes)
#   mn STATE ARGS...              meshname on $T/STATE, see below
#   expect_ok NAME STATE ARGS...  mn, ok when it exits 0
#   expect_error NAME CODE MESSAGE STATE ARGS...
#                                 mn, ok when it exits CODE with one line on stderr,
#                                 "meshname: ..." holding MESSAGE
#   cli_summary                   prints "N passed, N failed", exits 0 only if none failed

set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
MESHNAME=$BUILD/meshname
passed=0
failed=0

T=$(mktemp -d)
cli_cleanup() {
	chmod -R u+rwx "$T" 2>/dev/null
	rm -rf "$T"
}
trap cli_cleanup EXIT

ok() {
	echo "ok - $1"
	passed=$((passed + 1))
}
not_ok() {
	echo "not ok - $1"
	failed=$((failed + 1))
}
# check NAME COMMAND...: ok when the command succeeds.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
cli_summary() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

cli_require() {
	local tool
	for tool in "$@"; do
		if ! command -v "$tool" >/dev/null; then
			not_ok "prerequisite $tool is installed (tests/deps.sh test)"
			cli_summary
		fi
	done
	if [ ! -x "$MESHNAME" ]; then
		not_ok "$MESHNAME is built"
		cli_summary
	fi
}

# mn STATE ARGS...: runs meshname on state directory $T/STATE; stdout in $T/out, stderr
# in $T/err, both also appended to $T/all (a test scans it for secrets), exit code in $rc;
# standard input from $MN_STDIN (default /dev/null). Returns 0: tests look at $rc.
mn() {
	local state=$1
	shift
	"$MESHNAME" --state "$T/$state" "$@" >"$T/out" 2>"$T/err" <"${MN_STDIN:-/dev/null}"
	rc=$?
	cat "$T/out" "$T/err" >>"$T/all"
	# Under SANITIZE=..., every run counts, also those whose exit code is not checked.
	if grep -Eq 'Sanitizer|runtime error' "$T/err"; then
		not_ok "sanitizers are quiet on: meshname $*"
	fi
	return 0
}

# expect_ok NAME STATE ARGS...
expect_ok() {
	local name=$1
	shift
	mn "$@"
	if [ "$rc" -eq 0 ]; then
		ok "$name"
	else
		not_ok "$name (exit $rc: $(cat "$T/err"))"
	fi
}

# expect_error NAME CODE MESSAGE STATE ARGS...: exit code CODE, MESSAGE in stderr,
# which is one line starting with "meshname: ".
expect_error() {
	local name=$1 code=$2 message=$3
	shift 3
	mn "$@"
	if [ "$rc" -ne "$code" ]; then
		not_ok "$name (exit $rc, wanted $code: $(cat "$T/err"))"
	elif ! grep -qF -- "$message" "$T/err"; then
		not_ok "$name (stderr: $(cat "$T/err"))"
	elif [ "$(wc -l <"$T/err")" -ne 1 ] || ! grep -q '^meshname: ' "$T/err"; then
		not_ok "$name (not one 'meshname: ...' line: $(cat "$T/err"))"
	else
		ok "$name"
	fi
}
