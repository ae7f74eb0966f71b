package cassandra

import "fmt"

// TopSpeedsDDL is the TopSpeed job's table definition. It belongs to the
// job (topspeed.CassandraDDL in job/topspeed) and stays here only until
// bench/cassandra/sinkbench, its last user, calls that; then delete it.
// Do not use it in new code.
func TopSpeedsDDL(keyspace, table string) string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.%s (carid int, speed int, distance double, time bigint, PRIMARY KEY (carid, time)) WITH CLUSTERING ORDER BY (time DESC)`, keyspace, table)
}
