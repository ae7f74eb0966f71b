# The servers `make test` and the demos leave running, in one place.
#   make servers-status  one line per server still running (pid, heap, port)
#                        and how to stop it; `make test` ends with it
#   make clean-servers   stop them all: the local Cassandra (make
#                        cassandra-down), the local Kafka (make kafka-down)
#                        and the replicas of make ha-local (make
#                        ha-local-down). Removes nothing: jars, data and
#                        downloads stay cached in $(TOPSPEED_CACHE) and ~/.m2.
.PHONY: servers-status clean-servers

HA_LOCAL_DIR = $(or $(TOPSPEED_HA_LOCAL),/tmp/topspeed-ha-local)

servers-status:
	@left=0; \
	if line=$$(bash $(CURDIR)/scripts/cassandra/cassandra.sh info 2>/dev/null); then \
		echo "==> still running: $$line; stop it with: make cassandra-down (or make clean-servers)"; left=1; \
	fi; \
	if line=$$(bash $(CURDIR)/scripts/kafka/kafka.sh info 2>/dev/null); then \
		echo "==> still running: $$line; stop it with: make kafka-down (or make clean-servers)"; left=1; \
	fi; \
	pids=""; \
	for f in $(HA_LOCAL_DIR)/r*/pid; do \
		[ -f "$$f" ] || continue; p=$$(cat "$$f" 2>/dev/null); \
		{ tr '\0' ' ' <"/proc/$$p/cmdline"; } 2>/dev/null | grep -qF -- "--ha-dir $(HA_LOCAL_DIR)/" && pids="$$pids $$p"; \
	done; \
	if [ -n "$$pids" ]; then \
		echo "==> still running: make ha-local replicas (pids$$pids); stop them with: make ha-local-down (or make clean-servers)"; left=1; \
	fi; \
	[ $$left = 1 ] || echo "==> no local server left running"

clean-servers: cassandra-down kafka-down ha-local-down
