package topspeed

import (
	"bufio"
	"context"
	"errors"
	"io"
)

// WriteReports runs a generator to its end (cfg.Events must be > 0) and
// writes its reports to w in Flink's input format, one per line. It returns
// the number of reports written. Tests and benchmarks use it to make input
// files.
func WriteReports(ctx context.Context, w io.Writer, cfg GeneratorConfig) (int64, error) {
	if cfg.Events <= 0 {
		return 0, errors.New("topspeed: WriteReports needs a bounded generator (Events > 0)")
	}
	g, err := NewGenerator(cfg)
	if err != nil {
		return 0, err
	}
	if err := g.Open(ctx); err != nil {
		return 0, err
	}
	defer g.Close()
	bw := bufio.NewWriterSize(w, 1<<20)
	buf := make([]Car, 4096)
	var line []byte
	var n int64
	for {
		k, rerr := g.Read(ctx, buf)
		for _, c := range buf[:k] {
			line = append(AppendCar(line[:0], c), '\n')
			if _, err := bw.Write(line); err != nil {
				return n, err
			}
			n++
		}
		if errors.Is(rerr, io.EOF) {
			return n, bw.Flush()
		}
		if rerr != nil {
			return n, rerr
		}
	}
}
