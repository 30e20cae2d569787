package scan

// The PDF check parses the file with pdfcpu and looks at every object in
// its cross-reference table, the objects inside object streams included.
// A parser, not a string search: names may be written with #-escapes
// (/J#61vaScript), and objects may sit compressed in object streams,
// where no string search sees them.

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

const (
	// pdfTimeout bounds parsing one PDF; an upload that takes longer is
	// pathological and refused as damaged.
	pdfTimeout = 10 * time.Second
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
			MaxStreamBytes:       32 << 20,
			MaxDecodeBytes:       32 << 20, // an object stream decompressed
			MaxImagePixels:       40 << 20,
			MaxImageBytes:        160 << 20,
			MaxObjectCount:       1_000_000,
			MaxObjectStreamCount: 100_000,
			MaxObjectStreamFirst: 4 << 20,
			MaxXRefEntries:       1_000_000,
			MaxRecursionDepth:    100,
		},
	}
}

// checkPDF parses content and returns a *Finding when it must be
// refused.
func checkPDF(ctx context.Context, content []byte) (err error) {
	ctx, cancel := context.WithTimeout(ctx, pdfTimeout)
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
	// Every object, in order, so the same file always gets the same
	// finding; what is found in one object (active content, an embedded
	// file) tells the citizen more than another's being unreadable.
	nrs := slices.Sorted(maps.Keys(pc.XRefTable.Table))
	w := pdfWalk{ctx: ctx}
	var unreadable *Finding
	for _, nr := range nrs {
		e := pc.XRefTable.Table[nr]
		if e == nil || e.Free {
			continue
		}
		o := e.Object
		if o == nil && !e.Compressed && e.Offset != nil && *e.Offset > 0 && !parses(ctx, pc, nr, e) {
			// In relaxed mode pdfcpu skips an object it cannot parse; a
			// viewer may parse it all the same, so what it holds is
			// unknown.
			unreadable = &Finding{Kind: Damaged, Detail: "unreadable object"}
			continue
		}
		if l, ok := o.(types.LazyObjectStreamObject); ok {
			if o, err = l.DecodedObject(ctx); err != nil {
				unreadable = &Finding{Kind: Damaged, Detail: "unreadable object"}
				continue
			}
		}
		if f := w.object(o, 0); f != nil {
			return f
		}
	}
	if unreadable != nil {
		return unreadable
	}
	return nil
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
