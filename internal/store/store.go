// Package store is the portal's access to PostgreSQL: a connection pool,
// embedded migrations, a transaction helper, and hand-written queries, one
// file per aggregate. Every query of office data names the office in its
// WHERE clause.
package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gesundheitsamt/portal/internal/fault"
)

// Querier is what a query needs: satisfied by *pgxpool.Pool and pgx.Tx, so
// one method serves inside and outside a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DB is the pool plus the operations that need more than one query.
type DB struct {
	Pool *pgxpool.Pool
}

// Open connects to dsn and checks that the server answers. A server that
// does not answer is an Unavailable error. Every error of the pool later
// that says the server went away (a dropped connection, a refused
// connect, a full disk) is Unavailable too: fault.KindOf recognises
// pgx's errors, so no query needs to classify them.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: parse database url: %w", err)
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgxpool's default, max(4, CPUs), is too few here: River keeps
		// one for LISTEN, and 32 mail workers and the requests share the
		// rest; measured on 2 cores, 16 carried 5-10 % more submissions
		// a second than 4, and 32 fewer.
		cfg.MaxConns = int32(max(16, 4*runtime.GOMAXPROCS(0)))
	}
	if !strings.Contains(dsn, "connect_timeout") {
		// Without one a connect to a host that does not answer waits for
		// the kernel (minutes): a request during a network outage should
		// get its 503 in seconds.
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "portal"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fault.Wrap(fault.Unavailable, "store: open", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fault.Wrap(fault.Unavailable, "store: connect", err)
	}
	return &DB{Pool: pool}, nil
}

// Close closes the pool, waiting for connections in use.
func (db *DB) Close() { db.Pool.Close() }

// Ping reports whether the database answers within ctx.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.Pool.Ping(ctx); err != nil {
		return fault.Wrap(fault.Unavailable, "store: ping", err)
	}
	return nil
}

// InTx runs fn in a transaction, committing when fn returns nil and rolling
// back otherwise (also when fn panics).
func (db *DB) InTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		return fault.Wrap(fault.Unavailable, "store: begin", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fault.Wrap(fault.Unavailable, "store: commit", err)
	}
	return nil
}

// notFound turns pgx.ErrNoRows into a NotFound error; other errors keep
// their cause.
func notFound(op string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fault.Wrap(fault.NotFound, op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
