package validate_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The library's module graph holds none of what the benchmarks and these
// deployment checks need (Kubernetes, kustomize, the Prometheus server,
// gonum): bench/ and deploy/ are modules of their own, joined by go.work.
func TestRootModuleHasNoToolDependencies(t *testing.T) {
	root := repoRoot(t)
	cmd := exec.Command("go", "mod", "graph")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod graph in %s: %v", root, err)
	}
	banned := []string{"k8s.io/", "sigs.k8s.io/", "github.com/prometheus/prometheus@", "gonum.org/"}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || !strings.HasPrefix(f[0], "github.com/topspeed/topspeed") || strings.Contains(f[0], "@") {
			continue // only the root module's own requirements
		}
		for _, b := range banned {
			if strings.HasPrefix(f[1], b) {
				t.Errorf("the root module requires %s", f[1])
			}
		}
	}
	for _, m := range []string{"bench", "deploy"} {
		if _, err := os.Stat(filepath.Join(root, m, "go.mod")); err != nil {
			t.Errorf("%s/ is not a module of its own: %v", m, err)
		}
	}
}
