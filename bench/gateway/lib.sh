# Shared by bench/gateway/run.sh and bench/gateway/profile.sh (source it; needs ROOT and RUN set).
# PROXY_CPUS / LOAD_CPUS: taskset CPU lists ("" = unpinned). THREADS: HAProxy nbthread / nginx
# worker_processes ("auto" = each peer's own default for the machine).
PIDS=()
BACKEND="$ROOT/tests/Halo.TestBackend/bin/Release/net10.0/Halo.TestBackend.dll"
GATEWAY="$ROOT/tests/Halo.GatewayRunner/bin/Release/net10.0/Halo.GatewayRunner.dll"   # --bare: plain YARP floor
HALO=${HALO_DLL:-"$ROOT/src/Halo.Cli/bin/Release/net10.0/halo.dll"}   # HALO_DLL: another build (before/after profiles)
HALO_BASE=${HALO_BASE_DLL:-}   # proxy "halo-base": an earlier build beside the current one, for before/after in one run

build_all() {
  echo "building Release backend, gateway runner and halo..." >&2
  dotnet build "$ROOT/tests/Halo.TestBackend" -c Release -nologo -v q >/dev/null
  dotnet build "$ROOT/tests/Halo.GatewayRunner" -c Release -nologo -v q >/dev/null
  dotnet build "$ROOT/src/Halo.Cli" -c Release -nologo -v q >/dev/null
}

cleanup_all() {
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$RUN"
}

pin() { # cpus cmd... : run pinned when cpus is set
  local cpus=$1; shift
  if [ -n "$cpus" ]; then taskset -c "$cpus" "$@"; else "$@"; fi
}

spawn() { # cpus cmd... : like pin, for `spawn ... &`: exec, so $! is the process itself (for kill, perf -p, /proc)
  local cpus=$1; shift
  if [ -n "$cpus" ]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() { # url [log to show on failure], bounded 60 s
  for _ in $(seq 600); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "timed out waiting for $1" >&2; [ -n "${2:-}" ] && tail -20 "$2" >&2; return 1
}

declare -A BPID BPORT
start_backends() {
  for i in 1 2 3; do
    BPORT[$i]=$(free_port)
    # The backends are the load side's cost, not the subject: keep them small and on the load CPUs.
    spawn "${LOAD_CPUS-}" env DOTNET_gcServer=0 dotnet "$BACKEND" --port "${BPORT[$i]}" --name "b$i" >"$RUN/b$i.log" 2>&1 &
    BPID[$i]=$!; PIDS+=("${BPID[$i]}")
  done
  for i in 1 2 3; do wait_http "http://127.0.0.1:${BPORT[$i]}/healthz"; done
  # The backends are .NET too: warm them (JIT tiering) so the first proxy measured does not pay for it.
  local warmers=()
  for i in 1 2 3; do pin "${LOAD_CPUS-}" wrk -t1 -c8 -d"${BACKEND_WARMUP:-3}s" "http://127.0.0.1:${BPORT[$i]}/" >/dev/null & warmers+=($!); done
  wait "${warmers[@]}"
}

stop_backends() {
  for i in 1 2 3; do kill -CONT "${BPID[$i]}" 2>/dev/null || true; kill -9 "${BPID[$i]}" 2>/dev/null || true; wait "${BPID[$i]}" 2>/dev/null || true; done
}

render() { # template -> out
  local nb="nbthread ${THREADS:-1}" wp="worker_processes ${THREADS:-1};"
  if [ "${THREADS:-1}" = auto ]; then nb="# nbthread: HAProxy's default, one per CPU"; wp="worker_processes auto;"; fi
  sed -e "s|@B1@|${BPORT[1]}|g" -e "s|@B2@|${BPORT[2]}|g" -e "s|@B3@|${BPORT[3]}|g" \
      -e "s|@PROXY_PORT@|$PPORT|g" -e "s|@RUN@|$RUN|g" -e "s|@NBTHREAD@|$nb|g" -e "s|@WORKERS@|$wp|g" "$1" >"$2"
}

PPID_=""
start_proxy() { # name [extra env for profiling...]
  local name=$1; shift
  PPORT=$(free_port)
  case $name in
    halo|halo-base)
      local dll=$HALO
      if [ "$name" = halo-base ]; then dll=${HALO_BASE:?set HALO_BASE_DLL to an earlier halo.dll}; fi
      render "$ROOT/bench/peers/halo.yaml.template" "$RUN/halo.yaml"
      spawn "${PROXY_CPUS-}" env "$@" dotnet "$dll" gateway --config "$RUN/halo.yaml" --listen "127.0.0.1:$PPORT" >"$RUN/$name.log" 2>&1 & ;;
    yarp) # plain YARP forwarder, none of Halo's logic: the floor Halo's gateway used to build on
      spawn "${PROXY_CPUS-}" env "$@" dotnet "$GATEWAY" --bare "http://127.0.0.1:${BPORT[1]},http://127.0.0.1:${BPORT[2]},http://127.0.0.1:${BPORT[3]}" --listen "127.0.0.1:$PPORT" >"$RUN/yarp.log" 2>&1 & ;;
    haproxy)
      render "$ROOT/bench/peers/haproxy.cfg.template" "$RUN/haproxy.cfg"
      spawn "${PROXY_CPUS-}" haproxy -db -f "$RUN/haproxy.cfg" >"$RUN/haproxy.log" 2>&1 & ;;
    nginx)
      mkdir -p "$RUN/nginx"
      render "$ROOT/bench/peers/nginx.conf.template" "$RUN/nginx.conf"
      spawn "${PROXY_CPUS-}" nginx -p "$RUN/nginx" -c "$RUN/nginx.conf" -e "$RUN/nginx-error.log" >"$RUN/nginx.log" 2>&1 & ;;
  esac
  PPID_=$!; PIDS+=("$PPID_")
  wait_http "http://127.0.0.1:$PPORT/" "$RUN/$name.log"
}

stop_proxy() { kill "$PPID_" 2>/dev/null || true; wait "$PPID_" 2>/dev/null || true; }

cpu_ticks() { # user+system clock ticks of a process, its threads and children (nginx's workers are children)
  local t=0 p f
  for p in "$1" $(pgrep -P "$1" || true); do
    read -r -a f <"/proc/$p/stat" || continue
    t=$((t + f[13] + f[14]))
  done
  echo "$t"
}
