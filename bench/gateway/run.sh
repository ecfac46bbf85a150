#!/usr/bin/env bash
# Side-by-side benchmark: Halo gateway vs HAProxy 2.6 vs nginx 1.22 (and, optionally, bare YARP) in front of
# the same three backends (tests/Halo.TestBackend, Release), same wrk load, ratios from the same run.
#
# Modes (MODES, default "1core 2core unpinned"):
#   1core     every proxy pinned to CPU 1 (HAProxy nbthread 1, nginx worker_processes 1); backends and wrk on CPU 0
#   2core     every proxy on CPUs 0-1 (nbthread 2, worker_processes 2), sharing them with backends and wrk
#   unpinned  nothing pinned, each proxy with its defaults: HAProxy without nbthread (one thread per CPU),
#             nginx worker_processes auto (as Debian ships it), Halo as built (no environment variables)
# Within a mode, proxies alternate order round by round; the table reports medians.
# Failure runs (1core setup) kill (SIGKILL) or freeze (SIGSTOP) one backend mid-run and count failed requests,
# the slowest request, and throughput before/after the fault.
#
# Usage: bench/gateway/run.sh [rounds=3] [seconds=10]
#   env: MODES='1core 2core unpinned' CONNECTIONS=32 WARMUP=5 (seconds of unmeasured load before each measurement) PROXIES='halo haproxy nginx' FAULT_PROXIES='halo haproxy nginx'
#        FAULTS_ONLY=1 (skip throughput) THROUGHPUT_ONLY=1 (skip failure runs) KEEP_RESULTS=dir (copy the .tsv files there)
# No Halo environment variables are set: what is measured is what `halo gateway` does out of the box.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=${1:-3}
DUR=${2:-10}
CONN=${CONNECTIONS:-32}
WARMUP=${WARMUP:-5}
FAULT_DUR=12
FAULT_AT=4
RUN=$(mktemp -d /tmp/halo-bench.XXXXXX)
source "$ROOT/bench/gateway/lib.sh"
trap cleanup_all EXIT
[ "${NO_BUILD:-0}" = 1 ] || build_all

to_ms() { # wrk latency like 812.00us / 1.23ms / 2.00s
  python3 -c "import sys,re; v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)',v); n=float(m.group(1)); print({'us':n/1000,'ms':n,'s':n*1000}[m.group(2)])" "$1"
}

set_mode() {
  case $1 in
    1core) PROXY_CPUS=1; LOAD_CPUS=0; THREADS=1 ;;
    2core) PROXY_CPUS=0,1; LOAD_CPUS=0,1; THREADS=2 ;;
    unpinned) PROXY_CPUS=""; LOAD_CPUS=""; THREADS=auto ;;
    *) echo "unknown mode $1" >&2; exit 2 ;;
  esac
}

read -r -a PROXIES <<<"${PROXIES:-halo haproxy nginx}"
read -r -a MODE_LIST <<<"${MODES:-1core 2core unpinned}"
echo "mode	proxy	round	rps	p50_ms	p99_ms	cpu_us_per_req" >"$RUN/throughput.tsv"
for mode in "${MODE_LIST[@]}"; do
  [ "${FAULTS_ONLY:-0}" = 1 ] && break
  set_mode "$mode"
  start_backends
  for round in $(seq "$ROUNDS"); do
    # Alternate the order each round so no proxy always runs first (warm caches, thermal drift).
    shift_by=$(( (round-1) % ${#PROXIES[@]} ))
    order=("${PROXIES[@]:$shift_by}" "${PROXIES[@]:0:$shift_by}")
    for p in "${order[@]}"; do
      start_proxy "$p"
      pin "$LOAD_CPUS" wrk -t1 -c"$CONN" -d"${WARMUP}s" "http://127.0.0.1:$PPORT/" >/dev/null
      t0=$(cpu_ticks "$PPID_")
      out=$(pin "$LOAD_CPUS" wrk -t1 -c"$CONN" -d"${DUR}s" --latency "http://127.0.0.1:$PPORT/")
      t1=$(cpu_ticks "$PPID_")
      stop_proxy
      reqs=$(awk '/requests in/ {print $1}' <<<"$out")
      # Proxy CPU time per request: a cost measure that holds even when the proxy is not the bottleneck.
      cpu_us=$(python3 -c "import os; print(round(($t1-$t0)/os.sysconf('SC_CLK_TCK')*1e6/$reqs, 1))")
      rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
      p50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
      p99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
      errs=$(grep -E "Non-2xx|Socket errors" <<<"$out" || true)
      echo "$mode	$p	$round	$rps	$p50	$p99	$cpu_us" >>"$RUN/throughput.tsv"
      [ -z "${KEEP_RESULTS:-}" ] || cp "$RUN/throughput.tsv" "$KEEP_RESULTS/"   # kept as it grows: a cut-short run still leaves its rounds
      echo "$mode round $round $p: $rps req/s p50 ${p50}ms p99 ${p99}ms cpu ${cpu_us}us/req $errs" >&2
    done
  done
  stop_backends
done

set_mode 1core
echo "proxy	fault	failed	requests	max_ms	rps_before	rps_after" >"$RUN/faults.tsv"
read -r -a FAULT_PROXIES <<<"${FAULT_PROXIES:-halo haproxy nginx}"
for fault in $([ "${THROUGHPUT_ONLY:-0}" = 1 ] || echo kill stop); do
  for p in "${FAULT_PROXIES[@]}"; do
    start_backends
    start_proxy "$p"
    pin "$LOAD_CPUS" wrk -t1 -c"$CONN" -d5s "http://127.0.0.1:$PPORT/" >/dev/null
    victim=${BPID[2]}
    ( sleep "$FAULT_AT"; if [ "$fault" = kill ]; then kill -9 "$victim"; else kill -STOP "$victim"; fi ) &
    faulter=$!
    out=$(pin "$LOAD_CPUS" wrk -t1 -c"$CONN" -d"${FAULT_DUR}s" --timeout 30s -s "$ROOT/bench/gateway/series.lua" "http://127.0.0.1:$PPORT/")
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
    [ -z "${KEEP_RESULTS:-}" ] || cp "$RUN/faults.tsv" "$KEEP_RESULTS/"
  done
done

[ -n "${KEEP_RESULTS:-}" ] && cp "$RUN/throughput.tsv" "$RUN/faults.tsv" "$KEEP_RESULTS/"
python3 - "$RUN/throughput.tsv" "$RUN/faults.tsv" "$ROUNDS" "$DUR" "$CONN" "$WARMUP" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print(f"Throughput: wrk -t1 -c{sys.argv[5]} -d{sys.argv[4]}s --latency after a {sys.argv[6]} s warm-up, {sys.argv[3]} alternated rounds per mode, medians\n")
for mode in dict.fromkeys(x["mode"] for x in rows):
    med = {}
    for p in dict.fromkeys(x["proxy"] for x in rows if x["mode"] == mode):
        r = [x for x in rows if x["mode"] == mode and x["proxy"] == p]
        med[p] = {k: statistics.median(float(x[k]) for x in r) for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req")}
    base = med.get("haproxy")
    if not base:
        continue
    print(f"**{mode}**\n")
    print("| proxy | requests/s | p50 ms | p99 ms | proxy CPU µs/request | req/s vs HAProxy | p99 vs HAProxy | CPU/request vs HAProxy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for p, m in med.items():
        print(f"| {p} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['cpu_us_per_req']:.1f} | {m['rps']/base['rps']:.2f} | {m['p99_ms']/base['p99_ms']:.2f} | {m['cpu_us_per_req']/base['cpu_us_per_req']:.2f} |")
    print()
print("All rounds:\n")
print("| mode | proxy | round | requests/s | p50 ms | p99 ms | CPU µs/request |")
print("|---|---|---:|---:|---:|---:|---:|")
for x in rows:
    print(f"| {x['mode']} | {x['proxy']} | {x['round']} | {float(x['rps']):.0f} | {float(x['p50_ms']):.2f} | {float(x['p99_ms']):.2f} | {float(x['cpu_us_per_req']):.1f} |")
faults = list(csv.DictReader(open(sys.argv[2]), delimiter="\t"))
if faults:
    print("\nFailure runs (1core setup; one of three backends killed or SIGSTOPped 4 s into a 12 s run):\n")
    print("| proxy | fault | failed requests | total requests | slowest ms | req/s before fault | req/s after fault (from +2 s) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for x in faults:
        print(f"| {x['proxy']} | {x['fault']} | {x['failed']} | {x['requests']} | {float(x['max_ms']):.0f} | {x['rps_before']} | {x['rps_after']} |")
PY
