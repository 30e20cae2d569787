package auth

import (
	"context"
	"encoding/base32"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// Message ids of the password change and the account administration.
const (
	MsgPasswordWrong = "staff.password.error.current"
	MsgPasswordShort = "staff.password.error.short"
	MsgPasswordSame  = "staff.password.error.same"
	MsgPasswordMatch = "staff.password.error.match"
	MsgSelf          = "staff.admin.error.self"
	MsgTOTPRole      = "staff.admin.error.totp_role"
)

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

// AddStaff creates an account. Errors: Invalid (role, e-mail, short
// password, malformed TOTP secret), Conflict (address taken).
func (s *Service) AddStaff(ctx context.Context, a NewAccount) (int64, error) {
	row, err := s.account(ctx, a, true, "")
	if err != nil {
		return 0, err
	}
	return store.InsertStaff(ctx, s.db, row)
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
		if err := store.UpsertDemoStaff(ctx, s.db, row); err != nil {
			return err
		}
	}
	return nil
}

// account checks a (its password's length only when checkLength) and
// builds its row; hash, when given, is a hash of a.Password made before.
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

// ChangePassword replaces the password of the account of session token
// after checking the current one. Every session of the account ends, the
// caller's is replaced by a new one, whose token it returns. Errors:
// NotFound (no session, or it ended: guessing the current password got
// throttled, and a stolen session cannot keep guessing), Invalid
// (MsgPasswordWrong, MsgPasswordShort, MsgPasswordSame, MsgPasswordMatch),
// Unavailable (MsgBusy).
func (s *Service) ChangePassword(ctx context.Context, token, current, next, repeat string) (string, error) {
	const op = "auth: change password"
	sess, err := s.touch(ctx, token)
	if err != nil {
		return "", err
	}
	if !sess.SecondFactor {
		return "", fault.New(fault.NotFound, op, "")
	}
	acct, err := store.GetStaff(ctx, s.db, sess.StaffID)
	if err != nil {
		return "", err
	}
	// Counted before it is looked at, like every attempt at a secret.
	allowed, _, err := store.ClaimAttempt(ctx, s.db, s.key("current-password", acct.Email), s.owner(acct.Email), s.throttles.currentPassword)
	if err != nil {
		return "", err
	}
	if !allowed {
		if err := store.DeleteSession(ctx, s.db, hashToken(token)); err != nil {
			return "", err
		}
		return "", fault.New(fault.NotFound, op+": throttled", "")
	}
	ok, err := s.check(ctx, op, acct.PasswordHash, current)
	if err != nil {
		return "", err
	}
	switch {
	case !ok:
		return "", fault.New(fault.Invalid, op, MsgPasswordWrong)
	case len([]rune(next)) < MinPasswordLen:
		return "", fault.New(fault.Invalid, op, MsgPasswordShort)
	case next != repeat:
		return "", fault.New(fault.Invalid, op, MsgPasswordMatch)
	case next == current:
		return "", fault.New(fault.Invalid, op, MsgPasswordSame)
	}
	hash, err := s.hash(ctx, op, next)
	if err != nil {
		return "", err
	}
	var renewed string
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := store.SetPassword(ctx, tx, acct.OfficeID, acct.ID, hash, false); err != nil {
			return err
		}
		if err := store.DeleteStaffSessions(ctx, tx, acct.ID); err != nil {
			return err
		}
		if err := store.ClearAttempts(ctx, tx, [][]byte{s.key("current-password", acct.Email)}); err != nil {
			return err
		}
		if err := audit.Append(ctx, tx, audit.Entry{OfficeID: acct.OfficeID, Actor: domain.StaffMember(acct.ID), Action: domain.PasswordChange}); err != nil {
			return err
		}
		// This session goes on under a new id, with the new password.
		var err error
		renewed, err = s.newSession(ctx, tx, acct, true)
		return err
	})
	return renewed, err
}

// Account is a staff account as its office's admin sees it.
type Account struct {
	ID            int64
	Email         string
	Name          string
	Role          domain.Role
	Enrolled      bool // has a second factor
	TOTPRequired  bool
	Disabled      bool
	Locked        bool // logins of the account, or its second factor, wait out a throttle now
	MustChange    bool
	RecoveryCodes int // unused
}

// Accounts returns the accounts of admin's office. Errors: Forbidden for
// anyone but an admin.
func (s *Service) Accounts(ctx context.Context, admin Staff) ([]Account, error) {
	if admin.Role != domain.Admin {
		return nil, fault.New(fault.Forbidden, "auth: accounts", "")
	}
	rows, err := store.ListStaff(ctx, s.db, admin.OfficeID)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for _, r := range rows {
		keys = append(keys, s.key("password-account", r.Email), s.codeKey(r.ID))
	}
	blocked, err := store.BlockedKeys(ctx, s.db, keys)
	if err != nil {
		return nil, err
	}
	out := make([]Account, 0, len(rows))
	for i, r := range rows {
		n, err := store.CountRecoveryCodes(ctx, s.db, r.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, Account{
			ID: r.ID, Email: r.Email, Name: r.Name, Role: r.Role, Enrolled: r.TOTPSecret != nil, TOTPRequired: r.TOTPRequired, Disabled: r.Disabled,
			Locked: blocked[string(keys[2*i])] || blocked[string(keys[2*i+1])], MustChange: r.MustChangePassword, RecoveryCodes: n,
		})
	}
	return out, nil
}

// CreateAccount makes an account in admin's office with a generated
// one-time password, which it returns; the account and its audit entry
// are one transaction. Errors: Forbidden, Invalid, Conflict (as AddStaff).
func (s *Service) CreateAccount(ctx context.Context, admin Staff, email, name string, role domain.Role) (string, error) {
	if admin.Role != domain.Admin {
		return "", fault.New(fault.Forbidden, "auth: create account", "")
	}
	password := NewPassword()
	row, err := s.account(ctx, NewAccount{OfficeID: admin.OfficeID, Email: email, Name: name, Role: role, Password: password, OneTime: true}, true, "")
	if err != nil {
		return "", err
	}
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		id, err := store.InsertStaff(ctx, tx, row)
		if err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{
			OfficeID: admin.OfficeID, Actor: admin.Actor(), Action: domain.StaffCreate, Object: domain.StaffObject(id),
		})
	})
	return password, err
}

// ResetPassword gives account id of admin's office a generated one-time
// password, which it returns, ends its sessions and lifts its throttles.
// Errors: Forbidden, NotFound (no such account in the office),
// Unavailable (MsgBusy).
func (s *Service) ResetPassword(ctx context.Context, admin Staff, id int64) (string, error) {
	password := NewPassword()
	hash, err := s.hash(ctx, "auth: reset password", password)
	if err != nil {
		return "", err
	}
	err = s.adminChange(ctx, admin, id, domain.StaffPasswordReset, func(tx pgx.Tx) (bool, error) {
		return store.SetPassword(ctx, tx, admin.OfficeID, id, hash, true)
	})
	return password, err
}

// ResetSecondFactor removes the TOTP secret and recovery codes of account
// id of admin's office (a lost phone), ends its sessions and lifts its
// throttles: its next login enrols again. Errors: Forbidden, NotFound.
func (s *Service) ResetSecondFactor(ctx context.Context, admin Staff, id int64) error {
	return s.adminChange(ctx, admin, id, domain.StaffTOTPReset, func(tx pgx.Tx) (bool, error) {
		return store.ResetTOTP(ctx, tx, admin.OfficeID, id)
	})
}

// SetDisabled disables (ending its sessions) or enables account id of
// admin's office. An admin cannot disable themselves. Errors: Forbidden,
// NotFound, Invalid (MsgSelf).
func (s *Service) SetDisabled(ctx context.Context, admin Staff, id int64, disabled bool) error {
	if disabled && id == admin.ID {
		return fault.New(fault.Invalid, "auth: disable", MsgSelf)
	}
	action := domain.StaffEnable
	if disabled {
		action = domain.StaffDisable
	}
	return s.adminChange(ctx, admin, id, action, func(tx pgx.Tx) (bool, error) {
		return store.SetDisabled(ctx, tx, admin.OfficeID, id, disabled)
	})
}

// SetSecondFactorRequired makes the second factor of account id of
// admin's office required or optional. Only a caseworker's may be
// optional: admins and physicians always need one. Errors: Forbidden,
// NotFound, Invalid (MsgTOTPRole).
func (s *Service) SetSecondFactorRequired(ctx context.Context, admin Staff, id int64, required bool) error {
	action := domain.StaffTOTPOptional
	if required {
		action = domain.StaffTOTPRequired
	}
	return s.adminChange(ctx, admin, id, action, func(tx pgx.Tx) (bool, error) {
		acct, err := store.GetStaff(ctx, tx, id)
		if fault.KindOf(err) == fault.NotFound || (err == nil && acct.OfficeID != admin.OfficeID) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if !required && acct.Role != domain.Caseworker {
			return false, fault.New(fault.Invalid, "auth: "+string(action), MsgTOTPRole)
		}
		return store.SetTOTPRequired(ctx, tx, admin.OfficeID, id, required)
	})
}

// adminChange runs change (which reports whether the account exists in
// the office) with the end of the account's sessions, the lifting of its
// throttles (an admin who resets or re-enables an account means it to
// work at once) and the audit entry, in one transaction.
func (s *Service) adminChange(ctx context.Context, admin Staff, id int64, action domain.Action, change func(pgx.Tx) (bool, error)) error {
	op := "auth: " + string(action)
	if admin.Role != domain.Admin {
		return fault.New(fault.Forbidden, op, "")
	}
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		ok, err := change(tx)
		if err != nil {
			return err
		}
		if !ok {
			return fault.New(fault.NotFound, op, "")
		}
		if err := store.DeleteStaffSessions(ctx, tx, id); err != nil {
			return err
		}
		acct, err := store.GetStaff(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := store.ClearOwnerAttempts(ctx, tx, s.owner(acct.Email)); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{
			OfficeID: admin.OfficeID, Actor: admin.Actor(), Action: action, Object: domain.StaffObject(id),
		})
	})
}
