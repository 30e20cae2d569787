package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gesundheitsamt/portal/internal/backup"
	"github.com/gesundheitsamt/portal/internal/config"
	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/pgembed"
	"github.com/gesundheitsamt/portal/internal/store"
)

const (
	backupUsage  = "usage: portal backup [FILE | -]"
	restoreUsage = "usage: portal restore [--force] FILE | -"
)

// backupCommand runs `portal backup [FILE | -]`: a backup of the portal's
// database (the embedded PostgreSQL, attached to while serve runs or
// started for the backup, or DATABASE_URL) into FILE, by default
// portal-<UTC time>.dump in the current directory, or to standard output
// for -. A file appears under its name only when complete (mode 0600);
// an existing file is never replaced. The summary goes to stdout, or to
// standard error when the backup does.
func backupCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 1 || (len(args) == 1 && strings.HasPrefix(args[0], "-") && args[0] != "-") {
		return errors.New(backupUsage)
	}
	path := "portal-" + time.Now().UTC().Format("20060102T150405Z") + ".dump"
	if len(args) == 1 {
		path = args[0]
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if err := cfg.LoadExistingSecrets(); err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	dsn, stop, err := openDatabase(ctx, cfg, log, true)
	if errors.Is(err, pgembed.ErrNoCluster) {
		return fmt.Errorf("backup: nothing to back up: PORTAL_DATA_DIR %s holds no database (%w)", cfg.DataDir, err)
	}
	if err != nil {
		return err
	}
	defer stop()
	// Without the key, the backup could not say which key its attachments
	// need, and a restore could not check it.
	if cfg.EncryptionKey == nil {
		return errors.New("backup: no encryption key (PORTAL_ENCRYPTION_KEY, or encryption.key in PORTAL_DATA_DIR " + cfg.DataDir +
			"): give the backup the portal's configuration")
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	tools, err := pgembed.FindTools(cfg.PGBin, "pg_dump")
	if err != nil {
		return err
	}
	src := backup.Source{DB: db, DSN: dsn, Tools: tools}
	m := backup.Manifest{
		PortalVersion: version, Source: sourceKind(cfg),
		EncryptionKey: crypto.Fingerprint(cfg.EncryptionKey), SecretKey: crypto.Fingerprint(cfg.SecretKey),
	}
	summary, name := stdout, path
	var size int64
	if path == "-" {
		name = "standard output"
		summary = os.Stderr
		counted := &countingWriter{w: stdout}
		if m, err = backup.Write(ctx, counted, src, m); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		size = counted.n
	} else if m, size, err = writeBackupFile(ctx, path, src, m); err != nil {
		return err
	}
	fmt.Fprintf(summary, "backup written to %s (%s): %s\n", name, formatSize(size), describe(m))
	for _, c := range m.Offices {
		fmt.Fprintf(summary, "  %-20s %d submissions, %d attachments, %d audit entries\n", c.Slug, c.Submissions, c.Attachments, c.AuditEntries)
	}
	_, err = fmt.Fprintf(summary, "The keys are not in the backup. Keep PORTAL_ENCRYPTION_KEY (fingerprint %s) and PORTAL_SECRET_KEY\n"+
		"safe, apart from it: without the encryption key its attachments cannot be read.\n", m.EncryptionKey)
	return err
}

// writeBackupFile writes the backup into a temporary file beside path and
// links it to path only once it is complete and on disk: an interrupted
// or failed backup leaves nothing under the name, and an existing file is
// never replaced. It returns the manifest and the file's size.
func writeBackupFile(ctx context.Context, path string, src backup.Source, m backup.Manifest) (backup.Manifest, int64, error) {
	if _, err := os.Lstat(path); err == nil {
		return m, 0, fmt.Errorf("backup: %s exists; name another file", path)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".portal-backup-*.tmp") // mode 0600
	if err != nil {
		return m, 0, fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the link, the file lives on under path
	defer tmp.Close()
	if m, err = backup.Write(ctx, tmp, src, m); err != nil {
		return m, 0, fmt.Errorf("backup: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return m, 0, fmt.Errorf("backup: %w", err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		return m, 0, fmt.Errorf("backup: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return m, 0, fmt.Errorf("backup: %w", err)
	}
	// A hard link fails when the name exists; a file system without hard
	// links (FAT on a USB stick) gets a rename after a last look.
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return m, 0, fmt.Errorf("backup: %s exists; name another file", path)
	} else if err != nil {
		if _, err := os.Lstat(path); err == nil {
			return m, 0, fmt.Errorf("backup: %s exists; name another file", path)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return m, 0, fmt.Errorf("backup: %w", err)
		}
	}
	if d, err := os.Open(dir); err == nil { // the new name survives a crash too
		_ = d.Sync()
		d.Close()
	}
	return m, fi.Size(), nil
}

// restoreCommand runs `portal restore [--force] FILE | -`: it checks the
// backup (from standard input for -) and the configured keys, restores it
// into the empty database of PORTAL_DATA_DIR (initialised if needed) or
// DATABASE_URL, applies pending migrations and verifies the result, so
// that `portal serve` starts on it.
func restoreCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	var path string
	var force bool
	for _, a := range args {
		switch {
		case a == "--force" || a == "-force":
			force = true
		case strings.HasPrefix(a, "-") && a != "-", path != "":
			return errors.New(restoreUsage)
		default:
			path = a
		}
	}
	if path == "" {
		return errors.New(restoreUsage)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if err := cfg.LoadExistingSecrets(); err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	if path == "-" {
		spooled, err := spool(cfg.DataDir, stdin)
		if err != nil {
			return err
		}
		defer os.Remove(spooled)
		path = spooled
	}
	bf, err := backup.Open(path)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer bf.Close()
	m := bf.Manifest
	fmt.Fprintf(stdout, "backup of %s\n", describe(m))
	// The keys first: a refused restore must not even initialise a cluster.
	if _, err := backup.CheckKeys(m, cfg.EncryptionKey, cfg.SecretKey, force); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tools, err := pgembed.FindTools(cfg.PGBin, "pg_restore")
	if err != nil {
		return err
	}
	dsn, stop, err := openDatabase(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	defer stop()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	began := time.Now()
	r, err := backup.Restore(ctx, bf, backup.Target{
		DB: db, DSN: dsn, Tools: tools, EncryptionKey: cfg.EncryptionKey, SecretKey: cfg.SecretKey, Force: force, Log: log,
	})
	if err != nil {
		return restoreError(cfg, err)
	}
	fmt.Fprintf(stdout, "restored in %v into %s:\n", time.Since(began).Round(time.Millisecond), targetName(cfg))
	for _, c := range r.Offices {
		fmt.Fprintf(stdout, "  %-20s %d submissions, %d attachments, %d audit entries\n", c.Slug, c.Submissions, c.Attachments, c.AuditEntries)
	}
	if r.SchemaTo != r.SchemaFrom {
		fmt.Fprintf(stdout, "migrated from schema version %d to %d\n", r.SchemaFrom, r.SchemaTo)
	}
	fmt.Fprintf(stdout, "audit log intact: %d entries checked\n", r.AuditEntries)
	if r.PendingJobs > 0 {
		fmt.Fprintf(stdout, "%d background jobs (mails, webhook calls) were waiting at the time of the backup; "+
			"portal serve runs them, unless SMTP_URL is unset (development mailbox)\n", r.PendingJobs)
	}
	for _, w := range r.Warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	_, err = fmt.Fprintln(stdout, "start the portal with: portal serve")
	return err
}

// restoreError adds to a refused restore into the embedded PostgreSQL
// what to do about a data directory that is not empty.
func restoreError(cfg config.Config, err error) error {
	if cfg.DatabaseURL == "" && errors.Is(err, backup.ErrNotEmpty) {
		return fmt.Errorf("restore: %w\nPORTAL_DATA_DIR %s already holds a portal database: choose an empty PORTAL_DATA_DIR "+
			"(or stop the portal and move %s away)", err, cfg.DataDir, filepath.Join(cfg.DataDir, "pg"))
	}
	return fmt.Errorf("restore: %w", err)
}

// spool copies a backup from r into a private temporary file in dir (the
// data directory, where the database's own files are: the same trust) and
// returns its name: checking the checksum before anything is restored
// needs the whole file.
func spool(dir string, r io.Reader) (string, error) {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	f, err := os.CreateTemp(dir, ".portal-restore-*.tmp")
	if err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("restore: read standard input: %w", err)
	}
	return f.Name(), nil
}

func sourceKind(cfg config.Config) string {
	if cfg.DatabaseURL != "" {
		return "external"
	}
	return "embedded"
}

func targetName(cfg config.Config) string {
	if cfg.DatabaseURL != "" {
		return "DATABASE_URL"
	}
	return "PORTAL_DATA_DIR " + cfg.DataDir
}

// describe is a manifest in one line.
func describe(m backup.Manifest) string {
	return fmt.Sprintf("%s by portal %s (PostgreSQL %s, %s, schema version %d)",
		m.CreatedAt.Format(time.RFC3339), m.PortalVersion, m.PostgresVersion, m.Source, m.SchemaVersion)
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// countingWriter counts what passes through.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
