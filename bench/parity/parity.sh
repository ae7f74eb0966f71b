#!/usr/bin/env bash
# Parity test: Flink's own TopSpeedWindowing vs the topspeed binary, per input.
#
#   bench/parity/parity.sh            full set: small set + gen-1m.txt (1M events)
#   SMALL=1 bench/parity/parity.sh    edge.txt, random-small.txt, flink-example.txt, gen-20k.txt
#
# For every input F: bench/flink/run-topspeed.sh F OUT.flink/ (local Flink
# mini-cluster), then `$TOPSPEED_BIN --input F --output OUT.topspeed.txt`, then
# bench/parity/compare OUT.flink OUT.topspeed.txt (per-car order and values).
# Inputs are generated into the work dir (bench/parity/geninputs; flink-example.txt
# is TopSpeedWindowingExampleData.CAR_DATA read from the examples jar), never
# committed. Prints wall time, CPU (user+sys) and max RSS per engine.
#
# Environment:
#   SMALL=1            the quick set (what `make parity-small` runs)
#   TOPSPEED_BIN       binary under test (default bin/topspeed of this repo). The
#                      special value flink:N runs Flink again at parallelism N
#                      instead (a self-test of this harness).
#   PARITY_INPUTS      comma-separated input names to run (e.g. edge,gen-20k)
#   PARITY_WORK        work dir (default: a new mktemp dir, removed on success
#                      unless KEEP=1; kept on failure)
#   GO                 go command (default go)
#   FLINK_PARALLELISM, FLINK_HEAP, TOPSPEED_CACHE, JAVA_HOME: see run-topspeed.sh
#
# Exit: 0 all identical, 1 some input differs or an engine failed, 2 setup error.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
run_flink="$repo/bench/flink/run-topspeed.sh"
GO="${GO:-go}"

die() { echo "parity: $*" >&2; exit 2; }

# --- binary under test -------------------------------------------------------
tbin="${TOPSPEED_BIN:-bin/topspeed}"
# topspeed runs here without its ops server or Cassandra sink.
export TOPSPEED_HTTP_ADDR=
unset CASSANDRA_HOSTS TOPSPEED_CASSANDRA_HOSTS
self_par=""
if [[ "$tbin" == flink:* ]]; then
  self_par="${tbin#flink:}"
  [[ "$self_par" =~ ^[1-9][0-9]*$ ]] || die "TOPSPEED_BIN=flink:N needs a positive N"
elif [[ "$tbin" != /* ]]; then
  if [[ -x "$tbin" ]]; then tbin="$(pwd)/$tbin"; else tbin="$repo/$tbin"; fi
fi
if [[ -z "$self_par" && ! -x "$tbin" ]]; then
  die "topspeed binary not found: $tbin (build it: $GO build -o bin/topspeed ./cmd/topspeed)"
fi

# --- work dir ----------------------------------------------------------------
if [[ -n "${PARITY_WORK:-}" ]]; then
  work="$(realpath -m -- "$PARITY_WORK")"
  mkdir -p "$work"
  keep=1
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/topspeed-parity.XXXXXX")"
  keep="${KEEP:-0}"
fi
rm -rf "$work/out" "$work/logs"
mkdir -p "$work/bin" "$work/inputs" "$work/out" "$work/logs"

# --- tools, jars, inputs -----------------------------------------------------
t0=$(date +%s.%N)
(cd "$repo" && "$GO" build -o "$work/bin/compare" ./bench/parity/compare \
  && "$GO" build -o "$work/bin/geninputs" ./bench/parity/geninputs) || die "go build of bench tools failed"
lib="$("$run_flink" --deps)" || die "resolving Flink jars failed"
examples_jar="$(ls "$lib"/flink-examples-streaming-*.jar | head -n1)"

set_name=full
if [[ "${SMALL:-0}" == 1 ]]; then
  set_name=small
  # Small inputs: Flink's time is JVM + mini-cluster start; C1 only saves ~40% CPU.
  export FLINK_JAVA_OPTS="${FLINK_JAVA_OPTS--XX:TieredStopAtLevel=1}"
fi
"$work/bin/geninputs" -dir "$work/inputs" -set "$set_name" || die "geninputs failed"
java_bin=java
[[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]] && java_bin="$JAVA_HOME/bin/java"
"$java_bin" -cp "$examples_jar" "$repo/bench/flink/ExtractCarData.java" CAR_DATA \
  >"$work/inputs/flink-example.txt" || die "extracting CAR_DATA failed"
"$java_bin" -cp "$examples_jar" "$repo/bench/flink/ExtractCarData.java" TOP_SPEEDS \
  >"$work/inputs/flink-example.expected" || die "extracting TOP_SPEEDS failed"

inputs=(edge random-small flink-example gen-20k)
[[ "$set_name" == full ]] && inputs+=(gen-1m)
if [[ -n "${PARITY_INPUTS:-}" ]]; then
  IFS=, read -r -a inputs <<<"$PARITY_INPUTS"
fi
t1=$(date +%s.%N)
printf 'parity: work dir %s, setup %.1fs, Flink jars %s, FLINK_PARALLELISM=%s FLINK_JAVA_OPTS=%s\n' \
  "$work" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$lib" "${FLINK_PARALLELISM:-nproc}" "${FLINK_JAVA_OPTS:-}"

# --- timing helper -----------------------------------------------------------
# timed LOG TIMEFILE CMD...: run CMD with stdout+stderr into LOG; write
# "wall user sys maxrss_kb" into TIMEFILE.
if [[ -x /usr/bin/time ]]; then
  timed() {
    local log="$1" tf="$2"; shift 2
    /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >"$log" 2>&1
  }
else
  timed() { # fallback: wall time only
    local log="$1" tf="$2" s e rc=0; shift 2
    s=$(date +%s.%N)
    "$@" >"$log" 2>&1 || rc=$?
    e=$(date +%s.%N)
    awk -v a="$s" -v b="$e" 'BEGIN{print b-a, 0, 0, 0}' >"$tf"
    return $rc
  }
fi
fmt_time() { # wall user sys rss -> "w=1.2s cpu=3.4s rss=123MB"
  read -r w u s m <"$1" || true
  awk -v w="$w" -v u="$u" -v s="$s" -v m="$m" \
    'BEGIN{printf "wall=%6.2fs cpu=%6.2fs rss=%5dMB", w, u+s, m/1024}'
}

# --- run ---------------------------------------------------------------------
failed=0
summary=()
for name in "${inputs[@]}"; do
  in="$work/inputs/$name.txt"
  [[ -f "$in" ]] || die "no input $in"
  events=$(wc -l <"$in")
  fout="$work/out/$name.flink"
  tout="$work/out/$name.topspeed.txt"
  rm -rf "$fout" "$tout"

  if ! timed "$work/logs/$name.flink.log" "$work/logs/$name.flink.time" "$run_flink" "$in" "$fout"; then
    echo "parity: $name: Flink failed, log $work/logs/$name.flink.log:" >&2
    tail -n 30 "$work/logs/$name.flink.log" >&2
    failed=1; summary+=("$(printf '%-14s %8d  FLINK FAILED' "$name" "$events")"); continue
  fi
  if [[ -n "$self_par" ]]; then
    tout="$work/out/$name.flink-p$self_par"
    rm -rf "$tout"
    trun=(env "FLINK_PARALLELISM=$self_par" "$run_flink" "$in" "$tout")
  else
    trun=("$tbin" --input "$in" --output "$tout")
  fi
  if ! timed "$work/logs/$name.topspeed.log" "$work/logs/$name.topspeed.time" "${trun[@]}"; then
    echo "parity: $name: topspeed failed, log $work/logs/$name.topspeed.log:" >&2
    tail -n 30 "$work/logs/$name.topspeed.log" >&2
    failed=1; summary+=("$(printf '%-14s %8d  TOPSPEED FAILED' "$name" "$events")"); continue
  fi
  if "$work/bin/compare" "$fout" "$tout" >"$work/logs/$name.compare" 2>&1; then
    verdict=identical
  else
    verdict=DIFFERENT
    failed=1
  fi
  sed "s/^/  /" "$work/logs/$name.compare"
  line="$(printf '%-14s %8d  flink %s | topspeed %s | %s' "$name" "$events" \
    "$(fmt_time "$work/logs/$name.flink.time")" "$(fmt_time "$work/logs/$name.topspeed.time")" "$verdict")"
  echo "$line"
  summary+=("$line")

  # Sanity check of the reference itself: Flink's result on its own example
  # data must equal the TOP_SPEEDS its test suite expected.
  if [[ "$name" == flink-example ]]; then
    if ! "$work/bin/compare" "$fout" "$work/inputs/flink-example.expected" >"$work/logs/flink-example.expected.compare" 2>&1; then
      echo "parity: Flink's output differs from TopSpeedWindowingExampleData.TOP_SPEEDS:" >&2
      cat "$work/logs/flink-example.expected.compare" >&2
      failed=1
    fi
  fi
done

echo "parity: summary (${set_name} set; wall, user+sys CPU, max RSS; Flink includes JVM + mini-cluster start)"
printf '  %s\n' "${summary[@]}"
if [[ $failed != 0 ]]; then
  echo "parity: FAILED (outputs and logs kept in $work)"
  exit 1
fi
echo "parity: OK"
if [[ "$keep" != 1 ]]; then
  rm -rf "$work"
fi
