package scan

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/request"
	"github.com/gesundheitsamt/portal/internal/scan/clamdtest"
	"github.com/gesundheitsamt/portal/internal/testlog"
)

func TestClamd(t *testing.T) {
	addr := clamdtest.Start(t, clamdtest.Options{})
	logs := &testlog.Buffer{}
	c := newChecker(t, Options{Clamd: addr, Log: slog.New(slog.NewTextHandler(logs, nil))})
	ctx := request.WithID(context.Background(), "req-clamd-1")

	infectedPDF := onePage("", "", "stream:"+clamdtest.EICAR)
	// In a JPEG's comment: re-encoding drops it, but the scan sees the
	// file as sent.
	infectedJPEG := withSegments(encodeJPEG(t, photo(32, 32), 90), comment(clamdtest.EICAR))
	for _, tt := range []struct {
		name      string
		mediaType string
		content   []byte
		want      Kind
	}{
		{"clean PDF", MediaTypePDF, onePage("", ""), 0},
		{"clean JPEG", MediaTypeJPEG, encodeJPEG(t, photo(32, 32), 90), 0},
		{"EICAR in a PDF", MediaTypePDF, infectedPDF, Infected},
		{"EICAR in a JPEG comment", MediaTypeJPEG, infectedJPEG, Infected},
		{"EICAR after a PNG", MediaTypePNG, append(encodePNG(t, photo(8, 8)), clamdtest.EICAR...), Infected},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stored, err := c.Check(ctx, tt.mediaType, tt.content, 10<<20)
			if KindOf(err) != tt.want {
				t.Fatalf("Check = %v, want kind %v\nclamd log:\n%s", err, tt.want, clamdtest.Log(addr))
			}
			if tt.want == 0 && len(stored) == 0 {
				t.Fatal("a clean file returned nothing to store")
			}
			if tt.want != 0 && stored != nil {
				t.Fatal("an infected file returned bytes to store")
			}
			var f *Finding
			if tt.want == Infected && (!errors.As(err, &f) || f.Detail != clamdtest.Signature) {
				t.Fatalf("finding %v does not name the signature %s", err, clamdtest.Signature)
			}
		})
	}
	// The log names the request, the finding and the signature; never
	// the file.
	log := logs.String()
	for _, want := range []string{"request_id=req-clamd-1", "finding=infected", "detail=" + clamdtest.Signature} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "EICAR-STANDARD") {
		t.Errorf("log holds the file's content:\n%s", log)
	}

	st := c.Status(ctx)
	if !st.Configured || !strings.HasPrefix(st.Version, "ClamAV ") {
		t.Errorf("Status = %+v, want configured with a version", st)
	}
	if st := newChecker(t, Options{}).Status(ctx); st.Configured {
		t.Errorf("Status without clamd = %+v", st)
	}
}

// A clamd that is configured but does not answer refuses the file: the
// check fails closed.
func TestClamdUnavailable(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() { // accepts, reads, never answers
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			go func() { defer conn.Close(); _, _ = conn.Read(make([]byte, 1<<20)); time.Sleep(5 * time.Second) }()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	for _, tt := range []struct{ name, addr string }{
		{"no socket", "unix:/nonexistent/clamd.sock"},
		{"nobody listening", "tcp:" + closedAddr},
		{"no answer", "tcp:" + silent.Addr().String()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs := &testlog.Buffer{}
			c := newChecker(t, Options{Clamd: tt.addr, ClamdTimeout: 300 * time.Millisecond, Log: slog.New(slog.NewTextHandler(logs, nil))})
			start := time.Now()
			stored, err := c.Check(context.Background(), MediaTypePDF, onePage("", ""), 10<<20)
			if KindOf(err) != Unavailable || stored != nil {
				t.Fatalf("Check = %v, want Unavailable", err)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %v to give up", took)
			}
			if !strings.Contains(logs.String(), "finding=unavailable") || !strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("log:\n%s", logs.String())
			}
			if st := c.Status(context.Background()); !st.Configured || st.Version != "" {
				t.Errorf("Status = %+v, want configured without version", st)
			}
		})
	}
}

// A file longer than clamd's StreamMaxLength is not scanned: clamd says
// so, and the file is refused as not checkable, with a log line that
// tells the operator what to set.
func TestClamdStreamMaxLength(t *testing.T) {
	addr := clamdtest.Start(t, clamdtest.Options{StreamMaxLength: "1K"})
	logs := &testlog.Buffer{}
	c := newChecker(t, Options{Clamd: addr, Log: slog.New(slog.NewTextHandler(logs, nil))})
	big := onePage("", "", "stream:"+strings.Repeat("sauber ", 40_000)) // 280 kB
	_, err := c.Check(context.Background(), MediaTypePDF, big, 10<<20)
	if KindOf(err) != Unavailable || !errors.Is(err, errStreamLimit) {
		t.Fatalf("Check = %v, want Unavailable for the stream limit", err)
	}
	if !strings.Contains(logs.String(), "StreamMaxLength") {
		t.Errorf("log does not name the setting:\n%s", logs.String())
	}
	// Within the limit, the same clamd scans.
	if _, err := c.Check(context.Background(), MediaTypePDF, []byte("%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"), 10<<20); err != nil {
		t.Fatalf("small file: %v", err)
	}
}

func TestParseClamd(t *testing.T) {
	for _, tt := range []struct {
		spec    string
		network string
		ok      bool
	}{
		{"unix:/run/clamav/clamd.ctl", "unix", true},
		{"tcp:clamav.intern:3310", "tcp", true},
		{"tcp:[::1]:3310", "tcp", true},
		{"unix:relative.sock", "", false},
		{"tcp:clamav.intern", "", false},
		{"tcp::3310", "", false},
		{"/run/clamav/clamd.ctl", "", false},
		{"udp:host:1", "", false},
		{"", "", false},
	} {
		network, _, ok := ParseClamd(tt.spec)
		if ok != tt.ok || ok && network != tt.network {
			t.Errorf("ParseClamd(%q) = %q, %v", tt.spec, network, ok)
		}
	}
}
