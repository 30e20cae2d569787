package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/webhook"
)

// webhookCommand runs `portal webhook add`: a webhook of one office,
// whose signing secret is printed once, alone on standard output.
func webhookCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	const usage = "usage: portal webhook add --office SLUG --url URL --events E1,E2 (events: " +
		"submission.created, submission.status_changed, appointment.booked, appointment.cancelled, appointment.moved)"
	fs := flag.NewFlagSet("webhook add", flag.ContinueOnError)
	officeSlug := fs.String("office", "", "office slug")
	rawURL := fs.String("url", "", "where to POST (https; http outside production)")
	events := fs.String("events", "", "comma-separated events")
	if err := parseAdd("webhook", usage, args, fs, "office", "url", "events"); err != nil {
		return err
	}
	list := splitList(*events)
	on, err := openOffice(ctx, getenv, "webhook add", *officeSlug)
	if err != nil {
		return err
	}
	defer on.close()
	cfg, db, office, log := on.cfg, on.db, on.office, on.log
	box, err := crypto.NewBox(cfg.EncryptionKey)
	if err != nil {
		return err
	}
	id, secret, err := webhook.Add(ctx, db, box, office.ID, *rawURL, list, cfg.Production())
	if err != nil {
		return fmt.Errorf("webhook add: %w\n%s", err, usage)
	}
	log.Info("webhook created", "id", id, "office", office.Slug, "events", strings.Join(list, ","))
	_, err = fmt.Fprintln(stdout, secret)
	return err
}
