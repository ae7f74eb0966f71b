# make demo: the seed's end-to-end check (job -> Cassandra -> cqlsh), see scripts/demo.sh.
.PHONY: demo cqlsh
demo:
	@GO=$(GO) bash scripts/demo.sh

cqlsh:
	@bash scripts/cqlsh.sh

# Long crash/failover soak (see scripts/soak.sh).
.PHONY: soak
soak:
	@bash scripts/soak.sh
