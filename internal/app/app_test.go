package app_test

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/app"
	"github.com/gesundheitsamt/portal/internal/config"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func testConfig(t *testing.T) config.Config {
	t.Helper()
	vars := map[string]string{
		"PORTAL_SECRET_KEY":     strings.Repeat("test-secret-", 4),
		"PORTAL_ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"PORTAL_DATA_DIR":       t.TempDir(),
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The application New builds answers, keeps the form definitions, runs
// its background work between Start and Stop, and keeps the spool under
// the data directory.
func TestNewStartStop(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	db := storetest.New(t)
	a, err := app.New(ctx, cfg, db, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Server.App().Test(httptest.NewRequest("GET", "/healthz", nil), -1)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM form_definition`).Scan(&n); err != nil || n != len(a.Forms.Forms()) {
		t.Errorf("%d form definitions stored, want %d (%v)", n, len(a.Forms.Forms()), err)
	}
	if fi, err := os.Stat(cfg.DataDir + "/spool"); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("spool dir: %v %v", fi, err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { a.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Stop did not return")
	}
}

// Options.Notifier sees the notifier New built, and what it returns is
// what the services tell.
func TestOptionsReachTheServices(t *testing.T) {
	ctx := context.Background()
	var built app.Notifier
	a, err := app.New(ctx, testConfig(t), storetest.New(t), app.Options{
		SpoolDir: t.TempDir(),
		Notifier: func(n app.Notifier) app.Notifier { built = n; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	if built == nil {
		t.Fatal("Options.Notifier was not given the built notifier")
	}
	if a.Notifier != nil {
		t.Errorf("the services tell %T, want nobody", a.Notifier)
	}
}
