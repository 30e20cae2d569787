package auth

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"time"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// Timeouts of sessions: idle and absolute for a complete login, and
// secondFactorTTL for a half-finished one.
const (
	IdleTimeout     = 30 * time.Minute
	AbsoluteTimeout = 12 * time.Hour
	secondFactorTTL = 5 * time.Minute // between password and code
)

// newSession makes a session of acct in q and returns its token: a
// complete one (both factors) ends after AbsoluteTimeout, a half-finished
// one, waiting for the code or the enrolment, after secondFactorTTL.
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

// touch returns the session of token, complete or not, and renews its
// idle timer. Errors: NotFound.
func (s *Service) touch(ctx context.Context, token string) (store.Session, error) {
	if token == "" || len(token) > 100 {
		return store.Session{}, fault.New(fault.NotFound, "auth: session", "")
	}
	return store.TouchSession(ctx, s.db, hashToken(token), IdleTimeout)
}

// staffOf returns the account of sess as the back office needs it.
func (s *Service) staffOf(ctx context.Context, sess store.Session) (Staff, error) {
	acct, err := store.GetStaff(ctx, s.db, sess.StaffID)
	if err != nil {
		return Staff{}, err
	}
	return Staff{ID: acct.ID, OfficeID: acct.OfficeID, Email: acct.Email, Name: acct.Name, Role: acct.Role, MustChangePassword: acct.MustChangePassword}, nil
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
	if err := store.DeleteSession(ctx, s.db, hashToken(token)); err != nil {
		return err
	}
	return audit.AppendNow(ctx, s.db, audit.Entry{OfficeID: sess.OfficeID, Actor: domain.StaffMember(sess.StaffID), Action: domain.Logout})
}

// LogoutEverywhere ends every session of account st.
func (s *Service) LogoutEverywhere(ctx context.Context, st Staff) error {
	if err := store.DeleteStaffSessions(ctx, s.db, st.ID); err != nil {
		return err
	}
	return audit.AppendNow(ctx, s.db, audit.Entry{OfficeID: st.OfficeID, Actor: st.Actor(), Action: domain.LogoutEverywhere})
}
