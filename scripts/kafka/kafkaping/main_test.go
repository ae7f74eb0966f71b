package main

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/topspeed/topspeed/internal/testenv"
)

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-brokers", " , "},
		{"-timeout", "0s"},
		{"-timeout", "11m"},
		{"extra"},
		{"-nosuchflag"},
	} {
		var out, errb bytes.Buffer
		if rc := run(args, &out, &errb); rc != exitUsage {
			t.Errorf("run(%q) = %d, want %d (stderr %q)", args, rc, exitUsage, errb.String())
		}
	}
}

func TestClosedPortFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	var out, errb bytes.Buffer
	if rc := run([]string{"-brokers", addr, "-timeout", "2s"}, &out, &errb); rc != exitFail {
		t.Fatalf("run against closed %s = %d, want %d", addr, rc, exitFail)
	}
	if !strings.Contains(errb.String(), addr) {
		t.Errorf("error does not name the address: %q", errb.String())
	}
}

func TestRealBroker(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	var out, errb bytes.Buffer
	if rc := run([]string{"-brokers", strings.Join(brokers, ","), "-timeout", "10s"}, &out, &errb); rc != exitOK {
		t.Fatalf("run = %d, stderr %q", rc, errb.String())
	}
	if !strings.Contains(out.String(), "brokers 1@") {
		t.Errorf("summary %q names no broker 1", out.String())
	}
	out.Reset()
	if rc := run([]string{"-q", "-brokers", strings.Join(brokers, ",")}, &out, &errb); rc != exitOK || out.Len() != 0 {
		t.Errorf("-q: rc %d, stdout %q", rc, out.String())
	}
}
