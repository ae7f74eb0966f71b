package topspeed_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/topspeed/topspeed/internal/testenv"
	"github.com/topspeed/topspeed/job/topspeed"
	"github.com/topspeed/topspeed/sink/cassandra"
)

// The job, not the sink, decides where its rows go by default and what
// the table looks like.
func TestCassandraMappingDefaults(t *testing.T) {
	c := cassandra.DefaultConfig()
	c.Hosts = []string{"127.0.0.1"}
	if c.Keyspace != "" || c.Table != "" {
		t.Fatalf("the sink has a default table of its own: %s.%s", c.Keyspace, c.Table)
	}
	s, err := cassandra.New(c, topspeed.CassandraMapping(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Config(); got.Keyspace != "example" || got.Table != "topspeeds" {
		t.Fatalf("default table %s.%s, want example.topspeeds", got.Keyspace, got.Table)
	}
	c.Keyspace, c.Table = "other", "results"
	if s, err = cassandra.New(c, topspeed.CassandraMapping(), nil); err != nil || s.Config().Keyspace != "other" || s.Config().Table != "results" {
		t.Fatalf("configured table not kept: %v %+v", err, s.Config())
	}
	ddl := topspeed.CassandraDDL("ks", "tbl")
	if len(ddl) != 1 || !strings.HasPrefix(ddl[0], "CREATE TABLE IF NOT EXISTS ks.tbl (carid int, speed int, distance double, time bigint, PRIMARY KEY (carid, time))") {
		t.Fatalf("DDL %q", ddl)
	}
	m := topspeed.CassandraMapping()
	if n := len(m.Bind(nil, topspeed.Car{ID: 1})); n != len(m.Columns) {
		t.Fatalf("Bind gives %d values for %d columns", n, len(m.Columns))
	}
}

// The job's DDL is valid CQL: the sink creates the table from it on the
// real Cassandra and writes the job's rows into it.
func TestCassandraSchemaOnServer(t *testing.T) {
	srv := testenv.NeedCassandra(t)
	c := cassandra.DefaultConfig()
	c.Hosts, c.Username, c.Password = srv.Hosts, srv.Username, srv.Password
	c.Consistency, c.ConnectBudget = gocql.One, 20*time.Second
	c.Keyspace, c.Table = "topspeed_it", fmt.Sprintf("job%d", time.Now().UnixNano()%1e12)
	c.CreateSchema, c.Replication = true, "1"
	s, err := cassandra.New(c, topspeed.CassandraMapping(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	cars := []topspeed.Car{{ID: 1, Speed: 90, Distance: 10.5, Time: 1000}, {ID: 1, Speed: 95, Distance: 20.25, Time: 2000}, {ID: 2, Speed: 50, Distance: 1, Time: 1500}}
	if err := s.Write(ctx, cars); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	sess, err := cassandra.Connect(ctx, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	// Clustering order is time DESC: car 1's newest row comes first.
	it := sess.Query(fmt.Sprintf("SELECT carid, speed, distance, time FROM %s.%s WHERE carid = 1", c.Keyspace, c.Table)).Iter()
	var got []topspeed.Car
	var r topspeed.Car
	for it.Scan(&r.ID, &r.Speed, &r.Distance, &r.Time) {
		got = append(got, r)
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != cars[1] || got[1] != cars[0] {
		t.Fatalf("car 1's rows %+v, want %+v newest first", got, cars[:2])
	}
}
