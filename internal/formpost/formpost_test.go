package formpost

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"os"
	"strings"
	"testing"
)

var testLimits = Limits{Text: 1 << 10, Parts: 10, Files: 4, Header: 8 << 10, File: 1 << 20}

// post builds a multipart body of text fields and files (name → content).
func post(t testing.TB, fields [][2]string, files [][3]string) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		_ = w.WriteField(f[0], f[1])
	}
	for _, f := range files {
		fw, err := w.CreateFormFile(f[0], f[1])
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write([]byte(f[2]))
	}
	_ = w.Close()
	return &buf, w.Boundary()
}

func TestReadKeepsValuesAndFiles(t *testing.T) {
	dir := t.TempDir()
	spool := NewSpool(dir, 10<<20)
	secret := strings.Repeat("Befund: Masern-Titer positiv. ", 100)
	body, boundary := post(t, [][2]string{{"name", "Erika"}, {"name", "Max"}, {"_csrf", "tok"}},
		[][3]string{{"nachweis", "impfpass.pdf", secret}, {"nachweis", "../../etc/zwei.png", "PNG"}})
	form, err := Read(body, boundary, testLimits, spool)
	if err != nil {
		t.Fatal(err)
	}
	defer form.Close()
	if got := form.Values["name"]; len(got) != 2 || got[0] != "Erika" || got[1] != "Max" {
		t.Errorf("values %q", got)
	}
	files := form.Files["nachweis"]
	if len(files) != 2 || files[0].Name != "impfpass.pdf" || files[1].Name != "zwei.png" {
		t.Fatalf("files %+v", files)
	}
	for range 2 { // each Open reads from the start
		got, err := io.ReadAll(files[0].Open())
		if err != nil || string(got) != secret || files[0].Size != int64(len(secret)) {
			t.Fatalf("content %d bytes (size %d), err %v", len(got), files[0].Size, err)
		}
	}
	// Nothing under the spool's directory, and the open file holds
	// ciphertext only.
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left in the spool directory: %v", entries)
	}
	raw, err := io.ReadAll(io.NewSectionReader(files[0].f, 0, files[0].Size))
	if err != nil || len(raw) != len(secret) || bytes.Contains(raw, []byte("Masern")) {
		t.Errorf("the temporary file is not sealed (%d bytes, err %v)", len(raw), err)
	}
	if spool.InUse() != int64(len(secret)+3)+2*fileCost {
		t.Errorf("spool holds %d bytes", spool.InUse())
	}
	if err := form.Close(); err != nil || spool.InUse() != 0 {
		t.Errorf("after Close: err %v, spool holds %d bytes", err, spool.InUse())
	}
}

func TestReadLimits(t *testing.T) {
	long := strings.Repeat("x", 600)
	many := make([][2]string, 11)
	for i := range many {
		many[i] = [2]string{"f", "v"}
	}
	tests := []struct {
		name   string
		fields [][2]string
		files  [][3]string
		raw    string // a body given as is
		want   error
	}{
		{name: "text over the budget", fields: [][2]string{{"a", long}, {"b", long}}, want: ErrTooLarge},
		{name: "names count as text", fields: [][2]string{{long, "1"}, {long, "2"}}, want: ErrTooLarge},
		{name: "file names count as text", files: [][3]string{{"f", long + ".pdf", "x"}, {"f", long + ".pdf", "y"}}, want: ErrTooLarge},
		{name: "too many files", files: [][3]string{{"f", "1.pdf", "x"}, {"f", "2.pdf", "x"}, {"f", "3.pdf", "x"}, {"f", "4.pdf", "x"}, {"f", "5.pdf", "x"}}, want: ErrTooLarge},
		// (Cut off right after a delimiter, a post cannot be told from a
		// complete one here: the HTTP layer compares its length.)
		{name: "cut off inside a part", raw: "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvvv", want: io.ErrUnexpectedEOF},
		{name: "too many parts", fields: many, want: ErrTooLarge},
		{name: "headers too long", raw: "--B\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: " + strings.Repeat("p", 20<<10) + "\r\n\r\nv\r\n--B--\r\n", want: ErrTooLarge},
		{name: "preamble too long", raw: strings.Repeat("junk junk\r\n", 4<<10) + "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--B--\r\n", want: ErrTooLarge},
		{name: "within every limit", fields: [][2]string{{"a", long}}, files: [][3]string{{"f", "a.pdf", long}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spool := NewSpool(t.TempDir(), 10<<20)
			var body io.Reader
			boundary := "B"
			if tt.raw != "" {
				body = strings.NewReader(tt.raw)
			} else {
				body, boundary = post(t, tt.fields, tt.files)
			}
			form, err := Read(body, boundary, testLimits, spool)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if form != nil {
				form.Close()
			}
			if spool.InUse() != 0 {
				t.Errorf("spool holds %d bytes after the post", spool.InUse())
			}
		})
	}
}

// A file over the limit keeps one byte more than allowed, so the size
// check that follows can name the problem; the rest is read and dropped.
func TestReadFileOverLimit(t *testing.T) {
	spool := NewSpool(t.TempDir(), 10<<20)
	lim := testLimits
	lim.File = 1000
	body, boundary := post(t, [][2]string{{"after", "kept"}}, [][3]string{{"f", "big.pdf", strings.Repeat("z", 5000)}})
	form, err := Read(body, boundary, lim, spool)
	if err != nil {
		t.Fatal(err)
	}
	defer form.Close()
	if f := form.Files["f"][0]; f.Size != 1001 {
		t.Errorf("size %d, want 1001", f.Size)
	}
	if form.Values["after"][0] != "kept" || spool.InUse() != 1001+fileCost {
		t.Errorf("values %v, spool %d", form.Values, spool.InUse())
	}
}

// The spool's budget is shared: a post that would go over it fails with
// ErrBusy and gives back what it took.
func TestReadSpoolBudget(t *testing.T) {
	spool := NewSpool(t.TempDir(), 2*fileCost+4000)
	first, boundary := post(t, nil, [][3]string{{"f", "a.pdf", strings.Repeat("a", 3000)}})
	held, err := Read(first, boundary, testLimits, spool)
	if err != nil {
		t.Fatal(err)
	}
	second, boundary := post(t, nil, [][3]string{{"f", "b.pdf", strings.Repeat("b", 3000)}})
	if _, err := Read(second, boundary, testLimits, spool); !errors.Is(err, ErrBusy) {
		t.Fatalf("err %v, want ErrBusy", err)
	}
	if spool.InUse() != 3000+fileCost {
		t.Errorf("spool holds %d, want the first post's 3000 and its file's share", spool.InUse())
	}
	held.Close()
	third, boundary := post(t, nil, [][3]string{{"f", "c.pdf", strings.Repeat("c", 3000)}})
	form, err := Read(third, boundary, testLimits, spool)
	if err != nil {
		t.Fatalf("after the first post ended: %v", err)
	}
	form.Close()
}

// Empty files open nothing, and every file, empty or not, takes its share
// of the budget: a post of many tiny files cannot exhaust the process's
// file descriptors.
func TestEmptyFilesOpenNothing(t *testing.T) {
	spool := NewSpool(t.TempDir(), 10<<20)
	before := openFiles(t)
	body, boundary := post(t, nil, [][3]string{{"f", "a.pdf", ""}, {"f", "b.pdf", ""}, {"f", "c.pdf", ""}})
	form, err := Read(body, boundary, testLimits, spool)
	if err != nil {
		t.Fatal(err)
	}
	if n := openFiles(t); n != before {
		t.Errorf("%d files open during the post, %d before", n, before)
	}
	if f := form.Files["f"]; len(f) != 3 || f[0].Size != 0 || spool.InUse() != 3*fileCost {
		t.Errorf("files %v, spool %d", f, spool.InUse())
	}
	if b, _ := io.ReadAll(form.Files["f"][1].Open()); len(b) != 0 {
		t.Error("an empty file reads as something")
	}
	form.Close()
	if spool.InUse() != 0 {
		t.Errorf("spool holds %d after the post", spool.InUse())
	}
}

func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

func FuzzRead(f *testing.F) {
	body, boundary := post(f, [][2]string{{"a", "1"}}, [][3]string{{"f", "x.pdf", "%PDF-1.4"}})
	f.Add(body.Bytes(), boundary)
	f.Add([]byte("--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--B--"), "B")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, boundary string) {
		if boundary == "" || len(boundary) > 70 {
			return
		}
		spool := NewSpool(dir, 1<<20)
		lim := Limits{Text: 256, Parts: 8, Files: 4, Header: 4 << 10, File: 512}
		form, err := Read(bytes.NewReader(data), boundary, lim, spool)
		if err != nil {
			if form != nil {
				t.Fatal("a form with an error")
			}
		} else {
			text := 0
			for _, vs := range form.Values {
				for _, v := range vs {
					text += len(v)
				}
			}
			if text > lim.Text {
				t.Fatalf("%d bytes of text kept, limit %d", text, lim.Text)
			}
			for _, fs := range form.Files {
				for _, file := range fs {
					if file.Size > lim.File+1 {
						t.Fatalf("file of %d bytes kept", file.Size)
					}
				}
			}
			form.Close()
		}
		if spool.InUse() != 0 {
			t.Fatalf("spool holds %d bytes after the post", spool.InUse())
		}
	})
}
