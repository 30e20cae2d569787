package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/scan/clamdtest"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

func TestServeWithEmbeddedPostgres(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "var")
	env := map[string]string{"PORTAL_DATA_DIR": dataDir, "PORTAL_DEMO": "1"}

	p := startPortal(t, env)
	t.Logf("first start (initdb included) to ready: %v", p.started.Round(time.Millisecond))
	if p.started > 15*time.Second {
		t.Errorf("first start took %v, want under 15 s", p.started)
	}
	if status, _, _ := get(t, p.base+"/readyz"); status != 200 {
		t.Fatalf("readyz %d", status)
	}
	status, body, _ := get(t, p.base+"/")
	if status != 200 || !strings.Contains(body, "Reiseimpfberatung") {
		t.Errorf("start page: %d", status)
	}
	status, _, header := get(t, p.base+"/?plz=04109")
	if status != http.StatusSeeOther || header.Get("Location") != "/amt/leipzig" {
		t.Errorf("postal search: %d %q", status, header.Get("Location"))
	}
	if status, body, _ := get(t, p.base+"/metrics"); status != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics: %d", status)
	}
	for _, f := range []string{"secret.key", "encryption.key"} {
		fi, err := os.Stat(filepath.Join(dataDir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v", f, err)
		}
	}
	root := clusterRoot(p.log.String(), dataDir)
	t.Cleanup(func() { os.RemoveAll(root) })
	pid := postmasterPID(t, root)

	// While serve runs, another command with the same data directory uses
	// its PostgreSQL instead of starting a second one.
	err := run(context.Background(), []string{"portal", "migrate"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("migrate while serve runs: %v", err)
	}
	if status, _, _ := get(t, p.base+"/readyz"); status != 200 {
		t.Error("serve lost its database after migrate attached and left")
	}

	if err := p.stop(); err != nil {
		t.Fatalf("run returned %v after the signal", err)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("PostgreSQL %d still runs after the portal stopped", pid)
	}
	if !strings.Contains(p.log.String(), "embedded PostgreSQL stopped") {
		t.Error("the log does not say PostgreSQL was stopped")
	}
	if !strings.Contains(p.log.String(), "no virus scan of uploads") {
		t.Error("the log does not say that uploads are not scanned for viruses")
	}

	// A restart reuses the data directory and is quick.
	again := startPortal(t, env)
	t.Logf("restart with existing data to ready: %v", again.started.Round(time.Millisecond))
	if again.started > 3*time.Second {
		t.Errorf("restart took %v, want under 3 s", again.started)
	}
	if strings.Contains(again.log.String(), "initialised") || strings.Contains(again.log.String(), "generated development secrets") {
		t.Error("a restart must not initialise the cluster or the secrets again")
	}
	if status, _, _ := get(t, again.base+"/amt/halle"); status != 200 {
		t.Errorf("office page after restart: %d", status)
	}
}

func postmasterPID(t *testing.T, root string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestServeWithDatabaseURL(t *testing.T) {
	clamd := clamdtest.Start(t, clamdtest.Options{})
	p := startPortal(t, map[string]string{"DATABASE_URL": storetest.DSN(t), "PORTAL_DEMO": "1", "PORTAL_DATA_DIR": t.TempDir(), "PORTAL_CLAMD": clamd})
	if status, _, _ := get(t, p.base+"/amt/leipzig"); status != 200 {
		t.Errorf("office page: %d", status)
	}
	_, _, _ = get(t, p.base+"/?plz=04999&lang=en")
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	logs := p.log.String()
	if strings.Contains(logs, "04999") || strings.Contains(logs, "lang=en") {
		t.Errorf("query strings in the log:\n%s", logs)
	}
	if !strings.Contains(logs, "shutting down") {
		t.Error("no shutdown line in the log")
	}
	if !strings.Contains(logs, "uploads are scanned for viruses") || !strings.Contains(logs, "ClamAV ") {
		t.Errorf("no line about the virus scan in the log:\n%s", logs)
	}
}

func TestProductionRefusesToStartWithoutSecrets(t *testing.T) {
	env := map[string]string{"PORTAL_ENV": "production", "PORTAL_BASE_URL": "https://portal.example"}
	err := run(context.Background(), []string{"portal"}, func(k string) string { return env[k] }, io.Discard)
	if err == nil {
		t.Fatal("production started without its secrets")
	}
	for _, name := range []string{"DATABASE_URL", "SMTP_URL", "PORTAL_SECRET_KEY", "PORTAL_ENCRYPTION_KEY"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestMigrateCommand(t *testing.T) {
	env := map[string]string{"DATABASE_URL": storetest.DSN(t)}
	for i := 0; i < 2; i++ { // the second run finds nothing to do
		if err := run(context.Background(), []string{"portal", "migrate"}, func(k string) string { return env[k] }, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVersionHelpAndUnknownCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"portal", "version"}, func(string) string { return "" }, &out); err != nil || !strings.HasPrefix(out.String(), "portal ") {
		t.Errorf("version: %q %v", out.String(), err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"portal", "help"}, func(string) string { return "" }, &out); err != nil || !strings.Contains(out.String(), "migrate") {
		t.Errorf("help: %q %v", out.String(), err)
	}
	if err := run(context.Background(), []string{"portal", "frobnicate"}, func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), "frobnicate") {
		t.Errorf("unknown command: %v", err)
	}
}

func TestFormsCheckCommand(t *testing.T) {
	noEnv := func(string) string { return "" }
	var out bytes.Buffer
	if err := run(context.Background(), []string{"portal", "forms", "check"}, noEnv, &out); err != nil {
		t.Fatalf("shipped definitions: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "ok terminanfrage version 1") {
		t.Errorf("output: %s", out.String())
	}

	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "forms", "definitions", "terminanfrage.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(src), "equals: sonstiges", "equals: gibtsnicht", 1)
	broken = strings.Replace(broken, "        type: textarea\n", "        type: textarea\n        colour: blue\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "terminanfrage.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = run(context.Background(), []string{"portal", "forms", "check", dir}, noEnv, &out)
	if err == nil {
		t.Fatal("a broken definition passed")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^` + regexp.QuoteMeta(filepath.Join(dir, "terminanfrage.yaml")) + `:\d+: field colour not found`),
	}
	if len(lines) != 1 || !want[0].MatchString(lines[0]) {
		t.Errorf("output:\n%s", out.String())
	}
}
