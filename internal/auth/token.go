package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// The scopes an API token may carry.
const (
	ScopeSubmissionsRead  = "submissions:read"  // list and read submissions and their events
	ScopeSubmissionsWrite = "submissions:write" // change a submission's status
	ScopeAttachmentsRead  = "attachments:read"  // download attachments
	// ScopeMedicalRead adds the answers and files marked confidential:
	// medical, which every other reader gets withheld, as caseworkers do.
	ScopeMedicalRead = "medical:read"
	// ScopeAppointmentsRead lists and reads the office's appointments,
	// with the name, e-mail address and telephone number of who booked.
	ScopeAppointmentsRead  = "appointments:read"
	ScopeAppointmentsWrite = "appointments:write" // cancel an appointment
)

// Scopes are all scopes, in the order the help text names them.
var Scopes = []string{ScopeSubmissionsRead, ScopeSubmissionsWrite, ScopeAttachmentsRead, ScopeMedicalRead, ScopeAppointmentsRead, ScopeAppointmentsWrite}

// tokenPrefix marks the portal's API tokens, so a secret scanner (and a
// person) recognises one that leaked into a repository or a log.
const tokenPrefix = "gap_"

// Token is an authenticated API token.
type Token struct {
	ID       int64
	OfficeID int64
	Name     string
	Scopes   []string
}

// Has reports whether the token carries scope.
func (t Token) Has(scope string) bool { return slices.Contains(t.Scopes, scope) }

// Actor is the token as the one who acts.
func (t Token) Actor() domain.Actor { return domain.Token(t.ID) }

// AddToken creates an API token of office officeID with scopes and
// returns its id and the secret, which exists nowhere else afterwards.
// Errors: Invalid (an unknown or missing scope, an empty name).
func (s *Service) AddToken(ctx context.Context, officeID int64, name string, scopes []string) (int64, string, error) {
	const op = "auth: add token"
	name = strings.TrimSpace(name)
	if name == "" || len(scopes) == 0 {
		return 0, "", fault.New(fault.Invalid, op, "")
	}
	for _, sc := range scopes {
		if !slices.Contains(Scopes, sc) {
			return 0, "", fault.Wrap(fault.Invalid, op, fmt.Errorf("unknown scope %q", sc))
		}
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return 0, "", fmt.Errorf("%s: %w", op, err)
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	id, err := store.InsertAPIToken(ctx, s.db, officeID, name, hashToken(secret), slices.Compact(slices.Sorted(slices.Values(scopes))))
	if err != nil {
		return 0, "", err
	}
	return id, secret, nil
}

// tokenTouchEvery is how stale a token's last use may get before a request
// records it again: one write a minute, not one per request.
const tokenTouchEvery = time.Minute

// AuthenticateToken returns the live token of secret. Errors: NotFound
// (malformed, unknown or revoked: the caller answers 401 alike).
func (s *Service) AuthenticateToken(ctx context.Context, secret string) (Token, error) {
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) != len(tokenPrefix)+43 {
		return Token{}, fault.New(fault.NotFound, "auth: token", "")
	}
	t, err := store.GetAPITokenByHash(ctx, s.db, hashToken(secret))
	if err != nil {
		return Token{}, err
	}
	if t.LastUsedAt == nil || time.Since(*t.LastUsedAt) > tokenTouchEvery {
		if err := store.TouchAPIToken(ctx, s.db, t.ID); err != nil {
			return Token{}, err
		}
	}
	return Token{ID: t.ID, OfficeID: t.OfficeID, Name: t.Name, Scopes: t.Scopes}, nil
}
