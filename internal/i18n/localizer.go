package i18n

import (
	"fmt"
	"strconv"
	"strings"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
)

// Localizer translates message ids into one language. One Localizer per
// language is built at start and shared by all requests in that language;
// it is never modified afterwards.
type Localizer struct {
	lang  Lang
	gl    *goi18n.Localizer
	plain map[string]string          // id → text of messages without placeholders
	fills map[string]fill            // id → messages whose placeholders are all {{.Name}}
	own   map[string]*goi18n.Message // messages defined in this language's file
	known map[string]bool            // ids defined here or in the source language
}

// Lang returns the localizer's language.
func (l *Localizer) Lang() Lang { return l.lang }

// Has reports whether id is defined in this language or the source language.
func (l *Localizer) Has(id string) bool {
	return l.known[id]
}

// T returns the text of message id. A missing id renders as the id itself:
// templates are checked at start, so this shows up in a test, not in front
// of a citizen.
func (l *Localizer) T(id string) string {
	if s, ok := l.plain[id]; ok {
		return s
	}
	s, err := l.gl.Localize(&goi18n.LocalizeConfig{MessageID: id})
	if err != nil {
		return id
	}
	return s
}

// Tf returns the text of message id with placeholders filled from pairs of
// name and value: Tf("start.result.none", "Code", "12345").
func (l *Localizer) Tf(id string, pairs ...any) string {
	if f, ok := l.fills[id]; ok {
		if s, ok := f.fill(func(name string) (any, bool) {
			for i := 0; i+1 < len(pairs); i += 2 {
				if k, _ := pairs[i].(string); k == name {
					return pairs[i+1], true
				}
			}
			return nil, false
		}); ok {
			return s
		}
	}
	data := make(map[string]any, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		data[fmt.Sprint(pairs[i])] = pairs[i+1]
	}
	s, err := l.gl.Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: data})
	if err != nil {
		return id
	}
	return s
}

// TData returns the text of message id with placeholders filled from data.
func (l *Localizer) TData(id string, data map[string]any) string {
	if f, ok := l.fills[id]; ok {
		if s, ok := f.fill(func(name string) (any, bool) { v, ok := data[name]; return v, ok }); ok {
			return s
		}
	}
	s, err := l.gl.Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: data})
	if err != nil {
		return id
	}
	return s
}

// fill is a message whose placeholders are all of the form {{.Name}}: its
// text cut at them, so that Tf fills it by concatenation. go-i18n would
// match the language and execute a template for each call, which made the
// localized words of a week of slots a fifth of a booking page's cost.
// What a template would print differently (a value of another type than
// a string or an integer, a name not given) goes through go-i18n.
type fill struct {
	text  []string // len(names)+1 pieces around the placeholders
	names []string
	size  int // of the pieces together
}

// newFill cuts m's text at its placeholders; false when m has plural
// forms, other delimiters, or a placeholder other than {{.Name}}.
func newFill(m *goi18n.Message) (fill, bool) {
	if m.LeftDelim != "" || m.RightDelim != "" || m.Zero != "" || m.One != "" || m.Two != "" || m.Few != "" || m.Many != "" {
		return fill{}, false
	}
	var f fill
	rest := m.Other
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return fill{}, false
		}
		name, ok := strings.CutPrefix(strings.TrimSpace(rest[i+2:i+j]), ".")
		if !ok || !isIdent(name) {
			return fill{}, false
		}
		f.text = append(f.text, rest[:i])
		f.names = append(f.names, name)
		rest = rest[i+j+2:]
	}
	if len(f.names) == 0 {
		return fill{}, false
	}
	f.text = append(f.text, rest)
	for _, t := range f.text {
		f.size += len(t)
	}
	return f, true
}

// isIdent reports whether s is a Go identifier of ASCII letters, digits
// and underscores, as a template field name is.
func isIdent(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, r := range []byte(s) {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// fill returns the text with each placeholder's value from value; false
// when a name has no value or one that is not a string or an integer.
func (f fill) fill(value func(string) (any, bool)) (string, bool) {
	var b strings.Builder
	b.Grow(f.size + 16*len(f.names))
	for i, name := range f.names {
		b.WriteString(f.text[i])
		v, ok := value(name)
		if !ok {
			return "", false
		}
		switch v := v.(type) {
		case string:
			b.WriteString(v)
		case int:
			b.WriteString(strconv.Itoa(v))
		case int64:
			b.WriteString(strconv.FormatInt(v, 10))
		case int32:
			b.WriteString(strconv.FormatInt(int64(v), 10))
		default:
			return "", false
		}
	}
	b.WriteString(f.text[len(f.names)])
	return b.String(), true
}
