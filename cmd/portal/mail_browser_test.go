package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserMailHTMLIsAccessible opens the HTML part of every golden mail
// (testdata/mail, written by the mail code itself: TestMailGoldenFiles
// keeps them current) in Chromium, runs axe's WCAG 2.1 A and AA rules on it
// and checks it reflows at 320 px: a mail is read on phones and with
// screen readers too.
func TestBrowserMailHTMLIsAccessible(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "mail", "*.golden"))
	if err != nil || len(files) < 10 {
		t.Fatalf("%d golden mails (%v)", len(files), err)
	}
	pages := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, html, ok := strings.Cut(string(b), "\n----\n")
		html, _, _ = strings.Cut(html, "\n----\n") // a calendar file may follow
		if !ok || !strings.HasPrefix(html, "<!DOCTYPE html>") {
			t.Fatalf("%s: no HTML part", f)
		}
		pages["/"+strings.TrimSuffix(filepath.Base(f), ".golden")] = html
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		html, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(html))
	}))
	defer srv.Close()

	ctx := newBrowser(t)
	axe := axeScript(t)
	for path := range pages {
		step(t, ctx, "open "+path, chromedp.Navigate(srv.URL+path))
		checkAccessibility(t, ctx, axe, "mail "+path)
		checkNoHorizontalScroll(t, ctx, "mail "+path, 320)
	}
}
