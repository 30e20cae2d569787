package scan

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"testing"
)

// photo is a w×h image with the left half red and the right half blue,
// and some noise, like a photo.
func photo(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for y := range h {
		for x := range w {
			n := uint8(r.IntN(16))
			c := color.RGBA{R: 220 + n, G: n, B: n, A: 255}
			if x >= w/2 {
				c = color.RGBA{R: n, G: n, B: 220 + n, A: 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func encodeJPEG(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gpsMarker stands for the position in the test's EXIF (51° 20' 24" N,
// Leipzig).
const gpsMarker = "GPS-51-20-24-N"

// exifAPP1 is an APP1 segment with EXIF data as a phone writes it: the
// orientation, a camera model, and a GPS IFD with the position.
func exifAPP1(orientation uint16) []byte {
	le := binary.LittleEndian
	var t bytes.Buffer
	t.WriteString("II*\x00")
	t.Write(le.AppendUint32(nil, 8))
	// IFD0 at 8: three entries.
	entry := func(tag, typ uint16, count, value uint32) {
		t.Write(le.AppendUint16(nil, tag))
		t.Write(le.AppendUint16(nil, typ))
		t.Write(le.AppendUint32(nil, count))
		t.Write(le.AppendUint32(nil, value))
	}
	const ifd0Len = 2 + 3*12 + 4
	model := []byte("Pixel 9\x00")
	modelAt := uint32(8 + ifd0Len)
	gpsAt := modelAt + uint32(len(model))
	t.Write(le.AppendUint16(nil, 3))
	entry(0x0110, 2, uint32(len(model)), modelAt) // Model
	entry(0x0112, 3, 1, uint32(orientation))      // Orientation (SHORT, left-justified)
	entry(0x8825, 4, 1, gpsAt)                    // GPS IFD pointer
	t.Write(le.AppendUint32(nil, 0))
	t.Write(model)
	// GPS IFD: one entry, an ASCII "GPSAreaInformation"-like tag holding
	// the marker the test looks for.
	const gpsLen = 2 + 12 + 4
	t.Write(le.AppendUint16(nil, 1))
	entry(0x001C, 2, uint32(len(gpsMarker)), gpsAt+gpsLen)
	t.Write(le.AppendUint32(nil, 0))
	t.WriteString(gpsMarker)
	seg := append([]byte("Exif\x00\x00"), t.Bytes()...)
	return append([]byte{0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}, seg...)
}

// withSegments puts JPEG segments right after SOI.
func withSegments(jpg []byte, segs ...[]byte) []byte {
	out := append([]byte(nil), jpg[:2]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, jpg[2:]...)
}

func comment(s string) []byte {
	return append([]byte{0xFF, 0xFE, byte((len(s) + 2) >> 8), byte(len(s) + 2)}, s...)
}

// pngChunk returns a PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// afterIHDR puts chunks after a PNG's IHDR chunk (8 bytes of signature,
// 25 of IHDR).
func afterIHDR(p []byte, chunks ...[]byte) []byte {
	out := append([]byte(nil), p[:33]...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, p[33:]...)
}

// appended is what a polyglot or a motion photo carries after the image.
func appended() []byte {
	return append([]byte("PK\x03\x04"), bytes.Repeat([]byte("appended-after-the-image "), 200)...)
}

func TestJPEGIsEncodedAgainWithoutMetadata(t *testing.T) {
	c := newChecker(t, Options{})
	orig := withSegments(encodeJPEG(t, photo(64, 48), 95), exifAPP1(1), comment("Aufgenommen in Leipzig"))
	orig = append(orig, appended()...)
	stored, err := c.Check(context.Background(), MediaTypeJPEG, orig, 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range [][]byte{[]byte("Exif"), []byte(gpsMarker), []byte("Pixel 9"), []byte("Leipzig"), []byte("appended-after"), []byte("PK\x03\x04")} {
		if bytes.Contains(stored, leak) {
			t.Errorf("stored JPEG still holds %q", leak)
		}
		if !bytes.Contains(orig, leak) {
			t.Fatalf("test file lacks %q", leak)
		}
	}
	if !bytes.HasSuffix(stored, []byte{0xFF, 0xD9}) {
		t.Error("stored JPEG does not end with its EOI marker")
	}
	img, err := jpeg.Decode(bytes.NewReader(stored))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 48 {
		t.Fatalf("stored image is %v, want 64×48", b)
	}
	if !reddish(img.At(5, 5)) || reddish(img.At(60, 5)) {
		t.Error("stored image does not show the photo")
	}
}

func reddish(c color.Color) bool {
	r, _, b, _ := c.RGBA()
	return r > 2*b
}

// A phone photo taken upright is stored landscape with orientation 6
// ("turn right to show"): the stored image is turned, so it stays upright
// once the EXIF is gone.
func TestJPEGOrientationIsAppliedToThePixels(t *testing.T) {
	c := newChecker(t, Options{})
	for _, tt := range []struct {
		orientation      uint16
		w, h             int
		redAtTopLeft     bool
		redAtBottomRight bool
	}{
		{1, 64, 48, true, false},
		{3, 64, 48, false, true}, // upside down: red moves right
		{6, 48, 64, true, false}, // left half becomes the top half
		{8, 48, 64, false, true}, // left half becomes the bottom half
	} {
		orig := withSegments(encodeJPEG(t, photo(64, 48), 95), exifAPP1(tt.orientation))
		stored, err := c.Check(context.Background(), MediaTypeJPEG, orig, 10<<20)
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(bytes.NewReader(stored))
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		if b.Dx() != tt.w || b.Dy() != tt.h {
			t.Fatalf("orientation %d: stored %d×%d, want %d×%d", tt.orientation, b.Dx(), b.Dy(), tt.w, tt.h)
		}
		if reddish(img.At(2, 2)) != tt.redAtTopLeft || reddish(img.At(b.Dx()-3, b.Dy()-3)) != tt.redAtBottomRight {
			t.Errorf("orientation %d: colours at the corners are wrong", tt.orientation)
		}
	}
}

// Every orientation, on every pixel type the JPEG decoder returns, is
// compared with turning the image pixel by pixel.
func TestOrient(t *testing.T) {
	src := photo(8, 6) // even sizes: every chroma sample turns with its pixels
	var ycc []*image.YCbCr
	for _, r := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422,
		image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410} {
		m := image.NewYCbCr(src.Bounds(), r)
		for y := range 6 {
			for x := range 8 {
				p := src.RGBAAt(x, y)
				yy, cb, cr := color.RGBToYCbCr(p.R, p.G, p.B)
				m.Y[m.YOffset(x, y)], m.Cb[m.COffset(x, y)], m.Cr[m.COffset(x, y)] = yy, cb, cr
			}
		}
		ycc = append(ycc, m)
	}
	gray := image.NewGray(src.Bounds())
	cmyk := image.NewCMYK(src.Bounds())
	nrgba := image.NewNRGBA(src.Bounds())
	for y := range 6 {
		for x := range 8 {
			gray.Set(x, y, src.At(x, y))
			cmyk.Set(x, y, src.At(x, y))
			nrgba.Set(x, y, src.At(x, y))
		}
	}
	imgs := []image.Image{src, gray, cmyk, nrgba}
	for _, m := range ycc {
		imgs = append(imgs, m)
	}
	for _, img := range imgs {
		for o := 1; o <= 8; o++ {
			got := orient(img, o)
			b := img.Bounds()
			w, h := b.Dx(), b.Dy()
			if o >= 5 {
				w, h = h, w
			}
			if gb := got.Bounds(); gb.Dx() != w || gb.Dy() != h {
				t.Fatalf("%T orientation %d: %v", img, o, gb)
			}
			for y := range b.Dy() {
				for x := range b.Dx() {
					dx, dy := turned(x, y, b.Dx(), b.Dy(), o)
					if !sameColor(got.At(dx, dy), img.At(x, y)) {
						t.Fatalf("%T orientation %d: (%d,%d) → (%d,%d) is %v, want %v", img, o, x, y, dx, dy, got.At(dx, dy), img.At(x, y))
					}
				}
			}
		}
	}
}

// sameColor compares two colours in 8 bits a channel, give or take the
// rounding of one conversion (a YCbCr image that is turned in RGBA).
func sameColor(a, b color.Color) bool {
	x, y := color.NRGBAModel.Convert(a).(color.NRGBA), color.NRGBAModel.Convert(b).(color.NRGBA)
	near := func(p, q uint8) bool { return p-q <= 1 || q-p <= 1 }
	return near(x.R, y.R) && near(x.G, y.G) && near(x.B, y.B) && x.A == y.A
}

// turned is where pixel (x, y) of a w×h image goes under EXIF
// orientation o, by the EXIF specification's description of each.
func turned(x, y, w, h, o int) (int, int) {
	switch o {
	case 2: // mirror horizontal
		return w - 1 - x, y
	case 3: // rotate 180
		return w - 1 - x, h - 1 - y
	case 4: // mirror vertical
		return x, h - 1 - y
	case 5: // mirror horizontal and rotate 270 CW
		return y, x
	case 6: // rotate 90 CW
		return h - 1 - y, x
	case 7: // mirror horizontal and rotate 90 CW
		return h - 1 - y, w - 1 - x
	case 8: // rotate 270 CW
		return y, w - 1 - x
	}
	return x, y
}

func TestPNGIsEncodedAgainWithoutMetadata(t *testing.T) {
	c := newChecker(t, Options{})
	src := photo(40, 30)
	orig := afterIHDR(encodePNG(t, src),
		pngChunk("tEXt", []byte("Comment\x00Befund von Erika Mustermann")),
		pngChunk("eXIf", exifAPP1(6)[10:])) // the TIFF part of EXIF
	orig = append(orig, appended()...)
	stored, err := c.Check(context.Background(), MediaTypePNG, orig, 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range [][]byte{[]byte("tEXt"), []byte("Mustermann"), []byte("eXIf"), []byte(gpsMarker), []byte("appended-after")} {
		if bytes.Contains(stored, leak) {
			t.Errorf("stored PNG still holds %q", leak)
		}
		if !bytes.Contains(orig, leak) {
			t.Fatalf("test file lacks %q", leak)
		}
	}
	img, err := png.Decode(bytes.NewReader(stored))
	if err != nil {
		t.Fatal(err)
	}
	for y := range 30 {
		for x := range 40 {
			if !sameColor(img.At(x, y), src.At(x, y)) {
				t.Fatalf("pixel (%d,%d) changed: %v, want %v", x, y, img.At(x, y), src.At(x, y))
			}
		}
	}
}

// jpegHeader is the header of a JPEG declaring a w×h image, without the
// image.
func jpegHeader(w, h uint16) []byte {
	b := []byte{0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08}
	b = binary.BigEndian.AppendUint16(b, h)
	b = binary.BigEndian.AppendUint16(b, w)
	b = append(b, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	// The start of the scan: the decoder reads the header up to it.
	b = append(b, 0xFF, 0xDA, 0x00, 0x0C, 3, 1, 0x00, 2, 0x11, 3, 0x11, 0x00, 0x3F, 0x00)
	return append(b, 0xFF, 0xD9)
}

func TestImagesRefused(t *testing.T) {
	c := newChecker(t, Options{})
	jpg := encodeJPEG(t, photo(64, 48), 90)
	pngFile := encodePNG(t, photo(64, 48))
	hugePNG := encodePNG(t, image.NewGray(image.Rect(0, 0, 1, 1)))
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 100_000), 100_000)
	hugePNG = append(append(append([]byte(nil), hugePNG[:8]...), pngChunk("IHDR", append(ihdr, 8, 0, 0, 0, 0))...), hugePNG[33:]...)
	for _, tt := range []struct {
		name      string
		mediaType string
		content   []byte
		maxSize   int64
		want      Kind
	}{
		{"truncated JPEG", MediaTypeJPEG, jpg[:len(jpg)/2], 10 << 20, Damaged},
		{"JPEG without its end marker", MediaTypeJPEG, jpg[:len(jpg)-2], 10 << 20, Damaged},
		{"JPEG header only", MediaTypeJPEG, jpg[:20], 10 << 20, Damaged},
		{"truncated PNG", MediaTypePNG, pngFile[:len(pngFile)-30], 10 << 20, Damaged},
		{"PNG without its IEND chunk", MediaTypePNG, pngFile[:len(pngFile)-12], 10 << 20, Damaged},
		{"PNG with a broken chunk CRC", MediaTypePNG, append(append([]byte(nil), pngFile[:40]...), append([]byte{0}, pngFile[41:]...)...), 10 << 20, Damaged},
		{"JPEG declaring 65535×65535 pixels", MediaTypeJPEG, jpegHeader(65535, 65535), 10 << 20, TooLarge},
		{"PNG declaring 100000×100000 pixels", MediaTypePNG, hugePNG, 10 << 20, TooLarge},
		{"JPEG larger than the limit once encoded again", MediaTypeJPEG, jpg, 500, TooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stored, err := c.Check(context.Background(), tt.mediaType, tt.content, tt.maxSize)
			if KindOf(err) != tt.want || stored != nil {
				t.Fatalf("Check = %d bytes, %v; want kind %v", len(stored), err, tt.want)
			}
		})
	}
}

// The figures of a typical phone photo: 4000×3000 pixels, about 4 MB.
func BenchmarkReencodePhoto(b *testing.B) {
	c := newChecker(b, Options{})
	img := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range img.Y {
		img.Y[i] = uint8(i%4000/16 + r.IntN(12)) // gradients with sensor noise
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = uint8(100+r.IntN(20)), uint8(140+r.IntN(20))
	}
	orig := withSegments(encodeJPEG(b, img, 92), exifAPP1(6))
	b.ResetTimer()
	var stored []byte
	for b.Loop() {
		var err error
		if stored, err = c.Check(context.Background(), MediaTypeJPEG, orig, 10<<20); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(orig))/(1<<20), "MB-in")
	b.ReportMetric(float64(len(stored))/(1<<20), "MB-out")
}

// FuzzImage: whatever the bytes, re-encoding ends with an image or a
// Finding, and an accepted image decodes.
func FuzzImage(f *testing.F) {
	f.Add(true, withSegments(encodeJPEG(f, photo(16, 8), 80), exifAPP1(6)))
	f.Add(true, jpegHeader(8, 8))
	f.Add(false, encodePNG(f, photo(16, 8)))
	c := newChecker(f, Options{})
	f.Fuzz(func(t *testing.T, isJPEG bool, content []byte) {
		mediaType, decode := MediaTypePNG, png.Decode
		if isJPEG {
			mediaType, decode = MediaTypeJPEG, jpeg.Decode
		}
		stored, err := c.Check(context.Background(), mediaType, content, 1<<20)
		if err != nil {
			if KindOf(err) == 0 {
				t.Fatalf("Check = %v, not a Finding", err)
			}
			return
		}
		if _, err := decode(bytes.NewReader(stored)); err != nil {
			t.Fatalf("stored image does not decode: %v", err)
		}
	})
}
