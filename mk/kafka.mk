# Local single-node Apache Kafka 4.x in KRaft mode (no Docker): see docs/kafka-dev.md.
#   eval "$(make -s kafka-up)"   start it (idempotent) and export KAFKA_BROKERS
#                                (127.0.0.1:19092), KAFKA_PID_FILE, KAFKA_LOG_DIR
#   make kafka-down              stop it
#   make kafka-status            exit 0 if it answers a metadata request
#   make kafka-env               the export lines of the running broker
#   make servers-status          what runs (pid, heap, port); make clean-servers
#                                stops it and any other local server (mk/servers.mk)
# The recipes are silent: stdout carries only the export lines of the script.
KAFKA_SH := $(CURDIR)/scripts/kafka/kafka.sh

.PHONY: kafka-up kafka-down kafka-status kafka-env

kafka-up:
	@bash $(KAFKA_SH) up

kafka-down:
	@bash $(KAFKA_SH) down

kafka-status:
	@bash $(KAFKA_SH) status

kafka-env:
	@bash $(KAFKA_SH) env
