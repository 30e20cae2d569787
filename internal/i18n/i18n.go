// Package i18n loads the portal's messages (locales/active.<lang>.toml, with
// German as the source language) and chooses a request's language.
//
// Message ids are dotted and stable ("start.heading"). Messages without
// placeholders are resolved once at load time, so looking one up on a hot
// path is a map read; messages whose placeholders are all {{.Name}} are
// cut at them at load time and filled by concatenation; the others
// (plural forms, template pipelines) go through go-i18n.
package i18n

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/BurntSushi/toml"
	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Source is the source language: every message exists in it first, and it
// is the fallback for everything.
const Source = "de"

// Lang is a language the portal speaks.
type Lang struct {
	Code string // BCP 47, e.g. "de"
	Name string // its name in itself ("Deutsch"), message language.name of its own file
	Dir  string // "ltr" or "rtl"
	tag  language.Tag
}

// Bundle holds every language's messages. It is built once at start and
// only read afterwards, so it is safe for concurrent use.
type Bundle struct {
	langs      []Lang // Source first
	matcher    language.Matcher
	localizers map[string]*Localizer

	// accepted remembers what an Accept-Language header negotiated to:
	// parsing one costs microseconds, and browsers send few distinct
	// values. Bounded by acceptedMax entries.
	accepted     sync.Map // header → Lang
	acceptedSize atomic.Int32
}

const acceptedMax = 1024

// New loads every locales file active.<lang>.toml in fsys. The source
// language must be among them.
func New(fsys fs.FS) (*Bundle, error) {
	files, err := fs.Glob(fsys, "active.*.toml")
	if err != nil {
		return nil, fmt.Errorf("i18n: %w", err)
	}
	gb := goi18n.NewBundle(language.Make(Source))
	gb.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	b := &Bundle{localizers: make(map[string]*Localizer)}
	defined := make(map[string]map[string]*goi18n.Message) // lang → id → message
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		mf, err := gb.ParseMessageFileBytes(data, path.Base(f))
		if err != nil {
			return nil, fmt.Errorf("i18n: %s: %w", f, err)
		}
		code := mf.Tag.String()
		defined[code] = make(map[string]*goi18n.Message, len(mf.Messages))
		for _, m := range mf.Messages {
			defined[code][m.ID] = m
		}
		name := code // the language's name in itself, from its own file
		if m, ok := defined[code]["language.name"]; ok {
			name = m.Other
		}
		b.langs = append(b.langs, Lang{Code: code, Name: name, Dir: direction(mf.Tag), tag: mf.Tag})
	}
	sort.SliceStable(b.langs, func(i, j int) bool {
		if (b.langs[i].Code == Source) != (b.langs[j].Code == Source) {
			return b.langs[i].Code == Source
		}
		return b.langs[i].Code < b.langs[j].Code
	})
	if len(b.langs) == 0 || b.langs[0].Code != Source {
		return nil, fmt.Errorf("i18n: no messages for the source language %q (active.%s.toml)", Source, Source)
	}
	tags := make([]language.Tag, len(b.langs))
	for i, l := range b.langs {
		tags[i] = l.tag
	}
	b.matcher = language.NewMatcher(tags)

	for _, l := range b.langs {
		loc := &Localizer{
			lang:  l,
			gl:    goi18n.NewLocalizer(gb, l.Code, Source),
			plain: make(map[string]string),
			fills: make(map[string]fill),
			own:   defined[l.Code],
			known: make(map[string]bool),
		}
		// Resolve placeholder-free messages once, the language's own text
		// or else the source language's.
		for _, code := range []string{Source, l.Code} {
			for id, m := range defined[code] {
				loc.known[id] = true
				delete(loc.plain, id)
				delete(loc.fills, id)
				if isPlain(m) {
					loc.plain[id] = m.Other
				} else if f, ok := newFill(m); ok {
					loc.fills[id] = f
				}
			}
		}
		b.localizers[l.Code] = loc
	}
	return b, nil
}

// isPlain reports whether m is a fixed text: no placeholders, no plural
// forms.
func isPlain(m *goi18n.Message) bool {
	delim := m.LeftDelim
	if delim == "" {
		delim = "{{"
	}
	return m.Zero == "" && m.One == "" && m.Two == "" && m.Few == "" && m.Many == "" &&
		!strings.Contains(m.Other, delim)
}

// Languages returns the languages, the source language first.
func (b *Bundle) Languages() []Lang { return b.langs }

// Localizer returns the localizer for a supported language code, or the
// source language's for any other code.
func (b *Bundle) Localizer(code string) *Localizer {
	if l, ok := b.localizers[code]; ok {
		return l
	}
	return b.localizers[Source]
}

// Supported returns the language with exactly this code.
func (b *Bundle) Supported(code string) (Lang, bool) {
	l, ok := b.localizers[code]
	if !ok {
		return Lang{}, false
	}
	return l.lang, true
}

// Negotiate picks a request's language: an explicit choice (the lang query
// parameter) first, then the remembered one (the cookie), then the
// Accept-Language header, then the source language. An explicit choice
// that is not supported yields the source language, so a mistyped ?lang=
// never shows a page in a language the person did not ask for.
func (b *Bundle) Negotiate(query, cookie, acceptLanguage string) Lang {
	if query != "" {
		if l, ok := b.Supported(query); ok {
			return l
		}
		return b.langs[0]
	}
	if l, ok := b.Supported(cookie); ok {
		return l
	}
	if acceptLanguage == "" || len(acceptLanguage) > 512 {
		return b.langs[0]
	}
	if l, ok := b.accepted.Load(acceptLanguage); ok {
		return l.(Lang)
	}
	l := b.matchAccept(acceptLanguage)
	if b.acceptedSize.Load() < acceptedMax {
		b.acceptedSize.Add(1)
		b.accepted.Store(strings.Clone(acceptLanguage), l) // the header's bytes are reused by the server
	}
	return l
}

func (b *Bundle) matchAccept(acceptLanguage string) Lang {
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err == nil && len(tags) > 0 {
		_, i, conf := b.matcher.Match(tags...)
		if conf != language.No {
			return b.langs[i]
		}
	}
	return b.langs[0]
}

// MessageIDs returns the ids defined in language code's own file (without
// fallback), sorted.
func (b *Bundle) MessageIDs(code string) []string {
	loc, ok := b.localizers[code]
	if !ok {
		return nil
	}
	ids := make([]string, 0, len(loc.own))
	for id := range loc.own {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func direction(t language.Tag) string {
	switch base, _ := t.Base(); base.String() {
	case "ar", "fa", "he", "ur":
		return "rtl"
	default:
		return "ltr"
	}
}
