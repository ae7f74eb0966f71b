#!/usr/bin/env bash
# A local HA cluster in one command: three topspeed replicas on loopback,
# electing a leader with raft, sharing one checkpoint directory.
#
#   scripts/ha-local.sh up       start the replicas that are not running
#                                (idempotent: a running replica is left alone,
#                                so this also restarts a killed one)
#   scripts/ha-local.sh down     SIGTERM every replica at once, wait, SIGKILL
#                                what is left after a bound
#   scripts/ha-local.sh status   each replica's role, term, leader and last
#                                committed checkpoint
#
# make ha-local (builds bin/topspeed first), make ha-local-down and
# make ha-local-status call it.
#
# Everything lives under $TOPSPEED_HA_LOCAL (default /tmp/topspeed-ha-local):
#   checkpoints/      the shared --checkpoint-dir (what a RWX volume is in k8s)
#   results/          the shared --output: part files, published exactly once
#                     when their checkpoint commits, whichever replica leads
#   r<i>/raft/        replica i's own --ha-dir (raft log and snapshots)
#   r<i>/topspeed.log replica i's logs
#   r<i>/pid          its process id; r<i>/cmd: the command that starts it
#   tls/              raft's mutual TLS: ca.pem and server.pem (key, certificate
#                     for 127.0.0.1 with server and client auth, CA), written
#                     once by scripts/cassandra/tlsgen (go run); every replica
#                     gets --ha-tls-ca tls/ca.pem --ha-tls-cert/--ha-tls-key
#                     tls/server.pem
#
# Replica i (0..2) listens for raft on 127.0.0.1:$((7111+i)) and serves
# /metrics, /readyz and /api/v1/status on 127.0.0.1:$((9251+i)). The input
# is the built-in generator: 5 cars, 10 reports per second each.
#
# Environment:
#   TOPSPEED_HA_LOCAL            state directory (default /tmp/topspeed-ha-local)
#   TOPSPEED_BIN                 the binary (default bin/topspeed)
#   TOPSPEED_HA_LOCAL_RAFT_PORT  raft port of r0 (default 7111; r1, r2 follow)
#   TOPSPEED_HA_LOCAL_HTTP_PORT  ops port of r0 (default 9251; r1, r2 follow)
#   TOPSPEED_HA_LOCAL_ARGS       extra flags for every replica, e.g. "--cars 50"
#   TOPSPEED_HA_LOCAL_STOP_WAIT  seconds down waits before SIGKILL (default 40;
#                                the replicas' --stop-timeout is 20s)
#
# The replicas run in their own session (setsid): they outlive the shell that
# started them and only "down" (or a kill) stops them. They do not inherit
# TOPSPEED_* or CASSANDRA_* variables; pass flags in TOPSPEED_HA_LOCAL_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="${TOPSPEED_HA_LOCAL:-/tmp/topspeed-ha-local}"
BIN="${TOPSPEED_BIN:-$PWD/bin/topspeed}"
RAFT_PORT="${TOPSPEED_HA_LOCAL_RAFT_PORT:-7111}"
HTTP_PORT="${TOPSPEED_HA_LOCAL_HTTP_PORT:-9251}"
STOP_WAIT="${TOPSPEED_HA_LOCAL_STOP_WAIT:-40}"
N=3

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

peers() {
	local i out=""
	for ((i = 0; i < N; i++)); do
		out+="${out:+,}r$i=127.0.0.1:$((RAFT_PORT + i))"
	done
	echo "$out"
}

status_url() { echo "http://127.0.0.1:$((HTTP_PORT + $1))/api/v1/status"; }

# pid_of i: replica i's pid if that process runs and is this cluster's
# replica i (a recycled pid is not), else nothing.
pid_of() {
	local f="$DIR/r$1/pid" pid
	[[ -f $f ]] || return 0
	pid="$(cat "$f" 2>/dev/null)" || return 0
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	# The process may exit at any moment: the braces make 2>/dev/null cover
	# the </proc/PID/cmdline redirection itself.
	if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "--ha-dir $DIR/r$1/raft "; then
		echo "$pid"
	fi
}

# tls_files: raft's certificates, generated once (renewed when they expire
# within 30 days).
tls_files() {
	if [[ -f $DIR/tls/ca.pem ]] && go run ./scripts/cassandra/tlsgen -check "$DIR/tls" >/dev/null 2>&1; then
		return 0
	fi
	mkdir -p "$DIR/tls"
	if ! go run ./scripts/cassandra/tlsgen -dir "$DIR/tls"; then
		echo "ha-local: cannot generate raft's TLS certificates into $DIR/tls (needs go)" >&2
		return 1
	fi
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# get URL: the body, or nothing if the replica does not answer.
get() { curl -fsS --max-time 2 "$1" 2>/dev/null || true; }

# field JSON KEY: a top-level string or number field, without jq.
field() { sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" <<<"$1" | head -1; }

start_one() {
	local i=$1 rp=$((RAFT_PORT + $1)) hp=$((HTTP_PORT + $1))
	local rdir="$DIR/r$i"
	for p in "$rp" "$hp"; do
		if port_busy "$p"; then
			echo "ha-local: r$i: port $p on 127.0.0.1 is in use by another process; set TOPSPEED_HA_LOCAL_RAFT_PORT / TOPSPEED_HA_LOCAL_HTTP_PORT" >&2
			return 1
		fi
	done
	mkdir -p "$rdir"
	# shellcheck disable=SC2206 # word splitting of the extra flags is wanted
	local args=(--ha-id "r$i" --ha-bind "127.0.0.1:$rp" --ha-peers "$(peers)"
		--ha-dir "$rdir/raft" --checkpoint-dir "$DIR/checkpoints" --checkpoint-interval 2s
		--output "$DIR/results" --cars 5 --rate 50 --parallelism 2
		--http-addr "127.0.0.1:$hp" --stop-timeout 20s
		--ha-tls-ca "$DIR/tls/ca.pem" --ha-tls-cert "$DIR/tls/server.pem" --ha-tls-key "$DIR/tls/server.pem"
		${TOPSPEED_HA_LOCAL_ARGS:-})
	# The command that starts this replica by hand, printed for the drill.
	printf '%q ' setsid nohup env -i "PATH=$PATH" "HOME=$HOME" "$BIN" "${args[@]}" >"$rdir/cmd"
	printf '>>%q 2>&1 </dev/null &\n' "$rdir/topspeed.log" >>"$rdir/cmd"
	echo "=== $(date -u +%FT%TZ) ha-local: starting r$i" >>"$rdir/topspeed.log"
	setsid nohup env -i "PATH=$PATH" "HOME=$HOME" "$BIN" "${args[@]}" >>"$rdir/topspeed.log" 2>&1 </dev/null &
	echo $! >"$rdir/pid"
}

up() {
	if [[ ! -x $BIN ]]; then
		echo "ha-local: $BIN is not built (make build, or make ha-local)" >&2
		exit 1
	fi
	local i pid started=()
	tls_files
	for ((i = 0; i < N; i++)); do
		pid="$(pid_of "$i")"
		if [[ -n $pid ]]; then
			echo "r$i: already running (pid $pid)"
			continue
		fi
		start_one "$i"
		started+=("$i")
		echo "r$i: started (pid $(cat "$DIR/r$i/pid"))"
	done
	# Wait for the ops servers, then for a leader (two replicas are enough).
	local deadline=$((SECONDS + 20)) leader=""
	while ((SECONDS < deadline)); do
		leader=""
		for ((i = 0; i < N; i++)); do
			local body
			body="$(get "$(status_url "$i")")"
			if [[ $(field "$body" role) == leader ]]; then
				leader="r$i"
			fi
		done
		[[ -n $leader ]] && break
		for i in "${started[@]}"; do
			if [[ -z $(pid_of "$i") ]]; then
				echo "ha-local: r$i exited; the end of $DIR/r$i/topspeed.log:" >&2
				tail -n 20 "$DIR/r$i/topspeed.log" >&2
				exit 1
			fi
		done
		sleep 0.2
	done
	if [[ -z $leader ]]; then
		echo "ha-local: no leader after 20s; see $DIR/r*/topspeed.log" >&2
		exit 1
	fi
	cat <<EOF

topspeed HA, 3 replicas on loopback; leader: $leader. State in $DIR:
  status      $(status_url 0)
              $(status_url 1)
              $(status_url 2)
  logs        $DIR/r{0,1,2}/topspeed.log
  results     $DIR/results/part-*   (published at each committed checkpoint)
  checkpoints $DIR/checkpoints      (the pointer that counts is in raft: last_checkpoint in the status)

Roles at a glance:   scripts/ha-local.sh status   (make ha-local-status)
Failover drill:
  curl -s $(status_url 0) | jq '{role, term, leader, last_checkpoint}'
  kill -9 "\$(cat $DIR/\$(curl -s $(status_url 0) | jq -r .leader)/pid)"   # kill the leader
  scripts/ha-local.sh status        # within ~1s: a new leader, higher term, it resumed from last_checkpoint
  make ha-local                     # restarts the killed replica only (its command: $DIR/r<i>/cmd)
Stop:   make ha-local-down  (SIGTERM to all: the leader's final checkpoint is committed, a restart resumes from it)
Reset:  make ha-local-down && rm -rf $DIR
EOF
}

down() {
	local i pid pids=() ids=()
	for ((i = 0; i < N; i++)); do
		pid="$(pid_of "$i")"
		if [[ -z $pid ]]; then
			echo "r$i: not running"
			rm -f "$DIR/r$i/pid"
			continue
		fi
		pids+=("$pid")
		ids+=("$i")
	done
	if ((${#pids[@]} == 0)); then
		return 0
	fi
	# All at once, as a scale to zero does: the followers stay until the
	# leader's final checkpoint is committed (see README, High availability).
	kill -TERM "${pids[@]}" 2>/dev/null || true
	echo "sent SIGTERM to ${ids[*]/#/r} (pids ${pids[*]}); waiting up to ${STOP_WAIT}s"
	local start=$SECONDS left
	while :; do
		left=0
		for i in "${ids[@]}"; do
			[[ -n $(pid_of "$i") ]] && left=$((left + 1))
		done
		((left == 0 || SECONDS - start >= STOP_WAIT)) && break
		sleep 0.2
	done
	for i in "${ids[@]}"; do
		pid="$(pid_of "$i")"
		if [[ -n $pid ]]; then
			kill -KILL "$pid" 2>/dev/null || true
			echo "r$i: still running after ${STOP_WAIT}s: sent SIGKILL (pid $pid)"
		else
			echo "r$i: stopped"
		fi
		rm -f "$DIR/r$i/pid"
	done
	# What the leader said about its final checkpoint, this stop.
	local final
	final="$(grep -hE "stopped with a final checkpoint|final checkpoint failed" "$DIR"/r*/topspeed.log 2>/dev/null | sort | tail -1 || true)"
	if [[ -n $final ]]; then
		echo "leader: $final"
	fi
	echo "state kept in $DIR: make ha-local resumes from the last committed checkpoint"
}

status() {
	local i body pid
	for ((i = 0; i < N; i++)); do
		pid="$(pid_of "$i")"
		body="$(get "$(status_url "$i")")"
		if [[ -z $body ]]; then
			echo "r$i: ${pid:+pid $pid, }no answer at $(status_url "$i")"
			continue
		fi
		if command -v jq >/dev/null; then
			echo "r$i: pid $pid $(jq -c '{role, term, leader, ready, last_checkpoint: (.last_checkpoint | if . then {id, term, path} else null end), in: .rates.records_in_per_second}' <<<"$body")"
		else
			echo "r$i: pid $pid role $(field "$body" role) term $(field "$body" term) leader $(field "$body" leader)"
		fi
	done
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*)
	echo "usage: $0 up|down|status" >&2
	exit 2
	;;
esac
