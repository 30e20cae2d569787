package portal_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
	"github.com/gesundheitsamt/portal/internal/video"
	"github.com/gesundheitsamt/portal/internal/video/sfu"
)

// newNode starts one portal process of an installation on db, with its
// PORTAL_NODE_URL, listening on loopback.
func newNode(t *testing.T, db *store.DB) (*harness, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	h := newHarnessOn(t, map[string]string{"PORTAL_NODE_URL": base}, db)
	go func() { _ = h.srv.Serve(ln) }()
	h.base = base
	return h, base
}

// TestACallAcrossTwoNodes: two portal processes on one database. The
// caseworker's socket reaches node A, which takes the call; the
// patient's reaches node B, which passes it on to A: they meet in A's
// waiting room and call, with media both ways through A's SFU; a
// physician logged in through B joins the same call on A.
func TestACallAcrossTwoNodes(t *testing.T) {
	db := storetest.New(t)
	a, baseA := newNode(t, db)
	b, baseB := newNode(t, db)
	w := newCallWorldOn(t, a, baseA)

	staff, _, err := dialCall(t, baseA, fmt.Sprintf("/staff/video/%d/ws", w.consult), w.staffCookies())
	if err != nil {
		t.Fatal(err)
	}
	staffMedia := media(t, staff, "staff")
	staff.await(video.TypeJoined)
	var node string
	if err := db.QueryRow(context.Background(), `SELECT node FROM video_consultation WHERE id = $1`, w.consult).Scan(&node); err != nil || node != baseA {
		t.Fatalf("the call's node is %q (%v), want %s", node, err, baseA)
	}

	patient, _ := w.waitingPatient(t, baseB, "Über Knoten B")
	var lobby []video.Waiting
	waitFor(t, func() bool { lobby = staff.lastLobby(); return len(lobby) == 1 })
	if lobby[0].Name != "Über Knoten B" {
		t.Errorf("lobby on A: %+v", lobby)
	}
	staff.send(video.Message{Message: sfu.Message{Type: video.TypeAdmit}, ID: lobby[0].ID})
	patientMedia := media(t, patient, "patient")
	patient.await(video.TypeAdmitted)
	waitFor(t, func() bool {
		x, okX := patientMedia.Received("staff", "video")
		y, okY := staffMedia.Received("patient", "video")
		return okX && okY && x.Distinct > 30 && y.Distinct > 30
	})
	if got := b.app.Hub.Rooms(); len(got) != 0 {
		t.Errorf("node B holds calls %v; it only passes sockets on", got)
	}
	if got := a.app.Hub.Rooms(); !slices.Contains(got, w.consult) {
		t.Errorf("node A holds %v, not the call %d", got, w.consult)
	}

	// A physician's staff session works through B as well.
	pw := b.addStaff(t, "leipzig", "aerztin@leipzig.test", "physician", testTOTP)
	doctor := b.logIn(t, "aerztin@leipzig.test", pw)
	var cookies []string
	for k, v := range doctor.cookies {
		cookies = append(cookies, k+"="+v)
	}
	viaB, _, err := dialCall(t, baseB, fmt.Sprintf("/staff/video/%d/ws", w.consult), strings.Join(cookies, "; "))
	if err != nil {
		t.Fatal(err)
	}
	viaB.await(video.TypeJoined)
	waitFor(t, func() bool { return len(staffMedia.Peers()) == 3 })
	deadline := time.Now().Add(5 * time.Second)
	for len(b.app.Hub.Rooms()) != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := b.app.Hub.Rooms(); len(got) != 0 {
		t.Errorf("node B holds calls %v after the physician joined through it", got)
	}
}

// TestAJoinLooksUpOncePerNode: a socket passed on to the node holding
// the call is checked on each node once: the link's token (or the staff
// member's consultation) is looked up by the node the socket reached,
// which must know where the call is, and once more by the holder, which
// trusts no other node with who may enter; never twice on one node.
func TestAJoinLooksUpOncePerNode(t *testing.T) {
	db := storetest.New(t)
	dbA, countA := tracedDB(t, db)
	dbB, countB := tracedDB(t, db)
	a, baseA := newNode(t, dbA)
	_, baseB := newNode(t, dbB)
	w := newCallWorldOn(t, a, baseA)
	ticket := w.ticket(t, "Über Knoten B")

	// The caseworker's socket reaches A, which takes the call.
	staff, _, err := dialCall(t, baseA, fmt.Sprintf("/staff/video/%d/ws", w.consult), w.staffCookies())
	if err != nil {
		t.Fatal(err)
	}
	staff.await(video.TypeJoined)

	const linkLookup, officeLookup = "WHERE l.token_hash = $1", "FROM office WHERE id = $1"
	countA.reset()
	countB.reset()
	patient, _, err := dialCall(t, baseB, "/video/"+w.token+"/ws", "")
	if err != nil {
		t.Fatal(err)
	}
	patient.send(video.Message{Message: sfu.Message{Type: video.TypeHello}, Ticket: ticket})
	patient.await(video.TypeWaiting)
	for node, c := range map[string]*statements{"A": countA, "B": countB} {
		links, offices := c.count(linkLookup), c.count(officeLookup)
		t.Logf("node %s: %d lookups of the link, %d of its office", node, links, offices)
		if links != 1 || offices != 0 {
			t.Errorf("node %s looked the link up %d times and its office %d times; want once and never", node, links, offices)
		}
	}

	const consultationLookup = "WHERE c.id = $1 AND c.office_id = $2"
	countA.reset()
	countB.reset()
	viaB, _, err := dialCall(t, baseB, fmt.Sprintf("/staff/video/%d/ws", w.consult), w.staffCookies())
	if err != nil {
		t.Fatal(err)
	}
	viaB.await(video.TypeJoined) // the same caseworker's second tab, on A
	for node, c := range map[string]*statements{"A": countA, "B": countB} {
		n := c.count(consultationLookup)
		t.Logf("node %s: %d lookups of the consultation for staff", node, n)
		if n != 1 {
			t.Errorf("node %s looked the consultation up %d times for a staff socket; want once", node, n)
		}
	}
}

// tracedDB returns a second pool on db's database whose statements are
// counted.
func tracedDB(t *testing.T, db *store.DB) (*store.DB, *statements) {
	t.Helper()
	cfg := db.Config()
	s := &statements{}
	cfg.ConnConfig.Tracer = s
	traced, err := store.OpenConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(traced.Close)
	return traced, s
}

// statements records the SQL sent through a pool (pgx.QueryTracer).
type statements struct {
	mu  sync.Mutex
	sql []string
}

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sql = append(s.sql, d.SQL)
	return ctx
}

func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (s *statements) reset() { s.mu.Lock(); s.sql = nil; s.mu.Unlock() }

// count returns how many statements sent contain part.
func (s *statements) count(part string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.sql {
		if strings.Contains(q, part) {
			n++
		}
	}
	return n
}
