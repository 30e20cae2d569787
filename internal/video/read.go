package video

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// MaxListed is how many consultations the office's list shows at most.
const MaxListed = 200

// List returns the consultations of a's office from from (the start of
// today, say) for the next days, with who waits now. Every staff member
// of the office may see it, admins too.
func (s *Service) List(ctx context.Context, a Access, from time.Time, days int) ([]store.ConsultationRow, error) {
	return store.ListConsultations(ctx, s.db, a.OfficeID, from, from.AddDate(0, 0, days), MaxListed)
}

// OfCase returns the consultations about case caseID of a's office,
// latest first.
func (s *Service) OfCase(ctx context.Context, a Access, caseID int64) ([]store.Consultation, error) {
	return store.ListCaseConsultations(ctx, s.db, a.OfficeID, caseID)
}

// Detail is a consultation as its staff page shows it.
type Detail struct {
	Consultation store.Consultation
	Window       Window
	Links        []Link           // the patient's first, then the guests
	Presence     []store.Presence // what happened, oldest first
}

// Link is a join link as staff see it. A link without an address was
// mailed to nobody: its token is there for staff to pass on (read out on
// the phone, given to the interpreter). A mailed link's token is not.
type Link struct {
	store.VideoLink
	Token string // "" for a mailed link
}

// Get returns consultation id of a's office with its links and metadata;
// the tokens of links mailed to nobody while they can still be used,
// for those who take part (not admins).
// Errors: NotFound (no such consultation in the office).
func (s *Service) Get(ctx context.Context, a Access, id int64) (Detail, error) {
	c, err := store.GetConsultation(ctx, s.db, a.OfficeID, id)
	if err != nil {
		return Detail{}, err
	}
	d := Detail{Consultation: c, Window: WindowOf(c, s.now())}
	links, err := store.ListVideoLinks(ctx, s.db, a.OfficeID, id)
	if err != nil {
		return Detail{}, err
	}
	for _, l := range links {
		v := Link{VideoLink: l}
		if l.ContactSealed == nil && d.Window <= Open && a.MayTakePart() {
			t, err := s.box.Open(l.TokenSealed, tokenAAD(c.OfficeID))
			if err != nil {
				return Detail{}, fmt.Errorf("video: open the token of link %d: %w", l.ID, err)
			}
			v.Token = string(t)
		}
		d.Links = append(d.Links, v)
	}
	if d.Presence, err = store.ListPresence(ctx, s.db, a.OfficeID, id); err != nil {
		return Detail{}, err
	}
	return d, nil
}

// Join is what a join link opens: the link, its consultation, the office
// that holds it, and where now lies in its window.
type Join struct {
	Link         store.VideoLink
	Consultation store.Consultation
	Office       store.Office
	Window       Window
}

// OpenLink returns what the link with token opens. The token is the
// holder's whole authority: it reaches its one consultation and nothing
// else. Errors: NotFound (a malformed or unknown token; a deleted
// consultation's links are unknown).
func (s *Service) OpenLink(ctx context.Context, token string) (Join, error) {
	l, c, err := s.link(ctx, token)
	if err != nil {
		return Join{}, err
	}
	o, err := store.GetOffice(ctx, s.db, c.OfficeID)
	if err != nil {
		return Join{}, err
	}
	return Join{Link: l, Consultation: c, Office: o, Window: WindowOf(c, s.now())}, nil
}

// link returns the link with token and its consultation. Errors:
// NotFound (a malformed or unknown token).
func (s *Service) link(ctx context.Context, token string) (store.VideoLink, store.Consultation, error) {
	t, ok := submission.ParseToken(token)
	if !ok {
		return store.VideoLink{}, store.Consultation{}, errUnknownLink
	}
	return store.GetVideoLinkByToken(ctx, s.db, submission.HashToken(t))
}

// MaxName is the longest name a link's holder shows in the call.
const MaxName = 60

// Message ids of the landing page's errors.
const (
	MsgConsent = "video.error.consent" // the consent was not given
	MsgName    = "video.error.name"    // no name, or one too long
)

// Consent is the landing page's step: the holder of token agreed to the
// processing of their data for the consultation (Art. 9(2)(a) GDPR) and
// gave the name to show. It returns the consultation and a ticket that
// lets them into its waiting room under that name until the link closes,
// so a call that drops late reconnects with it.
// Errors: NotFound (unknown link), Conflict (the link is not open now:
// Join.Window says why), Invalid (MsgConsent, MsgName).
func (s *Service) Consent(ctx context.Context, token string, consent bool, name string) (Join, string, error) {
	j, err := s.OpenLink(ctx, token)
	if err != nil {
		return Join{}, "", err
	}
	if j.Window != Open {
		return j, "", fault.New(fault.Conflict, "video: consent", "")
	}
	name = strings.Join(strings.Fields(name), " ")
	switch {
	case !consent:
		return j, "", fault.New(fault.Invalid, "video: consent", MsgConsent)
	case name == "" || utf8.RuneCountInString(name) > MaxName:
		return j, "", fault.New(fault.Invalid, "video: consent", MsgName)
	}
	return j, s.ticket(j.Link.ID, name, j.Consultation.StartsAt.Add(ClosesAfter)), nil
}

// ticket signs link id, name and expiry: "<expiry>.<base64 name>.<mac>".
func (s *Service) ticket(linkID int64, name string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	enc := base64.RawURLEncoding.EncodeToString([]byte(name))
	return exp + "." + enc + "." + s.ticketMAC(linkID, exp, enc)
}

func (s *Service) ticketMAC(linkID int64, exp, enc string) string {
	m := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(m, "portal-video-ticket\x00%d\x00%s\x00%s", linkID, exp, enc)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckTicket returns the name a ticket for link linkID carries, if it
// is one this service signed and it has not expired.
func (s *Service) CheckTicket(linkID int64, ticket string) (string, bool) {
	if len(ticket) > 300 {
		return "", false
	}
	exp, rest, ok := strings.Cut(ticket, ".")
	enc, mac, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return "", false
	}
	if !hmac.Equal([]byte(mac), []byte(s.ticketMAC(linkID, exp, enc))) {
		return "", false
	}
	at, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !s.now().Before(time.Unix(at, 0)) {
		return "", false
	}
	name, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", false
	}
	return string(name), true
}
