package mail_test

import (
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/mail"
)

// The summary goes out at 6:30 on the office's clock, in winter and in
// summer time, once a day.
func TestDailyAtFollowsTheWallClock(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	s := mail.DailyAt{At: mail.DigestAt, Loc: berlin}
	at := func(v string) time.Time {
		t.Helper()
		tm, err := time.ParseInLocation("2006-01-02 15:04", v, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tc := range []struct{ now, want string }{
		{"2026-11-24 05:00", "2026-11-24 06:30"},
		{"2026-11-24 06:30", "2026-11-25 06:30"}, // due now: the next is tomorrow
		{"2026-11-24 23:59", "2026-11-25 06:30"},
		{"2026-12-31 12:00", "2027-01-01 06:30"},
		{"2026-03-28 07:00", "2026-03-29 06:30"}, // into summer time: 23 hours later
		{"2026-10-24 07:00", "2026-10-25 06:30"}, // back to winter time: 25 hours later
	} {
		got := s.Next(at(tc.now).UTC())
		if !got.Equal(at(tc.want)) {
			t.Errorf("after %s: %s, want %s", tc.now, got.In(berlin).Format("2006-01-02 15:04 MST"), tc.want)
		}
	}
}
