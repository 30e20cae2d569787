package portal_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gesundheitsamt/portal/internal/app"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/pgembed"
	"github.com/gesundheitsamt/portal/internal/store"
	"github.com/gesundheitsamt/portal/internal/store/storetest"
)

// waitReadyz polls /readyz until it answers status (the write probe's
// outcome is kept for a few seconds) and returns the body.
func waitReadyz(t *testing.T, h *harness, status int) string {
	t.Helper()
	var res *http.Response
	var b string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if res, b = h.get("/readyz"); res.StatusCode == status {
			return b
		}
	}
	t.Fatalf("/readyz: %d %q, want %d", res.StatusCode, b, status)
	return ""
}

// Uploads wait in the spool's directory: with less room there than the
// portal wants, it is not ready, and says why in a fixed phrase (the page
// is public) and once in the log.
func TestReadyzWantsRoomForTheSpool(t *testing.T) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(t.TempDir(), &st); err != nil {
		t.Fatal(err)
	}
	free := st.Bavail * uint64(st.Bsize)
	cramped := newHarnessOn(t, nil, storetest.New(t), func(o *app.Options) { o.MinSpoolFree = free + 1<<30 })
	for range 3 {
		res, b := cramped.get("/readyz")
		if res.StatusCode != http.StatusServiceUnavailable || b != "not ready: the upload directory is nearly full\n" {
			t.Fatalf("/readyz with too little room: %d %q", res.StatusCode, b)
		}
	}
	if n := strings.Count(cramped.log.String(), "not ready: the upload directory is nearly full"); n != 1 {
		t.Errorf("%d log lines for three answers, want 1:\n%s", n, cramped.log.String())
	}
	if res, b := newHarness(t, nil).get("/readyz"); res.StatusCode != http.StatusOK {
		t.Errorf("/readyz with room: %d %q", res.StatusCode, b)
	}
}

// The database's disk full: PostgreSQL still answers a ping, but refuses
// every write that needs a new page, as a submission does (53100). The
// write probe sees it, so /readyz says 503 while it lasts, and 200 again
// once there is room. (The drill had found /readyz at 200 while every
// submit failed.) The cluster lives on a small tmpfs mounted for the
// test, which needs root.
func TestReadyzWhenTheDatabaseDiskIsFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small file system for the database needs root (make test runs as root)")
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "diskfull-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=96m,mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cluster, err := pgembed.Start(ctx, pgembed.Options{Dir: filepath.Join(dir, "pg"),
		Settings: map[string]string{"fsync": "off", "min_wal_size": "32MB", "max_wal_size": "32MB", "autovacuum": "off"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop() })
	if !strings.HasPrefix(cluster.Root(), dir) {
		t.Fatalf("the cluster went to %s, not onto the small file system", cluster.Root())
	}
	if err := cluster.EnsureDatabase(ctx, "portal"); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, cluster.DSN("portal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(ctx, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	h := newHarnessOn(t, nil, db)
	waitReadyz(t, h, http.StatusOK)

	// Fill the file system.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	err = store.ProbeWrite(ctx, db)
	var pg *pgconn.PgError
	if !errors.As(err, &pg) || pg.Code != "53100" || fault.KindOf(err) != fault.Unavailable {
		t.Fatalf("a write on a full disk: %v (kind %v), want disk_full (53100), Unavailable", err, fault.KindOf(err))
	}
	if b := waitReadyz(t, h, http.StatusServiceUnavailable); b != "not ready: the database cannot store data\n" {
		t.Errorf("/readyz on a full disk: %q", b)
	}

	// Room again: ready again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitReadyz(t, h, http.StatusOK)
	if !strings.Contains(h.log.String(), "ready again") {
		t.Errorf("the log does not say it is ready again:\n%s", h.log.String())
	}
}
