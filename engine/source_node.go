package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"
)

// sourceControl lets Checkpoint reach a running source driver.
type sourceControl struct {
	req  chan barrierRequest // checkpoints to inject as barriers
	done chan struct{}       // closed when the driver has stopped
}

// barrierRequest asks a source for barrier id; final ends the input after it.
type barrierRequest struct {
	id    uint64
	final bool
}

// sourceNode drives one Source: it reads batches, observes event time, and
// pushes batches and control messages to the stream's outlets.
type sourceNode[T any] struct {
	n    string
	src  Source[T]
	ws   WatermarkStrategy[T]
	outs *fanout[T]

	prog sourceProgress // for Pipeline.Progress
}

func (s *sourceNode[T]) name() string { return s.n }

func (s *sourceNode[T]) start(x *execution) ([]func() error, error) {
	sc := &sourceControl{req: make(chan barrierRequest, 1), done: make(chan struct{})}
	x.sources = append(x.sources, sc)
	x.parts++
	var restored []byte
	wm, err := newWatermarker(s.ws)
	if err != nil {
		return nil, err
	}
	if snap := x.p.restore; snap != nil {
		restored = snap.Sources[s.n]
		if w, ok := snap.Watermarks[s.n]; ok {
			wm.restore(w)
		}
	}
	s.prog.wm.Store(wm.emitted)
	x.p.progSources = append(x.p.progSources, &s.prog)
	if restored != nil {
		if _, ok := s.src.(StatefulSource[T]); !ok {
			return nil, fmt.Errorf("checkpoint holds a position but the source cannot restore one")
		}
	}
	return []func() error{func() error {
		defer close(sc.done)
		err := s.run(x, sc, restored, wm)
		if err != nil && x.ctx.Err() == nil {
			err = fmt.Errorf("engine: source %q: %w", s.n, err)
		}
		return err
	}}, nil
}

func (s *sourceNode[T]) run(x *execution, sc *sourceControl, restored []byte, wm *watermarker[T]) (err error) {
	ctx := x.ctx
	if err := s.src.Open(ctx); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer func() {
		if cerr := s.src.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	if restored != nil {
		if err := s.src.(StatefulSource[T]).RestoreState(restored); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		x.log.Info("source restored", zap.String("stage", s.n))
	}
	st := x.attach(kindSource, s.n, 0, s.src, nil)
	defer x.detach(st)
	buf := make([]T, x.p.cfg.BatchSize)
	for {
		select {
		case r := <-sc.req:
			if err := s.barrier(x, r.id, wm); err != nil {
				return err
			}
			if r.final {
				x.log.Info("source stopped after final checkpoint", zap.String("stage", s.n), zap.Uint64("checkpoint", r.id))
				return s.outs.control(x, 0, ctrl{kind: ctrlEnd, stopped: true})
			}
		case <-x.p.stop:
			x.log.Info("source stopped", zap.String("stage", s.n))
			return s.outs.control(x, 0, ctrl{kind: ctrlEnd, stopped: true})
		case <-ctx.Done():
			return context.Cause(ctx)
		default:
		}
		n, rerr := s.src.Read(ctx, buf)
		var ingest int64
		if n > 0 {
			ingest = ingestNow() // once per batch: end-to-end latency starts here
			st.records(n, n)
			s.prog.read.Add(int64(n))
			if err := s.forward(x, st, buf[:n], ingest, wm); err != nil {
				return err
			}
		}
		if w, ok := wm.periodic(n > 0); ok {
			if err := s.watermark(x, st, w, ingest); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) {
			x.log.Info("source exhausted", zap.String("stage", s.n))
			return s.outs.control(x, 0, ctrl{kind: ctrlEnd})
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return rerr
		}
	}
}

// forward pushes a batch downstream. With a generator, a watermark it emits
// in OnEvent goes right after its record: the batch is split there.
func (s *sourceNode[T]) forward(x *execution, st *stageStats, batch []T, ingest int64, wm *watermarker[T]) error {
	if wm.gen == nil {
		wm.scan(batch)
		return s.outs.push(x, 0, batch, ingest)
	}
	start := 0
	for i := range batch {
		w, ok := wm.onEvent(batch[i])
		if !ok {
			continue
		}
		if err := s.outs.push(x, 0, batch[start:i+1], ingest); err != nil {
			return err
		}
		if err := s.watermark(x, st, w, ingest); err != nil {
			return err
		}
		start = i + 1
	}
	if start == len(batch) {
		return nil
	}
	return s.outs.push(x, 0, batch[start:], ingest)
}

// watermark sends watermark w downstream, stamped like the batch that
// advanced it (0 after an empty read).
func (s *sourceNode[T]) watermark(x *execution, st *stageStats, w, ingest int64) error {
	st.watermark(w)
	s.prog.wm.Store(w)
	return s.outs.control(x, 0, ctrl{kind: ctrlWatermark, wm: w, ingest: ingest})
}

// barrier records the source's position for checkpoint id and sends the
// barrier downstream, between two batches.
func (s *sourceNode[T]) barrier(x *execution, id uint64, wm *watermarker[T]) error {
	start := time.Now()
	var pos []byte
	if ss, ok := s.src.(StatefulSource[T]); ok {
		b, err := ss.SnapshotState()
		if err != nil {
			return fmt.Errorf("snapshot for checkpoint %d: %w", id, err)
		}
		pos = b
	}
	pause := time.Since(start)
	x.report(id, func(snap *Snapshot) {
		if pos != nil {
			snap.Sources[s.n] = pos
		}
		if wm.emitted != MinWatermark {
			snap.Watermarks[s.n] = wm.emitted
		}
		snap.Pauses = append(snap.Pauses, pause)
	})
	return s.outs.control(x, 0, ctrl{kind: ctrlBarrier, cp: id})
}
