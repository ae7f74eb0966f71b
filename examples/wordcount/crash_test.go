package main

import (
	"bufio"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/topspeed/topspeed/examples/wordcount/wordcount"
	"github.com/topspeed/topspeed/internal/testenv"
)

// These tests run the built wordcount binary as a child process and kill
// it: the runner gives the job checkpoints and restore without code of
// its own.

// wordcountBin is the command built once for the crash test; TestMain
// removes it.
var wordcountBin = &testenv.Binary{Name: "wordcount", Pkg: "."}

// startLife runs the binary with only PATH, no ops server, and env; it dies
// with the test.
func startLife(t *testing.T, env []string, args ...string) *testenv.Life {
	t.Helper()
	env = append([]string{"PATH=" + os.Getenv("PATH"), "WORDCOUNT_HTTP_ADDR="}, env...)
	return testenv.Start(t, wordcountBin.Path(t), env, args...)
}

// counts reads the published part files of a WordCount run and returns
// each word's final count. It fails the test unless every word's lines,
// in part order, count 1, 2, 3, ... without a gap or a repeat: each
// occurrence counted exactly once.
func counts(t *testing.T, dir string) map[string]int {
	t.Helper()
	parts, err := filepath.Glob(filepath.Join(dir, "part-*"))
	if err != nil || len(parts) == 0 {
		t.Fatalf("no part files in %s (%v)", dir, err)
	}
	final := map[string]int{}
	for _, p := range parts { // Glob sorts: part order
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for line := 1; sc.Scan(); line++ {
			w, n, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(sc.Text(), "("), ")"), ",")
			c, err := strconv.Atoi(n)
			if !ok || err != nil {
				t.Fatalf("%s:%d: %q is no (word,count)", p, line, sc.Text())
			}
			if c != final[w]+1 {
				t.Fatalf("%s:%d: %q follows count %d of %q: a record lost or counted twice", p, line, sc.Text(), final[w], w)
			}
			final[w] = c
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return final
}

// TestCrashRecoveryIsExact kills -9 the job at random moments (once in
// the middle of writing a checkpoint), restarting it each time with the
// same --checkpoint-dir, then lets it finish: every word's counts must be
// exactly those of a failure-free run.
func TestCrashRecoveryIsExact(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	hamlet, err := os.ReadFile("testdata/hamlet.txt")
	if err != nil {
		t.Fatal(err)
	}
	const copies = 200_000
	input := filepath.Join(dir, "hamlet-200k.txt")
	if err := os.WriteFile(input, []byte(strings.Repeat(string(hamlet), copies)), 0o644); err != nil {
		t.Fatal(err)
	}
	args := func(name string) []string {
		// Tiny batches make the job slow enough to be killed in the middle.
		return []string{"--input", input, "--parallelism", "2", "--batch-size", "2", "--checkpoint-interval", "25ms", "--log-format", "json",
			"--output", filepath.Join(dir, name+"-out"), "--checkpoint-dir", filepath.Join(dir, name+"-ck")}
	}
	ref := startLife(t, nil, args("ref")...)
	if err := ref.Wait(t, 2*time.Minute); err != nil {
		t.Fatalf("failure-free run: %v\n%s", err, ref.Stderr)
	}
	want := counts(t, filepath.Join(dir, "ref-out"))

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	killed, torn := 0, 0
	for i := 0; killed < 5; i++ {
		var env []string
		lifetime := time.Duration(50+rng.IntN(200)) * time.Millisecond
		if i == 2 {
			// Die after the data files of the next checkpoint are durable,
			// before its manifest: a half-written checkpoint.
			env, lifetime = []string{"WORDCOUNT_TEST_CRASH_AT=files-written"}, 10*time.Second
		}
		l := startLife(t, env, args("crash")...)
		select {
		case err := <-l.Done():
			if ws, ok := l.Cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && env != nil {
				torn++
				killed++
				continue
			}
			t.Fatalf("life %d ended before it was killed (%v): make the input longer\n%s", i, err, l.Stderr)
		case <-time.After(lifetime):
		}
		_ = l.Cmd.Process.Signal(syscall.SIGKILL)
		<-l.Done()
		killed++
	}
	last := startLife(t, nil, args("crash")...)
	if err := last.Wait(t, 2*time.Minute); err != nil {
		t.Fatalf("final life: %v\n%s", err, last.Stderr)
	}
	// The final life read only what the checkpoint it restored had not.
	m := regexp.MustCompile(`"msg":"summary","events":(\d+)`).FindStringSubmatch(last.Stderr.String())
	if m == nil || torn != 1 {
		t.Fatalf("no summary, or no life died writing a checkpoint (%d):\n%s", torn, last.Stderr)
	}
	// Its events are the words its source read (the source tokenizes).
	words := 0
	for _, line := range strings.Split(string(hamlet), "\n") {
		words += len(wordcount.Tokenize(line))
	}
	if read, _ := strconv.Atoi(m[1]); read >= copies*words {
		t.Fatalf("the final life read the whole input (%d words): it did not restore\n%s", read, last.Stderr)
	}
	got := counts(t, filepath.Join(dir, "crash-out"))
	if len(got) != len(want) {
		t.Fatalf("%d words, failure-free run has %d", len(got), len(want))
	}
	for w, n := range want {
		if got[w] != n {
			t.Fatalf("%q counted %d times, failure-free run %d", w, got[w], n)
		}
	}
	t.Logf("%d kill -9 (%d while writing a checkpoint): counts of %d words identical to the failure-free run", killed, torn, len(want))
}
