package portal_test

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkHoldRefused is the answer a rush gives most: a hold of a slot
// taken already, refused with the week's page (409), each request from a
// client address of its own and rush mode off, as in cmd/benchbooking.
// BenchmarkHold is a hold that succeeds, on a slot of its own each time.
func BenchmarkHoldRefused(b *testing.B) { benchmarkHold(b, true) }
func BenchmarkHold(b *testing.B)        { benchmarkHold(b, false) }

func benchmarkHold(b *testing.B, refused bool) {
	h := newHarness(b, map[string]string{"PORTAL_BOOKING_RUSH_HOLDS": "0"})
	c := h.citizen(b)
	_, page := c.get(bookPath)
	free := slots(b, page)
	if refused { // every place of the slot held
		for n := 0; ; n++ {
			res, body := c.post(bookPath, url.Values{"kalender": {"vor-ort"}, "beginn": {free[0]}})
			if res.StatusCode == http.StatusConflict {
				break
			}
			if res.StatusCode != http.StatusSeeOther || n > 10 {
				b.Fatalf("hold %d: %d\n%s", n, res.StatusCode, excerpt(body))
			}
		}
	}
	cookie := "__Host-csrf=" + c.cookies["__Host-csrf"]
	handler := h.srv.App().Handler()
	want := http.StatusConflict
	if !refused {
		want = http.StatusSeeOther
	}
	b.ReportAllocs()
	i, client := 0, 0
	for b.Loop() {
		slot := free[0]
		if !refused {
			if i >= len(free) {
				b.StopTimer()
				if _, err := h.db.Exec(b.Context(), `DELETE FROM booking`); err != nil {
					b.Fatal(err)
				}
				i = 0
				b.StartTimer()
			}
			slot = free[i]
		}
		var req fasthttp.Request
		req.Header.SetMethod(http.MethodPost)
		req.SetRequestURI(bookPath)
		req.Header.SetHost("localhost:8080")
		req.Header.Set("Cookie", cookie)
		req.Header.SetContentType("application/x-www-form-urlencoded")
		req.SetBodyString(url.Values{"_csrf": {c.token}, "kalender": {"vor-ort"}, "beginn": {slot}}.Encode())
		ctx := &fasthttp.RequestCtx{}
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(10, byte(client>>16), byte(client>>8), byte(client)), Port: 40000}, nil)
		i, client = i+1, client+1
		handler(ctx)
		if ctx.Response.StatusCode() != want {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), excerpt(string(ctx.Response.Body())))
		}
		if refused && !strings.Contains(string(ctx.Response.Body()), "booking-error") {
			b.Fatalf("no refusal on the page: %s", excerpt(string(ctx.Response.Body())))
		}
	}
}

// BenchmarkBookingWeek is the page a rush loads most: a week of free
// slots (the sixth from now, all its places free) as a new visitor gets
// it, gzip-compressed, from the kept page with the visitor's own CSRF
// token spliced in. The request context is reused, as fasthttp's server
// does on a connection, so that the response's body buffer comes from
// its pool.
func BenchmarkBookingWeek(b *testing.B) {
	h := newHarness(b, map[string]string{"PORTAL_BOOKING_RUSH_HOLDS": "0"})
	now := time.Now().In(h.app.Location)
	monday := now.AddDate(0, 0, 35-(int(now.Weekday())+6)%7)
	uri := bookPath + "?kalender=vor-ort&ab=" + monday.Format(time.DateOnly)
	_, page := h.citizen(b).get(uri)
	if n := len(slots(b, page)); n < 20 {
		b.Fatalf("the sixth week offers %d slots", n)
	}
	handler := h.srv.App().Handler()
	var req fasthttp.Request
	req.Header.SetMethod(http.MethodGet)
	req.SetRequestURI(uri)
	req.Header.SetHost("localhost:8080")
	req.Header.Set("Accept-Encoding", "gzip, deflate, br")
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	b.ReportAllocs()
	for b.Loop() {
		// What fasthttp's server resets between requests on a connection.
		req.CopyTo(&ctx.Request)
		ctx.Response.Reset()
		ctx.ResetUserValues()
		handler(ctx)
		if ctx.Response.StatusCode() != http.StatusOK || string(ctx.Response.Header.ContentEncoding()) != "gzip" {
			b.Fatalf("status %d, encoding %q", ctx.Response.StatusCode(), ctx.Response.Header.ContentEncoding())
		}
	}
	html, err := ctx.Response.BodyGunzip()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(ctx.Response.Body())), "gzip-bytes")
	b.ReportMetric(float64(len(html)), "html-bytes")
}
