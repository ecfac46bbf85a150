#!/usr/bin/env bash
# Profile `halo server` while bench/Halo.Bench registers instances over HTTP (the registry half of bench/registry/run.sh),
# and render a flame graph with our own renderer (bench/tools/flamegraph.py).
#
#   bench/registry/profile.sh [out-prefix=docs/perf/registry-register] [mode=register|heartbeat]
#   env: COUNT=60000 CONCURRENCY=32 SECS=8 FREQ=999 HALO_DLL=<another build, for before/after>
#
# The server runs as a user gets it (auth on, bootstrap token); DOTNET_PerfMapEnabled=1 and DOTNET_EnableWriteXorExecute=0
# are for profiling only (they let perf name JIT-compiled frames). The recorded figures come from run.sh, which sets neither.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/docs/perf/registry-register}
MODE=${2:-register}
COUNT=${COUNT:-60000}
CONC=${CONCURRENCY:-32}
SECS=${SECS:-8}
HALO=${HALO_DLL:-$ROOT/src/Halo.Cli/bin/Release/net10.0/halo.dll}
BENCH=$ROOT/bench/Halo.Bench/bin/Release/net10.0/Halo.Bench.dll
RUN=$(mktemp -d /tmp/halo-regprof.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$RUN"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 dotnet "$HALO" server --listen "127.0.0.1:$port" --data "$RUN/halo" >"$RUN/halo.log" 2>&1 &
spid=$!; pids+=("$spid")
for _ in $(seq 300); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
export HALO_TOKEN_FILE=$RUN/halo/bootstrap.token
server="http://127.0.0.1:$port"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
load() {
  if [ "$MODE" = register ]; then
    dotnet "$BENCH" register --server "$server" --count "$1" --concurrency "$CONC" --ttl 1h
  else
    dotnet "$BENCH" heartbeat-max --server "$server" --instances 2000 --seconds "$2" --concurrency "$CONC" --ttl 1h
  fi
}
# Warm-up: the JIT's tiering settles before the profile (a fresh process would show the JIT, not the steady state).
load 20000 5 >"$RUN/warm.txt"
mkdir -p "$(dirname "$OUT")"
load "$COUNT" $((SECS + 4)) >"$RUN/load.txt" &
lpid=$!
sleep 1
t0=$(cpu_ticks "$spid")
perf record -F "${FREQ:-999}" -g -p "$spid" -o "$RUN/perf.data" -- sleep "$SECS" 2>"$RUN/perf.log" >/dev/null
t1=$(cpu_ticks "$spid")
wait "$lpid" || true
perf script -i "$RUN/perf.data" 2>/dev/null | python3 "$ROOT/bench/tools/flamegraph.py" --title "halo server, $MODE c$CONC, $(date -u +%F)" \
  --svg "$OUT.svg" --folded "$OUT.folded" --top 40 | tee "$OUT.top.txt"
cat "$RUN/load.txt" | tee -a "$OUT.top.txt"
echo "server CPU during the profile: $(( (t1 - t0) * 10 )) ms over ${SECS}s; load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT.top.txt"
