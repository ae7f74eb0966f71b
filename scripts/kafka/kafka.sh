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

CACHE="${TOPSPEED_CACHE:-$HOME/.cache/topspeed}"
VERSION="$(sed -n 's:.*<kafka.version>\([^<]*\)</kafka.version>.*:\1:p' "$POM" | head -n 1)"
[ -n "$VERSION" ] || { echo "kafka.sh: no <kafka.version> in $POM" >&2; exit 1; }
JAR_DIR="$CACHE/kafka/$VERSION"
LIB="$JAR_DIR/lib"
STAMP="$JAR_DIR/lib.stamp"
KAFKAPING="$CACHE/kafka/bin/kafkaping"

WORK="${TOPSPEED_KAFKA_DIR:-$CACHE/kafka/run}"
CONF_DIR="$WORK/conf"
CONF="$CONF_DIR/server.properties"
DATA="$WORK/data"
LOG_DIR="$WORK/logs"
SERVER_LOG="$LOG_DIR/server.log"  # the broker's own log (slf4j-simple)
OUT_LOG="$LOG_DIR/stdout.log"     # the JVM's stdout and stderr, appended
SETUP_LOG="$LOG_DIR/setup.log"    # storage format
PROBE_LOG="$LOG_DIR/kafkaping.log"
PID_FILE="$WORK/kafka.pid"
CONFIG_STAMP="$WORK/config.sha256"
TLS_DIR="$WORK/tls"
TLS_CA="$TLS_DIR/ca.pem"
TLS_SERVER="$TLS_DIR/server.pem" # key, certificate, CA: the broker's PEM keystore
TLS_CLIENT_CERT="$TLS_DIR/client.pem"
TLS_CLIENT_KEY="$TLS_DIR/client-key.pem"
TLSGEN="$CACHE/kafka/bin/tlsgen" # built from scripts/cassandra/tlsgen when openssl is missing
PW_FILE="$WORK/sasl-password"
SCRAM_USER=topspeed

HOST=127.0.0.1
PORT="${KAFKA_PORT:-19092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
TLS_PORT="${KAFKA_TLS_PORT:-19094}"
SASL_PORT="${KAFKA_SASL_PORT:-19095}"
TLS_DAYS=1825 # server and client certificates; the CA: 3650
TLS_RENEW_DAYS=30
HEAP="${KAFKA_HEAP:-512m}"
HEAP_MIN="${KAFKA_HEAP_MIN:-128m}"
LOG_LEVEL="${KAFKA_LOG_LEVEL:-info}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
FRESH="${KAFKA_FRESH:-0}"
MAIN_CLASS=kafka.Kafka

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
# nocolor: drop terminal escape sequences; Debian's Maven 3.8 writes colour
# resets (ESC[0m) even in batch mode with colours off.
nocolor() { sed "s/$(printf '\033')\\[[0-9;]*[A-Za-z]//g"; }
die() { log "error: $*"; exit 1; }

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

# alive PID: the process exists. A zombie leader whose other threads are
# still exiting (they may hold its sockets) counts as alive; a lone zombie
# waiting to be reaped does not.
alive() {
    local state tasks
    kill -0 "$1" 2>/dev/null || return 1
    state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)"
    [ "$state" = Z ] || return 0
    tasks="$(find "/proc/$1/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
    [ "$tasks" -gt 1 ]
}

# ours PID: the process is the kafka.Kafka broker of this work dir (its
# main class followed by this work dir's server.properties).
ours() {
    local -a args=()
    # The process may exit at any moment: the braces make 2>/dev/null cover
    # the failing </proc/PID/cmdline redirection itself.
    { mapfile -d '' args <"/proc/$1/cmdline"; } 2>/dev/null || return 1
    local i n=${#args[@]}
    for ((i = 0; i + 1 < n; i++)); do
        if [ "${args[i]}" = "$MAIN_CLASS" ] && [ "${args[i + 1]}" = "$CONF" ]; then
            return 0
        fi
    done
    return 1
}

# server_pid prints the pid of this work dir's broker, if one runs: from the
# pid file, else (pid file lost) by looking for its command line.
server_pid() {
    local pid f
    if [ -s "$PID_FILE" ]; then
        # `status` takes no lock: a concurrent `down` may remove the file.
        pid="$(cat "$PID_FILE" 2>/dev/null || true)"
        if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" && ours "$pid"; then
            printf '%s\n' "$pid"
            return 0
        fi
    fi
    for f in /proc/[0-9]*; do
        pid="${f#/proc/}"
        [ "$pid" != "$$" ] || continue
        if ours "$pid" && alive "$pid"; then
            printf '%s\n' "$pid" >"$PID_FILE"
            printf '%s\n' "$pid"
            return 0
        fi
    done
    return 1
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null
}

# ---------------------------------------------------------------- tools

# java_version JAVA: its major version (17, 21, ...).
java_version() {
    "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'
}

pick_java() {
    local c v
    for c in "${KAFKA_JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk-* \
        /usr/lib/jvm/java-17-* /usr/lib/jvm/*-17-* "${JAVA_HOME:-}"; do
        if [ -z "$c" ] || [ ! -x "$c/bin/java" ]; then continue; fi
        v="$(java_version "$c/bin/java")"
        if [[ $v =~ ^[0-9]+$ ]] && ((v >= 17)); then
            JAVA="$c/bin/java"
            return 0
        fi
        [ -z "${KAFKA_JAVA_HOME:-}" ] || [ "$c" != "$KAFKA_JAVA_HOME" ] ||
            die "KAFKA_JAVA_HOME=$c is Java $v; the Kafka $VERSION broker needs Java 17 or later"
    done
    if command -v java >/dev/null; then
        v="$(java_version java)"
        if [[ $v =~ ^[0-9]+$ ]] && ((v >= 17)); then
            JAVA=java
            return 0
        fi
    fi
    die "no JDK 17 or later found (the Kafka $VERSION broker needs one); set KAFKA_JAVA_HOME"
}

# pom_hash prints the checksum of the pom without its comments (editing a
# comment does not fetch the jars again).
pom_hash() {
    perl -0pe 's/<!--.*?-->//gs' "$POM" | sha256sum | cut -d' ' -f1
}

# fetch_jars copies kafka_2.13, slf4j-simple and their runtime dependencies
# into $LIB once; the stamp (pom_hash) says the copy completed.
fetch_jars() {
    local want tmp start
    want="$(pom_hash)"
    if [ -d "$LIB" ] && [ -s "$STAMP" ] && [ "$(<"$STAMP")" = "$want" ]; then
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found: apt-get install maven"
    log "fetching Kafka $VERSION jars from Maven Central into $LIB"
    start=$SECONDS
    mkdir -p "$JAR_DIR"
    tmp="$(mktemp -d "$JAR_DIR/lib.tmp.XXXXXX")"
    # Batch mode without colours (and nocolor for what Maven writes anyway),
    # all on stderr: stdout is kept for the export lines.
    if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 | nocolor >&2; then
        rm -rf "$tmp"
        die "mvn dependency:copy-dependencies failed"
    fi
    compgen -G "$tmp/kafka_2.13-$VERSION.jar" >/dev/null || { rm -rf "$tmp"; die "kafka_2.13-$VERSION.jar missing after mvn"; }
    compgen -G "$tmp/slf4j-simple-*.jar" >/dev/null || { rm -rf "$tmp"; die "slf4j-simple missing after mvn"; }
    rm -rf "$LIB" "$STAMP"
    mv "$tmp" "$LIB"
    printf '%s\n' "$want" >"$STAMP"
    log "fetched $(find "$LIB" -name '*.jar' | wc -l) jars in $((SECONDS - start))s"
}

# build_kafkaping builds scripts/kafka/kafkaping when its source or go.sum
# changed.
build_kafkaping() {
    local src="$SCRIPT_DIR/kafkaping/main.go"
    if [ -x "$KAFKAPING" ] && [ "$KAFKAPING" -nt "$src" ] && [ "$KAFKAPING" -nt "$ROOT/go.sum" ]; then
        return 0
    fi
    command -v go >/dev/null || die "go not found: it builds scripts/kafka/kafkaping"
    mkdir -p "$(dirname "$KAFKAPING")"
    log "building kafkaping"
    (cd "$ROOT" && go build -o "$KAFKAPING.tmp" ./scripts/kafka/kafkaping) >&2 ||
        die "could not build scripts/kafka/kafkaping (is github.com/twmb/franz-go in go.mod?)"
    mv -f "$KAFKAPING.tmp" "$KAFKAPING"
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

# tls_files_ok: the TLS files are complete, chain to the CA and stay valid
# for TLS_RENEW_DAYS more days.
tls_files_ok() {
    local f
    for f in ca.pem ca-key.pem server.pem server-cert.pem client.pem client-key.pem; do
        [ -s "$TLS_DIR/$f" ] || return 1
    done
    if command -v openssl >/dev/null; then
        for f in ca.pem server-cert.pem client.pem; do
            openssl x509 -noout -checkend $((TLS_RENEW_DAYS * 86400)) -in "$TLS_DIR/$f" >/dev/null 2>&1 || return 1
        done
        openssl verify -CAfile "$TLS_CA" -purpose sslserver "$TLS_DIR/server-cert.pem" >/dev/null 2>&1 &&
            openssl verify -CAfile "$TLS_CA" -purpose sslclient "$TLS_CLIENT_CERT" >/dev/null 2>&1
    else
        build_tlsgen
        "$TLSGEN" -check "$TLS_DIR" -min-days "$TLS_RENEW_DAYS" 2>/dev/null
    fi
}

# build_tlsgen builds scripts/cassandra/tlsgen (the same files as
# tls_openssl, for hosts without openssl) into $TLSGEN when needed.
build_tlsgen() {
    local src="$ROOT/scripts/cassandra/tlsgen/main.go"
    if [ -x "$TLSGEN" ] && [ "$TLSGEN" -nt "$src" ] && [ "$TLSGEN" -nt "$ROOT/go.sum" ]; then
        return 0
    fi
    command -v go >/dev/null || die "neither openssl nor go found: one of them makes the TLS certificates"
    mkdir -p "$(dirname "$TLSGEN")"
    log "building tlsgen (openssl is missing)"
    (cd "$ROOT" && go build -o "$TLSGEN.tmp" ./scripts/cassandra/tlsgen) >&2 ||
        die "could not build scripts/cassandra/tlsgen"
    mv -f "$TLSGEN.tmp" "$TLSGEN"
}

# tls_openssl DIR: write the TLS files into DIR with openssl, the same files
# as scripts/cassandra/tlsgen writes (see there): ECDSA P-256 keys in PKCS#8
# PEM, which Kafka's PEM keystore reads (unencrypted, so without
# ssl.key.password).
tls_openssl() {
    local d="$1" name
    cat >"$d/openssl.cnf" <<'EOF_CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ext_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ext_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ext_client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF_CNF
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/ca-key.pem" &&
        openssl req -config "$d/openssl.cnf" -x509 -new -key "$d/ca-key.pem" -sha256 -days 3650 \
            -subj "/O=topspeed dev/CN=topspeed dev Kafka CA" -extensions ext_ca -out "$d/ca.pem" || return 1
    for name in server client; do
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/$name-key.pem" &&
            openssl req -config "$d/openssl.cnf" -new -key "$d/$name-key.pem" \
                -subj "/O=topspeed dev/CN=$([ "$name" = server ] && echo localhost || echo topspeed-dev-client)" \
                -out "$d/$name.csr" &&
            openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" \
                -set_serial "0x$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" -days "$TLS_DAYS" -sha256 \
                -extfile "$d/openssl.cnf" -extensions "ext_$name" -out "$d/$name-cert.pem" || return 1
    done
    cat "$d/server-key.pem" "$d/server-cert.pem" "$d/ca.pem" >"$d/server.pem"
    mv -f "$d/client-cert.pem" "$d/client.pem"
    rm -f "$d/server-key.pem" "$d"/*.csr "$d/openssl.cnf"
}

# ensure_tls: generate the CA and the certificates once, into $TLS_DIR; again
# only when they are incomplete or about to expire (new files change the
# configuration checksum, so `up` then restarts the broker). The directory is
# built aside and renamed into place.
ensure_tls() {
    local tmp
    if tls_files_ok; then
        return 0
    fi
    [ ! -e "$TLS_DIR" ] || log "TLS files in $TLS_DIR are incomplete or expire within $TLS_RENEW_DAYS days: generating new ones"
    mkdir -p "$WORK"
    tmp="$(mktemp -d "$WORK/tls.tmp.XXXXXX")"
    if command -v openssl >/dev/null; then
        (umask 077 && tls_openssl "$tmp") >/dev/null 2>"$tmp.err" || {
            cat "$tmp.err" >&2
            rm -rf "$tmp" "$tmp.err"
            die "openssl could not generate the TLS files"
        }
        rm -f "$tmp.err"
        log "generated a CA and server and client certificates with openssl in $TLS_DIR"
    else
        build_tlsgen
        (umask 077 && "$TLSGEN" -dir "$tmp" -days "$TLS_DAYS") || { rm -rf "$tmp"; die "tlsgen failed"; }
        log "generated a CA and server and client certificates with tlsgen in $TLS_DIR"
    fi
    chmod 755 "$tmp"
    chmod 644 "$tmp/ca.pem" "$tmp/server-cert.pem" "$tmp/client.pem"
    chmod 600 "$tmp/ca-key.pem" "$tmp/server.pem" "$tmp/client-key.pem"
    rm -rf "$TLS_DIR.old"
    [ ! -e "$TLS_DIR" ] || mv -f "$TLS_DIR" "$TLS_DIR.old"
    mv "$tmp" "$TLS_DIR"
    rm -rf "$TLS_DIR.old"
}

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
    local p i
    for p in "$PORT" "$CONTROLLER_PORT" "$TLS_PORT" "$SASL_PORT"; do
        for ((i = 0; i < 10; i++)); do # a broker just stopped may still be closing
            port_open "$p" || break
            sleep 0.5
        done
        ! port_open "$p" || die "port $HOST:$p is taken by another process (set KAFKA_PORT / KAFKA_CONTROLLER_PORT / KAFKA_TLS_PORT / KAFKA_SASL_PORT)"
    done
    pick_java
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
    (
        cd "$WORK"
        # Close every inherited descriptor but 0-2 (the lock, make's jobserver,
        # a $(...) pipe): the broker must hold none of them.
        for fd in /proc/"$BASHPID"/fd/*; do
            fd="${fd##*/}"
            if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
        done
        # Survive the end of the calling terminal or make, and a Ctrl-C
        # meant for make: a session (and process group) of its own. This
        # subshell is no group leader (no job control in a script), so
        # setsid execs in place and $! is the broker's pid.
        trap '' HUP
        exec setsid "$JAVA" "${JVM_OPTS[@]}" -cp "$LIB/*" "$MAIN_CLASS" "$CONF" \
            </dev/null >>"$OUT_LOG" 2>&1
    ) &
    STARTED_PID="$!"
    printf '%s\n' "$STARTED_PID" >"$PID_FILE"
}

# stop_pid PID: SIGTERM (Kafka shuts down cleanly in a second or two), then
# SIGKILL to its process group after $STOP_TIMEOUT seconds.
stop_pid() {
    local pid="$1" i
    log "stopping Kafka (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 4; i++)); do
        alive "$pid" || break
        sleep 0.25
    done
    if alive "$pid"; then
        log "still running after ${STOP_TIMEOUT}s: SIGKILL"
        # Its own process group (setsid at launch): kill the whole group.
        if [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then
            kill -KILL -- "-$pid" 2>/dev/null || true
        else
            kill -KILL "$pid" 2>/dev/null || true
        fi
        for ((i = 0; i < 40; i++)); do
            alive "$pid" || break
            sleep 0.25
        done
    fi
    alive "$pid" && die "pid $pid would not die"
    rm -f "$PID_FILE"
}

show_log_tail() {
    local f
    for f in "$SERVER_LOG" "$OUT_LOG" "$PROBE_LOG"; do
        if [ -s "$f" ]; then
            log "last 30 lines of $f:"
            tail -n 30 "$f" >&2
        fi
    done
}

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

# config_current: the running broker was started with the server.properties
# `up` would write now (see config_hash).
config_current() {
    [ -s "$CONFIG_STAMP" ] && [ "$(<"$CONFIG_STAMP")" = "$(config_hash)" ]
}

lock() {
    mkdir -p "$WORK"
    exec 9>"$WORK/.lock"
    if command -v flock >/dev/null; then
        flock -w 600 9 || die "another kafka.sh holds $WORK/.lock"
    fi
}

# wait_ready PID START: wait until the broker answers a metadata request;
# die (stopping a broker this call started) if it exits or times out.
wait_ready() {
    local pid="$1" start="$2" last=$SECONDS
    log "waiting up to ${START_TIMEOUT}s for a metadata answer on $HOST:$PORT"
    while :; do
        if ! alive "$pid"; then
            show_log_tail
            rm -f "$PID_FILE"
            die "Kafka exited during start-up"
        fi
        if port_open "$PORT" && ping 5s; then
            return 0
        fi
        if ((SECONDS - start >= START_TIMEOUT)); then
            show_log_tail
            if [ -n "$STARTED_PID" ]; then
                stop_pid "$STARTED_PID" || true
            fi
            die "no metadata answer on $HOST:$PORT after $((SECONDS - start))s"
        fi
        if ((SECONDS - last >= 10)); then
            log "still waiting ($((SECONDS - start))s of ${START_TIMEOUT}s)"
            last=$SECONDS
        fi
        sleep 0.5
    done
}

cmd_up() {
    local pid="" start
    STARTED_PID=""
    lock
    mkdir -p "$LOG_DIR"
    build_kafkaping
    ensure_tls
    ensure_password

    pid="$(server_pid || true)"
    if [ -n "$pid" ] && [ "$FRESH" = 1 ]; then
        log "KAFKA_FRESH=1: restarting with empty data"
        stop_pid "$pid"
        pid=""
    fi
    if [ -n "$pid" ] && ! config_current; then
        log "the running broker (pid $pid) was started with another server.properties: restarting it"
        stop_pid "$pid"
        pid=""
    fi
    # Fast path: already running and answering, on every listener.
    if [ -n "$pid" ] && port_open "$PORT" && ping 5s && secure_ready; then
        log "already running (pid $pid) on $HOST:$PORT, SSL $TLS_PORT, SASL_SSL $SASL_PORT"
        emit_env
        return 0
    fi

    if [ -z "$pid" ]; then
        if [ "$FRESH" = 1 ] && [ -d "$DATA" ]; then
            log "KAFKA_FRESH=1: wiping $DATA"
            rm -rf "$DATA"
        fi
        fetch_jars
        start=$SECONDS
        launch
        pid="$STARTED_PID"
    else
        start=$SECONDS
        log "broker already running (pid $pid): waiting for it to answer"
    fi
    wait_ready "$pid" "$start"
    if ! secure_ready; then
        show_log_tail
        [ -z "$STARTED_PID" ] || stop_pid "$STARTED_PID" || true
        die "the SSL or SASL_SSL listener is not ready"
    fi
    log "ready in $((SECONDS - start))s: pid $pid, Kafka $VERSION on $HOST:$PORT (log $SERVER_LOG)"
    emit_env
}

cmd_down() {
    local pid
    lock
    pid="$(server_pid || true)"
    if [ -z "$pid" ]; then
        rm -f "$PID_FILE"
        log "not running"
        return 0
    fi
    stop_pid "$pid"
    log "stopped"
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
# address and work dir; exit 1 when no broker runs.
cmd_info() {
    local pid a xms="" xmx="" rss=""
    local -a args=()
    pid="$(server_pid)" || { log "not running"; return 1; }
    { mapfile -d '' args <"/proc/$pid/cmdline"; } 2>/dev/null || true
    for a in "${args[@]}"; do
        case "$a" in
        -Xms*) xms="${a#-Xms}" ;;
        -Xmx*) xmx="${a#-Xmx}" ;;
        esac
    done
    rss="$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null || true)"
    printf 'Kafka %s (pid %s, heap %s..%s, resident %s MiB) on %s:%s (SSL %s, SASL_SSL %s), data in %s\n' \
        "$VERSION" "$pid" "${xms:-?}" "${xmx:-?}" "$((${rss:-0} / 1024))" "$HOST" "$PORT" "$TLS_PORT" "$SASL_PORT" "$WORK"
}

# cmd_fetch: the downloads and builds of `up`, without starting anything;
# make test runs it before starting Kafka and Cassandra in parallel, so two
# mvn runs never fill the same empty ~/.m2 at once.
cmd_fetch() {
    lock
    fetch_jars
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
