package portal

import (
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

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
// the spool: a form step and an answer take files, anything else a text
// body at most (which no GET reads: it is read and dropped).
func (s *Server) bodyLimit(method, path string) (limit int, uploads bool) {
	if method != fiber.MethodPost {
		return formBodySize, false
	}
	switch {
	case isFormStep(path):
		return s.maxBody, true
	case isAnswer(path):
		return answerBodySize, true
	}
	return formBodySize, false
}

// takeBody is the middleware that reads bodies. A refused body ends its
// connection: the rest of it is never read.
func (s *Server) takeBody(c *fiber.Ctx) error {
	h := &c.Request().Header
	announced := h.ContentLength() // -1: chunked; -2: none given
	if announced == 0 || announced == -2 {
		return c.Next()
	}
	if len(h.Peek(fiber.HeaderContentEncoding)) > 0 {
		c.Context().SetConnectionClose()
		return fiber.ErrUnsupportedMediaType
	}
	limit, uploads := s.bodyLimit(c.Method(), c.Path())
	if announced > limit {
		c.Context().SetConnectionClose()
		return fiber.ErrRequestEntityTooLarge
	}
	body := &io.LimitedReader{R: c.Context().RequestBodyStream(), N: int64(limit) + 1}
	if uploads && strings.HasPrefix(string(h.ContentType()), fiber.MIMEMultipartForm) {
		return s.spoolPost(c, body, limit)
	}
	b, err := io.ReadAll(body)
	if err == nil && body.N == 0 {
		err = errBodyTooLarge
	}
	if err != nil {
		return bodyError(c, err)
	}
	c.Request().SetBodyRaw(b)
	c.Locals(localBodySize, len(b))
	return c.Next()
}

var errBodyTooLarge = errors.New("portal: body too large")

// spoolPost reads a multipart post with files and runs the rest of the
// chain with it; its files are released when the chain returns.
func (s *Server) spoolPost(c *fiber.Ctx, body *io.LimitedReader, limit int) error {
	boundary := string(c.Request().Header.MultipartFormBoundary())
	var r io.Reader = body
	if conn := c.Context().Conn(); conn != nil {
		r = &idleReader{r: body, conn: conn, idle: s.uploadIdle, end: time.Now().Add(s.uploadTimeout)}
	}
	// Beyond the byte limit: the answers of the largest step fit many
	// times over into the text budget and the part count.
	lim := formpost.Limits{Text: bodySlack, Parts: 500, Header: 16 << 10, File: int64(limit)}
	form, err := formpost.Read(r, boundary, lim, s.spool)
	if err == nil {
		// Whatever follows the closing boundary is read (and dropped), so
		// the connection is ready for its next request.
		_, err = io.Copy(io.Discard, r)
	}
	if err == nil && body.N == 0 {
		err = errBodyTooLarge
	}
	if err != nil {
		if form != nil {
			form.Close()
		}
		return bodyError(c, err)
	}
	defer form.Close()
	c.Request().SetBodyRaw(nil)
	c.Locals(localPost, form)
	c.Locals(localBodySize, limit+1-int(body.N))
	return c.Next()
}

// bodyError maps a failure to read a body to its answer. The connection
// ends, except when the whole post was read.
func bodyError(c *fiber.Ctx, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, errBodyTooLarge), errors.Is(err, formpost.ErrTooLarge):
		c.Context().SetConnectionClose()
		return fiber.ErrRequestEntityTooLarge
	case errors.Is(err, formpost.ErrBusy):
		c.Context().SetConnectionClose()
		c.Set(fiber.HeaderRetryAfter, "30")
		return fiber.ErrServiceUnavailable
	case errors.As(err, &ne) && ne.Timeout():
		c.Context().SetConnectionClose()
		return fiber.ErrRequestTimeout
	}
	c.Context().SetConnectionClose()
	return fiber.NewError(fiber.StatusBadRequest, "malformed body")
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
// idle for bytes, and the whole body at most until end.
type idleReader struct {
	r    io.Reader
	conn net.Conn
	idle time.Duration
	end  time.Time
}

func (r *idleReader) Read(p []byte) (int, error) {
	deadline := time.Now().Add(r.idle)
	if deadline.After(r.end) {
		deadline = r.end
	}
	_ = r.conn.SetReadDeadline(deadline)
	return r.r.Read(p)
}
