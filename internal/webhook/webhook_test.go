package webhook_test

import (
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/webhook"
)

func TestSignatures(t *testing.T) {
	secret := []byte("whsec_test")
	body := []byte(`{"event":"submission.created"}`)
	now := time.Unix(1_790_000_000, 0)
	sig := webhook.Sign(secret, now, body)
	for _, tc := range []struct {
		name   string
		secret []byte
		header string
		body   []byte
		at     time.Time
		want   bool
	}{
		{"as sent", secret, sig, body, now.Add(time.Minute), true},
		{"another body", secret, sig, []byte(`{"event":"submission.status_changed"}`), now, false},
		{"another secret", []byte("whsec_other"), sig, body, now, false},
		{"replayed an hour later", secret, sig, body, now.Add(time.Hour), false},
		{"another time claimed", secret, "t=1790000001," + sig[len("t=1790000000,"):], body, now, false},
		{"garbage", secret, "v1=abc", body, now, false},
	} {
		if got := webhook.Verify(tc.secret, tc.header, tc.body, tc.at, 5*time.Minute); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
