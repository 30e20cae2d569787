package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
)

// Staff is a staff account of an office.
type Staff struct {
	ID           int64
	OfficeID     int64
	Email        string
	Name         string
	Role         domain.Role
	PasswordHash string
	TOTPSecret   []byte // sealed; nil until enrolled
	TOTPRequired bool
	Disabled     bool
	// MustChangePassword: the password was generated or reset; the next
	// login must change it before anything else.
	MustChangePassword bool
	TOTPLastStep       int64 // the last TOTP time step accepted (replay protection)
}

const insertStaff = `
INSERT INTO staff (office_id, email, name, role, password_hash, totp_secret, totp_required, must_change_password)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id`

// InsertStaff creates an account. Errors: Conflict when the e-mail address
// is taken.
func InsertStaff(ctx context.Context, q Querier, s Staff) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, insertStaff, s.OfficeID, s.Email, s.Name, s.Role, s.PasswordHash, s.TOTPSecret, s.TOTPRequired, s.MustChangePassword).Scan(&id)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return 0, fault.New(fault.Conflict, "store: insert staff", "staff.error.exists")
	}
	if err != nil {
		return 0, fmt.Errorf("store: insert staff: %w", err)
	}
	return id, nil
}

const upsertDemoStaff = `
INSERT INTO staff (office_id, email, name, role, password_hash, totp_secret, totp_required)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash, totp_secret = EXCLUDED.totp_secret,
    disabled = false, must_change_password = false, totp_last_step = 0, updated_at = now()`

// UpsertDemoStaff creates a demo account or resets its password and TOTP
// to the demo's (so PORTAL_DEMO_PASSWORD always works).
func UpsertDemoStaff(ctx context.Context, q Querier, s Staff) error {
	if _, err := q.Exec(ctx, upsertDemoStaff, s.OfficeID, s.Email, s.Name, s.Role, s.PasswordHash, s.TOTPSecret, s.TOTPRequired); err != nil {
		return fmt.Errorf("store: upsert demo staff %s: %w", s.Email, err)
	}
	return nil
}

const staffColumns = `id, office_id, email, name, role, password_hash, totp_secret, totp_required, disabled,
    must_change_password, totp_last_step`

func scanStaff(row pgx.Row) (Staff, error) {
	var s Staff
	err := row.Scan(&s.ID, &s.OfficeID, &s.Email, &s.Name, &s.Role, &s.PasswordHash, &s.TOTPSecret, &s.TOTPRequired, &s.Disabled,
		&s.MustChangePassword, &s.TOTPLastStep)
	return s, err
}

var getStaffByEmail = `SELECT ` + staffColumns + ` FROM staff WHERE email = $1`

// GetStaffByEmail returns the account of an e-mail address (lower case).
// Errors: NotFound.
func GetStaffByEmail(ctx context.Context, q Querier, email string) (Staff, error) {
	s, err := scanStaff(q.QueryRow(ctx, getStaffByEmail, email))
	if err != nil {
		return Staff{}, notFound("store: get staff", err)
	}
	return s, nil
}

var getStaff = `SELECT ` + staffColumns + ` FROM staff WHERE id = $1`

// GetStaff returns account id. Errors: NotFound.
func GetStaff(ctx context.Context, q Querier, id int64) (Staff, error) {
	s, err := scanStaff(q.QueryRow(ctx, getStaff, id))
	if err != nil {
		return Staff{}, notFound("store: get staff", err)
	}
	return s, nil
}

const setTOTP = `UPDATE staff SET totp_secret = $2, updated_at = now() WHERE id = $1`

// SetTOTP stores the sealed TOTP secret of account id.
func SetTOTP(ctx context.Context, q Querier, id int64, sealed []byte) error {
	if _, err := q.Exec(ctx, setTOTP, id, sealed); err != nil {
		return fmt.Errorf("store: set totp: %w", err)
	}
	return nil
}

// Session is a staff login.
type Session struct {
	StaffID      int64
	OfficeID     int64
	SecondFactor bool
	LastSeen     time.Time
	ExpiresAt    time.Time
	PendingTOTP  []byte // sealed: the secret offered at enrolment, until its first code
}

const insertSession = `
INSERT INTO staff_session (id_hash, staff_id, office_id, second_factor, expires_at) VALUES ($1, $2, $3, $4, $5)`

// InsertSession stores a session under the hash of its id.
func InsertSession(ctx context.Context, q Querier, idHash []byte, s Session) error {
	if _, err := q.Exec(ctx, insertSession, idHash, s.StaffID, s.OfficeID, s.SecondFactor, s.ExpiresAt); err != nil {
		return fmt.Errorf("store: insert session: %w", err)
	}
	return nil
}

// touchSession returns the session and its account's state, and marks the
// session seen, in one statement. A session idle for longer than idle, past
// its end, or of a disabled account is not found.
const touchSession = `
UPDATE staff_session ss SET last_seen = now()
FROM staff s
WHERE ss.id_hash = $1 AND s.id = ss.staff_id AND NOT s.disabled
  AND ss.expires_at > now() AND ss.last_seen > now() - $2 * interval '1 second'
RETURNING ss.staff_id, ss.office_id, ss.second_factor, ss.last_seen, ss.expires_at, ss.pending_totp`

// TouchSession returns the live session of idHash and renews its idle
// timer. Errors: NotFound.
func TouchSession(ctx context.Context, q Querier, idHash []byte, idle time.Duration) (Session, error) {
	var s Session
	err := q.QueryRow(ctx, touchSession, idHash, int64(idle.Seconds())).Scan(&s.StaffID, &s.OfficeID, &s.SecondFactor, &s.LastSeen, &s.ExpiresAt, &s.PendingTOTP)
	if err != nil {
		return Session{}, notFound("store: touch session", err)
	}
	return s, nil
}

// setPendingTOTP stores a secret where none is kept yet and returns the
// one kept: the first of two requests at once wins.
const setPendingTOTP = `
WITH set AS (
    UPDATE staff_session SET pending_totp = $2 WHERE id_hash = $1 AND NOT second_factor AND pending_totp IS NULL
    RETURNING pending_totp)
SELECT pending_totp FROM set
UNION ALL
SELECT pending_totp FROM staff_session WHERE id_hash = $1 AND NOT second_factor AND NOT EXISTS (SELECT 1 FROM set)`

const getPendingTOTP = `SELECT pending_totp FROM staff_session WHERE id_hash = $1`

// SetPendingTOTP keeps the sealed TOTP secret offered to the half-finished
// session of idHash, unless one is kept already, and returns the one kept.
// Errors: NotFound (no such half-finished session).
func SetPendingTOTP(ctx context.Context, q Querier, idHash, sealed []byte) ([]byte, error) {
	var kept []byte
	if err := q.QueryRow(ctx, setPendingTOTP, idHash, sealed).Scan(&kept); err != nil {
		return nil, notFound("store: set pending totp", err)
	}
	if kept == nil { // another request stored its secret while this statement ran: read it
		if err := q.QueryRow(ctx, getPendingTOTP, idHash).Scan(&kept); err != nil {
			return nil, notFound("store: set pending totp", err)
		}
	}
	return kept, nil
}

const deleteSession = `DELETE FROM staff_session WHERE id_hash = $1`

// DeleteSession ends one session.
func DeleteSession(ctx context.Context, q Querier, idHash []byte) error {
	if _, err := q.Exec(ctx, deleteSession, idHash); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

const deleteStaffSessions = `DELETE FROM staff_session WHERE staff_id = $1`

// DeleteStaffSessions ends every session of account id.
func DeleteStaffSessions(ctx context.Context, q Querier, id int64) error {
	if _, err := q.Exec(ctx, deleteStaffSessions, id); err != nil {
		return fmt.Errorf("store: delete sessions: %w", err)
	}
	return nil
}

const deleteExpiredSessions = `DELETE FROM staff_session WHERE expires_at <= $1 OR last_seen <= $2`

// DeleteExpiredSessions removes sessions past their end or idle since
// before idleSince.
func DeleteExpiredSessions(ctx context.Context, q Querier, now, idleSince time.Time) (int64, error) {
	tag, err := q.Exec(ctx, deleteExpiredSessions, now, idleSince)
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}

const useTOTPStep = `UPDATE staff SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2`

// UseTOTPStep records that account id used the TOTP code of time step
// step. It reports false when that step (or a later one) was used before:
// a code replayed, even within its 30 seconds.
func UseTOTPStep(ctx context.Context, q Querier, id, step int64) (bool, error) {
	tag, err := q.Exec(ctx, useTOTPStep, id, step)
	if err != nil {
		return false, fmt.Errorf("store: use totp step: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

const setPassword = `
UPDATE staff SET password_hash = $3, must_change_password = $4, updated_at = now()
WHERE id = $1 AND office_id = $2`

// SetPassword replaces the password hash of account id of office officeID;
// mustChange asks for a new one at the next login. It reports false when
// there is no such account in the office.
func SetPassword(ctx context.Context, q Querier, officeID, id int64, hash string, mustChange bool) (bool, error) {
	tag, err := q.Exec(ctx, setPassword, id, officeID, hash, mustChange)
	if err != nil {
		return false, fmt.Errorf("store: set password: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

const resetTOTP = `
WITH codes AS (DELETE FROM staff_recovery_code WHERE staff_id = $1)
UPDATE staff SET totp_secret = NULL, totp_last_step = 0, updated_at = now() WHERE id = $1 AND office_id = $2`

// ResetTOTP removes the TOTP secret and recovery codes of account id of
// office officeID, so its next login enrols again. It reports false when
// there is no such account in the office.
func ResetTOTP(ctx context.Context, q Querier, officeID, id int64) (bool, error) {
	tag, err := q.Exec(ctx, resetTOTP, id, officeID)
	if err != nil {
		return false, fmt.Errorf("store: reset totp: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

const setDisabled = `UPDATE staff SET disabled = $3, updated_at = now() WHERE id = $1 AND office_id = $2`

// SetDisabled disables or enables account id of office officeID. It
// reports false when there is no such account in the office.
func SetDisabled(ctx context.Context, q Querier, officeID, id int64, disabled bool) (bool, error) {
	tag, err := q.Exec(ctx, setDisabled, id, officeID, disabled)
	if err != nil {
		return false, fmt.Errorf("store: set disabled: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

var listStaff = `SELECT ` + staffColumns + ` FROM staff WHERE office_id = $1 ORDER BY name, id`

// ListStaff returns every account of office officeID, disabled ones too.
func ListStaff(ctx context.Context, q Querier, officeID int64) ([]Staff, error) {
	rows, err := q.Query(ctx, listStaff, officeID)
	if err != nil {
		return nil, fmt.Errorf("store: list staff: %w", err)
	}
	defer rows.Close()
	var out []Staff
	for rows.Next() {
		s, err := scanStaff(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list staff: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

const replaceRecoveryCodes = `
WITH old AS (DELETE FROM staff_recovery_code WHERE staff_id = $1)
INSERT INTO staff_recovery_code (staff_id, code_hash) SELECT $1, unnest($2::bytea[])`

// ReplaceRecoveryCodes sets the recovery codes (hashes) of account id.
func ReplaceRecoveryCodes(ctx context.Context, q Querier, id int64, hashes [][]byte) error {
	if _, err := q.Exec(ctx, replaceRecoveryCodes, id, hashes); err != nil {
		return fmt.Errorf("store: replace recovery codes: %w", err)
	}
	return nil
}

const useRecoveryCode = `
UPDATE staff_recovery_code SET used_at = now() WHERE staff_id = $1 AND code_hash = $2 AND used_at IS NULL`

// UseRecoveryCode spends the recovery code of hash of account id. It
// reports false for an unknown or spent code.
func UseRecoveryCode(ctx context.Context, q Querier, id int64, hash []byte) (bool, error) {
	tag, err := q.Exec(ctx, useRecoveryCode, id, hash)
	if err != nil {
		return false, fmt.Errorf("store: use recovery code: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

const countRecoveryCodes = `SELECT count(*) FROM staff_recovery_code WHERE staff_id = $1 AND used_at IS NULL`

// CountRecoveryCodes returns how many unused recovery codes account id has.
func CountRecoveryCodes(ctx context.Context, q Querier, id int64) (int, error) {
	var n int
	if err := q.QueryRow(ctx, countRecoveryCodes, id).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count recovery codes: %w", err)
	}
	return n, nil
}

const setTOTPRequired = `UPDATE staff SET totp_required = $3, updated_at = now() WHERE id = $1 AND office_id = $2`

// SetTOTPRequired makes the second factor of account id of office
// officeID required or optional. It reports false when there is no such
// account in the office.
func SetTOTPRequired(ctx context.Context, q Querier, officeID, id int64, required bool) (bool, error) {
	tag, err := q.Exec(ctx, setTOTPRequired, id, officeID, required)
	if err != nil {
		return false, fmt.Errorf("store: set totp required: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

const staffName = `SELECT name FROM staff WHERE office_id = $1 AND id = $2`

// StaffName returns the name of staff member id of office officeID: what
// a case shows of its assignee, and nothing of the account besides.
// Errors: NotFound.
func StaffName(ctx context.Context, q Querier, officeID, id int64) (string, error) {
	var name string
	if err := q.QueryRow(ctx, staffName, officeID, id).Scan(&name); err != nil {
		return "", notFound("store: staff name", err)
	}
	return name, nil
}
