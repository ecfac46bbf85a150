#!/usr/bin/env bash
# Counts, per forwarded request, what a proxy asks of the kernel under the bench's load: syscalls by kind and context
# switches (perf stat, low overhead), failed syscalls such as EAGAIN receives (strace -f -c, which slows the proxy, so
# only its per-request counts mean anything), and the proxy's CPU split by thread (user/system from /proc), so a .NET
# proxy's JIT (".NET Tiered Com") and thread-pool time show apart from its socket event threads.
# Usage: bench/gateway/syscalls.sh [proxy=halo] [seconds=6]
#   env: PROXY_CPUS=1 LOAD_CPUS=0 THREADS=1 (HAProxy nbthread / nginx workers) CONNECTIONS=32 WARMUP=6 NO_BUILD=1 HALO_DLL=...
# The window starts after WARMUP seconds of the same load, as in run.sh (a fresh proxy per run).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PROXY=${1:-halo}
SECS=${2:-6}
PROXY_CPUS=${PROXY_CPUS-1}
LOAD_CPUS=${LOAD_CPUS-0}
THREADS=${THREADS:-1}
CONN=${CONNECTIONS:-32}
RUN=$(mktemp -d /tmp/halo-syscalls.XXXXXX)
source "$ROOT/bench/gateway/lib.sh"
trap cleanup_all EXIT
[ "${NO_BUILD:-0}" = 1 ] || build_all

threads() { # tid name utime stime context-switches, for every thread of the proxy (and its children: nginx's workers)
  local p t
  for p in "$PPID_" $(pgrep -P "$PPID_" || true); do
    for t in /proc/"$p"/task/*; do
      echo "$(basename "$t") $(tr ' ' _ <"$t/comm") $(sed 's/.*) //' "$t/stat" 2>/dev/null | awk '{print $12, $13}') $(awk '/ctxt_switches/ {s+=$2} END {print s}' "$t/status" 2>/dev/null)"
    done
  done
}

start_backends
start_proxy "$PROXY"
pin "$LOAD_CPUS" wrk -t1 -c"$CONN" -d"${WARMUP:-6}s" "http://127.0.0.1:$PPORT/" >/dev/null
threads >"$RUN/th0"
perf stat -x, -e raw_syscalls:sys_enter,context-switches,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex,syscalls:sys_enter_sched_yield \
  -p "$(pgrep -P "$PPID_" | tr '\n' , )$PPID_" -o "$RUN/stat.csv" &
statpid=$!
out=$(pin "$LOAD_CPUS" wrk -t1 -c"$CONN" -d"${SECS}s" "http://127.0.0.1:$PPORT/")
threads >"$RUN/th1"
kill -INT "$statpid"; wait "$statpid" || true
reqs=$(awk '/requests in/ {print $1}' <<<"$out")
echo "$PROXY, proxy CPUs '${PROXY_CPUS}', load CPUs '${LOAD_CPUS}', wrk -c$CONN -d${SECS}s after a ${WARMUP:-6} s warm-up: $reqs requests, $(awk '/Requests\/sec/ {print $2}' <<<"$out") req/s"
python3 - "$RUN/th0" "$RUN/th1" "$RUN/stat.csv" "$reqs" <<'PY'
import collections, re, sys
reqs = float(sys.argv[4])
def rd(p):
    d = {}
    for line in open(p):
        f = line.split()
        if len(f) == 5: d[f[0]] = (f[1], int(f[2]), int(f[3]), int(f[4]))
    return d
a, b = rd(sys.argv[1]), rd(sys.argv[2])
agg = collections.defaultdict(lambda: [0, 0, 0])
for k, (name, u, s, c) in b.items():
    u0, s0, c0 = a[k][1:] if k in a else (0, 0, 0)
    name = re.sub(r'_?#?\d+$', '', name)
    agg[name][0] += u - u0; agg[name][1] += s - s0; agg[name][2] += c - c0
us = lambda ticks: ticks * 1e4 / reqs  # clock ticks are 10 ms
print(f"CPU per request: {us(sum(v[0] + v[1] for v in agg.values())):.1f} us (user {us(sum(v[0] for v in agg.values())):.1f}, system {us(sum(v[1] for v in agg.values())):.1f})")
for name, (u, s, c) in sorted(agg.items(), key=lambda x: -(x[1][0] + x[1][1])):
    if u + s + c:
        print(f"  thread {name:22s} user {us(u):5.1f} us  system {us(s):5.1f} us  context switches {c / reqs:.3f}")
print("per request (perf stat):")
for line in open(sys.argv[3]):
    f = line.strip().split(",")
    if len(f) > 2 and f[0].replace(".", "").isdigit():
        print(f"  {f[2].split(':')[-1]:24s} {float(f[0]) / reqs:.3f}")
PY
# strace slows the proxy several times over: a separate, shorter window, per-request counts only.
timeout 30 strace -f -c -o "$RUN/strace.txt" -p "$PPID_" 2>/dev/null &
stracepid=$!
sleep 1
out=$(pin "$LOAD_CPUS" wrk -t1 -c"$CONN" -d3s "http://127.0.0.1:$PPORT/")
kill -INT "$stracepid"; wait "$stracepid" || true
python3 - "$RUN/strace.txt" "$(awk '/requests in/ {print $1}' <<<"$out")" <<'PY'
import sys
reqs = float(sys.argv[2])
print(f"per request (strace -f -c over {int(reqs)} requests): calls (of which failed)")
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
        calls, errors = int(f[3]), int(f[4]) if len(f) == 6 else 0
        if calls / reqs >= 0.01:
            print(f"  {f[-1]:16s} {calls / reqs:.3f} ({errors / reqs:.3f})")
PY
stop_proxy
stop_backends
