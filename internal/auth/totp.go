package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// totpAAD binds an account's sealed TOTP secret to its address.
func totpAAD(email string) []byte { return []byte("portal-totp\x00" + email) }

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
		if sess.PendingTOTP, err = store.SetPendingTOTP(ctx, s.db, hashToken(token), sealed); err != nil {
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
	acct, err := store.GetStaff(ctx, s.db, sess.StaffID)
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
