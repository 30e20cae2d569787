package portal

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/formpost"
)

// uploadServer serves a form step's path behind takeBody on a real
// connection, with short upload timeouts.
func uploadServer(t *testing.T, idle, total, grace time.Duration, rate float64) string {
	t.Helper()
	s := &Server{maxBody: 1 << 20, maxFiles: 4, spool: formpost.NewSpool(t.TempDir(), 1<<20), uploadIdle: idle, uploadTimeout: total,
		uploadGrace: grace, uploadRate: rate,
		log: slog.New(slog.DiscardHandler)}
	app := fiber.New(fiber.Config{DisableStartupMessage: true, StreamRequestBody: true, DisablePreParseMultipartForm: true, BodyLimit: formBodySize, ReadTimeout: 5 * time.Second})
	app.Use(s.takeBody)
	app.Post("/amt/:office/leistungen/:service/antrag/:step", func(c *fiber.Ctx) error {
		return c.SendString("taken " + postValue(c, "a"))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return ln.Addr().String()
}

// dribble sends a multipart post, then n more bytes of its file, a byte every gap,
// and returns the status the server answered with (0: none) and when.
func dribble(t *testing.T, addr string, n int, gap time.Duration) (int, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The server reads the first 8 KiB of a body before the handler runs
	// (under its read timeout); the rest comes a byte at a time.
	head := "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.pdf\"\r\n\r\n" +
		strings.Repeat("y", 9<<10)
	tail := "\r\n--B--\r\n"
	start := time.Now()
	fmt.Fprintf(conn, "POST /amt/o/leistungen/s/antrag/x HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: %d\r\n\r\n%s",
		len(head)+n+len(tail), head)
	done := make(chan int, 1)
	go func() {
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			done <- 0
			return
		}
		_, _ = io.Copy(io.Discard, res.Body)
		done <- res.StatusCode
	}()
	for i := 0; i < n; i++ {
		select {
		case status := <-done:
			return status, time.Since(start)
		case <-time.After(gap):
		}
		if _, err := conn.Write([]byte("z")); err != nil {
			break
		}
	}
	_, _ = io.WriteString(conn, tail)
	select {
	case status := <-done:
		return status, time.Since(start)
	case <-time.After(5 * time.Second):
		return 0, time.Since(start)
	}
}

// An upload goes on while its bytes keep coming, and ends when its client
// stalls (the idle time) or is too slow overall (the total time): a slow
// client cannot hold a connection for long.
func TestSlowUploadsAreCutOff(t *testing.T) {
	addr := uploadServer(t, 300*time.Millisecond, 1500*time.Millisecond, time.Hour, 0)
	if status, took := dribble(t, addr, 8, 100*time.Millisecond); status != http.StatusOK {
		t.Errorf("an upload that keeps coming (a byte every 100 ms for %v): status %d", took, status)
	}
	if status, took := dribble(t, addr, 3, time.Second); status != http.StatusRequestTimeout || took > 2*time.Second {
		t.Errorf("a stalled upload: status %d after %v, want 408 after the 300 ms idle time", status, took)
	}
	if status, took := dribble(t, addr, 40, 100*time.Millisecond); status != http.StatusRequestTimeout || took > 3*time.Second {
		t.Errorf("a dribbling upload: status %d after %v, want 408 after the 1.5 s in all", status, took)
	}
}

// An upload slower than the rate on average is ended once the grace is
// over, however regularly its bytes come.
func TestUploadsBelowTheRateAreCutOff(t *testing.T) {
	// The first 9 KiB come at once; then 10 bytes a second: below 4,000
	// a second on average after about 2.3 s.
	addr := uploadServer(t, 300*time.Millisecond, time.Minute, 500*time.Millisecond, 4000)
	if status, took := dribble(t, addr, 60, 100*time.Millisecond); status != http.StatusRequestTimeout || took > 3500*time.Millisecond {
		t.Errorf("10 bytes a second: status %d after %v, want 408 after about 2.3 s", status, took)
	}
	fast := uploadServer(t, 300*time.Millisecond, time.Minute, 500*time.Millisecond, 10)
	if status, took := dribble(t, fast, 12, 50*time.Millisecond); status != http.StatusOK {
		t.Errorf("20 bytes a second against a rate of 10: status %d after %v", status, took)
	}
}
