package forms

import (
	"strconv"
	"strings"
)

// Record is what a submission stores: the visible answers by field id.
// Values are strings, lists of strings (checkboxes), true (a ticked
// checkbox), lists of file metadata, or, for a repeating group, a list of
// such maps. Hidden and empty fields are left out.
type Record map[string]any

// BuildRecord returns the record of the answers: only what the citizen was
// asked, nothing a tampered post added.
func BuildRecord(f *Form, a *Answers) Record {
	r := make(Record)
	for _, s := range f.Steps {
		for _, fd := range s.Fields {
			if !a.Visible(fd, 0) {
				continue
			}
			if fd.Type != TypeGroup {
				putValue(r, fd, 0, a)
				continue
			}
			if !fd.Repeats() {
				for _, child := range fd.Fields {
					if a.Visible(child, 0) {
						putValue(r, child, 0, a)
					}
				}
				continue
			}
			var items []Record
			for i := 0; i < a.Count(fd); i++ {
				item := make(Record)
				for _, child := range fd.Fields {
					if a.Visible(child, i) {
						putValue(item, child, i, a)
					}
				}
				if len(item) > 0 {
					items = append(items, item)
				}
			}
			if len(items) > 0 {
				r[fd.ID] = items
			}
		}
	}
	return r
}

func putValue(r Record, fd *Field, n int, a *Answers) {
	switch {
	case fd.Type == TypeFile:
		if files := a.Files[fd.ID]; len(files) > 0 {
			r[fd.ID] = files
		}
	case !fd.HasValue():
	case fd.Multiple():
		if vs := a.Values[Name(fd, n)]; len(vs) > 0 {
			r[fd.ID] = vs
		}
	case fd.Type == TypeCheckbox:
		if a.Value(Name(fd, n)) == CheckboxOn {
			r[fd.ID] = true
		}
	default:
		if v := a.Value(Name(fd, n)); v != "" {
			r[fd.ID] = v
		}
	}
}

// FileIDs returns the ids of the files the record holds: the uploads of
// questions still shown.
func (r Record) FileIDs() []int64 {
	var ids []int64
	for _, v := range r {
		if files, ok := v.([]File); ok {
			for _, f := range files {
				ids = append(ids, f.ID)
			}
		}
	}
	return ids
}

// Section is one step's answers as people read them: on the check page, in
// the receipt and in the back office.
type Section struct {
	Step  *Step
	Title string
	Items []Item
}

// Item is one answer as text.
type Item struct {
	FieldID      string
	Name         string // input name: the anchor of the change link
	Label        string
	Value        string // several values on several lines
	Confidential bool
	Empty        bool // not answered
	// Withheld: answered, but not for this reader (confidential); Value
	// says so instead of the answer. Summarize never sets it: the case
	// service does.
	Withheld bool
}

// Words are the few words Summarize needs that are not in the definition.
type Words struct {
	Yes, NotAnswered string
}

// Summarize returns the visible answers per step in lang, in form order.
// Options show their labels, dates read 31.12.2000 in German.
func Summarize(f *Form, a *Answers, lang string, w Words) []Section {
	out := make([]Section, 0, len(f.Steps))
	for _, s := range f.Steps {
		sec := Section{Step: s, Title: s.Title.In(lang)}
		for _, fd := range s.Fields {
			if !a.Visible(fd, 0) {
				continue
			}
			switch {
			case fd.Type == TypeGroup && fd.Repeats():
				for i := 0; i < a.Count(fd); i++ {
					for _, child := range fd.Fields {
						if a.Visible(child, i) {
							it := item(child, i, a, lang, w)
							it.Label = fd.Label.In(lang) + " " + strconv.Itoa(i+1) + ": " + it.Label
							sec.Items = append(sec.Items, it)
						}
					}
				}
			case fd.Type == TypeGroup:
				for _, child := range fd.Fields {
					if a.Visible(child, 0) {
						sec.Items = append(sec.Items, item(child, 0, a, lang, w))
					}
				}
			case fd.Type == TypeInfo:
			default:
				sec.Items = append(sec.Items, item(fd, 0, a, lang, w))
			}
		}
		out = append(out, sec)
	}
	return out
}

func item(fd *Field, n int, a *Answers, lang string, w Words) Item {
	it := Item{FieldID: fd.ID, Name: Name(fd, n), Label: fd.Label.In(lang), Confidential: fd.Confidential == ConfidentialMedical}
	var lines []string
	switch {
	case fd.Type == TypeFile:
		for _, file := range a.Files[fd.ID] {
			lines = append(lines, file.Name)
		}
	case fd.Type == TypeCheckbox:
		if a.Value(it.Name) == CheckboxOn {
			lines = append(lines, w.Yes)
		}
	case fd.options != nil:
		for _, v := range a.Values[it.Name] {
			if o, ok := fd.options[v]; ok {
				lines = append(lines, o.Label.In(lang))
			}
		}
	case fd.Type == TypeDate:
		if v := a.Value(it.Name); v != "" {
			lines = append(lines, FormatDate(v, lang))
		}
	default:
		lines = append(lines, a.Values[it.Name]...)
	}
	it.Value = strings.Join(lines, "\n")
	if it.Value == "" {
		it.Value, it.Empty = w.NotAnswered, true
	}
	return it
}

// FormatDate shows an ISO date (2000-12-31) the German way (31.12.2000)
// for German and English readers alike (an English page about a German
// office uses the German format, unambiguously with four-digit years). An
// invalid date is returned as it is.
func FormatDate(iso, lang string) string {
	if len(iso) != 10 || iso[4] != '-' || iso[7] != '-' {
		return iso
	}
	return iso[8:10] + "." + iso[5:7] + "." + iso[0:4]
}

// AnswersFromRecord rebuilds answers from a stored record (as decoded from
// its JSON), so a submission can be shown with Summarize. Unknown keys are
// ignored: a record is always read with the form it was made with.
func AnswersFromRecord(f *Form, r map[string]any) *Answers {
	a := NewAnswers()
	var put func(fd *Field, n int, v any)
	put = func(fd *Field, n int, v any) {
		name := Name(fd, n)
		switch v := v.(type) {
		case string:
			a.Values[name] = []string{v}
		case bool:
			if v {
				a.Values[name] = []string{CheckboxOn}
			}
		case []any:
			switch {
			case fd.Type == TypeFile:
				for _, x := range v {
					if m, ok := x.(map[string]any); ok {
						file := File{}
						file.Name, _ = m["name"].(string)
						file.MediaType, _ = m["media_type"].(string)
						file.SHA256, _ = m["sha256"].(string)
						if size, ok := m["size"].(float64); ok {
							file.Size = int64(size)
						}
						if id, ok := m["id"].(float64); ok {
							file.ID = int64(id)
						}
						a.Files[fd.ID] = append(a.Files[fd.ID], file)
					}
				}
			case fd.Repeats():
				a.Counts[fd.ID] = len(v)
				for i, x := range v {
					m, _ := x.(map[string]any)
					for _, child := range fd.Fields {
						if cv, ok := m[child.ID]; ok {
							put(child, i, cv)
						}
					}
				}
			default:
				for _, x := range v {
					if s, ok := x.(string); ok {
						a.Values[name] = append(a.Values[name], s)
					}
				}
			}
		}
	}
	for id, v := range r {
		if fd, ok := f.fields[id]; ok && (fd.parent == nil || !fd.parent.Repeats()) {
			put(fd, 0, v)
		}
	}
	return a
}
