#!/bin/bash
# bench/sync_sim.sh: the sync convergence benchmark of issue 5, run by bench/run.sh. Runs
# $BUILD/tests/sim/sync_sim --bench (virtual clock and network, the real node logic and
# session engine, really signed records) at 1,000 and at 100 hosts, then the comparison
# of push policies that bench/README.md discusses. No network, no root; prints figures,
# fails only when the simulator is missing or breaks. SYNC_SIM_RUNS (default 20) sets the
# seeds per row of the two tables, SYNC_SIM_COMPARE_RUNS (default 10) those of the
# comparison. About 10 minutes with the defaults (the anti-entropy rows are the slow ones).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
sim=$BUILD/tests/sim/sync_sim
runs=${SYNC_SIM_RUNS:-20}
compare_runs=${SYNC_SIM_COMPARE_RUNS:-10}

if [ ! -x "$sim" ]; then
	echo "bench/sync_sim.sh: $sim is missing: run 'make bench'" >&2
	exit 1
fi
"$sim" --nodes 1000 --runs "$runs" --bench
echo
"$sim" --nodes 100 --runs "$runs" --bench
echo
echo "-- push policies at 1,000 hosts (one change; no loss, then 10% loss as broken connections)"
while IFS='|' read -r what args; do
	for loss in "" "--loss 10 --loss-model drop"; do
		echo "$what${loss:+, 10% loss (drop)}:"
		# shellcheck disable=SC2086 # the arguments are meant to split
		"$sim" --nodes 1000 --runs "$compare_runs" $args $loss | tail -n +3
	done
done <<'EOF'
before: push once to 3, sample 8|--waves 1 --fanout 3 --sample 8
push once to 6, sample 16|--waves 1 --fanout 6 --sample 16
2 waves of 3, sample 8|--waves 2 --fanout 3 --sample 8
EOF
echo "anti-entropy alone, 10% loss (drop), a broken session not asked for again:"
"$sim" --nodes 1000 --runs "$compare_runs" --no-push --loss 10 --loss-model drop --no-rerun |
	tail -n +3
