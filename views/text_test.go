package views

import (
	"html"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/cloakroom/cloakroom/chat"
)

func TestSegments(t *testing.T) {
	text := func(s string) segment { return segment{text: s} }
	link := func(s string) segment { return segment{text: s, link: true} }
	tests := []struct {
		name string
		in   string
		want []segment
	}{
		{"no links", "no links here", []segment{text("no links here")}},
		{"empty", "", nil},
		{"alone", "https://example.com", []segment{link("https://example.com")}},
		{"sentence full stop outside", "see https://example.com/a?b=1.", []segment{text("see "), link("https://example.com/a?b=1"), text(".")}},
		{"other sentence punctuation outside", "https://e.com/a, https://e.com/b; https://e.com/c: https://e.com/d! https://e.com/e? 'https://e.com/f'",
			[]segment{link("https://e.com/a"), text(", "), link("https://e.com/b"), text("; "), link("https://e.com/c"), text(": "), link("https://e.com/d"), text("! "),
				link("https://e.com/e"), text("? '"), link("https://e.com/f"), text("'")}},
		{"ellipsis outside", "read https://e.com/a…", []segment{text("read "), link("https://e.com/a"), text("…")}},
		{"balanced parenthesis inside", "(http://x.org/wiki/Go_(lang)) ok", []segment{text("("), link("http://x.org/wiki/Go_(lang)"), text(") ok")}},
		{"unbalanced parenthesis outside", "(see https://e.com/a).", []segment{text("(see "), link("https://e.com/a"), text(").")}},
		{"two links", "http://a.b http://c.d", []segment{link("http://a.b"), text(" "), link("http://c.d")}},
		{"upper-case scheme", "HTTPS://EXAMPLE.COM/x", []segment{link("HTTPS://EXAMPLE.COM/x")}},
		{"mixed-case scheme", "go to hTtP://x.org now", []segment{text("go to "), link("hTtP://x.org"), text(" now")}},
		{"non-ASCII path links whole", "https://fr.wikipedia.org/wiki/Wikipédia:Accueil", []segment{link("https://fr.wikipedia.org/wiki/Wikipédia:Accueil")}},
		{"non-ASCII path then a full stop", "ünïcode https://e.com/ü.", []segment{text("ünïcode "), link("https://e.com/ü"), text(".")}},
		{"IDN host", "https://bücher.example/a", []segment{link("https://bücher.example/a")}},
		{"CJK full stop outside", "見て https://例え.jp/パス。", []segment{text("見て "), link("https://例え.jp/パス"), text("。")}},
		{"emoji path", "https://e.com/😀", []segment{link("https://e.com/😀")}},
		{"IPv6 host and port", "https://[::1]:8080/x", []segment{link("https://[::1]:8080/x")}},
		{"guillemets outside", "«https://e.com/a»", []segment{text("«"), link("https://e.com/a"), text("»")}},
		{"curly quotes outside", "“https://e.com/a.”", []segment{text("“"), link("https://e.com/a"), text(".”")}},
		{"corner brackets outside", "「https://e.com/a」", []segment{text("「"), link("https://e.com/a"), text("」")}},
		{"javascript and data are not links", "javascript:alert(1) data:text/html,x", []segment{text("javascript:alert(1) data:text/html,x")}},
		{"javascript hiding a link links only the http part", "javascript:alert(1)//http://x.org", []segment{text("javascript:alert(1)//"), link("http://x.org")}},
		{"ftp is not a link", "ftp://x.org/a", []segment{text("ftp://x.org/a")}},
		{"bare www is not a link", "www.example.com", []segment{text("www.example.com")}},
		{"file name is not a link", "README.md", []segment{text("README.md")}},
		{"scheme glued to a word", "xhttp://glued.example", []segment{text("xhttp://glued.example")}},
		{"scheme glued to a non-ASCII letter", "éhttps://glued.example", []segment{text("éhttps://glued.example")}},
		{"scheme glued to a digit", "1http://glued.example", []segment{text("1http://glued.example")}},
		{"scheme alone", "just http:// nothing", []segment{text("just http:// nothing")}},
		{"no host", "http:///x and https://?q", []segment{text("http:///x and https://?q")}},
		{"quote and angle bracket end it", "<https://e.com/\"q\">", []segment{text("<"), link("https://e.com/"), text("\"q\">")}},
		{"ends before a direction override", "https://e.com/\u202egnp.exe x", []segment{link("https://e.com/"), text("\u202egnp.exe x")}},
		{"ends before a zero-width space", "https://e.com/a\u200bb", []segment{link("https://e.com/a"), text("\u200bb")}},
		{"cut short, a full stop goes outside", "https://e.com/a.\u200bb", []segment{link("https://e.com/a"), text(".\u200bb")}},
		{"quotes and full stops alternating at the end", "https://e.com/a.”.”.”", []segment{link("https://e.com/a"), text(".”.”.”")}},
		{"cut inside brackets", "https://e.com/a»(b\u200bc)", []segment{link("https://e.com/a"), text("»(b\u200bc)")}},
		{"nothing left before an invisible character", "https://\u200bx", []segment{text("https://\u200bx")}},
		{"zero-width joiner stays", "https://e.com/👨\u200d👩", []segment{link("https://e.com/👨\u200d👩")}},
		{"line break ends it", "a https://b.c\nd", []segment{text("a "), link("https://b.c"), text("\nd")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, segments(tt.in), cmp.AllowUnexported(segment{})); diff != "" {
				t.Errorf("segments(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// A link is rendered with its href exactly the text shown: templ keeps an
// upper-case scheme, a non-ASCII path and an IDN host as they are (a browser
// lower-cases the scheme and host, percent-encodes the path as UTF-8 and
// turns the host into punycode, so it opens the resource the text names),
// and escapes what HTML needs escaped.
func TestLinkRendering(t *testing.T) {
	const a = ` rel="noopener noreferrer nofollow ugc" target="_blank">`
	tests := []struct {
		name, text, want string
	}{
		{"upper-case scheme", "HTTPS://EXAMPLE.COM/x",
			`<a href="HTTPS://EXAMPLE.COM/x"` + a + `HTTPS://EXAMPLE.COM/x</a>`},
		{"non-ASCII path", "https://fr.wikipedia.org/wiki/Wikipédia:Accueil",
			`<a href="https://fr.wikipedia.org/wiki/Wikipédia:Accueil"` + a + `https://fr.wikipedia.org/wiki/Wikipédia:Accueil</a>`},
		{"IDN host", "https://bücher.example/a",
			`<a href="https://bücher.example/a"` + a + `https://bücher.example/a</a>`},
		{"escaped in href and text", "<https://e.com/?a=1&b='x'y>",
			`&lt;<a href="https://e.com/?a=1&amp;b=&#39;x&#39;y"` + a + `https://e.com/?a=1&amp;b=&#39;x&#39;y</a>&gt;`},
		{"text around", "see https://e.com/a.\njavascript:alert(1)",
			`see <a href="https://e.com/a"` + a + `https://e.com/a</a>.` + "\n" + `javascript:alert(1)`},
	}
	paragraph := regexp.MustCompile(`(?s)<p class="text" dir="auto">(.*)</p>`)
	href := regexp.MustCompile(`<a href="([^"]*)"[^>]*>([^<]*)</a>`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := renderString(t, EventItem(chat.Event{ID: 1, Kind: chat.KindMessage, Text: tt.text}, 0))
			m := paragraph.FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("no text paragraph in %q", page)
			}
			if m[1] != tt.want {
				t.Errorf("rendered\n %s\nwant\n %s", m[1], tt.want)
			}
			var links []string
			for _, seg := range segments(tt.text) {
				if seg.link {
					links = append(links, seg.text)
				}
			}
			var hrefs, shown []string
			for _, a := range href.FindAllStringSubmatch(m[1], -1) {
				hrefs = append(hrefs, html.UnescapeString(a[1]))
				shown = append(shown, html.UnescapeString(a[2]))
			}
			if diff := cmp.Diff(links, hrefs); diff != "" {
				t.Errorf("hrefs (-links +hrefs):\n%s", diff)
			}
			if diff := cmp.Diff(links, shown); diff != "" {
				t.Errorf("link texts (-links +shown):\n%s", diff)
			}
		})
	}
}

// FuzzSegments: the pieces always add up to the text, no piece is empty and
// no two pieces of text are adjacent; every link is an http(s) URL that
// names a host, is not glued to a word before it, holds nothing that ends a
// URL or cannot be seen, does not end in a quotation mark or a closing
// bracket that xurls does not balance, and is found again, whole, in itself.
func FuzzSegments(f *testing.F) {
	for _, s := range []string{"see https://example.com/a?b=1.", "(http://x.org/a_(b))", "http://", "xhttps://a", "a https://b\nc",
		"HTTPS://bücher.example/Wikipédia:Accueil", "«https://e.com/a»", "https://e.com/\u202ex", "https://e.com/a.\u200bb", "http:///x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var all strings.Builder
		segs := segments(s)
		for i, seg := range segs {
			all.WriteString(seg.text)
			if seg.text == "" {
				t.Fatalf("empty segment in %q", s)
			}
			if !seg.link {
				if i > 0 && !segs[i-1].link {
					t.Fatalf("two text segments in a row in %q: %+v", s, segs)
				}
				continue
			}
			lower := strings.ToLower(seg.text)
			if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
				t.Fatalf("link %q is not http(s)", seg.text)
			}
			if strings.ContainsAny(seg.text, " \t\n<>\"`") || !utf8.ValidString(seg.text) || strings.IndexFunc(seg.text, invisible) >= 0 {
				t.Fatalf("link %q holds a character that ends a URL or cannot be seen", seg.text)
			}
			if strings.IndexAny(seg.text[strings.Index(seg.text, "://")+3:], "/?#") == 0 {
				t.Fatalf("link %q names no host", seg.text)
			}
			if r, _ := utf8.DecodeLastRuneInString(seg.text); r >= utf8.RuneSelf && unicode.In(r, unicode.Pe, unicode.Pi, unicode.Pf) {
				t.Fatalf("link %q ends in %q", seg.text, r)
			}
			if i > 0 {
				if r, _ := utf8.DecodeLastRuneInString(segs[i-1].text); r == '_' || unicode.In(r, unicode.L, unicode.M, unicode.N) {
					t.Fatalf("link %q is glued to %q", seg.text, segs[i-1].text)
				}
			}
			if again := segments(seg.text); len(again) != 1 || again[0] != seg {
				t.Fatalf("link %q is found in itself as %+v", seg.text, again)
			}
		}
		if all.String() != s {
			t.Fatalf("segments of %q add up to %q", s, all.String())
		}
	})
}
