#!/usr/bin/env bash
# Run Flink's own TopSpeedWindowing example on a local mini-cluster.
#
#   bench/flink/run-topspeed.sh INPUT OUTDIR   run the job: --input INPUT --output OUTDIR
#   bench/flink/run-topspeed.sh --deps         only resolve and cache the jars, print the lib dir
#
# The job is org.apache.flink.streaming.examples.windowing.TopSpeedWindowing from
# org.apache.flink:flink-examples-streaming (see pom.xml next to this script),
# started with `java -cp LIB/*` and no cluster, so getExecutionEnvironment()
# starts an in-process MiniCluster. INPUT is read once (bounded) and the job ends.
#
# Output: FileSink writes row-format part files under OUTDIR/<yyyy-MM-dd--HH>/
# (bucket = processing-time hour, so a run across an hour boundary has two
# bucket dirs), named part-<uuid>-<subtask>-<n>. With bounded input the sink
# finalizes everything at end of input (no checkpointing needed); in-progress
# files are hidden .part-*.inprogress.* and should not remain. Read OUTDIR
# recursively, hidden files included (bench/parity/compare does). Records of
# one car are in one file in order; files of different subtasks interleave cars.
#
# Environment:
#   TOPSPEED_CACHE     cache root (default ~/.cache/topspeed); jars go to
#                      $TOPSPEED_CACHE/flink-<flink.version>/lib, with a stamp
#                      file holding the pom's sha256. ~/.m2 is Maven's cache.
#   FLINK_PARALLELISM  job parallelism. The local environment uses
#                      Runtime.availableProcessors() (2 here); we set it through
#                      -XX:ActiveProcessorCount=N, the only knob the unmodified
#                      example leaves (it reads no flink-conf in local mode).
#   FLINK_HEAP         -Xmx (default 1g)
#   FLINK_JAVA_OPTS    extra JVM options (e.g. -XX:TieredStopAtLevel=1 cuts the
#                      CPU of a small run by ~40%; a -XX:+Use...GC here replaces G1)
#   FLINK_LOG_LEVEL    log4j2 root level (default WARN)
#   JAVA_HOME          JDK to use (default: java on PATH); JDK 17 expected.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="$here/pom.xml"

die() { echo "run-topspeed: $*" >&2; exit 2; }
# nocolor: drop terminal escape sequences; Debian's Maven 3.8 writes colour
# resets (ESC[0m) even in batch mode with colours off.
nocolor() { sed "s/$(printf '\033')\\[[0-9;]*[A-Za-z]//g"; }

flink_version="$(sed -n 's:.*<flink.version>\(.*\)</flink.version>.*:\1:p' "$pom" | head -n1)"
[[ -n "$flink_version" ]] || die "cannot read <flink.version> from $pom"
cache_root="${TOPSPEED_CACHE:-$HOME/.cache/topspeed}"
flink_home="$cache_root/flink-$flink_version"
lib="$flink_home/lib"
stamp="$flink_home/lib.stamp"

java_bin="java"
if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  java_bin="$JAVA_HOME/bin/java"
fi

# ensure_deps: copy the runtime classpath into $lib once. The stamp holds the
# sha256 of pom.xml, so editing the pom refreshes the cache.
ensure_deps() {
  local want have=""
  want="$(sha256sum "$pom" | cut -d' ' -f1)"
  [[ -f "$stamp" ]] && have="$(cat "$stamp")"
  if [[ "$want" == "$have" && -d "$lib" ]]; then
    return 0
  fi
  mkdir -p "$flink_home"
  (
    # Serialize concurrent first runs (e.g. two parity jobs at once).
    if command -v flock >/dev/null 2>&1; then
      exec 9>"$flink_home/.lock"
      flock 9
    fi
    have=""
    [[ -f "$stamp" ]] && have="$(cat "$stamp")"
    if [[ "$want" == "$have" && -d "$lib" ]]; then
      exit 0
    fi
    echo "run-topspeed: caching Flink $flink_version jars in $lib" >&2
    rm -rf "$lib.tmp"
    if ! mvn -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$lib.tmp" 2>&1 | nocolor >"$flink_home/mvn.log"; then
      tail -n 40 "$flink_home/mvn.log" >&2
      echo "run-topspeed: mvn failed, full log in $flink_home/mvn.log" >&2
      exit 1
    fi
    rm -rf "$lib"
    mv "$lib.tmp" "$lib"
    echo "$want" >"$stamp"
  )
}

if [[ "${1:-}" == "--deps" ]]; then
  ensure_deps
  echo "$lib"
  exit 0
fi

[[ $# -eq 2 ]] || die "usage: $0 INPUT OUTDIR | $0 --deps"
input="$(realpath -e -- "$1")" || die "no such input: $1"
outdir="$(realpath -m -- "$2")"
if [[ -e "$outdir" ]] && [[ -n "$(ls -A -- "$outdir")" ]]; then
  die "output dir $outdir is not empty (FileSink would add to it); remove it first"
fi
mkdir -p "$outdir"

ensure_deps

# JDK 17 options: env.java.opts.all from flink-dist's config.yaml (Flink 1.20).
mapfile -t java_opts < <(grep -v -e "^#" -e "^$" "$here/jdk17.opts")
java_opts+=(
  "-Xmx${FLINK_HEAP:-1g}"
  "-Dlog4j.configurationFile=$here/log4j2.properties"
  "-Dtopspeed.flink.loglevel=${FLINK_LOG_LEVEL:-WARN}"
)
if [[ -n "${FLINK_PARALLELISM:-}" ]]; then
  [[ "$FLINK_PARALLELISM" =~ ^[1-9][0-9]*$ ]] || die "FLINK_PARALLELISM must be a positive integer"
  java_opts+=("-XX:ActiveProcessorCount=$FLINK_PARALLELISM")
fi
# G1 explicitly (with ActiveProcessorCount=1 the JVM would pick SerialGC),
# unless FLINK_JAVA_OPTS chooses a collector.
if [[ ! "${FLINK_JAVA_OPTS:-}" =~ -XX:\+Use[A-Za-z]*GC ]]; then
  java_opts+=(-XX:+UseG1GC)
fi
if [[ -n "${FLINK_JAVA_OPTS:-}" ]]; then
  # shellcheck disable=SC2206 # word splitting intended
  java_opts+=($FLINK_JAVA_OPTS)
fi

# A private java.io.tmpdir, removed at exit: the mini-cluster's REST server
# would otherwise leave /tmp/flink-web-upload behind.
jtmp="$(mktemp -d "${TMPDIR:-/tmp}/run-topspeed.XXXXXX")"
trap 'rm -rf "$jtmp"' EXIT
java_opts+=("-Djava.io.tmpdir=$jtmp")

"$java_bin" "${java_opts[@]}" -cp "$lib/*" \
  org.apache.flink.streaming.examples.windowing.TopSpeedWindowing \
  --input "$input" --output "$outdir"

# Everything should be finalized at end of input; say so if not (the data in
# in-progress files is still complete and compare reads them).
if find "$outdir" -name '.part-*' -print -quit | grep -q .; then
  echo "run-topspeed: warning: in-progress part files remain under $outdir" >&2
fi
