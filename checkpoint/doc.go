// Package checkpoint stores engine snapshots durably and drives
// checkpoints of a running pipeline.
//
// A Store keeps one directory per checkpoint (see FORMAT.md for the
// layout, the write protocol and what restore checks). Write writes
// the data files, then the manifest that makes the checkpoint complete;
// a cancelled context abandons the write before the manifest. Latest and
// Load verify every file (size and CRC-32C) before they return a
// snapshot, skip torn or corrupt checkpoints, and refuse one taken with
// another job configuration (the fingerprint, ErrIncompatible).
//
// The snapshot records its max parallelism, the stage names and the key
// groups it holds; engine.Pipeline.RestoreFrom and Run check them against
// the pipeline (engine.ErrIncompatibleState, engine.AllowNonRestoredState).
//
// A Coordinator takes checkpoints one at a time: barrier
// (engine.Pipeline.Checkpoint), durable write, an optional Committer (HA
// fencing through raft), then engine.Pipeline.Commit. Savepoints and the
// final checkpoint of a stop go through the same path.
package checkpoint
