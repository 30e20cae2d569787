package receipt

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

// This file is a minimal reader for the PDFs fpdf writes uncompressed, so
// that tests check what a reader would see rather than bytes of one run.
//
// With a UTF-8 font fpdf sets text as "(...)Tj": a literal string holding
// the UTF-16BE code units (Identity-H, with the code point as CID), escaped
// only for \, ( , ) and \r. Raw bytes of any value can therefore occur inside
// the parentheses, which is why the tokenizer reads strings byte by byte.

// pdfDoc is a parsed PDF: its objects by number.
type pdfDoc struct {
	objs map[int]pdfObj
}

// pdfObj is one indirect object: its dictionary text and, if it has one, its
// stream's raw bytes.
type pdfObj struct {
	dict   string
	stream []byte
}

// textPos is one piece of text and where it starts, in points from the
// bottom left of the page.
type textPos struct {
	x, y float64
	s    string
}

var (
	objHeader = regexp.MustCompile(`(?m)^(\d+) 0 obj`)
	lengthRe  = regexp.MustCompile(`/Length (\d+)`)
	refRe     = regexp.MustCompile(`(\d+) 0 R`)
)

// parsePDF splits b into objects, using each stream's /Length to step over
// binary data (the font subsets) instead of searching through it.
func parsePDF(t testing.TB, b []byte) *pdfDoc {
	t.Helper()
	d := &pdfDoc{objs: make(map[int]pdfObj)}
	pos := 0
	for {
		loc := objHeader.FindSubmatchIndex(b[pos:])
		if loc == nil {
			return d
		}
		num, _ := strconv.Atoi(string(b[pos+loc[2] : pos+loc[3]]))
		start := pos + loc[1]
		end := bytes.Index(b[start:], []byte("endobj"))
		streamAt := bytes.Index(b[start:], []byte("stream\n"))
		if end < 0 {
			t.Fatalf("object %d has no endobj", num)
		}
		if streamAt < 0 || streamAt > end {
			d.objs[num] = pdfObj{dict: string(b[start : start+end])}
			pos = start + end
			continue
		}
		dict := string(b[start : start+streamAt])
		m := lengthRe.FindStringSubmatch(dict)
		if m == nil {
			t.Fatalf("object %d: stream without /Length", num)
		}
		n, _ := strconv.Atoi(m[1])
		data := start + streamAt + len("stream\n")
		if data+n > len(b) {
			t.Fatalf("object %d: stream runs past the end", num)
		}
		d.objs[num] = pdfObj{dict: dict, stream: b[data : data+n]}
		pos = data + n
	}
}

// pages returns the page objects in document order, following /Kids.
func (d *pdfDoc) pages(t testing.TB) []pdfObj {
	t.Helper()
	for _, o := range d.objs {
		if !strings.Contains(o.dict, "/Type /Pages") {
			continue
		}
		i := strings.Index(o.dict, "/Kids [")
		j := strings.Index(o.dict[i:], "]")
		var pages []pdfObj
		for _, m := range refRe.FindAllStringSubmatch(o.dict[i:i+j], -1) {
			n, _ := strconv.Atoi(m[1])
			pages = append(pages, d.objs[n])
		}
		return pages
	}
	t.Fatal("no /Pages object")
	return nil
}

// contents returns the content stream of page p.
func (d *pdfDoc) contents(t testing.TB, p pdfObj) []byte {
	t.Helper()
	i := strings.Index(p.dict, "/Contents ")
	if i < 0 {
		t.Fatal("page without /Contents")
	}
	m := refRe.FindStringSubmatch(p.dict[i:])
	n, _ := strconv.Atoi(m[1])
	o := d.objs[n]
	if strings.Contains(o.dict, "/Filter") {
		t.Fatal("content stream is compressed; render with compress off")
	}
	return o.stream
}

// pageTexts returns the text of each page, one line per text-showing
// operation, in the order drawn.
func (d *pdfDoc) pageTexts(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, p := range d.pages(t) {
		var lines []string
		for _, tp := range textRuns(t, d.contents(t, p)) {
			lines = append(lines, tp.s)
		}
		out = append(out, strings.Join(lines, "\n"))
	}
	return out
}

// textRuns tokenizes a content stream and returns each string shown with Tj
// or TJ, decoded from UTF-16BE, with the position set by the Td before it.
func textRuns(t testing.TB, c []byte) []textPos {
	t.Helper()
	var (
		runs     []textPos
		operands []string
		pending  []byte // string bytes since the last BT
		x, y     float64
	)
	for i := 0; i < len(c); {
		switch ch := c[i]; {
		case ch == '(':
			s, n := literalString(t, c[i:])
			pending = append(pending, s...)
			i += n
		case ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t' || ch == '[' || ch == ']':
			i++
		default:
			j := i
			for j < len(c) && !bytes.ContainsRune([]byte(" \n\r\t()[]"), rune(c[j])) {
				j++
			}
			tok := string(c[i:j])
			i = j
			switch tok {
			case "BT":
				pending = pending[:0]
			case "Td":
				if len(operands) >= 2 {
					x, _ = strconv.ParseFloat(operands[len(operands)-2], 64)
					y, _ = strconv.ParseFloat(operands[len(operands)-1], 64)
				}
			case "Tj", "TJ":
				runs = append(runs, textPos{x: x, y: y, s: decodeUTF16BE(t, pending)})
				pending = pending[:0]
			}
			operands = append(operands, tok)
		}
	}
	return runs
}

// literalString reads the PDF literal string at the start of b and returns
// its unescaped bytes and how many bytes of b it took.
func literalString(t testing.TB, b []byte) ([]byte, int) {
	t.Helper()
	var out []byte
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '(':
			if depth > 0 {
				out = append(out, '(')
			}
			depth++
		case ')':
			depth--
			if depth == 0 {
				return out, i + 1
			}
			out = append(out, ')')
		case '\\':
			i++
			if i >= len(b) {
				t.Fatal("string ends in a backslash")
			}
			switch e := b[i]; e {
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case '\n':
				// a line continuation
			case '0', '1', '2', '3', '4', '5', '6', '7':
				v, k := 0, 0
				for ; k < 3 && i+k < len(b) && b[i+k] >= '0' && b[i+k] <= '7'; k++ {
					v = v*8 + int(b[i+k]-'0')
				}
				out = append(out, byte(v))
				i += k - 1
			default: // \\ \( \) and any other escaped byte stand for themselves
				out = append(out, e)
			}
		default:
			out = append(out, b[i])
		}
	}
	t.Fatal("unterminated string")
	return nil, 0
}

// decodeUTF16BE decodes big-endian UTF-16 code units, dropping a BOM.
func decodeUTF16BE(t testing.TB, b []byte) string {
	t.Helper()
	if len(b)%2 != 0 {
		t.Fatalf("odd number of bytes in UTF-16 text %q", b)
	}
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i < len(b); i += 2 {
		u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
	}
	if len(u) > 0 && u[0] == 0xFEFF {
		u = u[1:]
	}
	return string(utf16.Decode(u))
}

// info returns the document information dictionary.
func (d *pdfDoc) info(t testing.TB) string {
	t.Helper()
	for _, o := range d.objs {
		if strings.Contains(o.dict, "/Producer") {
			return o.dict
		}
	}
	t.Fatal("no information dictionary")
	return ""
}

// infoString returns the decoded text string stored under key in the
// information dictionary, or "" if there is none.
func (d *pdfDoc) infoString(t testing.TB, key string) string {
	t.Helper()
	dict := d.info(t)
	i := strings.Index(dict, key+" (")
	if i < 0 {
		return ""
	}
	s, _ := literalString(t, []byte(dict[i+len(key)+1:]))
	if bytes.HasPrefix(s, []byte{0xFE, 0xFF}) {
		return decodeUTF16BE(t, s)
	}
	return string(s)
}
