package scan

// A client of ClamAV's daemon, clamd, for two commands: INSTREAM (scan
// the bytes sent) and VERSION. Written here rather than taken from a
// library: the Go clamd clients (dutchcoders/go-clamd, baruwa-enterprise/
// clamd and its fork elvinchan/clamd) have not been maintained for years
// or have no users, and the protocol is small. See clamd(8):
//
//	zINSTREAM\0 <len uint32 big-endian><bytes> ... <0 uint32>
//	→ "stream: OK\0" | "stream: <signature> FOUND\0" | "<message> ERROR\0"

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

const (
	// clamdChunk is the size of the chunks INSTREAM sends.
	clamdChunk = 64 << 10
	// clamdReplyMax bounds clamd's answer (a signature name is short).
	clamdReplyMax = 4 << 10
	// clamdDialTimeout bounds connecting: a clamd that does not accept
	// within it is down or overloaded.
	clamdDialTimeout = 3 * time.Second
	// clamdDefaultTimeout bounds a whole scan when Options does not.
	clamdDefaultTimeout = 30 * time.Second
)

// errStreamLimit means clamd refused the stream as longer than its
// StreamMaxLength: an installation error (the setting must be at least
// the largest upload), reported as the check being unavailable.
var errStreamLimit = errors.New("clamd: the file is longer than clamd's StreamMaxLength allows (set it to at least the largest upload, 10M)")

type clamd struct {
	network, address string
	timeout          time.Duration
}

// newClamd parses "unix:/path" or "tcp:host:port".
func newClamd(spec string, timeout time.Duration) (*clamd, error) {
	network, address, ok := ParseClamd(spec)
	if !ok {
		return nil, fmt.Errorf("scan: clamd address %q is neither unix:/path nor tcp:host:port", spec)
	}
	if timeout <= 0 {
		timeout = clamdDefaultTimeout
	}
	return &clamd{network: network, address: address, timeout: timeout}, nil
}

// ParseClamd splits a clamd address, "unix:/absolute/path" or
// "tcp:host:port", into a network and an address for net.Dial.
func ParseClamd(spec string) (network, address string, ok bool) {
	network, address, ok = strings.Cut(spec, ":")
	switch {
	case !ok:
		return "", "", false
	case network == "unix":
		return network, address, strings.HasPrefix(address, "/")
	case network == "tcp":
		host, port, err := net.SplitHostPort(address)
		return network, address, err == nil && host != "" && port != ""
	}
	return "", "", false
}

// dial connects and sets the deadline of the whole exchange.
func (c *clamd) dial(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	d := net.Dialer{Timeout: clamdDialTimeout}
	conn, err := d.DialContext(ctx, c.network, c.address)
	if err != nil {
		cancel()
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	// The request's end (a citizen who gave up) ends the exchange too.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return &clampConn{Conn: conn, done: func() { stop(); cancel() }}, nil
}

// clampConn releases the deadline's context when closed.
type clampConn struct {
	net.Conn
	done func()
}

func (c *clampConn) Close() error { c.done(); return c.Conn.Close() }

// scan sends content with INSTREAM and returns the signature clamd found,
// "" for a clean file. Errors: clamd could not be reached, did not answer
// in time, or answered with an error.
func (c *clamd) scan(ctx context.Context, content []byte) (string, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return "", fmt.Errorf("clamd: %w", err)
	}
	defer conn.Close()
	werr := writeStream(conn, content)
	// Read the answer even after a failed write: clamd answers a stream
	// over its StreamMaxLength with an error, then closes the connection
	// while we may still be sending.
	reply, rerr := readReply(conn)
	switch {
	case rerr != nil && werr != nil:
		return "", fmt.Errorf("clamd: send: %w", werr)
	case rerr != nil:
		return "", fmt.Errorf("clamd: read answer: %w", rerr)
	}
	return parseScanReply(reply)
}

func writeStream(w io.Writer, content []byte) error {
	if _, err := io.WriteString(w, "zINSTREAM\x00"); err != nil {
		return err
	}
	var size [4]byte
	for len(content) > 0 {
		n := min(len(content), clamdChunk)
		binary.BigEndian.PutUint32(size[:], uint32(n))
		if _, err := w.Write(size[:]); err != nil {
			return err
		}
		if _, err := w.Write(content[:n]); err != nil {
			return err
		}
		content = content[n:]
	}
	binary.BigEndian.PutUint32(size[:], 0)
	_, err := w.Write(size[:])
	return err
}

// readReply reads one NUL-terminated answer, or what came before the
// connection closed.
func readReply(r io.Reader) (string, error) {
	buf := make([]byte, 0, 256)
	for len(buf) < clamdReplyMax {
		n, err := r.Read(buf[len(buf):min(cap(buf), clamdReplyMax)])
		buf = buf[:len(buf)+n]
		if i := bytes.IndexByte(buf, 0); i >= 0 {
			return string(buf[:i]), nil
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		if err == io.EOF && len(buf) > 0 {
			return string(buf), nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", errors.New("clamd: answer too long")
}

func parseScanReply(reply string) (string, error) {
	reply = strings.TrimSpace(reply)
	switch {
	case reply == "stream: OK":
		return "", nil
	case strings.HasPrefix(reply, "stream: ") && strings.HasSuffix(reply, " FOUND"):
		sig := strings.TrimSuffix(strings.TrimPrefix(reply, "stream: "), " FOUND")
		if sig == "" {
			return "", fmt.Errorf("clamd: answer %q names no signature", reply)
		}
		return sig, nil
	case strings.HasPrefix(reply, "INSTREAM size limit exceeded"):
		return "", errStreamLimit
	}
	return "", fmt.Errorf("clamd: unexpected answer %q", truncate(reply, 200))
}

// version asks clamd for its version: engine, signature database version
// and the database's date.
func (c *clamd) version(ctx context.Context) (string, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return "", fmt.Errorf("clamd: %w", err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "zVERSION\x00"); err != nil {
		return "", fmt.Errorf("clamd: send: %w", err)
	}
	reply, err := readReply(conn)
	if err != nil {
		return "", fmt.Errorf("clamd: read answer: %w", err)
	}
	if !strings.HasPrefix(reply, "ClamAV ") {
		return "", fmt.Errorf("clamd: unexpected answer %q", truncate(reply, 200))
	}
	return strings.TrimSpace(reply), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
