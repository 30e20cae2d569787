package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Rush is a service of an office in rush mode (migration 00024): its
// new visitors queue, and ticket n is admitted once Admitted reaches n.
type Rush struct {
	ID        int64 // a new one for every rush of the office's service
	OfficeID  int64
	Service   string
	Started   time.Time
	Until     time.Time // the rush is over then unless extended
	AdmitRate float64   // visitors admitted per second
}

// Admitted returns how many tickets the rush has admitted at now: the
// same figure in every process, from the row alone.
func (r Rush) Admitted(now time.Time) int64 {
	d := now.Sub(r.Started).Seconds()
	if d <= 0 {
		return 0
	}
	return int64(d * r.AdmitRate)
}

// startRush starts a rush of the office's service for at least minimum,
// or extends the one that is on; a rush that is over is replaced by a new
// one (new number, started now, nobody issued) and its tickets go.
const startRush = `
WITH old AS (
    SELECT rush FROM booking_rush WHERE office_id = $1 AND service_slug = $2
), up AS (
    INSERT INTO booking_rush AS r (office_id, service_slug, started_at, until, admit_rate)
    VALUES ($1, $2, now(), now() + $3 * interval '1 second', $4)
    ON CONFLICT (office_id, service_slug) DO UPDATE SET
        rush = CASE WHEN r.until > now() THEN r.rush ELSE nextval('booking_rush_seq') END,
        started_at = CASE WHEN r.until > now() THEN r.started_at ELSE now() END,
        admit_rate = CASE WHEN r.until > now() THEN r.admit_rate ELSE EXCLUDED.admit_rate END,
        issued = CASE WHEN r.until > now() THEN r.issued ELSE 0 END,
        until = CASE WHEN r.until > now() THEN greatest(r.until, EXCLUDED.until) ELSE EXCLUDED.until END
    RETURNING rush, started_at, until, admit_rate
), gone AS (
    DELETE FROM booking_rush_ticket WHERE rush IN (SELECT rush FROM old) AND rush NOT IN (SELECT rush FROM up)
)
SELECT rush, started_at, until, admit_rate FROM up`

// StartRush puts the office's service into rush mode for at least
// minimum from now, admitting admitRate visitors a second (a rush that is
// on keeps its rate and start), and returns the rush.
func StartRush(ctx context.Context, q Querier, officeID int64, service string, minimum time.Duration, admitRate float64) (Rush, error) {
	r := Rush{OfficeID: officeID, Service: service}
	err := q.QueryRow(ctx, startRush, officeID, service, minimum.Seconds(), admitRate).Scan(&r.ID, &r.Started, &r.Until, &r.AdmitRate)
	if err != nil {
		return Rush{}, fmt.Errorf("store: start rush: %w", err)
	}
	return r, nil
}

const getRush = `
SELECT rush, started_at, until, admit_rate FROM booking_rush
WHERE office_id = $1 AND service_slug = $2 AND until > now()`

// GetRush returns the rush of the office's service that is on; false
// when there is none.
func GetRush(ctx context.Context, q Querier, officeID int64, service string) (Rush, bool, error) {
	r := Rush{OfficeID: officeID, Service: service}
	err := q.QueryRow(ctx, getRush, officeID, service).Scan(&r.ID, &r.Started, &r.Until, &r.AdmitRate)
	if errors.Is(err, pgx.ErrNoRows) {
		return Rush{}, false, nil
	}
	if err != nil {
		return Rush{}, false, fmt.Errorf("store: get rush: %w", err)
	}
	return r, true, nil
}

// takeTicket returns the client's ticket of the rush: the one it has, or
// the next number (at least $3), which also keeps the rush on until
// that number is admitted and $4 seconds more. The row lock of the
// update hands out numbers one at a time across processes. Two first
// requests of one client at the same moment both count up; the second's
// insert finds the first's ticket and returns nothing (a number is left
// out, which admits nobody early).
const takeTicket = `
WITH old AS (
    SELECT n FROM booking_rush_ticket WHERE rush = $1 AND client = $2
), next AS (
    UPDATE booking_rush SET
        issued = greatest(issued + 1, $3),
        until = greatest(until, started_at + (greatest(issued + 1, $3) / admit_rate + $4) * interval '1 second')
    WHERE rush = $1 AND until > now() AND NOT EXISTS (SELECT 1 FROM old)
    RETURNING issued
), ins AS (
    INSERT INTO booking_rush_ticket (rush, client, n)
    SELECT $1, $2, issued FROM next
    ON CONFLICT DO NOTHING
    RETURNING n
)
SELECT n FROM old UNION ALL SELECT n FROM ins`

// TakeTicket returns the ticket number of client (a keyed hash of its
// address) in rush: the one it holds, else a new one at the back of the
// queue, never below from (so a queue that ran empty does not let a
// crowd in at once). Issuing keeps the rush on until the number is
// admitted and linger more. False: the rush is over.
func TakeTicket(ctx context.Context, q Querier, rush int64, client []byte, from int64, linger time.Duration) (int64, bool, error) {
	for range 2 { // the second time after another request of the client won the insert
		var n int64
		err := q.QueryRow(ctx, takeTicket, rush, client, from, linger.Seconds()).Scan(&n)
		if err == nil {
			return n, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return 0, false, fmt.Errorf("store: take ticket: %w", err)
		}
	}
	return 0, false, nil
}
