package window

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/topspeed/topspeed/engine"
)

const operatorStateVersion = 1

var (
	errNoCodec     = errors.New("window: checkpointing needs Spec.KeyCodec and Spec.Codec (and AggregateFunc.AccCodec for Aggregate)")
	errNoElemCodec = errors.New("window: checkpointing needs DeltaTimeMaxSpec.Codec")
)

// OnCheckpoint writes, for every key group with state, one blob holding
// each of its keys' windows, contents, trigger states and timers. It fails
// if Spec.KeyCodec or Spec.Codec is missing.
//
// Format (version 1): version byte, uvarint key count, then per key: key,
// merging-window mapping (uvarint n, n × (window, state window)), contents
// (uvarint n, n × (state window, elements as uvarint count and
// (varint ts, element) pairs, or the accumulator)), trigger states (uvarint
// n, n × (window, varint Count, HasLast byte, Last if HasLast)), event-time
// and processing-time timers (uvarint n, n × (window, varint ts)) in
// registration order. Windows are two varints.
func (o *Operator[K, T, OUT]) OnCheckpoint(_ uint64, state *engine.KeyedState) error {
	if o.spec.KeyCodec == nil || o.spec.Codec == nil {
		return errNoCodec
	}
	timers := map[K][2][]timerEntry[K]{}
	for i, q := range []*timerQueue[K]{&o.evTimers, &o.ptTimers} {
		for t, seq := range q.live {
			ts := timers[t.key]
			ts[i] = append(ts[i], timerEntry[K]{t: t, seq: seq})
			timers[t.key] = ts
		}
	}
	groups := map[int][]K{}
	for k := range o.states {
		kg := o.keys.KeyGroup(k)
		groups[kg] = append(groups[kg], k)
	}
	for k := range timers {
		if o.states[k] == nil {
			kg := o.keys.KeyGroup(k)
			groups[kg] = append(groups[kg], k)
		}
	}
	for kg, keys := range groups {
		b := []byte{operatorStateVersion}
		b = binary.AppendUvarint(b, uint64(len(keys)))
		for _, k := range keys {
			var err error
			if b, err = o.appendKey(b, k, timers[k]); err != nil {
				return err
			}
		}
		state.Put(kg, b)
	}
	return nil
}

func (o *Operator[K, T, OUT]) appendKey(b []byte, k K, timers [2][]timerEntry[K]) ([]byte, error) {
	b = o.spec.KeyCodec.Append(b, k)
	ks := o.states[k]
	if ks == nil {
		ks = &keyState[K, T, OUT]{}
	}
	b = binary.AppendUvarint(b, uint64(len(ks.merged)))
	for w, sw := range ks.merged {
		b = appendWindow(appendWindow(b, w), sw)
	}
	b = binary.AppendUvarint(b, uint64(len(ks.panes)))
	for sw, p := range ks.panes {
		b = appendWindow(b, sw)
		if o.listMode {
			b = binary.AppendUvarint(b, uint64(len(p.elems)))
			for _, e := range p.elems {
				b = o.spec.Codec.Append(binary.AppendVarint(b, e.Timestamp), e.Value)
			}
			continue
		}
		var err error
		if b, err = p.acc.encode(b, o.spec.Codec); err != nil {
			return nil, err
		}
	}
	b = binary.AppendUvarint(b, uint64(len(ks.trig)))
	for w, s := range ks.trig {
		b = binary.AppendVarint(appendWindow(b, w), s.Count)
		if s.HasLast {
			b = o.spec.Codec.Append(append(b, 1), s.Last)
		} else {
			b = append(b, 0)
		}
	}
	for _, ts := range timers {
		slices.SortFunc(ts, func(a, b timerEntry[K]) int { return cmp.Compare(a.seq, b.seq) })
		b = binary.AppendUvarint(b, uint64(len(ts)))
		for _, t := range ts {
			b = binary.AppendVarint(appendWindow(b, t.t.w), t.t.ts)
		}
	}
	return b, nil
}

func (o *Operator[K, T, OUT]) restoreGroup(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if o.spec.KeyCodec == nil || o.spec.Codec == nil {
		return errNoCodec
	}
	if b[0] != operatorStateVersion {
		return fmt.Errorf("window: unsupported operator state version %d", b[0])
	}
	r := &reader{b: b[1:]}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		k := readValue(r, o.spec.KeyCodec)
		ks := o.keyState(k)
		for m := r.count(); m > 0 && r.err == nil; m-- {
			w, sw := r.window(), r.window()
			if ks.merged == nil {
				return errors.New("window: restored merging-window state into a non-merging assigner")
			}
			ks.merged[w] = sw
		}
		for m := r.count(); m > 0 && r.err == nil; m-- {
			p := o.pane(ks, r.window())
			if o.listMode {
				for l := r.count(); l > 0 && r.err == nil; l-- {
					ts := r.varint()
					p.elems = append(p.elems, Element[T]{Timestamp: ts, Value: readValue(r, o.spec.Codec)})
				}
				continue
			}
			p.acc.decode(r, o.spec.Codec)
		}
		for m := r.count(); m > 0 && r.err == nil; m-- {
			s := &TriggerState[T]{}
			ks.trig[r.window()] = s
			s.Count = r.varint()
			if s.HasLast = r.byte() == 1; s.HasLast {
				s.Last = readValue(r, o.spec.Codec)
			}
		}
		for _, q := range []*timerQueue[K]{&o.evTimers, &o.ptTimers} {
			for m := r.count(); m > 0 && r.err == nil; m-- {
				w := r.window()
				q.set(timer[K]{key: k, w: w, ts: r.varint()})
			}
		}
		o.dropIfEmpty(k, ks)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail(errCorrupt)
	}
	return r.err
}
