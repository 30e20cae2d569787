// Package scan checks an upload after its type is known and before it is
// stored, the way an office's IT security expects:
//
//   - a PDF is parsed (pdfcpu) and refused when it carries JavaScript,
//     launch or other actions that open files, XFA forms, Flash, or
//     embedded files, when it needs a password to open, or when it cannot
//     be parsed;
//   - a JPEG or PNG is decoded and encoded again, which drops EXIF and
//     other metadata (a phone photo's location) and anything appended
//     after the image; what is stored is the new encoding;
//   - with a clamd configured, the file as the citizen sent it is scanned
//     by ClamAV; a signature match refuses it, and so does a clamd that
//     does not answer (the check fails closed).
//
// Every refusal is a *Finding naming its Kind. Neither a Finding nor a
// log line carries the file's name or any of its bytes.
package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/gesundheitsamt/portal/internal/request"
)

// Media types Check knows; the same strings as forms.MediaType*.
const (
	MediaTypePDF  = "application/pdf"
	MediaTypeJPEG = "image/jpeg"
	MediaTypePNG  = "image/png"
)

// Kind is why a file was refused.
type Kind int

// The kinds of finding.
const (
	Damaged     Kind = iota + 1 // not readable as the type it claims to be
	Active                      // PDF with JavaScript, a launch action, XFA or Flash
	Embedded                    // PDF with embedded files or file attachments
	Encrypted                   // PDF that needs a password to open
	TooLarge                    // an image with more pixels than MaxPixels, or too large once encoded again
	Infected                    // clamd found a signature
	Unavailable                 // no verdict now (clamd does not answer, or the checks are busy): try again later
)

func (k Kind) String() string {
	switch k {
	case Damaged:
		return "damaged"
	case Active:
		return "active_content"
	case Embedded:
		return "embedded_file"
	case Encrypted:
		return "encrypted"
	case TooLarge:
		return "too_large"
	case Infected:
		return "infected"
	case Unavailable:
		return "unavailable"
	}
	return "unknown"
}

// Finding is the error of a refused file. Detail says what was found for
// the log ("JavaScript", "Launch", a clamd signature name); Err is the
// cause of an Unavailable finding (a network error). Neither ever holds
// the file's name or content.
type Finding struct {
	Kind   Kind
	Detail string
	Err    error
}

func (f *Finding) Error() string {
	s := "scan: " + f.Kind.String()
	if f.Detail != "" {
		s += " (" + f.Detail + ")"
	}
	if f.Err != nil {
		s += ": " + f.Err.Error()
	}
	return s
}

func (f *Finding) Unwrap() error { return f.Err }

// KindOf returns the Kind of the Finding in err's chain, or 0 when there
// is none.
func KindOf(err error) Kind {
	var f *Finding
	if errors.As(err, &f) {
		return f.Kind
	}
	return 0
}

// Options configure a Checker.
type Options struct {
	// Clamd is where ClamAV's daemon listens: "unix:/path/to/clamd.ctl"
	// or "tcp:host:port". Empty: no virus scan.
	Clamd string
	// ClamdTimeout bounds one scan, from connecting to the verdict
	// (default 30 s); a clamd that takes longer counts as unavailable.
	ClamdTimeout time.Duration
	// Log receives one line per refused file (nil: discarded).
	Log *slog.Logger
}

// memoryBudget bounds the memory that the checks running at once may
// take for decoding (images and PDFs), estimated per file before it is
// decoded. A file whose estimate does not fit waits for others to finish.
const memoryBudget = 512 << 20

// Checker checks uploads. It is safe for concurrent use.
type Checker struct {
	clamd *clamd // nil: no virus scan
	log   *slog.Logger
	mem   *semaphore.Weighted
}

// New returns a Checker. Errors: a malformed Options.Clamd.
func New(o Options) (*Checker, error) {
	c := &Checker{log: o.Log, mem: semaphore.NewWeighted(memoryBudget)}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Clamd != "" {
		cl, err := newClamd(o.Clamd, o.ClamdTimeout)
		if err != nil {
			return nil, err
		}
		c.clamd = cl
	}
	return c, nil
}

// Check checks content, an upload whose bytes forms.SniffMediaType named
// mediaType and whose size the caller has checked, and returns the bytes
// to store: content itself for a PDF, the new encoding of an image (at
// most maxSize bytes). Errors: *Finding for a refused file; ctx's error
// when ctx ends first.
func (c *Checker) Check(ctx context.Context, mediaType string, content []byte, maxSize int64) ([]byte, error) {
	stored, err := c.check(ctx, mediaType, content, maxSize)
	if err != nil {
		c.logFinding(ctx, mediaType, err)
	}
	return stored, err
}

func (c *Checker) check(ctx context.Context, mediaType string, content []byte, maxSize int64) ([]byte, error) {
	// What the file is comes first: a damaged or active file needs no
	// virus scan, and the citizen learns what to change at once.
	var stored []byte
	switch mediaType {
	case MediaTypePDF:
		if err := c.withMemory(ctx, pdfMemory(len(content)), func() error { return checkPDF(ctx, content) }); err != nil {
			return nil, err
		}
		stored = content
	case MediaTypeJPEG, MediaTypePNG:
		var err error
		if stored, err = c.reencode(ctx, mediaType, content, maxSize); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("scan: media type %q not supported", mediaType)
	}
	// The virus scan sees what the citizen sent, not the new encoding: a
	// signature in an image's metadata or in data appended to it is found
	// (and logged) although re-encoding would have dropped it.
	if c.clamd != nil {
		sig, err := c.clamd.scan(ctx, content)
		switch {
		case err != nil:
			return nil, &Finding{Kind: Unavailable, Detail: "clamd", Err: err}
		case sig != "":
			return nil, &Finding{Kind: Infected, Detail: sig}
		}
	}
	return stored, nil
}

// withMemory runs f holding need bytes of the memory budget.
func (c *Checker) withMemory(ctx context.Context, need int64, f func() error) error {
	need = min(max(need, 1), memoryBudget)
	if err := c.mem.Acquire(ctx, need); err != nil {
		return &Finding{Kind: Unavailable, Detail: "busy", Err: err}
	}
	defer c.mem.Release(need)
	return f()
}

// logFinding logs a refusal: its kind, what was found and the request,
// never the file. An Unavailable finding is a warning, since the
// operator has something to fix.
func (c *Checker) logFinding(ctx context.Context, mediaType string, err error) {
	var f *Finding
	if !errors.As(err, &f) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", request.ID(ctx)),
		slog.String("finding", f.Kind.String()),
		slog.String("media_type", mediaType),
	}
	if f.Detail != "" {
		attrs = append(attrs, slog.String("detail", f.Detail))
	}
	level := slog.LevelInfo
	if f.Kind == Unavailable {
		level = slog.LevelWarn
		if f.Err != nil {
			attrs = append(attrs, slog.String("err", f.Err.Error()))
		}
	}
	if f.Kind == Infected {
		level = slog.LevelWarn
	}
	c.log.LogAttrs(ctx, level, "upload refused", attrs...)
}

// Status is what Status reports of the virus scan.
type Status struct {
	Configured bool   // PORTAL_CLAMD is set
	Version    string // clamd's VERSION answer (engine, signature database and its date); empty when it did not answer
}

// Status reports whether a virus scan is configured and, if so, asks
// clamd for its version (a short timeout: it is shown on a page).
func (c *Checker) Status(ctx context.Context) Status {
	if c.clamd == nil {
		return Status{}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := c.clamd.version(ctx)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "clamd does not answer", slog.String("request_id", request.ID(ctx)), slog.String("err", err.Error()))
		return Status{Configured: true}
	}
	return Status{Configured: true, Version: v}
}
