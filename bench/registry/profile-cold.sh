#!/usr/bin/env bash
# Profile a FRESH `halo server` over its first registrations (the part run.sh's first register line measures, JIT tiering
# included), unlike profile.sh, which warms the server up first. Renders a flame graph with bench/tools/flamegraph.py; the
# top lines say how the CPU split between threads (the tiering thread is `.NET_Tiered_Com`).
#
#   OUT=docs/perf/registry-cold bench/registry/profile-cold.sh [VAR=value ...]   # extra env for the server: experiments only
#   env: COUNT=20000 HALO_DLL=<another build>
# DOTNET_PerfMapEnabled=1 and DOTNET_EnableWriteXorExecute=0 are for profiling only (perf can then name JIT-compiled frames).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/docs/perf/registry-cold}
HALO_DLL=${HALO_DLL:-src/Halo.Cli/bin/Release/net10.0/halo.dll}
BENCH=bench/Halo.Bench/bin/Release/net10.0/Halo.Bench.dll
W=$(mktemp -d /tmp/halo-coldprof.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
env DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 "$@" dotnet "$HALO_DLL" server --listen "127.0.0.1:$port" --data "$W/halo" >"$W/halo.log" 2>&1 &
hp=$!
trap 'kill -9 $hp 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 150); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.2; done
export HALO_TOKEN_FILE=$W/halo/bootstrap.token
perf record -F 499 -g -p "$hp" -o "$W/perf.data" 2>/dev/null >/dev/null &
pp=$!
sleep 0.5
dotnet "$BENCH" register --server "http://127.0.0.1:$port" --count "${COUNT:-20000}" --concurrency 32 --ttl 1h
kill -INT "$pp"; wait "$pp"
mkdir -p "$(dirname "$OUT")"
perf script -i "$W/perf.data" 2>/dev/null | python3 bench/tools/flamegraph.py --title "fresh halo server, register c32, $(date -u +%F)" \
  --svg "$OUT.svg" --folded "$OUT.folded" --top 30 >"$OUT.top.txt"
head -3 "$OUT.top.txt"
