package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestVideoQualityRules runs static/video-quality.js in Chromium against
// the scenarios of testdata/js/video-quality.test.js: the uplink rule
// pauses the camera after three polls below 100 kbit/s, tries again after
// 20 s, doubling up to 160 s, starts anew after 30 s of video, and never
// puts back a camera the person switched off; the stats are read from the
// selected candidate pair; a remote tile is marked once when its frames
// stop for 3 s and cleared when they flow again.
func TestVideoQualityRules(t *testing.T) {
	rules, err := os.ReadFile("../../static/video-quality.js")
	if err != nil {
		t.Fatal(err)
	}
	scenarios, err := os.ReadFile("../../testdata/js/video-quality.test.js")
	if err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t)
	if !eval[bool](t, ctx, string(rules)+";typeof window.PortalVideoQuality === \"object\"") {
		t.Fatal("video-quality.js defines no PortalVideoQuality")
	}
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	failures, err := chromedp.Run(c, chromedp.Evaluate[[]string](string(scenarios)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range failures {
		t.Error(f)
	}
}
