package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestStopServersDone: a local server is stopped once no scenario left
// needs it, and only if it was not running when the run began. The
// servers are fake control scripts that log their commands.
func TestStopServersDone(t *testing.T) {
	dir := t.TempDir()
	script := func(name string) string {
		p := filepath.Join(dir, name+".sh")
		body := "echo \"$1\" >> " + filepath.Join(dir, name+".log") + "\n" +
			"[ \"$1\" = info ] && { [ -e " + filepath.Join(dir, name+".up") + " ]; exit; }\n" +
			"[ \"$1\" = down ] && rm -f " + filepath.Join(dir, name+".up") + "\n"
		if err := os.WriteFile(p, []byte(body), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	up := func(name string) {
		if err := os.WriteFile(filepath.Join(dir, name+".up"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	calls := func(name string) []string {
		b, _ := os.ReadFile(filepath.Join(dir, name+".log"))
		return strings.Fields(string(b))
	}
	r := &runner{root: dir, logFile: io.Discard, localServers: []localServer{
		{"db", script("db"), []string{"S4", "S5"}},
		{"queue", script("queue"), []string{"S7"}},
		{"mine", script("mine"), []string{"S1"}},
	}}
	up("mine") // running before the run: never stopped
	before := r.serversRunning()
	up("db")
	up("queue")
	r.stopServersDone(before, []string{"S5", "S6", "S7"})
	if slices.Contains(calls("db"), "down") || slices.Contains(calls("queue"), "down") {
		t.Fatalf("stopped a server a scenario left still needs: db %v, queue %v", calls("db"), calls("queue"))
	}
	r.stopServersDone(before, []string{"S6", "S7"})
	if !slices.Contains(calls("db"), "down") || slices.Contains(calls("queue"), "down") {
		t.Fatalf("after S5: db %v (want down), queue %v (want running)", calls("db"), calls("queue"))
	}
	r.stopServersDone(before, nil)
	if !slices.Contains(calls("queue"), "down") || slices.Contains(calls("mine"), "down") {
		t.Fatalf("at the end: queue %v (want down), mine %v (running before the run: keep)", calls("queue"), calls("mine"))
	}
	if n := strings.Count(strings.Join(calls("db"), " "), "down"); n != 1 {
		t.Fatalf("db stopped %d times, want once", n)
	}
}
