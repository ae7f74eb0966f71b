package tester_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/topspeed/topspeed/engine"
	"github.com/topspeed/topspeed/tester"
	"github.com/topspeed/topspeed/window"
)

// TestTimestampsDeclaredOnce: WithTimestamps declares the input's event
// time on the stream build gets, so a window spec there needs no Timestamp
// of its own; the results are those of TestEventTime's monotonous run,
// where the spec repeats it. Without timestamps anywhere the run fails
// saying so.
func TestTimestampsDeclaredOnce(t *testing.T) {
	in := []ev{{"a", 1, 1}, {"b", 2, 2}, {"a", 3, 12}, {"a", 4, 5}, {"b", 5, 25}, {"a", 6, 3}}
	build := func(s engine.Stream[ev]) engine.Stream[string] {
		if s.Timestamps() == nil {
			t.Errorf("the input stream carries no timestamp function")
		}
		keyed := engine.KeyBy(s, func(e ev) string { return e.K }, engine.HashString)
		return window.Apply(keyed, "window", window.Spec[string, ev, string]{
			Assigner: window.Tumbling(10*time.Millisecond, 0),
			Function: window.ReduceProcess(func(a, b ev) ev { a.V += b.V; return a }, func(k string, w window.Window, e ev) string {
				return fmt.Sprintf("%s%v=%d", k, w, e.V)
			}),
		})
	}
	got := tester.Run(t, in, build, tester.WithTimestamps(evTime))
	want := []string{"a[0,10)=1", "b[0,10)=2", "a[10,20)=3", "b[20,30)=5"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	_, err := tester.RunE(in, func(s engine.Stream[ev]) engine.Stream[string] {
		keyed := engine.KeyBy(s, func(e ev) string { return e.K }, engine.HashString)
		return window.Apply(keyed, "window", window.Spec[string, ev, string]{
			Assigner: window.Tumbling(10*time.Millisecond, 0),
			Function: window.ReduceProcess(func(a, b ev) ev { return a }, func(string, window.Window, ev) string { return "" }),
		})
	})
	if err == nil || !strings.Contains(err.Error(), "needs timestamps") {
		t.Errorf("no timestamps: err = %v", err)
	}
}
