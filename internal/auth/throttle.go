package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"time"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// Guessing a secret. Every attempt at a password or a code is counted in
// PostgreSQL before its outcome counts (store.ClaimAttempt: one statement,
// so parallel attempts cannot slip past a limit together), and throttled
// rather than locked (NIST SP 800-63B 5.2.2): a few attempts are free,
// then each must wait a delay that doubles up to a cap. Password attempts
// count per account and client address, and per account across all
// clients; a browser that completed a login on the account before (its
// device cookie, OWASP's defence against lockout) counts on its own key
// only, so a stranger who knows an address cannot keep its owner out.
// Second-factor attempts count per account, apart from password attempts,
// and only a complete login clears the counts it used.
type throttles struct {
	perClient, perDevice, perAccount store.Throttle // password attempts
	secondFactor                     store.Throttle // TOTP and recovery codes
	currentPassword                  store.Throttle // the check of a password change
}

func defaultThrottles() throttles {
	return throttles{
		perClient:       store.Throttle{Free: 5, Base: time.Second, Max: 15 * time.Minute},
		perDevice:       store.Throttle{Free: 5, Base: time.Second, Max: 15 * time.Minute},
		perAccount:      store.Throttle{Free: 20, Base: time.Second, Max: 15 * time.Minute},
		secondFactor:    store.Throttle{Free: 5, Base: 30 * time.Second, Max: 15 * time.Minute},
		currentPassword: store.Throttle{Free: 5, Base: time.Minute, Max: 15 * time.Minute},
	}
}

// Message ids of a throttled or busy login.
const (
	MsgThrottled = "staff.login.error.throttled" // {{.Wait}}: how long to wait
	MsgBusy      = "staff.login.error.busy"
)

// ThrottledError says that an attempt was refused unseen, and how long
// its key stays blocked. Its kind is TooMany.
type ThrottledError struct{ Wait time.Duration }

func (e *ThrottledError) Error() string { return "auth: throttled for " + e.Wait.String() }

// throttled returns a *ThrottledError wrapped with its kind and message.
func throttled(op string, wait time.Duration) error {
	return &fault.Error{Kind: fault.TooMany, Op: op, MessageID: MsgThrottled, Err: &ThrottledError{Wait: wait}}
}

// Client is what the HTTP layer knows of who attempts a login.
type Client struct {
	Addr   string // the client's address, as rate limits key on it
	Device string // the device cookie, if the browser has one
}

// key returns the throttle key of purpose and parts: an HMAC, so that no
// address (e-mail or IP) is stored as such.
func (s *Service) key(purpose string, parts ...string) []byte {
	m := hmac.New(sha256.New, s.keyKey)
	m.Write([]byte(purpose))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return m.Sum(nil)[:20]
}

// owner is the key all throttle rows of an address belong to.
func (s *Service) owner(email string) []byte { return s.key("owner", email) }

func (s *Service) codeKey(id int64) []byte { return s.key("code", strconv.FormatInt(id, 10)) }

// passwordKeys returns the keys a password attempt for email from c
// counts under, with their throttles.
func (s *Service) passwordKeys(email string, c Client) ([][]byte, []store.Throttle) {
	if nonce, ok := s.deviceNonce(email, c.Device); ok {
		return [][]byte{s.key("password-device", email, nonce)}, []store.Throttle{s.throttles.perDevice}
	}
	return [][]byte{s.key("password-client", email, c.Addr), s.key("password-account", email)},
		[]store.Throttle{s.throttles.perClient, s.throttles.perAccount}
}

// claim counts an attempt under every key; it is refused when any key
// is blocked, and then wait is the longest block.
func (s *Service) claim(ctx context.Context, q store.Querier, email string, keys [][]byte, ths []store.Throttle) (bool, time.Duration, error) {
	ok, wait := true, time.Duration(0)
	owner := s.owner(email)
	for i, k := range keys {
		kok, kwait, err := store.ClaimAttempt(ctx, q, k, owner, ths[i])
		if err != nil {
			return false, 0, err
		}
		ok = ok && kok
		wait = max(wait, kwait)
	}
	return ok, wait, nil
}

// Device cookies: a browser that completed a login on an account gets a
// token bound to the account's address; its password attempts then count
// on a key of their own.

const deviceNonceLen = 16

// NewDevice returns a device token for email.
func (s *Service) NewDevice(email string) string {
	nonce := make([]byte, deviceNonceLen)
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(append(nonce, s.deviceMAC(normalizeEmail(email), nonce)...))
}

func (s *Service) deviceMAC(email string, nonce []byte) []byte {
	m := hmac.New(sha256.New, s.keyKey)
	m.Write([]byte("device\x00" + email + "\x00"))
	m.Write(nonce)
	return m.Sum(nil)[:16]
}

// deviceNonce returns the nonce of token when it is a device token of
// email.
func (s *Service) deviceNonce(email, token string) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != deviceNonceLen+16 {
		return "", false
	}
	if subtle.ConstantTimeCompare(raw[deviceNonceLen:], s.deviceMAC(email, raw[:deviceNonceLen])) != 1 {
		return "", false
	}
	return string(raw[:deviceNonceLen]), true
}

// hashWait is how long a password check waits for a free slot before the
// person is asked to try again.
const hashWait = 3 * time.Second

// argon runs f (an argon2id hash, 19 MiB and tens of milliseconds) in one
// of the service's slots: at most one per CPU at once, so a burst of
// logins cannot take the memory of the machine. Errors: Unavailable
// (MsgBusy) when no slot came free in time.
func (s *Service) argon(ctx context.Context, op string, f func()) error {
	t := time.NewTimer(hashWait)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
	case <-t.C:
		return fault.New(fault.Unavailable, op+": password slots busy", MsgBusy)
	case <-ctx.Done():
		return fault.Wrap(fault.Unavailable, op, ctx.Err())
	}
	defer func() { <-s.slots }()
	f()
	return nil
}

// check is checkPassword in a slot.
func (s *Service) check(ctx context.Context, op, encoded, password string) (bool, error) {
	var ok bool
	var err error
	if serr := s.argon(ctx, op, func() { ok, err = checkPassword(encoded, password) }); serr != nil {
		return false, serr
	}
	return ok, err
}

// hash is HashPassword in a slot.
func (s *Service) hash(ctx context.Context, op, password string) (string, error) {
	var h string
	err := s.argon(ctx, op, func() { h = HashPassword(password) })
	return h, err
}
