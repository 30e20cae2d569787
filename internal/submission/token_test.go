package submission

import (
	"regexp"
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		tok := NewToken()
		if len(tok) != TokenLen || seen[tok] {
			t.Fatalf("token %q (len %d, seen %v)", tok, len(tok), seen[tok])
		}
		seen[tok] = true
		got, ok := ParseToken(strings.ToLower(FormatCode(tok)))
		if !ok || got != tok {
			t.Fatalf("ParseToken(FormatCode(%q)) = %q, %v", tok, got, ok)
		}
	}
	tok := NewToken()
	typed := strings.NewReplacer("0", "O", "1", "l").Replace(strings.ToLower(tok))
	if got, ok := ParseToken(" " + typed[:13] + " - " + typed[13:] + " "); !ok || got != tok {
		t.Errorf("typed with O, l and spaces: %q, %v", got, ok)
	}
	for _, bad := range []string{"", "short", strings.Repeat("Z", TokenLen), tok + "0", "ÄÖÜ" + tok[3:], tok[:25] + "U"} {
		if _, ok := ParseToken(bad); ok {
			t.Errorf("ParseToken(%q) accepted", bad)
		}
	}
	if FormatCode("ABCDEFGHJKMNPQRSTVWXYZ0123") != "ABCDE-FGHJK-MNPQR-STVWX-YZ0123" {
		t.Errorf("FormatCode: %s", FormatCode("ABCDEFGHJKMNPQRSTVWXYZ0123"))
	}
}

func TestReferenceAndAccessToken(t *testing.T) {
	pattern := regexp.MustCompile(`^LEJ-2026-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`)
	for range 1000 {
		if r := NewReference("LEJ", 2026); !pattern.MatchString(r) {
			t.Fatalf("reference %q", r)
		}
	}
	d := NewToken()
	a, b := accessToken([]byte("k1"), d), accessToken([]byte("k1"), d)
	if a != b || a == accessToken([]byte("k2"), d) || a == accessToken([]byte("k1"), NewToken()) {
		t.Error("access tokens must depend on key and draft, and on nothing else")
	}
	if _, ok := ParseToken(a); !ok {
		t.Errorf("access token %q does not parse", a)
	}
}
