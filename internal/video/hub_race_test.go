package video_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/video"
	"github.com/gesundheitsamt/portal/internal/video/sfu"
)

// These tests pause one of the hub's goroutines in a socket's Send, where
// the scheduler may pause it too, and act meanwhile.

// goAndWait runs f in a goroutine; the returned function waits up to ten
// seconds for it to return.
func goAndWait(t *testing.T, f func()) (wait func()) {
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	return func() {
		t.Helper()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("still running after 10 s")
		}
	}
}

func awaitHeld(t *testing.T, held <-chan struct{}) {
	t.Helper()
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the socket was not sent anything within 10 s")
	}
}

// A call ended while staff admit someone: between leaving the waiting
// room and joining the call, they are told too.
func TestHubEndWhileAdmitting(t *testing.T) {
	w := newHubWorld(t)
	staff, staffConn := w.mustStaff(t, w.caseworker, w.id)
	_, patientConn := w.mustLink(t, w.tokens[0])
	staffConn.until(t, "told the patient waits", func() bool { return len(staffConn.lobby()) == 1 })

	held, release := staffConn.holdNext() // the lobby without the patient
	defer release()
	var err error
	wait := goAndWait(t, func() { err = w.handle(t, staff, msg(video.TypeAdmit, w.links[0])) })
	awaitHeld(t, held)
	w.hub.Close(w.id)
	release()
	wait()
	if fault.KindOf(err) != fault.Conflict {
		t.Errorf("admitting into an ended call: %v, want Conflict", err)
	}
	patientConn.wantLast(t, "the patient", video.TypeEnded)
	if got := w.peers(w.id); len(got) != 0 {
		t.Errorf("media peers after the end: %v", got)
	}
}

// Two lobby messages of one room reach staff in the order they were
// made: the last one says who waits now.
func TestHubLobbyIsNotOvertaken(t *testing.T) {
	w := newHubWorld(t)
	_, staffConn := w.mustStaff(t, w.caseworker, w.id)
	patient, _ := w.mustLink(t, w.tokens[0])
	staffConn.until(t, "told the patient waits", func() bool { return len(staffConn.lobby()) == 1 })

	held, release := staffConn.holdNext() // the lobby with the patient and the guest
	defer release()
	waitGuest := goAndWait(t, func() { w.mustLink(t, w.tokens[1]) })
	awaitHeld(t, held)
	leave := make(chan struct{})
	go func() { defer close(leave); w.hub.Leave(patient) }()
	select {
	case <-leave:
	case <-time.After(100 * time.Millisecond):
	}
	release()
	waitGuest()
	<-leave
	if got := staffConn.lobby(); len(got) != 1 || got[0].ID != w.links[1] {
		t.Errorf("the last lobby: %+v, want the guest alone", got)
	}
}

// A link rejoining twice at once (two tabs restored, a flapping network):
// the later one is in the call, not only in its media.
func TestHubRejoinTwiceAtOnce(t *testing.T) {
	w := newHubWorld(t)
	staff, _ := w.mustStaff(t, w.caseworker, w.id)
	_, firstConn := w.mustLink(t, w.tokens[0])
	if err := w.handle(t, staff, msg(video.TypeAdmit, w.links[0])); err != nil {
		t.Fatal(err)
	}
	firstConn.await(t, sfu.TypeOffer)

	held, release := firstConn.holdNext() // "replaced", by the second tab
	defer release()
	var secondConn *conn
	var secondErr error
	wait := goAndWait(t, func() { _, secondConn, secondErr = w.enterLink(t, w.tokens[0]) })
	awaitHeld(t, held)
	_, thirdConn := w.mustLink(t, w.tokens[0])
	release()
	wait()
	if fault.KindOf(secondErr) != fault.Conflict {
		t.Errorf("the second tab, replaced while entering: %v, want Conflict", secondErr)
	}
	secondConn.wantLast(t, "the second tab", video.TypeReplaced)
	thirdConn.await(t, sfu.TypeOffer)
	relay := video.Message{Message: sfu.Message{Type: video.TypeRelay}, To: "link-" + strconv.FormatInt(w.links[0], 10), Data: json.RawMessage(`{"k":1}`)}
	if err := w.handle(t, staff, relay); err != nil {
		t.Errorf("relay to the third tab: %v", err)
	}
	thirdConn.await(t, video.TypeRelay)
	if got := w.peers(w.id); len(got) != 2 {
		t.Errorf("media peers %v", got)
	}
}
