// Package forms is the form engine: schema types, loading, validation and
// the rendering model of the portal's forms. It is pure Go and depends on
// no other package of the portal.
package forms

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
)

// Custom validation tags, usable in any rule string.
const (
	TagPostalCodeDE = "postalcode_de" // five digits
	TagPersonName   = "din91379"      // a name in the characters of DIN 91379
	TagPhone        = "phone_de"      // a telephone number as people write it
)

// IsPostalCode reports whether s is a German postal code: exactly five
// ASCII digits (no spaces; normalise input first).
func IsPostalCode(s string) bool {
	if len(s) != 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsPersonName reports whether s uses only characters DIN 91379 allows in
// names of natural persons (data type A): Latin letters with their
// diacritics, combining marks after a letter, space, apostrophes, hyphen,
// full stop and comma. Digits, symbols and other scripts are refused. s
// must be NFC-normalised (Decode does that).
func IsPersonName(s string) bool {
	prevLetter := false
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Latin, r):
			prevLetter = true
		case unicode.Is(unicode.Mn, r) && r >= 0x0300 && r <= 0x036F:
			if !prevLetter {
				return false
			}
		case strings.ContainsRune(" '-.,`´’‘", r):
			prevLetter = false
		default:
			return false
		}
	}
	return s != ""
}

// IsPhone reports whether s looks like a telephone number: digits with the
// usual separators, optionally a leading +, 6 to 20 digits.
func IsPhone(s string) bool {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0:
		case strings.ContainsRune(" -/()", r):
		default:
			return false
		}
	}
	return digits >= 6 && digits <= 20
}

// NewValidator returns a validator with the portal's custom rules
// registered. Build it once at start and share it: it is safe for
// concurrent use.
func NewValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	// Registration fails only for an empty tag or a nil function.
	_ = v.RegisterValidation(TagPostalCodeDE, func(fl validator.FieldLevel) bool { return IsPostalCode(fl.Field().String()) })
	_ = v.RegisterValidation(TagPersonName, func(fl validator.FieldLevel) bool { return IsPersonName(fl.Field().String()) })
	_ = v.RegisterValidation(TagPhone, func(fl validator.FieldLevel) bool { return IsPhone(fl.Field().String()) })
	return v
}

// validatorTag builds the validator rule string of a field's value, once at
// load. Types with their own parsing (dates, numbers, choices) get none.
func validatorTag(fd *Field) string {
	var tags []string
	r := fd.Rules
	if r.MinLength > 0 {
		tags = append(tags, "min="+strconv.Itoa(r.MinLength))
	}
	if r.MaxLength > 0 {
		tags = append(tags, "max="+strconv.Itoa(r.MaxLength))
	}
	switch fd.Type {
	case TypeEmail:
		tags = append(tags, "max=254", "email")
	case TypeTel:
		tags = append(tags, TagPhone)
	}
	if r.PersonName {
		tags = append(tags, TagPersonName)
	}
	if r.PostalCode {
		tags = append(tags, TagPostalCodeDE)
	}
	return strings.Join(tags, ",")
}

// Issue is one problem of an answer: the input name it belongs to (the
// anchor of the error summary), the field, and a message id of locales/
// ("form.error.required") with its arguments. Code "pattern" means: show
// the field's own Rules.PatternMessage.
type Issue struct {
	Name  string
	Field *Field
	Code  string
	Args  map[string]any
}

// Codes of Issue that need the field's own text rather than a message id.
const CodePattern = "pattern"

// Engine validates answers against a form. It is safe for concurrent use.
type Engine struct {
	v   *validator.Validate
	loc *time.Location // "today" is today in Germany
}

// NewEngine returns an engine using v (from NewValidator) with dates judged
// in loc.
func NewEngine(v *validator.Validate, loc *time.Location) *Engine {
	return &Engine{v: v, loc: loc}
}

// Validate checks the visible fields of step s. It returns the errors and,
// separately, the warnings of recommended fields left empty. Hidden fields
// are never checked.
func (e *Engine) Validate(s *Step, a *Answers, now time.Time) (errs, warns []Issue) {
	today := now.In(e.loc).Format(time.DateOnly)
	for _, fd := range s.Fields {
		if !a.Visible(fd, 0) {
			continue
		}
		if fd.Type != TypeGroup {
			errs, warns = e.field(fd, 0, a, today, errs, warns)
			continue
		}
		for i := range a.Entries(fd) {
			for _, child := range fd.Fields {
				if a.Visible(child, i) {
					errs, warns = e.field(child, i, a, today, errs, warns)
				}
			}
		}
	}
	return errs, warns
}

// ValidateAll checks every step, as at submit: a tampered post cannot skip
// a step. It returns the first step with an error and its errors.
func (e *Engine) ValidateAll(f *Form, a *Answers, now time.Time) (*Step, []Issue) {
	for _, s := range f.Steps {
		if errs, _ := e.Validate(s, a, now); len(errs) > 0 {
			return s, errs
		}
	}
	return nil, nil
}

func (e *Engine) field(fd *Field, n int, a *Answers, today string, errs, warns []Issue) ([]Issue, []Issue) {
	name := Name(fd, n)
	issue := func(code string, args map[string]any) Issue {
		return Issue{Name: name, Field: fd, Code: code, Args: args}
	}
	if fd.Type == TypeInfo {
		return errs, warns
	}
	if fd.Type == TypeFile {
		files := a.Files[fd.ID]
		switch {
		case len(files) == 0 && fd.Required:
			errs = append(errs, issue("form.error.file_required", nil))
		case len(files) == 0 && fd.Recommended:
			warns = append(warns, issue("form.warn.recommended", nil))
		case len(files) > fd.Upload.MaxFiles:
			errs = append(errs, issue("form.error.file_count", map[string]any{"Max": fd.Upload.MaxFiles}))
		}
		return errs, warns
	}
	values := a.Values[name]
	if len(values) == 0 {
		switch {
		case fd.Required && isChoice(fd):
			errs = append(errs, issue("form.error.choose", nil))
		case fd.Required:
			errs = append(errs, issue("form.error.required", nil))
		case fd.Recommended:
			warns = append(warns, issue("form.warn.recommended", nil))
		}
		return errs, warns
	}
	if code, args := e.value(fd, values, today); code != "" {
		errs = append(errs, issue(code, args))
	}
	return errs, warns
}

func isChoice(fd *Field) bool {
	switch fd.Type {
	case TypeSelect, TypeRadio, TypeCheckbox, TypeCheckboxes:
		return true
	}
	return false
}

// value checks a present value; it returns a message id and its arguments,
// or "" when the value is fine.
func (e *Engine) value(fd *Field, values []string, today string) (string, map[string]any) {
	v := values[0]
	switch fd.Type {
	case TypeSelect, TypeRadio:
		if _, ok := fd.options[v]; !ok {
			return "form.error.option", nil
		}
		return "", nil
	case TypeCheckbox:
		if v != CheckboxOn {
			return "form.error.option", nil
		}
		return "", nil
	case TypeCheckboxes:
		for _, v := range values {
			if _, ok := fd.options[v]; !ok {
				return "form.error.option", nil
			}
		}
		if min := fd.Rules.MinSelected; min > 0 && len(values) < min {
			return "form.error.min_selected", map[string]any{"Min": min}
		}
		if max := fd.Rules.MaxSelected; max > 0 && len(values) > max {
			return "form.error.max_selected", map[string]any{"Max": max}
		}
		return "", nil
	case TypeDate:
		t, err := time.Parse(time.DateOnly, v)
		if err != nil || t.Year() < 1900 || t.Year() > 2200 {
			return "form.error.date", nil
		}
		if fd.Rules.NotFuture && v > today {
			return "form.error.date_future", nil
		}
		if fd.Rules.NotPast && v < today {
			return "form.error.date_past", nil
		}
		return "", nil
	case TypeNumber:
		x, err := strconv.ParseFloat(strings.ReplaceAll(v, ",", "."), 64)
		if err != nil || len(v) > 20 {
			return "form.error.number", nil
		}
		if fd.Rules.Integer && x != float64(int64(x)) {
			return "form.error.integer", nil
		}
		if r := fd.Rules; r.Min != nil && x < *r.Min {
			return "form.error.number_min", map[string]any{"Min": formatNumber(*r.Min)}
		}
		if r := fd.Rules; r.Max != nil && x > *r.Max {
			return "form.error.number_max", map[string]any{"Max": formatNumber(*r.Max)}
		}
		return "", nil
	}
	if fd.tag != "" {
		if err := e.v.Var(v, fd.tag); err != nil {
			return validatorCode(fd, v, err)
		}
	}
	if fd.pattern != nil && !fd.pattern.MatchString(v) {
		return CodePattern, nil
	}
	return "", nil
}

// validatorCode maps the validator's failing tag to a message id.
func validatorCode(fd *Field, v string, err error) (string, map[string]any) {
	var ves validator.ValidationErrors
	if !errors.As(err, &ves) || len(ves) == 0 {
		return "form.error.invalid", nil
	}
	switch ves[0].Tag() {
	case "min":
		return "form.error.too_short", map[string]any{"Min": fd.Rules.MinLength}
	case "max":
		if fd.Type == TypeEmail && fd.Rules.MaxLength == 0 {
			return "form.error.email", nil
		}
		return "form.error.too_long", map[string]any{"Max": fd.Rules.MaxLength, "Count": utf8.RuneCountInString(v)}
	case "email":
		return "form.error.email", nil
	case TagPhone:
		return "form.error.phone", nil
	case TagPersonName:
		return "form.error.person_name", nil
	case TagPostalCodeDE:
		return "form.error.postal_code", nil
	}
	return "form.error.invalid", nil
}

func formatNumber(x float64) string {
	return strconv.FormatFloat(x, 'f', -1, 64)
}
