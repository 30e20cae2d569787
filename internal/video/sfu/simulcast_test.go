package sfu

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

const offerSDP = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=recvonly\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=extmap:2 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=recvonly\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=sendonly\r\n"

func TestSimulcastOffer(t *testing.T) {
	got := simulcastOffer(offerSDP, "1")
	want := strings.Replace(offerSDP, "a=mid:1\r\na=extmap:2 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=recvonly\r\n",
		"a=mid:1\r\na=extmap:2 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=recvonly\r\na=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\na=simulcast:recv q;h;f\r\n", 1)
	if got != want {
		t.Errorf("offer:\n%s\nwant:\n%s", got, want)
	}
	// Not in a section that is not the camera's, nor one the server sends
	// on, nor without a camera slot.
	for _, mid := range []string{"0", "2", "3", ""} {
		if got := simulcastOffer(offerSDP, mid); got != offerSDP {
			t.Errorf("mid %q: changed:\n%s", mid, got)
		}
	}
	// Nor once pion offers simulcast itself (after an answer with it).
	if again := simulcastOffer(got, "1"); again != got {
		t.Errorf("simulcast offered twice:\n%s", again)
	}
}

func TestSimulcastAnswer(t *testing.T) {
	browser := "v=0\r\ns=-\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\na=rid:q send\r\na=rid:h send\r\na=rid:f send\r\na=simulcast:send q;h;f\r\n"
	if got := simulcastAnswer(browser); got != browser {
		t.Errorf("a browser's simulcast was changed:\n%s", got)
	}
	pion := "v=0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\na=simulcast:recv q;h;f\r\na=ssrc:5 cname:x\r\na=sendonly\r\n"
	want := "v=0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=ssrc:5 cname:x\r\na=sendonly\r\n"
	if got := simulcastAnswer(pion); got != want {
		t.Errorf("answer with simulcast:recv:\n%s\nwant:\n%s", got, want)
	}
	// Rids the server did not offer: no simulcast.
	many := "v=0\r\ns=-\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\na=rid:q send\r\na=rid:x1 send\r\na=rid:x2 send\r\na=simulcast:send q;x1;x2\r\n"
	if got, want := simulcastAnswer(many), "v=0\r\ns=-\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\n"; got != want {
		t.Errorf("answer with rids not offered:\n%s\nwant:\n%s", got, want)
	}
	// The same with lines ending in LF alone, which pion reads too.
	if got := simulcastAnswer(strings.ReplaceAll(many, "\r\n", "\n")); strings.Contains(got, "a=rid") || strings.Contains(got, "a=simulcast") {
		t.Errorf("answer with LF lines and rids not offered kept them:\n%q", got)
	}
	plain := "v=0\r\ns=-\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\n"
	if got := simulcastAnswer(plain); got != plain {
		t.Errorf("an answer without simulcast was changed:\n%s", got)
	}
}

// A layer change continues the sequence numbers by one and the
// timestamps by the time passed; packets of the new layer from before the
// change are dropped; the old layer's numbers are not used again.
func TestRewriter(t *testing.T) {
	var r rewriter
	ms := int64(time.Millisecond)
	r.start(1000, 50000, 0)
	for i := range uint16(3) {
		if seq, ts, ok := r.rewrite(1000+i, 50000, 0); !ok || seq != 1000+i || ts != 50000 {
			t.Fatalf("first layer: %d %d %v", seq, ts, ok)
		}
	}
	// The next layer starts at 40 ms after the last packet sent.
	r.start(60000, 7, 40*ms)
	seq, ts, ok := r.rewrite(60000, 7, 40*ms)
	if !ok || seq != 1003 || ts != 50000+3600 {
		t.Fatalf("change: seq %d ts %d %v, want 1003 53600", seq, ts, ok)
	}
	if seq, ts, _ := r.rewrite(60001, 7+3000, 73*ms); seq != 1004 || ts != 53600+3000 {
		t.Errorf("after the change: seq %d ts %d", seq, ts)
	}
	if _, _, ok := r.rewrite(59999, 7, 74*ms); ok {
		t.Error("a packet of the new layer from before the change was sent")
	}
	// A retransmission within the layer keeps its place.
	if seq, _, ok := r.rewrite(60000, 7, 75*ms); !ok || seq != 1003 {
		t.Errorf("retransmission: seq %d %v", seq, ok)
	}
	// Across the wrap of the sequence numbers.
	r.start(65535, 0, 80*ms)
	a, _, _ := r.rewrite(65535, 0, 80*ms)
	b, last, _ := r.rewrite(0, 0, 81*ms)
	if a != 1005 || b != 1006 {
		t.Errorf("across the wrap: %d %d, want 1005 1006", a, b)
	}
	// A change at once still moves the timestamp on.
	r.start(10, 90, 81*ms)
	if _, ts, _ := r.rewrite(10, 90, 81*ms); ts != last+1 {
		t.Errorf("a change at the same instant: ts %d, want %d", ts, last+1)
	}
}

// A layer forwarded for longer than half the sequence space loses no
// packet: the check for packets from before the change must not wrap.
func TestRewriterLongRun(t *testing.T) {
	var r rewriter
	r.start(1000, 0, 0)
	var want uint16 = 1000
	for i := range 140_000 {
		seq := uint16(1000 + i)
		got, _, ok := r.rewrite(seq, 0, int64(i))
		if !ok || got != want {
			t.Fatalf("packet %d (seq %d): %d %v, want %d", i, seq, got, ok, want)
		}
		want++
	}
}

func TestChooseLayer(t *testing.T) {
	rates := []int64{150_000, 500_000, 1_700_000}
	for _, c := range []struct {
		name    string
		rates   []int64
		current int
		share   int64
		want    int
	}{
		{"no limit: the best", rates, 0, -1, 2},
		{"fits the middle", rates, 1, 900_000, 1},
		{"a weak link: the smallest", rates, 2, 200_000, 0},
		{"none fits: the smallest", rates, 2, 50_000, 0},
		{"down at once", rates, 2, 1_600_000, 1},
		{"up only with a fifth to spare", rates, 1, 1_800_000, 1},
		{"up with room", rates, 1, 2_200_000, 2},
		{"a layer not sent is not chosen", []int64{150_000, 0, 1_700_000}, 2, 900_000, 0},
		{"the only one sent", []int64{0, 0, 1_700_000}, -1, 100_000, 2},
		{"none sent: stays", []int64{0, 0, 0}, 1, 900_000, 1},
		{"before the first", rates, -1, 900_000, 1},
		{"order does not matter", []int64{1_700_000, 150_000, 500_000}, 1, 900_000, 2},
	} {
		if got := chooseLayer(c.rates, c.current, c.share); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

type recorded struct{ pkts []rtp.Packet }

func (r *recorded) WriteRTP(p *rtp.Packet) error {
	c := *p
	c.Payload = slices.Clone(p.Payload)
	r.pkts = append(r.pkts, c)
	return nil
}

// A subscription gets its target layer from its first keyframe on, keeps
// the old layer until the new one's keyframe, and sends one stream
// without the publisher's header extensions.
func TestSubscriptionChangesAtKeyframes(t *testing.T) {
	rec := &recorded{}
	s := &subscription{out: rec, current: -1}
	s.target.Store(1)
	key, inter := []byte{0x10, 0x00, 0x9d}, []byte{0x10, 0x01}
	seqs := [2]uint16{100, 5000}
	now := int64(0)
	send := func(l int, payload []byte) {
		p := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seqs[l], Timestamp: uint32(now / 11111), SSRC: uint32(10 + l)}, Payload: payload}
		_ = p.Header.SetExtension(3, []byte{'h'})
		seqs[l]++
		s.forward(l, &p, vp8Keyframe(p.Payload), now)
		now += int64(time.Millisecond)
	}
	send(1, inter) // not before a keyframe
	send(0, key)   // not the target
	send(1, key)
	send(1, inter)
	s.target.Store(0)
	send(0, inter) // the old layer goes on until the new one's keyframe
	send(1, inter)
	send(0, key)
	send(1, key) // no longer the target
	send(0, inter)

	var layers []uint32
	for i, p := range rec.pkts {
		layers = append(layers, p.SSRC-10)
		if i > 0 && p.SequenceNumber != rec.pkts[i-1].SequenceNumber+1 {
			t.Errorf("packet %d: seq %d after %d", i, p.SequenceNumber, rec.pkts[i-1].SequenceNumber)
		}
		if i > 0 && int32(p.Timestamp-rec.pkts[i-1].Timestamp) <= 0 && p.SSRC != rec.pkts[i-1].SSRC {
			t.Errorf("packet %d: timestamp %d after %d at a change", i, p.Timestamp, rec.pkts[i-1].Timestamp)
		}
		if p.Extension || len(p.Extensions) > 0 {
			t.Errorf("packet %d carries header extensions", i)
		}
	}
	if want := []uint32{1, 1, 1, 0, 0}; !slices.Equal(layers, want) {
		t.Errorf("layers sent %v, want %v", layers, want)
	}
}

// Before the rates are known (target -1), a subscription takes the first
// layer with a keyframe and stays on it at the keyframes of the others.
func TestSubscriptionFirstKeyframe(t *testing.T) {
	rec := &recorded{}
	s := &subscription{out: rec, current: -1}
	s.target.Store(-1)
	key := []byte{0x10, 0x00, 0x9d}
	for i, l := range []int{2, 0, 1, 2, 0} {
		p := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(100 * (l + 1)), SSRC: uint32(10 + l)}, Payload: key}
		p.SequenceNumber += uint16(i)
		s.forward(l, &p, true, int64(i))
	}
	var layers []uint32
	for _, p := range rec.pkts {
		layers = append(layers, p.SSRC-10)
	}
	if want := []uint32{2, 2}; !slices.Equal(layers, want) {
		t.Errorf("layers sent %v, want %v", layers, want)
	}
}

// A layer's rate is measured over whole seconds.
func TestLayerRate(t *testing.T) {
	var l layer
	for i := range 101 {
		l.count(1250, time.Now().UnixNano()+int64(i)*int64(10*time.Millisecond))
	}
	if got := l.rate.Load(); got < 990_000 || got > 1_010_000 {
		t.Errorf("rate %d, want about 1,000,000", got)
	}
}
