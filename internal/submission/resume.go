package submission

import (
	"context"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/fault"
)

// ResumeRequest is a citizen's wish to get the resume link of a saved
// draft by mail.
type ResumeRequest struct {
	OfficeID    int64
	ServiceSlug string
	DraftID     int64
	Token       string // the draft's token: the link's secret
	To          string
	Lang        string
	Expires     time.Time
}

// ResumeMailer enqueues the mail of a ResumeRequest in tx.
type ResumeMailer interface {
	ResumeLink(ctx context.Context, tx pgx.Tx, r ResumeRequest) error
}

// MsgResumeEmail is the message of an address that cannot be one.
const MsgResumeEmail = "form.saved.mail.error"

// SendResumeLink queues a mail with the resume link of the saved draft d
// to address to, in language lang. Errors: Invalid (MsgResumeEmail),
// Unavailable when mail is not set up.
func (s *Service) SendResumeLink(ctx context.Context, d *Draft, to, lang string) error {
	const op = "submission: send resume link"
	to = strings.TrimSpace(to)
	if a, err := mail.ParseAddress(to); err != nil || a.Address != to || len(to) > 254 || !strings.Contains(to[strings.LastIndexByte(to, '@'):], ".") {
		return fault.New(fault.Invalid, op, MsgResumeEmail)
	}
	if s.resume == nil {
		return fault.New(fault.Unavailable, op, "")
	}
	r := ResumeRequest{OfficeID: d.OfficeID, ServiceSlug: d.ServiceSlug, DraftID: d.ID, Token: d.Token, To: to, Lang: lang,
		Expires: s.now().Add(DraftTTL)}
	return s.db.InTx(ctx, func(tx pgx.Tx) error { return s.resume.ResumeLink(ctx, tx, r) })
}
