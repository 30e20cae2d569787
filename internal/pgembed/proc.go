package pgembed

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// readPostmasterPID reads the server's pid and socket directory from
// PGDATA/postmaster.pid (line 1 and line 5).
func readPostmasterPID(path string) (pid int, sockDir string, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, "", false
	}
	lines := strings.Split(string(b), "\n")
	pid, err = strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return 0, "", false
	}
	if len(lines) > 4 {
		sockDir = strings.TrimSpace(lines[4])
	}
	return pid, sockDir, true
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func writePID(path string, pid int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	_, err = f.WriteString(strconv.Itoa(pid) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	return nil
}

// servesDir reports whether process pid runs with dataDir as its working
// directory, as a postmaster does: the pid in a postmaster.pid may, after
// a reboot, belong to some other program or another cluster.
func servesDir(pid int, dataDir string) bool {
	cwd, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd")
	if err != nil {
		return false
	}
	want, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		want = dataDir
	}
	return cwd == want
}

// running reports whether pid is a live process (a zombie is not).
func running(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	state, _ := statField(pid, 0)
	return state != "" && state != "Z" && state != "X"
}

func parentPID(pid int) int {
	s, _ := statField(pid, 1)
	n, _ := strconv.Atoi(s)
	return n
}

// statField returns field i of /proc/pid/stat counted after the command name
// (0 is the state, 1 the parent pid).
func statField(pid, i int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	s := string(b)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return "", errors.New("pgembed: malformed stat")
	}
	fields := strings.Fields(s[end+1:])
	if i >= len(fields) {
		return "", errors.New("pgembed: malformed stat")
	}
	return fields[i], nil
}

func processName(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

// stopPID stops a server this process does not own: fast shutdown first,
// harder signals when it does not go.
func stopPID(pid int) error {
	for _, step := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGINT, 15 * time.Second}, {syscall.SIGQUIT, 5 * time.Second}, {syscall.SIGKILL, 5 * time.Second}} {
		if err := syscall.Kill(pid, step.sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("pgembed: stop leftover postgres %d: %w", pid, err)
		}
		for deadline := time.Now().Add(step.wait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if !running(pid) {
				return nil
			}
		}
	}
	return fmt.Errorf("pgembed: leftover postgres %d does not stop", pid)
}

// lockFile takes an exclusive flock on path, waiting for it, and returns the
// function that releases it.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgembed: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("pgembed: lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
