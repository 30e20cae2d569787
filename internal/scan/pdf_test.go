package scan

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"
)

// buildPDF returns a PDF with a correct cross-reference table whose
// objects are objs, numbered from 1; object 1 is the catalog. A
// "stream:" prefix makes the object a stream with that text as content.
func buildPDF(objs ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		if content, ok := strings.CutPrefix(o, "stream:"); ok {
			fmt.Fprintf(&b, "%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n", i+1, len(content), content)
			continue
		}
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// buildCompressedPDF returns a PDF 1.5 whose objects objs (numbered from
// 1, object 1 the catalog, no streams) all sit in one compressed object
// stream, indexed by a cross-reference stream, as modern producers write
// them: none of their names is visible in the file's bytes.
func buildCompressedPDF(objs ...string) []byte {
	var head, body bytes.Buffer
	for i, o := range objs {
		fmt.Fprintf(&head, "%d %d ", i+1, body.Len())
		body.WriteString(o + "\n")
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(head.Bytes())
	zw.Write(body.Bytes())
	zw.Close()
	n := len(objs)
	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
	stm := b.Len()
	fmt.Fprintf(&b, "%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n", n+1, n, head.Len(), z.Len())
	b.Write(z.Bytes())
	b.WriteString("\nendstream\nendobj\n")
	xref := b.Len()
	var rows bytes.Buffer
	row := func(typ byte, f2 uint32, f3 uint16) {
		rows.WriteByte(typ)
		rows.Write(binary.BigEndian.AppendUint32(nil, f2))
		rows.Write(binary.BigEndian.AppendUint16(nil, f3))
	}
	row(0, 0, 0xFFFF)
	for i := range n {
		row(2, uint32(n+1), uint16(i))
	}
	row(1, uint32(stm), 0)
	row(1, uint32(xref), 0)
	fmt.Fprintf(&b, "%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n", n+2, n+3, rows.Len())
	b.Write(rows.Bytes())
	fmt.Fprintf(&b, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", xref)
	return b.Bytes()
}

// compressedPage is a one-page document in an object stream.
func compressedPage(catalog string, more ...string) []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R " + catalog + " >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
	}
	return buildCompressedPDF(append(objs, more...)...)
}

// pageObjs are a page tree of one page, objects 2 to 4; page extra goes
// into the page's dictionary.
func pageObjs(page string) []string {
	return []string{
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R " + page + " >>",
		"stream:BT /F1 12 Tf 72 720 Td (Hallo) Tj ET",
	}
}

func onePage(catalog, page string, more ...string) []byte {
	objs := append([]string{"<< /Type /Catalog /Pages 2 0 R " + catalog + " >>"}, pageObjs(page)...)
	return buildPDF(append(objs, more...)...)
}

// fpdfDoc is a letter made by a real producer (go-pdf/fpdf, which also
// makes the portal's receipts); edit adds to it before it is written.
func fpdfDoc(t testing.TB, edit func(*fpdf.Fpdf)) []byte {
	t.Helper()
	f := fpdf.New("P", "mm", "A4", "")
	if edit != nil {
		edit(f) // protection must be set before the first page
	}
	f.AddPage()
	f.SetFont("Helvetica", "", 12)
	f.Cell(40, 10, "Untersuchungsauftrag")
	f.LinkString(10, 30, 50, 10, "https://www.leipzig.de/")
	var b bytes.Buffer
	if err := f.Output(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestPDF(t *testing.T) {
	jsOpen := onePage("/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >>", "")
	tests := []struct {
		name string
		pdf  []byte
		want Kind // 0: accepted
	}{
		{"plain, by hand", onePage("", ""), 0},
		{"plain, by fpdf with a web link", fpdfDoc(t, nil), 0},
		{"plain, in object streams", compressedPage(""), 0},
		{"without cross-reference table (viewers repair it)", []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"), 0},
		{"URI open action", onePage("/OpenAction << /S /URI /URI (https://www.leipzig.de/) >>", ""), 0},
		{"submit form button", onePage("", "/Annots [5 0 R]", "<< /Type /Annot /Subtype /Widget /Rect [0 0 10 10] /A << /S /SubmitForm /F (mailto:amt@example.org) >> >>"), 0},
		{"restricted by an owner password only", fpdfDoc(t, func(f *fpdf.Fpdf) { f.SetProtection(fpdf.CnProtectPrint, "", "owner-secret") }), 0},

		{"JavaScript open action", jsOpen, Active},
		{"JavaScript open action, names #-escaped", onePage("/OpenAction << /S /J#61vaScript /J#53 (app.alert\\(1\\)) >>", ""), Active},
		{"JavaScript open action in an object stream", compressedPage("/OpenAction 4 0 R", "<< /S /JavaScript /JS (app.alert\\(1\\)) >>"), Active},
		{"JavaScript in the document's name tree (fpdf)", fpdfDoc(t, func(f *fpdf.Fpdf) { f.SetJavascript("app.alert('x');") }), Active},
		{"JavaScript in the name tree, script in a stream", onePage("/Names << /JavaScript << /Names [(a) 5 0 R] >> >>", "", "<< /S /JavaScript /JS 6 0 R >>", "stream:app.alert(1)"), Active},
		{"JavaScript as a page's additional action", onePage("", "/AA << /O << /S /JavaScript /JS (x) >> >>"), Active},
		{"JavaScript behind a form field", onePage("/AcroForm << /Fields [5 0 R] >>", "/Annots [5 0 R]", "<< /Type /Annot /Subtype /Widget /FT /Btn /Rect [0 0 10 10] /AA << /U << /S /JavaScript /JS (x) >> >> >>"), Active},
		{"JavaScript in an owner-restricted file", fpdfDoc(t, func(f *fpdf.Fpdf) {
			f.SetProtection(fpdf.CnProtectPrint, "", "owner-secret")
			f.SetJavascript("app.alert('x');")
		}), Active},
		{"launch open action", onePage("/OpenAction << /S /Launch /F (cmd.exe) >>", ""), Active},
		{"launch behind a link", onePage("", "/Annots [5 0 R]", "<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A << /S /Launch /Win << /F (calc.exe) >> >> >>"), Active},
		{"remote go-to (a file on a share)", onePage("/OpenAction << /S /GoToR /F (\\\\\\\\host\\\\share\\\\a.pdf) /D [0 /Fit] >>", ""), Active},
		{"XFA form", onePage("/AcroForm << /Fields [] /XFA 5 0 R >>", "", "stream:<xdp:xdp/>"), Active},

		{"embedded file (fpdf)", fpdfDoc(t, func(f *fpdf.Fpdf) {
			f.SetAttachments([]fpdf.Attachment{{Content: []byte("MZ"), Filename: "rechnung.exe"}})
		}), Embedded},
		{"file attachment annotation", onePage("", "/Annots [5 0 R]",
			"<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 10 10] /FS 6 0 R >>",
			"<< /Type /Filespec /F (a.txt) /EF << /F 7 0 R >> >>", "stream:x"), Embedded},
		{"JavaScript after an unreadable object", onePage("/OpenAction 6 0 R", "", "<< /A "+strings.Repeat("[", 500)+strings.Repeat("]", 500)+" >>", "<< /S /JavaScript /JS (x) >>"), Active},
		{"embedded file stream without name tree", onePage("", "", "<< /Type /EmbeddedFile /Length 0 >>"), Embedded},
		{"go to an embedded document", onePage("/OpenAction << /S /GoToE /D [0 /Fit] /T << /R /C /N (a.pdf) >> >>", ""), Embedded},

		{"user password needed to open", fpdfDoc(t, func(f *fpdf.Fpdf) { f.SetProtection(0, "user-secret", "owner-secret") }), Encrypted},

		{"garbage after the header", []byte("%PDF-1.4\ngarbage garbage\n%%EOF\n"), Damaged},
		{"header only", []byte("%PDF-"), Damaged},
		{"catalog nested beyond the parser's limit", onePage("/OpenAction << /S /JavaScript /JS (x) >> /A "+strings.Repeat("[", 500)+strings.Repeat("]", 500), ""), Damaged},
		{"a null object", onePage("", "", "null"), 0},
	}
	c := newChecker(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored, err := c.Check(context.Background(), MediaTypePDF, tt.pdf, 10<<20)
			if got := KindOf(err); got != tt.want {
				t.Fatalf("Check = %v (kind %v), want kind %v", err, got, tt.want)
			}
			if tt.want == 0 && !bytes.Equal(stored, tt.pdf) {
				t.Fatal("an accepted PDF is not stored as sent")
			}
			if tt.want != 0 && stored != nil {
				t.Fatal("a refused PDF returned bytes to store")
			}
		})
	}
}

// The PDFs in object streams hide their dictionaries from a string
// search: the test above proves the parser sees into them.
func TestCompressedPDFHidesItsNames(t *testing.T) {
	pdf := compressedPage("/OpenAction 4 0 R", "<< /S /JavaScript /JS (app.alert\\(1\\)) >>")
	for _, s := range []string{"JavaScript", "/JS", "OpenAction"} {
		if bytes.Contains(pdf, []byte(s)) {
			t.Fatalf("compressed PDF still shows %q in plain text", s)
		}
	}
}

func newChecker(t testing.TB, o Options) *Checker {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzPDFCheck: whatever the bytes, the check ends with nil or a
// Finding (a parse failure is a damaged file, never a panic or another
// error), within its time limit.
func FuzzPDFCheck(f *testing.F) {
	f.Add(onePage("", ""))
	f.Add(onePage("/OpenAction << /S /J#61vaScript /JS (x) >>", ""))
	f.Add(onePage("/Names << /EmbeddedFiles << /Names [(a) 5 0 R] >> >>", "", "<< /Type /Filespec /F (a) /EF << /F 6 0 R >> >>", "stream:x"))
	f.Add(compressedPage("/OpenAction << /S /Launch /F (x) >>"))
	f.Add(fpdfDoc(f, func(p *fpdf.Fpdf) { p.SetProtection(0, "u", "o") }))
	f.Add([]byte("%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"))
	f.Fuzz(func(t *testing.T, content []byte) {
		err := checkPDF(context.Background(), content)
		if err != nil && KindOf(err) == 0 {
			t.Fatalf("checkPDF = %v, not a Finding", err)
		}
		if k := KindOf(err); err != nil && k != Damaged && k != Active && k != Embedded && k != Encrypted {
			t.Fatalf("checkPDF found %v", k)
		}
	})
}

// bombPDF has n object streams of one object each, padded to decompress
// to pad bytes: a small file that unpacks to n×pad. The streams are the
// same bytes (the object's number in a stream's prolog is not what the
// cross-reference stream goes by), compressed once.
func bombPDF(n, pad int) []byte {
	const head = "1 0 "
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	zw.Write([]byte(head + "<< /Type /Catalog >>"))
	space := bytes.Repeat([]byte{' '}, 1<<20)
	for range pad >> 20 {
		zw.Write(space)
	}
	zw.Close()
	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n")
	streams := make([]int, n)
	for i := range n {
		streams[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n<< /Type /ObjStm /N 1 /First %d /Filter /FlateDecode /Length %d >>\nstream\n", n+1+i, len(head), z.Len())
		b.Write(z.Bytes())
		b.WriteString("\nendstream\nendobj\n")
	}
	xref := b.Len()
	var rows bytes.Buffer
	row := func(typ byte, f2 uint32, f3 uint16) {
		rows.WriteByte(typ)
		rows.Write(binary.BigEndian.AppendUint32(nil, f2))
		rows.Write(binary.BigEndian.AppendUint16(nil, f3))
	}
	row(0, 0, 0xFFFF)
	for i := range n {
		row(2, uint32(n+1+i), 0)
	}
	for i := range n {
		row(1, uint32(streams[i]), 0)
	}
	row(1, uint32(xref), 0)
	fmt.Fprintf(&b, "%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n", 2*n+1, 2*n+2, rows.Len())
	b.Write(rows.Bytes())
	fmt.Fprintf(&b, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", xref)
	return b.Bytes()
}

// A small file of many object streams that each unpack to just under the
// limit is read one stream at a time: the heap stays far below what all
// of them unpack to (pdfcpu keeps every stream it unpacked; a 10 MB
// upload of such streams would hold 15 GB).
func TestPDFDecompressionBombStaysBounded(t *testing.T) {
	const n, pad = 12, 15 << 20
	pdf := bombPDF(n, pad)
	// Frequent collections, so the peak is what is held, not garbage.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	heap := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	base := heap()
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
			if v := heap(); v > peak.Load() {
				peak.Store(v)
			}
		}
	}()
	err := checkPDFWithin(context.Background(), pdf, time.Minute) // all of it, even under the race detector
	close(done)
	if err != nil {
		t.Fatalf("checkPDF = %v", err)
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("%d kB file unpacking to %d MB: heap grew by %d MB at most", len(pdf)>>10, n*pad>>20, grew>>20)
	if grew > n*pad*2/3 {
		t.Fatalf("heap grew by %d MB: the streams are held", grew>>20)
	}
}
