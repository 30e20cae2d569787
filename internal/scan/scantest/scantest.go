// Package scantest makes the files the upload checks of internal/scan
// are tested with from other packages: PDFs with and without active
// content, and phone-like photos carrying metadata and appended data.
package scantest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"

	"github.com/go-pdf/fpdf"
)

// Markers the photos carry outside their pixels; none may be in what is
// stored.
const (
	GPSMarker      = "GPS-51-20-24-N"          // in the EXIF GPS data
	CommentMarker  = "Aufgenommen bei Familie" // in a JPEG comment, a PNG tEXt chunk
	AppendedMarker = "appended-after-the-image"
)

// PDF returns a one-page PDF with a correct cross-reference table;
// catalog goes into its catalog dictionary, extra objects (numbered from
// 4) after the page tree.
func PDF(catalog string, extra ...string) []byte {
	objs := append([]string{
		"<< /Type /Catalog /Pages 2 0 R " + catalog + " >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
	}, extra...)
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// Stream is a PDF stream object with content, for PDF's extra objects.
func Stream(dict, content string) string {
	return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(content), content)
}

// JavaScriptPDF opens with a JavaScript action: it must be refused.
func JavaScriptPDF() []byte {
	return PDF("/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >>")
}

// LaunchPDF opens with a launch action: it must be refused.
func LaunchPDF() []byte { return PDF("/OpenAction << /S /Launch /F (cmd.exe) >>") }

// EmbeddedFilePDF carries a program as an attachment: it must be refused.
func EmbeddedFilePDF() []byte {
	return PDF("/Names << /EmbeddedFiles << /Names [(rechnung.exe) 4 0 R] >> >>",
		"<< /Type /Filespec /F (rechnung.exe) /EF << /F 5 0 R >> >>",
		Stream("/Type /EmbeddedFile", "MZ"))
}

// PasswordPDF needs the password "geheim" to open: it must be refused.
func PasswordPDF() []byte {
	f := fpdf.New("P", "mm", "A4", "")
	f.SetProtection(0, "geheim", "noch-geheimer")
	f.AddPage()
	f.SetFont("Helvetica", "", 12)
	f.Cell(40, 10, "Befund")
	var b bytes.Buffer
	if err := f.Output(&b); err != nil {
		panic(err) // an in-memory document with a core font does not fail
	}
	return b.Bytes()
}

// Photo returns a w×h JPEG as a phone writes it: EXIF with the camera,
// the orientation 1 and a GPS position, a comment, and a second file
// appended after the image's end (as "motion photos" carry a video).
func Photo(w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, picture(w, h), &jpeg.Options{Quality: 92}); err != nil {
		panic(err) // encoding an in-memory RGBA image does not fail
	}
	jpg := b.Bytes()
	out := append([]byte(nil), jpg[:2]...)
	out = append(out, exifAPP1()...)
	out = append(out, segment(0xFE, []byte(CommentMarker))...)
	out = append(out, jpg[2:]...)
	return append(out, appended()...)
}

// Screenshot returns a w×h PNG with a tEXt chunk, an eXIf chunk and data
// appended after its end.
func Screenshot(w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, picture(w, h)); err != nil {
		panic(err)
	}
	p := b.Bytes()
	out := append([]byte(nil), p[:33]...) // signature and IHDR
	out = append(out, chunk("tEXt", []byte("Comment\x00"+CommentMarker))...)
	out = append(out, chunk("eXIf", exifAPP1()[10:])...)
	out = append(out, p[33:]...)
	return append(out, appended()...)
}

// WithComment returns a JPEG (as Photo makes) with text in another
// comment segment, right after its start.
func WithComment(jpg []byte, text string) []byte {
	out := append([]byte(nil), jpg[:2]...)
	out = append(out, segment(0xFE, []byte(text))...)
	return append(out, jpg[2:]...)
}

func picture(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{R: uint8(x * 255 / w), G: uint8(y * 255 / h), B: 128, A: 255})
		}
	}
	return img
}

func appended() []byte {
	return append([]byte("PK\x03\x04"), bytes.Repeat([]byte(AppendedMarker+" "), 100)...)
}

func segment(marker byte, data []byte) []byte {
	return append([]byte{0xFF, marker, byte((len(data) + 2) >> 8), byte(len(data) + 2)}, data...)
}

func chunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// exifAPP1 is an APP1 segment with EXIF: camera model, orientation 1, and
// a GPS IFD holding GPSMarker.
func exifAPP1() []byte {
	le := binary.LittleEndian
	var t bytes.Buffer
	entry := func(tag, typ uint16, count, value uint32) {
		t.Write(le.AppendUint16(nil, tag))
		t.Write(le.AppendUint16(nil, typ))
		t.Write(le.AppendUint32(nil, count))
		t.Write(le.AppendUint32(nil, value))
	}
	model := []byte("Pixel 9\x00")
	const ifd0Len = 2 + 3*12 + 4
	modelAt := uint32(8 + ifd0Len)
	gpsAt := modelAt + uint32(len(model))
	t.WriteString("II*\x00")
	t.Write(le.AppendUint32(nil, 8))
	t.Write(le.AppendUint16(nil, 3))
	entry(0x0110, 2, uint32(len(model)), modelAt)
	entry(0x0112, 3, 1, 1)
	entry(0x8825, 4, 1, gpsAt)
	t.Write(le.AppendUint32(nil, 0))
	t.Write(model)
	t.Write(le.AppendUint16(nil, 1))
	entry(0x001C, 2, uint32(len(GPSMarker)), gpsAt+2+12+4)
	t.Write(le.AppendUint32(nil, 0))
	t.WriteString(GPSMarker)
	return segment(0xE1, append([]byte("Exif\x00\x00"), t.Bytes()...))
}
