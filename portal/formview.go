package portal

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/i18n"
)

// fieldView is one field of a step as templates/form_step.html renders it:
// everything localized and decided, so the template only lays it out.
type fieldView struct {
	Name         string // the input name
	ID           string // the element id; error summary links point here
	Type         string
	Label        string
	Help         string
	Legal        string
	Required     bool
	Recommended  bool
	Value        string
	Options      []optionView
	Error        string
	Warning      string
	Hidden       bool   // hidden until an answer on this page shows it (script or round trip)
	Condition    string // the condition as JSON, for the script
	Autocomplete string
	Inputmode    string
	MaxLength    int
	Postal       bool   // a postal code: a short input
	MinDate      string // date inputs: the earliest allowed day (ISO), for the picker
	MaxDate      string
	Accept       string // file inputs: media types
	Files        []fileView
	MaxFiles     int
	FreeFiles    int    // files that may still be added
	MaxBytes     int64  // per file
	TooMuch      string // what the script says when a choice exceeds the limits
	UploadHint   string
	Instances    []instanceView // groups
	Repeats      bool
	MinEntries   int
	MaxEntries   int
	CanAdd       bool
	AddLabel     string
}

// DescribedBy is the aria-describedby of the field's input.
func (f fieldView) DescribedBy() string {
	var ids []string
	if f.Help != "" {
		ids = append(ids, f.ID+"-hint")
	}
	if f.UploadHint != "" {
		ids = append(ids, f.ID+"-limits")
	}
	if f.Error != "" {
		ids = append(ids, f.ID+"-error")
	}
	if f.Warning != "" {
		ids = append(ids, f.ID+"-warning")
	}
	return strings.Join(ids, " ")
}

// Group reports whether the field is a group of questions.
func (f fieldView) Group() bool { return f.Type == forms.TypeGroup }

// Choice reports whether the field is a set of radios or checkboxes (a
// fieldset with a legend).
func (f fieldView) Choice() bool {
	return f.Type == forms.TypeRadio || f.Type == forms.TypeCheckboxes
}

type optionView struct {
	Value   string
	Label   string
	Help    string
	ID      string
	Checked bool
}

type fileView struct {
	ID     int64
	Name   string
	Size   string
	Remove string // the _action value that removes it
}

type instanceView struct {
	ID        string
	Legend    string
	Fields    []fieldView
	Remove    string // the _action value that removes the entry
	CanRemove bool   // false at the group's minimum (the button is hidden)
}

// instanceID is the element id of entry n of repeating group g.
func instanceID(group string, n int) string { return "f-" + group + "-" + strconv.Itoa(n) }

// elementID turns an input name into an element id.
func elementID(name string) string {
	return "f-" + strings.ReplaceAll(name, ".", "-")
}

// stepView builds the fields of step s from the answers, with issues and
// warnings beside their fields.
type stepBuilder struct {
	loc     *i18n.Localizer
	lang    string
	answers *forms.Answers
	errs    map[string]string
	warns   map[string]string
	today   string // ISO date in the offices' time zone
}

func (b *stepBuilder) fields(fds []*forms.Field, n int) []fieldView {
	var out []fieldView
	for _, fd := range fds {
		visible := b.answers.Visible(fd, n)
		live := visible || b.liveCondition(fd)
		if !live {
			continue
		}
		out = append(out, b.field(fd, n, !visible))
	}
	return out
}

// liveCondition reports whether every field fd's condition names is on this
// page, so the script (or a round trip) can show it: such a field is
// rendered hidden rather than left out.
func (b *stepBuilder) liveCondition(fd *forms.Field) bool {
	if fd.VisibleIf == nil {
		return false
	}
	ok := true
	var walk func(c *forms.Condition)
	walk = func(c *forms.Condition) {
		switch {
		case c.Not != nil:
			walk(c.Not)
		case c.All != nil || c.Any != nil:
			for _, sub := range append(c.All, c.Any...) {
				walk(sub)
			}
		default:
			ref, _ := fd.Step().Form().Field(c.Field)
			if ref == nil || ref.Step() != fd.Step() || (ref.VisibleIf != nil && !b.liveCondition(ref) && !b.answers.Visible(ref, 0)) {
				ok = false
			}
		}
	}
	walk(fd.VisibleIf)
	return ok && (fd.Parent() == nil || !fd.Parent().Repeats())
}

func (b *stepBuilder) field(fd *forms.Field, n int, hidden bool) fieldView {
	name := forms.Name(fd, n)
	v := fieldView{
		Name: name, ID: elementID(name), Type: fd.Type,
		Label: fd.Label.In(b.lang), Help: fd.Help.In(b.lang), Legal: fd.Legal.In(b.lang),
		Required: fd.Required, Recommended: fd.Recommended,
		Value: b.answers.Value(name), Error: b.errs[name], Warning: b.warns[name], Hidden: hidden,
		Autocomplete: fd.Autocomplete, Inputmode: fd.Inputmode, MaxLength: fd.Rules.MaxLength,
	}
	if fd.VisibleIf != nil && (hidden || b.liveCondition(fd)) {
		if j, err := json.Marshal(conditionJSON(fd.VisibleIf)); err == nil {
			v.Condition = string(j)
		}
	}
	if fd.Rules.PostalCode {
		v.Postal, v.Inputmode = true, "numeric"
	}
	if fd.Rules.NotFuture {
		v.MaxDate = b.today
	}
	if fd.Rules.NotPast {
		v.MinDate = b.today
	}
	switch fd.Type {
	case forms.TypeSelect, forms.TypeRadio, forms.TypeCheckboxes:
		chosen := make(map[string]bool)
		for _, x := range b.answers.Values[name] {
			chosen[x] = true
		}
		for i, o := range fd.Options {
			id := v.ID
			if fd.Type != forms.TypeSelect && i > 0 {
				id = v.ID + "-" + strconv.Itoa(i)
			}
			v.Options = append(v.Options, optionView{Value: o.Value, Label: o.Label.In(b.lang), Help: o.Help.In(b.lang), ID: id, Checked: chosen[o.Value]})
		}
	case forms.TypeFile:
		u := fd.Upload
		v.Accept = strings.Join(u.MediaTypes(), ",")
		v.MaxFiles = u.MaxFiles
		v.UploadHint = b.loc.TData("form.upload.limits", map[string]any{"Types": strings.ToUpper(strings.Join(u.Types, ", ")), "Size": u.MaxSizeMB, "Count": u.MaxFiles})
		for _, f := range b.answers.Files[fd.ID] {
			v.Files = append(v.Files, fileView{ID: f.ID, Name: f.Name, Size: humanSize(f.Size), Remove: "remove-file:" + fd.ID + ":" + strconv.FormatInt(f.ID, 10)})
		}
		v.MaxBytes = u.MaxBytes()
		v.FreeFiles = max(u.MaxFiles-len(v.Files), 0)
		v.TooMuch = b.loc.TData("form.upload.too_much", map[string]any{"Count": v.FreeFiles, "Size": u.MaxSizeMB})
	case forms.TypeGroup:
		count := 1
		if fd.Repeats() {
			count = b.answers.Count(fd)
			v.Repeats, v.MinEntries, v.MaxEntries = true, max(fd.Repeat.Min, 1), fd.Repeat.Max
			v.CanAdd = count < fd.Repeat.Max
			v.AddLabel = b.loc.TData("form.group.add", map[string]any{"Label": v.Label})
		}
		for i := 0; i < count; i++ {
			inst := instanceView{ID: instanceID(fd.ID, i), Legend: v.Label, Fields: b.fields(fd.Fields, i)}
			if fd.Repeats() {
				inst.Legend = v.Label + " " + strconv.Itoa(i+1)
				inst.Remove = "remove:" + fd.ID + ":" + strconv.Itoa(i)
				inst.CanRemove = count > v.MinEntries
			}
			v.Instances = append(v.Instances, inst)
		}
	}
	return v
}

// conditionJSON is the shape static/form.js evaluates.
func conditionJSON(c *forms.Condition) map[string]any {
	switch {
	case c.Not != nil:
		return map[string]any{"not": conditionJSON(c.Not)}
	case c.All != nil || c.Any != nil:
		key, list := "all", c.All
		if c.Any != nil {
			key, list = "any", c.Any
		}
		subs := make([]any, len(list))
		for i, sub := range list {
			subs[i] = conditionJSON(sub)
		}
		return map[string]any{key: subs}
	}
	values := c.In
	if c.Equals != nil {
		values = []string{*c.Equals}
	}
	return map[string]any{"field": c.Field, "in": values}
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	case n >= 1<<10:
		return strconv.FormatInt(n>>10, 10) + " KB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// issueText localizes a validation issue, naming the field, and in a
// repeating group its entry ("Reiseziel 2: Land").
func issueText(loc *i18n.Localizer, lang string, is forms.Issue) string {
	label := is.Field.Label.In(lang)
	if g := is.Field.Parent(); g != nil && g.Repeats() {
		if parts := strings.Split(is.Name, "."); len(parts) == 3 {
			if n, err := strconv.Atoi(parts[1]); err == nil {
				label = g.Label.In(lang) + " " + strconv.Itoa(n+1) + ": " + label
			}
		}
	}
	if is.Code == forms.CodePattern {
		return label + ": " + is.Field.Rules.PatternMessage.In(lang)
	}
	data := map[string]any{"Label": label}
	for k, v := range is.Args {
		data[k] = v
	}
	return loc.TData(is.Code, data)
}
