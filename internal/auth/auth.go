// Package auth owns staff accounts and their logins: argon2id passwords,
// TOTP as the second factor (required for admins and physicians), sessions
// in PostgreSQL with idle and absolute timeouts, throttled attempts
// (throttle.go). Roles decide what staff may see; offices decide which
// cases.
package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"image/png"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// Staff is the account a session belongs to, as the back office needs it.
type Staff struct {
	ID       int64
	OfficeID int64
	Email    string
	Name     string
	Role     domain.Role
	// MustChangePassword: the password was generated or reset; nothing
	// but the password change opens until it is changed.
	MustChangePassword bool
}

// Actor is the staff member as the one who acts.
func (st Staff) Actor() domain.Actor { return domain.StaffMember(st.ID) }

// ReadsMedical reports whether the staff member may read what is marked
// medical: answers, files, a physician's Rückfrage and its answer.
func (st Staff) ReadsMedical() bool { return st.Role.ReadsMedical() }

// Service runs accounts and logins. It is safe for concurrent use.
type Service struct {
	db        *store.DB
	box       *crypto.Box
	keyKey    []byte // keys throttle rows and device tokens
	throttles throttles
	slots     chan struct{} // password hashes at once (argon)
	dummy     string        // a hash to check against for unknown addresses
	now       func() time.Time
}

// New returns the service; encKey seals TOTP secrets
// (PORTAL_ENCRYPTION_KEY), and a key derived from it keys the throttle.
func New(db *store.DB, encKey []byte) (*Service, error) {
	box, err := crypto.NewBox(encKey)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	m := hmac.New(sha256.New, encKey)
	m.Write([]byte("portal-login-throttle"))
	return &Service{
		db: db, box: box, keyKey: m.Sum(nil), throttles: defaultThrottles(), slots: make(chan struct{}, runtime.GOMAXPROCS(0)),
		dummy: HashPassword(NewPassword()), now: time.Now,
	}, nil
}

// NewAccount is what AddStaff needs.
type NewAccount struct {
	OfficeID   int64
	Email      string
	Name       string
	Role       domain.Role
	Password   string
	TOTPSecret string // base32; empty: enrolment at first login
	OneTime    bool   // a generated password: to be changed at the first login
}

// normalizeEmail lower-cases and trims an address.
func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// AddStaff creates an account. Errors: Invalid (role, e-mail, short
// password, malformed TOTP secret), Conflict (address taken).
func (s *Service) AddStaff(ctx context.Context, a NewAccount) (int64, error) {
	row, err := s.account(ctx, a, true, "")
	if err != nil {
		return 0, err
	}
	return store.InsertStaff(ctx, s.db.Pool, row)
}

// UpsertDemoStaff creates demo accounts or resets their password and TOTP
// secret to the given ones. The operator chose the demo password
// (PORTAL_DEMO_PASSWORD), so its length is not checked; all demo accounts
// share it, so it is hashed once (one argon2id run instead of one per
// account at every start).
func (s *Service) UpsertDemoStaff(ctx context.Context, accounts []NewAccount) error {
	var hash string
	for _, a := range accounts {
		row, err := s.account(ctx, a, false, hash)
		if err != nil {
			return err
		}
		hash = row.PasswordHash
		if err := store.UpsertDemoStaff(ctx, s.db.Pool, row); err != nil {
			return err
		}
	}
	return nil
}

// account checks a and builds its row; hash, when given, is a hash of
// a.Password made before.
func (s *Service) account(ctx context.Context, a NewAccount, checkLength bool, hash string) (store.Staff, error) {
	const op = "auth: account"
	email := normalizeEmail(a.Email)
	switch {
	case !slices.Contains(domain.Roles, a.Role):
		return store.Staff{}, fault.New(fault.Invalid, op, "staff.error.role")
	case !strings.Contains(email, "@") || strings.ContainsAny(email, " \t\r\n") || len(email) > 254:
		return store.Staff{}, fault.New(fault.Invalid, op, "staff.error.email")
	case strings.TrimSpace(a.Name) == "":
		return store.Staff{}, fault.New(fault.Invalid, op, "staff.error.name")
	case a.Password == "" || (checkLength && len([]rune(a.Password)) < MinPasswordLen):
		return store.Staff{}, fault.New(fault.Invalid, op, "staff.error.password_short")
	}
	if hash == "" {
		var err error
		if hash, err = s.hash(ctx, op, a.Password); err != nil {
			return store.Staff{}, err
		}
	}
	row := store.Staff{
		OfficeID: a.OfficeID, Email: email, Name: strings.TrimSpace(a.Name), Role: a.Role,
		PasswordHash: hash, TOTPRequired: true, MustChangePassword: a.OneTime,
	}
	if a.TOTPSecret != "" {
		secret := strings.ToUpper(strings.ReplaceAll(a.TOTPSecret, " ", ""))
		if _, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(secret, "=")); err != nil || len(secret) < 16 {
			return store.Staff{}, fault.New(fault.Invalid, op, "staff.error.totp_secret")
		}
		sealed, err := s.box.Seal([]byte(secret), totpAAD(email))
		if err != nil {
			return store.Staff{}, err
		}
		row.TOTPSecret = sealed
	}
	return row, nil
}

func totpAAD(email string) []byte { return []byte("portal-totp\x00" + email) }

func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// totpPeriod is the TOTP time step (RFC 6238's default, what every
// authenticator app uses).
const totpPeriod = 30

// codeStep returns the time step whose code code is, accepting the step
// before and after the current one (clock drift).
func (s *Service) codeStep(code, secret string) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return 0, false
	}
	now := s.now().UTC().Unix() / totpPeriod
	for _, step := range []int64{now - 1, now, now + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0).UTC(), totp.ValidateOpts{
			Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
		})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// Enrolment is a new TOTP secret to show as a QR code and as text.
type Enrolment struct {
	Secret string // base32
	QRPNG  []byte // otpauth:// URL as a PNG QR code
}

// NewEnrolment returns the TOTP secret offered to the account of a
// half-finished session that must enrol: made and kept with the session
// (sealed) on the first call, the same one on the next, so a page shown
// again shows the code already scanned. Errors: NotFound.
func (s *Service) NewEnrolment(ctx context.Context, token string) (Enrolment, error) {
	sess, acct, err := s.enrolling(ctx, token, "auth: enrolment")
	if err != nil {
		return Enrolment{}, err
	}
	if sess.PendingTOTP == nil {
		// Offer a new secret; of two pages asking at once, the first to
		// store its secret wins, and both show that one.
		raw := make([]byte, 20)
		_, _ = rand.Read(raw)
		sealed, err := s.box.Seal(raw, pendingAAD(token))
		if err != nil {
			return Enrolment{}, err
		}
		if sess.PendingTOTP, err = store.SetPendingTOTP(ctx, s.db.Pool, hashToken(token), sealed); err != nil {
			return Enrolment{}, err
		}
	}
	raw, err := s.box.Open(sess.PendingTOTP, pendingAAD(token))
	if err != nil {
		return Enrolment{}, fmt.Errorf("auth: enrolment: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: acct.Email, Secret: raw})
	if err != nil {
		return Enrolment{}, fmt.Errorf("auth: enrolment: %w", err)
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return Enrolment{}, fmt.Errorf("auth: enrolment: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrolment{}, fmt.Errorf("auth: enrolment: %w", err)
	}
	return Enrolment{Secret: key.Secret(), QRPNG: buf.Bytes()}, nil
}

// totpIssuer names the portal in authenticator apps.
const totpIssuer = "Gesundheitsamt-Portal"

// pendingAAD binds a pending TOTP secret to its session.
func pendingAAD(token string) []byte {
	return append([]byte("portal-totp-pending\x00"), hashToken(token)...)
}

// enrolling returns the half-finished session of token and its account,
// which must enrol. Errors: NotFound.
func (s *Service) enrolling(ctx context.Context, token, op string) (store.Session, store.Staff, error) {
	sess, err := s.touch(ctx, token)
	if err != nil {
		return store.Session{}, store.Staff{}, err
	}
	acct, err := store.GetStaff(ctx, s.db.Pool, sess.StaffID)
	if err != nil {
		return store.Session{}, store.Staff{}, err
	}
	if sess.SecondFactor || acct.TOTPSecret != nil {
		return store.Session{}, store.Staff{}, fault.New(fault.NotFound, op, "")
	}
	return sess, acct, nil
}

// Enrol stores the secret NewEnrolment offered to the session as the
// account's TOTP secret once code proves the authenticator has it (the
// browser sends only the code: the secret never comes from it), makes
// the account's recovery codes, and completes the login. It returns the
// new session token, a device token and the recovery codes, which exist
// nowhere else afterwards. Errors: NotFound (no session, or no secret
// offered yet), Invalid (MsgCodeWrong).
func (s *Service) Enrol(ctx context.Context, token, code string, c Client) (string, string, []string, error) {
	sess, acct, err := s.enrolling(ctx, token, "auth: enrol")
	if err != nil {
		return "", "", nil, err
	}
	if sess.PendingTOTP == nil {
		return "", "", nil, fault.New(fault.NotFound, "auth: enrol: no secret offered", "")
	}
	raw, err := s.box.Open(sess.PendingTOTP, pendingAAD(token))
	if err != nil {
		return "", "", nil, fmt.Errorf("auth: enrol: %w", err)
	}
	secret := []byte(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw))
	step, ok := s.codeStep(code, string(secret))
	if !ok {
		return "", "", nil, fault.New(fault.Invalid, "auth: enrol", MsgCodeWrong)
	}
	sealed, err := s.box.Seal(secret, totpAAD(acct.Email))
	if err != nil {
		return "", "", nil, err
	}
	// The secret, its first code, the recovery codes and the new session
	// are one transaction: codes shown on an answer that failed were
	// never stored, and the enrolment can simply be done again.
	codes, hashes := newRecoveryCodes()
	var device string
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		if err := store.SetTOTP(ctx, tx, acct.ID, sealed); err != nil {
			return err
		}
		if _, err := store.UseTOTPStep(ctx, tx, acct.ID, step); err != nil {
			return err
		}
		if err := store.ReplaceRecoveryCodes(ctx, tx, acct.ID, hashes); err != nil {
			return err
		}
		token, device, err = s.complete(ctx, tx, token, acct, c)
		return err
	})
	if err != nil {
		return "", "", nil, err
	}
	return token, device, codes, nil
}
