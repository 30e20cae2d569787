package store

import (
	"context"
	"fmt"
	"time"
)

// APIToken is an API token as stored: its hash, office and scopes.
type APIToken struct {
	ID         int64
	OfficeID   int64
	Name       string
	Scopes     []string
	LastUsedAt *time.Time
}

const insertAPIToken = `
INSERT INTO api_token (office_id, name, token_hash, scopes) VALUES ($1, $2, $3, $4) RETURNING id`

// InsertAPIToken stores a token of office officeID by its hash and returns
// its id.
func InsertAPIToken(ctx context.Context, q Querier, officeID int64, name string, hash []byte, scopes []string) (int64, error) {
	var id int64
	if err := q.QueryRow(ctx, insertAPIToken, officeID, name, hash, scopes).Scan(&id); err != nil {
		return 0, fmt.Errorf("store: insert api token: %w", err)
	}
	return id, nil
}

const getAPIToken = `
SELECT id, office_id, name, scopes, last_used_at FROM api_token WHERE token_hash = $1 AND revoked_at IS NULL`

// GetAPITokenByHash returns the live token whose secret hashes to hash.
// Errors: NotFound (unknown or revoked).
func GetAPITokenByHash(ctx context.Context, q Querier, hash []byte) (APIToken, error) {
	var t APIToken
	if err := q.QueryRow(ctx, getAPIToken, hash).Scan(&t.ID, &t.OfficeID, &t.Name, &t.Scopes, &t.LastUsedAt); err != nil {
		return APIToken{}, notFound("store: get api token", err)
	}
	return t, nil
}

const touchAPIToken = `UPDATE api_token SET last_used_at = now() WHERE id = $1`

// TouchAPIToken records that token id was used now.
func TouchAPIToken(ctx context.Context, q Querier, id int64) error {
	if _, err := q.Exec(ctx, touchAPIToken, id); err != nil {
		return fmt.Errorf("store: touch api token: %w", err)
	}
	return nil
}
