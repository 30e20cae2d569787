package video

import (
	"time"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/video/sfu"
)

// The connection test of the waiting room: the browser publishes a
// generated test picture and tone (never the camera or the microphone,
// which are not encrypted here) into an echo room of the media
// (sfu.SFU.Echo) and measures what comes back: round-trip time, loss,
// bitrate, and whether it needed TURN. Its media messages carry Echo, so
// they never mix with the call's.
const (
	TypeEcho    = "echo"     // link holder → server: start the connection test
	TypeEchoEnd = "echo_end" // server → link holder: the test ran out of time

	// EchoTime is how long one connection test may run.
	EchoTime = 15 * time.Second
	// MaxEchoes is how many connection tests one connection may run.
	MaxEchoes = 3
)

// echo is a member's running connection test.
type echo struct {
	peer  *sfu.Peer
	timer *time.Timer
}

// echoSignal passes the echo peer's messages to the member's socket,
// marked as the test's.
type echoSignal struct{ m *Member }

func (e echoSignal) Signal(s sfu.Message) error {
	return e.m.conn.Send(Message{Message: s, Echo: true})
}

// handleEcho starts the connection test of a waiting link holder, ending
// a test that still runs, or passes the browser's answer and candidates to
// it. Errors: Invalid (not waiting, MaxEchoes reached, no test running);
// those of the media's Join and Handle.
func (h *Hub) handleEcho(m *Member, msg Message) error {
	const op = "video: echo"
	if msg.Type != TypeEcho {
		h.mu.Lock()
		e := m.echo
		h.mu.Unlock()
		if e == nil || e.peer == nil {
			return fault.New(fault.Invalid, op, "")
		}
		switch msg.Type {
		case sfu.TypeAnswer, sfu.TypeCandidate, sfu.TypeRestart:
			return e.peer.Handle(msg.Message)
		}
		return fault.New(fault.Invalid, op, "")
	}
	h.mu.Lock()
	waiting := m.linkID != 0 && m.room.waiting[m.linkID] == m
	if !waiting || m.echoes >= MaxEchoes {
		h.mu.Unlock()
		return fault.New(fault.Invalid, op, "")
	}
	// A new test replaces a running one (the page asked again before
	// the server's time was up); the old one ends without a word, and
	// leaves the echo room before the new one enters it.
	old := m.echo
	m.echoes++
	e := &echo{}
	m.echo = e // reserved while the media joins
	h.mu.Unlock()
	if old != nil {
		old.stop()
	}

	p, err := h.media.Echo(m.id).Join(m.id, sfu.PeerInfo{Name: m.name, Role: m.role}, echoSignal{m})
	h.mu.Lock()
	if err != nil || m.echo != e {
		if m.echo == e {
			m.echo = nil
		}
		h.mu.Unlock()
		if p != nil {
			p.Close() // ended (let in, gone) while it joined
		}
		return err
	}
	e.peer = p
	e.timer = time.AfterFunc(EchoTime, func() { h.endEcho(m, e, true) })
	h.mu.Unlock()
	go func() {
		<-p.Done()
		h.endEcho(m, e, false) // the browser closed it: it knows
	}()
	return nil
}

// endEcho ends m's connection test e, if it still runs, and tells the
// browser when the time ran out.
func (h *Hub) endEcho(m *Member, e *echo, tell bool) {
	h.mu.Lock()
	if m.echo != e {
		h.mu.Unlock()
		return
	}
	m.echo = nil
	left := m.left
	h.mu.Unlock()
	e.stop()
	if tell && !left {
		_ = m.conn.Send(Message{Message: sfu.Message{Type: TypeEchoEnd}, Echo: true})
	}
}

// stopEchoLocked ends m's connection test without telling the browser
// (it is being let in, or gone); the media closes in the background, as
// h.mu is held.
func (h *Hub) stopEchoLocked(m *Member) {
	if e := m.echo; e != nil {
		m.echo = nil
		go e.stop()
	}
}

func (e *echo) stop() {
	if e.timer != nil {
		e.timer.Stop()
	}
	if e.peer != nil {
		e.peer.Close()
	}
}
