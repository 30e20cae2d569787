package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/gesundheitsamt/portal/internal/auth"
)

// tokenCommand runs `portal token add`: an API token for one office,
// printed once, alone on standard output (messages go to standard error),
// so `TOKEN=$(portal token add …)` works.
func tokenCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	const usage = "usage: portal token add --office SLUG --name N --scopes S1,S2 (scopes: " +
		"submissions:read, submissions:write, attachments:read, medical:read, appointments:read, appointments:write)"
	fs := flag.NewFlagSet("token add", flag.ContinueOnError)
	officeSlug := fs.String("office", "", "office slug")
	name := fs.String("name", "", "what the token is for (the Fachverfahren)")
	scopes := fs.String("scopes", "", "comma-separated scopes")
	if err := parseAdd("token", usage, args, fs, "office", "name", "scopes"); err != nil {
		return err
	}
	list := splitList(*scopes)
	for _, sc := range list {
		if !contains(auth.Scopes, sc) {
			return fmt.Errorf("token add: unknown scope %q\n%s", sc, usage)
		}
	}
	on, err := openOffice(ctx, getenv, "token add", *officeSlug)
	if err != nil {
		return err
	}
	defer on.close()
	cfg, db, office, log := on.cfg, on.db, on.office, on.log
	svc, err := auth.New(db, cfg.EncryptionKey)
	if err != nil {
		return err
	}
	id, secret, err := svc.AddToken(ctx, office.ID, *name, list)
	if err != nil {
		return fmt.Errorf("token add: %w", err)
	}
	log.Info("api token created", "id", id, "office", office.Slug, "scopes", strings.Join(list, ","))
	_, err = fmt.Fprintln(stdout, secret)
	return err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
