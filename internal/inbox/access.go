package inbox

import (
	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/store"
)

// Access is who works on cases and what they may see: the office whose
// cases they reach (never another's), who they are in the audit log, and
// whether what is marked medical is theirs to read. Every method of the
// Service takes one; the HTTP layer makes it with StaffAccess or
// TokenAccess and nothing else.
type Access struct {
	OfficeID int64
	Actor    domain.Actor
	// Medical: the answers and files marked confidential: medical, a
	// physician's Rückfrage and its answer are readable; a Rückfrage asked
	// with this access is itself confidential.
	Medical bool
}

// StaffAccess is the access of a logged-in staff member: their office,
// and medical content for physicians only.
func StaffAccess(st auth.Staff) Access {
	return Access{OfficeID: st.OfficeID, Actor: st.Actor(), Medical: st.Role.ReadsMedical()}
}

// TokenAccess is the access of an API token: its office, and medical
// content with the medical:read scope only.
func TokenAccess(t auth.Token) Access {
	return Access{OfficeID: t.OfficeID, Actor: t.Actor(), Medical: t.Has(auth.ScopeMedicalRead)}
}

// mayRead reports whether a may read what is marked c.
func (a Access) mayRead(c domain.Confidentiality) bool {
	return c != domain.Medical || a.Medical
}

// fieldMarker is the confidentiality of field fd's answers (Open for a
// field of another form version that no longer exists).
func fieldMarker(fd *forms.Field) domain.Confidentiality {
	if fd == nil {
		return domain.Open
	}
	return domain.Confidentiality(fd.Confidential)
}

// fileMarker is the confidentiality of attachment f of a case of form
// form: medical when its field says so, or when it was sent with the
// answer to a physician's Rückfrage.
func fileMarker(form *forms.Form, f store.File) domain.Confidentiality {
	if f.Confidential {
		return domain.Medical
	}
	fd, _ := form.Field(f.FieldID)
	return fieldMarker(fd)
}

// eventMarker is the confidentiality of an event's message: a
// physician's Rückfrage and the answer to it are medical.
func eventMarker(ev store.Event) domain.Confidentiality {
	if ev.Confidential {
		return domain.Medical
	}
	return domain.Open
}
