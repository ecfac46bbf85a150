#!/usr/bin/env bash
# Profile the load generator (not the server) while it registers into a warm `halo server`: where a client's CPU per
# registration goes. Flame graph with bench/tools/flamegraph.py, as profile.sh does for the server.
#
#   bench/registry/profile-client.sh [out-prefix=docs/perf/registry-client-register]
#   env: COUNT=45000 SECS=4 HALO_DLL=<another build>  CLIENT_SPIN=<thread-pool spin limit of the bench, runtime default if unset>
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/docs/perf/registry-client-register}
HALO=${HALO_DLL:-$ROOT/src/Halo.Cli/bin/Release/net10.0/halo.dll}
BENCH=$ROOT/bench/Halo.Bench/bin/Release/net10.0/Halo.Bench.dll
RUN=$(mktemp -d /tmp/halo-clientprof.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$RUN"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dotnet "$HALO" server --listen "127.0.0.1:$port" --data "$RUN/halo" >"$RUN/halo.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
export HALO_TOKEN_FILE=$RUN/halo/bootstrap.token
spin=()
[ -n "${CLIENT_SPIN:-}" ] && spin=("DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=$CLIENT_SPIN")
# Warm the server first, so the client's profile is taken against a steady server.
env "${spin[@]}" dotnet "$BENCH" register --server "http://127.0.0.1:$port" --count 20000 --concurrency 32 --ttl 1h >/dev/null
env "${spin[@]}" DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 dotnet "$BENCH" register --server "http://127.0.0.1:$port" \
  --count "${COUNT:-45000}" --concurrency 32 --ttl 1h >"$RUN/load.txt" &
lpid=$!; pids+=($lpid)
sleep 2
perf record -F 999 -g -p "$lpid" -o "$RUN/perf.data" -- sleep "${SECS:-4}" 2>/dev/null >/dev/null
wait "$lpid" || true
mkdir -p "$(dirname "$OUT")"
perf script -i "$RUN/perf.data" 2>/dev/null | python3 "$ROOT/bench/tools/flamegraph.py" --title "Halo.Bench register (client), $(date -u +%F)" \
  --svg "$OUT.svg" --folded "$OUT.folded" --top 30 | tee "$OUT.top.txt"
tee -a "$OUT.top.txt" <"$RUN/load.txt"
