#!/usr/bin/env bash
# Long crash and failover soak runs against the local Cassandra (make soak):
#   SOAK_KILLS=200  kill -9 points for the checkpoint crash test (CI runs 20)
#   SOAK_ROUNDS=5   repetitions of the 3-replica HA failover test
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/cassandra/cassandra.sh up)"
export TOPSPEED_REQUIRE_SERVERS=1
TOPSPEED_CRASH_KILLS="${SOAK_KILLS:-200}" go test -count=1 -v -timeout 3h -run 'TestCrashRecoveryIsExact' ./cmd/topspeed
go test -count="${SOAK_ROUNDS:-5}" -v -timeout 3h -run 'TestHAFailover' ./cmd/topspeed
