package i18n

import (
	"strings"
	"testing"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"

	"github.com/gesundheitsamt/portal/locales"
)

// TestFillsAsGoI18n fills every message with placeholders of every
// language both ways, by concatenation and through go-i18n's templates,
// with strings (markup and braces among them) and with integers: the
// texts must be the same.
func TestFillsAsGoI18n(t *testing.T) {
	b, err := New(locales.FS)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, lang := range b.Languages() {
		l := b.Localizer(lang.Code)
		for id, f := range l.fills {
			for k, value := range []func(string) any{
				func(name string) any { return "<b>" + name + "</b> {{.X}} & " },
				func(name string) any { return len(name) * 1001 },
			} {
				data := map[string]any{}
				var pairs []any
				for _, name := range f.names {
					data[name] = value(name)
					pairs = append(pairs, name, value(name))
				}
				want, err := l.gl.Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: data})
				if err != nil {
					t.Fatalf("%s %s: %v", lang.Code, id, err)
				}
				if got := l.Tf(id, pairs...); got != want {
					t.Errorf("%s %s (values %d): Tf = %q, go-i18n %q", lang.Code, id, k, got, want)
				}
				if got := l.TData(id, data); got != want {
					t.Errorf("%s %s (values %d): TData = %q, go-i18n %q", lang.Code, id, k, got, want)
				}
				n++
			}
		}
	}
	if n < 100 {
		t.Errorf("only %d messages filled by concatenation: the fast path is not taken", n/2)
	}
}

func TestNewFill(t *testing.T) {
	for _, tc := range []struct {
		text string
		ok   bool
	}{
		{"Termin am {{.Day}} um {{ .Time }} Uhr", true},
		{"{{.A}}{{.B}}", true},
		{"Rest }} ohne Anfang {{.A}}", true},
		{"{{.Count}} Plätze {{if .Many}}frei{{end}}", false},
		{"{{- .A}}", false},
		{"{{.A.B}}", false},
		{"{{.A | printf \"%d\"}}", false},
		{"{{.A", false},
		{"{{.1A}}", false},
	} {
		f, ok := newFill(&goi18n.Message{Other: tc.text})
		if ok != tc.ok {
			t.Errorf("newFill(%q) = %v, want %v", tc.text, ok, tc.ok)
		}
		if ok && strings.Join(f.text, "") == tc.text {
			t.Errorf("newFill(%q) left the placeholders in the text", tc.text)
		}
	}
	if _, ok := newFill(&goi18n.Message{One: "ein Platz", Other: "{{.N}} Plätze"}); ok {
		t.Error("a message with plural forms is filled by concatenation")
	}
}

// TestFillFallsBack: a value a template prints in its own way, or a name
// not given, goes through go-i18n.
func TestFillFallsBack(t *testing.T) {
	b, err := New(locales.FS)
	if err != nil {
		t.Fatal(err)
	}
	l := b.Localizer("en")
	if _, ok := l.fills["postcode.none.title"]; !ok {
		t.Fatal("postcode.none.title is not filled by concatenation")
	}
	got := l.Tf("postcode.none.title", "Code", 4.5)
	want, _ := l.gl.Localize(&goi18n.LocalizeConfig{MessageID: "postcode.none.title", TemplateData: map[string]any{"Code": 4.5}})
	if got != want || !strings.Contains(got, "4.5") {
		t.Errorf("a float: %q, go-i18n %q", got, want)
	}
	if got := l.Tf("postcode.none.title"); !strings.Contains(got, "<no value>") {
		t.Errorf("no value given: %q, want go-i18n's <no value>", got)
	}
}
