package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// In a real browser: the links the server makes open the resource their
// text names (chromium resolves each href: lower-case scheme and host,
// punycode for an IDN host, UTF-8 percent-encoding for a non-ASCII path),
// a message is counted in the characters a person sees, and a refused one
// says why in the composer.
func TestBrowserLinksAndLengths(t *testing.T) {
	b := newBrowser(t)
	alice := b.newTab(b.ctx, "alice", chromedp.WithNewBrowserContext())
	alice.join("alice", testRoom)
	alice.waitLive()

	lines := []string{
		"HTTPS://EXAMPLE.COM/x",
		"https://fr.wikipedia.org/wiki/Wikipédia:Accueil",
		"see https://bücher.example/a.",
		"(https://e.com/Go_(lang)) and «https://e.com/q?a=1&b=2»",
		"javascript:alert(1) ftp://x.org/a www.example.com xhttp://glued.example",
	}
	alice.say(lines...)
	msg := alice.waitForMessage(strings.Join(lines, "\n"))
	type link struct {
		Text string `json:"text"`
		Href string `json:"href"`
	}
	got := eval[[]link](alice, `[...document.getElementById(`+jsString(msg.ID)+`).querySelectorAll('.text a')].map((a) => ({text: a.textContent, href: a.href}))`)
	want := []link{
		{"HTTPS://EXAMPLE.COM/x", "https://example.com/x"},
		{"https://fr.wikipedia.org/wiki/Wikipédia:Accueil", "https://fr.wikipedia.org/wiki/Wikip%C3%A9dia:Accueil"},
		{"https://bücher.example/a", "https://xn--bcher-kva.example/a"},
		{"https://e.com/Go_(lang)", "https://e.com/Go_(lang)"},
		{"https://e.com/q?a=1&b=2", "https://e.com/q?a=1&b=2"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("links in the page (-want +got):\n%s", diff)
	}

	// 3,990 letters and two family emoji are 3,992 characters (4,012
	// UTF-16 code units, 4,040 bytes): they go through.
	const family = "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466"
	fits := strings.Repeat("x", 3990) + family + family
	alice.send(fits)
	alice.waitForMessage(fits)

	alice.send(strings.Repeat("é", 4001))
	alice.waitFor("the composer says the message is too long, and the request's id",
		`/^The message is 4,001 characters long; the limit is 4,000 \(1 too many\)\. \(request [0-9a-f]{16}\)$/.test(document.getElementById('composer-error').textContent)`)
	// Chromium logs the refused request; taken here, that one error is not
	// reported when the test ends, and any other still is.
	for _, e := range alice.takeConsoleErrors() {
		if !strings.Contains(e, "status of 413") {
			t.Errorf("console error in %s", e)
		}
	}
}

// send puts text in the composer at once (typing thousands of characters
// key by key would take long) and clicks Send.
func (tb *tab) send(text string) {
	tb.b.t.Helper()
	eval[bool](tb, `(document.getElementById('text').value = `+jsString(text)+`, true)`)
	tb.do("click Send", chromedp.Click(chromedp.CSS(`#composer button[type="submit"]`)))
}
