package source

import (
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// BadRecords applies a bad-record policy for a source: under Skip it
// counts each bad record, keeps the first KeptErrors errors and logs the
// first few (then says once that it stops logging them). The zero value
// fails on every bad record; set Policy and Log before the first use. Its
// methods are safe for concurrent use, so Skipped and Errors may be called
// while the source reads.
type BadRecords[E error] struct {
	Policy BadRecordPolicy
	Log    *zap.Logger // nil: nothing logged

	skipped atomic.Int64
	mu      sync.Mutex
	errs    []E
	logged  int
}

// Skip applies the policy to err, a bad record at the place the fields
// name (file and line, or topic, partition and offset), and reports
// whether the source carries on (Skip) or must fail with err.
func (b *BadRecords[E]) Skip(err E, where ...zap.Field) bool {
	if b.Policy != Skip {
		return false
	}
	b.skipped.Add(1)
	b.mu.Lock()
	if len(b.errs) < KeptErrors {
		b.errs = append(b.errs, err)
	}
	logged := b.logged
	b.logged++
	b.mu.Unlock()
	if b.Log != nil {
		switch {
		case logged < loggedErrors:
			b.Log.Warn("skipping bad record", append(where, zap.Error(err))...)
		case logged == loggedErrors:
			b.Log.Warn("skipping more bad records; further ones are counted but not logged", where...)
		}
	}
	return true
}

// Skipped returns how many bad records were skipped so far.
func (b *BadRecords[E]) Skipped() int64 { return b.skipped.Load() }

// Errors returns the first KeptErrors errors of skipped records.
func (b *BadRecords[E]) Errors() []E {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]E(nil), b.errs...)
}
