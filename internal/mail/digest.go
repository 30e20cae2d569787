package mail

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/gesundheitsamt/portal/internal/domain"
	"github.com/gesundheitsamt/portal/internal/fault"
	"github.com/gesundheitsamt/portal/internal/i18n"
	"github.com/gesundheitsamt/portal/internal/store"

	htmltemplate "html/template"
	texttemplate "text/template"
)

// TemplateDigest is the daily summary to an office's inbox address, for
// offices that chose it instead of a mail per submission (store.NotifyDaily):
// counts of the day, the open cases, links; no reference, no name.
const TemplateDigest = "digest"

// DigestAt is when the summary of the day before goes out, in the portal's
// time zone: before the office opens.
const DigestAt = 6*time.Hour + 30*time.Minute

// dayLayout is how a digest's day is written in its job.
const dayLayout = "2006-01-02"

// DigestPlanArgs is the daily job that enqueues one summary per office
// that wants one. Day makes it unique: however many processes or leaders
// plan, a day is planned once.
type DigestPlanArgs struct {
	Day string `json:"day" river:"unique"` // the day summarised, YYYY-MM-DD
}

// Kind names the job kind in River.
func (DigestPlanArgs) Kind() string { return "mail.digest.plan" }

// InsertOpts puts every plan, however inserted, on the mail queue, once
// per day.
func (DigestPlanArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// DailyAt is a River schedule: every day at the time of day At in Loc
// (a wall-clock time, so it follows daylight saving time).
type DailyAt struct {
	At  time.Duration
	Loc *time.Location
}

// Next returns the first time after t at the time of day.
func (d DailyAt) Next(t time.Time) time.Time {
	t = t.In(d.Loc)
	h, m := int(d.At/time.Hour), int(d.At%time.Hour/time.Minute)
	n := time.Date(t.Year(), t.Month(), t.Day(), h, m, 0, 0, d.Loc)
	if !n.After(t) {
		n = time.Date(t.Year(), t.Month(), t.Day()+1, h, m, 0, 0, d.Loc)
	}
	return n
}

// PeriodicDigest is the River periodic job that plans the summaries of
// yesterday at DigestAt. It also runs when a process becomes leader: River
// keeps its schedule only in memory, so a restart over DigestAt would skip
// a day; the unique Day makes the extra run harmless.
func PeriodicDigest(loc *time.Location) *river.PeriodicJob {
	return river.NewPeriodicJob(DailyAt{At: DigestAt, Loc: loc}, func() (river.JobArgs, *river.InsertOpts) {
		day := time.Now().In(loc).AddDate(0, 0, -1).Format(dayLayout)
		return DigestPlanArgs{Day: day}, nil
	}, &river.PeriodicJobOpts{ID: "mail.digest", RunOnStart: true})
}

// DigestPlanner works DigestPlanArgs.
type DigestPlanner struct {
	river.WorkerDefaults[DigestPlanArgs]
	DB *store.DB
}

// Work enqueues the day's summary for each office that wants one.
func (p *DigestPlanner) Work(ctx context.Context, job *river.Job[DigestPlanArgs]) error {
	if _, err := time.Parse(dayLayout, job.Args.Day); err != nil {
		return river.JobCancel(fmt.Errorf("mail: digest day %q: %w", job.Args.Day, err))
	}
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	return PlanDigests(ctx, p.DB, client, job.Args.Day)
}

// PlanDigests enqueues the summary of day (YYYY-MM-DD) for every office
// that wants one: one job per office and day, however often it is called.
func PlanDigests(ctx context.Context, db *store.DB, client *river.Client[pgx.Tx], day string) error {
	offices, err := store.ListDigestOffices(ctx, db)
	if err != nil || len(offices) == 0 {
		return err
	}
	params := make([]river.InsertManyParams, 0, len(offices))
	for _, o := range offices {
		key := "digest:" + strconv.FormatInt(o.ID, 10) + ":" + day
		params = append(params, river.InsertManyParams{Args: Args{Key: key, Template: TemplateDigest, OfficeID: o.ID, Day: day}, InsertOpts: insertOpts()})
	}
	if _, err := client.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("mail: enqueue digests: %w", err)
	}
	return nil
}

// digestData is what the summary shows.
type digestData struct {
	L         *i18n.Localizer
	Subject   string
	Date      string
	Office    string
	Counts    store.DayCounts
	Services  []countRow // new submissions by service, in catalogue order
	Open      []countRow // open cases by status
	Link      string     // the inbox
	MailsLink string     // the admin's list of refused mails
}

type countRow struct {
	Label string
	N     int64
}

// digestMail is the summary of a.Day for office a.OfficeID. Errors:
// NotFound (the office no longer wants it, has no address, or the day
// was quiet: no mail that says nothing).
func (w *Worker) digestMail(ctx context.Context, a Args) (Message, error) {
	office, err := store.GetOffice(ctx, w.DB, a.OfficeID)
	if err != nil {
		return Message{}, err
	}
	if office.Notify != store.NotifyDaily || office.Email == "" {
		return Message{}, fault.New(fault.NotFound, "mail: digest", "")
	}
	day, err := time.ParseInLocation(dayLayout, a.Day, w.location())
	if err != nil {
		return Message{}, river.JobCancel(fmt.Errorf("mail: digest day %q: %w", a.Day, err))
	}
	counts, err := store.CountDay(ctx, w.DB, a.OfficeID, day, day.AddDate(0, 0, 1))
	if err != nil {
		return Message{}, err
	}
	if counts.Empty() {
		return Message{}, fault.New(fault.NotFound, "mail: digest", "")
	}
	open, err := store.CountByStatus(ctx, w.DB, a.OfficeID)
	if err != nil {
		return Message{}, err
	}
	l := w.Bundle.Localizer("de")
	d := digestData{
		L: l, Date: day.Format("02.01.2006"), Office: office.Name, Counts: counts,
		Link:      w.BaseURL.JoinPath("staff").String() + "/",
		MailsLink: w.BaseURL.JoinPath("staff", "verwaltung", "mail").String(),
	}
	services, err := store.ListServices(ctx, w.DB)
	if err != nil {
		return Message{}, err
	}
	for _, s := range services {
		if n := counts.ByService[s.Slug]; n > 0 {
			d.Services = append(d.Services, countRow{Label: text(l, "service."+s.Slug+".title", s.Slug), N: int64(n)})
		}
	}
	for _, st := range domain.Statuses {
		if st.Closed() {
			continue
		}
		d.Open = append(d.Open, countRow{Label: text(l, "status.state."+string(st), string(st)), N: open[st]})
	}
	d.Subject = l.Tf("mail.digest.subject", "Date", d.Date, "New", strconv.Itoa(counts.New))
	txt, html, err := render(digestText, digestHTML, d)
	if err != nil {
		return Message{}, err
	}
	return Message{
		From: Address{Name: l.T("mail.office_new.from"), Email: w.From}, To: Address{Name: office.Name, Email: office.Email},
		Subject: d.Subject, Text: txt, HTML: html,
		MessageID: messageID(w.From, "digest", strconv.FormatInt(office.ID, 10), a.Day),
	}, nil
}

var digestText = texttemplate.Must(texttemplate.New("digest").Parse(`{{.L.Tf "mail.digest.intro" "Date" .Date "Office" .Office}}

{{.L.T "mail.digest.new"}}: {{.Counts.New}}
{{range .Services}}  - {{.Label}}: {{.N}}
{{end}}{{.L.T "mail.digest.answers"}}: {{.Counts.Answers}}
{{- if .Counts.Refused}}
{{.L.T "mail.digest.refused"}}: {{.Counts.Refused}}
{{.MailsLink}}
{{- end}}

{{.L.T "mail.digest.open"}}:
{{range .Open}}  - {{.Label}}: {{.N}}
{{end}}
{{.L.T "mail.digest.link"}}:
{{.Link}}

-- 
{{.L.T "mail.digest.footer"}}
`))

var digestHTML = htmltemplate.Must(htmltemplate.New("digest").Parse(`<!DOCTYPE html>
<html lang="de">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>{{.Subject}}</title></head>
<body style="font-family: Arial, Helvetica, sans-serif; font-size: 16px; line-height: 1.5; color: #1a1a1a; max-width: 40em; margin: 0 auto; padding: 1em;">
<p>{{.L.Tf "mail.digest.intro" "Date" .Date "Office" .Office}}</p>
<p><strong>{{.L.T "mail.digest.new"}}: {{.Counts.New}}</strong></p>
{{- with .Services}}
<ul>
{{- range .}}
<li>{{.Label}}: {{.N}}</li>
{{- end}}
</ul>
{{- end}}
<p>{{.L.T "mail.digest.answers"}}: {{.Counts.Answers}}</p>
{{- if .Counts.Refused}}
<p>{{.L.T "mail.digest.refused"}}: {{.Counts.Refused}} – <a href="{{.MailsLink}}" style="color: #1d4f91;">{{.L.T "mail.digest.refused_link"}}</a></p>
{{- end}}
<p>{{.L.T "mail.digest.open"}}:</p>
<ul>
{{- range .Open}}
<li>{{.Label}}: {{.N}}</li>
{{- end}}
</ul>
<p><a href="{{.Link}}" style="color: #1d4f91; font-weight: bold;">{{.L.T "mail.digest.link"}}</a></p>
<p style="color: #505a5f; font-size: 14px;">{{.L.T "mail.digest.footer"}}</p>
</body>
</html>
`))
