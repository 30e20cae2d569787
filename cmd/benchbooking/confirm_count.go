package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// What -mode=confirm counts afterwards in the database.
const (
	countBookings = `
SELECT count(*) FILTER (WHERE state = 'booked'), count(*) FILTER (WHERE state <> 'booked')
FROM booking WHERE calendar_id = $1`
	countTokensBooked = `
SELECT count(*) FROM booking
WHERE calendar_id = $1 AND mail_token_hash = ANY($2) AND state = 'booked' AND confirmed_at IS NOT NULL`
	countSeatsDoubled = `
SELECT count(*) FROM (
    SELECT starts_at, seat FROM booking
    WHERE calendar_id = $1 AND state IN ('held', 'unconfirmed', 'booked')
    GROUP BY starts_at, seat HAVING count(*) > 1) d`
	countBookedJobs = `
SELECT count(j.id), count(DISTINCT b.id)
FROM booking b JOIN river_job j ON j.kind = 'mail.send' AND j.args->>'key' = 'booking:' || b.id || ':booked'
WHERE b.calendar_id = $1`
	countBookedSent = `
SELECT count(*), coalesce(extract(epoch FROM max(m.sent_at)), 0)
FROM booking b JOIN mail_sent m ON m.key = 'booking:' || b.id || ':booked'
WHERE b.calendar_id = $1`
	countUnworked = `
SELECT count(*)
FROM booking b JOIN river_job j ON j.kind = 'mail.send' AND j.args->>'key' = 'booking:' || b.id || ':booked'
WHERE b.calendar_id = $1 AND j.state NOT IN ('completed', 'cancelled', 'discarded')`
)

// countConfirmed counts the calendar's bookings and their booked mail
// jobs into res.
func countConfirmed(ctx context.Context, db *store.DB, calID int64, tokens []string, res *confirmResult) error {
	hashes := make([][]byte, len(tokens))
	for i, t := range tokens {
		hashes[i] = submission.HashToken(t)
	}
	if err := db.QueryRow(ctx, countBookings, calID).Scan(&res.RowsBooked, &res.RowsOther); err != nil {
		return fmt.Errorf("count bookings: %w", err)
	}
	if err := db.QueryRow(ctx, countTokensBooked, calID, hashes).Scan(&res.TokensBooked); err != nil {
		return fmt.Errorf("count booked tokens: %w", err)
	}
	if err := db.QueryRow(ctx, countSeatsDoubled, calID).Scan(&res.SeatsDoubled); err != nil {
		return fmt.Errorf("count doubled seats: %w", err)
	}
	if err := db.QueryRow(ctx, countBookedJobs, calID).Scan(&res.MailJobs, &res.MailJobBookings); err != nil {
		return fmt.Errorf("count booked mail jobs: %w", err)
	}
	return nil
}

// mailsSent returns how many booked mails of the calendar's bookings the
// SMTP server accepted, and when the last was.
func mailsSent(ctx context.Context, db *store.DB, calID int64) (int, time.Time, error) {
	var (
		n    int
		last float64
	)
	if err := db.QueryRow(ctx, countBookedSent, calID).Scan(&n, &last); err != nil {
		return 0, time.Time{}, fmt.Errorf("count booked mails sent: %w", err)
	}
	return n, time.UnixMicro(int64(last * 1e6)), nil
}

// waitForMails waits up to wait for a booked mail of every booked
// booking to be accepted and for River to have recorded every job as
// done (it records in batches, after the mail's own record), and notes
// in res how many were accepted, when the last was, counted from t0,
// and how many jobs were left.
func waitForMails(ctx context.Context, db *store.DB, calID int64, t0 time.Time, wait time.Duration, res *confirmResult) error {
	deadline := time.Now().Add(wait)
	for {
		n, last, err := mailsSent(ctx, db, calID)
		if err != nil {
			return err
		}
		res.MailsSent = n
		if n > 0 {
			res.MailSeconds = last.Sub(t0).Seconds()
		}
		if err := db.QueryRow(ctx, countUnworked, calID).Scan(&res.MailJobsUnworked); err != nil {
			return fmt.Errorf("count unworked mail jobs: %w", err)
		}
		if n >= res.RowsBooked && res.MailJobsUnworked == 0 || !time.Now().Before(deadline) {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sinkCount asks the SMTP sink of cmd/benchmail (on its control port,
// one above the sink's) how many mails it received and how many of them
// twice; 0, 0 without a sink.
func sinkCount(addr string) (int, int, error) {
	if addr == "" {
		return 0, 0, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0, 0, fmt.Errorf("sink %s: %w", addr, err)
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(p+1)), 5*time.Second)
	if err != nil {
		return 0, 0, fmt.Errorf("the SMTP sink's count: %w", err)
	}
	defer c.Close()
	var n, dup int
	if _, err := fmt.Fscan(c, &n, &dup); err != nil {
		return 0, 0, fmt.Errorf("the SMTP sink's count: %w", err)
	}
	return n, dup, nil
}
