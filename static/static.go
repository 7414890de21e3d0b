// Package static holds cloakroom's browser assets — the vendored htmx 4
// library, its SSE extension, and the application's own CSS and JS — and
// embeds them into the binary as Files.
//
// Vendored files carry their version in the file name so they can be served
// with long-lived cache headers; templates must refer to them through the
// constants below rather than spelling the names out. Provenance and hashes of
// the vendored files are recorded in VERSIONS and checked by the tests.
package static

import "embed"

// Files contains every asset served to the browser, at the root of the FS
// (e.g. "htmx-4.0.1.min.js", "app.css").
//
//go:embed *.js *.css *.svg LICENSE.htmx
var Files embed.FS

// File names inside Files.
const (
	// HTMX is htmx.org@4.0.1 dist/htmx.min.js, unmodified.
	HTMX = "htmx-4.0.1.min.js"
	// HTMXSSE is htmx.org@4.0.1 dist/ext/hx-sse.min.js, unmodified. It must
	// be loaded after HTMX.
	HTMXSSE = "hx-sse-4.0.1.min.js"
	// HTMXLicense is the htmx licence text (0BSD).
	HTMXLicense = "LICENSE.htmx"
	// AppCSS is the application's stylesheet.
	AppCSS = "app.css"
	// AppJS is the application's script, an ES module; it imports TabsJS
	// and AttentionJS, and TabsJS imports StreamJS.
	AppJS = "app.js"
	// TabsJS shares one event stream among the tabs of a room.
	TabsJS = "tabs.js"
	// StreamJS reads the event stream.
	StreamJS = "stream.js"
	// AttentionJS keeps the unread count, the "New" divider, mentions and
	// their alerts.
	AttentionJS = "attention.js"
	// ReadingJS groups, separates by day and collapses a room's log, and
	// keeps the reader's place as older entries load. It is a classic
	// script, loaded after AppJS, so that it sees each change of the log
	// after AppJS has.
	ReadingJS = "reading.js"
	// Favicon is the application's icon.
	Favicon = "favicon.svg"
	// FaviconUnread is the icon with a dot, shown while a hidden tab has
	// unread messages.
	FaviconUnread = "favicon-unread.svg"
)

// Modules lists the application's ES modules, the entry point first.
func Modules() []string { return []string{AppJS, TabsJS, StreamJS, AttentionJS} }

// Subresource Integrity values (integrity="...") for the vendored scripts,
// matching the sha384 entries in VERSIONS.
const (
	HTMXIntegrity    = "sha384-Qp9rdC8H7EqOoX+nR0P3RPG2Noji+qdwJlGpfzwQJsfOpp3sGwIdSP9xO3+UlEhn"
	HTMXSSEIntegrity = "sha384-v8HvucQ+ohQhMg0arboXc5049yNR46QKMjphs7YDch+Wm7zpfK5XVS01f26mQDJV"
)
