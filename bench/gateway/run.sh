#!/usr/bin/env bash
# Side-by-side benchmark: Halo gateway vs HAProxy 2.6 vs nginx 1.22 in front of the same three
# backends (tests/Halo.TestBackend, Release). Each proxy is pinned to the same CPU (PROXY_CPU);
# backends and wrk share the other (LOAD_CPU). Throughput runs alternate proxies round by round;
# failure runs kill (SIGKILL) or freeze (SIGSTOP) one backend mid-run and count failed requests,
# the slowest request, and throughput before/after the fault.
#
# Usage: bench/gateway/run.sh [rounds=3] [seconds=10]
#   env: PROXY_CPU=1 LOAD_CPU=0 CONNECTIONS=16 PROXIES='halo yarp haproxy nginx' FAULTS_ONLY=1 (skip throughput) THROUGHPUT_ONLY=1 (skip failure runs) KEEP_RESULTS=dir (copy the .tsv files there)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${1:-3}
DUR=${2:-10}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
CONN=${CONNECTIONS:-16}
FAULT_DUR=12
FAULT_AT=4
RUN=$(mktemp -d /tmp/halo-bench.XXXXXX)
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$RUN"
}
trap cleanup EXIT

echo "building Release backend, gateway runner and halo..." >&2
dotnet build "$ROOT/tests/Halo.TestBackend" -c Release -nologo -v q >/dev/null
dotnet build "$ROOT/tests/Halo.GatewayRunner" -c Release -nologo -v q >/dev/null
dotnet build "$ROOT/src/Halo.Cli" -c Release -nologo -v q >/dev/null
BACKEND="$ROOT/tests/Halo.TestBackend/bin/Release/net10.0/Halo.TestBackend.dll"
GATEWAY="$ROOT/tests/Halo.GatewayRunner/bin/Release/net10.0/Halo.GatewayRunner.dll"   # --bare: plain YARP floor
HALO="$ROOT/src/Halo.Cli/bin/Release/net10.0/halo.dll"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() { # url, bounded 30 s
  for _ in $(seq 300); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "timed out waiting for $1" >&2; return 1
}

declare -A BPID BPORT
start_backends() {
  for i in 1 2 3; do
    BPORT[$i]=$(free_port)
    DOTNET_gcServer=0 taskset -c "$LOAD_CPU" dotnet "$BACKEND" --port "${BPORT[$i]}" --name "b$i" >"$RUN/b$i.log" 2>&1 &
    BPID[$i]=$!; PIDS+=("${BPID[$i]}")
  done
  for i in 1 2 3; do wait_http "http://127.0.0.1:${BPORT[$i]}/healthz"; done
}

stop_backends() {
  for i in 1 2 3; do kill -CONT "${BPID[$i]}" 2>/dev/null || true; kill -9 "${BPID[$i]}" 2>/dev/null || true; wait "${BPID[$i]}" 2>/dev/null || true; done
}

render() { # template -> out
  sed -e "s|@B1@|${BPORT[1]}|g" -e "s|@B2@|${BPORT[2]}|g" -e "s|@B3@|${BPORT[3]}|g" \
      -e "s|@PROXY_PORT@|$PPORT|g" -e "s|@RUN@|$RUN|g" "$1" >"$2"
}

# .NET's tiering waits for 100 ms without new tier-0 JIT activity before promoting hot methods, ×10
# on a single CPU (TC_DelaySingleProcMultiplier); pinned to one CPU, the gateway then runs mostly
# instrumented tier-0 code (measured: 80-100 µs of CPU per request instead of ~30). Promote at once.
DOTNET_TIERING=(DOTNET_TC_CallCountingDelayMs=0)

PPID_=""
start_proxy() { # name
  PPORT=$(free_port)
  case $1 in
    halo)
      render "$ROOT/bench/peers/halo.yaml.template" "$RUN/halo.yaml"
      env "${DOTNET_TIERING[@]}" DOTNET_gcServer=0 taskset -c "$PROXY_CPU" dotnet "$HALO" gateway --config "$RUN/halo.yaml" --listen "127.0.0.1:$PPORT" >"$RUN/halo.log" 2>&1 & ;;
    yarp) # plain YARP forwarder, none of Halo's logic: the floor Halo's gateway builds on
      env "${DOTNET_TIERING[@]}" DOTNET_gcServer=0 taskset -c "$PROXY_CPU" dotnet "$GATEWAY" --bare "http://127.0.0.1:${BPORT[1]},http://127.0.0.1:${BPORT[2]},http://127.0.0.1:${BPORT[3]}" --listen "127.0.0.1:$PPORT" >"$RUN/yarp.log" 2>&1 & ;;
    haproxy)
      render "$ROOT/bench/peers/haproxy.cfg.template" "$RUN/haproxy.cfg"
      taskset -c "$PROXY_CPU" haproxy -db -f "$RUN/haproxy.cfg" >"$RUN/haproxy.log" 2>&1 & ;;
    nginx)
      mkdir -p "$RUN/nginx"
      render "$ROOT/bench/peers/nginx.conf.template" "$RUN/nginx.conf"
      taskset -c "$PROXY_CPU" nginx -p "$RUN/nginx" -c "$RUN/nginx.conf" -e "$RUN/nginx-error.log" >"$RUN/nginx.log" 2>&1 & ;;
  esac
  PPID_=$!; PIDS+=("$PPID_")
  wait_http "http://127.0.0.1:$PPORT/"
}

cpu_ticks() { # user+system clock ticks of a process and its children (nginx's worker is a child)
  local t=0 p f
  for p in "$1" $(pgrep -P "$1" || true); do
    read -r -a f <"/proc/$p/stat" || continue
    t=$((t + f[13] + f[14]))
  done
  echo "$t"
}

stop_proxy() { kill "$PPID_" 2>/dev/null || true; wait "$PPID_" 2>/dev/null || true; }

to_ms() { # wrk latency like 812.00us / 1.23ms / 2.00s
  python3 -c "import sys,re; v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)',v); n=float(m.group(1)); print({'us':n/1000,'ms':n,'s':n*1000}[m.group(2)])" "$1"
}

read -r -a PROXIES <<<"${PROXIES:-halo haproxy nginx}"
echo "proxy	round	rps	p50_ms	p99_ms	cpu_us_per_req" >"$RUN/throughput.tsv"
start_backends
for round in $(seq "$ROUNDS"); do
  [ "${FAULTS_ONLY:-0}" = 1 ] && break
  # Alternate the order each round so no proxy always runs first (warm caches, thermal drift).
  shift_by=$(( (round-1) % ${#PROXIES[@]} ))
  order=("${PROXIES[@]:$shift_by}" "${PROXIES[@]:0:$shift_by}")
  for p in "${order[@]}"; do
    start_proxy "$p"
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONN" -d5s "http://127.0.0.1:$PPORT/" >/dev/null
    t0=$(cpu_ticks "$PPID_")
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONN" -d"${DUR}s" --latency "http://127.0.0.1:$PPORT/")
    t1=$(cpu_ticks "$PPID_")
    stop_proxy
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    # Proxy CPU time per request: a cost measure that holds even when the proxy is not the bottleneck.
    cpu_us=$(python3 -c "import os; print(round(($t1-$t0)/os.sysconf('SC_CLK_TCK')*1e6/$reqs, 1))")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
    errs=$(grep -E "Non-2xx|Socket errors" <<<"$out" || true)
    echo "$p	$round	$rps	$p50	$p99	$cpu_us" >>"$RUN/throughput.tsv"
    echo "round $round $p: $rps req/s p50 ${p50}ms p99 ${p99}ms cpu ${cpu_us}us/req $errs" >&2
  done
done
stop_backends

echo "proxy	fault	failed	requests	max_ms	rps_before	rps_after" >"$RUN/faults.tsv"
read -r -a FAULT_PROXIES <<<"${FAULT_PROXIES:-halo haproxy nginx}"
for fault in $([ "${THROUGHPUT_ONLY:-0}" = 1 ] || echo kill stop); do
  for p in "${FAULT_PROXIES[@]}"; do
    start_backends
    start_proxy "$p"
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONN" -d5s "http://127.0.0.1:$PPORT/" >/dev/null
    victim=${BPID[2]}
    ( sleep "$FAULT_AT"; if [ "$fault" = kill ]; then kill -9 "$victim"; else kill -STOP "$victim"; fi ) &
    faulter=$!
    out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONN" -d"${FAULT_DUR}s" --timeout 30s -s "$ROOT/bench/gateway/series.lua" "http://127.0.0.1:$PPORT/")
    wait "$faulter"
    stop_proxy
    stop_backends
    python3 - "$p" "$fault" "$FAULT_AT" >>"$RUN/faults.tsv" <<PY
import sys
out = """$out"""
p, fault, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
vals = {}; secs = {}
for line in out.splitlines():
    parts = line.split()
    if not parts: continue
    if parts[0] == "SEC": secs[int(parts[1])] = int(parts[2])
    elif parts[0] in ("FAILED", "REQUESTS", "MAX_MS"): vals[parts[0]] = parts[1]
t0 = min(secs)
rel = {s - t0: c for s, c in secs.items()}
last = max(rel)
before = [rel.get(s, 0) for s in range(1, at)]
after = [rel.get(s, 0) for s in range(at + 2, last)]
mean = lambda xs: sum(xs) / len(xs) if xs else 0
print(f"{p}\t{fault}\t{vals['FAILED']}\t{vals['REQUESTS']}\t{vals['MAX_MS']}\t{mean(before):.0f}\t{mean(after):.0f}")
PY
    tail -1 "$RUN/faults.tsv" >&2
  done
done

[ -n "${KEEP_RESULTS:-}" ] && cp "$RUN/throughput.tsv" "$RUN/faults.tsv" "$KEEP_RESULTS/"
python3 - "$RUN/throughput.tsv" "$RUN/faults.tsv" "$ROUNDS" "$DUR" "$CONN" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
med = {}
for p in dict.fromkeys(x["proxy"] for x in rows):
    r = [x for x in rows if x["proxy"] == p]
    med[p] = {k: statistics.median(float(x[k]) for x in r) for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req")}
base = med.get("haproxy")
print(f"Throughput: wrk -t1 -c{sys.argv[5]} -d{sys.argv[4]}s, {sys.argv[3]} alternated rounds, medians\n")
print("| proxy | requests/s | p50 ms | p99 ms | proxy CPU µs/request | req/s vs HAProxy | p50 vs HAProxy | p99 vs HAProxy | CPU/request vs HAProxy |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for p, m in (med.items() if base else []):
    print(f"| {p} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['cpu_us_per_req']:.1f} | {m['rps']/base['rps']:.2f} | {m['p50_ms']/base['p50_ms']:.2f} | {m['p99_ms']/base['p99_ms']:.2f} | {m['cpu_us_per_req']/base['cpu_us_per_req']:.2f} |")
print("\nAll rounds:\n")
print("| proxy | round | requests/s | p50 ms | p99 ms | CPU µs/request |")
print("|---|---:|---:|---:|---:|---:|")
for x in rows:
    print(f"| {x['proxy']} | {x['round']} | {float(x['rps']):.0f} | {float(x['p50_ms']):.2f} | {float(x['p99_ms']):.2f} | {float(x['cpu_us_per_req']):.1f} |")
print("\nFailure runs (one of three backends killed or SIGSTOPped 4 s into a 12 s run):\n")
print("| proxy | fault | failed requests | total requests | slowest ms | req/s before fault | req/s after fault (from +2 s) |")
print("|---|---|---:|---:|---:|---:|---:|")
for x in csv.DictReader(open(sys.argv[2]), delimiter="\t"):
    print(f"| {x['proxy']} | {x['fault']} | {x['failed']} | {x['requests']} | {float(x['max_ms']):.0f} | {x['rps_before']} | {x['rps_after']} |")
PY
