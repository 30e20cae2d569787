package portal

import (
	"github.com/gofiber/fiber/v2"

	"github.com/gesundheitsamt/portal/internal/mail"
	"github.com/gesundheitsamt/portal/internal/store"
)

// devMailPage is the data of templates/dev_mail.html.
type devMailPage struct {
	page
	Mails []devMailView
}

type devMailView struct {
	mail.Read
	At string
}

// devMailbox reports whether mails go to the development mailbox: no
// SMTP_URL outside production.
func (s *Server) devMailbox() bool { return !s.cfg.Production() && s.cfg.SMTPURL == "" }

// showDevMail answers GET /dev/mail (development only): the newest mails
// the portal would have sent, with their links, so every link of every
// mail can be followed on a developer's machine.
func (s *Server) showDevMail(c *fiber.Ctx) error {
	rows, err := store.ListDevMail(c.UserContext(), s.db, 50)
	if err != nil {
		return err
	}
	p := devMailPage{page: s.newPage(c, "dev.mail.title")}
	for _, r := range rows {
		m, err := mail.Parse(r.Message)
		if err != nil {
			m.Subject = err.Error()
		}
		p.Mails = append(p.Mails, devMailView{Read: m, At: formatTime(p.L, r.At, s.loc)})
	}
	return s.views.render(c, fiber.StatusOK, "dev_mail", p)
}
