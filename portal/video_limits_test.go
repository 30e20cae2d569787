package portal_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/app"
	"github.com/gesundheitsamt/portal/internal/video"
)

// TestStaffCallEndsWithItsSession: a staff member's call socket outlives
// the request that opened it; it stays while the session holds and
// closes once they have logged out.
func TestStaffCallEndsWithItsSession(t *testing.T) {
	w := newCallWorld(t, func(o *app.Options) { o.SessionRecheck = 100 * time.Millisecond })
	staff, _, err := dialCall(t, w.base, fmt.Sprintf("/staff/video/%d/ws", w.consult), w.staffCookies())
	if err != nil {
		t.Fatal(err)
	}
	staff.await(video.TypeJoined)
	select {
	case <-staff.closed:
		t.Fatal("the socket closed while the session holds")
	case <-time.After(500 * time.Millisecond):
	}
	if res, _ := w.staff.post("/staff/logout", url.Values{}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	select {
	case <-staff.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the socket stayed open after the logout")
	}
	if m := staff.await(video.TypeError); m.Code != video.CodeClosed {
		t.Errorf("told %+v before the close, want the code %q", m, video.CodeClosed)
	}
}

// TestJoinLinkLimits: one client address gets a bounded number of
// consents and call sockets per link holder's way in, counted in
// PostgreSQL; beyond it 429.
func TestJoinLinkLimits(t *testing.T) {
	w := newCallWorld(t)
	p := w.h.citizen(t)
	p.get("/video/" + w.token)
	var last int
	for i := 0; i < 31; i++ {
		res, _ := p.post("/video/"+w.token, url.Values{"einwilligung": {"1"}, "name": {"Zoë"}})
		last = res.StatusCode
		if i < 30 && last != http.StatusOK {
			t.Fatalf("consent %d: %d", i+1, last)
		}
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("the 31st consent within ten minutes: %d, want 429", last)
	}

	for i := 0; i < 121; i++ {
		c, res, err := dialCall(t, w.base, "/video/"+w.token+"/ws", "")
		if i < 120 {
			if err != nil {
				t.Fatalf("socket %d: %v", i+1, err)
			}
			_ = c.conn.Close()
			continue
		}
		if err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests {
			t.Errorf("the 121st socket within ten minutes: %v, %v; want 429", res, err)
		}
	}
}
