package forms

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Answers are a citizen's answers to one form, as kept in a draft. Values
// are keyed by input name: the field id, or "group.N.field" for the fields
// of the Nth instance (from 0) of a repeating group.
type Answers struct {
	Values map[string][]string `json:"values"`
	Counts map[string]int      `json:"counts,omitempty"` // instances of each repeating group
	Files  map[string][]File   `json:"-"`                // uploads by file field id, kept with the files themselves
	Done   []string            `json:"done,omitempty"`   // ids of the steps passed with Next
}

// File is an uploaded file's metadata; the content is kept elsewhere,
// encrypted.
type File struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	MediaType string `json:"media_type"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
}

// NewAnswers returns empty answers.
func NewAnswers() *Answers {
	return &Answers{Values: make(map[string][]string), Counts: make(map[string]int), Files: make(map[string][]File)}
}

// Name returns the input name of field fd in instance n of its group (n is
// ignored outside repeating groups).
func Name(fd *Field, n int) string {
	if fd.parent != nil && fd.parent.Repeats() {
		return fd.parent.ID + "." + strconv.Itoa(n) + "." + fd.ID
	}
	return fd.ID
}

// Value returns the first value of the input name.
func (a *Answers) Value(name string) string {
	if v := a.Values[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Count returns how many instances of repeating group g the answers hold:
// at least the group's minimum and at least one.
func (a *Answers) Count(g *Field) int {
	n := a.Counts[g.ID]
	if min := max(g.Repeat.Min, 1); n < min {
		n = min
	}
	return min(n, g.Repeat.Max)
}

// StepDone reports whether the step was passed with Next.
func (a *Answers) StepDone(id string) bool {
	for _, d := range a.Done {
		if d == id {
			return true
		}
	}
	return false
}

// MarkDone records that the step was passed.
func (a *Answers) MarkDone(id string) {
	if !a.StepDone(id) {
		a.Done = append(a.Done, id)
	}
}

// Decode copies the step's posted values into the answers, cleaned:
// Unicode NFC, control characters dropped, surrounding spaces trimmed,
// dates typed as 31.12.2000 turned into 2000-12-31. Inputs the step does not
// have are ignored. get returns the posted values of an input name.
func (a *Answers) Decode(s *Step, get func(name string) []string) {
	a.DecodeCounts(s, get)
	for _, fd := range s.Fields {
		if fd.Type != TypeGroup {
			a.decodeField(fd, 0, get)
			continue
		}
		for i := range a.Entries(fd) {
			for _, child := range fd.Fields {
				a.decodeField(child, i, get)
			}
		}
	}
}

func (a *Answers) decodeField(fd *Field, n int, get func(string) []string) {
	if !fd.HasValue() {
		return
	}
	name := Name(fd, n)
	raw := get(name)
	if fd.Multiple() {
		var vs []string
		for _, v := range raw {
			if v = clean(v, false); v != "" && len(vs) < len(fd.Options) {
				vs = append(vs, v)
			}
		}
		a.set(name, vs)
		return
	}
	v := ""
	if len(raw) > 0 {
		v = clean(raw[0], fd.Type == TypeTextarea)
	}
	switch fd.Type {
	case TypeDate:
		v = normalizeDate(v)
	case TypeNumber:
		v = strings.ReplaceAll(v, " ", "")
	case TypeText:
		if fd.Rules.PostalCode {
			v = strings.ReplaceAll(v, " ", "")
		}
	}
	if v == "" {
		a.set(name, nil)
		return
	}
	a.set(name, []string{v})
}

// DecodeCounts takes the number of entries of the step's repeating groups
// from the post: the page says how many it showed (the script may have
// added some), and within the group's bounds that is the truth.
func (a *Answers) DecodeCounts(s *Step, get func(name string) []string) {
	for _, fd := range s.Fields {
		if fd.Repeats() {
			if posted, err := strconv.Atoi(firstOf(get(fd.ID + "._n"))); err == nil {
				a.Counts[fd.ID] = min(max(posted, fd.Repeat.Min, 1), fd.Repeat.Max)
			}
		}
	}
}

func firstOf(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func (a *Answers) set(name string, vs []string) {
	if len(vs) == 0 {
		delete(a.Values, name)
		return
	}
	a.Values[name] = vs
}

// Entries returns how many times group g is shown: its count when it
// repeats, else once.
func (a *Answers) Entries(g *Field) int {
	if g.Repeats() {
		return a.Count(g)
	}
	return 1
}

// AddInstance adds an instance to repeating group g, up to its maximum. It
// reports whether one was added.
func (a *Answers) AddInstance(g *Field) bool {
	n := a.Count(g)
	if n >= g.Repeat.Max {
		return false
	}
	a.Counts[g.ID] = n + 1
	return true
}

// RemoveInstance removes instance i of repeating group g, moving the later
// instances up, down to the group's minimum (and at least one).
func (a *Answers) RemoveInstance(g *Field, i int) bool {
	n := a.Count(g)
	if i < 0 || i >= n || n <= max(g.Repeat.Min, 1) {
		return false
	}
	for j := i; j < n; j++ {
		for _, child := range g.Fields {
			a.set(Name(child, j), a.Values[Name(child, j+1)])
		}
	}
	a.Counts[g.ID] = n - 1
	return true
}

// maxValueBytes bounds what a draft keeps of one value, whatever the
// body limit of the route.
const maxValueBytes = 32 << 10

// clean normalises one posted value. Newlines survive only in multi-line
// text.
func clean(v string, multiline bool) string {
	if len(v) > maxValueBytes { // far beyond any max_length: validation still says so
		v = v[:maxValueBytes]
	}
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "")
	}
	v = strings.ReplaceAll(v, "\r\n", "\n")
	v = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' && multiline:
			return r
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r), r == '\u2028', r == '\u2029', r == '\ufeff':
			return -1
		}
		return r
	}, v)
	if !norm.NFC.IsNormalString(v) {
		v = norm.NFC.String(v)
	}
	return strings.TrimSpace(v)
}

// normalizeDate turns "31.12.2000" and "31.12.00"-free German input into
// ISO form; anything else is left for validation to reject.
func normalizeDate(v string) string {
	if t, err := time.Parse("2.1.2006", v); err == nil {
		return t.Format(time.DateOnly)
	}
	return v
}
