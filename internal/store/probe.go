package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// probeWrite gives ready_probe a new file and writes a row into it, which
// needs a fresh page on disk. The lock timeout keeps a probe of another
// portal process from holding this one up.
const probeWrite = `SET LOCAL lock_timeout = '1s';
TRUNCATE ready_probe;
INSERT INTO ready_probe (at) VALUES (now())`

// ProbeWrite reports whether the database can store data now: it writes a
// row that needs a new page on disk and commits it, as storing a
// submission does. Errors: Unavailable (fault.KindOf) when the server is
// away, its disk full (53100) or read-only. A probe that waits on another
// process's probe counts as a success: that one is writing to the same
// disk at this moment. Called by /readyz, at most every few seconds.
func ProbeWrite(ctx context.Context, db *DB) error {
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, probeWrite)
		return err
	})
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "55P03" { // lock_not_available
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: write probe: %w", err)
	}
	return nil
}
