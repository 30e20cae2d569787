package forms

import (
	"regexp"
)

// The field types of the form definition format.
const (
	TypeText       = "text"
	TypeTextarea   = "textarea"
	TypeEmail      = "email"
	TypeTel        = "tel"
	TypeNumber     = "number"
	TypeDate       = "date"
	TypeSelect     = "select"
	TypeRadio      = "radio"
	TypeCheckbox   = "checkbox"   // one box; its value is CheckboxOn when ticked
	TypeCheckboxes = "checkboxes" // several boxes, several values
	TypeFile       = "file"
	TypeInfo       = "info"  // text only, no input
	TypeGroup      = "group" // a fieldset of fields, optionally repeated
)

// CheckboxOn is the value a ticked single checkbox posts.
const CheckboxOn = "ja"

// ConfidentialMedical marks an answer only physicians may read.
const ConfidentialMedical = "medical"

// Languages every text of a definition must have: German is the source
// language, English sits beside it.
var requiredLangs = [...]string{"de", "en"}

// Text is a text in several languages, keyed by language code.
type Text map[string]string

// In returns the text in lang, falling back to German. An empty Text gives
// "".
func (t Text) In(lang string) string {
	if s, ok := t[lang]; ok && s != "" {
		return s
	}
	return t["de"]
}

// Form is one loaded, checked form definition. It is immutable after Load
// and safe for concurrent use.
type Form struct {
	ID          string `yaml:"id"`
	Version     int    `yaml:"version"`
	Title       Text   `yaml:"title"`
	Description Text   `yaml:"description"`
	LegalBasis  Text   `yaml:"legal_basis"`
	// Retention is how long a closed case of this form is kept by
	// default. Load requires it; a definition kept with an old submission
	// may predate it.
	Retention *Retention `yaml:"retention"`
	Steps     []*Step    `yaml:"steps"`

	// Hash is the hex SHA-256 of the definition file. Every submission
	// records it, so the back office can show the form exactly as it was.
	Hash string `yaml:"-"`
	// Source is the definition file as loaded.
	Source []byte `yaml:"-"`
	// File is where the definition came from, for messages.
	File string `yaml:"-"`

	fields map[string]*Field // every field by id, group children included
}

// Retention is a retention period: how long a case is kept after it was
// closed (abgeschlossen or abgelehnt), in years and months. It is the
// form's default; each office sets its own per service to follow its
// filing rules (Aktenordnung).
type Retention struct {
	Years  int `yaml:"years"`
	Months int `yaml:"months"`
}

// TotalMonths returns the period in months.
func (r Retention) TotalMonths() int { return r.Years*12 + r.Months }

// The bounds of a retention period, for definitions and offices alike:
// at least a month (the office must be able to see and export a case
// before it goes), at most 30 years.
const (
	MinRetentionMonths = 1
	MaxRetentionMonths = 30 * 12
)

// Step is one page of a form.
type Step struct {
	ID     string   `yaml:"id"`
	Title  Text     `yaml:"title"`
	Intro  Text     `yaml:"intro"`
	Fields []*Field `yaml:"fields"`

	form      *Form
	index     int
	multipart bool // the step has a file field
}

// Form returns the form the step belongs to.
func (s *Step) Form() *Form { return s.form }

// Index returns the step's position, counted from 0.
func (s *Step) Index() int { return s.index }

// Multipart reports whether the step uploads files.
func (s *Step) Multipart() bool { return s.multipart }

// Field is one question (or a group of questions, or a text) of a step.
type Field struct {
	ID           string     `yaml:"id"`
	Type         string     `yaml:"type"`
	Label        Text       `yaml:"label"`
	Help         Text       `yaml:"help"`
	Required     bool       `yaml:"required"`
	Recommended  bool       `yaml:"recommended"` // soft-required: warns once, lets the citizen go on
	Rules        Rules      `yaml:"rules"`
	Options      []Option   `yaml:"options"`
	VisibleIf    *Condition `yaml:"visible_if"`
	Legal        Text       `yaml:"legal"`        // the legal reference behind the question
	Confidential string     `yaml:"confidential"` // "medical" or empty
	Autocomplete string     `yaml:"autocomplete"`
	Inputmode    string     `yaml:"inputmode"`
	Upload       *Upload    `yaml:"upload"`
	Fields       []*Field   `yaml:"fields"` // group only
	Repeat       *Repeat    `yaml:"repeat"` // group only

	step    *Step
	parent  *Field // the group a field belongs to, nil at step level
	tag     string // go-playground/validator rule string of the value
	pattern *regexp.Regexp
	options map[string]*Option
}

// Step returns the step the field belongs to.
func (f *Field) Step() *Step { return f.step }

// Parent returns the group the field belongs to, or nil.
func (f *Field) Parent() *Field { return f.parent }

// HasValue reports whether the field takes an answer (not an info text, a
// group or a file).
func (f *Field) HasValue() bool {
	switch f.Type {
	case TypeInfo, TypeGroup, TypeFile:
		return false
	}
	return true
}

// Multiple reports whether the field takes several values.
func (f *Field) Multiple() bool { return f.Type == TypeCheckboxes }

// Repeats reports whether the field is a group that can occur more than
// once.
func (f *Field) Repeats() bool { return f.Type == TypeGroup && f.Repeat != nil }

// Rules are the checks of a value beyond its type.
type Rules struct {
	MinLength      int      `yaml:"min_length"`
	MaxLength      int      `yaml:"max_length"`
	Pattern        string   `yaml:"pattern"`
	PatternMessage Text     `yaml:"pattern_message"`
	PersonName     bool     `yaml:"person_name"` // DIN 91379 characters only
	PostalCode     bool     `yaml:"postal_code"` // German, five digits
	Min            *float64 `yaml:"min"`
	Max            *float64 `yaml:"max"`
	Integer        bool     `yaml:"integer"`
	NotFuture      bool     `yaml:"not_future"` // dates: today or earlier
	NotPast        bool     `yaml:"not_past"`   // dates: today or later
	MinSelected    int      `yaml:"min_selected"`
	MaxSelected    int      `yaml:"max_selected"`
}

// Option is one entry of a code list.
type Option struct {
	Value string `yaml:"value"`
	Label Text   `yaml:"label"`
	Help  Text   `yaml:"help"`
}

// Condition decides whether a field is shown. Exactly one form is used:
// Field with Equals or In, Not, All or Any. A field that is hidden counts as
// unanswered in the conditions of other fields.
type Condition struct {
	Field  string       `yaml:"field"`
	Equals *string      `yaml:"equals"`
	In     []string     `yaml:"in"`
	Not    *Condition   `yaml:"not"`
	All    []*Condition `yaml:"all"`
	Any    []*Condition `yaml:"any"`
}

// Upload limits the files of a file field.
type Upload struct {
	MaxSizeMB int      `yaml:"max_size_mb"`
	MaxFiles  int      `yaml:"max_files"`
	Types     []string `yaml:"types"` // pdf, jpeg, png
}

// MaxBytes returns the largest file the field takes.
func (u *Upload) MaxBytes() int64 { return int64(u.MaxSizeMB) << 20 }

// MediaTypes returns the media types the field takes.
func (u *Upload) MediaTypes() []string {
	out := make([]string, len(u.Types))
	for i, t := range u.Types {
		out[i] = uploadTypes[t]
	}
	return out
}

// Repeat says how often a group occurs.
type Repeat struct {
	Min int `yaml:"min"`
	Max int `yaml:"max"`
}

// uploadTypes maps the short names of definitions to media types.
var uploadTypes = map[string]string{
	"pdf":  "application/pdf",
	"jpeg": "image/jpeg",
	"png":  "image/png",
}

// MaxUploadMB is the largest file any field may take, and MaxStepUploadMB
// the most a step's file fields may take together (max_files × max_size_mb):
// one post carries them all.
const (
	MaxUploadMB     = 10
	MaxStepUploadMB = 30
)

// UploadBytes returns the most the step's uploads may take in one post.
func (s *Step) UploadBytes() int64 {
	var n int64
	for _, fd := range s.Fields {
		if fd != nil && fd.Upload != nil {
			n += int64(fd.Upload.MaxFiles) * fd.Upload.MaxBytes()
		}
	}
	return n
}

// MaxUploadBytes returns the most any step of any form takes in one post.
func (s *Set) MaxUploadBytes() int64 {
	var n int64
	for _, f := range s.forms {
		for _, st := range f.Steps {
			n = max(n, st.UploadBytes())
		}
	}
	return n
}

// MaxStepFiles returns the most files any step of any form takes in one
// post (max_files over the step's file fields).
func (s *Set) MaxStepFiles() int {
	n := 0
	for _, f := range s.forms {
		for _, st := range f.Steps {
			files := 0
			for _, fd := range st.Fields {
				if fd != nil && fd.Upload != nil {
					files += fd.Upload.MaxFiles
				}
			}
			n = max(n, files)
		}
	}
	return n
}

// Field returns the field with id, anywhere in the form.
func (f *Form) Field(id string) (*Field, bool) {
	fd, ok := f.fields[id]
	return fd, ok
}

// Step returns the step with id.
func (f *Form) Step(id string) (*Step, bool) {
	for _, s := range f.Steps {
		if s.ID == id {
			return s, true
		}
	}
	return nil, false
}
