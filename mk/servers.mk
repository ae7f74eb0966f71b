# The servers `make test` and the demos leave running, in one place.
#   make servers-status  one line per server still running (pid, heap, port)
#                        and how to stop it; `make test` ends with it
#   make clean-servers   stop them all; removes nothing (jars, data and
#                        downloads stay cached in $(TOPSPEED_CACHE) and ~/.m2)
.PHONY: servers-status clean-servers

servers-status:
	@if line=$$(bash $(CURDIR)/scripts/cassandra/cassandra.sh info 2>/dev/null); then \
		echo "==> still running: $$line"; \
		echo "==> stop it with: make cassandra-down (or make clean-servers for every server)"; \
	else \
		echo "==> no local server left running"; \
	fi
	@# Kafka broker (issue 11, later): report it here too.

clean-servers: cassandra-down
	@# Kafka broker (later): add its stop target (e.g. kafka-down) as a prerequisite.
