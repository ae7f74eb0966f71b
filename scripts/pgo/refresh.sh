#!/usr/bin/env bash
# scripts/pgo/refresh.sh: refresh cmd/topspeed/default.pgo, the CPU profile
# that go build optimises the topspeed command with (profile-guided
# optimisation: go build -pgo=auto uses a default.pgo in a main package's
# directory), from BenchmarkJob on 10M generated reports of 1,000 cars,
# shaped like bench S1's input (Flink's CarSource) but not the same file. See docs/ARCHITECTURE.md, "Profile-guided build".
#
# Run it after a change to the hot path (engine, window, source, the
# codecs), then check the gain with bench/run -only S1. About a minute;
# needs only go. The input lives in a temporary directory, removed at the end.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
GO="${GO:-go}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "pgo: generating 10M car reports" >&2
# Every car reports every 100 ms of event time, as in Flink's CarSource
# (--event-interval is per report: 1,000 cars x 100 us), so that each
# car's 10 s window holds its last 100 reports, as in production. With
# the default interval (100 ms per report) a car reported every 100 s,
# its window held one report, and the profile missed the window's loops.
# Seed 2: not the seed of bench S1's input.
"$GO" run ./cmd/topspeed gen --events 10000000 --cars 1000 --rate 0 --event-clock synthetic --event-interval 100us --seed 2 --output "$tmp/cars.txt" 2>/dev/null
echo "pgo: profiling cmd/topspeed" >&2
TOPSPEED_BENCH_FILE="$tmp/cars.txt" "$GO" test -run '^$' -bench '^BenchmarkJob$' -benchtime 20x -cpuprofile "$tmp/topspeed.pprof" -o "$tmp/topspeed.test" ./cmd/topspeed >&2
cp "$tmp/topspeed.pprof" cmd/topspeed/default.pgo

echo "pgo: wrote cmd/topspeed/default.pgo" >&2
