// Command benchtool holds the small programs bench/run needs besides the
// engines themselves. Each prints one line of key=value pairs on stdout.
//
//	benchtool parse -input F
//	    read and parse car reports only (source.Lines + topspeed.ParseCar, as
//	    the job does, nothing downstream): the parse-only baseline of S1.
//	benchtool nowindow -input F [-parallelism 2]
//	    the job's pipeline as the binary builds it for a regular file
//	    (parallel parsing, key by car, the key-group exchange) with the
//	    window replaced by an operator that counts and drops every record,
//	    and so no output: what bounds S1's ratio of the job to parse-only.
//	benchtool state -input F [-evict 10s] [-parallelism 2]
//	    run the TopSpeed job on F (results discarded) and report its state at
//	    the end: keys, retained elements (window.DeltaTimeMax Retained) and
//	    the size of its checkpoint (OnCheckpoint's bytes).
//	benchtool zipf -o F -mb N [-vocab V] [-s 1.1] [-seed 1]
//	    write about N MB of ASCII text whose words follow a Zipf law.
//	benchtool wccheck A B
//	    compare two WordCount outputs (files or directories of (word,count)
//	    lines, read recursively): the final count per word, which is the
//	    largest running count a word reaches, must be equal. Exit 1 if not.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/job/topspeed"
	"github.com/topspeed/topspeed/sink"
	"github.com/topspeed/topspeed/source"
	"github.com/topspeed/topspeed/window"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "parse":
		err = parseCmd(os.Args[2:])
	case "nowindow":
		err = noWindowCmd(os.Args[2:])
	case "state":
		err = stateCmd(os.Args[2:])
	case "zipf":
		err = zipfCmd(os.Args[2:])
	case "wccheck":
		err = wccheckCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		var d diffError
		if errors.As(err, &d) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchtool parse|nowindow|state|zipf|wccheck [flags] (see the package doc)")
	os.Exit(2)
}

// parseCmd reads and parses every line, as the job's source does.
func parseCmd(args []string) error {
	fl := flag.NewFlagSet("parse", flag.ExitOnError)
	input := fl.String("input", "", "car reports")
	workers := fl.Int("workers", 0, "0: one goroutine reads and parses (source.Lines); N: source.ParallelLines with N parse workers, as the binary reads a regular file")
	_ = fl.Parse(args)
	if *input == "" {
		return errors.New("parse: -input is required")
	}
	ctx := context.Background()
	start := time.Now()
	var src source.LineSource[topspeed.Car] = source.NewLines(*input, topspeed.ParseCar)
	if *workers > 0 {
		cfg := source.ParallelConfig{Workers: *workers}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("parse: -workers: %w", err)
		}
		src = source.NewParallelLines(*input, topspeed.ParseCar, cfg)
	}
	if err := src.Open(ctx); err != nil {
		return err
	}
	defer src.Close()
	buf := make([]topspeed.Car, engine.DefaultConfig().BatchSize)
	var n int64
	var sum int64 // keeps the parsed values live
	for {
		k, err := src.Read(ctx, buf)
		for i := range buf[:k] {
			sum += int64(buf[i].Speed)
		}
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("events=%d seconds=%.3f events_per_s=%.0f checksum=%d\n", n, secs, float64(n)/secs, sum)
	return nil
}

// noWindowCmd runs the job's pipeline without its window (see the
// package doc).
func noWindowCmd(args []string) error {
	fl := flag.NewFlagSet("nowindow", flag.ExitOnError)
	input := fl.String("input", "", "car reports (a regular file: read in parallel, as the binary does)")
	par := fl.Int("parallelism", 2, "keyed subtasks")
	_ = fl.Parse(args)
	if *input == "" {
		return errors.New("nowindow: -input is required")
	}
	start := time.Now()
	n, err := runNoWindow(*input, *par)
	if err != nil {
		return fmt.Errorf("nowindow: %w", err)
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("events=%d seconds=%.3f events_per_s=%.0f parallelism=%d\n", n, secs, float64(n)/secs, *par)
	return nil
}

// runNoWindow runs the pipeline of noWindowCmd and returns the number of
// records that reached the keyed stage.
func runNoWindow(input string, par int) (int64, error) {
	var events atomic.Int64
	drop := func(engine.Keys[int32, topspeed.Car]) engine.Operator[topspeed.Car, topspeed.Car] {
		return &dropOperator{events: &events}
	}
	p := engine.New(engine.WithParallelism(par))
	src := source.NewFileLines(input, topspeed.ParseCar, source.ParallelConfig{})
	cars := engine.FromSource(p, "cars", engine.Source[topspeed.Car](src), engine.Monotonous(topspeed.CarTime))
	keyed := engine.KeyBy(cars, topspeed.CarID, engine.HashInt32)
	out := engine.Process(keyed, topspeed.StageName, drop)
	engine.ToSink(out, "discard", engine.Sink[topspeed.Car](sink.NewWriter("discard", io.Discard, topspeed.AppendCar)))
	err := p.Run(context.Background())
	return events.Load(), err
}

// dropOperator counts the records it is given and emits none.
type dropOperator struct {
	engine.BaseOperator[topspeed.Car, topspeed.Car]
	events *atomic.Int64
}

func (d *dropOperator) ProcessBatch(in []topspeed.Car, _ *engine.Output[topspeed.Car]) error {
	d.events.Add(int64(len(in)))
	return nil
}

// stateCmd runs the job with captured operator instances and reports their
// state once the input has ended.
func stateCmd(args []string) error {
	fl := flag.NewFlagSet("state", flag.ExitOnError)
	input := fl.String("input", "", "car reports")
	evict := fl.Duration("evict", 10*time.Second, "TimeEvictor size")
	par := fl.Int("parallelism", 2, "keyed subtasks")
	_ = fl.Parse(args)
	if *input == "" {
		return errors.New("state: -input is required")
	}
	cfg := topspeed.DefaultConfig()
	cfg.Evict = *evict
	spec := topspeed.Spec(cfg)
	inner := window.DeltaTimeMaxFactory[int32](spec)
	var (
		mu  sync.Mutex
		ops []*window.DeltaTimeMax[int32, topspeed.Car]
	)
	factory := func(keys engine.Keys[int32, topspeed.Car]) engine.Operator[topspeed.Car, topspeed.Car] {
		op := inner(keys)
		mu.Lock()
		defer mu.Unlock()
		if d, ok := op.(*window.DeltaTimeMax[int32, topspeed.Car]); ok {
			ops = append(ops, d)
		}
		return op
	}
	p := engine.New(engine.WithParallelism(*par))
	cars := engine.FromSource(p, "cars", engine.Source[topspeed.Car](source.NewLines(*input, topspeed.ParseCar)), engine.Monotonous(topspeed.CarTime))
	keyed := engine.KeyBy(cars, topspeed.CarID, engine.HashInt32)
	out := engine.Process(keyed, topspeed.StageName, factory)
	var results countingWriter
	engine.ToSink(out, "discard", engine.Sink[topspeed.Car](sink.NewWriter("discard", &results, topspeed.AppendCar)))
	start := time.Now()
	if err := p.Run(context.Background()); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	if len(ops) == 0 {
		return errors.New("state: no DeltaTimeMax operator was created")
	}
	var keys, retained, ckBytes int
	for _, o := range ops {
		keys += o.Keys()
		retained += o.Retained()
		st := engine.NewKeyedState()
		if err := o.OnCheckpoint(1, st); err != nil {
			return err
		}
		for _, kg := range st.KeyGroups() {
			ckBytes += len(st.Get(kg))
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("keys=%d retained=%d checkpoint_bytes=%d heap_inuse_bytes=%d results=%d seconds=%.3f evict=%s parallelism=%d\n",
		keys, retained, ckBytes, ms.HeapInuse, results.lines, secs, *evict, *par)
	return nil
}

type countingWriter struct{ lines int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.lines += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// zipfCmd writes Zipf-distributed words, 8 to 16 per line, ASCII only: a
// sentence starts with a capital letter and words are separated by a space,
// sometimes ", " or ". " (the tokenizer splits on every non-word character).
func zipfCmd(args []string) error {
	fl := flag.NewFlagSet("zipf", flag.ExitOnError)
	out := fl.String("o", "", "output file")
	mb := fl.Float64("mb", 100, "approximate size in MB (1e6 bytes)")
	vocab := fl.Uint64("vocab", 200_000, "vocabulary size")
	s := fl.Float64("s", 1.1, "Zipf exponent (> 1)")
	seed := fl.Uint64("seed", 1, "random seed")
	_ = fl.Parse(args)
	if *out == "" || *mb <= 0 || *vocab < 2 || *s <= 1 {
		return errors.New("zipf: need -o, -mb > 0, -vocab >= 2, -s > 1")
	}
	words := make([]string, *vocab)
	for i := range words {
		words[i] = pseudoWord(uint64(i))
	}
	r := rand.New(rand.NewPCG(*seed, 0x7a697066))
	z := rand.NewZipf(r, *s, 1, *vocab-1)
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	limit := int64(*mb * 1e6)
	var written, nwords int64
	line := make([]byte, 0, 256)
	capital := true
	for written < limit {
		line = line[:0]
		n := 8 + r.IntN(9)
		for j := 0; j < n; j++ {
			if j > 0 {
				switch k := r.IntN(20); {
				case k == 0:
					line = append(line, ", "...)
				case k == 1:
					line = append(line, ". "...)
					capital = true
				default:
					line = append(line, ' ')
				}
			}
			word := words[z.Uint64()]
			if capital {
				line = append(line, word[0]-'a'+'A')
				line = append(line, word[1:]...)
				capital = false
			} else {
				line = append(line, word...)
			}
			nwords++
		}
		line = append(line, '.', '\n')
		capital = true
		k, err := w.Write(line)
		written += int64(k)
		if err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("bytes=%d words=%d vocab=%d s=%g\n", written, nwords, *vocab, *s)
	return nil
}

// pseudoWord spells i in base 16 with syllables: frequent (low) ranks get
// short words.
func pseudoWord(i uint64) string {
	syl := [...]string{"ka", "to", "re", "mi", "sa", "lo", "ne", "vu", "pi", "da", "che", "ri", "mon", "tal", "bes", "gor"}
	var b strings.Builder
	for {
		b.WriteString(syl[i%16])
		i /= 16
		if i == 0 {
			break
		}
		i--
	}
	return b.String()
}

type diffError struct{ msg string }

func (d diffError) Error() string { return d.msg }

// wccheckCmd compares the final count per word of two WordCount outputs.
func wccheckCmd(args []string) error {
	if len(args) != 2 {
		return errors.New("wccheck: need two paths")
	}
	a, na, err := finalCounts(args[0])
	if err != nil {
		return err
	}
	b, nb, err := finalCounts(args[1])
	if err != nil {
		return err
	}
	var diffs []string
	for w, c := range a {
		if b[w] != c {
			diffs = append(diffs, fmt.Sprintf("%s: %d vs %d", w, c, b[w]))
		}
	}
	for w, c := range b {
		if _, ok := a[w]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: missing vs %d", w, c))
		}
	}
	if na != nb {
		diffs = append(diffs, fmt.Sprintf("records: %d vs %d", na, nb))
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		if len(diffs) > 10 {
			diffs = append(diffs[:10], fmt.Sprintf("... %d more", len(diffs)-10))
		}
		return diffError{"wccheck: different: " + strings.Join(diffs, "; ")}
	}
	var total int64
	for _, c := range a {
		total += c
	}
	fmt.Printf("identical words=%d occurrences=%d records=%d\n", len(a), total, na)
	return nil
}

// finalCounts reads (word,count) lines from a file or, recursively, a
// directory (hidden files included) and keeps the largest count per word.
func finalCounts(path string) (map[string]int64, int64, error) {
	counts := map[string]int64{}
	var records int64
	read := func(p string) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if len(line) < 5 || line[0] != '(' || line[len(line)-1] != ')' {
				return fmt.Errorf("%s: bad line %q", p, line)
			}
			i := bytes.LastIndexByte(line, ',')
			n, err := strconv.ParseInt(string(line[i+1:len(line)-1]), 10, 64)
			if i < 1 || err != nil {
				return fmt.Errorf("%s: bad line %q", p, line)
			}
			w := string(line[1:i])
			if n > counts[w] {
				counts[w] = n
			}
			records++
		}
		return sc.Err()
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	if !fi.IsDir() {
		return counts, records, read(path)
	}
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return read(p)
	})
	return counts, records, err
}
