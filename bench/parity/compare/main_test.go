package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runCompare(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String() + errOut.String()
}

const uuidA = "34f259c1-6739-4395-8ce0-0abdf1b93172"
const uuidB = "7a4141f5-8a32-49ae-a5a4-981e2b301fb9"

func TestIdenticalAcrossLayouts(t *testing.T) {
	dir := t.TempDir()
	// Flink-like directory: two writers (uuids), car 1 spans part files 2, 10
	// and an in-progress file 11 of writer A; car 2 is in writer B.
	out := filepath.Join(dir, "flink")
	write(t, filepath.Join(out, "2026-01-01--10", "part-"+uuidA+"-10"), "(1,60,1.0E7,3)\n")
	write(t, filepath.Join(out, "2026-01-01--10", "part-"+uuidA+"-2"), "(1,50,15.5,1)\n(1,55,20.0,2)\n")
	write(t, filepath.Join(out, "2026-01-01--10", ".part-"+uuidA+"-11.inprogress.0b2c"), "(1,65,-0.0,4)\n")
	write(t, filepath.Join(out, "2026-01-01--10", "part-"+uuidB+"-0"), "(2,40,1.0E-4,7)\n\n")
	// The same records in one file, cars interleaved, Go float syntax.
	single := filepath.Join(dir, "single.txt")
	write(t, single, "(2,40,0.0001,7)\n(1,50,15.5,1)\r\n(1,55,20,2)\n(1,60,1e+07,3)\n(1,65,0,4)\n")

	code, msg := runCompare(t, out, single)
	if code != 0 {
		t.Fatalf("code %d: %s", code, msg)
	}
	if !strings.Contains(msg, "identical: 2 cars, 5 records") {
		t.Fatalf("unexpected summary: %s", msg)
	}
}

func TestDifferences(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.txt")
	write(t, a, "(1,50,15.5,1)\n(2,40,1.0,7)\n(1,55,20.0,2)\n")
	cases := []struct {
		name, b, want string
	}{
		{"distance", "(1,50,15.5,1)\n(2,40,1.0,7)\n(1,55,20.000000000000004,2)\n", "car 1 differs at index 1 (distance differ"},
		{"order", "(1,55,20.0,2)\n(1,50,15.5,1)\n(2,40,1.0,7)\n", "car 1 differs at index 0 (speed,distance,timestamp differ"},
		{"missing", "(1,50,15.5,1)\n(2,40,1.0,7)\n", "car 1 differs at index 1 (record count; A has 2 records, B has 1)"},
		{"extra car", "(1,50,15.5,1)\n(2,40,1.0,7)\n(1,55,20.0,2)\n(3,1,1.0,1)\n", "car 3 differs at index 0 (record count; A has 0 records, B has 1)"},
		{"timestamp", "(1,50,15.5,1)\n(2,40,1.0,8)\n(1,55,20.0,2)\n", "car 2 differs at index 0 (timestamp differ"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".txt")
			write(t, b, c.b)
			code, msg := runCompare(t, a, b)
			if code != 1 || !strings.Contains(msg, c.want) || !strings.Contains(msg, "DIFFERENT") {
				t.Fatalf("code %d, want 1 and %q in:\n%s", code, c.want, msg)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.txt")
	write(t, a, "(1,50,15.5,1)\n")
	for _, bad := range []string{"1,50,15.5,1\n", "(1,50,15.5)\n", "(x,50,15.5,1)\n", "(1,50,abc,1)\n", "(2147483648,50,1.0,1)\n"} {
		b := filepath.Join(dir, "b.txt")
		write(t, b, bad)
		if code, msg := runCompare(t, a, b); code != 2 {
			t.Errorf("%q: code %d, want 2: %s", bad, code, msg)
		}
	}
	if code, _ := runCompare(t, a, filepath.Join(dir, "nope")); code != 2 {
		t.Errorf("missing file: code %d, want 2", code)
	}
	if code, _ := runCompare(t, a); code != 2 {
		t.Errorf("one argument: code %d, want 2", code)
	}
}

func TestSortFiles(t *testing.T) {
	files := []string{
		"o/b2/part-" + uuidA + "-0",
		"o/b1/zzz",
		"o/b1/part-" + uuidA + "-10",
		"o/b1/.part-" + uuidA + "-11.inprogress.1234",
		"o/b1/part-" + uuidA + "-9",
		"o/b1/part-" + uuidB + "-0",
	}
	sortFiles(files)
	want := []string{
		"o/b1/zzz",
		"o/b1/part-" + uuidA + "-9",
		"o/b1/part-" + uuidA + "-10",
		"o/b1/.part-" + uuidA + "-11.inprogress.1234",
		"o/b1/part-" + uuidB + "-0",
		"o/b2/part-" + uuidA + "-0",
	}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Fatalf("got  %v\nwant %v", files, want)
	}
}
