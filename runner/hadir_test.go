package runner

import (
	"os"
	"path/filepath"
	"testing"
)

// A committed pointer must name a checkpoint inside --checkpoint-dir (as
// given or with its symlinks resolved), nothing else.
func TestInsideDir(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "ck")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "chk-1-t1"), filepath.Join(dir, "x", "..", "chk-2-t1"), filepath.Join(dir, "chk-1-t1") + "/"} {
		if err := insideDir(dir, p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if err := insideDir(link, p); err != nil {
			t.Errorf("via symlink, %s: %v", p, err)
		}
	}
	for _, p := range []string{dir, root, "/etc", filepath.Join(dir, "..", "other"), filepath.Join(dir, "..", "ck2", "chk-1-t1"), dir + "/../../etc", "relative/chk-1-t1"} {
		if err := insideDir(dir, p); err == nil {
			t.Errorf("%s accepted", p)
		}
	}
}
