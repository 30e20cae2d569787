package receipt

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/text/unicode/norm"
)

// cleaner turns untrusted text into text fpdf can set with the embedded Go
// fonts. It exists because fpdf trusts its input: a rune outside the Basic
// Multilingual Plane makes MultiCell fail and GetStringWidth panic, a rune
// the font lacks prints as an empty box, and control characters end up raw
// in the content stream.
//
// The Go fonts cover Latin-1, Latin Extended-A, Greek and Cyrillic but no
// combining marks, so text is composed (NFC) first: "u" + U+0308 becomes "ü".
// What still cannot be shown falls back as DIN 91379 allows for systems with
// a smaller repertoire: a letter the font lacks is shown as its base letter
// with what marks the font can put on it (ễ → ê, ḍ → d, ẞ → SS), anything
// else as U+FFFD, so that the reader sees that something was there.
//
// A cleaner is used by one render call only; its memo is not shared.
type cleaner struct {
	regular, bold *sfnt.Font
	buf           sfnt.Buffer
	covered       map[rune]bool // memo of font lookups for runes beyond ASCII
	// encode, when set, turns cleaned text into the bytes the PDF core
	// fonts take (Windows-1252), and the repertoire is that code page's.
	encode func(string) string
}

// newCoreCleaner is a cleaner for the PDF core fonts (Helvetica): what
// Windows-1252 lacks falls back as with the Go fonts, and the result is
// encoded with encode.
func newCoreCleaner(encode func(string) string) *cleaner {
	c := &cleaner{covered: make(map[rune]bool)}
	c.encode = func(s string) string {
		// fpdf's translator passes a rune it cannot map through as UTF-8,
		// which the core fonts' width tables do not survive: what the code
		// page lacks (U+FFFD from the fallback) becomes "?".
		return encode(strings.Map(func(r rune) rune {
			if r < 0x80 || r == '\n' || c.has(r) {
				return r
			}
			return '?'
		}, s))
	}
	return c
}

// cp1252Extra are the letters and signs Windows-1252 has in 0x80–0x9F.
const cp1252Extra = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ"

// meta cleans s for the PDF's metadata, which is UTF-8 whatever the fonts.
func (c *cleaner) meta(s string) string {
	enc := c.encode
	c.encode = nil
	defer func() { c.encode = enc }()
	return c.line(s)
}

// newCleaner parses the fonts' character maps. sfnt parses lazily, so this
// costs microseconds.
func newCleaner() (*cleaner, error) {
	regular, err := sfnt.Parse(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse regular font: %w", err)
	}
	bold, err := sfnt.Parse(gobold.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse bold font: %w", err)
	}
	return &cleaner{regular: regular, bold: bold, covered: make(map[rune]bool)}, nil
}

// line cleans s for a single line: newlines become spaces.
func (c *cleaner) line(s string) string {
	if c.encode != nil {
		enc := c.encode
		c.encode = nil
		defer func() { c.encode = enc }()
		return enc(strings.Join(strings.Fields(c.text(s)), " "))
	}
	return strings.Join(strings.Fields(c.text(s)), " ")
}

// text cleans s, keeping line breaks. Lines are trimmed, runs of empty lines
// shrink to one and leading and trailing empty lines go: a citizen's
// thousand empty lines must not become twenty empty pages.
func (c *cleaner) text(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = norm.NFC.String(s)

	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		c.writeRune(&b, r)
	}

	lines := strings.Split(b.String(), "\n")
	out := lines[:0]
	for _, ln := range lines {
		ln = strings.TrimRight(ln, " ")
		if ln == "" && (len(out) == 0 || out[len(out)-1] == "") {
			continue
		}
		out = append(out, ln)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	if c.encode != nil {
		return c.encode(strings.Join(out, "\n"))
	}
	return strings.Join(out, "\n")
}

// writeRune writes what stands for r in the fonts' repertoire.
func (c *cleaner) writeRune(b *strings.Builder, r rune) {
	switch {
	case r == '\n' || r == '\r' || r == '\u0085' || r == '\u2028' || r == '\u2029':
		// A lone \r (old Mac) is a line break too; \r\n is gone by now.
		b.WriteByte('\n')
	case unicode.IsSpace(r): // tab, no-break and the typographic spaces
		b.WriteByte(' ')
	case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
		// Dropped: fpdf does no bidi and no shaping, so format characters
		// (bidi overrides, zero-width joiners, soft hyphens) only confuse.
	case c.has(r):
		b.WriteRune(r)
	case r == 'ẞ':
		b.WriteString("SS") // the capital sharp s has no decomposition
	default:
		c.writeFallback(b, r)
	}
}

// writeFallback writes r as the closest form the fonts have: its base
// letter with as many of its marks as compose to a covered letter (ễ is e +
// circumflex + tilde, and ê is in the fonts), or U+FFFD if the fonts lack
// the base. A combining mark the fonts lack is dropped: the letter it sat on
// has already been written.
func (c *cleaner) writeFallback(b *strings.Builder, r rune) {
	var buf [utf8.UTFMax]byte
	n := utf8.EncodeRune(buf[:], r)
	parts := []rune(norm.NFD.String(string(buf[:n])))
	if !c.has(parts[0]) {
		if !unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc) {
			b.WriteRune(unicode.ReplacementChar)
		}
		return
	}
	base := parts[0]
	for _, mark := range parts[1:] {
		composed := []rune(norm.NFC.String(string([]rune{base, mark})))
		if len(composed) == 1 && c.has(composed[0]) {
			base = composed[0]
		}
	}
	b.WriteRune(base)
}

// has reports whether both fonts have a glyph for r. Only runes of the Basic
// Multilingual Plane qualify: fpdf's width tables end at U+FFFF.
func (c *cleaner) has(r rune) bool {
	if r >= ' ' && r <= '~' {
		return true
	}
	if r > 0xFFFF {
		return false
	}
	if c.encode != nil || c.regular == nil { // the core fonts: Windows-1252
		return (r >= 0xA0 && r <= 0xFF) || strings.ContainsRune(cp1252Extra, r)
	}
	if ok, seen := c.covered[r]; seen {
		return ok
	}
	ok := c.glyph(c.regular, r) && c.glyph(c.bold, r)
	c.covered[r] = ok
	return ok
}

// glyph reports whether f maps r to a real glyph (index 0 is .notdef).
func (c *cleaner) glyph(f *sfnt.Font, r rune) bool {
	i, err := f.GlyphIndex(&c.buf, r)
	return err == nil && i != 0
}
