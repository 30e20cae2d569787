package video_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/video"
	"github.com/gesundheitsamt/portal/internal/video/sfu"
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

// TestHubTakeover: the process holding a call dies (its people are gone
// without leaving) and another takes the call over. Staff's decisions
// were kept in PostgreSQL, not only by the dead process: someone let in
// comes back without being admitted again for Rejoin after the last beat
// of the dead process (Hub.Keep) that saw them in the call, and someone
// turned away does not wait again.
func TestHubTakeover(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inCall time.Duration // how long the patient was in the call on the first node, which beat then
		after  time.Duration // from the last beat to the patient's return on the second node
		want   string
	}{
		{"back at once", 0, time.Second, video.TypeAdmitted},
		{"back within the minute", 0, video.Rejoin - time.Second, video.TypeAdmitted},
		{"back within the minute of a long call", 20 * time.Minute, video.Rejoin - time.Second, video.TypeAdmitted},
		{"back too late", 20 * time.Minute, video.Rejoin, video.TypeWaiting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newHubWorld(t)
			ctx := context.Background()
			staff, staffConn := w.mustStaff(t, w.caseworker, w.id)
			_, patientConn := w.mustLink(t, w.tokens[0])
			_, guestConn := w.mustLink(t, w.tokens[1])
			staffConn.until(t, "told both wait", func() bool { return len(staffConn.lobby()) == 2 })
			if err := w.handle(t, staff, msg(video.TypeAdmit, w.links[0])); err != nil {
				t.Fatal(err)
			}
			if err := w.handle(t, staff, msg(video.TypeDeny, w.links[1])); err != nil {
				t.Fatal(err)
			}
			patientConn.await(t, sfu.TypeOffer)
			guestConn.wantLast(t, "the guest", video.TypeDenied)
			w.now = w.now.Add(tc.inCall)
			if err := w.hub.Keep(ctx, ""); err != nil {
				t.Fatal(err)
			}

			w.failOver(t)
			w.now = w.now.Add(tc.after)
			_, staffConn = w.mustStaff(t, w.caseworker, w.id)
			_, patientConn = w.mustLink(t, w.tokens[0])
			if got := patientConn.hubTypes(); !slices.Equal(got, []string{tc.want}) {
				t.Errorf("the patient on the second node was sent %v, want %v", got, []string{tc.want})
			} else if tc.want == video.TypeAdmitted {
				patientConn.await(t, sfu.TypeOffer)
			}
			_, _, err := w.enterLink(t, w.tokens[1])
			wantRefused(t, "the guest on the second node", err, video.ErrDenied)
		})
	}
}

// failOver plays the death of the process holding w's call: its hub is
// dropped without anyone leaving, as a crash leaves it, and a hub on
// media of its own, another process's, takes over.
func (w *hubWorld) failOver(t *testing.T) {
	t.Helper()
	media, err := sfu.New(sfu.Config{Loopback: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = media.Close() })
	w.media, w.hub = media, video.NewHub(w.svc, media, nil, nil)
}

// Staff decide about the links of the consultation they decide in, and
// no other's: the decision is kept with the link.
func TestDecideOnlyTheConsultationsLinks(t *testing.T) {
	w := newHubWorld(t)
	ctx := context.Background()
	other := w.newCall(t)
	if err := w.svc.Admit(ctx, w.caseworker, w.id, other.links[0]); fault.KindOf(err) != fault.NotFound {
		t.Errorf("admitting another consultation's link: %v, want NotFound", err)
	}
	if err := w.svc.Deny(ctx, w.caseworker, w.id, other.links[1]); fault.KindOf(err) != fault.NotFound {
		t.Errorf("turning another consultation's link away: %v, want NotFound", err)
	}
	j, err := w.svc.OpenLink(ctx, other.tokens[1])
	if err != nil {
		t.Fatal(err)
	}
	if j.Link.Denied || j.Link.RejoinUntil != nil {
		t.Errorf("the other consultation's link after the refused decisions: %+v", j.Link)
	}
	if err := w.svc.Deny(ctx, w.caseworker, w.id, w.links[1]); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.Admit(ctx, w.caseworker, w.id, w.links[1]); fault.KindOf(err) != fault.NotFound {
		t.Errorf("admitting a link turned away: %v, want NotFound", err)
	}
}
