package forms

// Visible reports whether field fd, in instance n of its group, is shown
// with these answers. A field is hidden when its condition fails or its
// group is hidden; a hidden field counts as unanswered in the conditions of
// other fields, so hiding cascades.
func (a *Answers) Visible(fd *Field, n int) bool {
	if fd.VisibleIf == nil && fd.parent == nil {
		return true
	}
	// Conditions may name fields that have conditions of their own, several
	// times over: remembering each answer keeps this linear in the number of
	// fields instead of exponential in the depth of the chain.
	return a.visible(fd, n, make(map[visibleKey]bool))
}

type visibleKey struct {
	fd *Field
	n  int
}

func (a *Answers) visible(fd *Field, n int, memo map[visibleKey]bool) bool {
	key := visibleKey{fd, n}
	if v, ok := memo[key]; ok {
		return v
	}
	v := (fd.parent == nil || a.visible(fd.parent, 0, memo)) &&
		(fd.VisibleIf == nil || a.holds(fd.VisibleIf, fd, n, memo))
	memo[key] = v
	return v
}

func (a *Answers) holds(c *Condition, owner *Field, n int, memo map[visibleKey]bool) bool {
	switch {
	case c.Not != nil:
		return !a.holds(c.Not, owner, n, memo)
	case c.All != nil:
		for _, sub := range c.All {
			if !a.holds(sub, owner, n, memo) {
				return false
			}
		}
		return true
	case c.Any != nil:
		for _, sub := range c.Any {
			if a.holds(sub, owner, n, memo) {
				return true
			}
		}
		return false
	}
	ref, ok := owner.step.form.fields[c.Field]
	if !ok || !a.visible(ref, n, memo) {
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
