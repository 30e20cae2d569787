package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/config"
	"github.com/gesundheitsamt/portal/internal/demo"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// staffCommand runs "staff add": it creates a staff account and prints a
// generated one-time password alone on stdout, unless --password-stdin
// reads one from standard input. Messages go to standard error.
func staffCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	const usage = "usage: portal staff add --office SLUG --email E --name N --role admin|caseworker|physician [--password-stdin] [--totp-secret BASE32]"
	fs := flag.NewFlagSet("staff add", flag.ContinueOnError)
	officeSlug := fs.String("office", "", "office slug")
	email := fs.String("email", "", "e-mail address (the login)")
	name := fs.String("name", "", "full name")
	role := fs.String("role", "", "admin, caseworker or physician")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	totpSecret := fs.String("totp-secret", "", "base32 TOTP secret (else enrolment at first login)")
	if err := parseAdd("staff", usage, args, fs, "office", "email", "name", "role"); err != nil {
		return err
	}
	r, ok := domain.ParseRole(*role)
	if !ok {
		return fmt.Errorf("staff add: role %q: use admin, caseworker or physician", *role)
	}
	password := auth.NewPassword()
	if *fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("staff add: read password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}

	on, err := openOffice(ctx, getenv, "staff add", *officeSlug)
	if err != nil {
		return err
	}
	defer on.close()
	cfg, db, office, log := on.cfg, on.db, on.office, on.log
	svc, err := auth.New(db, cfg.EncryptionKey)
	if err != nil {
		return err
	}
	id, err := svc.AddStaff(ctx, auth.NewAccount{
		OfficeID: office.ID, Email: *email, Name: *name, Role: r, Password: password, TOTPSecret: *totpSecret,
		OneTime: !*fromStdin, // a printed password is to be replaced at the first login
	})
	if err != nil {
		if msg := fault.MessageOf(err); msg != "" {
			return fmt.Errorf("staff add: %s", staffMessages[msg])
		}
		return err
	}
	log.Info("staff account created", "id", id, "office", office.Slug, "role", *role)
	if !*fromStdin {
		_, err = fmt.Fprintln(stdout, password)
	}
	return err
}

// staffMessages are the command's texts for the account errors (an
// operator's tool: English).
var staffMessages = map[string]string{
	"staff.error.exists":         "an account with this e-mail address exists",
	"staff.error.role":           "unknown role",
	"staff.error.email":          "not an e-mail address",
	"staff.error.name":           "the name is empty",
	"staff.error.password_short": fmt.Sprintf("the password must have at least %d characters", auth.MinPasswordLen),
	"staff.error.totp_secret":    "the TOTP secret must be base32, at least 16 characters",
}

// seedDemoStaff creates (or resets) the demo accounts of CONTRACT.md with
// PORTAL_DEMO_PASSWORD, or a generated password, and PORTAL_DEMO_TOTP. It
// returns the password for the start-up message.
func seedDemoStaff(ctx context.Context, cfg config.Config, db *store.DB, svc *auth.Service) (string, error) {
	password := cfg.DemoPassword
	if password == "" && cfg.Production() {
		return "", errors.New("PORTAL_DEMO=1 in production needs PORTAL_DEMO_PASSWORD")
	}
	if password == "" {
		password = auth.NewPassword()
	}
	var accounts []auth.NewAccount
	for _, o := range demo.Offices() {
		office, err := store.GetOfficeBySlug(ctx, db, o.Office.Slug)
		if err != nil {
			return "", err
		}
		for _, s := range demo.Staff(o.Office.Slug) {
			accounts = append(accounts, auth.NewAccount{
				OfficeID: office.ID, Email: s.Email, Name: s.Name, Role: s.Role, Password: password, TOTPSecret: cfg.DemoTOTP,
			})
		}
	}
	if err := svc.UpsertDemoStaff(ctx, accounts); err != nil {
		return "", fmt.Errorf("demo staff: %w", err)
	}
	return password, nil
}

// totpHint names the demo TOTP secret in the start-up message.
func totpHint(cfg config.Config) string {
	if cfg.DemoTOTP == "" {
		return "; no second factor yet: each account sets up TOTP at its first login"
	}
	return "; TOTP secret " + cfg.DemoTOTP
}

// auditCommand runs "audit verify [--office SLUG]": it checks the audit
// log's hash chains and fails naming the first broken entry.
func auditCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return errors.New("usage: portal audit verify [--office SLUG]")
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	officeSlug := fs.String("office", "", "only this office's chain")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	db, closeDB, err := openMigrated(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeDB()
	var officeID int64
	if *officeSlug != "" {
		o, err := store.GetOfficeBySlug(ctx, db, *officeSlug)
		if err != nil {
			return fmt.Errorf("audit verify: no office %q", *officeSlug)
		}
		officeID = o.ID
	}
	n, err := audit.Verify(ctx, db, officeID)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "audit log intact: %d entries checked\n", n)
	return err
}
