package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/store"
)

// A backup file is, in this order:
//
//	PORTAL-BACKUP 1\n                 the magic line, with the format version
//	{...}\n                           the Manifest as one line of JSON
//	<archive>                         pg_dump's custom-format archive, as it wrote it
//	PORTAL-BACKUP-END <sha256>\n      SHA-256 (lower-case hex) of every byte before this line
//
// The trailer has a fixed length, so a reader finds it at the end without
// scanning the archive, and a file cut short (a full disk, an interrupted
// copy) or changed anywhere fails its check before anything is restored.
// The checksum guards against damage, not against someone who can write
// the file: such a person could recompute it.
const (
	magic         = "PORTAL-BACKUP 1\n"
	trailerPrefix = "PORTAL-BACKUP-END "
	trailerSize   = len(trailerPrefix) + 2*sha256.Size + 1

	// maxManifest bounds the JSON line a reader accepts: a manifest lists
	// a few numbers per office.
	maxManifest = 1 << 20

	// archiveMagic starts every pg_dump custom-format archive.
	archiveMagic = "PGDMP"
)

// Manifest is what a backup says about itself. It never holds a key, only
// fingerprints (crypto.Fingerprint) of the keys the portal had.
type Manifest struct {
	PortalVersion   string    `json:"portal_version"`
	CreatedAt       time.Time `json:"created_at"`
	Source          string    `json:"source"` // "embedded" or "external" PostgreSQL
	PostgresVersion string    `json:"postgres_version"`
	SchemaVersion   int64     `json:"schema_version"`
	// EncryptionKey is the fingerprint of PORTAL_ENCRYPTION_KEY, which
	// sealed the attachments, TOTP and webhook secrets in the archive.
	EncryptionKey string `json:"encryption_key_fingerprint"`
	// SecretKey is the fingerprint of PORTAL_SECRET_KEY.
	SecretKey string               `json:"secret_key_fingerprint"`
	Offices   []store.OfficeCounts `json:"offices"`
}

// writer writes a backup file around an archive and keeps its checksum.
type writer struct {
	w   io.Writer
	sum hash.Hash
	err error // the first write error: a full disk, not pg_dump's broken pipe that follows
}

func newWriter(w io.Writer, m Manifest) (*writer, error) {
	line, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	bw := &writer{w: w, sum: sha256.New()}
	if _, err := bw.Write(append(append([]byte(magic), line...), '\n')); err != nil {
		return nil, err
	}
	return bw, nil
}

// Write writes archive bytes.
func (bw *writer) Write(p []byte) (int, error) {
	n, err := bw.w.Write(p)
	bw.sum.Write(p[:n])
	if err != nil {
		if bw.err == nil {
			bw.err = fmt.Errorf("write: %w", err)
		}
		return n, bw.err
	}
	return n, nil
}

// finish writes the trailer.
func (bw *writer) finish() error {
	if _, err := io.WriteString(bw.w, trailerPrefix+hex.EncodeToString(bw.sum.Sum(nil))+"\n"); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// File is a backup file opened for restore: its manifest, and its archive,
// whose checksum has been verified.
type File struct {
	Manifest Manifest
	Archive  *io.SectionReader
	f        *os.File
}

// Open opens the backup file at path and checks it: an Invalid error,
// starting with path, when it is no portal backup, or damaged or
// incomplete. It reads the whole file
// once for the checksum. The caller closes the File.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fault.Wrap(fault.Invalid, path, errors.New("not a regular file"))
	}
	m, archive, err := Read(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{Manifest: m, Archive: archive, f: f}, nil
}

// Close closes the file.
func (bf *File) Close() error { return bf.f.Close() }

// Read checks the backup held by r (size bytes) and returns its manifest
// and archive. Every problem is an Invalid error saying what is wrong:
// another kind of file (a bare pg_dump archive is named as such), a cut or
// changed one.
func Read(r io.ReaderAt, size int64) (Manifest, *io.SectionReader, error) {
	var m Manifest
	invalid := func(msg string) (Manifest, *io.SectionReader, error) {
		return Manifest{}, nil, fault.Wrap(fault.Invalid, "", errors.New(msg))
	}
	head := make([]byte, len(magic))
	if n, _ := r.ReadAt(head, 0); n < len(magic) || string(head) != magic {
		switch {
		case bytes.HasPrefix(head[:n], []byte(archiveMagic)):
			return invalid("a bare pg_dump archive, not a portal backup: restore it with pg_restore (see README, Backups)")
		case bytes.HasPrefix(head[:n], []byte("PORTAL-BACKUP ")):
			return invalid("a portal backup of a format this portal does not know: restore it with a newer portal")
		}
		return invalid("not a portal backup")
	}
	buf := make([]byte, min(int64(maxManifest+1), max(size-int64(len(magic)), 0)))
	n, err := r.ReadAt(buf, int64(len(magic)))
	if err != nil && !errors.Is(err, io.EOF) {
		return invalid("cannot read the file: " + err.Error())
	}
	nl := bytes.IndexByte(buf[:n], '\n')
	switch {
	case nl < 0 && n > maxManifest:
		return invalid("the manifest line is too long")
	case nl < 0:
		return invalid("the file ends within its manifest: it is incomplete")
	}
	line := buf[:nl+1]
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return invalid("the manifest is damaged: " + err.Error())
	}
	start := int64(len(magic) + len(line))
	end := size - int64(trailerSize)
	if end < start+int64(len(archiveMagic)) {
		return invalid("the file is incomplete: it ends before its archive does")
	}
	trailer := make([]byte, trailerSize)
	if _, err := r.ReadAt(trailer, end); err != nil {
		return invalid("cannot read the end of the file: " + err.Error())
	}
	// The checksum in lower-case hex, as the writer puts it: a file the
	// writer could not have made is not one of ours.
	want, err := hex.DecodeString(string(trailer[len(trailerPrefix) : trailerSize-1]))
	if !bytes.HasPrefix(trailer, []byte(trailerPrefix)) || trailer[trailerSize-1] != '\n' || err != nil ||
		hex.EncodeToString(want) != string(trailer[len(trailerPrefix):trailerSize-1]) {
		return invalid("the file is incomplete: its end marker is missing")
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, io.NewSectionReader(r, 0, end)); err != nil {
		return invalid("cannot read the file: " + err.Error())
	}
	if !bytes.Equal(sum.Sum(nil), want) {
		return invalid("the file is damaged: its checksum does not match")
	}
	archive := io.NewSectionReader(r, start, end-start)
	head = make([]byte, len(archiveMagic))
	if _, err := archive.ReadAt(head, 0); err != nil || string(head) != archiveMagic {
		return invalid("the file holds no pg_dump archive")
	}
	return m, archive, nil
}
