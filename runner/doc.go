// Package runner makes a pipeline an operable job: a job supplies its
// name, its own flags, the fingerprint of the settings its checkpoints
// depend on, and a function that builds its pipeline; Run (or Main) does
// the rest, the same way for every job:
//
//   - configuration: the job's flags and the runner's, each also settable
//     as an environment variable NAME_FOO_BAR (NAME the job's name
//     upper-cased) or a key of the --config YAML file, in that precedence
//     after the command line; --help lists every flag with its default and
//     variables; "NAME version" prints the version;
//   - logging (--log-level, --log-format), a progress line every
//     --progress-interval and a summary at exit;
//   - checkpoints (--checkpoint-dir, --checkpoint-interval,
//     --checkpoint-retain): restore from the newest valid checkpoint whose
//     fingerprint matches, or from --from-savepoint; periodic checkpoints;
//     on the first SIGINT/SIGTERM a final checkpoint and a graceful stop
//     (--stop-timeout), on the second an abort;
//   - high availability (--ha-peers or --ha-replicas): a raft replica that
//     runs the job only while it leads, restoring from the checkpoint whose
//     pointer raft committed, and whose checkpoints count only once their
//     pointer is committed in its term (fencing);
//   - the ops server (--http-addr): /metrics, /livez, /readyz,
//     /api/v1/status and POST /api/v1/savepoints.
//
// # Lifecycle
//
// Run parses and validates the settings (Job.Flags, then Job.Validate),
// starts logging and the ops server, then:
//
//   - without HA: Job.Build once, restore, run the pipeline with its
//     checkpoint coordinator until the input ends, a signal stops it, or
//     ctx is cancelled;
//   - with HA: Job.Build once to check the settings (never run), then, for
//     every term in which this replica leads, Job.Build, restore from the
//     committed checkpoint, run until the input ends (the replicas then
//     exit) or leadership is lost (the job is cancelled at once).
//
// # Concurrency
//
// Job's functions are called on Run's goroutine, one at a time, never
// concurrently with each other; Build's pipeline then runs on goroutines of
// its own (see engine). Several Runs may run in one process (tests do) as
// long as they use different --http-addr and --ha-bind addresses; each
// handles the process's SIGINT and SIGTERM unless Env.Signals replaces
// them. Run returns after every goroutine it started has ended: the
// checkpoint coordinator runs beside the pipeline and is joined, and its
// error (other than a cancellation) fails the run.
package runner
