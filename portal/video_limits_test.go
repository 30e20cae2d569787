package portal_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/app"
	"github.com/gesundheitsamt/portal/internal/auth"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/video"
)

// TestStaffCallEndsWithItsSession: a staff member's call socket outlives
// the request that opened it; it stays while the session holds as it
// did, and closes, as after a logout, once it holds no more or would
// open nothing but the password's change (requireStaff's rule).
func TestStaffCallEndsWithItsSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, w *callWorld, admin auth.Staff, id int64)
	}{
		{"logged out", func(t *testing.T, w *callWorld, _ auth.Staff, _ int64) {
			if res, _ := w.staff.post("/staff/logout", url.Values{}); res.StatusCode != http.StatusSeeOther {
				t.Fatalf("logout: %d", res.StatusCode)
			}
		}},
		{"password reset by an admin", func(t *testing.T, w *callWorld, admin auth.Staff, id int64) {
			if _, err := w.h.auth.ResetPassword(context.Background(), admin, id); err != nil {
				t.Fatal(err)
			}
		}},
		{"account disabled", func(t *testing.T, w *callWorld, admin auth.Staff, id int64) {
			if err := w.h.auth.SetDisabled(context.Background(), admin, id, true); err != nil {
				t.Fatal(err)
			}
		}},
		// Nothing in the portal asks for a new password without ending
		// the sessions (a reset does); a change of the database may, and
		// the socket follows requireStaff, which then opens only the
		// password's page, the socket included.
		{"must change the password", func(t *testing.T, w *callWorld, _ auth.Staff, id int64) {
			w.exec(t, `UPDATE staff SET must_change_password = true WHERE id = $1`, id)
			_, res, err := dialCall(t, w.base, fmt.Sprintf("/staff/video/%d/ws", w.consult), w.staffCookies())
			if err == nil || res == nil || res.StatusCode != http.StatusSeeOther {
				t.Errorf("a new socket of a session that must change its password: %v, %v; want 303", res, err)
			}
		}},
		{"now an admin", func(t *testing.T, w *callWorld, _ auth.Staff, id int64) {
			w.exec(t, `UPDATE staff SET role = 'admin' WHERE id = $1`, id)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newCallWorld(t, func(o *app.Options) { o.SessionRecheck = 100 * time.Millisecond })
			office, err := store.GetOfficeBySlug(context.Background(), w.h.db, "leipzig")
			if err != nil {
				t.Fatal(err)
			}
			w.h.addStaff(t, "leipzig", "admin@leipzig.test", "admin", testTOTP)
			admin := auth.Staff{ID: staffID(t, w.h, "admin@leipzig.test"), OfficeID: office.ID, Role: domain.Admin}
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
			tc.end(t, w, admin, staffID(t, w.h, "sb@leipzig.test"))
			select {
			case <-staff.closed:
			case <-time.After(5 * time.Second):
				t.Fatal("the socket stayed open")
			}
			if m := staff.await(video.TypeError); m.Code != video.CodeClosed {
				t.Errorf("told %+v before the close, want the code %q", m, video.CodeClosed)
			}
		})
	}
}

func (w *callWorld) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := w.h.db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
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
