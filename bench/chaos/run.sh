#!/usr/bin/env bash
# Fault injection against real processes on 127.0.0.1 (docs/BENCHMARKS.md, "Chaos"): halo server, three agents with their
# redis-servers, halo tcp-proxy, a write load through the proxy, one seeded fault per trial, a history checker at the end.
# Usage: bench/chaos/run.sh [--trials 200] [--seed S] [--kinds kill-primary,pause-primary,...] [--work DIR]
# Ends with: trials N lost L split-brains S unexpected U   (exit 1 on any defect). Needs redis-server and stress-ng.
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet build src/Halo.Cli -c Release -v q -nologo >/dev/null
dotnet build bench/chaos/Halo.Chaos -c Release -v q -nologo >/dev/null
exec dotnet bench/chaos/Halo.Chaos/bin/Release/net10.0/Halo.Chaos.dll --halo "$PWD/src/Halo.Cli/bin/Release/net10.0/halo.dll" "$@"
