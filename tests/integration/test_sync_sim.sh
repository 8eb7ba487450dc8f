#!/bin/bash
# test_sync_sim.sh: the sync simulator (tests/sim/sync_sim.c) at test size: 100 hosts on
# a virtual network, each running the real node logic and session engine over really
# signed records, 10 seeds per case. Asserts that one change reaches every host (push on
# and off, 10% loss in both loss models), that a 30% partition keeps working on each side
# without leaking across, and converges once healed. Ends "N passed, N failed".
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
sim=$BUILD/tests/sim/sync_sim

if [ ! -x "$sim" ]; then
	echo "test_sync_sim: $sim is missing: run 'make all-tests'"
	echo "0 passed, 1 failed"
	exit 1
fi
# The simulator prints one "ok:"/"FAILED:" line per assertion and the total line itself.
"$sim" --nodes 100 --runs 10 --seed 1 --check
