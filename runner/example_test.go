package runner_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/runner"
	"github.com/topspeed/topspeed/sink"
	"github.com/topspeed/topspeed/source"
	"github.com/topspeed/topspeed/window"
)

// click is one page view: who, and when (Unix milliseconds).
type click struct {
	User string
	Time int64
}

var clicks = []click{
	{"ann", 0}, {"bob", 10_000}, {"ann", 20_000}, {"ann", 70_000}, {"bob", 80_000}, {"bob", 110_000},
}

// A job that counts each user's clicks per minute. It supplies its name,
// its flag, the fingerprint of what its checkpoints depend on, and its
// pipeline; the runner adds configuration, logging, checkpoints and
// restore, graceful stop, HA and the ops server. A real job's main is
// runner.Main(job).
func Example_clicksPerMinute() {
	size := time.Minute
	job := runner.Job{
		Name: "clicks",
		Help: "clicks: counts each user's clicks per --window of event time.",
		Flags: func(fs *pflag.FlagSet) {
			fs.DurationVar(&size, "window", size, "tumbling window size")
		},
		Fingerprint: func() string { return fmt.Sprintf("clicks/1 window=%v", size) },
		Build: func(env runner.BuildEnv) (*engine.Pipeline, error) {
			p := env.NewPipeline(engine.WithParallelism(1))
			src := runner.Source(env, engine.Source[click](source.NewSlice(clicks)))
			in := engine.FromSource(p, "clicks", src, engine.Monotonous(func(c click) int64 { return c.Time }))
			byUser := engine.KeyBy(in, func(c click) string { return c.User }, engine.HashString)
			counts := window.Apply(byUser, "count", window.Spec[string, click, string]{
				Assigner: window.Tumbling(size, 0),
				Function: window.AggregateProcess(window.AggregateFunc[click, int64, int64]{
					Create:   func() int64 { return 0 },
					Add:      func(n int64, _ click) int64 { return n + 1 },
					Result:   func(n int64) int64 { return n },
					AccCodec: window.FixedCodec[int64](),
				}, func(user string, w window.Window, n int64) string {
					return fmt.Sprintf("%s minute %d: %d", user, w.Start/60_000, n)
				}),
				KeyCodec: window.StringCodec(), // for checkpoints, with AccCodec
				Codec:    engine.JSONCodec[click]{},
			})
			engine.ToSink(counts, "output", engine.Sink[string](sink.NewWriter("stdout", env.Stdout,
				func(b []byte, s string) []byte { return append(b, s...) })))
			return p, nil
		},
	}

	dir, _ := os.MkdirTemp("", "clicks")
	defer os.RemoveAll(dir)
	args := []string{"--checkpoint-dir", dir, "--http-addr", "", "--log-level", "error"}
	code := runner.Run(context.Background(), job, args, runner.Env{
		Stdout: os.Stdout, Stderr: io.Discard,
		LookupEnv: func(string) (string, bool) { return "", false }, // CLICKS_* variables
	})
	fmt.Println("exit code", code)
	// Output:
	// ann minute 0: 2
	// bob minute 0: 1
	// ann minute 1: 1
	// bob minute 1: 2
	// exit code 0
}
