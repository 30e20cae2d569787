// Package domain holds the words every layer shares: the states of a case
// and the workflow between them, the roles of staff, who acts (the actor
// and its string form in the audit log), the audit actions and the
// confidentiality marker of answers. It imports nothing of ours, so the
// store, the services and the HTTP layer all speak it; no Go string
// literal elsewhere spells a status, role or action (a test scans for
// them; SQL constants keep the column defaults of the migrations).
package domain

import (
	"slices"
	"strconv"
	"strings"
)

// Status is the state of a case (a submission in the back office). The
// values are stored in submission.status and case_event.status, shown by
// the API and used in inbox URLs, so they never change.
type Status string

// The states of a case.
const (
	Received   Status = "eingegangen"    // submitted, nobody has started on it
	InProgress Status = "in_bearbeitung" // staff work on it
	Question   Status = "rueckfrage"     // a Rückfrage waits for the citizen's answer
	Done       Status = "abgeschlossen"  // decided in the citizen's favour, closed
	Rejected   Status = "abgelehnt"      // decided against, closed
)

// Statuses are the states in workflow order, as lists show them.
var Statuses = []Status{Received, InProgress, Question, Done, Rejected}

// transitions are the workflow staff may move a case along:
// eingegangen → in Bearbeitung → Rückfrage → in Bearbeitung → abgeschlossen
// | abgelehnt. The citizen's answer to a Rückfrage moves it from Question
// back to InProgress too (see AnswerReturnsTo).
var transitions = map[Status][]Status{
	Received:   {InProgress},
	InProgress: {Question, Done, Rejected},
	Question:   {InProgress},
}

// AnswerReturnsTo is the state a case enters when the citizen answers its
// Rückfrage.
const AnswerReturnsTo = InProgress

// ParseStatus returns the status spelled s. ok is false for anything that
// is not one of Statuses.
func ParseStatus(s string) (Status, bool) {
	st := Status(s)
	return st, st.Valid()
}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// Next returns the states a case in s may move to, in the order a form
// offers them (the first is the usual next step).
func (s Status) Next() []Status { return transitions[s] }

// MayBecome reports whether the workflow allows a case in s to move to
// to.
func (s Status) MayBecome(to Status) bool { return slices.Contains(transitions[s], to) }

// Closed reports whether s ends a case: its retention period counts from
// the moment it entered it.
func (s Status) Closed() bool { return s == Done || s == Rejected }

// Role is what a staff member does in their office, and so what they may
// read and change.
type Role string

// The roles of staff.
const (
	Admin      Role = "admin"      // manages the office's accounts, settings and audit log; no medical answers
	Caseworker Role = "caseworker" // Sachbearbeitung: processes cases; no medical answers
	Physician  Role = "physician"  // Ärztin/Arzt: reads the answers and files marked medical
)

// Roles are every role, in the order the admin's form offers them.
var Roles = []Role{Caseworker, Physician, Admin}

// ParseRole returns the role spelled s; ok is false for anything else.
func ParseRole(s string) (Role, bool) {
	r := Role(s)
	return r, slices.Contains(Roles, r)
}

// ReadsMedical reports whether r may read what is marked Medical.
func (r Role) ReadsMedical() bool { return r == Physician }

// Confidentiality marks what only some readers may see: an answer whose
// field says confidential: medical in its form definition, a file of such
// a field, and a physician's Rückfrage with its answer.
type Confidentiality string

// The markers. Medical is the word form definitions use
// (forms.ConfidentialMedical; a test keeps the two equal).
const (
	Open    Confidentiality = ""
	Medical Confidentiality = "medical"
)

// ActorKind says what kind of party an Actor is.
type ActorKind uint8

// The kinds of actors.
const (
	NoActor ActorKind = iota
	StaffActor
	TokenActor   // an API token of a Fachverfahren
	CitizenActor // the person a case belongs to, through their access link
	SystemActor  // the portal itself: retention, mail delivery, backups
)

// Actor is who does something: a staff member, an API token, the citizen
// or the system. Its string form names it in the audit log.
type Actor struct {
	Kind ActorKind
	ID   int64 // of the staff member or token; 0 for the citizen and the system
}

// StaffMember, Token, Citizen and System make an Actor.
func StaffMember(id int64) Actor { return Actor{Kind: StaffActor, ID: id} }
func Token(id int64) Actor       { return Actor{Kind: TokenActor, ID: id} }

var (
	Citizen = Actor{Kind: CitizenActor}
	System  = Actor{Kind: SystemActor}
)

// StaffID returns the staff member's id, 0 for any other actor.
func (a Actor) StaffID() int64 {
	if a.Kind == StaffActor {
		return a.ID
	}
	return 0
}

// TokenID returns the API token's id, 0 for any other actor.
func (a Actor) TokenID() int64 {
	if a.Kind == TokenActor {
		return a.ID
	}
	return 0
}

// String names the actor in the audit log: "staff:12", "token:3",
// "citizen" or "system" ("" for the zero Actor).
func (a Actor) String() string {
	switch a.Kind {
	case StaffActor:
		return "staff:" + strconv.FormatInt(a.ID, 10)
	case TokenActor:
		return "token:" + strconv.FormatInt(a.ID, 10)
	case CitizenActor:
		return "citizen"
	case SystemActor:
		return "system"
	}
	return ""
}

// ParseActor reads the string form of an actor back; ok is false for
// anything String does not make.
func ParseActor(s string) (Actor, bool) {
	switch s {
	case "citizen":
		return Citizen, true
	case "system":
		return System, true
	}
	kind, id, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || n <= 0 || strconv.FormatInt(n, 10) != id {
		return Actor{}, false
	}
	switch kind {
	case "staff":
		return StaffMember(n), true
	case "token":
		return Token(n), true
	}
	return Actor{}, false
}

// Object names what an audit entry is about: "submission:42",
// "attachment:7", "staff:3", "backup:<time>"; "" for none.
type Object string

// CaseObject, AttachmentObject, StaffObject and VideoObject name a
// submission, an attachment, a staff account and a video consultation in
// the audit log.
func CaseObject(id int64) Object       { return Object("submission:" + strconv.FormatInt(id, 10)) }
func AttachmentObject(id int64) Object { return Object("attachment:" + strconv.FormatInt(id, 10)) }
func StaffObject(id int64) Object      { return Object("staff:" + strconv.FormatInt(id, 10)) }
func VideoObject(id int64) Object      { return Object("video:" + strconv.FormatInt(id, 10)) }

// AppointmentObject names an appointment (a booking) in the audit log.
func AppointmentObject(id int64) Object { return Object("appointment:" + strconv.FormatInt(id, 10)) }

// CalendarObject names an office's calendar by its id.
func CalendarObject(id int64) Object { return Object("calendar:" + strconv.FormatInt(id, 10)) }

// BackupObject names a backup by the time it was made (RFC 3339).
func BackupObject(at string) Object { return Object("backup:" + at) }

// ServiceObject names a service of the catalogue by its slug.
func ServiceObject(slug string) Object { return Object("service:" + slug) }
