package portal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/gesundheitsamt/portal/internal/app"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
	"github.com/gesundheitsamt/portal/internal/video"
	"github.com/gesundheitsamt/portal/internal/video/sfu"
	"github.com/gesundheitsamt/portal/internal/video/sfu/sfutest"
)

// wsClient is one end of a call's websocket in a test: what it received,
// in order, and a way to wait for a message of a type.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
	wmu  sync.Mutex // one writer at a time: the test and the media's peer both write
	mu   sync.Mutex
	got  []video.Message
	more chan struct{}
	// media, once set, is handed every media message (offer, candidate,
	// peers) as a browser's peer connection would take it.
	media func(sfu.Message)
	// echo, once set, is handed the connection test's media messages.
	echo   func(sfu.Message)
	closed chan struct{}
}

// dialCall opens the websocket at path of the server at base, as a page
// of the portal does (same Origin), with the cookies given.
func dialCall(t *testing.T, base, path, cookies string) (*wsClient, *http.Response, error) {
	t.Helper()
	u, _ := url.Parse(base)
	header := http.Header{"Origin": {base}}
	if cookies != "" {
		header.Set("Cookie", cookies)
	}
	conn, res, err := websocket.DefaultDialer.Dial("ws://"+u.Host+path, header)
	if err != nil {
		return nil, res, err
	}
	c := &wsClient{t: t, conn: conn, more: make(chan struct{}, 1), closed: make(chan struct{})}
	go c.read()
	t.Cleanup(func() { _ = conn.Close() })
	return c, res, nil
}

func (c *wsClient) read() {
	defer close(c.closed)
	for {
		var m video.Message
		if err := c.conn.ReadJSON(&m); err != nil {
			return
		}
		c.mu.Lock()
		c.got = append(c.got, m)
		media, echo := c.media, c.echo
		c.mu.Unlock()
		isMedia := m.Type == sfu.TypeOffer || m.Type == sfu.TypeCandidate || m.Type == sfu.TypePeers
		switch {
		case m.Echo && echo != nil && isMedia:
			echo(m.Message)
		case !m.Echo && media != nil && isMedia:
			media(m.Message)
		}
		select {
		case c.more <- struct{}{}:
		default:
		}
	}
}

func (c *wsClient) write(m any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.conn.WriteJSON(m)
}

func (c *wsClient) send(m video.Message) {
	c.t.Helper()
	if err := c.write(m); err != nil {
		c.t.Fatal(err)
	}
}

// await returns the first message of type typ received after the first
// skip ones, waiting up to ten seconds.
func (c *wsClient) await(typ string) video.Message {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		for _, m := range c.got {
			if m.Type == typ {
				c.mu.Unlock()
				return m
			}
		}
		c.mu.Unlock()
		select {
		case <-c.more:
		case <-c.closed:
			c.mu.Lock()
			for _, m := range c.got {
				if m.Type == typ {
					c.mu.Unlock()
					return m
				}
			}
			got := c.got
			c.mu.Unlock()
			c.t.Fatalf("the socket closed without a %q message; got %+v", typ, got)
		case <-deadline:
			c.t.Fatalf("no %q message within 10 s; got %+v", typ, c.got)
		}
	}
}

// lastLobby returns the latest lobby message.
func (c *wsClient) lastLobby() []video.Waiting {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.got) - 1; i >= 0; i-- {
		if c.got[i].Type == video.TypeLobby {
			return c.got[i].Waiting
		}
	}
	return nil
}

// waitClosed waits until the server closed the socket.
func (c *wsClient) waitClosed() {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(10 * time.Second):
		c.t.Fatal("the server did not close the socket")
	}
}

// callWorld is a consultation of Leipzig about a case without an
// address (so staff see the link to pass on), a caseworker logged in,
// and the app on a loopback port.
type callWorld struct {
	h       *harness
	base    string
	staff   *citizen
	caseID  int64
	consult int64
	token   string
}

var ticketAttr = regexp.MustCompile(`data-ticket="([^"]+)"`)

func newCallWorld(t *testing.T, opts ...func(*app.Options)) *callWorld {
	t.Helper()
	h := newHarnessOn(t, nil, storetest.New(t), opts...)
	return newCallWorldOn(t, h, h.listen())
}

// newCallWorldOn is newCallWorld on the app of h, listening at base.
func newCallWorldOn(t *testing.T, h *harness, base string) *callWorld {
	t.Helper()
	w := &callWorld{h: h, base: base}
	w.caseID, _ = h.submitGutachten(t, "leipzig")
	pw := h.addStaff(t, "leipzig", "sb@leipzig.test", "caseworker", testTOTP)
	w.staff = h.logIn(t, "sb@leipzig.test", pw)
	ctx := context.Background()
	if _, err := h.db.Exec(ctx, `UPDATE submission SET contact_email = '' WHERE id = $1`, w.caseID); err != nil {
		t.Fatal(err)
	}
	o, err := store.GetOfficeBySlug(ctx, h.db, "leipzig")
	if err != nil {
		t.Fatal(err)
	}
	created, err := h.app.Video.Plan(ctx, video.Access{OfficeID: o.ID, StaffID: staffID(t, h, "sb@leipzig.test"), Role: domain.Caseworker},
		w.caseID, time.Now().Add(10*time.Minute), 20)
	if err != nil {
		t.Fatal(err)
	}
	w.consult, w.token = created.Consultation.ID, created.Token
	return w
}

// waitingPatient goes through the landing page as name, opens the call
// socket at base with the ticket and returns it once it waits, with the
// waiting message.
func (w *callWorld) waitingPatient(t *testing.T, base, name string) (*wsClient, video.Message) {
	t.Helper()
	ticket := w.ticket(t, name)
	c, _, err := dialCall(t, base, "/video/"+w.token+"/ws", "")
	if err != nil {
		t.Fatal(err)
	}
	c.send(video.Message{Message: sfu.Message{Type: video.TypeHello}, Ticket: ticket})
	return c, c.await(video.TypeWaiting)
}

// ticket goes through the landing page as the link's holder would and
// returns the call page's ticket.
func (w *callWorld) ticket(t *testing.T, name string) string {
	t.Helper()
	p := w.h.citizen(t)
	res, _ := p.get("/video/" + w.token)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("landing page: %d", res.StatusCode)
	}
	res, b := p.post("/video/"+w.token, url.Values{"einwilligung": {"1"}, "name": {name}})
	m := ticketAttr.FindStringSubmatch(b)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("call page: %d\n%s", res.StatusCode, excerpt(b))
	}
	return strings.ReplaceAll(m[1], "&#43;", "+")
}

func (w *callWorld) staffCookies() string {
	var parts []string
	for k, v := range w.staff.cookies {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, "; ")
}

// media makes a pion peer for c that publishes audio and video named
// name and answers the server's offers over c's socket.
func media(t *testing.T, c *wsClient, name string) *sfutest.Client {
	t.Helper()
	return mediaWith(t, c, sfutest.Options{Name: name, Audio: true, Video: true})
}

// mediaWith is media with the peer's options.
func mediaWith(t *testing.T, c *wsClient, opt sfutest.Options) *sfutest.Client {
	t.Helper()
	p, err := sfutest.New(func(m sfu.Message) error { return c.write(video.Message{Message: m}) }, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	c.mu.Lock()
	c.media = p.Handle
	earlier := append([]video.Message(nil), c.got...)
	c.mu.Unlock()
	for _, m := range earlier {
		if m.Type == sfu.TypeOffer || m.Type == sfu.TypeCandidate || m.Type == sfu.TypePeers {
			p.Handle(m.Message)
		}
	}
	return p
}

// TestACallThroughTheWaitingRoom: the patient goes from the landing page
// into the waiting room; the caseworker, in the call, sees them waiting
// and lets them in; both then receive each other's audio and video
// through the SFU, byte for byte; the waiting room, admission and
// departure are metadata, and admission is audited.
func TestACallThroughTheWaitingRoom(t *testing.T) {
	w := newCallWorld(t)
	ticket := w.ticket(t, "Zoë Ó Briain")

	patient, _, err := dialCall(t, w.base, "/video/"+w.token+"/ws", "")
	if err != nil {
		t.Fatal(err)
	}
	patient.send(video.Message{Message: sfu.Message{Type: video.TypeHello}, Ticket: ticket})
	waiting := patient.await(video.TypeWaiting)
	if waiting.Start == "" {
		t.Errorf("waiting without the planned start: %+v", waiting)
	}

	staff, _, err := dialCall(t, w.base, fmt.Sprintf("/staff/video/%d/ws", w.consult), w.staffCookies())
	if err != nil {
		t.Fatal(err)
	}
	staffMedia := media(t, staff, "staff")
	staff.await(video.TypeJoined)
	lobby := staff.await(video.TypeLobby).Waiting
	if len(lobby) != 1 || lobby[0].Name != "Zoë Ó Briain" || lobby[0].Guest {
		t.Fatalf("lobby %+v", lobby)
	}
	// The office's list shows who waits, from the database.
	if _, b := w.staff.get("/staff/video"); !strings.Contains(b, "Wartend: 1") {
		t.Errorf("the list does not show the waiting patient\n%s", excerpt(b))
	}

	// Until admitted, the patient has no media.
	if err := patient.write(video.Message{Message: sfu.Message{Type: sfu.TypeRestart}}); err != nil {
		t.Fatal(err)
	}
	if m := patient.await(video.TypeError); m.Code != video.CodeBadMessage {
		t.Errorf("media before admission: %+v", m)
	}

	staff.send(video.Message{Message: sfu.Message{Type: video.TypeAdmit}, ID: lobby[0].ID})
	patientMedia := media(t, patient, "patient")
	patient.await(video.TypeAdmitted)

	deadline := time.Now().Add(20 * time.Second)
	for {
		a, okA := patientMedia.Received("staff", "video")
		b, okB := staffMedia.Received("patient", "video")
		c, okC := patientMedia.Received("staff", "audio")
		d, okD := staffMedia.Received("patient", "audio")
		if okA && okB && okC && okD && a.Distinct > 50 && b.Distinct > 50 && c.Distinct > 20 && d.Distinct > 20 {
			if a.Corrupt+b.Corrupt+c.Corrupt+d.Corrupt != 0 {
				t.Errorf("payloads changed on the way: %+v %+v %+v %+v", a, b, c, d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("media both ways: patient got %+v, staff got %+v; errors %v %v",
				patientMedia.Tracks(), staffMedia.Tracks(), patientMedia.Errors(), staffMedia.Errors())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(staff.lastLobby()) != 0 {
		t.Errorf("the lobby after admission: %+v", staff.lastLobby())
	}

	// The patient leaves: the staff's peers shrink; the metadata and the
	// audit log say what happened, with no content.
	_ = patient.conn.Close()
	waitFor(t, func() bool { return len(staffMedia.Peers()) == 1 })
	kinds := presenceKinds(t, w.h, w.consult)
	for _, want := range []string{store.PresenceWaiting, store.PresenceJoined, store.PresenceAdmitted, store.PresenceLeft} {
		if !strings.Contains(kinds, want) {
			t.Errorf("metadata %s lacks %q", kinds, want)
		}
	}
	var admits int
	if err := w.h.db.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = $1 AND object = $2`,
		string(domain.VideoAdmit), string(domain.VideoObject(w.consult))).Scan(&admits); err != nil || admits != 1 {
		t.Errorf("admission audited %d times, %v", admits, err)
	}

	// Back within a minute: straight into the call, no second admission.
	again, _, err := dialCall(t, w.base, "/video/"+w.token+"/ws", "")
	if err != nil {
		t.Fatal(err)
	}
	again.send(video.Message{Message: sfu.Message{Type: video.TypeHello}, Ticket: ticket})
	again.await(video.TypeAdmitted)
	again.await(sfu.TypeOffer)

	// The staff member leaves too: the history names who left.
	_ = staff.conn.Close()
	waitFor(t, func() bool { return strings.Count(presenceKinds(t, w.h, w.consult), store.PresenceLeft) >= 2 })
	if _, b := w.staff.get(fmt.Sprintf("/staff/video/%d", w.consult)); !strings.Contains(b, "Test caseworker hat den Raum verlassen") {
		t.Errorf("the history does not name the staff member who left\n%s", excerpt(b))
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func presenceKinds(t *testing.T, h *harness, id int64) string {
	t.Helper()
	var s string
	if err := h.db.QueryRow(context.Background(), `SELECT coalesce(string_agg(kind, ',' ORDER BY id), '') FROM video_presence WHERE consultation_id = $1`, id).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCallSocketsRefuse: what must not get into a call does not, each
// with a closed socket or a refused upgrade, never a 500 or a panic.
func TestCallSocketsRefuse(t *testing.T) {
	w := newCallWorld(t)
	ticket := w.ticket(t, "Zoë")
	link := "/video/" + w.token + "/ws"

	// Another site's page: the upgrade is refused before anything else.
	u, _ := url.Parse(w.base)
	if _, res, err := websocket.DefaultDialer.Dial("ws://"+u.Host+link, http.Header{"Origin": {"https://evil.example"}}); err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("a foreign origin: %v, %v", res, err)
	}
	// No staff session: the staff socket is the login's redirect.
	if _, res, err := websocket.DefaultDialer.Dial(fmt.Sprintf("ws://%s/staff/video/%d/ws", u.Host, w.consult), http.Header{"Origin": {w.base}}); err == nil || res == nil || res.StatusCode == http.StatusSwitchingProtocols {
		t.Errorf("staff socket without a session: %v, %v", res, err)
	}

	// Halle's caseworker, logged in, reaches Leipzig's call as one that
	// does not exist: refused.
	pw := w.h.addStaff(t, "halle", "sb@halle.test", "caseworker", testTOTP)
	halle := w.h.logIn(t, "sb@halle.test", pw)
	var parts []string
	for k, v := range halle.cookies {
		parts = append(parts, k+"="+v)
	}
	for _, id := range []int64{w.consult, 99999999} {
		c, _, err := dialCall(t, w.base, fmt.Sprintf("/staff/video/%d/ws", id), strings.Join(parts, "; "))
		if err != nil {
			t.Fatal(err)
		}
		if m := c.await(video.TypeError); m.Code != video.CodeBadMessage {
			t.Errorf("Halle in consultation %d: %+v", id, m)
		}
		c.waitClosed()
	}

	for _, tc := range []struct {
		name  string
		path  string
		first any
	}{
		{"no hello", link, video.Message{Message: sfu.Message{Type: sfu.TypeAnswer, SDP: "v=0"}}},
		{"a forged ticket", link, video.Message{Message: sfu.Message{Type: video.TypeHello}, Ticket: "1999999999.WnnDqw.AAAA"}},
		{"another link's ticket", "/video/" + strings.Repeat("0", 26) + "/ws", video.Message{Message: sfu.Message{Type: video.TypeHello}, Ticket: ticket}},
		{"not JSON", link, "{{{"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := dialCall(t, w.base, tc.path, "")
			if err != nil {
				t.Fatal(err)
			}
			if s, ok := tc.first.(string); ok {
				_ = c.conn.WriteMessage(websocket.TextMessage, []byte(s))
			} else {
				c.send(tc.first.(video.Message))
			}
			if m := c.await(video.TypeError); m.Code != video.CodeBadMessage {
				t.Errorf("error %+v", m)
			}
			c.waitClosed()
		})
	}

	// An oversized message closes the socket.
	c, _, err := dialCall(t, w.base, link, "")
	if err != nil {
		t.Fatal(err)
	}
	c.send(video.Message{Message: sfu.Message{Type: video.TypeHello}, Ticket: ticket})
	c.await(video.TypeWaiting)
	big, _ := json.Marshal(video.Message{Message: sfu.Message{Type: sfu.TypeAnswer, SDP: strings.Repeat("a", 200<<10)}})
	_ = c.conn.WriteMessage(websocket.TextMessage, big)
	c.waitClosed()

	// A second tab with the same link replaces the first, which is told.
	first, _, err := dialCall(t, w.base, link, "")
	if err != nil {
		t.Fatal(err)
	}
	first.send(video.Message{Message: sfu.Message{Type: video.TypeHello}, Ticket: ticket})
	first.await(video.TypeWaiting)
	second, _, err := dialCall(t, w.base, link, "")
	if err != nil {
		t.Fatal(err)
	}
	second.send(video.Message{Message: sfu.Message{Type: video.TypeHello}, Ticket: ticket})
	second.await(video.TypeWaiting)
	first.await(video.TypeReplaced)
	first.waitClosed()

	// Flooding closes the socket.
	for i := 0; i < 200; i++ {
		if second.write(video.Message{Message: sfu.Message{Type: video.TypeRelay}}) != nil {
			break
		}
	}
	if m := second.await(video.TypeError); m.Code != video.CodeBadMessage && m.Code != video.CodeTooFast {
		t.Errorf("flood: %+v", m)
	}
	second.waitClosed()

	// A cancelled consultation's link lets nobody in.
	if _, err := w.h.db.Exec(context.Background(), `UPDATE video_consultation SET state = 'cancelled' WHERE id = $1`, w.consult); err != nil {
		t.Fatal(err)
	}
	late, _, err := dialCall(t, w.base, link, "")
	if err != nil {
		t.Fatal(err)
	}
	late.send(video.Message{Message: sfu.Message{Type: video.TypeHello}, Ticket: ticket})
	if m := late.await(video.TypeError); m.Code != video.CodeClosed {
		t.Errorf("cancelled: %+v", m)
	}
	late.waitClosed()
}
