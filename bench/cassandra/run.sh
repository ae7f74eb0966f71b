#!/usr/bin/env bash
# S4: the Cassandra sink benchmark (bench/README.md, section S4).
#
#   bench/cassandra/run.sh          (or: make bench-sink)
#
# One run, one local server (make cassandra-up: single node, Cassandra 5.0.9),
# consistency ONE, the same result rows for every writer:
#   (a) sink        topspeed's sink/cassandra with its defaults (bin/sinkbench -mode sink)
#   (b) naive       synchronous one-INSERT-at-a-time gocql, on the first
#                   S4_NAIVE_ROWS rows only (rows/s is over those rows)
#   (c) raw         gocql, the whole input pre-grouped into full per-partition
#                   unlogged batches, as many goroutines as the sink has
#                   requests in flight: the practical limit
#   (d) flink       Flink 1.20.3 TopSpeedWindowing pipeline on the car
#                   reports, writing with the Flink Cassandra connector's
#                   CassandraSink (connector defaults: may fail, see README)
#   (d*) flink-bounded  the same with maxConcurrentRequests=S4_FLINK_MAX_CONCURRENT
#   (d') flink-sink the same CassandraSink fed the result rows straight from
#                   a FileSource (the sink alone); needs maxConcurrentRequests
#                   (S4_FLINK_MAX_CONCURRENT), see bench/README.md
# The input is a generated car-report file (geninputs -kind gen); its
# topspeed results are what (a), (b), (c), (d') write, and what (d) computes.
# Every writer gets its own table, truncated before and read back after each
# run (sinkbench -mode verify): a run whose table does not hold exactly the
# distinct (carid, time) rows of the results, with their values, fails.
# S4_ROUNDS rounds, writer order rotated each round; the table reports the
# median. Peak RSS is /usr/bin/time -v's maximum resident set size.
#
# Environment:
#   S4_ROUNDS=3  S4_EVENTS=1000000  S4_CARS=1000  S4_NAIVE_ROWS=20000
#   S4_FLINK_MAX_CONCURRENT=64   (d*), (d') maxConcurrentRequests per subtask
#   S4_SINK_TUNED="FLAGS"        also run the sink with these sinkbench flags, e.g.
#                                "-max-buffered 50000 -linger 200ms" (row (a*); default: not run)
#   S4_WORK=DIR                  keep inputs, logs and results here (default: a temp dir, removed)
#   S4_README=FILE|0             update FILE's S4 block (default bench/README.md); 0: print only
#   FLINK_HEAP=1g, GO=go, TOPSPEED_CACHE (jar cache, as for make cassandra-up and parity)
# Connection: what make cassandra-up exports (CASSANDRA_HOSTS, CASSANDRA_USERNAME,
# CASSANDRA_PASSWORD_FILE). The password is read from the file by each
# program; it never appears in arguments or logs. All writers use plaintext
# CQL (the server may also offer TLS; none of them uses it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

GO="${GO:-go}"
rounds="${S4_ROUNDS:-3}"
events="${S4_EVENTS:-1000000}"
cars="${S4_CARS:-1000}"
naive_rows="${S4_NAIVE_ROWS:-20000}"
flink_mc="${S4_FLINK_MAX_CONCURRENT:-64}"
readme="${S4_README:-$root/bench/README.md}"
sink_tuned="${S4_SINK_TUNED:-}"
[[ "$sink_tuned" =~ ^[-A-Za-z0-9_.=\ ]*$ ]] || { echo "s4: S4_SINK_TUNED: only sinkbench flags" >&2; exit 2; }
cache_root="${TOPSPEED_CACHE:-$HOME/.cache/topspeed}"

log() { printf 's4: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }
# nocolor: drop terminal escape sequences; Debian's Maven 3.8 writes colour
# resets (ESC[0m) even in batch mode with colours off.
nocolor() { sed "s/$(printf '\033')\\[[0-9;]*[A-Za-z]//g"; }

for v in rounds events cars naive_rows flink_mc; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install time)"
command -v java >/dev/null || die "java 17 is needed"
command -v mvn >/dev/null || die "mvn is needed"

if [[ -n "${S4_WORK:-}" ]]; then
  work="$(realpath -m -- "$S4_WORK")"
  mkdir -p "$work"
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/s4.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/logs"

# ------------------------------------------------------------------ server
eval "$(bash scripts/cassandra/cassandra.sh up)"
[[ -n "${CASSANDRA_HOSTS:-}" ]] || die "make cassandra-up exported no CASSANDRA_HOSTS"

# ------------------------------------------------------------------ builds
log "building bin/sinkbench, bin/topspeed, s4report"
"$GO" build -o bin/sinkbench ./bench/cassandra/sinkbench
"$GO" build -o bin/topspeed ./cmd/topspeed
"$GO" build -o "$work/s4report" ./bench/cassandra/s4report

pom="$root/bench/flink/pom.xml"
flink_version="$(sed -n 's:.*<flink.version>\(.*\)</flink.version>.*:\1:p' "$pom" | head -n1)"
connector_version="$(sed -n 's:.*<flink.cassandra.connector.version>\(.*\)</flink.cassandra.connector.version>.*:\1:p' "$pom" | head -n1)"
jdir="$cache_root/flink-$flink_version/cassandra-bench"

# ensure_flink_job: compile bench/flink (profile cassandra-bench) and copy its
# runtime classpath into $jdir once per change of the pom or the sources.
ensure_flink_job() {
  local want have=""
  want="$({ cat "$pom"; find "$root/bench/flink/src" -name '*.java' -print0 | sort -z | xargs -0 cat; } | sha256sum | cut -d' ' -f1)"
  [[ -f "$jdir/stamp" ]] && have="$(cat "$jdir/stamp")"
  [[ "$want" == "$have" && -d "$jdir/lib" && -d "$jdir/classes" ]] && return 0
  mkdir -p "$jdir"
  (
    exec 9>"$jdir/.lock"
    flock 9
    log "building the Flink job (mvn -P cassandra-bench), log in $jdir/mvn.log"
    rm -rf "$jdir/lib.tmp" "$jdir/classes.tmp"
    if ! mvn -B -Dstyle.color=never -f "$pom" -P cassandra-bench compile dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$jdir/lib.tmp" 2>&1 | nocolor >"$jdir/mvn.log"; then
      tail -n 40 "$jdir/mvn.log" >&2
      die "mvn failed, full log in $jdir/mvn.log"
    fi
    cp -r "$root/bench/flink/target/classes" "$jdir/classes.tmp"
    rm -rf "${jdir:?}/lib" "${jdir:?}/classes"
    mv "$jdir/lib.tmp" "$jdir/lib"
    mv "$jdir/classes.tmp" "$jdir/classes"
    echo "$want" >"$jdir/stamp"
  )
}
ensure_flink_job

# JDK 17 options of flink-dist (env.java.opts.all), as in bench/flink/run-topspeed.sh.
mapfile -t java_opts < <(grep -v -e "^#" -e "^$" "$root/bench/flink/jdk17.opts")
java_opts+=(
  "-Xmx${FLINK_HEAP:-1g}"
  -XX:+UseG1GC
  "-Dlog4j.configurationFile=$root/bench/flink/log4j2.properties"
  "-Dtopspeed.flink.loglevel=${FLINK_LOG_LEVEL:-WARN}"
  "-Djava.io.tmpdir=$work"   # not /tmp/flink-web-upload
)
flink_cp="$jdir/classes:$jdir/lib/*"

# ------------------------------------------------------------------ inputs
cars_file="$work/cars.txt"
results_file="$work/results.txt"
log "generating $events car reports over $cars cars and topspeed's results"
"$GO" run ./bench/parity/geninputs -kind gen -o "$cars_file" -events "$events" -cars "$cars"
# A clean environment: with CASSANDRA_HOSTS set, topspeed would also write to
# Cassandra; and no ops server (its port may be taken by another topspeed).
env -i PATH="$PATH" HOME="$HOME" TOPSPEED_HTTP_ADDR= bin/topspeed --input "$cars_file" --output "$results_file" 2>"$work/logs/topspeed.err" ||
  die "topspeed failed: $(tail -n 1 "$work/logs/topspeed.err")"
result_rows="$(wc -l <"$results_file")"
distinct_rows="$(sed 's/^(\([^,]*\),[^,]*,[^,]*,\([^)]*\))$/\1 \2/' "$results_file" | sort -u | wc -l)"
log "$result_rows result rows ($distinct_rows distinct (carid, time) keys)"

# ------------------------------------------------------------------ runs
results="$work/results.tsv"
failures="$work/failures.txt"
: >"$results"
: >"$failures"
{
  printf '#note\tnaive\t(first %s rows only; at that rate all %s rows would take %s)\n' "$naive_rows" "$result_rows" "NAIVE_ETA"
  printf '#note\tflink-sink\t(maxConcurrentRequests=%s per subtask)\n' "$flink_mc"
  printf '#note\tflink-bounded\t(maxConcurrentRequests=%s per subtask)\n' "$flink_mc"
  if [[ -n "$sink_tuned" ]]; then printf '#note\tsink-tuned\t(%s)\n' "$sink_tuned"; fi
} >>"$results"

sb() { bin/sinkbench "$@"; }

# fail WRITER ROUND WHY: a run that does not count; the report lists it.
fail() {
  log "round $2 $1: FAILED: $3"
  echo "round $2 $1: $3" >>"$failures"
  printf '#fail\t%s\t%s\n' "$1" "$3" >>"$results"
}

# run_writer WRITER ROUND: write into table s4_<writer>, verify, append the result.
run_writer() {
  local w="$1" r="$2" table="s4_${1//-/_}" out="$work/logs/$1.$2.out" err="$work/logs/$1.$2.err" tm="$work/logs/$1.$2.time"
  local -a cmd
  # shellcheck disable=SC2206 # sink-tuned: word splitting of the flags intended
  case "$w" in
  sink) cmd=(bin/sinkbench -mode sink -input "$results_file" -table "$table") ;;
  sink-tuned) cmd=(bin/sinkbench -mode sink -input "$results_file" -table "$table" $sink_tuned) ;;
  raw) cmd=(bin/sinkbench -mode raw -input "$results_file" -table "$table") ;;
  naive) cmd=(bin/sinkbench -mode naive -input "$results_file" -limit "$naive_rows" -table "$table") ;;
  flink) cmd=(java "${java_opts[@]}" -cp "$flink_cp" org.topspeed.bench.TopSpeedToCassandra --input "$cars_file" --table "$table") ;;
  flink-bounded) cmd=(java "${java_opts[@]}" -cp "$flink_cp" org.topspeed.bench.TopSpeedToCassandra --input "$cars_file" --table "$table" --max-concurrent "$flink_mc" --label flink-bounded) ;;
  flink-sink) cmd=(java "${java_opts[@]}" -cp "$flink_cp" org.topspeed.bench.TopSpeedToCassandra --input "$results_file" --table "$table" --sink-only --max-concurrent "$flink_mc") ;;
  esac
  # Fresh, empty table (sinkbench's writing modes also truncate, untimed).
  if ! sb -mode prepare -table "$table" >/dev/null 2>"$err.prepare"; then
    fail "$w" "$r" "prepare failed: $(tail -n 1 "$err.prepare")"
    return 0
  fi
  log "round $r: $w"
  if ! /usr/bin/time -v -o "$tm" "${cmd[@]}" >"$out" 2>"$err"; then
    local why
    why="$(grep -m1 -oE 'BusyPoolException: [^(]*\([^)]*\)' "$err" | head -n1 || true)"
    [[ -n "$why" ]] || why="$(grep -v '^[[:space:]]' "$err" | grep -m1 -E 'Exception|error' | cut -c1-200 || true)"
    [[ -n "$why" ]] || why="$(tail -n 1 "$err" | cut -c1-200)"
    fail "$w" "$r" "$why (log: $err)"
    return 0
  fi
  local line mode="$w"
  [[ "$w" == sink-tuned ]] && mode=sink
  line="$(grep -m1 -E "^$mode +rows=" "$out" || true)"
  [[ -n "$line" ]] || { fail "$w" "$r" "no result line in $out"; return 0; }
  line="$w ${line#"$mode"}"
  line="$(tr -s ' ' <<<"$line")"
  local -a vargs=(-mode verify -input "$results_file" -table "$table")
  [[ "$w" == naive ]] && vargs+=(-limit "$naive_rows")
  local v
  if ! v="$(sb "${vargs[@]}" 2>&1)"; then
    fail "$w" "$r" "verify failed: $v"
    return 0
  fi
  local rss
  rss="$(sed -n 's/.*Maximum resident set size (kbytes): *\([0-9]*\).*/\1/p' "$tm")"
  log "  $line"
  log "  $v; peak RSS $((rss / 1024)) MiB"
  printf '%s\t%s\t%s\t%s\n' "$w" "$r" "$line" "$rss" >>"$results"
}

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
writers=(sink raw flink-sink naive flink flink-bounded)
[[ -n "$sink_tuned" ]] && writers+=(sink-tuned)
for ((r = 1; r <= rounds; r++)); do
  n=${#writers[@]}
  for ((i = 0; i < n; i++)); do
    run_writer "${writers[$(((i + r - 1) % n))]}" "$r"
  done
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# ------------------------------------------------------------------ report
naive_rate="$(awk -F'\t' '$1=="naive" && match($3, /rows\/s=[0-9.]+/) { print substr($3, RSTART+7, RLENGTH-7) }' "$results" | sort -n | awk '{v[NR]=$1} END{ if (NR) print v[int((NR+1)/2)] }')"
if [[ -n "$naive_rate" && "$naive_rate" != 0 ]]; then
  eta="$(awk -v n="$result_rows" -v r="$naive_rate" 'BEGIN{ printf "%.0f s", n/r }')"
  sed -i "s/NAIVE_ETA/~$eta/" "$results"
fi

java_v="$(java -version 2>&1 | head -n1)"
cass_v="$(sed -n 's:.*<cassandra.version>\([^<]*\)</cassandra.version>.*:\1:p' scripts/cassandra/pom.xml | head -n1)"
gocql_v="$(awk '$1=="github.com/gocql/gocql"{print $2}' go.mod)"
mem="$(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
{
  tuned=""
  [[ -n "$sink_tuned" ]] && tuned=" S4_SINK_TUNED=\"$sink_tuned\""
  echo "Run: \`make bench-sink\` (\`bench/cassandra/run.sh\`, S4_ROUNDS=$rounds S4_EVENTS=$events S4_CARS=$cars S4_NAIVE_ROWS=$naive_rows S4_FLINK_MAX_CONCURRENT=$flink_mc$tuned), $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo
  echo "- Machine: $(nproc) cores, $mem, shared with the Cassandra server and whatever else ran (load average $load_start at the start, $load_end at the end); $java_v; $("$GO" version | cut -d' ' -f3)."
  echo "- Server: Apache Cassandra $cass_v, single node on 127.0.0.1 (make cassandra-up, heap ${CASSANDRA_HEAP:-1g}), PasswordAuthenticator, plaintext CQL, consistency ONE for every writer."
  echo "- Clients: gocql $gocql_v; Flink $flink_version local mini-cluster (parallelism = cores), flink-connector-cassandra_2.12 $connector_version (DataStax driver 3.11.2), -Xmx${FLINK_HEAP:-1g}."
  echo "- Input: $events car reports over $cars cars (geninputs -kind gen) → $result_rows result rows ($distinct_rows distinct (carid, time) keys, what each table holds after every run, checked by reading it back)."
  echo "- rows/s = rows written ÷ time from the first request to the last acknowledgement (sink: first Write to end of Flush; Flink: the driver's LatencyTracker, first request start to last answer). p50/p99 are per request (a batch for (a) and (c), one row for (b) and (d)). Peak RSS of the whole process (/usr/bin/time -v)."
  if [[ -s "$failures" ]]; then
    echo "- Failed runs (not in the medians):"
    sed -e 's/^/  - /' -e 's/ (log: [^)]*)$//' "$failures"
  fi
  echo
} >"$work/facts.md"

report_args=(-results "$results" -facts "$work/facts.md")
if [[ "$readme" != 0 ]]; then
  [[ -f "$readme" ]] || die "no $readme to update (S4_README=0 prints only)"
  report_args+=(-readme "$readme")
fi
echo
"$work/s4report" "${report_args[@]}"
if [[ -n "${S4_WORK:-}" ]]; then
  log "inputs, logs and results kept in $work"
fi
