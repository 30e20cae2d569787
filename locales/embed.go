// Package locales embeds the portal's messages: active.<lang>.toml per
// language, German (de) the source, English (en) complete beside it.
package locales

import "embed"

// FS holds the message files.
//
//go:embed *.toml
var FS embed.FS
