#!/usr/bin/env bash
# What closed-by-default costs: registrations/s on `halo server` and requests/s through `halo gateway`, with auth and
# TLS off vs on (issue 12). Run it under /work/tools/quiet; about 3 minutes.
#
#   bench/security/overhead.sh
#   REGISTER_COUNT=20000 CONCURRENCY=32 GATEWAY_SECONDS=10 CONNECTIONS=32 bench/security/overhead.sh
#
# Server, off: --insecure-allow-anonymous, plain HTTP. On: a token on every request, HTTPS with the CA pinned (HaloHttp,
# as every Halo role does), client certificates not asked for. Each side first registers WARMUP instances (JIT), then
# REGISTER_COUNT more, measured (bench/Halo.Bench register).
# Gateway, off: plain HTTP. On: HTTPS (wrk's TLS, new connections only at start: keep-alive, as clients do). Three
# static backends; the gateway's auth is towards the server, not on its data path, so only TLS differs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN=$(mktemp -d "${TMPDIR:-/tmp}/halo-sec-bench.XXXXXX")
source "$ROOT/bench/gateway/lib.sh"
trap cleanup_all EXIT
REGISTER_COUNT=${REGISTER_COUNT:-20000}
WARMUP=${WARMUP:-5000}
CONCURRENCY=${CONCURRENCY:-32}
GATEWAY_SECONDS=${GATEWAY_SECONDS:-10}
CONNECTIONS=${CONNECTIONS:-32}
BENCH_DLL="$ROOT/bench/Halo.Bench/bin/Release/net10.0/Halo.Bench.dll"

build_all
dotnet build "$ROOT/bench/Halo.Bench" -c Release -nologo -v q >/dev/null
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); $(date -u +%FT%TZ); load: $(cut -d' ' -f1-3 /proc/loadavg)"
dotnet "$HALO" cert dev --out "$RUN/certs" >/dev/null

registrations() { # off|on
  local side=$1 port data; port=$(free_port); data="$RUN/server-$side"
  if [ "$side" = off ]; then
    dotnet "$HALO" server --listen "127.0.0.1:$port" --data "$data" --insecure-allow-anonymous >"$RUN/server-$side.log" 2>&1 &
    PIDS+=($!); wait_http "http://127.0.0.1:$port/healthz" "$RUN/server-$side.log"
    url="http://127.0.0.1:$port"; env=()
  else
    dotnet "$HALO" server --listen "127.0.0.1:$port" --data "$data" --tls-cert "$RUN/certs/server.pem" --tls-key "$RUN/certs/server-key.pem" >"$RUN/server-$side.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 300); do curl -fs --cacert "$RUN/certs/ca.pem" -o /dev/null "https://127.0.0.1:$port/healthz" && break; sleep 0.1; done
    url="https://127.0.0.1:$port"; env=(HALO_TOKEN_FILE="$data/bootstrap.token" HALO_CA_CERT="$RUN/certs/ca.pem")
  fi
  env "${env[@]}" timeout 120 dotnet "$BENCH_DLL" register --server "$url" --count "$WARMUP" --concurrency "$CONCURRENCY" --ttl 1h >/dev/null
  # The measured run registers instances of a new service (Halo.Bench names one per run): new writes, not overwrites.
  env "${env[@]}" timeout 180 dotnet "$BENCH_DLL" register --server "$url" --count "$REGISTER_COUNT" --concurrency "$CONCURRENCY" --ttl 1h \
    | sed "s/^/registrations auth+TLS $side: /"
  kill -9 "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
}

gateway() { # off|on
  local side=$1 tls=() scheme=http
  [ "$side" = on ] && tls=(--tls-cert "$RUN/certs/server.pem" --tls-key "$RUN/certs/server-key.pem") && scheme=https
  PPORT=$(free_port)
  render "$ROOT/bench/peers/halo.yaml.template" "$RUN/halo.yaml"
  dotnet "$HALO" gateway --config "$RUN/halo.yaml" --listen "127.0.0.1:$PPORT" "${tls[@]}" >"$RUN/gateway-$side.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 300); do curl -fsk -o /dev/null "$scheme://127.0.0.1:$PPORT/" && break; sleep 0.1; done
  wrk -t2 -c"$CONNECTIONS" -d3s "$scheme://127.0.0.1:$PPORT/" >/dev/null # warm-up (JIT, pools)
  wrk -t2 -c"$CONNECTIONS" -d"${GATEWAY_SECONDS}s" --latency "$scheme://127.0.0.1:$PPORT/" >"$RUN/wrk-$side.txt"
  echo "gateway TLS $side: $(grep -E 'Requests/sec' "$RUN/wrk-$side.txt" | awk '{print $2}') req/s, p50 $(awk '$1=="50%"{print $2}' "$RUN/wrk-$side.txt"), p99 $(awk '$1=="99%"{print $2}' "$RUN/wrk-$side.txt"), errors: $(grep -E 'Non-2xx|Socket errors' "$RUN/wrk-$side.txt" | tr '\n' ' ' || true)"
  kill -9 "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
}

registrations off
registrations on
start_backends
gateway off
gateway on
