package video_test

import (
	"context"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/fault"
)

// TestClaim: the first node to claim a call holds it; another node is
// told the holder while its hold is fresh, and takes the call once the
// holder has not renewed it for the lease; renewing keeps it.
func TestClaim(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := w.plan(t, w.now.Add(10*time.Minute)).Consultation
	const a, b = "http://10.0.0.1:8080", "http://10.0.0.2:8080"

	claim := func(node, want string) {
		t.Helper()
		if got, err := w.svc.Claim(ctx, c, node); err != nil || got != want {
			t.Fatalf("%s claims: %q, %v; want %q", node, got, err, want)
		}
	}
	claim(a, a)
	claim(b, a)
	claim(a, a)

	age := func() {
		t.Helper()
		if _, err := w.db.Exec(ctx, `UPDATE video_consultation SET node_seen_at = now() - interval '31 seconds' WHERE id = $1`, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	age()
	if err := w.svc.KeepNode(ctx, a, []int64{c.ID}); err != nil {
		t.Fatal(err)
	}
	claim(b, a) // renewed in time
	age()
	claim(b, b) // a is gone

	// Another office's consultation is nobody's to claim.
	other := c
	other.OfficeID = w.halle.ID
	if _, err := w.svc.Claim(ctx, other, a); fault.KindOf(err) != fault.NotFound {
		t.Errorf("claiming through another office: %v, want NotFound", err)
	}
}
