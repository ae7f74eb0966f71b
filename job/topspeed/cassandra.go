package topspeed

import (
	"fmt"

	"github.com/topspeed/topspeed/sink/cassandra"
)

// Where the TopSpeed job writes by default: the seed's example.topspeeds.
const (
	CassandraKeyspace = "example"
	CassandraTable    = "topspeeds"
)

// CassandraDDL returns the statement that creates TopSpeed's results table
// keyspace.table if it does not exist: (carid int, speed int, distance
// double, time bigint), partitioned by carid, newest time first.
func CassandraDDL(keyspace, table string) []string {
	return []string{fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.%s (carid int, speed int, distance double, time bigint, `+
		`PRIMARY KEY (carid, time)) WITH CLUSTERING ORDER BY (time DESC)`, keyspace, table)}
}

// CassandraMapping stores results the way the seed's Flink job does:
// INSERT INTO example.topspeeds (carid, speed, distance, time) VALUES (?, ?, ?, ?),
// partitioned by carid, in the table CassandraDDL creates. Rows are
// upserts keyed by (carid, time), so a replay rewrites identical rows.
func CassandraMapping() cassandra.Mapping[Car, int32] {
	return cassandra.Mapping[Car, int32]{
		Keyspace:     CassandraKeyspace,
		Table:        CassandraTable,
		Columns:      []string{"carid", "speed", "distance", "time"},
		Bind:         func(dst []any, c Car) []any { return append(dst, c.ID, c.Speed, c.Distance, c.Time) },
		PartitionKey: CarID,
		Schema:       CassandraDDL,
	}
}
