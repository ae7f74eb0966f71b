package main

import (
	"os"
	"strings"
	"testing"
)

// The README's --input example runs on the sample that ships with the
// repository and prints results for every car in it.
func TestShippedSampleInput(t *testing.T) {
	const path = "../../examples/cars.txt"
	in, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the sample input the README names: %v", err)
	}
	cars := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(in)), "\n") {
		id, _, _ := strings.Cut(strings.TrimPrefix(l, "("), ",")
		cars[id] = true
	}
	code, stdout, stderr := runCLI(t, "--input", path, "--http-addr", "")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		id, _, _ := strings.Cut(strings.TrimPrefix(l, "("), ",")
		seen[id] = true
	}
	if len(seen) != len(cars) || len(strings.Split(stdout, "\n")) < 10*len(cars) {
		t.Fatalf("%d result lines for cars %v; the input has cars %v", strings.Count(stdout, "\n"), seen, cars)
	}
}
