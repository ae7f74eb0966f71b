#!/usr/bin/env bash
# make demo: the seed's verification, against the local Cassandra. Runs the
# job with the generator at a high rate for DEMO_SECONDS, stops it with
# SIGINT (graceful: everything read is written), then shows the row count and
# each car's latest top speed through a real cqlsh.
#   DEMO_SECONDS=30 DEMO_CARS=100 DEMO_RATE=20000 make demo
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
secs="${DEMO_SECONDS:-30}" cars="${DEMO_CARS:-100}" rate="${DEMO_RATE:-20000}"
log() { printf 'demo: %s\n' "$*" >&2; }

eval "$(bash "$here/cassandra/cassandra.sh" up)"
(cd "$root" && ${GO:-go} build -o bin/topspeed ./cmd/topspeed)
log "running topspeed: $cars cars at $rate events/s for ${secs}s into example.topspeeds"
"$root/bin/topspeed" --cars "$cars" --rate "$rate" \
    --cassandra-hosts "$CASSANDRA_HOSTS" --cassandra-consistency ONE \
    --cassandra-create-schema --cassandra-replication 1 \
    --output /dev/null --log-level warn &
pid=$!
# Interrupted (Ctrl-C reaches the script, not the background job): stop
# the job too, gracefully.
trap 'kill -INT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; exit 130' INT TERM
sleep "$secs"
kill -INT "$pid"
wait "$pid"
trap - INT TERM
log "job stopped cleanly; checking with cqlsh"
bash "$here/cqlsh.sh" -e "SELECT count(*) FROM example.topspeeds;"
bash "$here/cqlsh.sh" -e "SELECT carid, speed, distance, time FROM example.topspeeds PER PARTITION LIMIT 1 LIMIT 30;"
