package cassandra

import (
	"context"
	"fmt"

	"github.com/gocql/gocql"
)

// CreateSchema creates c.Keyspace with c.Replication if it does not
// exist, then runs ddl in order (a mapping's Schema: CREATE TABLE IF NOT
// EXISTS ... and the like), and waits for schema agreement.
func CreateSchema(ctx context.Context, s *gocql.Session, c Config, ddl ...string) error {
	if !identRE.MatchString(c.Keyspace) {
		return fmt.Errorf("cassandra: create schema: keyspace %q is not a valid identifier", c.Keyspace)
	}
	repl, err := ParseReplication(c.Replication)
	if err != nil {
		return err
	}
	stmts := append([]string{fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s", c.Keyspace, repl)}, ddl...)
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
