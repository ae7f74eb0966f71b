package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// onAssigned is franz-go's OnPartitionsAssigned: called at the start of
// every group session, before the offsets of the added partitions are
// fetched (adjustOffsets then replaces them).
func (m *Member) onAssigned(ctx context.Context, cl *kgo.Client, added map[string][]int32) {
	_, gen := cl.GroupMetadata()
	parts := slices.Sorted(slices.Values(added[m.cfg.Topic]))
	m.mu.Lock()
	m.gen = gen
	if len(parts) == 0 {
		m.mu.Unlock()
		return
	}
	done := make(chan struct{})
	for _, p := range parts {
		m.assigning[p] = done
		m.told[p] = true
	}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		for _, p := range parts {
			delete(m.assigning, p)
		}
		m.mu.Unlock()
		close(done)
	}()
	m.log.Info("partitions assigned", zap.Int32("generation", gen), zap.Int32s("partitions", parts))

	next, err := m.h.Assigned(ctx, gen, slices.Clone(parts))
	if err != nil {
		m.setFatal(fmt.Errorf("kafka: assigning partitions %v (generation %d): %w", parts, gen, err))
		return
	}
	starts, err := m.resolveStarts(ctx, cl, parts, next)
	if err != nil {
		m.setFatal(fmt.Errorf("kafka: assigning partitions %v (generation %d): %w", parts, gen, err))
		return
	}
	topic := m.cfg.Topic
	m.mu.Lock()
	for _, p := range parts {
		tp := map[string][]int32{topic: {p}}
		part := newPartition(topic, p, gen, starts[p].offset, m.cfg.QueueRecords, m.cfg.IdleTimeout,
			func() { cl.PauseFetchPartitions(tp) }, func() { cl.ResumeFetchPartitions(tp) })
		if err := starts[p].err; err != nil {
			part.fail(err)
		}
		m.parts[p] = part
	}
	m.mu.Unlock()
	// A pause of an earlier ownership of these partitions persists in
	// the client: fetch them from the start.
	cl.ResumeFetchPartitions(map[string][]int32{topic: parts})
}

// start is where a partition's fetching starts, or why it cannot.
type start struct {
	offset int64
	err    error
}

// resolveStarts turns the handler's offsets, and StartOffset for the
// partitions without one, into concrete offsets. A checkpointed offset
// outside the partition's log is an error of that partition only (its
// source fails with it).
func (m *Member) resolveStarts(ctx context.Context, cl *kgo.Client, parts []int32, next map[int32]int64) (map[int32]start, error) {
	adm := kadm.NewClient(cl)
	first, err := adm.ListStartOffsets(ctx, m.cfg.Topic)
	if err == nil {
		err = first.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing the start offsets of topic %s: %w", m.cfg.Topic, err)
	}
	end, err := adm.ListEndOffsets(ctx, m.cfg.Topic)
	if err == nil {
		err = end.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing the end offsets of topic %s: %w", m.cfg.Topic, err)
	}
	out := make(map[int32]start, len(parts))
	for _, p := range parts {
		lo, ok1 := first.Lookup(m.cfg.Topic, p)
		hi, ok2 := end.Lookup(m.cfg.Topic, p)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("no offsets listed for topic %s partition %d", m.cfg.Topic, p)
		}
		off, ok := next[p]
		switch {
		case !ok && m.cfg.StartOffset == Latest:
			out[p] = start{offset: hi.Offset}
		case !ok:
			out[p] = start{offset: lo.Offset}
		case off < 0:
			return nil, fmt.Errorf("Handler.Assigned returned offset %d for partition %d", off, p)
		case off < lo.Offset || off > hi.Offset:
			out[p] = start{offset: off, err: fmt.Errorf("kafka: topic %s partition %d: the checkpointed next offset %d is outside the partition's log [%d, %d]: %w (records deleted by retention, or the topic recreated)",
				m.cfg.Topic, p, off, lo.Offset, hi.Offset, kerr.OffsetOutOfRange)}
		default:
			out[p] = start{offset: off}
		}
	}
	for p := range next {
		if !slices.Contains(parts, p) {
			m.log.Warn("Handler.Assigned returned an offset for a partition not being assigned; ignored", zap.Int32("partition", p))
		}
	}
	return out, nil
}

// adjustOffsets is franz-go's AdjustFetchOffsetsFn: it replaces the
// group's committed offsets, which franz-go fetched, with the starts
// resolved in onAssigned. A partition without one (its assignment failed)
// or whose start is outside the log is not fetched at all.
func (m *Member) adjustOffsets(_ context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for topic, ps := range offsets {
		if topic != m.cfg.Topic {
			delete(offsets, topic)
			continue
		}
		for p := range ps {
			part := m.parts[p]
			if part == nil || part.failed() {
				delete(ps, p)
				continue
			}
			ps[p] = kgo.NewOffset().At(part.start).WithEpoch(-1)
		}
	}
	return offsets, nil
}

// onRevoked is franz-go's OnPartitionsRevoked: a cooperative rebalance
// takes partitions away, or the member leaves (all of them). franz-go
// calls it at the end of every session, mostly with nothing revoked.
func (m *Member) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	m.revoke(ctx, revoked[m.cfg.Topic], false)
}

// onLost is franz-go's OnPartitionsLost: the session failed (expired,
// fenced, or another fatal group error) and every partition is gone.
func (m *Member) onLost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	m.mu.Lock()
	m.gen = -1
	m.mu.Unlock()
	m.revoke(ctx, lost[m.cfg.Topic], true)
}

// revoke revokes parts' queues, then tells the handler, which waits until
// their tasks stopped.
func (m *Member) revoke(ctx context.Context, parts []int32, lost bool) {
	if len(parts) == 0 {
		return
	}
	var told []int32
	m.mu.Lock()
	for _, p := range parts {
		if part := m.parts[p]; part != nil {
			part.revoke()
			delete(m.parts, p)
		}
		if m.told[p] {
			delete(m.told, p)
			told = append(told, p)
		}
	}
	m.mu.Unlock()
	if len(told) == 0 {
		return
	}
	slices.Sort(told)
	if lost {
		m.log.Warn("partitions lost (session expired or fenced): another member may own them already", zap.Int32s("partitions", told))
	} else {
		m.log.Info("partitions revoked", zap.Int32s("partitions", told))
	}
	m.h.Revoked(ctx, told, lost)
}

// Commit writes next offsets (the next offset to read of each partition,
// as in a completed checkpoint) to the group, so that Kafka's tools show
// the lag; they are never read back for a restore. gen is the generation
// the checkpoint was taken in (Generation at that time).
//
// It is refused with ErrFenced when gen is not the member's current
// generation, and with ErrNotOwned for a partition the member does not
// own. The broker fences too: a member that has been replaced (after a
// pause longer than its session timeout, say) gets ErrFenced from it even
// before it noticed. Commit blocks while the group
// joins or syncs, and until the broker answered or ctx is done. It is
// safe for concurrent use.
func (m *Member) Commit(ctx context.Context, gen int32, next map[int32]int64) error {
	m.mu.Lock()
	cl, cur := m.cl, m.gen
	var notOwned []int32
	for p := range next {
		if m.parts[p] == nil {
			notOwned = append(notOwned, p)
		}
	}
	m.mu.Unlock()
	switch {
	case cl == nil:
		return fmt.Errorf("kafka: commit: %w (not running)", ErrClosed)
	case gen != cur:
		return fmt.Errorf("%w: commit of generation %d refused: the member is at generation %d", ErrFenced, gen, cur)
	case len(notOwned) > 0:
		slices.Sort(notOwned)
		return fmt.Errorf("kafka: commit refused: %w: partitions %v of topic %s", ErrNotOwned, notOwned, m.cfg.Topic)
	}
	return m.commitAt(ctx, cl, gen, next)
}

// commitAt commits next if the client is still at generation gen; the
// broker refuses it if the group has moved on without the client knowing
// yet (after a long pause).
func (m *Member) commitAt(ctx context.Context, cl *kgo.Client, gen int32, next map[int32]int64) error {
	if len(next) == 0 {
		return nil
	}
	ps := make(map[int32]kgo.EpochOffset, len(next))
	for p, off := range next {
		if off < 0 {
			return fmt.Errorf("kafka: commit: negative offset %d for partition %d", off, p)
		}
		ps[p] = kgo.EpochOffset{Epoch: -1, Offset: off}
	}
	// The client fills in its current generation: refuse to send if a
	// rebalance moved it past gen since Commit checked. (Overriding it
	// with gen would let the broker refuse instead, but franz-go takes
	// that refusal for a lost session and rejoins: a needless rebalance.)
	ctx = kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		if req.Generation != gen {
			return fmt.Errorf("%w: commit of generation %d refused: the member moved to generation %d", ErrFenced, gen, req.Generation)
		}
		return nil
	})
	var err error
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{m.cfg.Topic: ps},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, rerr error) {
			if rerr != nil {
				err = rerr
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if e := kerr.ErrorForCode(p.ErrorCode); e != nil && err == nil {
						err = fmt.Errorf("partition %d: %w", p.Partition, e)
					}
				}
			}
		})
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrFenced) {
		return err
	}
	if errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.FencedInstanceID) {
		return fmt.Errorf("%w: commit of generation %d refused by the broker: %w", ErrFenced, gen, err)
	}
	return fmt.Errorf("kafka: commit to group %s: %w", m.cfg.Group, err)
}
