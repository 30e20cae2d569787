package forms

// Visible reports whether field fd, in instance n of its group, is shown
// with these answers. A field is hidden when its condition fails or its
// group is hidden; a hidden field counts as unanswered in the conditions of
// other fields, so hiding cascades.
func (a *Answers) Visible(fd *Field, n int) bool {
	if fd.parent != nil && !a.Visible(fd.parent, 0) {
		return false
	}
	return fd.VisibleIf == nil || a.holds(fd.VisibleIf, fd, n)
}

func (a *Answers) holds(c *Condition, owner *Field, n int) bool {
	switch {
	case c.Not != nil:
		return !a.holds(c.Not, owner, n)
	case c.All != nil:
		for _, sub := range c.All {
			if !a.holds(sub, owner, n) {
				return false
			}
		}
		return true
	case c.Any != nil:
		for _, sub := range c.Any {
			if a.holds(sub, owner, n) {
				return true
			}
		}
		return false
	}
	ref, ok := owner.step.form.fields[c.Field]
	if !ok || !a.Visible(ref, n) {
		return false
	}
	values := a.Values[Name(ref, n)]
	if c.Equals != nil {
		for _, v := range values {
			if v == *c.Equals {
				return true
			}
		}
		return false
	}
	for _, v := range values {
		for _, want := range c.In {
			if v == want {
				return true
			}
		}
	}
	return false
}

// VisibleSet returns the input names of the step's fields that are shown,
// in order; groups are represented by their id. Comparing the sets before
// and after a post tells whether an answer opened new questions.
func (a *Answers) VisibleSet(s *Step) []string {
	var out []string
	for _, fd := range s.Fields {
		if !a.Visible(fd, 0) {
			continue
		}
		out = append(out, fd.ID)
		if fd.Type != TypeGroup {
			continue
		}
		for i := range a.Entries(fd) {
			for _, child := range fd.Fields {
				if a.Visible(child, i) {
					out = append(out, Name(child, i))
				}
			}
		}
	}
	return out
}
