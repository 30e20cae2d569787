package portal

import (
	"html/template"
	"strings"

	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/office"
	"github.com/gesundheitsamt/portal/internal/store"
)

// fieldError is one entry of a page's error summary: the id of the field it
// links to and the localized message.
type fieldError struct {
	Field   string
	Message string
}

// serviceView is a catalogue entry as a page shows it.
type serviceView struct {
	Slug       string
	Title      string
	Summary    string
	Body       string
	LegalBasis string
	URL        string
}

// officeView is an office as a page shows it.
type officeView struct {
	Name       string
	URL        string
	Street     string
	PostalCode string
	City       string
	Phone      string
	PhoneHref  template.URL // tel: URI, digits and + only
	Email      string
	Website    string
	Areas      []string // "04103–04357"
}

// postalSearch is the postal-code form and its outcome, shared by the start
// page and the service pages (templates/partials.html: "postal-search").
type postalSearch struct {
	Action   string // where the form sends the code (GET)
	Value    string // what the person typed, kept on error
	Error    string // localized message, empty when none
	Searched bool   // a valid code was looked up
	Code     string // the valid code looked up
	NoOffice bool   // no office of this installation is responsible
	Choices  []officeView
}

// serviceOf describes a service from its messages (service.<slug>.*). The
// catalogue lives in the database, so a service may lack them: it then
// shows its slug rather than message ids.
func serviceOf(loc *i18n.Localizer, slug, url string) serviceView {
	prefix := "service." + slug + "."
	text := func(part string) string {
		if !loc.Has(prefix + part) {
			return ""
		}
		return loc.T(prefix + part)
	}
	v := serviceView{
		Slug: slug, URL: url,
		Title: text("title"), Summary: text("summary"), Body: text("body"), LegalBasis: text("legal"),
	}
	if v.Title == "" {
		v.Title = slug
	}
	return v
}

func officeOf(e *office.Entry) officeView {
	v := officeView{
		Name: e.Name, URL: "/amt/" + e.Slug,
		Street: e.Street, PostalCode: e.PostalCode, City: e.City,
		Phone: e.Phone, Email: e.Email, Website: e.Website,
	}
	if dial := dialable(e.Phone); dial != "" {
		v.PhoneHref = template.URL("tel:" + dial) // safe: only + and digits
	}
	for _, a := range e.Areas {
		v.Areas = append(v.Areas, areaText(a))
	}
	return v
}

// dialable keeps the + and digits of a phone number as written for people
// ("+49 341 123-6700" → "+493411236700").
func dialable(phone string) string {
	var b strings.Builder
	for i, r := range phone {
		if r >= '0' && r <= '9' || r == '+' && i == 0 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func areaText(a store.PostalArea) string {
	if a.FirstCode == a.LastCode {
		return a.FirstCode
	}
	return a.FirstCode + "–" + a.LastCode
}

// contactData is what the "office-contact" partial takes.
type contactData struct {
	L      *i18n.Localizer
	Office officeView
}

// Contact lets a template pass an office to the "office-contact" partial
// together with the page's localizer.
func (p page) Contact(o officeView) contactData { return contactData{L: p.L, Office: o} }
