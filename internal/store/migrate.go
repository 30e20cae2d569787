package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies every pending migration. A PostgreSQL advisory lock makes
// concurrent starts of several portal processes safe: one migrates, the
// others wait and then find nothing to do.
func (db *DB) Migrate(ctx context.Context, log *slog.Logger) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	sqlDB := db.SQLDB()
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	return db.migrateJobs(ctx, log)
}

// riverLock is the advisory lock key that serialises River's migrations
// across portal processes starting at once ("rivr").
const riverLock = 0x72697672

// migrateJobs applies the migrations of River, the job queue, which keeps
// its own tables and versions.
func (db *DB) migrateJobs(ctx context.Context, log *slog.Logger) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: river migrations: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, riverLock); err != nil {
		return fmt.Errorf("store: river migrations: %w", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, riverLock) //nolint:errcheck
	migrator, err := rivermigrate.New(db.RiverDriver(), nil)
	if err != nil {
		return fmt.Errorf("store: river migrations: %w", err)
	}
	res, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("store: river migrations: %w", err)
	}
	for _, v := range res.Versions {
		log.Info("job queue migration applied", "version", v.Version, "took", v.Duration)
	}
	return nil
}
