package mail

import (
	"strings"

	"github.com/gesundheitsamt/portal/internal/i18n"

	htmltemplate "html/template"
	texttemplate "text/template"
)

// A mail template: the plain-text and the HTML body, from the same
// localized messages (locales/, mail.*). Each names the service and the
// reference number and links to the status page; none shows an answer.
type mailTemplate struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// bodies are the mails' own paragraphs (message ids) by template.
var bodies = map[string][]string{
	TemplateReceipt:  {"mail.receipt.intro", "mail.receipt.next"},
	TemplateStatus:   {"mail.status.intro"},
	TemplateQuestion: {"mail.question.intro"},
	TemplateOffered:  {"mail.offered.intro"},
}

const textBody = `{{.L.T "mail.greeting"}}

{{range .Paragraphs}}{{call $.P .}}

{{end}}{{.L.T "mail.link_intro"}}
{{.Link}}

{{.L.T "mail.link_secret"}}

{{.L.T "mail.reply"}}
{{.Office.Name}}
{{with .Office.Street}}{{.}}
{{end}}{{.Office.PostalCode}} {{.Office.City}}
{{with .Office.Phone}}{{.}}
{{end}}{{with .Office.Email}}{{.}}
{{end}}
-- 
{{.L.T "mail.footer"}}
`

const htmlBody = `<!DOCTYPE html>
<html lang="{{.L.Lang.Code}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>{{.Subject}}</title></head>
<body style="font-family: Arial, Helvetica, sans-serif; font-size: 16px; line-height: 1.5; color: #1a1a1a; max-width: 40em; margin: 0 auto; padding: 1em;">
<p>{{.L.T "mail.greeting"}}</p>
{{range .Paragraphs}}<p>{{call $.P .}}</p>
{{end}}<p><a href="{{.Link}}" style="color: #1d4f91; font-weight: bold;">{{.L.T "mail.link_text"}}</a></p>
<p>{{.L.T "mail.link_secret"}}</p>
<p>{{.L.T "mail.reply"}}<br>
<strong>{{.Office.Name}}</strong><br>
{{with .Office.Street}}{{.}}<br>{{end}}{{.Office.PostalCode}} {{.Office.City}}{{with .Office.Phone}}<br>{{.}}{{end}}{{with .Office.Email}}<br>{{.}}{{end}}</p>
<p style="color: #505a5f; font-size: 14px;">{{.L.T "mail.footer"}}</p>
</body>
</html>
`

// render writes a mail's two bodies from the same data.
func render(text *texttemplate.Template, html *htmltemplate.Template, data any) (string, string, error) {
	var t, h strings.Builder
	if err := text.Execute(&t, data); err != nil {
		return "", "", err
	}
	if err := html.Execute(&h, data); err != nil {
		return "", "", err
	}
	return t.String(), h.String(), nil
}

var templates = func() map[string]mailTemplate {
	out := map[string]mailTemplate{}
	for name := range bodies {
		out[name] = mailTemplate{
			text: texttemplate.Must(texttemplate.New(name).Parse(textBody)),
			html: htmltemplate.Must(htmltemplate.New(name).Parse(htmlBody)),
		}
	}
	return out
}()

// officeData is what the office notice shows.
type officeData struct {
	L         *i18n.Localizer
	Subject   string
	Reference string
	Service   string
	Received  string
	Link      string
}

var officeText = texttemplate.Must(texttemplate.New("office_new").Parse(`{{.L.T "mail.office_new.intro"}}

{{.L.T "receipt.service"}}: {{.Service}}
{{.L.T "staff.export.reference"}}: {{.Reference}}
{{.L.T "receipt.submitted_at"}}: {{.Received}}

{{.Link}}

-- 
{{.L.T "mail.office_new.footer"}}
`))

var officeHTML = htmltemplate.Must(htmltemplate.New("office_new").Parse(`<!DOCTYPE html>
<html lang="de">
<head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: Arial, Helvetica, sans-serif; font-size: 16px; line-height: 1.5; color: #1a1a1a; max-width: 40em; margin: 0 auto; padding: 1em;">
<p>{{.L.T "mail.office_new.intro"}}</p>
<dl>
<dt>{{.L.T "receipt.service"}}</dt><dd>{{.Service}}</dd>
<dt>{{.L.T "staff.export.reference"}}</dt><dd>{{.Reference}}</dd>
<dt>{{.L.T "receipt.submitted_at"}}</dt><dd>{{.Received}}</dd>
</dl>
<p><a href="{{.Link}}" style="color: #1d4f91; font-weight: bold;">{{.L.T "mail.office_new.link"}}</a></p>
<p style="color: #505a5f; font-size: 14px;">{{.L.T "mail.office_new.footer"}}</p>
</body>
</html>
`))

// The resume mail: the same shape as the citizens' other mails, with the
// resume link instead of the status page.
var resumeText = texttemplate.Must(texttemplate.New("resume").Parse(`{{.L.T "mail.greeting"}}

{{call .P "mail.resume.intro"}}

{{.Link}}

{{call .P "mail.resume.expires"}}

{{.L.T "mail.resume.secret"}}

-- 
{{.L.T "mail.resume.footer"}}
`))

var resumeHTML = htmltemplate.Must(htmltemplate.New("resume").Parse(`<!DOCTYPE html>
<html lang="{{.L.Lang.Code}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>{{.Subject}}</title></head>
<body style="font-family: Arial, Helvetica, sans-serif; font-size: 16px; line-height: 1.5; color: #1a1a1a; max-width: 40em; margin: 0 auto; padding: 1em;">
<p>{{.L.T "mail.greeting"}}</p>
<p>{{call .P "mail.resume.intro"}}</p>
<p><a href="{{.Link}}" style="color: #1d4f91; font-weight: bold;">{{.L.T "mail.resume.link_text"}}</a></p>
<p>{{call .P "mail.resume.expires"}}</p>
<p>{{.L.T "mail.resume.secret"}}</p>
<p style="color: #505a5f; font-size: 14px;">{{.L.T "mail.resume.footer"}}</p>
</body>
</html>
`))

// The video consultation's mails: the appointment's facts, then the join
// link with when it works, what is needed and that it is personal (a
// cancellation says whom to contact instead), the calendar file, the
// office.
var videoText = texttemplate.Must(texttemplate.New("video").Parse(`{{.Greeting}}

{{.Intro}}

{{.L.T "mail.video.date"}}: {{.Date}}
{{.L.T "mail.video.time"}}: {{.Time}}
{{.L.T "mail.video.length"}}: {{.Length}}
{{with .Reference}}{{$.L.T "mail.video.reference"}}: {{.}}
{{end}}
{{if .Link}}{{.LinkIntro}}
{{.Link}}

{{.Window}}

{{.L.T "mail.video.needs"}}

{{.Secret}}
{{else}}{{.Contact}}
{{end}}
{{.Calendar}}

{{.Reply}}
{{.Office.Name}}
{{with .Office.Street}}{{.}}
{{end}}{{.Office.PostalCode}} {{.Office.City}}
{{with .Office.Phone}}{{.}}
{{end}}{{with .Office.Email}}{{.}}
{{end}}
-- 
{{.Footer}}
`))

var videoHTML = htmltemplate.Must(htmltemplate.New("video").Parse(`<!DOCTYPE html>
<html lang="{{.L.Lang.Code}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>{{.Subject}}</title></head>
<body style="font-family: Arial, Helvetica, sans-serif; font-size: 16px; line-height: 1.5; color: #1a1a1a; max-width: 40em; margin: 0 auto; padding: 1em;">
<p>{{.Greeting}}</p>
<p>{{.Intro}}</p>
<p><strong>{{.L.T "mail.video.date"}}:</strong> {{.Date}}<br>
<strong>{{.L.T "mail.video.time"}}:</strong> {{.Time}}<br>
<strong>{{.L.T "mail.video.length"}}:</strong> {{.Length}}{{with .Reference}}<br>
<strong>{{$.L.T "mail.video.reference"}}:</strong> {{.}}{{end}}</p>
{{if .Link}}<p>{{.LinkIntro}}</p>
<p><a href="{{.Link}}" style="color: #1d4f91; font-weight: bold;">{{.L.T "mail.video.link_text"}}</a></p>
<p>{{.Window}}</p>
<p>{{.L.T "mail.video.needs"}}</p>
<p>{{.Secret}}</p>
{{else}}<p>{{.Contact}}</p>
{{end}}<p>{{.Calendar}}</p>
<p>{{.Reply}}<br>
<strong>{{.Office.Name}}</strong><br>
{{with .Office.Street}}{{.}}<br>{{end}}{{.Office.PostalCode}} {{.Office.City}}{{with .Office.Phone}}<br>{{.}}{{end}}{{with .Office.Email}}<br>{{.}}{{end}}</p>
<p style="color: #505a5f; font-size: 14px;">{{.Footer}}</p>
</body>
</html>
`))

// The booking mails: the appointment's facts (what, when, how long,
// where), then what the mail asks: the confirmation link with its
// deadline, or what to bring and the links to show, cancel and move the
// booking, or, cancelled, how to book again; the calendar file, the
// office. The HTML part carries the appointment as schema.org markup,
// marshalled as JSON by html/template inside the script element.
var bookingText = texttemplate.Must(texttemplate.New("booking").Parse(`{{.Greeting}}

{{.Intro}}

{{.L.T "mail.booking.service"}}: {{.Service}}
{{.L.T "mail.booking.date"}}: {{.Date}}
{{.L.T "mail.booking.time"}}: {{.Time}}
{{.L.T "mail.booking.length"}}: {{.Length}}
{{.L.T "mail.booking.place"}}: {{.Place}}
{{with .Join}}
{{.}}{{with $.JoinURL}}
{{.}}{{end}}
{{end}}
{{if .Confirm}}{{.ConfirmIntro}}
{{.Confirm}}

{{.Until}}

{{.Ignore}}

{{.Secret}}

{{else if .Show}}{{with .Bring}}{{.}}

{{end}}{{.L.T "mail.booking.show"}}:
{{.Show}}

{{.L.T "mail.booking.cancel"}}:
{{.Cancel}}

{{.L.T "mail.booking.move"}}:
{{.Move}}

{{.Secret}}

{{else}}{{.Rebook}}
{{.Again}}

{{end}}{{with .Calendar}}{{.}}

{{end}}{{.Reply}}
{{.Office.Name}}
{{with .Office.Street}}{{.}}
{{end}}{{.Office.PostalCode}} {{.Office.City}}
{{with .Office.Phone}}{{.}}
{{end}}{{with .Office.Email}}{{.}}
{{end}}
-- 
{{.Footer}}
`))

var bookingHTML = htmltemplate.Must(htmltemplate.New("booking").Parse(`<!DOCTYPE html>
<html lang="{{.L.Lang.Code}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>{{.Subject}}</title>
{{with .Reservation}}<script type="application/ld+json">{{.}}</script>
{{end}}</head>
<body style="font-family: Arial, Helvetica, sans-serif; font-size: 16px; line-height: 1.5; color: #1a1a1a; max-width: 40em; margin: 0 auto; padding: 1em;">
<p>{{.Greeting}}</p>
<p>{{.Intro}}</p>
<p><strong>{{.L.T "mail.booking.service"}}:</strong> {{.Service}}<br>
<strong>{{.L.T "mail.booking.date"}}:</strong> {{.Date}}<br>
<strong>{{.L.T "mail.booking.time"}}:</strong> {{.Time}}<br>
<strong>{{.L.T "mail.booking.length"}}:</strong> {{.Length}}<br>
<strong>{{.L.T "mail.booking.place"}}:</strong> {{.Place}}</p>
{{with .Join}}<p>{{.}}{{with $.JoinURL}}<br>
<a href="{{.}}" style="color: #1d4f91; font-weight: bold;">{{$.L.T "mail.booking.video_link_text"}}</a>{{end}}</p>
{{end}}{{if .Confirm}}<p>{{.ConfirmIntro}}</p>
<p><a href="{{.Confirm}}" style="color: #1d4f91; font-weight: bold;">{{.L.T "mail.booking_confirm.link_text"}}</a></p>
<p>{{.Until}}</p>
<p>{{.Ignore}}</p>
<p>{{.Secret}}</p>
{{else if .Show}}{{with .Bring}}<p>{{.}}</p>
{{end}}<ul>
<li><a href="{{.Show}}" style="color: #1d4f91; font-weight: bold;">{{.L.T "mail.booking.show"}}</a></li>
<li><a href="{{.Cancel}}" style="color: #1d4f91;">{{.L.T "mail.booking.cancel"}}</a></li>
<li><a href="{{.Move}}" style="color: #1d4f91;">{{.L.T "mail.booking.move"}}</a></li>
</ul>
<p>{{.Secret}}</p>
{{else}}<p>{{.Rebook}}<br>
<a href="{{.Again}}" style="color: #1d4f91; font-weight: bold;">{{.L.T "mail.booking_cancelled.rebook_link"}}</a></p>
{{end}}{{with .Calendar}}<p>{{.}}</p>
{{end}}<p>{{.Reply}}<br>
<strong>{{.Office.Name}}</strong><br>
{{with .Office.Street}}{{.}}<br>{{end}}{{.Office.PostalCode}} {{.Office.City}}{{with .Office.Phone}}<br>{{.}}{{end}}{{with .Office.Email}}<br>{{.}}{{end}}</p>
<p style="color: #505a5f; font-size: 14px;">{{.Footer}}</p>
</body>
</html>
`))
