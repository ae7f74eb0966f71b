package engine

// Per-stage statistics for dashboards (the ops server's /api/v1/graph).
// Everything here reads counters the engine keeps anyway (the metrics'
// stageStats, the Progress counts, the queues' channel lengths): the hot
// path is unchanged, with no allocation and no atomic operation added per
// record or per batch.

// StageStats is a sample of one stage of a running (or finished) pipeline;
// see Pipeline.Stages. Counts are cumulative; a dashboard derives rates
// from two samples.
type StageStats struct {
	// Name is the stage name given to FromSource, Process (and the
	// window package's Apply) or ToSink.
	Name string
	// Kind is "source", "operator" (a keyed stage) or "sink".
	Kind string
	// Parallelism is the number of instances: the subtasks of a keyed
	// stage, 1 for a source or a sink.
	Parallelism int
	// Inputs are the names of the stages whose records this stage
	// receives, in graph order, none for a source. Edges out of a source
	// (through chained Map, Filter, FlatMap and Union) are exact; the
	// engine keeps no link from a keyed stage to its consumers, so a stage
	// fed by a keyed stage is given the nearest keyed stage added before
	// it (exact for chains such as source -> keyed -> sinks).
	Inputs []string
	// RecordsIn counts the records the stage received: read by a source,
	// given to an operator, given to a sink. RecordsOut counts the records
	// it passed on: pushed by a source, emitted by an operator, written by
	// a sink. Operators' counts need WithMetrics (0 without); a source's
	// RecordsIn and a sink's RecordsOut are always kept (Progress). With
	// metrics, counts continue those of an earlier pipeline with the same
	// stage names on the same registry (see metrics.go).
	RecordsIn, RecordsOut int64
	// Queued is the number of batches waiting in the stage's input queues
	// (summed over subtasks) and QueueCapacity their total capacity; both
	// 0 for a source, which has no queue. A queue that stays full means
	// the stage (or one behind it) is the bottleneck: backpressure.
	Queued, QueueCapacity int
	// MaxQueueFill is the fullest subtask queue's fill, 0 to 1 (one hot
	// subtask shows even when the sum does not).
	MaxQueueFill float64
	// Watermark is the stage's current event-time watermark (Unix
	// milliseconds): a source's last emitted one, the minimum over a keyed
	// stage's subtasks (needs WithMetrics). MinWatermark if none yet, or
	// for a sink (sinks do not track event time).
	Watermark int64
}

// stager is implemented by every node kind: its part of Stages.
type stager interface {
	stageStats(o *observer) StageStats
}

// edger is implemented by outlets: the names of the stages a push reaches.
type edger interface {
	targets(dst []string) []string
}

// Stages returns a sample of every stage, in graph order (the order the
// stages were added). It may be called from any goroutine, before, during
// and after Run; before Run the counts are 0. It allocates only the result.
func (p *Pipeline) Stages() []StageStats {
	out := make([]StageStats, 0, len(p.nodes))
	for _, n := range p.nodes {
		if s, ok := n.(stager); ok {
			out = append(out, s.stageStats(p.obs))
		}
	}
	p.linkStages(out)
	return out
}

// linkStages fills in Inputs: exact edges from the sources' fanouts, and
// for stages with fewer traced producers than inputs the nearest keyed
// stage before them.
func (p *Pipeline) linkStages(st []StageStats) {
	index := make(map[string]int, len(st))
	for i := range st {
		index[st[i].Name] = i
	}
	traced := make([]int, len(st)) // producer instances traced into each stage
	for _, n := range p.nodes {
		src, ok := n.(edger)
		if i, known := index[n.name()]; !ok || !known || st[i].Kind != kindSource.String() {
			continue
		}
		for _, to := range src.targets(nil) {
			if i, ok := index[to]; ok {
				st[i].Inputs = appendOnce(st[i].Inputs, n.name())
				traced[i]++
			}
		}
	}
	lastKeyed := -1
	for _, n := range p.nodes {
		i, ok := index[n.name()]
		if !ok {
			continue
		}
		if c, ok := n.(interface{ inputCount() int }); ok && traced[i] < c.inputCount() && lastKeyed >= 0 {
			st[i].Inputs = appendOnce(st[i].Inputs, st[lastKeyed].Name)
		}
		if st[i].Kind == kindOperator.String() {
			lastKeyed = i
		}
	}
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// operatorStats sums this pipeline's metrics of stage name: records in and
// out, and the minimum watermark over its active subtasks.
func (o *observer) operatorStats(name string) (in, out, wm int64) {
	wm = MinWatermark
	if o == nil {
		return 0, 0, wm
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	first := true
	for _, s := range o.stages {
		if s.stage != name {
			continue
		}
		in += s.in.Load()
		out += s.out.Load()
		if w := s.wm.Load(); first || w < wm {
			wm, first = w, false
		}
	}
	return in, out, wm
}

// stageStats of a source: without metrics, RecordsOut is what it read
// (what it pushed is not counted apart).
func (s *sourceNode[T]) stageStats(o *observer) StageStats {
	_, out, _ := o.operatorStats(s.n)
	read := s.prog.read.Load()
	if o == nil {
		out = read
	}
	return StageStats{Name: s.n, Kind: kindSource.String(), Parallelism: 1, RecordsIn: read, RecordsOut: out, Watermark: s.prog.wm.Load()}
}

func (s *sourceNode[T]) targets(dst []string) []string { return s.outs.targets(dst) }

func (k *keyedNode[IN]) stageStats(o *observer) StageStats {
	in, out, wm := o.operatorStats(k.n)
	st := StageStats{Name: k.n, Kind: kindOperator.String(), Parallelism: len(k.subtasks), RecordsIn: in, RecordsOut: out, Watermark: wm}
	for _, sub := range k.subtasks {
		n, c := len(sub.in), cap(sub.in)
		st.Queued += n
		st.QueueCapacity += c
		if c > 0 {
			st.MaxQueueFill = max(st.MaxQueueFill, float64(n)/float64(c))
		}
	}
	return st
}

func (k *keyedNode[IN]) inputCount() int { return k.inputs }

func (s *sinkNode[T]) stageStats(o *observer) StageStats {
	in, _, _ := o.operatorStats(s.n)
	st := StageStats{Name: s.n, Kind: kindSink.String(), Parallelism: 1, RecordsIn: in, RecordsOut: s.prog.written.Load(),
		Queued: len(s.in), QueueCapacity: cap(s.in), Watermark: MinWatermark}
	if o == nil {
		st.RecordsIn = st.RecordsOut
	}
	if st.QueueCapacity > 0 {
		st.MaxQueueFill = float64(st.Queued) / float64(st.QueueCapacity)
	}
	return st
}

func (s *sinkNode[T]) inputCount() int                  { return s.inputs }
func (s *sinkNode[T]) targets(dst []string) []string    { return append(dst, s.n) }
func (e *exchange[K, T]) targets(dst []string) []string { return append(dst, e.to.n) }
func (m *mapOutlet[T, U]) targets(dst []string) []string {
	return m.next.targets(dst)
}
func (m *flatMapOutlet[T, U]) targets(dst []string) []string { return m.next.targets(dst) }
func (u *unionOutlet[T]) targets(dst []string) []string      { return u.next.targets(dst) }

// targets lists the stages f's outlets (and side streams) reach.
func (f *fanout[T]) targets(dst []string) []string {
	for _, o := range f.list {
		if e, ok := o.(edger); ok {
			dst = e.targets(dst)
		}
	}
	for _, c := range f.also {
		if e, ok := c.(edger); ok {
			dst = e.targets(dst)
		}
	}
	return dst
}
