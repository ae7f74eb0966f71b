package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoWindowCountsEveryRecord: the pipeline without its window hands
// every report of the file to the keyed stage, at p=1 and p=2, and fails
// on a bad line rather than dropping it.
func TestNoWindowCountsEveryRecord(t *testing.T) {
	const n = 20_000
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "(%d,%d,%d.5,%d)\n", i%97, 50+i%7, i, 1_700_000_000_000+int64(i)*10)
	}
	path := filepath.Join(t.TempDir(), "cars.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, par := range []int{1, 2} {
		got, err := runNoWindow(path, par)
		if err != nil || got != n {
			t.Errorf("parallelism %d: %d records, %v; want %d", par, got, err, n)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.txt")
	if err := os.WriteFile(bad, []byte(b.String()+"(1,2,x,3)\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runNoWindow(bad, 2); err == nil || !strings.Contains(err.Error(), "bad.txt:20001:") {
		t.Errorf("bad line: %v, want an error naming line 20001", err)
	}
}
