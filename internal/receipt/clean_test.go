package receipt

import (
	"strings"
	"testing"
)

func newTestCleaner(t *testing.T) *cleaner {
	t.Helper()
	c, err := newCleaner()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCleanerText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"German", "Größe ÄÖÜ äöü ß", "Größe ÄÖÜ äöü ß"},
		{"DIN 91379 in the fonts", "Łukasz Ąćęłńóśźż-Müller Őry Šimkė Ŋ", "Łukasz Ąćęłńóśźż-Müller Őry Šimkė Ŋ"},
		{"combining marks composed", "Mu\u0308ller e\u0307", "Müller ė"},
		{"mark without composition dropped", "q\u0307", "q"},
		{"letter outside the fonts to base", "Nguyễn Ḍ ǘ", "Nguyên D ǘ"},
		{"capital sharp s", "STRAẞE", "STRASSE"},
		{"no base letter", "😀 中 ʒ", "\ufffd \ufffd \ufffd"},
		{"invalid UTF-8", "a\xffb", "a\ufffdb"},
		{"controls dropped", "a\x00b\x07c\x1bd\x7fe\u0085f", "abcde\nf"},
		{"format characters dropped", "a\u200bb\u202ec\u00add\ufeff", "abcd"},
		{"spaces", "a\tb\u00a0c\u2009d", "a b c d"},
		{"line breaks", "a\r\nb\rc\u2028d", "a\nb\nc\nd"},
		{"empty lines collapsed", "\n\na  \n\n\n\nb\n\n", "a\n\nb"},
		{"empty", "", ""},
		{"only space", " \t\n ", ""},
	}
	c := newTestCleaner(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.text(tt.in); got != tt.want {
				t.Errorf("text(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCleanerLine(t *testing.T) {
	c := newTestCleaner(t)
	if got, want := c.line(" a\n\nb\tc "), "a b c"; got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
}

// TestCleanerOutputIsCovered checks the promise fpdf relies on: whatever
// comes out is a newline or a rune both fonts have, in the BMP.
func TestCleanerOutputIsCovered(t *testing.T) {
	c := newTestCleaner(t)
	var all strings.Builder
	for r := rune(0); r < 0x11000; r++ {
		all.WriteRune(r)
	}
	for _, r := range c.text(all.String()) {
		if r != '\n' && !c.has(r) {
			t.Errorf("output has %U, which the fonts lack", r)
		}
		if r > 0xFFFF {
			t.Errorf("output has %U beyond the BMP", r)
		}
	}
}
