package portal

import (
	"errors"
	"io"
	"mime"
	"net"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/formpost"
)

// Request bodies. The server streams bodies (fiber's StreamRequestBody):
// nothing is reserved for a body before its bytes arrive. takeBody reads
// every body, before anything else looks at it, under its route's limit:
// a text post into memory (at most formBodySize), a post with uploads (a
// form step, an answer to a Rückfrage) part by part, its files into the
// spool (internal/formpost). Encoded bodies are refused: nothing in the
// portal takes one, and decompressing is how a small post becomes a large
// one.

// Keys of request-scoped values of a post.
const (
	localPost     = "post"      // the *formpost.Form of a post with uploads
	localBodySize = "body_size" // bytes of the body read
)

// Idle and total read times of a body with uploads (the Server's
// uploadIdle and uploadTimeout): the server's read timeout covers the
// headers and a text body; an upload goes on as long as bytes keep
// coming, up to uploadTimeout.
const (
	uploadIdle    = 10 * time.Second
	uploadTimeout = 10 * time.Minute
)

// bodyLimit is the most a request may carry, and whether its files go to
// the spool: a multipart post to a form step or an answer takes files;
// anything else, a text post or whatever body a GET carries (read and
// dropped), at most formBodySize.
func (s *Server) bodyLimit(method, path, mediaType string) (limit int, uploads bool) {
	if method == fiber.MethodPost && mediaType == fiber.MIMEMultipartForm {
		switch {
		case isFormStep(path):
			return s.maxBody, true
		case isAnswer(path):
			return answerBodySize, true
		}
	}
	return formBodySize, false
}

// mediaTypeOf returns the request's media type, lower case, and its
// boundary parameter, if any.
func mediaTypeOf(h *fasthttp.RequestHeader) (string, string) {
	mt, params, _ := mime.ParseMediaType(string(h.ContentType()))
	return mt, params["boundary"]
}

// hasBody reports whether a request announces a body (-1: chunked; -2:
// no length and no chunks, which a request cannot have).
func hasBody(h *fasthttp.RequestHeader) bool {
	n := h.ContentLength()
	return n != 0 && n != -2
}

// takeBody is the middleware that reads bodies. A refused body ends its
// connection: the rest of it is never read. So does a body shorter than
// its Content-Length (the client went away): a cut-off post is not a
// post.
func (s *Server) takeBody(c *fiber.Ctx) error {
	h := &c.Request().Header
	if !hasBody(h) {
		return c.Next()
	}
	if len(h.Peek(fiber.HeaderContentEncoding)) > 0 {
		c.Context().SetConnectionClose()
		return fiber.ErrUnsupportedMediaType
	}
	mediaType, boundary := mediaTypeOf(h)
	limit, uploads := s.bodyLimit(c.Method(), c.Path(), mediaType)
	announced := h.ContentLength()
	if announced > limit {
		c.Context().SetConnectionClose()
		return fiber.ErrRequestEntityTooLarge
	}
	body := &io.LimitedReader{R: c.Context().RequestBodyStream(), N: int64(limit) + 1}
	if uploads {
		return s.spoolPost(c, body, boundary, limit, announced)
	}
	b, err := io.ReadAll(body)
	if err == nil {
		err = bodyComplete(body, len(b), announced)
	}
	if err != nil {
		return s.bodyError(c, err)
	}
	c.Request().SetBodyRaw(b)
	c.Locals(localBodySize, len(b))
	return c.Next()
}

// Errors of reading a body.
var (
	errBodyTooLarge = errors.New("portal: body too large")
	errBodyShort    = errors.New("portal: body shorter than its Content-Length")
)

// bodyComplete checks a body of n bytes read through body against its
// limit and its announced length (-1: chunked, which ends only with its
// last chunk).
func bodyComplete(body *io.LimitedReader, n, announced int) error {
	switch {
	case body.N == 0:
		return errBodyTooLarge
	case announced >= 0 && n != announced:
		return errBodyShort
	}
	return nil
}

// spoolPost reads a multipart post with files and runs the rest of the
// chain with it; its files are released when the chain returns.
func (s *Server) spoolPost(c *fiber.Ctx, body *io.LimitedReader, boundary string, limit, announced int) error {
	var r io.Reader = body
	if conn := c.Context().Conn(); conn != nil {
		r = &idleReader{r: body, conn: conn, idle: s.uploadIdle, end: time.Now().Add(s.uploadTimeout), grace: s.uploadGrace, rate: s.uploadRate}
	}
	form, err := formpost.Read(r, boundary, s.postLimits(limit), s.spool)
	if err == nil {
		// Whatever follows the closing boundary is read (and dropped), so
		// the connection is ready for its next request.
		_, err = io.Copy(io.Discard, r)
	}
	read := limit + 1 - int(body.N)
	if err == nil {
		err = bodyComplete(body, read, announced)
	}
	if err != nil {
		if form != nil {
			form.Close()
		}
		return s.bodyError(c, err)
	}
	defer form.Close()
	c.Request().SetBodyRaw(nil)
	c.Locals(localPost, form)
	c.Locals(localBodySize, read)
	return c.Next()
}

// postLimits bounds a post with uploads of at most limit bytes beyond its
// size: the answers of the largest step fit many times over into the text
// budget and the part count, and no step takes more files than maxFiles.
func (s *Server) postLimits(limit int) formpost.Limits {
	return formpost.Limits{Text: bodySlack, Parts: 500, Files: s.maxFiles, Header: 8 << 10, File: int64(limit)}
}

// bodyError maps a failure to read a body to its answer, and ends the
// connection: the rest of the body is never read.
func (s *Server) bodyError(c *fiber.Ctx, err error) error {
	c.Context().SetConnectionClose()
	var ne net.Error
	switch {
	case errors.Is(err, errBodyTooLarge), errors.Is(err, formpost.ErrTooLarge):
		return fiber.ErrRequestEntityTooLarge
	case errors.Is(err, formpost.ErrBusy):
		c.Set(fiber.HeaderRetryAfter, "30")
		return fiber.ErrServiceUnavailable
	case errors.As(err, &ne) && ne.Timeout():
		return fiber.ErrRequestTimeout
	case errors.Is(err, formpost.ErrSpool):
		// The disk, not the client: logged by the error handler as a
		// server error.
		c.Set(fiber.HeaderRetryAfter, "30")
		return fault.Wrap(fault.Unavailable, "portal: spool", err)
	}
	return fiber.ErrBadRequest
}

// continueBody decides an "Expect: 100-continue" before the client sends
// its body: a body over its route's limit, or encoded, is refused (417)
// without being sent.
func (s *Server) continueBody(h *fasthttp.RequestHeader) bool {
	path, _, _ := strings.Cut(string(h.RequestURI()), "?")
	mediaType, _ := mediaTypeOf(h)
	limit, _ := s.bodyLimit(string(h.Method()), path, mediaType)
	return len(h.Peek(fiber.HeaderContentEncoding)) == 0 && h.ContentLength() <= limit
}

// closeUnread wraps the server's handler: a request whose body takeBody
// never read (fiber answers some before any middleware, an unknown method
// among them) ends its connection, so that the unread bytes are never
// read as the next request.
func closeUnread(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		next(ctx)
		if hasBody(&ctx.Request.Header) && ctx.UserValue(localBodySize) == nil {
			ctx.SetConnectionClose()
		}
	}
}

// postValue returns the first value of input name of a post: from the
// uploads' form, or from the text body.
func postValue(c *fiber.Ctx, name string) string {
	if form, ok := c.Locals(localPost).(*formpost.Form); ok {
		return firstValue(form.Values[name])
	}
	return c.FormValue(name)
}

// bodySize returns the bytes of the request's body.
func bodySize(c *fiber.Ctx) int {
	n, _ := c.Locals(localBodySize).(int)
	return n
}

// idleReader ends a body whose client stops sending: each read may wait
// idle for bytes, the whole body at most until end, and after grace the
// body must have come at rate bytes a second on average (a client that
// sends a byte every few seconds holds its connection for no longer than
// that).
type idleReader struct {
	r     io.Reader
	conn  net.Conn
	idle  time.Duration
	end   time.Time
	grace time.Duration
	rate  float64
	start time.Time
	n     int64
}

// The slowest upload taken (the Server's uploadRate and uploadGrace):
// 4 KiB/s on average (a poor mobile connection gives ten times that),
// judged after 30 s.
const (
	uploadRate  = 4 << 10
	uploadGrace = 30 * time.Second
)

// errTooSlow ends an upload below its rate; it is a timeout.
type errTooSlow struct{}

func (errTooSlow) Error() string   { return "portal: upload too slow" }
func (errTooSlow) Timeout() bool   { return true }
func (errTooSlow) Temporary() bool { return false }

func (r *idleReader) Read(p []byte) (int, error) {
	now := time.Now()
	if r.start.IsZero() {
		r.start = now
	}
	if took := now.Sub(r.start); took > r.grace && float64(r.n) < r.rate*took.Seconds() {
		return 0, errTooSlow{}
	}
	deadline := now.Add(r.idle)
	if deadline.After(r.end) {
		deadline = r.end
	}
	_ = r.conn.SetReadDeadline(deadline)
	n, err := r.r.Read(p)
	r.n += int64(n)
	return n, err
}
