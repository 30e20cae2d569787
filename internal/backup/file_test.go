package backup_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gesundheitsamt/portal/internal/backup"
	"github.com/gesundheitsamt/portal/internal/fault"
)

// TestDamagedOrForeignFilesAreRefused opens variants of a real backup:
// each is refused as Invalid with a message that says what is wrong.
func TestDamagedOrForeignFilesAreRefused(t *testing.T) {
	srcDSN, src := seeded(t)
	path, _ := writeBackup(t, srcDSN, src)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	nl := bytes.IndexByte(good[len("PORTAL-BACKUP 1\n"):], '\n') + len("PORTAL-BACKUP 1\n") + 1
	archive := good[nl : len(good)-83]
	flipped := bytes.Clone(good)
	flipped[nl+len(archive)/2] ^= 0x01
	var manifest map[string]any
	if err := json.Unmarshal(good[len("PORTAL-BACKUP 1\n"):nl], &manifest); err != nil {
		t.Fatal(err)
	}
	manifest["encryption_key"] = "the key itself" // a field no version writes
	extra, _ := json.Marshal(manifest)

	for _, tt := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"cut short", good[:len(good)/2], "incomplete"},
		{"cut within the trailer", good[:len(good)-10], "incomplete"},
		{"a flipped bit", flipped, "checksum does not match"},
		{"a bare pg_dump archive", archive, "bare pg_dump archive"},
		{"a newer format", append([]byte("PORTAL-BACKUP 2\n"), good[len("PORTAL-BACKUP 1\n"):]...), "newer portal"},
		{"something else", []byte("<html>not a backup</html>"), "not a portal backup"},
		{"empty", nil, "not a portal backup"},
		{"an unknown manifest field", append(append([]byte("PORTAL-BACKUP 1\n"), extra...), good[nl-1:]...), "manifest is damaged"},
		{"no end of the manifest", append([]byte("PORTAL-BACKUP 1\n"), bytes.Repeat([]byte("x"), 2<<20)...), "too long"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "portal.dump")
			if err := os.WriteFile(p, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			bf, err := backup.Open(p)
			if err == nil {
				bf.Close()
				t.Fatal("accepted")
			}
			if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want Invalid with %q", err, tt.want)
			}
		})
	}
	if _, err := backup.Open(t.TempDir()); fault.KindOf(err) != fault.Invalid {
		t.Errorf("a directory: %v", err)
	}
}

// FuzzRead feeds arbitrary files to the reader of backups: it never
// panics, refuses with Invalid, and what it accepts ends with the checksum
// of everything before the end marker.
func FuzzRead(f *testing.F) {
	framed := func(body string) []byte {
		sum := sha256.Sum256([]byte(body))
		return []byte(body + "PORTAL-BACKUP-END " + hex.EncodeToString(sum[:]) + "\n")
	}
	f.Add(framed("PORTAL-BACKUP 1\n{\"offices\":[{\"slug\":\"x\",\"submissions\":2}]}\nPGDMP\x01\x0e"))
	f.Add(framed("PORTAL-BACKUP 1\n{}\nPGDM"))
	f.Add([]byte("PGDMP"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, archive, err := backup.Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if fault.KindOf(err) != fault.Invalid {
				t.Fatalf("error of kind %v: %v", fault.KindOf(err), err)
			}
			return
		}
		sum := sha256.Sum256(b[:len(b)-83])
		if !bytes.HasSuffix(b, []byte("PORTAL-BACKUP-END "+hex.EncodeToString(sum[:])+"\n")) || archive.Size() < 5 {
			t.Fatalf("accepted %q", b)
		}
	})
}
