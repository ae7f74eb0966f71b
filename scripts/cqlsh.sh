#!/usr/bin/env bash
# cqlsh from PyPI, installed once into a cached virtualenv, run against the
# local server with the credentials of `cassandra.sh up` kept in files: the
# password never appears in process arguments.
#   scripts/cqlsh.sh -e "SELECT count(*) FROM example.topspeeds"
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${TOPSPEED_CACHE:-$HOME/.cache/topspeed}"
venv="$cache/cqlsh-6.2.2"
log() { printf 'cqlsh.sh: %s\n' "$*" >&2; }

if [ ! -x "$venv/bin/cqlsh" ]; then
    log "installing cqlsh 6.2.2 from PyPI into $venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'cqlsh==6.2.2' >&2
fi

if [ -z "${CASSANDRA_HOSTS:-}" ]; then
    eval "$(bash "$here/cassandra/cassandra.sh" up)"
fi
hostport="${CASSANDRA_HOSTS%%,*}"
host="${hostport%:*}"
port="${hostport##*:}"
[ "$port" != "$hostport" ] || port="${CASSANDRA_PORT:-9042}"

rcdir="$(mktemp -d)"
trap 'rm -rf "$rcdir"' EXIT
chmod 700 "$rcdir"
pw="${CASSANDRA_PASSWORD:-}"
if [ -z "$pw" ] && [ -n "${CASSANDRA_PASSWORD_FILE:-}" ]; then
    pw="$(<"$CASSANDRA_PASSWORD_FILE")"
fi
umask 077
cat >"$rcdir/credentials" <<CRED
[PlainTextAuthProvider]
username = ${CASSANDRA_USERNAME:-cassandra}
password = $pw
CRED
cat >"$rcdir/cqlshrc" <<RC
[authentication]
credentials = $rcdir/credentials
[connection]
hostname = $host
port = $port
RC
unset pw
"$venv/bin/cqlsh" --cqlshrc "$rcdir/cqlshrc" "$@"
