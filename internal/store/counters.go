package store

import (
	"context"
	"fmt"
	"time"
)

// Counters that limit abuse (migration 00014). Each is checked and counted
// in one statement: the row lock of the upsert serialises parallel
// requests on one key, so no two of them can pass a limit together, in
// one portal process or many.

const countEvent = `
INSERT INTO rate_count AS r (key, window_end, n)
VALUES ($1, to_timestamp((floor(extract(epoch FROM now()) / $2) + 1) * $2), 1)
ON CONFLICT (key) DO UPDATE SET
    n = CASE WHEN r.window_end = EXCLUDED.window_end THEN r.n + 1 ELSE 1 END,
    window_end = EXCLUDED.window_end
RETURNING n`

// CountEvent counts an event of key in the current window of length
// window (fixed windows on the database's clock) and returns how many the
// window holds now, this one included.
func CountEvent(ctx context.Context, q Querier, key []byte, window time.Duration) (int, error) {
	var n int
	if err := q.QueryRow(ctx, countEvent, key, window.Seconds()).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count event: %w", err)
	}
	return n, nil
}

// Throttle is how attempts at a secret are spaced: Free attempts pass at
// once, then each must wait Base, doubling with every further attempt up
// to Max.
type Throttle struct {
	Free      int
	Base, Max time.Duration
}

// claimAttempt lets an attempt through when its key is not blocked, and
// counts it; the attempt that uses up the free ones blocks the key for
// the first delay, each later one for twice the one before (up to the
// cap). A refused attempt changes nothing but the row's updated_at. The
// row records the transaction that was let through: two attempts can
// share a timestamp, never a transaction id (a claim per key and
// transaction).
const claimAttempt = `
INSERT INTO login_throttle AS t (key, owner, attempts, blocked_until)
VALUES ($1, $5, 1, CASE WHEN $2 <= 1 THEN now() + $3 * interval '1 millisecond' ELSE '-infinity' END)
ON CONFLICT (key) DO UPDATE SET
    attempts = CASE WHEN t.blocked_until <= now() THEN t.attempts + 1 ELSE t.attempts END,
    blocked_until = CASE
        WHEN t.blocked_until > now() THEN t.blocked_until
        WHEN t.attempts + 1 >= $2 THEN now() + least($3 * power(2, least(t.attempts + 1 - $2, 30)), $4) * interval '1 millisecond'
        ELSE t.blocked_until END,
    allowed_tx = CASE WHEN t.blocked_until <= now() THEN pg_current_xact_id() ELSE t.allowed_tx END,
    updated_at = now()
RETURNING allowed_tx = pg_current_xact_id(),
    CASE WHEN blocked_until > now() THEN ceil(extract(epoch FROM blocked_until - now()) * 1000)::bigint ELSE 0 END`

// ClaimAttempt counts an attempt under key (of owner) and reports whether
// it may go ahead; when it may not, wait says how long the key stays
// blocked.
func ClaimAttempt(ctx context.Context, q Querier, key, owner []byte, th Throttle) (ok bool, wait time.Duration, err error) {
	var ms int64
	err = q.QueryRow(ctx, claimAttempt, key, th.Free, float64(th.Base.Milliseconds()), float64(th.Max.Milliseconds()), owner).Scan(&ok, &ms)
	if err != nil {
		return false, 0, fmt.Errorf("store: claim attempt: %w", err)
	}
	return ok, time.Duration(ms) * time.Millisecond, nil
}

const blockedFor = `
SELECT coalesce(ceil(extract(epoch FROM max(blocked_until) - now()) * 1000)::bigint, 0)
FROM login_throttle WHERE key = ANY($1) AND blocked_until > now()`

// BlockedFor returns how long the longest block of keys lasts (0: none is
// blocked). It counts nothing: ClaimAttempt decides.
func BlockedFor(ctx context.Context, q Querier, keys [][]byte) (time.Duration, error) {
	var ms int64
	if err := q.QueryRow(ctx, blockedFor, keys).Scan(&ms); err != nil {
		return 0, fmt.Errorf("store: blocked for: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

const clearAttempts = `DELETE FROM login_throttle WHERE key = ANY($1)`

// ClearAttempts forgets the attempts of keys (after a complete login).
func ClearAttempts(ctx context.Context, q Querier, keys [][]byte) error {
	if _, err := q.Exec(ctx, clearAttempts, keys); err != nil {
		return fmt.Errorf("store: clear attempts: %w", err)
	}
	return nil
}

const clearOwnerAttempts = `DELETE FROM login_throttle WHERE owner = $1`

// ClearOwnerAttempts forgets every attempt of owner (an admin's reset of
// the account).
func ClearOwnerAttempts(ctx context.Context, q Querier, owner []byte) error {
	if _, err := q.Exec(ctx, clearOwnerAttempts, owner); err != nil {
		return fmt.Errorf("store: clear attempts: %w", err)
	}
	return nil
}

const blockedKeys = `SELECT key FROM login_throttle WHERE key = ANY($1) AND blocked_until > now()`

// BlockedKeys returns those of keys that are blocked now.
func BlockedKeys(ctx context.Context, q Querier, keys [][]byte) (map[string]bool, error) {
	rows, err := q.Query(ctx, blockedKeys, keys)
	if err != nil {
		return nil, fmt.Errorf("store: blocked keys: %w", err)
	}
	defer rows.Close()
	out := make(map[string]bool)
	for rows.Next() {
		var k []byte
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("store: blocked keys: %w", err)
		}
		out[string(k)] = true
	}
	return out, rows.Err()
}

const deleteStaleCounters = `
WITH windows AS (DELETE FROM rate_count WHERE window_end < $1),
tickets AS (DELETE FROM booking_rush_ticket t WHERE NOT EXISTS (SELECT 1 FROM booking_rush r WHERE r.rush = t.rush AND r.until > $1))
DELETE FROM login_throttle WHERE updated_at < $1 - interval '1 day' AND blocked_until < $1`

// DeleteStaleCounters removes windows that have ended, the tickets of
// rushes that are over, and attempts nobody made for a day whose block
// is over: a key then starts afresh.
func DeleteStaleCounters(ctx context.Context, q Querier, now time.Time) error {
	if _, err := q.Exec(ctx, deleteStaleCounters, now); err != nil {
		return fmt.Errorf("store: delete stale counters: %w", err)
	}
	return nil
}
