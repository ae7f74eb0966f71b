#!/usr/bin/env bash
# A real single-node Apache Kafka 4.x (KRaft, combined broker + controller)
# for dev, tests and CI, without Docker.
#
#   scripts/kafka/kafka.sh up       start (idempotent); prints export lines only
#   scripts/kafka/kafka.sh down     stop (SIGTERM, then SIGKILL); idempotent
#   scripts/kafka/kafka.sh status   exit 0 if running and a metadata request works
#   scripts/kafka/kafka.sh env      print the export lines of a running broker
#   scripts/kafka/kafka.sh info     one line: pid, heap, RSS, port, work dir; exit 1 if not running
#   scripts/kafka/kafka.sh fetch    only copy the jars (mvn) and build kafkaping, if needed
#
#   eval "$(scripts/kafka/kafka.sh up)"
#
# What the two dev servers' scripts share (process handling, jar fetching,
# TLS files, stopping) lives in scripts/lib/server.sh.
#
# The jars come from Maven Central (scripts/kafka/pom.xml) into
# $TOPSPEED_CACHE/kafka/<version>/lib, once. The broker runs from
# $TOPSPEED_KAFKA_DIR (default $TOPSPEED_CACHE/kafka/run) with JDK 17 (17 or
# later). Its storage is formatted once (a random cluster id); later starts
# keep the topics. A dev broker bound to 127.0.0.1 with three client
# listeners:
#   PLAINTEXT  127.0.0.1:19092  no TLS, no authentication (KAFKA_BROKERS)
#   SSL        127.0.0.1:19094  TLS, client certificate required (KAFKA_TLS_*)
#   SASL_SSL   127.0.0.1:19095  TLS (no client certificate) + SASL SCRAM-SHA-512
#                               as user topspeed (KAFKA_SASL_*)
# The controller and inter-broker listeners stay PLAINTEXT. A CA, a server
# certificate (localhost, 127.0.0.1, ::1) and a client certificate are
# generated once into <workdir>/tls (openssl, else scripts/cassandra/tlsgen);
# the SCRAM password is random, generated once into <workdir>/sasl-password
# (mode 0600, never printed), and set on the broker through the Admin API
# when a SASL login with it fails. A broker whose server.properties (or TLS
# files) differ from what `up` would write is restarted by `up`
# (<workdir>/config.sha256).
#
# Environment (all optional):
#   TOPSPEED_CACHE            cache root (default ~/.cache/topspeed)
#   TOPSPEED_KAFKA_DIR        work dir: conf, data, logs, pid file
#   KAFKA_PORT                client (PLAINTEXT) port, default 19092
#   KAFKA_CONTROLLER_PORT     KRaft controller port, default 19093
#   KAFKA_TLS_PORT            SSL (mutual TLS) port, default 19094
#   KAFKA_SASL_PORT           SASL_SSL (SCRAM-SHA-512) port, default 19095
#   KAFKA_HEAP                max heap (-Xmx), default 512m
#   KAFKA_HEAP_MIN            initial heap (-Xms), default 128m
#   KAFKA_LOG_LEVEL           broker log level (error|warn|info|debug|trace), default info
#   KAFKA_START_TIMEOUT       seconds to wait for a metadata answer, default 120
#   KAFKA_STOP_TIMEOUT        seconds between SIGTERM and SIGKILL, default 30
#   KAFKA_FRESH=1             up: stop a running broker and wipe its data first
#   KAFKA_JAVA_HOME           JDK to use (17 or later; default: JDK 17)
#   KAFKA_JVM_OPTS            extra JVM options, split on blanks
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
POM="$SCRIPT_DIR/pom.xml"

SERVER_NAME=Kafka
SERVER_SCRIPT=kafka.sh
TLS_CA_NAME="topspeed dev Kafka CA"
# shellcheck source=scripts/lib/server.sh
. "$ROOT/scripts/lib/server.sh"
server_layout kafka TOPSPEED_KAFKA_DIR
KAFKAPING="$CACHE/kafka/bin/kafkaping"
CONF="$CONF_DIR/server.properties"
SERVER_LOG="$LOG_DIR/server.log" # the broker's own log (slf4j-simple)
SETUP_LOG="$LOG_DIR/setup.log"   # storage format
PROBE_LOG="$LOG_DIR/kafkaping.log"
PW_FILE="$WORK/sasl-password"
SCRAM_USER=topspeed

PORT="${KAFKA_PORT:-19092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
TLS_PORT="${KAFKA_TLS_PORT:-19094}"
SASL_PORT="${KAFKA_SASL_PORT:-19095}"
HEAP="${KAFKA_HEAP:-512m}"
HEAP_MIN="${KAFKA_HEAP_MIN:-128m}"
LOG_LEVEL="${KAFKA_LOG_LEVEL:-info}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
FRESH="${KAFKA_FRESH:-0}"
MAIN_CLASS=kafka.Kafka
# The jars fetch_jars checks for: kafka_2.13, slf4j-simple (the broker's log).
REQUIRED_JARS=("kafka_2.13-$VERSION.jar" "slf4j-simple=slf4j-simple-*.jar")

for v in PORT CONTROLLER_PORT TLS_PORT SASL_PORT START_TIMEOUT STOP_TIMEOUT; do
    [[ ${!v} =~ ^[0-9]{1,6}$ ]] || die "KAFKA_$v must be a number, got '${!v}'"
done
for v in PORT CONTROLLER_PORT TLS_PORT SASL_PORT; do
    ((10#${!v} >= 1 && 10#${!v} <= 65535)) || die "KAFKA_$v must be a TCP port (1-65535), got '${!v}'"
done
[ "$(printf '%d\n' "$((10#$PORT))" "$((10#$CONTROLLER_PORT))" "$((10#$TLS_PORT))" "$((10#$SASL_PORT))" | sort -u | wc -l)" = 4 ] ||
    die "KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_TLS_PORT and KAFKA_SASL_PORT must all differ"
((10#$START_TIMEOUT >= 1 && 10#$START_TIMEOUT <= 3600)) || die "KAFKA_START_TIMEOUT must be 1-3600 s, got $START_TIMEOUT"
((10#$STOP_TIMEOUT >= 1 && 10#$STOP_TIMEOUT <= 3600)) || die "KAFKA_STOP_TIMEOUT must be 1-3600 s, got $STOP_TIMEOUT"
[[ $HEAP =~ ^[0-9]+[kKmMgG]$ ]] || die "KAFKA_HEAP must look like 512m or 1g, got '$HEAP'"
[[ $HEAP_MIN =~ ^[0-9]+[kKmMgG]$ ]] || die "KAFKA_HEAP_MIN must look like 128m, got '$HEAP_MIN'"
case "$LOG_LEVEL" in
error | warn | info | debug | trace) ;;
*) die "KAFKA_LOG_LEVEL must be error, warn, info, debug or trace, got '$LOG_LEVEL'" ;;
esac
case "$FRESH" in
0 | 1) ;;
*) die "KAFKA_FRESH must be 0 or 1, got '$FRESH'" ;;
esac

# ---------------------------------------------------------------- processes

# ours PID: the process is the kafka.Kafka broker of this work dir (its
# main class followed by this work dir's server.properties).
ours() {
    cmdline_args "$1" || return 1
    local i n=${#ARGS[@]}
    for ((i = 0; i + 1 < n; i++)); do
        if [ "${ARGS[i]}" = "$MAIN_CLASS" ] && [ "${ARGS[i + 1]}" = "$CONF" ]; then
            return 0
        fi
    done
    return 1
}

# ---------------------------------------------------------------- tools

# java_17_or_later V: the Kafka 4 broker runs on Java 17 or later.
java_17_or_later() { [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 17)); }

pick_kafka_java() {
    pick_java java_17_or_later KAFKA_JAVA_HOME "the Kafka $VERSION broker needs Java 17 or later" \
        "no JDK 17 or later found (the Kafka $VERSION broker needs one); set KAFKA_JAVA_HOME" \
        "${KAFKA_JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk-* \
        /usr/lib/jvm/java-17-* /usr/lib/jvm/*-17-* "${JAVA_HOME:-}"
}

build_kafkaping() {
    build_go_tool scripts/kafka/kafkaping "$KAFKAPING" "" "" \
        "could not build scripts/kafka/kafkaping (is github.com/twmb/franz-go in go.mod?)"
}

# ping: one metadata round-trip with the broker; errors go to $PROBE_LOG.
ping() {
    "$KAFKAPING" -q -timeout "${1:-5s}" -brokers "$HOST:$PORT" 2>>"$PROBE_LOG"
}

# ping_tls: a metadata round-trip on the SSL listener with the client
# certificate, the broker verified against the CA.
ping_tls() {
    "$KAFKAPING" -q -timeout 5s -brokers "$HOST:$TLS_PORT" -tls-ca "$TLS_CA" \
        -tls-cert "$TLS_CLIENT_CERT" -tls-key "$TLS_CLIENT_KEY" 2>>"$PROBE_LOG"
}

# ping_sasl: a metadata round-trip on the SASL_SSL listener as $SCRAM_USER;
# exit 2 when the SCRAM login fails (see kafkaping).
ping_sasl() {
    "$KAFKAPING" -q -timeout 5s -brokers "$HOST:$SASL_PORT" -tls-ca "$TLS_CA" \
        -sasl-username "$SCRAM_USER" -sasl-password-file "$PW_FILE" 2>>"$PROBE_LOG"
}

# set_scram: create or update $SCRAM_USER's SCRAM-SHA-512 credential with
# the password of $PW_FILE, through the PLAINTEXT listener.
set_scram() {
    "$KAFKAPING" -q -timeout 10s -brokers "$HOST:$PORT" \
        -set-scram-user "$SCRAM_USER" -set-scram-password-file "$PW_FILE" 2>>"$PROBE_LOG"
}

# secure_ready: the SSL listener answers, and so does the SASL_SSL one as
# $SCRAM_USER; the credential is set first when the login fails (a new data
# dir, or a new password file). Returns 1 (the causes in $PROBE_LOG) when a
# listener still fails after 30 s.
secure_ready() {
    local rc set=0 deadline=$((SECONDS + 30))
    while :; do
        rc=0
        ping_tls || rc=$?
        [ "$rc" != 0 ] || break
        [ "$rc" != 3 ] || { log "kafkaping usage error (see $PROBE_LOG)"; return 1; }
        ((SECONDS < deadline)) || { log "the SSL listener $HOST:$TLS_PORT does not answer (see $PROBE_LOG)"; return 1; }
        sleep 0.5
    done
    deadline=$((SECONDS + 30))
    while :; do
        rc=0
        ping_sasl || rc=$?
        [ "$rc" != 0 ] || return 0
        [ "$rc" != 3 ] || { log "kafkaping usage error (see $PROBE_LOG)"; return 1; }
        if [ "$rc" = 2 ] && [ "$set" = 0 ]; then
            log "setting the SCRAM-SHA-512 credential of user $SCRAM_USER (password in $PW_FILE)"
            set_scram || { log "could not set the SCRAM credential (see $PROBE_LOG)"; return 1; }
            set=1
        fi
        ((SECONDS < deadline)) || break
        sleep 0.5
    done
    log "the SASL_SSL listener $HOST:$SASL_PORT does not accept user $SCRAM_USER (see $PROBE_LOG)"
    return 1
}

# ---------------------------------------------------------------- TLS and SASL

# ensure_password: a random SCRAM password (48 hex digits) in $PW_FILE,
# mode 0600, generated once; never printed.
ensure_password() {
    local tmp
    if [ -s "$PW_FILE" ]; then
        chmod 600 "$PW_FILE"
        return 0
    fi
    mkdir -p "$WORK"
    tmp="$(mktemp "$PW_FILE.tmp.XXXXXX")" # mode 0600
    od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$tmp"
    [ "$(wc -c <"$tmp")" = 48 ] || { rm -f "$tmp"; die "could not read 24 random bytes from /dev/urandom"; }
    mv -f "$tmp" "$PW_FILE"
    log "generated a SCRAM password for user $SCRAM_USER in $PW_FILE"
}

# tls_fingerprint: a checksum of the broker's TLS files, part of the
# configuration checksum (new certificates need a restart).
tls_fingerprint() {
    cat "$TLS_CA" "$TLS_SERVER" 2>/dev/null | sha256sum | cut -d' ' -f1
}

# ---------------------------------------------------------------- server

# render_properties prints server.properties.
render_properties() {
    cat <<EOF
# Generated by scripts/kafka/kafka.sh on every start: edit the script, not this file.
# A single combined KRaft node (broker + controller), as in Kafka's
# config/server.properties, with settings for fast tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,SSL://$HOST:$TLS_PORT,SASL_SSL://$HOST:$SASL_PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT,SSL://$HOST:$TLS_PORT,SASL_SSL://$HOST:$SASL_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
log.dirs=$DATA

# TLS of the SSL and SASL_SSL listeners: PEM files from $TLS_DIR (an
# unencrypted PKCS#8 key, hence no ssl.key.password). TLS files sha256 $(tls_fingerprint)
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_SERVER
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_CA
ssl.enabled.protocols=TLSv1.2,TLSv1.3
# SSL: mutual TLS, a client certificate signed by the CA is required.
listener.name.ssl.ssl.client.auth=required
# SASL_SSL: TLS without a client certificate, then SCRAM-SHA-512; the
# credentials live in the KRaft metadata (kafka.sh sets the user's through
# the Admin API). No authorizer: an authenticated user may do anything.
listener.name.sasl_ssl.ssl.client.auth=none
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;

# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1
# Fewer partitions of the internal topics than the default 50: the first
# consumer group or transaction creates them, which is faster with 8.
offsets.topic.num.partitions=8
transaction.state.log.num.partitions=8

# Tests create their own topics, and group joins need no delay.
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
# Let tests pick short consumer-group session timeouts (a paused or killed
# member leaves its group within seconds): the minimum a client may ask for
# is 6 s by default (classic protocol) and 45 s (KIP-848 consumer protocol).
group.min.session.timeout.ms=1000
group.consumer.min.session.timeout.ms=1000
group.consumer.min.heartbeat.interval.ms=500
num.partitions=1
# Small machine: fewer threads than the defaults (8 I/O, 3 network).
num.io.threads=4
num.network.threads=2
background.threads=4
num.recovery.threads.per.data.dir=1
# A dev broker: deleted topics go at once; logs are kept one day or 1 GiB.
log.segment.delete.delay.ms=1000
log.retention.hours=24
log.retention.bytes=1073741824
EOF
}

write_properties() {
    mkdir -p "$CONF_DIR" "$DATA"
    render_properties >"$CONF.tmp"
    mv -f "$CONF.tmp" "$CONF"
}

# config_hash: checksum of the server.properties a broker started now would
# get. JVM options (heap, log level) are left out, so `up` calls with other
# KAFKA_HEAP settings do not restart each other's broker.
config_hash() {
    render_properties | sha256sum | cut -d' ' -f1
}

# format_storage formats $DATA once, with a new random cluster id (a data
# dir that holds meta.properties is kept as it is).
format_storage() {
    local id
    [ ! -s "$DATA/meta.properties" ] || return 0
    mkdir -p "$DATA" "$LOG_DIR"
    id="$("$JAVA" -cp "$LIB/*" kafka.tools.StorageTool random-uuid 2>>"$SETUP_LOG" | tail -n 1)"
    [[ $id =~ ^[A-Za-z0-9_-]{22}$ ]] || die "kafka.tools.StorageTool random-uuid printed '$id' (see $SETUP_LOG)"
    log "formatting $DATA (cluster id $id)"
    "$JAVA" -cp "$LIB/*" kafka.tools.StorageTool format -t "$id" -c "$CONF" >>"$SETUP_LOG" 2>&1 ||
        { tail -n 20 "$SETUP_LOG" >&2; die "formatting $DATA failed (see $SETUP_LOG)"; }
}

jvm_opts() {
    JVM_OPTS=(
        # --- as Kafka's bin/kafka-run-class.sh and kafka-server-start.sh
        "-Xms$HEAP_MIN"
        "-Xmx$HEAP"
        -XX:+UseG1GC
        -XX:MaxGCPauseMillis=20
        -XX:InitiatingHeapOccupancyPercent=35
        -XX:+ExplicitGCInvokesConcurrent
        -XX:+ExitOnOutOfMemoryError
        -Djava.awt.headless=true
        -Djava.net.preferIPv4Stack=true
        "-Dkafka.logs.dir=$LOG_DIR"
        # --- logging: slf4j-simple into server.log; the per-client config
        # dumps stay out below debug.
        "-Dorg.slf4j.simpleLogger.logFile=$SERVER_LOG"
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=$LOG_LEVEL"
        -Dorg.slf4j.simpleLogger.showDateTime=true
        "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ"
    )
    case "$LOG_LEVEL" in
    debug | trace) ;;
    *) JVM_OPTS+=(-Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.config.AbstractConfig=warn) ;;
    esac
    if [ -n "${KAFKA_JVM_OPTS:-}" ]; then
        local -a extra
        read -r -a extra <<<"$KAFKA_JVM_OPTS"
        JVM_OPTS+=("${extra[@]}")
    fi
}

launch() {
    ports_free "KAFKA_PORT / KAFKA_CONTROLLER_PORT / KAFKA_TLS_PORT / KAFKA_SASL_PORT" \
        "$PORT" "$CONTROLLER_PORT" "$TLS_PORT" "$SASL_PORT"
    pick_kafka_java
    write_properties
    config_hash >"$CONFIG_STAMP"
    format_storage
    jvm_opts
    mkdir -p "$LOG_DIR"
    : >"$PROBE_LOG"
    # slf4j-simple truncates its file: keep the previous run's log.
    [ ! -s "$SERVER_LOG" ] || mv -f "$SERVER_LOG" "$SERVER_LOG.1"
    # The JVM's own output (crashes, OOM) is appended; keep it bounded.
    if [ -f "$OUT_LOG" ] && [ "$(stat -c %s "$OUT_LOG")" -gt $((16 << 20)) ]; then
        mv -f "$OUT_LOG" "$OUT_LOG.1"
    fi
    printf '\n==== %s starting Kafka %s with %s\n' "$(date -Is)" "$VERSION" "$JAVA" >>"$OUT_LOG"
    log "starting Kafka $VERSION on $HOST:$PORT, SSL $TLS_PORT, SASL_SSL $SASL_PORT (controller $HOST:$CONTROLLER_PORT, work dir $WORK, heap $HEAP_MIN..$HEAP)"
    # Survive a Ctrl-C meant for make too: a session (and process group) of
    # its own. spawn_server's child is no group leader (no job control in a
    # script), so setsid execs in place and STARTED_PID is the broker's pid;
    # stop_pid's SIGKILL then takes the whole group.
    spawn_server setsid "$JAVA" "${JVM_OPTS[@]}" -cp "$LIB/*" "$MAIN_CLASS" "$CONF"
}

show_log_tail() { tail_logs 30 "$SERVER_LOG" "$OUT_LOG" "$PROBE_LOG"; }

# ---------------------------------------------------------------- commands

emit_env() {
    printf 'export KAFKA_BROKERS=%q\n' "$HOST:$PORT"
    printf 'export KAFKA_TLS_BROKERS=%q\n' "$HOST:$TLS_PORT"
    printf 'export KAFKA_TLS_CA=%q\n' "$TLS_CA"
    printf 'export KAFKA_TLS_CERT=%q\n' "$TLS_CLIENT_CERT"
    printf 'export KAFKA_TLS_KEY=%q\n' "$TLS_CLIENT_KEY"
    printf 'export KAFKA_SASL_BROKERS=%q\n' "$HOST:$SASL_PORT"
    printf 'export KAFKA_SASL_MECHANISM=%q\n' SCRAM-SHA-512
    printf 'export KAFKA_SASL_USERNAME=%q\n' "$SCRAM_USER"
    printf 'export KAFKA_SASL_PASSWORD_FILE=%q\n' "$PW_FILE"
    printf 'export KAFKA_PID_FILE=%q\n' "$PID_FILE"
    printf 'export KAFKA_LOG_DIR=%q\n' "$LOG_DIR"
}

# metadata_probe (wait_ready's probe): the PLAINTEXT listener answers a
# metadata request.
metadata_probe() { port_open "$PORT" && ping 5s; }

cmd_up() {
    local pid="" start
    STARTED_PID=""
    lock
    mkdir -p "$LOG_DIR"
    build_kafkaping
    ensure_tls
    ensure_password

    pid="$(server_pid || true)"
    stop_unless_reusable KAFKA_FRESH broker server.properties
    # Fast path: already running and answering, on every listener.
    if [ -n "$pid" ] && port_open "$PORT" && ping 5s && secure_ready; then
        log "already running (pid $pid) on $HOST:$PORT, SSL $TLS_PORT, SASL_SSL $SASL_PORT"
        emit_env
        return 0
    fi

    launch_unless_running KAFKA_FRESH broker "${REQUIRED_JARS[@]}"
    if ! wait_ready "$pid" "$start" "a metadata answer" 0.5 metadata_probe; then
        show_log_tail
        [ -z "$STARTED_PID" ] || stop_pid "$STARTED_PID" || true
        die "no metadata answer on $HOST:$PORT after $((SECONDS - start))s"
    fi
    if ! secure_ready; then
        show_log_tail
        [ -z "$STARTED_PID" ] || stop_pid "$STARTED_PID" || true
        die "the SSL or SASL_SSL listener is not ready"
    fi
    log "ready in $((SECONDS - start))s: pid $pid, Kafka $VERSION on $HOST:$PORT (log $SERVER_LOG)"
    emit_env
}

# is_up: running, port open, and a metadata request works.
is_up() {
    local pid
    pid="$(server_pid)" || { log "not running"; return 1; }
    port_open "$PORT" || { log "running (pid $pid) but $HOST:$PORT does not answer"; return 1; }
    [ -x "$KAFKAPING" ] || build_kafkaping
    mkdir -p "$LOG_DIR"
    ping 5s || { log "running (pid $pid) but no metadata answer on $HOST:$PORT (see $PROBE_LOG)"; return 1; }
    ping_tls || { log "running (pid $pid) but no metadata answer over mutual TLS on $HOST:$TLS_PORT (see $PROBE_LOG)"; return 1; }
    ping_sasl || { log "running (pid $pid) but no metadata answer as $SCRAM_USER on SASL_SSL $HOST:$SASL_PORT (see $PROBE_LOG)"; return 1; }
    config_current || log "warning: running with another server.properties than 'up' would write now: 'up' restarts it"
    log "running (pid $pid) on $HOST:$PORT"
}

# cmd_info prints what runs: pid, heap (its -Xms/-Xmx), resident memory,
# addresses and work dir; exit 1 when no broker runs.
cmd_info() { info_line "(SSL $TLS_PORT, SASL_SSL $SASL_PORT)"; }

# cmd_fetch: the downloads and builds of `up`, without starting anything;
# make test runs it before starting Kafka and Cassandra in parallel, so two
# mvn runs never fill the same empty ~/.m2 at once.
cmd_fetch() {
    lock
    fetch_jars "${REQUIRED_JARS[@]}"
    build_kafkaping
}

cmd_env() {
    is_up || die "not up: run '$0 up' first"
    emit_env
}

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

main() {
    [ $# -eq 1 ] || usage
    case "$1" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) is_up ;;
    env) cmd_env ;;
    fetch) cmd_fetch ;;
    info) cmd_info ;;
    -h | --help | help) usage ;;
    *) usage ;;
    esac
}

main "$@"
