package receipt

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/go-pdf/fpdf"
)

// Page geometry in millimetres. The bottom margin leaves room for the footer,
// which fpdf draws 15 mm above the edge.
const (
	marginLeft   = 20.0
	marginTop    = 18.0
	marginRight  = 20.0
	marginBottom = 22.0
	labelColumn  = 45.0 // width of the captions in the facts table
)

// fontFamily is the name the embedded Go fonts are registered under.
const fontFamily = "go"

// pageCountAlias stands for the page count until fpdf knows it. fpdf replaces
// the alias in the finished page streams, in UTF-8 and in UTF-16 form, so it
// must never occur in text a citizen typed: with fpdf's default "{nb}" a
// citizen typing "{nb}" would see the page count instead. The cleaner drops
// control characters, so this one cannot be typed, and neither form of it
// can arise from two neighbouring runes the cleaner lets through (they would
// have to include U+6E00 or U+6E62, which the Go fonts lack).
const pageCountAlias = "\x01nb\x01"

// Font sizes in points and the line heights in millimetres that go with them.
const (
	sizeBody    = 10.0
	lineBody    = 5.0
	sizeSmall   = 8.5
	lineSmall   = 4.2
	sizeCaption = 9.0
	lineCaption = 4.6
)

// emptyValue is shown for an answer left blank, so that a blank cannot be
// mistaken for a rendering fault.
const emptyValue = "–"

// layout draws the parts of a receipt, top to bottom, on one document.
// Every string passes through the cleaner before it reaches fpdf.
type layout struct {
	pdf    *fpdf.Fpdf
	c      *cleaner
	family string  // the font family: the embedded Go fonts or Helvetica
	width  float64 // between the margins
}

// newLayout sets up the page and returns a layout drawing on pdf.
func newLayout(pdf *fpdf.Fpdf, c *cleaner, family string) *layout {
	pdf.SetMargins(marginLeft, marginTop, marginRight)
	pdf.SetAutoPageBreak(true, marginBottom)
	pageW, _ := pdf.GetPageSize()
	return &layout{pdf: pdf, c: c, family: family, width: pageW - marginLeft - marginRight}
}

// Colours: near-black text, a grey for captions, one dark blue accent and a
// pale fill, sober enough for an authority's letter.
func (l *layout) ink()    { l.pdf.SetTextColor(25, 25, 25) }
func (l *layout) muted()  { l.pdf.SetTextColor(85, 90, 96) }
func (l *layout) accent() { l.pdf.SetTextColor(0, 61, 122) }

func (l *layout) regular(size float64) { l.pdf.SetFont(l.family, "", size) }
func (l *layout) bold(size float64)    { l.pdf.SetFont(l.family, "B", size) }

// space moves down by h millimetres.
func (l *layout) space(h float64) { l.pdf.Ln(h) }

// rule draws a horizontal line across the text width at the current position.
func (l *layout) rule(width float64, r, g, b int) {
	y := l.pdf.GetY()
	l.pdf.SetDrawColor(r, g, b)
	l.pdf.SetLineWidth(width)
	l.pdf.Line(marginLeft, y, marginLeft+l.width, y)
}

// ensure starts a new page unless h millimetres still fit on this one, so
// that a heading is not left alone at the bottom of a page. On a fresh page
// it does nothing: a block taller than a page is then broken by fpdf line
// by line, which never cuts a line in half.
func (l *layout) ensure(h float64) {
	_, pageH := l.pdf.GetPageSize()
	y := l.pdf.GetY()
	if y > marginTop+0.01 && y+h > pageH-marginBottom {
		l.pdf.AddPage()
	}
}

// height is the height of s set in the current font at the given line height
// across the full text width. It is an estimate for keeping blocks together,
// close to but not guaranteed equal to what MultiCell does.
func (l *layout) height(s string, width, lineH float64) float64 {
	if l.c.encode != nil {
		// SplitText reads UTF-8; the core fonts' text is Windows-1252
		// bytes. One rune per byte indexes the same width table.
		r := make([]rune, len(s))
		for i := 0; i < len(s); i++ {
			r[i] = rune(s[i])
		}
		s = string(r)
	}
	n := len(l.pdf.SplitText(s, width))
	if n == 0 {
		n = 1
	}
	return float64(n) * lineH
}

// block writes s as wrapped left-aligned lines. Left alignment is not only
// a matter of taste: fpdf's justified UTF-8 text divides by the number of
// gaps and prints garbage for a line without one.
func (l *layout) block(width, lineH float64, s string, fill bool) {
	l.pdf.MultiCell(width, lineH, s, "", "L", fill)
}

// footer installs the footer drawn on every page: the page number and the
// reference, so that a page that comes loose can still be matched.
func (l *layout) footer(pageFormat, reference string) {
	pageFormat = l.c.line(pageFormat)
	reference = l.c.line(reference)
	l.pdf.SetFooterFunc(func() {
		l.pdf.SetY(-15)
		l.rule(0.2, 190, 195, 200)
		l.space(1.5)
		l.regular(8)
		l.muted()
		half := l.width / 2
		l.pdf.CellFormat(half, 4, pageLabel(pageFormat, l.pdf.PageNo()), "", 0, "L", false, 0, "")
		l.pdf.CellFormat(half, 4, reference, "", 0, "R", false, 0, "")
	})
}

// pageLabel fills a "Seite %d von %d" format with the page number and the
// page count alias. It does not use fmt: the count is not known yet, and a
// caller's malformed format should still yield a readable footer.
func pageLabel(format string, page int) string {
	n := strconv.Itoa(page)
	parts := strings.SplitN(format, "%d", 3)
	if len(parts) != 3 {
		return strings.TrimSpace(format + " " + n + " / " + pageCountAlias)
	}
	for i := range parts {
		parts[i] = strings.ReplaceAll(parts[i], "%%", "%")
	}
	return parts[0] + n + parts[1] + pageCountAlias + parts[2]
}

// letterhead writes the office's name and address and a rule below them.
func (l *layout) letterhead(o Office) {
	if name := l.c.line(o.Name); name != "" {
		l.bold(12)
		l.accent()
		l.block(l.width, 6, name, false)
	}
	address := []string{
		l.c.line(o.Street),
		l.c.line(joinNonEmpty(" ", o.PostalCode, o.City)),
		l.c.line(joinNonEmpty(" · ", o.Phone, o.Email)),
	}
	if s := joinNonEmpty("\n", address...); s != "" {
		l.regular(sizeCaption)
		l.muted()
		l.block(l.width, lineCaption, s, false)
	}
	l.space(3)
	l.rule(0.5, 0, 61, 122)
	l.space(7)
}

// title writes the document's title.
func (l *layout) title(s string) {
	if s = l.c.line(s); s == "" {
		return
	}
	l.bold(18)
	l.ink()
	l.block(l.width, 8, s, false)
	l.space(4)
}

// reference writes the reference number in a shaded box: it is what the
// citizen quotes on the phone, so it must be found at a glance.
func (l *layout) reference(label, ref string) {
	label, ref = l.c.line(label), l.c.line(ref)
	if ref == "" {
		return
	}
	l.pdf.SetFillColor(236, 241, 247)
	l.pdf.SetCellMargin(3)
	l.regular(sizeCaption)
	l.muted()
	l.block(l.width, 7, label, true)
	l.bold(16)
	l.ink()
	l.block(l.width, 9, ref, true)
	l.pdf.SetCellMargin(1)
	l.space(6)
}

// facts writes caption/value rows side by side. The values here come from
// the portal (service title, office, time), so a row is short; if one is
// taller than the rest of the page it moves to the next page whole.
func (l *layout) facts(rows [][2]string) {
	valueW := l.width - labelColumn
	for _, row := range rows {
		label, value := l.c.line(row[0]), l.c.text(row[1])
		if value == "" {
			value = l.c.line(emptyValue) // encoded like every other text
		}
		l.bold(sizeCaption)
		h := l.height(label, labelColumn, lineBody)
		l.regular(sizeBody)
		h = max(h, l.height(value, valueW, lineBody)) + 2
		l.ensure(h)

		page, y := l.pdf.PageNo(), l.pdf.GetY()
		l.pdf.SetXY(marginLeft, y+1)
		l.bold(sizeCaption)
		l.muted()
		l.block(labelColumn, lineBody, label, false)
		bottom := l.pdf.GetY()
		l.pdf.SetXY(marginLeft+labelColumn, y+1)
		l.regular(sizeBody)
		l.ink()
		l.block(valueW, lineBody, value, false)
		if l.pdf.PageNo() == page {
			bottom = max(bottom, l.pdf.GetY())
		} else {
			// The value outgrew a whole page; go on below it.
			bottom = l.pdf.GetY()
		}
		l.pdf.SetXY(marginLeft, bottom+1)
		l.rule(0.1, 210, 214, 218)
	}
	l.space(2)
}

// answers writes the citizen's answers, section by section: the label in
// bold, the value beneath it over the full width, so that a long textarea
// wraps and runs across pages like a letter.
func (l *layout) answers(heading string, sections []Section) {
	if len(sections) == 0 {
		return
	}
	l.space(8)
	if heading = l.c.line(heading); heading != "" {
		l.bold(13)
		l.accent()
		l.ensure(7 + 20)
		l.block(l.width, 7, heading, false)
		l.space(2)
	}
	for _, s := range sections {
		title := l.c.line(s.Title)
		if title == "" && len(s.Items) == 0 {
			continue
		}
		items := make([]Item, len(s.Items))
		for i, it := range s.Items {
			items[i] = Item{Label: l.c.line(it.Label), Value: l.c.text(it.Value)}
		}
		if title != "" {
			keep := 7.0 + 2
			if len(items) > 0 {
				keep += l.itemStart(items[0])
			}
			l.ensure(keep)
			l.pdf.SetFillColor(236, 241, 247)
			l.pdf.SetCellMargin(2)
			l.bold(11)
			l.ink()
			l.block(l.width, 7, title, true)
			l.pdf.SetCellMargin(1)
			l.space(2)
		}
		for _, it := range items {
			l.item(it)
		}
		l.space(3)
	}
}

// itemStart is the height of an item's label and the first line of its
// value: what must fit on a page before the item starts there.
func (l *layout) itemStart(it Item) float64 {
	h := lineBody
	if it.Label != "" {
		l.bold(sizeCaption)
		h += l.height(it.Label, l.width, lineCaption)
	}
	return h
}

// item writes one cleaned answer.
func (l *layout) item(it Item) {
	l.ensure(l.itemStart(it))
	if it.Label != "" {
		l.bold(sizeCaption)
		l.muted()
		l.block(l.width, lineCaption, it.Label, false)
	}
	value := it.Value
	if value == "" {
		value = l.c.line(emptyValue)
	}
	l.regular(sizeBody)
	l.ink()
	l.block(l.width, lineBody, value, false)
	l.space(2.5)
}

// hash writes the record's SHA-256 and the hint how to use it, kept together.
func (l *layout) hash(label, sum, hint string) {
	label, sum, hint = l.c.line(label), l.c.line(sum), l.c.text(hint)
	if sum == "" {
		return
	}
	l.regular(sizeSmall)
	h := lineCaption + lineBody + 1 + l.height(hint, l.width, lineSmall)
	l.space(4)
	l.ensure(h + 3)
	l.rule(0.2, 190, 195, 200)
	l.space(3)
	if label != "" {
		l.bold(sizeCaption)
		l.muted()
		l.block(l.width, lineCaption, label, false)
	}
	l.regular(sizeBody)
	l.ink()
	l.block(l.width, lineBody, sum, false)
	if hint != "" {
		l.space(1)
		l.regular(sizeSmall)
		l.muted()
		l.block(l.width, lineSmall, hint, false)
	}
}

// status writes the link to the status page. Only an http(s) URL becomes a
// clickable link; anything else is shown as text and nothing more.
func (l *layout) status(label, link string) {
	label, text := l.c.line(label), l.c.line(link)
	if text == "" {
		return
	}
	l.space(4)
	l.ensure(lineCaption + lineBody)
	if label != "" {
		l.bold(sizeCaption)
		l.muted()
		l.block(l.width, lineCaption, label, false)
	}
	l.regular(sizeBody)
	l.accent()
	page, y := l.pdf.PageNo(), l.pdf.GetY()
	l.block(l.width, lineBody, text, false)
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return
	}
	if l.pdf.PageNo() == page {
		l.pdf.LinkString(marginLeft, y, l.width, l.pdf.GetY()-y, u.String())
	}
}

// paragraph writes a closing paragraph of running text.
func (l *layout) paragraph(s string) {
	if s = l.c.text(s); s == "" {
		return
	}
	l.space(4)
	l.regular(sizeBody)
	l.ink()
	l.ensure(2 * lineBody)
	l.block(l.width, lineBody, s, false)
}
