package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/gesundheitsamt/portal/internal/store"
)

// Sender delivers an encoded message to one recipient.
type Sender interface {
	Send(ctx context.Context, from, to string, msg []byte) error
}

// Permanent reports whether err is a permanent refusal of the mail or its
// recipient (a 5xx answer to RCPT TO or DATA): trying again will not help.
// A 5xx while connecting, logging in or at MAIL FROM is the relay refusing
// the portal (a changed password, a sender it does not accept): a
// RelayError, not permanent, as no citizen's address is to blame.
func Permanent(err error) bool {
	var se *smtp.SMTPError
	var re *RelayError
	return errors.As(err, &se) && se.Code >= 500 && !errors.As(err, &re)
}

// RelayError is a refusal before any recipient was named (the greeting,
// STARTTLS, AUTH or MAIL FROM), or a relay that will not relay for the
// portal at all. It says the portal's SMTP settings or the relay are at
// fault; the mail is retried.
type RelayError struct{ Err error }

func (e *RelayError) Error() string { return e.Err.Error() }
func (e *RelayError) Unwrap() error { return e.Err }

// OutageError says the relay could not be reached or went away: no
// connection (refused, a timeout, a name that does not resolve), a
// connection closed or reset during the conversation, or "421 service
// not available". Nobody's settings need be wrong, nobody's address is to
// blame; the mail is retried.
type OutageError struct{ Err error }

func (e *OutageError) Error() string { return e.Err.Error() }
func (e *OutageError) Unwrap() error { return e.Err }

// unreachable reports whether err is the relay or the network failing,
// not the relay answering.
func unreachable(err error) bool {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code == 421
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return false // a TLS alert: the relay refused the handshake
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// SMTP sends through an SMTP server, keeping a few connections open
// between mails so a burst does not pay a handshake (and a TLS one) for
// each. It is safe for concurrent use.
type SMTP struct {
	addr        string
	host        string
	implicitTLS bool // smtps://
	requireTLS  bool // refuse a server without STARTTLS (production)
	user, pass  string
	tls         *tls.Config
	timeout     time.Duration
	maxIdle     int

	mu   sync.Mutex
	idle []*smtp.Client
}

// NewSMTP returns a sender for rawURL (smtp://[user:pass@]host:port, with
// STARTTLS when the server offers it, required when requireTLS; or
// smtps://... for implicit TLS). tlsConfig may be nil (system roots).
func NewSMTP(rawURL string, requireTLS bool, tlsConfig *tls.Config) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, errors.New("mail: SMTP_URL must look like smtp://[user:pass@]host:port or smtps://...")
	}
	s := &SMTP{addr: u.Host, host: u.Hostname(), implicitTLS: u.Scheme == "smtps", requireTLS: requireTLS,
		timeout: 30 * time.Second, maxIdle: 8}
	if u.Port() == "" {
		port := "587"
		if s.implicitTLS {
			port = "465"
		}
		s.addr = net.JoinHostPort(u.Hostname(), port)
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	s.tls = tlsConfig
	if s.tls == nil {
		s.tls = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
	}
	return s, nil
}

// Send delivers msg from from to to. A reused connection that turns out
// to be dead is replaced once.
func (s *SMTP) Send(ctx context.Context, from, to string, msg []byte) error {
	for attempt := 0; ; attempt++ {
		c, reused, err := s.get(ctx)
		if err != nil {
			return err
		}
		err = s.transaction(c, from, to, msg)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			s.put(c)
			return nil
		case errors.As(err, &se) && se.Code == 421:
			// "Service not available, closing channel": a server that
			// timed out the idle connection says so on the next command.
			_ = c.Close()
			if reused && attempt == 0 {
				s.dropIdle()
				continue
			}
			return &OutageError{Err: err}
		case errors.As(err, &se):
			// The server answered: the connection is fine for the next mail.
			if c.Reset() == nil {
				s.put(c)
			} else {
				_ = c.Close()
			}
			return err
		default:
			_ = c.Close()
			if reused && attempt == 0 {
				// An idle connection the server closed meanwhile: the
				// others are likely dead too. Start afresh.
				s.dropIdle()
				continue
			}
			err = fmt.Errorf("mail: send: %w", err)
			if unreachable(err) {
				return &OutageError{Err: err}
			}
			return err
		}
	}
}

func (s *SMTP) transaction(c *smtp.Client, from, to string, msg []byte) error {
	if err := c.Mail(from, nil); err != nil {
		return &RelayError{Err: fmt.Errorf("mail: MAIL FROM: %w", err)}
	}
	if err := c.Rcpt(to, nil); err != nil {
		if relayDenied(err) {
			return &RelayError{Err: fmt.Errorf("mail: RCPT TO: %w", err)}
		}
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

func (s *SMTP) get(ctx context.Context) (*smtp.Client, bool, error) {
	s.mu.Lock()
	if n := len(s.idle); n > 0 {
		c := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		return c, true, nil
	}
	s.mu.Unlock()
	c, err := s.dial(ctx)
	switch {
	case err != nil && unreachable(err):
		return nil, false, &OutageError{Err: err}
	case err != nil:
		return nil, false, &RelayError{Err: err}
	}
	return c, false, nil
}

func (s *SMTP) put(c *smtp.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.idle) >= s.maxIdle {
		_ = c.Quit()
		return
	}
	s.idle = append(s.idle, c)
}

// dial connects, says hello, secures and authenticates a connection.
func (s *SMTP) dial(ctx context.Context) (*smtp.Client, error) {
	d := net.Dialer{Timeout: s.timeout}
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("mail: connect %s: %w", s.addr, err)
	}
	var c *smtp.Client
	switch {
	case s.implicitTLS:
		c = smtp.NewClient(tls.Client(conn, s.tls))
	default:
		c, err = smtp.NewClientStartTLS(conn, s.tls)
		if err != nil && !s.requireTLS && strings.Contains(err.Error(), "STARTTLS") {
			// A development server without STARTTLS: plain text, which
			// production (requireTLS) never accepts.
			_ = conn.Close()
			if conn, err = d.DialContext(ctx, "tcp", s.addr); err != nil {
				return nil, fmt.Errorf("mail: connect %s: %w", s.addr, err)
			}
			c, err = smtp.NewClient(conn), nil
		}
		if err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("mail: STARTTLS with %s: %w", s.addr, err)
		}
	}
	c.CommandTimeout, c.SubmissionTimeout = s.timeout, 2*s.timeout
	if s.user != "" {
		if err := c.Auth(s.saslClient(c)); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("mail: AUTH: %w", err)
		}
	}
	return c, nil
}

// relayDenied reports whether a refused recipient is the relay refusing to
// relay for the portal (Postfix: "554 5.7.1 Relay access denied",
// Exchange: "550 5.7.54 Unable to relay"): a policy answer (5.7.x) that
// says so. Every recipient would get it; no address is wrong.
func relayDenied(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code >= 500 && se.EnhancedCode[0] == 5 && se.EnhancedCode[1] == 7 &&
		strings.Contains(strings.ToLower(se.Message), "relay")
}

// saslClient picks AUTH PLAIN, or LOGIN from a server that offers only
// that (older Exchange relays): both send the password once, inside TLS
// in production.
func (s *SMTP) saslClient(c *smtp.Client) sasl.Client {
	if !c.SupportsAuth(sasl.Plain) && c.SupportsAuth(sasl.Login) {
		return &loginClient{user: s.user, pass: s.pass}
	}
	return sasl.NewPlainClient("", s.user, s.pass)
}

// loginClient speaks AUTH LOGIN by answering the server's prompts. It
// sends no initial response: go-sasl's LOGIN client sends the user name
// up front and then expects exactly "Password:", which servers that ask
// "Username:" first (as the LOGIN draft describes) refuse.
type loginClient struct{ user, pass string }

func (l *loginClient) Start() (string, []byte, error) { return sasl.Login, nil, nil }

func (l *loginClient) Next(challenge []byte) ([]byte, error) {
	switch p := strings.ToLower(string(challenge)); {
	case strings.HasPrefix(p, "user"):
		return []byte(l.user), nil
	case strings.HasPrefix(p, "pass"):
		return []byte(l.pass), nil
	}
	return nil, sasl.ErrUnexpectedServerChallenge
}

// dropIdle closes the idle connections without a goodbye (they are
// presumed dead).
func (s *SMTP) dropIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.idle {
		_ = c.Close()
	}
	s.idle = nil
}

// Close ends the idle connections.
func (s *SMTP) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.idle {
		_ = c.Quit()
	}
	s.idle = nil
}

// Mailbox is the development mailbox: it keeps mails in the database,
// where /dev/mail lists them, instead of sending them.
type Mailbox struct {
	DB *store.DB
}

// Send keeps msg.
func (m Mailbox) Send(ctx context.Context, from, to string, msg []byte) error {
	return store.InsertDevMail(ctx, m.DB, from, to, msg)
}
