// Package clamdtest starts a real ClamAV daemon for tests: Debian's
// clamd, with a signature database of one signature, written here, that
// detects the EICAR test string (no signature download is needed or
// made). It starts in well under a second.
package clamdtest

import (
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// EICAR is the anti-virus test string: every scanner reports it, none
// should run it (it is harmless).
const EICAR = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// Signature is the name clamd reports for EICAR with this database
// (clamd adds ".UNOFFICIAL" to signatures of local databases).
const Signature = "Portal.Test.EICAR.UNOFFICIAL"

// Options change the daemon's configuration.
type Options struct {
	// StreamMaxLength is clamd's limit for an INSTREAM scan (clamd's
	// syntax, like "25M"); empty: clamd's default, 25M.
	StreamMaxLength string
}

// Binary returns the path of clamd, or "" when it is not installed.
func Binary() string {
	if p, err := exec.LookPath("clamd"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/clamd"); err == nil {
		return "/usr/sbin/clamd"
	}
	return ""
}

// Start runs clamd until the test ends and returns its address in
// PORTAL_CLAMD's form ("unix:/path"). A missing clamd fails the test:
// `make test` installs it (.ci/install-deps clamav, as root).
func Start(t testing.TB, o Options) string {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Fatal("clamd is not installed: run `make deps-test` (as root, .ci/install-deps clamav installs Debian's clamav-daemon)")
	}
	// A short directory: a unix socket's path has at most 107 bytes, and
	// t.TempDir's names grow with the test's name.
	dir, err := os.MkdirTemp("", "clamd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	// An extended (body) signature: any file type, anywhere in the file.
	sig := "Portal.Test.EICAR:0:*:" + hex.EncodeToString([]byte(EICAR)) + "\n"
	if err := os.WriteFile(filepath.Join(db, "portal.ndb"), []byte(sig), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "clamd.sock")
	conf := []string{
		"Foreground yes",
		"LocalSocket " + sock,
		"DatabaseDirectory " + db,
		"LogFile " + filepath.Join(dir, "clamd.log"),
		"PidFile " + filepath.Join(dir, "clamd.pid"),
		"MaxThreads 4",
		"SelfCheck 0",
	}
	if o.StreamMaxLength != "" {
		conf = append(conf, "StreamMaxLength "+o.StreamMaxLength)
	}
	confFile := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(confFile, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config-file="+confFile)
	// Its own process group, and a parent-death signal: a killed test
	// leaves no clamd behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start clamd: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
			_ = c.Close()
			return "unix:" + sock
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "clamd.log"))
			t.Fatalf("clamd exited (%v) before it listened:\n%s", waitErr, log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "clamd.log"))
			t.Fatalf("clamd did not listen within 20 s:\n%s", log)
		}
	}
}

// Log returns what a clamd started for address addr logged so far (for
// a failing test's message).
func Log(addr string) string {
	sock := strings.TrimPrefix(addr, "unix:")
	b, err := os.ReadFile(filepath.Join(filepath.Dir(sock), "clamd.log"))
	if err != nil {
		return fmt.Sprintf("(no clamd log: %v)", err)
	}
	return string(b)
}
