package main

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/pion/rtp/codecs"
)

func TestStampRoundTrip(t *testing.T) {
	for _, size := range []int{stampSize, audioSize, 1157} {
		b := make([]byte, size)
		for i := range b {
			b[i] = 0xee
		}
		want := stamp{from: 77, seq: 1<<40 + 3, sent: 1_790_000_000_123_456_789}
		putStamp(b, want)
		got, ok := readStamp(b)
		if !ok || got != want {
			t.Errorf("size %d: readStamp = %+v, %v; want %+v", size, got, ok, want)
		}
		if size > stampSize && b[0] != 0xee {
			t.Errorf("size %d: putStamp wrote before the last %d bytes", size, stampSize)
		}
	}
	for name, b := range map[string][]byte{
		"short":    make([]byte, stampSize-1),
		"no magic": make([]byte, 200),
	} {
		if _, ok := readStamp(b); ok {
			t.Errorf("%s: readStamp accepted it", name)
		}
	}
}

// TestVP8Payload checks that an SFU reading the payload as VP8 sees what
// the load means: a key frame starts its first packet, an interframe does
// not, later packets of a frame start nothing, and the stamp survives.
func TestVP8Payload(t *testing.T) {
	for _, tc := range []struct {
		name      string
		index     int
		key       bool
		wantStart bool
		wantKey   bool
	}{
		{"keyframe start", 0, true, true, true},
		{"interframe start", 0, false, true, false},
		{"keyframe continuation", 2, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, videoSize(1_000_000))
			vp8Payload(b, 300, tc.index, tc.key)
			putStamp(b, stamp{from: 1, seq: 2, sent: 3})
			var p codecs.VP8Packet
			if _, err := p.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
			if p.PictureID != 300 || p.PID != 0 {
				t.Errorf("picture id %d, partition %d; want 300, 0", p.PictureID, p.PID)
			}
			if start := p.S == 1; start != tc.wantStart {
				t.Errorf("start of partition = %v, want %v", start, tc.wantStart)
			}
			// Galène's test, codecs.Keyframe: the start of partition 0 with
			// the frame tag's inverse key-frame bit clear.
			if key := p.S == 1 && p.PID == 0 && p.Payload[0]&1 == 0; key != tc.wantKey {
				t.Errorf("keyframe = %v, want %v", key, tc.wantKey)
			}
			if tc.wantKey && (p.Payload[3] != 0x9d || p.Payload[4] != 0x01 || p.Payload[5] != 0x2a) {
				t.Errorf("no key-frame start code: % x", p.Payload[:6])
			}
			if s, ok := readStamp(b); !ok || s.seq != 2 {
				t.Errorf("stamp = %+v, %v", s, ok)
			}
		})
	}
}

func TestVideoSizeIsTheBitrate(t *testing.T) {
	size := videoSize(1_000_000)
	if size < 1100 || size > 1200 {
		t.Errorf("videoSize(1 Mbit/s) = %d, want 1100..1200", size)
	}
	if bits := size * 8 * packetsPerFrame * videoFPS; math.Abs(float64(bits)-1e6) > 1e4 {
		t.Errorf("%d bits a second, want 1 Mbit/s within 1 %%", bits)
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]uint32, 100)
	for i := range hundred {
		hundred[i] = uint32(100-i) * 1000 // 100 ms down to 1 ms, unsorted
	}
	for _, tc := range []struct {
		name   string
		delays []uint32
		p      float64
		want   float64
	}{
		{"median of 100", hundred, 50, 50},
		{"p99 of 100", hundred, 99, 99},
		{"max", hundred, 100, 100},
		{"tiny p", hundred, 0.001, 1},
		{"one value", []uint32{2500}, 99, 2.5},
		{"p99 of 3 is the largest", []uint32{1000, 9000, 2000}, 99, 9},
		{"median of 4 is the second", []uint32{4000, 1000, 3000, 2000}, 50, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(append([]uint32(nil), tc.delays...), tc.p); got != tc.want {
				t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
}

func TestLossPct(t *testing.T) {
	for _, tc := range []struct {
		sent, got int64
		want      float64
	}{{100, 100, 0}, {100, 99, 1}, {0, 0, 0}, {100, 101, 0}, {200, 150, 25}} {
		if got := lossPct(tc.sent, tc.got); got != tc.want {
			t.Errorf("lossPct(%d, %d) = %v, want %v", tc.sent, tc.got, got, tc.want)
		}
	}
}

func TestReceivedCountsEachPacketOnce(t *testing.T) {
	var r received
	for _, seq := range []uint64{5, 70, 5, 1000, 70} {
		if !r.has(seq) {
			r.n++
		}
	}
	if r.n != 3 {
		t.Errorf("%d distinct packets, want 3", r.n)
	}
}

func TestParsePidStat(t *testing.T) {
	// A command name with a space and a parenthesis, as a process may
	// choose; utime 1234 and stime 56 are fields 14 and 15.
	line := "4242 (sfu (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 56 0 0 20 0 12 0 100 1000000 2000 18446744073709551615\n"
	got, err := parsePidStat([]byte(line))
	if err != nil || got != 1290 {
		t.Errorf("parsePidStat = %d, %v; want 1290", got, err)
	}
	if _, err := parsePidStat([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("a short line was accepted")
	}
}

func TestParseStat(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	busy, total, err := parseStat([]byte("cpu  100 5 50 800 20 3 2 0 7 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if err != nil || busy != 160 || total != 980 {
		t.Errorf("parseStat = %d, %d, %v; want 160, 980", busy, total, err)
	}
	if _, _, err := parseStat([]byte("intr 1 2 3\n")); err == nil {
		t.Error("a file without a cpu line was accepted")
	}
}

func TestSkippedResultHasNoFigures(t *testing.T) {
	b, err := json.Marshal(result{SFU: sfuGalene, Skipped: "no source"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"sfu":"galene","skipped":"no source"}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}
