package portal

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/booking"
	"github.com/gesundheitsamt/portal/internal/store"
)

// appointmentsWeekPage is the data of
// templates/staff_appointments_week.html: per day of a week and
// calendar, how many appointments are booked and how many places free,
// as a list under each day's heading (it reflows on a phone, where a
// table of days and calendars would not).
type appointmentsWeekPage struct {
	staffPage
	Filter    appointmentsFilter // Day: the week's date as typed
	Choices   []optionView
	DayError  string
	Heading   string // "7. Dezember 2026 bis 13. Dezember 2026"
	Calendars int    // how many calendars each day lists
	Days      []weekDay
	Prev      string
	Next      string
	DayView   string // the day view of the week's first day
}

type weekDay struct {
	ID      string // of the heading
	Heading string
	Cells   []weekCell
}

// weekCell is one calendar's day: a link to its day view with the
// counts, or "no consulting hours" for a day without slots or
// appointments.
type weekCell struct {
	Calendar string
	URL      string
	Text     string
}

// showAppointmentsWeek answers GET /staff/termine?woche=: Monday to
// Friday of the week of the day given, Saturday and Sunday when a
// calendar has slots or appointments on them.
func (s *Server) showAppointmentsWeek(c *fiber.Ctx) error {
	sp, err := s.newStaffPage(c, "staff.appointments.week.title")
	if err != nil {
		return err
	}
	p := appointmentsWeekPage{staffPage: sp, Filter: appointmentsFilter{Key: "woche", ID: "appointments-week", Label: sp.L.T("staff.appointments.filter.week"),
		Day: cleanText(c.Query("woche")), Calendar: cleanText(c.Query("kalender"))}}
	office, cals, err := s.appointmentCalendars(c, p.Filter.Calendar)
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	day, ok := s.parseDay(p.Filter.Day)
	if ok {
		p.Filter.Day = day.Format(time.DateOnly)
	} else {
		p.DayError = p.L.T("staff.appointments.error_day")
		p.Errors = []fieldError{{Field: "appointments-week", Message: p.DayError}}
		status = fiber.StatusUnprocessableEntity
	}
	monday := day.AddDate(0, 0, -(int(day.Weekday())+6)%7)
	sunday := monday.AddDate(0, 0, 6)
	p.Heading = p.L.Tf("booking.week", "From", dayName(p.L, monday, false), "To", dayName(p.L, sunday, false))
	p.Choices = calendarChoices(p.L, cals, p.Filter.Calendar)
	list, err := s.booking.ListAppointments(c.UserContext(), staffBookingAccess(c), booking.AppointmentFilter{
		Calendar: p.Filter.Calendar, FirstDay: monday, LastDay: sunday, States: []string{store.BookingBooked},
	})
	if err != nil {
		return err
	}
	type counts struct {
		slots, free, booked int
	}
	var shown []store.Calendar
	perDay := make([]map[int64]*counts, 7) // by day of the week, then calendar
	for i := range perDay {
		perDay[i] = map[int64]*counts{}
	}
	index := func(t time.Time) int {
		t = t.In(s.loc)
		return int(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Sub(time.Date(monday.Year(), monday.Month(), monday.Day(), 0, 0, 0, 0, time.UTC)) / (24 * time.Hour))
	}
	for _, cal := range cals {
		if p.Filter.Calendar != "" && cal.Slug != p.Filter.Calendar {
			continue
		}
		shown = append(shown, cal)
		p.Calendars++
		for i := range perDay {
			perDay[i][cal.ID] = &counts{}
		}
		_, days, err := s.booking.Schedule(c.UserContext(), office, cal.ID, monday, sunday.AddDate(0, 0, 1))
		if err != nil {
			return err
		}
		for _, d := range days {
			n := perDay[index(d.Date)][cal.ID]
			for _, sl := range d.Slots {
				n.slots++
				n.free += sl.Free
			}
		}
	}
	for _, b := range list {
		if n := perDay[index(b.Start)][b.Calendar.ID]; n != nil {
			n.booked++
		}
	}
	for i := range perDay {
		date := monday.AddDate(0, 0, i)
		busy := false
		row := weekDay{ID: "tag-" + date.Format(time.DateOnly), Heading: p.L.Tf("staff.appointments.week.day_name", "Weekday", nth(p.L.T("booking.weekdays"), int(date.Weekday())),
			"Day", date.Day(), "Month", nth(p.L.T("booking.months"), int(date.Month())-1))}
		for _, cal := range shown {
			n := perDay[i][cal.ID]
			if n.slots == 0 && n.booked == 0 {
				row.Cells = append(row.Cells, weekCell{Calendar: cal.Name, Text: p.L.T("staff.appointments.week.closed")})
				continue
			}
			busy = true
			row.Cells = append(row.Cells, weekCell{
				Calendar: cal.Name, URL: appointmentsURL("tag", date, cal.Slug),
				Text: p.L.Tf("staff.appointments.week.counts", "Booked", n.booked, "Free", n.free),
			})
		}
		if i < 5 || busy {
			p.Days = append(p.Days, row)
		}
	}
	p.Prev = appointmentsURL("woche", monday.AddDate(0, 0, -7), p.Filter.Calendar)
	p.Next = appointmentsURL("woche", monday.AddDate(0, 0, 7), p.Filter.Calendar)
	p.DayView = appointmentsURL("tag", monday, p.Filter.Calendar)
	return s.views.render(c, status, "staff_appointments_week", p)
}
