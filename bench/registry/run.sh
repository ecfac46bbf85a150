#!/usr/bin/env bash
# Side-by-side: Halo's store and registry against etcd 3.4, on the same disk, at the same concurrency.
#
#   bench/registry/run.sh                         # defaults below
#   CONCURRENCY=64 RUN_SECONDS=10 ROUNDS=3 bench/registry/run.sh
#
# Store level (always):   embedded-put  vs  etcd-put            (durable puts/s; both fsync every ack)
# Registry level (when src/Halo.Cli/bin/Release/net10.0/halo.dll exists):
#                         register      vs  etcd-put            (durable registrations/s vs raw durable puts/s; fresh, then warm)
#                         feed          vs  etcd-watch          (the change feed replayed from the start, changes/s)
#                         heartbeat-max vs  etcd-put            (closed-loop heartbeats/s at the same concurrency)
#                         heartbeat     batch and single        (achieved/target rate, latency from due time)
# The server runs as a user gets it: auth on, the load generator sends the bootstrap token.
# Every run is bounded (RUN_SECONDS, default 10, and a hard `timeout`). Servers are started here and killed by pid.
set -euo pipefail
cd "$(dirname "$0")/../.."

CONCURRENCY=${CONCURRENCY:-32}
RUN_SECONDS=${RUN_SECONDS:-10}
ROUNDS=${ROUNDS:-1}
REGISTER_COUNT=${REGISTER_COUNT:-20000}
INSTANCES=${INSTANCES:-10000}
RATE_HZ=${RATE_HZ:-1}
WORK=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/halo-bench.XXXXXX")}
HALO_DLL=${HALO_DLL:-src/Halo.Cli/bin/Release/net10.0/halo.dll}   # HALO_DLL: another build (before/after)
# HALO_DLLS="before.dll after.dll": the registry runs for each build in turn, against the same etcd figure (one quiet run).
# An entry "h2:<dll>" runs that build with cleartext HTTP/2 between the load generator and the server (an experiment: the
# server's endpoint set to Http2 by configuration, the bench's requests as streams of one connection per client).
HALO_DLLS=${HALO_DLLS:-$HALO_DLL}
BENCH_DLL=bench/Halo.Bench/bin/Release/net10.0/Halo.Bench.dll
# The load generator shares the two cores with what it measures. Its thread pool spun (sched_yield) while its workers waited
# for answers: ~45 % of its samples in a profile of register (session 10), CPU taken from the server. Every load generator
# here (etcd's client as Halo's) runs without spinning, as `halo` itself does; CLIENT_SPIN=70 restores the runtime's default.
CLIENT_SPIN=${CLIENT_SPIN:-0}
BENCH=(env "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=$CLIENT_SPIN" dotnet "$BENCH_DLL")
limit=$((RUN_SECONDS + 60))
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  if [ -z "${BENCH_DIR:-}" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}

wait_http() { # url, what, [curl option]
  for _ in $(seq 1 150); do
    curl -fsS ${3:-} -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "$2 did not become healthy at $1 within 30 s" >&2
  return 1
}

rate_of() { grep -oE 'rate=[0-9.]+' <<<"$1" | head -1 | cut -d= -f2; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

command -v etcd >/dev/null || { echo "etcd not found (Debian: apt-get install etcd-server)" >&2; exit 1; }
dotnet build bench/Halo.Bench -c Release -nologo -v quiet >/dev/null

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), disk: $(df -h "$WORK" | awk 'NR==2 {print $1" "$2}')"
echo "work dir: $WORK   concurrency: $CONCURRENCY   seconds per run: $RUN_SECONDS   client spin limit: $CLIENT_SPIN   $(date -u +%FT%TZ)"

client=$(free_port); peer=$(free_port)
etcd --name bench --data-dir "$WORK/etcd" \
  --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "bench=http://127.0.0.1:$peer" >"$WORK/etcd.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$client/health" etcd

# ROUNDS > 1 alternates which side goes first and reports medians: on a shared machine one run proves little.
etcd_rates=(); embedded_rates=()
for round in $(seq 1 "$ROUNDS"); do
  for side in $( ((round % 2)) && echo "etcd embedded" || echo "embedded etcd"); do
    if [ "$side" = etcd ]; then
      etcd_put=$(timeout "$limit" "${BENCH[@]}" etcd-put --endpoints "http://127.0.0.1:$client" --concurrency "$CONCURRENCY" --seconds "$RUN_SECONDS")
      echo "$etcd_put"; etcd_rates+=("$(rate_of "$etcd_put")")
    else
      embedded_put=$(timeout "$limit" "${BENCH[@]}" embedded-put --dir "$WORK/embedded" --concurrency "$CONCURRENCY" --seconds "$RUN_SECONDS")
      echo "$embedded_put"; embedded_rates+=("$(rate_of "$embedded_put")")
    fi
  done
done
etcd_median=$(median "${etcd_rates[@]}"); embedded_median=$(median "${embedded_rates[@]}")
echo "median puts/s over $ROUNDS round(s): embedded-put $embedded_median, etcd-put $etcd_median"
echo "ratio embedded-put / etcd-put = $(ratio "$embedded_median" "$etcd_median")"

for dll in $HALO_DLLS; do
  dll=${dll#h2:}
  if [ ! -f "$dll" ]; then
    echo "skipping registry runs: $dll not built (dotnet build src/Halo.Cli -c Release)"
    exit 0
  fi
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
server_us() { # ticks before, ticks after, operations: the server's CPU per operation in µs
  awk -v a="$1" -v b="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1000000 / hz / n; else print "n/a" }'
}
ok_of() { grep -oE ' ok=[0-9]+' <<<"$1" | head -1 | cut -d= -f2; }

registry_runs() { # one fresh server of build $1
dll=$1
echo "--- registry: $dll"
h2=0; [ "${dll#h2:}" != "$dll" ] && { h2=1; dll=${dll#h2:}; }
port=$(free_port)
if [ "$h2" = 1 ]; then
  # Kestrel speaks cleartext HTTP/2 (prior knowledge) only on an HTTP/2-only endpoint: Http1AndHttp2 needs TLS for it.
  Kestrel__EndpointDefaults__Protocols=Http2 dotnet "$dll" server --listen "127.0.0.1:$port" --data "$WORK/halo-$port" >"$WORK/halo-$port.log" 2>&1 &
else
  dotnet "$dll" server --listen "127.0.0.1:$port" --data "$WORK/halo-$port" >"$WORK/halo-$port.log" 2>&1 &
fi
spid=$!; pids+=($spid)
wait_http "http://127.0.0.1:$port/healthz" "halo server" "$([ "$h2" = 1 ] && echo --http2-prior-knowledge)"
server="http://127.0.0.1:$port"
export HALO_TOKEN_FILE=$WORK/halo-$port/bootstrap.token
export HALO_BENCH_HTTP2=$h2

# A long TTL: these instances never heartbeat, and their health transitions would be writes of their own.
# The first run goes into a fresh server (its JIT tiering included: what a just-started server gives); the second, into the
# same server once warm (what it gives after start-up). etcd needs no warm-up; both ratios are printed, neither hidden.
t0=$(cpu_ticks "$spid")
register=$(timeout "$limit" "${BENCH[@]}" register --server "$server" --count "$REGISTER_COUNT" --concurrency "$CONCURRENCY" --ttl 1h || true)
t1=$(cpu_ticks "$spid")
echo "$register"
echo "ratio register / etcd-put = $(ratio "$(rate_of "$register")" "$etcd_median")   (fresh server; server CPU $(server_us "$t0" "$t1" "$(ok_of "$register")") µs/registration)"
register_warm=$(timeout "$limit" "${BENCH[@]}" register --server "$server" --count "$REGISTER_COUNT" --concurrency "$CONCURRENCY" --ttl 1h || true)
t2=$(cpu_ticks "$spid")
echo "$register_warm"
echo "ratio register / etcd-put = $(ratio "$(rate_of "$register_warm")" "$etcd_median")   (warm server, $REGISTER_COUNT held; server CPU $(server_us "$t1" "$t2" "$(ok_of "$register_warm")") µs/registration)"
# The change feed: a follower that starts (or reconnects) reads the history written before it; both sides from the start.
feed=$(timeout "$limit" "${BENCH[@]}" feed --server "$server" --count "$REGISTER_COUNT" || true)
echo "$feed"
etcd_watch=$(timeout "$limit" "${BENCH[@]}" etcd-watch --endpoints "http://127.0.0.1:$client" --count "$REGISTER_COUNT" || true)
echo "$etcd_watch"
echo "ratio feed / etcd-watch = $(ratio "$(rate_of "$feed")" "$(rate_of "$etcd_watch")")"
# heartbeat-max splits its workers over several register tokens (one per 8), so it measures the request pipeline rather than
# the per-token rate limit; its server CPU per heartbeat (an authenticated request with no body and no store write) is the
# floor under a registration's.
t3=$(cpu_ticks "$spid")
heartbeat_max=$(timeout "$limit" "${BENCH[@]}" heartbeat-max --server "$server" --instances 2000 --seconds "$RUN_SECONDS" \
  --concurrency "$CONCURRENCY" --ttl 1h || true)
t4=$(cpu_ticks "$spid")
echo "$heartbeat_max"
echo "ratio heartbeat-max / etcd-put = $(ratio "$(rate_of "$heartbeat_max")" "$etcd_median")   (server CPU $(server_us "$t3" "$t4" "$(ok_of "$heartbeat_max")") µs/heartbeat, 2,000 registrations included)"
for style in "" "--single"; do
  heartbeat=$(timeout "$((limit + 60))" "${BENCH[@]}" heartbeat --server "$server" --instances "$INSTANCES" \
    --rate-hz "$RATE_HZ" --seconds "$RUN_SECONDS" --concurrency "$CONCURRENCY" $style || true)
  echo "$heartbeat"
done
kill -9 "$spid" 2>/dev/null || true
}

for dll in $HALO_DLLS; do
  registry_runs "$dll"
done
