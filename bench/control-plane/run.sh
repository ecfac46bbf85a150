#!/usr/bin/env bash
# The several-servers control plane under load: three `halo server`s over a three-member etcd cluster (all started
# here on free 127.0.0.1 ports, killed by pid at the end), N instances heartbeating at 1 Hz.
#
#   bench/control-plane/run.sh                          # INSTANCES=20000 KILLS=10 STEADY_SECONDS=30
#   INSTANCES=2000 KILLS=3 bench/control-plane/run.sh   # a quick look
#
# Prints, with the machine and the date:
#   heartbeat   achieved/target heartbeat rate and latency from due time (bench/Halo.Bench heartbeat, BENCH_CLIENTS
#               processes of N/BENCH_CLIENTS instances each, one service each, all sent to server 0, which forwards to owners)
#   etcd-writes raft proposals committed per second during STEADY_SECONDS of steady heartbeating (etcd's own
#               etcd_server_proposals_committed_total; lease keep-alives are not proposals) and mvcc puts+deletes per second
#   kill        KILLS times: kill -9 of server 1 or 2 (alternately; both own services), then a client that tries the killed
#               server first and moves on at once; ms from the kill to the next 201 registration; median and max.
#               The server is restarted and rejoins before the next kill.
#   group       GROUP_KILLS times (default 10): kill -9 of the server that decides group cp-bench (GET /v1/cluster lists
#               each member's groups), then pause/resume of the group (a change only its decider makes) tried on the
#               other servers in turn; ms from the kill to the first one accepted (200); median and max. The server is
#               restarted and rejoins before the next kill.
#   critical    health events to "critical" from the steady window on, counted while the fleet still heartbeats
#               (the claim: none because a server died)
set -euo pipefail
cd "$(dirname "$0")/../.."

INSTANCES=${INSTANCES:-20000}
KILLS=${KILLS:-10}
GROUP_KILLS=${GROUP_KILLS:-10}
STEADY_SECONDS=${STEADY_SECONDS:-30}
BENCH_CLIENTS=${BENCH_CLIENTS:-4}
WORK=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/halo-cp-bench.XXXXXX")}
HALO_DLL=src/Halo.Cli/bin/Release/net10.0/halo.dll
BENCH_DLL=bench/Halo.Bench/bin/Release/net10.0/Halo.Bench.dll
mkdir -p "$WORK"
pids=()
servers=()
server_pids=()

cleanup() {
  for pid in "${pids[@]}" "${server_pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [ -z "${BENCH_DIR:-}" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
now_ms() { date +%s%3N; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
wait_until() { # seconds, what, command...
  local limit=$1 what=$2; shift 2
  for _ in $(seq 1 $((limit * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "$what did not happen within $limit s" >&2; return 1
}
metric() { # url, metric name: the sum of its samples
  curl -fsS "$1" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%.0f\n", s }'
}

command -v etcd >/dev/null || { echo "etcd not found (Debian: apt-get install etcd-server)" >&2; exit 1; }
dotnet build src/Halo.Cli -c Release -nologo -v quiet >/dev/null
dotnet build bench/Halo.Bench -c Release -nologo -v quiet >/dev/null

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/Mem:/ {print $2" GB"}')   $(date -u +%FT%TZ)"
echo "instances: $INSTANCES at 1 Hz in $BENCH_CLIENTS services   kills: $KILLS   steady window: $STEADY_SECONDS s   work dir: $WORK"

# etcd: three members, all at once (a new cluster needs a quorum to elect a leader).
etcd_clients=(); initial=""
for i in 0 1 2; do
  c=$(free_port); p=$(free_port); etcd_clients+=("http://127.0.0.1:$c")
  initial+="${initial:+,}m$i=http://127.0.0.1:$p"; peers[$i]="http://127.0.0.1:$p"
done
for i in 0 1 2; do
  etcd --name "m$i" --data-dir "$WORK/etcd-m$i" --listen-client-urls "${etcd_clients[$i]}" --advertise-client-urls "${etcd_clients[$i]}" \
    --listen-peer-urls "${peers[$i]}" --initial-advertise-peer-urls "${peers[$i]}" --initial-cluster "$initial" \
    --initial-cluster-state new --initial-cluster-token halo-cp-bench >"$WORK/etcd-m$i.log" 2>&1 &
  pids+=($!)
done
for i in 0 1 2; do wait_until 60 "etcd m$i healthy" sh -c "curl -fsS ${etcd_clients[$i]}/health | grep -q '\"true\"'"; done
endpoints=$(IFS=,; echo "${etcd_clients[*]}")

# Three servers sharing one bootstrap admin token (they forward heartbeats to each other with it).
echo "halo_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$WORK/token"
chmod 600 "$WORK/token"
export HALO_TOKEN_FILE="$WORK/token"
for i in 0 1 2; do servers+=("127.0.0.1:$(free_port)"); done
start_server() {
  dotnet "$HALO_DLL" server --etcd "$endpoints" --listen "${servers[$1]}" --data "$WORK/s$1" --bootstrap-token-file "$WORK/token" \
    >>"$WORK/server-$1.log" 2>&1 &
  server_pids[$1]=$!
  wait_until 60 "server $1 listening" curl -fsS "http://${servers[$1]}/healthz"
}
members() { curl -fsS -H "Authorization: Bearer $(cat "$WORK/token")" "http://${servers[$1]}/v1/cluster" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["members"]))'; }
for i in 0 1 2; do start_server "$i"; done
wait_members() { for _ in $(seq 1 150); do [ "$(members 0 2>/dev/null)" = 3 ] && return 0; sleep 0.2; done; echo "three members not seen within 30 s" >&2; }
wait_members

# The heartbeating fleet (each client registers its instances first, then heartbeats for beat_seconds): long enough
# for the steady window, every kill and the critical count, so no instance stops heartbeating before it.
beat_seconds=$((STEADY_SECONDS + (KILLS + GROUP_KILLS) * 20 + 240)) # + settling (up to 180 s) and one prune tick
per_client=$((INSTANCES / BENCH_CLIENTS))
for c in $(seq 1 "$BENCH_CLIENTS"); do
  timeout $((beat_seconds + 600)) dotnet "$BENCH_DLL" heartbeat --server "http://${servers[0]}" --instances "$per_client" --rate-hz 1 \
    --seconds "$beat_seconds" --concurrency 16 >"$WORK/heartbeat-$c.out" 2>&1 &
  pids+=($!); bench_pids+=($!)
done

# Each server's gauge counts the instances of the services it owns: the sum over the servers is the fleet.
owned_instances() {
  for i in 0 1 2; do curl -fsS -H "Authorization: Bearer $(cat "$WORK/token")" "http://${servers[$i]}/metrics" || true; done \
    | awk '$1 ~ /^halo_registry_instances/ { s += $2 } END { printf "%.0f\n", s }'
}
registered_at=$(now_ms)
for _ in $(seq 1 $((INSTANCES / 20 + 120))); do
  [ "$(owned_instances)" -ge "$INSTANCES" ] && break
  sleep 1
done
echo "registered: $(owned_instances) instances in $(( ($(now_ms) - registered_at) / 1000 )) s"
# Halo.Bench registers all of a client's instances before it heartbeats any, so at 20,000 the first ones wait a minute
# and go suspect (or critical); their way back to passing is one store write each. Steady state starts once every
# instance is passing again and those writes have drained: measuring earlier counted that backlog as steady-state
# writes (550 proposals/s in the 17:15 run, almost all suspect -> passing).
passing_instances() {
  for i in 0 1 2; do curl -fsS -H "Authorization: Bearer $(cat "$WORK/token")" "http://${servers[$i]}/metrics" || true; done \
    | awk '$1 ~ /^halo_registry_instances/ && $1 ~ /health="passing"/ { s += $2 } END { printf "%.0f\n", s }'
}
settled_at=$(now_ms)
for _ in $(seq 1 180); do
  [ "$(passing_instances)" -ge "$INSTANCES" ] && [ "$(passing_instances)" -ge "$INSTANCES" ] && break
  sleep 1
done
echo "settled: $(passing_instances) of $INSTANCES instances passing $(( ($(now_ms) - settled_at) / 1000 )) s after registration"
# Those transitions are also health events beyond the retention, which every server's EventPruner deletes on its next
# 30 s tick (100 keys a transaction): wait one tick so the window sees heartbeating, not the startup's clean-up.
sleep 35
# Halo.Bench registers a client's instances before it starts heartbeating, so the first registered ones can go critical
# before their first heartbeat (lastHeartbeat null); the count below starts here, with the fleet heartbeating.
from_revision=$(curl -fsS -X POST -d '{}' "${etcd_clients[0]}/v3/maintenance/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')

# etcd writes during steady heartbeating, from etcd's own counters (any member: committed proposals are the cluster's).
p0=$(metric "${etcd_clients[0]}/metrics" etcd_server_proposals_committed_total)
m0=$(( $(metric "${etcd_clients[0]}/metrics" etcd_mvcc_put_total) + $(metric "${etcd_clients[0]}/metrics" etcd_mvcc_delete_total) ))
sleep "$STEADY_SECONDS"
p1=$(metric "${etcd_clients[0]}/metrics" etcd_server_proposals_committed_total)
m1=$(( $(metric "${etcd_clients[0]}/metrics" etcd_mvcc_put_total) + $(metric "${etcd_clients[0]}/metrics" etcd_mvcc_delete_total) ))
echo "etcd-writes: proposals $(awk -v a="$p0" -v b="$p1" -v s="$STEADY_SECONDS" 'BEGIN { printf "%.2f", (b - a) / s }')/s, mvcc puts+deletes $(awk -v a="$m0" -v b="$m1" -v s="$STEADY_SECONDS" 'BEGIN { printf "%.2f", (b - a) / s }')/s over ${STEADY_SECONDS} s with $INSTANCES instances heartbeating at 1 Hz"

# Kill -9 of a server, then a client that tries it first: ms until the next successful registration.
token=$(cat "$WORK/token")
times=()
kill_start=$(now_ms)
for k in $(seq 1 "$KILLS"); do
  victim=$((1 + (k - 1) % 2))
  order=("$victim" $(( (victim + 1) % 3 )) $(( (victim + 2) % 3 )))
  killed=$(now_ms)
  kill -9 "${server_pids[$victim]}"
  wait "${server_pids[$victim]}" 2>/dev/null || true
  ok=""
  while [ -z "$ok" ] && [ $(( $(now_ms) - killed )) -lt 30000 ]; do
    for s in "${order[@]}"; do
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X PUT -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d '{"address":"127.0.0.1","port":9000,"ttl":"1h"}' "http://${servers[$s]}/v1/services/cp-bench/instances/k$k" || true)
      if [ "$code" = 201 ] || [ "$code" = 200 ]; then ok=$(( $(now_ms) - killed )); break; fi
    done
  done
  times+=("${ok:-30000}")
  echo "kill $k: server $victim, registration after ${ok:-none within 30000} ms"
  start_server "$victim"
  wait_members
  sleep 2
done
[ "$KILLS" -gt 0 ] && echo "kill: kill -9 to next registration: median $(median "${times[@]}") ms, max $(printf '%s\n' "${times[@]}" | sort -n | tail -1) ms over $KILLS kills"

# Kill -9 of the server that decides a failover group, then the next change of that group a server accepts. The group
# has no members: what is timed is how long the control plane cannot decide the group (the dead decider stays a member
# until its lease expires; docs/ha.md, "One decider per group"), not a database failover.
if [ "$GROUP_KILLS" -gt 0 ]; then
  curl -fsS -o /dev/null -X PUT -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d '{}' "http://${servers[0]}/v1/groups/cp-bench"
  decider() { # the index of the server that decides cp-bench, as server $1 sees it
    curl -fsS -H "Authorization: Bearer $token" "http://${servers[$1]}/v1/cluster" | python3 -c '
import json, sys
urls = [m["url"].rstrip("/") for m in json.load(sys.stdin)["members"] if "cp-bench" in m.get("groups", [])]
servers = sys.argv[1:]
print(servers.index(urls[0].split("//")[1]) if len(urls) == 1 and urls[0].split("//")[1] in servers else "")' "${servers[@]}"
  }
  gtimes=()
  for k in $(seq 1 "$GROUP_KILLS"); do
    victim=""
    for _ in $(seq 1 50); do victim=$(decider 0 2>/dev/null || true); [ -n "$victim" ] && break; sleep 0.2; done
    [ -n "$victim" ] || { echo "group: no decider listed for cp-bench" >&2; break; }
    action=$([ $((k % 2)) = 1 ] && echo pause || echo resume)
    killed=$(now_ms)
    kill -9 "${server_pids[$victim]}"
    wait "${server_pids[$victim]}" 2>/dev/null || true
    ok=""
    while [ -z "$ok" ] && [ $(( $(now_ms) - killed )) -lt 30000 ]; do
      for s in $(( (victim + 1) % 3 )) $(( (victim + 2) % 3 )); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST -H "Authorization: Bearer $token" "http://${servers[$s]}/v1/groups/cp-bench/$action" || true)
        if [ "$code" = 200 ]; then ok=$(( $(now_ms) - killed )); break; fi
      done
      [ -n "$ok" ] || sleep 0.05
    done
    gtimes+=("${ok:-30000}")
    echo "group kill $k: decider server $victim, $action accepted after ${ok:-none within 30000} ms"
    start_server "$victim"
    wait_members
    sleep 2
  done
  if [ "${#gtimes[@]}" -gt 0 ]; then echo "group: kill -9 of the decider to the next accepted group change: median $(median "${gtimes[@]}") ms, max $(printf '%s\n' "${gtimes[@]}" | sort -n | tail -1) ms over ${#gtimes[@]} kills"; fi
fi

# Counted while the fleet still heartbeats, past the membership TTL and the detection bound of the last kill.
sleep 10
for pid in "${bench_pids[@]}"; do kill -0 "$pid" 2>/dev/null || echo "warning: a heartbeat client ended before the critical count; raise beat_seconds" >&2; done
critical=$(curl -fsS -H "Authorization: Bearer $token" "http://${servers[0]}/v1/events?type=health&limit=10000" \
  | python3 -c '
import json, sys, collections
crit = [e for e in json.load(sys.stdin)["events"] if e.get("to") == "critical" and e["revision"] > int(sys.argv[1])]
causes = collections.Counter((e.get("service"), e.get("cause")) for e in crit)
print(len(crit), "".join(f"\n  {n} x {svc}: {cause}" for (svc, cause), n in causes.most_common(5)), "\n  first:", crit[0] if crit else "-")' "$from_revision")
echo "critical: $critical"
echo "  (health events to critical after revision $from_revision, while the fleet heartbeated, of the newest 10000 health events; kills at $(date -u -d @$((kill_start / 1000)) +%T) and after)"

for pid in "${bench_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
for c in $(seq 1 "$BENCH_CLIENTS"); do echo "heartbeat client $c: $(grep -E 'rate=|failed' "$WORK/heartbeat-$c.out" | tr '\n' ' ')"; done
