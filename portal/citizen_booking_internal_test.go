package portal

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/gesundheitsamt/portal/internal/config"
)

// TestWeekRefused: the week shown with a refused hold is kept for
// bookingPageTTL, made again once it is older, and made again at once
// when it still offers the slot just refused.
func TestWeekRefused(t *testing.T) {
	cfg := config.Config{SecretKey: []byte(strings.Repeat("week-secret-", 4)), BaseURL: &url.URL{Scheme: "http", Host: "localhost:8080"}}
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	s := &Server{cfg: cfg, csrf: newCSRFGuard(cfg), now: func() time.Time { return at }}
	app := fiber.New()
	defer app.Shutdown()
	fills := 0
	free := []string{"100", "200"}
	refuse := func(taken string) bookingPage {
		t.Helper()
		c := app.AcquireCtx(&fasthttp.RequestCtx{})
		defer app.ReleaseCtx(c)
		var p bookingPage
		err := s.weekRefused(c, &p, "leipzig\x00belehrung\x00vor-ort\x002026-12-07\x00de", taken, func() error {
			fills++
			p.CSRF = "made" // as fillWeek does
			p.Days = []dayView{{ID: "tag-2026-12-07"}}
			for _, v := range free {
				p.Days[0].Slots = append(p.Days[0].Slots, slotView{Value: v})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if p.CSRF == "" {
			t.Error("no CSRF token on a page of a kept week")
		}
		return p
	}

	free = []string{"200"} // 100 is taken
	refuse("100")
	refuse("100")
	if fills != 1 {
		t.Errorf("two refusals of one slot within a second made the week %d times, want once", fills)
	}
	free = nil // 200 is taken too: the kept week still offers it
	if p := refuse("200"); fills != 2 || p.shows("200") {
		t.Errorf("a refusal of a slot the kept week offers: %d makings, shows it: %v", fills, p.shows("200"))
	}
	at = at.Add(bookingPageTTL)
	refuse("100")
	if fills != 3 {
		t.Errorf("a kept week older than %v was shown (%d makings)", bookingPageTTL, fills)
	}
}
