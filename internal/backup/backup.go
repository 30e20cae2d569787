// Package backup writes and restores backups of the portal's database: a
// pg_dump custom-format archive of one consistent snapshot, framed by a
// manifest (portal version, time, fingerprints of the keys, counts per
// office) and a checksum (file.go). A restore checks the file and the
// configured keys first, restores only into an empty database, applies
// the migrations an older backup lacks, and verifies the counts and the
// audit chain. pg_dump and pg_restore are the machine's own PostgreSQL
// programs; nothing here knows the embedded PostgreSQL, only connection
// strings.
package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// Source is the database a backup copies.
type Source struct {
	DB    *store.DB
	DSN   string // the same database, for pg_dump (pgx's URL or key=value form)
	Tools string // directory holding pg_dump
}

// Write writes a backup of src to w: it records the backup in every
// office's audit log, then dumps one snapshot of the database, counting
// what the snapshot holds for the manifest. m carries what the caller
// knows (PortalVersion, Source, the key fingerprints); Write fills in the
// rest and returns it. On error w holds part of a backup, which Read
// refuses: the caller removes it. Errors: NotFound when the database holds
// no portal schema, Unavailable when the database does not answer, and
// pg_dump's own message otherwise.
func Write(ctx context.Context, w io.Writer, src Source, m Manifest) (Manifest, error) {
	if _, err := store.SchemaVersion(ctx, src.DB); err != nil {
		if fault.KindOf(err) == fault.NotFound {
			return m, fault.Wrap(fault.NotFound, "the database holds no portal data", err)
		}
		return m, err
	}
	// A backup reads every office's data: the offices' logs say when.
	// Appended before the snapshot, the entries are part of the backup.
	ids, err := store.ListOfficeIDs(ctx, src.DB)
	if err != nil {
		return m, err
	}
	for _, id := range ids {
		if err := audit.AppendNow(ctx, src.DB, audit.Entry{OfficeID: id, Actor: domain.System, Action: domain.DatabaseBackup}); err != nil {
			return m, err
		}
	}
	err = src.DB.InSnapshot(ctx, func(tx pgx.Tx, snapshot string) error {
		var err error
		m.CreatedAt = time.Now().UTC().Truncate(time.Second)
		if m.PostgresVersion, err = store.ServerVersion(ctx, tx); err != nil {
			return err
		}
		if m.SchemaVersion, err = store.SchemaVersion(ctx, tx); err != nil {
			return err
		}
		if m.Offices, err = store.CountOffices(ctx, tx); err != nil {
			return err
		}
		bw, err := newWriter(w, m)
		if err != nil {
			return err
		}
		// The lock timeout keeps pg_dump from queueing behind a migration's
		// exclusive lock for long, which would stall every request behind
		// pg_dump in turn. Most of the bytes are sealed attachments, which
		// no compression shrinks (only their hex form in COPY, which the
		// fastest level undoes as well): level 1 instead of the default 6
		// made a backup of 100 MB of attachments four times faster (3 s
		// instead of 13 s) and 3 % larger.
		if err := runTool(ctx, src.Tools, "pg_dump", src.DSN, nil, bw,
			"--format=custom", "--compress=1", "--snapshot="+snapshot, "--lock-wait-timeout=30s"); err != nil {
			if bw.err != nil {
				return bw.err
			}
			return err
		}
		return bw.finish()
	})
	return m, err
}

// Target is the database a backup is restored into, with the keys of the
// portal that will run on it.
type Target struct {
	DB    *store.DB
	DSN   string // the same database, for pg_restore
	Tools string // directory holding pg_restore
	// EncryptionKey and SecretKey are the configured keys; nil when none is.
	EncryptionKey, SecretKey []byte
	// Force restores although the encryption key is not the backup's.
	Force bool
	Log   *slog.Logger // receives the migrations applied
}

// Report is what a restore did and found.
type Report struct {
	Offices      []store.OfficeCounts // as restored, before the restore's own audit entries
	AuditEntries int                  // entries whose chain was verified
	PendingJobs  int64                // mails and webhook calls the restored portal will run
	SchemaFrom   int64                // the backup's schema version
	SchemaTo     int64                // after the migrations
	Warnings     []string             // what the operator should know (a differing secret key, --force)
}

// Restore restores bf into t's database. Before it changes anything it
// refuses (Conflict) a backup whose encryption key is not the configured
// one unless t.Force, a backup made by a newer portal, and a database that
// is not empty. pg_restore runs in one transaction, so a failed restore
// leaves the database empty. Then it applies pending migrations, compares
// the counts with the manifest's, verifies the audit chains and records
// the restore in every office's audit log.
func Restore(ctx context.Context, bf *File, t Target) (Report, error) {
	m := bf.Manifest
	r := Report{SchemaFrom: m.SchemaVersion}
	warnings, err := CheckKeys(m, t.EncryptionKey, t.SecretKey, t.Force)
	if err != nil {
		return r, err
	}
	r.Warnings = warnings
	if latest := store.LatestSchemaVersion(); m.SchemaVersion > latest {
		return r, fault.Wrap(fault.Conflict, "", fmt.Errorf(
			"the backup was made by a newer portal (%s, schema version %d; this one knows up to %d): restore it with that version or a newer one",
			m.PortalVersion, m.SchemaVersion, latest))
	}
	if err := CheckEmpty(ctx, t.DB); err != nil {
		return r, err
	}
	if _, err := bf.Archive.Seek(0, io.SeekStart); err != nil {
		return r, err
	}
	if err := runTool(ctx, t.Tools, "pg_restore", t.DSN, bf.Archive, nil,
		"--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"); err != nil {
		return r, err
	}
	if r.Offices, err = store.CountOffices(ctx, t.DB); err != nil {
		return r, err
	}
	if err := sameCounts(m.Offices, r.Offices); err != nil {
		return r, err
	}
	if err := t.DB.Migrate(ctx, t.Log); err != nil {
		return r, err
	}
	if r.SchemaTo, err = store.SchemaVersion(ctx, t.DB); err != nil {
		return r, err
	}
	if r.AuditEntries, err = audit.Verify(ctx, t.DB, 0); err != nil {
		return r, fmt.Errorf("restored, but the audit log does not verify: %w", err)
	}
	ids, err := store.ListOfficeIDs(ctx, t.DB)
	if err != nil {
		return r, err
	}
	for _, id := range ids {
		e := audit.Entry{OfficeID: id, Actor: domain.System, Action: domain.DatabaseRestore, Object: domain.BackupObject(m.CreatedAt.Format(time.RFC3339))}
		if err := audit.AppendNow(ctx, t.DB, e); err != nil {
			return r, err
		}
	}
	if r.PendingJobs, err = store.CountPendingJobs(ctx, t.DB); err != nil {
		return r, err
	}
	return r, nil
}

// CheckKeys compares the keys a restored portal will have with the
// fingerprints in m. A missing or different encryption key is an error
// (Invalid, Conflict) unless force, since what it sealed (attachments,
// TOTP and webhook secrets, the status links in queued mails) could not
// be opened; with force it is a warning. A different secret key is only a
// warning: it signs what lives for minutes (CSRF tokens of open forms).
func CheckKeys(m Manifest, encryptionKey, secretKey []byte, force bool) (warnings []string, err error) {
	const sealed = "attachments, TOTP secrets and webhook secrets would be unreadable"
	var problem error
	switch {
	case encryptionKey == nil:
		problem = fault.Wrap(fault.Invalid, "", fmt.Errorf(
			"no encryption key is configured: set PORTAL_ENCRYPTION_KEY to the backup's key (fingerprint %s) "+
				"or copy its encryption.key into PORTAL_DATA_DIR; without it %s", m.EncryptionKey, sealed))
	case crypto.Fingerprint(encryptionKey) != m.EncryptionKey:
		problem = fault.Wrap(fault.Conflict, "", fmt.Errorf(
			"the configured encryption key is not the backup's (fingerprint %s here, %s in the backup); with it %s",
			crypto.Fingerprint(encryptionKey), m.EncryptionKey, sealed))
	}
	if problem != nil && !force {
		return nil, fmt.Errorf("%w; --force restores anyway", problem)
	}
	if problem != nil {
		warnings = append(warnings, "restored with --force: "+problem.Error())
	}
	if secretKey == nil || crypto.Fingerprint(secretKey) != m.SecretKey {
		warnings = append(warnings, "PORTAL_SECRET_KEY is not the backup's (fingerprint "+m.SecretKey+
			"): forms that were open in a browser must be sent again; set it, or copy secret.key into PORTAL_DATA_DIR, to avoid that")
	}
	return warnings, nil
}

// ErrNotEmpty is wrapped by the error of a restore into a database that
// holds tables already.
var ErrNotEmpty = errors.New("the database is not empty")

// CheckEmpty returns a Conflict error wrapping ErrNotEmpty, naming what the
// database holds, when it is not empty: a restore never mixes a backup
// with other data.
func CheckEmpty(ctx context.Context, q store.Querier) error {
	names, err := store.Relations(ctx, q)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	shown := names
	if len(shown) > 5 {
		shown = append(shown[:5:5], "...")
	}
	return fault.Wrap(fault.Conflict, "", fmt.Errorf(
		"%w (%d tables and sequences: %s): restore only into an empty data directory or database",
		ErrNotEmpty, len(names), strings.Join(shown, ", ")))
}

// sameCounts compares what a restore holds with what the backup recorded.
func sameCounts(want, got []store.OfficeCounts) error {
	byslug := map[string]store.OfficeCounts{}
	for _, c := range got {
		byslug[c.Slug] = c
	}
	for _, w := range want {
		if g := byslug[w.Slug]; g != w {
			return fmt.Errorf("restored, but office %s holds %d submissions, %d attachments and %d audit entries; the backup recorded %d, %d and %d",
				w.Slug, g.Submissions, g.Attachments, g.AuditEntries, w.Submissions, w.Attachments, w.AuditEntries)
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("restored, but %d offices where the backup recorded %d", len(got), len(want))
	}
	return nil
}

// runTool runs pg_dump or pg_restore from dir against dsn with args,
// reading stdin and writing stdout. The password goes to the environment,
// never to the command line; on failure the error ends with the program's
// last lines of standard error.
func runTool(ctx context.Context, dir, name, dsn string, stdin io.Reader, stdout io.Writer, args ...string) error {
	conninfo, password, err := libpqConn(dsn)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(dir, name), append(args, "--no-password", "--dbname="+conninfo)...)
	// A clean environment: the operator's PG* variables must not redirect
	// the backup to another database. HOME stays for ~/.postgresql's
	// certificates and ~/.pgpass.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C.UTF-8", "PGAPPNAME=portal-" + strings.TrimPrefix(name, "pg_"), "PGCONNECT_TIMEOUT=10"}
	if home := os.Getenv("HOME"); home != "" {
		cmd.Env = append(cmd.Env, "HOME="+home)
	}
	if password != "" {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+password)
	}
	cmd.Stdin, cmd.Stdout = stdin, stdout
	stderr := &tailBuffer{max: 4096}
	cmd.Stderr = stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", name, ctx.Err())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("%s failed (%v):\n%s", name, err, strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return t.buf.String() }
