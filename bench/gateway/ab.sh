#!/usr/bin/env bash
# Experiment runs (not the figures of record, which come from run.sh): gateway variants beside HAProxy on run.sh's setup,
# a fresh proxy per round, the order rotated each round; over each measured window: wrk's rate and latency, the proxy's
# CPU per request split by thread (user/system), its context switches and syscalls per request (perf stat).
# Usage: bench/gateway/ab.sh rounds seconds "modes" "variants"
#   modes: 1core 2core unpinned (as run.sh); variant: name:path/to/halo.dll:warm-up-seconds[:ENV=V,ENV2=V] or haproxy:-:warm-up-seconds
#   (ENV only for experiments: what is kept must be set by the binary). Results: $OUTDIR/ab.tsv and a table of medians.
# Example: bench/gateway/ab.sh 3 6 "1core 2core" "haproxy:-:6 halo:src/Halo.Cli/bin/Release/net10.0/halo.dll:6"
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=$1; DUR=$2; read -r -a MODES <<<"$3"; read -r -a VARS <<<"$4"
OUTDIR=${OUTDIR:-$(mktemp -d /tmp/halo-ab.XXXXXX)}; mkdir -p "$OUTDIR"
RUN=$(mktemp -d /tmp/halo-abrun.XXXXXX)
source "$ROOT/bench/gateway/lib.sh"
trap cleanup_all EXIT
CONN=32
threads() { for t in /proc/$1/task/*; do echo "$(basename $t) $(tr ' ' _ <$t/comm) $(sed 's/.*) //' $t/stat 2>/dev/null | awk '{print $12, $13}') $(awk '/ctxt_switches/ {s+=$2} END {print s}' $t/status 2>/dev/null)"; done; }
echo "mode	variant	round	rps	p50_ms	p99_ms	cpu_us	user_us	sys_us	cs	syscalls	recvfrom	sendto	epoll_wait	futex	threads" >"$OUTDIR/ab.tsv"
for mode in "${MODES[@]}"; do
  case $mode in 1core) PROXY_CPUS=1; LOAD_CPUS=0; THREADS=1;; 2core) PROXY_CPUS=0,1; LOAD_CPUS=0,1; THREADS=2;; unpinned) PROXY_CPUS=""; LOAD_CPUS=""; THREADS=auto;; esac
  start_backends
  for round in $(seq "$ROUNDS"); do
    shift_by=$(( (round-1) % ${#VARS[@]} ))
    order=("${VARS[@]:$shift_by}" "${VARS[@]:0:$shift_by}")
    for v in "${order[@]}"; do
      IFS=: read -r name dll warm envs <<<"$v"
      if [ "$name" = haproxy ]; then start_proxy haproxy; else HALO=$dll; start_proxy halo ${envs//,/ }; fi
      pin "$LOAD_CPUS" wrk -t1 -c$CONN -d"${warm}s" "http://127.0.0.1:$PPORT/" >/dev/null
      threads "$PPID_" >"$RUN/th0"
      perf stat -x, -e raw_syscalls:sys_enter,context-switches,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex -p "$PPID_" -o "$RUN/stat.csv" &
      sp=$!
      out=$(pin "$LOAD_CPUS" wrk -t1 -c$CONN -d"${DUR}s" --latency "http://127.0.0.1:$PPORT/")
      threads "$PPID_" >"$RUN/th1"
      kill -INT $sp; wait $sp || true
      stop_proxy
      python3 - "$RUN/th0" "$RUN/th1" "$RUN/stat.csv" "$mode" "$name" "$round" >>"$OUTDIR/ab.tsv" <<PY
import sys, re, collections
out = """$out"""
def ms(v):
    m = re.match(r'([0-9.]+)(us|ms|s)', v); n = float(m.group(1)); return {'us': n/1000, 'ms': n, 's': n*1000}[m.group(2)]
reqs = int(re.search(r'(\d+) requests in', out).group(1)); rps = float(re.search(r'Requests/sec:\s+([0-9.]+)', out).group(1))
p50 = ms(re.search(r'^\s+50%\s+(\S+)', out, re.M).group(1)); p99 = ms(re.search(r'^\s+99%\s+(\S+)', out, re.M).group(1))
def rd(p):
    d = {}
    for l in open(p):
        f = l.split()
        if len(f) == 5: d[f[0]] = (f[1], int(f[2]), int(f[3]), int(f[4]))
    return d
a, b = rd(sys.argv[1]), rd(sys.argv[2])
agg = collections.defaultdict(lambda: [0, 0, 0])
for k, (n, u, s, c) in b.items():
    u0, s0, c0 = a[k][1:] if k in a else (0, 0, 0)
    n = re.sub(r'_?#?\d+$', '', n)
    agg[n][0] += u - u0; agg[n][1] += s - s0; agg[n][2] += c - c0
us = lambda t: t * 1e4 / reqs  # clock ticks (100/s) -> us per request
tu = sum(v[0] for v in agg.values()); ts = sum(v[1] for v in agg.values())
st = {}
for line in open(sys.argv[3]):
    f = line.strip().split(",")
    if len(f) > 2 and f[0].replace(".", "").isdigit(): st[f[2].split(":")[-1]] = float(f[0]) / reqs
th = ";".join(f"{n}={us(u):.1f}/{us(s):.1f}/cs{c/reqs:.3f}" for n, (u, s, c) in sorted(agg.items(), key=lambda x: -(x[1][0] + x[1][1])) if u + s + c > 0)
print(f"{sys.argv[4]}\t{sys.argv[5]}\t{sys.argv[6]}\t{rps:.0f}\t{p50:.2f}\t{p99:.2f}\t{us(tu+ts):.1f}\t{us(tu):.1f}\t{us(ts):.1f}\t{st.get('context-switches',0):.3f}\t{st.get('sys_enter',0):.2f}\t{st.get('sys_enter_recvfrom',0):.2f}\t{st.get('sys_enter_sendto',0):.2f}\t{st.get('sys_enter_epoll_wait',0):.3f}\t{st.get('sys_enter_futex',0):.3f}\t{th}")
PY
      tail -1 "$OUTDIR/ab.tsv" >&2
    done
  done
  stop_backends
done
python3 - "$OUTDIR/ab.tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
keys = ["rps", "p50_ms", "p99_ms", "cpu_us", "user_us", "sys_us", "cs", "syscalls", "recvfrom", "sendto", "epoll_wait", "futex"]
print("| mode | variant | " + " | ".join(keys) + " |"); print("|---|---|" + "---:|" * len(keys))
for mode in dict.fromkeys(r["mode"] for r in rows):
    for v in dict.fromkeys(r["variant"] for r in rows if r["mode"] == mode):
        rs = [r for r in rows if r["mode"] == mode and r["variant"] == v]
        print(f"| {mode} | {v} | " + " | ".join(f"{statistics.median(float(r[k]) for r in rs):g}" for k in keys) + " |")
PY
