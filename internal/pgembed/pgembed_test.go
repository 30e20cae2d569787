package pgembed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestMain doubles as the helper processes of two tests: with
// PGEMBED_HELPER_DIR set, the test binary starts a cluster there, says so,
// and waits to be killed (TestKilledOwnerLeavesNoServer); with
// PGEMBED_ATTACH_DIR set, it starts against a running cluster as a second
// process would, reports whether it owns it, queries and stops
// (TestSecondProcessAttachesToRunningServer).
func TestMain(m *testing.M) {
	if dir := os.Getenv("PGEMBED_ATTACH_DIR"); dir != "" {
		os.Exit(attachHelper(dir))
	}
	if dir := os.Getenv("PGEMBED_HELPER_DIR"); dir != "" {
		c, err := Start(context.Background(), Options{Dir: dir, Settings: fast})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		pid, _, _ := readPostmasterPID(filepath.Join(c.data, "postmaster.pid"))
		fmt.Println("ready", pid)
		select {}
	}
	os.Exit(m.Run())
}

var fast = map[string]string{"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}

// clusterDir returns a fresh directory the postgres user can reach when the
// tests run as root (t.TempDir is 0700, which would move the cluster to a
// fallback place under /tmp), removed when the test ends.
func clusterDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgembed-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "pg")
}

func start(t *testing.T, dir string) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Dir: dir, Settings: fast})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func query(t *testing.T, c *Cluster, sql string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func serverPID(t *testing.T, c *Cluster) int {
	t.Helper()
	pid, _, ok := readPostmasterPID(filepath.Join(c.data, "postmaster.pid"))
	if !ok {
		t.Fatal("no postmaster.pid")
	}
	return pid
}

func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !running(pid) {
			return
		}
	}
	t.Fatalf("postgres %d still runs after %v", pid, within)
}

func TestStartServesOnPrivateSocketOnlyAndStops(t *testing.T) {
	c := start(t, clusterDir(t))
	if !c.Owner() {
		t.Fatal("the first start must own the server")
	}
	if got := query(t, c, "SHOW listen_addresses"); got != "" {
		t.Errorf("listen_addresses = %q, want no TCP at all", got)
	}
	fi, err := os.Stat(c.sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("socket dir mode %v, want 0700", fi.Mode().Perm())
	}
	if err := c.EnsureDatabase(context.Background(), "portal"); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureDatabase(context.Background(), "portal"); err != nil {
		t.Fatalf("EnsureDatabase must be idempotent: %v", err)
	}
	if os.Geteuid() == 0 {
		if got := query(t, c, "SELECT usename FROM pg_stat_activity WHERE backend_type = 'client backend' LIMIT 1"); got != Superuser {
			t.Errorf("connected as %q", got)
		}
		st, _ := os.Stat(c.data)
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid == 0 {
			t.Error("as root the data directory must belong to the postgres user")
		}
		st, _ = os.Stat(c.root)
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 0 {
			t.Error("the cluster root, where root writes its files, must stay root's")
		}
	}
	pid := serverPID(t, c)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid, time.Second)
	if _, err := os.Stat(filepath.Join(c.root, "owner.pid")); !os.IsNotExist(err) {
		t.Error("owner.pid must be removed on stop")
	}
}

func TestRestartReusesTheCluster(t *testing.T) {
	dir := clusterDir(t)
	c := start(t, dir)
	if err := c.EnsureDatabase(context.Background(), "kept"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	c = start(t, dir)
	defer c.Stop()
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("restart took %v", took)
	}
	if got := query(t, c, "SELECT datname FROM pg_database WHERE datname = 'kept'"); got != "kept" {
		t.Error("the database made before the restart is gone")
	}
}

func TestSecondProcessAttachesToRunningServer(t *testing.T) {
	dir := clusterDir(t)
	first := start(t, dir)
	defer first.Stop()

	// A second process starts with the same root, as `portal migrate` does
	// while `portal serve` runs.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PGEMBED_ATTACH_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("attach helper: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "cluster owner=false") {
		t.Fatalf("second process did not attach:\n%s", out)
	}
	if got := query(t, first, "SELECT 'still up'"); got != "still up" {
		t.Error("the attached process's Stop must leave the server running")
	}
}

func attachHelper(dir string) int {
	ctx := context.Background()
	c, err := Start(ctx, Options{Dir: dir, Settings: fast})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Printf("cluster owner=%v\n", c.Owner())
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	conn.Close(ctx)
	if err := c.Stop(); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	return 0
}

func TestKilledOwnerLeavesNoServer(t *testing.T) {
	dir := clusterDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PGEMBED_HELPER_DIR="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		_ = cmd.Process.Kill()
		t.Fatalf("helper: %q %v", line, err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "ready ")))
	if !running(pid) {
		t.Fatal("helper's postgres does not run")
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitGone(t, pid, 15*time.Second)

	c := start(t, dir)
	defer c.Stop()
	if !c.Owner() {
		t.Error("after the owner died, the next start must own a fresh server")
	}
}

func TestLeftoverWithDeadOwnerIsReplaced(t *testing.T) {
	dir := clusterDir(t)
	first := start(t, dir)
	oldPID := serverPID(t, first)
	// The owner of this server "died": its pid no longer runs.
	if err := writePID(filepath.Join(first.root, "owner.pid"), 1<<22+7); err != nil {
		t.Fatal(err)
	}
	second := start(t, dir)
	defer second.Stop()
	if !second.Owner() {
		t.Fatal("a server whose owner is gone must be replaced by an owned one")
	}
	if running(oldPID) {
		t.Error("the leftover server still runs")
	}
	if got := query(t, second, "SELECT 'fresh'"); got != "fresh" {
		t.Error("the fresh server does not answer")
	}
	_ = first.Stop() // already gone: must not hang or fail loudly
}

func TestMissingBinariesNameThePackage(t *testing.T) {
	_, err := firstBinDir("", []string{t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "apt-get install postgresql") || !strings.Contains(err.Error(), "PG_BIN") {
		t.Errorf("err = %v", err)
	}
	_, err = FindBinDir(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "PG_BIN=") {
		t.Errorf("explicit PG_BIN without binaries: err = %v", err)
	}
}

func TestFindToolsNamesWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"pg_dump", "pg_restore"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := FindTools(dir, "pg_dump", "pg_restore"); err != nil || got != dir {
		t.Errorf("FindTools = %q, %v", got, err)
	}
	// A client-only directory is no server directory, and the other way round.
	if _, err := FindBinDir(dir); err == nil {
		t.Error("a directory without initdb and postgres passed as the server's")
	}
	_, err := FindTools(dir, "pg_dump", "psql")
	if err == nil || !strings.Contains(err.Error(), "PG_BIN="+dir) || !strings.Contains(err.Error(), "psql") {
		t.Errorf("err = %v", err)
	}
}

func TestExistingDoesNotInitialise(t *testing.T) {
	dir := clusterDir(t)
	_, err := Start(context.Background(), Options{Dir: dir, Settings: fast, Existing: true})
	if !errors.Is(err, ErrNoCluster) {
		t.Fatalf("Start(Existing) on nothing: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Start(Existing) created %s: %v", dir, err)
	}
	nowhere := filepath.Join(t.TempDir(), "var", "pg")
	if _, err := Start(context.Background(), Options{Dir: nowhere, Existing: true}); !errors.Is(err, ErrNoCluster) {
		t.Errorf("Start(Existing) below a missing directory: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(nowhere)); !os.IsNotExist(err) {
		t.Errorf("Start(Existing) created %s: %v", filepath.Dir(nowhere), err)
	}
	start(t, dir).Stop()
	c, err := Start(context.Background(), Options{Dir: dir, Settings: fast, Existing: true})
	if err != nil {
		t.Fatalf("Start(Existing) on a cluster: %v", err)
	}
	if !c.Owner() {
		t.Error("a stopped cluster started with Existing must be owned")
	}
	_ = c.Stop()
}

func TestUnreachableDirectoryIsDetected(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("placement outside the data directory only applies when running as root")
	}
	acct, err := serverAccount()
	if err != nil {
		t.Fatal(err)
	}
	private := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := unreachable(filepath.Join(private), acct); got != private {
		t.Errorf("unreachable = %q, want %q", got, private)
	}
	c := start(t, filepath.Join(private, "pg"))
	defer c.Stop()
	if !strings.HasPrefix(c.Root(), os.TempDir()) || strings.HasPrefix(c.Root(), private) {
		t.Errorf("cluster root %q should have moved out of %q", c.Root(), private)
	}
	if got := query(t, c, "SELECT 'ok'"); got != "ok" {
		t.Error("moved cluster does not answer")
	}
	os.RemoveAll(c.Root())
}

func TestForeignOrLinkedClusterDirIsRefused(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(base, "elsewhere")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "pg")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for d := base; d != os.TempDir(); d = filepath.Dir(d) { // reachable for the postgres user
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Start(context.Background(), Options{Dir: link})
	if err == nil {
		c.Stop()
	}
	if err == nil || !strings.Contains(err.Error(), "remove it") {
		t.Errorf("a symlinked cluster directory was accepted: %v", err)
	}
	if os.Geteuid() == 0 {
		foreign := filepath.Join(base, "foreign")
		if err := os.Mkdir(foreign, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(foreign, 12345, 12345); err != nil {
			t.Fatal(err)
		}
		if err := privateDir(foreign, nil, 0o700, false); err == nil {
			t.Error("a directory of another user was accepted")
		}
	}
}

// TestWorksAsAnOrdinaryUser runs a start, a query and a stop as the
// unprivileged user nobody (only possible when the tests run as root, as
// in CI): without root, PostgreSQL runs as the calling user itself.
func TestWorksAsAnOrdinaryUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the tests already run as an ordinary user: every other test covers it")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody on this machine")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)

	// The test binary and the cluster must be reachable by nobody.
	base, err := os.MkdirTemp("", "pgembed-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "pgembed.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(base, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + home, "PGEMBED_ATTACH_DIR=" + filepath.Join(home, "pg")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	// attachHelper starts (here: initialises and owns) a cluster, queries
	// it and stops it.
	if !strings.Contains(string(out), "cluster owner=true") {
		t.Fatalf("as nobody the cluster must be started and owned:\n%s", out)
	}
	st, err := os.Stat(filepath.Join(home, "pg", "data"))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Sys().(*syscall.Stat_t).Uid; int(got) != uid {
		t.Errorf("data directory belongs to uid %d, want nobody (%d)", got, uid)
	}
}

func TestStalePidFileOfAnotherClusterIsLeftAlone(t *testing.T) {
	other := start(t, clusterDir(t))
	defer other.Stop()
	otherPID := serverPID(t, other)

	// A cluster whose postmaster.pid names a running postgres that is not
	// its own (as after a reboot, when pids are handed out anew).
	dir := clusterDir(t)
	c := start(t, dir)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(other.data, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.data, "postmaster.pid"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if acct, _ := serverAccount(); acct != nil {
		_ = acct.chown(filepath.Join(c.data, "postmaster.pid"))
	}
	if err := writePID(filepath.Join(c.root, "owner.pid"), 1<<22+9); err != nil {
		t.Fatal(err)
	}
	c = start(t, dir)
	defer c.Stop()
	if !running(otherPID) {
		t.Fatal("the server of another cluster was stopped because of a stale pid file")
	}
	if got := query(t, c, "SELECT 'own'"); got != "own" {
		t.Error("the cluster did not start its own server")
	}
}

func TestInterruptedInitdbIsRedone(t *testing.T) {
	dir := clusterDir(t)
	if err := os.MkdirAll(filepath.Join(dir, "data.tmp", "base"), 0o700); err != nil {
		t.Fatal(err)
	}
	c := start(t, dir)
	defer c.Stop()
	if got := query(t, c, "SELECT 'whole'"); got != "whole" {
		t.Error("no working cluster after an interrupted initdb")
	}
	if _, err := os.Stat(filepath.Join(dir, "data.tmp")); !os.IsNotExist(err) {
		t.Error("the half-made data.tmp is still there")
	}
}
