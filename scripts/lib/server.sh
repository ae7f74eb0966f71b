# shellcheck shell=bash disable=SC2034 # JAVA, STARTED_PID, ...: set for the sourcing script
# Shared functions of the local dev servers' scripts
# (scripts/cassandra/cassandra.sh, scripts/kafka/kafka.sh): process
# handling, start-up waits, stopping, Maven jar fetching, Go helper builds,
# the dev TLS material and the info line. Sourced, never run; it defines
# functions only and runs nothing.
#
# The sourcing script sets these (read when a function runs, not when this
# file is sourced):
#   SERVER_NAME      what log lines call the server: Cassandra, Kafka
#   SERVER_SCRIPT    the log prefix and lock holder: cassandra.sh, kafka.sh
#   ROOT POM         the repository and the server's pom.xml
#   PORT START_TIMEOUT STOP_TIMEOUT
#   TLS_CA_NAME      the CN of a newly generated CA
#   and the paths server_layout sets (it calls server_layout);
# and defines these, which the functions here call:
#   ours PID         the process is this work dir's server
#   config_hash      checksum of the configuration a start now would get
#   show_log_tail    print the server's last log lines to stderr
#
# Every function here runs in the calling script's shell and writes to
# stderr only (stdout carries the export lines of `up`), except those that
# say what they print. None is safe to run concurrently on one work dir
# unless the caller holds the lock (see lock).

# server_layout NAME DIR_VAR: set the paths every server has. NAME is the
# lower-case name (cassandra, kafka), DIR_VAR the variable that may name
# the work dir (TOPSPEED_CASSANDRA_DIR, ...). Sets HOST (127.0.0.1), CACHE,
# VERSION (the <NAME.version> of $POM), JAR_DIR, LIB and STAMP (the jars
# under $CACHE/NAME/VERSION), TLSGEN (under $CACHE/NAME/bin), WORK (default
# $CACHE/NAME/run) with CONF_DIR, DATA, LOG_DIR, OUT_LOG (the JVM's output),
# PID_FILE (NAME.pid), CONFIG_STAMP, and the TLS files TLS_DIR, TLS_CA,
# TLS_SERVER (key, certificate and CA: the server's PEM keystore),
# TLS_CLIENT_CERT, TLS_CLIENT_KEY, TLS_DAYS, TLS_RENEW_DAYS.
server_layout() {
    local name="$1" dir_var="$2"
    HOST=127.0.0.1
    CACHE="${TOPSPEED_CACHE:-$HOME/.cache/topspeed}"
    VERSION="$(sed -n "s:.*<$name.version>\\([^<]*\\)</$name.version>.*:\\1:p" "$POM" | head -n 1)"
    [ -n "$VERSION" ] || { log "no <$name.version> in $POM"; exit 1; }
    JAR_DIR="$CACHE/$name/$VERSION"
    LIB="$JAR_DIR/lib"
    STAMP="$JAR_DIR/lib.stamp"
    TLSGEN="$CACHE/$name/bin/tlsgen" # built from scripts/cassandra/tlsgen when openssl is missing
    WORK="${!dir_var:-$CACHE/$name/run}"
    CONF_DIR="$WORK/conf"
    DATA="$WORK/data"
    LOG_DIR="$WORK/logs"
    OUT_LOG="$LOG_DIR/stdout.log" # the JVM's stdout and stderr, appended
    PID_FILE="$WORK/$name.pid"
    CONFIG_STAMP="$WORK/config.sha256"
    TLS_DIR="$WORK/tls"
    TLS_CA="$TLS_DIR/ca.pem"
    TLS_SERVER="$TLS_DIR/server.pem"
    TLS_CLIENT_CERT="$TLS_DIR/client.pem"
    TLS_CLIENT_KEY="$TLS_DIR/client-key.pem"
    TLS_DAYS=1825 # server and client certificates; the CA: 3650
    TLS_RENEW_DAYS=30
}

log() { printf '%s: %s\n' "$SERVER_SCRIPT" "$*" >&2; }
# nocolor: drop terminal escape sequences; Debian's Maven 3.8 writes colour
# resets (ESC[0m) even in batch mode with colours off.
nocolor() { sed "s/$(printf '\033')\\[[0-9;]*[A-Za-z]//g"; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- processes

# alive PID: the process exists. A zombie leader whose other threads are
# still exiting (they may hold its sockets) counts as alive; a lone zombie
# waiting to be reaped does not.
alive() {
    local state tasks
    kill -0 "$1" 2>/dev/null || return 1
    state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)"
    # No state: reaped since kill -0 (or /proc unreadable): ask again.
    [ -n "$state" ] || { kill -0 "$1" 2>/dev/null; return; }
    [ "$state" = Z ] || return 0
    tasks="$(find "/proc/$1/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
    [ "$tasks" -gt 1 ]
}

# cmdline_args PID: the process's arguments into the array ARGS (empty when
# it is gone); returns 1 when /proc/PID/cmdline cannot be read.
cmdline_args() {
    ARGS=()
    # The process may exit at any moment: the braces make 2>/dev/null cover
    # the failing </proc/PID/cmdline redirection itself.
    { mapfile -d '' ARGS <"/proc/$1/cmdline"; } 2>/dev/null
}

# server_pid prints the pid of this work dir's server, if one runs: from the
# pid file, else (pid file lost) by looking for its command line, which it
# then writes back to the pid file.
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

# port_open PORT: something accepts TCP connections on $HOST:PORT.
port_open() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null
}

# ports_free HINT PORT...: wait up to 5 s per port for a server just
# stopped to close it; die (HINT names the settings) if one stays taken.
ports_free() {
    local hint="$1" p i
    shift
    for p in "$@"; do
        for ((i = 0; i < 10; i++)); do
            port_open "$p" || break
            sleep 0.5
        done
        ! port_open "$p" || die "port $HOST:$p is taken by another process (set $hint)"
    done
}

# spawn_server CMD...: start CMD in $WORK in the background as the server,
# detached from the caller: no inherited descriptor but 0-2, SIGHUP ignored,
# stdin /dev/null, stdout and stderr appended to $OUT_LOG. If the script
# defines spawn_prepare, it runs in the child first and may set the array
# SPAWN_PREFIX (put before CMD). Sets STARTED_PID and writes the pid file.
spawn_server() {
    (
        cd "$WORK" || exit 1
        # Close every inherited descriptor but 0-2 (the lock, make's jobserver,
        # a $(...) pipe): the server must hold none of them.
        for fd in /proc/"$BASHPID"/fd/*; do
            fd="${fd##*/}"
            if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
        done
        # Survive the end of the calling terminal or make.
        trap '' HUP
        SPAWN_PREFIX=()
        if declare -F spawn_prepare >/dev/null; then spawn_prepare; fi
        exec "${SPAWN_PREFIX[@]}" "$@" </dev/null >>"$OUT_LOG" 2>&1
    ) &
    STARTED_PID="$!"
    printf '%s\n' "$STARTED_PID" >"$PID_FILE"
}

# wait_gone PID TRIES: poll every 0.25 s, at most TRIES times, until PID is
# no longer alive; returns 1 if it still is.
wait_gone() {
    local i
    for ((i = 0; i < $2; i++)); do
        alive "$1" || return 0
        sleep 0.25
    done
    ! alive "$1"
}

# stop_pid PID: SIGTERM, then after $STOP_TIMEOUT seconds SIGKILL, to the
# whole process group when PID leads one (a server started with setsid),
# else to PID alone; removes the pid file. Dies if PID will not die.
stop_pid() {
    local pid="$1"
    log "stopping $SERVER_NAME (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" $((STOP_TIMEOUT * 4)); then
        log "still running after ${STOP_TIMEOUT}s: SIGKILL"
        if [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ]; then
            kill -KILL -- "-$pid" 2>/dev/null || true
        else
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait_gone "$pid" 40 || die "pid $pid would not die"
    fi
    rm -f "$PID_FILE"
}

# tail_logs N FILE...: the last N lines of each non-empty FILE, on stderr.
tail_logs() {
    local n="$1" f
    shift
    for f in "$@"; do
        if [ -s "$f" ]; then
            log "last $n lines of $f:"
            tail -n "$n" "$f" >&2
        fi
    done
}

# wait_ready PID START WHAT INTERVAL PROBE: run PROBE every INTERVAL seconds
# until it returns 0 (then return 0), returns 2 (give up: return 1), or
# START_TIMEOUT seconds have passed since START (return 1). WHAT names the
# awaited answer in progress lines. Dies (removing the pid file) if PID
# exits meanwhile.
wait_ready() {
    local pid="$1" start="$2" what="$3" interval="$4" probe="$5" last=$SECONDS rc
    log "waiting up to ${START_TIMEOUT}s for $what on $HOST:$PORT"
    while :; do
        if ! alive "$pid"; then
            show_log_tail
            rm -f "$PID_FILE"
            die "$SERVER_NAME exited during start-up"
        fi
        rc=0
        "$probe" || rc=$?
        [ "$rc" != 0 ] || return 0
        [ "$rc" != 2 ] || return 1
        ((SECONDS - start < START_TIMEOUT)) || return 1
        if ((SECONDS - last >= 10)); then
            log "still waiting ($((SECONDS - start))s of ${START_TIMEOUT}s)"
            last=$SECONDS
        fi
        sleep "$interval"
    done
}

# config_current: the running server was started with the configuration
# `up` would write now (see config_hash).
config_current() {
    [ -s "$CONFIG_STAMP" ] && [ "$(<"$CONFIG_STAMP")" = "$(config_hash)" ]
}

# lock: hold $WORK/.lock (fd 9) until the script exits; waits up to 10 min.
lock() {
    mkdir -p "$WORK"
    exec 9>"$WORK/.lock"
    if command -v flock >/dev/null; then
        flock -w 600 9 || die "another $SERVER_SCRIPT holds $WORK/.lock"
    fi
}

# stop_unless_reusable PID FRESH_VAR NOUN CONFIG_WHAT: stop the running
# server PID (and clear PID) if FRESH_VAR (CASSANDRA_FRESH, ...) is 1 or
# its configuration is not current. NOUN (server, broker) and CONFIG_WHAT
# (what its configuration is) word the log line. Reads and sets the
# caller's variable pid.
stop_unless_reusable() {
    local fresh_var="$1" noun="$2" config_what="$3"
    if [ -n "$pid" ] && [ "${!fresh_var:-0}" = 1 ]; then
        log "$fresh_var=1: restarting with empty data"
        stop_pid "$pid"
        pid=""
    fi
    if [ -n "$pid" ] && ! config_current; then
        log "the running $noun (pid $pid) was started with another $config_what: restarting it"
        stop_pid "$pid"
        pid=""
    fi
}

# launch_unless_running FRESH_VAR NOUN REQUIRED...: with no server running
# (the caller's pid empty), wipe $DATA if FRESH_VAR is 1, fetch the jars
# (fetch_jars REQUIRED...) and call launch, setting pid to the new server;
# else say the running NOUN is awaited. Sets the caller's start to the time
# the wait for readiness begins.
launch_unless_running() {
    local fresh_var="$1" noun="$2"
    shift 2
    if [ -z "$pid" ]; then
        if [ "${!fresh_var:-0}" = 1 ] && [ -d "$DATA" ]; then
            log "$fresh_var=1: wiping $DATA"
            rm -rf "$DATA"
        fi
        fetch_jars "$@"
        start=$SECONDS
        launch
        pid="$STARTED_PID"
    else
        start=$SECONDS
        log "$noun already running (pid $pid): waiting for it to answer"
    fi
}

# info_line EXTRA: print "NAME VERSION (pid P, heap XMS..XMX, resident R
# MiB) on HOST:PORT", then " EXTRA" unless EXTRA is empty, then ", data in
# WORK"; return 1 (logging "not running") when no server runs.
info_line() {
    local pid a xms="" xmx="" rss=""
    pid="$(server_pid)" || { log "not running"; return 1; }
    cmdline_args "$pid" || true
    for a in "${ARGS[@]}"; do
        case "$a" in
        -Xms*) xms="${a#-Xms}" ;;
        -Xmx*) xmx="${a#-Xmx}" ;;
        esac
    done
    rss="$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null || true)"
    printf '%s %s (pid %s, heap %s..%s, resident %s MiB) on %s:%s%s, data in %s\n' \
        "$SERVER_NAME" "$VERSION" "$pid" "${xms:-?}" "${xmx:-?}" "$((${rss:-0} / 1024))" "$HOST" "$PORT" "${1:+ $1}" "$WORK"
}

# ---------------------------------------------------------------- tools

# java_major JAVA prints its major version (11, 17, 21, ...).
java_major() {
    "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'
}

# pick_java ACCEPT OVERRIDE NEEDS NONE CANDIDATE...: set JAVA to the java of
# the first CANDIDATE JDK home (empty ones skipped), else of the PATH,
# whose major version ACCEPT (a function) takes. The JDK named by the
# variable OVERRIDE (CASSANDRA_JAVA_HOME, ...) must be acceptable: die
# "OVERRIDE=home is Java v; NEEDS" otherwise; die NONE if none is.
pick_java() {
    local accept="$1" override="$2" needs="$3" none="$4" c v
    shift 4
    for c in "$@"; do
        if [ -z "$c" ] || [ ! -x "$c/bin/java" ]; then continue; fi
        v="$(java_major "$c/bin/java")"
        if "$accept" "$v"; then
            JAVA="$c/bin/java"
            return 0
        fi
        [ -z "${!override:-}" ] || [ "$c" != "${!override}" ] || die "$override=$c is Java $v; $needs"
    done
    if command -v java >/dev/null; then
        v="$(java_major java)"
        if "$accept" "$v"; then
            JAVA=java
            return 0
        fi
    fi
    die "$none"
}

# pom_hash prints the checksum of the pom without its comments (editing a
# comment does not fetch the jars again).
pom_hash() {
    perl -0pe 's/<!--.*?-->//gs' "$POM" | sha256sum | cut -d' ' -f1
}

# fetch_jars REQUIRED...: copy the pom's runtime dependencies into $LIB
# once; the stamp (pom_hash) says the copy completed. Each REQUIRED is a
# jar file glob that must match after mvn, or LABEL=GLOB to name it LABEL
# in the error.
fetch_jars() {
    local want tmp start r
    want="$(pom_hash)"
    if [ -d "$LIB" ] && [ -s "$STAMP" ] && [ "$(<"$STAMP")" = "$want" ]; then
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found: apt-get install maven"
    log "fetching $SERVER_NAME $VERSION jars from Maven Central into $LIB"
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
    for r in "$@"; do
        compgen -G "$tmp/${r#*=}" >/dev/null || { rm -rf "$tmp"; die "${r%%=*} missing after mvn"; }
    done
    rm -rf "$LIB" "$STAMP"
    mv "$tmp" "$LIB"
    printf '%s\n' "$want" >"$STAMP"
    log "fetched $(find "$LIB" -name '*.jar' | wc -l) jars in $((SECONDS - start))s"
}

# build_go_tool PKG BINARY [NOGO BUILDING FAILED]: build the command PKG
# (a directory under $ROOT) into BINARY when its main.go or go.sum is newer.
# The optional messages replace "go not found: it builds PKG", "building
# NAME" and "could not build PKG".
build_go_tool() {
    local pkg="$1" bin="$2"
    if [ -x "$bin" ] && [ "$bin" -nt "$ROOT/$pkg/main.go" ] && [ "$bin" -nt "$ROOT/go.sum" ]; then
        return 0
    fi
    command -v go >/dev/null || die "${3:-go not found: it builds $pkg}"
    mkdir -p "$(dirname "$bin")"
    log "${4:-building ${pkg##*/}}"
    (cd "$ROOT" && go build -o "$bin.tmp" "./$pkg") >&2 || die "${5:-could not build $pkg}"
    mv -f "$bin.tmp" "$bin"
}

# ---------------------------------------------------------------- TLS

# build_tlsgen builds scripts/cassandra/tlsgen (the same files as
# tls_openssl, for hosts without openssl) into $TLSGEN when needed.
build_tlsgen() {
    build_go_tool scripts/cassandra/tlsgen "$TLSGEN" \
        "neither openssl nor go found: one of them makes the TLS certificates" \
        "building tlsgen (openssl is missing)"
}

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

# tls_openssl DIR: write the TLS files into DIR with openssl, the same files
# as scripts/cassandra/tlsgen writes (see there): ECDSA P-256 keys in
# unencrypted PKCS#8 PEM, which Cassandra's PEMBasedSslContextFactory and
# Kafka's PEM keystore read. The CA is named $TLS_CA_NAME.
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
            -subj "/O=topspeed dev/CN=$TLS_CA_NAME" -extensions ext_ca -out "$d/ca.pem" || return 1
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
# configuration checksum, so `up` then restarts the server). The directory
# is built aside and renamed into place.
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

# ---------------------------------------------------------------- commands

# cmd_down: stop the server of this work dir (see stop_pid); idempotent.
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
