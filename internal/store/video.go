package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The states of a video consultation (video_consultation.state).
const (
	VideoPlanned   = "planned"   // its links work in their window
	VideoCancelled = "cancelled" // staff cancelled it; the links show so
	VideoEnded     = "ended"     // staff ended it for everyone
)

// The kinds of join links (video_link.kind).
const (
	LinkPatient = "patient" // the citizen's, sent with the invitation
	LinkGuest   = "guest"   // an interpreter's or a companion's, named by staff
)

// The kinds of a consultation's metadata (video_presence.kind).
const (
	PresenceWaiting  = "waiting"  // a link's holder entered the waiting room
	PresenceAdmitted = "admitted" // staff admitted them
	PresenceDenied   = "denied"   // staff turned them away
	PresenceJoined   = "joined"   // a staff member joined the call
	PresenceRejoined = "rejoined" // a link's holder came back within a minute, without admission
	PresenceLeft     = "left"     // someone left
	PresenceEnded    = "ended"    // staff ended the call for everyone
)

// Consultation is a video consultation of an office.
type Consultation struct {
	ID           int64
	OfficeID     int64
	SubmissionID int64 // 0: not about a case (or the case was deleted)
	StartsAt     time.Time
	Minutes      int
	State        string // VideoPlanned, VideoCancelled, VideoEnded
	CreatedBy    int64  // 0: not made by staff (a booking)
	BookingID    int64  // the video appointment that made it; 0: planned by staff (or the booking was deleted)
	CreatedAt    time.Time
	EndedAt      *time.Time
	Sequence     int    // changes the citizen's calendar follows (ICS SEQUENCE)
	Mails        int    // mails sent about it
	Node         string // the process holding the call's media ("" while none does)
	Reference    string // read only: the case's reference number, "" without a case
	CreatorName  string // read only: who planned it
}

// Ends is when the consultation is planned to end.
func (c Consultation) Ends() time.Time { return c.StartsAt.Add(time.Duration(c.Minutes) * time.Minute) }

const consultationColumns = `c.id, c.office_id, coalesce(c.submission_id, 0), c.starts_at, c.minutes, c.state,
    coalesce(c.created_by, 0), coalesce(c.booking_id, 0), c.created_at, c.ended_at, c.sequence, c.mails, c.node,
    coalesce(s.reference, ''), coalesce(st.name, '')`

const consultationJoins = ` FROM video_consultation c
    LEFT JOIN submission s ON s.id = c.submission_id AND s.office_id = c.office_id
    LEFT JOIN staff st ON st.id = c.created_by AND st.office_id = c.office_id`

func scanConsultation(row pgx.Row) (Consultation, error) {
	var c Consultation
	err := row.Scan(&c.ID, &c.OfficeID, &c.SubmissionID, &c.StartsAt, &c.Minutes, &c.State,
		&c.CreatedBy, &c.BookingID, &c.CreatedAt, &c.EndedAt, &c.Sequence, &c.Mails, &c.Node, &c.Reference, &c.CreatorName)
	return c, err
}

const insertConsultation = `
INSERT INTO video_consultation (office_id, submission_id, starts_at, minutes, created_by, booking_id)
VALUES ($1, nullif($2, 0::bigint), $3, $4, nullif($5, 0::bigint), nullif($6, 0::bigint))
RETURNING id, created_at`

// InsertConsultation stores a planned consultation c and returns it with
// its id.
func InsertConsultation(ctx context.Context, q Querier, c Consultation) (Consultation, error) {
	c.State = VideoPlanned
	err := q.QueryRow(ctx, insertConsultation, c.OfficeID, c.SubmissionID, c.StartsAt, c.Minutes, c.CreatedBy, c.BookingID).Scan(&c.ID, &c.CreatedAt)
	if err != nil {
		return Consultation{}, fmt.Errorf("store: insert consultation: %w", err)
	}
	return c, nil
}

var getConsultation = `SELECT ` + consultationColumns + consultationJoins + ` WHERE c.id = $1 AND c.office_id = $2`

// GetConsultation returns consultation id of office officeID; another
// office's is NotFound, like one that does not exist.
func GetConsultation(ctx context.Context, q Querier, officeID, id int64) (Consultation, error) {
	c, err := scanConsultation(q.QueryRow(ctx, getConsultation, id, officeID))
	if err != nil {
		return Consultation{}, notFound("store: get consultation", err)
	}
	return c, nil
}

var lockConsultation = getConsultation + ` FOR UPDATE OF c`

var lockBookingConsultation = `SELECT ` + consultationColumns + consultationJoins + ` WHERE c.booking_id = $1 AND c.office_id = $2 FOR UPDATE OF c`

// LockBookingConsultation returns the consultation that booking
// bookingID of office officeID made, and locks it until tx ends.
// Errors: NotFound (none: not a video appointment, or not booked yet).
func LockBookingConsultation(ctx context.Context, tx pgx.Tx, officeID, bookingID int64) (Consultation, error) {
	c, err := scanConsultation(tx.QueryRow(ctx, lockBookingConsultation, bookingID, officeID))
	if err != nil {
		return Consultation{}, notFound("store: lock the consultation of a booking", err)
	}
	return c, nil
}

var getBookingConsultation = `SELECT ` + consultationColumns + consultationJoins + ` WHERE c.booking_id = $1 AND c.office_id = $2`

// GetBookingConsultation returns the consultation that booking bookingID
// of office officeID made. Errors: NotFound.
func GetBookingConsultation(ctx context.Context, q Querier, officeID, bookingID int64) (Consultation, error) {
	c, err := scanConsultation(q.QueryRow(ctx, getBookingConsultation, bookingID, officeID))
	if err != nil {
		return Consultation{}, notFound("store: get the consultation of a booking", err)
	}
	return c, nil
}

// LockConsultation returns consultation id of office officeID, locked
// until the transaction ends: changes of one consultation (its time, its
// mail count) happen one after another. Errors: NotFound.
func LockConsultation(ctx context.Context, tx pgx.Tx, officeID, id int64) (Consultation, error) {
	c, err := scanConsultation(tx.QueryRow(ctx, lockConsultation, id, officeID))
	if err != nil {
		return Consultation{}, notFound("store: lock consultation", err)
	}
	return c, nil
}

// ConsultationRow is a consultation in the office's list, with how many
// link holders wait in its waiting room now.
type ConsultationRow struct {
	Consultation
	Waiting int
}

// waitingNow counts the links of a planned consultation whose last
// metadata is "waiting".
const waitingNow = `(SELECT count(*) FROM video_link l WHERE c.state = 'planned' AND l.consultation_id = c.id AND (
    SELECT p.kind FROM video_presence p WHERE p.link_id = l.id ORDER BY p.at DESC, p.id DESC LIMIT 1) = 'waiting')`

var listConsultations = `SELECT ` + consultationColumns + `, ` + waitingNow + consultationJoins + `
WHERE c.office_id = $1 AND c.starts_at >= $2 AND c.starts_at < $3
ORDER BY c.starts_at, c.id
LIMIT $4`

// ListConsultations returns the consultations of office officeID that
// start in [from, to), earliest first, at most limit.
func ListConsultations(ctx context.Context, q Querier, officeID int64, from, to time.Time, limit int) ([]ConsultationRow, error) {
	rows, err := q.Query(ctx, listConsultations, officeID, from, to, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list consultations: %w", err)
	}
	defer rows.Close()
	var out []ConsultationRow
	for rows.Next() {
		var r ConsultationRow
		c := &r.Consultation
		if err := rows.Scan(&c.ID, &c.OfficeID, &c.SubmissionID, &c.StartsAt, &c.Minutes, &c.State,
			&c.CreatedBy, &c.BookingID, &c.CreatedAt, &c.EndedAt, &c.Sequence, &c.Mails, &c.Node, &c.Reference, &c.CreatorName, &r.Waiting); err != nil {
			return nil, fmt.Errorf("store: list consultations: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list consultations: %w", err)
	}
	return out, nil
}

var listCaseConsultations = `SELECT ` + consultationColumns + consultationJoins + `
WHERE c.office_id = $1 AND c.submission_id = $2
ORDER BY c.starts_at DESC, c.id DESC`

// ListCaseConsultations returns the consultations about submission
// caseID of office officeID, latest first.
func ListCaseConsultations(ctx context.Context, q Querier, officeID, caseID int64) ([]Consultation, error) {
	rows, err := q.Query(ctx, listCaseConsultations, officeID, caseID)
	if err != nil {
		return nil, fmt.Errorf("store: list consultations of a case: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Consultation, error) { return scanConsultation(r) })
	if err != nil {
		return nil, fmt.Errorf("store: list consultations of a case: %w", err)
	}
	return out, nil
}

// rescheduleConsultation moves the consultation and starts its links
// afresh: a call at the new time is another call, so who was turned away
// or let in at the old time waits in the waiting room like everyone.
const rescheduleConsultation = `
WITH moved AS (
    UPDATE video_consultation SET starts_at = $3, minutes = $4, sequence = sequence + 1
    WHERE id = $1 AND office_id = $2 AND state = 'planned'
    RETURNING id, sequence
), fresh AS (
    UPDATE video_link SET denied = false, rejoin_until = NULL
    WHERE office_id = $2 AND consultation_id IN (SELECT id FROM moved)
)
SELECT sequence FROM moved`

// RescheduleConsultation moves planned consultation id of office
// officeID to start at start for minutes and returns its new sequence;
// ok is false when it is not planned (cancelled or ended). Staff's
// decisions about its links' holders (denied, rejoin) are cleared.
func RescheduleConsultation(ctx context.Context, q Querier, officeID, id int64, start time.Time, minutes int) (seq int, ok bool, err error) {
	err = q.QueryRow(ctx, rescheduleConsultation, id, officeID, start, minutes).Scan(&seq)
	if isNoRows(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: reschedule consultation: %w", err)
	}
	return seq, true, nil
}

const reopenConsultation = `
WITH opened AS (
    UPDATE video_consultation SET state = 'planned', ended_at = NULL, starts_at = $3, minutes = $4, sequence = sequence + 1
    WHERE id = $1 AND office_id = $2 AND state = 'cancelled'
    RETURNING id, sequence
), fresh AS (
    UPDATE video_link SET denied = false, rejoin_until = NULL
    WHERE office_id = $2 AND consultation_id IN (SELECT id FROM opened)
)
SELECT sequence FROM opened`

// ReopenConsultation plans cancelled consultation id of office officeID
// again, at start for minutes (a video appointment moved on site and
// back), with staff's decisions about its links cleared; ok is false
// when it is not cancelled.
func ReopenConsultation(ctx context.Context, q Querier, officeID, id int64, start time.Time, minutes int) (seq int, ok bool, err error) {
	err = q.QueryRow(ctx, reopenConsultation, id, officeID, start, minutes).Scan(&seq)
	if isNoRows(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: reopen consultation: %w", err)
	}
	return seq, true, nil
}

const closeConsultation = `
UPDATE video_consultation SET state = $3, ended_at = $4, sequence = sequence + CASE WHEN $3 = 'cancelled' THEN 1 ELSE 0 END
WHERE id = $1 AND office_id = $2 AND state = 'planned'
RETURNING sequence`

// CloseConsultation moves planned consultation id of office officeID to
// state (VideoCancelled, VideoEnded) at at, and returns its sequence (one
// more for a cancellation, which calendars must follow); ok is false
// when it was not planned.
func CloseConsultation(ctx context.Context, q Querier, officeID, id int64, state string, at time.Time) (seq int, ok bool, err error) {
	err = q.QueryRow(ctx, closeConsultation, id, officeID, state, at).Scan(&seq)
	if isNoRows(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: close consultation: %w", err)
	}
	return seq, true, nil
}

const countConsultationMail = `
UPDATE video_consultation SET mails = mails + 1 WHERE id = $1 AND office_id = $2 RETURNING mails`

// CountConsultationMail counts one more mail about consultation id of
// office officeID and returns the count: the mail's own number, which
// makes its job's key unique.
func CountConsultationMail(ctx context.Context, q Querier, officeID, id int64) (int, error) {
	var n int
	if err := q.QueryRow(ctx, countConsultationMail, id, officeID).Scan(&n); err != nil {
		return 0, notFound("store: count consultation mail", err)
	}
	return n, nil
}

// VideoLink is a join link of a consultation.
type VideoLink struct {
	ID             int64
	ConsultationID int64
	OfficeID       int64
	Kind           string // LinkPatient, LinkGuest
	Name           string // a guest's name as staff gave it; "" for the patient
	TokenSealed    []byte
	ContactSealed  []byte // where its mails go, sealed; nil: nowhere
	CreatedAt      time.Time
	// RejoinUntil is until when the holder, let into the call, comes
	// back without admission (nil: never let in, or turned away since).
	RejoinUntil *time.Time
	Denied      bool // turned away from the call for good
}

const insertVideoLink = `
INSERT INTO video_link (consultation_id, office_id, token_hash, token_sealed, contact_sealed, kind, name)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, created_at`

// InsertVideoLink stores link l of a consultation, found by tokenHash,
// and returns it with its id.
func InsertVideoLink(ctx context.Context, q Querier, tokenHash []byte, l VideoLink) (VideoLink, error) {
	err := q.QueryRow(ctx, insertVideoLink, l.ConsultationID, l.OfficeID, tokenHash, l.TokenSealed, l.ContactSealed, l.Kind, l.Name).Scan(&l.ID, &l.CreatedAt)
	if err != nil {
		return VideoLink{}, fmt.Errorf("store: insert video link: %w", err)
	}
	return l, nil
}

const linkColumns = `l.id, l.consultation_id, l.office_id, l.kind, l.name, l.token_sealed, l.contact_sealed, l.created_at,
    l.rejoin_until, l.denied`

func scanLink(row pgx.Row, l *VideoLink, more ...any) error {
	return row.Scan(append([]any{&l.ID, &l.ConsultationID, &l.OfficeID, &l.Kind, &l.Name, &l.TokenSealed, &l.ContactSealed, &l.CreatedAt,
		&l.RejoinUntil, &l.Denied}, more...)...)
}

var getVideoLinkByToken = `SELECT ` + linkColumns + `, ` + consultationColumns + `
FROM video_link l JOIN video_consultation c ON c.id = l.consultation_id AND c.office_id = l.office_id
    LEFT JOIN submission s ON s.id = c.submission_id AND s.office_id = c.office_id
    LEFT JOIN staff st ON st.id = c.created_by AND st.office_id = c.office_id
WHERE l.token_hash = $1`

// GetVideoLinkByToken returns the link whose token hashes to tokenHash,
// with its consultation: the token is the whole authority of who holds
// it. Errors: NotFound.
func GetVideoLinkByToken(ctx context.Context, q Querier, tokenHash []byte) (VideoLink, Consultation, error) {
	var l VideoLink
	var c Consultation
	err := scanLink(q.QueryRow(ctx, getVideoLinkByToken, tokenHash), &l,
		&c.ID, &c.OfficeID, &c.SubmissionID, &c.StartsAt, &c.Minutes, &c.State,
		&c.CreatedBy, &c.BookingID, &c.CreatedAt, &c.EndedAt, &c.Sequence, &c.Mails, &c.Node, &c.Reference, &c.CreatorName)
	if err != nil {
		return VideoLink{}, Consultation{}, notFound("store: get video link", err)
	}
	return l, c, nil
}

const listVideoLinks = `SELECT ` + linkColumns + ` FROM video_link l
WHERE l.consultation_id = $1 AND l.office_id = $2 ORDER BY l.id`

// ListVideoLinks returns the links of consultation id of office
// officeID, the patient's first.
func ListVideoLinks(ctx context.Context, q Querier, officeID, id int64) ([]VideoLink, error) {
	rows, err := q.Query(ctx, listVideoLinks, id, officeID)
	if err != nil {
		return nil, fmt.Errorf("store: list video links: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (VideoLink, error) {
		var l VideoLink
		return l, scanLink(r, &l)
	})
	if err != nil {
		return nil, fmt.Errorf("store: list video links: %w", err)
	}
	return out, nil
}

const admitVideoLink = `
UPDATE video_link SET rejoin_until = $4
WHERE id = $3 AND consultation_id = $2 AND office_id = $1 AND NOT denied`

// AdmitVideoLink records that the holder of link linkID of consultation
// consultationID of office officeID was let into the call and comes back
// without admission until until. It reports false when the consultation
// has no such link, or turned it away.
func AdmitVideoLink(ctx context.Context, q Querier, officeID, consultationID, linkID int64, until time.Time) (bool, error) {
	tag, err := q.Exec(ctx, admitVideoLink, officeID, consultationID, linkID, until)
	if err != nil {
		return false, fmt.Errorf("store: admit video link %d: %w", linkID, err)
	}
	return tag.RowsAffected() == 1, nil
}

const denyVideoLink = `
UPDATE video_link SET denied = true, rejoin_until = NULL
WHERE id = $3 AND consultation_id = $2 AND office_id = $1`

// DenyVideoLink records that the holder of link linkID of consultation
// consultationID of office officeID was turned away for the rest of the
// call. It reports false when the consultation has no such link.
func DenyVideoLink(ctx context.Context, q Querier, officeID, consultationID, linkID int64) (bool, error) {
	tag, err := q.Exec(ctx, denyVideoLink, officeID, consultationID, linkID)
	if err != nil {
		return false, fmt.Errorf("store: deny video link %d: %w", linkID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Presence is an entry of a consultation's metadata: who (a link or a
// staff member) did what when. It never holds content.
type Presence struct {
	ID             int64
	ConsultationID int64
	OfficeID       int64
	LinkID         int64 // 0: a staff member's own
	StaffID        int64 // who admitted, denied, joined or ended; 0 for a link's holder
	Kind           string
	At             time.Time
	LinkKind       string // read only
	LinkName       string // read only: a guest's name
	StaffName      string // read only
}

const insertPresence = `
INSERT INTO video_presence (consultation_id, office_id, link_id, staff_id, kind)
VALUES ($1, $2, nullif($3, 0::bigint), nullif($4, 0::bigint), $5)
RETURNING id, at`

// InsertPresence records p.
func InsertPresence(ctx context.Context, q Querier, p Presence) (Presence, error) {
	if err := q.QueryRow(ctx, insertPresence, p.ConsultationID, p.OfficeID, p.LinkID, p.StaffID, p.Kind).Scan(&p.ID, &p.At); err != nil {
		return Presence{}, fmt.Errorf("store: insert presence: %w", err)
	}
	return p, nil
}

// insertLinkPresence records a link holder's presence and, in the same
// statement, until when they come back without admission; a link turned
// away keeps none.
const insertLinkPresence = `
WITH link AS (
    UPDATE video_link SET rejoin_until = $5
    WHERE id = $3 AND consultation_id = $1 AND office_id = $2 AND NOT denied
)
INSERT INTO video_presence (consultation_id, office_id, link_id, kind)
VALUES ($1, $2, $3, $4)
RETURNING id, at`

// InsertLinkPresence records p of a link's holder who was let in (back
// into the call, or out of it) and that they come back without
// admission until rejoinUntil.
func InsertLinkPresence(ctx context.Context, q Querier, p Presence, rejoinUntil time.Time) (Presence, error) {
	err := q.QueryRow(ctx, insertLinkPresence, p.ConsultationID, p.OfficeID, p.LinkID, p.Kind, rejoinUntil).Scan(&p.ID, &p.At)
	if err != nil {
		return Presence{}, fmt.Errorf("store: insert presence of link %d: %w", p.LinkID, err)
	}
	return p, nil
}

const listPresence = `
SELECT p.id, p.consultation_id, p.office_id, coalesce(p.link_id, 0), coalesce(p.staff_id, 0), p.kind, p.at,
    coalesce(l.kind, ''), coalesce(l.name, ''), coalesce(st.name, '')
FROM video_presence p
    LEFT JOIN video_link l ON l.id = p.link_id
    LEFT JOIN staff st ON st.id = p.staff_id AND st.office_id = p.office_id
WHERE p.consultation_id = $1 AND p.office_id = $2
ORDER BY p.at, p.id`

// ListPresence returns the metadata of consultation id of office
// officeID, oldest first.
func ListPresence(ctx context.Context, q Querier, officeID, id int64) ([]Presence, error) {
	rows, err := q.Query(ctx, listPresence, id, officeID)
	if err != nil {
		return nil, fmt.Errorf("store: list presence: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Presence])
	if err != nil {
		return nil, fmt.Errorf("store: list presence: %w", err)
	}
	return out, nil
}

const deleteOldVideo = `
DELETE FROM video_consultation
WHERE starts_at < $1
  AND greatest(starts_at + minutes * interval '1 minute', coalesce(ended_at, starts_at)) < $1`

// DeleteOldVideo deletes the consultations that ended (as planned, or
// when staff ended them) before before, with their links and metadata,
// and returns how many.
func DeleteOldVideo(ctx context.Context, q Querier, before time.Time) (int64, error) {
	tag, err := q.Exec(ctx, deleteOldVideo, before)
	if err != nil {
		return 0, fmt.Errorf("store: delete old consultations: %w", err)
	}
	return tag.RowsAffected(), nil
}

// The claim of a consultation's call by a portal process: it takes a
// consultation nobody holds, or whose holder has not been seen for the
// lease, and renews its own.
const claimConsultationNode = `
UPDATE video_consultation SET node = $3, node_seen_at = now()
WHERE office_id = $1 AND id = $2
  AND (node = '' OR node = $3 OR node_seen_at IS NULL OR node_seen_at < now() - make_interval(secs => $4))
RETURNING node`

const getConsultationNode = `SELECT node FROM video_consultation WHERE office_id = $1 AND id = $2`

// ClaimConsultationNode makes node the holder of consultation id of
// office officeID's call, unless another node holds it and was seen less
// than lease ago, and returns the holder. One statement, so two nodes
// claiming at once get one answer. Errors: NotFound.
func ClaimConsultationNode(ctx context.Context, q Querier, officeID, id int64, node string, lease time.Duration) (string, error) {
	var holder string
	err := q.QueryRow(ctx, claimConsultationNode, officeID, id, node, lease.Seconds()).Scan(&holder)
	if isNoRows(err) {
		err = q.QueryRow(ctx, getConsultationNode, officeID, id).Scan(&holder)
	}
	if err != nil {
		return "", notFound("store: claim consultation", err)
	}
	return holder, nil
}

const touchConsultationNodes = `
UPDATE video_consultation SET node_seen_at = now() WHERE node = $1 AND id = ANY($2)`

// LinkRef names a join link of an office.
type LinkRef struct {
	OfficeID int64
	ID       int64
}

const renewVideoLinks = `
UPDATE video_link l SET rejoin_until = $3
FROM unnest($1::bigint[], $2::bigint[]) AS k (office_id, id)
WHERE l.office_id = k.office_id AND l.id = k.id AND NOT l.denied`

// RenewVideoLinks lets the holders of links, who are in their calls now,
// come back without admission until until: a portal process renews it
// for those in its calls, so that they need none should it die.
func RenewVideoLinks(ctx context.Context, q Querier, links []LinkRef, until time.Time) error {
	offices, ids := make([]int64, len(links)), make([]int64, len(links))
	for i, l := range links {
		offices[i], ids[i] = l.OfficeID, l.ID
	}
	if _, err := q.Exec(ctx, renewVideoLinks, offices, ids, until); err != nil {
		return fmt.Errorf("store: renew video links: %w", err)
	}
	return nil
}

// TouchConsultationNodes renews node's hold on the consultations ids,
// whose calls it runs. It is the node's own heartbeat, for its own
// consultations of every office.
func TouchConsultationNodes(ctx context.Context, q Querier, node string, ids []int64) error {
	if _, err := q.Exec(ctx, touchConsultationNodes, node, ids); err != nil {
		return fmt.Errorf("store: touch consultation nodes: %w", err)
	}
	return nil
}
