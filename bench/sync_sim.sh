#!/bin/bash
# bench/sync_sim.sh: the sync convergence benchmark of issue 5, run by bench/run.sh. Runs
# $BUILD/tests/sim/sync_sim --bench (virtual clock and network, the real node logic and
# session engine, really signed records) at 1,000 hosts, then the fanout comparison that
# bench/README.md discusses. No network, no root; prints figures, fails only when the
# simulator is missing or breaks. SYNC_SIM_RUNS (default 20) sets the seeds per row.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
sim=$BUILD/tests/sim/sync_sim
runs=${SYNC_SIM_RUNS:-20}

if [ ! -x "$sim" ]; then
	echo "bench/sync_sim.sh: $sim is missing: run 'make bench'" >&2
	exit 1
fi
"$sim" --nodes 1000 --runs "$runs" --bench
echo
echo "-- push fanout (one change, no loss): the design's 3 against wider pushes"
for fanout in 3 6; do
	echo "fanout $fanout, sample 16:"
	"$sim" --nodes 1000 --runs "$runs" --fanout "$fanout" --sample 16 | tail -n +2
done
