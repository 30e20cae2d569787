package forms

import "slices"

// Redact returns a copy of record r (as decoded from its JSON) of form f
// without the answers of fields withhold reports true for, also inside
// repeated groups, and the ids of the fields it left out (each once, in
// form order). Keys f does not know are dropped: a record is always read
// with its own form, so an unknown key is nothing anyone should see.
func Redact(f *Form, r map[string]any, withhold func(*Field) bool) (map[string]any, []string) {
	out := make(map[string]any, len(r))
	var left []string
	leave := func(id string) {
		if !slices.Contains(left, id) {
			left = append(left, id)
		}
	}
	for _, s := range f.Steps {
		for _, fd := range s.Fields {
			v, ok := r[fd.ID]
			switch {
			case fd.Repeats():
				items, _ := v.([]any)
				var kept []any
				for _, it := range items {
					m, _ := it.(map[string]any)
					k := make(map[string]any, len(m))
					for _, child := range fd.Fields {
						cv, ok := m[child.ID]
						switch {
						case !ok:
						case withhold(child):
							leave(child.ID)
						default:
							k[child.ID] = cv
						}
					}
					kept = append(kept, k)
				}
				if len(kept) > 0 {
					out[fd.ID] = kept
				}
			case fd.Type == TypeGroup:
				for _, child := range fd.Fields {
					cv, ok := r[child.ID]
					switch {
					case !ok:
					case withhold(child):
						leave(child.ID)
					default:
						out[child.ID] = cv
					}
				}
			case !ok:
			case withhold(fd):
				leave(fd.ID)
			default:
				out[fd.ID] = v
			}
		}
	}
	return out, left
}
