package scan

// The PDF check parses the file with pdfcpu and looks at every object in
// its cross-reference table, the objects inside object streams included.
// A parser, not a string search: names may be written with #-escapes
// (/J#61vaScript), and objects may sit compressed in object streams,
// where no string search sees them.

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

const (
	// pdfTimeout bounds parsing one PDF; an upload that takes longer is
	// pathological and refused as damaged.
	pdfTimeout = 5 * time.Second
	// pdfMaxNodes bounds the objects (dictionaries, arrays and their
	// entries) the walk visits in one file.
	pdfMaxNodes = 5_000_000
)

// pdfMemory estimates what parsing a PDF of n bytes takes: its objects
// in memory are several times the size of their text.
func pdfMemory(n int) int64 { return int64(n) * 16 }

// pdfConfig is pdfcpu's configuration for reading uploads: relaxed
// validation (what viewers open, the check opens), no network, and
// limits far below pdfcpu's defaults, sized for files of at most
// forms.MaxUploadMB. Built here rather than by
// model.NewDefaultConfiguration, which reads and writes a configuration
// directory in the user's home.
func pdfConfig() *model.Configuration {
	return &model.Configuration{
		Reader15:       true,
		ValidationMode: model.ValidationRelaxed,
		Eol:            types.EolLF,
		Offline:        true,
		Limits: model.ResourceLimits{
			MaxStreamBytes:       16 << 20,
			MaxDecodeBytes:       16 << 20, // an object stream or cross-reference stream, decompressed
			MaxImagePixels:       40 << 20,
			MaxImageBytes:        160 << 20,
			MaxObjectCount:       250_000, // each a table entry in memory
			MaxObjectStreamCount: 100_000,
			MaxObjectStreamFirst: 2 << 20,
			MaxXRefEntries:       250_000,
			MaxRecursionDepth:    100,
		},
	}
}

// checkPDF parses content and returns a *Finding when it must be
// refused.
func checkPDF(ctx context.Context, content []byte) error {
	return checkPDFWithin(ctx, content, pdfTimeout)
}

func checkPDFWithin(ctx context.Context, content []byte, timeout time.Duration) (err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		// A parser bug on a hostile file must refuse the file, not fail
		// the request.
		if r := recover(); r != nil {
			err = &Finding{Kind: Damaged, Detail: "parser panic"}
		}
	}()
	pc, err := pdfcpu.ReadWithContext(ctx, bytes.NewReader(content), pdfConfig())
	switch {
	case errors.Is(err, pdfcpu.ErrWrongPassword):
		return &Finding{Kind: Encrypted}
	case err != nil && ctx.Err() != nil:
		return &Finding{Kind: Damaged, Detail: "timeout"}
	case err != nil:
		// pdfcpu's message may quote the file's text: it is not logged.
		return &Finding{Kind: Damaged}
	}
	if f := walkPDF(ctx, pc); f != nil {
		return f
	}
	return nil
}

// walkPDF looks at every object of pc: the file's own objects by number,
// then those of each object stream by stream and index, so the same file
// always gets the same finding. pdfcpu decodes an object stream when one
// of its objects is first read, and keeps it; the walk lets go of each
// stream once its objects are read, so a file of many streams that each
// decompress to pdfcpu's limit (a decompression bomb) holds one stream in
// memory at a time, not all of them, until it runs out of time. What is
// found in one object (active content, an embedded file) tells the
// citizen more than another's being unreadable, so that comes last.
func walkPDF(ctx context.Context, pc *model.Context) *Finding {
	type ref struct{ stream, index, nr int }
	table := pc.XRefTable.Table
	refs := make([]ref, 0, len(table))
	for nr, e := range table {
		if e == nil || e.Free {
			continue
		}
		r := ref{stream: -1, nr: nr}
		if _, lazy := e.Object.(types.LazyObjectStreamObject); lazy && e.ObjectStream != nil && e.ObjectStreamInd != nil {
			r.stream, r.index = *e.ObjectStream, *e.ObjectStreamInd
		}
		refs = append(refs, r)
	}
	slices.SortFunc(refs, func(a, b ref) int {
		return cmp.Or(cmp.Compare(a.stream, b.stream), cmp.Compare(a.index, b.index), cmp.Compare(a.nr, b.nr))
	})
	w := pdfWalk{ctx: ctx}
	var unreadable *Finding
	release := func(stream int) {
		if e := table[stream]; stream >= 0 && e != nil {
			e.Object = nil
		}
	}
	for i, r := range refs {
		if i > 0 && refs[i-1].stream != r.stream {
			release(refs[i-1].stream)
		}
		e := table[r.nr]
		o := e.Object
		if o == nil && !e.Compressed && e.Offset != nil && *e.Offset > 0 && !parses(ctx, pc, r.nr, e) {
			// In relaxed mode pdfcpu skips an object it cannot parse; a
			// viewer may parse it all the same, so what it holds is
			// unknown.
			unreadable = &Finding{Kind: Damaged, Detail: "unreadable object"}
			continue
		}
		if l, ok := o.(types.LazyObjectStreamObject); ok {
			var err error
			if o, err = l.DecodedObject(ctx); err != nil {
				if ctx.Err() != nil {
					return &Finding{Kind: Damaged, Detail: "timeout"}
				}
				unreadable = &Finding{Kind: Damaged, Detail: "unreadable object"}
				continue
			}
			e.Object = nil // read once; the stream goes with its last object
		}
		if f := w.object(o, 0); f != nil {
			return f
		}
	}
	return unreadable
}

// parses reports whether object nr of an entry pdfcpu left empty parses
// after all (the object null), at its offset or where pdfcpu's repair
// moved the file's offsets.
func parses(ctx context.Context, pc *model.Context, nr int, e *model.XRefTableEntry) bool {
	gen := 0
	if e.Generation != nil {
		gen = *e.Generation
	}
	_, err := pdfcpu.ParseObjectWithContext(ctx, pc, *e.Offset, nr, gen)
	if err != nil && pc.Read.RepairOffset != 0 {
		_, err = pdfcpu.ParseObjectWithContext(ctx, pc, *e.Offset+pc.Read.RepairOffset, nr, gen)
	}
	return err == nil
}

// pdfWalk visits PDF objects, each indirect object once (the table is
// walked entry by entry; references are not followed).
type pdfWalk struct {
	ctx   context.Context
	nodes int
}

func (w *pdfWalk) object(o types.Object, depth int) *Finding {
	w.nodes++
	if w.nodes > pdfMaxNodes || depth > 200 {
		return &Finding{Kind: Damaged, Detail: "too many objects"}
	}
	if w.nodes%65536 == 0 && w.ctx.Err() != nil {
		return &Finding{Kind: Damaged, Detail: "timeout"}
	}
	switch o := o.(type) {
	case types.Dict:
		return w.dict(o, depth)
	case types.StreamDict:
		return w.dict(o.Dict, depth)
	case *types.StreamDict:
		return w.dict(o.Dict, depth)
	case types.ObjectStreamDict:
		return w.dict(o.Dict, depth)
	case *types.ObjectStreamDict:
		return w.dict(o.Dict, depth)
	case types.XRefStreamDict:
		return w.dict(o.Dict, depth)
	case *types.XRefStreamDict:
		return w.dict(o.Dict, depth)
	case types.Array:
		for _, v := range o {
			if f := w.object(v, depth+1); f != nil {
				return f
			}
		}
	}
	return nil
}

func (w *pdfWalk) dict(d types.Dict, depth int) *Finding {
	for k, v := range d {
		switch k {
		case "JS": // a JavaScript action's script, in any action dictionary
			return &Finding{Kind: Active, Detail: "JavaScript"}
		case "XFA": // an XFA form (in /AcroForm) carries its own scripts
			return &Finding{Kind: Active, Detail: "XFA"}
		case "EF": // a file specification with the file embedded
			return &Finding{Kind: Embedded, Detail: "EF"}
		case "S":
			// An action's type. Refused: code, and actions that open or
			// load other files. /URI links and /SubmitForm stay allowed:
			// forms of public bodies use them, and viewers ask before they
			// follow one.
			if n, ok := v.(types.Name); ok {
				switch n {
				case "JavaScript", "Launch", "ImportData", "GoToR":
					return &Finding{Kind: Active, Detail: string(n)}
				case "GoToE": // go to a document embedded in this one
					return &Finding{Kind: Embedded, Detail: string(n)}
				}
			}
		case "Type":
			if n, ok := v.(types.Name); ok && n == "EmbeddedFile" {
				return &Finding{Kind: Embedded, Detail: "EmbeddedFile"}
			}
		case "Subtype":
			if n, ok := v.(types.Name); ok {
				switch n {
				case "FileAttachment":
					return &Finding{Kind: Embedded, Detail: "FileAttachment"}
				case "RichMedia", "Flash":
					return &Finding{Kind: Active, Detail: string(n)}
				}
			}
		}
		if f := w.object(v, depth+1); f != nil {
			return f
		}
	}
	return nil
}
