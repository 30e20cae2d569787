package video_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/video"
	"github.com/gesundheitsamt/portal/internal/video/sfu"
)

// conn is a call's socket as the hub sees it (video.Conn), in memory, as
// portal/video_socket.go's socket: Send queues without blocking and
// fails once the socket is closed. It records what the hub sent.
type conn struct {
	mu     sync.Mutex
	got    []video.Message
	closed bool
	change chan struct{} // closed and replaced at every message and at Close
	// hold, when set, is run once, by the next Send, before the message
	// is taken: a sender paused between deciding what to send and sending.
	hold     func(video.Message)
	holdType string // the type hold waits for; "": any
}

var errConnGone = errors.New("test: the socket is closed")

func newConn() *conn { return &conn{change: make(chan struct{})} }

func (c *conn) Send(m video.Message) error {
	c.mu.Lock()
	hold := c.hold
	if hold != nil && (c.holdType == "" || c.holdType == m.Type) {
		c.hold = nil
	} else {
		hold = nil
	}
	c.mu.Unlock()
	if hold != nil {
		hold(m)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errConnGone
	}
	c.got = append(c.got, m)
	close(c.change)
	c.change = make(chan struct{})
	return nil
}

func (c *conn) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.change)
		c.change = make(chan struct{})
	}
}

// holdNext makes the next Send of a message of type typ wait until
// release is called; held is closed once it waits. Messages of other
// types (the media's offers and candidates, which come when they come)
// pass meanwhile.
func (c *conn) holdNext(typ string) (held <-chan struct{}, release func()) {
	h, r := make(chan struct{}), make(chan struct{})
	c.mu.Lock()
	c.hold, c.holdType = func(video.Message) { close(h); <-r }, typ
	c.mu.Unlock()
	return h, sync.OnceFunc(func() { close(r) })
}

// hubTypes are the types of the hub's own messages, in order, without
// the media's (peers, offer, candidate).
func (c *conn) hubTypes() []string { return c.types(false) }

func (c *conn) types(media bool) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.got {
		switch m.Type {
		case sfu.TypePeers, sfu.TypeOffer, sfu.TypeCandidate:
			if !media {
				continue
			}
		}
		out = append(out, m.Type)
	}
	return out
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// lobby returns the last waiting list the socket was sent.
func (c *conn) lobby() []video.Waiting {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.got) - 1; i >= 0; i-- {
		if c.got[i].Type == video.TypeLobby {
			return c.got[i].Waiting
		}
	}
	return nil
}

// until waits up to ten seconds for ok to hold of the socket.
func (c *conn) until(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		change := c.change
		c.mu.Unlock()
		if ok() {
			return
		}
		select {
		case <-change:
		case <-deadline:
			t.Fatalf("after 10 s, still not %s; got %v, closed %v", what, c.hubTypes(), c.isClosed())
		}
	}
}

// await waits for a message of type typ.
func (c *conn) await(t *testing.T, typ string) {
	t.Helper()
	c.until(t, "sent "+typ, func() bool { return slices.Contains(c.types(true), typ) })
}

// wantLast checks that the hub's last message was typ and that the hub
// closed the socket.
func (c *conn) wantLast(t *testing.T, who, typ string) {
	t.Helper()
	c.until(t, who+" closed", c.isClosed)
	if got := c.hubTypes(); len(got) == 0 || got[len(got)-1] != typ {
		t.Errorf("%s was sent %v, want %q last", who, got, typ)
	}
}

// hubWorld is a hub over the real SFU (loopback) and PostgreSQL, with one
// consultation that opened ten minutes ago, its patient's link and three
// guest links.
type hubWorld struct {
	*world
	hub   *video.Hub
	media *sfu.SFU
	call
}

// call is one consultation: its id and its links' tokens, the patient's
// first.
type call struct {
	id     int64
	tokens []string
	links  []int64
}

func newHubWorld(t *testing.T) *hubWorld {
	t.Helper()
	w := &hubWorld{world: newWorld(t)}
	media, err := sfu.New(sfu.Config{Loopback: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = media.Close() })
	w.media, w.hub = media, video.NewHub(w.svc, media, nil, nil)
	w.call = w.newCall(t)
	return w
}

func (w *hubWorld) newCall(t *testing.T) call {
	t.Helper()
	ctx := context.Background()
	created := w.plan(t, w.now.Add(10*time.Minute))
	c := call{id: created.Consultation.ID, tokens: []string{created.Token}}
	for i := range video.MaxGuests {
		token, err := w.svc.AddGuest(ctx, w.caseworker, c.id, "Gast "+strconv.Itoa(i), "", "de")
		if err != nil {
			t.Fatal(err)
		}
		c.tokens = append(c.tokens, token)
	}
	for _, token := range c.tokens {
		j, err := w.svc.OpenLink(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		c.links = append(c.links, j.Link.ID)
	}
	return c
}

// enterLink connects a new socket with token, as the landing page's
// ticket allows.
func (w *hubWorld) enterLink(t *testing.T, token string) (*video.Member, *conn, error) {
	t.Helper()
	ctx := context.Background()
	_, ticket, err := w.svc.Consent(ctx, token, true, "Name")
	if err != nil {
		return nil, nil, err
	}
	c := newConn()
	m, err := w.hub.EnterLink(ctx, token, ticket, c)
	return m, c, err
}

func (w *hubWorld) mustLink(t *testing.T, token string) (*video.Member, *conn) {
	t.Helper()
	m, c, err := w.enterLink(t, token)
	if err != nil {
		t.Fatalf("enter with a link: %v", err)
	}
	return m, c
}

func (w *hubWorld) mustStaff(t *testing.T, a video.Access, id int64) (*video.Member, *conn) {
	t.Helper()
	c := newConn()
	m, err := w.hub.EnterStaff(context.Background(), a, id, c)
	if err != nil {
		t.Fatalf("enter as staff: %v", err)
	}
	c.await(t, video.TypeJoined)
	return m, c
}

func (w *hubWorld) handle(t *testing.T, m *video.Member, msg video.Message) error {
	t.Helper()
	return w.hub.Handle(context.Background(), m, msg)
}

func msg(typ string, id int64) video.Message {
	return video.Message{Message: sfu.Message{Type: typ}, ID: id}
}

// peers returns the ids of consultation id's peers in the media.
func (w *hubWorld) peers(id int64) []string {
	var out []string
	for _, p := range w.media.Room(strconv.FormatInt(id, 10)).Peers() {
		out = append(out, p.ID)
	}
	return out
}

func presence(t *testing.T, w *hubWorld, linkID int64) []string {
	t.Helper()
	ps, err := store.ListPresence(context.Background(), w.db, w.leipzig.ID, w.id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		if p.LinkID == linkID {
			out = append(out, p.Kind)
		}
	}
	return out
}

func wantRefused(t *testing.T, what string, err error, want error) {
	t.Helper()
	if fault.KindOf(err) != fault.Conflict || (want != nil) != errors.Is(err, want) ||
		(want == nil && (errors.Is(err, video.ErrDenied) || errors.Is(err, video.ErrFull))) {
		if want == nil {
			want = errors.New("neither ErrDenied nor ErrFull")
		}
		t.Errorf("%s: %v (kind %v), want a Conflict: %v", what, err, fault.KindOf(err), want)
	}
}
