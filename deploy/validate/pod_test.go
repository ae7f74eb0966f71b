package validate_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/topspeed/topspeed/deploy/validate"
	"github.com/topspeed/topspeed/internal/testenv"
)

// The image's environment (distroless sets PATH).
const imagePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Stand-ins for the secret's values.
const (
	fakeUser     = "demo-superuser"
	fakePassword = "fake-password-never-printed"
	fakeToken    = "fake-ops-token-never-printed"
)

// volumeOwnership is what deploy/prepare/<overlay>'s Job leaves on the
// shared claim's root.
func volumeOwnership(t *testing.T, overlay string) validate.Ownership {
	t.Helper()
	job := validate.FindNamed[batchv1.Job](buildDeploy(t, "prepare", overlay), validate.VolumeOwnerJob)
	if job == nil {
		t.Fatalf("deploy/prepare/%s renders no Job %s", overlay, validate.VolumeOwnerJob)
	}
	own, err := validate.VolumeOwnership(job)
	if err != nil {
		t.Fatal(err)
	}
	return own
}

// podSandbox lays out the root filesystem of one pod of a rendered
// overlay, as the kubelet and the image would: /topspeed (the image),
// every volume mount with the content of its ConfigMap or secret (fake
// values), the raft claim as an empty directory writable through the
// fsGroup, the shared claim as a vSphere CSI file volume (fsGroup not
// applied: root-owned) after deploy/prepare's Job changed its owner and
// mode, and /etc/hosts; everything else is owned by root and not writable by the
// pod's user. It returns the sandbox that runs the container's exact
// args and environment, plus extra args.
func podSandbox(t *testing.T, pod *validate.Pod, overlay, podName string, extra ...string) (validate.Sandbox, string) {
	t.Helper()
	own := volumeOwnership(t, overlay)
	root := emptyRoot(t)
	sc := pod.Spec.SecurityContext
	uid, gid, fsGroup := int(*sc.RunAsUser), int(*sc.RunAsGroup), int(*sc.FSGroup)
	mkdir := func(dir string) string {
		p := filepath.Join(root, dir)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write := func(file string, data []byte, mode os.FileMode, group int) {
		if err := os.WriteFile(file, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(file, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(file, 0, group); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range pod.Container.VolumeMounts {
		dir := mkdir(m.MountPath)
		v := pod.Volume(m.Name)
		switch {
		case v != nil && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == validate.SharedClaim:
			// A file volume: no fsGroup; the volume owner Job ran.
			mode := own.Mode
			if mode == 0 {
				mode = 0o755
			}
			if err := os.Chown(dir, own.UID, own.GID); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, mode); err != nil {
				t.Fatal(err)
			}
		case v == nil || v.PersistentVolumeClaim != nil:
			// A claim (or claim template): the kubelet applies fsGroup.
			if err := os.Chown(dir, 0, fsGroup); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o2775); err != nil {
				t.Fatal(err)
			}
		case v.ConfigMap != nil:
			cm := validate.FindNamed[corev1.ConfigMap](pod.Objects, v.ConfigMap.Name)
			for k, data := range cm.Data {
				write(filepath.Join(dir, k), []byte(data), 0o644, 0)
			}
		case v.Secret != nil:
			vals := map[string]string{validate.SecretUserKey: fakeUser, validate.SecretPasswordKey: fakePassword, validate.OpsTokenKey: fakeToken}
			if v.Secret.SecretName == validate.RaftTLSSecret {
				vals = raftTLSSecret(t, podName+"."+pod.STS.Spec.ServiceName)
			}
			for _, it := range v.Secret.Items {
				write(filepath.Join(dir, it.Path), []byte(vals[it.Key]), os.FileMode(*v.Secret.DefaultMode), fsGroup)
			}
		default:
			t.Fatalf("volume %s: no simulation for its type", v.Name)
		}
	}
	// /etc/hosts as the kubelet writes it, plus the pod's own raft name,
	// which the cluster DNS resolves (publishNotReadyAddresses).
	etc := mkdir("etc")
	svc := pod.STS.Spec.ServiceName
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n127.0.0.1\t%s.%s.%s.svc.cluster.local\t%s\n127.0.0.1\t%s.%s\n",
		podName, svc, pod.STS.Namespace, podName, podName, svc)
	write(filepath.Join(etc, "hosts"), []byte(hosts), 0o644, 0)

	env := []string{imagePath, "HOSTNAME=" + podName}
	for _, e := range pod.Container.Env {
		val := e.Value
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			val = map[string]string{validate.SecretUserKey: fakeUser, validate.SecretPasswordKey: fakePassword}[e.ValueFrom.SecretKeyRef.Key]
		}
		env = append(env, e.Name+"="+val)
	}
	return validate.Sandbox{
		Root: root, Program: "/topspeed", Args: append(append([]string(nil), pod.Container.Args...), extra...),
		Env: env, UID: uid, GID: gid, Hostname: podName,
	}, root
}

// raftTLSSecret is what cert-manager writes into the raft TLS secret: the
// CA's certificate, and a certificate (server and client auth, for
// dnsName) and its key, in PEM.
func raftTLSSecret(t *testing.T, dnsName string) map[string]string {
	caKey, ca := testenv.NewCA(t, "topspeed-raft-ca")
	key, der := testenv.IssueCert(t, ca, caKey, dnsName, dnsName)
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(typ string, b []byte) string { return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})) }
	return map[string]string{"ca.crt": enc("CERTIFICATE", ca.Raw), "tls.crt": enc("CERTIFICATE", der), "tls.key": enc("PRIVATE KEY", p8)}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// running is a started pod sandbox.
type running struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	err            error
	httpAddr       string
}

func startPod(t *testing.T, s validate.Sandbox, httpPort int32) *running {
	t.Helper()
	cmd, err := s.Command()
	if err != nil {
		t.Fatal(err)
	}
	r := &running{t: t, cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{}), httpAddr: fmt.Sprintf("127.0.0.1:%d", httpPort)}
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.err = cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// get is a probe or scrape from inside the pod's network namespace.
func (r *running) get(path string) (int, string, error) {
	return validate.HTTPGetInNetns(r.cmd.Process.Pid, r.httpAddr, path, 2*time.Second)
}

// waitFor polls path until it answers code.
func (r *running) waitFor(path string, code int, within time.Duration) string {
	r.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			r.t.Fatalf("topspeed exited (%v) before %s answered %d\nstderr:\n%s", r.err, path, code, r.stderr.String())
		default:
		}
		c, body, err := r.get(path)
		if err == nil && c == code {
			return body
		}
		last = fmt.Sprintf("%d %q %v", c, body, err)
		time.Sleep(200 * time.Millisecond)
	}
	r.t.Fatalf("%s did not answer %d within %v (last: %s)\nstderr:\n%s", path, code, within, last, r.stderr.String())
	return ""
}

// stop sends SIGTERM, as the kubelet does, and returns the exit code; it
// fails if topspeed outlives the pod's grace period.
func (r *running) stop(grace time.Duration) int {
	r.t.Helper()
	start := time.Now()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.t.Fatal(err)
	}
	select {
	case <-r.done:
	case <-time.After(grace):
		r.t.Fatalf("still running %v after SIGTERM (terminationGracePeriodSeconds): the kubelet would SIGKILL it\nstderr:\n%s", grace, r.stderr.String())
	}
	r.t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if ee, ok := r.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if r.err != nil {
		r.t.Fatal(r.err)
	}
	return 0
}

func loadPod(t *testing.T, overlay string) *validate.Pod {
	t.Helper()
	pod, err := validate.LoadPod(buildOverlay(t, overlay), topspeedFlags(t))
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

func httpPort(t *testing.T, pod *validate.Pod) int32 {
	for _, p := range pod.Container.Ports {
		if p.Name == "http" {
			return p.ContainerPort
		}
	}
	t.Fatal("no http port")
	return 0
}

func grace(pod *validate.Pod) time.Duration {
	return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
}

// checkJSONLogs: with log-format json every stderr line is a JSON object
// (log collectors parse them), and the password never appears.
func checkJSONLogs(t *testing.T, stderr string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i, l := range lines {
		if l == "" || json.Valid([]byte(l)) {
			continue
		}
		// cmd/topspeed prints its exit error as plain text, whatever
		// --log-format says.
		if i == len(lines)-1 && strings.HasPrefix(l, "topspeed: ") {
			t.Logf("plain-text exit line (not JSON): %s", l)
			continue
		}
		t.Errorf("stderr line is not JSON: %q", l)
	}
	if strings.Contains(stderr, fakePassword) {
		t.Error("the Cassandra password appears in the logs")
	}
	if strings.Contains(stderr, fakeToken) {
		t.Error("the ops token appears in the logs")
	}
}

// ownedBy checks that topspeed created files under dir as the pod's user.
func ownedBy(t *testing.T, dir string, uid int) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != uid {
			t.Errorf("%s is owned by uid %d, want %d", p, st.Uid, uid)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPodDev runs the dev overlay's pod as the cluster would: its args,
// environment, config file, secret and volumes, in a read-only root as
// user 65532. The Cassandra sink is turned off with one extra flag (no
// Cassandra here), so the results go to stdout; everything else is the
// pod's: probes answer on the declared port, SIGTERM takes a final
// checkpoint onto the shared volume within the grace period.
func TestPodDev(t *testing.T) {
	if err := validate.SandboxSupported(); err != nil {
		t.Skip(err)
	}
	pod := loadPod(t, "dev")
	s, root := podSandbox(t, pod, "dev", pod.STS.Name+"-0", "--cassandra-hosts=")
	r := startPod(t, s, httpPort(t, pod))
	r.waitFor(pod.Container.ReadinessProbe.HTTPGet.Path, 200, 30*time.Second)
	if c, _, err := r.get(pod.Container.LivenessProbe.HTTPGet.Path); err != nil || c != 200 {
		t.Errorf("liveness: %d %v", c, err)
	}
	c, metrics, err := r.get("/metrics")
	if err != nil || c != 200 || !strings.Contains(metrics, "topspeed_build_info") {
		t.Errorf("/metrics: %d %v", c, err)
	}
	c, body, err := r.get("/api/v1/status")
	var st struct {
		Role, State string
		Ready       bool
	}
	if err != nil || c != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Role != "standalone" || st.State != "running" || !st.Ready {
		t.Errorf("/api/v1/status: %d %v %s", c, err, body)
	}
	time.Sleep(time.Second)
	if code := r.stop(grace(pod)); code != 0 {
		t.Fatalf("exit %d after SIGTERM: the final checkpoint of a pod deletion or rolling update must end cleanly\n%s", code, r.stderr.String())
	}
	checkJSONLogs(t, r.stderr.String())
	if !strings.Contains(r.stderr.String(), "stopped with a final checkpoint") {
		t.Errorf("no final checkpoint on SIGTERM:\n%s", r.stderr.String())
	}
	ckpt := filepath.Join(root, pod.Settings.Value("checkpoint-dir"))
	if n := ownedBy(t, ckpt, validate.NonRootUID); n == 0 {
		t.Errorf("nothing in %s", ckpt)
	}
	results := strings.Count(r.stdout.String(), "\n")
	if results == 0 {
		t.Error("no results on stdout")
	}
	t.Logf("%d results, checkpoints in %s", results, pod.Settings.Value("checkpoint-dir"))
}

// TestPodDevCassandra runs the dev pod exactly as configured, Cassandra
// included: the password is read from the mounted secret file and the
// sink tries the configured K8ssandra service (which does not resolve
// here), so the job fails after the connect budget, shortened by one flag.
func TestPodDevCassandra(t *testing.T) {
	if err := validate.SandboxSupported(); err != nil {
		t.Skip(err)
	}
	pod := loadPod(t, "dev")
	s, _ := podSandbox(t, pod, "dev", pod.STS.Name+"-0", "--cassandra-connect-budget=1s")
	code, _, stderr := runSandbox(t, s, 60*time.Second)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (runtime error: Cassandra unreachable), not a usage error\n%s", code, stderr)
	}
	host := pod.Settings.Value("cassandra-hosts")
	if !strings.Contains(stderr, host) || !strings.Contains(stderr, "cassandra sink connecting") {
		t.Errorf("the sink did not try %s:\n%s", host, stderr)
	}
	checkJSONLogs(t, stderr)
}

// TestPodProdReplica runs one prod replica (topspeed-0) as the cluster
// would, raft included: it resolves its own <pod>.<service> name, opens
// its raft log on its claim, serves /livez, is not ready without a leader
// (the other replicas do not exist here), and leaves on SIGTERM.
func TestPodProdReplica(t *testing.T) {
	if err := validate.SandboxSupported(); err != nil {
		t.Skip(err)
	}
	pod := loadPod(t, "prod")
	s, root := podSandbox(t, pod, "prod", pod.STS.Name+"-0")
	r := startPod(t, s, httpPort(t, pod))
	r.waitFor(pod.Container.LivenessProbe.HTTPGet.Path, 200, 30*time.Second)
	body := r.waitFor(pod.Container.ReadinessProbe.HTTPGet.Path, 503, 10*time.Second)
	if !strings.Contains(body, "raft") {
		t.Errorf("/readyz: %q, want the raft check failing", body)
	}
	// The role is sampled from raft every second.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, status, err := r.get("/api/v1/status")
		var st struct{ Role, Leader string }
		if err == nil && c == 200 && json.Unmarshal([]byte(status), &st) == nil && (st.Role == "follower" || st.Role == "candidate") {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("/api/v1/status: %d %v %s, want role follower or candidate", c, err, status)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(r.stderr.String(), `"replica started"`) {
		t.Errorf("no replica started log:\n%s", r.stderr.String())
	}
	if code := r.stop(grace(pod)); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, r.stderr.String())
	}
	checkJSONLogs(t, r.stderr.String())
	raftDir := filepath.Join(root, pod.Settings.Value("ha-dir"))
	if _, err := os.Stat(filepath.Join(raftDir, "raft.db")); err != nil {
		t.Errorf("no raft log on the claim: %v", err)
	}
	ownedBy(t, raftDir, validate.NonRootUID)
}
