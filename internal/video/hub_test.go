package video_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/video"
	"github.com/gesundheitsamt/portal/internal/video/sfu"
)

func TestHubEndForEveryone(t *testing.T) {
	w := newHubWorld(t)
	ctx := context.Background()
	before := running()
	cw, cwConn := w.mustStaff(t, w.caseworker, w.id)
	_, drConn := w.mustStaff(t, w.physician, w.id)
	patient, patientConn := w.mustLink(t, w.tokens[0])
	guest, guestConn := w.mustLink(t, w.tokens[1])
	guestConn.await(t, video.TypeWaiting)
	if err := w.handle(t, cw, msg(video.TypeAdmit, w.links[0])); err != nil {
		t.Fatal(err)
	}
	patientConn.await(t, video.TypeAdmitted)
	patientConn.await(t, sfu.TypeOffer)
	if got := w.peers(w.id); len(got) != 3 {
		t.Fatalf("media peers %v, want both staff and the patient", got)
	}

	if err := w.handle(t, patient, msg(video.TypeEnd, 0)); fault.KindOf(err) != fault.Forbidden {
		t.Errorf("the patient ends the call: %v, want Forbidden", err)
	}
	if err := w.handle(t, cw, msg(video.TypeEnd, 0)); err != nil {
		t.Fatal(err)
	}
	for who, c := range map[string]*conn{"caseworker": cwConn, "physician": drConn, "patient": patientConn, "guest": guestConn} {
		c.wantLast(t, who, video.TypeEnded)
	}
	if got := w.peers(w.id); len(got) != 0 {
		t.Errorf("media peers after the end: %v", got)
	}
	if got := presence(t, w, w.links[1]); !slices.Equal(got, []string{store.PresenceWaiting, store.PresenceLeft}) {
		t.Errorf("the waiting guest's metadata: %v", got)
	}
	// The sockets end; their Leave comes after the hub forgot them.
	w.hub.Leave(cw)
	w.hub.Leave(patient)
	w.hub.Leave(guest)

	_, _, err := w.enterLink(t, w.tokens[2])
	wantRefused(t, "a guest after the end", err, nil)
	_, err = w.hub.EnterStaff(ctx, w.physician, w.id, newConn())
	wantKind(t, "staff after the end", err, fault.Conflict, video.MsgState)
	if err := w.handle(t, cw, msg(video.TypeEnd, 0)); fault.KindOf(err) != fault.Conflict {
		t.Errorf("ending twice: %v, want Conflict", err)
	}
	waitGoroutines(t, before)
}

// waitGoroutines waits until no more goroutines run than before, not
// counting the database driver's background readers: pgx starts one on a
// pooled connection whose query was cancelled and ends it when the
// server answers, which on a loaded machine takes its time and is none
// of the hub's doing.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for running() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", running(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// running counts the goroutines, less pgx's background readers.
func running() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.HasPrefix(g, "goroutine ") && !strings.Contains(g, "pgconn/internal/bgreader") {
			n++
		}
	}
	return n
}

func TestHubCloseAfterCancel(t *testing.T) {
	w := newHubWorld(t)
	_, staffConn := w.mustStaff(t, w.caseworker, w.id)
	_, patientConn := w.mustLink(t, w.tokens[0])
	_, guestConn := w.mustLink(t, w.tokens[1])
	guestConn.await(t, video.TypeWaiting)

	if err := w.svc.Cancel(context.Background(), w.caseworker, w.id); err != nil {
		t.Fatal(err)
	}
	w.hub.Close(w.id)
	w.hub.Close(w.id)
	for who, c := range map[string]*conn{"staff": staffConn, "patient": patientConn, "guest": guestConn} {
		c.wantLast(t, who, video.TypeEnded)
		if n := len(c.hubTypes()); c.hubTypes()[n-1] == c.hubTypes()[max(n-2, 0)] {
			t.Errorf("%s told twice: %v", who, c.hubTypes())
		}
	}
	if got := w.peers(w.id); len(got) != 0 {
		t.Errorf("media peers after the cancel: %v", got)
	}
	_, _, err := w.enterLink(t, w.tokens[0])
	if fault.KindOf(err) != fault.Conflict {
		t.Errorf("the patient after the cancel: %v, want Conflict", err)
	}
}

// The hub refuses entry to a call it closed on its own, whatever the
// database says: who read it before the end or the cancel is still on
// the way in, and another process may not have written it yet.
func TestHubClosedRoomRefuses(t *testing.T) {
	for _, connected := range []bool{true, false} {
		t.Run(map[bool]string{true: "staff connected", false: "nobody connected"}[connected], func(t *testing.T) {
			w := newHubWorld(t)
			if connected {
				_, staffConn := w.mustStaff(t, w.caseworker, w.id)
				w.hub.Close(w.id)
				staffConn.wantLast(t, "staff", video.TypeEnded)
			} else {
				w.hub.Close(w.id)
			}
			_, _, err := w.enterLink(t, w.tokens[0])
			wantRefused(t, "the patient", err, nil)
			_, err = w.hub.EnterStaff(context.Background(), w.physician, w.id, newConn())
			wantRefused(t, "staff", err, nil)
		})
	}
}

func TestHubDeny(t *testing.T) {
	w := newHubWorld(t)
	staff, staffConn := w.mustStaff(t, w.caseworker, w.id)
	patient, patientConn := w.mustLink(t, w.tokens[0])
	guest, guestConn := w.mustLink(t, w.tokens[1])
	guestConn.await(t, video.TypeWaiting)
	staffConn.until(t, "told both wait", func() bool { return len(staffConn.lobby()) == 2 })

	if err := w.handle(t, patient, msg(video.TypeDeny, w.links[1])); fault.KindOf(err) != fault.Forbidden {
		t.Errorf("the patient turns the guest away: %v, want Forbidden", err)
	}
	if err := w.handle(t, staff, msg(video.TypeDeny, w.links[1])); err != nil {
		t.Fatal(err)
	}
	guestConn.wantLast(t, "the guest", video.TypeDenied)
	if got := staffConn.lobby(); len(got) != 1 || got[0].ID != w.links[0] || got[0].Guest {
		t.Errorf("lobby after the denial: %+v, want the patient alone", got)
	}
	if err := w.handle(t, staff, msg(video.TypeDeny, w.links[1])); fault.KindOf(err) != fault.Invalid {
		t.Errorf("denying twice: %v, want Invalid", err)
	}
	w.hub.Leave(guest)

	// The denial holds for the rest of the call, even once nobody is
	// connected; the others are not affected.
	_, c, err := w.enterLink(t, w.tokens[1])
	wantRefused(t, "the guest again", err, video.ErrDenied)
	if got := c.hubTypes(); len(got) != 0 {
		t.Errorf("a refused socket was sent %v", got)
	}
	if err := w.handle(t, staff, msg(video.TypeAdmit, w.links[0])); err != nil {
		t.Fatal(err)
	}
	patientConn.await(t, video.TypeAdmitted)
	w.hub.Leave(staff)
	w.hub.Leave(patient)
	_, _, err = w.enterLink(t, w.tokens[1])
	wantRefused(t, "the guest once everyone left", err, video.ErrDenied)
	if got := presence(t, w, w.links[1]); !slices.Equal(got, []string{store.PresenceWaiting, store.PresenceDenied}) {
		t.Errorf("the guest's metadata: %v", got)
	}
}

func TestHubSecondTab(t *testing.T) {
	t.Run("waiting", func(t *testing.T) {
		w := newHubWorld(t)
		_, staffConn := w.mustStaff(t, w.caseworker, w.id)
		first, firstConn := w.mustLink(t, w.tokens[0])
		_, secondConn := w.mustLink(t, w.tokens[0])
		firstConn.wantLast(t, "the first tab", video.TypeReplaced)
		secondConn.await(t, video.TypeWaiting)
		w.hub.Leave(first) // the first tab's socket ends after it was replaced
		if got := staffConn.lobby(); len(got) != 1 || got[0].ID != w.links[0] {
			t.Errorf("lobby %+v, want the patient once", got)
		}
		if secondConn.isClosed() {
			t.Error("the first tab's end closed the second")
		}
	})
	t.Run("in the call", func(t *testing.T) {
		w := newHubWorld(t)
		staff, _ := w.mustStaff(t, w.caseworker, w.id)
		first, firstConn := w.mustLink(t, w.tokens[0])
		if err := w.handle(t, staff, msg(video.TypeAdmit, w.links[0])); err != nil {
			t.Fatal(err)
		}
		firstConn.await(t, sfu.TypeOffer)
		_, secondConn := w.mustLink(t, w.tokens[0])
		firstConn.wantLast(t, "the first tab", video.TypeReplaced)
		secondConn.await(t, sfu.TypeOffer)
		if got := secondConn.hubTypes(); !slices.Equal(got, []string{video.TypeAdmitted}) {
			t.Errorf("the second tab was sent %v, want admitted without waiting", got)
		}
		w.hub.Leave(first)
		if got := w.peers(w.id); !slices.Equal(got, []string{"staff-" + strconv.FormatInt(w.caseworker.StaffID, 10), "link-" + strconv.FormatInt(w.links[0], 10)}) {
			t.Errorf("media peers %v", got)
		}
	})
	t.Run("staff", func(t *testing.T) {
		w := newHubWorld(t)
		_, firstConn := w.mustStaff(t, w.caseworker, w.id)
		_, secondConn := w.mustStaff(t, w.caseworker, w.id)
		firstConn.wantLast(t, "the first tab", video.TypeReplaced)
		if secondConn.isClosed() || len(w.peers(w.id)) != 1 {
			t.Errorf("second tab closed %v, media peers %v", secondConn.isClosed(), w.peers(w.id))
		}
	})
}

func TestHubRefusesWhoMayNotTakePart(t *testing.T) {
	w := newHubWorld(t)
	ctx := context.Background()
	for _, tc := range []struct {
		who  string
		a    video.Access
		kind fault.Kind
		msg  string
	}{
		{"an admin", w.admin, fault.Forbidden, video.MsgRole},
		{"another office's caseworker", w.halleWorker, fault.NotFound, ""},
	} {
		c := newConn()
		m, err := w.hub.EnterStaff(ctx, tc.a, w.id, c)
		wantKind(t, tc.who, err, tc.kind, tc.msg)
		if m != nil || len(c.hubTypes()) != 0 {
			t.Errorf("%s: member %v, sent %v", tc.who, m, c.hubTypes())
		}
	}
	// Nobody but staff was let in: a patient is still only waiting.
	_, patientConn := w.mustLink(t, w.tokens[0])
	if got := patientConn.hubTypes(); !slices.Equal(got, []string{video.TypeWaiting}) {
		t.Errorf("the patient was sent %v", got)
	}
}

func TestHubRejoin(t *testing.T) {
	w := newHubWorld(t)
	staff, staffConn := w.mustStaff(t, w.caseworker, w.id)
	patient, patientConn := w.mustLink(t, w.tokens[0])
	if err := w.handle(t, staff, msg(video.TypeAdmit, w.links[0])); err != nil {
		t.Fatal(err)
	}
	patientConn.await(t, sfu.TypeOffer)
	patientID := "link-" + strconv.FormatInt(w.links[0], 10)

	// A reload within the window: straight back in.
	w.hub.Leave(patient)
	w.now = w.now.Add(video.Rejoin - time.Second)
	patient, patientConn = w.mustLink(t, w.tokens[0])
	patientConn.await(t, sfu.TypeOffer)
	if got := patientConn.hubTypes(); !slices.Equal(got, []string{video.TypeAdmitted}) {
		t.Errorf("rejoining within the window: %v, want admitted", got)
	}
	if got := w.peers(w.id); !slices.Contains(got, patientID) || len(staffConn.lobby()) != 0 {
		t.Errorf("media peers %v, lobby %+v", got, staffConn.lobby())
	}

	// Back after the window: the waiting room again.
	w.hub.Leave(patient)
	w.now = w.now.Add(video.Rejoin)
	_, patientConn = w.mustLink(t, w.tokens[0])
	if got := patientConn.hubTypes(); !slices.Equal(got, []string{video.TypeWaiting}) {
		t.Errorf("back after the window: %v, want waiting", got)
	}
	if got := staffConn.lobby(); len(got) != 1 || got[0].ID != w.links[0] {
		t.Errorf("lobby %+v, want the patient", got)
	}
	want := []string{store.PresenceWaiting, store.PresenceAdmitted, store.PresenceLeft, store.PresenceRejoined, store.PresenceLeft, store.PresenceWaiting}
	if got := presence(t, w, w.links[0]); !slices.Equal(got, want) {
		t.Errorf("metadata %v, want %v", got, want)
	}
}

// A join whose media join fails leaves no room behind: the hub holds no
// call nobody is connected to (Rooms, whose calls the node keeps
// claiming).
func TestHubFailedJoinLeavesNoRoom(t *testing.T) {
	for _, who := range []string{"a link's holder rejoining", "staff"} {
		t.Run(who, func(t *testing.T) {
			w := newHubWorld(t)
			staff, _ := w.mustStaff(t, w.caseworker, w.id)
			patient, patientConn := w.mustLink(t, w.tokens[0])
			if err := w.handle(t, staff, msg(video.TypeAdmit, w.links[0])); err != nil {
				t.Fatal(err)
			}
			patientConn.await(t, sfu.TypeOffer)
			w.hub.Leave(patient)
			w.hub.Leave(staff)
			if got := w.hub.Rooms(); len(got) != 0 {
				t.Fatalf("rooms %v once everyone left", got)
			}

			// Others fill the call's media meanwhile.
			room := w.media.Room(strconv.FormatInt(w.id, 10))
			for i := range sfu.DefaultMaxPeers {
				p, err := room.Join("other-"+strconv.Itoa(i), sfu.PeerInfo{Name: "Other", Role: "guest"}, discard{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(p.Close)
			}
			var err error
			if who == "staff" {
				_, err = w.hub.EnterStaff(context.Background(), w.caseworker, w.id, newConn())
			} else {
				w.now = w.now.Add(video.Rejoin / 2)
				_, _, err = w.enterLink(t, w.tokens[0])
			}
			if !errors.Is(err, sfu.ErrRoomFull) {
				t.Errorf("joining full media: %v, want %v", err, sfu.ErrRoomFull)
			}
			if got := w.hub.Rooms(); len(got) != 0 {
				t.Errorf("rooms %v after the failed join, want none", got)
			}
		})
	}
}

// discard is a media peer's signalling that nobody reads.
type discard struct{}

func (discard) Signal(sfu.Message) error { return nil }
