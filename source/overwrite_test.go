package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckOutput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.txt")
	hard := filepath.Join(dir, "hard.txt")
	sub := filepath.Join(dir, "sub")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, sub); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, out string }{
		{in, in},
		{in, link},
		{link, in},
		{in, hard},
		{in, filepath.Join(sub, "in.txt")},
		{in, filepath.Join(dir, ".", "in.txt")},
	} {
		err := CheckOutput(c.in, c.out)
		if err == nil || !strings.Contains(err.Error(), "--output "+c.out) {
			t.Errorf("input %s, output %s: %v", c.in, c.out, err)
		}
	}
	for _, c := range []struct{ in, out string }{
		{in, filepath.Join(dir, "out.txt")},
		{in, "-"},
		{in, ""},
		{"-", in},
		{filepath.Join(dir, "missing"), in},
	} {
		if err := CheckOutput(c.in, c.out); err != nil {
			t.Errorf("input %s, output %s: %v", c.in, c.out, err)
		}
	}
}
