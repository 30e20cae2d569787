// Package auth owns staff accounts and their logins: argon2id passwords,
// TOTP as the second factor (required for admins and physicians), sessions
// in PostgreSQL with idle and absolute timeouts, lockout after repeated
// failures. Roles decide what staff may see; offices decide which cases.
package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// Roles of staff.
const (
	RoleAdmin      = "admin"
	RoleCaseworker = "caseworker"
	RolePhysician  = "physician"
)

// ValidRole reports whether r is a role.
func ValidRole(r string) bool {
	return r == RoleAdmin || r == RoleCaseworker || r == RolePhysician
}

// Timeouts and limits of logins.
const (
	IdleTimeout     = 30 * time.Minute
	AbsoluteTimeout = 12 * time.Hour
	MaxFailures     = 5                // failed logins in a row that lock an account
	LockDuration    = 15 * time.Minute // how long
	secondFactorTTL = 5 * time.Minute  // between password and code
)

// Message ids of what a person reads.
const (
	MsgLoginFailed = "staff.login.error.failed" // one message for every failure: nothing to enumerate
	MsgCodeWrong   = "staff.login.error.code"
)

// Staff is the account a session belongs to, as the back office needs it.
type Staff struct {
	ID       int64
	OfficeID int64
	Email    string
	Name     string
	Role     string
	// MustChangePassword: the password was generated or reset; nothing
	// but the password change opens until it is changed.
	MustChangePassword bool
}

// Service runs accounts and logins. It is safe for concurrent use.
type Service struct {
	db    *store.DB
	box   *crypto.Box
	dummy func() string // a hash to check against for unknown addresses, made once when first needed
	now   func() time.Time
}

// New returns the service; encKey seals TOTP secrets
// (PORTAL_ENCRYPTION_KEY).
func New(db *store.DB, encKey []byte) (*Service, error) {
	box, err := crypto.NewBox(encKey)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return &Service{db: db, box: box, dummy: sync.OnceValue(func() string { return HashPassword(NewPassword()) }), now: time.Now}, nil
}

// NewAccount is what AddStaff needs.
type NewAccount struct {
	OfficeID   int64
	Email      string
	Name       string
	Role       string
	Password   string
	TOTPSecret string // base32; empty: enrolment at first login
	OneTime    bool   // a generated password: to be changed at the first login
}

// normalizeEmail lower-cases and trims an address.
func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// AddStaff creates an account. Errors: Invalid (role, e-mail, short
// password, malformed TOTP secret), Conflict (address taken).
func (s *Service) AddStaff(ctx context.Context, a NewAccount) (int64, error) {
	row, err := s.account(a, true, "")
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
		row, err := s.account(a, false, hash)
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
func (s *Service) account(a NewAccount, checkLength bool, hash string) (store.Staff, error) {
	const op = "auth: account"
	email := normalizeEmail(a.Email)
	switch {
	case !ValidRole(a.Role):
		return store.Staff{}, fault.New(fault.Invalid, op, "staff.error.role")
	case !strings.Contains(email, "@") || strings.ContainsAny(email, " \t\r\n") || len(email) > 254:
		return store.Staff{}, fault.New(fault.Invalid, op, "staff.error.email")
	case strings.TrimSpace(a.Name) == "":
		return store.Staff{}, fault.New(fault.Invalid, op, "staff.error.name")
	case a.Password == "" || (checkLength && len([]rune(a.Password)) < MinPasswordLen):
		return store.Staff{}, fault.New(fault.Invalid, op, "staff.error.password_short")
	}
	if hash == "" {
		hash = HashPassword(a.Password)
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

// Next says what a login needs after the password.
type Next int

// The steps after a correct password.
const (
	NeedCode  Next = iota // enter the TOTP code
	NeedEnrol             // set up TOTP first (required, not yet enrolled)
	LoggedIn              // no second factor required for this account
)

// Login checks e-mail and password. On success it returns a new session
// token (to be set as the cookie, replacing any earlier one) and what comes
// next. Every failure is the same Invalid error (MsgLoginFailed), after the
// same work: unknown address, wrong password, locked or disabled account.
func (s *Service) Login(ctx context.Context, email, password string) (string, Next, error) {
	const op = "auth: login"
	failed := fault.New(fault.Invalid, op, MsgLoginFailed)
	acct, err := store.GetStaffByEmail(ctx, s.db.Pool, normalizeEmail(email))
	if fault.KindOf(err) == fault.NotFound {
		_, _ = checkPassword(s.dummy(), password) // the same time as a real check
		return "", 0, failed
	}
	if err != nil {
		return "", 0, err
	}
	ok, err := checkPassword(acct.PasswordHash, password)
	if err != nil {
		return "", 0, fmt.Errorf("%s: account %d: %w", op, acct.ID, err)
	}
	locked := acct.LockedUntil != nil && acct.LockedUntil.After(s.now())
	if !ok || locked || acct.Disabled {
		if !ok {
			if err := store.RecordLoginFailure(ctx, s.db.Pool, acct.ID, MaxFailures, LockDuration); err != nil {
				return "", 0, err
			}
		}
		if err := s.audit(ctx, acct, "login.failed"); err != nil {
			return "", 0, err
		}
		return "", 0, failed
	}
	if err := store.ResetLoginFailures(ctx, s.db.Pool, acct.ID); err != nil {
		return "", 0, err
	}
	next := LoggedIn
	switch {
	case acct.TOTPSecret != nil:
		next = NeedCode
	case acct.TOTPRequired:
		next = NeedEnrol
	}
	token, err := s.newSession(ctx, s.db.Pool, acct, next == LoggedIn)
	if err == nil && next == LoggedIn {
		err = s.audit(ctx, acct, "login")
	}
	return token, next, err
}

// audit records an action of account acct in its office's audit log.
func (s *Service) audit(ctx context.Context, acct store.Staff, action string) error {
	return audit.AppendNow(ctx, s.db, audit.Entry{OfficeID: acct.OfficeID, Actor: Actor(acct.ID), Action: action})
}

// Actor names a staff member in the audit log.
func Actor(staffID int64) string { return "staff:" + strconv.FormatInt(staffID, 10) }

func (s *Service) newSession(ctx context.Context, q store.Querier, acct store.Staff, complete bool) (string, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
	end := s.now().Add(AbsoluteTimeout)
	if !complete {
		end = s.now().Add(secondFactorTTL)
	}
	err := store.InsertSession(ctx, q, hashToken(token), store.Session{
		StaffID: acct.ID, OfficeID: acct.OfficeID, SecondFactor: complete, ExpiresAt: end,
	})
	return token, err
}

func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Session returns the account of a complete session (both factors) and
// renews its idle timer. Errors: NotFound for unknown, idle, expired,
// half-finished sessions and disabled accounts.
func (s *Service) Session(ctx context.Context, token string) (Staff, error) {
	sess, err := s.touch(ctx, token)
	if err != nil {
		return Staff{}, err
	}
	if !sess.SecondFactor {
		return Staff{}, fault.New(fault.NotFound, "auth: session", "")
	}
	return s.staffOf(ctx, sess)
}

func (s *Service) touch(ctx context.Context, token string) (store.Session, error) {
	if token == "" || len(token) > 100 {
		return store.Session{}, fault.New(fault.NotFound, "auth: session", "")
	}
	return store.TouchSession(ctx, s.db.Pool, hashToken(token), IdleTimeout)
}

func (s *Service) staffOf(ctx context.Context, sess store.Session) (Staff, error) {
	acct, err := store.GetStaff(ctx, s.db.Pool, sess.StaffID)
	if err != nil {
		return Staff{}, err
	}
	return Staff{ID: acct.ID, OfficeID: acct.OfficeID, Email: acct.Email, Name: acct.Name, Role: acct.Role, MustChangePassword: acct.MustChangePassword}, nil
}

// VerifyCode checks the TOTP code, or a recovery code, of a half-finished
// session. A TOTP code counts once: the same code sent again, even within
// its 30 seconds, is wrong. A recovery code is spent. On success the
// session is replaced by a complete one, whose token it returns (a new id
// after each step: no fixation). Errors: NotFound (no such session),
// Invalid (MsgCodeWrong; failures count towards the lockout).
func (s *Service) VerifyCode(ctx context.Context, token, code string) (string, error) {
	sess, err := s.touch(ctx, token)
	if err != nil {
		return "", err
	}
	acct, err := store.GetStaff(ctx, s.db.Pool, sess.StaffID)
	if err != nil {
		return "", err
	}
	if sess.SecondFactor || acct.TOTPSecret == nil {
		return "", fault.New(fault.NotFound, "auth: verify code", "")
	}
	if acct.LockedUntil != nil && acct.LockedUntil.After(s.now()) {
		// Wrong codes count like wrong passwords: a locked account's half
		// session ends, so the code cannot be guessed past the lockout.
		if err := store.DeleteSession(ctx, s.db.Pool, hashToken(token)); err != nil {
			return "", err
		}
		return "", fault.New(fault.NotFound, "auth: verify code: locked", "")
	}
	secret, err := s.box.Open(acct.TOTPSecret, totpAAD(acct.Email))
	if err != nil {
		return "", fmt.Errorf("auth: totp secret of %d: %w", acct.ID, err)
	}
	// Spending the code and the new session are one transaction: if the
	// session cannot be made, the code (a recovery code above all) is not
	// spent either, and the person tries again.
	var next string
	wrong := fault.New(fault.Invalid, "auth: verify code", MsgCodeWrong)
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		ok, action, err := s.secondFactor(ctx, tx, acct, string(secret), code)
		if err != nil {
			return err
		}
		if !ok {
			return wrong // nothing was spent
		}
		if action != "" {
			if err := audit.Append(ctx, tx, audit.Entry{OfficeID: acct.OfficeID, Actor: Actor(acct.ID), Action: action}); err != nil {
				return err
			}
		}
		next, err = s.complete(ctx, tx, token, acct)
		return err
	})
	if errors.Is(err, wrong) {
		if err := store.RecordLoginFailure(ctx, s.db.Pool, acct.ID, MaxFailures, LockDuration); err != nil {
			return "", err
		}
	}
	return next, err
}

// secondFactor checks code as a TOTP code of secret, never accepted twice,
// or as an unused recovery code of acct, which it spends (and then names
// the audit action to record).
func (s *Service) secondFactor(ctx context.Context, tx pgx.Tx, acct store.Staff, secret, code string) (bool, string, error) {
	if normalized, ok := parseRecoveryCode(code); ok {
		used, err := store.UseRecoveryCode(ctx, tx, acct.ID, hashToken(normalized))
		if err != nil || !used {
			return false, "", err
		}
		return true, "login.recovery_code", nil
	}
	step, ok := s.codeStep(code, secret)
	if !ok {
		return false, "", nil
	}
	fresh, err := store.UseTOTPStep(ctx, tx, acct.ID, step)
	return fresh, "", err
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

// complete replaces the half-finished session token by a complete one, in
// the transaction tx of the second factor that allowed it.
func (s *Service) complete(ctx context.Context, tx pgx.Tx, token string, acct store.Staff) (string, error) {
	if err := store.DeleteSession(ctx, tx, hashToken(token)); err != nil {
		return "", err
	}
	if err := store.ResetLoginFailures(ctx, tx, acct.ID); err != nil {
		return "", err
	}
	token, err := s.newSession(ctx, tx, acct, true)
	if err != nil {
		return "", err
	}
	return token, audit.Append(ctx, tx, audit.Entry{OfficeID: acct.OfficeID, Actor: Actor(acct.ID), Action: "login"})
}

// Enrolment is a new TOTP secret to show as a QR code and as text.
type Enrolment struct {
	Secret string // base32
	QRPNG  []byte // otpauth:// URL as a PNG QR code
}

// NewEnrolment makes a TOTP secret for the account of a half-finished
// session that must enrol. Errors: NotFound.
func (s *Service) NewEnrolment(ctx context.Context, token string) (Enrolment, error) {
	sess, err := s.touch(ctx, token)
	if err != nil {
		return Enrolment{}, err
	}
	acct, err := store.GetStaff(ctx, s.db.Pool, sess.StaffID)
	if err != nil {
		return Enrolment{}, err
	}
	if sess.SecondFactor || acct.TOTPSecret != nil {
		return Enrolment{}, fault.New(fault.NotFound, "auth: enrolment", "")
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Gesundheitsamt-Portal", AccountName: acct.Email})
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

// Enrol stores secret as the account's TOTP secret once code proves the
// authenticator has it, makes the account's recovery codes, and completes
// the login. It returns the new session token and the recovery codes,
// which exist nowhere else afterwards. Errors: NotFound, Invalid
// (MsgCodeWrong).
func (s *Service) Enrol(ctx context.Context, token, secret, code string) (string, []string, error) {
	sess, err := s.touch(ctx, token)
	if err != nil {
		return "", nil, err
	}
	acct, err := store.GetStaff(ctx, s.db.Pool, sess.StaffID)
	if err != nil {
		return "", nil, err
	}
	if sess.SecondFactor || acct.TOTPSecret != nil {
		return "", nil, fault.New(fault.NotFound, "auth: enrol", "")
	}
	// The secret comes back from the enrolment page: it must be one this
	// service could have made (160 bits, base32), and the code must match.
	if raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret); err != nil || len(raw) < 20 {
		return "", nil, fault.New(fault.NotFound, "auth: enrol: secret", "")
	}
	step, ok := s.codeStep(code, secret)
	if !ok {
		return "", nil, fault.New(fault.Invalid, "auth: enrol", MsgCodeWrong)
	}
	sealed, err := s.box.Seal([]byte(secret), totpAAD(acct.Email))
	if err != nil {
		return "", nil, err
	}
	// The secret, its first code, the recovery codes and the new session
	// are one transaction: codes shown on an answer that failed were
	// never stored, and the enrolment can simply be done again.
	codes, hashes := newRecoveryCodes()
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
		token, err = s.complete(ctx, tx, token, acct)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return token, codes, nil
}

// Logout ends the session of token.
func (s *Service) Logout(ctx context.Context, token string) error {
	sess, err := s.touch(ctx, token)
	if fault.KindOf(err) == fault.NotFound {
		return nil // gone already
	}
	if err != nil {
		return err
	}
	if err := store.DeleteSession(ctx, s.db.Pool, hashToken(token)); err != nil {
		return err
	}
	return audit.AppendNow(ctx, s.db, audit.Entry{OfficeID: sess.OfficeID, Actor: Actor(sess.StaffID), Action: "logout"})
}

// LogoutEverywhere ends every session of account st.
func (s *Service) LogoutEverywhere(ctx context.Context, st Staff) error {
	if err := store.DeleteStaffSessions(ctx, s.db.Pool, st.ID); err != nil {
		return err
	}
	return audit.AppendNow(ctx, s.db, audit.Entry{OfficeID: st.OfficeID, Actor: Actor(st.ID), Action: "logout.everywhere"})
}
