// Package mailtest runs a real SMTP server (emersion/go-smtp) on a
// loopback port for tests: it records what the portal sends over TCP,
// refuses chosen recipients with 550, and can be stopped and started again
// on the same port to play an SMTP outage.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Received is a mail as the server got it.
type Received struct {
	From string
	To   []string
	Data []byte
	TLS  bool // it came over TLS (STARTTLS or smtps)
}

// Sink is the recording SMTP server.
type Sink struct {
	t    testing.TB
	Addr string
	// Delay is how long the server takes to accept each mail (a slow
	// relay stretches a burst).
	Delay    time.Duration
	mu       sync.Mutex
	mails    []Received
	refuse   map[string]*smtp.SMTPError
	idle     time.Duration
	sessions int
	srv      *smtp.Server
	ln       net.Listener // closed by Stop too: srv learns of it only once Serve runs
	// tls offers STARTTLS, or with implicit serves TLS from the first
	// byte (smtps); nil: plain text only.
	tls      *tls.Config
	implicit bool
	// auth: the credentials and mechanisms RequireAuth asked for.
	user, pass string
	mechs      []string
	logins     map[string]int // successful logins by mechanism
	onAccept   func(Received) // see OnAccept
}

// Start runs a sink on a free loopback port until the test ends.
func Start(t testing.TB) *Sink {
	t.Helper()
	return StartIdle(t, 0)
}

// StartIdle is Start with a server that closes connections idle for longer
// than idle (saying 421 first, as go-smtp's server does); 0: 10 seconds.
func StartIdle(t testing.TB, idle time.Duration) *Sink {
	t.Helper()
	return start(t, &Sink{t: t, refuse: map[string]*smtp.SMTPError{}, idle: idle})
}

// StartTLS runs a sink that offers STARTTLS (implicit false) or speaks TLS
// from the first byte, as on port 465 (implicit true), with a certificate
// for 127.0.0.1 made for the test. Clients trust it through ClientTLS.
func StartTLS(t testing.TB, implicit bool) *Sink {
	t.Helper()
	cert, err := selfSigned()
	if err != nil {
		t.Fatal(err)
	}
	return start(t, &Sink{t: t, refuse: map[string]*smtp.SMTPError{}, implicit: implicit,
		tls: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
}

// ClientTLS is a client configuration that trusts this sink's certificate
// (and nothing else).
func (s *Sink) ClientTLS() *tls.Config {
	pool := x509.NewCertPool()
	if s.tls != nil {
		pool.AddCert(s.tls.Certificates[0].Leaf)
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

func start(t testing.TB, s *Sink) *Sink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

func (s *Sink) serve(ln net.Listener) {
	srv := smtp.NewServer(backend{s})
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.mu.Lock()
	if s.idle > 0 {
		srv.ReadTimeout = s.idle
	}
	if s.tls != nil && s.implicit {
		ln = tls.NewListener(ln, s.tls)
	} else if s.tls != nil {
		srv.TLSConfig = s.tls
	}
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// selfSigned makes a short-lived certificate for 127.0.0.1.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sink.test"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// Stop closes the server and every connection (an outage). A mail the
// server was still taking (within Delay) is not kept: a relay that goes
// down keeps only what it answered "250 OK" to.
func (s *Sink) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
		_ = ln.Close()
	}
}

// Restart serves again on the same address.
func (s *Sink) Restart() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment
		if ln, err = net.Listen("tcp", s.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.serve(ln)
}

// Refuse makes the server answer RCPT TO:<addr> with 550 "no such user",
// quoting the address as Postfix does.
func (s *Sink) Refuse(addr string) {
	s.RefuseWith(addr, &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + addr + ">: No such user here"})
}

// RefuseWith makes the server answer RCPT TO:<addr> with answer.
func (s *Sink) RefuseWith(addr string, answer *smtp.SMTPError) {
	s.mu.Lock()
	s.refuse[strings.ToLower(addr)] = answer
	s.mu.Unlock()
}

// RequireAuth makes the server offer the SASL mechanisms mechs (PLAIN,
// LOGIN) and refuse MAIL FROM before a login as user with pass.
func (s *Sink) RequireAuth(user, pass string, mechs ...string) {
	s.mu.Lock()
	s.user, s.pass, s.mechs = user, pass, mechs
	s.mu.Unlock()
}

// Logins counts the successful logins by mechanism.
func (s *Sink) Logins() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.logins {
		out[k] = v
	}
	return out
}

// Mails returns what arrived so far.
func (s *Sink) Mails() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.mails...)
}

// MessageIDs counts the mails that arrived by Message-Id.
func (s *Sink) MessageIDs() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, m := range s.mails {
		for _, line := range strings.Split(string(m.Data), "\r\n") {
			if v, ok := strings.CutPrefix(line, "Message-Id: "); ok {
				out[v]++
				break
			}
		}
	}
	return out
}

// OnAccept makes the server call fn with each mail it accepts, after
// recording it and before answering "250 OK": a test can make something
// fail at the moment the client learns its mail went out.
func (s *Sink) OnAccept(fn func(Received)) {
	s.mu.Lock()
	s.onAccept = fn
	s.mu.Unlock()
}

// SetDelay sets Delay while the server runs.
func (s *Sink) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.Delay = d
	s.mu.Unlock()
}

// Sessions returns how many SMTP sessions (connections) were opened.
func (s *Sink) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Wait returns the mails once there are n, failing the test after timeout.
func (s *Sink) Wait(n int, timeout time.Duration) []Received {
	s.t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := s.Mails(); len(m) >= n {
			return m
		}
	}
	s.t.Fatalf("%d mails arrived within %v, want %d", len(s.Mails()), timeout, n)
	return nil
}

type backend struct{ s *Sink }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.s.mu.Lock()
	b.s.sessions++
	b.s.mu.Unlock()
	_, secure := c.TLSConnectionState()
	return &session{s: b.s, srv: c.Server(), tls: secure}, nil
}

type session struct {
	s      *Sink
	srv    *smtp.Server // the server of this session: Stop ends it
	from   string
	to     []string
	authed bool
	tls    bool
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }
func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.s.mu.Lock()
	needAuth := x.s.user != ""
	x.s.mu.Unlock()
	if needAuth && !x.authed {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

// AuthMechanisms offers what RequireAuth asked for (none by default).
func (x *session) AuthMechanisms() []string {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	return append([]string(nil), x.s.mechs...)
}

// Auth checks the credentials of a PLAIN or LOGIN exchange.
func (x *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		x.s.mu.Lock()
		defer x.s.mu.Unlock()
		if user != x.s.user || pass != x.s.pass {
			return smtp.ErrAuthFailed
		}
		if x.s.logins == nil {
			x.s.logins = map[string]int{}
		}
		x.s.logins[mech]++
		x.authed = true
		return nil
	}
	if !slices.Contains(x.AuthMechanisms(), mech) {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// loginServer is the server side of AUTH LOGIN (go-sasl has only the
// client): "Username:", "Password:", each answered in base64.
type loginServer struct {
	check func(user, pass string) error
	user  []byte
	step  int
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch {
	case l.step == 1 && resp == nil:
		return []byte("Username:"), false, nil
	case l.step <= 2 && l.user == nil:
		l.user = resp
		l.step = 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(string(l.user), string(resp))
	}
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	refused := x.s.refuse[strings.ToLower(to)]
	x.s.mu.Unlock()
	if refused != nil {
		return refused
	}
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	delay := x.s.Delay
	x.s.mu.Unlock()
	time.Sleep(delay)
	m := Received{From: x.from, To: x.to, Data: bytes.Clone(b), TLS: x.tls}
	x.s.mu.Lock()
	if x.s.srv != x.srv { // stopped while taking it
		x.s.mu.Unlock()
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "shutting down"}
	}
	x.s.mails = append(x.s.mails, m)
	onAccept := x.s.onAccept
	x.s.mu.Unlock()
	if onAccept != nil {
		onAccept(m)
	}
	return nil
}
