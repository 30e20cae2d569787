// Package video is the service of video consultations (Videosprechstunde):
// staff plan them from a case, the citizen gets an invitation mail with a
// join link, staff re-send, move and cancel them and invite a guest (an
// interpreter, a companion). Every rule about who may do what with a
// consultation lives here, once.
//
//   - video.go: the service, who works with it (Access), the join window;
//   - consultation.go: planning and changing consultations, each change
//     with its mail, timeline event and audit entry in one transaction;
//   - read.go: the office's list, a consultation's page, a join link.
//
// What is kept is metadata (store/video.go); media, chat and screen
// content never reach the database. The media itself is package sfu.
package video

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
)

// The join window: a link opens OpensBefore the planned start and works
// until ClosesAfter it (whatever the planned length), so a late start or
// a long talk is not cut off.
const (
	OpensBefore = 30 * time.Minute
	ClosesAfter = 2 * time.Hour
)

// Mailer enqueues a consultation's mails inside the transaction of the
// change that causes them (mail.Notifier).
type Mailer interface {
	Video(ctx context.Context, tx pgx.Tx, m mail.VideoMail) error
}

// Service plans, changes and reads video consultations. It is safe for
// concurrent use.
type Service struct {
	db   *store.DB
	box  *crypto.Box // seals the links' tokens and contacts
	mail Mailer      // nil: no mails (tests of the rules alone)
	// secret signs the tickets of the landing page (PORTAL_SECRET_KEY).
	secret []byte
	now    func() time.Time
}

// Options are what the service is built from.
type Options struct {
	DB   *store.DB
	Box  *crypto.Box // PORTAL_ENCRYPTION_KEY's box
	Mail Mailer
	// Secret signs the landing page's tickets into the waiting room.
	Secret []byte
	// Now is the clock of join windows and plans; nil: the system clock.
	Now func() time.Time
}

// New returns the video consultation service.
func New(o Options) *Service {
	s := &Service{db: o.DB, box: o.Box, mail: o.Mail, secret: o.Secret, now: o.Now}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Access is a staff member working with consultations: their office
// (never another's), who they are in the audit log, and their role.
type Access struct {
	OfficeID int64
	StaffID  int64
	Name     string
	Role     domain.Role
}

// StaffAccess is the access of a logged-in staff member.
func StaffAccess(st auth.Staff) Access {
	return Access{OfficeID: st.OfficeID, StaffID: st.ID, Name: st.Name, Role: st.Role}
}

// Actor is who acts, for the audit log.
func (a Access) Actor() domain.Actor { return domain.StaffMember(a.StaffID) }

// MayTakePart reports whether a may plan, change and join consultations:
// caseworkers and physicians; admins see the list only.
func (a Access) MayTakePart() bool { return a.Role == domain.Caseworker || a.Role == domain.Physician }

// Window is where a moment lies in a consultation's life, as its join
// link shows it.
type Window int

const (
	Early     Window = iota // before the link opens: the page says when
	Open                    // the link lets its holder in
	Over                    // past ClosesAfter
	Cancelled               // staff cancelled it
	Ended                   // staff ended it for everyone
)

// WindowOf is where now lies for consultation c.
func WindowOf(c store.Consultation, now time.Time) Window {
	switch {
	case c.State == store.VideoCancelled:
		return Cancelled
	case c.State == store.VideoEnded:
		return Ended
	case now.Before(c.StartsAt.Add(-OpensBefore)):
		return Early
	case !now.Before(c.StartsAt.Add(ClosesAfter)):
		return Over
	}
	return Open
}

// OpensAt is when c's links open.
func OpensAt(c store.Consultation) time.Time { return c.StartsAt.Add(-OpensBefore) }

var errUnknownLink = fault.New(fault.NotFound, "video: open link", "")
