#!/usr/bin/env bash
# A real single-node Apache Cassandra 5.0 for dev, tests and CI, without Docker.
#
#   scripts/cassandra/cassandra.sh up         start (idempotent); prints export lines only
#   scripts/cassandra/cassandra.sh down       stop (SIGTERM, then SIGKILL); idempotent
#   scripts/cassandra/cassandra.sh status     exit 0 if running and CQL logins work (plaintext, TLS)
#   scripts/cassandra/cassandra.sh cqlsh-env  print the export lines of a running server
#   scripts/cassandra/cassandra.sh info       one line: pid, heap, RSS, port, work dir; exit 1 if not running
#
#   eval "$(scripts/cassandra/cassandra.sh up)"
#
# What the two dev servers' scripts share (process handling, jar fetching,
# TLS files, stopping) lives in scripts/lib/server.sh.
#
# The jars come from Maven Central (scripts/cassandra/pom.xml) into
# $TOPSPEED_CACHE/cassandra/<version>/lib, once. The server runs from
# $TOPSPEED_CASSANDRA_DIR (default $TOPSPEED_CACHE/cassandra/run) with JDK 17.
# After the first start the default superuser cassandra/cassandra is disabled
# and the role demo-superuser gets a random password kept in
# <workdir>/secrets/demo-superuser-password (mode 0600), which later starts
# reuse. The password is never printed nor passed on a command line.
#
# Client TLS (as K8ssandra's client encryption): the native port accepts both
# plaintext and TLS clients (client_encryption_options enabled + optional).
# The CA, the server certificate (localhost, 127.0.0.1, ::1) and a client
# certificate are generated once into <workdir>/tls, with openssl if present,
# else with scripts/cassandra/tlsgen; `up` exports CASSANDRA_TLS_CA,
# CASSANDRA_TLS_CERT and CASSANDRA_TLS_KEY. A server whose configuration
# (cassandra.yaml, certificates) differs from the one `up` would write is
# restarted by `up`: <workdir>/config.sha256 records what it was started with.
#
# Environment (all optional):
#   TOPSPEED_CACHE            cache root (default ~/.cache/topspeed)
#   TOPSPEED_CASSANDRA_DIR    work dir: conf, data, logs, secrets, pid file
#   CASSANDRA_PORT            native (CQL) port, default 9042
#   CASSANDRA_STORAGE_PORT    internode port, default 7000
#   CASSANDRA_JMX_PORT        local-only JMX port, default 7199; 0 turns JMX off
#   CASSANDRA_HEAP            max heap (-Xmx), default 1g
#   CASSANDRA_HEAP_MIN        initial heap (-Xms), default 512m
#   CASSANDRA_START_TIMEOUT   seconds to wait for a CQL login, default 180
#   CASSANDRA_STOP_TIMEOUT    seconds between SIGTERM and SIGKILL, default 60
#   CASSANDRA_FRESH=1         up: stop a running server and wipe its data first
#   CASSANDRA_MLOCK=1         let Cassandra mlockall() its memory (off: smaller RSS)
#   CASSANDRA_JAVA_HOME       JDK to use (must be 11 or 17; default: JDK 17)
#   CASSANDRA_JVM_OPTS        extra JVM options, split on blanks
#   CASSANDRA_TLS_CLIENT_AUTH none (default): TLS clients need no certificate;
#                             require: TLS clients must present one signed by
#                             the CA (plaintext clients are not affected). It
#                             is part of the configuration: use it with your
#                             own TOPSPEED_CASSANDRA_DIR and ports, or `up`
#                             calls with and without it restart each other.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
POM="$SCRIPT_DIR/pom.xml"
LOGBACK="$SCRIPT_DIR/logback.xml"

SERVER_NAME=Cassandra
SERVER_SCRIPT=cassandra.sh
TLS_CA_NAME="topspeed dev CA"
# shellcheck source=scripts/lib/server.sh
. "$ROOT/scripts/lib/server.sh"
server_layout cassandra TOPSPEED_CASSANDRA_DIR
CQLPING="$CACHE/cassandra/bin/cqlping"
CONF="$CONF_DIR/cassandra.yaml"
SYSTEM_LOG="$LOG_DIR/system.log"
PROBE_LOG="$LOG_DIR/cqlping.log"
SECRETS="$WORK/secrets"
PW_FILE="$SECRETS/demo-superuser-password"

PORT="${CASSANDRA_PORT:-9042}"
STORAGE_PORT="${CASSANDRA_STORAGE_PORT:-7000}"
JMX_PORT="${CASSANDRA_JMX_PORT:-7199}"
HEAP="${CASSANDRA_HEAP:-1g}"
HEAP_MIN="${CASSANDRA_HEAP_MIN:-512m}"
START_TIMEOUT="${CASSANDRA_START_TIMEOUT:-180}"
STOP_TIMEOUT="${CASSANDRA_STOP_TIMEOUT:-60}"
MLOCK="${CASSANDRA_MLOCK:-0}"
DEMO_USER=demo-superuser
TLS_CLIENT_AUTH="${CASSANDRA_TLS_CLIENT_AUTH:-none}"

for v in PORT STORAGE_PORT JMX_PORT START_TIMEOUT STOP_TIMEOUT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number, got '${!v}'"
done
case "$TLS_CLIENT_AUTH" in
none | require) ;;
*) die "CASSANDRA_TLS_CLIENT_AUTH must be none or require, got '$TLS_CLIENT_AUTH'" ;;
esac

# ---------------------------------------------------------------- processes

# ours PID: the process is the CassandraDaemon of this work dir.
ours() {
    cmdline_args "$1" || return 1
    local a has_conf=1 has_main=1
    for a in "${ARGS[@]}"; do
        [ "$a" = "-Dcassandra.config=file://$CONF" ] && has_conf=0
        [ "$a" = org.apache.cassandra.service.CassandraDaemon ] && has_main=0
    done
    [ $has_conf -eq 0 ] && [ $has_main -eq 0 ]
}

# ---------------------------------------------------------------- tools

# java_11_or_17 V: Cassandra 5.0 runs on Java 11 or 17 (it needs the
# Security Manager, gone from JDK 24).
java_11_or_17() { [ "$1" = 11 ] || [ "$1" = 17 ]; }

pick_cassandra_java() {
    pick_java java_11_or_17 CASSANDRA_JAVA_HOME "Cassandra $VERSION needs Java 11 or 17" \
        "no JDK 11 or 17 found (Cassandra 5.0 needs the Security Manager, gone from JDK 24); set CASSANDRA_JAVA_HOME" \
        "${CASSANDRA_JAVA_HOME:-}" "${JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 \
        /usr/lib/jvm/java-17-openjdk-* /usr/lib/jvm/java-17-* /usr/lib/jvm/*-17-*
}

build_cqlping() {
    build_go_tool scripts/cassandra/cqlping "$CQLPING" "" "" \
        "could not build scripts/cassandra/cqlping (is github.com/gocql/gocql in go.mod?)"
}

# cql_as_demo ARGS...: run cqlping as demo-superuser (password from its
# file), in plaintext (the -tls-* flags override a caller's $CASSANDRA_TLS_*).
cql_as_demo() {
    "$CQLPING" -q -timeout 5s -hosts "$HOST:$PORT" -u "$DEMO_USER" -password-file "$PW_FILE" \
        -tls-ca "" -tls-cert "" -tls-key "" "$@" 2>>"$PROBE_LOG"
}

# cql_as_default ARGS...: run cqlping as the default superuser cassandra/cassandra.
cql_as_default() {
    CASSANDRA_PASSWORD=cassandra "$CQLPING" -q -timeout 5s -hosts "$HOST:$PORT" -u cassandra -password-file "" \
        -tls-ca "" -tls-cert "" -tls-key "" "$@" 2>>"$PROBE_LOG"
}

# cql_tls_as_demo: log in as demo-superuser over TLS, verifying the server
# certificate against the CA and the name localhost, with the client
# certificate at hand in case the server asks for it.
cql_tls_as_demo() {
    "$CQLPING" -q -timeout 5s -hosts "$HOST:$PORT" -u "$DEMO_USER" -password-file "$PW_FILE" \
        -tls-ca "$TLS_CA" -tls-server-name localhost -tls-cert "$TLS_CLIENT_CERT" -tls-key "$TLS_CLIENT_KEY" 2>>"$PROBE_LOG"
}

# new_password prints 48 random hex digits.
new_password() {
    od -An -tx1 -N24 /dev/urandom | tr -d ' \n'
}

# ---------------------------------------------------------------- server

# render_yaml prints cassandra.yaml.
render_yaml() {
    local client_auth=false
    [ "$TLS_CLIENT_AUTH" != require ] || client_auth=true
    cat <<EOF
# Generated by scripts/cassandra/cassandra.sh on every start: edit the script, not this file.
# Modelled on apache/cassandra conf/cassandra.yaml and test/conf/cassandra.yaml (5.0).
cluster_name: topspeed-dev
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
auto_bootstrap: false

listen_address: $HOST
rpc_address: $HOST
storage_port: $STORAGE_PORT
start_native_transport: true
native_transport_port: $PORT
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "$HOST:$STORAGE_PORT"
endpoint_snitch: SimpleSnitch

data_file_directories:
  - $DATA/data
commitlog_directory: $DATA/commitlog
hints_directory: $DATA/hints
saved_caches_directory: $DATA/saved_caches
cdc_raw_directory: $DATA/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms

authenticator:
  class_name: org.apache.cassandra.auth.PasswordAuthenticator
authorizer: CassandraAuthorizer
role_manager: CassandraRoleManager
network_authorizer: AllowAllNetworkAuthorizer

# As shipped in 5.0's conf/cassandra.yaml (BIG "nb" sstables, 4.x-compatible).
storage_compatibility_mode: CASSANDRA_4

# Dev node: tests drop keyspaces often; keep no snapshots of them.
auto_snapshot: false
# One compaction thread on a small machine.
concurrent_compactors: 1

# Client TLS as K8ssandra's client encryption, but optional: the native port
# serves plaintext and TLS clients alike (Cassandra tells them apart by the
# first bytes). PEM files: the keystore holds the PKCS#8 key, then the
# certificate chain; the truststore (the CA) verifies client certificates.
# Cassandra 5.0 asks a TLS client for a certificate either always
# (require_client_auth: true) or never: there is no "optional" client auth.
client_encryption_options:
  enabled: true
  optional: true
  require_client_auth: $client_auth
  ssl_context_factory:
    class_name: org.apache.cassandra.security.PEMBasedSslContextFactory
  keystore: $TLS_SERVER
  truststore: $TLS_CA
EOF
}

write_yaml() {
    mkdir -p "$CONF_DIR" "$DATA/data" "$DATA/commitlog" "$DATA/hints" "$DATA/saved_caches" "$DATA/cdc_raw"
    render_yaml >"$CONF.tmp"
    mv -f "$CONF.tmp" "$CONF"
}

# config_hash prints the checksum of the configuration a server started now
# would get: cassandra.yaml and the TLS files it names. JVM options (heap,
# JMX port) are left out, so `up` calls with other CASSANDRA_HEAP settings do
# not restart each other's server.
config_hash() {
    { render_yaml; cat "$TLS_SERVER" "$TLS_CA" 2>/dev/null; } | sha256sum | cut -d' ' -f1
}

jvm_opts() {
    local jamm
    jamm="$(compgen -G "$LIB/jamm-*.jar" | head -n 1 || true)"
    JVM_OPTS=(
        # --- conf/jvm-server.options (general); left out: -XX:+AlwaysPreTouch
        # (would fault in the whole heap at start), -XX:-UseBiasedLocking
        # (deprecated on 17), -XX:+HeapDumpOnOutOfMemoryError (a 1 GB dump).
        -ea
        -da:net.openhft...
        -XX:+UseThreadPriorities
        -Xss256k
        -XX:+UseTLAB
        -XX:+ResizeTLAB
        -XX:+UseNUMA
        -XX:+PerfDisableSharedMem
        -Djava.net.preferIPv4Stack=true
        # --- conf/jvm17-server.options
        -XX:+UseG1GC
        -XX:+ParallelRefProcEnabled
        -XX:MaxTenuringThreshold=1
        -XX:G1HeapRegionSize=16m
        -XX:G1RSetUpdatingPauseTimePercent=5
        -XX:MaxGCPauseMillis=300
        -XX:InitiatingHeapOccupancyPercent=70
        -Djdk.attach.allowAttachSelf=true
        --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
        --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
        --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
        --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
        --add-exports java.sql/java.sql=ALL-UNNAMED
        --add-exports java.base/java.lang.ref=ALL-UNNAMED
        --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
        --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
        --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
        --add-opens java.base/java.lang.module=ALL-UNNAMED
        --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
        --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
        --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
        --add-opens java.base/jdk.internal.math=ALL-UNNAMED
        --add-opens java.base/jdk.internal.module=ALL-UNNAMED
        --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
        --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
        --add-opens java.base/sun.nio.ch=ALL-UNNAMED
        --add-opens java.base/java.io=ALL-UNNAMED
        --add-opens java.base/java.lang.reflect=ALL-UNNAMED
        --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
        --add-opens java.base/java.lang=ALL-UNNAMED
        --add-opens java.base/java.util=ALL-UNNAMED
        -Dio.netty.tryReflectionSetAccessible=true
        -Dio.netty.allocator.useCacheForAllThreads=true
        -Dio.netty.allocator.maxOrder=11
        # --- what bin/cassandra and cassandra-env.sh add
        "-Xms$HEAP_MIN"
        "-Xmx$HEAP"
        -XX:+ExitOnOutOfMemoryError
        -Dcassandra-foreground=yes
        "-Dcassandra.config=file://$CONF"
        "-Dcassandra.storagedir=$DATA"
        "-Dcassandra.logdir=$LOG_DIR"
        "-Dlogback.configurationFile=$LOGBACK"
        # --- fast start for a single dev node
        -Dcassandra.skip_wait_for_gossip_to_settle=0
        -Dcassandra.ring_delay_ms=1000
        -Dcassandra.superuser_setup_delay_ms=0
        # 5.0 refuses a second password change of a role within 5 s.
        -Dcassandra.role_password_update_min_interval_in_ms=0
    )
    if [ -n "$jamm" ]; then
        JVM_OPTS+=("-javaagent:$jamm")
    fi
    if [ "$JMX_PORT" != 0 ]; then
        # Local-only JMX (bound to loopback, no auth), as cassandra-env.sh does by default.
        JVM_OPTS+=("-Dcassandra.jmx.local.port=$JMX_PORT")
    fi
    if [ -n "${CASSANDRA_JVM_OPTS:-}" ]; then
        local -a extra
        read -r -a extra <<<"$CASSANDRA_JVM_OPTS"
        JVM_OPTS+=("${extra[@]}")
    fi
}

# spawn_prepare (run by spawn_server in the child): Cassandra mlockall()s
# its memory when it may, which faults in the whole committed heap at
# start. A dev node does without: with a zero memlock limit (and, for root,
# without CAP_IPC_LOCK, which overrides the limit) the call fails, Cassandra
# logs a warning and goes on.
spawn_prepare() {
    if [ "$MLOCK" != 1 ]; then
        ulimit -l 0
        if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
            SPAWN_PREFIX=(setpriv --bounding-set=-ipc_lock --inh-caps=-ipc_lock --)
        fi
    fi
}

launch() {
    local -a ports=("$PORT" "$STORAGE_PORT")
    [ "$JMX_PORT" = 0 ] || ports+=("$JMX_PORT")
    ports_free "CASSANDRA_PORT / CASSANDRA_STORAGE_PORT / CASSANDRA_JMX_PORT" "${ports[@]}"
    pick_cassandra_java
    write_yaml
    config_hash >"$CONFIG_STAMP"
    jvm_opts
    mkdir -p "$LOG_DIR"
    : >"$PROBE_LOG"
    printf '\n==== %s starting Cassandra %s with %s\n' "$(date -Is)" "$VERSION" "$JAVA" >>"$OUT_LOG"
    log "starting Cassandra $VERSION on $HOST:$PORT (work dir $WORK, heap $HEAP_MIN..$HEAP)"
    spawn_server "$JAVA" "${JVM_OPTS[@]}" -cp "$LIB/*" org.apache.cassandra.service.CassandraDaemon
}

show_log_tail() { tail_logs 40 "$SYSTEM_LOG" "$OUT_LOG"; }

# ---------------------------------------------------------------- roles

ensure_password_file() {
    if [ ! -s "$PW_FILE" ]; then
        mkdir -p "$SECRETS"
        chmod 700 "$SECRETS"
        (umask 077 && new_password >"$PW_FILE.tmp" && mv -f "$PW_FILE.tmp" "$PW_FILE")
        log "generated a password for $DEMO_USER in $PW_FILE"
    fi
    chmod 600 "$PW_FILE"
}

# create_demo_role: as cassandra/cassandra, create demo-superuser, or give it
# the stored password if it exists with another one. The statements carry the
# password, so they go to cqlping through stdin, never through argv.
create_demo_role() {
    local pw i
    ensure_password_file
    pw="$(<"$PW_FILE")"
    [[ $pw =~ ^[0-9a-zA-Z]+$ ]] || die "$PW_FILE must hold letters and digits only"
    printf 'CREATE ROLE IF NOT EXISTS "%s" WITH PASSWORD = '\''%s'\'' AND SUPERUSER = true AND LOGIN = true;\n' \
        "$DEMO_USER" "$pw" | cql_as_default -f - ||
        die "could not create role $DEMO_USER (see $PROBE_LOG)"
    for ((i = 0; i < 20; i++)); do
        if cql_as_demo; then
            log "role $DEMO_USER is set up"
            return 0
        fi
        if ((i % 5 == 1)); then # the role existed with another password
            printf 'ALTER ROLE "%s" WITH PASSWORD = '\''%s'\'' AND SUPERUSER = true AND LOGIN = true;\n' \
                "$DEMO_USER" "$pw" | cql_as_default -f - || true
        fi
        sleep 0.5
    done
    die "cannot log in as $DEMO_USER after creating it (see $PROBE_LOG)"
}

# disable_default_role: as demo-superuser, give cassandra an unknown password
# and take away its login and superuser status, then check the login fails.
disable_default_role() {
    local i rc
    for ((i = 0; ; i++)); do
        rc=0
        printf 'ALTER ROLE cassandra WITH PASSWORD = '\''%s'\'' AND SUPERUSER = false AND LOGIN = false;\n' \
            "$(new_password)" | cql_as_demo -f - || rc=$?
        [ "$rc" -ne 0 ] || break
        ((i < 10)) || die "could not disable the default role cassandra (see $PROBE_LOG)"
        sleep 1
    done
    for ((i = 0; i < 30; i++)); do # the credentials cache may answer for ~2 s
        rc=0
        cql_as_default || rc=$?
        [ "$rc" -ne 4 ] || { log "default login cassandra/cassandra is disabled"; return 0; }
        sleep 0.5
    done
    die "the default login cassandra/cassandra still works"
}

# ---------------------------------------------------------------- commands

emit_env() {
    printf 'export CASSANDRA_HOSTS=%q\n' "$HOST:$PORT"
    printf 'export CASSANDRA_PORT=%q\n' "$PORT"
    printf 'export CASSANDRA_USERNAME=%q\n' "$DEMO_USER"
    printf 'export CASSANDRA_PASSWORD_FILE=%q\n' "$PW_FILE"
    printf 'export CASSANDRA_TLS_CA=%q\n' "$TLS_CA"
    printf 'export CASSANDRA_TLS_CERT=%q\n' "$TLS_CLIENT_CERT"
    printf 'export CASSANDRA_TLS_KEY=%q\n' "$TLS_CLIENT_KEY"
    printf 'export CASSANDRA_TLS_CLIENT_AUTH=%q\n' "$TLS_CLIENT_AUTH"
}

# cql_login_probe (wait_ready's probe): 0 when a login works, as
# demo-superuser (CQL_READY=demo) or as cassandra/cassandra
# (CQL_READY=default); 2 when both have been refused for 30 s; else 1.
# Leaves the logins' exit status in CQL_RC_DEMO and CQL_RC_DEF.
cql_login_probe() {
    if port_open "$PORT"; then
        CQL_RC_DEMO=4
        if [ -s "$PW_FILE" ]; then
            CQL_RC_DEMO=0
            cql_as_demo || CQL_RC_DEMO=$?
            [ "$CQL_RC_DEMO" -ne 0 ] || { CQL_READY=demo; return 0; }
        fi
        CQL_RC_DEF=0
        cql_as_default || CQL_RC_DEF=$?
        [ "$CQL_RC_DEF" -ne 0 ] || { CQL_READY=default; return 0; }
    fi
    # Both logins refused for long past start-up (the default role is
    # made within a second or two): the stored password is not the
    # server's. Waiting longer will not help.
    if [ "${CQL_RC_DEMO:-1}" = 4 ] && [ "${CQL_RC_DEF:-1}" = 4 ]; then
        CQL_REJECTED_SINCE="${CQL_REJECTED_SINCE:-$SECONDS}"
        ((SECONDS - CQL_REJECTED_SINCE < 30)) || return 2
    else
        CQL_REJECTED_SINCE=""
    fi
    return 1
}

cmd_up() {
    local pid="" start rc_def
    STARTED_PID=""
    CQL_RC_DEMO="" CQL_RC_DEF="" CQL_READY="" CQL_REJECTED_SINCE=""
    lock
    mkdir -p "$LOG_DIR"
    build_cqlping
    ensure_tls

    pid="$(server_pid || true)"
    stop_unless_reusable CASSANDRA_FRESH server "configuration (cassandra.yaml or TLS files)"
    # Fast path: already running, answering, and our login works, in
    # plaintext and over TLS.
    if [ -n "$pid" ] && [ -s "$PW_FILE" ] && port_open "$PORT" && cql_as_demo && cql_tls_as_demo; then
        log "already running (pid $pid) on $HOST:$PORT"
        emit_env
        return 0
    fi

    launch_unless_running CASSANDRA_FRESH server "cassandra-all-$VERSION.jar"
    : >>"$PROBE_LOG"
    if ! wait_ready "$pid" "$start" "a CQL login" 1 cql_login_probe; then
        show_log_tail
        if [ "${CQL_RC_DEMO:-1}" = 4 ] && [ "${CQL_RC_DEF:-1}" = 4 ]; then
            log "the server answers but rejects both $DEMO_USER (password in $PW_FILE) and cassandra/cassandra;"
            log "if the password file was lost, start over with CASSANDRA_FRESH=1"
        fi
        if [ -n "$STARTED_PID" ]; then
            stop_pid "$STARTED_PID" || true
        fi
        die "no CQL login on $HOST:$PORT after $((SECONDS - start))s"
    fi
    log "CQL login works after $((SECONDS - start))s (as $([ "$CQL_READY" = demo ] && echo "$DEMO_USER" || echo cassandra))"

    if [ "$CQL_READY" = default ]; then
        create_demo_role
        disable_default_role
    else
        rc_def=0
        cql_as_default || rc_def=$?
        if [ "$rc_def" -eq 0 ]; then
            log "the default login cassandra/cassandra works again: disabling it"
            disable_default_role
        fi
    fi
    check_tls
    log "ready in $((SECONDS - start))s: pid $pid, CQL on $HOST:$PORT (plaintext and TLS), user $DEMO_USER"
    emit_env
}

# check_tls: the demo-superuser login works over TLS too (a TLS context that
# fails to load shows only when a client connects).
check_tls() {
    local i
    for ((i = 0; i < 10; i++)); do
        if cql_tls_as_demo; then
            return 0
        fi
        sleep 0.5
    done
    grep -iE 'ssl|tls|certificate|keystore' "$SYSTEM_LOG" 2>/dev/null | tail -n 20 >&2 || true
    tail -n 5 "$PROBE_LOG" >&2 || true
    die "the plaintext login works but the TLS login (CA $TLS_CA, name localhost) fails; see $PROBE_LOG and $SYSTEM_LOG"
}

# is_up: running, port open, and the demo-superuser login works.
is_up() {
    local pid
    pid="$(server_pid)" || { log "not running"; return 1; }
    port_open "$PORT" || { log "running (pid $pid) but $HOST:$PORT does not answer"; return 1; }
    [ -s "$PW_FILE" ] || { log "running (pid $pid) but $PW_FILE is missing"; return 1; }
    [ -x "$CQLPING" ] || build_cqlping
    mkdir -p "$LOG_DIR"
    cql_as_demo || { log "running (pid $pid) but the $DEMO_USER login fails (see $PROBE_LOG)"; return 1; }
    [ -s "$TLS_CA" ] || { log "running (pid $pid) but $TLS_CA is missing"; return 1; }
    cql_tls_as_demo || { log "running (pid $pid) but the $DEMO_USER login over TLS fails (see $PROBE_LOG)"; return 1; }
    config_current || log "warning: running with another configuration than 'up' would write now: 'up' restarts it"
    log "running (pid $pid) on $HOST:$PORT (plaintext and TLS)"
}

cmd_status() {
    is_up
}

# cmd_info prints what runs: pid, heap (its -Xms/-Xmx), resident memory,
# address and work dir; exit 1 when no server runs.
cmd_info() { info_line ""; }

cmd_cqlsh_env() {
    is_up || die "not up: run '$0 up' first"
    emit_env
    printf 'export CQLSH_HOST=%q\n' "$HOST"
    printf 'export CQLSH_PORT=%q\n' "$PORT"
}

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

main() {
    [ $# -eq 1 ] || usage
    case "$1" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    cqlsh-env) cmd_cqlsh_env ;;
    info) cmd_info ;;
    -h | --help | help) usage ;;
    *) usage ;;
    esac
}

main "$@"
