#!/usr/bin/env bash
# Halo vs Patroni 3.0.2 (etcd 3.4) vs pg_auto_failover 2.0 on three PostgreSQL 15 servers: kill -9 per trial, time from the kill to the first
# committed write through each system's client path, committed transactions lost, rejoin time. Synchronous mode for all three.
#   Halo:    `halo server`, three `halo agent --driver postgres` (managed), `halo tcp-proxy`; policy synchronous strict,
#            lease TTL 2 s; the client commits through the proxy.
#   Patroni: one etcd, three patroni processes (ttl 10 / loop_wait 2 / retry_timeout 4 by default — the tightest sane timing;
#            PATRONI_TTL/PATRONI_LOOP_WAIT/PATRONI_RETRY_TIMEOUT override, e.g. 20/1/3 for its documented minimum),
#            synchronous_mode on, use_pg_rewind, primary_start_timeout 0; the client uses a libpq-style multi-host string
#            with target_session_attrs=read-write (Npgsql, host recheck 1 s).
#   pg_auto_failover: a monitor and three `pg_autoctl` keepers at their documented default timing, replication quorum on
#            (ANY 1 of two standbys is synchronous); the client uses the same multi-host string.
# Scenarios: node (the system's agent and the postmaster killed at once; the node restarted once the primary moved) and
# postmaster (the postmaster only).
# Usage: bench/failover-postgres/run.sh [trials] [systems] [scenarios]   (defaults: 10 "halo patroni pg_auto_failover" "node postmaster")
set -euo pipefail
cd "$(dirname "$0")/../.."
TRIALS="${1:-10}"; SYSTEMS="${2:-halo patroni pg_auto_failover}"; SCENARIOS="${3:-node postmaster}"
{ /usr/bin/python3 -c 'import etcd, psycopg2' && command -v pg_autoctl; } >/dev/null 2>&1 || { [ "$(id -u)" = 0 ] && apt-get install -y -qq patroni python3-etcd python3-psycopg2 etcd-server postgresql postgresql-15-auto-failover pg-auto-failover-cli >/dev/null; }
dotnet build src/Halo.Cli -c Release -v q -nologo >/dev/null
dotnet build bench/failover-postgres/PgFailoverBench -c Release -v q -nologo >/dev/null
HALO_DLL="$PWD/src/Halo.Cli/bin/Release/net10.0/halo.dll"
BENCH="$PWD/bench/failover-postgres/PgFailoverBench/bin/Release/net10.0/PgFailoverBench.dll"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) CPUs, PostgreSQL $(/usr/lib/postgresql/15/bin/postgres --version | awk '{print $3}'), $(patroni --version), pg_autoctl $(pg_autoctl --version | awk 'NR==1{print $3}'), Patroni ttl/loop_wait/retry_timeout ${PATRONI_TTL:-10}/${PATRONI_LOOP_WAIT:-2}/${PATRONI_RETRY_TIMEOUT:-4}, trials=$TRIALS"
for scenario in $SCENARIOS; do
  for system in $SYSTEMS; do
    WORK="$(mktemp -d /tmp/halo-pgbench.XXXXXX)"; chmod 755 "$WORK"
    dotnet "$BENCH" "$system" "$scenario" "$TRIALS" "$HALO_DLL" "$WORK" || echo "{\"system\":\"$system\",\"scenario\":\"$scenario\",\"error\":\"run failed\"}"
    rm -rf "$WORK"
  done
done
