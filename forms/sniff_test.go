package forms

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"slices"
	"strings"
	"testing"
)

// newPDF returns a minimal valid one-page PDF with a correct xref table.
func newPDF(t testing.TB) []byte {
	t.Helper()
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objects))
	for i, obj := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, obj)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return b.Bytes()
}

func newImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	return img
}

func newPNG(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, newImage()); err != nil {
		t.Fatalf("png.Encode: %v", err)
	}
	return b.Bytes()
}

func newJPEG(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, newImage(), nil); err != nil {
		t.Fatalf("jpeg.Encode: %v", err)
	}
	return b.Bytes()
}

// concatBytes returns the concatenation of parts as a new slice.
func concatBytes(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestSniffMediaType(t *testing.T) {
	pdf, pngFile, jpegFile := newPDF(t), newPNG(t), newJPEG(t)
	for _, tc := range []struct {
		name string
		head []byte
		want string
	}{
		{"pdf", pdf, MediaTypePDF},
		{"pdf header only", []byte("%PDF-"), MediaTypePDF},
		{"png", pngFile, MediaTypePNG},
		{"png head", pngFile[:SniffHeadSize], MediaTypePNG},
		{"jpeg", jpegFile, MediaTypeJPEG},
		{"nil", nil, ""},
		{"empty", []byte{}, ""},
		{"pdf magic cut short", []byte("%PDF"), ""},
		{"pdf after whitespace", concatBytes([]byte("\n"), pdf), ""},
		{"pdf after BOM", concatBytes([]byte("\xef\xbb\xbf"), pdf), ""},
		{"pdf polyglot", concatBytes([]byte("<html><script>alert(1)</script>"), pdf), ""},
		{"lower-case pdf", []byte("%pdf-1.4"), ""},
		{"jpeg SOI only", []byte{0xFF, 0xD8}, ""},
		{"png signature only", pngFile[:8], ""},
		{"png without IHDR first", concatBytes(pngFile[:8], []byte("\x00\x00\x00\x0dtEXt")), ""},
		{"png IHDR with wrong length", concatBytes(pngFile[:8], []byte("\x00\x00\x00\x0cIHDR")), ""},
		{"html", []byte("<!DOCTYPE html><html></html>"), ""},
		{"gif", []byte("GIF89a"), ""},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SniffMediaType(tc.head); got != tc.want {
				t.Errorf("SniffMediaType = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheckUpload(t *testing.T) {
	pdf, pngFile, jpegFile := newPDF(t), newPNG(t), newJPEG(t)
	all := []string{MediaTypePDF, MediaTypeJPEG, MediaTypePNG}
	const limit = 1 << 20
	for _, tc := range []struct {
		name    string
		file    string
		content []byte
		allowed []string
		maxSize int64
		want    error
	}{
		{"pdf", "befund.pdf", pdf, all, limit, nil},
		{"png", "foto.png", pngFile, all, limit, nil},
		{"jpeg", "foto.jpg", jpegFile, all, limit, nil},
		{"jpeg .jpeg", "foto.jpeg", jpegFile, all, limit, nil},
		{"upper-case extension", "SCAN.PDF", pdf, all, limit, nil},
		{"exactly the limit", "befund.pdf", pdf, all, int64(len(pdf)), nil},
		{"jpeg with 14 bytes padding", "foto.jpg", concatBytes(jpegFile, make([]byte, 14)), all, limit, nil},
		// The end of an image is the decoder's to judge (internal/scan).
		{"truncated png", "foto.png", pngFile[:len(pngFile)-1], all, limit, nil},
		{"png with data appended", "foto.png", concatBytes(pngFile, []byte("<html>")), all, limit, nil},
		{"truncated jpeg", "foto.jpg", jpegFile[:len(jpegFile)-2], all, limit, nil},
		{"jpeg with a video appended", "foto.jpg", concatBytes(jpegFile, make([]byte, 4096)), all, limit, nil},
		{"png head only", "foto.png", pngFile[:SniffHeadSize], all, limit, nil},
		{"jpeg SOI then EOI", "foto.jpg", []byte{0xFF, 0xD8, 0xFF, 0xD9}, all, limit, nil},
		{"pdf with padding after %%EOF", "befund.pdf", concatBytes(pdf, bytes.Repeat([]byte{' '}, 1000)), all, limit, nil},

		{"empty", "befund.pdf", []byte{}, all, limit, ErrFileEmpty},
		{"nil", "befund.pdf", nil, all, limit, ErrFileEmpty},
		{"one byte over the limit", "befund.pdf", pdf, all, int64(len(pdf)) - 1, ErrFileTooLarge},
		{"zero limit", "befund.pdf", pdf, all, 0, ErrFileTooLarge},
		{"too large beats wrong type", "a.pdf", []byte("<html>"), all, 1, ErrFileTooLarge},

		{"html named pdf", "befund.pdf", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"), all, limit, ErrFileType},
		{"html polyglot", "befund.pdf", concatBytes([]byte("<html><script>alert(1)</script>\n"), pdf), all, limit, ErrFileType},
		{"pdf not allowed", "befund.pdf", pdf, []string{MediaTypeJPEG, MediaTypePNG}, limit, ErrFileType},
		{"nothing allowed", "befund.pdf", pdf, nil, limit, ErrFileType},
		{"png named pdf", "befund.pdf", pngFile, all, limit, ErrFileType},
		{"pdf named html", "befund.html", pdf, all, limit, ErrFileType},
		{"pdf without extension", "befund", pdf, all, limit, ErrFileType},
		{"pdf named .pdf.html", "befund.pdf.html", pdf, all, limit, ErrFileType},
		{"truncated pdf", "befund.pdf", pdf[:len(pdf)-10], all, limit, ErrFileType},
		{"pdf header only", "befund.pdf", []byte("%PDF-"), all, limit, ErrFileType},
		{"pdf with 1 KiB appended", "befund.pdf", concatBytes(pdf, bytes.Repeat([]byte{' '}, 1024)), all, limit, ErrFileType},
		{"gif", "bild.gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), append(all, "image/gif"), limit, ErrFileType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckUpload(tc.file, tc.content, tc.allowed, tc.maxSize)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("CheckUpload = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("CheckUpload = %v, want %v", err, tc.want)
			}
			for _, other := range []error{ErrFileEmpty, ErrFileTooLarge, ErrFileType} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("CheckUpload = %v also matches %v", err, other)
				}
			}
			if strings.Contains(err.Error(), tc.file) {
				t.Errorf("error %q leaks the file name", err)
			}
		})
	}
}

func FuzzSniff(f *testing.F) {
	f.Add("befund.pdf", newPDF(f))
	f.Add("foto.png", newPNG(f))
	f.Add("foto.jpg", newJPEG(f))
	f.Add("befund.pdf", []byte("<html>%PDF-%%EOF"))
	f.Add("x.jpg", []byte{0xFF, 0xD8, 0xFF, 0xD9})
	f.Add("", []byte{})
	all := []string{MediaTypePDF, MediaTypeJPEG, MediaTypePNG}
	f.Fuzz(func(t *testing.T, name string, content []byte) {
		mediaType := SniffMediaType(content)
		if mediaType != "" && !slices.Contains(all, mediaType) {
			t.Fatalf("SniffMediaType = %q, not a supported type", mediaType)
		}
		err := CheckUpload(name, content, all, 1<<20)
		if err == nil {
			if mediaType == "" {
				t.Fatal("CheckUpload accepted content SniffMediaType does not recognise")
			}
			if err := CheckUpload(name, content, nil, 1<<20); !errors.Is(err, ErrFileType) {
				t.Fatalf("CheckUpload with nothing allowed = %v, want ErrFileType", err)
			}
			return
		}
		if !errors.Is(err, ErrFileEmpty) && !errors.Is(err, ErrFileTooLarge) && !errors.Is(err, ErrFileType) {
			t.Fatalf("CheckUpload = %v, not one of the sentinels", err)
		}
	})
}
