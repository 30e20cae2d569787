package receipt

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/gesundheitsamt/portal/internal/fault"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/receipt")

// goldenDir holds the expected text of the sample receipts, relative to this
// package.
const goldenDir = "../../testdata/receipt"

const (
	sampleRef  = "LEJ-2026-7K3M-Q9TX"
	sampleHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	dinName    = "Łukasz Ąćęłńóśźż-Müller"
)

// newData returns a realistic one-page receipt in lang ("de" or "en").
func newData(t testing.TB, lang string) Data {
	t.Helper()
	submitted := time.Date(2026, 3, 14, 8, 5, 0, 0, time.UTC) // 09:05 in Berlin
	office := Office{
		Name:       "Gesundheitsamt Leipzig",
		Street:     "Friedrich-Ebert-Straße 19a",
		PostalCode: "04109",
		City:       "Leipzig",
		Phone:      "0341 123-4567",
		Email:      "gesundheitsamt@leipzig.example",
	}
	if lang == "en" {
		return Data{
			Lang:        "en",
			Title:       "Confirmation of receipt",
			Reference:   sampleRef,
			Service:     "Notification of an infectious disease (§ 6 IfSG)",
			Office:      office,
			SubmittedAt: submitted,
			Labels: Labels{
				Reference: "Reference", Service: "Service", Office: "Office",
				SubmittedAt: "Received", Answers: "Your details", Hash: "Checksum (SHA-256)",
				HashHint: "This checksum identifies your submission exactly. The office can use it to confirm that the record it holds is the one you sent.",
				Status:   "Status of your request", Page: "Page %d of %d",
			},
			Sections: []Section{
				{Title: "Person concerned", Items: []Item{
					{Label: "Name", Value: dinName},
					{Label: "Date of birth", Value: "03/07/1984"},
					{Label: "Address", Value: "Öserstraße 7\n04229 Leipzig"},
				}},
				{Title: "Illness", Items: []Item{
					{Label: "Symptoms", Value: "Fever (39.2 °C), cough\nsince Monday"},
					{Label: "Remarks", Value: ""},
				}},
			},
			RecordSHA256: sampleHash,
			StatusURL:    "https://portal.example/status/" + sampleRef,
			NextSteps:    "We will examine your notification and contact you if anything is missing. Please keep this receipt.",
		}
	}
	return Data{
		Lang:        "de",
		Title:       "Eingangsbestätigung",
		Reference:   sampleRef,
		Service:     "Meldung einer Infektionskrankheit (§ 6 IfSG)",
		Office:      office,
		SubmittedAt: submitted,
		Labels: Labels{
			Reference: "Vorgangsnummer", Service: "Leistung", Office: "Behörde",
			SubmittedAt: "Eingegangen am", Answers: "Ihre Angaben", Hash: "Prüfsumme (SHA-256)",
			HashHint: "Die Prüfsumme kennzeichnet Ihre Einreichung eindeutig. Das Amt kann damit bestätigen, dass der gespeicherte Datensatz der von Ihnen gesendete ist.",
			Status:   "Stand Ihres Anliegens", Page: "Seite %d von %d",
		},
		Sections: []Section{
			{Title: "Betroffene Person", Items: []Item{
				{Label: "Name", Value: dinName},
				{Label: "Geburtsdatum", Value: "07.03.1984"},
				{Label: "Anschrift", Value: "Öserstraße 7\n04229 Leipzig"},
			}},
			{Title: "Erkrankung", Items: []Item{
				{Label: "Beschwerden", Value: "Fieber (39,2 °C), Husten\nseit Montag"},
				{Label: "Bemerkungen", Value: ""},
			}},
		},
		RecordSHA256: sampleHash,
		StatusURL:    "https://portal.example/status/" + sampleRef,
		NextSteps:    "Wir prüfen Ihre Meldung und melden uns, falls etwas fehlt. Bitte bewahren Sie diese Bestätigung auf.",
	}
}

// newLongData returns d with a third section holding a 10,000-character
// textarea, which takes the receipt over more than one page.
func newLongData(t testing.TB, lang string) (Data, string) {
	t.Helper()
	d := newData(t, lang)
	var b strings.Builder
	for i := 0; b.Len() < 10000; i++ {
		fmt.Fprintf(&b, "Wort%d Größe ", i)
		if i%40 == 39 {
			b.WriteString("\n")
		}
	}
	long := b.String()[:10000]
	d.Sections = append(d.Sections, Section{Title: "Verlauf", Items: []Item{{Label: "Beschreibung", Value: long}}})
	return d, long
}

// mustRender renders d uncompressed, so that tests can read the text back.
func mustRender(t testing.TB, d Data) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := render(&b, d, options{compress: false}); err != nil {
		t.Fatalf("render: %v", err)
	}
	return b.Bytes()
}

var pageObject = regexp.MustCompile(`/Type /Page\b[^s]`)

// checkStructure checks what every receipt must satisfy and returns the
// text of its pages: PDF header and trailer, /Type /Page objects matching
// the /Pages count, every page footer saying "page i of n" for the right i
// and n, and every piece of text within the page.
func checkStructure(t testing.TB, pdf []byte, pageFormat string) []string {
	t.Helper()
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("output starts with %q, want %%PDF-", pdf[:min(len(pdf), 8)])
	}
	if !bytes.HasSuffix(bytes.TrimRight(pdf, "\r\n"), []byte("%%EOF")) {
		t.Fatalf("output does not end with %%%%EOF")
	}
	doc := parsePDF(t, pdf)
	pages := doc.pages(t)
	if n := len(pageObject.FindAll(pdf, -1)); n != len(pages) {
		t.Errorf("%d /Type /Page objects, /Pages lists %d", n, len(pages))
	}
	texts := doc.pageTexts(t)
	for i, p := range pages {
		want := fmt.Sprintf(pageFormat, i+1, len(pages))
		if !strings.Contains(texts[i], want) {
			t.Errorf("page %d lacks footer %q", i+1, want)
		}
		for _, r := range textRuns(t, doc.contents(t, p)) {
			// A4 is 595 × 842 pt; body text stays above the footer rule.
			if r.x < 0 || r.x > 595 || r.y < 0 || r.y > 842 {
				t.Errorf("page %d: text %q at (%.0f, %.0f) is off the page", i+1, r.s, r.x, r.y)
			}
		}
	}
	if strings.Contains(strings.Join(texts, "\n"), pageCountAlias) {
		t.Error("page count alias left in the text")
	}
	return texts
}

func TestRender(t *testing.T) {
	long := func(lang string) func(t *testing.T) Data {
		return func(t *testing.T) Data { d, _ := newLongData(t, lang); return d }
	}
	short := func(lang string) func(t *testing.T) Data {
		return func(t *testing.T) Data { return newData(t, lang) }
	}
	tests := []struct {
		name    string
		data    func(t *testing.T) Data
		pages   int
		footer  string
		contain []string
	}{
		{
			name: "de", data: short("de"), pages: 1, footer: "Seite %d von %d",
			contain: []string{"Eingangsbestätigung", sampleRef, dinName, sampleHash, "14.03.2026 09:05 Uhr",
				"Gesundheitsamt Leipzig", "Friedrich-Ebert-Straße 19a", "Fieber (39,2 °C), Husten", "seit Montag", "–"},
		},
		{
			name: "en", data: short("en"), pages: 1, footer: "Page %d of %d",
			contain: []string{"Confirmation of receipt", sampleRef, dinName, sampleHash, "14 March 2026, 09:05"},
		},
		{name: "de multi-page", data: long("de"), pages: 4, footer: "Seite %d von %d", contain: []string{sampleRef, dinName, sampleHash}},
		{name: "en multi-page", data: long("en"), pages: 4, footer: "Page %d of %d", contain: []string{sampleRef, dinName, sampleHash}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdf := mustRender(t, tt.data(t))
			texts := checkStructure(t, pdf, tt.footer)
			if len(texts) != tt.pages {
				t.Errorf("%d pages, want %d", len(texts), tt.pages)
			}
			all := strings.Join(texts, "\n")
			for _, s := range tt.contain {
				if !strings.Contains(all, s) {
					t.Errorf("text lacks %q", s)
				}
			}
		})
	}
}

// TestRenderLongValueKeepsEveryWord checks that a textarea spread over pages
// loses no word and cuts none: its words appear in order, whole.
func TestRenderLongValueKeepsEveryWord(t *testing.T) {
	d, long := newLongData(t, "de")
	texts := checkStructure(t, mustRender(t, d), "Seite %d von %d")
	got := strings.Fields(strings.Join(texts, "\n"))
	want := strings.Fields(long)
	i := 0
	for _, w := range got {
		if i < len(want) && w == want[i] {
			i++
		}
	}
	if i != len(want) {
		t.Fatalf("only %d of %d words found in order; first missing %q", i, len(want), want[i])
	}
}

// TestRenderGolden compares the text of the sample receipts, page by page
// and line by line, with testdata/receipt. It catches changes of wording,
// order and line breaks without pinning bytes. Run with -update after an
// intended change and review the diff.
func TestRenderGolden(t *testing.T) {
	for _, lang := range []string{"de", "en"} {
		t.Run(lang, func(t *testing.T) {
			d, _ := newLongData(t, lang)
			d.Sections[2].Items[0].Value = d.Sections[2].Items[0].Value[:1500]
			texts := parsePDF(t, mustRender(t, d)).pageTexts(t)
			var got strings.Builder
			for i, s := range texts {
				fmt.Fprintf(&got, "=== page %d\n%s\n", i+1, s)
			}
			path := filepath.Join(goldenDir, lang+".golden")
			if *update {
				if err := os.MkdirAll(goldenDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got.String() != string(want) {
				t.Errorf("text differs from %s (run with -update and review the diff):\n%s", path, got.String())
			}
		})
	}
}

func TestRenderMetadata(t *testing.T) {
	tests := []struct {
		lang, wantLang, wantTitle string
	}{
		{"de", "de", "Eingangsbestätigung – " + sampleRef},
		{"en", "en", "Confirmation of receipt – " + sampleRef},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			doc := parsePDF(t, mustRender(t, newData(t, tt.lang)))
			if got := doc.infoString(t, "/Title"); got != tt.wantTitle {
				t.Errorf("/Title = %q, want %q", got, tt.wantTitle)
			}
			if got := doc.infoString(t, "/Creator"); got != creator {
				t.Errorf("/Creator = %q, want %q", got, creator)
			}
			if got := doc.infoString(t, "/CreationDate"); !strings.HasPrefix(got, "D:20260314") {
				t.Errorf("/CreationDate = %q, want the submission day", got)
			}
			if got := doc.infoString(t, "/Author"); got != "" {
				t.Errorf("/Author = %q, want none: no personal data in metadata", got)
			}
			var catalog string
			for _, o := range doc.objs {
				if strings.Contains(o.dict, "/Type /Catalog") {
					catalog = o.dict
				}
			}
			if want := "/Lang (" + tt.wantLang + ")"; !strings.Contains(catalog, want) {
				t.Errorf("catalog %q lacks %s", catalog, want)
			}
		})
	}
}

// TestRenderStatusLink checks that only a web address becomes a link; any
// other status text is shown but cannot be clicked.
func TestRenderStatusLink(t *testing.T) {
	tests := []struct {
		url, wantURI string
	}{
		{"https://portal.example/status/" + sampleRef, "/URI (https://portal.example/status/" + sampleRef + ")"},
		{"https://portal.example/s?a=(b)", "/URI (https://portal.example/s?a=\\(b\\))"},
		{"javascript:alert(1)", ""},
		{"file:///etc/passwd", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			d := newData(t, "de")
			d.StatusURL = tt.url
			pdf := mustRender(t, d)
			texts := checkStructure(t, pdf, "Seite %d von %d")
			if tt.url != "" && !strings.Contains(texts[0], tt.url) {
				t.Errorf("page 1 does not show %q", tt.url)
			}
			if got := bytes.Count(pdf, []byte("/URI")); tt.wantURI == "" && got != 0 {
				t.Errorf("%d links, want none", got)
			}
			if tt.wantURI != "" && !bytes.Contains(pdf, []byte(tt.wantURI)) {
				t.Errorf("no link %s", tt.wantURI)
			}
		})
	}
}

// TestRenderDeterministic guards the test strategy and caching by the
// caller: the same data must give the same bytes.
func TestRenderDeterministic(t *testing.T) {
	d, _ := newLongData(t, "de")
	var a, b bytes.Buffer
	if err := Render(&a, d); err != nil {
		t.Fatal(err)
	}
	if err := Render(&b, d); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two renders of the same data differ")
	}
	if bytes.Contains(a.Bytes(), []byte("Wort1 ")) {
		t.Error("Render's page content is not compressed")
	}
}

// TestRenderUntrusted renders what citizens may type and checks that the
// receipt stays whole and shows the text as cleaned.
func TestRenderUntrusted(t *testing.T) {
	tests := []struct {
		name         string
		label, value string
		contain      []string // in the page text
		lack         []string
	}{
		{name: "alias typed", label: "{nb}", value: "Seite {nb} \x01nb\x01", contain: []string{"{nb}", "Seite {nb} nb"}},
		{name: "pdf syntax", label: "a(b)c\\d", value: ") Tj ET BT (x\\) \\\\ (", contain: []string{"a(b)c\\d", ") Tj ET BT (x\\) \\\\ ("}},
		{name: "control characters", label: "ok\x00\x07\x1b[31m", value: "a\x00b\tc\r\nd\x7f\u202eevil", contain: []string{"ok[31m", "ab c\nd"}, lack: []string{"\x00", "\x1b", "\u202e"}},
		{name: "combining marks composed", label: "Name", value: "Mu\u0308ller Ło\u0301dz", contain: []string{"Müller Łódz"}},
		{name: "glyphs the font lacks", label: "Name", value: "Nguyễn ẞTRASSE 😀 中", contain: []string{"Nguyên SSTRASSE \ufffd \ufffd"}},
		{name: "invalid UTF-8", label: "x\xff", value: "\xc3\x28", contain: []string{"x\ufffd", "\ufffd("}},
		{name: "empty", label: "", value: "", contain: []string{"–"}},
		{name: "whitespace only", label: " \t", value: "\n\n \n", contain: []string{"–"}},
		{name: "one long word", label: "URL", value: strings.Repeat("x", 10000)},
		{name: "many empty lines", label: "Leer", value: "a" + strings.Repeat("\n", 5000) + "b", contain: []string{"Leer\na\nb"}},
		{name: "long label", label: strings.Repeat("Bezeichnung ", 300), value: "v"},
		{name: "format verbs", label: "%d %s %!", value: "%v%%", contain: []string{"%d %s %!", "%v%%"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newData(t, "de")
			d.Sections[1].Items = append(d.Sections[1].Items, Item{Label: tt.label, Value: tt.value})
			texts := checkStructure(t, mustRender(t, d), "Seite %d von %d")
			all := strings.Join(texts, "\n")
			for _, s := range tt.contain {
				if !strings.Contains(all, s) {
					t.Errorf("text lacks %q", s)
				}
			}
			for _, s := range tt.lack {
				if strings.Contains(all, s) {
					t.Errorf("text contains %q", s)
				}
			}
		})
	}
}

// TestRenderManyItems renders a thousand short answers: many page breaks,
// each heading kept with its first item.
func TestRenderManyItems(t *testing.T) {
	d := newData(t, "de")
	for s := range 20 {
		sec := Section{Title: fmt.Sprintf("Abschnitt %d", s)}
		for i := range 50 {
			sec.Items = append(sec.Items, Item{Label: fmt.Sprintf("Frage %d.%d", s, i), Value: "Antwort"})
		}
		d.Sections = append(d.Sections, sec)
	}
	texts := checkStructure(t, mustRender(t, d), "Seite %d von %d")
	if len(texts) < 10 {
		t.Fatalf("%d pages, want many", len(texts))
	}
	for i, page := range texts {
		lines := strings.Split(page, "\n")
		// The last two lines are the footer; the one before is the body's end.
		if last := lines[len(lines)-3]; strings.HasPrefix(last, "Abschnitt ") || strings.HasPrefix(last, "Frage ") {
			t.Errorf("page %d ends with heading or label %q", i+1, last)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name string
		data func(t *testing.T) Data
		w    io.Writer
	}{
		{name: "zero time", data: func(t *testing.T) Data { d := newData(t, "de"); d.SubmittedAt = time.Time{}; return d }, w: io.Discard},
		{name: "failing writer", data: func(t *testing.T) Data { return newData(t, "de") }, w: failingWriter{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Render(tt.w, tt.data(t))
			if err == nil {
				t.Fatal("no error")
			}
			if k := fault.KindOf(err); k != fault.Internal {
				t.Errorf("kind %v, want internal", k)
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestRenderConcurrent runs renders in parallel so that -race sees any
// state shared between calls.
func TestRenderConcurrent(t *testing.T) {
	for i := range 4 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			if err := Render(io.Discard, newData(t, []string{"de", "en"}[i%2])); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPageLabel(t *testing.T) {
	tests := []struct {
		format string
		page   int
		want   string
	}{
		{"Seite %d von %d", 2, "Seite 2 von " + pageCountAlias},
		{"Page %d of %d", 1, "Page 1 of " + pageCountAlias},
		{"%d/%d (100%%)", 3, "3/" + pageCountAlias + " (100%)"},
		{"Seite", 1, "Seite 1 / " + pageCountAlias},
		{"", 1, "1 / " + pageCountAlias},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			if got := pageLabel(tt.format, tt.page); got != tt.want {
				t.Errorf("pageLabel(%q, %d) = %q, want %q", tt.format, tt.page, got, tt.want)
			}
		})
	}
}

func TestFormatTime(t *testing.T) {
	tests := []struct {
		t    time.Time
		lang string
		want string
	}{
		{time.Date(2026, 1, 2, 14, 4, 0, 0, time.UTC), "de", "02.01.2026 15:04 Uhr"},
		{time.Date(2026, 7, 2, 14, 4, 0, 0, time.UTC), "de", "02.07.2026 16:04 Uhr"}, // summer time
		{time.Date(2026, 7, 2, 14, 4, 0, 0, time.UTC), "en", "2 July 2026, 16:04"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := formatTime(tt.t, tt.lang); got != tt.want {
				t.Errorf("formatTime = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzRender(f *testing.F) {
	f.Add("Name", dinName)
	f.Add("{nb}", "a(b)\\c\r\n\x00")
	f.Add("", "")
	f.Add("😀", "Nguyễn\u202e\u0301")
	f.Add("\xff\xfe", strings.Repeat("x", 3000))
	f.Fuzz(func(t *testing.T, label, value string) {
		d := newData(t, "de")
		d.Sections[0].Title = label
		d.Sections[1].Items = append(d.Sections[1].Items, Item{Label: label, Value: value})
		d.NextSteps = value
		var b bytes.Buffer
		if err := render(&b, d, options{compress: false}); err != nil {
			t.Fatalf("render: %v", err)
		}
		checkStructure(t, b.Bytes(), "Seite %d von %d")
	})
}

// BenchmarkRender renders a typical two-page receipt, compressed as served.
func BenchmarkRender(b *testing.B) {
	d := newData(b, "de")
	d.Sections[1].Items = append(d.Sections[1].Items, Item{Label: "Verlauf", Value: strings.Repeat("Seit drei Tagen Fieber und Husten, keine Reisen. ", 90)})
	var buf bytes.Buffer
	if err := Render(&buf, d); err != nil {
		b.Fatal(err)
	}
	if n := len(parsePDF(b, mustRender(b, d)).pages(b)); n != 2 {
		b.Fatalf("benchmark receipt has %d pages, want 2", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := Render(&buf, d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "pdf-bytes")
}

// BenchmarkFontSetup measures the part of BenchmarkRender a reusable
// Renderer could hope to save: registering both fonts with a new document.
// fpdf parses them again for every document and has no way to share a
// parsed font, so this cost stays per call whatever the API.
func BenchmarkFontSetup(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		pdf := fpdf.New("P", "mm", "A4", "")
		pdf.AliasNbPages(pageCountAlias)
		pdf.AddUTF8FontFromBytes(fontFamily, "", goregular.TTF)
		pdf.AddUTF8FontFromBytes(fontFamily, "B", gobold.TTF)
		if err := pdf.Error(); err != nil {
			b.Fatal(err)
		}
	}
}

// The mailed receipt in the core fonts: German text comes out right (read
// back through the same code page), and it is much cheaper.
func TestCoreFontReceipt(t *testing.T) {
	d := Data{
		Lang: "de", Title: "Eingangsbestätigung", Reference: "LEJ-2026-7K3M-Q9TX", Service: "Amtsärztliche Untersuchung – „Gutachten“",
		Office:       Office{Name: "Gesundheitsamt Leipzig", Street: "Friedrich-Ebert-Straße 19a", PostalCode: "04109", City: "Leipzig"},
		SubmittedAt:  time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC),
		Labels:       Labels{Reference: "Vorgangsnummer", Service: "Leistung", Office: "Gesundheitsamt", SubmittedAt: "Eingegangen am", Hash: "Prüfsumme", Page: "Seite %d von %d"},
		RecordSHA256: strings.Repeat("ab", 32), NextSteps: "Ihre Angaben sehen Sie auf der Statusseite. Ŀ₂ 漢",
		CoreFonts: true,
	}
	var buf bytes.Buffer
	if err := render(&buf, d, options{compress: false}); err != nil {
		t.Fatal(err)
	}
	pdf := buf.String()
	if strings.Contains(pdf, "FontFile2") || !strings.Contains(pdf, "/BaseFont /Helvetica") {
		t.Error("the core-font receipt embeds a font or lacks Helvetica")
	}
	// fpdf writes Windows-1252 bytes: ä is 0xE4, „ is 0x84.
	for _, want := range []string{"Amts\xe4rztliche", "\x84Gutachten\x93", "Friedrich-Ebert-Stra\xdfe", "LEJ-2026-7K3M-Q9TX"} {
		if !strings.Contains(pdf, want) {
			t.Errorf("%q not in the PDF", want)
		}
	}
}

func BenchmarkRenderCoreFonts(b *testing.B) {
	d := Data{Lang: "de", Title: "Eingangsbestätigung", Reference: "LEJ-2026-7K3M-Q9TX", Service: "Reiseimpfberatung",
		Office: Office{Name: "Gesundheitsamt Leipzig"}, SubmittedAt: time.Now(), Labels: Labels{Page: "Seite %d von %d"},
		RecordSHA256: strings.Repeat("ab", 32), NextSteps: "Ihre Angaben sehen Sie auf der Statusseite.", CoreFonts: true}
	b.ReportAllocs()
	for b.Loop() {
		var buf bytes.Buffer
		if err := Render(&buf, d); err != nil {
			b.Fatal(err)
		}
	}
}
