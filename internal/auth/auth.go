// Package auth owns staff accounts and their logins: argon2id passwords,
// TOTP as the second factor (required for admins and physicians), sessions
// in PostgreSQL with idle and absolute timeouts, throttled attempts
// (throttle.go). Roles decide what staff may see; offices decide which
// cases.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

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

func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
