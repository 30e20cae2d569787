package booking_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/crypto"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/jobs"
	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/video"
)

// TestVideoAppointment: booking a video appointment makes its video
// consultation, whose patient link the booking's pages and mails carry;
// a move moves it (the same link, the new time), a move on site and a
// cancellation cancel it; staff cannot move or cancel it on its own.
func TestVideoAppointment(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	videoCal, err := store.UpsertCalendar(ctx, w.db, store.Calendar{OfficeID: w.office.ID, Slug: "video", Name: "Video", Kind: store.CalendarVideo,
		Slot: 30 * time.Minute, Notice: time.Hour, Horizon: 56 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var rules []store.Rule
	for d := time.Monday; d <= time.Friday; d++ {
		rules = append(rules, store.Rule{Weekday: d, Starts: 14 * time.Hour, Ends: 16 * time.Hour, Capacity: 1})
	}
	if err := store.ReplaceCalendarRules(ctx, w.db, w.office.ID, videoCal, rules); err != nil {
		t.Fatal(err)
	}
	if err := store.ReplaceCalendarServices(ctx, w.db, w.office.ID, videoCal, []string{"terminanfrage"}); err != nil {
		t.Fatal(err)
	}
	inserter, err := jobs.NewInserter(w.db, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	box, err := crypto.NewBox(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	notifier := mail.NewNotifier(inserter, box, []byte("secret"))
	// The rooms' clock is the wall clock: the consultation's join window
	// is checked against it.
	rooms := video.New(video.Options{DB: w.db, Box: box, Mail: notifier, Secret: []byte("secret")})
	w.now = time.Now()
	svc, err := booking.New(booking.Options{DB: w.db, Mail: notifier, Rooms: rooms, Now: func() time.Time { return w.now }})
	if err != nil {
		t.Fatal(err)
	}
	_, days, err := svc.Availability(ctx, w.office, videoCal, w.now, w.now.AddDate(0, 0, 14))
	if err != nil || len(days) < 2 {
		t.Fatalf("%d days, %v", len(days), err)
	}
	first, second := days[0].Slots[0], days[1].Slots[0]
	h, err := svc.Hold(ctx, w.office, videoCal, "terminanfrage", first.Start)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Contact(ctx, h.Token, anna); err != nil {
		t.Fatal(err)
	}
	token := w.mailToken(t, h.ID)
	b, err := svc.Confirm(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	join, err := svc.Join(ctx, b)
	if err != nil || join == "" {
		t.Fatalf("the join link of a booked video appointment: %q, %v", join, err)
	}
	open := func() store.Consultation {
		t.Helper()
		j, err := rooms.OpenLink(ctx, join)
		if err != nil {
			t.Fatal(err)
		}
		return j.Consultation
	}
	if c := open(); c.BookingID != h.ID || !c.StartsAt.Equal(first.Start) || c.Minutes != 30 || c.State != store.VideoPlanned || c.OfficeID != w.office.ID {
		t.Fatalf("the consultation: %+v", c)
	}
	want := 2 // the confirmation and the booked mail, and a reminder when it is more than a day ahead
	if first.Start.Sub(w.now) > booking.ReminderLead {
		want++
	}
	if n := len(w.mails(t, h.ID)); n != want {
		t.Errorf("%d mails of the booking, want %d", n, want)
	}
	var invites int
	if err := w.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE args->>'template' LIKE 'video%'`).Scan(&invites); err != nil || invites != 0 {
		t.Errorf("%d video mails (%v): the booking's mails carry the link", invites, err)
	}

	staff := video.Access{OfficeID: w.office.ID, StaffID: 1, Role: domain.Caseworker}
	if err := rooms.Reschedule(ctx, staff, open().ID, second.Start, 30); fault.MessageOf(err) != video.MsgBooking {
		t.Errorf("staff moving a booked appointment's consultation: %v", err)
	}
	if err := rooms.Cancel(ctx, staff, open().ID); fault.MessageOf(err) != video.MsgBooking {
		t.Errorf("staff cancelling a booked appointment's consultation: %v", err)
	}

	if _, err := svc.Move(ctx, token, videoCal, second.Start); err != nil {
		t.Fatal(err)
	}
	if c := open(); !c.StartsAt.Equal(second.Start) || c.State != store.VideoPlanned {
		t.Errorf("after the move: %v %s, want %v planned", c.StartsAt, c.State, second.Start)
	}
	moved, err := svc.OpenLink(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := svc.Join(ctx, moved); err != nil || again != join {
		t.Errorf("the join link after the move: %q, %v; want the same", again, err)
	}

	// On site: the consultation is cancelled, and the booking has no link.
	onsite := w.slots(t, 14)
	if _, err := svc.Move(ctx, token, w.calendar, onsite[len(onsite)-1].Start); err != nil {
		t.Fatal(err)
	}
	if c := open(); c.State != store.VideoCancelled {
		t.Errorf("after the move on site: %s, want cancelled", c.State)
	}
	if moved, err = svc.OpenLink(ctx, token); err != nil {
		t.Fatal(err)
	}
	if j, err := svc.Join(ctx, moved); err != nil || j != "" {
		t.Errorf("an on-site appointment's join link: %q, %v", j, err)
	}

	// Back to video: the consultation is planned again, with the same link.
	third := days[len(days)-1].Slots[0]
	if _, err := svc.Move(ctx, token, videoCal, third.Start); err != nil {
		t.Fatalf("back to video: %v", err)
	}
	if c := open(); c.State != store.VideoPlanned || !c.StartsAt.Equal(third.Start) {
		t.Errorf("after the move back to video: %s at %v, want planned at %v", c.State, c.StartsAt, third.Start)
	}
	if moved, err = svc.OpenLink(ctx, token); err != nil {
		t.Fatal(err)
	}
	if j, err := svc.Join(ctx, moved); err != nil || j != join {
		t.Errorf("the join link back on video: %q, %v; want the first", j, err)
	}

	// A second video booking, cancelled: its consultation is too.
	h2, err := svc.Hold(ctx, w.office, videoCal, "terminanfrage", first.Start)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Contact(ctx, h2.Token, store.BookingContact{Name: "Bert", Email: "bert@example.org"}); err != nil {
		t.Fatal(err)
	}
	token2 := w.mailToken(t, h2.ID)
	b2, err := svc.Confirm(ctx, token2)
	if err != nil {
		t.Fatal(err)
	}
	join2, err := svc.Join(ctx, b2)
	if err != nil || join2 == "" || join2 == join {
		t.Fatalf("the second booking's link: %q, %v", join2, err)
	}
	if _, err := svc.Cancel(ctx, token2); err != nil {
		t.Fatal(err)
	}
	if j, err := rooms.OpenLink(ctx, join2); err != nil || j.Consultation.State != store.VideoCancelled {
		t.Errorf("after the cancellation: %s, %v; want cancelled", j.Consultation.State, err)
	}
}

// TestConsultationBookingOfItsOffice: the database lets a video
// consultation belong to a booking of its own office only, and a booking
// deleted leaves the consultation, without it.
func TestConsultationBookingOfItsOffice(t *testing.T) {
	w := newWorld(t, 1)
	ctx := context.Background()
	h := w.hold(t, w.slots(t, 7)[0].Start)
	const insert = `INSERT INTO video_consultation (office_id, starts_at, minutes, booking_id) VALUES ($1, now(), 30, $2) RETURNING id`
	var id int64
	if err := w.db.QueryRow(ctx, insert, w.other.ID, h.ID).Scan(&id); err == nil {
		t.Fatal("a consultation of another office took the booking")
	}
	if err := w.db.QueryRow(ctx, insert, w.office.ID, h.ID).Scan(&id); err != nil {
		t.Fatalf("the office's own consultation: %v", err)
	}
	if _, err := w.db.Exec(ctx, `DELETE FROM booking WHERE id = $1`, h.ID); err != nil {
		t.Fatal(err)
	}
	var office int64
	var booking *int64
	if err := w.db.QueryRow(ctx, `SELECT office_id, booking_id FROM video_consultation WHERE id = $1`, id).Scan(&office, &booking); err != nil {
		t.Fatal(err)
	}
	if office != w.office.ID || booking != nil {
		t.Fatalf("after the booking went: office %d, booking %v", office, booking)
	}
}
