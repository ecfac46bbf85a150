#!/usr/bin/env bash
# Profile one proxy under the bench's load and render a flame graph (perf + our own renderer).
# Usage: bench/gateway/profile.sh [proxy=halo] [out-prefix=docs/perf/gateway] [seconds=10]
#   env: PROXY_CPUS=1 LOAD_CPUS=0 CONNECTIONS=16 FREQ=2999 EXTRA_ENV="VAR=1 ..." (extra env for the proxy, for experiments)
# DOTNET_PerfMapEnabled=1 and DOTNET_EnableWriteXorExecute=0 are for profiling only (they let perf name
# JIT-compiled frames: with W^X on, JIT code runs from a memfd mapping perf cannot match); the figures in
# docs/BENCHMARKS.md come from run.sh, which sets no Halo environment variables.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PROXY=${1:-halo}
OUT=${2:-$ROOT/docs/perf/gateway-$PROXY}
SECS=${3:-10}
PROXY_CPUS=${PROXY_CPUS-1}
LOAD_CPUS=${LOAD_CPUS-0}
CONN=${CONNECTIONS:-16}
RUN=$(mktemp -d /tmp/halo-profile.XXXXXX)
source "$ROOT/bench/gateway/lib.sh"
trap cleanup_all EXIT
[ "${NO_BUILD:-0}" = 1 ] || build_all
mkdir -p "$(dirname "$OUT")"
start_backends
start_proxy "$PROXY" DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 ${EXTRA_ENV:-}
pin "$LOAD_CPUS" wrk -t1 -c"$CONN" -d"${WARMUP:-15}s" "http://127.0.0.1:$PPORT/" >/dev/null
pin "$LOAD_CPUS" wrk -t1 -c"$CONN" -d"$((SECS + 2))s" --latency "http://127.0.0.1:$PPORT/" >"$RUN/wrk.txt" &
wrkpid=$!
sleep 1
t0=$(cpu_ticks "$PPID_")
# Syscalls and context switches over the same window (counted, not sampled), to put per request beside the CPU time.
perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "$PPID_" -o "$RUN/stat.csv" -- sleep "$SECS" >/dev/null 2>&1 &
statpid=$!
perf record -F "${FREQ:-2999}" -g -p "$PPID_" -o "$RUN/perf.data" -- sleep "$SECS" 2>"$RUN/perf.log" >/dev/null
t1=$(cpu_ticks "$PPID_")
wait "$statpid" || true
wait "$wrkpid"
perf script -i "$RUN/perf.data" 2>/dev/null | python3 "$ROOT/bench/tools/flamegraph.py" --title "$PROXY, wrk -c$CONN, $(date -u +%F)" \
  --svg "$OUT.svg" --folded "$OUT.folded" --top 30 | tee "$OUT.top.txt"
rps=$(awk '/Requests\/sec/ {print $2}' "$RUN/wrk.txt")
echo "wrk: $rps req/s; proxy CPU during the profile: $(( (t1 - t0) * 10 )) ms over ${SECS}s" | tee -a "$OUT.top.txt"
python3 - "$RUN/stat.csv" "$rps" "$SECS" <<'PY' | tee -a "$OUT.top.txt" || true
import sys
counts = {}
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    if len(f) > 2 and f[0].replace(".", "").isdigit():
        counts[f[2]] = float(f[0])
reqs = float(sys.argv[2]) * float(sys.argv[3])
print("per request (approx., wrk's rate x window): " + ", ".join(f"{k} {v / reqs:.1f}" for k, v in counts.items()))
PY
grep -E "Latency|Req/Sec|requests in" "$RUN/wrk.txt" || true
stop_proxy
stop_backends
