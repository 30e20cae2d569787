package domain_test

import (
	"testing"

	"github.com/gesundheitsamt/portal/forms"
	"github.com/gesundheitsamt/portal/internal/domain"
)

// TestWorkflow is the whole table of transitions: every pair of states,
// allowed or not. A change of the workflow changes this table.
func TestWorkflow(t *testing.T) {
	allowed := map[[2]domain.Status]bool{
		{domain.Received, domain.InProgress}: true,
		{domain.InProgress, domain.Question}: true,
		{domain.InProgress, domain.Done}:     true,
		{domain.InProgress, domain.Rejected}: true,
		{domain.Question, domain.InProgress}: true,
	}
	for _, from := range domain.Statuses {
		for _, to := range domain.Statuses {
			t.Run(string(from)+"→"+string(to), func(t *testing.T) {
				if got, want := from.MayBecome(to), allowed[[2]domain.Status{from, to}]; got != want {
					t.Errorf("MayBecome = %v, want %v", got, want)
				}
			})
		}
		n := 0
		for _, to := range domain.Statuses {
			if allowed[[2]domain.Status{from, to}] {
				n++
			}
		}
		if len(from.Next()) != n {
			t.Errorf("%s.Next() = %v, want the %d allowed", from, from.Next(), n)
		}
	}
	if domain.Status("unbekannt").MayBecome(domain.InProgress) || len(domain.Status("").Next()) != 0 {
		t.Error("an unknown state moves somewhere")
	}
	if !domain.Question.MayBecome(domain.AnswerReturnsTo) {
		t.Error("the citizen's answer leads where staff could not go")
	}
}

func TestClosedStatesEndTheWorkflow(t *testing.T) {
	for _, s := range domain.Statuses {
		closed := s == domain.Done || s == domain.Rejected
		if s.Closed() != closed {
			t.Errorf("%s.Closed() = %v", s, s.Closed())
		}
		if closed && len(s.Next()) != 0 {
			t.Errorf("closed %s moves on to %v", s, s.Next())
		}
	}
}

func TestParseStatusAndRole(t *testing.T) {
	for _, s := range domain.Statuses {
		if got, ok := domain.ParseStatus(string(s)); !ok || got != s {
			t.Errorf("ParseStatus(%q) = %q, %v", s, got, ok)
		}
	}
	for _, bad := range []string{"", "Eingegangen", "closed", "in_bearbeitung "} {
		if _, ok := domain.ParseStatus(bad); ok {
			t.Errorf("ParseStatus(%q) ok", bad)
		}
		if _, ok := domain.ParseRole(bad); ok {
			t.Errorf("ParseRole(%q) ok", bad)
		}
	}
	for _, r := range domain.Roles {
		if got, ok := domain.ParseRole(string(r)); !ok || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, ok)
		}
		if r.ReadsMedical() != (r == domain.Physician) {
			t.Errorf("%s.ReadsMedical() = %v", r, r.ReadsMedical())
		}
	}
}

func TestActorStringRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		actor domain.Actor
		text  string
	}{
		{domain.StaffMember(12), "staff:12"},
		{domain.Token(3), "token:3"},
		{domain.Citizen, "citizen"},
		{domain.System, "system"},
	} {
		if got := tc.actor.String(); got != tc.text {
			t.Errorf("String() = %q, want %q", got, tc.text)
		}
		if back, ok := domain.ParseActor(tc.text); !ok || back != tc.actor {
			t.Errorf("ParseActor(%q) = %v, %v", tc.text, back, ok)
		}
	}
	for _, bad := range []string{"", "staff:", "staff:0", "staff:-1", "staff:012", "token:x", "root:1", "staff:1:2"} {
		if a, ok := domain.ParseActor(bad); ok {
			t.Errorf("ParseActor(%q) = %v", bad, a)
		}
	}
	if a := domain.StaffMember(5); a.StaffID() != 5 || a.TokenID() != 0 {
		t.Errorf("staff actor ids: %d, %d", a.StaffID(), a.TokenID())
	}
	if a := domain.Token(7); a.StaffID() != 0 || a.TokenID() != 7 {
		t.Errorf("token actor ids: %d, %d", a.StaffID(), a.TokenID())
	}
}

func TestActionFamilies(t *testing.T) {
	for _, tc := range []struct{ got, want domain.Action }{
		{domain.CaseStatus(domain.Done), "case.status.abgeschlossen"},
		{domain.Export(domain.CaseExport, "csv"), "export.csv"},
		{domain.MailRefused("receipt"), "mail.refused.receipt"},
		{domain.OfficeNotify("daily"), "office.notify.daily"},
		{domain.RetentionPeriod(0), "retention.period.default"},
		{domain.RetentionPeriod(24), "retention.period.24m"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestMedicalIsTheFormsWord: form definitions mark answers with the
// forms package's word (forms depends on nothing of ours), the services
// compare with domain.Medical.
func TestMedicalIsTheFormsWord(t *testing.T) {
	if string(domain.Medical) != forms.ConfidentialMedical {
		t.Fatalf("domain.Medical %q, forms.ConfidentialMedical %q", domain.Medical, forms.ConfidentialMedical)
	}
}
