package mail_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/mail/mailtest"
)

func TestHeaderInjectionIsNeutralised(t *testing.T) {
	m := mail.Message{
		From:    mail.Address{Name: "Gesundheitsamt\r\nBcc: evil@example.org", Email: "portal@leipzig.example"},
		To:      mail.Address{Name: "Zoë Ó Briain\nX-Evil: 1", Email: "zoe@example.org"},
		Subject: "Rückfrage\r\nBcc: evil@example.org\r\n\r\nbody",
		Text:    "Hallo", HTML: "<p>Hallo</p>",
	}
	raw, id, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		name, _, _ := strings.Cut(line, ":")
		if strings.EqualFold(name, "Bcc") || strings.EqualFold(name, "X-Evil") {
			t.Errorf("an injected header: %q", line)
		}
	}
	read, err := mail.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if read.Subject != "Rückfrage Bcc: evil@example.org body" || !strings.Contains(read.To, "zoe@example.org") {
		t.Errorf("subject %q, to %q", read.Subject, read.To)
	}
	for _, h := range []string{"Auto-Submitted: auto-generated", "Message-Id: <" + id + ">", "multipart/alternative"} {
		if !strings.Contains(string(raw), h) {
			t.Errorf("no %q in\n%s", h, head)
		}
	}
}

func TestSMTPDeliversReusesConnectionsAndClassifiesRefusals(t *testing.T) {
	sink := mailtest.Start(t)
	s, err := mail.NewSMTP("smtp://"+sink.Addr, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msg := func(i int) []byte {
		raw, _, err := mail.Message{From: mail.Address{Email: "portal@test"}, To: mail.Address{Email: "a@test"},
			Subject: fmt.Sprint("Mail ", i), Text: "x", HTML: "x"}.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	// A burst from 4 goroutines: every mail arrives over a few connections.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if err := s.Send(context.Background(), "portal@test", "a@test", msg(g*100+i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if got := len(sink.Mails()); got != 100 {
		t.Fatalf("%d mails arrived, want 100", got)
	}
	if n := sink.Sessions(); n > 8 {
		t.Errorf("%d connections for 100 mails: connections are not reused", n)
	}

	sink.Refuse("nobody@test")
	err = s.Send(context.Background(), "portal@test", "nobody@test", msg(0))
	if err == nil || !mail.Permanent(err) {
		t.Errorf("a 550: %v (permanent %v)", err, mail.Permanent(err))
	}
	// A relay that will not relay for the portal refuses every recipient:
	// the portal's fault, retried, not a wrong address.
	sink.RefuseWith("elsewhere@test", &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "<elsewhere@test>: Relay access denied"})
	err = s.Send(context.Background(), "portal@test", "elsewhere@test", msg(0))
	var relay *mail.RelayError
	if err == nil || mail.Permanent(err) || !errors.As(err, &relay) {
		t.Errorf("relay access denied: %v (permanent %v)", err, mail.Permanent(err))
	}
	// The server gone: a temporary failure; back again: delivered.
	sink.Stop()
	err = s.Send(context.Background(), "portal@test", "a@test", msg(1))
	if err == nil || mail.Permanent(err) {
		t.Errorf("server down: %v", err)
	}
	sink.Restart()
	if err := s.Send(context.Background(), "portal@test", "a@test", msg(2)); err != nil {
		t.Errorf("server back: %v", err)
	}
	sink.Wait(101, 5*time.Second)
}

// A server that closes idle connections answers the next command with 421:
// the mail goes out over a new connection instead of failing.
func TestIdleConnectionTimedOutByTheServer(t *testing.T) {
	sink := mailtest.StartIdle(t, 200*time.Millisecond)
	s, err := mail.NewSMTP("smtp://"+sink.Addr, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw, _, _ := mail.Message{From: mail.Address{Email: "portal@test"}, To: mail.Address{Email: "a@test"}, Subject: "x", Text: "x", HTML: "x"}.Bytes()
	if err := s.Send(context.Background(), "portal@test", "a@test", raw); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the server gives up on the idle connection
	if err := s.Send(context.Background(), "portal@test", "a@test", raw); err != nil {
		t.Errorf("after the server's idle timeout: %v", err)
	}
	sink.Wait(2, 5*time.Second)
}

// SMTP_URL's user and password log in with AUTH PLAIN, or with LOGIN at a
// server that offers only that; a wrong password delivers nothing.
func TestSMTPAuthPlainAndLogin(t *testing.T) {
	raw, _, _ := mail.Message{From: mail.Address{Email: "portal@test"}, To: mail.Address{Email: "a@test"}, Subject: "x", Text: "x", HTML: "x"}.Bytes()
	for _, tc := range []struct {
		offered []string
		pass    string
		want    string // the mechanism used; "" for a refused login
	}{
		{[]string{"PLAIN", "LOGIN"}, "geheim", "PLAIN"},
		{[]string{"LOGIN"}, "geheim", "LOGIN"},
		{[]string{"PLAIN"}, "falsch", ""},
		{[]string{"LOGIN"}, "falsch", ""},
	} {
		sink := mailtest.Start(t)
		sink.RequireAuth("portal", "geheim", tc.offered...)
		s, err := mail.NewSMTP("smtp://portal:"+tc.pass+"@"+sink.Addr, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(context.Background(), "portal@test", "a@test", raw)
		s.Close()
		var relay *mail.RelayError
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%v with a wrong password: sent", tc.offered)
		case tc.want == "" && (mail.Permanent(err) || !errors.As(err, &relay)):
			// The portal's password is wrong, not the citizen's address:
			// retried, never recorded as a refused mail.
			t.Errorf("%v with a wrong password: %v (permanent %v)", tc.offered, err, mail.Permanent(err))
		case tc.want != "" && err != nil:
			t.Errorf("%v: %v", tc.offered, err)
		}
		if got := sink.Logins()[tc.want]; tc.want != "" && got != 1 {
			t.Errorf("%v: logins %v, want one with %s", tc.offered, sink.Logins(), tc.want)
		}
		if n := len(sink.Mails()); (tc.want == "") != (n == 0) {
			t.Errorf("%v password %q: %d mails arrived", tc.offered, tc.pass, n)
		}
	}
	// The sink refuses mail without a login, so the test above can fail.
	sink := mailtest.Start(t)
	sink.RequireAuth("portal", "geheim", "PLAIN")
	s, _ := mail.NewSMTP("smtp://"+sink.Addr, false, nil)
	defer s.Close()
	if err := s.Send(context.Background(), "portal@test", "a@test", raw); err == nil || mail.Permanent(err) {
		t.Errorf("without a login to a server that requires one: %v (permanent %v)", err, mail.Permanent(err))
	}
}

// STARTTLS when the server offers it, required in production; smtps://
// speaks TLS from the first byte; the server's certificate is checked.
func TestSMTPOverTLS(t *testing.T) {
	raw, _, _ := mail.Message{From: mail.Address{Email: "portal@test"}, To: mail.Address{Email: "a@test"}, Subject: "x", Text: "x", HTML: "x"}.Bytes()
	send := func(url string, requireTLS bool, cfg *tls.Config) error {
		t.Helper()
		s, err := mail.NewSMTP(url, requireTLS, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return s.Send(context.Background(), "portal@test", "a@test", raw)
	}

	starttls := mailtest.StartTLS(t, false)
	starttls.RequireAuth("portal", "geheim", "PLAIN")
	if err := send("smtp://portal:geheim@"+starttls.Addr, true, starttls.ClientTLS()); err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	// The password went inside TLS: the mail arrived over it.
	if m := starttls.Wait(1, 5*time.Second); !m[0].TLS {
		t.Error("STARTTLS offered, but the mail came in plain text")
	}
	// A certificate the portal does not trust: nothing is sent.
	if err := send("smtp://"+starttls.Addr, true, nil); err == nil {
		t.Error("sent to a server whose certificate is not trusted")
	}

	implicit := mailtest.StartTLS(t, true)
	if err := send("smtps://"+implicit.Addr, true, implicit.ClientTLS()); err != nil {
		t.Fatalf("smtps: %v", err)
	}
	if m := implicit.Wait(1, 5*time.Second); !m[0].TLS {
		t.Error("smtps, but the mail came in plain text")
	}

	// A server without STARTTLS: plain text in development, refused in
	// production (the mail waits; it is the relay's fault, not the address's).
	plain := mailtest.Start(t)
	var relay *mail.RelayError
	if err := send("smtp://"+plain.Addr, true, nil); err == nil || !errors.As(err, &relay) || mail.Permanent(err) {
		t.Errorf("production, server without STARTTLS: %v", err)
	}
	if len(plain.Mails()) != 0 {
		t.Error("production sent a mail in plain text")
	}
	if err := send("smtp://"+plain.Addr, false, nil); err != nil {
		t.Errorf("development, server without STARTTLS: %v", err)
	}
	if m := plain.Wait(1, 5*time.Second); m[0].TLS {
		t.Error("the plain server reports TLS: the check above proves nothing")
	}
}

// A relay that cannot be reached, or goes away, is an outage: retried,
// and not the relay refusing the portal (whose settings are then at
// fault) nor a refused address. A relay that answers with a refusal of
// the portal is a RelayError.
func TestRelayOutageIsNotARelayRefusal(t *testing.T) {
	ctx := context.Background()
	raw, _, _ := mail.Message{From: mail.Address{Email: "portal@test"}, To: mail.Address{Email: "a@test"}, Subject: "x", Text: "x", HTML: "x"}.Bytes()
	// greets runs a server that writes greeting (nothing: closes at once)
	// to every connection, then closes it.
	greets := func(greeting string) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte(greeting))
				time.Sleep(20 * time.Millisecond)
				c.Close()
			}
		}()
		return ln.Addr().String()
	}
	stopped := mailtest.Start(t)
	stopped.Stop()
	wrongPassword := mailtest.Start(t)
	wrongPassword.RequireAuth("portal", "richtig", "PLAIN")
	tests := []struct {
		name, url string
		outage    bool
	}{
		{"connection refused", "smtp://" + stopped.Addr, true},
		{"closed before the greeting", "smtp://" + greets(""), true},
		{"421 at the greeting", "smtp://" + greets("421 4.3.2 mx.test Service not available\r\n"), true},
		{"554 at the greeting", "smtp://" + greets("554 5.3.2 mx.test No service for you\r\n"), false},
		{"a wrong password", "smtp://portal:falsch@" + wrongPassword.Addr, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := mail.NewSMTP(tt.url, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.Send(ctx, "portal@test", "a@test", raw)
			var outage *mail.OutageError
			var relay *mail.RelayError
			switch {
			case err == nil:
				t.Fatal("delivered")
			case mail.Permanent(err):
				t.Errorf("permanent: %v", err)
			case tt.outage && (!errors.As(err, &outage) || errors.As(err, &relay)):
				t.Errorf("want an outage, not a relay refusal: %T %v", err, err)
			case !tt.outage && (errors.As(err, &outage) || !errors.As(err, &relay)):
				t.Errorf("want a relay refusal, not an outage: %T %v", err, err)
			}
		})
	}
}

// A mail that cannot go out is tried for about a day, and never waits
// more than a few minutes between attempts: after a long relay outage the
// queue drains within minutes, not an hour.
func TestMailRetriesWaitMinutesForADay(t *testing.T) {
	w := &mail.Worker{}
	var total time.Duration
	for attempt := 1; attempt < mail.MaxAttempts; attempt++ {
		before := time.Now()
		wait := w.NextRetry(&river.Job[mail.Args]{JobRow: &rivertype.JobRow{Attempt: attempt}}).Sub(before)
		if attempt == 1 && (wait < 29*time.Second || wait > 31*time.Second) {
			t.Errorf("first wait %v, want 30 s", wait)
		}
		if wait > 5*time.Minute+time.Second {
			t.Fatalf("attempt %d waits %v, more than 5 minutes", attempt, wait)
		}
		total += wait
	}
	if total < 23*time.Hour || total > 25*time.Hour {
		t.Errorf("%d attempts span %v, want about a day", mail.MaxAttempts, total)
	}
}

// An attachment's media type goes out with its parameters: a calendar
// client reads an invitation's method from them, and a type the encoder
// could not format would go out without any.
func TestMessageAttachmentKeepsMediaTypeParameters(t *testing.T) {
	m := mail.Message{
		From: mail.Address{Email: "portal@test"}, To: mail.Address{Email: "a@test"}, Subject: "x", Text: "x", HTML: "x",
		Attachments: []mail.Attachment{
			{Name: "termin.ics", MediaType: "text/calendar; charset=utf-8; method=REQUEST", Content: []byte("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")},
			{Name: "quittung.pdf", MediaType: "application/pdf", Content: []byte("%PDF-1.7")},
		},
	}
	raw, _, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	r, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	type part struct{ mediaType, method, charset, name string }
	var got []part
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h, ok := p.Header.(*gomail.AttachmentHeader); ok {
			mt, params, err := h.ContentType()
			if err != nil {
				t.Fatal(err)
			}
			name, _ := h.Filename()
			got = append(got, part{mt, params["method"], params["charset"], name})
		}
	}
	want := []part{{"text/calendar", "REQUEST", "utf-8", "termin.ics"}, {"application/pdf", "", "", "quittung.pdf"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("attachments %v, want %v", got, want)
	}
	m.Attachments = []mail.Attachment{{Name: "x", MediaType: "text/calendar; method", Content: []byte("x")}}
	if _, _, err := m.Bytes(); err == nil {
		t.Error("an attachment with a malformed media type was encoded")
	}
}
