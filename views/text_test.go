package views

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSegments(t *testing.T) {
	tests := []struct {
		in   string
		want []segment
	}{
		{"no links here", []segment{{"no links here", false}}},
		{"see https://example.com/a?b=1.", []segment{{"see ", false}, {"https://example.com/a?b=1", true}, {".", false}}},
		{"(http://x.org/wiki/Go_(lang)) ok", []segment{{"(", false}, {"http://x.org/wiki/Go_(lang)", true}, {") ok", false}}},
		{"http://a.b http://c.d", []segment{{"http://a.b", true}, {" ", false}, {"http://c.d", true}}},
		{"javascript:alert(1) data:text/html,x", []segment{{"javascript:alert(1) data:text/html,x", false}}},
		{"xhttp://glued.example", []segment{{"xhttp://glued.example", false}}},
		{"just http:// nothing", []segment{{"just http:// nothing", false}}},
		{"<https://e.com/\"q\">", []segment{{"<", false}, {"https://e.com/", true}, {"\"q\">", false}}},
		{"ünïcode https://e.com/ü", []segment{{"ünïcode ", false}, {"https://e.com/", true}, {"ü", false}}},
	}
	for _, tt := range tests {
		got := segments(tt.in)
		if len(got) != len(tt.want) {
			t.Errorf("segments(%q) = %v, want %v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("segments(%q)[%d] = %+v, want %+v", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

// FuzzSegments: the pieces always add up to the text, and every link is an
// http(s) URL with nothing a browser would read as its end.
func FuzzSegments(f *testing.F) {
	for _, s := range []string{"see https://example.com/a?b=1.", "(http://x.org/a_(b))", "http://", "xhttps://a", "a https://b\nc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var all strings.Builder
		for _, seg := range segments(s) {
			all.WriteString(seg.text)
			if seg.text == "" {
				t.Fatalf("empty segment in %q", s)
			}
			if seg.link {
				if !strings.HasPrefix(seg.text, "http://") && !strings.HasPrefix(seg.text, "https://") {
					t.Fatalf("link %q is not http(s)", seg.text)
				}
				if strings.ContainsAny(seg.text, " \t\n<>\"`") || !utf8.ValidString(seg.text) {
					t.Fatalf("link %q holds a character that ends a URL", seg.text)
				}
			}
		}
		if all.String() != s {
			t.Fatalf("segments of %q add up to %q", s, all.String())
		}
	})
}
