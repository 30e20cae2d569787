package turn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs routes pion/turn's log lines to slog, all at debug level.
// pion's lines at info, warn and error level name client and peer
// addresses and usernames ("permission denied for client … to peer …"),
// which are personal data the portal keeps out of its normal logs; what an
// operator needs at info level this package logs itself, without them.
type pionLogs struct{ log *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

// logf formats only when debug is on: pion logs every relayed datagram at
// debug level, and formatting it would cost more than relaying it.
func (l pionLogger) logf(level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	l.log.Debug(fmt.Sprintf(format, args...), "pion_level", level)
}

func (l pionLogger) Trace(msg string)                  { l.logf("trace", "%s", msg) }
func (l pionLogger) Tracef(format string, args ...any) { l.logf("trace", format, args...) }
func (l pionLogger) Debug(msg string)                  { l.logf("debug", "%s", msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.logf("debug", format, args...) }
func (l pionLogger) Info(msg string)                   { l.logf("info", "%s", msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.logf("info", format, args...) }
func (l pionLogger) Warn(msg string)                   { l.logf("warn", "%s", msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.logf("warn", format, args...) }
func (l pionLogger) Error(msg string)                  { l.logf("error", "%s", msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.logf("error", format, args...) }
