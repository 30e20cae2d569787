package mail

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/gesundheitsamt/portal/internal/audit"
	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// Notifier enqueues the mails of case events (submission.Events and
// inbox.Events), saved drafts, video consultations (Video, video.go) and
// appointment bookings (Booking, booking.go):
// the citizen's and the notice to the office, each in the transaction of
// the event that causes it.
type Notifier struct {
	client *river.Client[pgx.Tx]
	box    *crypto.Box // seals what a resume link's, a video mail's and a booking mail's job carry
	secret []byte      // keys the daily count of each recipient's mails
}

// NewNotifier returns a Notifier inserting jobs through client; box seals
// the address and link of resume mails; secret (PORTAL_SECRET_KEY) keys
// the count of each recipient's mails.
func NewNotifier(client *river.Client[pgx.Tx], box *crypto.Box, secret []byte) *Notifier {
	return &Notifier{client: client, box: box, secret: secret}
}

// RecipientPerDay is how many receipts, resume links and booking
// confirmations one address gets in a day (on the database's clock): the
// mails anyone can cause by typing an address, so the portal cannot be
// used to flood a stranger.
// A family or a Kita sending a dozen forms stays well under it. Mails
// staff cause (status changes, Rückfragen) are not counted.
const RecipientPerDay = 20

// MsgRecipientCapped is shown when a resume link is not sent: the address
// had its mails of the day.
const MsgRecipientCapped = "form.saved.mail.capped"

// underCap counts a mail to addr in the day, in the transaction of the
// event that causes it (a rolled-back event counts nothing), and reports
// whether the address is still under RecipientPerDay.
func (n *Notifier) underCap(ctx context.Context, tx pgx.Tx, addr string) (bool, error) {
	m := hmac.New(sha256.New, n.secret)
	m.Write([]byte("mail-recipient\x00" + strings.ToLower(strings.TrimSpace(addr))))
	count, err := store.CountEvent(ctx, tx, m.Sum(nil)[:20], 24*time.Hour)
	if err != nil {
		return false, fmt.Errorf("mail: count the recipient's mails: %w", err)
	}
	return count <= RecipientPerDay, nil
}

// ResumeLink enqueues the mail with a saved draft's resume link: one per
// draft and minute (a double click sends one). Errors: Invalid
// (MsgRecipientCapped: nothing is sent to that address today).
func (n *Notifier) ResumeLink(ctx context.Context, tx pgx.Tx, r submission.ResumeRequest) error {
	if ok, err := n.underCap(ctx, tx, r.To); err != nil || !ok {
		if err != nil {
			return err
		}
		return fault.New(fault.Invalid, "mail: resume link: recipient over the daily cap", MsgRecipientCapped)
	}
	key := fmt.Sprintf("resume:%d:%d", r.DraftID, time.Now().Unix()/60)
	data, err := json.Marshal(resumeData{To: r.To, Token: r.Token, Lang: r.Lang, Service: r.ServiceSlug, Expires: r.Expires})
	if err != nil {
		return err
	}
	sealed, err := n.box.Seal(data, resumeAAD(key))
	if err != nil {
		return err
	}
	_, err = n.client.InsertTx(ctx, tx, Args{Key: key, Template: TemplateResume, OfficeID: r.OfficeID, Sealed: sealed}, insertOpts())
	if err != nil {
		return fmt.Errorf("mail: enqueue resume link: %w", err)
	}
	return nil
}

// Submitted enqueues the receipt to the citizen and the notice to the
// office. A receipt to an address that had its mails of the day is not
// sent; the case's timeline says so (the citizen has the receipt page).
func (n *Notifier) Submitted(ctx context.Context, tx pgx.Tx, sub store.Submission) error {
	id := strconv.FormatInt(sub.ID, 10)
	// Both in one insert: one round trip per submission.
	params := []river.InsertManyParams{{Args: Args{Key: "office:" + id, Template: TemplateOfficeNew, OfficeID: sub.OfficeID, SubmissionID: sub.ID}, InsertOpts: insertOpts()}}
	if sub.ContactEmail != "" {
		ok, err := n.underCap(ctx, tx, sub.ContactEmail)
		if err != nil {
			return err
		}
		if ok {
			params = append(params, river.InsertManyParams{Args: Args{Key: "receipt:" + id, Template: TemplateReceipt, OfficeID: sub.OfficeID, SubmissionID: sub.ID}, InsertOpts: insertOpts()})
		} else if _, err := store.InsertEvent(ctx, tx, sub.OfficeID, sub.ID, store.Event{Kind: store.EventMailCapped, Internal: true}); err != nil {
			return err
		}
	}
	if _, err := n.client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("mail: enqueue receipt and office notice: %w", err)
	}
	return nil
}

// StatusChanged enqueues the mail of a status change made by the office.
func (n *Notifier) StatusChanged(ctx context.Context, tx pgx.Tx, sub store.Submission) error {
	tmpl := TemplateStatus
	if sub.Status == domain.Question {
		tmpl = TemplateQuestion
	}
	return n.enqueue(ctx, tx, sub, tmpl, fmt.Sprintf("status:%d:%d", sub.ID, sub.Version))
}

// Offered enqueues the mail that tells the citizen of case sub that the
// office offers appointments (offer offerID): a link to the status page,
// where the slots are, and nothing of the case.
func (n *Notifier) Offered(ctx context.Context, tx pgx.Tx, sub store.Submission, offerID int64) error {
	return n.enqueue(ctx, tx, sub, TemplateOffered, fmt.Sprintf("offered:%d:%d", sub.ID, offerID))
}

// Answered sends nothing: the citizen knows they answered (the page said so).
func (n *Notifier) Answered(context.Context, pgx.Tx, store.Submission) error { return nil }

func (n *Notifier) enqueue(ctx context.Context, tx pgx.Tx, sub store.Submission, tmpl, key string) error {
	if sub.ContactEmail == "" {
		return nil // the form asked for no address
	}
	_, err := n.client.InsertTx(ctx, tx, Args{Key: key, Template: tmpl, OfficeID: sub.OfficeID, SubmissionID: sub.ID}, insertOpts())
	if err != nil {
		return fmt.Errorf("mail: enqueue %s: %w", key, err)
	}
	return nil
}

// SetOfficeNotify sets how office officeID hears of new cases (mode:
// store.NotifyEach, NotifyDaily or NotifyOff), by an admin of the office,
// with the audit entry in the same transaction. Errors: Invalid (another
// mode).
func SetOfficeNotify(ctx context.Context, db *store.DB, officeID int64, by domain.Actor, mode string) error {
	return db.InTx(ctx, func(tx pgx.Tx) error {
		if err := store.SetOfficeNotify(ctx, tx, officeID, mode); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{OfficeID: officeID, Actor: by, Action: domain.OfficeNotify(mode)})
	})
}
