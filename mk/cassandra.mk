# Local single-node Apache Cassandra 5.0 (no Docker): see docs/cassandra-dev.md.
#   eval "$(make -s cassandra-up)"   start it (idempotent) and export
#                                    CASSANDRA_HOSTS, CASSANDRA_PORT,
#                                    CASSANDRA_USERNAME, CASSANDRA_PASSWORD_FILE
#   make cassandra-down              stop it
#   make cassandra-status            exit 0 if it answers a CQL login
#   make servers-status              what runs (pid, heap, port); make clean-servers
#                                    stops it and any other local server (mk/servers.mk)
# The recipes are silent: stdout carries only the export lines of the script.
CASSANDRA_SH := $(CURDIR)/scripts/cassandra/cassandra.sh

.PHONY: cassandra-up cassandra-down cassandra-status cassandra-env

cassandra-up:
	@bash $(CASSANDRA_SH) up

cassandra-down:
	@bash $(CASSANDRA_SH) down

cassandra-status:
	@bash $(CASSANDRA_SH) status

cassandra-env:
	@bash $(CASSANDRA_SH) cqlsh-env
