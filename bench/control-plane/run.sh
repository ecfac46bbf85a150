#!/usr/bin/env bash
# The several-servers control plane under load: three `halo server`s over a three-member etcd cluster (all started
# here on free 127.0.0.1 ports, killed by pid at the end), N instances heartbeating at 1 Hz.
#
#   bench/control-plane/run.sh                          # INSTANCES=20000 KILLS=10 STEADY_SECONDS=30
#   INSTANCES=2000 KILLS=3 bench/control-plane/run.sh   # a quick look
#
# Prints, with the machine and the date:
#   heartbeat   achieved/target heartbeat rate and latency from due time (bench/Halo.Bench heartbeat, BENCH_CLIENTS
#               processes of N/BENCH_CLIENTS instances each, one service each, all sent to server 0, which forwards to owners;
#               a client moves to the next server when server 0 does not answer, as Halo's clients do)
#   etcd-writes raft proposals committed per second during STEADY_SECONDS of steady heartbeating (etcd's own
#               etcd_server_proposals_committed_total; lease keep-alives are not proposals) and mvcc puts+deletes per second
#   kill        KILLS times: kill -9 of server 1 or 2 (alternately; both own services), then a client that tries the killed
#               server first and moves on at once; ms from the kill to the next 201 registration; median and max.
#               The server is restarted and rejoins before the next kill.
#   group       GROUP_KILLS times (default 10): a Redis group cp-bench (three redis-servers run by three `halo agent`s);
#               kill -9 of the server that decides it (GET /v1/cluster lists each member's groups), then a switchover to
#               a replica (a decision only the group's decider makes) tried on the two other servers in turn; ms from the
#               kill to the first answer from a decider (not 503) and to the switchover done (200); median and max, and
#               whether the epoch rose by exactly the switchover. The server is restarted, rejoins and the group settles
#               before the next kill.
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
agent_pids=()
servers=()
server_pids=()

cleanup() {
  # An agent runs its redis-server as a child: stop the agent (so it starts no other), then its children, then the agent.
  for pid in "${agent_pids[@]}"; do
    kill -STOP "$pid" 2>/dev/null || continue
    for child in $(pgrep -P "$pid" || true); do kill -9 "$child" 2>/dev/null || true; done
    kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}" "${server_pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [ -z "${BENCH_DIR:-}" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT # so a timeout or ^C still stops everything started here

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

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/Mem:/ {print $2" GB"}')   $(date -u +%FT%TZ)   load $(cut -d' ' -f1-3 /proc/loadavg)"
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
beat_seconds=$((STEADY_SECONDS + KILLS * 20 + GROUP_KILLS * 45 + 300)) # + settling (up to 180 s), one prune tick, the group's start
per_client=$((INSTANCES / BENCH_CLIENTS))
for c in $(seq 1 "$BENCH_CLIENTS"); do
  dotnet "$BENCH_DLL" heartbeat --server "http://${servers[0]},http://${servers[1]},http://${servers[2]}" --instances "$per_client" --rate-hz 1 \
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

# Kill -9 of the server that decides a Redis failover group, then the next group decision: a switchover, which only the
# group's decider carries out (any other server forwards it there, or answers 503 "Decider unavailable" while the decider
# is away). The group is real: three redis-servers, each run by its own `halo agent` (managed mode), every agent taking all
# three servers (each its own first). Timed from the kill: the first answer from a decider (any status but 503: 409 while
# the new decider has not yet heard from the candidate) and the switchover done (200: the candidate promoted in a new epoch
# by the new decider's compare-and-set). The epoch must rise by exactly one per kill: a control-plane failover must not
# cause a database failover by itself (docs/ha.md, "One decider per group").
if [ "$GROUP_KILLS" -gt 0 ]; then
  auth=(-H "Authorization: Bearer $token")
  curl -fsS -o /dev/null -X PUT "${auth[@]}" -H 'Content-Type: application/json' -d '{}' "http://${servers[0]}/v1/groups/cp-bench"
  redis_ports=()
  for i in 0 1 2; do
    redis_ports+=("$(free_port)")
    mkdir -p "$WORK/redis-r$i"
    agent_servers="http://${servers[$i]},http://${servers[$(( (i + 1) % 3 ))]},http://${servers[$(( (i + 2) % 3 ))]}"
    dotnet "$HALO_DLL" agent --server "$agent_servers" --group cp-bench --member "r$i" --redis-server "$(command -v redis-server)" \
      --redis-port "${redis_ports[$i]}" --redis-dir "$WORK/redis-r$i" --token-file "$WORK/token" >>"$WORK/agent-r$i.log" 2>&1 &
    agent_pids+=($!)
  done
  group_status() { # the group's status from the first of the given servers that answers 200, as JSON
    for s in "$@"; do curl -fsS --max-time 5 "${auth[@]}" "http://${servers[$s]}/v1/groups/cp-bench" 2>/dev/null && return 0; done
    return 1
  }
  # Settled: a confirmed primary, all three members fresh, healthy and up, both replicas following it with the link up.
  group_settled() {
    group_status "$@" | python3 -c '
import json, sys
s = json.load(sys.stdin)
ok = s["primaryConfirmed"] and not s.get("pending") and len(s["members"]) == 3 and all(
    m["fresh"] and m["healthy"] and m["dbUp"] and (m["name"] == s["primary"] or (m.get("following") == s["primaryAddress"] and m.get("detail") == "link up"))
    for m in s["members"])
sys.exit(0 if ok else 1)'
  }
  field() { python3 -c 'import json, sys; s = json.load(sys.stdin); print(eval(sys.argv[1], {"s": s}))' "$1"; }
  decider() { # the index of the server that decides cp-bench, as server $1 sees it
    curl -fsS "${auth[@]}" "http://${servers[$1]}/v1/cluster" | python3 -c '
import json, sys
urls = [m["url"].rstrip("/") for m in json.load(sys.stdin)["members"] if "cp-bench" in m.get("groups", [])]
servers = sys.argv[1:]
print(servers.index(urls[0].split("//")[1]) if len(urls) == 1 and urls[0].split("//")[1] in servers else "")' "${servers[@]}"
  }
  wait_until 120 "group cp-bench settled (three agents, a confirmed primary, replicas linked)" group_settled 0 1 2
  first_epoch=$(group_status 0 1 2 | field 's["epoch"]')
  echo "group: cp-bench settled: primary $(group_status 0 1 2 | field 's["primary"]') in epoch $first_epoch"
  answered=(); decided=(); unplanned=0; switched=0
  for k in $(seq 1 "$GROUP_KILLS"); do
    victim=""
    for _ in $(seq 1 50); do victim=$(decider 0 2>/dev/null || true); [ -n "$victim" ] && break; sleep 0.2; done
    [ -n "$victim" ] || { echo "group: no decider listed for cp-bench" >&2; break; }
    live=($(( (victim + 1) % 3 )) $(( (victim + 2) % 3 )))
    before=$(group_status "${live[@]}")
    epoch=$(field 's["epoch"]' <<<"$before")
    # The candidate: a replica (the first in name order), so every decision moves the primary.
    to=$(field '[m["name"] for m in s["members"] if m["name"] != s["primary"]][0]' <<<"$before")
    killed=$(now_ms)
    kill -9 "${server_pids[$victim]}"
    wait "${server_pids[$victim]}" 2>/dev/null || true
    first=""; ok=""; last=""
    while [ -z "$ok" ] && [ $(( $(now_ms) - killed )) -lt 30000 ]; do
      for s in "${live[@]}"; do
        code=$(curl -s -o "$WORK/switchover.out" -w '%{http_code}' --max-time 20 -X POST "${auth[@]}" -H 'Content-Type: application/json' \
          -d "{\"to\":\"$to\"}" "http://${servers[$s]}/v1/groups/cp-bench/switchover" || true)
        last="$code $(head -c 200 "$WORK/switchover.out" 2>/dev/null | tr '\n' ' ')"
        if [ -z "$first" ] && [ "$code" != 503 ] && [ "$code" != 000 ]; then first=$(( $(now_ms) - killed )); fi
        if [ "$code" = 200 ]; then ok=$(( $(now_ms) - killed )); break; fi
      done
      [ -n "$ok" ] || sleep 0.05
    done
    after=$(group_status "${live[@]}" || echo '{}')
    now_epoch=$(field 's.get("epoch", -1)' <<<"$after")
    cause=$(field '(s.get("lastFailover") or {}).get("cause")' <<<"$after")
    [ "$now_epoch" = $((epoch + 1)) ] && [ "$cause" = switchover ] || unplanned=$((unplanned + 1))
    answered+=("${first:-30000}"); decided+=("${ok:-30000}"); [ -z "$ok" ] || switched=$((switched + 1))
    echo "group kill $k: decider server $victim killed; first answer from a decider after ${first:-none within 30000} ms, switchover to $to done after ${ok:-none within 30000} ms; epoch $epoch -> $now_epoch ($cause)"
    [ -n "$ok" ] || echo "  last answer: $last"
    start_server "$victim"
    wait_members
    wait_until 60 "group cp-bench settled after server $victim rejoined" group_settled 0 1 2 || true
  done
  if [ "${#decided[@]}" -gt 0 ]; then
    echo "group: kill -9 of the decider to the first answer from a decider: median $(median "${answered[@]}") ms, max $(printf '%s\n' "${answered[@]}" | sort -n | tail -1) ms"
    echo "group: kill -9 of the decider to the next group decision (switchover done): median $(median "${decided[@]}") ms, max $(printf '%s\n' "${decided[@]}" | sort -n | tail -1) ms over ${#decided[@]} kills; epoch not exactly +1 by the switchover: $unplanned"
  fi
  # Every leadership change that is not one of the bench's switchovers is a database failover the control plane caused
  # (kills, rejoins, membership churn): the claim is none.
  last_epoch=$(group_status 0 1 2 | field 's["epoch"]' || echo "$first_epoch")
  echo "group: leadership changes not made by the bench's switchovers: $(( last_epoch - first_epoch - switched )) (epoch $first_epoch -> $last_epoch over $switched switchovers; causes in the servers' logs, event 3001)"
  grep -h 'GroupRegistry\[3001\]' "$WORK"/server-*.log | grep -v -e '(switchover)' -e '(bootstrap)' | sed -E 's/^([0-9:.]+).*Group cp-bench: (.*\)), previously.*/  \1 \2/' | sort | head -20 || true
fi

# A server that cannot renew its membership lease fences itself (owns nothing) and rejoins: each one moves services and
# groups between the servers, as a kill does. Counted from the servers' logs (event 3002), whatever the cause.
fences=$(cat "$WORK"/server-*.log | grep -c 'ServerMembership\[3002\]' || true)
echo "membership: servers fenced themselves $fences times ($(cat "$WORK"/server-*.log | grep 'ServerMembership\[3002\]' | grep -c 'DeadlineExceeded' || true) after etcd deadlines on the lease renewal); renewals late by a whole TTL without a fence (event 3032): $(cat "$WORK"/server-*.log | grep -c 'ServerMembership\[3032\]' || true); evictions on evidence (event 3030): $(cat "$WORK"/server-*.log | grep -c 'PeerEviction\[3030\]' || true)"

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

# Done: the heartbeat clients end their schedule on SIGTERM and print what they achieved over the time they ran.
for pid in "${bench_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${bench_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
echo "done: $(date -u +%FT%TZ)   load $(cut -d' ' -f1-3 /proc/loadavg)"
for c in $(seq 1 "$BENCH_CLIENTS"); do echo "heartbeat client $c: $(grep -E 'rate=|failed' "$WORK/heartbeat-$c.out" | tr '\n' ' ')"; done
