package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// Message ids of a refused login step.
const (
	MsgLoginFailed = "staff.login.error.failed" // one message for every failure: nothing to enumerate
	MsgCodeWrong   = "staff.login.error.code"
)

// Next says what a login needs after the password.
type Next int

// The steps after a correct password.
const (
	NeedCode  Next = iota // enter the TOTP code
	NeedEnrol             // set up TOTP first (required, not yet enrolled)
	LoggedIn              // no second factor required for this account
)

// Login checks e-mail and password for client c. On success it returns a
// new session token (to be set as the cookie, replacing any earlier one)
// and what comes next, and, when the login is complete, a device token
// for the browser (else ""). Every failure is the same Invalid error
// (MsgLoginFailed), after the same work for a known and an unknown
// address (throttle keys are of the address, known or not): the look at
// the throttle, the password hash (of a dummy for an unknown address),
// and one write transaction with the throttle's statements (and, for a
// known address, its audit entry). Errors: Invalid, TooMany (MsgThrottled,
// a *ThrottledError: the attempt was not looked at, nor hashed),
// Unavailable (MsgBusy: too many logins at once).
func (s *Service) Login(ctx context.Context, email, password string, c Client) (token string, next Next, device string, err error) {
	const op = "auth: login"
	email = normalizeEmail(email)
	acct, err := store.GetStaffByEmail(ctx, s.db, email)
	known := err == nil
	if err != nil && fault.KindOf(err) != fault.NotFound {
		return "", 0, "", err
	}
	// A blocked key refuses the attempt before it costs a hash: a flood
	// of attempts at a blocked account cannot keep the hash slots busy.
	// (Only a shortcut: the claim below decides.)
	keys, ths := s.passwordKeys(email, c)
	if wait, err := store.BlockedFor(ctx, s.db, keys); err != nil || wait > 0 {
		if err != nil {
			return "", 0, "", err
		}
		return "", 0, "", throttled(op, wait)
	}
	hash := s.dummy
	if known {
		hash = acct.PasswordHash
	}
	ok, err := s.check(ctx, op, hash, password)
	if err != nil {
		return "", 0, "", err
	}
	ok = ok && known && !acct.Disabled
	// The attempt counts whatever its outcome, checked and counted in the
	// transaction that records it, so parallel guesses pass no limit.
	var wait time.Duration
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		allowed, w, err := s.claim(ctx, tx, email, keys, ths)
		if err != nil {
			return err
		}
		switch {
		case !allowed: // not looked at, so not audited: the throttle counts it
			wait = max(w, time.Millisecond)
			return nil
		case !ok:
			return s.auditIf(ctx, tx, known, acct, domain.LoginFailed)
		}
		next = LoggedIn
		switch {
		case acct.TOTPSecret != nil:
			next = NeedCode
		case acct.TOTPRequired:
			next = NeedEnrol
		}
		if token, err = s.newSession(ctx, tx, acct, next == LoggedIn); err != nil {
			return err
		}
		if next == LoggedIn {
			device, err = s.completed(ctx, tx, acct, c)
		}
		return err
	})
	switch {
	case err != nil:
		return "", 0, "", err
	case wait > 0:
		return "", 0, "", throttled(op, wait)
	case !ok:
		return "", 0, "", fault.New(fault.Invalid, op, MsgLoginFailed)
	}
	return token, next, device, nil
}

// completed ends the throttle of a complete login of acct from c, in its
// transaction tx: the keys it used, the account's key and its second
// factor's start afresh; the keys of other clients (a stranger's guesses
// from elsewhere) stay. It audits the login and returns a new device
// token for the browser.
func (s *Service) completed(ctx context.Context, tx pgx.Tx, acct store.Staff, c Client) (string, error) {
	keys, _ := s.passwordKeys(acct.Email, c)
	if err := store.ClearAttempts(ctx, tx, append(keys, s.key("password-account", acct.Email), s.codeKey(acct.ID))); err != nil {
		return "", err
	}
	if err := audit.Append(ctx, tx, audit.Entry{OfficeID: acct.OfficeID, Actor: domain.StaffMember(acct.ID), Action: domain.Login}); err != nil {
		return "", err
	}
	return s.NewDevice(acct.Email), nil
}

// auditIf records action of acct when the address was known.
func (s *Service) auditIf(ctx context.Context, tx pgx.Tx, known bool, acct store.Staff, action domain.Action) error {
	if !known {
		return nil
	}
	return audit.Append(ctx, tx, audit.Entry{OfficeID: acct.OfficeID, Actor: domain.StaffMember(acct.ID), Action: action})
}

// VerifyCode checks the TOTP code, or a recovery code, of a half-finished
// session. A TOTP code counts once: the same code sent again, even within
// its 30 seconds, is wrong. A recovery code is spent. Every attempt is
// counted (per account, apart from passwords) before it is looked at, and
// only a complete login clears the count. On success the session is
// replaced by a complete one, whose token it returns with a device token
// for the browser (a new id after each step: no fixation). Errors:
// NotFound (no such session), Invalid (MsgCodeWrong), TooMany
// (MsgThrottled: the code was not looked at).
func (s *Service) VerifyCode(ctx context.Context, token, code string, c Client) (string, string, error) {
	const op = "auth: verify code"
	sess, err := s.touch(ctx, token)
	if err != nil {
		return "", "", err
	}
	acct, err := store.GetStaff(ctx, s.db, sess.StaffID)
	if err != nil {
		return "", "", err
	}
	if sess.SecondFactor || acct.TOTPSecret == nil {
		return "", "", fault.New(fault.NotFound, op, "")
	}
	secret, err := s.box.Open(acct.TOTPSecret, totpAAD(acct.Email))
	if err != nil {
		return "", "", fmt.Errorf("auth: totp secret of %d: %w", acct.ID, err)
	}
	// The count, the code, its spending and the new session are one
	// transaction: the count's row lock makes parallel codes of the
	// account wait for each other, and if the session cannot be made the
	// code (a recovery code above all) is not spent either.
	var next, device string
	var wait time.Duration
	wrong := false
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		allowed, w, err := store.ClaimAttempt(ctx, tx, s.codeKey(acct.ID), s.owner(acct.Email), s.throttles.secondFactor)
		if err != nil || !allowed {
			wait = max(w, time.Millisecond)
			return err
		}
		ok, action, err := s.secondFactor(ctx, tx, acct, string(secret), code)
		if err != nil {
			return err
		}
		if !ok {
			wrong = true
			return nil // the count stands; nothing was spent
		}
		if action != "" {
			if err := audit.Append(ctx, tx, audit.Entry{OfficeID: acct.OfficeID, Actor: domain.StaffMember(acct.ID), Action: action}); err != nil {
				return err
			}
		}
		next, device, err = s.complete(ctx, tx, token, acct, c)
		return err
	})
	switch {
	case err != nil:
		return "", "", err
	case wait > 0:
		return "", "", throttled(op, wait)
	case wrong:
		return "", "", fault.New(fault.Invalid, op, MsgCodeWrong)
	}
	return next, device, nil
}

// secondFactor checks code as a TOTP code of secret, never accepted twice,
// or as an unused recovery code of acct, which it spends (and then names
// the audit action to record).
func (s *Service) secondFactor(ctx context.Context, tx pgx.Tx, acct store.Staff, secret, code string) (bool, domain.Action, error) {
	if normalized, ok := parseRecoveryCode(code); ok {
		used, err := store.UseRecoveryCode(ctx, tx, acct.ID, hashToken(normalized))
		if err != nil || !used {
			return false, "", err
		}
		return true, domain.LoginRecoveryCode, nil
	}
	step, ok := s.codeStep(code, secret)
	if !ok {
		return false, "", nil
	}
	fresh, err := store.UseTOTPStep(ctx, tx, acct.ID, step)
	return fresh, "", err
}

// complete replaces the half-finished session token by a complete one, in
// the transaction tx of the second factor that allowed it, and returns
// the new session's token and a device token.
func (s *Service) complete(ctx context.Context, tx pgx.Tx, token string, acct store.Staff, c Client) (string, string, error) {
	if err := store.DeleteSession(ctx, tx, hashToken(token)); err != nil {
		return "", "", err
	}
	token, err := s.newSession(ctx, tx, acct, true)
	if err != nil {
		return "", "", err
	}
	device, err := s.completed(ctx, tx, acct, c)
	return token, device, err
}
