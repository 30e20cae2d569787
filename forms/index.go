package forms

import "strings"

// Index is what the back office lists and searches of a submission.
type Index struct {
	Applicant string // "Nachname, Vorname" from the fields marked given-name and family-name
	Email     string // the first address of a field marked autocomplete: email, for notification mails
	Text      string // answers every staff member may read, in German, for full-text search
	Medical   string // answers marked confidential: medical, searched only for physicians
}

// IndexOf returns the index of the visible answers a of form f. Options
// are indexed by their German labels, dates as 31.12.2000, files by name;
// checkboxes add nothing worth finding.
func IndexOf(f *Form, a *Answers) Index {
	var ix Index
	var given, family string
	var text, medical strings.Builder
	for _, sec := range Summarize(f, a, "de", Words{}) {
		for _, it := range sec.Items {
			if it.Empty || it.Value == "" {
				continue
			}
			b := &text
			if it.Confidential {
				b = &medical
			}
			b.WriteString(it.Value)
			b.WriteByte('\n')
		}
	}
	for _, s := range f.Steps {
		for _, fd := range s.Fields {
			for _, x := range append([]*Field{fd}, fd.Fields...) {
				if fd.Repeats() || !a.Visible(x, 0) || x.Confidential == ConfidentialMedical {
					continue
				}
				switch {
				case x.Autocomplete == "given-name" && given == "":
					given = a.Value(Name(x, 0))
				case x.Autocomplete == "family-name" && family == "":
					family = a.Value(Name(x, 0))
				case x.Autocomplete == "email" && ix.Email == "":
					ix.Email = a.Value(Name(x, 0))
				}
			}
		}
	}
	switch {
	case family != "" && given != "":
		ix.Applicant = family + ", " + given
	default:
		ix.Applicant = family + given
	}
	ix.Text, ix.Medical = text.String(), medical.String()
	return ix
}
