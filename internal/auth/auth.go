// Package auth owns staff accounts and their logins: argon2id passwords,
// TOTP as the second factor (required for admins and physicians), sessions
// in PostgreSQL with idle and absolute timeouts, throttled attempts, and
// an office's API tokens. Roles decide what staff may see; offices decide
// which cases.
//
// The files:
//
//   - auth.go: Staff, the Service and its constructor, and the helpers
//     every part uses (normalizeEmail, hashToken).
//   - login.go: a login's steps: Login (the password), VerifyCode (the
//     TOTP or recovery code), and what finishes a login.
//   - totp.go: the enrolment of a TOTP secret (NewEnrolment, Enrol) and
//     the check of a code's time step.
//   - session.go: sessions with their timeouts: made, looked up and
//     renewed (Session), ended (Logout, LogoutEverywhere).
//   - account.go: accounts: their creation (AddStaff, CreateAccount,
//     UpsertDemoStaff), the password change, the admin's list and changes.
//   - password.go: argon2id hashes and generated passwords.
//   - recovery.go: recovery codes, made and parsed.
//   - throttle.go: the throttle of password and code attempts, the device
//     tokens that exempt a known browser from a stranger's guesses, and
//     the bound on hashes at once.
//   - token.go: API tokens and their scopes.
package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/domain"
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

// normalizeEmail lower-cases and trims an address.
func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// hashToken is what is stored of a secret token (a session's, a recovery
// code, an API token): its SHA-256, so a copy of the database opens
// nothing.
func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
