// Command wordcount runs Flink's WordCount or WindowWordCount streaming
// example on text files, built only from topspeed's public packages.
//
//	wordcount --input hamlet.txt                        # WordCount
//	wordcount --input a.txt --input b.txt --window 250 --slide 150   # WindowWordCount
//	cat *.txt | wordcount --output counts.txt
//
// Lines are split into lower-case words on every character other than
// ASCII letters, digits and '_' (Flink's Tokenizer). Without --window it
// prints, for every word occurrence, the word's running count; with
// --window N --slide M it prints, every M occurrences of a word, how many of
// its last N occurrences there were. Records print as (word,count), one per
// line, like Flink's. With --parallelism > 1 only the order of each word's
// records is defined.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/examples/wordcount/wordcount"
	"github.com/topspeed/topspeed/sink"
	"github.com/topspeed/topspeed/source"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

type options struct {
	inputs      []string
	output      string
	window      int64
	slide       int64
	parallelism int
	batchSize   int
}

func newFlagSet(o *options) *pflag.FlagSet {
	fs := pflag.NewFlagSet("wordcount", pflag.ContinueOnError)
	fs.SortFlags = false
	fs.StringArrayVar(&o.inputs, "input", nil, "read text from this file; repeat for several files, read in order; - reads stdin (the default)")
	fs.StringVar(&o.output, "output", "", "write the counts to this file (created or truncated); empty or - writes to stdout")
	fs.Int64Var(&o.window, "window", 0, "count window size per word (WindowWordCount); 0 = running count per word (WordCount)")
	fs.Int64Var(&o.slide, "slide", 0, "emit a word's window count every this many occurrences; 0 = the window size (tumbling)")
	fs.IntVar(&o.parallelism, "parallelism", runtime.NumCPU(), "number of parallel counter subtasks")
	fs.IntVar(&o.batchSize, "batch-size", engine.DefaultConfig().BatchSize, "records per batch moved between stages")
	return fs
}

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// run is the command with its environment passed in, for tests.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var o options
	fs := newFlagSet(&o)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wordcount [--input FILE]... [--output FILE] [--window N [--slide M]]\n\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "wordcount: %v (see --help)\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wordcount: unexpected argument %q; give files with --input (see --help)\n", fs.Arg(0))
		return exitUsage
	}
	p, err := build(&o, stdin, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "wordcount: %v\n", err)
		return exitUsage
	}

	// First SIGINT/SIGTERM: stop reading and flush the counts so far.
	// Second: abort.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for n := 1; ; n++ {
			select {
			case <-sigs:
				if n == 1 {
					p.Stop()
				} else {
					cancel()
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()

	if err := p.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "wordcount: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// build wires the pipeline: text lines from the inputs, the job, the sink.
func build(o *options, stdin io.Reader, stdout io.Writer) (*engine.Pipeline, error) {
	switch {
	case o.parallelism < 1 || o.parallelism > engine.DefaultMaxParallelism:
		return nil, fmt.Errorf("--parallelism %d: must be in [1, %d]", o.parallelism, engine.DefaultMaxParallelism)
	case o.batchSize < 1:
		return nil, fmt.Errorf("--batch-size %d: must be at least 1", o.batchSize)
	}
	cfg := wordcount.Config{Window: o.window, Slide: o.slide}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	inputs := o.inputs
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	var srcs []engine.Source[string]
	stdinUsed := false
	for _, in := range inputs {
		if in == "-" {
			if stdinUsed {
				return nil, errors.New("--input -: stdin given twice")
			}
			stdinUsed = true
			srcs = append(srcs, source.NewLinesReader("stdin", stdin, wordcount.ParseLine))
			continue
		}
		// Fail now, not when the input is reached after the others.
		if fi, err := os.Stat(in); err != nil {
			return nil, fmt.Errorf("--input: %w", err)
		} else if fi.IsDir() {
			return nil, fmt.Errorf("--input %s: is a directory", in)
		}
		srcs = append(srcs, source.NewLines(in, wordcount.ParseLine))
	}

	p := engine.New(engine.WithParallelism(o.parallelism), engine.WithBatchSize(o.batchSize), engine.WithProcessingTimeInterval(0))
	lines := engine.FromSource(p, "text", wordcount.Concat(srcs...), engine.NoWatermarks[string]())
	counts, err := wordcount.Build(lines, cfg)
	if err != nil {
		return nil, err
	}
	var out engine.Sink[wordcount.Count]
	if o.output == "" || o.output == "-" {
		out = sink.NewWriter("stdout", stdout, wordcount.AppendCount)
	} else {
		out = sink.NewFile(o.output, wordcount.AppendCount)
	}
	engine.ToSink(counts, "output", out)
	return p, nil
}
