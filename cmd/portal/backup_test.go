package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gesundheitsamt/portal/internal/app"
	"github.com/gesundheitsamt/portal/internal/config"
	"github.com/gesundheitsamt/portal/internal/pgembed"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
	"github.com/gesundheitsamt/portal/internal/submission"
)

// portalDB opens the database of the portal that runs with env, as a
// further process would: attached to its embedded PostgreSQL.
func portalDB(t *testing.T, env map[string]string) *store.DB {
	t.Helper()
	c, err := pgembed.Start(context.Background(), pgembed.Options{Dir: filepath.Join(env["PORTAL_DATA_DIR"], "pg")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Owner() {
		t.Fatal("the portal's PostgreSQL was not running")
	}
	db, err := store.Open(context.Background(), c.DSN("portal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// submitLetters submits, through the submission service with the portal's
// own keys, the medical report form with a letter to each office, and
// returns the letters by reference number.
func submitLetters(t *testing.T, env map[string]string, db *store.DB, offices ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.LoadExistingSecrets(); err != nil {
		t.Fatal(err)
	}
	// Nobody is told of these submissions: no mail or webhook job for the
	// running portal to work.
	a, err := app.New(ctx, cfg, db, app.Options{Notifier: func(app.Notifier) app.Notifier { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	subs := a.Submissions
	f, _ := a.Forms.Form("amtsaerztliches-gutachten")
	field, _ := f.Field("request_letter")
	letters := map[string]string{}
	for i, slug := range offices {
		office, err := store.GetOfficeBySlug(ctx, db, slug)
		if err != nil {
			t.Fatal(err)
		}
		d := submission.NewDraft(office.ID, "amtsaerztliche-untersuchung", f.ID)
		for k, v := range map[string]string{
			"reason": "dienstfaehigkeit", "file_number": fmt.Sprintf("P-%d", i), "authority": "Landesamt", "disability": "nein",
			"given_name": "Zoë", "family_name": "Ó Briain", "date_of_birth": "1980-02-03", "street": "Markt 1",
			"postal_code": "04109", "city": "Leipzig", "email": "zoe@example.org",
		} {
			d.Answers.Values[k] = []string{v}
		}
		d.Answers.Done = []string{"anlass", "auftrag", "gesundheit", "kontakt"}
		if err := subs.SaveDraft(ctx, d); err != nil {
			t.Fatal(err)
		}
		letter := fmt.Sprintf("%%PDF-1.4\n%% letter %d to %s\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%%%EOF\n", i, slug)
		if _, err := subs.AddFile(ctx, d, field, "Auftrag.pdf", []byte(letter)); err != nil {
			t.Fatal(err)
		}
		r, err := subs.Submit(ctx, d, f, office.Code, "de")
		if err != nil {
			t.Fatal(err)
		}
		letters[r.Reference] = letter
	}
	return letters
}

// apiLetters reads every submission of the token's office through the API
// (each read and download an audit entry) and returns its attachments by
// reference number.
func apiLetters(t *testing.T, base, token string) map[string]string {
	t.Helper()
	call := func(path string, into any) []byte {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
		}
		if into != nil {
			if err := json.Unmarshal(b, into); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
		}
		return b
	}
	var list struct {
		Data []struct {
			ID        int64  `json:"id"`
			Reference string `json:"reference"`
		} `json:"data"`
	}
	call("/api/v1/submissions", &list)
	out := map[string]string{}
	for _, s := range list.Data {
		var one struct {
			Attachments []struct {
				ID int64 `json:"id"`
			} `json:"attachments"`
		}
		call(fmt.Sprintf("/api/v1/submissions/%d", s.ID), &one)
		for _, a := range one.Attachments {
			out[s.Reference] = string(call(fmt.Sprintf("/api/v1/submissions/%d/attachments/%d", s.ID, a.ID), nil))
		}
	}
	return out
}

func runWith(env map[string]string, stdout io.Writer, args ...string) error {
	return run(context.Background(), append([]string{"portal"}, args...), func(k string) string { return env[k] }, stdout)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBackupWhileServingRestoresIntoAFreshDataDir is the drill an office
// runs: submissions with attachments and audit entries in a running
// portal, `portal backup` beside it, `portal restore` into a new data
// directory (refused without the key and with another one), and the
// portal started there finds every submission, attachment and audit
// entry, and `portal audit verify` passes.
func TestBackupWhileServingRestoresIntoAFreshDataDir(t *testing.T) {
	began := time.Now()
	envA := map[string]string{"PORTAL_DATA_DIR": filepath.Join(t.TempDir(), "a"), "PORTAL_DEMO": "1"}
	a := startPortal(t, envA)
	t.Cleanup(func() { os.RemoveAll(clusterRoot(a.log.String(), envA["PORTAL_DATA_DIR"])) })
	dbA := portalDB(t, envA)
	letters := submitLetters(t, envA, dbA, "leipzig", "leipzig", "halle")

	var tok bytes.Buffer
	if err := runWith(envA, &tok, "token", "add", "--office", "leipzig", "--name", "Fachverfahren",
		"--scopes", "submissions:read,attachments:read,medical:read"); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(tok.String())
	read := apiLetters(t, a.base, token)
	if len(read) != 2 {
		t.Fatalf("the API shows %d of leipzig's letters before the backup", len(read))
	}

	// The backup, while the portal serves.
	dir := t.TempDir()
	file := filepath.Join(dir, "portal.dump")
	var out bytes.Buffer
	if err := runWith(envA, &out, "backup", file); err != nil {
		t.Fatalf("backup while serving: %v", err)
	}
	took := time.Since(began)
	if !strings.Contains(out.String(), "backup written to "+file) || !regexpMatch(`leipzig +2 submissions, 2 attachments, \d+ audit entries`, out.String()) {
		t.Errorf("backup's summary:\n%s", out.String())
	}
	if status, _, _ := get(t, a.base+"/readyz"); status != http.StatusOK {
		t.Error("the portal lost its database during the backup")
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, mode %v", err, fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the backup left %d files beside it", len(entries)-1)
	}
	if err := runWith(envA, io.Discard, "backup", file); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a second backup onto the same name: %v", err)
	}
	wantAudit := storetest.AuditHashes(t, dbA)
	dbA.Close()
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}

	// Into a fresh data directory: refused without the key and with
	// another one, before a cluster is even made.
	envB := map[string]string{"PORTAL_DATA_DIR": filepath.Join(t.TempDir(), "b")}
	err = runWith(envB, io.Discard, "restore", file)
	if err == nil || !strings.Contains(err.Error(), "no encryption key") {
		t.Errorf("restore without a key: %v", err)
	}
	other := map[string]string{"PORTAL_DATA_DIR": envB["PORTAL_DATA_DIR"], "PORTAL_ENCRYPTION_KEY": "ZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY="}
	err = runWith(other, io.Discard, "restore", file)
	if err == nil || !strings.Contains(err.Error(), "not the backup's") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("restore with another key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(envB["PORTAL_DATA_DIR"], "pg")); !os.IsNotExist(err) {
		t.Errorf("a refused restore made a cluster: %v", err)
	}

	// With the keys copied over, as the README says.
	if err := os.MkdirAll(envB["PORTAL_DATA_DIR"], 0o700); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"encryption.key", "secret.key"} {
		copyFile(t, filepath.Join(envA["PORTAL_DATA_DIR"], k), filepath.Join(envB["PORTAL_DATA_DIR"], k))
	}
	out.Reset()
	restoreBegan := time.Now()
	if err := runWith(envB, &out, "restore", file); err != nil {
		t.Fatalf("restore: %v\n%s", err, out.String())
	}
	t.Logf("backup while serving after %v; restore into a new data directory (initdb included) %v",
		took.Round(time.Millisecond), time.Since(restoreBegan).Round(time.Millisecond))
	if !regexpMatch(`leipzig +2 submissions, 2 attachments`, out.String()) || !regexpMatch(`halle +1 submissions, 1 attachments`, out.String()) ||
		!strings.Contains(out.String(), "audit log intact") || strings.Contains(out.String(), "warning") {
		t.Errorf("restore's report:\n%s", out.String())
	}
	err = runWith(envB, io.Discard, "restore", file)
	if err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), envB["PORTAL_DATA_DIR"]) {
		t.Errorf("restore into a data directory with a database: %v", err)
	}

	// The portal starts on the restored copy and has everything.
	b := startPortal(t, envB)
	t.Cleanup(func() { os.RemoveAll(clusterRoot(b.log.String(), envB["PORTAL_DATA_DIR"])) })
	dbB := portalDB(t, envB)
	gotAudit := storetest.AuditHashes(t, dbB)
	for id, h := range wantAudit {
		if gotAudit[id] != h {
			t.Errorf("audit entry %d: %q after the restore, %q before", id, gotAudit[id], h)
		}
	}
	restored := apiLetters(t, b.base, token) // the restored token works
	for ref, letter := range letters {
		if strings.HasPrefix(ref, "LEJ-") && restored[ref] != letter {
			t.Errorf("letter of %s after the restore: %q", ref, restored[ref])
		}
	}
	var halle int
	if err := dbB.QueryRow(context.Background(), `SELECT count(*) FROM attachment a JOIN office o ON o.id = a.office_id WHERE o.slug = 'halle'`).Scan(&halle); err != nil || halle != 1 {
		t.Errorf("halle's attachments after the restore: %d, %v", halle, err)
	}
	out.Reset()
	if err := runWith(envB, &out, "audit", "verify"); err != nil {
		t.Fatalf("audit verify on the restored copy: %v", err)
	}
	if !strings.Contains(out.String(), "audit log intact") {
		t.Errorf("audit verify: %s", out.String())
	}
	dbB.Close()
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}

	// Without a running portal, backup starts PostgreSQL, dumps, and
	// stops it again; - writes to standard output.
	root := clusterRoot(b.log.String(), envB["PORTAL_DATA_DIR"])
	out.Reset()
	if err := runWith(envB, &out, "backup", "-"); err != nil {
		t.Fatalf("backup of a stopped portal: %v", err)
	}
	if !bytes.HasPrefix(out.Bytes(), []byte("PORTAL-BACKUP 1\n")) || !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
		t.Errorf("backup - wrote %d bytes starting %q", out.Len(), out.Bytes()[:min(out.Len(), 20)])
	}
	if _, err := os.Stat(filepath.Join(root, "data", "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("the backup left PostgreSQL running: %v", err)
	}
	if d := time.Since(began); d > time.Minute {
		t.Errorf("the drill took %v, want well under a minute", d)
	}
}

// TestFailedBackupLeavesNoFile lets pg_dump fail halfway (a stand-in that
// writes the start of an archive and exits 1): no file appears under the
// name, and no temporary file is left beside it. With DATABASE_URL and no
// FILE, the name is portal-<UTC time>.dump in the current directory.
func TestFailedBackupLeavesNoFile(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "pg_dump"), []byte("#!/bin/sh\nprintf 'PGDMP\\001\\016'\necho 'pg_dump: error: disk on fire' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": storetest.DSN(t), "PORTAL_DATA_DIR": t.TempDir(),
		"PORTAL_ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "PG_BIN": bin}
	dir := t.TempDir()
	t.Chdir(dir)
	err := runWith(env, io.Discard, "backup")
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("backup with a failing pg_dump: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed backup left %s", entries[0].Name())
	}

	delete(env, "PG_BIN")
	var out bytes.Buffer
	if err := runWith(env, &out, "backup"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || !regexpMatch(`^portal-\d{8}T\d{6}Z\.dump$`, entries[0].Name()) || !strings.Contains(out.String(), "external") {
		t.Errorf("backup without FILE made %v:\n%s", entries, out.String())
	}
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
