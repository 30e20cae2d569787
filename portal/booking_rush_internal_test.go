package portal

import (
	"strings"
	"testing"

	"github.com/gesundheitsamt/portal/internal/config"
)

// FuzzRushTicket: whatever a cookie holds, the check never panics and
// accepts only what the portal signed for that rush and address.
func FuzzRushTicket(f *testing.F) {
	s := &Server{cfg: config.Config{SecretKey: []byte(strings.Repeat("fuzz-secret-", 4))}}
	client := s.keyed("booking-rush", "192.0.2.1")
	f.Add(s.rushTicket(7, 1, client))
	f.Add(s.rushTicket(7, 1<<40, client))
	f.Add("7.1.")
	f.Add("7..x")
	f.Add("..")
	f.Add("7.-1." + s.rushMAC("7.-1", client))
	f.Fuzz(func(t *testing.T, ticket string) {
		n, ok := s.checkRushTicket(ticket, 7, client)
		if !ok {
			return
		}
		if n < 1 || ticket != s.rushTicket(7, n, client) {
			t.Fatalf("accepted %q as number %d", ticket, n)
		}
		if _, other := s.checkRushTicket(ticket, 8, client); other {
			t.Fatalf("%q of rush 7 accepted for rush 8", ticket)
		}
		if _, other := s.checkRushTicket(ticket, 7, s.keyed("booking-rush", "192.0.2.2")); other {
			t.Fatalf("%q of one address accepted for another", ticket)
		}
	})
}
