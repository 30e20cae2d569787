package i18n_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/locales"
)

func mustBundle(t *testing.T) *i18n.Bundle {
	t.Helper()
	b, err := i18n.New(locales.FS)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEveryLanguageHasEveryMessage fails when a message id exists in one
// language and not in another.
func TestEveryLanguageHasEveryMessage(t *testing.T) {
	b := mustBundle(t)
	langs := b.Languages()
	if len(langs) < 2 || langs[0].Code != "de" {
		t.Fatalf("languages %v: want de first and at least en beside it", langs)
	}
	ids := make(map[string]map[string]bool)
	for _, l := range langs {
		ids[l.Code] = make(map[string]bool)
		for _, id := range b.MessageIDs(l.Code) {
			ids[l.Code][id] = true
		}
	}
	for _, a := range langs {
		for _, z := range langs {
			for id := range ids[a.Code] {
				if !ids[z.Code][id] {
					t.Errorf("%q is in active.%s.toml but missing in active.%s.toml", id, a.Code, z.Code)
				}
			}
		}
	}
	if len(ids["de"]) < 100 {
		t.Errorf("only %d messages in de: locales not loaded?", len(ids["de"]))
	}
}

func TestMessagesAreNotEmptyAndNotUntranslated(t *testing.T) {
	b := mustBundle(t)
	de, en := b.Localizer("de"), b.Localizer("en")
	same := 0
	for _, id := range b.MessageIDs("de") {
		d, e := de.T(id), en.T(id)
		if strings.TrimSpace(d) == "" || strings.TrimSpace(e) == "" {
			t.Errorf("%s is empty", id)
		}
		if d == e {
			same++
		}
	}
	// A few texts are the same in both languages (names, "Leichte
	// Sprache" terms); many would mean English was copied from German.
	if same > 5 {
		t.Errorf("%d messages are identical in de and en", same)
	}
}

func TestPlaceholders(t *testing.T) {
	b := mustBundle(t)
	got := b.Localizer("en").Tf("postcode.none.title", "Code", "99999")
	if !strings.Contains(got, "99999") || strings.Contains(got, "{{") {
		t.Errorf("Tf = %q", got)
	}
	if got := b.Localizer("de").T("no.such.message"); got != "no.such.message" {
		t.Errorf("a missing id renders as itself, got %q", got)
	}
}

func TestNegotiate(t *testing.T) {
	b := mustBundle(t)
	tests := []struct {
		name, query, cookie, accept, want string
	}{
		{"nothing: German", "", "", "", "de"},
		{"query wins", "en", "de", "de-DE", "en"},
		{"unknown query falls back to German", "xx", "en", "en-GB", "de"},
		{"malicious query", "<script>", "", "", "de"},
		{"cookie", "", "en", "de", "en"},
		{"unknown cookie ignored", "", "fr", "en-US,en;q=0.9", "en"},
		{"accept-language", "", "", "en-GB,en;q=0.8", "en"},
		{"accept-language order", "", "", "fr-FR,en;q=0.8,de;q=0.5", "en"},
		{"accept-language german", "", "", "de-AT", "de"},
		{"accept-language unsupported", "", "", "ja-JP", "de"},
		{"accept-language garbage", "", "", ";;;,,q=x", "de"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for round := 0; round < 2; round++ { // the second from the Accept-Language cache
				if got := b.Negotiate(tt.query, tt.cookie, tt.accept); got.Code != tt.want {
					t.Errorf("round %d: Negotiate(%q, %q, %q) = %s, want %s", round, tt.query, tt.cookie, tt.accept, got.Code, tt.want)
				}
			}
		})
	}
}

func TestDirection(t *testing.T) {
	fsys := fstest.MapFS{
		"active.de.toml": {Data: []byte("hello = \"Hallo\"\n")},
		"active.ar.toml": {Data: []byte("hello = \"مرحبا\"\n")},
	}
	b, err := i18n.New(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := b.Supported("ar"); l.Dir != "rtl" {
		t.Errorf("ar dir = %q", l.Dir)
	}
	if l, _ := b.Supported("de"); l.Dir != "ltr" {
		t.Errorf("de dir = %q", l.Dir)
	}
}

func TestSourceLanguageIsRequired(t *testing.T) {
	_, err := i18n.New(fstest.MapFS{"active.en.toml": {Data: []byte("hello = \"Hello\"\n")}})
	if err == nil {
		t.Error("a bundle without German must not load")
	}
}

func BenchmarkT(b *testing.B) {
	bundle, err := i18n.New(locales.FS)
	if err != nil {
		b.Fatal(err)
	}
	loc := bundle.Localizer("en")
	b.ReportAllocs()
	for b.Loop() {
		_ = loc.T("start.heading")
	}
}
