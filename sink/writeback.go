package sink

import "os"

// writebackBytes is how much a file sink writes between two requests to
// start writeback (see writebackFile).
const writebackBytes = 8 << 20

// writebackFile is the file under a file sink's buffer. Every
// writebackBytes it asks the kernel to start writing the file's dirty
// pages to the device without waiting for them (startWriteback), so that
// the fsync of the next Flush (at a checkpoint, or at the end of the
// input) waits only for what was written since, rather than for all of
// it at once. The output of a 10M-report TopSpeed run is 95 MB: its final
// fsync took about 30 ms, on the critical path of the run. What it writes
// and when it is durable do not change: durability still comes from the
// fsync.
type writebackFile struct {
	f       *os.File
	pending int64 // bytes written since the last request
}

func (w *writebackFile) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if w.pending += int64(n); w.pending >= writebackBytes {
		w.pending = 0
		startWriteback(w.f)
	}
	return n, err
}
