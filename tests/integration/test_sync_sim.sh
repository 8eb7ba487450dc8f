#!/bin/bash
# test_sync_sim.sh: the sync simulator (tests/sim/sync_sim.c): hosts on a virtual network,
# each running the real node logic and session engine over really signed records.
# First 100 hosts x 10 seeds: one change reaches every host (push on and off, 10% loss in
# both loss models, make-ups bounded), a 30% partition keeps working on each side without
# leaking across and converges once healed. Then the issue's convergence targets at 1,000
# hosts x 4 seeds: 99% of hosts within 10 rounds of push, within 12 periods of
# anti-entropy alone, 10% loss costing at most 2 more rounds. About 2 minutes (virtual
# time; the seeds make it deterministic). Ends "N passed, N failed".
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
sim=$BUILD/tests/sim/sync_sim

if [ ! -x "$sim" ]; then
	echo "test_sync_sim: $sim is missing: run 'make all-tests'"
	echo "0 passed, 1 failed"
	exit 1
fi
passed=0
failed=0
# The simulator prints one "ok:"/"FAILED:" line per assertion and a total line; a run
# that dies before its total counts as one failure.
for args in "--nodes 100 --runs 10 --check" "--nodes 1000 --runs 4 --check-targets"; do
	# shellcheck disable=SC2086 # the arguments are meant to split
	out=$("$sim" --seed 1 $args)
	status=$?
	total=$(printf '%s\n' "$out" | tail -n 1)
	if [[ $total =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		printf '%s\n' "$out" | sed '$d'
		passed=$((passed + BASH_REMATCH[1]))
		failed=$((failed + BASH_REMATCH[2]))
	else
		printf '%s\n' "$out"
		echo "FAILED: sync_sim $args ended with status $status before its total"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
