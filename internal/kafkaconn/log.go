package kafkaconn

import (
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Logger returns a franz-go logger writing to l: franz-go's warnings and
// errors as such, its info and debug messages (every step of a
// rebalance, one per transaction) at debug level, prefixed "franz-go: ".
// franz-go asks for info messages only when l logs at debug level.
func Logger(l *zap.Logger) kgo.Logger { return kgoLogger{l} }

type kgoLogger struct{ l *zap.Logger }

func (k kgoLogger) Level() kgo.LogLevel {
	if k.l.Core().Enabled(zapcore.DebugLevel) {
		return kgo.LogLevelInfo
	}
	return kgo.LogLevelWarn
}

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var lvl zapcore.Level
	switch level {
	case kgo.LogLevelError:
		lvl = zapcore.ErrorLevel
	case kgo.LogLevelWarn:
		lvl = zapcore.WarnLevel
	case kgo.LogLevelInfo, kgo.LogLevelDebug:
		lvl = zapcore.DebugLevel
	default:
		return
	}
	ce := k.l.Check(lvl, "franz-go: "+msg)
	if ce == nil {
		return
	}
	fields := make([]zap.Field, 0, len(keyvals)/2)
	for i := 0; i+1 < len(keyvals); i += 2 {
		key, ok := keyvals[i].(string)
		if !ok {
			continue
		}
		fields = append(fields, zap.Any(key, keyvals[i+1]))
	}
	ce.Write(fields...)
}
