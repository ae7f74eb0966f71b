package engine_test

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/topspeed/topspeed/engine"
)

// lines replays a slice of strings as a source.
type lines struct{ recs []string }

func (s *lines) Open(context.Context) error { return nil }
func (s *lines) Close() error               { return nil }
func (s *lines) Read(_ context.Context, buf []string) (int, error) {
	n := copy(buf, s.recs)
	s.recs = s.recs[n:]
	if len(s.recs) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// gather collects what it is given (one sink goroutine writes; read after Run).
type gather struct{ got []string }

func (g *gather) Open(context.Context) error  { return nil }
func (g *gather) Close() error                { return nil }
func (g *gather) Flush(context.Context) error { return nil }
func (g *gather) Write(_ context.Context, b []string) error {
	g.got = append(g.got, b...)
	return nil
}

// Two sources of one record type merged by Union into one stream, which
// feeds one sink. Each input keeps its own order; across inputs there is
// none, so the example sorts.
func ExampleUnion() {
	p := engine.New()
	logs := engine.FromSource(p, "app-logs", engine.Source[string](&lines{recs: []string{"app: start", "app: ready"}}), engine.NoWatermarks[string]())
	audit := engine.FromSource(p, "audit-logs", engine.Source[string](&lines{recs: []string{"audit: login"}}), engine.NoWatermarks[string]())
	all := &gather{}
	engine.ToSink(engine.Union(logs, audit), "all", engine.Sink[string](all))
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	slices.Sort(all.got)
	for _, l := range all.got {
		fmt.Println(l)
	}
	// Output:
	// app: ready
	// app: start
	// audit: login
}
