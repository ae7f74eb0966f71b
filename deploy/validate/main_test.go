package validate_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/topspeed/topspeed/deploy/validate"
	"github.com/topspeed/topspeed/internal/testenv"
)

func TestMain(m *testing.M) {
	validate.MaybeRunSandboxHelper() // never returns in a sandbox helper
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// Stamped into the test binary with the Dockerfile's -X flags.
const (
	testVersion = "v0.0.0-deploytest"
	testCommit  = "deadbeef"
)

// repoRoot is the module root (two levels up from this package).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	return root
}

var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildCmd  []string // the go build words, from the Dockerfile
	buildErr  error
)

// dockerfileBuild returns the build stage's `go build` command of the
// Dockerfile, split into words with the ARGs expanded: leading VAR=value
// assignments, then go build and its flags.
func dockerfileBuild(t testing.TB) (env, words []string) {
	t.Helper()
	d, err := validate.ParseDockerfile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	st := d.Stage("build")
	if st == nil {
		t.Fatal("Dockerfile: no stage named build")
	}
	vars := d.ArgDefaults(st)
	vars["VERSION"], vars["COMMIT"] = testVersion, testCommit
	vars["TARGETOS"], vars["TARGETARCH"] = runtime.GOOS, runtime.GOARCH
	var found []string
	for _, in := range st.Find("RUN") {
		if len(in.Args) == 1 && strings.Contains(in.Args[0], "go build") {
			if found != nil {
				t.Fatal("Dockerfile: two RUN go build")
			}
			found, err = validate.ShellWords(validate.Expand(in.Args[0], vars))
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if found == nil {
		t.Fatal("Dockerfile: no RUN go build in the build stage")
	}
	assign := regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`)
	i := 0
	for ; i < len(found) && assign.MatchString(found[i]); i++ {
		env = append(env, found[i])
	}
	return env, found[i:]
}

// topspeedBinary builds cmd/topspeed once, with the Dockerfile's own go
// build command (output redirected into a directory that TestMain removes,
// inside go test's work directory), and returns its path.
func topspeedBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		env, words := dockerfileBuild(t)
		buildDir, buildErr = testenv.MainTempDir("topspeed-validate-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "topspeed")
		args := append([]string(nil), words...)
		for i := range args {
			if args[i] == "-o" && i+1 < len(args) {
				args[i+1] = binPath
			}
		}
		if len(args) < 2 || args[0] != "go" || args[1] != "build" {
			buildErr = fmt.Errorf("Dockerfile: RUN does not start with go build: %q", words)
			return
		}
		buildCmd = words
		cmd := testenv.Command("go", args[1:]...)
		cmd.Dir = repoRoot(t)
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args[1:], " "), err, out.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

var (
	flagsOnce sync.Once
	flags     validate.Flags
	flagsErr  error
	helpText  string
)

// topspeedFlags returns the flags of the built binary's --help.
func topspeedFlags(t testing.TB) validate.Flags {
	t.Helper()
	bin := topspeedBinary(t)
	flagsOnce.Do(func() {
		cmd := testenv.Command(bin, "--help")
		cmd.Env = []string{}
		out, err := cmd.CombinedOutput()
		if err != nil {
			flagsErr = fmt.Errorf("topspeed --help: %v\n%s", err, out)
			return
		}
		helpText = string(out)
		flags, flagsErr = validate.ParseHelp(helpText)
	})
	if flagsErr != nil {
		t.Fatal(flagsErr)
	}
	return flags
}

// opsRoutes returns the routes of topspeed's ops server.
func opsRoutes(t testing.TB) map[string]bool {
	t.Helper()
	r, err := validate.OpsRoutes(filepath.Join(repoRoot(t), "internal", "ops", "server.go"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// goList runs go list in dir.
func goList(dir string, args ...string) (string, error) {
	cmd := testenv.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return "", fmt.Errorf("go list: %v\n%s", err, ee.Stderr)
		}
		return "", err
	}
	return string(out), nil
}
