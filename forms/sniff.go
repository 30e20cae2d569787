package forms

// This file decides what an upload is by its bytes, never by the name or
// the Content-Type the browser sent: both are chosen by the uploader.

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Media types SniffMediaType recognises; use them in a field's allowed list.
const (
	MediaTypePDF  = "application/pdf"
	MediaTypeJPEG = "image/jpeg"
	MediaTypePNG  = "image/png"
)

// Errors of CheckUpload. The caller maps each to a localized message; they
// carry no file name, since names of health uploads are personal data that
// must not reach logs.
var (
	// ErrFileEmpty means the upload has no bytes.
	ErrFileEmpty = errors.New("forms: upload is empty")
	// ErrFileTooLarge means the upload is longer than the field allows.
	ErrFileTooLarge = errors.New("forms: upload is too large")
	// ErrFileType means the content is not an allowed type, is incomplete,
	// or does not match the extension of its name.
	ErrFileType = errors.New("forms: upload type not allowed")
)

// Signatures, kept as constants so that nothing in the package can change
// them at run time.
const (
	pdfMagic  = "%PDF-"
	pdfEOF    = "%%EOF"
	jpegMagic = "\xff\xd8\xff"
	// PNG signature, then the first chunk, which the PNG spec requires to be
	// IHDR with a length of 13.
	pngMagic = "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"
)

// pdfTrailerWindow is how far from the end "%%EOF" may be. Writers put a
// line end after it, some a few bytes of padding; far more than that is
// appended data, the classic way to smuggle a second file along.
const pdfTrailerWindow = 1024

// SniffHeadSize is how many leading bytes SniffMediaType needs at most;
// callers reading a stream may pass just this much.
const SniffHeadSize = len(pngMagic)

// SniffMediaType returns MediaTypePDF, MediaTypeJPEG or MediaTypePNG for the
// first bytes of a file, or "" if they are none of these. It only looks at
// the start; CheckUpload also checks that the file is complete.
//
// The signature must be at offset 0. PDF readers tolerate up to 1024 bytes
// of junk before "%PDF-", and that tolerance is what HTML/PDF polyglots
// exploit: a file a PDF viewer shows as a harmless form, but a browser
// renders as a page with script. Scanners and office software never write
// such a prefix, so being strict costs citizens nothing.
func SniffMediaType(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte(pdfMagic)):
		return MediaTypePDF
	case bytes.HasPrefix(head, []byte(jpegMagic)):
		return MediaTypeJPEG
	case bytes.HasPrefix(head, []byte(pngMagic)):
		return MediaTypePNG
	}
	return ""
}

// extensions returns the file name extensions (lower case) accepted for a
// sniffed type. .jfif is what some Windows browsers name saved JPEGs.
func extensions(mediaType string) []string {
	switch mediaType {
	case MediaTypePDF:
		return []string{".pdf"}
	case MediaTypeJPEG:
		return []string{".jpg", ".jpeg", ".jpe", ".jfif"}
	case MediaTypePNG:
		return []string{".png"}
	}
	return nil
}

// CheckUpload is called by the submit handlers for every uploaded file
// before it is stored. It returns nil if content is a complete PDF, JPEG or
// PNG whose media type is in allowed, whose size is at most maxSize bytes
// (a non-positive maxSize rejects every file), and whose name has an
// extension of that type. Otherwise it returns an error wrapping exactly
// one of ErrFileEmpty, ErrFileTooLarge or ErrFileType, checked in that
// order.
//
// The extension must match because officials download the file under its
// name: a PDF/HTML polyglot named "befund.html" would open in a browser as
// a page. name is only inspected, never used as a path.
//
// The PDF trailer check rejects files cut off by a dropped connection,
// which the office could otherwise not open, and data appended after the
// end. The end of a JPEG or PNG is not looked at here: the upload checks
// (internal/scan) decode every image, which refuses a truncated one, and
// store it encoded again, which drops whatever followed the image (a
// phone's "motion photo" appends a video there).
func CheckUpload(name string, content []byte, allowed []string, maxSize int64) error {
	if len(content) == 0 {
		return ErrFileEmpty
	}
	if int64(len(content)) > maxSize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFileTooLarge, len(content), maxSize)
	}
	mediaType := SniffMediaType(content)
	if mediaType == "" {
		return fmt.Errorf("%w: content is not PDF, JPEG or PNG", ErrFileType)
	}
	if !slices.Contains(allowed, mediaType) {
		return fmt.Errorf("%w: %s not allowed here", ErrFileType, mediaType)
	}
	if !slices.Contains(extensions(mediaType), strings.ToLower(filepath.Ext(name))) {
		return fmt.Errorf("%w: name extension does not match %s content", ErrFileType, mediaType)
	}
	if mediaType == MediaTypePDF && !bytes.Contains(tail(content, pdfTrailerWindow), []byte(pdfEOF)) {
		return fmt.Errorf("%w: %s is truncated or has data appended", ErrFileType, mediaType)
	}
	return nil
}

// tail returns the last n bytes of b, or all of b if it is shorter.
func tail(b []byte, n int) []byte {
	return b[max(0, len(b)-n):]
}
