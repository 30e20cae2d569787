package forms

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one error of a definition, at a line of its file.
type Problem struct {
	File    string
	Line    int
	Message string
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Message)
}

// Problems is the error Load returns: every problem of every file, in file
// and line order.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Set is the loaded form definitions by id.
type Set struct {
	forms map[string]*Form
	ids   []string
}

// Form returns the definition with id.
func (s *Set) Form(id string) (*Form, bool) {
	f, ok := s.forms[id]
	return f, ok
}

// Forms returns every definition, ordered by id.
func (s *Set) Forms() []*Form {
	out := make([]*Form, len(s.ids))
	for i, id := range s.ids {
		out[i] = s.forms[id]
	}
	return out
}

// Load reads and checks every *.yaml file of dir in fsys. It returns
// Problems listing each error with file and line: unknown keys, duplicate
// ids, conditions that point at nothing, repeated option values, missing
// translations, patterns that do not compile, a missing or unbounded
// retention period, and more.
func Load(fsys fs.FS, dir string) (*Set, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("forms: no definitions (*.yaml) in %s", dir)
	}
	set := &Set{forms: make(map[string]*Form)}
	var problems Problems
	firstFile := make(map[string]string)
	for _, name := range names {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		f, ps := Parse(name, src)
		problems = append(problems, ps...)
		if f == nil || f.ID == "" {
			continue
		}
		if other, dup := firstFile[f.ID]; dup {
			problems = append(problems, Problem{File: name, Line: 1, Message: fmt.Sprintf("form id %q is also used by %s", f.ID, other)})
			continue
		}
		firstFile[f.ID] = name
		if len(ps) == 0 && f.Retention == nil {
			problems = append(problems, Problem{File: name, Line: 1, Message: fmt.Sprintf(
				"missing retention: how long a closed case is kept, e.g. retention: {years: 10} (%d month to %d years)",
				MinRetentionMonths, MaxRetentionMonths/12)})
			continue
		}
		if len(ps) == 0 {
			set.forms[f.ID] = f
			set.ids = append(set.ids, f.ID)
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	sort.Strings(set.ids)
	return set, nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// Parse decodes and checks one definition file. The form is usable only
// when there are no problems; with semantic problems it is still returned,
// so Load can check form ids across files. A syntax error returns no form.
// A missing retention is no problem here (definitions kept with older
// submissions predate it); Load requires one.
func Parse(file string, src []byte) (*Form, Problems) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, yamlProblems(file, err)
	}
	if len(root.Content) == 0 {
		return nil, Problems{{File: file, Line: 1, Message: "empty definition"}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	f := new(Form)
	if err := dec.Decode(f); err != nil {
		return nil, yamlProblems(file, err)
	}
	sum := sha256.Sum256(src)
	f.Hash = hex.EncodeToString(sum[:])
	f.Source = src
	f.File = file
	c := checker{file: file, lines: make(map[string]int), form: f}
	c.index(root.Content[0], "")
	c.check()
	sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].Line < c.problems[j].Line })
	return f, c.problems
}

func yamlProblems(file string, err error) Problems {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var ps Problems
	for _, m := range msgs {
		p := Problem{File: file, Message: m}
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			p.Line, _ = strconv.Atoi(g[1])
			p.Message = g[2]
		}
		ps = append(ps, p)
	}
	return ps
}

// checker holds what the semantic checks of one file need: the line of
// every node by its path ("steps.0.fields.2.label"), and the problems found.
type checker struct {
	file     string
	lines    map[string]int
	form     *Form
	problems Problems
}

func (c *checker) index(n *yaml.Node, at string) {
	c.lines[at] = n.Line
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := join(at, n.Content[i].Value)
			c.index(n.Content[i+1], k)
			c.lines[k] = n.Content[i].Line // the key's line reads best
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			c.index(item, join(at, strconv.Itoa(i)))
		}
	}
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// line returns the line of at, or of its nearest parent that exists in the
// file (a missing key is reported at its parent).
func (c *checker) line(at string) int {
	for {
		if l, ok := c.lines[at]; ok {
			return l
		}
		i := strings.LastIndexByte(at, '.')
		if i < 0 {
			return c.lines[""]
		}
		at = at[:i]
	}
}

func (c *checker) errorf(at, format string, args ...any) {
	c.problems = append(c.problems, Problem{File: c.file, Line: c.line(at), Message: fmt.Sprintf(format, args...)})
}

var (
	idPattern   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	formPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

func (c *checker) check() {
	f := c.form
	if !formPattern.MatchString(f.ID) {
		c.errorf("id", "form id %q must be lowercase letters, digits and hyphens", f.ID)
	}
	if f.Version < 1 {
		c.errorf("version", "version must be a positive number")
	}
	c.text("title", f.Title, true)
	c.text("description", f.Description, false)
	c.text("legal_basis", f.LegalBasis, false)
	if r := f.Retention; r != nil {
		if r.Years < 0 || r.Months < 0 || r.TotalMonths() < MinRetentionMonths || r.TotalMonths() > MaxRetentionMonths {
			c.errorf("retention", "retention must be between %d month and %d years (years and months, not negative)", MinRetentionMonths, MaxRetentionMonths/12)
		}
	}
	if len(f.Steps) == 0 {
		c.errorf("steps", "a form needs at least one step")
	}
	f.fields = make(map[string]*Field)
	steps := make(map[string]bool)
	// Pass one: ids, types and texts; pass two (conditions) needs every id.
	var order []*Field
	var paths []string
	for i, s := range f.Steps {
		at := join("steps", strconv.Itoa(i))
		if s == nil {
			c.errorf(at, "empty step")
			f.Steps[i] = &Step{} // keep later passes simple
			s = f.Steps[i]
		}
		s.index, s.form = i, f
		if !idPattern.MatchString(s.ID) {
			c.errorf(join(at, "id"), "step id %q must be lowercase letters, digits and underscores, starting with a letter", s.ID)
		} else if steps[s.ID] {
			c.errorf(join(at, "id"), "step id %q is used twice", s.ID)
		}
		steps[s.ID] = true
		c.text(join(at, "title"), s.Title, true)
		c.text(join(at, "intro"), s.Intro, false)
		if len(s.Fields) == 0 {
			c.errorf(join(at, "fields"), "step %q has no fields", s.ID)
		}
		for j, fd := range s.Fields {
			fat := join(at, "fields."+strconv.Itoa(j))
			if fd == nil {
				c.errorf(fat, "empty field")
				continue
			}
			order, paths = c.field(fd, fat, s, nil, order, paths)
		}
		if s.UploadBytes() > MaxStepUploadMB<<20 {
			c.errorf(join(at, "fields"), "the step's uploads may take %d MB in one post (max_files × max_size_mb); at most %d", s.UploadBytes()>>20, MaxStepUploadMB)
		}
	}
	known := make(map[string]bool)
	for i, fd := range order {
		if fd.VisibleIf != nil {
			c.condition(fd.VisibleIf, join(paths[i], "visible_if"), fd, known)
		}
		known[fd.ID] = true
	}
}

func (c *checker) field(fd *Field, at string, s *Step, parent *Field, order []*Field, paths []string) ([]*Field, []string) {
	fd.step, fd.parent = s, parent
	if !idPattern.MatchString(fd.ID) {
		c.errorf(join(at, "id"), "field id %q must be lowercase letters, digits and underscores, starting with a letter", fd.ID)
	} else if _, dup := c.form.fields[fd.ID]; dup {
		c.errorf(join(at, "id"), "field id %q is used twice", fd.ID)
	} else {
		c.form.fields[fd.ID] = fd
	}
	order, paths = append(order, fd), append(paths, at)
	switch fd.Type {
	case TypeText, TypeTextarea, TypeEmail, TypeTel, TypeNumber, TypeDate,
		TypeSelect, TypeRadio, TypeCheckbox, TypeCheckboxes, TypeFile, TypeInfo, TypeGroup:
	case "":
		c.errorf(at, "field %q has no type", fd.ID)
	default:
		c.errorf(join(at, "type"), "field %q has unknown type %q", fd.ID, fd.Type)
	}
	c.text(join(at, "label"), fd.Label, true)
	c.text(join(at, "help"), fd.Help, false)
	c.text(join(at, "legal"), fd.Legal, false)
	c.text(join(at, "rules.pattern_message"), fd.Rules.PatternMessage, false)
	if fd.Required && fd.Recommended {
		c.errorf(join(at, "recommended"), "field %q cannot be both required and recommended", fd.ID)
	}
	if (fd.Required || fd.Recommended) && (fd.Type == TypeInfo || fd.Type == TypeGroup) {
		c.errorf(join(at, "required"), "a %s cannot be required", fd.Type)
	}
	if fd.Confidential != "" && fd.Confidential != ConfidentialMedical {
		c.errorf(join(at, "confidential"), "confidential must be %q", ConfidentialMedical)
	}
	if fd.Autocomplete != "" && !autocompleteTokens[fd.Autocomplete] {
		c.errorf(join(at, "autocomplete"), "unknown autocomplete token %q", fd.Autocomplete)
	}
	switch fd.Inputmode {
	case "", "text", "numeric", "decimal", "tel", "email", "url", "search", "none":
	default:
		c.errorf(join(at, "inputmode"), "unknown inputmode %q", fd.Inputmode)
	}
	c.rules(fd, at)
	c.options(fd, at)
	switch {
	case fd.Type == TypeFile && fd.Upload == nil:
		c.errorf(at, "file field %q needs upload limits", fd.ID)
	case fd.Type != TypeFile && fd.Upload != nil:
		c.errorf(join(at, "upload"), "upload limits on a %s field", fd.Type)
	case fd.Upload != nil:
		u := fd.Upload
		if u.MaxSizeMB < 1 || u.MaxSizeMB > MaxUploadMB {
			c.errorf(join(at, "upload.max_size_mb"), "max_size_mb must be between 1 and %d", MaxUploadMB)
		}
		if u.MaxFiles < 1 || u.MaxFiles > 10 {
			c.errorf(join(at, "upload.max_files"), "max_files must be between 1 and 10")
		}
		if len(u.Types) == 0 {
			c.errorf(join(at, "upload.types"), "upload types missing (pdf, jpeg, png)")
		}
		for i, t := range u.Types {
			if _, ok := uploadTypes[t]; !ok {
				c.errorf(join(at, "upload.types."+strconv.Itoa(i)), "unknown upload type %q (pdf, jpeg, png)", t)
			}
		}
		s.multipart = true
		if parent != nil {
			c.errorf(at, "file field %q inside a group: not supported", fd.ID)
		}
	}
	if fd.Type != TypeGroup {
		if len(fd.Fields) > 0 {
			c.errorf(join(at, "fields"), "only a group has fields")
		}
		if fd.Repeat != nil {
			c.errorf(join(at, "repeat"), "only a group repeats")
		}
		return order, paths
	}
	if parent != nil {
		c.errorf(at, "groups cannot be nested")
	}
	if len(fd.Fields) == 0 {
		c.errorf(at, "group %q has no fields", fd.ID)
	}
	if r := fd.Repeat; r != nil && (r.Min < 0 || r.Max < 2 || r.Max > 20 || r.Min > r.Max) {
		c.errorf(join(at, "repeat"), "repeat needs 0 <= min <= max, 2 <= max <= 20")
	}
	for j, child := range fd.Fields {
		if child == nil {
			c.errorf(join(at, "fields."+strconv.Itoa(j)), "empty field")
			continue
		}
		order, paths = c.field(child, join(at, "fields."+strconv.Itoa(j)), s, fd, order, paths)
	}
	return order, paths
}

func (c *checker) rules(fd *Field, at string) {
	r := &fd.Rules
	rat := join(at, "rules")
	textual := fd.Type == TypeText || fd.Type == TypeTextarea
	if (r.MinLength != 0 || r.MaxLength != 0 || r.Pattern != "" || r.PersonName || r.PostalCode) && !textual {
		c.errorf(rat, "length, pattern, person_name and postal_code apply to text fields only")
	}
	if r.MinLength < 0 || r.MaxLength < 0 || (r.MaxLength > 0 && r.MinLength > r.MaxLength) {
		c.errorf(rat, "min_length and max_length must be positive, min <= max")
	}
	if (r.Min != nil || r.Max != nil || r.Integer) && fd.Type != TypeNumber {
		c.errorf(rat, "min, max and integer apply to number fields only")
	}
	if r.Min != nil && r.Max != nil && *r.Min > *r.Max {
		c.errorf(rat, "min is greater than max")
	}
	if (r.NotFuture || r.NotPast) && fd.Type != TypeDate {
		c.errorf(rat, "not_future and not_past apply to date fields only")
	}
	if r.NotFuture && r.NotPast {
		c.errorf(rat, "not_future and not_past exclude each other")
	}
	if (r.MinSelected != 0 || r.MaxSelected != 0) && fd.Type != TypeCheckboxes {
		c.errorf(rat, "min_selected and max_selected apply to checkboxes only")
	}
	if r.Pattern != "" {
		re, err := regexp.Compile(`^(?:` + r.Pattern + `)$`)
		if err != nil {
			c.errorf(join(rat, "pattern"), "pattern does not compile: %v", err)
		}
		fd.pattern = re
		if len(r.PatternMessage) == 0 {
			c.errorf(join(rat, "pattern"), "a pattern needs a pattern_message")
		}
	}
	if textual && r.MaxLength == 0 { // every text has a limit
		r.MaxLength = 200
		if fd.Type == TypeTextarea {
			r.MaxLength = 2000
		}
	}
	fd.tag = validatorTag(fd)
}

func (c *checker) options(fd *Field, at string) {
	choice := fd.Type == TypeSelect || fd.Type == TypeRadio || fd.Type == TypeCheckboxes
	if !choice {
		if len(fd.Options) > 0 {
			c.errorf(join(at, "options"), "options on a %s field", fd.Type)
		}
		return
	}
	if len(fd.Options) < 2 && fd.Type != TypeCheckboxes {
		c.errorf(join(at, "options"), "a %s needs at least two options", fd.Type)
	}
	if len(fd.Options) == 0 {
		c.errorf(join(at, "options"), "a %s needs options", fd.Type)
	}
	fd.options = make(map[string]*Option, len(fd.Options))
	for i := range fd.Options {
		o := &fd.Options[i]
		oat := join(at, "options."+strconv.Itoa(i))
		if o.Value == "" || strings.TrimSpace(o.Value) != o.Value || len(o.Value) > 60 {
			c.errorf(join(oat, "value"), "option value %q must be 1 to 60 characters without surrounding spaces", o.Value)
		}
		if _, dup := fd.options[o.Value]; dup {
			c.errorf(join(oat, "value"), "option value %q repeats in field %q", o.Value, fd.ID)
		}
		fd.options[o.Value] = o
		c.text(join(oat, "label"), o.Label, true)
		c.text(join(oat, "help"), o.Help, false)
	}
	if max := fd.Rules.MaxSelected; max > len(fd.Options) {
		c.errorf(join(at, "rules.max_selected"), "max_selected is larger than the number of options")
	}
}

// condition checks c: one form only, known fields defined earlier in the
// form (which also rules out cycles), values among the options.
func (c *checker) condition(cond *Condition, at string, owner *Field, known map[string]bool) {
	forms := 0
	if cond.Field != "" {
		forms++
	}
	if cond.Not != nil {
		forms++
	}
	if cond.All != nil {
		forms++
	}
	if cond.Any != nil {
		forms++
	}
	if forms != 1 {
		c.errorf(at, "a condition needs exactly one of field, not, all, any")
		return
	}
	switch {
	case cond.Not != nil:
		c.condition(cond.Not, join(at, "not"), owner, known)
	case cond.All != nil || cond.Any != nil:
		list, key := cond.All, "all"
		if cond.Any != nil {
			list, key = cond.Any, "any"
		}
		if len(list) < 2 {
			c.errorf(join(at, key), "%s needs at least two conditions", key)
		}
		for i, sub := range list {
			if sub == nil {
				c.errorf(join(at, key+"."+strconv.Itoa(i)), "empty condition")
				continue
			}
			c.condition(sub, join(at, key+"."+strconv.Itoa(i)), owner, known)
		}
	default:
		if (cond.Equals == nil) == (cond.In == nil) {
			c.errorf(at, "a condition on field %q needs exactly one of equals, in", cond.Field)
			return
		}
		ref, ok := c.form.fields[cond.Field]
		switch {
		case !ok:
			c.errorf(join(at, "field"), "condition points at unknown field %q", cond.Field)
			return
		case ref == owner:
			c.errorf(join(at, "field"), "field %q depends on itself", cond.Field)
			return
		case !known[cond.Field]:
			c.errorf(join(at, "field"), "condition points at field %q, defined later; conditions look back only", cond.Field)
			return
		case !ref.HasValue():
			c.errorf(join(at, "field"), "condition points at %s field %q, which has no value", ref.Type, cond.Field)
			return
		case ref.parent != nil && ref.parent != owner.parent:
			c.errorf(join(at, "field"), "condition points into group %q from outside it", ref.parent.ID)
			return
		}
		values := cond.In
		if cond.Equals != nil {
			values = []string{*cond.Equals}
		}
		for _, v := range values {
			if ref.options != nil {
				if _, ok := ref.options[v]; !ok {
					c.errorf(at, "condition value %q is not an option of field %q", v, cond.Field)
				}
			} else if ref.Type == TypeCheckbox && v != CheckboxOn {
				c.errorf(at, "a checkbox condition compares with %q", CheckboxOn)
			}
		}
	}
}

// text checks that t has every required language when present (or when
// required).
func (c *checker) text(at string, t Text, required bool) {
	if len(t) == 0 {
		if required {
			c.errorf(at, "missing %s", lastPart(at))
		}
		return
	}
	for _, lang := range requiredLangs {
		if strings.TrimSpace(t[lang]) == "" {
			c.errorf(at, "%s: missing translation %q", lastPart(at), lang)
		}
	}
}

func lastPart(at string) string {
	return at[strings.LastIndexByte(at, '.')+1:]
}

// autocompleteTokens are the HTML autofill field names a definition may use.
var autocompleteTokens = map[string]bool{
	"name": true, "honorific-prefix": true, "given-name": true, "additional-name": true, "family-name": true,
	"nickname": true, "email": true, "tel": true, "street-address": true, "address-line1": true,
	"address-line2": true, "postal-code": true, "address-level2": true, "address-level1": true, "country": true,
	"country-name": true, "bday": true, "bday-day": true, "bday-month": true, "bday-year": true, "sex": true,
	"organization": true, "organization-title": true, "language": true, "off": true,
}
