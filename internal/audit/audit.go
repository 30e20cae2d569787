// Package audit keeps the append-only, hash-chained log of what staff do:
// every read of a case, every download, export and change. Entries are
// appended in the transaction of the action they record, so an action
// that rolled back leaves no entry and no committed action lacks one.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/store"
)

// Entry is what an action appends to the log: who did what to which
// object, in which office.
type Entry struct {
	OfficeID int64
	Actor    domain.Actor
	Action   domain.Action
	Object   domain.Object // "" when none
}

// Record is an entry as the log keeps it: its fields as text, as they
// were hashed, with its place in the chain.
type Record struct {
	ID       int64
	OfficeID int64
	At       time.Time
	Actor    string // "staff:12", "token:3", "citizen", "system"
	Action   string // "login", "case.read", "attachment.download", ...
	Object   string // "submission:42", "" when none
	PrevHash []byte
	Hash     []byte
}

// record is e as the log keeps it, at at after prev.
func (e Entry) record(at time.Time, prev []byte) Record {
	r := Record{OfficeID: e.OfficeID, At: at, Actor: e.Actor.String(), Action: string(e.Action), Object: string(e.Object), PrevHash: prev}
	r.Hash = hashOf(r)
	return r
}

// lockSpace is the first key of the advisory locks that serialise appends
// per office (the second is the office id).
const lockSpace = 0x617564 // "aud"

// Append writes e (OfficeID, Actor, Action, Object) as the next entry of
// its office's chain, inside tx. Appends of one office wait for each other
// until their transactions end, so the chain stays a line.
func Append(ctx context.Context, tx pgx.Tx, e Entry) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2::int)`, lockSpace, e.OfficeID); err != nil {
		return fmt.Errorf("audit: lock: %w", err)
	}
	prev := make([]byte, sha256.Size) // the first entry follows zeros
	err := tx.QueryRow(ctx, `SELECT hash FROM audit_log WHERE office_id = $1 ORDER BY id DESC LIMIT 1`, e.OfficeID).Scan(&prev)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("audit: last entry: %w", err)
	}
	// PostgreSQL keeps microseconds: hash what will be read back.
	r := e.record(time.Now().UTC().Truncate(time.Microsecond), prev)
	_, err = tx.Exec(ctx, `INSERT INTO audit_log (office_id, at, actor, action, object, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		r.OfficeID, r.At, r.Actor, r.Action, r.Object, r.PrevHash, r.Hash)
	if err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	return nil
}

// AppendAll writes entries, all of one office, as the next entries of its
// chain inside tx, in one statement: a batch of deletions records each
// case without a round trip per case.
func AppendAll(ctx context.Context, tx pgx.Tx, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	office := entries[0].OfficeID
	for _, e := range entries {
		if e.OfficeID != office {
			return fmt.Errorf("audit: append all: entries of offices %d and %d", office, e.OfficeID)
		}
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2::int)`, lockSpace, office); err != nil {
		return fmt.Errorf("audit: lock: %w", err)
	}
	prev := make([]byte, sha256.Size)
	err := tx.QueryRow(ctx, `SELECT hash FROM audit_log WHERE office_id = $1 ORDER BY id DESC LIMIT 1`, office).Scan(&prev)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("audit: last entry: %w", err)
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	n := len(entries)
	ats, actors, actions, objects := make([]time.Time, n), make([]string, n), make([]string, n), make([]string, n)
	prevs, hashes := make([][]byte, n), make([][]byte, n)
	for i, e := range entries {
		r := e.record(at, prev)
		ats[i], actors[i], actions[i], objects[i], prevs[i], hashes[i] = r.At, r.Actor, r.Action, r.Object, r.PrevHash, r.Hash
		prev = r.Hash
	}
	// WITH ORDINALITY keeps the order, so ids follow the chain.
	_, err = tx.Exec(ctx, `INSERT INTO audit_log (office_id, at, actor, action, object, prev_hash, hash)
		SELECT $1, at, actor, action, object, prev_hash, hash
		FROM unnest($2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::bytea[]) WITH ORDINALITY
		     AS e(at, actor, action, object, prev_hash, hash, n)
		ORDER BY n`, office, ats, actors, actions, objects, prevs, hashes)
	if err != nil {
		return fmt.Errorf("audit: append all: %w", err)
	}
	return nil
}

// AppendNow appends e in a transaction of its own, for actions that are
// not a database change themselves (a login, a download).
func AppendNow(ctx context.Context, db *store.DB, e Entry) error {
	return db.InTx(ctx, func(tx pgx.Tx) error { return Append(ctx, tx, e) })
}

// hashOf is SHA-256 over the previous hash and the entry's fields, each
// length-prefixed so no two entries encode alike.
func hashOf(e Record) []byte {
	h := sha256.New()
	h.Write(e.PrevHash)
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	binary.BigEndian.PutUint64(n[:], uint64(e.OfficeID))
	field(n[:])
	field([]byte(e.At.UTC().Format(time.RFC3339Nano)))
	field([]byte(e.Actor))
	field([]byte(e.Action))
	field([]byte(e.Object))
	return h.Sum(nil)
}

// BrokenError names the first entry whose chain does not hold.
type BrokenError struct {
	OfficeID int64
	EntryID  int64
	Reason   string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit: chain of office %d broken at entry %d: %s", e.OfficeID, e.EntryID, e.Reason)
}

// Verify walks the chain of office officeID (every office when 0) and
// returns how many entries it checked, or a *BrokenError naming the first
// entry that was changed, or follows a removed one.
func Verify(ctx context.Context, q store.Querier, officeID int64) (int, error) {
	rows, err := q.Query(ctx, `SELECT id, office_id, at, actor, action, object, prev_hash, hash FROM audit_log
		WHERE $1 = 0 OR office_id = $1 ORDER BY office_id, id`, officeID)
	if err != nil {
		return 0, fmt.Errorf("audit: verify: %w", err)
	}
	defer rows.Close()
	last := make(map[int64][]byte)
	n := 0
	for rows.Next() {
		var e Record
		if err := rows.Scan(&e.ID, &e.OfficeID, &e.At, &e.Actor, &e.Action, &e.Object, &e.PrevHash, &e.Hash); err != nil {
			return n, fmt.Errorf("audit: verify: %w", err)
		}
		want, ok := last[e.OfficeID]
		if !ok {
			want = make([]byte, sha256.Size)
		}
		switch {
		case !bytes.Equal(e.PrevHash, want):
			return n, &BrokenError{OfficeID: e.OfficeID, EntryID: e.ID, Reason: "does not follow the entry before it (one was removed or changed)"}
		case !bytes.Equal(e.Hash, hashOf(e)):
			return n, &BrokenError{OfficeID: e.OfficeID, EntryID: e.ID, Reason: "its content does not match its hash"}
		}
		last[e.OfficeID] = e.Hash
		n++
	}
	return n, rows.Err()
}

const listEntries = `
SELECT id, office_id, at, actor, action, object, prev_hash, hash FROM audit_log
WHERE office_id = $1 AND ($2::bigint = 0 OR id < $2::bigint)
ORDER BY id DESC LIMIT $3`

// List returns at most limit entries of office officeID, newest first,
// older than entry before (0: from the newest).
func List(ctx context.Context, q store.Querier, officeID, before int64, limit int) ([]Record, error) {
	rows, err := q.Query(ctx, listEntries, officeID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Record])
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	return out, nil
}

// ReadLog returns at most limit entries of office officeID, newest first,
// older than entry before (0: from the newest), for by (an admin of the
// office), and records the read in the same log: who looked at the log
// is itself logged.
func ReadLog(ctx context.Context, db *store.DB, officeID int64, by domain.Actor, before int64, limit int) ([]Record, error) {
	entries, err := List(ctx, db, officeID, before, limit)
	if err != nil {
		return nil, err
	}
	if err := AppendNow(ctx, db, Entry{OfficeID: officeID, Actor: by, Action: domain.AuditRead}); err != nil {
		return nil, err
	}
	return entries, nil
}
