package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/fault"
)

// OfficeCounts is how much of one office a database holds: what a backup
// records and a restore compares.
type OfficeCounts struct {
	Slug         string `json:"slug"`
	Submissions  int64  `json:"submissions"`
	Attachments  int64  `json:"attachments"`
	AuditEntries int64  `json:"audit_entries"`
}

const countOffices = `
SELECT o.slug,
       (SELECT count(*) FROM submission s WHERE s.office_id = o.id),
       (SELECT count(*) FROM attachment a WHERE a.office_id = o.id),
       (SELECT count(*) FROM audit_log l WHERE l.office_id = o.id)
FROM office o ORDER BY o.slug`

// CountOffices returns the submissions, attachments and audit entries of
// every office, by slug. It is an operator's view of the whole database
// (backup, restore), each count filtered by its office.
func CountOffices(ctx context.Context, q Querier) ([]OfficeCounts, error) {
	rows, err := q.Query(ctx, countOffices)
	if err != nil {
		return nil, fmt.Errorf("store: count offices: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (OfficeCounts, error) {
		var c OfficeCounts
		err := row.Scan(&c.Slug, &c.Submissions, &c.Attachments, &c.AuditEntries)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: count offices: %w", err)
	}
	return out, nil
}

const schemaTable = `SELECT to_regclass('goose_db_version') IS NOT NULL`
const schemaVersion = `SELECT coalesce(max(version_id), 0) FROM goose_db_version`

// SchemaVersion returns the number of the newest migration applied to the
// database, or a NotFound error when it holds no portal schema at all.
func SchemaVersion(ctx context.Context, q Querier) (int64, error) {
	var exists bool
	if err := q.QueryRow(ctx, schemaTable).Scan(&exists); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	if !exists {
		return 0, fault.Wrap(fault.NotFound, "store: schema version", errors.New("no goose_db_version table"))
	}
	var v int64
	if err := q.QueryRow(ctx, schemaVersion).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}

// LatestSchemaVersion returns the number of the newest migration this
// binary carries: a database at a higher one was made by a newer portal.
func LatestSchemaVersion() int64 {
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	var latest int64
	for _, name := range names {
		digits, _, _ := strings.Cut(strings.TrimPrefix(name, "migrations/"), "_")
		if v, err := strconv.ParseInt(digits, 10, 64); err == nil && v > latest {
			latest = v
		}
	}
	return latest
}

const serverVersion = `SHOW server_version`

// ServerVersion returns the PostgreSQL server's version, e.g. "15.8".
func ServerVersion(ctx context.Context, q Querier) (string, error) {
	var v string
	if err := q.QueryRow(ctx, serverVersion).Scan(&v); err != nil {
		return "", fmt.Errorf("store: server version: %w", err)
	}
	v, _, _ = strings.Cut(v, " ") // "15.8 (Debian 15.8-0+deb12u1)"
	return v, nil
}

const listRelations = `
SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
ORDER BY 1`

// Relations returns the tables, views and sequences of the database
// outside PostgreSQL's own schemas, by name: none in an empty database.
func Relations(ctx context.Context, q Querier) ([]string, error) {
	rows, err := q.Query(ctx, listRelations)
	if err != nil {
		return nil, fmt.Errorf("store: list relations: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store: list relations: %w", err)
	}
	return names, nil
}

const countPendingJobs = `SELECT count(*) FROM river_job WHERE state IN ('available', 'scheduled', 'retryable', 'running')`

// CountPendingJobs returns how many background jobs (mails, webhook
// calls) wait to run or ran when the database was copied: a restored
// portal runs them when it starts.
func CountPendingJobs(ctx context.Context, q Querier) (int64, error) {
	var n int64
	if err := q.QueryRow(ctx, countPendingJobs).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count pending jobs: %w", err)
	}
	return n, nil
}

const exportSnapshot = `SELECT pg_export_snapshot()`

// InSnapshot runs fn in a read-only REPEATABLE READ transaction and gives
// it the id of the transaction's exported snapshot: another session (a
// pg_dump --snapshot) that imports it while fn runs sees exactly what fn's
// queries see.
func (db *DB) InSnapshot(ctx context.Context, fn func(tx pgx.Tx, snapshot string) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fault.Wrap(fault.Unavailable, "store: begin snapshot", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	var id string
	if err := tx.QueryRow(ctx, exportSnapshot).Scan(&id); err != nil {
		return fmt.Errorf("store: export snapshot: %w", err)
	}
	if err := fn(tx, id); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fault.Wrap(fault.Unavailable, "store: end snapshot", err)
	}
	return nil
}

const listOfficeIDs = `SELECT id FROM office ORDER BY id`

// ListOfficeIDs returns the id of every office: for what an operator does
// to all of them at once (the audit entries of a backup and a restore).
func ListOfficeIDs(ctx context.Context, q Querier) ([]int64, error) {
	rows, err := q.Query(ctx, listOfficeIDs)
	if err != nil {
		return nil, fmt.Errorf("store: list office ids: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("store: list office ids: %w", err)
	}
	return ids, nil
}
