package forms

import "testing"

func TestPostalCodeRule(t *testing.T) {
	v := NewValidator()
	for s, want := range map[string]bool{
		"04109": true, "99999": true, "00000": true,
		"4109": false, "041090": false, "04 09": false, "O4109": false, "０４１０９": false, "": false,
	} {
		if got := IsPostalCode(s); got != want {
			t.Errorf("IsPostalCode(%q) = %v", s, got)
		}
		err := v.Var(s, "required,"+TagPostalCodeDE)
		if (err == nil) != want {
			t.Errorf("Var(%q, postalcode_de): %v", s, err)
		}
	}
}
