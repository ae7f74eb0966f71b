package ha

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func observed(level zapcore.Level) (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(level)
	return zap.New(core), logs
}

// nestedLog matches what the old adapter put inside zap messages: hclog's
// own timestamp or level label.
var nestedLog = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|\[(TRACE|DEBUG|INFO|WARN|ERROR|ERR)\]`)

// checkClean fails on an entry carrying hclog's own text.
func checkClean(t *testing.T, e observer.LoggedEntry) {
	t.Helper()
	if nestedLog.MatchString(e.Message) {
		t.Errorf("message carries a timestamp or level of its own: %q", e.Message)
	}
	for _, f := range e.Context {
		if f.Type == zapcore.ByteStringType || f.Key == "msg" {
			t.Errorf("raft's output wrapped in a field: %+v", f)
		}
	}
}

func TestHCLogLevels(t *testing.T) {
	zl, logs := observed(zapcore.DebugLevel)
	l := newHCLog(zl, "raft", hclog.Trace)
	l.Trace("t")
	l.Debug("d")
	l.Info("i")
	l.Warn("w")
	l.Error("e")
	l.Log(hclog.Warn, "lw")
	l.Log(hclog.Off, "off")
	want := []struct {
		msg   string
		level zapcore.Level
	}{
		{"t", zapcore.DebugLevel}, {"d", zapcore.DebugLevel}, {"i", zapcore.InfoLevel},
		{"w", zapcore.WarnLevel}, {"e", zapcore.ErrorLevel}, {"lw", zapcore.WarnLevel},
	}
	got := logs.AllUntimed()
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Message != w.msg || got[i].Level != w.level || got[i].LoggerName != "raft" {
			t.Errorf("entry %d: %q at %v by %q, want %q at %v by raft", i, got[i].Message, got[i].Level, got[i].LoggerName, w.msg, w.level)
		}
		checkClean(t, got[i])
	}

	// The hclog level filters first, shared with derived loggers; then zap's.
	zl, logs = observed(zapcore.InfoLevel)
	l = newHCLog(zl, "raft", hclog.Warn)
	sub := l.Named("net")
	l.Info("dropped")
	sub.Info("dropped")
	sub.Warn("kept")
	if n := logs.Len(); n != 1 {
		t.Fatalf("%d entries, want 1: %+v", n, logs.AllUntimed())
	}
	if l.IsInfo() || !l.IsWarn() || !sub.IsError() {
		t.Error("Is* at Warn")
	}
	l.SetLevel(hclog.Debug)
	if sub.GetLevel() != hclog.Debug || !sub.IsInfo() {
		t.Error("SetLevel does not reach the derived logger")
	}
	if sub.IsDebug() || sub.IsTrace() {
		t.Error("IsDebug must follow zap's level (info) too")
	}
	sub.Debug("dropped by zap")
	if n := logs.Len(); n != 1 {
		t.Fatalf("%d entries, want 1", n)
	}
	l.SetLevel(hclog.Off)
	l.Error("off")
	if n := logs.Len(); n != 1 || l.IsError() {
		t.Fatal("Off logs")
	}
}

func TestHCLogFields(t *testing.T) {
	zl, logs := observed(zapcore.DebugLevel)
	l := newHCLog(zl, "raft", hclog.Debug)
	boom := errors.New("boom")
	l.Error("failed to appendEntries to", "peer", raft.ServerAddress("127.0.0.1:7001"), "error", boom, "term", uint64(7))
	l.Warn("odd", "k", 1, "lonely")
	l.Info("formatted %d/%s", "a", 1, hclog.Format{2, "x"})
	l.Info("hex", "v", hclog.Hex(255))

	es := logs.AllUntimed()
	if len(es) != 4 {
		t.Fatalf("%d entries: %+v", len(es), es)
	}
	e := es[0]
	checkClean(t, e)
	if e.Message != "failed to appendEntries to" || e.Level != zapcore.ErrorLevel {
		t.Fatalf("entry %q at %v", e.Message, e.Level)
	}
	m := e.ContextMap()
	if m["peer"] != raft.ServerAddress("127.0.0.1:7001") || m["error"] != "boom" || m["term"] != uint64(7) || len(m) != 3 {
		t.Fatalf("fields %#v", m)
	}
	if m := es[1].ContextMap(); m["k"] != int64(1) || m[hclog.MissingKey] != "lonely" {
		t.Fatalf("odd args: %#v", m)
	}
	if es[2].Message != "formatted 2/x" || es[2].ContextMap()["a"] != int64(1) {
		t.Fatalf("hclog.Format: %q %#v", es[2].Message, es[2].ContextMap())
	}
	if v := es[3].ContextMap()["v"]; v != "0xff" {
		t.Fatalf("hclog.Hex: %#v", v)
	}
}

// TestHCLogJSONLine: one raft call is one JSON line with one timestamp,
// the level, the name, the message and the fields.
func TestHCLogJSONLine(t *testing.T) {
	var buf bytes.Buffer
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	zl := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(ec), zapcore.AddSync(&buf), zapcore.DebugLevel))
	newHCLog(zl, "raft", hclog.Warn).Error("failed to contact", "server-id", raft.ServerID("n2"), "error", errors.New("dial tcp: refused"))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines: %s", len(lines), buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"level": "error", "logger": "raft", "msg": "failed to contact", "server-id": "n2", "error": "dial tcp: refused"}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v (line %s)", k, m[k], v, lines[0])
		}
	}
	if n := len(nestedLog.FindAllString(lines[0], -1)); n != 1 {
		t.Errorf("%d timestamps or level labels in %s, want 1 (zap's ts)", n, lines[0])
	}
}

func TestHCLogWithAndNames(t *testing.T) {
	zl, logs := observed(zapcore.DebugLevel)
	root := zl.Named("ha")
	l := newHCLog(root, "raft", hclog.Info)
	w := l.With("id", "n1", "addr", "a").With("addr", "b")
	if got := fmt.Sprint(w.ImpliedArgs()); got != "[id n1 addr b]" {
		t.Fatalf("ImpliedArgs %s", got)
	}
	if len(l.ImpliedArgs()) != 0 {
		t.Fatal("With changed its parent")
	}
	n := w.Named("net")
	r := n.ResetNamed("other")
	if l.Name() != "raft" || n.Name() != "raft.net" || r.Name() != "other" {
		t.Fatalf("names %q %q %q", l.Name(), n.Name(), r.Name())
	}
	n.Info("x", "k", "v")
	r.Info("y")
	es := logs.AllUntimed()
	if len(es) != 2 {
		t.Fatalf("%d entries", len(es))
	}
	if es[0].LoggerName != "ha.raft.net" || es[1].LoggerName != "ha.other" {
		t.Fatalf("zap names %q %q", es[0].LoggerName, es[1].LoggerName)
	}
	if m := es[0].ContextMap(); m["id"] != "n1" || m["addr"] != "b" || m["k"] != "v" || len(m) != 3 {
		t.Fatalf("fields %#v", m)
	}
	if m := es[1].ContextMap(); m["id"] != "n1" || m["addr"] != "b" {
		t.Fatalf("ResetNamed lost the implied args: %#v", m)
	}
}

func TestHCLogStandardLogger(t *testing.T) {
	zl, logs := observed(zapcore.DebugLevel)
	l := newHCLog(zl, "raft", hclog.Debug)
	sl := l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	sl.Println("[ERROR] raft: failed to contact: peer=n2")
	sl.Println("2026-11-29T18:00:00.123Z [WARN]  raft: heartbeat timeout reached")
	sl.Println("2026/11/29 18:00:00 [DEBUG] snapshot taken")
	sl.Println("no prefix")
	fmt.Fprint(l.StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Error}), "[INFO] forced\n\nsecond line\n")
	want := []struct {
		msg   string
		level zapcore.Level
	}{
		{"raft: failed to contact: peer=n2", zapcore.ErrorLevel},
		{"raft: heartbeat timeout reached", zapcore.WarnLevel},
		{"snapshot taken", zapcore.DebugLevel},
		{"no prefix", zapcore.InfoLevel},
		{"forced", zapcore.ErrorLevel},
		{"second line", zapcore.ErrorLevel},
	}
	es := logs.AllUntimed()
	if len(es) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(es), len(want), es)
	}
	for i, w := range want {
		if es[i].Message != w.msg || es[i].Level != w.level {
			t.Errorf("entry %d: %q at %v, want %q at %v", i, es[i].Message, es[i].Level, w.msg, w.level)
		}
		checkClean(t, es[i])
	}
}

// TestHCLogRaftTransport: raft's network transport, given the adapter, logs
// a garbled connection as one error entry with the error as a field.
func TestHCLogRaftTransport(t *testing.T) {
	zl, logs := observed(zapcore.DebugLevel)
	tr, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 1, time.Second, newHCLog(zl, "raft", hclog.Warn).Named("net"))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c, err := net.Dial("tcp", string(tr.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	// rpcType 0xff is unknown: the transport logs "failed to decode
	// incoming command" with the error.
	if _, err := c.Write([]byte{0xff, 0xc0}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for logs.FilterMessage("failed to decode incoming command").Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no entry from the transport: %+v", logs.AllUntimed())
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.Close()
	e := logs.FilterMessage("failed to decode incoming command").AllUntimed()[0]
	checkClean(t, e)
	if e.Level != zapcore.ErrorLevel || e.LoggerName != "raft.net" {
		t.Fatalf("entry at %v by %q", e.Level, e.LoggerName)
	}
	if s, _ := e.ContextMap()["error"].(string); !strings.Contains(s, "unknown rpc type") {
		t.Fatalf("error field %#v", e.ContextMap())
	}
}

// TestHCLogRaftCluster: a real cluster losing its leader logs raft's
// warnings as clean zap entries (no hclog text inside), named raft.
func TestHCLogRaftCluster(t *testing.T) {
	zl, logs := observed(zapcore.DebugLevel)
	addrs := freePorts(t, 3)
	var peers []Peer
	for i, a := range addrs {
		peers = append(peers, Peer{ID: fmt.Sprintf("n%d", i), Address: a})
	}
	nodes := make([]*Node, len(addrs))
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.Shutdown()
			}
		}
	}()
	for i := range addrs {
		c := DefaultConfig()
		c.ID, c.Bind, c.Peers, c.Dir, c.Logger = peers[i].ID, addrs[i], peers, t.TempDir(), zl
		n, err := Start(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = n
	}
	l := waitLeader(t, nodes)
	nodes[l].Shutdown()
	nodes[l] = nil
	waitLeader(t, nodes)
	var raftEntries []observer.LoggedEntry
	for _, e := range logs.AllUntimed() {
		if !strings.HasPrefix(e.LoggerName, "raft") {
			continue
		}
		raftEntries = append(raftEntries, e)
		checkClean(t, e)
		if e.Level < zapcore.WarnLevel {
			t.Errorf("raft entry below warn: %q at %v", e.Message, e.Level)
		}
	}
	if len(raftEntries) == 0 {
		t.Fatal("losing the leader logged no raft warning")
	}
	t.Logf("%d raft entries, e.g. %s %q %v", len(raftEntries), raftEntries[0].Level, raftEntries[0].Message, raftEntries[0].ContextMap())
}
