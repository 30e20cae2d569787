package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gesundheitsamt/portal/internal/config"
)

// bufferedLog is serve's log output: records are collected in memory and
// written out every flushEvery, when the buffer is full, at once for
// warnings and errors, and on Close. As with nginx's buffered access log,
// one write system call then carries many request lines instead of one
// each; at most flushEvery of informational lines is lost if the process
// is killed.
type bufferedLog struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

const flushEvery = 250 * time.Millisecond

func newBufferedLog(w io.Writer) *bufferedLog {
	b := &bufferedLog{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(flushEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.Flush()
			case <-b.stop:
				return
			}
		}
	}()
	return b
}

func (b *bufferedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

// Flush writes out what is buffered.
func (b *bufferedLog) Flush() {
	b.mu.Lock()
	_ = b.w.Flush()
	b.mu.Unlock()
}

// Close stops the flushing and writes out the rest.
func (b *bufferedLog) Close() {
	close(b.stop)
	<-b.done
	b.Flush()
}

// flushOnWarn writes a warning or error out at once: those lines matter
// most when something goes wrong right after them.
type flushOnWarn struct {
	slog.Handler
	out *bufferedLog
}

func (h flushOnWarn) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		h.out.Flush()
	}
	return err
}

func (h flushOnWarn) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushOnWarn{Handler: h.Handler.WithAttrs(attrs), out: h.out}
}

func (h flushOnWarn) WithGroup(name string) slog.Handler {
	return flushOnWarn{Handler: h.Handler.WithGroup(name), out: h.out}
}

// newLogger returns the structured logger: JSON in production (for log
// shippers), text in development (for people).
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	return slog.New(newHandler(cfg, w))
}

func newHandler(cfg config.Config, w io.Writer) slog.Handler {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if cfg.Production() {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// newBufferedLogger is newLogger writing through a bufferedLog; call the
// returned Close before exiting.
func newBufferedLogger(cfg config.Config, w io.Writer) (*slog.Logger, *bufferedLog) {
	out := newBufferedLog(w)
	return slog.New(flushOnWarn{Handler: newHandler(cfg, out), out: out}), out
}
