// Package pionlog routes the log lines of pion's libraries (webrtc, ice,
// turn) into the portal's slog.Logger, so that they carry the process's
// format instead of going to stderr.
//
// pion logs connection state changes at info and many recoverable events
// (a dropped packet, a late STUN answer, a refused permission) at warn,
// often naming client and peer addresses and usernames: personal data the
// portal keeps out of its normal logs. Every line is therefore logged at
// debug level, with pion's own level beside it, and formatted only when
// debug is on (pion/turn logs each relayed datagram). Only when Errors is
// set do pion's errors stay errors.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// Factory is a pion logging.LoggerFactory writing to Log.
type Factory struct {
	Log    *slog.Logger
	Errors bool // pion's errors at error level (the SFU's); else debug like the rest
}

// NewLogger returns the logger of one pion scope.
func (f Factory) NewLogger(scope string) logging.LeveledLogger {
	return logger{log: f.Log.With("pion", scope), errors: f.Errors}
}

type logger struct {
	log    *slog.Logger
	errors bool
}

func (l logger) logf(pionLevel string, level slog.Level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...), "pion_level", pionLevel)
}

func (l logger) errorLevel() slog.Level {
	if l.errors {
		return slog.LevelError
	}
	return slog.LevelDebug
}

func (l logger) Trace(msg string)                  { l.logf("trace", slog.LevelDebug, "%s", msg) }
func (l logger) Tracef(format string, args ...any) { l.logf("trace", slog.LevelDebug, format, args...) }
func (l logger) Debug(msg string)                  { l.logf("debug", slog.LevelDebug, "%s", msg) }
func (l logger) Debugf(format string, args ...any) { l.logf("debug", slog.LevelDebug, format, args...) }
func (l logger) Info(msg string)                   { l.logf("info", slog.LevelDebug, "%s", msg) }
func (l logger) Infof(format string, args ...any)  { l.logf("info", slog.LevelDebug, format, args...) }
func (l logger) Warn(msg string)                   { l.logf("warn", slog.LevelDebug, "%s", msg) }
func (l logger) Warnf(format string, args ...any)  { l.logf("warn", slog.LevelDebug, format, args...) }
func (l logger) Error(msg string)                  { l.logf("error", l.errorLevel(), "%s", msg) }
func (l logger) Errorf(format string, args ...any) { l.logf("error", l.errorLevel(), format, args...) }
