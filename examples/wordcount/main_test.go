package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines and removes the binary that the
// crash test built, whatever the result.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		wordcountBin.Remove()
		os.Exit(code)
	}))
}

// noOpsServer is the tests' environment: no variables, except one that
// turns the ops server off (the default port is shared).
func noOpsServer(k string) (string, bool) { return "", k == "WORDCOUNT_HTTP_ADDR" }

func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &o, &e, noOpsServer)
	return code, o.String(), e.String()
}

// hamletCounts is testdata/hamlet.txt's WordCount output, the running count
// of every word occurrence; Flink 1.20's WordCount example prints the same
// lines for it with parallelism 1.
const hamletCounts = `(to,1)
(be,1)
(or,1)
(not,1)
(to,2)
(be,2)
(that,1)
(is,1)
(the,1)
(question,1)
(whether,1)
(tis,1)
(nobler,1)
(in,1)
(the,2)
(mind,1)
(to,3)
(suffer,1)
(the,3)
(slings,1)
(and,1)
(arrows,1)
(of,1)
(outrageous,1)
(fortune,1)
(na,1)
(ve,1)
(caf,1)
(_au_lait,1)
(42nd,1)
(to,4)
(do,1)
`

func TestWordCountFile(t *testing.T) {
	code, out, errOut := runCmd(t, "", "--input", "testdata/hamlet.txt", "--parallelism", "1")
	if code != exitOK || out != hamletCounts {
		t.Fatalf("exit %d, stderr %q, output:\n%s", code, errOut, out)
	}
	// With several subtasks and tiny batches, each word's records are the same.
	code, out, _ = runCmd(t, "", "--input", "testdata/hamlet.txt", "--parallelism", "3", "--batch-size", "2")
	if code != exitOK || perWord(out) != perWord(hamletCounts) {
		t.Fatalf("parallelism 3: exit %d, output:\n%s", code, out)
	}
}

// perWord returns the lines grouped by word, in order within a word.
func perWord(out string) string {
	by := map[string][]string{}
	var words []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		w, _, _ := strings.Cut(l, ",")
		if by[w] == nil {
			words = append(words, w)
		}
		by[w] = append(by[w], l)
	}
	var b strings.Builder
	slices.Sort(words)
	for _, w := range words {
		b.WriteString(strings.Join(by[w], " ") + "\n")
	}
	return b.String()
}

// TestWindowWordCountFiles reads testdata/abab.txt (words a b a a b a a a
// b) twice, once from stdin, into an output file. The second copy
// continues the counts: a occurs 12 times, b 6 times.
func TestWindowWordCountFiles(t *testing.T) {
	abab, err := os.ReadFile("testdata/abab.txt")
	if err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(t.TempDir(), "sub", "counts.txt")
	code, out, errOut := runCmd(t, string(abab), "--input", "testdata/abab.txt", "--input", "-",
		"--output", outPath, "--window", "3", "--slide", "2", "--parallelism", "1")
	if code != exitOK || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	got, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	// countWindow(3, 2): every 2nd occurrence of a word, min(count, 3).
	// a: #2 #4 #6 #8 #10 #12 at positions 3 6 8 | 12 15 17 (second copy
	// starts at 10); b: #2 #4 #6 at positions 5 | 11 18.
	want := "(a,2)\n(b,2)\n(a,3)\n(a,3)\n(b,3)\n(a,3)\n(a,3)\n(a,3)\n(b,3)\n"
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestStdinDefault(t *testing.T) {
	code, out, _ := runCmd(t, "Hello hello\nHELLO world\n", "--parallelism", "1")
	if want := "(hello,1)\n(hello,2)\n(hello,3)\n(world,1)\n"; code != exitOK || out != want {
		t.Errorf("exit %d, output %q, want %q", code, out, want)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--nope"},
		{"file.txt"},
		{"--input", "testdata/missing.txt"},
		{"--input", "testdata"},
		{"--input", "-", "--input", "-"},
		{"--window", "-1"},
		{"--slide", "3"},
		{"--parallelism", "0"},
		{"--batch-size", "0"},
	} {
		if code, _, errOut := runCmd(t, "", args...); code != exitUsage || !strings.HasPrefix(errOut, "wordcount: ") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
		}
	}
	if code, _, errOut := runCmd(t, "", "--help"); code != exitOK || !strings.Contains(errOut, "--window") {
		t.Errorf("--help: exit %d, stderr %q", code, errOut)
	}
}

func TestRunFailure(t *testing.T) {
	// An output path under a regular file cannot be created.
	code, _, errOut := runCmd(t, "", "--input", "testdata/abab.txt", "--output", "testdata/abab.txt/x")
	if code != exitFailure || !strings.Contains(errOut, "abab.txt") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
