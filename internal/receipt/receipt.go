// Package receipt renders the PDF receipt (Eingangsbestätigung) a citizen
// downloads after submitting a form.
//
// The receipt holds health data, so it is generated on request from the
// stored record and never written anywhere but the caller's writer. Every
// string in Data may come from a citizen and is treated as untrusted: it is
// cleaned to what the embedded Go fonts can show (see clean.go) before fpdf
// sees it, and a panic inside fpdf becomes an error instead of a crash.
package receipt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
	_ "time/tzdata" // the Europe/Berlin zone must not depend on the host's tzdata

	"github.com/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/gesundheitsamt/portal/internal/fault"
)

// Data is everything a receipt shows. All strings are already localized by the caller.
type Data struct {
	Lang         string    // "de" or "en": only for the PDF's language metadata
	Title        string    // e.g. "Eingangsbestätigung" / "Confirmation of receipt"
	Reference    string    // e.g. "LEJ-2026-7K3M-Q9TX"
	Service      string    // service title
	Office       Office    // the office that received the submission
	SubmittedAt  time.Time // shown in Europe/Berlin time, formatted by Render
	Labels       Labels    // the fixed captions, localized by the caller
	Sections     []Section // the answers, one section per form step
	RecordSHA256 string    // hex SHA-256 of the submitted record
	StatusURL    string    // absolute link to the status page (may be empty)
	NextSteps    string    // a paragraph: what happens next
	// CoreFonts sets the receipt in the PDF's standard Helvetica instead
	// of the embedded Go fonts: no font in the file and about a tenth of
	// the time, for text within Windows-1252 (German and English prose,
	// no names): the receipt that goes out by mail.
	CoreFonts bool
}

// Office is the receiving office as printed in the letterhead.
type Office struct{ Name, Street, PostalCode, City, Phone, Email string }

// Labels are the fixed captions of a receipt, localized by the caller. Page
// is a fmt format with two %d verbs, the page number and the page count,
// like "Seite %d von %d" or "Page %d of %d".
type Labels struct {
	Reference, Service, Office, SubmittedAt, Answers, Hash, HashHint, Status, Page string
}

// Section is one step of the form with the answers given in it.
type Section struct {
	Title string
	Items []Item
}

// Item is one answer. Value may contain newlines (textarea, lists).
type Item struct{ Label, Value string }

// options are the knobs only tests turn; Render always uses defaultOptions.
type options struct {
	// compress zlib-compresses the page content streams. Tests switch it off
	// to read the text back out of the PDF.
	compress bool
}

// defaultOptions is what every production receipt uses.
func defaultOptions() options { return options{compress: true} }

// creator is the PDF's /Creator. It deliberately names the application, not
// a person: the metadata of a receipt must carry no personal data.
const creator = "Gesundheitsamt-Portal"

// Render writes the receipt d as an A4 PDF to w.
//
// Any request handler may call it; it keeps no state between calls and is
// safe for concurrent use. A typical two-page receipt takes about 8 ms of
// CPU and 12 MB of short-lived allocations (BenchmarkRender), a third of
// which is fpdf parsing the two fonts (BenchmarkFontSetup). There is no
// reusable Renderer because it would not save that third: fpdf parses a font
// anew for every document and offers no way to share a parsed one, and the
// font bytes themselves are already immutable data in gofont. A handler
// serving many receipts at once should bound their number, not cache.
//
// The PDF is built in memory and written in one piece, so on error nothing
// has been written to w. Errors are of kind fault.Internal: a zero
// SubmittedAt (a caller bug), a failure inside fpdf (including a recovered
// panic), or the error of w.Write.
func Render(w io.Writer, d Data) error {
	return render(w, d, defaultOptions())
}

// render is Render with test options.
func render(w io.Writer, d Data, o options) error {
	const op = "receipt: render"
	if d.SubmittedAt.IsZero() {
		return fault.Wrap(fault.Internal, op, errors.New("SubmittedAt is zero"))
	}
	var buf bytes.Buffer
	if err := build(&buf, d, o); err != nil {
		return fault.Wrap(fault.Internal, op, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fault.Wrap(fault.Internal, op, fmt.Errorf("write: %w", err))
	}
	return nil
}

// build lays out d into buf. fpdf panics on some inputs it does not expect
// (index errors in its text measuring, for instance); the recover turns such a
// bug into an error for this one request instead of taking the server down.
func build(buf *bytes.Buffer, d Data, o options) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("fpdf panicked: %v", r)
		}
	}()

	lang := language(d.Lang)
	pdf := fpdf.New("P", "mm", "A4", "")
	// The alias must be set before the fonts are added: fpdf decides the
	// subset's reserved range from it.
	pdf.AliasNbPages(pageCountAlias)
	var c *cleaner
	family := fontFamily
	if d.CoreFonts {
		family = "Helvetica"
		c = newCoreCleaner(pdf.UnicodeTranslatorFromDescriptor("cp1252"))
	} else {
		var err error
		if c, err = newCleaner(); err != nil {
			return err
		}
		pdf.AddUTF8FontFromBytes(fontFamily, "", goregular.TTF)
		pdf.AddUTF8FontFromBytes(fontFamily, "B", gobold.TTF)
	}
	pdf.SetCompression(o.compress)
	pdf.SetCatalogSort(true) // same input, same bytes: tests can compare
	submitted := d.SubmittedAt.In(berlin())
	pdf.SetCreationDate(submitted)
	pdf.SetModificationDate(submitted)
	pdf.SetLang(lang)
	pdf.SetCreator(creator, false)
	pdf.SetTitle(c.meta(joinNonEmpty(" – ", d.Title, d.Reference)), true)
	pdf.SetSubject(c.meta(d.Service), true)
	if err := pdf.Error(); err != nil {
		return fmt.Errorf("set up document: %w", err)
	}

	l := newLayout(pdf, c, family)
	l.footer(d.Labels.Page, d.Reference)
	pdf.AddPage()
	l.letterhead(d.Office)
	l.title(d.Title)
	l.reference(d.Labels.Reference, d.Reference)
	l.facts([][2]string{
		{d.Labels.Reference, d.Reference},
		{d.Labels.Service, d.Service},
		{d.Labels.Office, d.Office.Name},
		{d.Labels.SubmittedAt, formatTime(submitted, lang)},
	})
	// What happens next and where to follow it come before the answers:
	// with them the first page is the whole receipt for most readers, and
	// the answers are its appendix.
	l.paragraph(d.NextSteps)
	l.status(d.Labels.Status, d.StatusURL)
	l.answers(d.Labels.Answers, d.Sections)
	l.hash(d.Labels.Hash, d.RecordSHA256, d.Labels.HashHint)

	if err := pdf.Output(buf); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	return nil
}

// language reduces the caller's language to the two the portal speaks. It
// also keeps the /Lang entry safe: fpdf writes it into the PDF unescaped.
func language(lang string) string {
	if lang == "en" || len(lang) > 2 && lang[:3] == "en-" {
		return "en"
	}
	return "de"
}

// berlin is the zone the office and its citizens live in.
func berlin() *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		// Unreachable with time/tzdata linked in; CET is right half the year
		// and better than UTC all year.
		return time.FixedZone("CET", 60*60)
	}
	return loc
}

// formatTime shows t as people in the office's town read it: Berlin time,
// German or English style.
func formatTime(t time.Time, lang string) string {
	t = t.In(berlin())
	if lang == "en" {
		return t.Format("2 January 2006, 15:04")
	}
	return t.Format("02.01.2006 15:04") + " Uhr"
}

// joinNonEmpty joins the non-empty parts with sep.
func joinNonEmpty(sep string, parts ...string) string {
	var out string
	for _, p := range parts {
		if p == "" {
			continue
		}
		if out != "" {
			out += sep
		}
		out += p
	}
	return out
}
