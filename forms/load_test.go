package forms

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// TestBuiltin loads every shipped definition: a broken definition fails
// here, not at a citizen's request.
func TestBuiltin(t *testing.T) {
	set, err := Builtin()
	if err != nil {
		t.Fatalf("shipped definitions:\n%v", err)
	}
	if len(set.Forms()) == 0 {
		t.Fatal("no definitions")
	}
	for _, f := range set.Forms() {
		if len(f.Hash) != 64 || f.Version < 1 || len(f.Steps) == 0 {
			t.Errorf("%s: hash %q version %d steps %d", f.ID, f.Hash, f.Version, len(f.Steps))
		}
	}
}

const validDef = `id: probe
version: 1
title: {de: Probe, en: Probe}
retention: {years: 2}
steps:
  - id: one
    title: {de: Eins, en: One}
    fields:
      - id: kind
        type: radio
        label: {de: Art, en: Kind}
        options:
          - {value: a, label: {de: A, en: A}}
          - {value: b, label: {de: B, en: B}}
      - id: detail
        type: text
        label: {de: Detail, en: Detail}
        visible_if: {field: kind, equals: b}
`

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name    string
		change  func(string) string
		line    int
		message string
	}{
		{"valid", func(s string) string { return s }, 0, ""},
		{"unknown key", func(s string) string {
			return strings.Replace(s, "        type: text\n", "        type: text\n        colour: red\n", 1)
		}, 17, "field colour not found"},
		{"duplicate field id", func(s string) string { return strings.Replace(s, "id: detail", "id: kind", 1) }, 15, `field id "kind" is used twice`},
		{"condition on nothing", func(s string) string { return strings.Replace(s, "field: kind", "field: nothing", 1) }, 18, `unknown field "nothing"`},
		{"condition value not an option", func(s string) string { return strings.Replace(s, "equals: b", "equals: c", 1) }, 18, `"c" is not an option`},
		{"repeated option", func(s string) string { return strings.Replace(s, "{value: b,", "{value: a,", 1) }, 14, `option value "a" repeats`},
		{"missing translation", func(s string) string { return strings.Replace(s, "{de: Detail, en: Detail}", "{de: Detail}", 1) }, 17, `missing translation "en"`},
		{"bad regex", func(s string) string {
			return strings.Replace(s, "        type: text\n", "        type: text\n        rules: {pattern: \"[a-\", pattern_message: {de: x, en: x}}\n", 1)
		}, 17, "pattern does not compile"},
		{"unknown type", func(s string) string { return strings.Replace(s, "type: text", "type: colour", 1) }, 16, `unknown type "colour"`},
		{"condition looks forward", func(s string) string {
			return strings.Replace(s, "        options:\n", "        visible_if: {field: detail, equals: x}\n        options:\n", 1)
		}, 12, "defined later"},
		{"yaml syntax", func(s string) string { return s + "  - : [\n" }, 18, "did not find expected key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ps := Parse("probe.yaml", []byte(tt.change(validDef)))
			if tt.line == 0 {
				if len(ps) > 0 || f == nil {
					t.Fatalf("problems: %v", ps)
				}
				return
			}
			if len(ps) == 0 {
				t.Fatal("no problem found")
			}
			if ps[0].Line != tt.line || !strings.Contains(ps[0].Message, tt.message) {
				t.Errorf("got %v, want line %d with %q", ps, tt.line, tt.message)
			}
			if !strings.HasPrefix(ps[0].String(), "probe.yaml:") {
				t.Errorf("problem %q does not start with file:line", ps[0])
			}
		})
	}
}

// TestLoadRequiresRetention: a definition without a retention period does
// not load (nor pass portal forms check), so no form's cases are kept
// forever by omission; the periods load as months.
func TestLoadRequiresRetention(t *testing.T) {
	fsys := fstest.MapFS{"d/a.yaml": {Data: []byte(strings.Replace(validDef, "retention: {years: 2}\n", "", 1))}}
	_, err := Load(fsys, "d")
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 || ps[0].File != "d/a.yaml" || !strings.Contains(ps[0].Message, "missing retention") {
		t.Fatalf("got %v", err)
	}
	set, err := Load(fstest.MapFS{"d/a.yaml": {Data: []byte(strings.Replace(validDef, "{years: 2}", "{years: 1, months: 6}", 1))}}, "d")
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := set.Form("probe"); f.Retention.TotalMonths() != 18 {
		t.Errorf("retention %+v, want 18 months", f.Retention)
	}
	builtin, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range builtin.Forms() {
		if m := f.Retention.TotalMonths(); m < MinRetentionMonths || m > MaxRetentionMonths {
			t.Errorf("%s: retention %d months", f.ID, m)
		}
	}
}

func TestLoadDuplicateFormID(t *testing.T) {
	fsys := fstest.MapFS{
		"d/a.yaml": {Data: []byte(validDef)},
		"d/b.yaml": {Data: []byte(validDef)},
	}
	_, err := Load(fsys, "d")
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 || ps[0].File != "d/b.yaml" || !strings.Contains(ps[0].Message, "also used by d/a.yaml") {
		t.Fatalf("got %v", err)
	}
}

// FuzzParse feeds arbitrary definitions to the loader: it must report
// problems, never panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(validDef))
	entries, _ := os.ReadDir("definitions")
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join("definitions", e.Name())); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		form, ps := Parse("fuzz.yaml", src)
		if len(ps) == 0 && form == nil {
			t.Fatal("no form and no problem")
		}
		if len(ps) == 0 {
			a := NewAnswers()
			for _, s := range form.Steps {
				a.VisibleSet(s)
			}
		}
	})
}
