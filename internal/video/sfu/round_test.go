package sfu

import (
	"testing"
	"time"
)

// TestAdaptRound plays sequences of link samples, one a second, through
// the adaptation's rounds.
func TestAdaptRound(t *testing.T) {
	ps := pauses{min: 8 * time.Second, max: 32 * time.Second, steady: 30 * time.Second}
	type step struct {
		estimate int
		loss     float64
		want     verdict
		share    int // -1: the link does not cap the publishers
	}
	good := func(est int) step { return step{est, 0, keep, -1} }
	tests := []struct {
		name  string
		echo  bool
		steps []step
	}{
		{"a good link never limits", false, []step{good(2_550_000), good(2_600_000), good(2_700_000)}},
		{"one dip, a keyframe's burst, is passing jitter", false, []step{
			good(2_550_000), good(600_000), good(650_000), good(700_000), good(760_000), good(820_000),
		}},
		{"three dips in five rounds limit", false, []step{
			good(1_000_000), good(900_000), good(950_000), good(850_000), {800_000, 0, keep, 800_000},
			{860_000, 0, keep, 860_000},
		}},
		{"heavy loss limits at once", false, []step{
			good(1_000_000), {1_000_000, 0.3, keep, 1_000_000},
		}},
		{"ten clean rounds lift the limit", false, []step{
			good(1_000_000), {1_000_000, 0.3, keep, 1_000_000},
			{1_010_000, 0, keep, 1_010_000}, {1_020_000, 0, keep, 1_020_000}, {1_030_000, 0, keep, 1_030_000},
			{1_040_000, 0, keep, 1_040_000}, {1_050_000, 0, keep, 1_050_000}, {1_060_000, 0, keep, 1_060_000},
			{1_070_000, 0, keep, 1_070_000}, {1_080_000, 0, keep, 1_080_000}, {1_090_000, 0, keep, 1_090_000},
			good(1_100_000),
		}},
		{"a link too weak pauses after three rounds, resumes after the pause", false, []step{
			good(1_000_000), {90_000, 0.3, keep, 90_000}, {80_000, 0.3, keep, 80_000},
			{70_000, 0.3, pauseVideo, -1},
			// Paused: audio only, and the link shows no share.
			{75_000, 0, stillPaused, -1}, {80_000, 0, stillPaused, -1}, {85_000, 0, stillPaused, -1},
			{90_000, 0, stillPaused, -1}, {95_000, 0, stillPaused, -1}, {100_000, 0, stillPaused, -1},
			{105_000, 0, stillPaused, -1},
			// Eight seconds: the share shows a round before the video.
			{110_000, 0, stillPaused, 110_000},
			{115_000, 0, resumeVideo, 115_000},
		}},
		{"congestion at the end of the pause keeps it", false, []step{
			good(1_000_000), {90_000, 0.3, keep, 90_000}, {80_000, 0.3, keep, 80_000},
			{70_000, 0.3, pauseVideo, -1},
			{75_000, 0, stillPaused, -1}, {80_000, 0, stillPaused, -1}, {85_000, 0, stillPaused, -1},
			{90_000, 0, stillPaused, -1}, {95_000, 0, stillPaused, -1}, {100_000, 0, stillPaused, -1},
			{105_000, 0, stillPaused, -1},
			{110_000, 0, stillPaused, 110_000},
			{100_000, 0.2, stillPaused, -1},
			{105_000, 0, stillPaused, 105_000},
			{110_000, 0, resumeVideo, 110_000},
		}},
		{"a low share without congestion does not pause", false, []step{
			good(100_000), good(100_000), good(100_000), good(100_000),
		}},
		{"an echo room never pauses", true, []step{
			good(1_000_000), {90_000, 0.3, keep, 90_000}, {80_000, 0.3, keep, 80_000},
			{70_000, 0.3, keep, 70_000}, {60_000, 0.3, keep, 60_000},
		}},
	}
	// The estimate covers the video alone (audio carries no TWCC sequence
	// numbers), and two video tracks share it.
	t.Run("two video tracks share the estimate", func(t *testing.T) {
		var a adaptState
		now := time.Unix(1_800_000_000, 0)
		in := linkSample{now: now, estimate: 1_000_000, video: 2}
		a.round(in, ps)
		in.now, in.estimate, in.loss = now.Add(time.Second), 90_000, 0.3
		if v, share := a.round(in, ps); v != keep || share != 45_000 {
			t.Errorf("verdict %d, share %d; want keep, 45000", v, share)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a adaptState
			now := time.Unix(1_800_000_000, 0)
			for i, s := range tt.steps {
				v, share := a.round(linkSample{now: now, estimate: s.estimate, loss: s.loss, video: 1, echo: tt.echo}, ps)
				if v != s.want || share != s.share {
					t.Fatalf("round %d (estimate %d, loss %.1f): verdict %d, share %d; want %d, %d", i, s.estimate, s.loss, v, share, s.want, s.share)
				}
				now = now.Add(time.Second)
			}
		})
	}
}

// TestAdaptPausesGrow checks that a video paused again soon after it came
// back waits twice as long each time, up to the longest pause, and that a
// video that held for a while starts again from the shortest.
func TestAdaptPausesGrow(t *testing.T) {
	ps := pauses{min: 4 * time.Second, max: 16 * time.Second, steady: 30 * time.Second}
	var a adaptState
	now := time.Unix(1_800_000_000, 0)
	tick := func(est int, loss float64) verdict {
		v, _ := a.round(linkSample{now: now, estimate: est, loss: loss, video: 1}, ps)
		now = now.Add(time.Second)
		return v
	}
	// pauseOnce makes the link too weak until the video pauses, then good
	// until it resumes, and returns how long the pause lasted.
	pauseOnce := func() time.Duration {
		t.Helper()
		for i := 0; tick(50_000, 0.3) != pauseVideo; i++ {
			if i > 10 {
				t.Fatal("no pause")
			}
		}
		began := now
		for i := 0; tick(60_000, 0) != resumeVideo; i++ {
			if i > 60 {
				t.Fatal("no resume")
			}
		}
		return now.Sub(began)
	}
	var got []time.Duration
	for range 4 {
		got = append(got, pauseOnce())
	}
	// Each pause lasts its length plus the round that shows the share.
	want := []time.Duration{5 * time.Second, 9 * time.Second, 17 * time.Second, 17 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pauses %v, want %v", got, want)
		}
	}
	// Thirty seconds of good video: the next pause is the shortest again.
	for range 31 {
		tick(2_000_000, 0)
	}
	if d := pauseOnce(); d != 5*time.Second {
		t.Errorf("after a steady video the pause lasted %v, want 5s", d)
	}
}
