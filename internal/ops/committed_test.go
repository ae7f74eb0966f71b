package ops

import (
	"encoding/json"
	"testing"
	"time"
)

// checkpointJSON returns last_checkpoint of /api/v1/status as raw JSON.
func checkpointJSON(t *testing.T, rec *Recorder) string {
	t.Helper()
	s := NewServer(Config{Recorder: rec})
	_, body := get(t, s.Handler(), "/api/v1/status")
	var st struct {
		Last json.RawMessage `json:"last_checkpoint"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(st.Last, &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v) // compact, keys sorted
	return string(b)
}

// TestStatusShowsCommittedCheckpoint: with HA, a follower shows the pointer
// raft committed (it took no checkpoint itself); the leader shows the newer
// of its own and the committed one, merged when they are the same.
func TestStatusShowsCommittedCheckpoint(t *testing.T) {
	rec := NewRecorder(nil)
	rec.SetRaft(RoleFollower, 3, "r1")
	if got := checkpointJSON(t, rec); got != "null" {
		t.Fatalf("no checkpoint yet: %s", got)
	}
	at := time.Date(2026, 11, 29, 18, 0, 0, 0, time.FixedZone("CET", 3600))
	rec.SetCommitted(12, "/ck/chk-12-t3", 3, at, "")
	want := `{"id":12,"path":"/ck/chk-12-t3","term":3,"time":"2026-11-29T17:00:00Z"}`
	if got := checkpointJSON(t, rec); got != want {
		t.Fatalf("follower: %s, want %s", got, want)
	}

	// This replica leads and completes checkpoint 13 before its pointer is
	// read back from raft: the newer one wins.
	rec.SetRaft(RoleLeader, 4, "r0")
	rec.CheckpointCompleted(13, 250*time.Millisecond, 4096)
	var ck CheckpointInfo
	if err := json.Unmarshal([]byte(checkpointJSON(t, rec)), &ck); err != nil || ck.ID != 13 || ck.SizeBytes != 4096 || ck.Path != "" {
		t.Fatalf("leader before the pointer: %+v %v", ck, err)
	}
	rec.SetCommitted(13, "/ck/chk-13-t4", 4, at.Add(time.Second), "")
	want = `{"duration_seconds":0.25,"id":13,"path":"/ck/chk-13-t4","size_bytes":4096,"term":4,"time":"2026-11-29T17:00:01Z"}`
	if got := checkpointJSON(t, rec); got != want {
		t.Fatalf("leader: %s, want %s", got, want)
	}

	// Leadership moved on; another leader committed 20.
	rec.SetRaft(RoleFollower, 5, "r2")
	rec.SetCommitted(20, "/ck/chk-20-t5", 5, time.Time{}, "")
	if got, want := checkpointJSON(t, rec), `{"id":20,"path":"/ck/chk-20-t5","term":5}`; got != want {
		t.Fatalf("follower again: %s, want %s", got, want)
	}
	var nilRec *Recorder
	nilRec.SetCommitted(1, "x", 1, at, "") // a nil recorder ignores it
}
