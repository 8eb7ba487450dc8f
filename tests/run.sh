#!/bin/bash
# tests/run.sh: runs every unit test binary under $BUILD/tests/unit/*/ and every
# tests/integration/test_*.sh, totals their test cases and ends with one line
# "N passed, N failed". Builds nothing and installs nothing: `make check` does that.
set -uo pipefail

cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build}
# A suite that hangs must not hang CI: each gets this many seconds.
SUITE_TIMEOUT=${SUITE_TIMEOUT:-900}
# The plain cmocka format, whatever the caller's environment says: it is parsed below.
export CMOCKA_MESSAGE_OUTPUT=stdout
if [ -n "${SANITIZE:-}" ]; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

total_passed=0
total_failed=0
suites=0
failed_suites=()
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# count_cmocka FILE: sets n_passed/n_failed/n_found from cmocka's summary lines. A binary
# may run several groups, so every "[  PASSED  ] N test(s)." line is added up; the
# "[  FAILED  ] name" lines that list failures carry no count and are not matched.
count_cmocka() {
	n_passed=0 n_failed=0 n_found=0
	local line n
	while IFS= read -r line; do
		if [[ $line =~ ^\[\ \ PASSED\ \ \]\ ([0-9]+)\ test\(s\) ]]; then
			n=${BASH_REMATCH[1]}
			n_passed=$((n_passed + n)) n_found=1
		elif [[ $line =~ ^\[\ \ FAILED\ \ \]\ ([0-9]+)\ test\(s\) ]]; then
			n=${BASH_REMATCH[1]}
			n_failed=$((n_failed + n)) n_found=1
		fi
	done <"$1"
}

# count_plain FILE: the last "N passed, N failed" line a script printed.
count_plain() {
	n_passed=0 n_failed=0 n_found=0
	local line
	line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
	if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		n_passed=${BASH_REMATCH[1]} n_failed=${BASH_REMATCH[2]} n_found=1
	fi
}

# run_suite KIND NAME COMMAND...: runs one binary or script, prints its result, and adds
# its cases to the totals. Output is shown in full when the suite fails (or VERBOSE=1).
run_suite() {
	local kind=$1 name=$2 rc note=""
	shift 2
	suites=$((suites + 1))
	timeout --kill-after=10 "$SUITE_TIMEOUT" "$@" >"$out" 2>&1 </dev/null
	rc=$?
	if [ "$kind" = unit ]; then count_cmocka "$out"; else count_plain "$out"; fi

	if [ "$n_found" -eq 0 ]; then
		# Crashed before its summary, or never printed one: one failure, not zero.
		n_passed=0 n_failed=1
		note=" (no test count printed)"
	elif [ "$rc" -ne 0 ] && [ "$n_failed" -eq 0 ]; then
		# All cases passed but the binary failed afterwards (a leak report, a crash at exit).
		n_failed=1
		note=" (cases passed, then exit status $rc)"
	fi
	[ "$rc" -eq 124 ] && note=" (timed out after ${SUITE_TIMEOUT}s)"

	total_passed=$((total_passed + n_passed))
	total_failed=$((total_failed + n_failed))
	if [ "$rc" -eq 0 ] && [ "$n_failed" -eq 0 ]; then
		printf '  PASS  %-40s %d passed\n' "$name" "$n_passed"
		[ -n "${VERBOSE:-}" ] && sed 's/^/        /' "$out"
	else
		printf '  FAIL  %-40s %d passed, %d failed, exit %d%s\n' \
			"$name" "$n_passed" "$n_failed" "$rc" "$note"
		sed 's/^/        /' "$out"
		# Again at the end, where a long log does not bury them: what failed.
		grep -E '^not ok|^\[  (FAILED|ERROR) +\]|^\[   LINE   \]' "$out" | sed 's/^/        failed: /'
		failed_suites+=("$name")
	fi
	return 0
}

echo "unit tests ($BUILD/tests/unit):"
for bin in "$BUILD"/tests/unit/*/*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	run_suite unit "${bin#"$BUILD"/tests/}" "$bin"
done

echo "integration tests (tests/integration):"
for script in tests/integration/test_*.sh; do
	[ -f "$script" ] || continue
	run_suite integration "${script#tests/}" bash "$script"
done

if [ "$suites" -eq 0 ]; then
	echo "run.sh: no test ran: nothing under $BUILD/tests/unit/*/ nor tests/integration/" >&2
elif [ ${#failed_suites[@]} -gt 0 ]; then
	echo "failed suites: ${failed_suites[*]}"
fi
echo "$total_passed passed, $total_failed failed"
# Zero cases run is a failure too: a suite that tests nothing proves nothing.
[ "$total_failed" -eq 0 ] && [ ${#failed_suites[@]} -eq 0 ] && [ "$total_passed" -gt 0 ]
