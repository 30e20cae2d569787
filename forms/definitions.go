package forms

import "embed"

// Definitions holds the shipped form definitions (definitions/*.yaml).
//
//go:embed definitions/*.yaml
var Definitions embed.FS

// Builtin loads and checks the shipped definitions. A problem here is a
// bug of the release; the test over all definitions catches it first.
func Builtin() (*Set, error) {
	return Load(Definitions, "definitions")
}
