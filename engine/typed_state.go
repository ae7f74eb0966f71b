package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"

	"go.uber.org/zap"
)

// StateBackend keeps the typed keyed states (ValueState, MapState,
// ListState) of one operator instance and takes them in and out of
// checkpoints. The engine makes one per subtask and passes it in
// OperatorContext.State; operators do not call it, they register their
// states in Open with NewValueState, NewMapState and NewListState.
//
// At a checkpoint barrier, after the operator's OnCheckpoint, the engine
// writes every registered state of every key group into the operator's
// KeyedState (see CheckpointOperator); at a restore it hands every state
// the entries of the key groups the subtask owns now, whatever the
// parallelism was, before Open registers it. A StateBackend is used only
// from its operator's goroutine.
type StateBackend struct {
	stage   string
	hash    any // func(K) uint64 for the stage's key type
	keyType reflect.Type
	maxPar  int
	groups  KeyGroupRange
	states  []typedState
	// restored is the typed state from the checkpoint, until Open ends:
	// state name -> its kind and its data per key group.
	restored map[string]*restoredState
	opened   bool
	// dropUnregistered drops restored states Open did not register, with
	// a warning on log (RestoreFrom's AllowNonRestoredState), instead of
	// failing.
	dropUnregistered bool
	log              *zap.Logger
}

type restoredState struct {
	kind   byte
	groups map[int]restoredGroup
}

// restoredGroup is one state's entries in one key group: n entries, encoded
// in data.
type restoredGroup struct {
	n    int
	data []byte
}

// typedState is what the backend needs of a registered state.
type typedState interface {
	stateName() string
	stateKind() byte
	// snapshot appends each entry to bufs[kg-start] and counts it in
	// n[kg-start].
	snapshot(bufs [][]byte, n []int) error
}

// Kinds of typed state, as written into checkpoints.
const (
	kindValue byte = 'v'
	kindMap   byte = 'm'
	kindList  byte = 'l'
)

func kindName(k byte) string {
	switch k {
	case kindValue:
		return "ValueState"
	case kindMap:
		return "MapState"
	case kindList:
		return "ListState"
	}
	return fmt.Sprintf("unknown kind %#x", k)
}

// NewOperatorContext returns the OperatorContext of subtask `subtask` of
// parallelism subtasks of the keyed stage name, with a StateBackend for
// keys and the state restored from restored: the stage's KeyedState from a
// Snapshot (any parallelism; only the key groups the subtask owns are
// used), or nil for a fresh start. It is how the engine makes each
// subtask's context, exported for test harnesses (tester.Harness) and tools
// that run an operator outside a pipeline: call OpenOperator and
// CheckpointOperator with the result.
func NewOperatorContext[K comparable, T any](parent context.Context, name string, keys Keys[K, T], subtask, parallelism int, restored *KeyedState) (OperatorContext, error) {
	switch {
	case keys.Hash == nil:
		return OperatorContext{}, fmt.Errorf("engine: stage %q: Keys.Hash is nil", name)
	case keys.MaxParallelism < 1 || keys.MaxParallelism > 1<<15:
		return OperatorContext{}, fmt.Errorf("engine: stage %q: max parallelism %d not in [1, 32768]", name, keys.MaxParallelism)
	case parallelism < 1 || parallelism > keys.MaxParallelism:
		return OperatorContext{}, fmt.Errorf("engine: stage %q: parallelism %d not in [1, max parallelism %d]", name, parallelism, keys.MaxParallelism)
	case subtask < 0 || subtask >= parallelism:
		return OperatorContext{}, fmt.Errorf("engine: stage %q: subtask %d not in [0, %d)", name, subtask, parallelism)
	}
	if parent == nil {
		parent = context.Background()
	}
	b := newStateBackend(name, keys.Hash, keys.MaxParallelism, KeyGroupRangeFor(subtask, keys.MaxParallelism, parallelism))
	ctx := OperatorContext{Context: parent, Name: name, Subtask: subtask, Parallelism: parallelism,
		KeyGroups: b.groups, MaxParallelism: keys.MaxParallelism, State: b}
	var err error
	if restored != nil {
		ctx.Restored, err = b.restore(restored)
	}
	return ctx, err
}

func newStateBackend[K comparable](stage string, hash func(K) uint64, maxPar int, groups KeyGroupRange) *StateBackend {
	return &StateBackend{stage: stage, hash: hash, keyType: reflect.TypeFor[K](), maxPar: maxPar, groups: groups}
}

// OpenOperator calls op.Open(ctx) and then checks that Open registered
// every typed state the checkpoint holds: a state left over (renamed or
// removed in the new version of the operator) fails the restore rather
// than being lost silently.
func OpenOperator[IN, OUT any](op Operator[IN, OUT], ctx OperatorContext) error {
	if err := op.Open(ctx); err != nil {
		return err
	}
	return ctx.State.open()
}

// CheckpointOperator takes op's share of checkpoint id: op.OnCheckpoint,
// then every typed state registered in ctx.State, by key group. The
// operator's encoders (KeyedState.PutFunc) run on the caller's goroutine
// before it returns: the result holds every blob.
func CheckpointOperator[IN, OUT any](op Operator[IN, OUT], ctx OperatorContext, id uint64) (*KeyedState, error) {
	st := NewKeyedState()
	if err := op.OnCheckpoint(id, st); err != nil {
		return nil, err
	}
	if err := ctx.State.snapshot(st); err != nil {
		return nil, err
	}
	return st, nil
}

// open ends registration and releases the restored bytes.
func (b *StateBackend) open() error {
	if b == nil {
		return nil
	}
	b.opened = true
	var left []string
	for name := range b.restored {
		left = append(left, name)
	}
	b.restored = nil
	if len(left) == 0 {
		return nil
	}
	slices.Sort(left)
	if b.dropUnregistered {
		b.log.Warn("dropping restored typed state that Open did not register", zap.String("stage", b.stage),
			zap.Strings("states", left), zap.Stringer("key_groups", b.groups))
		return nil
	}
	return fmt.Errorf("engine: stage %q: the checkpoint holds typed state %q, which Open did not register "+
		"(restore with AllowNonRestoredState to drop it)", b.stage, left)
}

// register checks a new state's name and key type and returns the key hash
// and the state's restored data (nil without).
func register[K comparable](ctx OperatorContext, name string, kind byte, codecs ...any) (func(K) uint64, *restoredState, error) {
	b := ctx.State
	fail := func(format string, args ...any) (func(K) uint64, *restoredState, error) {
		return nil, nil, fmt.Errorf("engine: New%s %q: %s", kindName(kind), name, fmt.Sprintf(format, args...))
	}
	if b == nil {
		return fail("the OperatorContext has no StateBackend (make it with engine.NewOperatorContext, as the engine and tester.Harness do)")
	}
	if b.opened {
		return fail("stage %q: registered after Open; register every state in Open", b.stage)
	}
	if name == "" {
		return fail("stage %q: empty name", b.stage)
	}
	for _, s := range b.states {
		if s.stateName() == name {
			return fail("stage %q: a state of that name is already registered", b.stage)
		}
	}
	for i, c := range codecs {
		if f, ok := c.(interface{ incomplete() bool }); c == nil || ok && f.incomplete() {
			return fail("stage %q: codec %d is nil or incomplete", b.stage, i+1)
		}
	}
	hash, ok := b.hash.(func(K) uint64)
	if !ok {
		return fail("stage %q: keys of type %v, but the stage is keyed by %v", b.stage, reflect.TypeFor[K](), b.keyType)
	}
	r := b.restored[name]
	if r != nil && r.kind != kind {
		return fail("stage %q: the checkpoint holds a %s of that name", b.stage, kindName(r.kind))
	}
	delete(b.restored, name)
	return hash, r, nil
}

// add registers s after its restored entries were loaded.
func (b *StateBackend) add(s typedState) { b.states = append(b.states, s) }

// restoreGroups calls decode for each key group of r in increasing order,
// wrapping its error with the state and key group. decode returns the
// bytes left after its n entries, which must be none.
func restoreGroups(b *StateBackend, name string, r *restoredState, decode func(kg, n int, data []byte) ([]byte, error)) error {
	if r == nil {
		return nil
	}
	kgs := make([]int, 0, len(r.groups))
	for kg := range r.groups {
		kgs = append(kgs, kg)
	}
	slices.Sort(kgs)
	for _, kg := range kgs {
		g := r.groups[kg]
		rest, err := decode(kg, g.n, g.data)
		if err == nil && len(rest) > 0 {
			err = corrupt(kindName(r.kind), "%d bytes after %d entries", len(rest), g.n)
		}
		if err != nil {
			return fmt.Errorf("engine: stage %q: state %q: key group %d: %w", b.stage, name, kg, err)
		}
	}
	return nil
}

// Typed state in a key group's blob (the bytes KeyedState.Get returns): an
// envelope, stateMagic, then uvarint count of states, then per state its
// name (uvarint length and bytes), kind byte, uvarint entry count and data
// (uvarint length and bytes), then a byte 1 followed by the operator's own
// blob (what OnCheckpoint put) or a byte 0 if it put none. A key group
// without typed state keeps the operator's blob as it is, unless that blob
// begins with stateMagic: then it is wrapped in an envelope with no states,
// so that a blob is an envelope exactly when it begins with stateMagic.
const stateMagic = "\xffTS\x01"

// typedSections is the typed state of a checkpoint, encoded by key group
// on the operator's goroutine at the barrier, waiting to be wrapped around
// the operator's blobs once they are encoded (wrap).
type typedSections struct {
	sections [][]byte // per key group - start: the states' sections
	counts   []int    // per key group - start: how many states have a section
}

// snapshot wraps the blobs in st of every key group with typed state: the
// synchronous form of sections, Resolve and wrap.
func (b *StateBackend) snapshot(st *KeyedState) error {
	ts, err := b.sections()
	if err != nil {
		return err
	}
	if err := st.Resolve(); err != nil {
		return err
	}
	b.wrap(st, ts)
	return nil
}

// sections encodes every registered state by key group. It runs on the
// operator's goroutine: typed state is encoded at the barrier (it is not
// copied on write), only the wrapping can wait.
func (b *StateBackend) sections() (*typedSections, error) {
	if b == nil || len(b.states) == 0 {
		return nil, nil
	}
	n := b.groups.End - b.groups.Start
	ts := &typedSections{sections: make([][]byte, n), counts: make([]int, n)}
	bufs, entries := make([][]byte, n), make([]int, n)
	for _, s := range b.states {
		if err := snapshotState(s, bufs, entries); err != nil {
			return nil, fmt.Errorf("engine: stage %q: state %q: %w", b.stage, s.stateName(), err)
		}
		for i := range bufs {
			if entries[i] > 0 {
				ts.sections[i] = appendSection(ts.sections[i], s, entries[i], bufs[i])
				ts.counts[i]++
			}
			bufs[i], entries[i] = bufs[i][:0], 0
		}
	}
	return ts, nil
}

// wrap puts the typed sections of ts around the operator's blobs in st,
// which must be resolved (KeyedState.Resolve). A key group without typed
// state keeps its blob and generation; one with typed state gets
// generation 0: typed state does not track changes, so it is always
// written.
func (b *StateBackend) wrap(st *KeyedState, ts *typedSections) {
	if b == nil {
		return
	}
	for i := range b.groups.End - b.groups.Start {
		kg := b.groups.Start + i
		count := 0
		var sections []byte
		if ts != nil {
			count, sections = ts.counts[i], ts.sections[i]
		}
		if count == 0 && !st.hasPrefix(kg, []byte(stateMagic)) {
			continue
		}
		_, hasRaw := st.groups[kg]
		_, chained := st.chains[kg]
		raw := st.Get(kg) // a chain of segments becomes one blob
		hasRaw = hasRaw || chained
		env := binary.AppendUvarint([]byte(stateMagic), uint64(count))
		env = append(env, sections...)
		if hasRaw {
			env = append(append(env, 1), raw...)
		} else {
			env = append(env, 0)
		}
		st.Put(kg, env)
	}
}

// snapshotState runs s.snapshot, turning a panic of a codec into an error.
func snapshotState(s typedState, bufs [][]byte, n []int) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("encoding failed: %v", p)
		}
	}()
	return s.snapshot(bufs, n)
}

func appendSection(dst []byte, s typedState, entries int, data []byte) []byte {
	dst = StringCodec{}.Append(dst, s.stateName())
	dst = append(dst, s.stateKind())
	dst = binary.AppendUvarint(dst, uint64(entries))
	return BytesCodec{}.Append(dst, data)
}

// restore splits the key groups of restored that b owns into the
// operator's own blobs, which it returns, and typed state, which it keeps
// for registration.
func (b *StateBackend) restore(restored *KeyedState) (*KeyedState, error) {
	raw := NewKeyedState()
	b.restored = map[string]*restoredState{}
	for _, kg := range restored.KeyGroups() {
		if !b.groups.Contains(kg) {
			continue
		}
		blob := restored.Get(kg)
		if !bytes.HasPrefix(blob, []byte(stateMagic)) {
			raw.groups[kg] = blob
			continue
		}
		if err := b.restoreEnvelope(kg, blob[len(stateMagic):], raw); err != nil {
			return nil, fmt.Errorf("engine: stage %q: key group %d: %w", b.stage, kg, err)
		}
	}
	return raw, nil
}

func (b *StateBackend) restoreEnvelope(kg int, env []byte, raw *KeyedState) error {
	n, k := binary.Uvarint(env)
	if k <= 0 || n > uint64(len(env)) {
		return corrupt("typed state", "bad state count")
	}
	env = env[k:]
	for range n {
		name, k, err := StringCodec{}.Decode(env)
		if err != nil {
			return err
		}
		env = env[k:]
		if len(env) == 0 {
			return corrupt("typed state", "state %q: truncated", name)
		}
		kind := env[0]
		entries, k := binary.Uvarint(env[1:])
		if k <= 0 {
			return corrupt("typed state", "state %q: bad entry count", name)
		}
		data, m, err := decodeBytes("typed state", env[1+k:])
		if err != nil {
			return err
		}
		if entries > uint64(max(len(data), 1)) {
			return corrupt("typed state", "state %q: %d entries in %d bytes", name, entries, len(data))
		}
		env = env[1+k+m:]
		r := b.restored[name]
		if r == nil {
			r = &restoredState{kind: kind, groups: map[int]restoredGroup{}}
			b.restored[name] = r
		} else if r.kind != kind {
			return corrupt("typed state", "state %q is a %s and a %s", name, kindName(r.kind), kindName(kind))
		}
		r.groups[kg] = restoredGroup{n: int(entries), data: data}
	}
	switch {
	case len(env) == 0:
		return corrupt("typed state", "truncated")
	case env[0] == 1:
		raw.groups[kg] = env[1:]
	case env[0] != 0 || len(env) != 1:
		return corrupt("typed state", "bad trailer")
	}
	return nil
}
