# A local HA cluster: three replicas of bin/topspeed on loopback (raft
# 127.0.0.1:7111-7113, status http://127.0.0.1:9251-9253/api/v1/status),
# one shared checkpoint directory, state under $TOPSPEED_HA_LOCAL (default
# /tmp/topspeed-ha-local). See scripts/ha-local.sh and README.md.
#   make ha-local          build, start the replicas not running (idempotent)
#   make ha-local-status   role, term, leader, last committed checkpoint
#   make ha-local-down     SIGTERM all, wait, SIGKILL after a bound
.PHONY: ha-local ha-local-down ha-local-status

ha-local: build
	@TOPSPEED_BIN=$(CURDIR)/$(BIN)/topspeed bash scripts/ha-local.sh up

ha-local-down:
	@bash scripts/ha-local.sh down

ha-local-status:
	@bash scripts/ha-local.sh status
