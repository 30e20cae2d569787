package portal

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/inbox"
	"github.com/gesundheitsamt/portal/internal/store"
)

// exportTimeout bounds one export: a million cases stream in well under it.
const exportTimeout = 15 * time.Minute

// exportCases answers POST /staff/export: the cases of the inbox's filter
// (and search) as CSV or JSON, streamed row by row. Answers marked
// confidential: medical are left out unless the reader is a physician.
// The export is recorded in the audit log before the first byte.
func (s *Server) exportCases(c *fiber.Ctx) error {
	st := staffOf(c)
	f := readFilter(func(k string) string { return c.FormValue(k) })
	var columns []exportColumn
	if svc, ok := s.serviceForm(c, f.Service); ok {
		columns = exportColumns(svc)
	}
	return s.streamExport(c, f.caseFilter(st, s.loc), c.FormValue("format"), columns, domain.CaseExport, "vorgaenge")
}

// streamExport answers with the cases cf selects as format (csv or json;
// anything else is 404), with the answer columns of a CSV, in a file
// named name plus the time. It records action.<format> in the audit log
// before the first byte. Answers marked confidential: medical are left
// out unless the reader is a physician.
func (s *Server) streamExport(c *fiber.Ctx, cf store.CaseFilter, format string, columns []exportColumn, action domain.Action, name string) error {
	if format != "csv" && format != "json" {
		return fiber.ErrNotFound
	}
	export, err := s.inbox.StartExport(c.UserContext(), staffAccess(c), action, format)
	if err != nil {
		return err
	}
	l := s.localizerFor(c)
	x := &exporter{s: s, export: export, l: l, columns: columns}
	name += "-" + time.Now().In(s.loc).Format("2006-01-02-1504") + "." + format
	if format == "csv" {
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	} else {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	}
	c.Set(fiber.HeaderContentDisposition, contentDisposition(name))
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	rid := requestIDOf(c)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		// The handler has returned by now: the export has its own context.
		ctx, cancel := context.WithTimeout(context.Background(), exportTimeout)
		defer cancel()
		var err error
		if format == "csv" {
			err = x.csv(ctx, w, cf)
		} else {
			err = x.json(ctx, w, cf)
		}
		if err != nil {
			// The status line is gone; the file ends early and the log says why.
			s.log.Error("export failed", "request_id", rid, "err", err)
		}
	})
	return nil
}

// serviceForm returns the current form of service slug, if any.
func (s *Server) serviceForm(c *fiber.Ctx, slug string) (*forms.Form, bool) {
	if slug == "" {
		return nil, false
	}
	snap, err := s.dir.Snapshot(c.UserContext())
	if err != nil {
		return nil, false
	}
	svc, ok := snap.Service(slug)
	if !ok {
		return nil, false
	}
	return s.forms.Form(svc.FormRef)
}

// exportColumn is an answer column of a CSV export: a field of the
// service's current form, matched by id in each case's own form.
type exportColumn struct {
	ID, Label string
}

func exportColumns(f *forms.Form) []exportColumn {
	var out []exportColumn
	add := func(fd *forms.Field) {
		if fd.HasValue() || fd.Type == forms.TypeFile {
			out = append(out, exportColumn{ID: fd.ID, Label: fd.Label.In("de")})
		}
	}
	for _, s := range f.Steps {
		for _, fd := range s.Fields {
			if fd.Type == forms.TypeGroup {
				for _, child := range fd.Fields {
					add(child)
				}
				continue
			}
			add(fd)
		}
	}
	return out
}

// exporter writes the cases of an export (inbox.Export), which withholds
// what the reader may not read, as CSV or JSON.
type exporter struct {
	s       *Server
	export  *inbox.Export
	l       *i18n.Localizer
	columns []exportColumn
}

func (x *exporter) csv(ctx context.Context, w *bufio.Writer, cf store.CaseFilter) error {
	// German spreadsheets read a semicolon-separated file with a byte
	// order mark as UTF-8 columns; without them umlauts break.
	if _, err := w.WriteString("\ufeff"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.Comma = ';'
	head := []string{
		x.l.T("staff.export.reference"), x.l.T("receipt.service"), x.l.T("status.current"), x.l.T("receipt.submitted_at"),
		x.l.T("staff.export.updated"), x.l.T("staff.inbox.assignee"), x.l.T("staff.inbox.applicant"),
	}
	for _, col := range x.columns {
		head = append(head, col.Label)
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	withheld := x.l.T("staff.export.withheld")
	words := x.s.words(x.l)
	n := 0
	err := x.export.Each(ctx, cf, func(e inbox.Exported) error {
		r := e.Row
		rec := []string{
			r.Reference, serviceOf(x.l, r.ServiceSlug, "").Title, statusText(x.l, r.Status),
			r.SubmittedAt.In(x.s.loc).Format(time.RFC3339), r.UpdatedAt.In(x.s.loc).Format(time.RFC3339),
			r.AssigneeName, r.Applicant,
		}
		if len(x.columns) > 0 {
			values := map[string][]string{}
			for _, sec := range e.Summary("de", words, withheld) {
				for _, it := range sec.Items {
					switch {
					case it.Withheld:
						values[it.FieldID] = []string{withheld}
					case it.Empty:
					default:
						values[it.FieldID] = append(values[it.FieldID], it.Value)
					}
				}
			}
			for _, col := range x.columns {
				rec = append(rec, strings.Join(values[col.ID], "\n"))
			}
		}
		for i := range rec {
			rec[i] = neutraliseCell(rec[i])
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
		if n++; n%256 == 0 {
			cw.Flush()
			return cw.Error()
		}
		return nil
	})
	cw.Flush()
	if err != nil {
		return err
	}
	if err := cw.Error(); err != nil {
		return err
	}
	return w.Flush()
}

// neutraliseCell keeps a spreadsheet from running a cell as a formula
// (CSV injection): a cell starting with = + - @, a tab or a carriage
// return gets a leading apostrophe, which spreadsheets show as text.
func neutraliseCell(v string) string {
	if v == "" {
		return v
	}
	switch v[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + v
	}
	return v
}

// exportCase is one case of a JSON export.
type exportCase struct {
	Reference   string         `json:"reference"`
	Service     string         `json:"service"`
	Status      domain.Status  `json:"status"`
	SubmittedAt time.Time      `json:"submitted_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	Assignee    string         `json:"assignee,omitempty"`
	Applicant   string         `json:"applicant"`
	Form        exportForm     `json:"form"`
	Answers     map[string]any `json:"answers"`
	Withheld    []string       `json:"withheld,omitempty"` // fields left out: confidential, for physicians only
}

type exportForm struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	Hash    string `json:"hash"`
}

func (x *exporter) json(ctx context.Context, w *bufio.Writer, cf store.CaseFilter) error {
	if _, err := w.WriteString(`{"exported_at":"` + time.Now().In(x.s.loc).Format(time.RFC3339) + `","cases":[`); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	first := true
	err := x.export.Each(ctx, cf, func(e inbox.Exported) error {
		r, f := e.Row, e.Form()
		answers, left := e.Record()
		if !first {
			if err := w.WriteByte(','); err != nil {
				return err
			}
		}
		first = false
		return enc.Encode(exportCase{
			Reference: r.Reference, Service: r.ServiceSlug, Status: r.Status, SubmittedAt: r.SubmittedAt.In(x.s.loc),
			UpdatedAt: r.UpdatedAt.In(x.s.loc), Assignee: r.AssigneeName, Applicant: r.Applicant,
			Form: exportForm{ID: f.ID, Version: f.Version, Hash: e.FormHash}, Answers: answers, Withheld: left,
		})
	})
	if err != nil {
		return err
	}
	if _, err := w.WriteString("]}\n"); err != nil {
		return err
	}
	return w.Flush()
}
