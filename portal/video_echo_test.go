package portal_test

import (
	"fmt"
	"testing"

	"github.com/gesundheitsamt/portal/internal/video"
	"github.com/gesundheitsamt/portal/internal/video/sfu"
	"github.com/gesundheitsamt/portal/internal/video/sfu/sfutest"
)

// TestConnectionTest: a waiting patient's connection test gets back what
// it sends, through the SFU, apart from the call's media; one test at a
// time (asking again replaces it), three a connection, only in the
// waiting room.
func TestConnectionTest(t *testing.T) {
	w := newCallWorld(t)
	patient, waiting := w.waitingPatient(t, w.base, "Zoë")
	if len(waiting.ICEServers) == 0 {
		t.Errorf("the waiting room gives no TURN server for the test: %+v", waiting)
	}

	echo, err := sfutest.New(func(m sfu.Message) error { return patient.write(video.Message{Message: m, Echo: true}) },
		sfutest.Options{Name: "test picture", Audio: true, Video: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(echo.Close)
	patient.mu.Lock()
	patient.echo = echo.Handle
	patient.mu.Unlock()
	patient.send(video.Message{Message: sfu.Message{Type: video.TypeEcho}})
	waitFor(t, func() bool {
		v, okV := echo.Received("test picture", "video")
		a, okA := echo.Received("test picture", "audio")
		return okV && okA && v.Distinct > 30 && a.Distinct > 15
	})
	for _, st := range echo.Tracks() {
		if st.Corrupt != 0 {
			t.Errorf("the echo changed %d packets of %s", st.Corrupt, st.Kind)
		}
	}

	// Asked again, a new test replaces the running one, three in all.
	patient.mu.Lock()
	patient.echo = nil
	patient.mu.Unlock()
	echo.Close()
	for range video.MaxEchoes - 1 {
		offers := countEchoOffers(patient)
		patient.send(video.Message{Message: sfu.Message{Type: video.TypeEcho}})
		waitFor(t, func() bool { return countEchoOffers(patient) > offers })
	}
	if n := countType(patient, video.TypeError); n != 0 {
		t.Errorf("%d errors for tests within the limit", n)
	}
	patient.send(video.Message{Message: sfu.Message{Type: video.TypeEcho}})
	waitFor(t, func() bool { return countType(patient, video.TypeError) == 1 })

	// Staff are never in a waiting room: no test for them.
	staff, _, err := dialCall(t, w.base, fmt.Sprintf("/staff/video/%d/ws", w.consult), w.staffCookies())
	if err != nil {
		t.Fatal(err)
	}
	lobby := staff.await(video.TypeLobby).Waiting
	staff.send(video.Message{Message: sfu.Message{Type: video.TypeEcho}})
	if m := staff.await(video.TypeError); m.Code != video.CodeBadMessage {
		t.Errorf("a staff member's connection test: %+v", m)
	}

	staff.send(video.Message{Message: sfu.Message{Type: video.TypeAdmit}, ID: lobby[0].ID})
	patient.await(video.TypeAdmitted)
}

func countType(c *wsClient, typ string) int {
	return countWhere(c, func(m video.Message) bool { return m.Type == typ })
}

func countEchoOffers(c *wsClient) int {
	return countWhere(c, func(m video.Message) bool { return m.Echo && m.Type == sfu.TypeOffer })
}

// countWhere counts the messages c received that match.
func countWhere(c *wsClient, match func(video.Message) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.got {
		if match(m) {
			n++
		}
	}
	return n
}
