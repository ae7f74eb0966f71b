#!/usr/bin/env bash
# ops-test: topspeed's operations surface against the real parts.
#
#   - promtool check rules on deploy/monitoring/topspeed-alerts.yaml;
#   - a running bin/topspeed (generator at 2000 events/s, checkpoints every
#     second): /readyz, /livez, /api/v1/status, and `promtool check metrics`
#     on its /metrics;
#   - a real Prometheus (Debian's package, installed if missing) scraping it
#     every second with the alert rules loaded: the key series must exist and
#     their rates be > 0, every rule must evaluate without error and none
#     fire, and every query of the Grafana dashboard must evaluate;
#   - SIGTERM: topspeed stops gracefully with exit status 0.
#
# Both servers listen on free loopback ports and keep their data in a
# temporary directory; both are stopped (by pid) on exit, also when
# interrupted. Installing the package is the one change it leaves behind:
# apt-get as root, else through sudo (it says so on stderr first).
# Environment: TOPSPEED_BIN (default bin/topspeed), TOPSPEED_CACHE (apt
# package cache), KEEP=1 keeps the temporary directory.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${TOPSPEED_BIN:-$ROOT/bin/topspeed}
CACHE=${TOPSPEED_CACHE:-$HOME/.cache/topspeed}
RULES=$ROOT/deploy/monitoring/topspeed-alerts.yaml
DASH=$ROOT/deploy/monitoring/grafana-dashboard.json

say() { echo "ops-test: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

# install_prometheus: promtool lints the rules and the metrics, and a
# throwaway prometheus scrapes topspeed; both come from Debian's prometheus
# package, installed with apt-get when missing: as root, or through sudo.
# The package's own service is kept from starting (policy-rc.d).
install_prometheus() {
	command -v prometheus >/dev/null && command -v promtool >/dev/null && return
	local -a sudo=() apt=(apt-get -y -qq)
	local why="ops-test needs promtool (checks the alert rules and the metrics) and prometheus (a throwaway server on a free loopback port scraping topspeed)"
	if ! command -v apt-get >/dev/null; then
		fail "prometheus/promtool missing and no apt-get: install Prometheus 2.x so that both are on PATH ($why)"
	fi
	if [ "$(id -u)" = 0 ]; then
		# The .deb files are kept in our cache (root owns it anyway).
		mkdir -p "$CACHE/apt/partial"
		apt+=(-o "Dir::Cache::Archives=$CACHE/apt")
	elif command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
		sudo=(sudo)
	else
		fail "prometheus/promtool missing; installing Debian's prometheus package needs root or sudo: run 'sudo apt-get install prometheus' ($why)"
	fi
	say "installing Debian's prometheus package with ${sudo[*]:+sudo }apt-get (and its dependencies): $why; its system service is not started"
	# Keep the package's init script from starting a system Prometheus.
	local policy=/usr/sbin/policy-rc.d added=""
	if [ ! -e $policy ]; then
		printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee $policy >/dev/null && "${sudo[@]}" chmod +x $policy && added=1
	fi
	local rc=0
	if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install prometheus >/dev/null 2>&1; then
		say "apt-get install failed: running apt-get update first"
		{ "${sudo[@]}" apt-get update -qq && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install prometheus >/dev/null; } || rc=$?
	fi
	[ -z "$added" ] || "${sudo[@]}" rm -f $policy
	[ $rc -eq 0 ] || fail "apt-get install prometheus failed"
	command -v prometheus >/dev/null && command -v promtool >/dev/null || fail "prometheus did not install"
	say "installed $(prometheus --version 2>&1 | head -n 1); remove it with: ${sudo[*]:+sudo }apt-get remove prometheus"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

install_prometheus
for t in curl jq python3; do command -v $t >/dev/null || fail "$t is needed"; done
[ -x "$BIN" ] || fail "no binary at $BIN (make build)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/topspeed-ops.XXXXXX")
TS_PID="" PROM_PID=""
cleanup() {
	local rc=$?
	for p in $TS_PID $PROM_PID; do kill "$p" 2>/dev/null || true; done
	for p in $TS_PID $PROM_PID; do wait "$p" 2>/dev/null || true; done
	if [ $rc -ne 0 ]; then
		say "topspeed log (tail):"; tail -n 30 "$WORK/topspeed.log" >&2 || true
		say "prometheus log (tail):"; tail -n 30 "$WORK/prometheus.log" >&2 || true
	fi
	if [ "${KEEP:-}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
	exit $rc
}
trap cleanup EXIT
# An interrupted run (Ctrl-C, make killed) stops both servers too: bash runs
# the EXIT trap on exit, not when a signal kills it.
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND every 0.5 s.
wait_for() {
	local secs=$1 what=$2
	shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || fail "timed out after ${secs}s waiting for $what"
		sleep 0.5
	done
}

say "promtool check rules"
promtool check rules "$RULES" >&2

TP=$(free_port)
say "starting topspeed, ops server on 127.0.0.1:$TP"
"$BIN" --cars 100 --rate 2000 --parallelism 2 --output "$WORK/out" \
	--checkpoint-dir "$WORK/checkpoints" --checkpoint-interval 1s \
	--http-addr "127.0.0.1:$TP" --log-format json >"$WORK/topspeed.out" 2>"$WORK/topspeed.log" &
TS_PID=$!
OPS=http://127.0.0.1:$TP
wait_for 30 "topspeed /readyz" curl -fsS "$OPS/readyz"
curl -fsS "$OPS/livez" | grep -qx ok || fail "/livez"
status=$(curl -fsS "$OPS/api/v1/status")
echo "$status" | jq -e '.job == "topspeed" and .state == "running" and .ready and .role == "standalone" and .term == 0 and .leader == "" and .parallelism == 2' >/dev/null ||
	fail "unexpected /api/v1/status: $status"
grep -q '"msg":"ops server listening"' "$WORK/topspeed.log" || fail "no JSON log line from the ops server"

say "promtool check metrics"
curl -fsS "$OPS/metrics" >"$WORK/metrics.txt"
if ! promtool check metrics <"$WORK/metrics.txt" >"$WORK/lint.txt" 2>&1 || [ -s "$WORK/lint.txt" ]; then
	cat "$WORK/lint.txt" >&2
	fail "promtool check metrics found problems"
fi

PP=$(free_port)
cat >"$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $RULES
scrape_configs:
  - job_name: topspeed
    static_configs:
      - targets: ["127.0.0.1:$TP"]
YAML
say "starting prometheus on 127.0.0.1:$PP"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
	--web.listen-address="127.0.0.1:$PP" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
PROM=http://127.0.0.1:$PP
wait_for 30 "prometheus /-/ready" curl -fsS "$PROM/-/ready"

# positive QUERY: true when the instant query returns a sample > 0.
positive() {
	curl -fsS --get "$PROM/api/v1/query" --data-urlencode "query=$1" |
		jq -e '.status == "success" and (.data.result | length > 0) and (.data.result | all(.value[1] | tonumber > 0))' >/dev/null
}

say "waiting for the key series and their rates"
for q in \
	'up{job="topspeed"}' \
	'topspeed_build_info' \
	'topspeed_ready' \
	'sum(rate(topspeed_records_in_total{stage="cars"}[5s]))' \
	'sum(rate(topspeed_records_out_total{stage="output"}[5s]))' \
	'sum(rate(topspeed_records_in_total{stage="top-speed"}[5s]))' \
	'sum(rate(topspeed_window_fires_total[5s]))' \
	'sum(topspeed_operator_keys)' \
	'sum(topspeed_operator_retained_elements)' \
	'count(topspeed_event_time_lag_seconds)' \
	'count(topspeed_watermark_seconds)' \
	'sum(rate(topspeed_end_to_end_latency_seconds_count[5s]))' \
	'sum(rate(topspeed_sink_write_duration_seconds_count[5s]))' \
	'sum(rate(topspeed_checkpoints_completed_total[5s]))' \
	'sum(rate(topspeed_checkpoint_duration_seconds_count[5s]))' \
	'topspeed_checkpoint_size_bytes' \
	'topspeed_checkpoint_interval_seconds' \
	'topspeed_raft_role{role="standalone"}' \
	'rate(process_cpu_seconds_total[5s])' \
	'go_goroutines'; do
	wait_for 60 "$q > 0" positive "$q"
done

say "alert rules evaluate and none fire"
wait_for 30 "rule evaluation" bash -c "curl -fsS '$PROM/api/v1/rules' | jq -e '[.data.groups[].rules[] | select(.lastEvaluation != \"0001-01-01T00:00:00Z\")] | length == 8'"
rules=$(curl -fsS "$PROM/api/v1/rules")
echo "$rules" | jq -e '[.data.groups[].rules[]] | length == 8 and all(.health == "ok")' >/dev/null ||
	fail "rules unhealthy: $(echo "$rules" | jq -c '[.data.groups[].rules[] | {name, health, lastError}]')"
firing=$(curl -fsS "$PROM/api/v1/alerts" | jq -c '[.data.alerts[] | select(.state == "firing") | .labels.alertname]')
[ "$firing" = "[]" ] || fail "alerts firing: $firing"

say "every dashboard query evaluates"
n=0
while IFS= read -r expr; do
	q=$(printf '%s' "$expr" | sed -e 's/\$__rate_interval/10s/g' -e 's/\$__interval/10s/g' -e 's/\$__range/1h/g' -e 's/\$[A-Za-z_][A-Za-z0-9_]*/.*/g')
	res=$(curl -fsS --get "$PROM/api/v1/query" --data-urlencode "query=$q") || fail "dashboard query failed: $q"
	echo "$res" | jq -e '.status == "success"' >/dev/null || fail "dashboard query $q: $res"
	n=$((n + 1))
done < <(jq -r '.. | objects | select(has("expr")) | .expr' "$DASH")
[ $n -ge 30 ] || fail "only $n dashboard queries found"
say "$n dashboard queries evaluated"

say "stopping topspeed with SIGTERM"
kill -TERM $TS_PID
rc=0
wait $TS_PID || rc=$?
TS_PID=""
[ $rc -eq 0 ] || fail "topspeed exited with status $rc after SIGTERM"
say "PASS"
