package validate_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/topspeed/topspeed/deploy/validate"
	"github.com/topspeed/topspeed/internal/testenv"
)

const (
	distroless = "gcr.io/distroless/static-debian12:nonroot"
	nonRootUID = validate.NonRootUID
)

// TestDockerfile checks the Dockerfile's structure: a Go build stage on the
// go.mod Go version, a distroless nonroot final stage with OCI labels, the
// ports topspeed listens on by default, and an exec-form entrypoint (the
// image has no shell).
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	d, err := validate.ParseDockerfile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Stages) < 2 {
		t.Fatalf("%d stages, want a build stage and the final stage", len(d.Stages))
	}
	// Go version: the go.mod directive's major.minor.
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(mod))
	if m == nil {
		t.Fatal("go.mod: no go directive")
	}
	build := d.Stage("build")
	vars := d.ArgDefaults(build)
	if vars["GO_VERSION"] != m[1] {
		t.Errorf("ARG GO_VERSION=%q, go.mod says go %s", vars["GO_VERSION"], m[1])
	}
	if from := validate.Expand(build.From, vars); from != "golang:"+m[1] && !strings.HasPrefix(from, "golang:"+m[1]+"-") && !strings.HasPrefix(from, "golang:"+m[1]+"@") {
		t.Errorf("build stage FROM %s, want golang:%s", from, m[1])
	}

	// The go build line: static, trimmed, stamped.
	env, words := dockerfileBuild(t)
	line := strings.Join(env, " ") + " " + strings.Join(words, " ")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/topspeed"} {
		if !strings.Contains(line, want) {
			t.Errorf("go build line lacks %s: %s", want, line)
		}
	}
	ldflags := ""
	out := ""
	for i, w := range words {
		if w == "-ldflags" && i+1 < len(words) {
			ldflags = words[i+1]
		}
		if w == "-o" && i+1 < len(words) {
			out = words[i+1]
		}
	}
	for _, want := range []string{"-s", "-w", "-X main.version=" + testVersion, "-X main.commit=" + testCommit} {
		if !strings.Contains(" "+ldflags+" ", " "+want+" ") {
			t.Errorf("-ldflags %q lacks %q", ldflags, want)
		}
	}
	checkVersionVars(t, filepath.Join(root, "cmd", "topspeed", "version.go"))

	// The final stage.
	final := d.Final()
	if final.From != distroless && !strings.HasPrefix(final.From, distroless+"@sha256:") {
		t.Errorf("final stage FROM %s, want %s (optionally @sha256:...)", final.From, distroless)
	}
	for _, in := range final.Body {
		if (in.Cmd == "RUN" || in.Cmd == "CMD" || in.Cmd == "ENTRYPOINT" || in.Cmd == "HEALTHCHECK") && !in.ExecForm {
			t.Errorf("line %d: %s in shell form: distroless has no shell", in.Line, in.Cmd)
		}
		if in.Cmd == "RUN" {
			t.Errorf("line %d: RUN in the final stage: distroless has no shell or tools", in.Line)
		}
		if in.Cmd == "ADD" {
			t.Errorf("line %d: use COPY, not ADD", in.Line)
		}
	}
	users := final.Find("USER")
	if len(users) != 1 || (users[0].Args[0] != "nonroot:nonroot" && users[0].Args[0] != "nonroot" && users[0].Args[0] != strconv.Itoa(nonRootUID)) {
		t.Errorf("final stage USER %v, want nonroot (uid %d)", users, nonRootUID)
	}
	ep := final.Find("ENTRYPOINT")
	if len(ep) != 1 || !ep[0].ExecForm || len(ep[0].Args) != 1 {
		t.Fatalf("want one exec-form ENTRYPOINT [\"/topspeed\"], got %v", ep)
	}
	entry := ep[0].Args[0]
	copied := false
	for _, in := range final.Find("COPY") {
		if len(in.Flags) == 1 && in.Flags[0] == "--from=build" && len(in.Args) == 2 && in.Args[0] == out && in.Args[1] == entry {
			copied = true
		}
	}
	if !copied {
		t.Errorf("the final stage does not COPY --from=build %s %s", out, entry)
	}
	if len(final.Find("CMD")) > 0 {
		t.Error("CMD in the final stage: the manifests pass args; a CMD would be replaced silently")
	}
	// Ports: the defaults of --http-addr and --ha-bind.
	fl := topspeedFlags(t)
	var want []string
	for _, f := range []string{"http-addr", "ha-bind"} {
		_, port, _ := strings.Cut(fl[f].Default, ":")
		want = append(want, port)
	}
	var exposed []string
	for _, in := range final.Find("EXPOSE") {
		exposed = append(exposed, in.Args...)
	}
	if strings.Join(exposed, " ") != strings.Join(want, " ") {
		t.Errorf("EXPOSE %v, topspeed listens on %v (--http-addr, --ha-bind)", exposed, want)
	}
	labels := map[string]bool{}
	for _, in := range final.Find("LABEL") {
		for _, kv := range regexp.MustCompile(`([a-z.]+)=`).FindAllStringSubmatch(in.Raw, -1) {
			labels[kv[1]] = true
		}
	}
	for _, l := range []string{"title", "description", "source", "version", "revision"} {
		if !labels["org.opencontainers.image."+l] {
			t.Errorf("no LABEL org.opencontainers.image.%s", l)
		}
	}
	for _, in := range append(d.Global, final.Body...) {
		if strings.Contains(in.Raw, ":latest") {
			t.Errorf("line %d: pin a version, not latest", in.Line)
		}
	}
}

// checkVersionVars: the -X targets exist as package-level string variables
// of package main (the linker ignores -X for a missing name).
func checkVersionVars(t *testing.T, file string) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.VAR {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "string" && len(vs.Values) == 0 {
				for _, n := range vs.Names {
					found[n.Name] = true
				}
			}
		}
	}
	if f.Name.Name != "main" || !found["version"] || !found["commit"] {
		t.Errorf("%s: want package main with uninitialised string vars version and commit, found %v", file, found)
	}
}

// TestStaticBinary: the binary built with the Dockerfile's flags is a
// static ELF (no interpreter, no dynamic section) and carries the stamped
// version.
func TestStaticBinary(t *testing.T) {
	bin := topspeedBinary(t)
	t.Logf("built with: %s", strings.Join(buildCmd, " "))
	if err := validate.StaticELF(bin); err != nil {
		t.Fatal(err)
	}
	// The checker itself: a dynamically linked program must fail.
	for _, dyn := range []string{"/bin/ls", "/usr/bin/env"} {
		if _, err := os.Stat(dyn); err == nil {
			if err := validate.StaticELF(dyn); err == nil {
				t.Errorf("StaticELF accepts the dynamic %s", dyn)
			}
			break
		}
	}
	out, err := testenv.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "topspeed "+testVersion+"\n") || !strings.Contains(string(out), "commit: "+testCommit+"\n") {
		t.Errorf("topspeed version printed %q, want version %s and commit %s from -ldflags", out, testVersion, testCommit)
	}
}

// emptyRoot returns a root directory that holds only the binary at
// /topspeed, owned by root and not writable by the nonroot user: what the
// distroless image gives topspeed, minus even its few files.
func emptyRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, topspeedBinary(t), filepath.Join(root, "topspeed"), 0o755)
	return root
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// runSandbox runs s to completion (at most timeout) and returns its exit
// code, stdout and stderr.
func runSandbox(t *testing.T, s validate.Sandbox, timeout time.Duration) (int, string, string) {
	t.Helper()
	cmd, err := s.Command()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%v: still running after %v\nstderr:\n%s", s.Args, timeout, stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code == 120 {
		t.Fatalf("sandbox setup failed: %s", stderr.String())
	}
	return code, stdout.String(), stderr.String()
}

var resultLine = regexp.MustCompile(`^\(\d+,\d+,[0-9.E-]+,\d+\)$`)

// TestEmptyRoot runs the binary as the image runs it, but with even less:
// chroot into a directory holding only /topspeed (no libc, no shell, no
// /etc, no /tmp), user 65532, an empty environment, PID 1 of its own PID
// namespace, its own network namespace.
func TestEmptyRoot(t *testing.T) {
	if err := validate.SandboxSupported(); err != nil {
		t.Logf("no sandbox (%v): running in an empty directory with an empty environment instead", err)
		emptyDirRun(t)
		return
	}
	root := emptyRoot(t)
	sb := func(args ...string) validate.Sandbox {
		return validate.Sandbox{Root: root, Program: "/topspeed", Args: args, UID: nonRootUID, GID: nonRootUID, Hostname: "topspeed"}
	}
	t.Run("help", func(t *testing.T) {
		code, _, stderr := runSandbox(t, sb("--help"), 30*time.Second)
		if code != 0 || !strings.Contains(stderr, "--http-addr") {
			t.Fatalf("--help: exit %d\n%s", code, stderr)
		}
	})
	t.Run("version", func(t *testing.T) {
		code, stdout, stderr := runSandbox(t, sb("version"), 30*time.Second)
		if code != 0 || !strings.Contains(stdout, testVersion) || !strings.Contains(stdout, testCommit) {
			t.Fatalf("version: exit %d\n%s%s", code, stdout, stderr)
		}
	})
	t.Run("run", func(t *testing.T) {
		// The real job: generator, keyed windows, results on stdout, the ops
		// server on :9249, JSON logs, then exit 0 at the end of the input.
		code, stdout, stderr := runSandbox(t, sb("--events", "20000", "--cars", "100", "--rate", "0", "--output", "-", "--log-format", "json"), 60*time.Second)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) < 10 {
			t.Fatalf("only %d result lines:\n%s\n%s", len(lines), stdout, stderr)
		}
		for _, l := range lines {
			if !resultLine.MatchString(l) {
				t.Fatalf("result line %q is not (carId,speed,distance,timestamp)", l)
			}
		}
		if !strings.Contains(stderr, `"ops server listening"`) {
			t.Errorf("the ops server did not start:\n%s", stderr)
		}
		t.Logf("%d results", len(lines))
	})
	t.Run("the root is read-only for the nonroot user", func(t *testing.T) {
		code, _, stderr := runSandbox(t, sb("--events", "100", "--rate", "0", "--output", "/results.txt", "--http-addr", ""), 30*time.Second)
		if code == 0 || !strings.Contains(stderr, "permission denied") {
			t.Fatalf("writing /results.txt: exit %d, want permission denied\n%s", code, stderr)
		}
	})
	t.Run("no libc in the sandbox", func(t *testing.T) {
		// The sandbox really is empty: a dynamically linked program cannot
		// even start in it.
		dyn := "/bin/ls"
		if _, err := os.Stat(dyn); err != nil {
			t.Skip("no /bin/ls")
		}
		copyFile(t, dyn, filepath.Join(root, "ls"), 0o755)
		defer os.Remove(filepath.Join(root, "ls"))
		s := sb()
		s.Program = "/ls"
		cmd, err := s.Command()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("a dynamic program ran in the empty root:\n%s", out)
		}
		t.Logf("as expected: %v: %s", err, strings.TrimSpace(string(out)))
	})
	t.Run("nothing written to the root", func(t *testing.T) {
		entries, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Fatalf("the root holds %v after the runs, want only topspeed", entries)
		}
	})
}

// emptyDirRun is TestEmptyRoot without root privileges: an empty working
// directory and an empty environment (`env -i`), no chroot.
func emptyDirRun(t *testing.T) {
	bin := topspeedBinary(t)
	dir := t.TempDir()
	for _, args := range [][]string{{"--help"}, {"version"}, {"--events", "5000", "--rate", "0", "--output", "-", "--http-addr", ""}} {
		cmd := testenv.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, []string{}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the binary wrote %v into its working directory", entries)
	}
}
