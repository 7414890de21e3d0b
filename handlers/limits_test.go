package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/cloakroom/cloakroom/chat"
)

// The limits on a message hold over HTTP at their boundaries, and a 413 says
// in words which limit was passed and by how much.
func TestMessageLimits(t *testing.T) {
	srv := newTestServer(t, chat.Config{}, Config{})
	alice := srv.browser(t)
	m := strconv.FormatUint(alice.join("lobby", "alice"), 10)

	const family = "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466" // one character, 25 bytes
	// heavy is one character of n bytes (n odd): a letter carrying accents.
	heavy := func(n int) string { return "a" + strings.Repeat("\u0301", (n-1)/2) }
	// The largest form a message can need: MaxTextBytes once normalised, as
	// many line breaks as the character limit allows, each sent as CRLF, and
	// every other byte percent-encoded. 3998 line breaks, one heavy
	// character before them and one letter after are 4000 characters.
	breaks := chat.MaxTextLength - 2
	largest := heavy(chat.MaxTextBytes-breaks-1) + strings.Repeat("\r\n", breaks) + "z"

	htmx := http.Header{"Hx-Request": {"true"}}
	page := http.Header{"Accept": {"text/html"}}
	tests := []struct {
		name   string
		text   string
		header http.Header
		status int
		body   string // the whole plain-text body, or a part of a page
	}{
		{"3990 letters and two families", strings.Repeat("x", 3990) + family + family, htmx, http.StatusNoContent, ""},
		{"4000 characters", strings.Repeat("é", chat.MaxTextLength), htmx, http.StatusNoContent, ""},
		{"4001 characters", strings.Repeat("é", chat.MaxTextLength+1), htmx, http.StatusRequestEntityTooLarge,
			"The message is 4,001 characters long; the limit is 4,000 (1 too many).\n"},
		{"4012 characters, for a browser without htmx", strings.Repeat("x", 4012), page, http.StatusRequestEntityTooLarge,
			"The message is 4,012 characters long; the limit is 4,000 (12 too many)."},
		{"16384 bytes", heavy(chat.MaxTextBytes-1) + "!", htmx, http.StatusNoContent, ""},
		{"16385 bytes", heavy(chat.MaxTextBytes-1) + "!!", htmx, http.StatusRequestEntityTooLarge,
			"The message is 16,385 bytes long; the limit is 16,384 (1 too many; emoji and letters with accents take several bytes each).\n"},
		{"the largest form", largest, htmx, http.StatusNoContent, ""},
		{"a direction override", "see https://good.example/\u202emoc.live//:sptth", htmx, http.StatusBadRequest,
			"The message contains a character that overrides the direction of text (U+202A to U+202E), which can make it read differently from what it says.\n"},
		{"nothing visible", "\u200b\u200b", htmx, http.StatusBadRequest, "The message is empty.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := alice.post("/rooms/lobby/messages", url.Values{"text": {tt.text}, "m": {m}}, tt.header)
			if status != tt.status {
				t.Fatalf("status %d, want %d; body %.200q", status, tt.status, body)
			}
			if tt.header.Get("Accept") == "text/html" {
				if !strings.Contains(body, tt.body) {
					t.Errorf("the page lacks %q:\n%s", tt.body, body)
				}
			} else if body != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
		})
	}

	// The largest form is within a few bytes of the worst case the cap is
	// sized for, so it shows that the cap admits that case.
	worst := 3 * (chat.MaxTextBytes + chat.MaxTextLength)
	if n := len(url.Values{"text": {largest}, "m": {m}}.Encode()); n < worst-16 {
		t.Errorf("the largest form is %d bytes, well under the worst case of %d", n, worst)
	}
}
