package ops

import (
	"encoding/json"
	"io/fs"
	"math"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/topspeed/topspeed/internal/ops/ui"
)

// The web dashboard: the page at / (internal/ops/ui, embedded) and the
// JSON endpoints it polls. The endpoints are a stable API, documented in
// docs/ui.md: fields are only ever added. All are GETs and need no token;
// the page sends the bearer token only with POST /api/v1/savepoints.

// Stage is one stage of the job graph (the runner converts
// engine.StageStats). Counts are cumulative.
type Stage struct {
	Name        string
	Kind        string // source, operator or sink
	Parallelism int
	Inputs      []string
	RecordsIn   int64
	RecordsOut  int64
	// Queued and QueueCapacity are batches, summed over subtasks;
	// MaxQueueFill is the fullest subtask queue's fill (0 to 1).
	Queued, QueueCapacity int
	MaxQueueFill          float64
	// Watermark is Unix milliseconds; HasWatermark is false before the
	// first one (and for sinks).
	Watermark    int64
	HasWatermark bool
}

// Cluster describes the replicas: Mode is "standalone", "ha" or
// "kafka-group".
type Cluster struct {
	Mode string
	// Self is this replica's id (HA: --ha-id).
	Self string
	// Peers are the raft peers, this replica included (HA).
	Peers []Peer
	// Partitions are the Kafka partitions this replica owns (Kafka-group
	// mode), ascending; Topic and Group name them.
	Partitions   []int32
	Topic, Group string
}

// Peer is a raft peer.
type Peer struct {
	ID      string `json:"id"`
	Address string `json:"address"`
}

// ThroughputHistory is how far back /api/v1/throughput goes, one sample
// per second.
const ThroughputHistory = 5 * time.Minute

// stageRateWindow is the span over which per-stage rates are averaged.
const stageRateWindow = 5 * time.Second

// stageSample is the stages' counts at one time.
type stageSample struct {
	at     time.Time
	counts map[string][2]int64 // name -> records in, out
}

// uiState is the server's sampled history (guarded by Server.mu).
type uiState struct {
	hist   ring[rateSample] // one per second, ThroughputHistory
	stages []stageSample    // the last stageRateWindow and one older
}

// registerUI adds the page and the JSON endpoints to the mux.
func (s *Server) registerUI() {
	static, err := fs.Sub(ui.Files, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(static)
	s.mux.Handle("GET /{$}", pageHeaders(files))
	s.mux.Handle("GET /ui/", pageHeaders(http.StripPrefix("/ui/", files)))
	s.mux.HandleFunc("GET /api/v1/overview", s.jsonHandler(func() any { return s.Overview() }))
	s.mux.HandleFunc("GET /api/v1/graph", s.jsonHandler(func() any { return s.Graph() }))
	s.mux.HandleFunc("GET /api/v1/checkpoints", s.jsonHandler(func() any { return s.Checkpoints() }))
	s.mux.HandleFunc("GET /api/v1/exceptions", s.jsonHandler(func() any { return s.Exceptions() }))
	s.mux.HandleFunc("GET /api/v1/throughput", s.handleThroughput)
}

// pageHeaders sets the headers of the dashboard's files: nothing but this
// server's own scripts, styles and requests (no CDN, no inline script),
// never framed.
func pageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) jsonHandler(get func() any) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_ = json.NewEncoder(w).Encode(get())
	}
}

// sampleUI records the throughput history and the stages' counts; called
// once a second by the sampler, with the counts just read.
func (s *Server) sampleUI(now time.Time, in, out int64) {
	var st map[string][2]int64
	if s.cfg.Stages != nil {
		stages := s.cfg.Stages()
		st = make(map[string][2]int64, len(stages))
		for _, x := range stages {
			st[x.Name] = [2]int64{x.RecordsIn, x.RecordsOut}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ui.hist.add(rateSample{now, in, out}, int(ThroughputHistory/time.Second)+1)
	if st == nil {
		return
	}
	s.ui.stages = append(s.ui.stages, stageSample{now, st})
	// Keep one sample at or before now - stageRateWindow, and the newer ones.
	i := 0
	for i+1 < len(s.ui.stages) && !s.ui.stages[i+1].at.After(now.Add(-stageRateWindow)) {
		i++
	}
	s.ui.stages = append(s.ui.stages[:0], s.ui.stages[i:]...)
}

// Overview is the body of /api/v1/overview.
type Overview struct {
	Job    string `json:"job"`
	State  string `json:"state"`
	Ready  bool   `json:"ready"`
	Mode   string `json:"mode"`
	Role   Role   `json:"role"`
	Term   uint64 `json:"term"`
	Leader string `json:"leader"`
	Self   string `json:"self,omitempty"`
	// Peers are the raft peers with whether each is the leader (HA).
	Peers []OverviewPeer `json:"peers"`
	// Partitions this replica owns (Kafka-group mode; null otherwise).
	Partitions    []int32   `json:"partitions"`
	Topic         string    `json:"topic,omitempty"`
	Group         string    `json:"group,omitempty"`
	Parallelism   int       `json:"parallelism"`
	StartTime     time.Time `json:"start_time"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	Build         BuildInfo `json:"build"`
	Rates         Rates     `json:"rates"`
	// Savepoints says whether POST /api/v1/savepoints is served here with a
	// token configured (the dashboard's button).
	Savepoints bool `json:"savepoints_enabled"`
}

// OverviewPeer is a raft peer in the overview.
type OverviewPeer struct {
	Peer
	Leader bool `json:"leader"`
	Self   bool `json:"self"`
}

// Overview returns the job's overview.
func (s *Server) Overview() Overview {
	st := s.Status()
	c := s.cluster()
	o := Overview{Job: st.Job, State: st.State, Ready: st.Ready, Mode: c.Mode, Role: st.Role, Term: st.Term, Leader: st.Leader,
		Self: c.Self, Peers: []OverviewPeer{}, Partitions: c.Partitions, Topic: c.Topic, Group: c.Group, Parallelism: st.Parallelism,
		StartTime: st.StartTime, UptimeSeconds: math.Round(time.Since(s.start).Seconds()*10) / 10, Build: st.Build, Rates: st.Rates,
		Savepoints: s.cfg.Savepoint != nil && s.cfg.Token != ""}
	for _, p := range c.Peers {
		o.Peers = append(o.Peers, OverviewPeer{Peer: p, Leader: st.Leader != "" && (st.Leader == p.ID || st.Leader == p.Address), Self: p.ID == c.Self})
	}
	return o
}

func (s *Server) cluster() Cluster {
	if s.cfg.Cluster == nil {
		return Cluster{Mode: "standalone"}
	}
	return s.cfg.Cluster()
}

// Graph is the body of /api/v1/graph.
type Graph struct {
	Stages []GraphStage `json:"stages"`
	Edges  []GraphEdge  `json:"edges"`
	// RateWindowSeconds is the span the rates are averaged over (0 before
	// two samples).
	RateWindowSeconds float64 `json:"rate_window_seconds"`
}

// GraphStage is a stage in /api/v1/graph.
type GraphStage struct {
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	Parallelism int      `json:"parallelism"`
	Inputs      []string `json:"inputs"`
	RecordsIn   int64    `json:"records_in"`
	RecordsOut  int64    `json:"records_out"`
	InRate      float64  `json:"records_in_per_second"`
	OutRate     float64  `json:"records_out_per_second"`
	Queued      int      `json:"queue_batches"`
	QueueCap    int      `json:"queue_capacity_batches"`
	// QueueFill is the fullest subtask queue's fill, 0 to 1: near 1 for
	// long, the stage (or one after it) holds the job back.
	QueueFill float64 `json:"queue_fill"`
	// WatermarkMillis (Unix ms) and WatermarkLagSeconds (wall clock minus
	// it) are null without a watermark.
	WatermarkMillis     *int64   `json:"watermark_ms"`
	WatermarkLagSeconds *float64 `json:"watermark_lag_seconds"`
}

// GraphEdge is a link from one stage to another.
type GraphEdge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Graph returns the job graph with per-stage rates.
func (s *Server) Graph() Graph {
	g := Graph{Stages: []GraphStage{}, Edges: []GraphEdge{}}
	if s.cfg.Stages == nil {
		return g
	}
	stages := s.cfg.Stages()
	s.mu.Lock()
	var first stageSample
	var last stageSample
	if n := len(s.ui.stages); n >= 2 {
		first, last = s.ui.stages[0], s.ui.stages[n-1]
	}
	s.mu.Unlock()
	secs := last.at.Sub(first.at).Seconds()
	if secs > 0 {
		g.RateWindowSeconds = math.Round(secs*1000) / 1000
	}
	now := time.Now()
	for _, x := range stages {
		gs := GraphStage{Name: x.Name, Kind: x.Kind, Parallelism: x.Parallelism, Inputs: x.Inputs, RecordsIn: x.RecordsIn,
			RecordsOut: x.RecordsOut, Queued: x.Queued, QueueCap: x.QueueCapacity, QueueFill: x.MaxQueueFill}
		if gs.Inputs == nil {
			gs.Inputs = []string{}
		}
		if a, b := first.counts[x.Name], last.counts[x.Name]; secs > 0 {
			gs.InRate, gs.OutRate = max(float64(b[0]-a[0])/secs, 0), max(float64(b[1]-a[1])/secs, 0)
		}
		if x.HasWatermark {
			wm, lag := x.Watermark, float64(now.UnixMilli()-x.Watermark)/1e3
			gs.WatermarkMillis, gs.WatermarkLagSeconds = &wm, &lag
		}
		for _, in := range x.Inputs {
			g.Edges = append(g.Edges, GraphEdge{From: in, To: x.Name})
		}
		g.Stages = append(g.Stages, gs)
	}
	return g
}

// Checkpoints is the body of /api/v1/checkpoints.
type Checkpoints struct {
	// Latest is the last completed checkpoint; with HA the one whose
	// pointer raft committed (the status's last_checkpoint).
	Latest *CheckpointInfo `json:"latest"`
	// History are the last checkpoints and savepoints this replica took,
	// newest first (at most MaxCheckpointHistory).
	History []CheckpointEntry `json:"history"`
	// Total counts all this replica recorded since it started.
	Total int64 `json:"total"`
}

// Checkpoints returns the checkpoint history.
func (s *Server) Checkpoints() Checkpoints {
	_, _, _, last := s.cfg.Recorder.State()
	h, total, _, _ := s.cfg.Recorder.History()
	if h == nil {
		h = []CheckpointEntry{}
	}
	return Checkpoints{Latest: last, History: h, Total: total}
}

// Exceptions is the body of /api/v1/exceptions.
type Exceptions struct {
	// Exceptions are the last errors, newest first (at most
	// MaxExceptions).
	Exceptions []Exception `json:"exceptions"`
	// Total counts all errors recorded since the start.
	Total int64 `json:"total"`
}

// Exceptions returns the last errors.
func (s *Server) Exceptions() Exceptions {
	_, _, e, total := s.cfg.Recorder.History()
	if e == nil {
		e = []Exception{}
	}
	return Exceptions{Exceptions: e, Total: total}
}

// Throughput is the body of /api/v1/throughput.
type Throughput struct {
	// IntervalSeconds is the time between samples (1).
	IntervalSeconds float64 `json:"interval_seconds"`
	// Samples are the job's rates over each interval of the last
	// ThroughputHistory, oldest first.
	Samples []ThroughputSample `json:"samples"`
}

// ThroughputSample is the rates over the second ending at Time.
type ThroughputSample struct {
	Time time.Time `json:"time"`
	In   float64   `json:"records_in_per_second"`
	Out  float64   `json:"records_out_per_second"`
}

// handleThroughput serves the rate history; ?since=<Unix ms> keeps only
// the samples after that time (the page asks only for what is new).
func (s *Server) handleThroughput(w http.ResponseWriter, r *http.Request) {
	since := int64(-1)
	if v := r.URL.Query().Get("since"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			httpError(w, http.StatusBadRequest, "since: want Unix milliseconds, got "+strconv.Quote(v))
			return
		}
		since = ms
	}
	t := s.Throughput()
	i := sort.Search(len(t.Samples), func(i int) bool { return t.Samples[i].Time.UnixMilli() > since })
	t.Samples = t.Samples[i:]
	s.jsonHandler(func() any { return t })(w, r)
}

// Throughput returns the rate history.
func (s *Server) Throughput() Throughput {
	s.mu.Lock()
	h := s.ui.hist.newestFirst()
	s.mu.Unlock()
	t := Throughput{IntervalSeconds: 1, Samples: []ThroughputSample{}}
	for i := len(h) - 1; i > 0; i-- {
		a, b := h[i], h[i-1]
		secs := b.at.Sub(a.at).Seconds()
		if secs <= 0 {
			continue
		}
		t.Samples = append(t.Samples, ThroughputSample{Time: b.at.UTC(), In: max(float64(b.in-a.in)/secs, 0), Out: max(float64(b.out-a.out)/secs, 0)})
	}
	return t
}
