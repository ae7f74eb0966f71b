package cassandra

import (
	"math"
	"sync"
	"time"
)

// latencyHist is a fixed-memory log-scale histogram (about 4% wide buckets
// from 1 µs to ~100 s) for request latencies.
type latencyHist struct {
	mu     sync.Mutex
	counts [480]int64
	n      int64
	max    time.Duration
}

const histBase = 1.04

func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	b := int(math.Log(us) / math.Log(histBase))
	return min(b, len(latencyHist{}.counts)-1)
}

func (h *latencyHist) record(d time.Duration) {
	b := bucketOf(d)
	h.mu.Lock()
	h.counts[b]++
	h.n++
	h.max = max(h.max, d)
	h.mu.Unlock()
}

// quantiles returns the upper bounds of the buckets holding p50 and p99,
// and the maximum.
func (h *latencyHist) quantiles() (p50, p99, mx time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return 0, 0, 0
	}
	at := func(q float64) time.Duration {
		rank := int64(math.Ceil(q * float64(h.n)))
		var seen int64
		for b, c := range h.counts {
			seen += c
			if seen >= rank {
				return min(time.Duration(math.Pow(histBase, float64(b+1))*float64(time.Microsecond)), h.max)
			}
		}
		return h.max
	}
	return at(0.50), at(0.99), h.max
}
