#!/bin/bash
# bench/run.sh: runs the benchmarks that `make bench` built into $BUILD/bench/, pinned to
# one CPU and, when allowed, at a real-time priority, and prints their tables. Builds
# nothing and never fails on speed: only a missing binary or a crashed run is an error.
set -euo pipefail

BUILD=${BUILD:-build}
bench_dir=$BUILD/bench

if [ ! -x "$bench_dir/registry_bench" ]; then
	echo "bench/run.sh: $bench_dir/registry_bench is missing: run 'make bench'" >&2
	exit 1
fi

# Ingest checks signatures on every core (registry_ingest_many), as a real import does,
# so the run may use every CPU; lookups are single-threaded either way.
prefix=()
cpu=0-$(($(nproc --all 2>/dev/null || echo 1) - 1))
if command -v taskset >/dev/null 2>&1 && taskset -c "$cpu" true 2>/dev/null; then
	prefix+=(taskset -c "$cpu")
	pinned="on CPUs $cpu"
else
	pinned="not pinned (taskset missing or refused)"
fi
# SCHED_RR 10 keeps ordinary processes from preempting the timed loops. It needs root or
# CAP_SYS_NICE; without it the figures are noisier, not wrong.
if command -v chrt >/dev/null 2>&1 && chrt -r 10 true 2>/dev/null; then
	prefix+=(chrt -r 10)
	priority="SCHED_RR priority 10"
else
	priority="normal priority (chrt missing or not permitted)"
fi

echo "bench: $(uname -m), $(nproc --all 2>/dev/null || echo '?') CPUs, $pinned, $priority"
echo "bench: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)"
echo
echo "== registry_bench (signing the records first takes a while; it is not timed)"
"${prefix[@]}" "$bench_dir/registry_bench" "$@"

# dns_bench pins its servers and dnsperf to CPUs of its own: it is not run under prefix.
echo
echo "== dns_bench (meshnamed side by side with unbound, knot and dnsmasq; about 3 minutes)"
BUILD=$BUILD "$(dirname "$0")/dns_bench.sh"

# wg_bench pins wireguard-go and itself to CPUs of their own, like dns_bench.
echo
echo "== wg_bench (the WireGuard peer manager against wireguard-go and wg setconf; about 2 minutes)"
BUILD=$BUILD "$(dirname "$0")/wg_bench.sh"

# sync_bench: negentropy reconciliation bytes and CPU over 100,000 items (under a second).
echo
echo "== sync_bench (set reconciliation: bytes for agreeing peers and for one change)"
"${prefix[@]}" "$bench_dir/sync_bench"

# sync_sim is a simulation on a virtual clock: its figures do not depend on the CPU.
echo
echo "== sync_sim (1,000 simulated hosts: convergence of one change, loss, partition; about 3 minutes)"
BUILD=$BUILD "$(dirname "$0")/sync_sim.sh"

# sync_cold: the cold start of a new host from a gen_mesh registry of 100,000 records, in
# process over loopback TCP (also at 50 ms of round trip), then through two meshnamed in
# network namespaces (root only). About 4 minutes, most of it making and copying records.
echo
echo "== sync_cold (a new host's cold start from 100,000 records; bytes of agreeing peers and one change; about 4 minutes)"
cold_dir=$(mktemp -d)
trap 'rm -rf "$cold_dir"' EXIT
"${prefix[@]}" "$bench_dir/gen_mesh" "$cold_dir/mesh"
"${prefix[@]}" "$bench_dir/sync_cold" --runs 3 "$cold_dir/mesh"
echo
echo "-- the same cold start at 50 ms of round trip (a relay delays every byte; one run)"
"${prefix[@]}" "$bench_dir/sync_cold" --runs 1 --cold-only --rtt 50 "$cold_dir/mesh" | sed -n '3,10p'
echo
echo "-- through meshnamed: two daemons in network namespaces (bench/sync_cold.sh)"
if [ "$(id -u)" -eq 0 ]; then
	BUILD=$BUILD "${prefix[@]}" "$(dirname "$0")/sync_cold.sh"
else
	echo "bench/sync_cold.sh skipped: network namespaces need root"
fi
