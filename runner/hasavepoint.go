package runner

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/topspeed/topspeed/checkpoint"
	"github.com/topspeed/topspeed/ha"
)

// errSavepointRefused marks a --from-savepoint that HA cannot honour: the
// replica exits with ExitUsage instead of running without it.
var errSavepointRefused = errors.New("--from-savepoint refused")

// savepointPolicy applies --from-savepoint under HA, on a leader of term
// that has caught up with the log (ptr is the committed pointer):
//
//   - no flag: the pointer as it is;
//   - the flag names the pointer's Origin: the job continues from the
//     pointer (the flag may stay in the pod spec across restarts);
//   - no checkpoint committed yet: the savepoint is adopted through raft
//     (Pointer.Origin), so every later leader starts from it too;
//   - otherwise: refused (errSavepointRefused), never silently ignored.
func (x *replica) savepointPolicy(ptr ha.Pointer, term uint64, log *zap.Logger) (ha.Pointer, error) {
	sp := x.s.ckpt.fromSavepoint
	if sp == "" {
		return ptr, nil
	}
	abs, err := filepath.Abs(sp)
	if err != nil {
		return ptr, fmt.Errorf("--from-savepoint %s: %w", sp, err)
	}
	switch {
	case ptr.Origin == abs:
		return ptr, nil
	case ptr.ID == 0 && !ptr.Finished:
		ctx, cancel := context.WithTimeout(x.ctx, 10*time.Second)
		defer cancel()
		if err := x.node.AdoptSavepoint(ctx, abs, term); err != nil {
			return ptr, fmt.Errorf("recording --from-savepoint %s through raft: %w", abs, err)
		}
		log.Info("leader: starting from the savepoint (recorded through raft)", zap.String("savepoint", abs))
		return x.node.Pointer(), nil
	}
	return ptr, x.refusal(abs, ptr)
}

// refusal is the error of a --from-savepoint abs that the committed
// pointer ptr cannot take.
func (x *replica) refusal(abs string, ptr ha.Pointer) error {
	origin := "the beginning"
	if ptr.Origin != "" {
		origin = "savepoint " + ptr.Origin
	}
	state := fmt.Sprintf("committed checkpoint %d (%s), which started from %s", ptr.ID, ptr.Path, origin)
	if ptr.Finished {
		state = "a job that already finished, which started from " + origin
	}
	return fmt.Errorf("%w: --from-savepoint %s: the raft cluster already holds %s. "+
		"A savepoint is restored only by a fresh raft cluster: to go back to it, stop every replica, "+
		"delete each replica's --ha-dir (on Kubernetes: scale to 0 and delete the raft volumes), and start them again with this flag; "+
		"to continue from the committed checkpoint, remove the flag", errSavepointRefused, abs, state)
}

// finishedRefusal is, on any replica that sees the job finished, the
// refusal of a --from-savepoint the finished history did not start from
// (nil if none): a replica must not exit 0 as if it had run it.
func (x *replica) finishedRefusal(ptr ha.Pointer) error {
	sp := x.s.ckpt.fromSavepoint
	if sp == "" {
		return nil
	}
	abs, err := filepath.Abs(sp)
	if err != nil || abs != ptr.Origin {
		return x.refusal(abs, ptr)
	}
	return nil
}

// restoreOrigin restores b from the savepoint the raft pointer adopted
// before any checkpoint was committed.
func (x *replica) restoreOrigin(b *build, origin string, log *zap.Logger) error {
	start := time.Now()
	snap, info, err := checkpoint.Load(origin)
	if err == nil {
		err = checkpoint.Compatible(info.Manifest, b.coord.Meta.Fingerprint)
	}
	if err != nil {
		return fmt.Errorf("the savepoint the job starts from (%s): %w", origin, err)
	}
	log.Info("leader: restoring from the savepoint", zap.String("savepoint", origin), zap.Uint64("checkpoint", snap.ID), zap.Int64("bytes", info.Bytes))
	x.restore(b, snap, start)
	return nil
}
