package topspeed

import "github.com/topspeed/topspeed/sink/cassandra"

// CassandraMapping stores results the way the seed's Flink job does:
// INSERT INTO example.topspeeds (carid, speed, distance, time) VALUES (?, ?, ?, ?),
// partitioned by carid. Rows are upserts keyed by (carid, time), so a replay
// rewrites identical rows.
func CassandraMapping() cassandra.Mapping[Car, int32] {
	return cassandra.Mapping[Car, int32]{
		Columns:      []string{"carid", "speed", "distance", "time"},
		Bind:         func(dst []any, c Car) []any { return append(dst, c.ID, c.Speed, c.Distance, c.Time) },
		PartitionKey: CarID,
		DDL:          cassandra.TopSpeedsDDL,
	}
}
