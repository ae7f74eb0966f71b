// Command wordcount runs Flink's WordCount or WindowWordCount streaming
// example on text files, built only from topspeed's public packages.
//
//	wordcount --input hamlet.txt                        # WordCount
//	wordcount --input a.txt --input b.txt --window 250 --slide 150   # WindowWordCount
//	cat *.txt | wordcount --output counts.txt
//	wordcount --input big.txt --output counts --checkpoint-dir ck    # restartable, exactly once
//
// Lines are split into lower-case words on every character other than
// ASCII letters, digits and '_' (Flink's Tokenizer). Without --window it
// prints, for every word occurrence, the word's running count; with
// --window N --slide M it prints, every M occurrences of a word, how many of
// its last N occurrences there were. Records print as (word,count), one per
// line, like Flink's. With --parallelism > 1 only the order of each word's
// records is defined.
//
// This file is only the job: its flags, its fingerprint and its pipeline.
// The runner package adds configuration (WORDCOUNT_* variables, --config),
// logging, checkpoints and restore, graceful stop, HA and the ops server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/pflag"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/examples/wordcount/wordcount"
	"github.com/topspeed/topspeed/runner"
	"github.com/topspeed/topspeed/sink"
	"github.com/topspeed/topspeed/source"
)

// Exit codes.
const (
	exitOK      = runner.ExitOK
	exitFailure = runner.ExitFailure
	exitUsage   = runner.ExitUsage
)

type options struct {
	inputs      []string
	output      string
	window      int64
	slide       int64
	parallelism int
	batchSize   int
}

func main() { runner.Main(newJob(&options{})) }

// run is the command with its environment passed in, for tests.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	env := runner.Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, LookupEnv: lookupEnv}
	return runner.Run(ctx, newJob(&options{}), args, env)
}

func newJob(o *options) runner.Job {
	return runner.Job{
		Name: "wordcount",
		Help: `wordcount: Flink's WordCount and WindowWordCount streaming examples.

Without --window, prints (word,count) with the running count of every word
occurrence; with --window N --slide M, every M occurrences of a word how many
of its last N occurrences there were. With --checkpoint-dir, --output names a
directory of part files published exactly once, and a restart continues from
the newest checkpoint.

Examples:
  wordcount --input hamlet.txt
  wordcount --input a.txt --input b.txt --window 250 --slide 150
  cat *.txt | wordcount --output counts.txt`,
		Flags: o.register, Validate: o.validate, Fingerprint: o.fingerprint, Build: o.build,
	}
}

func (o *options) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.inputs, "input", nil, "read text from this file; repeat for several files, read in order; - reads stdin (the default)")
	fs.StringVar(&o.output, "output", "", "write the counts to this file (created or truncated); empty or - writes to stdout")
	fs.Int64Var(&o.window, "window", 0, "count window size per word (WindowWordCount); 0 = running count per word (WordCount)")
	fs.Int64Var(&o.slide, "slide", 0, "emit a word's window count every this many occurrences; 0 = the window size (tumbling)")
	fs.IntVar(&o.parallelism, "parallelism", runtime.NumCPU(), "number of parallel counter subtasks")
	fs.IntVar(&o.batchSize, "batch-size", engine.DefaultConfig().BatchSize, "records per batch moved between stages")
}

// maxBatchSize bounds --batch-size: each stage holds a few batches, and a
// larger one gains nothing.
const maxBatchSize = 1 << 20

func (o *options) validate() error {
	switch {
	case o.parallelism < 1 || o.parallelism > engine.DefaultMaxParallelism:
		return fmt.Errorf("--parallelism %d: must be in [1, %d]", o.parallelism, engine.DefaultMaxParallelism)
	case o.batchSize < 1 || o.batchSize > maxBatchSize:
		return fmt.Errorf("--batch-size %d: must be in [1, %d]", o.batchSize, maxBatchSize)
	}
	if err := o.config().Validate(); err != nil {
		return err
	}
	if len(o.inputs) == 0 {
		o.inputs = []string{"-"}
	}
	stdin := 0
	for _, in := range o.inputs {
		if in == "-" {
			if stdin++; stdin > 1 {
				return errors.New("--input -: stdin given twice")
			}
			continue
		}
		// Fail now, not when the input is reached after the others.
		if fi, err := os.Stat(in); err != nil {
			return fmt.Errorf("--input: %w", err)
		} else if fi.IsDir() {
			return fmt.Errorf("--input %s: is a directory", in)
		}
		if err := source.CheckOutput(in, o.output); err != nil {
			return err
		}
	}
	return nil
}

func (o *options) config() wordcount.Config {
	return wordcount.Config{Window: o.window, Slide: o.slide}
}

// fingerprint: a checkpoint's state depends on the counting and the
// inputs; parallelism, batch size and output may change between restores.
func (o *options) fingerprint() string {
	abs := make([]string, len(o.inputs))
	for i, in := range o.inputs {
		abs[i] = in
		if p, err := filepath.Abs(in); err == nil && in != "-" {
			abs[i] = p
		}
	}
	return fmt.Sprintf("wordcount/1 window=%d slide=%d maxpar=%d inputs=%q",
		o.window, o.slide, engine.DefaultMaxParallelism, strings.Join(abs, "\x00"))
}

// build wires the pipeline: text lines from the inputs, the job, the sink.
func (o *options) build(env runner.BuildEnv) (*engine.Pipeline, error) {
	// The sources tokenize: their parsing goroutines split the lines into
	// words (wordcount.NewParser), so tokenizing runs in parallel.
	var srcs []engine.Source[wordcount.Token]
	newParse := wordcount.NewParser()
	for _, in := range o.inputs {
		if in == "-" {
			srcs = append(srcs, source.NewLinesReaderFlat("stdin", env.Stdin, newParse))
		} else {
			srcs = append(srcs, source.NewFileLinesFlat(in, newParse, source.ParallelConfig{}))
		}
	}
	text := srcs[0]
	if len(srcs) > 1 {
		text = wordcount.Concat(srcs...)
	}
	p := env.NewPipeline(engine.WithParallelism(o.parallelism), engine.WithBatchSize(o.batchSize), engine.WithProcessingTimeInterval(0))
	words := engine.FromSource(p, "text", runner.Source(env, text), engine.NoWatermarks[wordcount.Token]())
	counts, err := wordcount.BuildTokens(words, o.config())
	if err != nil {
		return nil, err
	}
	var out engine.Sink[wordcount.Count]
	switch {
	case o.output == "" || o.output == "-":
		out = sink.NewWriter("stdout", env.Stdout, wordcount.AppendCount)
	case env.Checkpoints:
		out = sink.NewParts(o.output, wordcount.AppendCount) // exactly once
	default:
		out = sink.NewFile(o.output, wordcount.AppendCount)
	}
	engine.ToSink(counts, "output", out)
	return p, nil
}
