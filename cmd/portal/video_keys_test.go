package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestVideoKeyAgreement runs static/video-keys.js in Chromium (WebCrypto
// as the call pages have it) against the scenarios of
// testdata/js/video-keys.test.js: honest pairs agree on codes and the room
// key; a server that swaps keys cannot make the codes match; a key against
// its commitment is refused; the committing side does not reveal first; a
// second tab gets new keys; hostile relay data is ignored.
func TestVideoKeyAgreement(t *testing.T) {
	keys, err := os.ReadFile("../../static/video-keys.js")
	if err != nil {
		t.Fatal(err)
	}
	scenarios, err := os.ReadFile("../../testdata/js/video-keys.test.js")
	if err != nil {
		t.Fatal(err)
	}
	// A page on loopback: a secure context, where WebCrypto is.
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`<!doctype html><html lang="en"><title>keys</title></html>`))
	}))
	defer page.Close()
	ctx := newBrowser(t)
	step(t, ctx, "open a page", chromedp.Navigate(page.URL))
	if !eval[bool](t, ctx, string(keys)+";typeof window.PortalVideoKeys === \"function\"") {
		t.Fatal("video-keys.js defines no PortalVideoKeys")
	}
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	failures, err := chromedp.Run(c, chromedp.Evaluate[[]string](string(scenarios), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range failures {
		t.Error(f)
	}
}
