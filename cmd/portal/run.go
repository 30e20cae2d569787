package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/app"
	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/config"
	"github.com/gesundheitsamt/portal/internal/demo"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/pgembed"
	"github.com/gesundheitsamt/portal/internal/store"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

const usage = `usage: portal [command]

commands:
  serve      run the web server (the default)
  migrate    apply database migrations, then exit
  staff add --office SLUG --email E --name N --role admin|caseworker|physician
             [--password-stdin] [--totp-secret BASE32]
             create a staff account; prints a generated password unless
             --password-stdin
  token add --office SLUG --name N --scopes S1,S2
             create an API token and print it once, alone on standard
             output; scopes: submissions:read, submissions:write,
             attachments:read, medical:read, appointments:read,
             appointments:write
  webhook add --office SLUG --url URL --events E1,E2
             create a webhook (events: submission.created,
             submission.status_changed, appointment.booked,
             appointment.cancelled, appointment.moved) and print its
             signing secret once,
             alone on standard output
  audit verify [--office SLUG]
             check the audit log's hash chains; fails naming the first
             broken entry
  backup [FILE | -]
             write a backup of the database (pg_dump, custom format, with
             the encryption key's fingerprint, never the key) to FILE,
             by default portal-<UTC time>.dump here; - for standard output
  restore [--force] FILE | -
             restore a backup into an empty PORTAL_DATA_DIR (or
             DATABASE_URL), then migrate and verify; refuses another
             encryption key unless --force
  forms check [DIR]
             check form definitions (the shipped ones, or DIR's *.yaml);
             prints each problem as file:line: message
  version    print the version
  help       print this text

Configuration comes from the environment; see README.md.`

// run is the whole program: main only adds signals and the process
// environment, so tests run exactly this with their own arguments,
// environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 1 {
		cmd = args[1]
	}
	switch cmd {
	case "serve":
		return serve(ctx, getenv, stdout)
	case "migrate":
		return migrate(ctx, getenv)
	case "forms":
		return formsCommand(args[2:], stdout)
	case "staff":
		return staffCommand(ctx, args[2:], getenv, os.Stdin, stdout)
	case "token":
		return tokenCommand(ctx, args[2:], getenv, stdout)
	case "webhook":
		return webhookCommand(ctx, args[2:], getenv, stdout)
	case "audit":
		return auditCommand(ctx, args[2:], getenv, stdout)
	case "backup":
		return backupCommand(ctx, args[2:], getenv, stdout)
	case "restore":
		return restoreCommand(ctx, args[2:], getenv, os.Stdin, stdout)
	case "version", "--version":
		_, err := fmt.Fprintln(stdout, "portal", version)
		return err
	case "help", "-h", "--help":
		_, err := fmt.Fprintln(stdout, usage)
		return err
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

// serve runs the web server until ctx ends, then shuts down in order: stop
// accepting, finish requests in flight (up to 10 s), stop the background
// work, close the database, stop the embedded PostgreSQL.
func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log, logOut := newBufferedLogger(cfg, stdout) // serve's output is its log
	defer logOut.Close()
	generated, err := cfg.LoadOrCreateSecrets()
	if err != nil {
		return err
	}
	if len(generated) > 0 {
		log.Info("generated development secrets", "keys", strings.Join(generated, ","), "dir", cfg.DataDir)
	}

	db, closeDB, err := openMigrated(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeDB()
	if cfg.Demo {
		if err := demo.Seed(ctx, db); err != nil {
			return err
		}
		log.Info("demo data ready", "offices", strings.Join(demo.Describe(), "; "))
	}
	a, err := app.New(ctx, cfg, db, app.Options{Logger: log})
	if err != nil {
		return err
	}
	// The background work stops after the requests, before the database
	// closes.
	defer a.Stop()
	if cfg.Demo {
		if err := showDemoStaff(ctx, cfg, db, a.Auth, stdout); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	// Start-up work peaks (brotli of the static files, argon2id of the demo
	// password take tens of MB for a moment): give that back before serving.
	debug.FreeOSMemory()
	if err := a.Start(ctx); err != nil {
		ln.Close()
		return err
	}

	served := make(chan error, 1)
	go func() { served <- a.Server.Serve(ln) }()
	log.Info("portal ready", "addr", ln.Addr().String(), "url", cfg.BaseURL.String(), "env", cfg.Env, "version", version)

	select {
	case err := <-served:
		return fmt.Errorf("web server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	if err := a.Server.Shutdown(10 * time.Second); err != nil {
		log.Warn("shutdown: requests still in flight were cut off", "err", err)
	}
	<-served
	return nil
}

// showDemoStaff gives the demo offices their staff and prints how to log
// in as them.
func showDemoStaff(ctx context.Context, cfg config.Config, db *store.DB, staffAuth *auth.Service, stdout io.Writer) error {
	password, err := seedDemoStaff(ctx, cfg, db, staffAuth)
	if err != nil {
		return err
	}
	// Printed on purpose, so a newcomer can log in after make run; in
	// production the operator chose the password (PORTAL_DEMO_PASSWORD
	// is then required) and it is not printed.
	shown := password
	if cfg.Production() {
		shown = "from PORTAL_DEMO_PASSWORD"
	}
	fmt.Fprintf(stdout, "\nDemo staff (password %s%s), log in at %s/staff/login:\n", shown, totpHint(cfg), cfg.BaseURL)
	for _, o := range demo.Offices() {
		for _, s := range demo.Staff(o.Office.Slug) {
			fmt.Fprintf(stdout, "  %-36s %s\n", s.Email, s.Role)
		}
	}
	fmt.Fprintln(stdout)
	return nil
}

// formsCommand runs "forms check [DIR]": it loads the definitions and
// prints every problem as file:line: message to stdout, failing when there
// is one.
func formsCommand(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "check" || len(args) > 2 {
		return fmt.Errorf("usage: portal forms check [DIR]")
	}
	var set *forms.Set
	var err error
	if len(args) == 2 {
		set, err = forms.Load(os.DirFS(args[1]), ".")
	} else {
		set, err = forms.Builtin()
	}
	var problems forms.Problems
	if errors.As(err, &problems) {
		for _, p := range problems {
			if len(args) == 2 {
				p.File = filepath.Join(args[1], p.File)
			}
			fmt.Fprintln(stdout, p)
		}
		return fmt.Errorf("forms: %d problem(s)", len(problems))
	}
	if err != nil {
		return err
	}
	for _, f := range set.Forms() {
		fmt.Fprintf(stdout, "ok %s version %d (%d steps) sha256:%s\n", f.ID, f.Version, len(f.Steps), f.Hash[:12])
	}
	return nil
}

// migrate applies the migrations and exits.
func migrate(ctx context.Context, getenv func(string) string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	_, closeDB, err := openMigrated(ctx, cfg, log)
	if err != nil {
		return err
	}
	closeDB()
	log.Info("database is up to date")
	return nil
}

// openMigrated is openDB followed by the migrations.
// officeCommand is what a command acting on one office has opened.
type officeCommand struct {
	cfg    config.Config
	db     *store.DB
	office store.Office
	log    *slog.Logger
	close  func()
}

// openOffice loads the configuration (and the development keys), opens the
// migrated database and finds office slug: the common start of `staff
// add`, `token add` and `webhook add`. The caller defers close.
func openOffice(ctx context.Context, getenv func(string) string, cmd, slug string) (*officeCommand, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	if _, err := cfg.LoadOrCreateSecrets(); err != nil {
		return nil, err
	}
	log := newLogger(cfg, os.Stderr)
	db, closeDB, err := openMigrated(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	office, err := store.GetOfficeBySlug(ctx, db, slug)
	if err != nil {
		closeDB()
		if fault.KindOf(err) == fault.NotFound {
			return nil, fmt.Errorf("%s: no office %q", cmd, slug)
		}
		return nil, err
	}
	return &officeCommand{cfg: cfg, db: db, office: office, log: log, close: closeDB}, nil
}

func openMigrated(ctx context.Context, cfg config.Config, log *slog.Logger) (*store.DB, func(), error) {
	db, closeDB, err := openDB(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	if err := db.Migrate(ctx, log); err != nil {
		closeDB()
		return nil, nil, err
	}
	return db, closeDB, nil
}

// openDB connects to DATABASE_URL or, without one, to the embedded
// PostgreSQL under PORTAL_DATA_DIR: started here, or the one another portal
// process with the same data directory already runs. The returned function
// closes the pool and stops a server this process started.
func openDB(ctx context.Context, cfg config.Config, log *slog.Logger) (*store.DB, func(), error) {
	dsn, stop, err := openDatabase(ctx, cfg, log, false)
	if err != nil {
		return nil, nil, err
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return db, func() { db.Close(); stop() }, nil
}

// openDatabase returns the connection string of the portal's database:
// DATABASE_URL, or the database portal of the embedded PostgreSQL under
// PORTAL_DATA_DIR, started here (initialised first unless existing, which
// makes a missing cluster a pgembed.ErrNoCluster) or attached to. The
// returned function stops a server this process started.
func openDatabase(ctx context.Context, cfg config.Config, log *slog.Logger, existing bool) (string, func(), error) {
	if cfg.DatabaseURL != "" {
		return cfg.DatabaseURL, func() {}, nil
	}
	if !existing {
		if err := os.MkdirAll(cfg.DataDir, 0o711); err != nil {
			return "", nil, fmt.Errorf("data dir: %w", err)
		}
	}
	cluster, err := pgembed.Start(ctx, pgembed.Options{Dir: filepath.Join(cfg.DataDir, "pg"), BinDir: cfg.PGBin, Logger: log, Existing: existing})
	if err != nil {
		return "", nil, err
	}
	stop := func() {
		if err := cluster.Stop(); err != nil {
			log.Error("stopping embedded PostgreSQL", "err", err)
		}
	}
	if err := cluster.EnsureDatabase(ctx, "portal"); err != nil {
		stop()
		return "", nil, err
	}
	return cluster.DSN("portal"), stop, nil
}
