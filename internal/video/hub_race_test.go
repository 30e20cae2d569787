package video_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/domain"
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

	held, release := staffConn.holdNext(video.TypeLobby) // the lobby without the patient
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

	held, release := staffConn.holdNext(video.TypeLobby) // the lobby with the patient and the guest
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

	held, release := firstConn.holdNext(video.TypeReplaced) // "replaced", by the second tab
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

// Many link holders and staff of three calls at once, entering again and
// again (each time replacing their previous socket), admitting, turning
// away and leaving, while each call is ended: in the hub's way (staff
// end it), by the portal after a cancel, and both at once. No deadlock,
// no race; at the end every socket still open was told why it closed,
// nothing is left in the media and nobody enters.
func TestHubManyAtOnce(t *testing.T) {
	w := newHubWorld(t)
	ctx := context.Background()
	calls := []call{w.call, w.newCall(t), w.newCall(t)}
	ender := w.addStaff(t, w.leipzig, "ende@leipzig.test", domain.Physician) // no tab of the others replaces it
	before := running()

	var mu sync.Mutex
	type socket struct {
		call int
		conn *conn
		m    *video.Member
		left bool // its socket ended of itself (the test called Leave)
	}
	var sockets []*socket
	perCall := make([]int, len(calls))
	opened := func(call int, m *video.Member, c *conn) *socket {
		s := &socket{call: call, conn: c, m: m}
		mu.Lock()
		sockets = append(sockets, s)
		perCall[call]++
		mu.Unlock()
		return s
	}
	// busy waits until n sockets of call i were opened.
	busy := func(i, n int) {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			mu.Lock()
			k := perCall[i]
			mu.Unlock()
			if k >= n {
				return
			}
		}
	}
	leave := func(s *socket) {
		w.hub.Leave(s.m)
		s.conn.Close()
		mu.Lock()
		s.left = true
		mu.Unlock()
	}
	pause := func() { time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond) }
	const rounds = 12

	var wg sync.WaitGroup
	for i, cl := range calls {
		for _, token := range cl.tokens {
			wg.Go(func() {
				for range rounds {
					m, c, err := w.enterLink(t, token)
					if err != nil {
						continue // turned away, ended, or replaced while entering
					}
					s := opened(i, m, c)
					pause()
					if rand.IntN(2) == 0 {
						leave(s)
					}
				}
			})
		}
		for _, a := range []video.Access{w.caseworker, w.physician} {
			wg.Go(func() {
				for range rounds {
					c := newConn()
					m, err := w.hub.EnterStaff(ctx, a, cl.id, c)
					if err != nil {
						continue
					}
					s := opened(i, m, c)
					for range 4 {
						for _, l := range c.lobby() {
							typ := video.TypeAdmit
							if rand.IntN(6) == 0 {
								typ = video.TypeDeny
							}
							_ = w.hub.Handle(ctx, m, msg(typ, l.ID))
						}
						pause()
					}
					if rand.IntN(3) == 0 {
						leave(s)
					}
				}
			})
		}
		wg.Go(func() {
			busy(i, 2*rounds)
			pause()
			switch i {
			case 0:
				c := newConn()
				m, err := w.hub.EnterStaff(ctx, ender, cl.id, c)
				if err != nil {
					t.Errorf("the ender enters: %v", err)
					return
				}
				opened(i, m, c)
				if err := w.hub.Handle(ctx, m, msg(video.TypeEnd, 0)); err != nil {
					t.Errorf("end: %v", err)
				}
			case 1:
				if err := w.svc.Cancel(ctx, w.caseworker, cl.id); err != nil {
					t.Errorf("cancel: %v", err)
				}
				w.hub.Close(cl.id)
			default:
				close2 := goAndWait(t, func() { w.hub.Close(cl.id) })
				w.hub.Close(cl.id)
				close2()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		buf := make([]byte, 4<<20)
		t.Fatalf("not done after 2 minutes:\n%s", buf[:runtime.Stack(buf, true)])
	}

	terminal := []string{video.TypeEnded, video.TypeDenied, video.TypeReplaced}
	for _, s := range sockets {
		var told []string
		for _, typ := range s.conn.hubTypes() {
			if slices.Contains(terminal, typ) {
				told = append(told, typ)
			}
		}
		switch {
		case len(told) > 1:
			t.Errorf("a socket was told %v", told)
		case !s.left && (!s.conn.isClosed() || len(told) == 0):
			t.Errorf("call %d: a socket left open by its client: closed %v, sent %v", s.call, s.conn.isClosed(), s.conn.hubTypes())
		}
		w.hub.Leave(s.m) // the socket ended
	}
	for _, cl := range calls {
		if got := w.peers(cl.id); len(got) != 0 {
			t.Errorf("call %d: media peers after the end: %v", cl.id, got)
		}
		for _, token := range cl.tokens {
			if _, _, err := w.enterLink(t, token); fault.KindOf(err) != fault.Conflict {
				t.Errorf("call %d: entering after the end: %v, want Conflict", cl.id, err)
			}
		}
	}
	t.Logf("%d sockets", len(sockets))
	waitGoroutines(t, before)
}
