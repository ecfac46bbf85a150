#!/usr/bin/env bash
# Halo vs Redis Sentinel, side by side at the same write rate: time from kill -9 of the Redis primary to the first acknowledged
# write (SET + WAIT 1 500) through each system's client path, and acknowledged writes lost. Same three redis-server processes
# (127.0.0.1, --save "" --appendonly no --repl-diskless-sync-delay 0) for every system; one writer paced to RATE writes/s.
#   halo:           three `halo agent`s each running its redis-server (managed), `halo server`, `halo tcp-proxy`; the client
#                   writes through the proxy's address.
#   sentinel:MS:    three redis-servers, three sentinels (down-after-milliseconds MS, failover-timeout 3000, parallel-syncs 2,
#                   quorum 2); the client asks every sentinel on each (re)connect and checks ROLE (Redis' Sentinel client spec);
#                   the killed master is restarted plain once the role has moved, and Sentinel turns it into a replica.
# Usage: bench/failover-redis/run.sh [trials] [writes/s] [systems...]
#        (default: 10 trials, 100 writes/s, halo sentinel:1000 sentinel:250)
# Prints one JSON line per system (also kept in $RESULTS, default a temp file) and the side-by-side table with ratios to Halo.
set -euo pipefail
cd "$(dirname "$0")/../.."
TRIALS="${1:-10}"
RATE="${2:-100}"
shift $(( $# < 2 ? $# : 2 ))
SYSTEMS=("$@")
[ $# -eq 0 ] && SYSTEMS=(halo sentinel:1000 sentinel:250)
WORK="$(mktemp -d /tmp/halo-failover-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
RESULTS="${RESULTS:-$WORK/results.jsonl}"
dotnet build src/Halo.Cli -c Release -v q -nologo >/dev/null
dotnet build bench/failover-redis/FailoverBench -c Release -v q -nologo >/dev/null
HALO_DLL="$PWD/src/Halo.Cli/bin/Release/net10.0/halo.dll"
BENCH="$PWD/bench/failover-redis/FailoverBench/bin/Release/net10.0/FailoverBench.dll"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs, $(redis-server --version | cut -d' ' -f1-3), trials=$TRIALS rate=$RATE/s systems=${SYSTEMS[*]}, load $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$RESULTS"
for system in "${SYSTEMS[@]}"; do
  dotnet "$BENCH" "$system" "$TRIALS" "$HALO_DLL" "$WORK/${system/:/-}" "$RATE" | tee -a "$RESULTS"
done
echo "# done $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
dotnet "$BENCH" compare "$RESULTS"
