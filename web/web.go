// Package web holds the browser UI's files: page templates, message
// catalogues and static assets (CSS, the vendored htmx, the log viewer
// script). They are embedded in the binary; internal/webui serves them.
package web

import "embed"

// FS holds templates/*.html, i18n/*/*.json and static/*.
//
//go:embed templates/*.html i18n/*/*.json static/*
var FS embed.FS
