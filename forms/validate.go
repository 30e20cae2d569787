// Package forms is the form engine: schema types, loading, validation and
// the rendering model of the portal's forms. It is pure Go and depends on
// no other package of the portal. This file holds the validation rules
// every form shares, registered once on one validator.
package forms

import (
	"github.com/go-playground/validator/v10"
)

// Custom validation tags, usable in any rule string.
const (
	TagPostalCodeDE = "postalcode_de" // five digits
)

// IsPostalCode reports whether s is a German postal code: exactly five
// ASCII digits (no spaces; normalise input first).
func IsPostalCode(s string) bool {
	if len(s) != 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// NewValidator returns a validator with the portal's custom rules
// registered. Build it once at start and share it: it is safe for
// concurrent use.
func NewValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	// Registration fails only for an empty tag or a nil function.
	_ = v.RegisterValidation(TagPostalCodeDE, func(fl validator.FieldLevel) bool {
		return IsPostalCode(fl.Field().String())
	})
	return v
}
