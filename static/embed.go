// Package static embeds the portal's stylesheets, scripts and images. The
// portal serves them under content-hashed URLs with long caching.
package static

import "embed"

// FS holds the static files.
//
//go:embed *.css *.svg *.js
var FS embed.FS
