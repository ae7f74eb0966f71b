package ha

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapHCLog is an hclog.Logger on top of a *zap.Logger, for hashicorp/raft:
// each raft log call is one zap entry at the matching level (Trace and
// Debug → Debug, Info → Info, Warn → Warn, Error → Error), with raft's
// key/value arguments as zap fields and no text of hclog's own (no second
// timestamp, no "[ERROR]" in the message). Its name is appended to the zap
// logger's name ("raft", "raft.net"). Entries below its level (SetLevel,
// shared with the loggers derived from it) are dropped before zap's own
// level applies.
type zapHCLog struct {
	root    *zap.Logger // the caller's logger, with the caller skip of this adapter
	zl      *zap.Logger // root named name, with the implied fields
	name    string
	implied []interface{}
	level   *atomic.Int32 // an hclog.Level
}

var _ hclog.Logger = (*zapHCLog)(nil)

// newHCLog returns an hclog.Logger named name (empty: none) writing to zl
// (nil: nowhere) and passing entries at level and above.
func newHCLog(zl *zap.Logger, name string, level hclog.Level) hclog.Logger {
	if zl == nil {
		zl = zap.NewNop()
	}
	l := &zapHCLog{
		// Callers of Check, from the top: log, the hclog method (Error,
		// Log, ...), its caller in raft.
		root:  zl.WithOptions(zap.AddCallerSkip(2)),
		name:  name,
		level: new(atomic.Int32),
	}
	l.SetLevel(level)
	l.zl = l.root.Named(name)
	return l
}

// derive returns a logger sharing l's level with another name and implied
// arguments.
func (l *zapHCLog) derive(name string, implied []interface{}) *zapHCLog {
	return &zapHCLog{
		root:    l.root,
		zl:      l.root.Named(name).With(hclogFields(implied)...),
		name:    name,
		implied: implied,
		level:   l.level,
	}
}

// zapLevel maps an hclog level to zap's; false for Off.
func zapLevel(level hclog.Level) (zapcore.Level, bool) {
	switch level {
	case hclog.Trace, hclog.Debug:
		return zapcore.DebugLevel, true
	case hclog.Info:
		return zapcore.InfoLevel, true
	case hclog.Warn:
		return zapcore.WarnLevel, true
	case hclog.Error:
		return zapcore.ErrorLevel, true
	}
	return 0, false
}

// hclogFields turns hclog's alternating keys and values into zap fields. A
// key that is not a string is printed; a value without a key gets hclog's
// key for it, EXTRA_VALUE_AT_END.
func hclogFields(args []interface{}) []zap.Field {
	if len(args) == 0 {
		return nil
	}
	fs := make([]zap.Field, 0, (len(args)+1)/2)
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			fs = append(fs, hclogField(hclog.MissingKey, args[i]))
			break
		}
		fs = append(fs, hclogField(hclogKey(args[i]), args[i+1]))
	}
	return fs
}

// hclogKey is a key as a string.
func hclogKey(k interface{}) string {
	if s, ok := k.(string); ok {
		return s
	}
	return fmt.Sprint(k)
}

// hclogField is zap.Any, but hclog's formatting types keep their meaning.
func hclogField(k string, v interface{}) zap.Field {
	switch v := v.(type) {
	case hclog.Hex:
		return zap.String(k, fmt.Sprintf("0x%x", int(v)))
	case hclog.Octal:
		return zap.String(k, fmt.Sprintf("0%o", int(v)))
	case hclog.Binary:
		return zap.String(k, fmt.Sprintf("0b%b", int(v)))
	case hclog.Quote:
		return zap.String(k, string(v))
	case hclog.Format:
		if len(v) > 0 {
			return zap.String(k, fmt.Sprintf(fmt.Sprint(v[0]), v[1:]...))
		}
		return zap.String(k, "")
	}
	return zap.Any(k, v)
}

func (l *zapHCLog) log(level hclog.Level, msg string, args []interface{}) {
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	if level < l.GetLevel() {
		return
	}
	zlvl, ok := zapLevel(level)
	if !ok {
		return
	}
	// hclog: a trailing hclog.Format holds the arguments of a Printf-style msg.
	if n := len(args); n%2 == 1 {
		if f, ok := args[n-1].(hclog.Format); ok {
			msg = fmt.Sprintf(msg, f...)
			args = args[:n-1]
		}
	}
	if ce := l.zl.Check(zlvl, msg); ce != nil {
		ce.Write(hclogFields(args)...)
	}
}

func (l *zapHCLog) Log(level hclog.Level, msg string, args ...interface{}) { l.log(level, msg, args) }
func (l *zapHCLog) Trace(msg string, args ...interface{})                  { l.log(hclog.Trace, msg, args) }
func (l *zapHCLog) Debug(msg string, args ...interface{})                  { l.log(hclog.Debug, msg, args) }
func (l *zapHCLog) Info(msg string, args ...interface{})                   { l.log(hclog.Info, msg, args) }
func (l *zapHCLog) Warn(msg string, args ...interface{})                   { l.log(hclog.Warn, msg, args) }
func (l *zapHCLog) Error(msg string, args ...interface{})                  { l.log(hclog.Error, msg, args) }

// enabled: an entry at level would be written, by this adapter and by zap.
func (l *zapHCLog) enabled(level hclog.Level) bool {
	zlvl, ok := zapLevel(level)
	return ok && level >= l.GetLevel() && l.zl.Core().Enabled(zlvl)
}

func (l *zapHCLog) IsTrace() bool { return l.enabled(hclog.Trace) }
func (l *zapHCLog) IsDebug() bool { return l.enabled(hclog.Debug) }
func (l *zapHCLog) IsInfo() bool  { return l.enabled(hclog.Info) }
func (l *zapHCLog) IsWarn() bool  { return l.enabled(hclog.Warn) }
func (l *zapHCLog) IsError() bool { return l.enabled(hclog.Error) }

// ImpliedArgs returns the key/value pairs given to With.
func (l *zapHCLog) ImpliedArgs() []interface{} {
	return append([]interface{}(nil), l.implied...)
}

// With returns a logger adding args to every entry; as hclog's, a key given
// again replaces the earlier value.
func (l *zapHCLog) With(args ...interface{}) hclog.Logger {
	if len(args)%2 == 1 {
		args = append(args[:len(args)-1:len(args)-1], hclog.MissingKey, args[len(args)-1])
	}
	implied := append([]interface{}(nil), l.implied...)
next:
	for i := 0; i+1 < len(args); i += 2 {
		for j := 0; j+1 < len(implied); j += 2 {
			if hclogKey(implied[j]) == hclogKey(args[i]) {
				implied[j+1] = args[i+1]
				continue next
			}
		}
		implied = append(implied, args[i], args[i+1])
	}
	return l.derive(l.name, implied)
}

func (l *zapHCLog) Name() string { return l.name }

// Named appends name to the logger's name, with a dot.
func (l *zapHCLog) Named(name string) hclog.Logger {
	if l.name != "" {
		name = l.name + "." + name
	}
	return l.derive(name, l.implied)
}

// ResetNamed sets the logger's name (the part this adapter adds to the zap
// logger's name).
func (l *zapHCLog) ResetNamed(name string) hclog.Logger {
	return l.derive(name, l.implied)
}

// SetLevel changes the level of this logger and of every logger derived
// from the same newHCLog call. NoLevel means hclog's default, Info.
func (l *zapHCLog) SetLevel(level hclog.Level) {
	if level == hclog.NoLevel {
		level = hclog.DefaultLevel
	}
	l.level.Store(int32(level))
}

func (l *zapHCLog) GetLevel() hclog.Level { return hclog.Level(l.level.Load()) }

// StandardLogger returns a log.Logger writing through StandardWriter.
func (l *zapHCLog) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

// StandardWriter returns a writer logging each line as one entry. A
// leading "[LEVEL]" ([TRACE], [DEBUG], [INFO], [WARN], [ERROR] or [ERR]),
// possibly after a timestamp, gives the entry's level and is cut off with
// the timestamp; lines without one are logged at Info. With
// opts.ForceLevel, every line is logged at that level (the prefix is cut
// off all the same).
func (l *zapHCLog) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	w := &hclogWriter{l: l}
	if opts != nil {
		w.force = opts.ForceLevel
	}
	return w
}

type hclogWriter struct {
	l     *zapHCLog
	force hclog.Level
}

// stdTimestamp matches a leading timestamp as log.Logger or hclog write it:
// 2006/01/02 15:04:05(.000000) or 2006-01-02T15:04:05.000Z(07:00).
var stdTimestamp = regexp.MustCompile(`^\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?\s+`)

var stdLevels = []struct {
	prefix string
	level  hclog.Level
}{
	{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
	{"[WARN]", hclog.Warn}, {"[ERROR]", hclog.Error}, {"[ERR]", hclog.Error},
}

// parseStdLine splits a line into its level (NoLevel if it has no prefix)
// and its message.
func parseStdLine(s string) (hclog.Level, string) {
	rest := s
	if m := stdTimestamp.FindStringIndex(rest); m != nil {
		rest = rest[m[1]:]
	}
	for _, p := range stdLevels {
		if strings.HasPrefix(rest, p.prefix) {
			return p.level, strings.TrimSpace(rest[len(p.prefix):])
		}
	}
	return hclog.NoLevel, s
}

func (w *hclogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(p, []byte("\n")) {
		s := strings.TrimRight(string(line), " \t\r")
		if s == "" {
			continue
		}
		level, msg := parseStdLine(s)
		switch {
		case w.force != hclog.NoLevel:
			level = w.force
		case level == hclog.NoLevel:
			level = hclog.Info
		}
		w.l.log(level, msg, nil)
	}
	return len(p), nil
}
