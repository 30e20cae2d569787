package forms

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

func mustForm(t testing.TB, id string) *Form {
	t.Helper()
	set, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	f, ok := set.Form(id)
	if !ok {
		t.Fatalf("no form %s", id)
	}
	return f
}

var testNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func newTestEngine() *Engine {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	return NewEngine(NewValidator(), berlin)
}

func decode(a *Answers, s *Step, v url.Values) { a.Decode(s, func(n string) []string { return v[n] }) }

func codes(issues []Issue) map[string]string {
	out := make(map[string]string)
	for _, is := range issues {
		out[is.Name] = is.Code
	}
	return out
}

func TestValidateStep(t *testing.T) {
	f := mustForm(t, "terminanfrage")
	e := newTestEngine()
	kontakt, _ := f.Step("kontakt")
	termin, _ := f.Step("termin")
	tests := []struct {
		name  string
		step  *Step
		post  url.Values
		want  map[string]string // input name → message id
		warns int
	}{
		{"empty", kontakt, url.Values{}, map[string]string{
			"given_name": "form.error.required", "family_name": "form.error.required", "email": "form.error.required"}, 0},
		{"valid, with DIN 91379 names", kontakt, url.Values{"given_name": {"Zoë"}, "family_name": {"Ó Briain-Łęcka"}, "email": {"a@b.de"}}, map[string]string{}, 0},
		{"decomposed umlaut is normalised", kontakt, url.Values{"given_name": {"Mu\u0308ller"}, "family_name": {"X"}, "email": {"a@b.de"}}, map[string]string{}, 0},
		{"digits, symbols, other scripts", kontakt, url.Values{"given_name": {"R2D2"}, "family_name": {"Иван"}, "email": {"a@b.de"}, "phone": {"+49 (341) 12-34/56"}},
			map[string]string{"given_name": "form.error.person_name", "family_name": "form.error.person_name"}, 0},
		{"bad email and phone", kontakt, url.Values{"given_name": {"A"}, "family_name": {"B"}, "email": {"a@"}, "phone": {"call me"}},
			map[string]string{"email": "form.error.email", "phone": "form.error.phone"}, 0},
		{"too long", kontakt, url.Values{"given_name": {strings.Repeat("a", 101)}, "family_name": {"B"}, "email": {"a@b.de"}},
			map[string]string{"given_name": "form.error.too_long"}, 0},
		{"unknown option, past date", termin, url.Values{"mode": {"fax"}, "days": {"mo", "sa"}, "time_of_day": {"egal"}, "earliest": {"24.11.2025"}},
			map[string]string{"mode": "form.error.option", "days": "form.error.option", "earliest": "form.error.date_past"}, 0},
		{"impossible date", termin, url.Values{"mode": {"video"}, "days": {"mo"}, "time_of_day": {"egal"}, "earliest": {"2027-02-30"}},
			map[string]string{"earliest": "form.error.date"}, 0},
		{"German date today is fine", termin, url.Values{"mode": {"video"}, "days": {"mo"}, "time_of_day": {"egal"}, "earliest": {"24.11.2026"}},
			map[string]string{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAnswers()
			decode(a, tt.step, tt.post)
			errs, warns := e.Validate(tt.step, a, testNow)
			got := codes(errs)
			if len(got) != len(tt.want) {
				t.Fatalf("errors %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s: %q, want %q", k, got[k], v)
				}
			}
			if len(warns) != tt.warns {
				t.Errorf("%d warnings, want %d", len(warns), tt.warns)
			}
		})
	}
}

func TestConditionsAndRecord(t *testing.T) {
	f := mustForm(t, "terminanfrage")
	e := newTestEngine()
	anliegen, _ := f.Step("anliegen")
	a := NewAnswers()
	decode(a, anliegen, url.Values{"topic": {"sonstiges"}, "topic_other": {"Hygiene"}})
	errs, warns := e.Validate(anliegen, a, testNow)
	if len(errs) != 0 || len(warns) != 1 || warns[0].Name != "message" {
		t.Fatalf("errors %v warnings %v", codes(errs), codes(warns))
	}
	if r := BuildRecord(f, a); r["topic_other"] != "Hygiene" {
		t.Errorf("visible answer missing from record: %v", r)
	}
	// The condition fails: the answer stays in the draft but is neither
	// validated nor recorded.
	decode(a, anliegen, url.Values{"topic": {"impfung"}, "topic_other": {strings.Repeat("x", 500)}})
	if errs, _ := e.Validate(anliegen, a, testNow); len(errs) != 0 {
		t.Errorf("hidden field validated: %v", codes(errs))
	}
	if _, ok := BuildRecord(f, a)["topic_other"]; ok {
		t.Error("hidden answer recorded")
	}
	// Round trip through the stored record.
	decode(a, anliegen, url.Values{"topic": {"sonstiges"}, "topic_other": {"Hygiene"}, "message": {"Zeile 1\r\nZeile 2\u0000"}})
	b := AnswersFromRecord(f, map[string]any(BuildRecord(f, a)))
	if b.Value("topic_other") != "Hygiene" || b.Value("message") != "Zeile 1\nZeile 2" {
		t.Errorf("record round trip: %v", b.Values)
	}
}

// FuzzDecodeValidate posts arbitrary values to every step of every shipped
// form: decoding and validation must never panic, and what they keep must
// be clean.
func FuzzDecodeValidate(f *testing.F) {
	set, err := Builtin()
	if err != nil {
		f.Fatal(err)
	}
	e := newTestEngine()
	f.Add("topic=sonstiges&topic_other=x&days=mo&days=zz&earliest=31.12.2026", uint8(0))
	f.Add("given_name=%C5%81ukasz&email=a%40b.de&phone=%2B49", uint8(2))
	f.Add("destinations.0.country=Peru&destinations.9.from=2027-01-01", uint8(1))
	f.Fuzz(func(t *testing.T, body string, which uint8) {
		v, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		forms := set.Forms()
		form := forms[int(which)%len(forms)]
		a := NewAnswers()
		for _, s := range form.Steps {
			decode(a, s, v)
			e.Validate(s, a, testNow)
		}
		for name, vs := range a.Values {
			for _, x := range vs {
				if x == "" || strings.ContainsAny(x, "\x00\r") {
					t.Fatalf("%s kept %q", name, x)
				}
			}
		}
		e.ValidateAll(form, a, testNow)
		BuildRecord(form, a)
	})
}

func BenchmarkValidate(b *testing.B) {
	f := mustForm(b, "terminanfrage")
	e := newTestEngine()
	a := NewAnswers()
	post := url.Values{
		"topic": {"sonstiges"}, "topic_other": {"Hygiene"}, "message": {"Bitte um Rückruf."},
		"mode": {"video"}, "days": {"mo", "mi"}, "time_of_day": {"egal"}, "earliest": {"2027-01-15"},
		"given_name": {"Łukasz"}, "family_name": {"Müller-Lüdenscheidt"}, "email": {"lukasz@example.org"}, "phone": {"0341 123456"},
	}
	for _, s := range f.Steps {
		decode(a, s, post)
	}
	b.ReportAllocs()
	for b.Loop() {
		if s, _ := e.ValidateAll(f, a, testNow); s != nil {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	f := mustForm(b, "terminanfrage")
	s, _ := f.Step("kontakt")
	post := url.Values{"given_name": {"Łukasz"}, "family_name": {"Müller-Lüdenscheidt"}, "email": {"lukasz@example.org"}, "phone": {"0341 123456"}}
	b.ReportAllocs()
	for b.Loop() {
		decode(NewAnswers(), s, post)
	}
}

func TestPostedGroupCountIsBounded(t *testing.T) {
	f := mustForm(t, "reiseimpfberatung")
	g, _ := f.Field("destinations")
	st := g.Step()
	for posted, want := range map[string]int{"3": 3, "0": 1, "-5": 1, "99": g.Repeat.Max, "x": 1} {
		a := NewAnswers()
		decode(a, st, url.Values{"destinations._n": {posted}, "destinations.2.country": {"Peru"}})
		if got := a.Count(g); got != want {
			t.Errorf("posted %q: %d entries, want %d", posted, got, want)
		}
		if _, kept := a.Values["destinations.2.country"]; kept != (want >= 3) {
			t.Errorf("posted %q: third entry kept %v", posted, kept)
		}
	}
}

// A chain of conditions that each name the two fields before them would
// take 2^n steps without remembering answers; it must take microseconds.
func TestDeepConditionChainIsFast(t *testing.T) {
	var b strings.Builder
	b.WriteString("id: chain\nversion: 1\ntitle: {de: K, en: C}\nsteps:\n  - id: one\n    title: {de: E, en: O}\n    fields:\n")
	b.WriteString("      - {id: f0, type: checkbox, label: {de: x, en: x}}\n      - {id: f1, type: checkbox, label: {de: x, en: x}}\n")
	for i := 2; i < 60; i++ {
		fmt.Fprintf(&b, "      - {id: f%d, type: checkbox, label: {de: x, en: x}, visible_if: {any: [{field: f%d, equals: ja}, {field: f%d, equals: ja}]}}\n", i, i-1, i-2)
	}
	f, ps := Parse("chain.yaml", []byte(b.String()))
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	a := NewAnswers()
	last, _ := f.Field("f59")
	start := time.Now()
	if a.Visible(last, 0) {
		t.Error("visible without any answer")
	}
	a.Values["f0"] = []string{CheckboxOn}
	a.Values["f2"] = []string{CheckboxOn}
	a.VisibleSet(f.Steps[0])
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("took %v", d)
	}
}
