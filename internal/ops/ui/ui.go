// Package ui holds the ops server's web dashboard: one HTML page, its
// script and its style sheet, embedded in the binary so that the page
// needs nothing from outside (no CDN: clusters are often offline). The
// page polls the JSON endpoints under /api/v1/ (docs/ui.md) every few
// seconds and draws the job graph and the throughput chart as inline SVG.
package ui

import "embed"

// Files are the dashboard's files, under static/.
//
//go:embed static
var Files embed.FS
