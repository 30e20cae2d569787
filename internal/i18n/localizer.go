package i18n

import (
	"fmt"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
)

// Localizer translates message ids into one language. One Localizer per
// language is built at start and shared by all requests in that language;
// it is never modified afterwards.
type Localizer struct {
	lang  Lang
	gl    *goi18n.Localizer
	plain map[string]string          // id → text of messages without placeholders
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
	s, err := l.gl.Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: data})
	if err != nil {
		return id
	}
	return s
}
