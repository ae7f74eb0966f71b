package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/topspeed/topspeed/engine"
)

// pendingTxn is a transaction pre-committed for a checkpoint and not yet
// committed.
type pendingTxn struct {
	checkpoint uint64
	txnID      string
	producerID int64
	epoch      int16
	slot       int // producer of this run's pool holding it; -1 when restored
}

// txns is the ExactlyOnce sink's pool of transactional producers: slots[cur]
// holds the open transaction, the slots of pending their pre-committed
// ones. Used from the sink's goroutine only.
type txns struct {
	ids     [TransactionPool]string
	slots   [TransactionPool]*kgo.Client
	cur     int
	written bool // a record was produced in the open transaction
	pending []pendingTxn
	log     *zap.Logger
}

// txnID is the transactional id of slot i of the pool named prefix.
func txnID(prefix string, i int) string { return prefix + "-" + strconv.Itoa(i) }

// openPool creates the pool's clients (no request is sent yet).
func (s *Sink[T]) openPool() (*txns, error) {
	tx := &txns{log: s.log}
	for i := range tx.slots {
		tx.ids[i] = txnID(s.cfg.TransactionalID, i)
		opts, err := s.clientOpts(tx.ids[i])
		if err == nil {
			tx.slots[i], err = kgo.NewClient(opts...)
		}
		if err != nil {
			tx.close()
			return nil, fmt.Errorf("kafka sink: %w", err)
		}
	}
	return tx, nil
}

// start initializes every producer's transactional id, which fences the
// producers of an earlier run with the same ids and aborts their open
// transactions, and begins the first transaction.
func (tx *txns) start(ctx context.Context) error {
	var g errgroup.Group
	for i, cl := range tx.slots {
		g.Go(func() error {
			if _, _, err := cl.ProducerID(ctx); err != nil {
				return fmt.Errorf("kafka sink: initializing transactional id %s: %w", tx.ids[i], err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	tx.cur = 0
	return tx.begin()
}

func (tx *txns) begin() error {
	if err := tx.slots[tx.cur].BeginTransaction(); err != nil {
		return fmt.Errorf("kafka sink: begin transaction %s: %w", tx.ids[tx.cur], err)
	}
	tx.written = false
	return nil
}

// preCommit records the open transaction, if it has records, as pending
// for checkpoint id and begins the next one on a free producer. The
// records must be flushed.
func (tx *txns) preCommit(ctx context.Context, id uint64) error {
	if !tx.written {
		return nil // nothing to commit: keep the empty transaction open
	}
	cl := tx.slots[tx.cur]
	if n := cl.BufferedProduceRecords(); n != 0 {
		return fmt.Errorf("kafka sink: checkpoint %d: %d records not flushed", id, n)
	}
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("kafka sink: checkpoint %d: producer id of %s: %w", id, tx.ids[tx.cur], err)
	}
	next := tx.free()
	if next < 0 {
		return fmt.Errorf("kafka sink: checkpoint %d: %d transactions await their checkpoint's commit, the most the pool of %d producers allows",
			id, len(tx.pending)+1, TransactionPool)
	}
	tx.pending = append(tx.pending, pendingTxn{checkpoint: id, txnID: tx.ids[tx.cur], producerID: pid, epoch: epoch, slot: tx.cur})
	tx.cur = next
	return tx.begin()
}

// free returns a producer holding no transaction, or -1.
func (tx *txns) free() int {
	var busy [TransactionPool]bool
	busy[tx.cur] = true
	for _, p := range tx.pending {
		busy[p.slot] = true
	}
	for i := 1; i < TransactionPool; i++ {
		if j := (tx.cur + i) % TransactionPool; !busy[j] {
			return j
		}
	}
	return -1
}

// commit commits the pending transactions of checkpoints up to id, in
// order; with engine.EndOfInput also the open one.
func (tx *txns) commit(ctx context.Context, id uint64) error {
	done := 0
	for _, p := range tx.pending {
		if p.checkpoint > id {
			break
		}
		if err := tx.slots[p.slot].EndTransaction(ctx, kgo.TryCommit); err != nil {
			tx.pending = tx.pending[done:]
			return fmt.Errorf("kafka sink: commit of checkpoint %d's transaction %s: %w", p.checkpoint, p.txnID, err)
		}
		tx.log.Debug("committed", zap.Uint64("checkpoint", p.checkpoint), zap.String("transactional_id", p.txnID))
		// The producer is free: begin its next transaction when it is used.
		done++
	}
	tx.pending = tx.pending[done:]
	if id != engine.EndOfInput || !tx.written {
		return nil
	}
	cl := tx.slots[tx.cur]
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("kafka sink: final flush: %w", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("kafka sink: final commit of transaction %s: %w", tx.ids[tx.cur], err)
	}
	return tx.begin()
}

// abortOpen aborts the open transaction (records after the last
// checkpoint).
func (tx *txns) abortOpen(ctx context.Context) error {
	if !tx.written {
		return nil
	}
	cl := tx.slots[tx.cur]
	if err := cl.AbortBufferedRecords(ctx); err != nil {
		return fmt.Errorf("kafka sink: abort: %w", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		return fmt.Errorf("kafka sink: abort of transaction %s: %w", tx.ids[tx.cur], err)
	}
	tx.written = false
	return nil
}

func (tx *txns) close() {
	for i, cl := range tx.slots {
		if cl != nil {
			cl.Close()
			tx.slots[i] = nil
		}
	}
}

// recoverTxn commits a transaction a restored checkpoint pre-committed,
// with an EndTxn request carrying its producer id and epoch (what Flink's
// KafkaCommitter does by resuming the producer). A transaction already
// committed by an earlier commit or restore is, depending on what its
// producer did since, confirmed or answered with a fencing error; so is
// one the broker aborted after TransactionTimeout. Both are logged and
// skipped: only the first is expected.
func recoverTxn(ctx context.Context, cl *kgo.Client, p pendingTxn, log *zap.Logger) error {
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID = p.txnID
	req.ProducerID = p.producerID
	req.ProducerEpoch = p.epoch
	req.Commit = true
	fields := []zap.Field{zap.Uint64("checkpoint", p.checkpoint), zap.String("transactional_id", p.txnID),
		zap.Int64("producer_id", p.producerID), zap.Int16("epoch", p.epoch)}
	var err error
	for attempt := 1; attempt <= 60; attempt++ {
		var resp *kmsg.EndTxnResponse
		if resp, err = req.RequestWith(ctx, cl); err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if !errors.Is(err, kerr.ConcurrentTransactions) && !kerr.IsRetriable(err) {
			break
		}
		select { // the coordinator is still completing an earlier end
		case <-time.After(time.Duration(min(attempt, 10)) * 100 * time.Millisecond):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	switch {
	case err == nil:
		log.Info("committed the transaction of the restored checkpoint", fields...)
		return nil
	case errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerEpoch),
		errors.Is(err, kerr.InvalidTxnState), errors.Is(err, kerr.InvalidProducerIDMapping):
		log.Warn("transaction of the restored checkpoint was already ended: committed by an earlier run, or aborted by the broker after the transaction timeout",
			append(fields, zap.Error(err))...)
		return nil
	}
	return fmt.Errorf("kafka sink: committing transaction %s of restored checkpoint %d: %w", p.txnID, p.checkpoint, err)
}

// State format: version byte 1, uvarint count, then per transaction
// uvarint checkpoint, uvarint length and transactional id, varint producer
// id, varint epoch.
const (
	stateVersion  = 1
	maxStateTxns  = 1024
	maxStateIDLen = 1024
)

func encodeState(ps []pendingTxn) []byte {
	b := []byte{stateVersion}
	b = binary.AppendUvarint(b, uint64(len(ps)))
	for _, p := range ps {
		b = binary.AppendUvarint(b, p.checkpoint)
		b = binary.AppendUvarint(b, uint64(len(p.txnID)))
		b = append(b, p.txnID...)
		b = binary.AppendVarint(b, p.producerID)
		b = binary.AppendVarint(b, int64(p.epoch))
	}
	return b
}

func decodeState(b []byte) ([]pendingTxn, error) {
	bad := func(what string) error { return fmt.Errorf("kafka sink: restored state: %s", what) }
	if len(b) == 0 || b[0] != stateVersion {
		return nil, bad("unknown version")
	}
	b = b[1:]
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	sv := func() (int64, bool) {
		v, n := binary.Varint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	n, ok := uv()
	if !ok || n > maxStateTxns {
		return nil, bad("bad transaction count")
	}
	ps := make([]pendingTxn, 0, n)
	for range n {
		var p pendingTxn
		var l uint64
		var epoch int64
		if p.checkpoint, ok = uv(); !ok {
			return nil, bad("truncated")
		}
		if l, ok = uv(); !ok || l == 0 || l > maxStateIDLen || l > uint64(len(b)) {
			return nil, bad("bad transactional id")
		}
		p.txnID, b = string(b[:l]), b[l:]
		if p.producerID, ok = sv(); !ok {
			return nil, bad("truncated")
		}
		if epoch, ok = sv(); !ok || epoch < 0 || epoch > math.MaxInt16 {
			return nil, bad("bad producer epoch")
		}
		p.epoch, p.slot = int16(epoch), -1
		ps = append(ps, p)
	}
	if len(b) != 0 {
		return nil, bad("trailing bytes")
	}
	return ps, nil
}
