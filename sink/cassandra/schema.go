package cassandra

import (
	"context"
	"fmt"

	"github.com/gocql/gocql"
)

// TopSpeedsDDL returns the seed's table definition for keyspace.table.
func TopSpeedsDDL(keyspace, table string) string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.%s (carid int, speed int, distance double, time bigint, PRIMARY KEY (carid, time)) WITH CLUSTERING ORDER BY (time DESC)`, keyspace, table)
}

// CreateSchema creates c.Keyspace with c.Replication and runs ddl (for
// example TopSpeedsDDL), both IF NOT EXISTS, and waits for schema agreement.
func CreateSchema(ctx context.Context, s *gocql.Session, c Config, ddl string) error {
	repl, err := ParseReplication(c.Replication)
	if err != nil {
		return err
	}
	stmts := []string{
		fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s", c.Keyspace, repl),
		ddl,
	}
	for _, q := range stmts {
		if err := s.Query(q).WithContext(ctx).Exec(); err != nil {
			return fmt.Errorf("cassandra: create schema: %s: %w", q, err)
		}
	}
	if err := s.AwaitSchemaAgreement(ctx); err != nil {
		return fmt.Errorf("cassandra: schema agreement: %w", err)
	}
	return nil
}
