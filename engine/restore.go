package engine

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// ErrIncompatibleState is wrapped by the error Run returns, before any stage
// opens, when the snapshot given to RestoreFrom does not fit the pipeline:
// it was taken with another max parallelism, or it holds state that no
// stage of the pipeline claims (see AllowNonRestoredState).
var ErrIncompatibleState = errors.New("engine: snapshot does not fit the pipeline")

// RestoreOption changes how a pipeline restores a snapshot (RestoreFrom).
type RestoreOption func(*restoreOptions)

type restoreOptions struct {
	allowNonRestored bool
}

// AllowNonRestoredState lets Run restore a snapshot that holds state no
// stage of the pipeline claims, as Flink's --allowNonRestoredState does:
// state of a keyed, source or sink stage the pipeline does not have (or
// that has another kind, or cannot restore state), and key groups outside
// [0, max parallelism). That state is dropped, and each dropped part is
// logged on the pipeline's logger (a warning naming the stage, its kind,
// the reason and the key groups or bytes). It never allows a snapshot
// taken with another max parallelism: state cannot be re-sharded across
// key-group counts.
func AllowNonRestoredState() RestoreOption {
	return func(o *restoreOptions) { o.allowNonRestored = true }
}

// restoreTarget is what a stage can take back from a snapshot.
type restoreTarget struct {
	kind     stageKind
	stateful bool // a source or sink that can restore its own state
}

// restorer is implemented by every stage; a stage that does not claims
// nothing.
type restorer interface {
	restoreTarget() restoreTarget
}

func (s *sourceNode[T]) restoreTarget() restoreTarget {
	_, ok := s.src.(StatefulSource[T])
	return restoreTarget{kind: kindSource, stateful: ok}
}

func (k *keyedNode[IN]) restoreTarget() restoreTarget {
	return restoreTarget{kind: kindOperator, stateful: true}
}

func (s *sinkNode[T]) restoreTarget() restoreTarget {
	_, ok := s.sink.(StatefulSink[T])
	return restoreTarget{kind: kindSink, stateful: ok}
}

// unclaimed is one part of a snapshot no stage takes.
type unclaimed struct {
	kind   stageKind // the kind of state: source position, watermark, operator or sink state
	what   string    // "position", "watermark", "state"
	stage  string
	reason string
	groups []int // operator state: the key groups dropped
	bytes  int   // source and sink state: its size
}

func (u unclaimed) String() string {
	detail := ""
	switch {
	case u.kind == kindOperator:
		detail = " (key groups " + formatKeyGroups(u.groups) + ")"
	case u.what != "watermark":
		detail = " (" + strconv.Itoa(u.bytes) + " bytes)"
	}
	return fmt.Sprintf("%s stage %q %s%s: %s", u.kind, u.stage, u.what, detail, u.reason)
}

// prepareRestore checks p.restore against the pipeline before any stage
// starts, and replaces it with the part the stages claim. Called by Run
// with p.mu held.
func (p *Pipeline) prepareRestore() error {
	snap := p.restore
	if snap == nil {
		return nil
	}
	maxPar := p.cfg.MaxParallelism
	if snap.MaxParallelism != 0 && snap.MaxParallelism != maxPar {
		return fmt.Errorf("%w: checkpoint %d was taken with max parallelism %d, this pipeline has %d; "+
			"state cannot be re-sharded across key-group counts: run with max parallelism %d",
			ErrIncompatibleState, snap.ID, snap.MaxParallelism, maxPar, snap.MaxParallelism)
	}
	targets := map[string]restoreTarget{}
	for _, n := range p.nodes {
		if r, ok := n.(restorer); ok {
			targets[n.name()] = r.restoreTarget()
		}
	}
	kept, dropped := splitSnapshot(snap, targets, maxPar)
	if len(dropped) == 0 {
		return nil
	}
	if !p.restoreOpts.allowNonRestored {
		parts := make([]string, len(dropped))
		for i, u := range dropped {
			parts[i] = u.String()
		}
		return fmt.Errorf("%w: checkpoint %d holds state no stage of this pipeline claims: %s; "+
			"restore with AllowNonRestoredState to drop it", ErrIncompatibleState, snap.ID, strings.Join(parts, "; "))
	}
	for _, u := range dropped {
		f := []zap.Field{zap.Uint64("checkpoint", snap.ID), zap.String("stage", u.stage),
			zap.Stringer("kind", u.kind), zap.String("state", u.what), zap.String("reason", u.reason)}
		if u.kind == kindOperator {
			f = append(f, zap.String("key_groups", formatKeyGroups(u.groups)), zap.Int("key_group_count", len(u.groups)))
		} else if u.what != "watermark" {
			f = append(f, zap.Int("bytes", u.bytes))
		}
		p.cfg.Logger.Warn("restore: dropping state no stage claims (AllowNonRestoredState)", f...)
	}
	p.restore = kept
	return nil
}

// splitSnapshot returns the part of snap the stages in targets claim, and
// what they do not, in a stable order (kind, then stage name).
func splitSnapshot(snap *Snapshot, targets map[string]restoreTarget, maxPar int) (*Snapshot, []unclaimed) {
	kept := &Snapshot{ID: snap.ID, MaxParallelism: snap.MaxParallelism, Pauses: snap.Pauses, OperatorPauses: snap.OperatorPauses,
		Sources: map[string][]byte{}, Watermarks: map[string]int64{}, Operators: map[string]*KeyedState{}, Sinks: map[string][]byte{}}
	var dropped []unclaimed
	// why says why stage cannot take state of kind (stateful: it must also
	// restore state of its own), "" if it can.
	why := func(stage string, kind stageKind, stateful bool) string {
		t, ok := targets[stage]
		switch {
		case !ok:
			return "the pipeline has no stage of that name"
		case t.kind != kind:
			return fmt.Sprintf("it is a %s stage in this pipeline", t.kind)
		case stateful && !t.stateful:
			return fmt.Sprintf("the %s cannot restore state", kind)
		}
		return ""
	}
	for _, name := range slices.Sorted(maps.Keys(snap.Sources)) {
		b := snap.Sources[name]
		if r := why(name, kindSource, true); r != "" {
			dropped = append(dropped, unclaimed{kind: kindSource, what: "position", stage: name, reason: r, bytes: len(b)})
			continue
		}
		kept.Sources[name] = b
	}
	for _, name := range slices.Sorted(maps.Keys(snap.Watermarks)) {
		if r := why(name, kindSource, false); r != "" {
			dropped = append(dropped, unclaimed{kind: kindSource, what: "watermark", stage: name, reason: r})
			continue
		}
		kept.Watermarks[name] = snap.Watermarks[name]
	}
	for _, name := range slices.Sorted(maps.Keys(snap.Operators)) {
		st := snap.Operators[name]
		kgs := st.KeyGroups()
		if r := why(name, kindOperator, false); r != "" {
			if len(kgs) == 0 {
				continue // the stage held no state: nothing is lost
			}
			dropped = append(dropped, unclaimed{kind: kindOperator, what: "state", stage: name, reason: r, groups: kgs})
			continue
		}
		all := KeyGroupRange{Start: 0, End: maxPar}
		var outside []int
		for _, kg := range kgs {
			if !all.Contains(kg) {
				outside = append(outside, kg)
			}
		}
		if len(outside) > 0 {
			dropped = append(dropped, unclaimed{kind: kindOperator, what: "state", stage: name, groups: outside,
				reason: fmt.Sprintf("key groups outside [0, %d), the pipeline's max parallelism", maxPar)})
		}
		kept.Operators[name] = st.Subset(all)
	}
	for _, name := range slices.Sorted(maps.Keys(snap.Sinks)) {
		b := snap.Sinks[name]
		if r := why(name, kindSink, true); r != "" {
			dropped = append(dropped, unclaimed{kind: kindSink, what: "state", stage: name, reason: r, bytes: len(b)})
			continue
		}
		kept.Sinks[name] = b
	}
	return kept, dropped
}

// formatKeyGroups writes increasing key groups as runs: "3, 5, 100-127".
func formatKeyGroups(kgs []int) string {
	var b strings.Builder
	for i := 0; i < len(kgs); {
		j := i
		for j+1 < len(kgs) && kgs[j+1] == kgs[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(kgs[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(kgs[j]))
		}
		i = j + 1
	}
	return b.String()
}
