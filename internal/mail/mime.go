package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"
	"unicode"

	gomail "github.com/emersion/go-message/mail"
)

// Message is a mail to write.
type Message struct {
	From        Address
	ReplyTo     *Address
	To          Address
	Subject     string
	Text        string // the plain-text part
	HTML        string // the HTML part (the same content)
	Attachments []Attachment
	Date        time.Time
	MessageID   string // <...@domain> without brackets; generated when empty
}

// Address is a mailbox with an optional display name.
type Address struct {
	Name, Email string
}

// Attachment is a file attached to a mail. MediaType may carry
// parameters ("text/calendar; charset=utf-8; method=REQUEST"): a calendar
// client reads the method from them.
type Attachment struct {
	Name, MediaType string
	Content         []byte
}

// oneLine keeps a header value on one line: control characters, CR and
// LF among them, become spaces, so nothing typed into a form can start a
// header of its own.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func (a Address) mail() *gomail.Address {
	return &gomail.Address{Name: oneLine(a.Name), Address: oneLine(a.Email)}
}

// Encode writes m as an RFC 5322 message: multipart/alternative of text
// and HTML, inside multipart/mixed when there are attachments. It returns
// the Message-ID used.
func (m Message) Encode(w io.Writer) (string, error) {
	var h gomail.Header
	if m.Date.IsZero() {
		m.Date = time.Now()
	}
	h.SetDate(m.Date)
	h.SetAddressList("From", []*gomail.Address{m.From.mail()})
	h.SetAddressList("To", []*gomail.Address{m.To.mail()})
	if m.ReplyTo != nil {
		h.SetAddressList("Reply-To", []*gomail.Address{m.ReplyTo.mail()})
	}
	h.SetSubject(oneLine(m.Subject))
	id := m.MessageID
	if id == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		domain := "portal.invalid"
		if _, d, ok := strings.Cut(m.From.Email, "@"); ok && d != "" {
			domain = oneLine(d)
		}
		id = hex.EncodeToString(b) + "@" + domain
	}
	h.SetMessageID(id)
	// RFC 3834: an automatic mail; no auto-replies, no vacation notices.
	h.Set("Auto-Submitted", "auto-generated")
	h.Set("X-Auto-Response-Suppress", "All")

	mw, err := gomail.CreateWriter(w, h)
	if err != nil {
		return "", fmt.Errorf("mail: encode: %w", err)
	}
	iw, err := mw.CreateInline()
	if err != nil {
		return "", fmt.Errorf("mail: encode: %w", err)
	}
	for _, part := range []struct{ mediaType, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		var ih gomail.InlineHeader
		ih.SetContentType(part.mediaType, map[string]string{"charset": "utf-8"})
		ih.Set("Content-Transfer-Encoding", "quoted-printable")
		pw, err := iw.CreatePart(ih)
		if err != nil {
			return "", fmt.Errorf("mail: encode: %w", err)
		}
		if _, err := io.WriteString(pw, part.body); err != nil {
			return "", fmt.Errorf("mail: encode: %w", err)
		}
		if err := pw.Close(); err != nil {
			return "", fmt.Errorf("mail: encode: %w", err)
		}
	}
	if err := iw.Close(); err != nil {
		return "", fmt.Errorf("mail: encode: %w", err)
	}
	for _, a := range m.Attachments {
		mediaType, params, err := mime.ParseMediaType(a.MediaType)
		if err != nil {
			return "", fmt.Errorf("mail: encode: attachment %q: %w", a.Name, err)
		}
		var ah gomail.AttachmentHeader
		ah.SetContentType(mediaType, params)
		ah.SetFilename(oneLine(a.Name))
		ah.Set("Content-Transfer-Encoding", "base64")
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return "", fmt.Errorf("mail: encode: %w", err)
		}
		if _, err := aw.Write(a.Content); err != nil {
			return "", fmt.Errorf("mail: encode: %w", err)
		}
		if err := aw.Close(); err != nil {
			return "", fmt.Errorf("mail: encode: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return "", fmt.Errorf("mail: encode: %w", err)
	}
	return id, nil
}

// Bytes is Encode into memory.
func (m Message) Bytes() ([]byte, string, error) {
	var buf bytes.Buffer
	id, err := m.Encode(&buf)
	return buf.Bytes(), id, err
}

// Read is a mail as the development mailbox shows it.
type Read struct {
	Subject     string
	From, To    string
	Date        time.Time
	Text        string
	Links       []string
	Attachments []string
}

// Parse reads an encoded mail: its subject, addresses, plain text, the
// links in it and the attachments' names.
func Parse(raw []byte) (Read, error) {
	r, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		return Read{}, fmt.Errorf("mail: parse: %w", err)
	}
	var out Read
	out.Subject, _ = r.Header.Subject()
	out.Date, _ = r.Header.Date()
	if as, err := r.Header.AddressList("From"); err == nil && len(as) > 0 {
		out.From = as[0].String()
	}
	if as, err := r.Header.AddressList("To"); err == nil && len(as) > 0 {
		out.To = as[0].String()
	}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, fmt.Errorf("mail: parse: %w", err)
		}
		switch h := p.Header.(type) {
		case *gomail.InlineHeader:
			if t, _, _ := h.ContentType(); t == "text/plain" {
				b, _ := io.ReadAll(p.Body)
				out.Text = string(b)
			}
		case *gomail.AttachmentHeader:
			name, _ := h.Filename()
			out.Attachments = append(out.Attachments, name)
		}
	}
	for _, f := range strings.Fields(out.Text) {
		if strings.HasPrefix(f, "http://") || strings.HasPrefix(f, "https://") {
			out.Links = append(out.Links, f)
		}
	}
	return out, nil
}
