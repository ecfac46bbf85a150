#!/usr/bin/env bash
# Halo vs Redis Sentinel: time from kill -9 of the Redis primary to the first acknowledged write (SET + WAIT 1)
# through each system's client path, and acknowledged writes lost. Same three redis-server processes layout
# (127.0.0.1, --save "" --appendonly no --repl-diskless-sync-delay 0) for both.
#   Halo:     three `halo agent`s each running its redis-server (managed), `halo server`, `halo tcp-proxy`; the client
#             writes through the proxy's address.
#   Sentinel: three redis-servers, three sentinels (down-after-milliseconds 1000, failover-timeout 10000); the client
#             asks the sentinels for the master on every (re)connect; the killed master is restarted plain, Sentinel
#             turns it into a replica.
# Usage: bench/failover-redis/run.sh [trials]   (default 10 per system)
set -euo pipefail
cd "$(dirname "$0")/../.."
TRIALS="${1:-10}"
WORK="$(mktemp -d /tmp/halo-failover-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
dotnet build src/Halo.Cli -c Release -v q -nologo >/dev/null
dotnet build bench/failover-redis/FailoverBench -c Release -v q -nologo >/dev/null
HALO_DLL="$PWD/src/Halo.Cli/bin/Release/net10.0/halo.dll"
BENCH="$PWD/bench/failover-redis/FailoverBench/bin/Release/net10.0/FailoverBench.dll"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs, $(redis-server --version | cut -d' ' -f1-3), trials=$TRIALS"
for system in halo sentinel; do
  dotnet "$BENCH" "$system" "$TRIALS" "$HALO_DLL" "$WORK/$system"
done
