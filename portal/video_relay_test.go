package portal_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/gesundheitsamt/portal/internal/video"
	"github.com/gesundheitsamt/portal/internal/video/sfu"
	"github.com/gesundheitsamt/portal/internal/video/sfu/sfutest"
)

// TestARelayedCall: admitted, the patient gets the portal's TURN server
// with credentials of its own, and a peer that may use relayed
// candidates only (a network that reaches the media port in no other
// way) exchanges media with the staff member through it.
func TestARelayedCall(t *testing.T) {
	w := newCallWorld(t)
	patient, _ := w.waitingPatient(t, w.base, "Relayed Patient")
	staff, _, err := dialCall(t, w.base, fmt.Sprintf("/staff/video/%d/ws", w.consult), w.staffCookies())
	if err != nil {
		t.Fatal(err)
	}
	staffMedia := media(t, staff, "staff")
	joined := staff.await(video.TypeJoined)
	lobby := staff.await(video.TypeLobby).Waiting
	staff.send(video.Message{Message: sfu.Message{Type: video.TypeAdmit}, ID: lobby[0].ID})
	admitted := patient.await(video.TypeAdmitted)

	var servers []webrtc.ICEServer
	for _, s := range admitted.ICEServers {
		servers = append(servers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	if len(servers) != 1 || len(servers[0].URLs) != 2 || !strings.HasPrefix(servers[0].URLs[0], "turn:127.0.0.1:") ||
		!strings.HasSuffix(servers[0].URLs[1], "?transport=tcp") || servers[0].Username == "" || servers[0].Credential == "" {
		t.Fatalf("ICE servers of the admitted patient: %+v", admitted.ICEServers)
	}
	if !strings.HasSuffix(servers[0].Username, ":"+admitted.Self) {
		t.Errorf("TURN username %q is not the participant's (%s)", servers[0].Username, admitted.Self)
	}
	if len(joined.ICEServers) != 1 || joined.ICEServers[0].Username == servers[0].Username {
		t.Errorf("the staff member's ICE servers %+v are not their own", joined.ICEServers)
	}

	patientMedia := mediaWith(t, patient, sfutest.Options{Name: "patient", Audio: true, Video: true, ICEServers: servers, RelayOnly: true})
	deadline := time.Now().Add(20 * time.Second)
	for {
		a, okA := patientMedia.Received("staff", "video")
		b, okB := staffMedia.Received("patient", "video")
		if okA && okB && a.Distinct > 50 && b.Distinct > 50 {
			if a.Corrupt+b.Corrupt != 0 {
				t.Errorf("payloads changed on the way: %+v %+v", a, b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relayed media both ways: patient got %+v, staff got %+v; errors %v %v",
				patientMedia.Tracks(), staffMedia.Tracks(), patientMedia.Errors(), staffMedia.Errors())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
