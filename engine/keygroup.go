package engine

import "fmt"

// DefaultMaxParallelism is the default number of key groups. State is kept
// per key group, so a job can later run with any parallelism up to this.
const DefaultMaxParallelism = 128

// KeyGroupRange is the half-open range [Start, End) of key groups owned by one
// subtask.
type KeyGroupRange struct{ Start, End int }

// Contains reports whether kg lies in the range.
func (r KeyGroupRange) Contains(kg int) bool { return kg >= r.Start && kg < r.End }

func (r KeyGroupRange) String() string { return fmt.Sprintf("[%d,%d)", r.Start, r.End) }

// KeyGroup maps a key's hash to its key group in [0, maxParallelism):
// hash modulo maxParallelism, taken with a mask when maxParallelism is a
// power of two (the default 128), since the exchange calls it per record
// and a 64-bit division is slow.
func KeyGroup(hash uint64, maxParallelism int) int {
	n := uint64(maxParallelism)
	if n&(n-1) == 0 {
		return int(hash & (n - 1))
	}
	return int(hash % n)
}

// SubtaskForKeyGroup returns the subtask that owns key group kg, using the
// same contiguous assignment as Flink: kg * parallelism / maxParallelism.
func SubtaskForKeyGroup(kg, maxParallelism, parallelism int) int {
	return kg * parallelism / maxParallelism
}

// KeyGroupRangeFor returns the key groups owned by subtask, the inverse of
// SubtaskForKeyGroup.
func KeyGroupRangeFor(subtask, maxParallelism, parallelism int) KeyGroupRange {
	start := (subtask*maxParallelism + parallelism - 1) / parallelism
	end := ((subtask+1)*maxParallelism + parallelism - 1) / parallelism
	return KeyGroupRange{Start: start, End: end}
}

// mix64 is MurmurHash3's 64-bit finaliser: a fast, stable bijection with good
// avalanche, so that consecutive integer keys spread over key groups.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// Hash functions for common key types. They are stable across processes and
// versions, which checkpointed state relies on: never change them.

// HashInt32 hashes an int32 key.
func HashInt32(k int32) uint64 { return mix64(uint64(uint32(k))) }

// HashInt64 hashes an int64 key.
func HashInt64(k int64) uint64 { return mix64(uint64(k)) }

// HashInt hashes an int key (as int64, so 32- and 64-bit builds agree).
func HashInt(k int) uint64 { return mix64(uint64(int64(k))) }

// HashString hashes a string key with 64-bit FNV-1a, finalised by mix64.
func HashString(k string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(k); i++ {
		h ^= uint64(k[i])
		h *= 1099511628211
	}
	return mix64(h)
}
