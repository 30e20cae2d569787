// Package store is the portal's access to PostgreSQL: a connection pool,
// embedded migrations, a transaction helper, and hand-written queries, one
// file per aggregate. Every query of office data names the office in its
// WHERE clause.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/gesundheitsamt/portal/internal/fault"
)

// Querier is what a query needs: satisfied by *DB and pgx.Tx, so one
// function serves inside and outside a transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DB is the portal's connection pool: a Querier for single statements,
// InTx for transactions, and the operations that need more than one
// query. The pool itself stays inside this package; the job queue gets
// River's driver on it (RiverDriver), nothing else needs it.
type DB struct {
	pool *pgxpool.Pool
}

// Exec runs sql on a connection of the pool.
func (db *DB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return db.pool.Exec(ctx, sql, args...)
}

// Query runs sql on a connection of the pool; the rows hold it until
// closed.
func (db *DB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return db.pool.Query(ctx, sql, args...)
}

// QueryRow runs sql on a connection of the pool for at most one row.
func (db *DB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return db.pool.QueryRow(ctx, sql, args...)
}

// CopyFrom copies rows into table with PostgreSQL's COPY protocol: bulk
// loads (the seeding of benchmarks and drills).
func (db *DB) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, rows pgx.CopyFromSource) (int64, error) {
	return db.pool.CopyFrom(ctx, table, columns, rows)
}

// Begin starts a transaction the caller ends; InTx, which always ends
// it, is the way for everything but tests that hold one open on purpose.
func (db *DB) Begin(ctx context.Context) (pgx.Tx, error) { return db.pool.Begin(ctx) }

// RiverDriver is River's driver on the pool: jobs are inserted in the
// transactions of the changes that cause them and worked over the same
// connections.
func (db *DB) RiverDriver() riverdriver.Driver[pgx.Tx] { return riverpgxv5.New(db.pool) }

// SQLDB is the pool as a database/sql handle, for tools that need one
// (goose's migrations); the caller closes it, which leaves the pool open.
func (db *DB) SQLDB() *sql.DB { return stdlib.OpenDBFromPool(db.pool) }

// Config is a copy of the pool's configuration: for a second, smaller
// pool to the same database (tests of exhausted connections).
func (db *DB) Config() *pgxpool.Config { return db.pool.Config().Copy() }

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
	return OpenConfig(ctx, cfg)
}

// OpenConfig is Open with a pool configuration of the caller's (a copy of
// Config with a tracer, in tests). Errors: Unavailable.
func OpenConfig(ctx context.Context, cfg *pgxpool.Config) (*DB, error) {
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
	return &DB{pool: pool}, nil
}

// Close closes the pool, waiting for connections in use.
func (db *DB) Close() { db.pool.Close() }

// Ping reports whether the database answers within ctx.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fault.Wrap(fault.Unavailable, "store: ping", err)
	}
	return nil
}

// InTx runs fn in a transaction, committing when fn returns nil and rolling
// back otherwise (also when fn panics).
func (db *DB) InTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
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
