// Package ops is topspeed's operations surface: the Prometheus registry
// and the job-level metrics (build info, checkpoints, raft), and the HTTP
// server with /metrics, /livez, /readyz and /api/v1/status.
//
// # Metrics
//
// NewRegistry returns a fresh registry (never the global one) with the Go
// runtime and process collectors and topspeed_build_info. The pipeline
// registers its own metrics on it (engine.WithMetrics), as does the
// Cassandra sink (it is a prometheus.Collector). A Recorder adds the
// checkpoint and raft metrics. The names below carry the default
// namespace, DefaultNamespace ("topspeed", the engine's default too);
// WithNamespace, given to NewRegistry, NewRecorder and NewServer, changes
// the prefix (the topspeed binary keeps topspeed_):
//
//	topspeed_build_info{version,revision,goversion}            1
//	topspeed_checkpoints_completed_total                       Recorder.CheckpointCompleted
//	topspeed_checkpoint_failures_total                         Recorder.CheckpointFailed
//	topspeed_checkpoint_duration_seconds (histogram)           Recorder.CheckpointCompleted
//	topspeed_checkpoint_size_bytes                             Recorder.CheckpointCompleted (last checkpoint)
//	topspeed_checkpoint_last_success_timestamp_seconds         Recorder.CheckpointCompleted
//	topspeed_checkpoint_interval_seconds                       Recorder.SetCheckpointInterval (0: checkpoints off)
//	topspeed_restore_duration_seconds                          Recorder.Restored (last restore)
//	topspeed_raft_role{role="standalone|follower|candidate|leader"}  Recorder.SetRaft (1 for the current role)
//	topspeed_raft_term                                         Recorder.SetRaft
//	topspeed_raft_leader_changes_total                         Recorder.SetRaft (the known leader changed)
//	topspeed_ready                                             1 while /readyz answers 200
//
// The same Recorder feeds the role, term, leader and last_checkpoint
// fields of /api/v1/status.
//
// # Endpoints
//
//	/metrics        Prometheus text format (OpenMetrics on request)
//	/livez          200 while the process serves HTTP
//	/readyz         200 when every readiness check passes, else 503 with the failing checks
//	/api/v1/status  JSON, see Status
//	/               the web dashboard (package ui, embedded), polling:
//	/api/v1/overview, /api/v1/graph, /api/v1/checkpoints,
//	/api/v1/exceptions, /api/v1/throughput   JSON, see docs/ui.md
//
// The dashboard's history (the last MaxCheckpointHistory checkpoints,
// the last MaxExceptions errors, ThroughputHistory of rates) is bounded.
package ops
