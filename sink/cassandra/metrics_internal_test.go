package cassandra

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/gocql/gocql"
)

func TestErrKind(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{&gocql.RequestErrWriteTimeout{}, ErrKindOther}, // zero code: unknown
		{gocql.ErrTimeoutNoResponse, ErrKindTimeout},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), ErrKindTimeout},
		{gocql.ErrNoConnections, ErrKindConnection},
		{gocql.ErrConnectionClosed, ErrKindConnection},
		{&net.OpError{Op: "dial", Err: errors.New("refused")}, ErrKindConnection},
		{errors.New("boom"), ErrKindOther},
	}
	for _, c := range cases {
		if got := errKind(c.err); got != c.want {
			t.Errorf("errKind(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}
