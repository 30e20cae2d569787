// Package formpost reads a multipart/form-data post from a stream, part by
// part, under limits: text values into memory (a small budget), files into
// temporary files that are unlinked at once and sealed with a key that
// lives only in memory. Nothing is reserved before bytes arrive, a slow
// client holds a few kilobytes, and a crash leaves nothing readable on
// disk. The portal's HTTP layer uses it for the posts that carry uploads;
// it knows nothing of HTTP itself.
package formpost

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"os"
	"strings"
	"sync/atomic"
)

// Errors of Read. Anything else it returns is a malformed post (or an
// error of the reader it was given).
var (
	// ErrTooLarge: the text values (with the names of fields and files),
	// the number of parts or of files, or a part's headers went over
	// their limits.
	ErrTooLarge = errors.New("formpost: too large")
	// ErrBusy: the spool's budget is spent by posts in flight; the same
	// post may succeed a little later.
	ErrBusy = errors.New("formpost: spool full")
	// ErrSpool: a temporary file could not be made or written (the disk,
	// not the post).
	ErrSpool = errors.New("formpost: spool")
)

// Limits bound what one post may hold.
type Limits struct {
	Text   int   // bytes of all text values, field names and file names together
	Parts  int   // parts, text and files
	Files  int   // file parts
	Header int   // bytes of one part's headers (at least 4 KiB: the parser reads ahead that much)
	File   int64 // bytes kept of one file: a longer file keeps File+1 bytes (so a size check can tell) and drops the rest
}

// fileCost is what each file takes of the spool's budget beyond its
// bytes: open files are bounded too, whatever their size.
const fileCost = 64 << 10

// Spool is where files of posts in flight wait, with a budget of bytes
// shared by all of them: the disk a burst of uploads can take is bounded.
// It is safe for concurrent use.
type Spool struct {
	dir    string
	budget int64
	used   atomic.Int64
}

// NewSpool returns a spool writing into dir (os.TempDir() when empty) at
// most budget bytes at once.
func NewSpool(dir string, budget int64) *Spool {
	return &Spool{dir: dir, budget: budget}
}

// InUse returns the bytes the spool holds now.
func (s *Spool) InUse() int64 { return s.used.Load() }

// Form is a post read by Read. Close it when the request ends.
type Form struct {
	Values map[string][]string
	Files  map[string][]*File
	spool  *Spool
	all    []*File
}

// Close releases the form's files and their share of the spool.
func (f *Form) Close() error {
	var first error
	for _, file := range f.all {
		if file.f == nil { // an empty file: no temporary file was made
			f.spool.used.Add(-fileCost)
			continue
		}
		if err := file.f.Close(); err != nil && first == nil {
			first = err
		}
		f.spool.used.Add(-file.stored - fileCost)
	}
	f.all = nil
	return first
}

// File is an uploaded file of a Form.
type File struct {
	Name   string // the client's file name (its last element)
	Size   int64  // bytes kept: at most Limits.File+1
	f      *os.File
	stored int64
	key    []byte
	iv     []byte
}

// Open returns a reader of the file's content from its start; each call
// reads anew.
func (f *File) Open() io.Reader {
	if f.f == nil {
		return strings.NewReader("")
	}
	block, _ := aes.NewCipher(f.key) // a 32-byte key: cannot fail
	return cipher.StreamReader{S: cipher.NewCTR(block, f.iv), R: io.NewSectionReader(f.f, 0, f.Size)}
}

// Read parses the multipart body r with boundary. On any error the files
// written so far are released. It ends at the closing boundary (the parser
// may have read a little beyond it).
func Read(r io.Reader, boundary string, lim Limits, spool *Spool) (*Form, error) {
	guard := &headerGuard{r: r}
	mr := multipart.NewReader(guard, boundary)
	form := &Form{Values: make(map[string][]string), Files: make(map[string][]*File), spool: spool}
	text, files := lim.Text, 0
	fail := func(err error) (*Form, error) {
		form.Close()
		if guard.over {
			err = ErrTooLarge
		}
		return nil, err
	}
	for parts := 0; ; parts++ {
		guard.arm(lim.Header)
		p, err := mr.NextPart()
		guard.disarm()
		if err == io.EOF { // the closing boundary; a body cut short gives a wrapped EOF
			return form, nil
		}
		if err == nil && parts >= lim.Parts {
			err = ErrTooLarge
		}
		if err != nil {
			return fail(err)
		}
		name, fileName := p.FormName(), p.FileName()
		if text -= len(name) + len(fileName); text < 0 {
			return fail(ErrTooLarge)
		}
		if name == "" {
			if _, err := io.Copy(io.Discard, p); err != nil {
				return fail(err)
			}
			continue
		}
		if fileName == "" { // a text value, as mime/multipart's ReadForm decides
			b, err := io.ReadAll(io.LimitReader(p, int64(text)+1))
			if err == nil && len(b) > text {
				err = ErrTooLarge
			}
			if err != nil {
				return fail(err)
			}
			text -= len(b)
			form.Values[name] = append(form.Values[name], string(b))
			continue
		}
		if files++; files > lim.Files {
			return fail(ErrTooLarge)
		}
		file, err := spool.write(p, fileName, lim.File)
		if file != nil {
			form.all = append(form.all, file)
		}
		if err != nil {
			return fail(err)
		}
		form.Files[name] = append(form.Files[name], file)
	}
}

// write copies a file part into a new sealed temporary file, keeping at
// most max+1 bytes and dropping the rest of the part. An empty part makes
// no temporary file. The file (when not nil) holds its share of the
// budget, also when write fails.
func (s *Spool) write(part io.Reader, name string, max int64) (*File, error) {
	if s.used.Add(fileCost) > s.budget {
		s.used.Add(-fileCost)
		return nil, ErrBusy
	}
	file := &File{Name: name}
	br := bufio.NewReader(io.LimitReader(part, max+1))
	if _, err := br.Peek(1); err != nil {
		if err == io.EOF {
			err = nil
		}
		return file, err
	}
	f, err := os.CreateTemp(s.dir, "portal-upload-*")
	if err != nil {
		return file, fmt.Errorf("%w: %w", ErrSpool, err)
	}
	file.f = f
	// Unlinked at once: the open file is all there is, and it goes when
	// it is closed, or when the process dies.
	if err := os.Remove(f.Name()); err != nil {
		return file, fmt.Errorf("%w: %w", ErrSpool, err)
	}
	file.key, file.iv = make([]byte, 32), make([]byte, aes.BlockSize)
	_, _ = rand.Read(file.key)
	_, _ = rand.Read(file.iv)
	block, _ := aes.NewCipher(file.key)
	w := &budgeted{spool: s, file: file, w: cipher.StreamWriter{S: cipher.NewCTR(block, file.iv), W: f}}
	n, err := io.Copy(w, br)
	file.Size = n
	if err == nil {
		_, err = io.Copy(io.Discard, part)
	}
	return file, err
}

// budgeted counts what is written to a file against the spool's budget.
type budgeted struct {
	spool *Spool
	file  *File
	w     io.Writer
}

func (b *budgeted) Write(p []byte) (int, error) {
	if b.spool.used.Add(int64(len(p))) > b.spool.budget {
		b.spool.used.Add(-int64(len(p)))
		return 0, ErrBusy
	}
	b.file.stored += int64(len(p))
	n, err := b.w.Write(p)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrSpool, err)
	}
	return n, err
}

// headerGuard fails reads beyond a budget while armed: mime/multipart
// reads a part's headers (up to 10 MB) into memory, and a post must not
// hold more than a few kilobytes of them.
type headerGuard struct {
	r     io.Reader
	left  int
	armed bool
	over  bool
}

func (g *headerGuard) arm(n int) { g.left, g.armed = n, true }
func (g *headerGuard) disarm()   { g.armed = false }

func (g *headerGuard) Read(p []byte) (int, error) {
	if !g.armed {
		return g.r.Read(p)
	}
	if g.left <= 0 {
		g.over = true
		return 0, ErrTooLarge
	}
	if len(p) > g.left {
		p = p[:g.left]
	}
	n, err := g.r.Read(p)
	g.left -= n
	return n, err
}
